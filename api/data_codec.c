/* data_codec.c: the encodings of a stored dataset (see data_codec.h): the dataset
 * object's JSON (metadata and arrays, labels as the original labels) and the byte
 * format of the store.
 *
 * Storage format (all little-endian), version 1:
 *   "TGDS" u32 version u32 task u32 is_string
 *   u64 d u64 n_outputs u64 n_train u64 n_test u64 n_classes
 *   f64 x[n_train d] f64 y[n_train n_outputs] f64 x_test[n_test d] f64 y_test[...]
 *   classes: n_classes x i64, or n_classes x (u32 length, bytes) for strings.
 * data_deserialize checks every size against the buffer, the values (finite, labels in
 * range), and that nothing trails; a bad blob is TG_EIO ("corrupt dataset").
 *
 * Threading: reentrant; json_t values are new and owned by the caller.
 */
#include "data_codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "jx.h"

const char *data_task_name(tg_task t)
{
    return t == TG_TASK_CLASSIFICATION ? "classification" : "regression";
}

/* ---- dataset JSON ------------------------------------------------------------------- */

static json_t *class_label(const tg_classes *c, size_t k)
{
    return c->is_string ? json_string(c->strs[k]) : json_integer(c->ints[k]);
}

static json_t *classes_json(const tg_dataset *ds)
{
    if (ds->task != TG_TASK_CLASSIFICATION)
        return json_null();
    json_t *a = json_array();
    for (size_t k = 0; a && k < ds->classes.n; k++)
        if (json_array_append_new(a, class_label(&ds->classes, k))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *data_meta_json(const tg_dataset *ds)
{
    int cls = ds->task == TG_TASK_CLASSIFICATION;
    json_t *classes = classes_json(ds);
    if (!classes)
        return NULL;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "task", data_task_name(ds->task),
                     "n_train", (json_int_t)ds->n_train, "n_test", (json_int_t)ds->n_test,
                     "d", (json_int_t)ds->d, "n_outputs", (json_int_t)ds->n_outputs,
                     "n_classes", (json_int_t)(cls ? ds->classes.n : 0), "classes", classes);
}

static json_t *targets_json(const tg_dataset *ds, const double *y, size_t n)
{
    if (!y)
        return json_null();
    if (ds->task != TG_TASK_CLASSIFICATION)
        return ds->n_outputs == 1 ? jx_real_array(y, n) : jx_real_matrix(y, n, ds->n_outputs);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        size_t k = (size_t)y[i];
        if (k >= ds->classes.n || json_array_append_new(a, class_label(&ds->classes, k))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *data_arrays_json(const tg_dataset *ds)
{
    json_t *x = jx_real_matrix(ds->x, ds->n_train, ds->d);
    json_t *y = targets_json(ds, ds->y, ds->n_train);
    json_t *xt = ds->n_test ? jx_real_matrix(ds->x_test, ds->n_test, ds->d) : json_null();
    json_t *yt = ds->n_test ? targets_json(ds, ds->y_test, ds->n_test) : json_null();
    if (!x || !y || !xt || !yt) {
        json_decref(x);
        json_decref(y);
        json_decref(xt);
        json_decref(yt);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "x", x, "y", y, "x_test", xt, "y_test", yt);
}

/* ---- storage format ----------------------------------------------------------------- */

#define BLOB_MAGIC "TGDS"
#define BLOB_VERSION 1u
#define BLOB_HEADER 56

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

/* The format is little-endian; on little-endian machines (every target: main.c checks)
 * doubles are copied as they are. */
static int little_endian(void)
{
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

static unsigned char *put_f64s(unsigned char *p, const double *x, size_t n)
{
    if (little_endian()) {
        if (n)
            memcpy(p, x, n * sizeof(double));
        return p + n * sizeof(double);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        p = put_u64(p, u);
    }
    return p;
}

/* total += a * b, with overflow detection. */
static int add_prod(size_t *total, size_t a, size_t b)
{
    size_t p;
    if (tg_mul_size(a, b, &p) || *total > ((size_t)-1) - p)
        return -1;
    *total += p;
    return 0;
}

int data_serialize(const tg_dataset *ds, unsigned char **buf_out, size_t *len_out)
{
    size_t total = BLOB_HEADER, k = ds->task == TG_TASK_CLASSIFICATION ? ds->classes.n : 0;
    unsigned char *buf, *p;

    *buf_out = NULL;
    *len_out = 0;
    if (add_prod(&total, ds->n_train, ds->d) || add_prod(&total, ds->n_train, ds->n_outputs) ||
        add_prod(&total, ds->n_test, ds->d) || add_prod(&total, ds->n_test, ds->n_outputs))
        return TG_ENOMEM;
    if (tg_mul_size(total - BLOB_HEADER, 8, &total) || add_prod(&total, 1, BLOB_HEADER))
        return TG_ENOMEM;
    for (size_t i = 0; i < k; i++)
        if (add_prod(&total, 1, ds->classes.is_string ? 4 + strlen(ds->classes.strs[i]) : 8))
            return TG_ENOMEM;
    buf = malloc(total);
    if (!buf)
        return TG_ENOMEM;
    memcpy(buf, BLOB_MAGIC, 4);
    p = put_u32(buf + 4, BLOB_VERSION);
    p = put_u32(p, (uint32_t)ds->task);
    p = put_u32(p, k ? (uint32_t)(ds->classes.is_string != 0) : 0);
    p = put_u64(p, ds->d);
    p = put_u64(p, ds->n_outputs);
    p = put_u64(p, ds->n_train);
    p = put_u64(p, ds->n_test);
    p = put_u64(p, k);
    p = put_f64s(p, ds->x, ds->n_train * ds->d);
    p = put_f64s(p, ds->y, ds->n_train * ds->n_outputs);
    p = put_f64s(p, ds->x_test, ds->n_test * ds->d);
    p = put_f64s(p, ds->y_test, ds->n_test * ds->n_outputs);
    for (size_t i = 0; i < k; i++) {
        if (ds->classes.is_string) {
            size_t n = strlen(ds->classes.strs[i]);
            p = put_u32(p, (uint32_t)n);
            memcpy(p, ds->classes.strs[i], n);
            p += n;
        } else {
            p = put_u64(p, (uint64_t)ds->classes.ints[i]);
        }
    }
    TG_ASSERT((size_t)(p - buf) == total);
    *buf_out = buf;
    *len_out = total;
    return TG_OK;
}

typedef struct blob_reader {
    const unsigned char *p;
    size_t left;
} blob_reader;

static int get_u32(blob_reader *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++)
        *v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int get_u64(blob_reader *r, uint64_t *v)
{
    if (r->left < 8)
        return -1;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    r->left -= 8;
    return 0;
}

/* A new array of rows x cols doubles read from r (NULL and 0 when empty). */
static int get_f64s(blob_reader *r, size_t rows, size_t cols, double **out)
{
    size_t n, bytes;
    *out = NULL;
    if (tg_mul_size(rows, cols, &n) || tg_mul_size(n, 8, &bytes) || bytes > r->left)
        return -1;
    if (n == 0)
        return 0;
    *out = tg_alloc_huge(bytes);
    if (!*out)
        return -2;
    if (little_endian()) {
        memcpy(*out, r->p, bytes);
        r->p += bytes;
        r->left -= bytes;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u = 0;
        get_u64(r, &u);
        memcpy(&(*out)[i], &u, sizeof u);
    }
    return 0;
}

int data_deserialize(const unsigned char *buf, size_t len, tg_dataset **out, tg_err *err)
{
    blob_reader r = {buf, len};
    uint32_t version, task, is_string;
    uint64_t d, q, n, m, k;
    tg_dataset *ds = NULL;
    const char *why = NULL;
    int rc = TG_OK, g;

    *out = NULL;
    if (len < BLOB_HEADER || memcmp(buf, BLOB_MAGIC, 4) != 0) {
        why = "bad header";
        goto out;
    }
    r.p += 4;
    r.left -= 4;
    get_u32(&r, &version);
    get_u32(&r, &task);
    get_u32(&r, &is_string);
    get_u64(&r, &d);
    get_u64(&r, &q);
    get_u64(&r, &n);
    get_u64(&r, &m);
    get_u64(&r, &k);
    if (version != BLOB_VERSION) {
        why = "unsupported version";
        goto out;
    }
    if ((task != TG_TASK_CLASSIFICATION && task != TG_TASK_REGRESSION) || is_string > 1 ||
        d == 0 || q == 0 || n == 0 || d > DATA_MAX_ELEMS || q > DATA_MAX_ELEMS ||
        n > DATA_MAX_ROWS || m > DATA_MAX_ROWS || k > DATA_MAX_CLASSES ||
        (task == TG_TASK_CLASSIFICATION ? (q != 1 || k == 0) : (k != 0 || is_string))) {
        why = "inconsistent header";
        goto out;
    }
    ds = dataset_new();
    if (!ds) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    ds->task = (tg_task)task;
    ds->d = (size_t)d;
    ds->n_outputs = (size_t)q;
    ds->n_train = (size_t)n;
    ds->n_test = (size_t)m;
    if ((g = get_f64s(&r, ds->n_train, ds->d, &ds->x)) == 0 &&
        (g = get_f64s(&r, ds->n_train, ds->n_outputs, &ds->y)) == 0 &&
        (g = get_f64s(&r, ds->n_test, ds->d, &ds->x_test)) == 0)
        g = get_f64s(&r, ds->n_test, ds->n_outputs, &ds->y_test);
    if (g) {
        if (g == -2)
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        why = "truncated arrays";
        goto out;
    }
    if (k) {
        ds->classes.is_string = (int)is_string;
        if (is_string)
            ds->classes.strs = calloc((size_t)k, sizeof(char *));
        else
            ds->classes.ints = tg_alloc_array((size_t)k, 1, sizeof(long long));
        if (is_string ? !ds->classes.strs : !ds->classes.ints) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto out;
        }
        ds->classes.n = (size_t)k;
        for (size_t i = 0; i < k; i++) {
            uint64_t v;
            uint32_t sl;
            if (!is_string) {
                if (get_u64(&r, &v)) {
                    why = "truncated classes";
                    goto out;
                }
                ds->classes.ints[i] = (long long)v;
                continue;
            }
            if (get_u32(&r, &sl) || sl > r.left || sl > DATA_MAX_LABEL_LEN ||
                memchr(r.p, '\0', sl)) {
                why = "bad class label";
                goto out;
            }
            ds->classes.strs[i] = malloc((size_t)sl + 1);
            if (!ds->classes.strs[i]) {
                rc = tg_err_set(err, TG_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(ds->classes.strs[i], r.p, sl);
            ds->classes.strs[i][sl] = '\0';
            r.p += sl;
            r.left -= sl;
        }
    }
    if (r.left != 0) {
        why = "trailing bytes";
        goto out;
    }
    if (dataset_check(ds, NULL)) {
        why = "invalid values";
        goto out;
    }
    *out = ds;
    ds = NULL;
out:
    if (why && !rc)
        rc = tg_err_set(err, TG_EIO, "corrupt dataset: %s", why);
    dataset_free(ds);
    return rc;
}
