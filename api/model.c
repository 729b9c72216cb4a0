/* model.c: see model.h. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_codec.h"
#include "jx.h"

static const char *const loss_names[] = {"cross_entropy", "logistic", "mse"};

int model_loss_from_name(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, loss_names[i]) == 0)
            return i;
    return -1;
}

const char *model_loss_name(tg_loss l)
{
    return (unsigned)l < 3 ? loss_names[l] : "?";
}

tg_model *model_new(void)
{
    return calloc(1, sizeof(tg_model));
}

void model_free(tg_model *m)
{
    if (!m)
        return;
    free(m->theta);
    free(m->theta0);
    classes_deinit(&m->classes);
    standardize_stats_deinit(&m->pre);
    json_decref(m->training);
    free(m);
}

/* ---- architecture ------------------------------------------------------------------ */

json_t *model_arch_json(const mlp_arch *a)
{
    json_t *hidden = json_array();
    int bad = !hidden;
    for (size_t l = 1; !bad && l < a->n_layers; l++)
        bad = json_array_append_new(hidden, json_integer((json_int_t)a->dims[l])) != 0;
    if (bad) {
        json_decref(hidden);
        return NULL;
    }
    /* json_pack fails (NULL) when a stolen "o" value is NULL. */
    return json_pack("{s:I, s:o, s:I, s:s, s:f, s:b, s:s, s:o, s:o}", "input_dim",
                     (json_int_t)a->dims[0], "hidden", hidden, "output_dim",
                     (json_int_t)a->dims[a->n_layers], "activation", mlp_act_name(a->act),
                     "leaky_slope", a->leaky_slope, "bias", a->bias, "parameterization",
                     a->ntk ? "ntk" : "standard", "w_std",
                     a->ntk ? json_real(a->w_std) : json_null(), "b_std",
                     a->ntk ? json_real(a->b_std) : json_null());
}

int model_arch_decode(const json_t *o, const char *path, mlp_arch *a, tg_err *err)
{
    static const char *const fields[] = {"input_dim", "hidden", "output_dim", "activation",
                                         "leaky_slope", "bias", "parameterization", "w_std",
                                         "b_std", NULL};
    static const char *const params[] = {"standard", "ntk", NULL};
    char fb[160];
    long long in, out;
    const char *act, *par;
    int rc;
    memset(a, 0, sizeof *a);
    if ((rc = jx_expect_object(o, path, err)) || (rc = jx_check_fields(o, path, fields, err)) ||
        (rc = jx_int_req(o, "input_dim", path, 1, 1000000, &in, err)) ||
        (rc = jx_int_req(o, "output_dim", path, 1, 100000, &out, err)) ||
        (rc = jx_string(o, "activation", path, "relu", activation_names, 0, &act, err)) ||
        (rc = jx_number(o, "leaky_slope", path, 0.01, -INFINITY, 0, INFINITY, 0,
                        &a->leaky_slope, err)) ||
        (rc = jx_bool(o, "bias", path, 1, &a->bias, err)) ||
        (rc = jx_string(o, "parameterization", path, "standard", params, 0, &par, err)))
        return rc;
    json_t *hidden = json_object_get(o, "hidden");
    jx_path(fb, sizeof fb, path, "hidden");
    if (!hidden)
        return tg_err_setf(err, TG_EMISSING, fb, "%s is required", fb);
    if (!json_is_array(hidden) || json_array_size(hidden) > MLP_MAX_LAYERS - 1)
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be a list of at most %d widths", fb,
                           MLP_MAX_LAYERS - 1);
    a->dims[0] = (size_t)in;
    for (size_t i = 0; i < json_array_size(hidden); i++) {
        char eb[180];
        long long w;
        if ((rc = jx_as_int(json_array_get(hidden, i), jx_index_path(eb, sizeof eb, fb, i), 1,
                            1000000, &w, err)))
            return rc;
        a->dims[i + 1] = (size_t)w;
    }
    a->n_layers = json_array_size(hidden) + 1;
    a->dims[a->n_layers] = (size_t)out;
    a->act = (tg_act)mlp_act_from_name(act);
    a->ntk = strcmp(par, "ntk") == 0;
    json_t *ws = json_object_get(o, "w_std"), *bs = json_object_get(o, "b_std");
    if (!a->ntk) {
        if ((ws && !json_is_null(ws)) || (bs && !json_is_null(bs)))
            return tg_err_setf(err, TG_EINVAL, jx_path(fb, sizeof fb, path, ws ? "w_std" : "b_std"),
                               "%s applies to the ntk parameterization only", fb);
        a->w_std = 1.0;
        a->b_std = 0.0;
    } else {
        a->w_std = 1.0;
        a->b_std = 0.0;
        if (ws && !json_is_null(ws) &&
            (rc = jx_number(o, "w_std", path, 1.0, 0, 1, INFINITY, 0, &a->w_std, err)))
            return rc;
        if (bs && !json_is_null(bs) &&
            (rc = jx_number(o, "b_std", path, 0.0, 0, 0, INFINITY, 0, &a->b_std, err)))
            return rc;
    }
    return TG_OK;
}

