/* h_jobs.c: the job endpoints of API.md section 2: submit (with dry_run and
 * Idempotency-Key), get, list, cancel, delete, the SSE stream and array downloads.
 *
 * Job objects are rendered from the stored JSON texts by concatenation (no re-parsing
 * of results), which keeps polling cheap. */
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "../api/kinds.h"
#include "app.h"
#include "events.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "util.h"

/* ---- rendering --------------------------------------------------------------------- */

static void put_time(sbuf *b, const char *key, const char *t)
{
    sbuf_printf(b, ",\"%s\":", key);
    if (t && *t)
        sbuf_json_str(b, t);
    else
        sbuf_puts(b, "null");
}

static void put_raw(sbuf *b, const char *key, const char *json)
{
    sbuf_printf(b, ",\"%s\":%s", key, json && *json ? json : "null");
}

/* The job object of API.md 2.2; full = with request, partial and result. */
static void render_job(sbuf *b, const job_row *j, int full)
{
    sbuf_puts(b, "{\"id\":");
    sbuf_json_str(b, j->id);
    sbuf_puts(b, ",\"kind\":");
    sbuf_json_str(b, j->kind);
    sbuf_puts(b, ",\"label\":");
    sbuf_json_str(b, j->label);
    sbuf_puts(b, ",\"status\":");
    sbuf_json_str(b, j->status);
    put_time(b, "created_at", j->created_at);
    put_time(b, "started_at", j->started_at);
    put_time(b, "finished_at", j->finished_at);
    sbuf_printf(b, ",\"attempt\":%d", j->attempt);
    put_raw(b, "progress", j->progress);
    if (full)
        put_raw(b, "request", j->request);
    put_raw(b, "provenance", j->provenance);
    put_raw(b, "error", j->error);
    if (full) {
        put_raw(b, "partial", j->partial);
        put_raw(b, "result", j->result);
    }
    sbuf_printf(b, ",\"links\":{\"self\":\"/v1/jobs/%s\",\"events\":\"/v1/jobs/%s/events\"}}",
                j->id, j->id);
}

static void reply_job(hreq *h, int status, const job_row *j)
{
    sbuf b = {0};
    render_job(&b, j, 1);
    if (b.oom)
        http_reply_error(h, API_INTERNAL, NULL, "out of memory rendering job %s", j->id);
    else
        http_reply_json_text(h, status, b.p, b.len);
    sbuf_free(&b);
}

/* Reads job `id` and replies with it (404 when gone). */
static void reply_job_by_id(hreq *h, int status, const char *id)
{
    job_row j;
    int rc = store_job_get(app->st, id, 0, &j);
    if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
    else if (rc)
        http_reply_error(h, API_INTERNAL, NULL, "store error reading job %s", id);
    else
        reply_job(h, status, &j);
    job_row_deinit(&j);
}

/* ---- submit ------------------------------------------------------------------------ */

int server_load_dataset(void *ud, const char *id, tg_dataset **out, tg_err *err)
{
    dataset_row d;
    (void)ud;
    int rc = store_dataset_get(app->st, id, 1, &d);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "no dataset %s", id);
    if (rc)
        return tg_err_set(err, TG_EIO, "store error reading dataset %s", id);
    rc = data_deserialize(d.body, d.body_len, out, err);
    dataset_row_deinit(&d);
    return rc;
}

