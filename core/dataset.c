/* dataset.c: dataset objects, class labels, datasets from CSV tables and the builtin
 * real datasets, and the final consistency check (see dataset.h for the contracts). The
 * generators are in generators.c, the preprocessing options in preprocess.c.
 *
 * Determinism: every number is computed by a fixed sequence of IEEE operations, so a
 * request gives the same bytes on every machine; tests/reference/data_ref.py
 * reimplements each algorithm and the unit tests compare against its committed output.
 *
 * Threading: reentrant; a dataset is owned by one thread while it is changed.
 */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "embed.h"
#include "generators.h"

#define GEN_NAME(id, name, ...) name,
const char *const dataset_builtin_names[] = {
    "iris", "wine", "breast_cancer", "digits", DATASET_GENERATORS(GEN_NAME) NULL};
#undef GEN_NAME
#define N_REAL_BUILTINS 4

/* ---- objects ------------------------------------------------------------------------ */

double *dataset_alloc_doubles(size_t a, size_t b)
{
    size_t n, bytes;
    if (tg_mul_size(a, b, &n) || tg_mul_size(n ? n : 1, sizeof(double), &bytes))
        return NULL;
    return tg_alloc_huge(bytes);
}

tg_dataset *dataset_new(void)
{
    return calloc(1, sizeof(tg_dataset));
}

void classes_deinit(tg_classes *c)
{
    if (!c)
        return;
    if (c->strs)
        for (size_t i = 0; i < c->n; i++)
            free(c->strs[i]);
    free(c->strs);
    free(c->ints);
    memset(c, 0, sizeof *c);
}

void dataset_free(tg_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    free(ds->x_test);
    free(ds->y_test);
    classes_deinit(&ds->classes);
    free(ds);
}

/* *out = a new copy of rows x cols doubles of src (NULL when there are none). */
static int copy_doubles(const double *src, size_t rows, size_t cols, double **out)
{
    size_t n;
    *out = NULL;
    if (!src || tg_mul_size(rows, cols, &n) || n == 0)
        return TG_OK;
    *out = dataset_alloc_doubles(rows, cols);
    if (!*out)
        return TG_ENOMEM;
    memcpy(*out, src, n * sizeof(double));
    return TG_OK;
}

static int classes_copy(tg_classes *dst, const tg_classes *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->n == 0)
        return TG_OK;
    dst->is_string = src->is_string;
    if (src->is_string) {
        dst->strs = calloc(src->n, sizeof(char *));
        if (!dst->strs)
            return TG_ENOMEM;
        dst->n = src->n;
        for (size_t i = 0; i < src->n; i++) {
            dst->strs[i] = strdup(src->strs[i]);
            if (!dst->strs[i])
                return TG_ENOMEM; /* the caller deinits dst */
        }
    } else {
        dst->ints = tg_alloc_array(src->n, 1, sizeof(long long));
        if (!dst->ints)
            return TG_ENOMEM;
        memcpy(dst->ints, src->ints, src->n * sizeof(long long));
        dst->n = src->n;
    }
    return TG_OK;
}

tg_dataset *dataset_clone(const tg_dataset *ds)
{
    tg_dataset *c = dataset_new();
    int rc;
    if (!c)
        return NULL;
    c->task = ds->task;
    c->d = ds->d;
    c->n_outputs = ds->n_outputs;
    c->n_train = ds->n_train;
    c->n_test = ds->n_test;
    rc = copy_doubles(ds->x, ds->n_train, ds->d, &c->x);
    if (!rc)
        rc = copy_doubles(ds->y, ds->n_train, ds->n_outputs, &c->y);
    if (!rc)
        rc = copy_doubles(ds->x_test, ds->n_test, ds->d, &c->x_test);
    if (!rc)
        rc = copy_doubles(ds->y_test, ds->n_test, ds->n_outputs, &c->y_test);
    if (!rc)
        rc = classes_copy(&c->classes, &ds->classes);
    if (rc) {
        dataset_free(c);
        return NULL;
    }
    return c;
}

/* ---- labels ------------------------------------------------------------------------- */

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Installs classes and index arrays y / y_test into ds (freeing the old ones). */
static void labels_install(tg_dataset *ds, tg_classes *cls, double *y, double *y_test)
{
    classes_deinit(&ds->classes);
    ds->classes = *cls;
    free(ds->y);
    free(ds->y_test);
    ds->y = y;
    ds->y_test = y_test;
    ds->task = TG_TASK_CLASSIFICATION;
    ds->n_outputs = 1;
}

