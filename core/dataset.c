/* dataset.c: datasets, the builtin real datasets and generators, and the preprocessing
 * options of API.md section 3.2 (see dataset.h for the contracts).
 *
 * Determinism: every random choice comes from a tg_rng seeded from the request, and
 * every number is computed by a fixed sequence of IEEE +, -, *, /, sqrt and the portable
 * functions of rng.h, summing in index order. So a request gives the same bytes on every
 * machine; tests/reference/data_ref.py reimplements each algorithm below and the unit
 * tests compare against its committed output.
 *
 * Generators (N = rng_normal, U = rng_uniform, all draws from rng_seed(seed), in the
 * order written; "i mod K" gives balanced classes; the noise draws are made even when
 * the noise is 0, so the stream does not depend on it):
 * - two_moons: point i has class c = i mod 2; draw a = N, b = N (again while
 *   a^2 + b^2 == 0), r = sqrt(a^2 + b^2), (u, v) = (a / r, |b| / r), a uniform point on
 *   the upper unit half circle; class 0 is (u, v), class 1 is (1 - u, 1/2 - v); then
 *   x = (. + noise N, . + noise N).
 * - xor: u = 2U - 1, v = 2U - 1, class 1 when u v < 0 else 0, x = (u + noise N,
 *   v + noise N).
 * - blobs: centers C[k][j] = -5 + 10 U (k < centers, j < d, row by row); point i has
 *   class c = i mod centers and x[i][j] = C[c][j] + spread N.
 * - linear: w[j] = N / sqrt(d); then per point x[i][j] = N, y = sum_j w[j] x[i][j] +
 *   noise N.
 * - teacher: W[k][j] = N / sqrt(d) (k < width, row by row), a[k] = N / sqrt(width); per
 *   point x[i][j] = N, y = sum_k a[k] phi(sum_j W[k][j] x[i][j]) + noise N, phi the
 *   activation (leaky_relu slope 0.01; tanh, sigmoid, softplus, gelu, erf portable).
 * - sphere: W[k][j] = N, a[k] = N / sqrt(width); per point g[j] = N (again while g == 0),
 *   x = g / sqrt(sum_j g[j]^2), y = sum_k a[k] relu(sum_j W[k][j] x[i][j]).
 *
 * Threading: reentrant; a dataset is owned by one thread while it is changed.
 */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "embed.h"
#include "rng.h"

const char *const dataset_builtin_names[] = {
    "iris", "wine", "breast_cancer", "digits",
    "two_moons", "xor", "blobs", "linear", "teacher", "sphere", NULL};
#define N_REAL_BUILTINS 4

/* ---- objects ------------------------------------------------------------------------ */

/* A new uninitialized array of a x b doubles, or NULL on overflow or failure. */
static double *alloc_doubles(size_t a, size_t b)
{
    size_t n, bytes;
    if (tg_mul_size(a, b, &n) || tg_mul_size(n ? n : 1, sizeof(double), &bytes))
        return NULL;
    return tg_alloc_huge(bytes);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
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
    *out = alloc_doubles(rows, cols);
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
            dst->strs[i] = str_dup(src->strs[i]);
            if (!dst->strs[i])
                return TG_ENOMEM; /* the caller deinits dst */
        }
    } else {
        dst->ints = malloc(src->n * sizeof(long long));
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
    u = malloc(total * sizeof *u);
    y = alloc_doubles(ds->n_train ? ds->n_train : 1, 1);
    yt = ds->n_test ? alloc_doubles(ds->n_test, 1) : NULL;
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
    u = malloc(total * sizeof *u);
    y = alloc_doubles(ds->n_train ? ds->n_train : 1, 1);
    yt = ds->n_test ? alloc_doubles(ds->n_test, 1) : NULL;
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
        strs[i] = str_dup(u[i]);
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
    ds->x = alloc_doubles(n, d);
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
        ds->y = alloc_doubles(n, 1);
        if (!ds->y) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            int r = csv_to_double(csv_cell(t, i, target), &ds->y[i]);
            TG_ASSERT(r == 0);
        }
    } else if (first_kind == CELL_STR) {
        strs = malloc(n * sizeof *strs);
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
        ints = malloc(n * sizeof *ints);
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
        return tg_err_setf(err, TG_ENOTFOUND, "data.builtin", "no builtin dataset \"%.40s\"",
                           name);
    snprintf(path, sizeof path, "data/%s.csv", name);
    const unsigned char *bytes = embed_find(path, &len);
    if (!bytes)
        return tg_err_setf(err, TG_EINTERNAL, "data.builtin", "%s is not in the build", path);
    rc = csv_parse((const char *)bytes, len, &lim, &t, err);
    if (!rc)
        rc = dataset_from_csv(t, t->n_cols - 1, TG_TASK_CLASSIFICATION, out, err);
    csv_free(t);
    return rc;
}

