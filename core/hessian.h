/* hessian.h: the analysis of the hessian kind (API.md 5.6): the curvature of the training
 * objective J at a model (curv.h): extreme eigenvalues (exact eigendecomposition of the
 * explicit Hessian, or Lanczos with full reorthogonalization to a residual tolerance),
 * the trace (exact, or Hutchinson with Rademacher probes), the spectral density (from
 * the exact eigenvalues, or stochastic Lanczos quadrature), the gradient norm and the
 * second-order stationarity test (the theory's Def 7.1.5: ||grad J|| <= eps_g and
 * lambda_min >= -eps_h).
 *
 * Reproducibility: the random vectors come from streams of cfg->seed (Lanczos start 1,
 * Hutchinson 2, SLQ 3); with a given thread count every number is deterministic.
 *
 * Threading: reentrant; uses o->threads threads (curv.h).
 */
#ifndef TG_HESSIAN_H
#define TG_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#include "curv.h"
#include "tg.h"

typedef enum hessian_method { HESSIAN_EXACT = 0, HESSIAN_LANCZOS = 1 } hessian_method;

/* P up to which `auto` takes the exact path. */
#define HESSIAN_EXACT_MAX_P 3000

typedef struct hessian_cfg {
    hessian_method method;
    size_t top_k, bottom_k;  /* reported counts (the largest and smallest are always found) */
    size_t trace_samples;    /* Hutchinson probes on the Lanczos path (0: no trace there) */
    int density;
    size_t probes, steps, bins;
    double sigma;            /* broadening; <= 0: 1e-3 x (lambda_max - lambda_min) */
    double tol;              /* Lanczos residual tolerance, relative to the spectral scale */
    size_t max_steps;        /* Lanczos step cap */
    double grad_tol, eig_tol;
    uint64_t seed;
} hessian_cfg;

typedef struct hessian_result {
    size_t dim;
    double *top, *bottom;    /* top_k descending, bottom_k ascending (owned) */
    double sharpness, min_eigenvalue;
    int has_trace, trace_exact;
    double trace, trace_stderr; /* stderr 0 when exact, NaN with one probe */
    double gradient_norm, objective;
    int second_order_stationary;
    /* Lanczos path */
    size_t lanczos_steps;
    int converged;
    double residual;         /* worst residual bound of a wanted value / scale */
    /* density */
    double *grid, *values;   /* bins each (owned), NULL without density */
    double sigma;
} hessian_result;

void hessian_result_deinit(hessian_result *r);

/* Runs the analysis on o (its damping is taken as given; the kind passes 0). prog: the
 * fraction over the whole analysis, messages per Hessian column, Lanczos step, trace
 * probe and density step; nonzero stops it (TG_ECANCELLED). Preconditions: top_k and
 * bottom_k <= curv_dim(o); bins >= 1; probes, steps >= 1 with density. Returns TG_OK,
 * TG_ENOMEM, TG_ECANCELLED, TG_ENUMERICAL (an eigensolver failed; err says which). */
int hessian_run(const curv_obj *o, const hessian_cfg *cfg, const tg_progress *prog,
                hessian_result *res, tg_err *err);

/* Bytes the run takes beyond the data and the model (for the memory estimate). */
double hessian_memory(const mlp_arch *a, size_t n, size_t dim, const hessian_cfg *cfg,
                      int threads);
/* Floating-point operations, approximately. */
double hessian_flops(const mlp_arch *a, size_t n, size_t dim, const hessian_cfg *cfg);

#endif
