/* data.c: the request side of the data contract (API.md section 3, see data.h): JSON
 * and CSV uploads and the `data` field of a job (sources, generator parameters, options,
 * filled-in defaults). The dataset object's JSON and the storage format are in
 * data_codec.c.
 *
 * Labels in JSON: the kind of every label of y and y_test decides the task when it is
 * not given: strings or JSON integers -> classification, any non-integer JSON number
 * (3.5 or 3.0) or a list of numbers -> regression. Strings mixed with numbers are
 * invalid_data. An explicit "classification" also takes integral reals (3.0 is class 3).
 *
 * Threading: reentrant; json_t values are borrowed, never shared across threads (the
 * filled-in `data` value is a deep copy).
 */
#include "data.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/activation.h"
#include "../core/csv.h"
#include "jx.h"

#define DATA_MAX_NAME_LEN 200
#define DATA_CSV_MAX_COLS ((size_t)100000)
#define DATA_CSV_MAX_FIELD ((size_t)4096)

static const char *const task_names[] = {"classification", "regression", NULL};

/* ---- labels from JSON ---------------------------------------------------------------- */

enum { LAB_INT, LAB_REAL, LAB_STR, LAB_ARRAY };

static int label_kind(const json_t *v)
{
    if (json_is_string(v))
        return LAB_STR;
    if (json_is_integer(v))
        return LAB_INT;
    if (json_is_real(v))
        return LAB_REAL;
    if (json_is_array(v))
        return LAB_ARRAY;
    return -1;
}

static const char *kind_text(int k)
{
    return k == LAB_STR ? "a string" : k == LAB_ARRAY ? "a list" : "a number";
}

/* Scans the labels of y and yt (may be NULL): their kinds must agree (strings, numbers
 * or lists). Sets *task_io when it is 0 (inferred) and checks it otherwise. */
static int labels_scan(const json_t *y, const json_t *yt, const char *py, const char *pyt,
                       int *task_io, tg_err *err)
{
    char fb[300];
    int first = -1, any_real = 0;
    for (int part = 0; part < 2; part++) {
        const json_t *a = part ? yt : y;
        size_t n = a ? json_array_size(a) : 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(a, i);
            int k = label_kind(v);
            jx_index_path(fb, sizeof fb, part ? pyt : py, i);
            if (k < 0)
                return tg_err_setf(err, TG_EDATA, fb,
                                   "%s must be a number, a string or a list of numbers", fb);
            if (first < 0)
                first = k;
            int group = k == LAB_STR ? 0 : k == LAB_ARRAY ? 1 : 2;
            int group0 = first == LAB_STR ? 0 : first == LAB_ARRAY ? 1 : 2;
            if (group != group0)
                return tg_err_setf(err, TG_EDATA, fb,
                                   "mixed label types: %s is %s, %s[0] is %s", fb,
                                   kind_text(k), py, kind_text(first));
            if (k == LAB_REAL)
                any_real = 1;
            if (*task_io == TG_TASK_CLASSIFICATION && k == LAB_ARRAY)
                return tg_err_setf(err, TG_EDATA, fb,
                                   "%s must be a class label (an integer or a string)", fb);
            if (*task_io == TG_TASK_REGRESSION && k == LAB_STR)
                return tg_err_setf(err, TG_EDATA, fb,
                                   "%s must be a number (the task is regression)", fb);
        }
    }
    if (*task_io == 0)
        *task_io = (first == LAB_STR || (first == LAB_INT && !any_real))
                       ? TG_TASK_CLASSIFICATION
                       : TG_TASK_REGRESSION;
    return TG_OK;
}

/* Classification labels of one part into ints or strs (n entries, allocated by the
 * caller); kinds were checked by labels_scan. */
static int labels_collect(const json_t *a, const char *path, long long *ints,
                          const char **strs, tg_err *err)
{
    char fb[300];
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        jx_index_path(fb, sizeof fb, path, i);
        if (strs) {
            size_t len = json_string_length(v);
            strs[i] = json_string_value(v);
            if (len > DATA_MAX_LABEL_LEN || strlen(strs[i]) != len)
                return tg_err_setf(err, TG_EDATA, fb,
                                   "%s must be a label of at most %d bytes without NUL", fb,
                                   DATA_MAX_LABEL_LEN);
        } else if (json_is_integer(v)) {
            ints[i] = json_integer_value(v);
        } else {
            double r = json_real_value(v);
            if (!(isfinite(r) && r == floor(r) && fabs(r) <= 9007199254740992.0))
                return tg_err_setf(err, TG_EDATA, fb,
                                   "%s must be an integer class label (got %.17g)", fb, r);
            ints[i] = (long long)r;
        }
    }
    return TG_OK;
}

