/* kind_influence.c: the `influence` kind (API.md 5.3): influence of the training points
 * of a model on its test points (core/influence.c), self-influence, rankings, and the
 * leave-one-out validation. Decoding with every default filled in, the data (by default
 * the model's own training data with its test split, preprocessed as the model was),
 * the memory estimate (a 422 naming what would fit), and the run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/curv.h"
#include "../core/influence.h"
#include "../core/preprocess.h"
#include "jx.h"
#include "kinds.h"

#define INFL_AUTO_EXACT_MAX_P 5000
#define INFL_MAX_CG_ITER 1000000
#define INFL_MAX_DEPTH 100000000

typedef struct infl_req {
    infl_cfg cfg;
    int method_auto;
    double damping, l2;
    int last_layer;
    size_t *test_idx, n_test_idx;  /* NULL: all */
    size_t *train_idx, n_train_idx; /* NULL: all */
    size_t loo;                     /* 0: no validation */
    size_t P, p_lo, p_hi;
} infl_req;

static void infl_req_deinit(infl_req *r)
{
    free(r->test_idx);
    free(r->train_idx);
    r->test_idx = r->train_idx = NULL;
}

/* An index list (or null: all) into *out (new; NULL for all). */
static int index_list(json_t *p, const char *key, size_t limit, const char *what, size_t **out,
                      size_t *n_out, tg_err *err)
{
    char path[64], ip[80];
    json_t *v = json_object_get(p, key);
    *out = NULL;
    *n_out = limit;
    snprintf(path, sizeof path, "params.%s", key);
    if (!v || json_is_null(v)) {
        json_object_set_new(p, key, json_null());
        return TG_OK;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return tg_err_setf(err, TG_EINVAL, path,
                           "%s must be a non-empty list of indices into the %s, or null", path,
                           what);
    size_t n = json_array_size(v);
    unsigned char *seen = calloc(limit ? limit : 1, 1);
    size_t *idx = malloc(n * sizeof(size_t));
    if (!seen || !idx) {
        free(seen);
        free(idx);
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        long long x;
        jx_index_path(ip, sizeof ip, path, i);
        int rc = jx_as_int(json_array_get(v, i), ip, 0, (long long)limit - 1, &x, err);
        if (rc == TG_OK && seen[x])
            rc = tg_err_setf(err, TG_EINVAL, ip, "%s: index %lld is listed twice", ip, x);
        if (rc) {
            if (limit == 0)
                tg_err_setf(err, TG_EINVAL, path, "%s: the %s is empty", path, what);
            free(seen);
            free(idx);
            return rc;
        }
        seen[x] = 1;
        idx[i] = (size_t)x;
        /* 3.0 -> 3 in the stored request */
        json_array_set_new(v, i, json_integer(x));
    }
    free(seen);
    *out = idx;
    *n_out = n;
    return TG_OK;
}

static int decode(json_t *p, const tg_model *model, const tg_dataset *ds, infl_req *r,
                  tg_err *err)
{
    static const char *const methods[] = {"auto", "exact", "cg", "lissa", NULL};
    static const char *const subsets[] = {"all", "last_layer", NULL};
    static const char *const common[] = {"method", "damping", "l2", "params_subset",
                                         "test_indices", "train_indices", "top_k",
                                         "self_influence", "validate", "seed", NULL};
    static const char *const cg_f[] = {"method", "damping", "l2", "params_subset",
                                       "test_indices", "train_indices", "top_k",
                                       "self_influence", "validate", "seed", "cg_tol",
                                       "cg_max_iter", NULL};
    static const char *const lissa_f[] = {"method", "damping", "l2", "params_subset",
                                          "test_indices", "train_indices", "top_k",
                                          "self_influence", "validate", "seed", "depth",
                                          "scale", "repeats", "batch_size", NULL};
    const char *method, *subset;
    long long v;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = jx_string(p, "method", "params", "auto", methods, 0, &method, err)))
        return rc;
    jx_default(p, "method", json_string(method));
    int is_cg = strcmp(method, "cg") == 0 || strcmp(method, "auto") == 0;
    int is_lissa = strcmp(method, "lissa") == 0;
    if ((rc = jx_check_fields(p, "params", is_cg ? cg_f : is_lissa ? lissa_f : common, err)))
        return rc;
    if ((rc = jx_string(p, "params_subset", "params", "all", subsets, 0, &subset, err)))
        return rc;
    jx_default(p, "params_subset", json_string(subset));
    r->last_layer = strcmp(subset, "last_layer") == 0;
    r->P = model->P;
    if (r->last_layer) {
        size_t wo, bo;
        mlp_layer_offsets(&model->arch, model->arch.n_layers, &wo, &bo);
        r->p_lo = wo;
    }
    r->p_hi = model->P;
    size_t Pr = r->p_hi - r->p_lo;
    if (strcmp(method, "auto") == 0) {
        r->method_auto = 1;
        r->cfg.method = Pr <= INFL_AUTO_EXACT_MAX_P ? INFL_EXACT : INFL_CG;
    } else {
        r->cfg.method = strcmp(method, "exact") == 0 ? INFL_EXACT : is_cg ? INFL_CG : INFL_LISSA;
    }
    if (is_cg) {
        if ((rc = jx_number(p, "cg_tol", "params", 1e-10, 0, 1, 1, 0, &r->cfg.cg_tol, err)) ||
            (rc = jx_int(p, "cg_max_iter", "params", 1000, 1, INFL_MAX_CG_ITER, &v, err)))
            return rc;
        r->cfg.cg_max_iter = (size_t)v;
        jx_default(p, "cg_tol", json_real(r->cfg.cg_tol));
        jx_default(p, "cg_max_iter", json_integer(v));
    }
    if (is_lissa) {
        json_t *sc = json_object_get(p, "scale");
        if ((rc = jx_int(p, "depth", "params", 1000, 1, INFL_MAX_DEPTH, &v, err)))
            return rc;
        r->cfg.depth = (size_t)v;
        jx_default(p, "depth", json_integer(v));
        if (!sc || (json_is_string(sc) && strcmp(json_string_value(sc), "auto") == 0)) {
            jx_default(p, "scale", json_string("auto"));
            r->cfg.scale = 0;
        } else if ((rc = jx_number(p, "scale", "params", 0, 0, 1, INFINITY, 0, &r->cfg.scale,
                                   err))) {
            return tg_err_setf(err, TG_EINVAL, "params.scale",
                               "params.scale must be \"auto\" or a number > 0");
        }
        if ((rc = jx_int(p, "repeats", "params", 1, 1, 1000000, &v, err)))
            return rc;
        r->cfg.repeats = (size_t)v;
        jx_default(p, "repeats", json_integer(v));
        if ((rc = jx_int(p, "batch_size", "params", 0, 0, 100000000, &v, err)))
            return rc;
        r->cfg.batch_size = (size_t)v;
        jx_default(p, "batch_size", json_integer(v));
    }
    if ((rc = jx_number(p, "damping", "params", 0.001, 0, 0, INFINITY, 0, &r->damping, err)))
        return rc;
    jx_default(p, "damping", json_real(r->damping));
    /* The L2 term the model was trained with: weight_decay, except that adamw (also as
     * sam's base) decouples the decay, so its J has none (as core/curv.h). */
    double wd = 0;
    if (model->training) {
        json_t *tp = json_object_get(model->training, "params");
        json_t *w = json_object_get(tp, "weight_decay"), *o = json_object_get(tp, "optimizer");
        const char *on = json_string_value(json_object_get(o, "name"));
        const char *ob = json_string_value(json_object_get(o, "base"));
        int decoupled = (on && strcmp(on, "adamw") == 0) ||
                        (on && strcmp(on, "sam") == 0 && ob && strcmp(ob, "adamw") == 0);
        if (json_is_number(w) && !decoupled)
            wd = json_number_value(w);
    }
    if ((rc = jx_number(p, "l2", "params", wd, 0, 0, INFINITY, 0, &r->l2, err)))
        return rc;
    jx_default(p, "l2", json_real(r->l2));
    if ((rc = jx_int(p, "top_k", "params", 10, 1, 100000000, &v, err)))
        return rc;
    r->cfg.top_k = (size_t)v;
    jx_default(p, "top_k", json_integer(v));
    if ((rc = jx_bool(p, "self_influence", "params", 0, &r->cfg.self_influence, err)))
        return rc;
    jx_default(p, "self_influence", json_boolean(r->cfg.self_influence));
    if (ds->n_test == 0)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the influence kind needs test points: the data has no test split "
                           "(set data.test_fraction)");
    if ((rc = index_list(p, "test_indices", ds->n_test, "test split", &r->test_idx,
                         &r->n_test_idx, err)) ||
        (rc = index_list(p, "train_indices", ds->n_train, "training split", &r->train_idx,
                         &r->n_train_idx, err)))
        return rc;
    json_t *val = json_object_get(p, "validate");
    if (!val || json_is_null(val)) {
        json_object_set_new(p, "validate", json_null());
    } else {
        static const char *const vf[] = {"loo", NULL};
        if ((rc = jx_expect_object(val, "params.validate", err)) ||
            (rc = jx_check_fields(val, "params.validate", vf, err)) ||
            (rc = jx_int_req(val, "loo", "params.validate", 1, (long long)r->n_train_idx, &v,
                             err)))
            return rc;
        if (ds->n_train < 2)
            return tg_err_setf(err, TG_EINVAL, "params.validate",
                               "params.validate needs at least 2 training points");
        r->loo = (size_t)v;
    }
    r->cfg.seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    return TG_OK;
}

