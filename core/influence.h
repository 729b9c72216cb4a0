/* influence.h: influence functions of a trained network (API.md 5.3; Koh & Liang 2017,
 * "Understanding black-box predictions via influence functions", eq 2; the theory's
 * section 10.1, Thm 10.1.2):
 *
 *   J(theta) = (1/n) sum_i l(x_i, theta) + l2/2 ||theta||^2,  H = grad^2 J(theta*) + damping I,
 *   influence[j][i] = -grad l(z_j)^T H^-1 grad l(x_i),
 *   self_influence[i] = grad l(x_i)^T H^-1 grad l(x_i),
 *
 * all gradients and H restricted to a contiguous parameter range [p_lo, p_hi) (the
 * `params_subset`; the last layer is the tail of mlp.h's flat layout). Removing x_i
 * changes the loss at z_j by about -influence[j][i] / n: positive = harmful.
 *
 * H^-1 v is computed one test point at a time (s_j = H^-1 grad l(z_j)), then one GEMM
 * against all the kept training gradients gives influence = -S G^T:
 *   - INFL_EXACT: the explicit H (curv_hessian), Cholesky (dpotrf) once, dpotrs for all
 *     test gradients at once; self-influence from one triangular solve of all training
 *     gradients (||L^-1 g_i||^2);
 *   - INFL_CG: block conjugate gradients on exact Hessian-vector products (curv_hvp):
 *     the right-hand sides in blocks of influence_cg_block columns share one growing
 *     Krylov space, each column stopping at relative residual cg_tol; a non-positive
 *     eigenvalue of a projected D H D^T is reported as TG_ENUMERICAL with a Lanczos
 *     estimate of the smallest eigenvalue;
 *   - INFL_LISSA: the truncated Neumann series (the theory's Problem 10.1.3; Agarwal,
 *     Bullins & Hazan 2017): r_0 = v, r_t = v + (I - H_t/s) r_{t-1}, H^-1 v ~ r_depth / s,
 *     H_t the Hessian of a random batch (or the full H), averaged over `repeats`.
 *     Tolerance (full batch): ||x_lissa - x|| <= (1 - lambda_min(H)/s)^(depth+1) ||x||,
 *     since x - x_r = (I - H/s)^(r+1) x. Growth of ||r_t|| beyond (t+1)||v|| means an
 *     eigenvalue of H/s outside (0, 2): TG_ENUMERICAL.
 *
 * Leave-one-out validation (influence_loo): retraining on the n-1 remaining points from a
 * warm start (Newton with a Cholesky solve and Armijo backtracking for small P, L-BFGS
 * otherwise) to gradient norm 1e-10, over the same parameter range (the others frozen).
 *
 * Threading: reentrant; influence_loo spreads retrainings over cfg threads (each
 * retraining is computed by one thread, so the numbers do not depend on the count).
 * Cancellation through tg_progress, checked at least once per Hessian-vector product,
 * Newton or L-BFGS iteration.
 */
#ifndef TG_INFLUENCE_H
#define TG_INFLUENCE_H

#include <stddef.h>
#include <stdint.h>

#include "mlp.h"
#include "tg.h"

typedef enum infl_method { INFL_EXACT = 0, INFL_CG = 1, INFL_LISSA = 2 } infl_method;

/* The objective and its data (all borrowed). y: n x ydim (ydim 1 with class indices). */
typedef struct infl_problem {
    const mlp_arch *arch;
    const double *theta;       /* P: the model's parameters theta* */
    tg_loss loss;
    int y_is_class;
    const double *x, *y;       /* the training split: n rows (the objective's data) */
    size_t n;
    const double *x_test, *y_test; /* the test points z_j: m rows */
    size_t m;
    const size_t *cols;        /* n_cols training indices (columns of influence); NULL = all */
    size_t n_cols;
    size_t p_lo, p_hi;         /* parameter range */
    double l2, damping;
    int threads;
    int loo_lbfgs;             /* influence_loo: 1 = L-BFGS whatever the size (else Newton
                                * when p_hi - p_lo <= 200) */
} infl_problem;

typedef struct infl_cfg {
    infl_method method;
    double cg_tol;             /* relative residual */
    size_t cg_max_iter;
    size_t depth;              /* lissa */
    double scale;              /* lissa; <= 0: auto = 1.1 x lambda_max(H) (Lanczos) */
    size_t repeats;
    size_t batch_size;         /* lissa; 0 = full */
    uint64_t seed;
    int self_influence;
    size_t top_k;
} infl_cfg;