void h_job_submit(hreq *h)
{
    tg_err err;
    kind_estimate est = {0, 0};
    json_t *filled = NULL, *body = NULL;
    char *request_text = NULL, *canon = NULL;
    const char *dry = http_query(h, "dry_run");
    int dry_run = dry && (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0);

    tg_err_clear(&err);
    if (app->shutting_down && !dry_run) {
        http_reply_error(h, API_UNAVAILABLE, NULL, "the server is shutting down");
        return;
    }
    if (dry && !dry_run && strcmp(dry, "false") != 0 && strcmp(dry, "0") != 0) {
        http_reply_error(h, API_INVALID_ARGUMENT, "dry_run", "dry_run must be true or false");
        return;
    }
    if (!(body = http_body_json(h)))
        return;
    kind_env env = {.data = {server_load_dataset, NULL},
                    .load_model = server_load_model,
                    .test_kinds = app->cfg.test_kinds};
    int rc = kinds_validate(body, &env, &filled, &est, &err);
    if (rc) {
        http_reply_status(h, rc, &err);
        goto out;
    }
    if (est.memory_bytes > (double)app->cfg.memory_budget) {
        http_reply_error(h, API_TOO_LARGE, NULL,
                         "the job needs an estimated %.0f bytes of memory; the server's "
                         "memory budget is %lld bytes",
                         est.memory_bytes, app->cfg.memory_budget);
        goto out;
    }
    if (dry_run) {
        http_reply_json(h, 200,
                        json_pack("{s:O, s:{s:I, s:f}}", "request", filled, "estimate",
                                  "memory_bytes", (json_int_t)ceil(est.memory_bytes), "flops",
                                  est.flops));
        goto out;
    }
    const char *idem = http_header(h, "Idempotency-Key");
    if (idem && (strlen(idem) == 0 || strlen(idem) > 255)) {
        http_reply_error(h, API_INVALID_ARGUMENT, "Idempotency-Key",
                         "Idempotency-Key must have 1 to 255 characters");
        goto out;
    }
    if (idem)
        canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    request_text = json_dumps(filled, JSON_COMPACT);
    if (!request_text || (idem && !canon)) {
        http_reply_error(h, API_INTERNAL, NULL, "out of memory encoding the request");
        goto out;
    }

    job_row j;
    memset(&j, 0, sizeof j);
    util_new_id("j_", j.id, sizeof j.id);
    snprintf(j.kind, sizeof j.kind, "%s", json_string_value(json_object_get(filled, "kind")));
    snprintf(j.status, sizeof j.status, "queued");
    util_now_rfc3339(j.created_at, sizeof j.created_at);
    const char *label = json_string_value(json_object_get(filled, "label"));
    j.label = (char *)label;
    j.request = request_text;
    char prog[160];
    snprintf(prog, sizeof prog, "{\"fraction\":0.0,\"message\":\"queued\",\"updated_at\":\"%s\"}",
             j.created_at);
    j.progress = prog;
    json_t *to = json_object_get(filled, "timeout_s");
    j.timeout_s = to ? json_number_value(to) : 0;
    j.notify_url = (char *)json_string_value(json_object_get(filled, "notify_url"));
    j.mem_estimate = (long long)ceil(est.memory_bytes);
    json_t *data = json_object_get(filled, "data");
    const char *model_ref = json_string_value(json_object_get(filled, "model"));
    if (!model_ref) /* a train job reads its init_model */
        model_ref = json_string_value(
            json_object_get(json_object_get(filled, "params"), "init_model"));
    store_ref refs[] = {{STORE_REF_DATASET, json_string_value(json_object_get(data, "dataset"))},
                        {STORE_REF_MODEL, model_ref}}; /* a NULL id: no reference */
    j.refs = refs;
    j.n_refs = 2;

    int existing = 0;
    rc = store_job_insert(app->st, &j, idem, canon, app->cfg.max_queue, &existing, &err);
    if (rc) {
        if (rc == TG_EIO)
            http_reply_error(h, API_UNAVAILABLE, NULL, "the store is not writable: %s", err.msg);
        else
            http_reply_status(h, rc, &err);
        goto out;
    }
    if (existing) {
        reply_job_by_id(h, 200, j.id);
        goto out;
    }
    pool_notify(app->pool);
    metrics_job(j.kind, "queued", 0);
    log_job(j.id, j.kind, "-", "queued", 0, NULL);
    char loc[80];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", j.id);
    http_add_header(h, "Location", loc);
    reply_job(h, 202, &j);
out:
    free(canon);
    free(request_text);
    json_decref(filled);
    json_decref(body);
}

/* ---- get, list, cancel, delete ----------------------------------------------------- */

void h_job_get(hreq *h)
{
    reply_job_by_id(h, 200, h->m.params[0]);
}

