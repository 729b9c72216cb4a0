/* csv.c: the bounded RFC 4180 parser of csv.h.
 *
 * One pass over the input; unescaped fields are appended to one growing text buffer
 * (NUL after each) and their offsets to one growing array, so a table costs two
 * allocations whatever its size. Every size product and growth step is checked, and
 * the limits are tested before a field, a column or a row is added, so a hostile input
 * costs at most its own size plus one field of slack.
 */
#include "csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_builder {
    char *text;
    size_t text_len, text_cap;
    size_t *off;
    size_t n_off, off_cap;
} csv_builder;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t cap2 = *cap ? *cap : 64, bytes;
    if (need <= *cap)
        return TG_OK;
    while (cap2 < need) {
        if (cap2 > ((size_t)-1) / 4)
            return TG_ENOMEM;
        cap2 *= 2;
    }
    if (tg_mul_size(cap2, elem, &bytes))
        return TG_ENOMEM;
    void *q = realloc(*p, bytes);
    if (!q)
        return TG_ENOMEM;
    *p = q;
    *cap = cap2;
    return TG_OK;
}

static int put_char(csv_builder *b, char c)
{
    if (b->text_len == b->text_cap) {
        void *p = b->text;
        int rc = grow(&p, &b->text_cap, b->text_len + 1, 1);
        b->text = p;
        if (rc)
            return rc;
    }
    b->text[b->text_len++] = c;
    return TG_OK;
}

static int put_offset(csv_builder *b, size_t o)
{
    if (b->n_off == b->off_cap) {
        void *p = b->off;
        int rc = grow(&p, &b->off_cap, b->n_off + 1, sizeof(size_t));
        b->off = p;
        if (rc)
            return rc;
    }
    b->off[b->n_off++] = o;
    return TG_OK;
}

/* Names the place of an error: "header" / "row R", with ", column NAME" when known. */
static const char *place(char *buf, size_t n, const csv_builder *b, size_t n_cols,
                         size_t row, size_t col, int with_col)
{
    char where[32];
    if (row == 0)
        snprintf(where, sizeof where, "header");
    else
        snprintf(where, sizeof where, "row %zu", row);
    if (!with_col)
        snprintf(buf, n, "%s", where);
    else if (row > 0 && col < n_cols)
        snprintf(buf, n, "%s, column %.80s", where, b->text + b->off[col]);
    else
        snprintf(buf, n, "%s, column %zu", where, col + 1);
    return buf;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts pointers to the header names to find a duplicate in O(c log c). */
static int check_duplicates(const csv_builder *b, size_t n_cols, tg_err *err)
{
    size_t bytes;
    int rc = TG_OK;
    if (tg_mul_size(n_cols, sizeof(char *), &bytes))
        return tg_err_setf(err, TG_ENOMEM, "header", "out of memory");
    const char **names = malloc(bytes ? bytes : 1);
    if (!names)
        return tg_err_setf(err, TG_ENOMEM, "header", "out of memory");
    for (size_t i = 0; i < n_cols; i++)
        names[i] = b->text + b->off[i];
    qsort(names, n_cols, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n_cols; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            rc = tg_err_setf(err, TG_EDATA, "header", "duplicate column name \"%.80s\"",
                             names[i]);
            break;
        }
    free(names);
    return rc;
}

static int is_crlf(const char *buf, size_t len, size_t pos)
{
    return buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n';
}

/* Appends the field starting at *pos (unescaped, NUL-terminated) to b and advances *pos
 * to the separator or line end after it. On error *why says what is wrong. */
static int parse_field(const char *buf, size_t len, size_t *pos, csv_builder *b,
                       size_t max_field_len, const char **why)
{
    size_t p = *pos, start = b->text_len;
    int rc = TG_OK, quoted = p < len && buf[p] == '"';

    if (quoted)
        p++;
    for (;;) {
        char c;
        if (p >= len) {
            if (quoted) {
                *why = "unterminated quoted field";
                return TG_EDATA;
            }
            break;
        }
        c = buf[p];
        if (quoted && c == '"') {
            if (p + 1 < len && buf[p + 1] == '"') {
                p++; /* "" stands for one quote */
            } else {
                p++;
                if (p < len && buf[p] != ',' && buf[p] != '\n' && !is_crlf(buf, len, p)) {
                    *why = "unexpected character after a closing quote";
                    return TG_EDATA;
                }
                break;
            }
        } else if (!quoted) {
            if (c == ',' || c == '\n' || is_crlf(buf, len, p))
                break;
            if (c == '\r') {
                *why = "carriage return without a line feed";
                return TG_EDATA;
            }
            if (c == '"') {
                *why = "quote inside an unquoted field";
                return TG_EDATA;
            }
        }
        if (c == '\0') {
            *why = "NUL byte";
            return TG_EDATA;
        }
        if (b->text_len - start >= max_field_len) {
            *why = "field too long";
            return TG_ETOOLARGE;
        }
        rc = put_char(b, c);
        if (rc)
            return rc;
        p++;
    }
    rc = put_char(b, '\0');
    if (!rc)
        rc = put_offset(b, start);
    *pos = p;
    return rc;
}

int csv_parse(const char *buf, size_t len, const csv_limits *lim, csv_table **out,
              tg_err *err)
{
    csv_builder b = {0};
    csv_table *t = NULL;
    size_t pos = 0, row = 0, n_cols = 0;
    char fb[160];
    int rc = TG_OK;

    *out = NULL;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    /* One byte-order mark is an encoding signature; a second one would become part of
     * the first column's name (a name that looks like its neighbour's), so it is an
     * error rather than text. */
    if (pos == 3 && len >= 6 && memcmp(buf + 3, "\xEF\xBB\xBF", 3) == 0) {
        rc = tg_err_setf(err, TG_EDATA, "header",
                         "header: the CSV starts with two byte-order marks (U+FEFF); "
                         "at most one is allowed");
        goto out;
    }
    while (pos < len) {
        if (buf[pos] == '\n' || is_crlf(buf, len, pos)) { /* a blank line is no record */
            pos += buf[pos] == '\n' ? 1 : 2;
            continue;
        }
        if (row > lim->max_rows) {
            place(fb, sizeof fb, &b, n_cols, row, 0, 0);
            rc = tg_err_setf(err, TG_ETOOLARGE, fb, "the CSV has more than %zu data rows",
                             lim->max_rows);
            goto out;
        }
        size_t col = 0;
        for (;;) {
            const char *why = "";
            if (col >= lim->max_cols || (row > 0 && col >= n_cols)) {
                place(fb, sizeof fb, &b, n_cols, row, 0, 0);
                if (row == 0)
                    rc = tg_err_setf(err, TG_ETOOLARGE, fb, "%s has more than %zu columns",
                                     fb, lim->max_cols);
                else
                    rc = tg_err_setf(err, TG_EDATA, fb,
                                     "%s has more than the %zu fields of the header", fb,
                                     n_cols);
                goto out;
            }
            rc = parse_field(buf, len, &pos, &b, lim->max_field_len, &why);
            if (rc == TG_ENOMEM) {
                rc = tg_err_set(err, TG_ENOMEM, "out of memory parsing the CSV");
                goto out;
            }
            if (rc) {
                place(fb, sizeof fb, &b, n_cols, row, col, 1);
                if (rc == TG_ETOOLARGE)
                    rc = tg_err_setf(err, rc, fb, "%s: a field longer than %zu bytes", fb,
                                     lim->max_field_len);
                else
                    rc = tg_err_setf(err, rc, fb, "%s: %s", fb, why);
                goto out;
            }
            col++;
            if (pos < len && buf[pos] == ',') {
                pos++;
                continue;
            }
            if (pos < len) /* LF or CRLF */
                pos += buf[pos] == '\n' ? 1 : 2;
            break;
        }
        if (row == 0) {
            n_cols = col;
            rc = check_duplicates(&b, n_cols, err);
            if (rc)
                goto out;
        } else if (col != n_cols) {
            place(fb, sizeof fb, &b, n_cols, row, 0, 0);
            rc = tg_err_setf(err, TG_EDATA, fb, "%s has %zu fields, the header has %zu", fb,
                             col, n_cols);
            goto out;
        }
        row++;
    }
    if (row == 0) {
        rc = tg_err_setf(err, TG_EDATA, "header", "the CSV is empty: a header row is required");
        goto out;
    }
    t = malloc(sizeof *t);
    if (!t) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory parsing the CSV");
        goto out;
    }
    t->n_rows = row - 1;
    t->n_cols = n_cols;
    t->text = b.text;
    t->off = b.off;
    b.text = NULL;
    b.off = NULL;
    *out = t;
out:
    free(b.text);
    free(b.off);
    return rc;
}

