/* shapley.h: Shapley values (and data Banzhaf values) of training points or of the input
 * features of one point (API.md 5.4; the theory's section 10.2, THEORY_EXTRACT.md 4).
 *
 * Players 0..N-1 and a utility U on subsets: s_i = E_pi[U(pi_<=i) - U(pi_<i)] (eq 10.1)
 * = sum_{S not containing i} |S|!(N-|S|-1)!/N! (U(S+i) - U(S)) (Problem 10.2.2). The
 * Banzhaf value b_i = 2^-(N-1) sum_{S not containing i} (U(S+i) - U(S)).
 *
 * Utilities (shap_utility): a read-only object built once per job (precomputed
 * distances, kernels, model), and per-thread evaluation states (shap_state) that build a
 * set one player at a time (shap_state_add: the U of the set after each addition, with
 * the work of the previous set reused: k-NN top-k lists, warm-started logistic fits,
 * incremental Cholesky factors) or evaluate a set at once (shap_state_eval).
 *   - knn (Jia et al. 2019): U_x(S) = (1/k) #{first min(k,|S|) of S by distance to x,
 *     ties lower index first, with label y}; U = mean over test points;
 *   - logistic: L2-regularized logistic (2 classes present in S) or softmax (more)
 *     regression, mean log-loss + l2/2 ||w||^2, bias not penalized, Newton with
 *     backtracking to gradient norm 1e-8; one class present: that class is predicted;
 *   - kernel_ridge: K(test,S) (K(S,S) + ridge I)^-1 Y_S from precomputed kernels; along a
 *     permutation the Cholesky factor, L^-1 K(S,test) and L^-1 Y_S grow by one row per
 *     player, so a whole scan costs about one factorization plus N^2 m;
 *   - mlp: a network trained by core/train.c on S (its rows in ascending index order,
 *     from the same initial weights and under the same seed whatever S is, so U(S)
 *     depends on the set only: no warm start, each set is trained from scratch), scored
 *     on the test split; one class present: that class is predicted;
 *   - features: the model's output `target` at the point with the features outside S
 *     replaced by the baseline.
 *   U(empty) is the configured empty score (features: the output at the baseline).
 *
 * Estimators (shap_run): exact (all 2^N subsets, U cached), permutation and tmc (with
 * antithetic pairs: a permutation and its reverse form one sample), banzhaf (maximum
 * sample reuse), difference (s_1 - s_j from sampled sets, anchored by efficiency), and
 * knn_exact (shap_knn_exact: Jia et al.'s recursion). Standard errors are those of the
 * mean of independent samples (a pair counts as one sample).
 *
 * Determinism: sample t (a permutation, a pair, a set) draws from the RNG stream
 * (seed, t) and samples are reduced in index order, so values do not depend on the
 * thread count; a stop by max_time_s is the only non-reproducible outcome.
 *
 * Threading: shap_run and shap_knn_exact use cfg->threads pthreads of their own; the
 * progress callbacks are called on the calling thread only. */
#ifndef TG_SHAPLEY_H
#define TG_SHAPLEY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mlp.h"
#include "tg.h"
#include "train.h"

typedef enum shap_util_kind {
    SHAP_U_KNN = 0,
    SHAP_U_LOGISTIC = 1,
    SHAP_U_KRIDGE = 2,
    SHAP_U_FEATURES = 3,
    SHAP_U_MLP = 4
} shap_util_kind;

typedef enum shap_metric { SHAP_ACCURACY = 0, SHAP_NEG_MSE = 1 } shap_metric;

typedef enum shap_method {
    SHAP_EXACT = 0,
    SHAP_PERMUTATION = 1,
    SHAP_TMC = 2,
    SHAP_KNN_EXACT = 3,
    SHAP_BANZHAF = 4,
    SHAP_DIFFERENCE = 5
} shap_method;

typedef enum shap_stop {
    SHAP_STOP_EXHAUSTIVE = 0, /* exact methods: every subset / the closed form */
    SHAP_STOP_MAX_PERMUTATIONS = 1,
    SHAP_STOP_MAX_EVALUATIONS = 2,
    SHAP_STOP_MAX_TIME = 3,
    SHAP_STOP_TOLERANCE = 4
} shap_stop;

/* Players = data: the training split (n x d; y n x ydim: class indices for
 * classification) and the test split (m rows) the utility scores on. Borrowed. */
typedef struct shap_data {
    size_t n, d, m, ydim;
    int classification;
    size_t n_classes;
    const double *x, *y, *xt, *yt;
} shap_data;

typedef struct shap_util_cfg {
    shap_util_kind kind;
    shap_metric metric;
    double empty_score;     /* U(empty) for data utilities */
    size_t k;               /* knn */
    double l2;              /* logistic */
    size_t cg_min_params;   /* logistic: softmax fits with >= this many parameters use
                             * Newton-CG (0: the default, 128; tests force either path) */
    double ridge;           /* kernel_ridge */
    const double *K;        /* kernel_ridge: K(train, train), n x n (borrowed) */
    const double *Kt;       /* kernel_ridge: K(test, train), m x n (borrowed) */
    /* features: the network, the point and the baseline (raw, d = arch->dims[0]), the
     * output index, and the model's preprocessing of raw rows (in place; may be NULL). */
    const mlp_arch *arch;
    const double *theta, *point, *baseline;
    size_t target;
    void (*transform)(void *ud, double *x, size_t n);
    void *transform_ud;
    /* mlp: train core's configuration (arch.dims[0] = d and the output layer set by the
     * caller; seed = the request's; copied) and the initial weights' scheme (train_init,
     * seeded with train->seed: the same start for every subset). */
    const train_cfg *train;
    const char *init;       /* borrowed until shap_utility_new returns */
    double init_std;
} shap_util_cfg;

