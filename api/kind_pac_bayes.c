/* kind_pac_bayes.c: the `pac_bayes` kind (API.md 5.5): PAC-Bayes bounds on the 0-1 risk
 * of a Gaussian posterior around a stored classification model (mcallester, seeger,
 * catoni; union bound over the prior-variance grid), with the posterior isotropic, tied
 * to the prior (`auto`) or optimized (Dziugaite and Roy); and calculator mode (the
 * bounds from given numbers). Decoding with every default filled in, the estimate, the
 * run. Numerics in core/pacbayes.c.
 *
 * Confidence bookkeeping (API.md 5.5): with G grid points and F families, each (family,
 * grid point) pair uses delta / (F G), each grid point's Monte Carlo estimate delta_mc /
 * G. With an optimized posterior there is one posterior (and one Monte Carlo estimate),
 * evaluated against every grid point: the prior scale it was optimized with is snapped
 * to the grid by taking the best grid point, which the union bound covers.
 *
 * Grid points are visited from the widest prior down; one whose bounds at e_bar = 0
 * cannot beat any family's best so far is skipped (no estimate; nothing reported
 * changes, since every bound increases with e_bar).
 *
 * RNG streams (params.seed): Monte Carlo of grid point g (0-based) uses streams
 * (g + 1) 2^32 + k for sample k (a fixed {"sigma"} posterior: one estimate, G 2^32 + k); the optimized posterior's Monte Carlo 2^40 + k; the
 * optimization 2^41 (+1); the warm start's coarse estimates 2^42 + g 2^20 + k. The
 * posterior's test error uses the same streams as the training estimate of the chosen
 * grid point (the same networks).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/pacbayes.h"
#include "../core/preprocess.h"
#include "jx.h"
#include "kinds.h"

#define PB_MAX_GRID 256
#define PB_MAX_MC 1000000
#define PB_MAX_EPOCHS 100000
#define PB_MAX_OPT_SAMPLES 1000
#define PB_WARM_SAMPLES 8

enum { POST_AUTO = 0, POST_SIGMA = 1, POST_OPT = 2 };

typedef struct pb_req {
    int calculator;
    double delta, delta_mc;
    int fam[PACBAYES_FAMILIES];
    int n_fam;
    /* calculator */
    double kl, m, emp;
    /* model mode */
    int center_zero;
    size_t G;
    double grid[PB_MAX_GRID];
    int post;
    double post_sigma;
    size_t epochs, opt_samples, batch;
    double lr;
    size_t mc;
    uint64_t seed;
} pb_req;

/* ---- decoding ---------------------------------------------------------------------- */