static int labels_classification(tg_dataset *ds, const json_t *y, const json_t *yt,
                                 const char *py, const char *pyt, tg_err *err)
{
    int is_str = json_is_string(json_array_get(y, 0));
    size_t n = ds->n_train, m = ds->n_test;
    long long *ints = NULL;
    const char **strs = NULL;
    int rc;

    if (is_str)
        strs = tg_alloc_array(n + m, 1, sizeof *strs);
    else
        ints = tg_alloc_array(n + m, 1, sizeof *ints);
    if (is_str ? !strs : !ints)
        return tg_err_set(err, TG_ENOMEM, "out of memory reading the labels");
    rc = labels_collect(y, py, ints, strs, err);
    if (!rc && yt)
        rc = labels_collect(yt, pyt, ints ? ints + n : NULL, strs ? strs + n : NULL, err);
    if (!rc)
        rc = is_str ? dataset_labels_str(ds, strs, m ? strs + n : NULL, err)
                    : dataset_labels_int(ds, ints, m ? ints + n : NULL, err);
    if (!rc && ds->classes.n > DATA_MAX_CLASSES)
        rc = tg_err_setf(err, TG_ETOOLARGE, py, "%s has more than %d classes", py,
                         DATA_MAX_CLASSES);
    free(ints);
    free(strs);
    return rc;
}

/* x, y, x_test, y_test and task of obj (an upload body, path "", or data.inline) into a
 * new dataset. */
static int decode_xy(const json_t *obj, const char *path, tg_dataset **out, tg_err *err)
{
    char px[256], py[256], pxt[256], pyt[256];
    const json_t *y, *xt, *yt;
    const char *task_s;
    tg_dataset *ds = NULL;
    size_t rows, cols, q;
    int task = 0, rc;

    *out = NULL;
    jx_path(px, sizeof px, path, "x");
    jx_path(py, sizeof py, path, "y");
    jx_path(pxt, sizeof pxt, path, "x_test");
    jx_path(pyt, sizeof pyt, path, "y_test");
    rc = jx_string(obj, "task", path, NULL, task_names, 0, &task_s, err);
    if (rc)
        return rc;
    if (task_s)
        task = strcmp(task_s, "classification") == 0 ? TG_TASK_CLASSIFICATION
                                                     : TG_TASK_REGRESSION;
    if (!json_object_get(obj, "x"))
        return tg_err_setf(err, TG_EMISSING, px, "%s is required", px);
    y = json_object_get(obj, "y");
    if (!y)
        return tg_err_setf(err, TG_EMISSING, py, "%s is required", py);
    xt = json_object_get(obj, "x_test");
    yt = json_object_get(obj, "y_test");
    if (json_is_null(xt))
        xt = NULL;
    if (json_is_null(yt))
        yt = NULL;
    if (!xt != !yt)
        return tg_err_setf(err, TG_EMISSING, xt ? pyt : pxt, "%s is required with %s",
                           xt ? pyt : pxt, xt ? pxt : pyt);

    ds = dataset_new();
    if (!ds)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    rc = jx_matrix(json_object_get(obj, "x"), px, 0, DATA_MAX_ELEMS, &rows, &cols, &ds->x,
                   err);
    if (rc)
        goto out;
    if (rows > DATA_MAX_ROWS) {
        rc = tg_err_setf(err, TG_ETOOLARGE, px, "%s has more than %zu rows", px,
                         DATA_MAX_ROWS);
        goto out;
    }
    ds->n_train = rows;
    ds->d = cols;
    if (xt) {
        rc = jx_matrix(xt, pxt, 0, DATA_MAX_ELEMS - rows * cols, &rows, &cols, &ds->x_test,
                       err);
        if (rc)
            goto out;
        if (rows > DATA_MAX_ROWS) {
            rc = tg_err_setf(err, TG_ETOOLARGE, pxt, "%s has more than %zu rows", pxt,
                             DATA_MAX_ROWS);
            goto out;
        }
        if (cols != ds->d) {
            rc = tg_err_setf(err, TG_EDATA, pxt, "%s has %zu columns, %s has %zu", pxt, cols,
                             px, ds->d);
            goto out;
        }
        ds->n_test = rows;
    }
    for (int part = 0; part < 2; part++) {
        const json_t *a = part ? yt : y;
        size_t want = part ? ds->n_test : ds->n_train;
        const char *pa = part ? pyt : py;
        if (part && !a)
            break;
        if (!json_is_array(a)) {
            rc = tg_err_setf(err, TG_EDATA, pa, "%s must be a list of labels or targets", pa);
            goto out;
        }
        if (json_array_size(a) != want) {
            rc = tg_err_setf(err, TG_EDATA, pa, "%s has %zu entries, %s has %zu rows", pa,
                             json_array_size(a), part ? pxt : px, want);
            goto out;
        }
    }
    rc = labels_scan(y, yt, py, pyt, &task, err);
    if (rc)
        goto out;
    if (task == TG_TASK_CLASSIFICATION) {
        rc = labels_classification(ds, y, yt, py, pyt, err);
        if (rc)
            goto out;
    } else {
        ds->task = TG_TASK_REGRESSION;
        rc = jx_matrix(y, py, 1, DATA_MAX_ELEMS, &rows, &q, &ds->y, err);
        if (rc)
            goto out;
        ds->n_outputs = q;
        if (yt) {
            rc = jx_matrix(yt, pyt, 1, DATA_MAX_ELEMS, &rows, &q, &ds->y_test, err);
            if (rc)
                goto out;
            if (q != ds->n_outputs) {
                rc = tg_err_setf(err, TG_EDATA, pyt, "%s has %zu outputs per row, %s has %zu",
                                 pyt, q, py, ds->n_outputs);
                goto out;
            }
        }
    }
    rc = dataset_check(ds, err);
    if (rc)
        goto out;
    *out = ds;
    ds = NULL;
out:
    dataset_free(ds);
    return rc;
}