typedef struct shap_utility shap_utility;
typedef struct shap_state shap_state;

/* Builds the utility (copies cfg; data and the arrays cfg points to are borrowed and
 * must outlive it). knn precomputes the m x n squared distances; features evaluates the
 * baseline. *out new. Returns TG_OK, TG_EINVAL (a utility that does not fit the data,
 * field named: "k", "metric"), TG_ENOMEM. */
int shap_utility_new(const shap_util_cfg *cfg, const shap_data *data, shap_utility **out,
                     tg_err *err);
void shap_utility_free(shap_utility *u);
size_t shap_utility_players(const shap_utility *u);
double shap_utility_empty(const shap_utility *u);

/* A per-thread evaluation state (new; NULL when out of memory). */
shap_state *shap_state_new(const shap_utility *u);
void shap_state_free(shap_state *s);
/* The empty set. */
void shap_state_reset(shap_state *s);
/* Adds player i (not already in the set); *u_out = U of the new set. TG_OK,
 * TG_ENUMERICAL (kernel ridge: K(S,S) + ridge I not positive definite), TG_EDIVERGED
 * (mlp: the training on S diverged), TG_ENOMEM (mlp), TG_ECANCELLED (the stop flag). */
int shap_state_add(shap_state *s, size_t i, double *u_out, tg_err *err);
/* U of the set idx[0..n) (distinct players), from scratch; the state is left holding
 * that set. */
int shap_state_eval(shap_state *s, const size_t *idx, size_t n, double *u_out, tg_err *err);
/* A flag that, once nonzero, makes long evaluations (logistic fits, mlp training) give up: add and
 * eval then return TG_ECANCELLED (borrowed; NULL: none). */
void shap_state_set_stop(shap_state *s, const atomic_int *stop);
/* Logistic fits that stopped at the iteration cap before gradient norm 1e-8. */
long long shap_state_unconverged(const shap_state *s);

/* The values of the exact enumeration from the table U[mask] (2^N entries; bit i of
 * mask = player i): Shapley (banzhaf 0) or Banzhaf values into values (N). */
void shap_exact_from_table(const double *U, size_t N, int banzhaf, double *values);

/* Progress of a sampling run, for the job's metrics. */
typedef struct shap_progress {
    long long permutations;    /* samples drawn (permutations; sets for banzhaf) */
    long long evaluations;
    double max_stderr;         /* NaN before two samples */
    double top_stability;      /* |top-10 now and at the previous report| / 10; NaN first */
    int final;                 /* the last report of the run */
} shap_progress;

typedef struct shap_run_cfg {
    shap_method method;        /* not SHAP_KNN_EXACT (shap_knn_exact) */
    int antithetic;
    double truncation;         /* tmc */
    long long max_permutations;
    long long max_evaluations; /* 0 = none */
    double max_time_s;         /* 0 = none */
    double tolerance;
    long long min_permutations;
    uint64_t seed;
    int threads;
    /* Called on the calling thread about every 0.25 s and at the end: a nonzero return
     * stops the run (TG_ECANCELLED). May be NULL. */
    int (*report)(void *ud, double fraction, const shap_progress *p);
    void *report_ud;
} shap_run_cfg;

typedef struct shap_result {
    double u_full, u_empty;
    long long permutations, evaluations;
    int converged;
    shap_stop stopped_by;
    double max_stderr;
    double efficiency_residual; /* NaN for banzhaf */
    long long unconverged_fits;
} shap_result;

/* Values and standard errors (N each, out) of the utility's players by cfg->method.
 * Returns TG_OK, TG_ECANCELLED, TG_ENUMERICAL (from a utility), TG_ENOMEM, TG_EINVAL
 * (exact with N > 20). */
int shap_run(const shap_utility *u, const shap_run_cfg *cfg, double *values,
             double *stderr_out, shap_result *res, tg_err *err);

/* Jia et al. 2019 (Theorem 1) for the knn utility on data (classification): per test
 * point, with alpha_1..alpha_N the training points by increasing distance (ties: lower
 * index first), s_{alpha_N} = 1[y_{alpha_N} = y] / max(N, k) and s_{alpha_i} =
 * s_{alpha_{i+1}} + (1[y_{alpha_i} = y] - 1[y_{alpha_{i+1}} = y]) / k * min(k, i) / i;
 * values = the mean over test points, shifted by -empty_score/N. The distances are
 * shap_sqdist's; the order is found from centered dot products with an exact recheck of
 * the points closer than their rounding bound (shapley_util.c), so it is exactly that
 * order. O(N d) per test point. *u_full_out = U(all). threads >= 1 (values identical for
 * any count). Returns TG_OK, TG_ENOMEM,
 * TG_ECANCELLED (report asked to stop; called with fraction and NULL). */
int shap_knn_exact(const shap_data *data, size_t k, double empty_score, int threads,
                   int (*report)(void *ud, double fraction, const shap_progress *p),
                   void *report_ud, double *values, double *u_full_out, tg_err *err);

/* Squared Euclidean distances D (m x n) between the rows of Z (m x d) and X (n x d), as
 * the knn utility and shap_knn_exact compute them (exposed for tests). */
void shap_sqdist(const double *Z, size_t m, const double *X, size_t n, size_t d, double *D);

const char *shap_method_name(shap_method m);
const char *shap_stop_name(shap_stop s);

#endif