/* ---- layers ------------------------------------------------------------------------ */

static json_t *layers_json(const mlp_arch *a, const double *theta)
{
    json_t *arr = json_array();
    int bad = !arr;
    for (size_t l = 1; !bad && l <= a->n_layers; l++) {
        size_t wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        json_t *o = json_pack("{s:o}", "weight",
                              jx_real_matrix(theta + wo, a->dims[l], a->dims[l - 1]));
        if (!o || json_object_set_new(o, "bias",
                                      bo == (size_t)-1 ? json_null()
                                                       : jx_real_array(theta + bo, a->dims[l]))) {
            json_decref(o);
            bad = 1;
        } else {
            bad = json_array_append_new(arr, o) != 0; /* steals o, also on failure */
        }
    }
    if (bad) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static int layers_decode(const json_t *v, const char *path, const mlp_arch *a, double *theta,
                         tg_err *err)
{
    char fb[160], lb[200];
    if (!json_is_array(v))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be a list of layers", path);
    if (json_array_size(v) != a->n_layers)
        return tg_err_setf(err, TG_EINVAL, path,
                           "%s has %zu layers; the architecture has %zu (hidden + output)", path,
                           json_array_size(v), a->n_layers);
    for (size_t l = 1; l <= a->n_layers; l++) {
        static const char *const fields[] = {"weight", "bias", NULL};
        json_t *o = json_array_get(v, l - 1);
        size_t wo, bo, r, c;
        double *m = NULL;
        int rc;
        jx_index_path(fb, sizeof fb, path, l - 1);
        if ((rc = jx_expect_object(o, fb, err)) || (rc = jx_check_fields(o, fb, fields, err)))
            return rc;
        mlp_layer_offsets(a, l, &wo, &bo);
        json_t *w = json_object_get(o, "weight");
        snprintf(lb, sizeof lb, "%s.weight", fb);
        if (!w)
            return tg_err_setf(err, TG_EMISSING, lb, "%s is required", lb);
        rc = jx_matrix(w, lb, 0, (size_t)1 << 30, &r, &c, &m, err);
        if (rc)
            return rc == TG_EDATA ? (err ? (err->code = TG_EINVAL) : TG_EINVAL) : rc;
        if (r != a->dims[l] || c != a->dims[l - 1]) {
            free(m);
            return tg_err_setf(err, TG_EINVAL, lb,
                               "%s has shape %zu x %zu; the architecture needs %zu x %zu", lb, r,
                               c, a->dims[l], a->dims[l - 1]);
        }
        memcpy(theta + wo, m, r * c * sizeof(double));
        free(m);
        json_t *b = json_object_get(o, "bias");
        snprintf(lb, sizeof lb, "%s.bias", fb);
        if (bo == (size_t)-1) {
            if (b && !json_is_null(b))
                return tg_err_setf(err, TG_EINVAL, lb, "%s must be absent: the architecture "
                                   "has no biases", lb);
            continue;
        }
        if (!b || json_is_null(b))
            return tg_err_setf(err, TG_EMISSING, lb, "%s is required", lb);
        size_t n;
        if ((rc = jx_vector(b, lb, (size_t)1 << 24, &n, &m, err)))
            return rc;
        if (n != a->dims[l]) {
            free(m);
            return tg_err_setf(err, TG_EINVAL, lb, "%s has %zu entries; the architecture "
                               "needs %zu", lb, n, a->dims[l]);
        }
        memcpy(theta + bo, m, n * sizeof(double));
        free(m);
    }
    return TG_OK;
}

/* ---- classes and preprocessing ----------------------------------------------------- */

static json_t *classes_json(const tg_classes *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < c->n; i++)
        if (json_array_append_new(arr, c->is_string ? json_string(c->strs[i])
                                                    : json_integer((json_int_t)c->ints[i]))) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static int classes_decode(const json_t *v, const char *path, size_t k, tg_classes *c,
                          tg_err *err)
{
    char fb[160];
    memset(c, 0, sizeof *c);
    if (!v || json_is_null(v)) {
        c->n = k;
        c->ints = tg_alloc_array(k, 1, sizeof(long long));
        if (!c->ints)
            return tg_err_set(err, TG_ENOMEM, "out of memory");
        for (size_t i = 0; i < k; i++)
            c->ints[i] = (long long)i;
        return TG_OK;
    }
    if (!json_is_array(v) || json_array_size(v) != k)
        return tg_err_setf(err, TG_EINVAL, path, "%s must list the %zu class labels", path, k);
    c->n = k;
    c->is_string = k > 0 && json_is_string(json_array_get(v, 0));
    if (c->is_string) {
        c->strs = calloc(k ? k : 1, sizeof(char *));
        if (!c->strs)
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    } else {
        c->ints = tg_alloc_array(k, 1, sizeof(long long));
        if (!c->ints)
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_array_get(v, i);
        jx_index_path(fb, sizeof fb, path, i);
        if (c->is_string) {
            if (!json_is_string(e))
                return tg_err_setf(err, TG_EINVAL, fb, "%s: labels must all be strings or all "
                                   "integers", fb);
            c->strs[i] = strdup(json_string_value(e));
            if (!c->strs[i])
                return tg_err_set(err, TG_ENOMEM, "out of memory");
        } else {
            long long x;
            int rc = jx_as_int(e, fb, -(1LL << 53), 1LL << 53, &x, err);
            if (rc)
                return rc;
            c->ints[i] = x;
        }
    }
    return TG_OK;
}

static json_t *pre_json(const tg_model *m)
{
    json_t *std = json_null();
    if (m->pre.d > 0)
        std = json_pack("{s:o, s:o}", "mean", jx_real_array(m->pre.mean, m->pre.d), "std",
                        jx_real_array(m->pre.std, m->pre.d));
    return json_pack("{s:o, s:b}", "standardize", std, "unit_norm", m->unit_norm);
}

static int pre_decode(const json_t *v, const char *path, size_t d, tg_model *m, tg_err *err)
{
    static const char *const fields[] = {"standardize", "unit_norm", NULL};
    static const char *const sfields[] = {"mean", "std", NULL};
    char fb[160], sb[180];
    int rc;
    if (!v || json_is_null(v))
        return TG_OK;
    if ((rc = jx_expect_object(v, path, err)) || (rc = jx_check_fields(v, path, fields, err)) ||
        (rc = jx_bool(v, "unit_norm", path, 0, &m->unit_norm, err)))
        return rc;
    json_t *s = json_object_get(v, "standardize");
    if (!s || json_is_null(s))
        return TG_OK;
    jx_path(fb, sizeof fb, path, "standardize");
    if ((rc = jx_expect_object(s, fb, err)) || (rc = jx_check_fields(s, fb, sfields, err)))
        return rc;
    size_t n1, n2;
    json_t *mean = json_object_get(s, "mean"), *sd = json_object_get(s, "std");
    if (!mean || !sd)
        return tg_err_setf(err, TG_EMISSING, jx_path(sb, sizeof sb, fb, mean ? "std" : "mean"),
                           "%s is required", sb);
    if ((rc = jx_vector(mean, jx_path(sb, sizeof sb, fb, "mean"), d + 1, &n1, &m->pre.mean,
                        err)))
        return rc;
    if ((rc = jx_vector(sd, jx_path(sb, sizeof sb, fb, "std"), d + 1, &n2, &m->pre.std, err)))
        return rc;
    if (n1 != d || n2 != d)
        return tg_err_setf(err, TG_EINVAL, fb, "%s.mean and .std must have input_dim = %zu "
                           "entries", fb, d);
    for (size_t i = 0; i < d; i++)
        if (m->pre.std[i] < 0)
            return tg_err_setf(err, TG_EINVAL, fb, "%s.std must not be negative", fb);
    m->pre.d = d;
    return TG_OK;
}

void model_preprocess(const tg_model *m, double *x, size_t n)
{
    size_t d = m->arch.dims[0];
    for (size_t i = 0; i < n; i++) {
        double *r = x + i * d;
        if (m->pre.d == d)
            for (size_t j = 0; j < d; j++) {
                r[j] -= m->pre.mean[j];
                if (m->pre.std[j] > 0)
                    r[j] /= m->pre.std[j];
            }
        if (m->unit_norm) {
            double s = 0;
            for (size_t j = 0; j < d; j++)
                s += r[j] * r[j];
            if (s > 0) {
                s = sqrt(s);
                for (size_t j = 0; j < d; j++)
                    r[j] /= s;
            }
        }
    }
}

/* ---- the model object -------------------------------------------------------------- */

json_t *model_encode(const tg_model *m, int include_weights, int include_initial)
{
    /* Every json_object_set_new fails (nonzero) on a NULL value or a NULL o, and steals the
     * value either way: one flag gives a complete object or NULL (and the failure count
     * of jx.h catches what the nested encoders drop). */
    unsigned mark = jx_oom_mark();
    json_t *o = json_pack("{s:s, s:s}", "id", m->id, "created_at", m->created_at);
    int bad = !o;
    bad |= json_object_set_new(o, "source", m->source_job[0]
                                                ? json_pack("{s:s}", "job", m->source_job)
                                                : json_pack("{s:b}", "upload", 1));
    bad |= json_object_set_new(o, "task", json_string(data_task_name(m->task)));
    bad |= json_object_set_new(o, "loss", json_string(model_loss_name(m->loss)));
    bad |= json_object_set_new(o, "n_classes", json_integer((json_int_t)m->n_classes));
    bad |= json_object_set_new(o, "classes", m->task == TG_TASK_CLASSIFICATION
                                                 ? classes_json(&m->classes)
                                                 : json_null());
    bad |= json_object_set_new(o, "arch", model_arch_json(&m->arch));
    bad |= json_object_set_new(o, "preprocessing", pre_json(m));
    bad |= json_object_set(o, "training", m->training ? m->training : json_null());
    bad |= json_object_set_new(o, "param_count", json_integer((json_int_t)m->P));
    bad |= json_object_set_new(o, "has_initial", json_boolean(m->theta0 != NULL));
    if (include_weights)
        bad |= json_object_set_new(o, "layers", layers_json(&m->arch, m->theta));
    if (include_initial)
        bad |= json_object_set_new(o, "initial_layers",
                                   m->theta0 ? layers_json(&m->arch, m->theta0) : json_null());
    if (bad || jx_oom_since(mark)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *model_meta_text(const tg_model *m)
{
    json_t *o = model_encode(m, 0, 0);
    char *t = jx_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* Task/loss/class consistency shared by uploads and stored models. */
static int check_head(tg_model *m, const char *path, tg_err *err)
{
    size_t out = m->arch.dims[m->arch.n_layers];
    if (m->task == TG_TASK_REGRESSION) {
        if (m->loss != LOSS_MSE)
            return tg_err_setf(err, TG_EINVAL, "loss", "regression models use the mse loss");
        return TG_OK;
    }
    if (m->n_classes < 2)
        return tg_err_setf(err, TG_EINVAL, "n_classes", "n_classes must be at least 2");
    if (m->loss == LOSS_LOGISTIC && (m->n_classes != 2 || out != 1))
        return tg_err_setf(err, TG_EINVAL, path,
                           "the logistic loss needs 2 classes and output_dim 1");
    if (m->loss != LOSS_LOGISTIC && out != m->n_classes)
        return tg_err_setf(err, TG_EINVAL, path, "output_dim (%zu) must equal n_classes (%zu)",
                           out, m->n_classes);
    return TG_OK;
}

int model_decode_upload(const json_t *body, tg_model **out, tg_err *err)
{
    static const char *const fields[] = {"arch", "task", "loss", "n_classes", "classes",
                                         "layers", "initial_layers", "preprocessing", NULL};
    static const char *const tasks[] = {"classification", "regression", NULL};
    static const char *const losses[] = {"cross_entropy", "logistic", "mse", NULL};
    const char *task, *loss;
    long long k;
    int rc;
    tg_model *m = model_new();
    if (!m)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    if ((rc = jx_expect_object(body, "", err)) || (rc = jx_check_fields(body, "", fields, err)))
        goto fail;
    json_t *arch = json_object_get(body, "arch");
    if (!arch) {
        rc = tg_err_setf(err, TG_EMISSING, "arch", "arch is required");
        goto fail;
    }
    if ((rc = model_arch_decode(arch, "arch", &m->arch, err)) ||
        (rc = jx_string_req(body, "task", "", tasks, 0, &task, err)))
        goto fail;
    m->task = strcmp(task, "classification") == 0 ? TG_TASK_CLASSIFICATION : TG_TASK_REGRESSION;
    if ((rc = jx_string(body, "loss", "", m->task == TG_TASK_CLASSIFICATION ? "cross_entropy"
                                                                            : "mse",
                        losses, 0, &loss, err)))
        goto fail;
    m->loss = (tg_loss)model_loss_from_name(loss);
    if (m->task == TG_TASK_CLASSIFICATION) {
        if ((rc = jx_int_req(body, "n_classes", "", 2, 100000, &k, err)))
            goto fail;
        m->n_classes = (size_t)k;
        if ((rc = classes_decode(json_object_get(body, "classes"), "classes", m->n_classes,
                                 &m->classes, err)))
            goto fail;
    } else if (json_object_get(body, "n_classes") || json_object_get(body, "classes")) {
        rc = tg_err_setf(err, TG_EINVAL, json_object_get(body, "classes") ? "classes" : "n_classes",
                         "regression models have no classes");
        goto fail;
    }
    if ((rc = check_head(m, "arch.output_dim", err)))
        goto fail;
    m->P = mlp_param_count(&m->arch);
    if (m->P > ((size_t)1 << 27)) {
        rc = tg_err_setf(err, TG_ETOOLARGE, "arch", "the model has %zu parameters (limit %zu)",
                         m->P, (size_t)1 << 27);
        goto fail;
    }
    m->theta = tg_alloc_array(m->P, 1, sizeof(double));
    if (!m->theta) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto fail;
    }
    json_t *layers = json_object_get(body, "layers");
    if (!layers) {
        rc = tg_err_setf(err, TG_EMISSING, "layers", "layers is required");
        goto fail;
    }
    if ((rc = layers_decode(layers, "layers", &m->arch, m->theta, err)))
        goto fail;
    json_t *init = json_object_get(body, "initial_layers");
    if (init && !json_is_null(init)) {
        m->theta0 = tg_alloc_array(m->P, 1, sizeof(double));
        if (!m->theta0) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = layers_decode(init, "initial_layers", &m->arch, m->theta0, err)))
            goto fail;
    }
    if ((rc = pre_decode(json_object_get(body, "preprocessing"), "preprocessing",
                         m->arch.dims[0], m, err)))
        goto fail;
    *out = m;
    return TG_OK;
fail:
    model_free(m);
    return rc;
}

int model_from_stored(const char *meta, const void *weights, size_t weights_len,
                      const void *initial, size_t initial_len, tg_model **out, tg_err *err)
{
    json_error_t je;
    unsigned mark = jx_oom_mark();
    json_t *o = json_loads(meta, 0, &je);
    tg_model *m = model_new();
    int rc;
    if (!m || (!o && jx_oom_since(mark))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory reading a stored model");
        goto fail;
    }
    if (!o) {
        rc = tg_err_set(err, TG_EINTERNAL, "stored model metadata is unreadable");
        goto fail;
    }
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *created = json_string_value(json_object_get(o, "created_at"));
    snprintf(m->id, sizeof m->id, "%s", id ? id : "");
    snprintf(m->created_at, sizeof m->created_at, "%s", created ? created : "");
    const char *job = json_string_value(json_object_get(json_object_get(o, "source"), "job"));
    snprintf(m->source_job, sizeof m->source_job, "%s", job ? job : "");
    const char *task = json_string_value(json_object_get(o, "task"));
    m->task = task && strcmp(task, "classification") == 0 ? TG_TASK_CLASSIFICATION
                                                         : TG_TASK_REGRESSION;
    const char *loss = json_string_value(json_object_get(o, "loss"));
    m->loss = (tg_loss)model_loss_from_name(loss ? loss : "mse");
    if ((rc = model_arch_decode(json_object_get(o, "arch"), "arch", &m->arch, err)))
        goto fail;
    m->n_classes = (size_t)json_integer_value(json_object_get(o, "n_classes"));
    if (m->task == TG_TASK_CLASSIFICATION &&
        (rc = classes_decode(json_object_get(o, "classes"), "classes", m->n_classes,
                             &m->classes, err)))
        goto fail;
    if ((rc = pre_decode(json_object_get(o, "preprocessing"), "preprocessing", m->arch.dims[0],
                         m, err)))
        goto fail;
    json_t *tr = json_object_get(o, "training");
    if (tr && !json_is_null(tr)) {
        m->training = json_incref(tr);
        m->init_from_model = json_is_string(json_object_get(json_object_get(tr, "params"), "init_model"));
    }
    m->P = mlp_param_count(&m->arch); /* arch limits (model_arch_decode) bound P * 8 */
    if (weights_len != m->P * sizeof(double) ||
        (initial && initial_len != m->P * sizeof(double))) {
        rc = tg_err_set(err, TG_EINTERNAL, "stored model weights have the wrong size");
        goto fail;
    }
    m->theta = tg_alloc_array(m->P, 1, sizeof(double));
    if (!m->theta) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(m->theta, weights, weights_len);
    if (initial) {
        m->theta0 = tg_alloc_array(m->P, 1, sizeof(double));
        if (!m->theta0) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(m->theta0, initial, initial_len);
    }
    json_decref(o);
    *out = m;
    return TG_OK;
fail:
    json_decref(o);
    model_free(m);
    return rc;
}

json_t *model_predict_json(const tg_model *m, const double *x_raw, size_t n, tg_err *err)
{
    size_t d = m->arch.dims[0], k = m->arch.dims[m->arch.n_layers];
    double *x = tg_alloc_array(n, d, sizeof(double));
    double *f = tg_alloc_array(n, k, sizeof(double));
    mlp_ws *ws = mlp_ws_new(&m->arch, n < 1024 ? (n ? n : 1) : 1024);
    json_t *res = NULL;
    if (!x || !f || !ws) {
        tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(x, x_raw, n * d * sizeof(double));
    model_preprocess(m, x, n);
    mlp_predict(&m->arch, m->theta, x, n, ws, f);
    res = json_pack("{s:o}", "outputs", jx_real_matrix(f, n, k));
    if (!res || m->task != TG_TASK_CLASSIFICATION)
        goto out;
    /* Appends and sets fail (nonzero) on NULL values and steal them either way; any
     * failure drops the whole result. */
    json_t *idx = json_array(), *pred = json_array(), *prob = json_array();
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const double *fi = f + i * k;
        size_t best = 0;
        json_t *p = json_array();
        if (m->loss == LOSS_LOGISTIC) {
            double q = fi[0] >= 0 ? 1.0 / (1.0 + exp(-fi[0])) : exp(fi[0]) / (1.0 + exp(fi[0]));
            best = fi[0] > 0;
            bad |= json_array_append_new(p, jx_real(1.0 - q));
            bad |= json_array_append_new(p, jx_real(q));
        } else {
            double mx = fi[0], s = 0;
            for (size_t j = 1; j < k; j++)
                if (fi[j] > fi[best])
                    best = j;
            mx = fi[best];
            for (size_t j = 0; j < k; j++)
                s += exp(fi[j] - mx);
            for (size_t j = 0; j < k; j++)
                bad |= json_array_append_new(p, m->loss == LOSS_CROSS_ENTROPY
                                                    ? jx_real(exp(fi[j] - mx) / s)
                                                    : json_null());
        }
        bad |= json_array_append_new(idx, json_integer((json_int_t)best));
        bad |= json_array_append_new(pred, m->classes.is_string
                                               ? json_string(m->classes.strs[best])
                                               : json_integer((json_int_t)m->classes.ints[best]));
        bad |= json_array_append_new(prob, m->loss == LOSS_MSE ? (json_decref(p), json_null())
                                                               : p);
    }
    bad |= json_object_set_new(res, "indices", idx);
    bad |= json_object_set_new(res, "predictions", pred);
    bad |= json_object_set_new(res, "probabilities", prob);
    if (bad) {
        json_decref(res);
        res = NULL;
    }
out:
    if (!res && x && f && ws) /* the JSON, not the buffers, failed */
        tg_err_set(err, TG_ENOMEM, "out of memory");
    free(x);
    free(f);
    mlp_ws_free(ws);
    return res;
}
