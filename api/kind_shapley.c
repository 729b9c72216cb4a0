/* kind_shapley.c: the `shapley` kind (API.md 5.4): data Shapley / Banzhaf values of the
 * training points under the knn, logistic or kernel ridge utility, and feature
 * attributions of one input of a stored model. Decoding with every default filled in,
 * the memory estimate, and the run (core/shapley.h does the numerics).
 *
 * The mlp utility takes a train params object (api/train_params.h, paths prefixed
 * "params.utility") and trains every evaluated subset from scratch under the request's
 * seed (no warm start along a permutation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ntk.h"
#include "../core/shapley.h"
#include "jx.h"
#include "kinds.h"
#include "train_params.h"

#define SHAP_EXACT_MAX_N 20
#define SHAP_MAX_PERM 100000000LL

typedef struct shap_req {
    int features;
    shap_method method;
    int method_auto;
    shap_run_cfg run;
    shap_util_cfg util;
    /* data utilities */
    int kernel;            /* 0 rbf, 1 linear, 2 ntk */
    double gamma;
    ntk_cfg ntk;
    train_params tp;       /* mlp */
    /* features */
    double *point, *baseline; /* raw, d (owned) */
    long long test_index;     /* -1: params.x */
} shap_req;

static void req_deinit(shap_req *r)
{
    free(r->point);
    free(r->baseline);
    r->point = r->baseline = NULL;
}

static const char *const method_names[] = {"auto", "exact", "permutation", "tmc", "knn_exact",
                                           "banzhaf", "difference", NULL};

/* The sampling and stopping fields, common to both players. */
static int decode_common(json_t *p, size_t N, int knn, shap_req *r, tg_err *err)
{
    const char *s;
    long long v;
    double x;
    int rc;
    if ((rc = jx_string(p, "method", "params", "auto", method_names, 0, &s, err)))
        return rc;
    jx_default(p, "method", json_string(s));
    r->method_auto = strcmp(s, "auto") == 0;
    if (r->method_auto) {
        if (r->features)
            r->method = N <= SHAP_EXACT_MAX_N ? SHAP_EXACT : SHAP_PERMUTATION;
        else
            r->method = knn ? SHAP_KNN_EXACT : N <= 12 ? SHAP_EXACT : SHAP_TMC;
    } else {
        for (int i = 1; method_names[i]; i++)
            if (strcmp(s, method_names[i]) == 0)
                r->method = (shap_method)(i - 1);
    }
    if (r->method == SHAP_KNN_EXACT && !knn)
        return tg_err_setf(err, TG_EINVAL, "params.method",
                           "params.method knn_exact needs the knn utility (players = data)");
    if (r->method == SHAP_EXACT && N > SHAP_EXACT_MAX_N)
        return tg_err_setf(err, TG_ETOOLARGE, "params.method",
                           "params.method exact enumerates 2^N subsets: N = %zu players, at most "
                           "%d (use permutation or tmc)", N, SHAP_EXACT_MAX_N);
    int perm_like = r->method == SHAP_PERMUTATION || r->method == SHAP_TMC;
    if (json_object_get(p, "antithetic") && !perm_like)
        return tg_err_setf(err, TG_EINVAL, "params.antithetic",
                           "params.antithetic applies to the permutation and tmc methods only");
    if (json_object_get(p, "truncation") && r->method != SHAP_TMC)
        return tg_err_setf(err, TG_EINVAL, "params.truncation",
                           "params.truncation applies to the tmc method only");
    if ((rc = jx_bool(p, "antithetic", "params", 1, &r->run.antithetic, err)) ||
        (rc = jx_number(p, "truncation", "params", 0.01, 0, 0, INFINITY, 0, &r->run.truncation,
                        err)))
        return rc;
    if (perm_like)
        jx_default(p, "antithetic", json_boolean(r->run.antithetic));
    if (r->method == SHAP_TMC)
        jx_default(p, "truncation", json_real(r->run.truncation));
    if ((rc = jx_int(p, "max_permutations", "params", 1000, 1, SHAP_MAX_PERM, &v, err)))
        return rc;
    r->run.max_permutations = v;
    jx_default(p, "max_permutations", json_integer(v));
    json_t *me = json_object_get(p, "max_evaluations");
    if (me && !json_is_null(me)) {
        if ((rc = jx_int(p, "max_evaluations", "params", 0, 1, 9007199254740991LL, &v, err)))
            return rc;
        r->run.max_evaluations = v;
    } else {
        json_object_set_new(p, "max_evaluations", json_null());
    }
    json_t *mt = json_object_get(p, "max_time_s");
    if (mt && !json_is_null(mt)) {
        if ((rc = jx_number(p, "max_time_s", "params", 0, 0, 1, INFINITY, 0, &x, err)))
            return rc;
        r->run.max_time_s = x;
    } else {
        json_object_set_new(p, "max_time_s", json_null());
    }
    if ((rc = jx_number(p, "tolerance", "params", 0.01, 0, 0, INFINITY, 0, &r->run.tolerance,
                        err)) ||
        (rc = jx_int(p, "min_permutations", "params", 30, 1, SHAP_MAX_PERM, &v, err)))
        return rc;
    r->run.min_permutations = v;
    jx_default(p, "tolerance", json_real(r->run.tolerance));
    jx_default(p, "min_permutations", json_integer(v));
    r->run.method = r->method;
    r->run.seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    r->run.threads = 1;
    return TG_OK;
}