static int valid_status(const char *s)
{
    static const char *const st[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, st[i]) == 0)
            return 1;
    return 0;
}

void h_job_list(hreq *h)
{
    job_filter f = {0};
    const char *limit = http_query(h, "limit");
    const char *cursor = http_query(h, "cursor");
    f.status = http_query(h, "status");
    f.kind = http_query(h, "kind");
    f.label = http_query(h, "label");
    f.limit = 50;
    if (f.status && !valid_status(f.status)) {
        http_reply_error(h, API_INVALID_ARGUMENT, "status",
                         "status must be one of queued, running, succeeded, failed, cancelled");
        return;
    }
    if (limit) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > 500) {
            http_reply_error(h, API_INVALID_ARGUMENT, "limit",
                             "limit must be an integer in [1, 500] (got \"%.32s\")", limit);
            return;
        }
        f.limit = (int)v;
    }
    if (cursor) {
        char *end;
        long long v = cursor[0] == 'c' ? strtoll(cursor + 1, &end, 36) : -1;
        if (v <= 0 || *end) {
            http_reply_error(h, API_INVALID_ARGUMENT, "cursor", "cursor is not valid");
            return;
        }
        f.before_seq = v;
    }
    job_row *rows;
    size_t n;
    long long next;
    if (store_job_list(app->st, &f, &rows, &n, &next)) {
        http_reply_error(h, API_INTERNAL, NULL, "store error listing jobs");
        return;
    }
    sbuf b = {0};
    sbuf_puts(&b, "{\"jobs\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_put(&b, ",", 1);
        render_job(&b, &rows[i], 0);
        job_row_deinit(&rows[i]);
    }
    free(rows);
    sbuf_puts(&b, "],\"next_cursor\":");
    if (next) {
        char c[32], digits[32];
        int k = 0;
        unsigned long long v = (unsigned long long)next;
        while (v) {
            digits[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
            v /= 36;
        }
        c[0] = 'c';
        for (int i = 0; i < k; i++)
            c[1 + i] = digits[k - 1 - i];
        c[1 + k] = '\0';
        sbuf_json_str(&b, c);
    } else {
        sbuf_puts(&b, "null");
    }
    sbuf_puts(&b, "}");
    if (b.oom)
        http_reply_error(h, API_INTERNAL, NULL, "out of memory listing jobs");
    else
        http_reply_json_text(h, 200, b.p, b.len);
    sbuf_free(&b);
}

void h_job_cancel(hreq *h)
{
    const char *id = h->m.params[0];
    char now[32];
    for (int tries = 0; tries < 5; tries++) {
        if (pool_cancel(app->pool, id)) {
            reply_job_by_id(h, 202, id);
            return;
        }
        int rc = store_job_cancel_queued(app->st, id, util_now_rfc3339(now, sizeof now));
        if (rc == TG_OK) {
            job_row j;
            if (store_job_get(app->st, id, 1, &j) == TG_OK) {
                metrics_job(j.kind, "cancelled", 0);
                log_job(id, j.kind, "queued", "cancelled", j.attempt, NULL);
                job_row_deinit(&j);
            }
            events_publish(id, "status", "{\"status\":\"cancelled\"}", 1);
            reply_job_by_id(h, 200, id);
            return;
        }
        if (rc == TG_ENOTFOUND) {
            http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
            return;
        }
        if (rc == TG_ECONFLICT) {
            http_reply_error(h, API_CONFLICT, NULL, "job %s has already finished", id);
            return;
        }
        if (rc < 0) {
            http_reply_error(h, API_INTERNAL, NULL, "store error cancelling job %s", id);
            return;
        }
        /* rc == 1: claimed by a worker between the two checks; look again. */
    }
    http_reply_error(h, API_CONFLICT, NULL, "job %s is changing state; retry", id);
}

void h_job_delete(hreq *h)
{
    const char *id = h->m.params[0];
    int rc = store_job_delete(app->st, id);
    if (rc == TG_OK)
        http_reply(h, 204, NULL, "", 0);
    else if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
    else if (rc == TG_ECONFLICT)
        http_reply_error(h, API_CONFLICT, NULL,
                         "job %s is queued or running: cancel it before deleting it", id);
    else
        http_reply_error(h, API_INTERNAL, NULL, "store error deleting job %s", id);
}