/* ---- uploads ------------------------------------------------------------------------ */

int data_check_name(const char *name, tg_err *err)
{
    size_t len = strlen(name);
    if (len > DATA_MAX_NAME_LEN)
        return tg_err_setf(err, TG_EINVAL, "name", "name is longer than %d bytes",
                           DATA_MAX_NAME_LEN);
    if (len == 18 && name[0] == 'd' && name[1] == '_' &&
        strspn(name + 2, "0123456789abcdef") == 16)
        return tg_err_setf(err, TG_EINVAL, "name",
                           "name \"%s\" has the form of a dataset id; choose another", name);
    return TG_OK;
}

int data_upload_json(const json_t *body, char **name_out, tg_dataset **out, tg_err *err)
{
    static const char *const fields[] = {"name", "task", "x", "y", "x_test", "y_test", NULL};
    const char *name;
    int rc;

    *out = NULL;
    *name_out = NULL;
    rc = jx_expect_object(body, "", err);
    if (!rc)
        rc = jx_check_fields(body, "", fields, err);
    if (!rc)
        rc = jx_string(body, "name", "", "", NULL, DATA_MAX_NAME_LEN, &name, err);
    if (!rc)
        rc = data_check_name(name, err);
    if (rc)
        return rc;
    rc = decode_xy(body, "", out, err);
    if (rc)
        return rc;
    size_t len = strlen(name) + 1;
    *name_out = malloc(len);
    if (!*name_out) {
        dataset_free(*out);
        *out = NULL;
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    memcpy(*name_out, name, len);
    return TG_OK;
}

int data_upload_csv(const char *buf, size_t len, const data_csv_opts *opts,
                    tg_dataset **out, tg_err *err)
{
    const csv_limits lim = {.max_rows = DATA_MAX_ROWS, .max_cols = DATA_CSV_MAX_COLS,
                            .max_field_len = DATA_CSV_MAX_FIELD};
    csv_table *t = NULL;
    tg_dataset *ds = NULL;
    int task = 0, rc;
    size_t target, elems;

    *out = NULL;
    if (opts->task) {
        if (strcmp(opts->task, "classification") == 0)
            task = TG_TASK_CLASSIFICATION;
        else if (strcmp(opts->task, "regression") == 0)
            task = TG_TASK_REGRESSION;
        else
            return tg_err_setf(err, TG_EINVAL, "task",
                               "task must be one of: classification, regression (got "
                               "\"%.40s\")", opts->task);
    }
    if (!(opts->test_fraction >= 0.0 && opts->test_fraction < 1.0))
        return tg_err_setf(err, TG_EINVAL, "test_fraction",
                           "test_fraction must be >= 0 and < 1 (got %.17g)",
                           opts->test_fraction);
    rc = csv_parse(buf, len, &lim, &t, err);
    if (rc)
        goto out;
    if (opts->target) {
        long j = csv_find_column(t, opts->target);
        if (j < 0) {
            rc = tg_err_setf(err, TG_EINVAL, "target", "target: no column named \"%.80s\"",
                             opts->target);
            goto out;
        }
        target = (size_t)j;
    } else {
        target = t->n_cols - 1;
    }
    if (tg_mul_size(t->n_rows, t->n_cols, &elems) || elems > DATA_MAX_ELEMS) {
        rc = tg_err_setf(err, TG_ETOOLARGE, "", "the CSV has more than %zu values",
                         DATA_MAX_ELEMS);
        goto out;
    }
    rc = dataset_from_csv(t, target, task, &ds, err);
    if (rc)
        goto out;
    if (ds->task == TG_TASK_CLASSIFICATION && ds->classes.n > DATA_MAX_CLASSES) {
        rc = tg_err_setf(err, TG_ETOOLARGE, csv_header(t, target),
                         "column %.80s has more than %d classes", csv_header(t, target),
                         DATA_MAX_CLASSES);
        goto out;
    }
    rc = dataset_split(ds, opts->test_fraction, opts->seed, err);
    if (rc == TG_EINVAL)
        rc = tg_err_setf(err, rc, "test_fraction",
                         "test_fraction %.17g leaves no training rows", opts->test_fraction);
    if (rc)
        goto out;
    *out = ds;
    ds = NULL;
out:
    dataset_free(ds);
    csv_free(t);
    return rc;
}

/* ---- the `data` field of a job ------------------------------------------------------ */

static const char *const option_fields[] = {"classes",   "binary",      "test_fraction",
                                            "split_seed", "max_train",  "max_test",
                                            "subset_seed", "standardize", "unit_norm"};
#define N_OPTION_FIELDS (sizeof option_fields / sizeof option_fields[0])

/* A size parameter: an integer >= 1 (TG_EINVAL), at most max (TG_ETOOLARGE). */
static int size_param(const json_t *data, const char *key, long long def, size_t max,
                      size_t *out, tg_err *err)
{
    char fb[64];
    long long v;
    int rc = jx_int(data, key, "data", def, 1, LLONG_MAX, &v, err);
    if (rc)
        return rc;
    if ((unsigned long long)v > max)
        return tg_err_setf(err, TG_ETOOLARGE, jx_path(fb, sizeof fb, "data", key),
                           "%s must be at most %zu (got %lld)", fb, max, v);
    *out = (size_t)v;
    return TG_OK;
}

/* The limits on products of generator parameters (core/generators.h), in the order the
 * generator checks them, naming the request fields. */
static int gen_limits(int g, const tg_gen_params *p, tg_err *err)
{
    size_t prod;
    if (dataset_gen_takes(g, "d") &&
        (tg_mul_size(p->n, p->d, &prod) || prod > DATASET_GEN_MAX_ELEMS))
        return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                           "data.n * data.d must be at most %zu (got %zu x %zu)",
                           DATASET_GEN_MAX_ELEMS, p->n, p->d);
    if (!dataset_gen_takes(g, "width"))
        return TG_OK;
    if (tg_mul_size(p->width, p->d, &prod) || prod > DATASET_GEN_MAX_ELEMS)
        return tg_err_setf(err, TG_ETOOLARGE, "data.width",
                           "data.width * data.d must be at most %zu", DATASET_GEN_MAX_ELEMS);
    if (tg_mul_size(p->n, p->width, &prod) || prod > DATASET_GEN_MAX_ACTS)
        return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                           "data.n * data.width must be at most %zu", DATASET_GEN_MAX_ACTS);
    if (tg_mul3_size(p->n, p->width, p->d, &prod) || prod > DATASET_GEN_MAX_WORK)
        return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                           "data.n * data.width * data.d must be at most %zu",
                           DATASET_GEN_MAX_WORK);
    return TG_OK;
}