/* ---- generators --------------------------------------------------------------------- */

typedef double (*act_fn)(double);

static double act_relu(double z) { return z > 0.0 ? z : 0.0; }
static double act_leaky_relu(double z) { return z > 0.0 ? z : 0.01 * z; }
static double act_abs(double z) { return z < 0.0 ? -z : z; }
static double act_identity(double z) { return z; }
static double act_tanh(double z) { return tg_ptanh(z); }
static double act_erf(double z) { return tg_perf(z); }

static double act_sigmoid(double z)
{
    if (z >= 0.0)
        return 1.0 / (1.0 + tg_pexp(-z));
    double e = tg_pexp(z);
    return e / (1.0 + e);
}

/* log(1 + e^z) = max(z, 0) + log1p(e^-|z|), without a threshold. */
static double act_softplus(double z)
{
    double a = z < 0.0 ? -z : z;
    return (z > 0.0 ? z : 0.0) + tg_plog1p(tg_pexp(-a));
}

/* z Phi(z) = z erfc(-z / sqrt 2) / 2 (exact erf form, accurate for negative z too). */
static double act_gelu(double z)
{
    return 0.5 * z * tg_perfc(-z / 0x1.6a09e667f3bcdp+0);
}

static const struct {
    const char *name;
    act_fn fn;
} activations[] = {
    {"relu", act_relu},     {"leaky_relu", act_leaky_relu}, {"abs", act_abs},
    {"tanh", act_tanh},     {"sigmoid", act_sigmoid},       {"softplus", act_softplus},
    {"gelu", act_gelu},     {"erf", act_erf},               {"identity", act_identity},
};

static act_fn activation_find(const char *name)
{
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (name && strcmp(name, activations[i].name) == 0)
            return activations[i].fn;
    return NULL;
}

enum { GEN_TWO_MOONS, GEN_XOR, GEN_BLOBS, GEN_LINEAR, GEN_TEACHER, GEN_SPHERE };

