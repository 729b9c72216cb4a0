/* curv.h: the curvature of a model's training objective, shared by the hessian and
 * influence kinds (API.md 5.3, 5.6; the theory's sections 4.4.1 and 10.1):
 *
 *   J(theta) = mean_i loss(x_i, theta) + l2/2 ||theta||^2,   H = grad^2 J + damping I,
 *
 * restricted to the parameters theta[p_lo..p_hi) (the others held fixed: "last_layer"
 * is the last layer's W and b, see curv_subset_last_layer). Everything is exact: HVPs by
 * the R-operator (mlp_hvp, Pearlmutter 1994), gradients by backpropagation, and the
 * explicit Hessian either from the network's structure (below) or from HVPs against the
 * unit vectors (column j of H is H e_j, symmetrized).
 *
 * Structured Hessian (core/curv_struct.c): for a network with at most one hidden layer
 * (any subset), and at any depth for a subset inside the last layer (f is linear in the
 * last layer's W and b, so that block is mean_i Hf_i (x) a~_i a~_i^T with a~ the layer's
 * scaled input and 1), curv_hessian assembles H block by block from per-row factors (the
 * loss curvature Hf = d2loss/df2, the pre-activation Hessian Hz = M^T Hf M + diag(phi''
 * .* r), the inputs' outer products) with one GEMM over the rows per block, exploiting
 * the Kronecker symmetry; about P1^2 n / 4 multiply-adds for P1 first-layer parameters
 * instead of ~6 P n per column (bench/influence, P = 5043, n = 2000: see its README).
 * It equals the column path to rounding (tests/core/check_curv_struct.c: relative
 * 1e-12). `threads` lanes split the rows (each its own accumulators, summed in lane
 * order); with one lane (what the hessian and influence kinds use) the GEMMs run on the
 * calling thread with OpenBLAS's threads (measured on bench/influence's Hessian, 2 cores
 * under load ~2.5: 0.80 s with 1 lane x 2 BLAS threads, 0.89-0.93 s with 2 lanes x 1).
 * Peak memory (curv_hessian_bytes): H plus, per lane, about P1^2/4 + P1 P2 doubles of
 * accumulators (P2 the last layer's parameters; whatever the subset) and a block's
 * per-row factors: B rows of about h(h+1)/2 + (d+1)(d+2)/2 + h (d+1) + (k+1) h doubles
 * (one hidden layer; with the last layer only, a few times its h + k), B = 256 rows or
 * fewer to keep them under 64 MiB, but never fewer than 8 rows, so above 1 Mi doubles
 * per row (d or h above ~1400) they take 8 rows' worth (d 3000, h 100: ~310 MB); plus up
 * to 16 MiB of the last layer's packed a~ a~^T. Other cases take the column path: two or more hidden
 * layers with a subset reaching below the last layer; a subset that the column path
 * would do with fewer operations; or one whose structured build would take more than 4x
 * the column path's memory + 64 MiB (a small subset of a wide first layer: 32-[2000]-10
 * on [0, 3000) would take 9 GB of accumulators for a 72 MB H). `no_struct` forces it.
 * Cancellation is checked at least every ~4e8 multiply-adds (pieces of each GEMM) and
 * once per hidden unit while H is assembled.
 *
 * The objective equals what the train kind minimizes (core/train.c batch_grad): the mean
 * loss over the rows plus weight_decay/2 ||theta||^2 over all parameters, except that
 * with adamw (or sam over adamw) the decay is decoupled and J has no L2 term. The l2 of
 * a curv_obj is the caller's choice; api/ defaults it to the model's training
 * weight_decay, and to 0 for adamw (and for uploaded models). Labels are the clean ones
 * (the train kind's label noise is a property of its steps, not of J).
 *
 * Size preconditions: the arrays exist with their stated sizes (x: n x dims[0], y: n x
 * ydim, theta: P), so their byte sizes fit in size_t; dim x dim for curv_hessian is the
 * caller's allocation (API layers bound it at validation). Internal buffers are sized
 * with overflow checks; a failure is TG_ENOMEM.
 *
 * HVPs on a workspace (curv_ws) cache what does not depend on the direction (each row's
 * activations, phi', the backward pass's deltas and phi'' terms, the loss curvature:
 * 4 x hidden units + 2 x outputs doubles per row), filled by the first product, so each
 * later one runs only the R-passes (about half the time of mlp_hvp for tanh networks);
 * theta, x and y must not change during the workspace's life.
 *
 * Threading: reentrant. `threads` (>= 1) worker threads split the rows of each HVP and
 * gradient, or the columns of an explicit Hessian; results depend on the thread count
 * only through the order of a sum of `threads` partial results (deterministic for a
 * given count). BLAS calls use the process-wide OpenBLAS setting: use threads > 1 only
 * with a single-threaded BLAS (threads calling a multithreaded OpenBLAS at once contend:
 * measured 2.5x slower with 2 threads x 2 BLAS threads on 2 cores than 1 x 2). Cancellation: `cancel`
 * (nonzero = stop) and `prog` (polled with fraction -1 between row blocks, and in the
 * structured build also inside them and while H is assembled; must be callable only from
 * the calling thread, so it is only called there) are both optional.
 */
