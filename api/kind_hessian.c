/* kind_hessian.c: the `hessian` kind (API.md 5.6): the curvature of a model's training
 * objective J over `data` (default: the model's own training data, minus the validation
 * carve-out of its training run, preprocessed as the model was). Decoding with every
 * default filled in, the memory estimate (P x P for the exact path, O(max_steps x P) for
 * Lanczos; a 422 naming what fits when over the server's budget), the run through
 * core/hessian.c, and the result: eigenvalues, trace, density, gradient norm, the
 * second-order stationarity test and the edge-of-stability ratio. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/hessian.h"
#include "../core/preprocess.h"
#include "jx.h"
#include "kinds.h"

#define HESSIAN_MAX_K 100000
#define HESSIAN_MAX_SAMPLES 1000000
#define HESSIAN_MAX_PROBES 10000
#define HESSIAN_MAX_STEPS 100000
#define HESSIAN_MAX_BINS 100000

typedef struct hessian_req {
    hessian_cfg cfg;
    double l2;
    int l2_given;
} hessian_req;

/* The model's weight decay as its objective's L2 term: the train request's
 * weight_decay, except for adamw (or sam over adamw), whose decay is decoupled (J has no
 * L2 term). 0 for uploaded models. */
static double model_l2(const tg_model *m)
{
    json_t *p = m->training ? json_object_get(m->training, "params") : NULL;
    json_t *wd = json_object_get(p, "weight_decay");
    json_t *o = json_object_get(p, "optimizer");
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *base = json_string_value(json_object_get(o, "base"));
    if (!json_is_number(wd))
        return 0;
    if ((name && strcmp(name, "adamw") == 0) ||
        (name && strcmp(name, "sam") == 0 && base && strcmp(base, "adamw") == 0))
        return 0;
    return json_number_value(wd);
}

/* The weight decay of a model trained with decoupled decay (adamw, sam over adamw), else 0. */
static double decoupled_decay(const tg_model *m)
{
    json_t *p = m->training ? json_object_get(m->training, "params") : NULL;
    json_t *wd = json_object_get(p, "weight_decay");
    if (!json_is_number(wd) || model_l2(m) != 0)
        return 0;
    return json_number_value(wd);
}

