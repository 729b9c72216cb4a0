/* kinds.c: the job-kind registry and the validation common to every request
 * (API.md section 2.1). The kinds' own rules live in api/kind_<name>.c. */
#include "kinds.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../core/embed.h"
#include "../core/preprocess.h"
#include "jx.h"

#define KIND(name) extern const tg_kind kind_##name;
#define TEST_KIND(name) extern const tg_kind kind_##name;
#define PLANNED_KIND(name)
#include "kinds.def"
#undef KIND
#undef TEST_KIND
#undef PLANNED_KIND

/* The registry, in the order of kinds.def. */
static const struct {
    const tg_kind *k;
    int test_only; /* registered only with --enable-test-kinds */
} registry[] = {
#define KIND(name) {&kind_##name, 0},
#define TEST_KIND(name) {&kind_##name, 1},
#define PLANNED_KIND(name)
#include "kinds.def"
#undef KIND
#undef TEST_KIND
#undef PLANNED_KIND
    {NULL, 0},
};

/* Kinds of the contract that this build does not run yet (their issues are open). */
static const char *const planned[] = {
#define KIND(name)
#define TEST_KIND(name)
#define PLANNED_KIND(name) #name,
#include "kinds.def"
#undef KIND
#undef TEST_KIND
#undef PLANNED_KIND
    NULL,
};

const tg_kind *kinds_find(const char *name, int test_kinds)
{
    for (size_t i = 0; registry[i].k; i++)
        if (strcmp(registry[i].k->name, name) == 0)
            return (registry[i].test_only && !test_kinds) ? NULL : registry[i].k;
    return NULL;
}

int kinds_params(const json_t *req, json_t *filled, json_t **params_out, tg_err *err)
{
    (void)req;
    json_t *p = json_object_get(filled, "params");
    if (!p) {
        p = json_object();
        if (!p || json_object_set_new(filled, "params", p))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if (!json_is_object(p))
        return tg_err_setf(err, TG_EINVAL, "params", "params must be an object");
    *params_out = p;
    return TG_OK;
}

int kinds_forbid(const json_t *req, const char *field, const char *why, tg_err *err)
{
    if (json_object_get(req, field))
        return tg_err_setf(err, TG_EINVAL, field, "%s is not allowed %s", field, why);
    return TG_OK;
}

int kinds_require(const json_t *req, const char *field, const char *why, tg_err *err)
{
    json_t *v = json_object_get(req, field);
    if (!v || json_is_null(v))
        return tg_err_setf(err, TG_EMISSING, field, "%s is required %s", field, why);
    return TG_OK;
}

static int check_notify_url(const char *u, tg_err *err)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return tg_err_setf(err, TG_EINVAL, "notify_url",
                           "notify_url must be an http:// or https:// URL");
    const char *host = strstr(u, "://") + 3;
    if (!*host || *host == '/' || strpbrk(u, " \t\r\n"))
        return tg_err_setf(err, TG_EINVAL, "notify_url", "notify_url is not a valid URL");
    return TG_OK;
}