#ifndef TG_CURV_H
#define TG_CURV_H

#include <stddef.h>
#include <stdint.h>

#include "lanczos.h"
#include "mlp.h"
#include "tg.h"

typedef struct curv_obj {
    const mlp_arch *arch;      /* borrowed */
    const double *theta;       /* P, borrowed: the point where J is expanded */
    const double *x;           /* n x dims[0], borrowed */
    const double *y;           /* n x ydim (class indices when y_is_class or not mse) */
    int y_is_class;
    size_t n;                  /* rows (>= 1) */
    tg_loss loss;
    double l2;                 /* L2 coefficient of J (>= 0) */
    double damping;            /* added to the diagonal of H (>= 0) */
    size_t p_lo, p_hi;         /* the parameters that vary: theta[p_lo..p_hi) */
    int threads;               /* >= 1 (0 is taken as 1) */
    const volatile int *cancel; /* may be NULL; nonzero = stop (TG_ECANCELLED) */
    const tg_progress *prog;   /* may be NULL; polled (fraction -1) from the calling thread;
                                * curv_hessian also reports its fraction of columns */
    int no_cache;              /* 1: every HVP recomputes the forward pass (no cache; see
                                * below); 0 (default): cache when it takes <= 768 MiB */
    int no_struct;             /* 1: curv_hessian always takes the column path (tests,
                                * the reference); 0 (default): structured when it applies */
    size_t multi_budget;       /* bytes for curv_hvp_multi_ws's stacked buffers; 0 (default):
                                * 64 MiB (tests set it small to force chunks) */
} curv_obj;

/* p_hi - p_lo. */
size_t curv_dim(const curv_obj *o);

/* [lo, hi) of the last layer's W and b in theta (the params_subset "last_layer"). */
void curv_subset_last_layer(const mlp_arch *a, size_t *lo, size_t *hi);

/* A workspace for repeated products on one curv_obj (borrowed, must outlive it):
 * per-thread mlp workspaces and P-vectors. New; NULL on allocation failure. */
typedef struct curv_ws curv_ws;
curv_ws *curv_ws_new(const curv_obj *o);
void curv_ws_free(curv_ws *w);
/* Bytes a curv_ws for o takes (for memory estimates): about threads x (mlp_ws + 3 P)
 * doubles. */
double curv_ws_bytes(const mlp_arch *a, size_t n, int threads);

/* Hv (curv_dim) = (H + damping I) v on the subset (v: curv_dim; v and Hv must not
 * alias). Returns TG_OK, TG_ENOMEM (curv_hvp only: its workspace) or TG_ECANCELLED. */
int curv_hvp(const curv_obj *o, const double *v, double *Hv);
int curv_hvp_ws(curv_ws *w, const double *v, double *Hv);