/* ---- SSE --------------------------------------------------------------------------- */

/* The stream runs on MHD's thread pool without blocking it: when no event is waiting,
 * the content callback parks the connection (MHD_suspend_connection) and returns 0; the
 * parking thread below resumes it when an event arrives, a heartbeat is due, or the
 * process shuts down. */
typedef struct sse_state {
    ev_sub *sub;
    struct MHD_Connection *conn;
    sbuf out;
    size_t off;
    int done;
    double last_write;        /* monotonic seconds of the last bytes sent */
    int parked;               /* in the parking list (guarded by park_mu) */
    struct sse_state *next;
} sse_state;

#define SSE_HEARTBEAT_S 15.0

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static sse_state *parked;
static pthread_t park_thread;
static int park_started, park_stop;

static void *park_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&park_mu);
    while (!park_stop || parked) {
        double now = util_mono();
        for (sse_state **pp = &parked; *pp;) {
            sse_state *s = *pp;
            if (park_stop || events_ready(s->sub) ||
                now - s->last_write >= SSE_HEARTBEAT_S) {
                *pp = s->next;
                s->parked = 0;
                MHD_resume_connection(s->conn);
                continue;
            }
            pp = &s->next;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&park_cv, &park_mu, &ts);
    }
    pthread_mutex_unlock(&park_mu);
    return NULL;
}

void sse_park_start(void)
{
    pthread_mutex_lock(&park_mu);
    if (!park_started && pthread_create(&park_thread, NULL, park_main, NULL) == 0)
        park_started = 1;
    pthread_mutex_unlock(&park_mu);
}

void sse_park_stop(void)
{
    pthread_mutex_lock(&park_mu);
    park_stop = 1;
    pthread_cond_broadcast(&park_cv);
    int started = park_started;
    pthread_mutex_unlock(&park_mu);
    if (started)
        pthread_join(park_thread, NULL);
}