int kinds_validate(const json_t *req, const kind_env *env, json_t **filled_out,
                   kind_plan *plan, tg_err *err)
{
    static const char *const top[] = {"kind", "data", "model", "params", "label",
                                      "timeout_s", "notify_url", NULL};
    const char *kname, *label, *url;
    double timeout;
    json_t *filled = NULL;
    unsigned mark = jx_oom_mark();
    int rc;

    *filled_out = NULL;
    if ((rc = jx_expect_object(req, "", err)))
        return rc;
    if ((rc = jx_check_fields(req, "", top, err)))
        return rc;
    if ((rc = jx_string_req(req, "kind", "", NULL, 64, &kname, err)))
        return rc;
    const tg_kind *k = kinds_find(kname, env->test_kinds);
    if (!k) {
        for (size_t i = 0; planned[i]; i++)
            if (strcmp(planned[i], kname) == 0)
                return tg_err_setf(err, TG_EINVAL, "kind",
                                   "kind \"%s\" is not available in this build yet", kname);
        char list[256] = "";
        size_t off = 0;
        for (size_t i = 0; registry[i].k; i++) {
            if (registry[i].test_only && !env->test_kinds)
                continue;
            int w = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                             registry[i].k->name);
            if (w > 0 && (size_t)w < sizeof list - off)
                off += (size_t)w;
        }
        return tg_err_setf(err, TG_EINVAL, "kind", "unknown kind \"%.64s\" (kinds: %s)", kname,
                           list);
    }
    if ((rc = jx_string(req, "label", "", NULL, NULL, 200, &label, err)))
        return rc;
    if ((rc = jx_number(req, "timeout_s", "", 0, 0, 1, 30.0 * 86400, 0, &timeout, err)))
        return rc;
    if ((rc = jx_string(req, "notify_url", "", NULL, NULL, 2048, &url, err)))
        return rc;
    if (url && (rc = check_notify_url(url, err)))
        return rc;
    json_t *m = json_object_get(req, "model");
    if (m && !json_is_string(m))
        return tg_err_setf(err, TG_EINVAL, "model", "model must be a model id (a string)");
    json_t *p = json_object_get(req, "params");
    if (p && !json_is_object(p))
        return tg_err_setf(err, TG_EINVAL, "params", "params must be an object");
    json_t *d = json_object_get(req, "data");
    if (d && !json_is_object(d) && !json_is_null(d)) /* null: the model's own data */
        return tg_err_setf(err, TG_EINVAL, "data", "data must be an object");

    filled = json_deep_copy(req);
    if (!filled)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    if (!json_object_get(filled, "params"))
        json_object_set_new(filled, "params", json_object());
    json_t *fp = json_object_get(filled, "params");
    if (!json_object_get(fp, "seed"))
        json_object_set_new(fp, "seed", json_integer(0));
    else {
        long long seed;
        if ((rc = jx_int(fp, "seed", "params", 0, 0, 9007199254740991LL, &seed, err)))
            goto out;
    }
    memset(plan, 0, sizeof *plan);
    rc = k->validate(req, env, filled, plan, err);
    if (rc == TG_OK && jx_oom_since(mark))
        rc = tg_err_set(err, TG_ENOMEM, "out of memory validating the request");
out:
    if (rc) {
        json_decref(filled);
        return rc;
    }
    *filled_out = filled;
    return TG_OK;
}

int kinds_run(const tg_kind *k, const json_t *request, job_io *io, json_t **result_out,
              json_t **partial_out, tg_err *err)
{
    unsigned mark = jx_oom_mark();
    *result_out = *partial_out = NULL;
    int rc = k->run(request, io, result_out, partial_out, err);
    if (rc == TG_OK && (!*result_out || jx_oom_since(mark))) {
        json_decref(*result_out);
        *result_out = NULL;
        rc = tg_err_set(err, TG_ENOMEM, "out of memory building the result");
    }
    return rc;
}

/* The OpenAPI document's schemas, parsed on first use (again after a failure). */
static json_t *schemas;
static pthread_mutex_t schemas_mu = PTHREAD_MUTEX_INITIALIZER;

/* The schemas (borrowed; they live for the process), or NULL when out of memory. */
static json_t *load_schemas(void)
{
    pthread_mutex_lock(&schemas_mu);
    if (!schemas) {
        unsigned mark = jx_oom_mark();
        size_t len;
        const unsigned char *doc = embed_find("openapi.json", &len);
        json_error_t je;
        json_t *root = doc ? json_loadb((const char *)doc, len, 0, &je) : NULL;
        json_t *s = json_object_get(json_object_get(root, "components"), "schemas");
        if (s && !jx_oom_since(mark))
            schemas = json_incref(s);
        json_decref(root);
    }
    json_t *s = schemas;
    pthread_mutex_unlock(&schemas_mu);
    return s;
}

/* A deep copy of v with every {"$ref": "#/components/schemas/X"} replaced by X (itself
 * resolved), to a bounded depth (the schemas are not recursive). */
static json_t *resolve_refs(json_t *v, int depth)
{
    if (depth > 32)
        return json_object();
    if (json_is_object(v)) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        const char *pre = "#/components/schemas/";
        if (ref && strncmp(ref, pre, strlen(pre)) == 0) {
            json_t *target = json_object_get(schemas, ref + strlen(pre));
            return target ? resolve_refs(target, depth + 1) : json_object();
        }
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(o, k, resolve_refs(x, depth + 1));
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, resolve_refs(x, depth + 1));
        return a;
    }
    return json_deep_copy(v);
}