/* Validates p for generator g; fills the task / d / class count. */
static int gen_check(int g, const tg_gen_params *p, size_t *d_out, size_t *k_out,
                     tg_err *err)
{
    size_t d = 2, k = 2, width = 0, prod;

    if (p->n < 1 || p->n > DATASET_GEN_MAX_N)
        return tg_err_setf(err, p->n < 1 ? TG_EINVAL : TG_ETOOLARGE, "data.n",
                           "data.n must be in [1, %zu] (got %zu)", DATASET_GEN_MAX_N, p->n);
    if (g == GEN_TWO_MOONS || g == GEN_XOR || g == GEN_LINEAR || g == GEN_TEACHER)
        if (!(p->noise >= 0.0 && p->noise <= 1e150))
            return tg_err_setf(err, TG_EINVAL, "data.noise", "data.noise must be >= 0");
    if (g >= GEN_BLOBS) {
        d = p->d;
        if (d < 1 || d > DATASET_GEN_MAX_D)
            return tg_err_setf(err, d < 1 ? TG_EINVAL : TG_ETOOLARGE, "data.d",
                               "data.d must be in [1, %zu] (got %zu)", DATASET_GEN_MAX_D, d);
        if (tg_mul_size(p->n, d, &prod) || prod > DATASET_GEN_MAX_ELEMS)
            return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                               "data.n * data.d must be at most %zu (got %zu x %zu)",
                               DATASET_GEN_MAX_ELEMS, p->n, d);
    }
    if (g == GEN_BLOBS) {
        k = p->centers;
        if (k < 1 || k > DATASET_GEN_MAX_CENTERS)
            return tg_err_setf(err, k < 1 ? TG_EINVAL : TG_ETOOLARGE, "data.centers",
                               "data.centers must be in [1, %zu] (got %zu)",
                               DATASET_GEN_MAX_CENTERS, k);
        if (!(p->spread >= 0.0 && p->spread <= 1e150))
            return tg_err_setf(err, TG_EINVAL, "data.spread", "data.spread must be >= 0");
    }
    if (g == GEN_TEACHER || g == GEN_SPHERE) {
        width = p->width;
        if (width < 1 || width > DATASET_GEN_MAX_WIDTH)
            return tg_err_setf(err, width < 1 ? TG_EINVAL : TG_ETOOLARGE, "data.width",
                               "data.width must be in [1, %zu] (got %zu)",
                               DATASET_GEN_MAX_WIDTH, width);
        if (tg_mul_size(width, d, &prod) || prod > DATASET_GEN_MAX_ELEMS)
            return tg_err_setf(err, TG_ETOOLARGE, "data.width",
                               "data.width * data.d must be at most %zu",
                               DATASET_GEN_MAX_ELEMS);
        if (tg_mul_size(p->n, width, &prod) || prod > DATASET_GEN_MAX_ACTS)
            return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                               "data.n * data.width must be at most %zu",
                               DATASET_GEN_MAX_ACTS);
        if (tg_mul3_size(p->n, width, d, &prod) || prod > DATASET_GEN_MAX_WORK)
            return tg_err_setf(err, TG_ETOOLARGE, "data.n",
                               "data.n * data.width * data.d must be at most %zu",
                               DATASET_GEN_MAX_WORK);
    }
    if (g == GEN_TEACHER && !activation_find(p->activation))
        return tg_err_setf(err, TG_EINVAL, "data.activation",
                           "data.activation must be one of relu, leaky_relu, abs, tanh, "
                           "sigmoid, softplus, gelu, erf, identity");
    *d_out = d;
    *k_out = (g == GEN_LINEAR || g == GEN_TEACHER || g == GEN_SPHERE) ? 0 : k;
    return TG_OK;
}