typedef struct infl_result {
    double *influence;         /* m x n_cols (new) */
    double *self_influence;    /* n_cols (new), or NULL */
    size_t *top_helpful;       /* m x top_k training indices, most negative first (new) */
    size_t *top_harmful;       /* m x top_k, most positive first (new) */
    size_t top_k;              /* min(cfg top_k, n_cols) */
    double min_eig, max_eig;   /* of H (with damping): exact or Lanczos/CG-Ritz estimates;
                                * NAN when unknown */
    int eig_exact;
    size_t cg_iterations;      /* block CG iterations, worst block */
    size_t cg_products;        /* Hessian-vector products of block CG, all blocks */
    double cg_relres;          /* worst relative residual */
    size_t cg_unconverged;     /* solves that stopped at cg_max_iter */
    double scale;              /* lissa: the scale used */
    double lissa_bound;        /* lissa: (1 - min_eig/s)^(depth+1), NAN if unknown */
    double grad_norm;          /* ||grad J(theta*)|| on the range (stationarity) */
} infl_result;

void infl_result_deinit(infl_result *r);

/* Columns per block of INFL_CG for a range of Pr parameters and `solves` right-hand sides:
 * what fits in ~256 MiB of block vectors (5 x Pr doubles per column), 8 to 128, at most
 * solves. */
size_t influence_cg_block(size_t Pr, size_t solves);

/* Per-example gradients of the loss on the parameter range: G (n x (p_hi - p_lo)) row i
 * = grad l(x_i, y_i) restricted. p_hi - p_lo is P, or the last layer's range. */
int influence_grads(const mlp_arch *a, const double *theta, const double *x, const double *y,
                    int y_is_class, size_t n, tg_loss loss, size_t p_lo, size_t p_hi,
                    double *G, tg_err *err);

/* The whole computation: result filled (caller deinits, also on failure). Returns TG_OK,
 * TG_ENOMEM, TG_ECANCELLED, or TG_ENUMERICAL (H not positive definite: message gives
 * the smallest eigenvalue and a suggested damping; lissa diverging). */
int influence_run(const infl_problem *pb, const infl_cfg *cfg, infl_result *res,
                  const tg_progress *prog, tg_err *err);

/* The damping to suggest when H = grad^2 J + damping I has smallest eigenvalue min_eig:
 * makes the smallest eigenvalue |min_eig - damping| (twice the negative curvature),
 * rounded up to two significant digits. */
double influence_suggest_damping(double min_eig, double damping);

/* ---- leave-one-out validation -------------------------------------------------------- */

/* Called after each retraining (from one thread at a time): done of total, the Pearson
 * correlation of the pairs so far (NAN with fewer than 3). Nonzero stops the run. */
typedef int (*infl_loo_fn)(void *ud, size_t done, size_t total, double pearson);

typedef struct infl_loo_out {
    double *actual;            /* k: test loss change when the point is removed (new) */
    double ref_loss;           /* test loss at the full-data retrained optimum */
    double ref_shift;          /* ||theta_ref - theta*|| on the range */
    size_t newton;             /* 1: Newton, 0: L-BFGS */
    double worst_grad;         /* largest final gradient norm over the retrainings */
    size_t unconverged;        /* retrainings that stopped before grad norm 1e-10 */
} infl_loo_out;

/* Retrains without each training point idx[t] (t < k; indices into x) and measures the
 * change of the loss at the test point (x_test[0], y_test[0]) against the retraining
 * on all n points from the same warm start. Uses pb's objective (l2, range; no damping).
 * Returns TG_OK, TG_ENOMEM, TG_ECANCELLED (cb or prog asked to stop). */
int influence_loo(const infl_problem *pb, const size_t *idx, size_t k, const double *predicted,
                  infl_loo_out *out, infl_loo_fn cb, void *cb_ud, const tg_progress *prog,
                  tg_err *err);
void infl_loo_out_deinit(infl_loo_out *o);

/* Correlations of n pairs: Pearson, and Spearman (Pearson of average ranks). NAN when
 * n < 2 or a side is constant. */
double influence_pearson(const double *a, const double *b, size_t n);
double influence_spearman(const double *a, const double *b, size_t n);

#endif