static int decode(json_t *p, const tg_model *model, hessian_req *r, tg_err *err)
{
    static const char *const fields_d[] = {"method", "top_k", "bottom_k", "trace_samples",
                                           "density", "probes", "steps", "sigma", "bins",
                                           "l2", "tolerance", "max_steps", "grad_tol",
                                           "eig_tol", "seed", NULL};
    static const char *const methods[] = {"auto", "exact", "lanczos", NULL};
    static const char *const autos[] = {"auto", NULL};
    const char *method;
    long long v;
    int rc;
    size_t P = model->P;
    memset(r, 0, sizeof *r);
    hessian_cfg *c = &r->cfg;
    if ((rc = jx_check_fields(p, "params", fields_d, err)))
        return rc;
    if ((rc = jx_string(p, "method", "params", "auto", methods, 0, &method, err)))
        return rc;
    jx_default(p, "method", json_string(method));
    if (strcmp(method, "exact") == 0)
        c->method = HESSIAN_EXACT;
    else if (strcmp(method, "lanczos") == 0)
        c->method = HESSIAN_LANCZOS;
    else
        c->method = P <= HESSIAN_EXACT_MAX_P ? HESSIAN_EXACT : HESSIAN_LANCZOS;
    if ((rc = jx_int(p, "top_k", "params", 1, 0, HESSIAN_MAX_K, &v, err)))
        return rc;
    c->top_k = (size_t)v;
    jx_default(p, "top_k", json_integer(v));
    if ((rc = jx_int(p, "bottom_k", "params", 0, 0, HESSIAN_MAX_K, &v, err)))
        return rc;
    c->bottom_k = (size_t)v;
    jx_default(p, "bottom_k", json_integer(v));
    if (c->top_k > P)
        return tg_err_setf(err, TG_EINVAL, "params.top_k",
                           "params.top_k is %zu; the model has %zu parameters", c->top_k, P);
    if (c->bottom_k > P)
        return tg_err_setf(err, TG_EINVAL, "params.bottom_k",
                           "params.bottom_k is %zu; the model has %zu parameters", c->bottom_k, P);
    if ((rc = jx_int(p, "trace_samples", "params", 0, 0, HESSIAN_MAX_SAMPLES, &v, err)))
        return rc;
    c->trace_samples = (size_t)v;
    jx_default(p, "trace_samples", json_integer(v));
    if ((rc = jx_bool(p, "density", "params", 0, &c->density, err)))
        return rc;
    jx_default(p, "density", json_boolean(c->density));
    if (!c->density) {
        static const char *const dens_only[] = {"probes", "steps", "sigma", "bins", NULL};
        for (size_t i = 0; dens_only[i]; i++)
            if (json_object_get(p, dens_only[i])) {
                char f[64];
                snprintf(f, sizeof f, "params.%s", dens_only[i]);
                return tg_err_setf(err, TG_EINVAL, f, "%s applies only with params.density: true",
                                   f);
            }
    } else {
        if ((rc = jx_int(p, "probes", "params", 10, 1, HESSIAN_MAX_PROBES, &v, err)))
            return rc;
        c->probes = (size_t)v;
        jx_default(p, "probes", json_integer(v));
        if ((rc = jx_int(p, "steps", "params", 80, 1, HESSIAN_MAX_STEPS, &v, err)))
            return rc;
        c->steps = (size_t)v < P ? (size_t)v : P; /* Lanczos has at most P steps */
        jx_default(p, "steps", json_integer(v));
        if ((rc = jx_int(p, "bins", "params", 100, 1, HESSIAN_MAX_BINS, &v, err)))
            return rc;
        c->bins = (size_t)v;
        jx_default(p, "bins", json_integer(v));
        json_t *s = json_object_get(p, "sigma");
        if (!s || json_is_string(s)) {
            const char *sv;
            if ((rc = jx_string(p, "sigma", "params", "auto", autos, 0, &sv, err)))
                return rc;
            jx_default(p, "sigma", json_string("auto"));
            c->sigma = 0;
        } else if ((rc = jx_number(p, "sigma", "params", 0, 0, 1, INFINITY, 0, &c->sigma, err))) {
            return rc;
        }
    }
    double wd = model_l2(model);
    r->l2_given = json_object_get(p, "l2") != NULL;
    if ((rc = jx_number(p, "l2", "params", wd, 0, 0, INFINITY, 0, &r->l2, err)))
        return rc;
    jx_default(p, "l2", json_real(r->l2));
    if ((rc = jx_number(p, "tolerance", "params", 1e-8, 0, 1, 1, 0, &c->tol, err)))
        return rc;
    jx_default(p, "tolerance", json_real(c->tol));
    if ((rc = jx_int(p, "max_steps", "params", 300, 1, HESSIAN_MAX_STEPS, &v, err)))
        return rc;
    c->max_steps = (size_t)v < P ? (size_t)v : P;
    jx_default(p, "max_steps", json_integer(v));
    if ((rc = jx_number(p, "grad_tol", "params", 1e-4, 0, 0, INFINITY, 0, &c->grad_tol, err)))
        return rc;
    jx_default(p, "grad_tol", json_real(c->grad_tol));
    if ((rc = jx_number(p, "eig_tol", "params", 1e-4, 0, 0, INFINITY, 0, &c->eig_tol, err)))
        return rc;
    jx_default(p, "eig_tol", json_real(c->eig_tol));
    if ((rc = jx_int(p, "seed", "params", 0, 0, INT64_MAX, &v, err)))
        return rc;
    c->seed = (uint64_t)v;
    jx_default(p, "seed", json_integer(v));
    if (c->method == HESSIAN_LANCZOS) {
        size_t need = (c->top_k ? c->top_k : 1) + (c->bottom_k ? c->bottom_k : 1);
        if (c->max_steps < need && c->max_steps < P)
            return tg_err_setf(err, TG_EINVAL, "params.max_steps",
                               "params.max_steps %zu is below the %zu Ritz values wanted "
                               "(top_k + bottom_k, at least 1 each)", c->max_steps, need);
    }
    return TG_OK;
}