static int decode_bounds(json_t *p, pb_req *r, tg_err *err)
{
    json_t *b = json_object_get(p, "bounds");
    if (!b) {
        b = json_pack("[s,s,s]", "mcallester", "seeger", "catoni");
        if (!b || json_object_set_new(p, "bounds", b))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if (!json_is_array(b) || json_array_size(b) == 0)
        return tg_err_setf(err, TG_EINVAL, "params.bounds",
                           "params.bounds must be a non-empty list of \"mcallester\", "
                           "\"seeger\", \"catoni\"");
    r->n_fam = 0;
    for (size_t i = 0; i < json_array_size(b); i++) {
        char fb[64];
        snprintf(fb, sizeof fb, "params.bounds[%zu]", i);
        int f = pacbayes_family_from_name(json_string_value(json_array_get(b, i)));
        for (int j = 0; f >= 0 && j < r->n_fam; j++)
            if (r->fam[j] == f)
                f = -1;
        if (f < 0 || r->n_fam == PACBAYES_FAMILIES)
            return tg_err_setf(err, TG_EINVAL, fb,
                               "%s must be \"mcallester\", \"seeger\" or \"catoni\", listed once",
                               fb);
        r->fam[r->n_fam++] = f;
    }
    return TG_OK;
}

static int decode_calculator(json_t *p, pb_req *r, tg_err *err)
{
    static const char *const fields[] = {"kl", "m", "empirical_risk", "delta", "bounds", "seed",
                                         NULL};
    long long m;
    int rc;
    if ((rc = jx_check_fields(p, "params", fields, err)) ||
        (rc = jx_number_req(p, "kl", "params", 0, 0, INFINITY, 0, &r->kl, err)) ||
        (rc = jx_int_req(p, "m", "params", 2, 1000000000000000LL, &m, err)) ||
        (rc = jx_number_req(p, "empirical_risk", "params", 0, 0, 1, 0, &r->emp, err)) ||
        (rc = jx_number(p, "delta", "params", 0.05, 0, 1, 1, 1, &r->delta, err)) ||
        (rc = decode_bounds(p, r, err)))
        return rc;
    r->m = (double)m;
    jx_default(p, "delta", json_real(r->delta));
    return TG_OK;
}

static int decode_prior(json_t *p, const tg_model *model, pb_req *r, tg_err *err)
{
    static const char *const fields[] = {"center", "sigma", "grid", NULL};
    static const char *const centers[] = {"init", "zero", NULL};
    const char *path = "params.prior", *c;
    json_t *pr = json_object_get(p, "prior");
    int rc;
    if (!pr) {
        pr = json_object();
        if (!pr || json_object_set_new(p, "prior", pr))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if ((rc = jx_expect_object(pr, path, err)) || (rc = jx_check_fields(pr, path, fields, err)) ||
        (rc = jx_string(pr, "center", path, "init", centers, 0, &c, err)))
        return rc;
    r->center_zero = strcmp(c, "zero") == 0;
    jx_default(pr, "center", json_string(c));
    if (!r->center_zero) {
        /* (model->init_from_model is also set by an explicit "init_model": null of the
         * filled train request: the training request itself is the authority.) */
        const char *why = NULL;
        if (!model->theta0)
            why = "the model has no initial weights";
        else if (!model->training)
            why = "the model was uploaded, so its initial weights may depend on the data";
        else if (json_is_string(json_object_get(json_object_get(model->training, "params"),
                                                "init_model")))
            why = "the model's training started from another model (params.init_model), "
                  "whose weights may depend on the data";
        if (why)
            return tg_err_setf(err, TG_EINVAL, "params.prior.center",
                               "params.prior.center \"init\" needs initial weights drawn "
                               "before seeing data: %s; use \"zero\"", why);
    }
    json_t *s = json_object_get(pr, "sigma"), *g = json_object_get(pr, "grid");
    if (s && g)
        return tg_err_setf(err, TG_EINVAL, "params.prior.sigma",
                           "params.prior.sigma and params.prior.grid cannot both be given");
    if (s) {
        if ((rc = jx_number(pr, "sigma", path, 0, 0, 1, 1e6, 0, &r->grid[0], err)))
            return rc;
        r->G = 1;
        return TG_OK;
    }
    if (!g) {
        g = json_object();
        if (!g || json_object_set_new(pr, "grid", g))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    static const char *const gf[] = {"min", "max", "count", NULL};
    const char *gp = "params.prior.grid";
    double lo, hi;
    long long cnt;
    if ((rc = jx_expect_object(g, gp, err)) || (rc = jx_check_fields(g, gp, gf, err)) ||
        (rc = jx_number(g, "min", gp, 1e-3, 0, 1, 1e6, 0, &lo, err)) ||
        (rc = jx_number(g, "max", gp, 1.0, 0, 1, 1e6, 0, &hi, err)) ||
        (rc = jx_int(g, "count", gp, 16, 1, PB_MAX_GRID, &cnt, err)))
        return rc;
    if (hi < lo)
        return tg_err_setf(err, TG_EINVAL, "params.prior.grid.max",
                           "params.prior.grid.max (%g) must be >= params.prior.grid.min (%g)",
                           hi, lo);
    jx_default(g, "min", json_real(lo));
    jx_default(g, "max", json_real(hi));
    jx_default(g, "count", json_integer(cnt));
    r->G = (size_t)cnt;
    for (size_t i = 0; i < r->G; i++)
        r->grid[i] = r->G == 1 ? lo : lo * pow(hi / lo, (double)i / (double)(r->G - 1));
    return TG_OK;
}

static int decode_posterior(json_t *p, pb_req *r, tg_err *err)
{
    json_t *q = json_object_get(p, "posterior");
    const char *path = "params.posterior";
    int rc;
    if (!q) {
        jx_default(p, "posterior", json_string("auto"));
        r->post = POST_AUTO;
        return TG_OK;
    }
    if (json_is_string(q)) {
        if (strcmp(json_string_value(q), "auto") != 0)
            return tg_err_setf(err, TG_EINVAL, path,
                               "params.posterior must be \"auto\", {\"sigma\": s} or "
                               "{\"optimize\": {...}}");
        r->post = POST_AUTO;
        return TG_OK;
    }
    if (!json_is_object(q) || json_object_size(q) != 1 ||
        (!json_object_get(q, "sigma") && !json_object_get(q, "optimize")))
        return tg_err_setf(err, TG_EINVAL, path,
                           "params.posterior must be \"auto\", {\"sigma\": s} or "
                           "{\"optimize\": {...}}");
    if (json_object_get(q, "sigma")) {
        r->post = POST_SIGMA;
        return jx_number(q, "sigma", path, 0, 0, 1, 1e6, 0, &r->post_sigma, err);
    }
    static const char *const of[] = {"epochs", "lr", "samples", "batch_size", NULL};
    const char *op = "params.posterior.optimize";
    json_t *o = json_object_get(q, "optimize");
    long long ep, ns, bs;
    if ((rc = jx_expect_object(o, op, err)) || (rc = jx_check_fields(o, op, of, err)) ||
        (rc = jx_int(o, "epochs", op, 50, 1, PB_MAX_EPOCHS, &ep, err)) ||
        (rc = jx_number(o, "lr", op, 0.001, 0, 1, 10, 0, &r->lr, err)) ||
        (rc = jx_int(o, "samples", op, 1, 1, PB_MAX_OPT_SAMPLES, &ns, err)) ||
        (rc = jx_int(o, "batch_size", op, 100, 1, 1000000, &bs, err)))
        return rc;
    jx_default(o, "epochs", json_integer(ep));
    jx_default(o, "lr", json_real(r->lr));
    jx_default(o, "samples", json_integer(ns));
    jx_default(o, "batch_size", json_integer(bs));
    r->post = POST_OPT;
    r->epochs = (size_t)ep;
    r->opt_samples = (size_t)ns;
    r->batch = (size_t)bs;
    return TG_OK;
}

static int decode_model_mode(json_t *p, const tg_model *model, pb_req *r, tg_err *err)
{
    static const char *const fields[] = {"delta", "delta_mc", "prior", "posterior",
                                         "mc_samples", "bounds", "seed", NULL};
    static const char *const calc_only[] = {"kl", "m", "empirical_risk", NULL};
    long long mc;
    int rc;
    for (size_t i = 0; calc_only[i]; i++)
        if (json_object_get(p, calc_only[i])) {
            char fb[64];
            snprintf(fb, sizeof fb, "params.%s", calc_only[i]);
            return tg_err_setf(err, TG_EINVAL, fb,
                               "%s belongs to calculator mode (no model, no data); with a "
                               "model it is computed", fb);
        }
    if ((rc = jx_check_fields(p, "params", fields, err)) ||
        (rc = jx_number(p, "delta", "params", 0.05, 0, 1, 1, 1, &r->delta, err)) ||
        (rc = jx_number(p, "delta_mc", "params", 0.01, 0, 1, 1, 1, &r->delta_mc, err)))
        return rc;
    if (!(r->delta + r->delta_mc < 1))
        return tg_err_setf(err, TG_EINVAL, "params.delta_mc",
                           "params.delta + params.delta_mc must be < 1 (got %g + %g)", r->delta,
                           r->delta_mc);
    jx_default(p, "delta", json_real(r->delta));
    jx_default(p, "delta_mc", json_real(r->delta_mc));
    if ((rc = decode_prior(p, model, r, err)) || (rc = decode_posterior(p, r, err)) ||
        (rc = jx_int(p, "mc_samples", "params", 1000, 1, PB_MAX_MC, &mc, err)) ||
        (rc = decode_bounds(p, r, err)))
        return rc;
    jx_default(p, "mc_samples", json_integer(mc));
    r->mc = (size_t)mc;
    return TG_OK;
}

/* Everything validation and run share: mode, model, data, params. */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_model **model,
                   tg_dataset **ds, pb_req *r, kind_plan *plan, tg_err *err)
{
    json_t *p;
    int rc;
    *model = NULL;
    *ds = NULL;
    memset(r, 0, sizeof *r);
    if ((rc = kinds_params(req, filled, &p, err)))
        return rc;
    r->seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    const char *mid = json_string_value(json_object_get(req, "model"));
    json_t *data = json_object_get(req, "data");
    if (!mid) {
        if (data && !json_is_null(data))
            return tg_err_setf(err, TG_EMISSING, "model",
                               "model is required with data (calculator mode takes neither "
                               "model nor data)");
        r->calculator = 1;
        return decode_calculator(p, r, err);
    }
    if ((rc = kinds_model(src, "model", mid, model, plan, err)))
        return rc;
    if ((*model)->task != TG_TASK_CLASSIFICATION)
        return tg_err_setf(err, TG_EINVAL, "model",
                           "pac_bayes bounds the 0-1 loss of classifiers; model %s is a "
                           "regression model", mid);
    if ((rc = kinds_model_job_data(req, filled, "pac_bayes", src, *model, plan, ds, err)))
        return rc;
    if ((*ds)->n_train < 2) /* the bounds need m >= 2 (mcallester divides by m - 1) */
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the training split has %zu point%s: the bounds need at least 2",
                           (*ds)->n_train, (*ds)->n_train == 1 ? "" : "s");
    if ((rc = decode_model_mode(p, *model, r, err)))
        return rc;
    return TG_OK;
}

static int pb_validate(const json_t *req, const kind_env *env, json_t *filled, kind_plan *plan,
                       tg_err *err)
{
    tg_model *model = NULL;
    tg_dataset *ds = NULL;
    pb_req r;
    int rc = resolve(req, filled, &env->src, &model, &ds, &r, plan, err);
    if (rc == TG_OK && !r.calculator) {
        double P = (double)model->P, n = (double)ds->n_train, nt = (double)ds->n_test;
        double rows = fmin(n, 2048), width = 0;
        for (size_t l = 0; l <= model->arch.n_layers; l++)
            width += (double)model->arch.dims[l];
        double per_thread = 10 * rows * width + 4 * P;
        double opt = r.post == POST_OPT ? 12 * P + 10 * fmin(n, (double)r.batch) * width : 0;
        plan->memory_bytes = 8 * (4 * P + 8 * per_thread + opt + (n + nt) * ((double)ds->d + 2) +
                                  (double)r.mc) + (1 << 20);
        double nets = r.post == POST_SIGMA ? 1 : (r.post == POST_OPT ? 1 : (double)r.G);
        plan->flops = 2 * P * (nets * (double)r.mc * (n + nt));
        if (r.post == POST_OPT)
            plan->flops += 6 * P * n * (double)(r.epochs * r.opt_samples) +
                           2 * P * n * (double)(r.G * PB_WARM_SAMPLES);
    } else if (rc == TG_OK) {
        plan->memory_bytes = 1 << 16;
        plan->flops = 1000;
    }
    dataset_free(ds);
    model_free(model);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

typedef struct pb_ctx {
    job_io *io;
    double lo, hi;        /* the stage's share of the progress */
    const char *what;
    size_t g, G;
} pb_ctx;

static int mc_progress(void *ud, size_t done, size_t total, double running)
{
    pb_ctx *c = ud;
    char msg[160];
    double f = c->lo + (c->hi - c->lo) * (double)done / (double)total;
    snprintf(msg, sizeof msg, "%s: %zu/%zu samples, running error %.4f", c->what, done, total,
             running);
    json_t *metrics = json_pack("{s:s, s:I, s:I, s:f}", "stage", c->what, "samples_done",
                                (json_int_t)done, "samples", (json_int_t)total,
                                "running_error", running);
    if (metrics && c->G > 1)
        json_object_set_new(metrics, "grid_point", json_integer((json_int_t)c->g));
    return c->io->progress(c->io->ud, f, msg, metrics);
}

static int opt_progress(void *ud, double fraction, size_t epoch, double objective)
{
    pb_ctx *c = ud;
    char msg[160];
    snprintf(msg, sizeof msg, "optimizing the posterior: epoch %zu, surrogate bound %.4f", epoch,
             objective);
    json_t *metrics = json_pack("{s:s, s:I, s:o}", "stage", "optimize", "epoch",
                                (json_int_t)epoch, "surrogate_bound", jx_real(objective));
    return c->io->progress(c->io->ud, c->lo + (c->hi - c->lo) * fraction, msg, metrics);
}

static json_t *bounds_json(const pb_req *r, const double *val)
{
    json_t *o = json_object();
    for (int i = 0; o && i < r->n_fam; i++)
        json_object_set_new(o, pacbayes_family_name(r->fam[i]), jx_real(val[r->fam[i]]));
    return o;
}

static int run_calculator(const pb_req *r, json_t **result_out, tg_err *err)
{
    double val[PACBAYES_FAMILIES] = {NAN, NAN, NAN}, best = INFINITY;
    json_t *w = json_array();
    for (int i = 0; i < r->n_fam; i++) {
        int f = r->fam[i];
        val[f] = pacbayes_bound(f, r->emp, r->kl, r->m, r->delta);
        if (val[f] < best)
            best = val[f];
        if (isnan(val[f]) && f == PB_SEEGER)
            json_array_append_new(w, json_string("seeger (Maurer's form) needs m >= 8: null"));
    }
    if (r->n_fam > 1) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "calculator mode: each family's bound holds with probability 1 - delta; "
                 "`bound`, their minimum, holds with probability 1 - %d delta (a union over "
                 "the %d families)", r->n_fam, r->n_fam);
        json_array_append_new(w, json_string(msg));
    }
    *result_out = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:n, s:n, s:n, s:n, s:I, s:o, s:n, s:n, s:n, s:o}", "bound",
        jx_real(isinf(best) ? NAN : best), "bounds", bounds_json(r, val), "kl", jx_real(r->kl),
        "empirical_risk", jx_real(r->emp), "empirical_risk_upper", jx_real(r->emp),
        "train_error", "test_error_posterior", "sigma_prior", "sigma_posterior", "m",
        (json_int_t)r->m, "delta", jx_real(r->delta), "delta_mc", "mc_samples", "param_count",
        "warnings", w);
    if (!*result_out)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    return TG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y);
}

