/* jx.c: strict request decoding helpers (see jx.h). */
#include "jx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local unsigned oom_count;

void jx_oom_note(void)
{
    oom_count++;
}

static void *counting_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        jx_oom_note();
    return p;
}

void jx_mem_init(void)
{
    json_set_alloc_funcs(counting_malloc, free);
}

unsigned jx_oom_mark(void)
{
    return oom_count;
}

int jx_oom_since(unsigned mark)
{
    return oom_count != mark;
}

const char *jx_path(char *buf, size_t n, const char *prefix, const char *key)
{
    if (!prefix || !*prefix)
        snprintf(buf, n, "%s", key);
    else
        snprintf(buf, n, "%s.%s", prefix, key);
    return buf;
}

const char *jx_index_path(char *buf, size_t n, const char *prefix, size_t i)
{
    snprintf(buf, n, "%s[%zu]", prefix ? prefix : "", i);
    return buf;
}

/* Levenshtein distance, bounded to short names (field names). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[65], cur[65];
    if (la > 64 || lb > 64)
        return 100;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

int jx_check_fields(const json_t *obj, const char *path, const char *const *allowed,
                    tg_err *err)
{
    const char *key;
    json_t *val;
    char fb[256];
    json_object_foreach((json_t *)obj, key, val) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0) {
                ok = 1;
                break;
            }
        if (ok)
            continue;
        const char *best = NULL;
        size_t bd = 4;
        for (size_t i = 0; allowed[i]; i++) {
            size_t dd = edit_distance(key, allowed[i]);
            if (dd < bd) {
                bd = dd;
                best = allowed[i];
            }
        }
        jx_path(fb, sizeof fb, path, key);
        if (best)
            return tg_err_setf(err, TG_EUNKNOWN, fb, "unknown field %s (did you mean \"%s\"?)",
                               fb, best);
        return tg_err_setf(err, TG_EUNKNOWN, fb, "unknown field %s", fb);
    }
    return TG_OK;
}

int jx_expect_object(const json_t *v, const char *path, tg_err *err)
{
    if (!json_is_object(v))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be an object",
                           *path ? path : "the request body");
    return TG_OK;
}

static int check_range(double x, const char *fb, double lo, int lo_open, double hi,
                       int hi_open, tg_err *err)
{
    int bad_lo = lo_open ? !(x > lo) : !(x >= lo);
    int bad_hi = hi_open ? !(x < hi) : !(x <= hi);
    if (bad_lo || bad_hi) {
        char lo_s[64] = "", hi_s[64] = "";
        if (isfinite(lo))
            snprintf(lo_s, sizeof lo_s, "%s %.17g", lo_open ? ">" : ">=", lo);
        if (isfinite(hi))
            snprintf(hi_s, sizeof hi_s, "%s %.17g", hi_open ? "<" : "<=", hi);
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be %s%s%s (got %.17g)", fb, lo_s,
                           (*lo_s && *hi_s) ? " and " : "", hi_s, x);
    }
    return TG_OK;
}

int jx_as_number(const json_t *v, const char *path, double *out, tg_err *err)
{
    if (!json_is_number(v))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be a number", path);
    double x = json_number_value(v);
    if (!isfinite(x))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be finite", path);
    *out = x;
    return TG_OK;
}

static int number_at(const json_t *v, const char *fb, double lo, int lo_open, double hi,
                     int hi_open, double *out, tg_err *err)
{
    double x;
    int rc = jx_as_number(v, fb, &x, err);
    if (rc)
        return rc;
    rc = check_range(x, fb, lo, lo_open, hi, hi_open, err);
    if (rc)
        return rc;
    *out = x;
    return TG_OK;
}

int jx_number(const json_t *obj, const char *key, const char *path, double def, double lo,
              int lo_open, double hi, int hi_open, double *out, tg_err *err)
{
    char fb[256];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return TG_OK;
    }
    return number_at(v, jx_path(fb, sizeof fb, path, key), lo, lo_open, hi, hi_open, out,
                     err);
}

int jx_number_req(const json_t *obj, const char *key, const char *path, double lo,
                  int lo_open, double hi, int hi_open, double *out, tg_err *err)
{
    char fb[256];
    jx_path(fb, sizeof fb, path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return tg_err_setf(err, TG_EMISSING, fb, "%s is required", fb);
    return number_at(v, fb, lo, lo_open, hi, hi_open, out, err);
}

int jx_as_int(const json_t *v, const char *path, long long lo, long long hi,
              long long *out, tg_err *err)
{
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        if (!isfinite(r) || r != floor(r))
            return tg_err_setf(err, TG_EINVAL, path, "%s must be an integer (got %.17g)",
                               path, r);
        /* An integral value out of range says so (1e18 is an integer, only too large). */
        if (r < (double)lo || r > (double)hi)
            return tg_err_setf(err, TG_EINVAL, path, "%s must be in [%lld, %lld] (got %.17g)",
                               path, lo, hi, r);
        if (fabs(r) > 9.007199254740992e15)
            return tg_err_setf(err, TG_EINVAL, path,
                               "%s: %.17g is beyond 2^53, where a number in exponent or "
                               "decimal form may not be the integer written; write it as "
                               "digits only", path, r);
        x = (long long)r;
    } else {
        return tg_err_setf(err, TG_EINVAL, path, "%s must be an integer", path);
    }
    if (x < lo || x > hi)
        return tg_err_setf(err, TG_EINVAL, path, "%s must be in [%lld, %lld] (got %lld)",
                           path, lo, hi, x);
    *out = x;
    return TG_OK;
}