/* The defaults of a resolved params schema's top-level properties: {"epochs": 100, ...},
 * null for a property without a default. A schema that is a oneOf of one object per
 * mode (ntk; shapley by `players`) gives an object from mode (the alternative's `mode`
 * or `players` enum, else its `title`: pac_bayes) to those, like
 * the `data` and `model` requirements that depend on the mode. New ref. */
static json_t *param_defaults(const json_t *schema)
{
    json_t *o = json_object();
    const json_t *alts = json_object_get(schema, "oneOf");
    size_t i;
    json_t *alt;
    if (json_is_array(alts)) {
        json_array_foreach(alts, i, alt) {
            json_t *props = json_object_get(alt, "properties");
            json_t *modes = json_object_get(json_object_get(props, "mode"), "enum");
            if (!modes) /* shapley: the mode is `players` */
                modes = json_object_get(json_object_get(props, "players"), "enum");
            const char *mode = json_string_value(json_array_get(modes, 0));
            if (!mode) /* modes not chosen by a `mode` param (pac_bayes): the title */
                mode = json_string_value(json_object_get(alt, "title"));
            if (mode)
                json_object_set_new(o, mode, param_defaults(alt));
        }
        return o;
    }
    const char *k;
    json_t *p;
    json_object_foreach(json_object_get(schema, "properties"), k, p) {
        json_t *d = json_object_get(p, "default");
        json_object_set_new(o, k, d ? json_deep_copy(d) : json_null());
    }
    return o;
}

/* Kind k of the registry as GET /v1/kinds lists it (full = 0: params as their
 * defaults) or as GET /v1/kinds/{name} shows it (full = 1: the params JSON Schema).
 * New ref; a failed allocation is seen by the caller's jx_oom_since. */
static json_t *describe_kind(const tg_kind *k, int test_only, json_t *all, int full)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "name", k->name, "description", k->summary,
                          "available", 1);
    if (!o)
        return NULL;
    if (test_only)
        json_object_set_new(o, "test_only", json_true());
    json_t *d = k->describe();
    json_object_update(o, d);
    json_decref(d);
    json_t *sch = k->schema ? json_object_get(all, k->schema) : NULL;
    json_t *params = sch ? resolve_refs(sch, 0) : json_object();
    json_object_set_new(o, "params", full ? json_incref(params) : param_defaults(params));
    json_decref(params);
    return o;
}