static int gen_index(const char *name)
{
    static const char *const names[] = {"two_moons", "xor",     "blobs",
                                        "linear",    "teacher", "sphere"};
    for (int i = 0; i < 6; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* The metadata of generator g into a new dataset (no arrays). */
static int gen_shell(const char *name, const tg_gen_params *p, int *g_out, tg_dataset **out,
                     tg_err *err)
{
    size_t d = 0, k = 0;
    int g = gen_index(name), rc;
    tg_dataset *ds;

    *out = NULL;
    if (g < 0)
        return tg_err_setf(err, TG_ENOTFOUND, "data.builtin", "no generator \"%.40s\"", name);
    rc = gen_check(g, p, &d, &k, err);
    if (rc)
        return rc;
    ds = dataset_new();
    if (!ds)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    ds->d = d;
    ds->n_outputs = 1;
    ds->n_train = p->n;
    if (k > 0) {
        ds->task = TG_TASK_CLASSIFICATION;
        ds->classes.ints = malloc(k * sizeof(long long));
        if (!ds->classes.ints) {
            dataset_free(ds);
            return tg_err_set(err, TG_ENOMEM, "out of memory");
        }
        ds->classes.n = k;
        for (size_t c = 0; c < k; c++)
            ds->classes.ints[c] = (long long)c;
    } else {
        ds->task = TG_TASK_REGRESSION;
    }
    *g_out = g;
    *out = ds;
    return TG_OK;
}

int dataset_generate_shell(const char *name, const tg_gen_params *p, tg_dataset **out,
                           tg_err *err)
{
    int g;
    return gen_shell(name, p, &g, out, err);
}

static void gen_two_moons(tg_rng *r, const tg_gen_params *p, double *x, double *y)
{
    for (size_t i = 0; i < p->n; i++) {
        double a, b, s;
        do {
            a = rng_normal(r);
            b = rng_normal(r);
            s = a * a + b * b;
        } while (s == 0.0);
        double rr = sqrt(s);
        double u = a / rr, v = (b < 0.0 ? -b : b) / rr;
        if (i % 2 == 1) {
            u = 1.0 - u;
            v = 0.5 - v;
        }
        x[2 * i] = u + p->noise * rng_normal(r);
        x[2 * i + 1] = v + p->noise * rng_normal(r);
        y[i] = (double)(i % 2);
    }
}

static void gen_xor(tg_rng *r, const tg_gen_params *p, double *x, double *y)
{
    for (size_t i = 0; i < p->n; i++) {
        double u = 2.0 * rng_uniform(r) - 1.0;
        double v = 2.0 * rng_uniform(r) - 1.0;
        y[i] = u * v < 0.0 ? 1.0 : 0.0;
        x[2 * i] = u + p->noise * rng_normal(r);
        x[2 * i + 1] = v + p->noise * rng_normal(r);
    }
}

static void gen_blobs(tg_rng *r, const tg_gen_params *p, const double *centers, double *x,
                      double *y)
{
    size_t d = p->d;
    for (size_t i = 0; i < p->n; i++) {
        size_t c = i % p->centers;
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = centers[c * d + j] + p->spread * rng_normal(r);
        y[i] = (double)c;
    }
}

/* linear, teacher and sphere: w holds w (linear) or W then a (teacher, sphere). */
static void gen_regression(int g, tg_rng *r, const tg_gen_params *p, const double *w,
                           act_fn phi, double *x, double *y)
{
    size_t d = p->d, width = p->width;
    for (size_t i = 0; i < p->n; i++) {
        double *xi = x + i * d;
        if (g == GEN_SPHERE) {
            double s;
            do {
                s = 0.0;
                for (size_t j = 0; j < d; j++) {
                    xi[j] = rng_normal(r);
                    s += xi[j] * xi[j];
                }
            } while (s == 0.0);
            double nrm = sqrt(s);
            for (size_t j = 0; j < d; j++)
                xi[j] = xi[j] / nrm;
        } else {
            for (size_t j = 0; j < d; j++)
                xi[j] = rng_normal(r);
        }
        double out = 0.0;
        if (g == GEN_LINEAR) {
            for (size_t j = 0; j < d; j++)
                out += w[j] * xi[j];
        } else {
            const double *a = w + width * d;
            for (size_t k = 0; k < width; k++) {
                double z = 0.0;
                for (size_t j = 0; j < d; j++)
                    z += w[k * d + j] * xi[j];
                out += a[k] * phi(z);
            }
        }
        if (g != GEN_SPHERE)
            out += p->noise * rng_normal(r);
        y[i] = out;
    }
}

int dataset_generate(const char *name, const tg_gen_params *p, tg_dataset **out, tg_err *err)
{
    tg_dataset *ds = NULL;
    double *w = NULL;
    tg_rng r;
    int g, rc;

    *out = NULL;
    rc = gen_shell(name, p, &g, &ds, err);
    if (rc)
        return rc;
    ds->x = alloc_doubles(ds->n_train, ds->d);
    ds->y = alloc_doubles(ds->n_train, 1);
    if (!ds->x || !ds->y) {
        rc = TG_ENOMEM;
        goto out;
    }
    rng_seed(&r, p->seed);
    switch (g) {
    case GEN_TWO_MOONS:
        gen_two_moons(&r, p, ds->x, ds->y);
        break;
    case GEN_XOR:
        gen_xor(&r, p, ds->x, ds->y);
        break;
    case GEN_BLOBS:
        w = alloc_doubles(p->centers, p->d);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < p->centers * p->d; i++)
            w[i] = -5.0 + 10.0 * rng_uniform(&r);
        gen_blobs(&r, p, w, ds->x, ds->y);
        break;
    case GEN_LINEAR: {
        double sd = sqrt((double)p->d);
        w = alloc_doubles(p->d, 1);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t j = 0; j < p->d; j++)
            w[j] = rng_normal(&r) / sd;
        gen_regression(g, &r, p, w, NULL, ds->x, ds->y);
        break;
    }
    default: { /* teacher, sphere */
        size_t nw = p->width * p->d; /* checked by gen_check */
        double sd = sqrt((double)p->d), sw = sqrt((double)p->width);
        w = alloc_doubles(nw + p->width, 1);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nw; i++)
            w[i] = g == GEN_TEACHER ? rng_normal(&r) / sd : rng_normal(&r);
        for (size_t k = 0; k < p->width; k++)
            w[nw + k] = rng_normal(&r) / sw;
        gen_regression(g, &r, p, w, g == GEN_TEACHER ? activation_find(p->activation)
                                                     : act_relu, ds->x, ds->y);
        break;
    }
    }
    *out = ds;
    ds = NULL;
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory generating %s", name);
    free(w);
    dataset_free(ds);
    return rc;
}

