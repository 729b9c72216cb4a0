/* h_arrays.c: the array downloads of API.md 2.3 (GET /v1/jobs/{id}/arrays/{name}):
 * JSON, .npy or CSV, with row/column slices and downsampling, streamed from the stored
 * chunks (store_array_chunk) without loading the whole array. */
#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "../api/jx.h"
#include "app.h"
#include "handlers.h"
#include "util.h"

enum { FMT_JSON, FMT_NPY, FMT_CSV };

/* The most array elements one call of the content reader reads (8 MB of doubles). */
#define FILL_ELEMS ((size_t)1 << 20)
/* and the chunks loaded per call (a narrow column selection touches a new chunk at almost
 * every element: each load is a lookup, an open and a 1 MiB read) */
#define FILL_LOADS 8

typedef struct array_stream {
    char job_id[40], name[ROUTER_PARAM_LEN];
    size_t rows, cols;        /* stored shape (cols 0 = vector) */
    int vector;
    size_t r0, r1, c0, c1, k; /* slice and downsample factor */
    size_t out_rows, out_cols;
    int fmt;
    size_t next_row;          /* next output row */
    int phase;                /* 0 header, 1 rows, 2 footer, 3 done */
    double *chunk;            /* one stored chunk */
    long long chunk_idx;
    size_t chunk_n;           /* values in it */
    int row_active;           /* an output row is being accumulated */
    size_t cur_i, cur_j;      /* the next element of it */
    double *acc;              /* downsample accumulators (out_cols) */
    size_t *cnt;
    sbuf out;
    size_t off;
    int failed;
    unsigned loads;           /* chunks loaded in this call of the reader */
} array_stream;

static int elem(array_stream *a, size_t i, size_t j, double *v)
{
    size_t width = a->vector ? 1 : a->cols;
    size_t flat = i * width + j;
    long long idx = (long long)(flat / STORE_CHUNK);
    if (idx != a->chunk_idx) {
        if (store_array_chunk(app->st, a->job_id, a->name, (size_t)idx, a->chunk,
                              &a->chunk_n))
            return -1;
        a->chunk_idx = idx;
        a->loads++;
    }
    /* A chunk shorter than the shape says (a file or row changed under the download) is
     * an error, never a read of what the buffer held before. */
    if (flat % STORE_CHUNK >= a->chunk_n)
        return -1;
    *v = a->chunk[flat % STORE_CHUNK];
    return 0;
}

/* A value in the shortest form that reads back to the same double (API.md section 1). */
static void put_num(array_stream *a, double v)
{
    char num[32];
    if (isfinite(v))
        sbuf_put(&a->out, num, jx_format_number(v, num));
    else if (a->fmt == FMT_JSON)
        sbuf_puts(&a->out, "null");
    else if (!isnan(v))
        sbuf_puts(&a->out, v > 0 ? "inf" : "-inf");
}

/* Accumulates the output row a->next_row into a->acc (out_cols values), at most *budget
 * elements per call (a downsample block can span a whole 20000 x 20000 array: its work
 * is spread over calls of the content reader, so that one HTTP thread is never held by
 * it). Returns 1 when the row is complete, 0 when the budget ran out first, -1 on a read
 * error. */
static int row_step(array_stream *a, size_t *budget)
{
    size_t k = a->k;
    if (!a->row_active) {
        for (size_t j = 0; j < a->out_cols; j++) {
            a->acc[j] = 0;
            a->cnt[j] = 0;
        }
        a->cur_i = a->r0 + a->next_row * k;
        a->cur_j = a->c0;
        a->row_active = 1;
    }
    size_t i_hi = a->r0 + a->next_row * k + k;
    if (i_hi > a->r1)
        i_hi = a->r1;
    while (a->cur_i < i_hi) {
        while (a->cur_j < a->c1) {
            if (*budget == 0 || a->loads >= FILL_LOADS)
                return 0;
            double v;
            if (elem(a, a->cur_i, a->cur_j, &v))
                return -1;
            size_t oj = (a->cur_j - a->c0) / k;
            if (!isnan(v)) { /* NaN entries are left out of a block's mean */
                a->acc[oj] += v;
                a->cnt[oj]++;
            }
            a->cur_j++;
            (*budget)--;
        }
        a->cur_j = a->c0;
        a->cur_i++;
    }
    for (size_t j = 0; j < a->out_cols; j++)
        a->acc[j] = a->cnt[j] ? a->acc[j] / (double)a->cnt[j] : NAN;
    a->row_active = 0;
    return 1;
}