/* Generator parameters of generator g into p, each default written into filled. */
static int gen_params(const json_t *data, int g, json_t *filled, tg_gen_params *p,
                      tg_err *err)
{
    long long seed;
    int rc;

    memset(p, 0, sizeof *p);
    rc = size_param(data, "n", 1000, DATASET_GEN_MAX_N, &p->n, err);
    if (!rc)
        rc = jx_int(data, "seed", "data", 0, 0, LLONG_MAX, &seed, err);
    if (rc)
        return rc;
    p->seed = (uint64_t)seed;
    jx_default(filled, "n", json_integer((json_int_t)p->n));
    jx_default(filled, "seed", json_integer(seed));
    if (dataset_gen_takes(g, "noise")) {
        rc = jx_number(data, "noise", "data", dataset_generators[g].noise, 0, 0, INFINITY, 0,
                       &p->noise, err);
        if (rc)
            return rc;
        jx_default(filled, "noise", json_real(p->noise));
    }
    if (dataset_gen_takes(g, "d")) {
        rc = size_param(data, "d", 10, DATASET_GEN_MAX_D, &p->d, err);
        if (rc)
            return rc;
        jx_default(filled, "d", json_integer((json_int_t)p->d));
    }
    if (dataset_gen_takes(g, "centers")) {
        rc = size_param(data, "centers", 3, DATASET_GEN_MAX_CENTERS, &p->centers, err);
        if (!rc)
            rc = jx_number(data, "spread", "data", 1.0, 0, 0, INFINITY, 0, &p->spread, err);
        if (rc)
            return rc;
        jx_default(filled, "centers", json_integer((json_int_t)p->centers));
        jx_default(filled, "spread", json_real(p->spread));
    }
    if (dataset_gen_takes(g, "width")) {
        rc = size_param(data, "width", 64, DATASET_GEN_MAX_WIDTH, &p->width, err);
        if (rc)
            return rc;
        jx_default(filled, "width", json_integer((json_int_t)p->width));
    }
    if (dataset_gen_takes(g, "activation")) {
        rc = jx_string(data, "activation", "data", "relu", activation_names, 0,
                       &p->activation, err);
        if (rc)
            return rc;
        jx_default(filled, "activation", json_string(p->activation));
    }
    return gen_limits(g, p, err);
}

