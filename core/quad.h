/* quad.h: error-controlled Gaussian expectations E[phi(u) phi(v)] and
 * E[phi'(u) phi'(v)] of the analytic NTK for activations without a closed form (tanh,
 * sigmoid, softplus; any activation through ntk_cfg.force_numeric, for tests), as used by
 * the Gram driver (ntk.c). Internal to core (see ntk.h for the public API).
 *
 * Method (API.md 5.2 `quadrature_tol`: the error of each map, relative to its natural
 * scale sqrt(E[f(u)^2] E[f(v)^2]), f = phi or phi', is at most the tolerance):
 * - per point and layer (one 1-D rule per distinct variance q, u = sqrt(q) z):
 *   the orthonormal Hermite coefficients A_k = E[phi(sqrt(q) z) h_k(z)] and B_k (phi'),
 *   k = 0..QUAD_NC, h_k = He_k / sqrt(k!), and E[phi^2], E[phi'^2], by a composite
 *   Gauss-Legendre rule graded towards 0 (the activation's transition) on [-12, 12]; its
 *   error is estimated by a second, lower order on the same panels;
 * - per entry (Mehler): E[phi(u) phi(v)] = sum_k A_k(q1) A_k(q2) rho^k, truncated at N with
 *   the rigorous tail bound (Cauchy-Schwarz on the tail, Parseval for the tail energies)
 *   |rho|^(N+1) sqrt(T_N(q1) T_N(q2)), T_N = E[phi^2] - sum_{k<=N} A_k^2; N is chosen per
 *   row from the row's largest |rho| (short series for weakly correlated points);
 * - entries whose bound cannot reach the target with QUAD_NC terms (|rho| near 1 at large
 *   variances) fall back to conditioning on u (whitened) and nested 1-D rules: an outer
 *   composite Gauss-Legendre rule graded towards 0 and, for v | u, Gauss-Hermite (40, 64
 *   or 128 nodes for conditional standard deviations up to 0.35, 0.6, 0.9) or a
 *   composite rule graded towards phi's transition beyond; error estimated by the same
 *   computation at lower orders;
 * - rho = +-1 exactly: the diagonal values, or a graded 1-D rule.
 * Per-map target: quadrature_tol / 8, leaving room for the propagation through the
 * layers (measured against quad_fixtures.json: every kernel entry within 0.5 x tol x
 * its scale, tests/core/check_quad.c).
 * Cost per layer: points x (QUAD_NC0 + 1) x ~370 nodes for the coefficients (the
 * coefficients up to QUAD_NC only when a row needs them, for all points at once); per
 * entry a series of 4..32 terms for weakly correlated points (2 x N multiply-adds, the
 * two kernels); a fallback entry costs 1e4 (v | u by Gauss-Hermite, its std <= 0.9: 98%
 * of them on standardized iris) to 1e5 (graded inner rule) activation evaluations.
 *
 * Threading: quad_prepare and quad_extend split the points over threads of their own;
 * quad_row is reentrant with per-thread scratch (quad_scratch). A row's choice of series
 * length and method depends only on its data, so results do not depend on threads.
 */
#ifndef TG_QUAD_H
#define TG_QUAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "ntk.h"
#include "ntk_maps.h"

#define QUAD_NC 128    /* series: coefficients k = 0..QUAD_NC */
#define QUAD_NC0 32    /* computed up front; the rest on a row's demand (quad_extend) */
#define QUAD_LADDER 10 /* candidate series lengths per row */
#define QUAD_LADDER0 6 /* those <= QUAD_NC0 */
#define QUAD_NODES 4096 /* nodes of one composite rule (at most) */

/* The tail-energy ladder: candidate truncation lengths. */
extern const int quad_ladder[QUAD_LADDER];

/* Read-only rules shared by the threads. */
typedef struct quad_rules {
    double gx[6][24], gw[6][24]; /* Gauss-Legendre on [-1, 1]: orders of quad_orders */
    /* probabilists' Gauss-Hermite for v | u, by its standard deviation t: orders 40, 64,
     * 128 for t <= 0.35, 0.6, 0.9 (with checks 28, 48, 96); beyond, a graded rule */
    ntk_gh_rule gh[3], gh_lo[3];
} quad_rules;

/* One layer's per-point data (P points: the rows' points, then the columns' when they
 * differ). Arrays k-major so that a row's series runs over contiguous columns. */