/* Resolves the model and the data, decodes the params; references go to plan (may be
 * NULL). The data's inputs are raw here (model_preprocess is the run's). */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_dataset **ds,
                   tg_model **model, infl_req *r, kind_plan *plan, tg_err *err)
{
    json_t *p;
    int rc = kinds_model_job(req, filled, "influence", src, &p, model, ds, plan, err);
    return rc ? rc : decode(p, *model, *ds, r, err);
}

/* Bytes of the run: what a request of size (nc train columns, range Pr) needs. */
static double estimate(const infl_req *r, const tg_model *m, const tg_dataset *ds,
                       infl_method method, size_t Pr, double nc, int threads)
{
    double n = (double)ds->n_train, mt = (double)r->n_test_idx, d = (double)ds->d;
    double P = (double)m->P, pr = (double)Pr, total = 0;
    for (size_t l = 0; l <= m->arch.n_layers; l++)
        total += (double)m->arch.dims[l];
    double data = 2 * (n + (double)ds->n_test) * (d + (double)ds->n_outputs);
    double keep = nc * pr + mt * pr + mt * nc * 2 + nc * 2;
    double ws = 16 * 256 * total + 4 * P;
    double solver = 0;
    if (method == INFL_EXACT) {
        /* H with the Hessian build's buffers (core/curv.h), then H and its copy for the
         * eigenvalues when Pr <= 2000 */
        curv_obj o = {.arch = &m->arch, .n = ds->n_train, .p_lo = m->P - Pr, .p_hi = m->P,
                      .threads = 1}; /* the subsets are suffixes of theta */
        solver = fmax(curv_hessian_bytes(&o) / 8, pr * pr * (Pr <= 2000 ? 2 : 1)) + 101 * pr;
    }
    else if (method == INFL_CG) {
        /* the block CG's arrays, and the buffers of its products (one curv lane) */
        size_t bs = influence_cg_block(Pr, (size_t)(mt + (r->cfg.self_influence ? nc : 0)));
        solver = 5.0 * (double)bs * pr + 81 * pr + 5.0 * 128 * 128 +
                 curv_hvp_multi_bytes(&m->arch, ds->n_train, bs, 1, 0) / 8;
    }
    else
        solver = 34 * pr + (double)r->cfg.batch_size * d + n;
    double loo = 0;
    if (r->loo) {
        /* per thread: theta and its copy, the data without one row, a workspace, and
         * Newton's H (built by curv_hessian on n - 1 rows, with the structured build's
         * buffers when it applies: ~40 MB on d 190, hidden [1]) and its factor, or
         * L-BFGS's memory */
        curv_obj lo = {.arch = &m->arch, .n = ds->n_train > 1 ? ds->n_train - 1 : 1,
                       .p_lo = m->P - Pr, .p_hi = m->P, .threads = 1};
        double per = P * 2 + n * (d + (double)ds->n_outputs) + 16 * 256 * total +
                     (pr <= 200 ? curv_hessian_bytes(&lo) / 8 + pr * pr : 42 * pr) + 4 * pr;
        loo = per * (threads > 1 ? threads : 1);
    }
    return 8 * (data + keep + ws + fmax(solver, loo)) + (1 << 20);
}