/* HV = q products at once: row j of HV (q x curv_dim, row-major) = (H + damping I) times
 * row j of V (q x curv_dim; V and HV must not alias); the same as q calls of curv_hvp_ws
 * to rounding (tests/core/check_curv_multi.c: within 1e-13 relative, ~1e-15 seen),
 * deterministic for a given thread count, q and sequence of calls on w. The directions go
 * in chunks of 4 through the R-passes on the cache together, each GEMM stacked across the
 * chunk's directions, over blocks of rows sized so that a block's arrays take ~512 KiB
 * (they stay in cache; on bench/influence, 28 rows x 4 directions, every GEMM within
 * OpenBLAS's small-matrix kernels). Measured there (32-140-3 tanh, n 2000, 100
 * directions, one lane; ms per product with 1 / 2 OpenBLAS threads): 1.3 / 1.3, against
 * 2.4 / 2.6-2.7 for curv_hvp_ws (2.6-2.9 / 2.9-3.1 before core/curv.c was built at -O3);
 * all 100 directions stacked into GEMMs of 112 x 14000 x 33 took 2.3-2.6 / 1.8-4.2 (the
 * block's arrays leave the caches). The rows are split over the workspace's lanes as for
 * curv_hvp_ws (2 lanes x single-threaded BLAS: 0.81-0.86 there).
 * Buffers: allocated on the first call and kept in w (reallocated when a later call needs
 * more), at most o->multi_budget bytes (default 64 MiB; more only when one direction over
 * one row exceeds it): curv_hvp_multi_bytes. Without the activation cache (no_cache, or a
 * cache over 768 MiB) it makes the q single products. Cancellation and progress: polled
 * between row blocks, as curv_hvp_ws. Returns TG_OK, TG_ENOMEM (its buffers) or
 * TG_ECANCELLED. */
int curv_hvp_multi_ws(curv_ws *w, const double *V, size_t q, double *HV);
/* Bytes of curv_hvp_multi_ws's buffers for calls of up to q directions on a workspace
 * for (a, n, threads) (budget: o->multi_budget, 0 for the default); on top of
 * curv_ws_bytes. */
double curv_hvp_multi_bytes(const mlp_arch *a, size_t n, size_t q, int threads, size_t budget);

/* The explicit (H + damping I), dim x dim, row-major = column-major. Structured when it
 * applies (see above: exactly symmetric; progress = fraction of the rows' blocks done),
 * else from dim HVPs against unit vectors (symmetric: the mean of H and H^T, which agree
 * to rounding), columns dealt to `threads` threads (one pass of the rows per column:
 * measured, passing 16 columns at once through GEMMs of 16x the size gained nothing on
 * 64-38-10; progress = fraction of columns done). Returns TG_OK, TG_ENOMEM,
 * TG_ECANCELLED. */
int curv_hessian(const curv_obj *o, double *H);
/* Peak bytes of curv_hessian on o, H included (for memory estimates). */
double curv_hessian_bytes(const curv_obj *o);
/* Floating-point operations of curv_hessian on o, about (for plans): the structured
 * build's GEMMs, or 2 n P per column (a cached HVP). */
double curv_hessian_flops(const curv_obj *o);

/* The structured build (core/curv_struct.c), used by curv_hessian: 1 when it applies to
 * o (and costs fewer operations than the column path, within the memory bound above);
 * its peak bytes without H and its flops (0 when it does not apply); H as curv_hessian
 * (computed for any o it can represent, even one curv_struct_applies declines; TG_EINVAL
 * when it cannot). */
int curv_struct_applies(const curv_obj *o);
double curv_struct_bytes(const curv_obj *o);
double curv_struct_flops(const curv_obj *o);
int curv_struct_hessian(const curv_obj *o, double *H);

/* g (curv_dim) = gradient of J on the subset (damping does not enter); *J_out (may be
 * NULL) = J(theta). Returns TG_OK, TG_ENOMEM, TG_ECANCELLED. */
int curv_grad(const curv_obj *o, double *g, double *J_out);

/* The lanczos_op of a curv_ws (ud = the curv_ws): y = (H + damping I) x; nonzero on
 * cancellation. */
int curv_op(void *ud, const double *x, double *y);
/* The lanczos_block_op of a curv_ws: Y = (H + damping I) X for b rows (curv_hvp_multi_ws);
 * nonzero on cancellation or failure. */
int curv_block_op(void *ud, const double *X, size_t b, double *Y);

/* ---- eigen helpers ----------------------------------------------------------------- */

/* All eigenvalues (ascending, w: n) of the symmetric n x n matrix A (destroyed) by
 * LAPACK dsyevd (values only). Returns TG_OK, TG_ENOMEM, TG_ENUMERICAL (no
 * convergence). Precondition: n fits in an int. */
int curv_eigvalsh(size_t n, double *A, double *w);

/* Extreme eigenvalues by Lanczos with full reorthogonalization: see lanczos_extreme in
 * lanczos.h. Hutchinson's trace estimator (Rademacher probes) and stochastic Lanczos
 * quadrature: lanczos_hutchinson, lanczos_slq. They take any lanczos_op; with curv_op
 * and a curv_ws they run on H + damping I. */

#endif