int dataset_labels_int(tg_dataset *ds, const long long *train, const long long *test,
                       tg_err *err)
{
    size_t total = ds->n_train + ds->n_test, k = 0;
    long long *u = NULL;
    double *y = NULL, *yt = NULL;
    int rc = TG_OK;

    if (total < ds->n_train || total == 0 || total > ((size_t)-1) / sizeof(long long))
        return tg_err_set(err, TG_EINVAL, "no labels");
    u = tg_alloc_array(total, 1, sizeof *u);
    y = dataset_alloc_doubles(ds->n_train ? ds->n_train : 1, 1);
    yt = ds->n_test ? dataset_alloc_doubles(ds->n_test, 1) : NULL;
    if (!u || !y || (ds->n_test && !yt)) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory building the classes");
        goto out;
    }
    memcpy(u, train, ds->n_train * sizeof *u);
    if (ds->n_test)
        memcpy(u + ds->n_train, test, ds->n_test * sizeof *u);
    qsort(u, total, sizeof *u, cmp_ll);
    for (size_t i = 0; i < total; i++)
        if (k == 0 || u[k - 1] != u[i])
            u[k++] = u[i];
    for (size_t i = 0; i < total; i++) {
        long long v = i < ds->n_train ? train[i] : test[i - ds->n_train];
        const long long *hit = bsearch(&v, u, k, sizeof *u, cmp_ll);
        TG_ASSERT(hit);
        if (i < ds->n_train)
            y[i] = (double)(hit - u);
        else
            yt[i - ds->n_train] = (double)(hit - u);
    }
    long long *shrunk = realloc(u, k * sizeof *u);
    if (shrunk)
        u = shrunk;
    tg_classes cls = {.n = k, .is_string = 0, .ints = u, .strs = NULL};
    labels_install(ds, &cls, y, yt);
    u = NULL;
    y = yt = NULL;
out:
    free(u);
    free(y);
    free(yt);
    return rc;
}

int dataset_labels_str(tg_dataset *ds, const char *const *train, const char *const *test,
                       tg_err *err)
{
    size_t total = ds->n_train + ds->n_test, k = 0;
    const char **u = NULL;
    char **strs = NULL;
    double *y = NULL, *yt = NULL;
    int rc = TG_OK;

    if (total < ds->n_train || total == 0 || total > ((size_t)-1) / sizeof(char *))
        return tg_err_set(err, TG_EINVAL, "no labels");
    u = tg_alloc_array(total, 1, sizeof *u);
    y = dataset_alloc_doubles(ds->n_train ? ds->n_train : 1, 1);
    yt = ds->n_test ? dataset_alloc_doubles(ds->n_test, 1) : NULL;
    if (!u || !y || (ds->n_test && !yt)) {
        rc = TG_ENOMEM;
        goto out;
    }
    memcpy(u, train, ds->n_train * sizeof *u);
    if (ds->n_test)
        memcpy(u + ds->n_train, test, ds->n_test * sizeof *u);
    qsort(u, total, sizeof *u, cmp_str);
    for (size_t i = 0; i < total; i++)
        if (k == 0 || strcmp(u[k - 1], u[i]) != 0)
            u[k++] = u[i];
    for (size_t i = 0; i < total; i++) {
        const char *v = i < ds->n_train ? train[i] : test[i - ds->n_train];
        const char **hit = bsearch(&v, u, k, sizeof *u, cmp_str);
        TG_ASSERT(hit);
        if (i < ds->n_train)
            y[i] = (double)(hit - u);
        else
            yt[i - ds->n_train] = (double)(hit - u);
    }
    strs = calloc(k, sizeof *strs);
    if (!strs) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        strs[i] = strdup(u[i]);
        if (!strs[i]) {
            rc = TG_ENOMEM;
            goto out;
        }
    }
    tg_classes cls = {.n = k, .is_string = 1, .ints = NULL, .strs = strs};
    labels_install(ds, &cls, y, yt);
    strs = NULL;
    y = yt = NULL;
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory building the classes");
    if (strs)
        for (size_t i = 0; i < k; i++)
            free(strs[i]);
    free(strs);
    free(u);
    free(y);
    free(yt);
    return rc;
}

long dataset_class_index_int(const tg_classes *c, long long label)
{
    if (c->is_string)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        if (c->ints[i] == label)
            return (long)i;
    return -1;
}

long dataset_class_index_str(const tg_classes *c, const char *label)
{
    if (!c->is_string)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->strs[i], label) == 0)
            return (long)i;
    return -1;
}