static void sse_event(sbuf *b, const char *type, const char *data)
{
    sbuf_printf(b, "event: %s\ndata: %s\n\n", type, data);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_state *s = cls;
    (void)pos;
    for (;;) {
        if (s->off < s->out.len) {
            size_t n = s->out.len - s->off;
            if (n > max)
                n = max;
            memcpy(buf, s->out.p + s->off, n);
            s->off += n;
            if (s->off == s->out.len) {
                s->out.len = 0;
                s->off = 0;
            }
            s->last_write = util_mono();
            return (ssize_t)n;
        }
        /* Streams live through the drain of a SIGTERM (jobs still finish then); they
         * end when the hub shuts down, just before the daemon stops. */
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        char *type = NULL, *data = NULL;
        int terminal = 0;
        int rc = events_next(s->sub, 0.0, &type, &data, &terminal);
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == 1) {
            sse_event(&s->out, type, data);
            if (terminal)
                s->done = 1;
            free(type);
            free(data);
            continue;
        }
        if (util_mono() - s->last_write >= SSE_HEARTBEAT_S) {
            sbuf_puts(&s->out, ": heartbeat\n\n");
            continue;
        }
        /* Nothing to send: park until an event, a heartbeat or shutdown. */
        pthread_mutex_lock(&park_mu);
        if (park_stop) {
            pthread_mutex_unlock(&park_mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        s->parked = 1;
        s->next = parked;
        parked = s;
        MHD_suspend_connection(s->conn);
        pthread_cond_broadcast(&park_cv);
        pthread_mutex_unlock(&park_mu);
        return 0;
    }
}

static void sse_free(void *cls)
{
    sse_state *s = cls;
    pthread_mutex_lock(&park_mu);
    if (s->parked)
        for (sse_state **pp = &parked; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
    pthread_mutex_unlock(&park_mu);
    events_unsubscribe(s->sub);
    sbuf_free(&s->out);
    free(s);
}

static int terminal_status(const char *st)
{
    return strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
           strcmp(st, "cancelled") == 0;
}

void h_job_events(hreq *h)
{
    const char *id = h->m.params[0];
    sse_state *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    s->conn = h->conn;
    s->last_write = util_mono();
    /* Subscribe first, then read the state: no event can fall in between. */
    s->sub = events_subscribe(id);
    job_row j;
    int rc = store_job_get(app->st, id, 1, &j);
    if (rc || !s->sub) {
        sse_free(s);
        if (rc == TG_ENOTFOUND)
            http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
        else
            http_reply_error(h, API_INTERNAL, NULL, "cannot read job %s", id);
        job_row_deinit(&j);
        return;
    }
    char st[64];
    snprintf(st, sizeof st, "{\"status\":\"%s\"}", j.status);
    if (strcmp(j.status, "running") == 0 && j.progress)
        sse_event(&s->out, "progress", j.progress);
    sse_event(&s->out, "status", st);
    if (terminal_status(j.status))
        s->done = 1;
    job_row_deinit(&j);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    http_reply_response(h, 200, r);
}

/* ---- arrays ------------------------------------------------------------------------ */

enum { FMT_JSON, FMT_NPY, FMT_CSV };

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
    double *acc;              /* downsample accumulators (out_cols) */
    size_t *cnt;
    sbuf out;
    size_t off;
    int failed;
} array_stream;

static int elem(array_stream *a, size_t i, size_t j, double *v)
{
    size_t width = a->vector ? 1 : a->cols;
    size_t flat = i * width + j;
    long long idx = (long long)(flat / STORE_CHUNK);
    if (idx != a->chunk_idx) {
        size_t n;
        if (store_array_chunk(app->st, a->job_id, a->name, (size_t)idx, a->chunk, &n))
            return -1;
        a->chunk_idx = idx;
    }
    *v = a->chunk[flat % STORE_CHUNK];
    return 0;
}

static void put_num(array_stream *a, double v)
{
    if (a->fmt == FMT_JSON) {
        if (isfinite(v))
            sbuf_printf(&a->out, "%.17g", v);
        else
            sbuf_puts(&a->out, "null");
    } else if (isfinite(v) || !isnan(v)) {
        if (isfinite(v))
            sbuf_printf(&a->out, "%.17g", v);
        else
            sbuf_puts(&a->out, v > 0 ? "inf" : "-inf");
    }
}

/* Produces the values of output row r into a->acc (out_cols values). */
static int output_row(array_stream *a, size_t r)
{
    size_t k = a->k;
    for (size_t j = 0; j < a->out_cols; j++) {
        a->acc[j] = 0;
        a->cnt[j] = 0;
    }
    size_t i_lo = a->r0 + r * k, i_hi = i_lo + k < a->r1 ? i_lo + k : a->r1;
    for (size_t i = i_lo; i < i_hi; i++) {
        for (size_t j = a->c0; j < a->c1; j++) {
            double v;
            if (elem(a, i, j, &v))
                return -1;
            size_t oj = (j - a->c0) / k;
            a->acc[oj] += v;
            a->cnt[oj]++;
        }
    }
    for (size_t j = 0; j < a->out_cols; j++)
        a->acc[j] = a->cnt[j] ? a->acc[j] / (double)a->cnt[j] : NAN;
    return 0;
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
        /* A batch of rows per call keeps the per-call overhead low. */
        for (int batch = 0; batch < 64 && a->next_row < a->out_rows; batch++) {
            size_t r = a->next_row++;
            if (output_row(a, r))
                return -1;
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
    for (;;) {
        if (a->off < a->out.len) {
            size_t n = a->out.len - a->off;
            if (n > max)
                n = max;
            memcpy(buf, a->out.p + a->off, n);
            a->off += n;
            if (a->off == a->out.len)
                a->off = a->out.len = 0;
            return (ssize_t)n;
        }
        if (a->phase == 3)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (array_fill(a) || a->out.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
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
    int rc = store_job_get(app->st, id, 1, &j);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
        return;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "store error reading job %s", id);
        return;
    }
    int unfinished = !terminal_status(j.status);
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
