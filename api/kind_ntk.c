/* kind_ntk.c: the `ntk` kind (API.md 5.2): analytic (infinite width) and empirical
 * (finite network) kernels on the job's data, the test x train cross kernels, kernel
 * regression (ridge or finite-time gradient flow), the spectrum with label projections
 * and the complexity measure. Decoding with every default filled in, the memory
 * estimate, and the run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/kreg.h"
#include "../core/ntk.h"
#include "../core/train.h"
#include "jx.h"
#include "kinds.h"

#define NTK_MAX_N 50000

typedef struct ntk_req {
    int empirical;
    ntk_cfg cfg;           /* analytic settings (also the random net's) */
    size_t width;          /* empirical random net */
    int want_ntk, want_nngp;
    int cross, diag_only;
    int output;            /* empirical: -1 = mean */
    int has_reg;
    double ridge, time;    /* time 0 = ridge regression */
    int reg_nngp;
    int spectrum, complexity;
    uint64_t seed;
} ntk_req;

static const char *const *const act_choices = activation_names;

static int decode(const json_t *req, json_t *p, const tg_model *model, const tg_dataset *ds,
                  ntk_req *r, tg_err *err)
{
    static const char *const modes[] = {"analytic", "empirical", NULL};
    static const char *const analytic_f[] = {"mode", "depth", "activation", "leaky_slope",
                                             "w_std", "b_std", "kernels", "cross",
                                             "diagonal_only", "quadrature_tol", "regression",
                                             "spectrum", "complexity", "seed", NULL};
    static const char *const emp_f[] = {"mode", "depth", "width", "activation", "leaky_slope",
                                        "w_std", "b_std", "kernels", "cross", "diagonal_only",
                                        "output", "regression", "spectrum", "complexity",
                                        "seed", NULL};
    const char *mode, *s;
    long long v;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = jx_string(p, "mode", "params", "analytic", modes, 0, &mode, err)))
        return rc;
    jx_default(p, "mode", json_string(mode));
    r->empirical = strcmp(mode, "empirical") == 0;
    if ((rc = jx_check_fields(p, "params", r->empirical ? emp_f : analytic_f, err)))
        return rc;
    if (!r->empirical && json_object_get(req, "model"))
        return tg_err_setf(err, TG_EINVAL, "model",
                           "model is not allowed in analytic mode (use mode \"empirical\")");
    r->cfg.threads = 1;
    if (model) {
        static const char *const from_model[] = {"depth", "width", "activation", "leaky_slope",
                                                 "w_std", "b_std", NULL};
        for (size_t i = 0; from_model[i]; i++)
            if (json_object_get(p, from_model[i])) {
                char fb[64];
                snprintf(fb, sizeof fb, "params.%s", from_model[i]);
                return tg_err_setf(err, TG_EINVAL, fb,
                                   "%s comes from the model; it cannot be given with a model", fb);
            }
    } else {
        if ((rc = jx_int(p, "depth", "params", 1, 0, MLP_MAX_LAYERS - 2, &v, err)))
            return rc;
        r->cfg.depth = (size_t)v;
        jx_default(p, "depth", json_integer(v));
        if (r->empirical) {
            if ((rc = jx_int(p, "width", "params", 512, 1, 100000, &v, err)))
                return rc;
            r->width = (size_t)v;
            jx_default(p, "width", json_integer(v));
        }
        if ((rc = jx_string(p, "activation", "params", "relu", act_choices, 0, &s, err)))
            return rc;
        r->cfg.act = (tg_act)mlp_act_from_name(s);
        jx_default(p, "activation", json_string(s));
        r->cfg.leaky_slope = 0.01;
        if (r->cfg.act == ACT_LEAKY_RELU) {
            if ((rc = jx_number(p, "leaky_slope", "params", 0.01, -INFINITY, 0, INFINITY, 0,
                                &r->cfg.leaky_slope, err)))
                return rc;
            jx_default(p, "leaky_slope", json_real(r->cfg.leaky_slope));
        } else if (json_object_get(p, "leaky_slope")) {
            return tg_err_setf(err, TG_EINVAL, "params.leaky_slope",
                               "params.leaky_slope applies to the leaky_relu activation only");
        }
        if ((rc = jx_number(p, "w_std", "params", 1.0, 0, 1, INFINITY, 0, &r->cfg.w_std, err)) ||
            (rc = jx_number(p, "b_std", "params", 0.0, 0, 0, INFINITY, 0, &r->cfg.b_std, err)))
            return rc;
        jx_default(p, "w_std", json_real(r->cfg.w_std));
        jx_default(p, "b_std", json_real(r->cfg.b_std));
    }
    if (!r->empirical) {
        if ((rc = jx_number(p, "quadrature_tol", "params", 1e-10, 0, 1, 1, 0, &r->cfg.quad_tol,
                            err)))
            return rc;
        jx_default(p, "quadrature_tol", json_real(r->cfg.quad_tol));
    }
    /* kernels */
    json_t *k = json_object_get(p, "kernels");
    if (!k) {
        k = r->empirical ? json_pack("[s]", "ntk") : json_pack("[s, s]", "ntk", "nngp");
        if (!k || json_object_set_new(p, "kernels", k))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if (!json_is_array(k) || json_array_size(k) == 0)
        return tg_err_setf(err, TG_EINVAL, "params.kernels",
                           "params.kernels must be a non-empty list of \"ntk\", \"nngp\"");
    for (size_t i = 0; i < json_array_size(k); i++) {
        const char *name = json_string_value(json_array_get(k, i));
        char fb[64];
        snprintf(fb, sizeof fb, "params.kernels[%zu]", i);
        if (name && strcmp(name, "ntk") == 0 && !r->want_ntk)
            r->want_ntk = 1;
        else if (name && strcmp(name, "nngp") == 0 && !r->want_nngp && !r->empirical)
            r->want_nngp = 1;
        else
            return tg_err_setf(err, TG_EINVAL, fb, "%s must be %s, listed once", fb,
                               r->empirical ? "\"ntk\" (the empirical kernel is the NTK)"
                                            : "\"ntk\" or \"nngp\"");
    }
    if ((rc = jx_bool(p, "cross", "params", 1, &r->cross, err)) ||
        (rc = jx_bool(p, "diagonal_only", "params", 0, &r->diag_only, err)) ||
        (rc = jx_bool(p, "spectrum", "params", 0, &r->spectrum, err)) ||
        (rc = jx_bool(p, "complexity", "params", 0, &r->complexity, err)))
        return rc;
    jx_default(p, "cross", json_boolean(r->cross));
    jx_default(p, "diagonal_only", json_boolean(r->diag_only));
    jx_default(p, "spectrum", json_boolean(r->spectrum));
    jx_default(p, "complexity", json_boolean(r->complexity));
    r->output = -1;
    if (r->empirical) {
        json_t *o = json_object_get(p, "output");
        size_t K = model ? model->arch.dims[model->arch.n_layers] : 1;
        if (!o || (json_is_string(o) && strcmp(json_string_value(o), "mean") == 0)) {
            jx_default(p, "output", json_string("mean"));
        } else {
            if ((rc = jx_as_int(o, "params.output", 0, (long long)K - 1, &v, err)))
                return rc;
            r->output = (int)v;
        }
    }
    /* regression */
    json_t *rg = json_object_get(p, "regression");
    if (!rg || json_is_null(rg)) {
        json_object_set_new(p, "regression", json_null());
    } else {
        static const char *const rf[] = {"ridge", "kernel", "time", NULL};
        static const char *const kk[] = {"ntk", "nngp", NULL};
        const char *path = "params.regression";
        if ((rc = jx_expect_object(rg, path, err)) || (rc = jx_check_fields(rg, path, rf, err)) ||
            (rc = jx_number(rg, "ridge", path, 0.0, 0, 0, INFINITY, 0, &r->ridge, err)) ||
            (rc = jx_string(rg, "kernel", path, "ntk", kk, 0, &s, err)))
            return rc;
        r->reg_nngp = strcmp(s, "nngp") == 0;
        jx_default(rg, "ridge", json_real(r->ridge));
        jx_default(rg, "kernel", json_string(s));
        json_t *t = json_object_get(rg, "time");
        if (t && !json_is_null(t)) {
            if ((rc = jx_number(rg, "time", path, 0, 0, 1, INFINITY, 0, &r->time, err)))
                return rc;
        } else {
            json_object_set_new(rg, "time", json_null());
        }
        if ((r->reg_nngp && !r->want_nngp) || (!r->reg_nngp && !r->want_ntk))
            return tg_err_setf(err, TG_EINVAL, "params.regression.kernel",
                               "params.regression.kernel %s must be listed in params.kernels", s);
        if (ds->n_test == 0)
            return tg_err_setf(err, TG_EINVAL, "params.regression",
                               "params.regression predicts the test split; the data has none "
                               "(set data.test_fraction)");
        r->has_reg = 1;
    }
    if (r->diag_only && (r->has_reg || r->spectrum || r->complexity))
        return tg_err_setf(err, TG_EINVAL, "params.diagonal_only",
                           "params.diagonal_only cannot be combined with regression, spectrum "
                           "or complexity (they need the whole kernel)");
    if ((r->spectrum || r->complexity) && !r->want_ntk)
        return tg_err_setf(err, TG_EINVAL, r->spectrum ? "params.spectrum" : "params.complexity",
                           "the spectrum and the complexity are of the train NTK: list \"ntk\" "
                           "in params.kernels");
    r->seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    if (ds->n_train > NTK_MAX_N)
        return tg_err_setf(err, TG_ETOOLARGE, "data",
                           "the training split has %zu points; the ntk kind takes at most %d",
                           ds->n_train, NTK_MAX_N);
    return TG_OK;
}