json_t *kinds_describe_all(int test_kinds)
{
    unsigned mark = jx_oom_mark();
    json_t *all = load_schemas();
    if (!all)
        return NULL;
    json_t *kinds = json_array();
    for (size_t i = 0; registry[i].k; i++) {
        if (registry[i].test_only && !test_kinds)
            continue;
        json_array_append_new(kinds, describe_kind(registry[i].k, registry[i].test_only, all, 0));
    }
    for (size_t i = 0; planned[i]; i++)
        json_array_append_new(kinds, json_pack("{s:s, s:b}", "name", planned[i],
                                               "available", 0));
    json_t *out = json_pack("{s:o}", "kinds", kinds);
    if (jx_oom_since(mark)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int kinds_describe_one(const char *name, int test_kinds, json_t **out)
{
    unsigned mark = jx_oom_mark();
    *out = NULL;
    for (size_t i = 0; planned[i]; i++)
        if (strcmp(planned[i], name) == 0) {
            *out = json_pack("{s:s, s:b}", "name", planned[i], "available", 0);
            break;
        }
    const tg_kind *k = *out ? NULL : kinds_find(name, test_kinds);
    if (!*out && !k)
        return TG_ENOTFOUND;
    if (k) {
        json_t *all = load_schemas();
        if (!all)
            return TG_ENOMEM;
        int test_only = 0;
        for (size_t i = 0; registry[i].k; i++)
            if (registry[i].k == k)
                test_only = registry[i].test_only;
        *out = describe_kind(k, test_only, all, 1);
    }
    if (!*out || jx_oom_since(mark)) {
        json_decref(*out);
        *out = NULL;
        return TG_ENOMEM;
    }
    return TG_OK;
}

/* ---- references, data and models ------------------------------------------------- */

/* Records a reference in plan (once per id and type). */
static int plan_ref(kind_plan *plan, kind_ref_type type, const char *id, tg_err *err)
{
    if (!plan || !id)
        return TG_OK;
    for (size_t i = 0; i < plan->n_refs; i++)
        if (plan->refs[i].type == type && strcmp(plan->refs[i].id, id) == 0)
            return TG_OK;
    if (plan->n_refs == KINDS_MAX_REFS || strlen(id) >= sizeof plan->refs[0].id)
        return tg_err_set(err, TG_EINTERNAL, "too many datasets and models in one job");
    plan->refs[plan->n_refs].type = type;
    snprintf(plan->refs[plan->n_refs].id, sizeof plan->refs[0].id, "%s", id);
    plan->n_refs++;
    return TG_OK;
}

int kinds_data(const json_t *req, json_t *filled, const char *kind, const kind_src *src,
               int allow_preprocessing, tg_dataset **ds_out, tg_standardize_stats *stats_out,
               kind_plan *plan, tg_err *err)
{
    char why[64];
    json_t *fdata = NULL;
    int rc;
    *ds_out = NULL;
    snprintf(why, sizeof why, "for kind %s", kind);
    if ((rc = kinds_require(req, "data", why, err)))
        return rc;
    rc = data_resolve(json_object_get(filled, "data"), &src->data, allow_preprocessing, &fdata,
                      ds_out, stats_out, err);
    if (rc)
        return rc;
    if (json_object_set_new(filled, "data", fdata))
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    if ((*ds_out)->n_train < 1)
        return tg_err_setf(err, TG_EINVAL, "data", "the training split is empty");
    return plan_ref(plan, KIND_REF_DATASET,
                    json_string_value(json_object_get(fdata, "dataset")), err);
}

int kinds_model(const kind_src *src, const char *field, const char *id, tg_model **out,
                kind_plan *plan, tg_err *err)
{
    *out = NULL;
    int rc = src->load_model ? src->load_model(src->model_ud, id, out, err) : TG_ENOTFOUND;
    if (rc == TG_ENOTFOUND)
        return tg_err_setf(err, TG_EINVAL, field, "no model %s", id);
    if (rc)
        return rc;
    return plan_ref(plan, KIND_REF_MODEL, id, err);
}

static void map_labels_of(const tg_model *m, const tg_dataset *ds, double *y, size_t n,
                          size_t *unknown)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)y[i];
        long j = -1;
        if (c < ds->classes.n) {
            if (ds->classes.is_string && m->classes.is_string)
                j = dataset_class_index_str(&m->classes, ds->classes.strs[c]);
            else if (!ds->classes.is_string && !m->classes.is_string)
                j = dataset_class_index_int(&m->classes, ds->classes.ints[c]);
        }
        if (j < 0) {
            y[i] = (double)m->n_classes;
            (*unknown)++;
        } else {
            y[i] = (double)j;
        }
    }
}

void kinds_map_labels(const tg_model *m, tg_dataset *ds, size_t *unknown)
{
    *unknown = 0;
    if (m->task != TG_TASK_CLASSIFICATION || ds->task != TG_TASK_CLASSIFICATION ||
        m->classes.n == 0)
        return;
    map_labels_of(m, ds, ds->y, ds->n_train, unknown);
    map_labels_of(m, ds, ds->y_test, ds->n_test, unknown);
}

int kinds_model_job_data(const json_t *req, json_t *filled, const char *kind,
                         const kind_src *src, const tg_model *m, kind_plan *plan,
                         tg_dataset **ds, tg_err *err)
{
    json_t *d = json_object_get(req, "data");
    int rc;
    if (d && !json_is_null(d))
        rc = kinds_data(req, filled, kind, src, 0, ds, NULL, plan, err);
    else if ((rc = kinds_model_data(m, kind, src, plan, ds, err)) == TG_OK &&
             json_object_set_new(filled, "data", json_null()))
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
    if (rc)
        return rc;
    tg_dataset *s = *ds;
    size_t K = m->arch.dims[m->arch.n_layers];
    if (s->d != m->arch.dims[0])
        return tg_err_setf(err, TG_EINVAL, "data", "the data has %zu features; the model takes %zu",
                           s->d, m->arch.dims[0]);
    int cls = m->task == TG_TASK_CLASSIFICATION;
    if (cls != (s->task == TG_TASK_CLASSIFICATION))
        return tg_err_setf(err, TG_EINVAL, "data", "the data is a %s task; the model's is %s",
                           cls ? "regression" : "classification",
                           cls ? "classification" : "regression");
    if (!cls) {
        if (s->n_outputs != K)
            return tg_err_setf(err, TG_EINVAL, "data",
                               "the data has %zu targets; the model has %zu outputs",
                               s->n_outputs, K);
        return TG_OK;
    }
    size_t unknown = 0;
    kinds_map_labels(m, s, &unknown);
    if (unknown)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "%zu points of the data have labels the model was not trained on",
                           unknown);
    size_t nc = m->loss == LOSS_LOGISTIC ? 2 : K;
    for (size_t i = 0; i < s->n_train + s->n_test; i++) {
        double y = i < s->n_train ? s->y[i] : s->y_test[i - s->n_train];
        if (!((size_t)y < nc))
            return tg_err_setf(err, TG_EINVAL, "data",
                               "the data has class index %zu; the model has %zu classes",
                               (size_t)y, nc);
    }
    return TG_OK;
}