/* Resolves the model and the data, decodes the params; references go to plan (may be
 * NULL). The inputs stay raw (the run applies model_preprocess). */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_dataset **ds,
                   tg_model **model, hessian_req *r, kind_plan *plan, tg_err *err)
{
    json_t *p;
    int rc = kinds_model_job(req, filled, "hessian", src, &p, model, ds, plan, err);
    return rc ? rc : decode(p, *model, r, err);
}

static int hessian_validate(const json_t *req, const kind_env *env, json_t *filled,
                            kind_plan *plan, tg_err *err)
{
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    hessian_req r;
    int rc = resolve(req, filled, &env->src, &ds, &model, &r, plan, err);
    if (rc == TG_OK) {
        size_t n = ds->n_train, P = model->P;
        double data_b = 8.0 * (double)n * (double)(ds->d + ds->n_outputs) +
                        8.0 * 2.0 * (double)P;
        int threads = 1; /* the run uses one lane (see hessian_run_job) */
        plan->memory_bytes = data_b + hessian_memory(&model->arch, n, P, &r.cfg, threads) +
                             (1 << 20);
        plan->flops = hessian_flops(&model->arch, n, P, &r.cfg);
        double budget = env->memory_budget;
        if (budget > 0 && plan->memory_bytes > budget) {
            /* Name what fits: Lanczos instead of the P x P matrix; fewer Lanczos steps. */
            hessian_cfg alt = r.cfg;
            char fits[256] = "nothing smaller: the data and one Hessian-vector product "
                             "workspace exceed it";
            double base = data_b + (1 << 20);
            if (r.cfg.method == HESSIAN_EXACT) {
                alt.method = HESSIAN_LANCZOS;
                if (base + hessian_memory(&model->arch, n, P, &alt, threads) <= budget)
                    snprintf(fits, sizeof fits, "params.method \"lanczos\" (O(max_steps x P) "
                             "memory)");
            } else {
                size_t need = (r.cfg.top_k ? r.cfg.top_k : 1) + (r.cfg.bottom_k ? r.cfg.bottom_k : 1);
                size_t lo = need, hi = r.cfg.max_steps, best = 0;
                alt.density = 0; /* the density's steps count too: reported separately */
                while (lo <= hi) {
                    size_t mid = lo + (hi - lo) / 2;
                    alt.max_steps = mid;
                    if (base + hessian_memory(&model->arch, n, P, &alt, threads) <= budget) {
                        best = mid;
                        lo = mid + 1;
                    } else {
                        hi = mid - 1;
                    }
                }
                if (best)
                    snprintf(fits, sizeof fits, "params.max_steps <= %zu%s", best,
                             r.cfg.density ? " with params.density false (or fewer "
                                             "params.steps)" : "");
            }
            rc = tg_err_setf(err, TG_ETOOLARGE, "params",
                             "the job needs an estimated %.0f bytes of memory (%zu parameters, "
                             "%s); the server's memory budget is %.0f bytes; what fits: %s",
                             plan->memory_bytes, P,
                             r.cfg.method == HESSIAN_EXACT ? "a P x P Hessian" : "Lanczos basis",
                             budget, fits);
        }
    }
    dataset_free(ds);
    model_free(model);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

/* The model's constant learning rate: its train request's optimizer.lr when the schedule
 * is constant without warmup. Returns 1 and sets *lr, *gd (1 when plain full-batch
 * gradient descent: sgd with batch_size 0 or >= n). */
static int constant_lr(const tg_model *m, size_t n, double *lr, int *gd)
{
    json_t *p = m->training ? json_object_get(m->training, "params") : NULL;
    json_t *s = json_object_get(p, "schedule"), *o = json_object_get(p, "optimizer");
    const char *sn = json_string_value(json_object_get(s, "name"));
    json_t *w = json_object_get(s, "warmup_epochs");
    json_t *l = json_object_get(o, "lr");
    if (!sn || strcmp(sn, "constant") != 0 || (w && json_integer_value(w) != 0) ||
        !json_is_number(l) || !(json_number_value(l) > 0))
        return 0;
    *lr = json_number_value(l);
    const char *on = json_string_value(json_object_get(o, "name"));
    json_t *bs = json_object_get(p, "batch_size");
    long long b = json_is_integer(bs) ? json_integer_value(bs) : -1;
    *gd = on && strcmp(on, "sgd") == 0 && (b == 0 || (b > 0 && (size_t)b >= n));
    return 1;
}

/* Progress with metrics for the Lanczos steps: {"lanczos_step", "residual"} (the
 * residual bound of the worst wanted Ritz value over the spectral scale), parsed from
 * core's message; other reports go through as they are. Metrics events are all stored,
 * so only the Lanczos steps (at most max_steps) carry them. */
static int progress_with_metrics(void *ud, double fraction, const char *msg)
{
    kinds_stage *st = ud;
    size_t step;
    double res;
    if (fraction >= 0 && msg && sscanf(msg, "lanczos step %zu: residual %lf", &step, &res) == 2) {
        json_t *m = json_pack("{s:I, s:o}", "lanczos_step", (json_int_t)step, "residual",
                              jx_real(res));
        return st->io->progress(st->io->ud, st->lo + (st->hi - st->lo) * fraction, msg, m);
    }
    return kinds_stage_progress(ud, fraction, msg);
}

static int hessian_run_job(const json_t *request, job_io *io, json_t **result_out,
                           json_t **partial_out, tg_err *err)
{
    json_t *filled = json_deep_copy(request), *res = NULL, *warnings = json_array();
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    hessian_req r;
    hessian_result hr;
    int rc;
    double t0 = kinds_now();
    memset(&hr, 0, sizeof hr);
    (void)partial_out;
    if (!filled || !warnings) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = resolve(request, filled, &io->src, &ds, &model, &r, NULL, err)))
        goto out;
    size_t n = ds->n_train, P = model->P;
    model_preprocess(model, ds->x, n);
    int y_is_class = model->task == TG_TASK_CLASSIFICATION;
    curv_obj o = {.arch = &model->arch, .theta = model->theta, .x = ds->x, .y = ds->y,
                  .y_is_class = y_is_class, .n = n, .loss = model->loss, .l2 = r.l2,
                  .damping = 0, .p_lo = 0, .p_hi = P,
                  /* One lane: io->threads is OpenBLAS's thread count, which parallelizes
                   * every GEMM of a product; lanes calling a multithreaded BLAS at once
                   * only contend (measured: 2.5x slower at 2 + 2 threads on 2 cores). */
                  .threads = 1};
    kinds_stage whole = {io, 0.0, 1.0};
    tg_progress prog = {progress_with_metrics, &whole};
    if ((rc = hessian_run(&o, &r.cfg, &prog, &hr, err)))
        goto out;
    if (!(res = json_object()))
        goto oom;
    int exact = r.cfg.method == HESSIAN_EXACT;
    if (!exact && !hr.converged) {
        char w[300];
        snprintf(w, sizeof w, "Lanczos stopped at params.max_steps = %zu with a residual bound "
                 "of %.3g x the spectral scale (params.tolerance %g): the eigenvalues may be "
                 "less accurate; raise params.max_steps", hr.lanczos_steps, hr.residual,
                 r.cfg.tol);
        json_array_append_new(warnings, json_string(w));
    }
    int missing = 0;
    for (size_t i = 0; i < r.cfg.top_k; i++)
        missing += !isfinite(hr.top[i]);
    for (size_t i = 0; i < r.cfg.bottom_k; i++)
        missing += !isfinite(hr.bottom[i]);
    if (!exact && hr.converged && hr.residual == 0 && hr.lanczos_steps < P) {
        /* An invariant Krylov space before P steps: repeated eigenvalues. */
        char w[400];
        snprintf(w, sizeof w, "Lanczos found an invariant subspace after %zu steps: the "
                 "Hessian has repeated eigenvalues, and Lanczos reports each distinct one "
                 "once%s; use params.method \"exact\" for multiplicities", hr.lanczos_steps,
                 missing ? " (the requested eigenvalues beyond them are null)" : "");
        json_array_append_new(warnings, json_string(w));
    }
    if (!r.l2_given && decoupled_decay(model) > 0)
        json_array_append_new(warnings, json_string(
            "the model was trained with adamw, whose weight decay is decoupled: J has no L2 "
            "term (l2 = 0); set params.l2 to include one"));
    json_t *eos = json_null();
    double lr;
    int gd;
    if (constant_lr(model, n, &lr, &gd)) {
        json_decref(eos);
        eos = json_pack("{s:o, s:o, s:o}", "lr", jx_real(lr), "two_over_lr", jx_real(2.0 / lr),
                        "ratio", jx_real(hr.sharpness * lr / 2.0));
        if (!gd)
            json_array_append_new(warnings, json_string(
                "edge_of_stability: 2/lr is the stability threshold of full-batch gradient "
                "descent (sgd, batch_size 0); this model was trained otherwise"));
    }
    json_t *dens = json_null();
    if (r.cfg.density) {
        json_decref(dens);
        dens = json_pack("{s:o, s:o, s:o}", "grid", jx_real_array(hr.grid, r.cfg.bins),
                         "values", jx_real_array(hr.values, r.cfg.bins), "sigma",
                         jx_real(hr.sigma));
    }
    json_object_set_new(res, "eigenvalues_top", jx_real_array(hr.top, r.cfg.top_k));
    json_object_set_new(res, "eigenvalues_bottom", jx_real_array(hr.bottom, r.cfg.bottom_k));
    json_object_set_new(res, "trace", hr.has_trace ? jx_real(hr.trace) : json_null());
    json_object_set_new(res, "trace_stderr", hr.has_trace ? jx_real(hr.trace_stderr) : json_null());
    json_object_set_new(res, "gradient_norm", jx_real(hr.gradient_norm));
    json_object_set_new(res, "sharpness", jx_real(hr.sharpness));
    json_object_set_new(res, "min_eigenvalue", jx_real(hr.min_eigenvalue));
    json_object_set_new(res, "edge_of_stability", eos);
    json_object_set_new(res, "second_order_stationary",
                        json_boolean(hr.second_order_stationary));
    json_object_set_new(res, "density", dens);
    json_object_set_new(res, "method", json_string(exact ? "exact" : "lanczos"));
    json_object_set_new(res, "trace_method", hr.has_trace ? json_string(hr.trace_exact ? "exact"
                                                                                    : "hutchinson")
                                                          : json_null());
    json_object_set_new(res, "lanczos_steps", exact ? json_null()
                                                    : json_integer((json_int_t)hr.lanczos_steps));
    json_object_set_new(res, "objective", jx_real(hr.objective));
    json_object_set_new(res, "l2", jx_real(r.l2));
    json_object_set_new(res, "param_count", json_integer((json_int_t)P));
    json_object_set_new(res, "n", json_integer((json_int_t)n));
    json_object_set_new(res, "time_s", jx_real(kinds_now() - t0));
    json_object_set(res, "warnings", warnings);
    *result_out = res;
    res = NULL;
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory");
out:
    hessian_result_deinit(&hr);
    json_decref(res);
    json_decref(warnings);
    json_decref(filled);
    dataset_free(ds);
    model_free(model);
    return rc;
}

static json_t *hessian_describe(void)
{
    return json_pack("{s:[s], s:s, s:s}", "modes", "default", "data",
                     "optional: default = the model's own training data", "model", "required");
}

const tg_kind kind_hessian = {
    .name = "hessian",
    .summary = "curvature of the training objective at a model: extreme eigenvalues (exact "
               "or Lanczos), trace, spectral density, stationarity, edge of stability",
    .validate = hessian_validate,
    .run = hessian_run_job,
    .describe = hessian_describe,
    .schema = "HessianParams",
};