/* ---- options ------------------------------------------------------------------------ */

static void label_text(char *buf, size_t n, const tg_label_list *l, size_t i)
{
    if (l->strs)
        snprintf(buf, n, "\"%.40s\"", l->strs[i]);
    else
        snprintf(buf, n, "%lld", l->ints[i]);
}

/* The class index of l's i-th label in c, or -1; TG_EINVAL naming path[i] when the
 * label is of the wrong type or unknown. */
static int label_lookup(const tg_classes *c, const tg_label_list *l, size_t i,
                        const char *path, long *idx_out, tg_err *err)
{
    char fb[160], lt[64];
    snprintf(fb, sizeof fb, "%s[%zu]", path, i);
    if (c->is_string ? !l->strs : !l->ints)
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be %s, like the dataset's labels", fb,
                           c->is_string ? "a string" : "an integer");
    long idx = c->is_string ? dataset_class_index_str(c, l->strs[i])
                            : dataset_class_index_int(c, l->ints[i]);
    if (idx < 0) {
        label_text(lt, sizeof lt, l, i);
        return tg_err_setf(err, TG_EINVAL, fb, "%s: %s is not a class of the dataset", fb, lt);
    }
    *idx_out = idx;
    return TG_OK;
}

/* Checks a label list against c: known, of the right type, no duplicates. */
static int label_list_check(const tg_classes *c, const tg_label_list *l, const char *path,
                            tg_err *err)
{
    char fb[160];
    int rc = TG_OK;
    if (l->n == 0)
        return tg_err_setf(err, TG_EINVAL, path, "%s must not be empty", path);
    unsigned char *seen = calloc(c->n ? c->n : 1, 1);
    if (!seen)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(c, l, i, path, &idx, err);
        if (rc)
            break;
        if (seen[idx]) {
            snprintf(fb, sizeof fb, "%s[%zu]", path, i);
            rc = tg_err_setf(err, TG_EINVAL, fb, "%s repeats a label", fb);
            break;
        }
        seen[idx] = 1;
    }
    free(seen);
    return rc;
}

int dataset_check_options(const tg_dataset *ds, const tg_data_options *opt, tg_err *err)
{
    int rc;
    if ((opt->has_classes || opt->has_binary) && ds->task != TG_TASK_CLASSIFICATION)
        return tg_err_setf(err, TG_EINVAL, opt->has_classes ? "data.classes" : "data.binary",
                           "%s applies to classification data only",
                           opt->has_classes ? "data.classes" : "data.binary");
    if (opt->has_classes) {
        rc = label_list_check(&ds->classes, &opt->classes, "data.classes", err);
        if (rc)
            return rc;
    }
    if (opt->has_binary) {
        /* The positive labels must survive the `classes` option. */
        tg_classes kept = ds->classes;
        if (opt->has_classes) {
            kept.n = opt->classes.n;
            kept.ints = opt->classes.ints;
            kept.strs = opt->classes.strs;
        }
        rc = label_list_check(&kept, &opt->binary_positive, "data.binary.positive", err);
        if (rc)
            return rc;
    }
    if (!(opt->test_fraction >= 0.0 && opt->test_fraction < 1.0))
        return tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                           "data.test_fraction must be >= 0 and < 1 (got %.17g)",
                           opt->test_fraction);
    if (opt->has_test_fraction && ds->n_test > 0)
        return tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                           "data.test_fraction does not apply: the dataset already has a "
                           "test split");
    return TG_OK;
}