/* A list of original labels (data.classes, data.binary.positive) typed like the
 * dataset's classes; ints / strs are new (caller frees), strings borrowed from v. */
static int label_list(const json_t *v, const char *path, const tg_classes *c,
                      tg_label_list *l, tg_err *err)
{
    char fb[300];
    size_t n;
    memset(l, 0, sizeof *l);
    if (!json_is_array(v))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be a list of class labels", path);
    n = json_array_size(v);
    if (n > DATA_MAX_CLASSES)
        return tg_err_setf(err, TG_EINVAL, path, "%s has more than %d labels", path,
                           DATA_MAX_CLASSES);
    if (c->is_string)
        l->strs = tg_alloc_array(n, 1, sizeof(char *));
    else
        l->ints = tg_alloc_array(n, 1, sizeof(long long));
    if (c->is_string ? !l->strs : !l->ints)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        jx_index_path(fb, sizeof fb, path, i);
        if (c->is_string) {
            if (!json_is_string(e))
                return tg_err_setf(err, TG_EINVAL, fb,
                                   "%s must be a string (the dataset's labels are strings)",
                                   fb);
            l->strs[i] = (char *)json_string_value(e); /* borrowed, never written */
        } else {
            int rc = jx_as_int(e, fb, LLONG_MIN, LLONG_MAX, &l->ints[i], err);
            if (rc)
                return rc;
        }
    }
    return TG_OK;
}

/* null or an integer >= 1; 0 stands for no limit. */
static int limit_option(const json_t *data, const char *key, size_t *out, tg_err *err)
{
    char fb[64];
    const json_t *v = json_object_get(data, key);
    long long x;
    *out = 0;
    if (!v || json_is_null(v))
        return TG_OK;
    int rc = jx_as_int(v, jx_path(fb, sizeof fb, "data", key), 1, LLONG_MAX, &x, err);
    if (!rc)
        *out = (size_t)x;
    return rc;
}

/* Rewords an error of core/preprocess.h for the request: the option name that starts
 * err->field (and, with the same words, err->msg) becomes the request field. */
static int options_err(int rc, tg_err *err)
{
    static const struct {
        const char *core, *req;
    } names[] = {{"binary_positive", "data.binary.positive"},
                 {"classes", "data.classes"},
                 {"test_fraction", "data.test_fraction"}};
    char field[sizeof err->field], msg[sizeof err->msg];
    if (!rc || !err)
        return rc;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].core);
        if (strncmp(err->field, names[i].core, n) != 0 ||
            (err->field[n] != '\0' && err->field[n] != '['))
            continue;
        snprintf(field, sizeof field, "%s%.100s", names[i].req, err->field + n);
        if (strncmp(err->msg, names[i].core, n) == 0)
            snprintf(msg, sizeof msg, "%s%.220s", names[i].req, err->msg + n);
        else
            snprintf(msg, sizeof msg, "%.250s", err->msg);
        memcpy(err->field, field, sizeof field);
        memcpy(err->msg, msg, sizeof msg);
        break;
    }
    return rc;
}