/* An integral real (3.0) is rewritten as the integer in obj, so that the filled-in
 * request (always a copy owned by the decoder) shows canonical integers. */
static void canonical_int(const json_t *obj, const char *key, const json_t *v, long long x)
{
    if (json_is_real(v))
        json_object_set_new((json_t *)obj, key, json_integer((json_int_t)x));
}

int jx_int(const json_t *obj, const char *key, const char *path, long long def,
           long long lo, long long hi, long long *out, tg_err *err)
{
    char fb[256];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return TG_OK;
    }
    int rc = jx_as_int(v, jx_path(fb, sizeof fb, path, key), lo, hi, out, err);
    if (rc == TG_OK)
        canonical_int(obj, key, v, *out);
    return rc;
}

int jx_int_req(const json_t *obj, const char *key, const char *path, long long lo,
               long long hi, long long *out, tg_err *err)
{
    char fb[256];
    jx_path(fb, sizeof fb, path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return tg_err_setf(err, TG_EMISSING, fb, "%s is required", fb);
    int rc = jx_as_int(v, fb, lo, hi, out, err);
    if (rc == TG_OK)
        canonical_int(obj, key, v, *out);
    return rc;
}

int jx_bool(const json_t *obj, const char *key, const char *path, int def, int *out,
            tg_err *err)
{
    char fb[256];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return TG_OK;
    }
    if (!json_is_boolean(v))
        return tg_err_setf(err, TG_EINVAL, jx_path(fb, sizeof fb, path, key),
                           "%s must be true or false", fb);
    *out = json_is_true(v);
    return TG_OK;
}

static int string_at(const json_t *v, const char *fb, const char *const *choices,
                     size_t max_len, const char **out, tg_err *err)
{
    if (!json_is_string(v))
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be a string", fb);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > (max_len ? max_len : 4096))
        return tg_err_setf(err, TG_EINVAL, fb, "%s is longer than %zu bytes", fb,
                           max_len ? max_len : 4096);
    if (strlen(s) != len)
        return tg_err_setf(err, TG_EINVAL, fb, "%s must not contain NUL characters", fb);
    if (choices) {
        for (size_t i = 0; choices[i]; i++)
            if (strcmp(s, choices[i]) == 0) {
                *out = s;
                return TG_OK;
            }
        char list[200];
        size_t off = 0;
        list[0] = '\0';
        for (size_t i = 0; choices[i] && off < sizeof list - 1; i++) {
            int w = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                             choices[i]);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be one of: %s (got \"%.40s\")", fb,
                           list, s);
    }
    *out = s;
    return TG_OK;
}

int jx_string(const json_t *obj, const char *key, const char *path, const char *def,
              const char *const *choices, size_t max_len, const char **out, tg_err *err)
{
    char fb[256];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return TG_OK;
    }
    return string_at(v, jx_path(fb, sizeof fb, path, key), choices, max_len, out, err);
}

