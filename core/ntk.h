/* ntk.h: analytic (infinite-width) NNGP and NTK Gram matrices of fully-connected
 * networks (the theory's chapter 9; Jacot et al. 2018; Lee et al. 2019), in the
 * neural-tangents `stax.serial(Dense, phi, ..., Dense)` convention with the NTK
 * parameterization, so that the numbers equal neural-tangents':
 *   input:  K(x, x') = x.x' / d,  Theta = 0
 *   Dense:  K <- w_std^2 K + b_std^2,  Theta <- K_new + w_std^2 Theta
 *   phi:    K <- E[phi(u) phi(v)],  Theta <- Theta * E[phi'(u) phi'(v)],
 *           (u, v) ~ N(0, [[K(x,x), K(x,x')], [K(x,x'), K(x',x')]])
 * with `depth` L hidden layers (L + 1 Dense layers). Closed forms (arc-cosine kernels,
 * Cho & Saul 2009; the arcsin kernel of erf, Williams 1997; gelu by Gaussian orthant
 * moments) for relu, leaky_relu, abs, identity, erf and gelu; for tanh, sigmoid and
 * softplus the Hermite (Mehler) series with tail bounds and a nested-rule fallback near
 * |rho| = 1 (quad.h), every map within quad_tol of its scale.
 *
 * Computation: the input kernel by GEMM (SYRK for the diagonal blocks of a symmetric
 * kernel: one SYRK's worth of work in all) in panels of rows, and one elementwise pass
 * over blocks of rows, in order, that runs every layer of both kernels per entry, so
 * memory is the output arrays plus O((n + m) L). The pass over a panel runs while the
 * next panel's input kernel is computed. Symmetric matrices are computed once per pair:
 * each block's upper-triangle rows, then (after a barrier) their mirror into the lower
 * triangle while the block is still in cache; so rows become final in order, and are
 * handed to rows_final to be written out during the computation.
 *
 * Size preconditions: the caller allocated the outputs (n x m doubles, or n), so their
 * sizes fit in size_t; n, m and d fit in an int (CBLAS). Internal arrays ((L + 1) x n
 * variances, rows of m, 256-row blocks) are sized with tg_alloc_array; a failure is
 * TG_ENOMEM.
 *
 * Threading: reentrant; `threads` worker threads split the rows of the elementwise
 * pass (the GEMM uses the process-wide OpenBLAS setting).
 */
#ifndef TG_NTK_H
#define TG_NTK_H

#include <stddef.h>

#include "mlp.h"
#include "tg.h"

/* What the quadrature did (activations without a closed form; API.md 5.2). */
typedef struct ntk_quad_info {
    int used;                  /* 1 when the quadrature ran (0: closed forms) */
    double max_error_estimate; /* largest estimated error of a map E[phi phi] or
                                * E[phi' phi'], relative to its scale */
    double worst_q1, worst_q2, worst_rho; /* the pair where it occurred */
    size_t series_maps, nested_maps, exact_maps; /* maps by method (all layers) */
    int max_series_terms;      /* longest Hermite series used */
    double max_variance;       /* largest pre-activation variance */
} ntk_quad_info;

typedef struct ntk_cfg {
    size_t depth;          /* hidden layers L (0 = a linear model) */
    tg_act act;
    double leaky_slope;
    double w_std, b_std;
    double quad_tol;       /* quadrature tolerance, relative to each map's scale */
    int force_numeric;     /* tests: the quadrature even where a closed form exists */
    ntk_quad_info *quad_info; /* optional (NULL: none): filled by ntk_analytic; several
                               * calls with the same cfg accumulate (max / sums) */
    int threads;           /* >= 1 */
    /* Optional (NULL: none), for writing the outputs out while the rest is computed:
     * called (one call at a time, from a helper thread of ntk_analytic; not for
     * diag_only) whenever more rows have become final: rows [0, rows) of both outputs
     * will not change again. The last call has rows = n. A nonzero return stops the
     * computation, and ntk_analytic returns that value (the callback reports its own
     * error through rows_ud). */
    int (*rows_final)(void *rows_ud, size_t rows);
    void *rows_ud;
} ntk_cfg;

/* The doubles of the quadrature's per-point tables for `points` points through `depth`
 * layers (for memory estimates). */
double ntk_quad_doubles(size_t depth, double points);

/* 1 when act has a closed form here (no quadrature needed). */
int ntk_closed_form(tg_act act);

/* The kernels between the rows of X (n x d) and of Z (m x d); Z == NULL means Z = X
 * (symmetric, m = n). nngp_out and ntk_out (n x m, row-major; either may be NULL) are
 * written. With diag_only, only the diagonal is computed: the outputs are then n-vectors
 * (Z must be NULL). Progress fractions go from 0 to 1; a stop request returns
 * TG_ECANCELLED. A quadrature whose estimated error exceeds quad_tol somewhere returns
 * TG_ENUMERICAL (the message names the variances). *order_out (may be NULL) receives the
 * longest Hermite series used (0 for closed forms). */
int ntk_analytic(const ntk_cfg *cfg, const double *X, size_t n, const double *Z, size_t m,
                 size_t d, int diag_only, double *nngp_out, double *ntk_out, int *order_out,
                 const tg_progress *prog, tg_err *err);

/* The empirical NTK of a finite network (theta, arch): Theta(x, x') = J(x) J(x')^T with
 * J the Jacobian of the output (output >= 0: that output unit; -1: the mean over outputs
 * of J_k J_k^T, neural-tangents trace_axes=(-1,)), without forming J: per layer l,
 *   J_l(x) J_l(x')^T = (s_l^2 <h_{l-1}(x), h_{l-1}(x')> + t_l^2) <b_l(x), b_l(x')>
 * with b_l = df/dz_l the backpropagated vector (the theory's section 9.4, extended to
 * scales and biases), all as GEMMs in blocks of rows. Z == NULL: symmetric (m = n).
 * diag_only: out is an n-vector. Returns TG_OK, TG_ECANCELLED (prog asked to stop) or
 * TG_ENOMEM. */
int ntk_empirical(const mlp_arch *a, const double *theta, const double *X, size_t n,
                  const double *Z, size_t m, int output, int diag_only, double *out,
                  const tg_progress *prog, tg_err *err);

/* The per-pair maps, exposed for tests: E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for
 * variances q1, q2 and covariance c (closed forms only; quadrature activations return
 * NaN). */
double ntk_map_k(tg_act act, double slope, double q1, double q2, double c);
double ntk_map_dk(tg_act act, double slope, double q1, double q2, double c);

#endif