/* Keeps the rows of one part whose class maps to >= 0 (relabelled to the map value), in
 * order, in place. */
static void relabel_part(double *x, double *y, size_t *n, size_t d, const long *map)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        long c = map[(size_t)y[i]];
        if (c < 0)
            continue;
        if (w != i)
            memmove(x + w * d, x + i * d, d * sizeof(double));
        y[w++] = (double)c;
    }
    *n = w;
}

static void drop_empty_test(tg_dataset *ds)
{
    if (ds->n_test == 0) {
        free(ds->x_test);
        free(ds->y_test);
        ds->x_test = ds->y_test = NULL;
    }
}

static int apply_classes(tg_dataset *ds, const tg_label_list *l, tg_err *err)
{
    tg_classes nc = {0};
    long *map = malloc(ds->classes.n * sizeof *map);
    int rc = TG_OK;
    if (!map) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < ds->classes.n; k++)
        map[k] = -1;
    nc.is_string = ds->classes.is_string;
    if (nc.is_string)
        nc.strs = calloc(l->n, sizeof(char *));
    else
        nc.ints = malloc(l->n * sizeof(long long));
    if (nc.is_string ? !nc.strs : !nc.ints) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(&ds->classes, l, i, "data.classes", &idx, err);
        if (rc)
            goto out;
        map[idx] = (long)i;
        nc.n = i + 1;
        if (nc.is_string) {
            nc.strs[i] = str_dup(l->strs[i]);
            if (!nc.strs[i]) {
                rc = TG_ENOMEM;
                goto out;
            }
        } else {
            nc.ints[i] = l->ints[i];
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < ds->n_train; i++)
        kept += map[(size_t)ds->y[i]] >= 0;
    if (kept == 0) {
        rc = tg_err_setf(err, TG_EINVAL, "data.classes",
                         "data.classes: no training point has one of these classes");
        goto out;
    }
    relabel_part(ds->x, ds->y, &ds->n_train, ds->d, map);
    relabel_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, map);
    drop_empty_test(ds);
    classes_deinit(&ds->classes);
    ds->classes = nc;
    memset(&nc, 0, sizeof nc);
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory applying data.classes");
    classes_deinit(&nc);
    free(map);
    return rc;
}

static int apply_binary(tg_dataset *ds, const tg_label_list *l, tg_err *err)
{
    long *map = calloc(ds->classes.n, sizeof *map);
    long long *ints = malloc(2 * sizeof *ints);
    int rc = TG_OK;
    if (!map || !ints) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory applying data.binary");
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(&ds->classes, l, i, "data.binary.positive", &idx, err);
        if (rc)
            goto out;
        map[idx] = 1;
    }
    relabel_part(ds->x, ds->y, &ds->n_train, ds->d, map);
    relabel_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, map);
    classes_deinit(&ds->classes);
    ints[0] = 0;
    ints[1] = 1;
    ds->classes.n = 2;
    ds->classes.ints = ints;
    ints = NULL;
out:
    free(map);
    free(ints);
    return rc;
}

/* Replaces the parts of ds: rows with flag[i] == 0 stay in training, the others go to
 * the (empty) test part; both keep their order. */
static int move_to_test(tg_dataset *ds, const unsigned char *flag, size_t n_test)
{
    size_t d = ds->d, q = ds->n_outputs, n = ds->n_train, n_tr = n - n_test;
    double *x = alloc_doubles(n_tr, d), *y = alloc_doubles(n_tr, q);
    double *xt = alloc_doubles(n_test, d), *yt = alloc_doubles(n_test, q);
    if (!x || !y || !xt || !yt) {
        free(x);
        free(y);
        free(xt);
        free(yt);
        return TG_ENOMEM;
    }
    for (size_t i = 0, a = 0, b = 0; i < n; i++) {
        if (flag[i]) {
            memcpy(xt + b * d, ds->x + i * d, d * sizeof(double));
            memcpy(yt + b * q, ds->y + i * q, q * sizeof(double));
            b++;
        } else {
            memcpy(x + a * d, ds->x + i * d, d * sizeof(double));
            memcpy(y + a * q, ds->y + i * q, q * sizeof(double));
            a++;
        }
    }
    free(ds->x);
    free(ds->y);
    free(ds->x_test);
    free(ds->y_test);
    ds->x = x;
    ds->y = y;
    ds->x_test = xt;
    ds->y_test = yt;
    ds->n_train = n_tr;
    ds->n_test = n_test;
    return TG_OK;
}

