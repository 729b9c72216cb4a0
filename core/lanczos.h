/* lanczos.h: the Lanczos iteration with full reorthogonalization on a symmetric operator
 * given as a matrix-vector product callback (exact Hessian-vector products here), for
 * extreme eigenvalues: sharpness tracking (API.md 5.1 `track`) and the hessian kind.
 * Golub & Van Loan, Matrix Computations, section 10.1; the Ritz values of the k x k
 * tridiagonal matrix approximate the extreme eigenvalues.
 *
 * Threading: reentrant. */
#ifndef TG_LANCZOS_H
#define TG_LANCZOS_H

#include <stddef.h>

#include "rng.h"
#include "tg.h"

/* y = A x for vectors of length n; returns nonzero to stop (cancellation). */
typedef int (*lanczos_op)(void *ud, const double *x, double *y);

/* Runs up to k steps (k <= n) from a random start drawn from rng; ritz_out (k,
 * ascending) receives the Ritz values and *k_out how many there are (fewer when an
 * invariant subspace is found). Returns TG_OK, TG_ENOMEM, TG_ECANCELLED, or TG_ENUMERICAL
 * when the tridiagonal eigensolver fails. Precondition: k <= n. */
int lanczos_ritz(lanczos_op op, void *ud, size_t n, size_t k, tg_rng *rng, double *ritz_out,
                 size_t *k_out);

/* ---- extreme eigenvalues to a tolerance, traces, spectral densities ---------------- */

typedef struct lanczos_cfg {
    size_t top_k, bottom_k; /* Ritz values wanted at each end (top_k + bottom_k >= 1) */
    double tol;             /* converged: every wanted Ritz value's residual bound
                             * |beta_m s_mi| <= tol x max |Ritz value| */
    size_t max_steps;       /* cap (<= n; 0 = n) */
} lanczos_cfg;

typedef struct lanczos_result {
    size_t steps;           /* Lanczos steps taken (= HVPs) */
    int converged;          /* 1 when every wanted value met tol (or the subspace is invariant) */
    double scale;           /* max |Ritz value|: the spectral scale of the residual test */
    double worst;           /* the largest residual bound of a wanted value, over scale */
    double ritz_min, ritz_max; /* extreme Ritz values (eigenvalue estimates from inside) */
} lanczos_result;

/* Lanczos with full reorthogonalization (classical Gram-Schmidt, twice, by BLAS) from a
 * random unit start drawn from rng, until the cfg->top_k largest and cfg->bottom_k
 * smallest Ritz values have residual bounds |beta_m s_mi| <= tol x scale (Parlett, The
 * Symmetric Eigenvalue Problem, 13.2: each such Ritz value lies within that bound of an
 * eigenvalue), an invariant subspace is found, or max_steps. top (top_k, descending) and
 * bottom (bottom_k, ascending) receive the values (NaN where the Krylov space has fewer
 * Ritz values); res_top / res_bottom (may be NULL) their residual bounds. Memory: the
 * basis, steps x n doubles, allocated in chunks as the iteration proceeds (linear in n).
 * prog: polled every step with a fraction of the way to convergence, and a message.
 * Returns TG_OK, TG_ENOMEM, TG_ECANCELLED (op or prog said stop), TG_ENUMERICAL (the
 * tridiagonal eigensolver failed). */
int lanczos_extreme(lanczos_op op, void *ud, size_t n, const lanczos_cfg *cfg, tg_rng *rng,
                    const tg_progress *prog, double *top, double *bottom, double *res_top,
                    double *res_bottom, lanczos_result *out);

/* Hutchinson's estimator of trace(A): mean of z^T A z over `samples` Rademacher z (from
 * rng); *stderr_out = the sample standard deviation / sqrt(samples) (NaN for one
 * sample). prog: polled with the fraction of probes done. Returns TG_OK, TG_ENOMEM,
 * TG_ECANCELLED. */
int lanczos_hutchinson(lanczos_op op, void *ud, size_t n, size_t samples, tg_rng *rng,
                       const tg_progress *prog, double *trace_out, double *stderr_out);

/* An operator on b vectors at once: Y = A X row by row (X, Y: b x n); nonzero = stop. */
typedef int (*lanczos_block_op)(void *ud, const double *X, size_t b, double *Y);

/* lanczos_hutchinson with the probes applied `block` at a time (the same probes in the
 * same order, so the same estimate up to the rounding of op): 2 x block x n doubles. */
int lanczos_hutchinson_block(lanczos_block_op op, void *ud, size_t n, size_t samples,
                             size_t block, tg_rng *rng, const tg_progress *prog,
                             double *trace_out, double *stderr_out);

/* Stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao
 * 2019): for each of `probes` Rademacher unit vectors v, `steps` Lanczos steps (full
 * reorthogonalization) give nodes theta_j (the Ritz values) and weights tau_j (squared
 * first components of the tridiagonal's eigenvectors, summing to 1) with
 * v^T g(A) v ~ sum_j tau_j g(theta_j). nodes and weights: probes x steps (row p holds
 * counts[p] <= steps entries: fewer when the Krylov space is invariant). prog: polled
 * every step with the fraction done. Returns TG_OK, TG_ENOMEM, TG_ECANCELLED,
 * TG_ENUMERICAL. */
int lanczos_slq(lanczos_op op, void *ud, size_t n, size_t probes, size_t steps, tg_rng *rng,
                const tg_progress *prog, double *nodes, double *weights, size_t *counts);

/* The spectral density of the SLQ nodes/weights broadened by N(0, sigma^2), averaged
 * over the probes: values[b] = (the Gaussian mass in bin b) / (bin width), for `bins`
 * equal bins over [lo, hi]; grid[b] = the bin's center. sum values x width ~ 1 (less
 * the mass outside [lo, hi]). sigma > 0, hi > lo, bins >= 1. */
void lanczos_slq_density(const double *nodes, const double *weights, const size_t *counts,
                         size_t probes, size_t steps, double sigma, double lo, double hi,
                         size_t bins, double *grid, double *values);

#endif