static int infl_validate(const json_t *req, const kind_env *env, json_t *filled,
                         kind_plan *plan, tg_err *err)
{
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    infl_req r;
    memset(&r, 0, sizeof r);
    int rc = resolve(req, filled, &env->src, &ds, &model, &r, plan, err);
    if (rc == TG_OK) {
        size_t Pr = r.p_hi - r.p_lo;
        double nc = (double)r.n_train_idx, n = (double)ds->n_train, mt = (double)r.n_test_idx;
        int th = 2;
        plan->memory_bytes = estimate(&r, model, ds, r.cfg.method, Pr, nc, th);
        double hvp = 8.0 * n * (double)model->P; /* flops of one HVP, about */
        double solves = mt + (r.cfg.self_influence ? nc : 0);
        double grads = 4.0 * (n + mt) * (double)model->P + 2 * mt * nc * (double)Pr;
        if (r.cfg.method == INFL_EXACT)
            plan->flops = grads + curv_hessian_flops(&(curv_obj){.arch = &model->arch,
                                   .n = ds->n_train, .p_lo = r.p_lo, .p_hi = r.p_hi}) +
                          (double)Pr * Pr * Pr / 3 +
                          2 * solves * (double)Pr * Pr;
        else if (r.cfg.method == INFL_CG)
            plan->flops = grads + solves * fmin((double)r.cfg.cg_max_iter, 2.0 * Pr) * hvp;
        else
            plan->flops = grads + solves * (double)r.cfg.depth * (double)r.cfg.repeats *
                                      (r.cfg.batch_size ? 8.0 * (double)r.cfg.batch_size *
                                                              (double)model->P
                                                        : hvp);
        if (r.loo)
            plan->flops += (double)r.loo * 20 * hvp * (Pr <= 200 ? (double)Pr / 4 : 50);
        double budget = env->memory_budget;
        if (budget > 0 && plan->memory_bytes > budget) {
            /* Name what fits: cg, the last layer, fewer training columns. */
            char alt[256] = "";
            size_t off = 0;
            if (r.cfg.method == INFL_EXACT &&
                estimate(&r, model, ds, INFL_CG, Pr, nc, th) <= budget)
                off += (size_t)snprintf(alt + off, sizeof alt - off, "method \"cg\"");
            size_t wo, bo;
            mlp_layer_offsets(&model->arch, model->arch.n_layers, &wo, &bo);
            size_t Pl = model->P - wo;
            if (!r.last_layer && Pl < Pr &&
                estimate(&r, model, ds, r.cfg.method, Pl, nc, th) <= budget &&
                off < sizeof alt)
                off += (size_t)snprintf(alt + off, sizeof alt - off, "%sparams_subset "
                                        "\"last_layer\"", off ? "; or " : "");
            /* The most training columns that fit (the estimate is linear in nc). */
            double e0 = estimate(&r, model, ds, r.cfg.method, Pr, 0, th);
            double e1 = estimate(&r, model, ds, r.cfg.method, Pr, 1, th) - e0;
            double most = e1 > 0 ? floor((budget - e0) / e1) : 0;
            if (most >= 1 && most < nc && off < sizeof alt)
                off += (size_t)snprintf(alt + off, sizeof alt - off,
                                        "%sat most %.0f train_indices", off ? "; or " : "", most);
            rc = tg_err_setf(err, TG_ETOOLARGE, "params",
                             "the influence job needs an estimated %.0f bytes of memory (P = %zu "
                             "parameters, %.0f training gradients kept%s); the server's memory "
                             "budget is %.0f bytes; what fits: %s",
                             plan->memory_bytes, Pr, nc,
                             r.cfg.method == INFL_EXACT ? ", a P x P Hessian" : "", budget,
                             off ? alt : "nothing with this data and model");
        }
    }
    infl_req_deinit(&r);
    dataset_free(ds);
    model_free(model);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

typedef struct loo_ctx {
    job_io *io;
    double lo, hi;
} loo_ctx;

static int on_loo(void *ud, size_t done, size_t total, double pearson)
{
    loo_ctx *c = ud;
    char msg[64];
    snprintf(msg, sizeof msg, "retraining %zu of %zu", done, total);
    json_t *m = json_pack("{s:I, s:I, s:o}", "retrained", (json_int_t)done, "of",
                          (json_int_t)total, "pearson", jx_real(pearson));
    double f = c->lo + (c->hi - c->lo) * (total ? (double)done / (double)total : 1);
    return c->io->progress(c->io->ud, f, msg, m);
}

static json_t *index_lists(const size_t *v, size_t rows, size_t k)
{
    json_t *a = json_array();
    for (size_t j = 0; j < rows && a; j++) {
        json_t *row = json_array();
        for (size_t t = 0; t < k && row; t++)
            json_array_append_new(row, json_integer((json_int_t)v[j * k + t]));
        json_array_append_new(a, row);
    }
    return a;
}

static int infl_run(const json_t *request, job_io *io, json_t **result_out,
                    json_t **partial_out, tg_err *err)
{
    json_t *filled = json_deep_copy(request), *res = NULL, *warnings = json_array();
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    infl_req r;
    infl_result ir;
    infl_loo_out lo;
    double *xt = NULL, *yt = NULL, *pred = NULL;
    size_t *loo_idx = NULL;
    char w[512];
    int rc;
    double t0 = kinds_now();
    (void)partial_out;
    memset(&r, 0, sizeof r);
    memset(&ir, 0, sizeof ir);
    memset(&lo, 0, sizeof lo);
    if (!filled || !warnings) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = resolve(request, filled, &io->src, &ds, &model, &r, NULL, err)))
        goto out;
    size_t n = ds->n_train, d = ds->d, yd = ds->n_outputs, m = r.n_test_idx;
    size_t nc = r.n_train_idx, Pr = r.p_hi - r.p_lo;
    model_preprocess(model, ds->x, n);
    model_preprocess(model, ds->x_test, ds->n_test);
    /* The test points, in the order of test_indices. */
    if (!(xt = tg_alloc_array(m, d, sizeof(double))) ||
        !(yt = tg_alloc_array(m, yd, sizeof(double))))
        goto oom;
    for (size_t j = 0; j < m; j++) {
        size_t t = r.test_idx ? r.test_idx[j] : j;
        memcpy(xt + j * d, ds->x_test + t * d, d * sizeof(double));
        memcpy(yt + j * yd, ds->y_test + t * yd, yd * sizeof(double));
    }
    infl_problem pb = {.arch = &model->arch, .theta = model->theta, .loss = model->loss,
                       .y_is_class = ds->task == TG_TASK_CLASSIFICATION, .x = ds->x,
                       .y = ds->y, .n = n, .x_test = xt, .y_test = yt, .m = m,
                       .cols = r.train_idx, .n_cols = nc, .p_lo = r.p_lo, .p_hi = r.p_hi,
                       .l2 = r.l2, .damping = r.damping,
                       .threads = io->threads > 0 ? io->threads : 1};
    kinds_stage st = {io, 0.0, r.loo ? 0.5 : 0.95};
    tg_progress prog = {kinds_stage_progress, &st};
    if ((rc = influence_run(&pb, &r.cfg, &ir, &prog, err)))
        goto out;
    if (!(res = json_object()))
        goto oom;
    if ((rc = kinds_put(res, io, "influence", m, nc, ir.influence, err)))
        goto out;
    if (r.cfg.self_influence && (rc = kinds_put(res, io, "self_influence", nc, 0,
                                                ir.self_influence, err)))
        goto out;
    if (ir.grad_norm > 1e-4) {
        snprintf(w, sizeof w,
                 "the model is not at a stationary point of J: ||grad J|| = %.3g on the "
                 "parameters used; influence functions assume one (train longer, full batch, "
                 "or with the same l2)", ir.grad_norm);
        json_array_append_new(warnings, json_string(w));
    }
    if (r.cfg.method == INFL_CG && ir.cg_unconverged) {
        snprintf(w, sizeof w,
                 "conjugate gradients did not reach cg_tol in %zu of %zu solves (worst true "
                 "relative residual %.3g): cg_max_iter ran out, or cg_tol is below what "
                 "rounding allows (about 1e-16 x the condition number of H; raise damping or "
                 "cg_tol)", ir.cg_unconverged, m + (r.cfg.self_influence ? nc : 0),
                 ir.cg_relres);
        json_array_append_new(warnings, json_string(w));
    }
    if (r.cfg.method == INFL_LISSA && !(ir.lissa_bound <= 1e-3)) {
        snprintf(w, sizeof w,
                 "lissa's truncation error bound (1 - lambda_min/scale)^(depth+1) is %.3g "
                 "(Lanczos estimate of lambda_min %.3g): raise depth or damping for accuracy",
                 ir.lissa_bound, ir.min_eig);
        json_array_append_new(warnings, json_string(w));
    }
    json_t *val = json_null();
    if (r.loo) {
        /* The loo training points with the largest |influence| on the first test point. */
        size_t k = r.loo;
        if (!(loo_idx = tg_alloc_array(k, 1, sizeof(size_t))) ||
            !(pred = tg_alloc_array(k, 1, sizeof(double))))
            goto oom;
        size_t *order = tg_alloc_array(nc, 1, sizeof(size_t));
        if (!order)
            goto oom;
        for (size_t i = 0; i < nc; i++)
            order[i] = i;
        /* selection of the k largest |I| (ties by column), k small relative to nc */
        for (size_t t = 0; t < k; t++) {
            size_t best = t;
            for (size_t i = t + 1; i < nc; i++)
                if (fabs(ir.influence[order[i]]) > fabs(ir.influence[order[best]]) ||
                    (fabs(ir.influence[order[i]]) == fabs(ir.influence[order[best]]) &&
                     order[i] < order[best]))
                    best = i;
            size_t tmp = order[t];
            order[t] = order[best];
            order[best] = tmp;
            loo_idx[t] = r.train_idx ? r.train_idx[order[t]] : order[t];
            pred[t] = -ir.influence[order[t]] / (double)n;
        }
        free(order);
        loo_ctx lc = {io, 0.5, 0.98};
        st.lo = 0.5;
        st.hi = 0.5;
        if ((rc = influence_loo(&pb, loo_idx, k, pred, &lo, on_loo, &lc, &prog, err)))
            goto out;
        json_t *pairs = json_array();
        for (size_t t = 0; t < k && pairs; t++)
            json_array_append_new(pairs, json_pack("{s:I, s:o, s:o}", "train",
                                                   (json_int_t)loo_idx[t], "predicted",
                                                   jx_real(pred[t]), "actual",
                                                   jx_real(lo.actual[t])));
        val = json_pack("{s:o, s:o, s:o, s:s, s:o, s:o}", "pearson",
                        jx_real(influence_pearson(pred, lo.actual, k)), "spearman",
                        jx_real(influence_spearman(pred, lo.actual, k)), "pairs", pairs,
                        "solver", lo.newton ? "newton" : "lbfgs", "max_gradient_norm",
                        jx_real(lo.worst_grad), "reference_shift", jx_real(lo.ref_shift));
        if (lo.unconverged) {
            snprintf(w, sizeof w,
                     "validate: %zu of %zu retrainings stopped above gradient norm 1e-10 "
                     "(largest %.3g)", lo.unconverged, k + 1, lo.worst_grad);
            json_array_append_new(warnings, json_string(w));
        }
    }
    json_object_set_new(res, "method", json_string(r.cfg.method == INFL_EXACT ? "exact"
                                                   : r.cfg.method == INFL_CG ? "cg"
                                                                             : "lissa"));
    json_object_set_new(res, "damping", jx_real(r.damping));
    json_object_set_new(res, "l2", jx_real(r.l2));
    json_object_set_new(res, "param_count", json_integer((json_int_t)Pr));
    json_object_set_new(res, "hessian", json_pack("{s:o, s:o, s:b}", "min_eigenvalue",
                                                  jx_real(ir.min_eig), "max_eigenvalue",
                                                  jx_real(ir.max_eig), "exact", ir.eig_exact));
    json_object_set_new(res, "gradient_norm", jx_real(ir.grad_norm));
    if (r.cfg.method == INFL_CG)
        json_object_set_new(res, "cg", json_pack("{s:I, s:I, s:o}", "iterations",
                                                 (json_int_t)ir.cg_iterations,
                                                 "hessian_vector_products",
                                                 (json_int_t)ir.cg_products,
                                                 "relative_residual", jx_real(ir.cg_relres)));
    else
        json_object_set_new(res, "cg", json_null());
    if (r.cfg.method == INFL_LISSA) {
        json_object_set_new(res, "scale", jx_real(ir.scale));
        json_object_set_new(res, "lissa_error_bound", jx_real(ir.lissa_bound));
    }
    json_object_set_new(res, "top_helpful", index_lists(ir.top_helpful, m, ir.top_k));
    json_object_set_new(res, "top_harmful", index_lists(ir.top_harmful, m, ir.top_k));
    json_object_set_new(res, "validation", val);
    json_object_set_new(res, "time_s", jx_real(kinds_now() - t0));
    json_object_set(res, "warnings", warnings);
    *result_out = res;
    res = NULL;
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory");
out:
    infl_result_deinit(&ir);
    infl_loo_out_deinit(&lo);
    infl_req_deinit(&r);
    json_decref(res);
    json_decref(warnings);
    json_decref(filled);
    free(xt);
    free(yt);
    free(pred);
    free(loo_idx);
    dataset_free(ds);
    model_free(model);
    return rc;
}

static json_t *infl_describe(void)
{
    return json_pack("{s:[s], s:s, s:s}", "modes", "default", "data",
                     "optional: default = the model's own training data with its test split",
                     "model", "required");
}

const tg_kind kind_influence = {
    .name = "influence",
    .summary = "influence functions (exact, CG, LiSSA) with self-influence and "
               "leave-one-out validation",
    .validate = infl_validate,
    .run = infl_run,
    .describe = infl_describe,
    .schema = "InfluenceParams",
};