/* round(f * m), halves up, for f in [0, 1). */
static size_t round_count(double f, size_t m)
{
    return (size_t)(f * (double)m + 0.5);
}

int dataset_split(tg_dataset *ds, double f, uint64_t seed, tg_err *err)
{
    size_t n = ds->n_train, n_test = 0;
    unsigned char *flag = NULL;
    size_t *perm = NULL, *members = NULL, *start = NULL;
    tg_rng r;
    int rc = TG_OK;

    if (!(f >= 0.0 && f < 1.0))
        return tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                           "data.test_fraction must be >= 0 and < 1 (got %.17g)", f);
    if (ds->n_test > 0)
        return tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                           "data.test_fraction does not apply: the dataset already has a "
                           "test split");
    if (f == 0.0)
        return TG_OK;
    flag = calloc(n, 1);
    perm = malloc(n * sizeof *perm);
    if (!flag || !perm) {
        rc = TG_ENOMEM;
        goto out;
    }
    rng_seed(&r, seed);
    if (ds->task == TG_TASK_CLASSIFICATION) {
        size_t k = ds->classes.n;
        /* Counting sort of the points by class, each class in index order. */
        members = malloc(n * sizeof *members);
        start = calloc(k + 1, sizeof *start);
        if (!members || !start) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            start[(size_t)ds->y[i] + 1]++;
        for (size_t c = 0; c < k; c++)
            start[c + 1] += start[c];
        for (size_t i = 0; i < n; i++)
            members[start[(size_t)ds->y[i]]++] = i;
        for (size_t c = k; c > 0; c--) /* back to the class starts */
            start[c] = start[c - 1];
        start[0] = 0;
        for (size_t c = 0; c < k; c++) {
            size_t nc = start[c + 1] - start[c], t = round_count(f, nc);
            rng_permutation(&r, perm, nc);
            for (size_t p = 0; p < t; p++)
                flag[members[start[c] + perm[p]]] = 1;
            n_test += t;
        }
    } else {
        n_test = round_count(f, n);
        rng_permutation(&r, perm, n);
        for (size_t p = 0; p < n_test; p++)
            flag[perm[p]] = 1;
    }
    if (n_test == n) {
        rc = tg_err_setf(err, TG_EINVAL, "data.test_fraction",
                         "data.test_fraction %.17g leaves no training points", f);
        goto out;
    }
    if (n_test > 0 && move_to_test(ds, flag, n_test)) {
        rc = TG_ENOMEM;
        goto out;
    }
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory splitting the dataset");
    free(flag);
    free(perm);
    free(members);
    free(start);
    return rc;
}

/* Keeps max of the n rows of one part: the first max positions of a permutation from
 * rng_seed_stream(seed, stream), in their original order. */
static int subsample_part(double *x, double *y, size_t *n, size_t d, size_t q, size_t max,
                          uint64_t seed, uint64_t stream)
{
    tg_rng r;
    if (max == 0 || *n <= max)
        return TG_OK;
    size_t *perm = malloc(*n * sizeof *perm);
    unsigned char *keep = calloc(*n, 1);
    if (!perm || !keep) {
        free(perm);
        free(keep);
        return TG_ENOMEM;
    }
    rng_seed_stream(&r, seed, stream);
    rng_permutation(&r, perm, *n);
    for (size_t p = 0; p < max; p++)
        keep[perm[p]] = 1;
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!keep[i])
            continue;
        if (w != i) {
            memmove(x + w * d, x + i * d, d * sizeof(double));
            memmove(y + w * q, y + i * q, q * sizeof(double));
        }
        w++;
    }
    *n = w;
    free(perm);
    free(keep);
    return TG_OK;
}

void standardize_stats_deinit(tg_standardize_stats *s)
{
    if (!s)
        return;
    free(s->mean);
    free(s->std);
    memset(s, 0, sizeof *s);
}

