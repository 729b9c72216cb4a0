/* h_jobs.c: the job endpoints of API.md section 2: submit (with dry_run and
 * Idempotency-Key), get, list, cancel, delete, and the SSE stream (sse.c streams it);
 * array downloads are h_arrays.c's.
 *
 * Job objects are rendered from the stored JSON texts by concatenation (no re-parsing
 * of results), which keeps polling cheap. */
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "../api/kinds.h"
#include "app.h"
#include "catalog.h"
#include "events.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "sse.h"
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
    sbuf_printf(b, ",\"cancel_requested\":%s",
                j->cancel_requested && strcmp(j->status, "running") == 0 ? "true" : "false");
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
    int rc = store_job_get(app->st, id, STORE_JOB_FULL, &j);
    if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
    else if (rc)
        http_reply_error(h, API_INTERNAL, NULL, "store error reading job %s", id);
    else
        reply_job(h, status, &j);
    job_row_deinit(&j);
}

/* ---- submit ------------------------------------------------------------------------ */

void h_job_submit(hreq *h)
{
    tg_err err;
    kind_plan plan;
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
    kind_env env = {.src = catalog_src(app->st), .test_kinds = app->cfg.test_kinds,
                    .memory_budget = (double)app->cfg.memory_budget};
    int rc = kinds_validate(body, &env, &filled, &plan, &err);
    if (rc) {
        http_reply_status(h, rc, &err);
        goto out;
    }
    if (plan.memory_bytes > (double)app->cfg.memory_budget) {
        http_reply_error(h, API_TOO_LARGE, NULL,
                         "the job needs an estimated %.0f bytes of memory; the server's "
                         "memory budget is %lld bytes",
                         plan.memory_bytes, app->cfg.memory_budget);
        goto out;
    }
    if (dry_run) {
        http_reply_json(h, 200,
                        json_pack("{s:O, s:{s:I, s:f}}", "request", filled, "estimate",
                                  "memory_bytes", (json_int_t)ceil(plan.memory_bytes), "flops",
                                  plan.flops));
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
    request_text = jx_dumps(filled, JSON_COMPACT);
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
    j.mem_estimate = (long long)ceil(plan.memory_bytes);
    /* What the job reads, as its kind's validation found it: guarded against deletion. */
    _Static_assert(KINDS_MAX_REFS <= STORE_MAX_REFS, "a job's references fit the store's");
    store_ref refs[KINDS_MAX_REFS];
    for (size_t i = 0; i < plan.n_refs; i++)
        refs[i] = (store_ref){plan.refs[i].type == KIND_REF_MODEL ? STORE_REF_MODEL
                                                                  : STORE_REF_DATASET,
                              plan.refs[i].id};
    j.refs = refs;
    j.n_refs = plan.n_refs;

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

void h_job_list(hreq *h)
{
    job_filter f = {0};
    const char *limit = http_query(h, "limit");
    const char *cursor = http_query(h, "cursor");
    f.status = http_query(h, "status");
    f.kind = http_query(h, "kind");
    f.label = http_query(h, "label");
    f.limit = 50;
    store_job_status parsed;
    if (f.status && store_job_status_parse(f.status, &parsed) != TG_OK) {
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
        errno = 0;
        long long v = cursor[0] == 'c' ? strtoll(cursor + 1, &end, 36) : -1;
        if (v <= 0 || *end || errno == ERANGE) {
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

/* Cancel is idempotent (API.md 2.5): a job being cancelled answers 202 again, a
 * cancelled one 200; the flag that shows the former lives in the store
 * (store_job_cancel_request), which also makes the job end cancelled when the server
 * stops or dies before its worker sees the request. */
void h_job_cancel(hreq *h)
{
    const char *id = h->m.params[0];
    char now[32];
    for (int tries = 0; tries < 5; tries++) {
        if (pool_cancel(app->pool, id)) {
            if (store_job_cancel_request(app->st, id))
                log_msg(LOG_ERROR, "store", "cannot record a cancellation request", "job", id,
                        NULL);
            reply_job_by_id(h, 202, id);
            return;
        }
        long long seq = 0;
        int rc = store_job_cancel_queued(app->st, id, util_now_rfc3339(now, sizeof now), &seq);
        if (rc == TG_OK) {
            job_row j;
            if (store_job_get(app->st, id, STORE_JOB_LIGHT, &j) == TG_OK) {
                metrics_job(j.kind, "cancelled", 0);
                log_job(id, j.kind, "queued", "cancelled", j.attempt, NULL);
                job_row_deinit(&j);
            }
            events_publish(id, seq, "status", "{\"status\":\"cancelled\"}", 1);
            reply_job_by_id(h, 200, id);
            return;
        }
        if (rc == STORE_CANCEL_DONE) {
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
        if (rc != STORE_CANCEL_RUNNING) {
            http_reply_error(h, API_INTERNAL, NULL, "store error cancelling job %s", id);
            return;
        }
        /* Claimed by a worker between the two checks: look again. */
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

/* The value of a Last-Event-ID header: *after_out = the id (>= 0) and 1, or 0 when the
 * header is absent or not an id we issued (a decimal number): the stream then starts
 * from the current attempt. */
static int last_event_id(hreq *h, long long *after_out)
{
    const char *v = http_header(h, "Last-Event-ID");
    char *end;
    *after_out = 0;
    if (!v || *v < '0' || *v > '9')
        return 0;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0)
        return 0;
    *after_out = n;
    return 1;
}

/* Formats the stored events of job id after *last (from the current attempt's start
 * when from_attempt) into out; *last = the last id, *done |= one is terminal; *n_out
 * (may be NULL) = how many. TG_OK, TG_ENOMEM, TG_EIO. */
static int put_history(const char *id, int from_attempt, sbuf *out, long long *last,
                       int *done, size_t *n_out)
{
    job_event *evs = NULL;
    size_t n = 0;
    int rc = store_job_events(app->st, id, *last, from_attempt, &evs, &n);
    for (size_t i = 0; i < n; i++) {
        sse_format(out, evs[i].seq, evs[i].type, evs[i].data);
        *last = evs[i].seq;
        *done |= evs[i].terminal;
        job_event_deinit(&evs[i]);
    }
    free(evs);
    if (n_out)
        *n_out = n;
    return rc ? rc : out->oom ? TG_ENOMEM : TG_OK;
}

/* The sse_history of job streams. */
static int job_history(const char *id, sbuf *out, long long *last_id, int *done_out)
{
    return put_history(id, 0, out, last_id, done_out, NULL);
}

/* API.md 2.6: the stored events of the current attempt (or those after Last-Event-ID),
 * then the live ones. The join (events.h): subscribe, read the history, and let the
 * stream skip live events whose id it has sent. */
void h_job_events(hreq *h)
{
    const char *id = h->m.params[0];
    long long after;
    int resume = last_event_id(h, &after);
    ev_sub *sub = events_subscribe(id);
    job_row j;
    sbuf first = {0};
    long long last = after;
    int done = 0;
    size_t n = 0;
    int rc = store_job_get(app->st, id, STORE_JOB_LIGHT, &j);
    if (rc == TG_OK && sub)
        rc = put_history(id, !resume, &first, &last, &done, &n);
    if (rc || !sub) {
        events_unsubscribe(sub);
        if (rc == TG_ENOTFOUND)
            http_reply_error(h, API_NOT_FOUND, NULL, "no job %s", id);
        else
            http_reply_error(h, API_INTERNAL, NULL, "cannot read job %s", id);
        job_row_deinit(&j);
        sbuf_free(&first);
        return;
    }
    if (!done && store_job_finished(j.status)) {
        /* Finished: what the history did not hold is past (a resumed stream) or was never
         * stored (a job from before events were): the final status without an id. */
        if (!resume) {
            char st[64];
            snprintf(st, sizeof st, "{\"status\":\"%s\"}", j.status);
            sse_format(&first, 0, "status", st);
        }
        done = 1;
    } else if (!done && n == 0 && !resume) {
        /* No history (a job from before events were): the current status. */
        char st[64];
        snprintf(st, sizeof st, "{\"status\":\"%s\"}", j.status);
        sse_format(&first, 0, "status", st);
    }
    job_row_deinit(&j);
    struct MHD_Response *r =
        first.oom ? NULL
                  : sse_response(h->conn, sub, first.p, first.len, done, last, job_history, id);
    if (first.oom)
        events_unsubscribe(sub);
    sbuf_free(&first);
    if (!r) {
        http_reply_error(h, API_INTERNAL, NULL, "out of memory");
        return;
    }
    http_reply_response(h, 200, r);
}