/* The options of API.md 3.2 against dataset ds (possibly a shell), filling defaults. */
static int parse_options(const json_t *data, const tg_dataset *ds, int is_builtin,
                         int allow_pre, json_t *filled, tg_data_options *o, tg_err *err)
{
    const json_t *v;
    long long seed;
    int cls = ds->task == TG_TASK_CLASSIFICATION, has_test = ds->n_test > 0, rc;

    v = json_object_get(data, "classes");
    if (v && !json_is_null(v)) {
        if (!cls)
            return tg_err_setf(err, TG_EINVAL, "data.classes",
                               "data.classes applies to classification data only");
        o->has_classes = 1;
        rc = label_list(v, "data.classes", &ds->classes, &o->classes, err);
        if (rc)
            return rc;
    }
    v = json_object_get(data, "binary");
    if (v && !json_is_null(v)) {
        static const char *const bf[] = {"positive", NULL};
        const json_t *pos;
        if (!cls)
            return tg_err_setf(err, TG_EINVAL, "data.binary",
                               "data.binary applies to classification data only");
        rc = jx_expect_object(v, "data.binary", err);
        if (!rc)
            rc = jx_check_fields(v, "data.binary", bf, err);
        if (rc)
            return rc;
        pos = json_object_get(v, "positive");
        if (!pos)
            return tg_err_setf(err, TG_EMISSING, "data.binary.positive",
                               "data.binary.positive is required");
        o->has_binary = 1;
        rc = label_list(pos, "data.binary.positive", &ds->classes, &o->binary_positive, err);
        if (rc)
            return rc;
    }
    o->has_test_fraction = json_object_get(data, "test_fraction") != NULL;
    if (has_test && o->has_test_fraction)
        return tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                           "data.test_fraction does not apply: the dataset already has a "
                           "test split");
    if (has_test && json_object_get(data, "split_seed"))
        return tg_err_setf(err, TG_EINVAL, "data.split_seed",
                           "data.split_seed does not apply: the dataset already has a "
                           "test split");
    rc = jx_number(data, "test_fraction", "data", is_builtin ? 0.2 : 0.0, 0, 0, 1, 1,
                   &o->test_fraction, err);
    if (!rc)
        rc = jx_int(data, "split_seed", "data", 0, 0, LLONG_MAX, &seed, err);
    if (rc)
        return rc;
    o->split_seed = (uint64_t)seed;
    rc = limit_option(data, "max_train", &o->max_train, err);
    if (!rc)
        rc = limit_option(data, "max_test", &o->max_test, err);
    if (!rc)
        rc = jx_int(data, "subset_seed", "data", 0, 0, LLONG_MAX, &seed, err);
    if (rc)
        return rc;
    o->subset_seed = (uint64_t)seed;
    if (allow_pre) {
        rc = jx_bool(data, "standardize", "data", 0, &o->standardize, err);
        if (!rc)
            rc = jx_bool(data, "unit_norm", "data", 0, &o->unit_norm, err);
        if (rc)
            return rc;
    }
    rc = options_err(dataset_check_options(ds, o, err), err);
    if (rc)
        return rc;

    if (cls) {
        jx_default(filled, "classes", json_null());
        jx_default(filled, "binary", json_null());
    }
    if (!has_test) {
        jx_default(filled, "test_fraction", json_real(o->test_fraction));
        jx_default(filled, "split_seed", json_integer((json_int_t)o->split_seed));
    }
    jx_default(filled, "max_train", json_null());
    jx_default(filled, "max_test", json_null());
    jx_default(filled, "subset_seed", json_integer((json_int_t)o->subset_seed));
    if (allow_pre) {
        jx_default(filled, "standardize", json_false());
        jx_default(filled, "unit_norm", json_false());
    }
    return TG_OK;
}