int kinds_model_data(const tg_model *model, const char *kind, const kind_src *src,
                     kind_plan *plan, tg_dataset **ds_out, tg_err *err)
{
    json_t *tr = model->training;
    json_t *td = tr ? json_object_get(tr, "data") : NULL;
    json_t *tp = tr ? json_object_get(tr, "params") : NULL;
    tg_dataset *ds = NULL;
    int rc;
    *ds_out = NULL;
    if (!json_is_object(td))
        return tg_err_setf(err, TG_EMISSING, "data",
                           "data is required: model %s was uploaded and has no training data",
                           model->id);
    json_t *raw = json_deep_copy(td);
    json_t *tmp = raw ? json_pack("{s:o}", "data", raw) : NULL;
    if (!tmp)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    json_object_del(raw, "standardize");
    json_object_del(raw, "unit_norm");
    rc = kinds_data(tmp, tmp, kind, src, 0, &ds, NULL, plan, err);
    json_decref(tmp);
    if (rc) {
        dataset_free(ds);
        if (rc == TG_ENOMEM || !err)
            return rc;
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the training data of model %s cannot be loaded (%.180s); give data",
                           model->id, msg);
    }
    double f = json_number_value(json_object_get(tp, "validation_fraction"));
    if (f > 0) {
        /* kind_train's carve-out: dataset_split of the training part with the train seed;
         * the validation rows go to split's test part and are dropped with it. */
        tg_dataset *split = dataset_new();
        if (!split) {
            dataset_free(ds);
            return tg_err_set(err, TG_ENOMEM, "out of memory");
        }
        split->task = ds->task;
        split->d = ds->d;
        split->n_outputs = ds->n_outputs;
        split->classes.n = ds->classes.n; /* dataset_split stratifies by class; the names
                                           * stay ds's */
        split->n_train = ds->n_train;
        split->x = ds->x;
        split->y = ds->y;
        ds->x = ds->y = NULL;
        ds->n_train = 0;
        rc = dataset_split(split, f, (uint64_t)json_integer_value(json_object_get(tp, "seed")),
                           err);
        split->classes.n = 0;
        if (rc) {
            dataset_free(split);
            dataset_free(ds);
            return rc;
        }
        ds->x = split->x;
        ds->y = split->y;
        ds->n_train = split->n_train;
        split->x = split->y = NULL;
        dataset_free(split);
    }
    *ds_out = ds;
    return TG_OK;
}

/* ---- progress and arrays ----------------------------------------------------------- */

double kinds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kinds_stage_progress(void *ud, double fraction, const char *msg)
{
    kinds_stage *s = ud;
    double x = fraction < 0 ? -1 : s->lo + (s->hi - s->lo) * fraction;
    return s->io->progress(s->io->ud, x, msg, NULL);
}

int kinds_checkpoint(job_io *io, double fraction, const char *msg)
{
    return io->progress(io->ud, fraction, msg, NULL) ? TG_ECANCELLED : TG_OK;
}

/* The reference object of an array stored under `name`. NULL when out of memory. */
static json_t *array_ref(const job_io *io, const char *name, size_t rows, size_t cols,
                         const double *data)
{
    size_t n = rows * (cols ? cols : 1);
    char href[256];
    snprintf(href, sizeof href, "/v1/jobs/%s/arrays/%s", io->job_id, name);
    json_t *shape = cols ? json_pack("[I, I]", (json_int_t)rows, (json_int_t)cols)
                         : json_pack("[I]", (json_int_t)rows);
    json_t *ref = json_pack("{s:o, s:s, s:s}", "shape", shape, "dtype", "float64", "href",
                            href);
    if (ref && n <= KINDS_INLINE_MAX) {
        json_t *v = cols ? jx_real_matrix(data, rows, cols) : jx_real_array(data, rows);
        if (!v || json_object_set_new(ref, "data", v)) {
            json_decref(ref);
            return NULL;
        }
    }
    return ref;
}