/* Resolves the data (and the model), decodes the params; references go to plan (may be
 * NULL). */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_dataset **ds,
                   tg_model **model, ntk_req *r, kind_plan *plan, tg_err *err)
{
    json_t *p;
    int rc;
    *ds = NULL;
    *model = NULL;
    if ((rc = kinds_require(req, "data", "for kind ntk", err)) ||
        (rc = kinds_params(req, filled, &p, err)))
        return rc;
    const char *mid = json_string_value(json_object_get(req, "model"));
    if (mid) {
        const char *mode = json_string_value(json_object_get(p, "mode"));
        if (!mode || strcmp(mode, "empirical") != 0)
            return tg_err_setf(err, TG_EINVAL, "model",
                               "model is not allowed in analytic mode (use mode \"empirical\")");
        if ((rc = kinds_model(src, "model", mid, model, plan, err)))
            return rc;
    }
    if ((rc = kinds_data(req, filled, "ntk", src, *model == NULL, ds, NULL, plan, err)))
        return rc;
    if (*model && (*model)->arch.dims[0] != (*ds)->d)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the data has %zu features; the model takes %zu", (*ds)->d,
                           (*model)->arch.dims[0]);
    return decode(req, p, *model, *ds, r, err);
}

static int ntk_validate(const json_t *req, const kind_env *env, json_t *filled,
                        kind_plan *plan, tg_err *err)
{
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    ntk_req r;
    int rc = resolve(req, filled, &env->src, &ds, &model, &r, plan, err);
    if (rc == TG_OK) {
        double n = (double)ds->n_train, m = (double)ds->n_test, d = (double)ds->d;
        double nk = r.want_ntk + r.want_nngp;
        double kern = r.diag_only ? nk * n : nk * n * n;
        double crossb = (r.cross || r.has_reg) && m > 0 ? (r.has_reg ? 2 : nk) * m * n : 0;
        double extra = 0;
        if (r.has_reg)
            extra += r.time > 0 ? 2 * n * n + 4 * n * n : n * n;
        if (r.spectrum)
            extra = fmax(extra, 3 * n * n);
        if (r.complexity)
            extra = fmax(extra, n * n);
        double emp = 0;
        if (r.empirical) {
            double sum = 0;
            if (model)
                for (size_t l = 0; l <= model->arch.n_layers; l++)
                    sum += (double)model->arch.dims[l];
            else
                sum = (double)r.width * (double)r.cfg.depth + d + 1;
            emp = 6 * (n + m) * sum + 2 * 256 * n;
        }
        /* The quadrature's per-point tables (train + test points: the cross call). */
        double quad = 0;
        if (!r.empirical && r.cfg.depth > 0 && !ntk_closed_form(r.cfg.act))
            quad = ntk_quad_doubles(r.cfg.depth, n + m);
        plan->memory_bytes =
            8 * (kern + crossb + extra + emp + quad + (n + m) * (d + 8)) + (1 << 20);
        plan->flops = n * (n + m) * (d + 40.0 * (double)(r.cfg.depth + 1));
    }
    dataset_free(ds);
    model_free(model);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

static int ntk_run(const json_t *request, job_io *io, json_t **result_out,
                   json_t **partial_out, tg_err *err)
{
    json_t *filled = json_deep_copy(request), *res = NULL, *warnings = json_array();
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    mlp_arch arch;
    double *theta = NULL, *X = NULL, *Xt = NULL;
    double *ntk = NULL, *nngp = NULL, *ntk_t = NULL, *nngp_t = NULL;
    double *Y = NULL, *pred = NULL, *eig = NULL, *proj = NULL;
    json_t *acc = NULL, *mse = NULL, *cplx = NULL, *mine = NULL, *maxe = NULL, *cond = NULL;
    ntk_req r;
    int rc;
    double t0 = kinds_now();
    kinds_stream sm_train, sm_test;
    memset(&sm_train, 0, sizeof sm_train);
    memset(&sm_test, 0, sizeof sm_test);
    (void)partial_out;
    if (!filled || !warnings) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    rc = resolve(request, filled, &io->src, &ds, &model, &r, NULL, err);
    if (rc)
        goto out;
    size_t n = ds->n_train, m = ds->n_test, d = ds->d;
    double load_s = kinds_now() - t0;
    r.cfg.threads = io->threads > 0 ? io->threads : 1;
    ntk_quad_info qinfo;
    memset(&qinfo, 0, sizeof qinfo);
    r.cfg.quad_info = &qinfo;
    X = ds->x;
    Xt = ds->x_test;
    if (model) {
        /* Raw inputs: the model's stored preprocessing applies to every input. */
        model_preprocess(model, ds->x, n);
        if (m)
            model_preprocess(model, ds->x_test, m);
    }
    int need_cross = m > 0 && (r.cross || r.has_reg);
    /* Byte sizes: n <= NTK_MAX_N (validated), m and d are a stored dataset's; checked
     * all the same. */
    size_t kn_b, mn_b;
    if (tg_mul3_size(n, r.diag_only ? 1 : n, sizeof(double), &kn_b) ||
        tg_mul3_size(m, n, sizeof(double), &mn_b))
        goto oom;
    if (r.want_ntk && !(ntk = tg_alloc_big(kn_b)))
        goto oom;
    if (r.want_nngp && !(nngp = tg_alloc_big(kn_b)))
        goto oom;
    if (need_cross && !r.diag_only) {
        if ((r.want_ntk || (r.has_reg && !r.reg_nngp)) && !(ntk_t = tg_alloc_big(mn_b)))
            goto oom;
        if ((r.want_nngp || (r.has_reg && r.reg_nngp)) && !(nngp_t = tg_alloc_big(mn_b)))
            goto oom;
    }
    kinds_stage st = {io, 0.0, need_cross && !r.diag_only ? 0.7 : 0.9};
    tg_progress prog = {kinds_stage_progress, &st};
    if (r.empirical) {
        if (model) {
            arch = model->arch;
            theta = model->theta;
        } else {
            memset(&arch, 0, sizeof arch);
            arch.n_layers = r.cfg.depth + 1;
            arch.dims[0] = d;
            for (size_t l = 1; l <= r.cfg.depth; l++)
                arch.dims[l] = r.width;
            arch.dims[arch.n_layers] = 1;
            arch.act = r.cfg.act;
            arch.leaky_slope = r.cfg.leaky_slope;
            arch.ntk = 1;
            arch.bias = r.cfg.b_std > 0;
            arch.w_std = r.cfg.w_std;
            arch.b_std = r.cfg.b_std;
            size_t P = mlp_param_count(&arch);
            if (!(theta = malloc(P * sizeof(double))))
                goto oom;
            if ((rc = train_init(&arch, "default", 0, r.seed, theta, err)))
                goto out;
        }
        rc = ntk_empirical(&arch, theta, X, n, NULL, n, r.output, r.diag_only, ntk, &prog, err);
        if (rc)
            goto out;
        if (need_cross && !r.diag_only) {
            st.lo = st.hi;
            st.hi = 0.9;
            rc = ntk_empirical(&arch, theta, Xt, m, X, n, r.output, 0, ntk_t, &prog, err);
            if (rc)
                goto out;
        }
    } else if (!r.diag_only && io->array_begin) {
        /* The kernels go to the store while they are computed. */
        const char *names[2] = {"ntk", "nngp"};
        const double *arrays[2] = {ntk, nngp};
        if ((rc = kinds_stream_begin(&sm_train, io, n, n, 2, names, arrays, err)))
            goto out;
        ntk_cfg cfg = r.cfg;
        cfg.rows_final = kinds_stream_rows;
        cfg.rows_ud = &sm_train;
        rc = ntk_analytic(&cfg, X, n, NULL, n, d, 0, nngp, ntk, NULL, &prog, err);
        if (rc)
            goto out;
        if (need_cross) {
            st.lo = st.hi;
            st.hi = 0.9;
            const char *tnames[2] = {"ntk_test", "nngp_test"};
            const double *tarrays[2] = {r.want_ntk ? ntk_t : NULL, r.want_nngp ? nngp_t : NULL};
            if (r.cross && (rc = kinds_stream_begin(&sm_test, io, m, n, 2, tnames, tarrays, err)))
                goto out;
            cfg.rows_ud = &sm_test;
            rc = ntk_analytic(&cfg, Xt, m, X, n, d, 0, nngp_t, ntk_t, NULL, &prog, err);
            if (rc)
                goto out;
        }
    } else {
        rc = ntk_analytic(&r.cfg, X, n, NULL, n, d, r.diag_only, nngp, ntk, NULL, &prog, err);
        if (rc)
            goto out;
        if (need_cross && !r.diag_only) {
            st.lo = st.hi;
            st.hi = 0.9;
            rc = ntk_analytic(&r.cfg, Xt, m, X, n, d, 0, nngp_t, ntk_t, NULL, &prog, err);
            if (rc)
                goto out;
        }
    }
    if ((rc = kinds_checkpoint(io, 0.9, "storing the kernels")))
        goto out;
    if (!(res = json_object()))
        goto oom;
    size_t cols = r.diag_only ? 0 : n;
    if ((rc = kinds_stream_end(&sm_train, res, err)) ||
        (rc = kinds_stream_end(&sm_test, res, err)))
        goto out;
    if ((ntk && !json_object_get(res, "ntk") &&
         (rc = kinds_put(res, io, "ntk", n, cols, ntk, err))) ||
        (nngp && !json_object_get(res, "nngp") &&
         (rc = kinds_put(res, io, "nngp", n, cols, nngp, err))))
        goto out;
    if (r.cross && need_cross && !r.diag_only) {
        if ((r.want_ntk && !json_object_get(res, "ntk_test") &&
             (rc = kinds_put(res, io, "ntk_test", m, n, ntk_t, err))) ||
            (r.want_nngp && !json_object_get(res, "nngp_test") &&
             (rc = kinds_put(res, io, "nngp_test", m, n, nngp_t, err))))
            goto out;
    }
    /* Targets: one-hot columns for classification, the targets for regression. */
    int classification = ds->task == TG_TASK_CLASSIFICATION;
    size_t c = classification ? ds->classes.n : ds->n_outputs;
    if (r.has_reg || r.spectrum || r.complexity) {
        size_t ny;
        if (tg_mul_size(n, c ? c : 1, &ny) || !(Y = calloc(ny, sizeof(double))))
            goto oom;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < c; j++)
                Y[i * c + j] = classification ? ((size_t)ds->y[i] == j) : ds->y[i * c + j];
    }
    acc = json_null(), mse = json_null(), cplx = json_null();
    mine = json_null(), maxe = json_null(), cond = json_null();
    if (r.has_reg) {
        const double *K = r.reg_nngp ? nngp : ntk, *Kt = r.reg_nngp ? nngp_t : ntk_t;
        double me = NAN;
        tg_err e2;
        tg_err_clear(&e2);
        size_t pred_b;
        if (tg_mul3_size(m, c ? c : 1, sizeof(double), &pred_b) || !(pred = malloc(pred_b)))
            goto oom;
        int rr = r.time > 0 ? kreg_flow(K, n, Kt, m, Y, c, r.ridge, r.time, pred, &e2)
                            : kreg_ridge(K, n, Kt, m, Y, c, r.ridge, pred, &me, &e2);
        if (rr == TG_ENUMERICAL) {
            char w[400];
            snprintf(w, sizeof w, "kernel is singular: regression skipped; set a ridge (%s)",
                     e2.msg);
            json_array_append_new(warnings, json_string(w));
        } else if (rr) {
            rc = tg_err_set(err, rr, "%s", e2.msg);
            goto out;
        } else {
            if ((rc = kinds_put(res, io, "predictions", m, c, pred, err)))
                goto out;
            if (classification) {
                size_t good = 0;
                for (size_t i = 0; i < m; i++) {
                    size_t best = 0;
                    for (size_t j = 1; j < c; j++)
                        if (pred[i * c + j] > pred[i * c + best])
                            best = j;
                    good += best == (size_t)ds->y_test[i];
                }
                acc = json_real((double)good / (double)m);
            } else {
                double se = 0;
                for (size_t i = 0; i < m * c; i++)
                    se += (pred[i] - ds->y_test[i]) * (pred[i] - ds->y_test[i]);
                mse = json_real(se / (double)(m * c));
            }
        }
    }
    if ((rc = kinds_checkpoint(io, 0.95, "diagnostics")))
        goto out;
    if (r.spectrum) {
        if (!(eig = malloc(n * sizeof(double))) || !(proj = malloc(n * sizeof(double))))
            goto oom;
        if ((rc = kreg_spectrum(ntk, n, Y, c, eig, proj, err)))
            goto out;
        if ((rc = kinds_put(res, io, "eigenvalues", n, 0, eig, err)) ||
            (rc = kinds_put(res, io, "label_projections", n, 0, proj, err)))
            goto out;
        json_decref(mine);
        json_decref(maxe);
        json_decref(cond);
        mine = jx_real(eig[n - 1]);
        maxe = jx_real(eig[0]);
        cond = eig[n - 1] > 0 ? jx_real(eig[0] / eig[n - 1]) : json_null();
        if (!(eig[n - 1] > 0))
            json_array_append_new(warnings, json_string("the train NTK is not positive "
                                                        "definite: condition_number is null"));
    }
    if (r.complexity) {
        double cx;
        tg_err e2;
        int cr = kreg_complexity(ntk, n, Y, c, &cx, &e2);
        if (cr == TG_ENUMERICAL)
            json_array_append_new(warnings, json_string("kernel is singular: complexity "
                                                        "skipped"));
        else if (cr) {
            rc = tg_err_set(err, cr, "%s", e2.msg);
            goto out;
        } else {
            json_decref(cplx);
            cplx = jx_real(cx);
        }
    }
    json_object_set_new(res, "n_train", json_integer((json_int_t)n));
    json_object_set_new(res, "n_test", json_integer((json_int_t)m));
    json_object_set_new(res, "complexity", cplx);
    json_object_set_new(res, "min_eigenvalue", mine);
    json_object_set_new(res, "max_eigenvalue", maxe);
    json_object_set_new(res, "condition_number", cond);
    cplx = mine = maxe = cond = NULL; /* moved into res */
    if (r.has_reg)
        json_object_set(res, classification ? "test_accuracy" : "test_mse",
                        classification ? acc : mse);
    if (qinfo.used) {
        json_t *q = json_object();
        if (!q)
            goto oom;
        json_object_set_new(q, "method", json_string("hermite_series+nested_gauss_legendre"));
        json_object_set_new(q, "tolerance", json_real(r.cfg.quad_tol));
        json_object_set_new(q, "max_error_estimate", json_real(qinfo.max_error_estimate));
        json_object_set_new(q, "max_series_terms", json_integer(qinfo.max_series_terms));
        json_object_set_new(q, "series_maps", json_integer((json_int_t)qinfo.series_maps));
        json_object_set_new(q, "fallback_maps", json_integer((json_int_t)qinfo.nested_maps));
        json_object_set_new(q, "exact_maps", json_integer((json_int_t)qinfo.exact_maps));
        json_object_set_new(q, "max_variance", json_real(qinfo.max_variance));
        json_object_set_new(res, "quadrature", q);
    }
    json_object_set_new(res, "time_s", json_real(kinds_now() - t0));
    json_object_set_new(res, "load_s", json_real(load_s));
    json_object_set_new(res, "store_s", json_real(io->store_s));
    json_object_set(res, "warnings", warnings);
    *result_out = res;
    res = NULL;
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory");
out:
    kinds_stream_abort(&sm_train);
    kinds_stream_abort(&sm_test);
    json_decref(acc);
    json_decref(mse);
    json_decref(cplx);
    json_decref(mine);
    json_decref(maxe);
    json_decref(cond);
    if (!model || theta != model->theta)
        free(theta);
    json_decref(res);
    json_decref(warnings);
    json_decref(filled);
    tg_free_big(ntk);
    tg_free_big(nngp);
    tg_free_big(ntk_t);
    tg_free_big(nngp_t);
    free(Y);
    free(pred);
    free(eig);
    free(proj);
    dataset_free(ds);
    model_free(model);
    return rc;
}

static json_t *ntk_describe(void)
{
    return json_pack("{s:[s,s], s:s, s:s}", "modes", "analytic", "empirical", "data",
                     "required", "model", "forbidden in analytic mode; optional in empirical mode");
}

const tg_kind kind_ntk = {
    .name = "ntk",
    .summary = "analytic and empirical NTK / NNGP kernels, kernel regression, spectrum, "
               "complexity",
    .validate = ntk_validate,
    .run = ntk_run,
    .describe = ntk_describe,
    .schema = "NtkParams",
};