int data_resolve(const json_t *data, const data_env *env, int allow_preprocessing,
                 json_t **filled_out, tg_dataset **ds_out, tg_standardize_stats *stats_out,
                 tg_err *err)
{
    static const char *const sources[] = {"dataset", "builtin", "inline"};
    const char *allowed[N_OPTION_FIELDS + 8];
    const char *src = NULL, *name = NULL;
    tg_data_options opt = {0};
    tg_dataset *ds = NULL;
    json_t *filled = NULL;
    size_t na = 0;
    int n_src = 0, kind = 0, g = -1, rc;

    *filled_out = NULL;
    if (ds_out)
        *ds_out = NULL;
    if (stats_out)
        memset(stats_out, 0, sizeof *stats_out);
    rc = jx_expect_object(data, "data", err);
    if (rc)
        return rc;
    for (int i = 0; i < 3; i++)
        if (json_object_get(data, sources[i])) {
            n_src++;
            src = sources[i];
        }
    if (n_src != 1)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "data must have exactly one of \"dataset\", \"builtin\" and "
                           "\"inline\" (got %d)", n_src);
    if (!allow_preprocessing)
        for (int i = 0; i < 2; i++) {
            const char *key = i ? "unit_norm" : "standardize";
            if (json_object_get(data, key)) {
                char fb[64];
                jx_path(fb, sizeof fb, "data", key);
                return tg_err_setf(err, TG_EUNKNOWN, fb,
                                   "%s does not apply to a job with a model (the model's "
                                   "preprocessing is used)", fb);
            }
        }
    allowed[na++] = src;
    for (size_t i = 0; i < N_OPTION_FIELDS; i++)
        if (allow_preprocessing || i < N_OPTION_FIELDS - 2)
            allowed[na++] = option_fields[i];
    if (strcmp(src, "builtin") == 0) {
        rc = jx_string_req(data, "builtin", "data", dataset_builtin_names, 0, &name, err);
        if (rc)
            return rc;
        kind = dataset_builtin_kind(name);
        if (kind == 2) {
            g = dataset_gen_find(name);
            TG_ASSERT(g >= 0);
            allowed[na++] = "n";
            allowed[na++] = "seed";
            for (int i = 0; dataset_generators[g].params[i]; i++)
                allowed[na++] = dataset_generators[g].params[i];
        }
    }
    allowed[na] = NULL;
    rc = jx_check_fields(data, "data", allowed, err);
    if (rc)
        return rc;
    filled = json_deep_copy(data);
    if (!filled)
        return tg_err_set(err, TG_ENOMEM, "out of memory");

    if (strcmp(src, "dataset") == 0) {
        const char *id;
        tg_err lerr;
        rc = jx_string_req(data, "dataset", "data", NULL, 256, &id, err);
        if (rc)
            goto out;
        if (!env || !env->load) {
            rc = tg_err_setf(err, TG_EINVAL, "data.dataset",
                             "data.dataset: uploaded datasets are not available here");
            goto out;
        }
        tg_err_clear(&lerr);
        char rid[DATA_ID_LEN];
        if (env->resolve_id) {
            /* A name becomes the id, in the filled request too. */
            rc = env->resolve_id(env->ud, id, rid, sizeof rid, &lerr);
            if (rc == TG_OK) {
                json_t *v = json_string(rid);
                if (!v || json_object_set_new(filled, "dataset", v)) {
                    rc = tg_err_set(err, TG_ENOMEM, "out of memory");
                    goto out;
                }
                id = rid;
            }
        }
        if (rc == TG_OK)
            rc = env->load(env->ud, id, &ds, &lerr);
        if (rc == TG_ENOTFOUND) {
            rc = tg_err_setf(err, TG_EINVAL, "data.dataset",
                             "data.dataset: there is no dataset \"%.100s\"", id);
            goto out;
        }
        if (rc) {
            if (err)
                *err = lerr;
            goto out;
        }
    } else if (kind == 1) {
        rc = dataset_builtin_load(name, &ds, err);
        if (rc)
            goto out;
    } else if (kind == 2) {
        tg_gen_params p;
        rc = gen_params(data, g, filled, &p, err);
        if (rc)
            goto out;
        rc = ds_out ? dataset_generate(name, &p, &ds, err)
                    : dataset_generate_shell(name, &p, &ds, err);
        if (rc)
            goto out;
    } else {
        static const char *const inl[] = {"x", "y", "x_test", "y_test", "task", NULL};
        const json_t *v = json_object_get(data, "inline");
        rc = jx_expect_object(v, "data.inline", err);
        if (!rc)
            rc = jx_check_fields(v, "data.inline", inl, err);
        if (!rc)
            rc = decode_xy(v, "data.inline", &ds, err);
        if (rc)
            goto out;
        jx_default(json_object_get(filled, "inline"), "task",
                   json_string(data_task_name(ds->task)));
    }

    rc = parse_options(data, ds, kind != 0, allow_preprocessing, filled, &opt, err);
    if (rc)
        goto out;
    /* Options are applied whenever the data is at hand (only a generator's shell has no
     * arrays), so that data-dependent errors (a split leaving no training point) are
     * found at validation too. */
    if (ds->x) {
        rc = options_err(dataset_apply_options(ds, &opt, ds_out ? stats_out : NULL, err),
                         err);
        if (rc)
            goto out;
    }
    if (ds_out) {
        *ds_out = ds;
        ds = NULL;
    }
    *filled_out = filled;
    filled = NULL;