/* Adds the reference of a stored array to res. */
static int add_ref(json_t *res, const job_io *io, const char *name, size_t rows, size_t cols,
                   const double *data, tg_err *err)
{
    json_t *ref = array_ref(io, name, rows, cols, data);
    if (!ref || json_object_set_new(res, name, ref))
        return tg_err_set(err, TG_ENOMEM, "out of memory encoding array %s", name);
    return TG_OK;
}

int kinds_put(json_t *res, job_io *io, const char *name, size_t rows, size_t cols,
              const double *data, tg_err *err)
{
    size_t n;
    if (tg_mul_size(rows, cols ? cols : 1, &n) || tg_mul_size(n, sizeof(double), &n))
        return tg_err_set(err, TG_EINTERNAL, "array %s too large", name);
    double t = kinds_now();
    int rc = io->put_array(io->ud, name, rows, cols, data, err);
    io->store_s += kinds_now() - t;
    return rc ? rc : add_ref(res, io, name, rows, cols, data, err);
}

int kinds_stream_begin(kinds_stream *sm, job_io *io, size_t rows, size_t cols, size_t n,
                       const char *const *name, const double *const *data, tg_err *err)
{
    TG_ASSERT(n <= KINDS_STREAM_MAX);
    memset(sm, 0, sizeof *sm);
    sm->io = io;
    sm->rows = rows;
    sm->cols = cols;
    sm->err = err;
    for (size_t k = 0; k < n; k++) {
        if (!name[k] || !data[k])
            continue;
        size_t i = sm->n++;
        sm->name[i] = name[k];
        sm->data[i] = data[k];
        int rc = io->array_begin(io->ud, name[k], rows, cols, data[k], &sm->h[i], err);
        if (rc) {
            kinds_stream_abort(sm);
            return rc;
        }
    }
    return TG_OK;
}

int kinds_stream_rows(void *ud, size_t rows)
{
    kinds_stream *sm = ud;
    double t = kinds_now();
    int rc = TG_OK;
    for (size_t k = 0; k < sm->n && rc == TG_OK; k++)
        if (sm->h[k])
            rc = sm->io->array_advance(sm->h[k], rows * sm->cols * sizeof(double), sm->err);
    sm->spent += kinds_now() - t;
    return rc;
}

void kinds_stream_abort(kinds_stream *sm)
{
    for (size_t k = 0; k < sm->n; k++)
        if (sm->h[k]) {
            sm->io->array_end(sm->h[k], 0, NULL);
            sm->h[k] = NULL;
        }
}

int kinds_stream_end(kinds_stream *sm, json_t *res, tg_err *err)
{
    if (!sm->io)
        return TG_OK;
    double t = kinds_now();
    int rc = TG_OK;
    for (size_t k = 0; k < sm->n; k++) {
        void *h = sm->h[k];
        sm->h[k] = NULL;
        if (!h)
            continue;
        if (rc == TG_OK && (rc = sm->io->array_end(h, 1, err)) == TG_OK)
            rc = add_ref(res, sm->io, sm->name[k], sm->rows, sm->cols, sm->data[k], err);
        else if (rc != TG_OK)
            sm->io->array_end(h, 0, NULL);
    }
    sm->io->store_s += sm->spent + (kinds_now() - t);
    sm->spent = 0;
    return rc;
}

int kinds_model_job(const json_t *req, json_t *filled, const char *kind, const kind_src *src,
                    json_t **params, tg_model **model, tg_dataset **ds, kind_plan *plan,
                    tg_err *err)
{
    char why[64];
    int rc;
    *model = NULL;
    *ds = NULL;
    snprintf(why, sizeof why, "for kind %s", kind);
    if ((rc = kinds_require(req, "model", why, err)) ||
        (rc = kinds_params(req, filled, params, err)))
        return rc;
    const char *mid = json_string_value(json_object_get(req, "model"));
    if (!mid)
        return tg_err_setf(err, TG_EINVAL, "model", "model must be a model id (a string)");
    if ((rc = kinds_model(src, "model", mid, model, plan, err)))
        return rc;
    return kinds_model_job_data(req, filled, kind, src, *model, plan, ds, err);
}