int jx_string_req(const json_t *obj, const char *key, const char *path,
                  const char *const *choices, size_t max_len, const char **out,
                  tg_err *err)
{
    char fb[256];
    jx_path(fb, sizeof fb, path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return tg_err_setf(err, TG_EMISSING, fb, "%s is required", fb);
    return string_at(v, fb, choices, max_len, out, err);
}

int jx_matrix(const json_t *v, const char *path, int allow_vector, size_t max_elems,
              size_t *rows_out, size_t *cols_out, double **out, tg_err *err)
{
    char fb[256];
    if (!json_is_array(v))
        return tg_err_setf(err, TG_EDATA, path, "%s must be a list of rows", path);
    size_t rows = json_array_size(v);
    if (rows == 0)
        return tg_err_setf(err, TG_EDATA, path, "%s is empty", path);
    json_t *first = json_array_get(v, 0);
    int vector = !json_is_array(first);
    if (vector && !allow_vector)
        return tg_err_setf(err, TG_EDATA, jx_index_path(fb, sizeof fb, path, 0),
                           "%s must be a list of numbers (a row)", fb);
    size_t cols = vector ? 1 : json_array_size(first);
    if (cols == 0)
        return tg_err_setf(err, TG_EDATA, jx_index_path(fb, sizeof fb, path, 0),
                           "%s is an empty row", fb);
    size_t total;
    if (tg_mul_size(rows, cols, &total) || total > max_elems)
        return tg_err_setf(err, TG_ETOOLARGE, path, "%s has more than %zu elements", path,
                           max_elems);
    double *m = malloc(total * sizeof *m);
    if (!m)
        return tg_err_setf(err, TG_ENOMEM, path, "out of memory reading %s", path);
    for (size_t i = 0; i < rows; i++) {
        json_t *row = json_array_get(v, i);
        if (vector) {
            if (!json_is_number(row)) {
                free(m);
                return tg_err_setf(err, TG_EDATA, jx_index_path(fb, sizeof fb, path, i),
                                   "%s must be a number", fb);
            }
            m[i] = json_number_value(row);
            if (!isfinite(m[i])) {
                free(m);
                jx_index_path(fb, sizeof fb, path, i);
                return tg_err_setf(err, TG_EDATA, fb, "%s is not finite", fb);
            }
            continue;
        }
        if (!json_is_array(row) || json_array_size(row) != cols) {
            free(m);
            jx_index_path(fb, sizeof fb, path, i);
            if (!json_is_array(row))
                return tg_err_setf(err, TG_EDATA, fb, "%s must be a list of numbers", fb);
            return tg_err_setf(err, TG_EDATA, fb,
                               "ragged matrix: %s has %zu columns, row 0 has %zu", fb,
                               json_array_size(row), cols);
        }
        for (size_t j = 0; j < cols; j++) {
            json_t *e = json_array_get(row, j);
            if (!json_is_number(e) || !isfinite(json_number_value(e))) {
                free(m);
                snprintf(fb, sizeof fb, "%s[%zu][%zu]", path, i, j);
                return tg_err_setf(err, TG_EDATA, fb, "%s must be a finite number", fb);
            }
            m[i * cols + j] = json_number_value(e);
        }
    }
    *rows_out = rows;
    *cols_out = cols;
    *out = m;
    return TG_OK;
}

int jx_vector(const json_t *v, const char *path, size_t max_elems, size_t *n_out,
              double **out, tg_err *err)
{
    char fb[256];
    if (!json_is_array(v))
        return tg_err_setf(err, TG_EINVAL, path, "%s must be a list of numbers", path);
    size_t n = json_array_size(v);
    if (n > max_elems)
        return tg_err_setf(err, TG_ETOOLARGE, path, "%s has more than %zu elements", path,
                           max_elems);
    double *m = malloc((n ? n : 1) * sizeof *m);
    if (!m)
        return tg_err_setf(err, TG_ENOMEM, path, "out of memory reading %s", path);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_number(e) || !isfinite(json_number_value(e))) {
            free(m);
            return tg_err_setf(err, TG_EINVAL, jx_index_path(fb, sizeof fb, path, i),
                               "%s must be a finite number", fb);
        }
        m[i] = json_number_value(e);
    }
    *n_out = n;
    *out = m;
    return TG_OK;
}

void jx_default(json_t *obj, const char *key, json_t *val)
{
    if (!val)
        return;
    if (json_object_get(obj, key))
        json_decref(val);
    else
        json_object_set_new(obj, key, val);
}