static void npy_header(array_stream *a)
{
    char dict[160];
    if (a->vector)
        snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu,), }",
                 a->out_rows);
    else
        snprintf(dict, sizeof dict,
                 "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu, %zu), }",
                 a->out_rows, a->out_cols);
    size_t len = strlen(dict);
    size_t total = 10 + len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    sbuf_put(&a->out, (const char *)pre, 10);
    sbuf_puts(&a->out, dict);
    for (size_t i = 0; i < pad; i++)
        sbuf_put(&a->out, " ", 1);
    sbuf_put(&a->out, "\n", 1);
}

/* Appends the next piece of output; sets phase 3 at the end. */
static int array_fill(array_stream *a)
{
    if (a->phase == 0) {
        if (a->fmt == FMT_NPY) {
            npy_header(a);
        } else if (a->fmt == FMT_JSON) {
            sbuf_puts(&a->out, "{\"name\":");
            sbuf_json_str(&a->out, a->name);
            if (a->vector)
                sbuf_printf(&a->out, ",\"shape\":[%zu],\"dtype\":\"float64\",\"data\":[",
                            a->out_rows);
            else
                sbuf_printf(&a->out, ",\"shape\":[%zu,%zu],\"dtype\":\"float64\",\"data\":[",
                            a->out_rows, a->out_cols);
        }
        a->phase = 1;
        return 0;
    }
    if (a->phase == 1) {
        /* A batch of rows per call keeps the per-call overhead low; the elements read
         * per call are bounded (FILL_ELEMS). */
        size_t budget = FILL_ELEMS;
        a->loads = 0;
        for (int batch = 0; batch < 64 && a->next_row < a->out_rows; batch++) {
            int st = row_step(a, &budget);
            if (st < 0)
                return -1;
            if (st == 0)
                break;
            size_t r = a->next_row++;
            if (a->fmt == FMT_NPY) {
                sbuf_put(&a->out, (const char *)a->acc, a->out_cols * sizeof(double));
            } else if (a->fmt == FMT_CSV) {
                for (size_t j = 0; j < a->out_cols; j++) {
                    if (j)
                        sbuf_put(&a->out, ",", 1);
                    put_num(a, a->acc[j]);
                }
                sbuf_put(&a->out, "\n", 1);
            } else {
                if (r)
                    sbuf_put(&a->out, ",", 1);
                if (!a->vector)
                    sbuf_put(&a->out, "[", 1);
                for (size_t j = 0; j < a->out_cols; j++) {
                    if (j)
                        sbuf_put(&a->out, ",", 1);
                    put_num(a, a->acc[j]);
                }
                if (!a->vector)
                    sbuf_put(&a->out, "]", 1);
            }
            if (a->out.len > 256 * 1024)
                break;
        }
        if (a->next_row >= a->out_rows)
            a->phase = 2;
        return 0;
    }
    if (a->phase == 2) {
        if (a->fmt == FMT_JSON)
            sbuf_puts(&a->out, "]}");
        a->phase = 3;
    }
    return 0;
}

static ssize_t array_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    array_stream *a = cls;
    (void)pos;
    if (a->off >= a->out.len) {
        if (a->phase == 3)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* One bounded step; when it produced nothing yet (a long downsample block), 0
         * tells the library to call again on its next turn, after the other
         * connections of this thread. */
        if (array_fill(a) || a->out.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (a->out.len == 0)
            return a->phase == 3 ? MHD_CONTENT_READER_END_OF_STREAM : 0;
    }
    size_t n = a->out.len - a->off;
    if (n > max)
        n = max;
    memcpy(buf, a->out.p + a->off, n);
    a->off += n;
    if (a->off == a->out.len)
        a->off = a->out.len = 0;
    return (ssize_t)n;
}

static void array_free(void *cls)
{
    array_stream *a = cls;
    free(a->chunk);
    free(a->acc);
    free(a->cnt);
    sbuf_free(&a->out);
    free(a);
}

/* Parses a Python-style half-open slice "a:b" (either side may be empty or negative)
 * against length n. */
static int parse_slice(const char *s, size_t n, size_t *lo, size_t *hi)
{
    const char *colon = strchr(s, ':');
    long long a = 0, b = (long long)n;
    char *end;
    if (!colon)
        return -1;
    if (colon != s) {
        a = strtoll(s, &end, 10);
        if (end != colon)
            return -1;
    }
    if (colon[1]) {
        b = strtoll(colon + 1, &end, 10);
        if (*end)
            return -1;
    }
    if (a < 0)
        a += (long long)n;
    if (b < 0)
        b += (long long)n;
    if (a < 0)
        a = 0;
    if (b > (long long)n)
        b = (long long)n;
    if (a > (long long)n)
        a = (long long)n;
    if (b < a)
        b = a;
    *lo = (size_t)a;
    *hi = (size_t)b;
    return 0;
}