/* Per feature j over the training rows: a constant feature gets mean x[0][j] and std 0;
 * otherwise mean = (sum_i x[i][j]) / n and std = sqrt((sum_i (x[i][j] - mean)^2) / n),
 * sums in row order. Both parts become (x - mean) / std, or x - mean where std is 0. */
static int standardize(tg_dataset *ds, tg_standardize_stats *st)
{
    size_t n = ds->n_train, d = ds->d;
    double *mean = alloc_doubles(d, 1), *sd = alloc_doubles(d, 1);
    double *lo = alloc_doubles(d, 1), *hi = alloc_doubles(d, 1);
    int rc = TG_OK;
    if (!mean || !sd || !lo || !hi) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < d; j++) {
        lo[j] = hi[j] = ds->x[j];
        mean[j] = 0.0;
        sd[j] = 0.0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double v = ds->x[i * d + j];
            mean[j] += v;
            if (v < lo[j])
                lo[j] = v;
            if (v > hi[j])
                hi[j] = v;
        }
    for (size_t j = 0; j < d; j++)
        mean[j] = lo[j] == hi[j] ? lo[j] : mean[j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double c = ds->x[i * d + j] - mean[j];
            sd[j] += c * c;
        }
    for (size_t j = 0; j < d; j++)
        sd[j] = lo[j] == hi[j] ? 0.0 : sqrt(sd[j] / (double)n);
    for (int part = 0; part < 2; part++) {
        double *x = part ? ds->x_test : ds->x;
        size_t m = part ? ds->n_test : ds->n_train;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < d; j++) {
                double c = x[i * d + j] - mean[j];
                x[i * d + j] = sd[j] > 0.0 ? c / sd[j] : c;
            }
    }
    if (st) {
        st->d = d;
        st->mean = mean;
        st->std = sd;
        mean = sd = NULL;
    }
out:
    free(mean);
    free(sd);
    free(lo);
    free(hi);
    return rc;
}

/* Each row x becomes x / ||x|| computed as (x / m) / sqrt(sum (x_j / m)^2) with
 * m = max |x_j| (no overflow or underflow); a zero row stays zero. */
static void unit_norm_rows(double *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double *xi = x + i * d, m = 0.0, s = 0.0;
        for (size_t j = 0; j < d; j++) {
            double a = xi[j] < 0.0 ? -xi[j] : xi[j];
            if (a > m)
                m = a;
        }
        if (m == 0.0)
            continue;
        for (size_t j = 0; j < d; j++) {
            double v = xi[j] / m;
            s += v * v;
        }
        double nrm = sqrt(s);
        for (size_t j = 0; j < d; j++)
            xi[j] = (xi[j] / m) / nrm;
    }
}

int dataset_apply_options(tg_dataset *ds, const tg_data_options *opt,
                          tg_standardize_stats *stats_out, tg_err *err)
{
    int rc;
    if (stats_out)
        memset(stats_out, 0, sizeof *stats_out);
    rc = dataset_check_options(ds, opt, err);
    if (!rc && opt->has_classes)
        rc = apply_classes(ds, &opt->classes, err);
    if (!rc && opt->has_binary)
        rc = apply_binary(ds, &opt->binary_positive, err);
    if (!rc && ds->n_test == 0 && opt->test_fraction > 0.0)
        rc = dataset_split(ds, opt->test_fraction, opt->split_seed, err);
    if (rc)
        return rc;
    if (subsample_part(ds->x, ds->y, &ds->n_train, ds->d, ds->n_outputs, opt->max_train,
                       opt->subset_seed, 0) ||
        subsample_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, ds->n_outputs,
                       opt->max_test, opt->subset_seed, 1))
        return tg_err_set(err, TG_ENOMEM, "out of memory subsampling the dataset");
    if (opt->standardize && standardize(ds, stats_out))
        return tg_err_set(err, TG_ENOMEM, "out of memory standardizing the dataset");
    if (opt->unit_norm) {
        unit_norm_rows(ds->x, ds->n_train, ds->d);
        unit_norm_rows(ds->x_test, ds->n_test, ds->d);
    }
    return TG_OK;
}

/* ---- validation --------------------------------------------------------------------- */

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