/* ---- CSV tables and the builtin real datasets --------------------------------------- */

enum { CELL_INT, CELL_NUM, CELL_STR };

int dataset_from_csv(const struct csv_table *t, size_t target, int task, tg_dataset **out,
                     tg_err *err)
{
    tg_dataset *ds = NULL;
    long long *ints = NULL;
    const char **strs = NULL;
    char fb[160];
    size_t n = t->n_rows, d = t->n_cols - 1;
    int rc = TG_OK;

    *out = NULL;
    if (t->n_cols < 2)
        return tg_err_setf(err, TG_EDATA, "header",
                           "the CSV needs at least one feature column besides the target");
    if (target >= t->n_cols)
        return tg_err_setf(err, TG_EINVAL, "target", "no target column %zu", target);
    if (n == 0)
        return tg_err_setf(err, TG_EDATA, "row 1", "the CSV has no data rows");
    ds = dataset_new();
    if (!ds) {
        rc = TG_ENOMEM;
        goto out;
    }
    ds->d = d;
    ds->n_train = n;
    ds->x = dataset_alloc_doubles(n, d);
    if (!ds->x) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0, k = 0; j < t->n_cols; j++) {
            double v;
            int r;
            if (j == target)
                continue;
            r = csv_to_double(csv_cell(t, i, j), &v);
            if (r) {
                snprintf(fb, sizeof fb, "row %zu, column %.80s", i + 1, csv_header(t, j));
                rc = tg_err_setf(err, TG_EDATA, fb, "%s: \"%.40s\" is %s", fb,
                                 csv_cell(t, i, j), r == -2 ? "not finite" : "not a number");
                goto out;
            }
            ds->x[i * d + k++] = v;
        }
    }

    /* The target column: the kind of each cell decides the task and the label type. */
    int first_kind = -1, any_num = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = csv_cell(t, i, target);
        long long iv;
        double dv;
        int kind, r;
        snprintf(fb, sizeof fb, "row %zu, column %.80s", i + 1, csv_header(t, target));
        if (!*c) {
            rc = tg_err_setf(err, TG_EDATA, fb, "%s is empty", fb);
            goto out;
        }
        if (csv_to_int(c, &iv) == 0) {
            kind = CELL_INT;
        } else if ((r = csv_to_double(c, &dv)) == 0) {
            kind = CELL_NUM;
        } else if (r == -2) {
            rc = tg_err_setf(err, TG_EDATA, fb, "%s: \"%.40s\" is not finite", fb, c);
            goto out;
        } else {
            kind = CELL_STR;
        }
        if (first_kind < 0)
            first_kind = kind;
        if ((kind == CELL_STR) != (first_kind == CELL_STR)) {
            rc = tg_err_setf(err, TG_EDATA, fb,
                             "%s: mixed label types (\"%.40s\" after %s labels)", fb, c,
                             first_kind == CELL_STR ? "string" : "numeric");
            goto out;
        }
        if (kind == CELL_NUM)
            any_num = 1;
        if (kind == CELL_STR && task == TG_TASK_REGRESSION) {
            rc = tg_err_setf(err, TG_EDATA, fb, "%s: \"%.40s\" is not a number", fb, c);
            goto out;
        }
    }
    if (task == 0)
        task = (first_kind == CELL_STR || !any_num) ? TG_TASK_CLASSIFICATION
                                                    : TG_TASK_REGRESSION;
    if (task == TG_TASK_REGRESSION) {
        ds->task = TG_TASK_REGRESSION;
        ds->n_outputs = 1;
        ds->y = dataset_alloc_doubles(n, 1);
        if (!ds->y) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            int r = csv_to_double(csv_cell(t, i, target), &ds->y[i]);
            TG_ASSERT(r == 0);
        }
    } else if (first_kind == CELL_STR) {
        strs = tg_alloc_array(n, 1, sizeof *strs);
        if (!strs) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            strs[i] = csv_cell(t, i, target);
        rc = dataset_labels_str(ds, strs, NULL, err);
        if (rc)
            goto out;
    } else {
        ints = tg_alloc_array(n, 1, sizeof *ints);
        if (!ints) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            const char *c = csv_cell(t, i, target);
            double v;
            if (csv_to_int(c, &ints[i]) == 0)
                continue;
            csv_to_double(c, &v);
            if (!(v > -9007199254740992.0 && v < 9007199254740992.0 &&
                  v == (double)(long long)v)) {
                snprintf(fb, sizeof fb, "row %zu, column %.80s", i + 1, csv_header(t, target));
                rc = tg_err_setf(err, TG_EDATA, fb, "%s: class label %.40s is not an integer",
                                 fb, c);
                goto out;
            }
            ints[i] = (long long)v;
        }
        rc = dataset_labels_int(ds, ints, NULL, err);
        if (rc)
            goto out;
    }
    *out = ds;
    ds = NULL;
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory reading the CSV");
    dataset_free(ds);
    free(ints);
    free(strs);
    return rc;
}