json_t *jx_real(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *jx_real_array(const double *x, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, jx_real(x[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *jx_real_matrix(const double *x, size_t rows, size_t cols)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < rows; i++)
        if (json_array_append_new(a, jx_real_array(x + i * cols, cols))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- output ------------------------------------------------------------------------ */

/* A growing output buffer; oom is sticky. */
typedef struct jx_buf {
    char *p;
    size_t len, cap;
    int oom;
} jx_buf;

static void buf_put(jx_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* jansson's dtostr touch-ups: a "." or an exponent, and no "+" or leading zeros in the
 * exponent ("1e+20" -> "1e20", "1e-05" -> "1e-5"). */
static size_t real_tidy(char *buf, size_t len)
{
    char *e = strchr(buf, 'e');
    if (!e && !strchr(buf, '.')) {
        memcpy(buf + len, ".0", 3);
        return len + 2;
    }
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0' && end[1])
            end++;
        if (end != start) {
            memmove(start, end, strlen(end) + 1);
            len -= (size_t)(end - start);
        }
    }
    return len;
}

size_t jx_format_number(double x, char *buf)
{
    /* For a normal double, a decimal of at most 15 significant digits that reads back
     * to x is x rounded to 15 digits (DBL_DIG = 15: such decimals are further apart
     * than doubles), and %g drops trailing zeros; so %.15g, %.16g, %.17g in turn yield
     * the shortest form, %.17g always reading back. Subnormals have fewer digits of
     * precision: for them every precision from 1 is tried. */
    int lo = fabs(x) < 2.2250738585072014e-308 && x != 0 ? 1 : 15;
    int len = 0;
    for (int prec = lo; prec <= 17; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, x);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &x, sizeof x) == 0)
            break;
    }
    return (size_t)len;
}

size_t jx_format_real(double x, char *buf)
{
    return real_tidy(buf, jx_format_number(x, buf));
}

static void put_string(jx_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    size_t run = 0;
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (!esc)
            continue;
        buf_put(b, s + run, i - run);
        buf_put(b, esc, strlen(esc));
        run = i + 1;
    }
    buf_put(b, s + run, n - run);
    buf_put(b, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(jx_buf *b, const json_t *v, size_t flags, int depth)
{
    char num[48];
    if (b->oom)
        return;
    if (depth > 2048) { /* jansson's own parser stops at 2048 levels */
        b->oom = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_NULL:
        buf_put(b, "null", 4);
        break;
    case JSON_TRUE:
        buf_put(b, "true", 4);
        break;
    case JSON_FALSE:
        buf_put(b, "false", 5);
        break;
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_put(b, num, (size_t)n);
        break;
    }
    case JSON_REAL: {
        double x = json_real_value(v);
        if (!isfinite(x))
            buf_put(b, "null", 4);
        else
            buf_put(b, num, jx_format_real(x, num));
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        buf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_put(b, ",", 1);
            put_value(b, json_array_get(v, i), flags, depth + 1);
        }
        buf_put(b, "]", 1);
        break;
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = n && (flags & JSON_SORT_KEYS) ? malloc(n * sizeof *keys) : NULL;
        const char *k;
        json_t *x;
        if (n && (flags & JSON_SORT_KEYS) && !keys) {
            b->oom = 1;
            return;
        }
        buf_put(b, "{", 1);
        if (keys) {
            json_object_foreach((json_t *)v, k, x) keys[i++] = k;
            qsort(keys, n, sizeof *keys, key_cmp);
            for (i = 0; i < n; i++) {
                if (i)
                    buf_put(b, ",", 1);
                put_string(b, keys[i], strlen(keys[i]));
                buf_put(b, ":", 1);
                put_value(b, json_object_get(v, keys[i]), flags, depth + 1);
            }
            free(keys);
        } else {
            json_object_foreach((json_t *)v, k, x) {
                if (i++)
                    buf_put(b, ",", 1);
                put_string(b, k, strlen(k));
                buf_put(b, ":", 1);
                put_value(b, x, flags, depth + 1);
            }
        }
        buf_put(b, "}", 1);
        break;
    }
    }
}

char *jx_dumps(const json_t *v, size_t flags)
{
    jx_buf b = {0};
    if (!v)
        return NULL;
    put_value(&b, v, flags, 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