static int decode_kernel(json_t *u, const tg_dataset *ds, shap_req *r, tg_err *err)
{
    static const char *const names[] = {"rbf", "linear", "ntk", NULL};
    static const char *const rbf_f[] = {"name", "gamma", NULL};
    static const char *const lin_f[] = {"name", NULL};
    static const char *const ntk_f[] = {"name", "depth", "activation", "leaky_slope", "w_std",
                                        "b_std", NULL};
    const char *path = "params.utility.kernel", *s;
    json_t *k = json_object_get(u, "kernel");
    int rc;
    long long v;
    if (!k) {
        k = json_pack("{s:s}", "name", "rbf");
        if (!k || json_object_set_new(u, "kernel", k))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if ((rc = jx_expect_object(k, path, err)) ||
        (rc = jx_string_req(k, "name", path, names, 0, &s, err)))
        return rc;
    r->kernel = strcmp(s, "rbf") == 0 ? 0 : strcmp(s, "linear") == 0 ? 1 : 2;
    if ((rc = jx_check_fields(k, path, r->kernel == 0 ? rbf_f : r->kernel == 1 ? lin_f : ntk_f,
                              err)))
        return rc;
    if (r->kernel == 0) {
        if ((rc = jx_number(k, "gamma", path, 1.0 / (double)ds->d, 0, 1, INFINITY, 0, &r->gamma,
                            err)))
            return rc;
        jx_default(k, "gamma", json_real(r->gamma));
    } else if (r->kernel == 2) {
        memset(&r->ntk, 0, sizeof r->ntk);
        if ((rc = jx_int(k, "depth", path, 1, 0, MLP_MAX_LAYERS - 2, &v, err)) ||
            (rc = jx_string(k, "activation", path, "relu", activation_names, 0, &s, err)))
            return rc;
        r->ntk.depth = (size_t)v;
        r->ntk.act = (tg_act)mlp_act_from_name(s);
        jx_default(k, "depth", json_integer(v));
        jx_default(k, "activation", json_string(s));
        r->ntk.leaky_slope = 0.01;
        if (r->ntk.act == ACT_LEAKY_RELU) {
            if ((rc = jx_number(k, "leaky_slope", path, 0.01, -INFINITY, 0, INFINITY, 0,
                                &r->ntk.leaky_slope, err)))
                return rc;
            jx_default(k, "leaky_slope", json_real(r->ntk.leaky_slope));
        } else if (json_object_get(k, "leaky_slope")) {
            return tg_err_setf(err, TG_EINVAL, "params.utility.kernel.leaky_slope",
                               "params.utility.kernel.leaky_slope applies to the leaky_relu "
                               "activation only");
        }
        if ((rc = jx_number(k, "w_std", path, 1.0, 0, 1, INFINITY, 0, &r->ntk.w_std, err)) ||
            (rc = jx_number(k, "b_std", path, 0.0, 0, 0, INFINITY, 0, &r->ntk.b_std, err)))
            return rc;
        jx_default(k, "w_std", json_real(r->ntk.w_std));
        jx_default(k, "b_std", json_real(r->ntk.b_std));
        r->ntk.quad_tol = 1e-10;
        r->ntk.threads = 1;
    }
    return TG_OK;
}

static int decode_data_params(const json_t *req, json_t *p, const tg_dataset *ds, shap_req *r,
                              tg_err *err)
{
    static const char *const fields[] = {"players", "utility", "method", "antithetic",
                                         "truncation", "max_permutations", "max_evaluations",
                                         "max_time_s", "tolerance", "min_permutations", "seed",
                                         NULL};
    static const char *const models[] = {"knn", "logistic", "kernel_ridge", "mlp", NULL};
    static const char *const metrics[] = {"accuracy", "neg_mse", NULL};
    const char *path = "params.utility", *s;
    int rc, cls = ds->task == TG_TASK_CLASSIFICATION;
    if ((rc = jx_check_fields(p, "params", fields, err)))
        return rc;
    json_t *mv = json_object_get(req, "model");
    if (mv && !json_is_null(mv))
        return tg_err_setf(err, TG_EINVAL, "model",
                           "model is not allowed with players = data (the mlp utility trains "
                           "each subset from its own initialization: params.utility.init)");
    if (ds->n_test == 0)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the utility scores on the test split; the data has none (set "
                           "data.test_fraction)");
    json_t *u = json_object_get(p, "utility");
    if (!u) {
        u = json_pack("{s:s}", "model", "knn");
        if (!u || json_object_set_new(p, "utility", u))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if ((rc = jx_expect_object(u, path, err)) ||
        (rc = jx_string_req(u, "model", path, models, 0, &s, err)))
        return rc;
    shap_util_cfg *uc = &r->util;
    memset(uc, 0, sizeof *uc);
    long long v;
    if (strcmp(s, "mlp") == 0) {
        static const char *const f[] = {
            "model", "metric", "empty_score", "hidden", "activation", "leaky_slope", "bias",
            "parameterization", "w_std", "b_std", "init", "init_std", "loss", "optimizer",
            "weight_decay", "schedule", "batch_size", "epochs", "max_steps", "clip_grad_norm",
            "label_noise", NULL};
        static const char *const na[] = {"validation_fraction", "early_stopping", "track",
                                         "init_model", "seed", NULL};
        uc->kind = SHAP_U_MLP;
        for (size_t i = 0; na[i]; i++)
            if (json_object_get(u, na[i])) {
                char fb[TP_PATH];
                jx_path(fb, sizeof fb, path, na[i]);
                return tg_err_setf(err, TG_EINVAL, fb,
                                   "%s does not apply to the mlp utility (each subset is "
                                   "trained on all its points for the given epochs, seeded by "
                                   "params.seed)", fb);
            }
        if ((rc = jx_check_fields(u, path, f, err)) ||
            (rc = train_params_decode(u, path, ds, NULL, 0, &r->tp, err)))
            return rc;
        uc->train = &r->tp.cfg;
        uc->init = r->tp.init;
        uc->init_std = r->tp.init_std;
    } else if (strcmp(s, "knn") == 0) {
        static const char *const f[] = {"model", "k", "metric", "empty_score", NULL};
        uc->kind = SHAP_U_KNN;
        if ((rc = jx_check_fields(u, path, f, err)))
            return rc;
        if (!cls)
            return tg_err_setf(err, TG_EINVAL, "params.utility.model",
                               "the knn utility is for classification; the data is regression");
        if ((rc = jx_int(u, "k", path, 5, 1, 1000000, &v, err)))
            return rc;
        uc->k = (size_t)v;
        jx_default(u, "k", json_integer(v));
    } else if (strcmp(s, "logistic") == 0) {
        static const char *const f[] = {"model", "l2", "metric", "empty_score", NULL};
        uc->kind = SHAP_U_LOGISTIC;
        if ((rc = jx_check_fields(u, path, f, err)))
            return rc;
        if (!cls)
            return tg_err_setf(err, TG_EINVAL, "params.utility.model",
                               "the logistic utility is for classification; the data is "
                               "regression");
        if ((rc = jx_number(u, "l2", path, 0.01, 0, 0, INFINITY, 0, &uc->l2, err)))
            return rc;
        jx_default(u, "l2", json_real(uc->l2));
    } else {
        static const char *const f[] = {"model", "ridge", "kernel", "metric", "empty_score", NULL};
        uc->kind = SHAP_U_KRIDGE;
        if ((rc = jx_check_fields(u, path, f, err)) ||
            (rc = jx_number(u, "ridge", path, 1e-3, 0, 0, INFINITY, 0, &uc->ridge, err)) ||
            (rc = decode_kernel(u, ds, r, err)))
            return rc;
        jx_default(u, "ridge", json_real(uc->ridge));
    }
    if ((rc = jx_string(u, "metric", path, cls ? "accuracy" : "neg_mse", metrics, 0, &s, err)))
        return rc;
    uc->metric = strcmp(s, "accuracy") == 0 ? SHAP_ACCURACY : SHAP_NEG_MSE;
    if (uc->metric == SHAP_ACCURACY && !cls)
        return tg_err_setf(err, TG_EINVAL, "params.utility.metric",
                           "params.utility.metric accuracy is for classification; use neg_mse");
    if (uc->kind == SHAP_U_KNN && uc->metric != SHAP_ACCURACY)
        return tg_err_setf(err, TG_EINVAL, "params.utility.metric",
                           "the knn utility's metric can only be accuracy");
    jx_default(u, "metric", json_string(s));
    double def;
    if (uc->kind == SHAP_U_KNN) {
        def = 0;
    } else if (cls) {
        def = 1.0 / (double)(ds->classes.n ? ds->classes.n : 1);
    } else {
        double sq = 0;
        for (size_t i = 0; i < ds->n_test * ds->n_outputs; i++)
            sq += ds->y_test[i] * ds->y_test[i];
        def = -sq / (double)(ds->n_test * ds->n_outputs);
    }
    if ((rc = jx_number(u, "empty_score", path, def, -INFINITY, 0, INFINITY, 0,
                        &uc->empty_score, err)))
        return rc;
    jx_default(u, "empty_score", json_real(uc->empty_score));
    if ((rc = decode_common(p, ds->n_train, uc->kind == SHAP_U_KNN, r, err)))
        return rc;
    r->tp.cfg.seed = r->run.seed; /* every subset's training: the request's seed */
    return TG_OK;
}

/* Features: the point, the baseline, the target. ds may be NULL (no data). */
static int decode_feature_params(json_t *p, const tg_model *model, const tg_dataset *ds,
                                 shap_req *r, tg_err *err)
{
    static const char *const fields[] = {"players", "x", "test_index", "baseline", "target",
                                         "method", "antithetic", "truncation",
                                         "max_permutations", "max_evaluations", "max_time_s",
                                         "tolerance", "min_permutations", "seed", NULL};
    size_t d = model->arch.dims[0], K = model->arch.dims[model->arch.n_layers];
    int rc;
    long long v;
    if ((rc = jx_check_fields(p, "params", fields, err)))
        return rc;
    json_t *x = json_object_get(p, "x"), *ti = json_object_get(p, "test_index");
    if (x && ti)
        return tg_err_setf(err, TG_EINVAL, "params.test_index",
                           "give params.x or params.test_index, not both");
    if (!x && !ti)
        return tg_err_setf(err, TG_EMISSING, "params.x",
                           "params.x (the raw point) or params.test_index is required with "
                           "players = features");
    r->test_index = -1;
    if (x) {
        size_t n;
        if ((rc = jx_vector(x, "params.x", 1 << 20, &n, &r->point, err)))
            return rc;
        if (n != d)
            return tg_err_setf(err, TG_EINVAL, "params.x",
                               "params.x has %zu numbers; the model takes %zu features", n, d);
    } else {
        if (!ds)
            return tg_err_setf(err, TG_EINVAL, "params.test_index",
                               "params.test_index needs data (the model has no stored training "
                               "data)");
        if ((rc = jx_int(p, "test_index", "params", 0, 0, (long long)ds->n_test - 1, &v, err)))
            return rc;
        if (ds->n_test == 0)
            return tg_err_setf(err, TG_EINVAL, "params.test_index",
                               "params.test_index: the data has no test split");
        r->test_index = v;
        if (!(r->point = malloc(d * sizeof(double))))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
        memcpy(r->point, ds->x_test + (size_t)v * d, d * sizeof(double));
    }
    if (!(r->baseline = calloc(d, sizeof(double))))
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    json_t *b = json_object_get(p, "baseline");
    if (!b || (json_is_string(b) && strcmp(json_string_value(b), "zeros") == 0)) {
        jx_default(p, "baseline", json_string("zeros"));
    } else if (json_is_string(b) && strcmp(json_string_value(b), "mean") == 0) {
        if (!ds)
            return tg_err_setf(err, TG_EINVAL, "params.baseline",
                               "params.baseline mean needs data (the model has no stored "
                               "training data)");
        for (size_t i = 0; i < ds->n_train; i++)
            for (size_t j = 0; j < d; j++)
                r->baseline[j] += ds->x[i * d + j];
        for (size_t j = 0; j < d; j++)
            r->baseline[j] /= (double)ds->n_train;
    } else if (json_is_array(b)) {
        size_t n;
        double *bv;
        if ((rc = jx_vector(b, "params.baseline", 1 << 20, &n, &bv, err)))
            return rc;
        if (n != d) {
            free(bv);
            return tg_err_setf(err, TG_EINVAL, "params.baseline",
                               "params.baseline has %zu numbers; the model takes %zu features",
                               n, d);
        }
        memcpy(r->baseline, bv, d * sizeof(double));
        free(bv);
    } else {
        return tg_err_setf(err, TG_EINVAL, "params.baseline",
                           "params.baseline must be \"zeros\", \"mean\" or a list of %zu numbers",
                           d);
    }
    json_t *t = json_object_get(p, "target");
    if (t) {
        if ((rc = jx_int(p, "target", "params", 0, 0, (long long)K - 1, &v, err)))
            return rc;
        r->util.target = (size_t)v;
    } else {
        size_t tg = 0;
        if (model->task == TG_TASK_CLASSIFICATION && K > 1) {
            /* the class the model predicts at the point */
            double *row = malloc(d * sizeof(double)), *out = malloc(K * sizeof(double));
            mlp_ws *ws = mlp_ws_new(&model->arch, 1);
            if (!row || !out || !ws) {
                free(row);
                free(out);
                mlp_ws_free(ws);
                return tg_err_set(err, TG_ENOMEM, "out of memory");
            }
            memcpy(row, r->point, d * sizeof(double));
            model_preprocess(model, row, 1);
            mlp_forward(&model->arch, model->theta, row, 1, ws, out);
            for (size_t k = 1; k < K; k++)
                if (out[k] > out[tg])
                    tg = k;
            free(row);
            free(out);
            mlp_ws_free(ws);
        }
        r->util.target = tg;
        jx_default(p, "target", json_integer((json_int_t)tg));
    }
    r->util.kind = SHAP_U_FEATURES;
    return decode_common(p, d, 0, r, err);
}

/* Resolves data and model and decodes; references go to plan (may be NULL). */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_dataset **ds,
                   tg_model **model, shap_req *r, kind_plan *plan, tg_err *err)
{
    static const char *const players[] = {"data", "features", NULL};
    json_t *p;
    const char *s;
    int rc;
    *ds = NULL;
    *model = NULL;
    memset(r, 0, sizeof *r);
    if ((rc = kinds_params(req, filled, &p, err)) ||
        (rc = jx_string(p, "players", "params", "data", players, 0, &s, err)))
        return rc;
    jx_default(p, "players", json_string(s));
    r->features = strcmp(s, "features") == 0;
    if (!r->features) {
        if ((rc = kinds_data(req, filled, "shapley", src, 1, ds, NULL, plan, err)))
            return rc;
        return decode_data_params(req, p, *ds, r, err);
    }
    const char *mid = json_string_value(json_object_get(req, "model"));
    if (!mid)
        return tg_err_setf(err, TG_EMISSING, "model",
                           "model is required with params.players = features");
    if ((rc = kinds_model(src, "model", mid, model, plan, err)))
        return rc;
    json_t *data = json_object_get(filled, "data");
    if (data && !json_is_null(data)) {
        if ((rc = kinds_data(filled, filled, "shapley", src, 0, ds, NULL, plan, err)))
            return rc;
    } else {
        /* No data: the model's own (kinds_model_data: raw inputs, its test split, minus
         * the validation carve-out), loaded only when the point (test_index) or the
         * baseline ("mean") needs it; `data` is stored as null, as in the other kinds. */
        const char *bl = json_string_value(json_object_get(p, "baseline"));
        int needs = json_object_get(p, "test_index") || (bl && strcmp(bl, "mean") == 0);
        if (needs && (*model)->training &&
            (rc = kinds_model_data(*model, "shapley", src, plan, ds, err)))
            return rc;
        if (json_object_set_new(filled, "data", json_null()))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if (*ds && (*ds)->d != (*model)->arch.dims[0])
        return tg_err_setf(err, TG_EINVAL, "data", "the data has %zu features; the model takes %zu",
                           (*ds)->d, (*model)->arch.dims[0]);
    return decode_feature_params(p, *model, *ds, r, err);
}

static void estimate(const shap_req *r, const tg_dataset *ds, const tg_model *model,
                     kind_plan *plan)
{
    double thr = 2; /* the default thread budget's order; the run uses io->threads */
    double mem = 1 << 20, fl = 0;
    double perms = (double)r->run.max_permutations;
    if (r->features) {
        double d = (double)model->arch.dims[0], P = (double)model->P;
        mem += thr * 8 * (8 * d + 6 * 1024);
        if (r->method == SHAP_EXACT)
            mem += 8 * ldexp(1.0, (int)d), fl = ldexp(1.0, (int)d) * 2 * P;
        else
            fl = perms * (d + 1) * 2 * P;
    } else {
        double n = (double)ds->n_train, m = (double)ds->n_test, d = (double)ds->d;
        double K = (double)(ds->classes.n ? ds->classes.n : ds->n_outputs);
        double evals = r->method == SHAP_EXACT ? ldexp(1.0, (int)n) : perms * n;
        mem += 8 * (n + m) * (d + 2);
        if (r->method == SHAP_EXACT)
            mem += 8 * ldexp(1.0, (int)n);
        else
            mem += 8 * (4 * thr + 4) * 2 * n;
        switch (r->util.kind) {
        case SHAP_U_KNN:
            if (r->method == SHAP_KNN_EXACT) {
                /* block sums; the centered training points packed, the centered test
                 * points, the exact transposed copy (fallback); per thread 16 rows of
                 * dot products, 4 orders and the sorts' buffers */
                mem += 8 * ceil(m / 16) * n + 8 * (2 * n + m) * d + thr * 240 * n;
                fl = m * n * (2 * d + 40);
            } else {
                mem += 8 * m * n + thr * 8 * m * (double)r->util.k;
                fl = m * n * 3 * d + evals * m * 4;
            }
            break;
        case SHAP_U_LOGISTIC: {
            double P = K * (d + 1), PH = K > 2 && P < 128 ? P : d + 1;
            mem += thr * 8 * (PH * PH + 8 * P + n * K);
            fl = evals * 5 * (n / 2) * (K > 2 && P >= 128 ? 40 * P : P * P);
            break;
        }
        case SHAP_U_KRIDGE:
            mem += 8 * (n * n + m * n + m * K) + thr * 8 * (n * n + n * m + n * K + m * K);
            fl = n * (n + m) * (d + 10) + perms * n * (n + m) * (1 + K);
            break;
        case SHAP_U_MLP: {
            /* per thread: the set's rows, the weights, the test pass (512 rows) and
             * train_run's buffers (as the train kind counts them); every evaluation
             * trains on about n/2 points: 6P flops per point and epoch for the steps, 2P
             * for the epoch's metrics, 2P per test point. */
            const train_cfg *tc = &r->tp.cfg;
            double P = (double)mlp_param_count(&tc->arch), units = 0;
            for (size_t l = 1; l <= tc->arch.n_layers; l++)
                units += (double)tc->arch.dims[l];
            double bs = tc->batch_size == 0 || (double)tc->batch_size > n
                            ? n : (double)tc->batch_size;
            double nmax = bs > 512 ? (bs > 4096 ? 4096 : bs) : 512;
            double ep = (double)tc->epochs;
            if (r->method != SHAP_EXACT && r->run.antithetic)
                evals *= 2;
            mem += thr * (8 * (n * (d + (double)ds->n_outputs + 1) + 11 * P +
                               (nmax + 512) * units * 4 + bs * (d + K)) +
                          (ep + 1) * sizeof(train_epoch));
            fl = evals * (8 * P * (n / 2) * ep + 2 * P * m);
            break;
        }
        default:
            break;
        }
    }
    plan->memory_bytes = mem;
    plan->flops = fl;
}

static int shapley_validate(const json_t *req, const kind_env *env, json_t *filled,
                            kind_plan *plan, tg_err *err)
{
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    shap_req r;
    int rc = resolve(req, filled, &env->src, &ds, &model, &r, plan, err);
    if (rc == TG_OK)
        estimate(&r, ds, model, plan);
    req_deinit(&r);
    dataset_free(ds);
    model_free(model);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

typedef struct report_ctx {
    job_io *io;
    double last_metrics;
    const char *method;
} report_ctx;

static int report(void *ud, double fraction, const shap_progress *p)
{
    report_ctx *c = ud;
    double now = kinds_now();
    json_t *metrics = NULL;
    char msg[160];
    if (p->permutations > 0) {
        snprintf(msg, sizeof msg, "%s: %lld samples, %lld utility evaluations", c->method,
                 p->permutations, p->evaluations);
        if (now - c->last_metrics >= 1.0 || p->final) {
            c->last_metrics = now;
            metrics = json_pack("{s:o, s:I, s:I, s:o}", "max_stderr", jx_real(p->max_stderr),
                                "permutations", (json_int_t)p->permutations,
                                "utility_evaluations", (json_int_t)p->evaluations,
                                "top10_stability", jx_real(p->top_stability));
        }
    } else {
        snprintf(msg, sizeof msg, "%s", c->method);
    }
    return c->io->progress(c->io->ud, fraction, msg, metrics);
}

static void model_transform(void *ud, double *x, size_t n)
{
    model_preprocess((const tg_model *)ud, x, n);
}

/* K(train, train) and K(test, train) of the kernel ridge utility. */
/* A cancellation check between rows of the kernels (at most every 50 ms). */
static int kernel_rows_check(job_io *io, double *t_last)
{
    double t = kinds_now();
    if (t - *t_last < 0.05)
        return TG_OK;
    *t_last = t;
    return kinds_checkpoint(io, -1, "kernels");
}

/* Z (rows x d) against X (n x d) into D (rows x n) for kernel `kind` (0 rbf, 1 linear),
 * in blocks of 64 rows with a cancellation check between them. Each entry is computed on
 * its own (the same value whatever the blocking). */
static int kernel_block(const shap_req *r, int kind, const double *Z, size_t rows,
                        const double *X, size_t n, size_t d, double *D, job_io *io,
                        double *t_last)
{
    for (size_t i0 = 0; i0 < rows; i0 += 64) {
        int rc = kernel_rows_check(io, t_last);
        if (rc)
            return rc;
        size_t mb = rows - i0 < 64 ? rows - i0 : 64;
        double *Db = D + i0 * n;
        if (kind == 0) {
            shap_sqdist(Z + i0 * d, mb, X, n, d, Db);
            for (size_t i = 0; i < mb * n; i++)
                Db[i] = exp(-r->gamma * Db[i]);
        } else {
            for (size_t i = i0; i < i0 + mb; i++)
                for (size_t j = 0; j < n; j++) {
                    double s = 0;
                    for (size_t q = 0; q < d; q++)
                        s += Z[i * d + q] * X[j * d + q];
                    D[i * n + j] = s;
                }
        }
    }
    return TG_OK;
}

static int kernels(const shap_req *r, const tg_dataset *ds, int threads, job_io *io,
                   double **K_out, double **Kt_out, tg_err *err)
{
    size_t n = ds->n_train, m = ds->n_test, d = ds->d;
    double *K = tg_alloc_array(n, n, sizeof(double)), *Kt = tg_alloc_array(m, n, sizeof(double));
    *K_out = K;
    *Kt_out = Kt;
    if (!K || !Kt)
        return tg_err_set(err, TG_ENOMEM, "out of memory for the kernels");
    if (r->kernel == 0 || r->kernel == 1) {
        double t_last = 0;
        int rc = kernel_block(r, r->kernel, ds->x, n, ds->x, n, d, K, io, &t_last);
        if (rc == TG_OK)
            rc = kernel_block(r, r->kernel, ds->x_test, m, ds->x, n, d, Kt, io, &t_last);
        if (rc)
            return tg_err_set(err, rc, "cancelled");
        return TG_OK;
    }
    ntk_cfg cfg = r->ntk;
    cfg.threads = threads;
    kinds_stage st = {io, 0, 0};
    tg_progress prog = {kinds_stage_progress, &st};
    int rc = ntk_analytic(&cfg, ds->x, n, NULL, n, d, 0, NULL, K, NULL, &prog, err);
    if (rc == TG_OK)
        rc = ntk_analytic(&cfg, ds->x_test, m, ds->x, n, d, 0, NULL, Kt, NULL, &prog, err);
    return rc;
}

/* Indices of the 10 largest (desc) or smallest (asc) values. */
static json_t *extreme10(const double *v, size_t N, int largest)
{
    size_t top[10], c = 0;
    for (size_t i = 0; i < N; i++) {
        size_t pos = c;
        while (pos > 0 && (largest ? v[top[pos - 1]] < v[i] : v[top[pos - 1]] > v[i]))
            pos--;
        if (pos >= 10)
            continue;
        if (c < 10)
            c++;
        memmove(top + pos + 1, top + pos, (c - 1 - pos) * sizeof(size_t));
        top[pos] = i;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < c && a; i++)
        json_array_append_new(a, json_integer((json_int_t)top[i]));
    return a;
}

static int shapley_run(const json_t *request, job_io *io, json_t **result_out,
                       json_t **partial_out, tg_err *err)
{
    json_t *filled = json_deep_copy(request), *res = NULL, *warnings = json_array();
    tg_dataset *ds = NULL;
    tg_model *model = NULL;
    shap_utility *u = NULL;
    double *values = NULL, *se = NULL, *K = NULL, *Kt = NULL;
    shap_req r;
    memset(&r, 0, sizeof r);
    int rc;
    double t0 = kinds_now();
    (void)partial_out;
    if (!filled || !warnings) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = resolve(request, filled, &io->src, &ds, &model, &r, NULL, err)))
        goto out;
    double load_s = kinds_now() - t0;
    int threads = io->threads > 0 ? io->threads : 1;
    r.run.threads = threads;
    report_ctx rctx = {io, -1e9, shap_method_name(r.method)};
    r.run.report = report;
    r.run.report_ud = &rctx;
    shap_data D;
    memset(&D, 0, sizeof D);
    if (r.features) {
        if (model->task == TG_TASK_CLASSIFICATION && ds == NULL) {
            /* nothing: the point and baseline are in r */
        }
        r.util.arch = &model->arch;
        r.util.theta = model->theta;
        r.util.point = r.point;
        r.util.baseline = r.baseline;
        r.util.transform = model_transform;
        r.util.transform_ud = model;
    } else {
        D.n = ds->n_train;
        D.d = ds->d;
        D.m = ds->n_test;
        D.ydim = ds->n_outputs;
        D.classification = ds->task == TG_TASK_CLASSIFICATION;
        D.n_classes = ds->classes.n;
        D.x = ds->x;
        D.y = ds->y;
        D.xt = ds->x_test;
        D.yt = ds->y_test;
        if (r.util.kind == SHAP_U_KRIDGE) {
            if ((rc = kinds_checkpoint(io, 0, "kernels")) ||
                (rc = kernels(&r, ds, threads, io, &K, &Kt, err)))
                goto out;
            r.util.K = K;
            r.util.Kt = Kt;
        }
    }
    size_t N = r.features ? model->arch.dims[0] : ds->n_train;
    if (!(values = tg_alloc_array(N, 1, sizeof(double))) ||
        !(se = tg_alloc_array(N, 1, sizeof(double)))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    shap_result sr;
    memset(&sr, 0, sizeof sr);
    if (r.method == SHAP_KNN_EXACT) {
        if ((rc = shap_knn_exact(&D, r.util.k, r.util.empty_score, threads, report, &rctx,
                                 values, &sr.u_full, err)))
            goto out;
        for (size_t i = 0; i < N; i++)
            se[i] = 0;
        sr.u_empty = r.util.empty_score;
        sr.converged = 1;
        sr.stopped_by = SHAP_STOP_EXHAUSTIVE;
        double s = 0;
        for (size_t i = 0; i < N; i++)
            s += values[i];
        sr.efficiency_residual = s - (sr.u_full - sr.u_empty);
    } else {
        if ((rc = shap_utility_new(&r.util, r.features ? NULL : &D, &u, err))) {
            if (rc == TG_EINVAL)
                rc = TG_EINTERNAL; /* validated at submission */
            goto out;
        }
        if ((rc = shap_run(u, &r.run, values, se, &sr, err)))
            goto out;
    }
    if ((rc = kinds_checkpoint(io, 0.99, "storing the values")))
        goto out;
    if (!(res = json_object())) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = kinds_put(res, io, "values", N, 0, values, err)) ||
        (rc = kinds_put(res, io, "stderr", N, 0, se, err)))
        goto out;
    if (sr.unconverged_fits > 0) {
        char w[200];
        snprintf(w, sizeof w, "%lld logistic fits stopped at %d Newton iterations before "
                              "gradient norm 1e-8 (separable data with a small l2?)",
                 sr.unconverged_fits, 100);
        json_array_append_new(warnings, json_string(w));
    }
    if (sr.stopped_by == SHAP_STOP_MAX_TIME)
        json_array_append_new(warnings, json_string("stopped by max_time_s: the values are not "
                                                    "reproducible"));
    if (!sr.converged && sr.stopped_by != SHAP_STOP_MAX_TIME) {
        char w[200];
        snprintf(w, sizeof w, "not converged: the largest standard error is %.3g (tolerance "
                              "%.3g)", sr.max_stderr, r.run.tolerance);
        json_array_append_new(warnings, json_string(w));
    }
    if (r.method == SHAP_TMC)
        json_array_append_new(warnings, json_string("tmc: truncated marginals count as 0, a "
                                                    "bias the standard errors do not include"));
    json_object_set_new(res, "method", json_string(shap_method_name(r.method)));
    json_object_set_new(res, "n_players", json_integer((json_int_t)N));
    json_object_set_new(res, "u_full", jx_real(sr.u_full));
    json_object_set_new(res, "u_empty", jx_real(sr.u_empty));
    json_object_set_new(res, "efficiency_residual", jx_real(sr.efficiency_residual));
    json_object_set_new(res, "permutations", json_integer(sr.permutations));
    json_object_set_new(res, "utility_evaluations", json_integer(sr.evaluations));
    json_object_set_new(res, "converged", json_boolean(sr.converged));
    json_object_set_new(res, "stopped_by", json_string(shap_stop_name(sr.stopped_by)));
    json_object_set_new(res, "max_stderr", jx_real(sr.max_stderr));
    json_object_set_new(res, "top", extreme10(values, N, 1));
    json_object_set_new(res, "bottom", extreme10(values, N, 0));
    if (r.features)
        json_object_set_new(res, "target", json_integer((json_int_t)r.util.target));
    json_object_set_new(res, "time_s", json_real(kinds_now() - t0));
    json_object_set_new(res, "load_s", json_real(load_s));
    json_object_set(res, "warnings", warnings);
    *result_out = res;
    res = NULL;
out:
    json_decref(res);
    json_decref(warnings);
    json_decref(filled);
    shap_utility_free(u);
    free(values);
    free(se);
    free(K);
    free(Kt);
    req_deinit(&r);
    dataset_free(ds);
    model_free(model);
    return rc;
}

static json_t *shapley_describe(void)
{
    return json_pack("{s:[s,s], s:s, s:s}", "modes", "data", "features", "data",
                     "required with players = data; optional with players = features (default: "
                     "the model's own training data)",
                     "model", "required with players = features; forbidden with players = data");
}

const tg_kind kind_shapley = {
    .name = "shapley",
    .summary = "data Shapley / Banzhaf values of training points (knn, logistic, kernel ridge, "
               "mlp utilities) and feature attributions of a model",
    .validate = shapley_validate,
    .run = shapley_run,
    .describe = shapley_describe,
    .schema = "ShapleyParams",
};