/* {min, median, max} of v (n > 0) (a sorted copy). New ref; NULL when out of memory. */
static json_t *spread_json(const double *v, size_t n)
{
    double *s = malloc((n ? n : 1) * sizeof(double));
    if (!s)
        return NULL;
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    double med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    json_t *o = json_pack("{s:o, s:o, s:o}", "min", jx_real(s[0]), "median", jx_real(med), "max",
                          jx_real(s[n - 1]));
    free(s);
    return o;
}

typedef struct grid_eval {
    int skipped;            /* pruned: no Monte Carlo estimate (bounds NAN) */
    uint64_t stream;        /* its Monte Carlo streams */
    double kl, e_hat, e_bar, sigma_q;
    double val[PACBAYES_FAMILIES];
} grid_eval;

static int pb_run(const json_t *request, job_io *io, json_t **result_out, json_t **partial_out,
                  tg_err *err)
{
    json_t *filled = json_deep_copy(request), *warnings = NULL, *res = NULL, *gridj = NULL;
    tg_model *model = NULL;
    tg_dataset *ds = NULL;
    double *mu = NULL, *sigma = NULL, *out = NULL;
    grid_eval *ge = NULL;
    mlp_ws *ws = NULL;
    pb_req r;
    int rc;
    double t0 = kinds_now();
    (void)partial_out;
    if (!filled)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    if ((rc = resolve(request, filled, &io->src, &model, &ds, &r, NULL, err)))
        goto out;
    if (r.calculator) {
        rc = run_calculator(&r, result_out, err);
        goto out;
    }
    if (!(warnings = json_array()))
        goto oom;
    size_t n = ds->n_train, nt = ds->n_test, P = model->P, K = model->arch.dims[model->arch.n_layers];
    const mlp_arch *a = &model->arch;
    double m = (double)n;
    model_preprocess(model, ds->x, n);
    if (nt)
        model_preprocess(model, ds->x_test, nt);
    const double *theta0 = r.center_zero ? NULL : model->theta0;
    int threads = io->threads > 0 ? io->threads : 1;
    /* The deterministic model's training error. */
    size_t rows = n < 2048 ? n : 2048;
    if (!(ws = mlp_ws_new(a, rows ? rows : 1)) || !(out = tg_alloc_array(rows ? rows : 1, K,
                                                                         sizeof(double))))
        goto oom;
    size_t bad = 0;
    for (size_t i = 0; i < n; i += rows) {
        size_t b = n - i < rows ? n - i : rows;
        mlp_forward(a, model->theta, ds->x + i * ds->d, b, ws, out);
        bad += pacbayes_count_errors(out, b, K, ds->y + i);
    }
    double train_error = (double)bad / m;
    if ((rc = kinds_checkpoint(io, 0.01, "train error")))
        goto out;

    double F = (double)r.n_fam, G = (double)r.G;
    double dpair = r.delta / (F * G), dmc = r.delta_mc / G;
    double cmc = log(2.0 / dmc) / (double)r.mc;
    if (!(ge = calloc(r.G, sizeof *ge)))
        goto oom;
    pb_ctx ctx = {io, 0.02, 0.9, "monte carlo", 0, r.G};
    pacbayes_mc_cfg mc = {.samples = r.mc, .seed = r.seed, .threads = threads,
                          .on_progress = mc_progress, .ud = &ctx};
    uint64_t chosen_stream = 0;
    double opt_sigma_p = NAN;
    if (r.post == POST_OPT) {
        /* Warm start: the grid point whose isotropic auto posterior has the smallest
         * mcallester value on a coarse estimate; then Dziugaite-Roy from there. */
        size_t g0 = 0;
        double bestv = INFINITY;
        pacbayes_mc_cfg wm = mc;
        wm.samples = PB_WARM_SAMPLES;
        wm.on_progress = NULL;
        for (size_t g = 0; g < r.G; g++) {
            double e;
            wm.stream = ((uint64_t)1 << 42) + ((uint64_t)g << 20);
            if ((rc = pacbayes_mc_error(a, model->theta, NULL, r.grid[g], ds->x, ds->y, n, &wm,
                                        &e, NULL, err)))
                goto out;
            double kl = pacbayes_kl_gauss(model->theta, theta0, NULL, r.grid[g], r.grid[g], P);
            double v = pacbayes_mcallester(e, kl, m, dpair);
            if (v < bestv) {
                bestv = v;
                g0 = g;
            }
            if ((rc = kinds_checkpoint(io, 0.02 + 0.03 * (double)(g + 1) / G, "warm start")))
                goto out;
        }
        if (!(mu = malloc(P * sizeof(double))) || !(sigma = malloc(P * sizeof(double))))
            goto oom;
        memcpy(mu, model->theta, P * sizeof(double));
        for (size_t i = 0; i < P; i++)
            sigma[i] = r.grid[g0];
        opt_sigma_p = r.grid[g0];
        pb_ctx octx = {io, 0.05, 0.6, "optimize", 0, 1};
        pacbayes_opt_cfg oc = {.epochs = r.epochs, .samples = r.opt_samples, .batch = r.batch,
                               .lr = r.lr, .m = m, .delta = dpair,
                               .lambda_min = log(r.grid[0]), .lambda_max = log(r.grid[r.G - 1]),
                               .loss = K == 1 ? LOSS_LOGISTIC : LOSS_CROSS_ENTROPY,
                               .seed = r.seed, .stream = (uint64_t)1 << 41,
                               .on_progress = opt_progress, .ud = &octx};
        if ((rc = pacbayes_optimize(a, theta0, mu, sigma, &opt_sigma_p, ds->x, ds->y, n, &oc,
                                    err)))
            goto out;
        double e_hat;
        ctx.lo = 0.6;
        ctx.hi = 0.9;
        ctx.G = 1;
        mc.stream = (uint64_t)1 << 40;
        if ((rc = pacbayes_mc_error(a, mu, sigma, 0, ds->x, ds->y, n, &mc, &e_hat, NULL, err)))
            goto out;
        chosen_stream = mc.stream;
        for (size_t g = 0; g < r.G; g++) {
            ge[g].e_hat = e_hat;
            ge[g].stream = mc.stream;
            ge[g].kl = pacbayes_kl_gauss(mu, theta0, sigma, 0, r.grid[g], P);
        }
    } else {
        /* Grid points from the widest prior down. A grid point whose bounds at e_bar = 0
         * (each bound increases with e_bar) cannot improve any family's best so far is
         * skipped: its Monte Carlo estimate would change no reported number (its grid
         * entry shows a null empirical risk). */
        double e_shared = NAN, fb[PACBAYES_FAMILIES] = {INFINITY, INFINITY, INFINITY};
        size_t done = 0;
        for (size_t gi = r.G; gi-- > 0;) {
            size_t g = gi;
            double sq = r.post == POST_AUTO ? r.grid[g] : r.post_sigma;
            ge[g].sigma_q = sq;
            ge[g].kl = pacbayes_kl_gauss(model->theta, theta0, NULL, sq, r.grid[g], P);
            ge[g].skipped = 1;
            int useful = r.post == POST_SIGMA && !isnan(e_shared);
            for (int i = 0; !useful && i < r.n_fam; i++) {
                double v0 = pacbayes_bound(r.fam[i], 0.0, ge[g].kl, m, dpair);
                useful = !(v0 >= fb[r.fam[i]]) && !isnan(v0);
            }
            if (!useful && r.post != POST_SIGMA) {
                done++;
                continue;
            }
            ge[g].skipped = 0;
            if (r.post == POST_SIGMA && !isnan(e_shared)) {
                /* One posterior for every grid point: one estimate (streams of the first). */
                ge[g].e_hat = e_shared;
                ge[g].stream = (uint64_t)r.G << 32;
            } else {
                ctx.g = g;
                ctx.lo = 0.02 + 0.88 * (double)done / G;
                ctx.hi = r.post == POST_SIGMA ? 0.9 : 0.02 + 0.88 * (double)(done + 1) / G;
                mc.stream = (uint64_t)(g + 1) << 32;
                if ((rc = pacbayes_mc_error(a, model->theta, NULL, sq, ds->x, ds->y, n, &mc,
                                            &ge[g].e_hat, NULL, err)))
                    goto out;
                e_shared = ge[g].e_hat;
                ge[g].stream = mc.stream;
            }
            ge[g].e_bar = pacbayes_kl_inv(ge[g].e_hat, cmc);
            for (int i = 0; i < r.n_fam; i++) {
                double v = pacbayes_bound(r.fam[i], ge[g].e_bar, ge[g].kl, m, dpair);
                if (v < fb[r.fam[i]])
                    fb[r.fam[i]] = v;
            }
            done++;
        }
    }
    /* Bounds of every (family, grid point) pair. */
    size_t gbest = 0;
    int fbest = r.fam[0];
    double best = INFINITY, fam_best[PACBAYES_FAMILIES] = {NAN, NAN, NAN};
    for (size_t g = 0; g < r.G; g++) {
        for (int f = 0; f < PACBAYES_FAMILIES; f++)
            ge[g].val[f] = NAN;
        if (ge[g].skipped) {
            ge[g].e_hat = ge[g].e_bar = NAN;
            continue;
        }
        ge[g].e_bar = pacbayes_kl_inv(ge[g].e_hat, cmc);
        for (int i = 0; i < r.n_fam; i++) {
            int f = r.fam[i];
            double v = pacbayes_bound(f, ge[g].e_bar, ge[g].kl, m, dpair);
            ge[g].val[f] = v;
            if (!isnan(v) && (isnan(fam_best[f]) || v < fam_best[f]))
                fam_best[f] = v;
            if (!isnan(v) && v < best) {
                best = v;
                gbest = g;
                fbest = f;
            }
        }
    }
    if (isinf(best)) {
        /* Only seeger was asked for and m < 8. */
        best = NAN;
    }
    for (int i = 0; i < r.n_fam; i++)
        if (r.fam[i] == PB_SEEGER && m < 8)
            json_array_append_new(warnings, json_string("seeger (Maurer's form) needs m >= 8 "
                                                        "training points: null"));
    /* The posterior's test error: the same networks as the chosen grid point's estimate. */
    json_t *test_err = json_null();
    if (nt) {
        double e_test;
        ctx.lo = 0.9;
        ctx.hi = 0.995;
        ctx.what = "test error";
        ctx.G = 1;
        if (r.post == POST_OPT) {
            mc.stream = chosen_stream;
            rc = pacbayes_mc_error(a, mu, sigma, 0, ds->x_test, ds->y_test, nt, &mc, &e_test,
                                   NULL, err);
        } else {
            mc.stream = ge[gbest].stream;
            rc = pacbayes_mc_error(a, model->theta, NULL, ge[gbest].sigma_q, ds->x_test,
                                   ds->y_test, nt, &mc, &e_test, NULL, err);
        }
        if (rc)
            goto out;
        json_decref(test_err);
        test_err = jx_real(e_test);
    }
    if (best >= 1.0)
        json_array_append_new(warnings, json_string("the bound is vacuous (1): the KL term is too "
                                                    "large for m; try posterior optimize, a "
                                                    "wider prior grid, or more data"));
    /* The grid, for the record. */
    if (!(gridj = json_array()))
        goto oom;
    for (size_t g = 0; g < r.G; g++) {
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "sigma_prior", jx_real(r.grid[g]),
                              "kl", jx_real(ge[g].kl), "empirical_risk", jx_real(ge[g].e_hat),
                              "empirical_risk_upper", jx_real(ge[g].e_bar), "bounds",
                              bounds_json(&r, ge[g].val));
        if (o && r.post != POST_OPT)
            json_object_set_new(o, "sigma_posterior", jx_real(ge[g].sigma_q));
        if (o && ge[g].skipped)
            json_object_set_new(o, "skipped", json_true());
        json_array_append_new(gridj, o);
    }
    json_t *sq = r.post == POST_OPT ? spread_json(sigma, P) : jx_real(ge[gbest].sigma_q);
    res = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:I, s:o}",
                    "bound", jx_real(best), "bounds", bounds_json(&r, fam_best), "kl",
                    jx_real(ge[gbest].kl), "empirical_risk", jx_real(ge[gbest].e_hat),
                    "empirical_risk_upper", jx_real(ge[gbest].e_bar), "train_error",
                    jx_real(train_error), "test_error_posterior", test_err, "sigma_prior",
                    jx_real(r.grid[gbest]), "sigma_posterior", sq, "m", (json_int_t)n, "delta",
                    jx_real(r.delta), "delta_mc", jx_real(r.delta_mc), "mc_samples",
                    (json_int_t)r.mc, "param_count", (json_int_t)P, "warnings", warnings);
    test_err = NULL;
    warnings = NULL;
    if (!res)
        goto oom;
    json_object_set_new(res, "family", json_string(pacbayes_family_name(fbest)));
    json_object_set_new(res, "grid_index", json_integer((json_int_t)gbest));
    json_object_set_new(res, "grid_points", json_integer((json_int_t)r.G));
    json_object_set_new(res, "families", json_integer(r.n_fam));
    json_object_set_new(res, "delta_pair", jx_real(dpair));
    json_object_set_new(res, "delta_mc_pair", jx_real(dmc));
    json_object_set_new(res, "n_test", json_integer((json_int_t)nt));
    if (r.post == POST_OPT) {
        /* The optimized posterior itself, so that Q can be rebuilt (and KL checked). */
        json_object_set_new(res, "sigma_prior_optimized", jx_real(opt_sigma_p));
        if ((rc = kinds_put(res, io, "posterior_mean", P, 0, mu, err)) ||
            (rc = kinds_put(res, io, "posterior_sigma", P, 0, sigma, err)))
            goto out;
    }
    json_object_set_new(res, "grid", gridj);
    gridj = NULL;
    json_object_set_new(res, "time_s", jx_real(kinds_now() - t0));
    *result_out = res;
    res = NULL;
    rc = TG_OK;
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory");
out:
    json_decref(res);
    json_decref(gridj);
    json_decref(warnings);
    json_decref(filled);
    free(mu);
    free(sigma);
    free(out);
    free(ge);
    mlp_ws_free(ws);
    dataset_free(ds);
    model_free(model);
    return rc;
}

static json_t *pb_describe(void)
{
    return json_pack("{s:[s,s], s:s, s:s}", "modes", "model", "calculator", "data",
                     "optional with a model (default: the model's own training data); "
                     "forbidden in calculator mode",
                     "model", "required, except in calculator mode (params kl, m, "
                     "empirical_risk)");
}

const tg_kind kind_pac_bayes = {
    .name = "pac_bayes",
    .summary = "PAC-Bayes bounds (mcallester, seeger, catoni) on the 0-1 risk of a Gaussian "
               "posterior around a model; optimized posteriors; calculator mode",
    .validate = pb_validate,
    .run = pb_run,
    .describe = pb_describe,
    .schema = "PacBayesParams",
};