void h_job_array(hreq *h)
{
    const char *id = h->m.params[0], *name = h->m.params[1];
    job_row j;
    int rc = store_job_get(app->st, id, STORE_JOB_LIGHT, &j);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
        return;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "store error reading job %s", id);
        return;
    }
    int unfinished = !store_job_finished(j.status);
    job_row_deinit(&j);
    if (unfinished) {
        http_reply_error(h, API_CONFLICT, NULL, "job %s has not finished", id);
        return;
    }
    size_t rows, cols;
    rc = store_array_info(app->st, id, name, &rows, &cols);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "job %s has no array %s", id, name);
        return;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "store error reading array %s", name);
        return;
    }
    array_stream *a = calloc(1, sizeof *a);
    if (!a) {
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    if (strlen(id) >= sizeof a->job_id) {
        array_free(a);
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
        return;
    }
    memcpy(a->job_id, id, strlen(id) + 1);
    memcpy(a->name, name, strlen(name) + 1);
    a->rows = rows;
    a->cols = cols;
    a->vector = cols == 0;
    a->chunk_idx = -1;
    a->fmt = FMT_JSON;
    const char *fmt = http_query(h, "format");
    const char *accept = http_header(h, "Accept");
    if (fmt) {
        if (strcmp(fmt, "npy") == 0)
            a->fmt = FMT_NPY;
        else if (strcmp(fmt, "csv") == 0)
            a->fmt = FMT_CSV;
        else if (strcmp(fmt, "json") != 0) {
            array_free(a);
            http_reply_error(h, API_INVALID_ARGUMENT, "format",
                             "format must be json, npy or csv (got \"%.32s\")", fmt);
            return;
        }
    } else if (accept && strstr(accept, "application/x-npy")) {
        a->fmt = FMT_NPY;
    } else if (accept && strstr(accept, "text/csv")) {
        a->fmt = FMT_CSV;
    }
    const char *rs = http_query(h, "rows"), *cs = http_query(h, "cols"),
               *ds = http_query(h, "downsample");
    a->r0 = 0;
    a->r1 = rows;
    a->c0 = 0;
    a->c1 = a->vector ? 1 : cols;
    a->k = 1;
    if (rs && parse_slice(rs, rows, &a->r0, &a->r1)) {
        array_free(a);
        http_reply_error(h, API_INVALID_ARGUMENT, "rows", "rows must be a slice a:b");
        return;
    }
    if (cs && (a->vector || parse_slice(cs, cols, &a->c0, &a->c1))) {
        const char *why = a->vector ? "cols does not apply to a vector"
                                    : "cols must be a slice c:d";
        array_free(a);
        http_reply_error(h, API_INVALID_ARGUMENT, "cols", "%s", why);
        return;
    }
    if (ds) {
        char *end;
        long k = strtol(ds, &end, 10);
        if (!*ds || *end || k < 1 || k > 1000000) {
            array_free(a);
            http_reply_error(h, API_INVALID_ARGUMENT, "downsample",
                             "downsample must be an integer >= 1");
            return;
        }
        a->k = (size_t)k;
        size_t side = a->r1 - a->r0;
        if (!a->vector && a->c1 - a->c0 > side)
            side = a->c1 - a->c0;
        if (a->k > 1 && side > 0 && a->k > side) {
            array_free(a);
            http_reply_error(h, API_INVALID_ARGUMENT, "downsample",
                             "downsample (%ld) is larger than the array's longest side in "
                             "the selection (%zu)", k, side);
            return;
        }
    }
    a->out_rows = (a->r1 - a->r0 + a->k - 1) / a->k;
    a->out_cols = a->vector ? 1 : (a->c1 - a->c0 + a->k - 1) / a->k;
    if (a->vector && a->k > 1) {
        /* A vector is downsampled along its one axis. */
        a->out_cols = 1;
    }
    a->chunk = malloc(STORE_CHUNK * sizeof(double));
    a->acc = malloc((a->out_cols ? a->out_cols : 1) * sizeof(double));
    a->cnt = malloc((a->out_cols ? a->out_cols : 1) * sizeof(size_t));
    if (!a->chunk || !a->acc || !a->cnt) {
        array_free(a);
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, array_read, a, array_free);
    if (!r) {
        array_free(a);
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(r, "Content-Type",
                            a->fmt == FMT_NPY   ? "application/x-npy"
                            : a->fmt == FMT_CSV ? "text/csv"
                                                : "application/json");
    if (a->fmt == FMT_NPY) {
        char cd[200];
        snprintf(cd, sizeof cd, "attachment; filename=\"%s.npy\"", name);
        MHD_add_response_header(r, "Content-Disposition", cd);
    }
    http_reply_response(h, 200, r);
}