typedef struct quad_layer {
    double *A, *B;      /* (QUAD_NC + 1) x P */
    double *tA, *tB;    /* QUAD_LADDER x P: relative tail energies T_N / E at the ladder */
    double *thA, *thB;  /* P: (T_NC / E)^(1 / (2 (QUAD_NC + 1))) */
    double *e0, *e1;    /* P: E[phi(u)^2], E[phi'(u)^2] */
    double *q, *rs;     /* P: the variance and 1 / sqrt(q) (0 for q = 0) */
    double tmaxA[QUAD_LADDER], tmaxB[QUAD_LADDER]; /* max of tA, tB over the column points */
    double err1d;       /* largest estimated 1-D rule error (relative), over the points */
    /* Coefficients k > QUAD_NC0, the ladder beyond it and thA, thB are made by the first
     * row that needs them (quad_extend); ext_done is then 1. */
    atomic_int ext_done;
    pthread_mutex_t ext_mu;
    int ext_rc;
} quad_layer;

typedef struct quad_ctx {
    const ntk_cfg *cfg;
    const quad_rules *rules; /* process-wide, made once */
    size_t L, P, n, m, co; /* layers, points, rows, columns, offset of the columns */
    quad_layer *ly;          /* L layers */
    double tol_t;          /* per-map target (a fraction of cfg->quad_tol) */
    double cutA, cutB;     /* tol_t^(1 / (QUAD_NC + 1)) */
    int threads;           /* for quad_prepare and quad_extend */
} quad_ctx;

/* Statistics of a pass (per thread, then merged). */
typedef struct quad_stats {
    double max_err;        /* largest estimated map error, relative to its scale */
    double err_q1, err_q2, err_rho; /* where it occurred */
    size_t series, nested, exact;   /* maps by method */
    int max_terms;         /* longest series used */
} quad_stats;

typedef struct quad_scratch {
    double *rho, *buf, *buf2; /* rows of m */
    unsigned char *ok;
    double *z, *w, *f, *df, *v, *g, *dg; /* QUAD_NODES each */
    double *zi, *wi;
    const atomic_int *stop; /* optional: polled between fallback entries (1: return) */
} quad_scratch;

/* Makes the rules and the layer data for the points with input variances q0 (x.x/d; P
 * of them: n rows, then m columns unless sym): the variance chain of every point through
 * the layers (quad_layer.q: the post-Dense variance entering each nonlinearity) and the
 * coefficients, in chunks of points split over `threads` threads, reporting progress
 * p0 .. p1 between chunks. TG_ECANCELLED (prog asked to stop) or TG_ENOMEM. */
int quad_prepare(quad_ctx *Q, const ntk_cfg *cfg, const double *q0, size_t n, size_t m, int sym,
               int threads, const tg_progress *prog, double p0, double p1);
void quad_free(quad_ctx *Q);

int quad_scratch_init(quad_scratch *S, size_t m);
void quad_scratch_free(quad_scratch *S);

/* The coefficients beyond QUAD_NC0 of layer l, once (thread-safe; the first caller
 * computes them on Q->threads threads, the others wait). TG_OK or TG_ENOMEM. */
int quad_extend(const quad_ctx *Q, size_t l);

/* One row: entries of row i against columns j0 .. j0 + len - 1 (column indices into the
 * column points), every layer; K in: the input kernel, out: nngp; T out: ntk.
 * first_is_diag: entry 0 is the point with itself. */
void quad_row(const quad_ctx *Q, size_t i, size_t j0, size_t len, int first_is_diag, double *K,
            double *T, quad_scratch *S, quad_stats *st);

/* The diagonal entry of point p (row index) through every layer. */
void quad_diag(const quad_ctx *Q, size_t p, double g, double *k_out, double *t_out);

/* The maps of one pair by the fallback (nested rules), with error estimates (absolute).
 * Exposed for tests. */
void quad_pair_nested(const quad_rules *R, tg_act act, double slope, double q1, double q2,
                    double c, double *k, double *dk, double *ek, double *edk, quad_scratch *S);

void quad_stats_merge(quad_stats *into, const quad_stats *s);

/* One map pair (E[phi phi], E[phi' phi']) for variances q1, q2 and covariance c by the
 * production path (series, or the fallback), with its estimated error (relative to the
 * scale); cfg: act, leaky_slope, quad_tol, force_numeric. For tests. */
int quad_map(const ntk_cfg *cfg, double q1, double q2, double c, double *k, double *dk,
           double *err);

#endif