void csv_free(csv_table *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->off);
    free(t);
}

const char *csv_header(const csv_table *t, size_t col)
{
    return t->text + t->off[col];
}

const char *csv_cell(const csv_table *t, size_t row, size_t col)
{
    return t->text + t->off[(row + 1) * t->n_cols + col];
}

long csv_find_column(const csv_table *t, const char *name)
{
    for (size_t j = 0; j < t->n_cols; j++)
        if (strcmp(csv_header(t, j), name) == 0)
            return (long)j;
    return -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Bounds s without surrounding blanks into [*b, *e); 0 when empty. */
static int trim(const char *s, const char **b, const char **e)
{
    const char *p = s, *q = s + strlen(s);
    while (p < q && is_blank(*p))
        p++;
    while (q > p && is_blank(q[-1]))
        q--;
    *b = p;
    *e = q;
    return q > p;
}

int csv_to_double(const char *s, double *out)
{
    const char *b, *e, *p;
    char tmp[128];
    size_t n_int = 0, n_frac = 0;
    if (!trim(s, &b, &e))
        return -1;
    p = b;
    if (*p == '+' || *p == '-')
        p++;
    while (p < e && is_digit(*p)) {
        p++;
        n_int++;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && is_digit(*p)) {
            p++;
            n_frac++;
        }
    }
    if (n_int + n_frac == 0)
        return -1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        size_t n_exp = 0;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        while (p < e && is_digit(*p)) {
            p++;
            n_exp++;
        }
        if (n_exp == 0)
            return -1;
    }
    if (p != e)
        return -1;
    /* The syntax above leaves only blanks (or the end) after e, where strtod stops, so it
     * can read the field in place: no copy, hence no allocation that could fail and be
     * taken for "not a number". Short fields are still copied (cheap, and the same). */
    size_t len = (size_t)(e - b);
    const char *num = b;
    if (len < sizeof tmp) {
        memcpy(tmp, b, len);
        tmp[len] = '\0';
        num = tmp;
    }
    double v = strtod(num, NULL);
    if (!isfinite(v))
        return -2;
    *out = v;
    return 0;
}

int csv_to_int(const char *s, long long *out)
{
    const char *b, *e, *p;
    if (!trim(s, &b, &e))
        return -1;
    p = b;
    if (*p == '+' || *p == '-')
        p++;
    if (p == e)
        return -1;
    for (const char *q = p; q < e; q++)
        if (!is_digit(*q))
            return -1;
    if (e - b > 25)
        return -1;
    char tmp[32];
    memcpy(tmp, b, (size_t)(e - b));
    tmp[e - b] = '\0';
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}
