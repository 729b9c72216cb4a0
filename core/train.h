/* train.h: the training loop of the train kind (API.md 5.1): epochs over fresh seeded
 * permutations in batches, the objective J = mean loss + weight_decay/2 ||theta||^2
 * (no L2 term for adamw, whose decay is decoupled), gradient clipping, label noise, the
 * optimizers and schedules of optim.h, SAM, early stopping with best-weights restore,
 * sharpness tracking (Lanczos on exact HVPs of the full-batch objective; Cohen et al.
 * 2021, "edge of stability": with full-batch GD the sharpness rises to about 2/lr), and
 * per-epoch metrics from full passes with clean labels.
 *
 * Reproducibility: every random choice (permutations, label noise, Lanczos starts)
 * comes from RNG streams derived from cfg->seed; the result depends only on the inputs
 * and the BLAS thread count.
 *
 * Size preconditions: the data arrays exist (n x d, n x ydim), so their sizes fit in
 * size_t; every buffer of the loop (P-vectors, batch x d, batch x outputs, epochs + 1
 * history entries) is sized with overflow checks, and a failure is TG_ENOMEM.
 *
 * Threading: reentrant; runs on the calling (worker) thread.
 */
#ifndef TG_TRAIN_H
#define TG_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mlp.h"
#include "optim.h"
#include "tg.h"

typedef enum { NOISE_NONE = 0, NOISE_SIGMA = 1, NOISE_FLIP = 2 } tg_noise;

typedef struct train_cfg {
    mlp_arch arch;
    tg_loss loss;
    optim_cfg opt;
    sched_cfg sched;
    double weight_decay;
    size_t batch_size;          /* 0 = full batch */
    long long epochs;
    long long max_steps;        /* 0 = none */
    double clip;                /* 0 = no clipping */
    tg_noise noise;
    double noise_level;         /* sigma or flip probability */
    size_t n_classes;           /* classification; 0 for regression */
    long long sharpness_every;  /* 0 = no tracking */
    int sharpness_iters;
    int early_stopping;
    long long patience;
    double min_delta;
    int restore_best;
    uint64_t seed;
} train_cfg;

/* Targets: classification y holds class indices (n x 1); regression n x ydim. */
typedef struct train_data {
    size_t d, ydim;
    int classification;
    const double *x, *y;
    size_t n;
    const double *x_val, *y_val; /* may be NULL (n_val 0) */
    size_t n_val;
    const double *x_test, *y_test;
    size_t n_test;
} train_data;

typedef struct split_metrics {
    int present;
    double loss;
    double accuracy; /* classification */
    double mse;      /* regression: mean over rows and outputs of (f - y)^2 */
} split_metrics;

typedef struct train_epoch {
    long long epoch;   /* from 1 */
    double lr;
    split_metrics train, val, test;
    double objective;
    double grad_norm;
    int has_sharpness;
    double sharpness, two_over_lr;
} train_epoch;

typedef struct train_result {
    long long epochs_run;
    long long steps;
    double samples;             /* examples processed by optimizer steps */
    int stopped_early;
    long long best_epoch;       /* with early stopping */
    train_epoch final;          /* metrics of the returned weights */
    train_epoch *history;       /* epochs_run entries (owned; free with train_result_deinit) */
    size_t n_history;
} train_result;

void train_result_deinit(train_result *r);

/* Called after every epoch with its metrics; fraction = progress in [0, 1]. */
typedef void (*train_epoch_fn)(void *ud, const train_epoch *e, double fraction);

/* Trains from theta (in: initial weights; out: final, or the best epoch's with
 * restore_best). prog is polled between batches (nonzero = stop: TG_ECANCELLED). A loss
 * that becomes NaN/Inf returns TG_EDIVERGED. In every case res holds the history so far.
 */
int train_run(const train_cfg *cfg, const train_data *data, double *theta,
              train_result *res, const tg_progress *prog, train_epoch_fn on_epoch, void *ud,
              tg_err *err);

/* Metrics of theta on n rows (loss, accuracy or mse). */
void train_metrics(const mlp_arch *a, tg_loss loss, const double *theta, const double *x,
                   const double *y, size_t n, int classification, size_t ydim, mlp_ws *ws,
                   double *fbuf, split_metrics *out);

/* Top eigenvalue of the Hessian of J (mean loss over the n rows + l2 I) by `iters`
 * Lanczos steps on exact HVPs. Returns TG_OK, TG_ENOMEM, TG_ENUMERICAL (the
 * tridiagonal eigensolver did not converge) or TG_ECANCELLED. */
int train_sharpness(const mlp_arch *a, tg_loss loss, const double *theta, const double *x,
                    const double *y, int y_is_class, size_t n, double l2, int iters,
                    uint64_t seed, const tg_progress *prog, double *out);

/* Initial weights (API.md 5.1 `init`): "default" (standard: U(+-1/sqrt(fan_in)) for
 * weights and biases, PyTorch nn.Linear; ntk: N(0,1) for all), "xavier_uniform",
 * "xavier_normal", "he_uniform", "he_normal", "orthogonal", "normal" (N(0, std^2));
 * biases zero except under "default". TG_EINVAL for an unknown name. */
int train_init(const mlp_arch *a, const char *init, double init_std, uint64_t seed,
               double *theta, tg_err *err);

#endif