out:
    free(opt.classes.ints);
    free((void *)opt.classes.strs);
    free(opt.binary_positive.ints);
    free((void *)opt.binary_positive.strs);
    json_decref(filled);
    dataset_free(ds);
    return rc;
}

/* ---- GET /v1/builtins ---------------------------------------------------------------- */

/* One line on each builtin of dataset_builtin_names (API.md 3.2); a unit test checks
 * that every builtin has one. */
static const struct {
    const char *name, *description;
} builtin_descriptions[] = {
    {"iris", "Fisher's iris flowers: 4 measurements (cm), 3 species"},
    {"wine", "UCI wine recognition: 13 chemical analyses, 3 cultivars"},
    {"breast_cancer", "Wisconsin diagnostic breast cancer: 30 features of cell nuclei, "
                      "malignant or benign"},
    {"digits", "UCI optical handwritten digits: 8x8 images (64 pixels, 0-16), 10 classes"},
    {"two_moons", "two interleaving half circles in 2-D with Gaussian noise, 2 classes"},
    {"xor", "uniform points of [-1, 1]^2, class 1 where x1 * x2 < 0, with Gaussian noise, "
            "2 classes"},
    {"blobs", "Gaussian clusters around centers drawn uniformly in [-5, 5]^d, one class per "
              "center"},
    {"linear", "regression: y = w.x + noise, x ~ N(0, I), w ~ N(0, I/d)"},
    {"teacher", "regression: Gaussian inputs, labels from a random two-layer teacher network "
                "with the given activation, plus noise"},
    {"sphere", "regression: Gaussian inputs projected to the unit sphere, labels from a "
               "random two-layer relu teacher"},
};

const char *data_builtin_description(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_descriptions / sizeof builtin_descriptions[0]; i++)
        if (strcmp(builtin_descriptions[i].name, name) == 0)
            return builtin_descriptions[i].description;
    return NULL;
}

json_t *data_builtins_json(tg_err *err)
{
    unsigned mark = jx_oom_mark();
    json_t *sets = json_array(), *gens = json_array(), *out = NULL;
    tg_dataset *ds = NULL;
    int failed = 0; /* err set by a callee */
    for (size_t i = 0; dataset_builtin_names[i]; i++) {
        const char *name = dataset_builtin_names[i];
        const char *desc = data_builtin_description(name);
        json_t *o;
        if (dataset_builtin_kind(name) == 1) {
            if ((failed = dataset_builtin_load(name, &ds, err) != TG_OK))
                goto out;
            o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "name", name, "task",
                          data_task_name(ds->task), "n", (json_int_t)(ds->n_train + ds->n_test),
                          "d", (json_int_t)ds->d, "n_classes",
                          (json_int_t)(ds->task == TG_TASK_CLASSIFICATION ? ds->classes.n : 0),
                          "description", desc ? desc : "");
            json_array_append_new(sets, o);
        } else {
            /* The defaults are what a job's filled request shows for {"builtin": name}. */
            int g = dataset_gen_find(name);
            tg_gen_params p;
            json_t *empty = json_object(), *params = json_object();
            int rc = empty && params ? gen_params(empty, g, params, &p, err)
                                     : tg_err_set(err, TG_ENOMEM, "out of memory");
            if (!rc)
                rc = dataset_generate_shell(name, &p, &ds, err);
            json_decref(empty);
            if (rc) {
                json_decref(params);
                failed = 1;
                goto out;
            }
            o = json_pack("{s:s, s:s, s:s, s:o}", "name", name, "description",
                          desc ? desc : "", "task", data_task_name(ds->task), "params", params);
            json_array_append_new(gens, o);
        }
        dataset_free(ds);
        ds = NULL;
    }
    out = json_pack("{s:O, s:O}", "datasets", sets, "generators", gens);
out:
    dataset_free(ds);
    json_decref(sets);
    json_decref(gens);
    if (out && jx_oom_since(mark)) {
        json_decref(out);
        out = NULL;
    }
    if (!out && !failed)
        tg_err_set(err, TG_ENOMEM, "out of memory");
    return out;
}