int dataset_builtin_kind(const char *name)
{
    for (size_t i = 0; dataset_builtin_names[i]; i++)
        if (strcmp(name, dataset_builtin_names[i]) == 0)
            return i < N_REAL_BUILTINS ? 1 : 2;
    return 0;
}

int dataset_builtin_load(const char *name, tg_dataset **out, tg_err *err)
{
    const csv_limits lim = {.max_rows = 100000, .max_cols = 10000, .max_field_len = 256};
    csv_table *t = NULL;
    char path[64];
    size_t len;
    int rc;

    *out = NULL;
    if (dataset_builtin_kind(name) != 1)
        return tg_err_setf(err, TG_ENOTFOUND, "name", "no builtin dataset \"%.40s\"",
                           name);
    snprintf(path, sizeof path, "data/%s.csv", name);
    const unsigned char *bytes = embed_find(path, &len);
    if (!bytes)
        return tg_err_setf(err, TG_EINTERNAL, "name", "%s is not in the build", path);
    rc = csv_parse((const char *)bytes, len, &lim, &t, err);
    if (!rc)
        rc = dataset_from_csv(t, t->n_cols - 1, TG_TASK_CLASSIFICATION, out, err);
    csv_free(t);
    return rc;
}

/* ---- checks ------------------------------------------------------------------------- */

static int check_part(const double *m, size_t rows, size_t cols, const char *name,
                      tg_err *err)
{
    char fb[96];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            if (!isfinite(m[i * cols + j])) {
                snprintf(fb, sizeof fb, "%s[%zu][%zu]", name, i, j);
                return tg_err_setf(err, TG_EDATA, fb, "%s is not finite", fb);
            }
    return TG_OK;
}

int dataset_check(const tg_dataset *ds, tg_err *err)
{
    int rc;
    if (ds->task != TG_TASK_CLASSIFICATION && ds->task != TG_TASK_REGRESSION)
        return tg_err_setf(err, TG_EDATA, "task", "unknown task %d", (int)ds->task);
    if (ds->d == 0 || ds->n_outputs == 0)
        return tg_err_setf(err, TG_EDATA, "x", "the dataset has no features or no outputs");
    if (ds->n_train == 0 || !ds->x || !ds->y)
        return tg_err_setf(err, TG_EDATA, "x", "the training set is empty");
    if (ds->n_test > 0 && (!ds->x_test || !ds->y_test))
        return tg_err_setf(err, TG_EDATA, "x_test", "the test set has no arrays");
    rc = check_part(ds->x, ds->n_train, ds->d, "x", err);
    if (!rc)
        rc = check_part(ds->y, ds->n_train, ds->n_outputs, "y", err);
    if (!rc)
        rc = check_part(ds->x_test, ds->n_test, ds->d, "x_test", err);
    if (!rc)
        rc = check_part(ds->y_test, ds->n_test, ds->n_outputs, "y_test", err);
    if (rc || ds->task != TG_TASK_CLASSIFICATION)
        return rc;
    if (ds->n_outputs != 1)
        return tg_err_setf(err, TG_EDATA, "y", "classification needs one label per point");
    if (ds->classes.n == 0 || (ds->classes.is_string ? !ds->classes.strs : !ds->classes.ints))
        return tg_err_setf(err, TG_EDATA, "classes", "a classification dataset needs classes");
    for (int part = 0; part < 2; part++) {
        const double *y = part ? ds->y_test : ds->y;
        size_t m = part ? ds->n_test : ds->n_train;
        for (size_t i = 0; i < m; i++)
            if (!(y[i] >= 0.0 && y[i] < (double)ds->classes.n && y[i] == (double)(size_t)y[i])) {
                char fb[64];
                snprintf(fb, sizeof fb, "%s[%zu]", part ? "y_test" : "y", i);
                return tg_err_setf(err, TG_EDATA, fb, "%s is not a class index", fb);
            }
    }
    return TG_OK;
}
