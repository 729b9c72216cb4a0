/* check_jobs.c: the job lifecycle against servers of its own (API.md 2.5, 2.6, 6.1, 6.4):
 * crash recovery after kill -9 (re-queue with the attempt counted, `interrupted` after
 * --max-attempts), cancellation timing and idempotence (`cancel_requested`), the stored
 * event history of the stream (late clients, Last-Event-ID), the queue limit (429), the memory budget
 * (jobs that do not fit together run one after the other) and the SIGTERM drain (503
 * for new POSTs, a short job finishes, a long one is left queued without counting an
 * attempt, exit 0 within about 31 s).
 *
 * Each test starts its own server(s) with --workers 1 or 2 and long `sleep` jobs, so
 * the states it looks at are deterministic. */
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* POST /v1/jobs/{id}/cancel. */
static resp *cancel(srv *s, const char *id)
{
    return http_post(s, fmt("/v1/jobs/%s/cancel", id), NULL);
}

/* Submits a 10-minute sleep job and waits until it runs; returns its id. */
static const char *long_job_running(srv *s)
{
    const char *id = sleep_submit(s, "{\"ms\":600000}");
    job_wait(s, id, "running", 10);
    return id;
}

/* A server with one worker, busy with a 10-minute sleep job (*running_out, running), and a
 * second sleep job with params queued_params waiting behind it (*queued_out). */
static srv *one_busy_worker(const char **running_out, const char *queued_params,
                            const char **queued_out)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    *running_out = long_job_running(s);
    *queued_out = sleep_submit(s, queued_params);
    return s;
}

/* Reads the event stream of job `id` for up to timeout_s while a child process cancels
 * job `cancel_id` 0.4 s after the stream opened; fails the test unless the cancel
 * answered cancel_status and the server closed the stream. */
static sse_res *events_while_cancelling(srv *s, const char *id, const char *cancel_id,
                                        long cancel_status, double timeout_s)
{
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        sleep_s(0.4);
        resp *r = cancel(s, cancel_id);
        _exit(r->status == cancel_status ? 0 : 1);
    }
    sse_res *e = sse_read(s, fmt("/v1/jobs/%s/events", id), timeout_s);
    int st = 0;
    waitpid(kid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the cancel failed");
    ck_assert_msg(e->closed, "stream not closed after %.1f s", e->secs);
    return e;
}

/* ---- an event-stream client that sees ids --------------------------------------------- */

/* One event as received: its id (-1 when it had none), type and data. */
typedef struct idev {
    long long id;
    char type[32];
    char *data;
    json_t *json;
} idev;

typedef struct idstream {
    long status;
    int closed;   /* the server ended the stream */
    int n;
    idev ev[8192];
    /* parser state */
    char line[65536];
    size_t line_len;
    idev cur;
    char data[65536];
    size_t data_len;
} idstream;

static void idstream_line(idstream *r)
{
    char *l = r->line;
    if (r->line_len && l[r->line_len - 1] == '\r')
        l[--r->line_len] = '\0';
    if (r->line_len == 0) {
        if ((r->cur.type[0] || r->data_len) && r->n < (int)(sizeof r->ev / sizeof r->ev[0])) {
            idev *e = &r->ev[r->n++];
            *e = r->cur;
            if (!e->type[0])
                snprintf(e->type, sizeof e->type, "message");
            e->data = strdup(r->data);
            e->json = json_loads(r->data, 0, NULL);
        }
        memset(&r->cur, 0, sizeof r->cur);
        r->cur.id = -1;
        r->data_len = 0;
        r->data[0] = '\0';
        return;
    }
    if (l[0] == ':')
        return;
    char *val = strchr(l, ':');
    if (!val)
        return;
    *val++ = '\0';
    if (*val == ' ')
        val++;
    if (strcmp(l, "id") == 0)
        r->cur.id = strtoll(val, NULL, 10);
    else if (strcmp(l, "event") == 0)
        snprintf(r->cur.type, sizeof r->cur.type, "%s", val);
    else if (strcmp(l, "data") == 0)
        r->data_len += (size_t)snprintf(r->data + r->data_len, sizeof r->data - r->data_len,
                                        "%s", val);
}

static size_t idstream_write(char *p, size_t size, size_t nmemb, void *ud)
{
    idstream *r = ud;
    for (size_t i = 0; i < size * nmemb; i++) {
        if (p[i] == '\n') {
            r->line[r->line_len] = '\0';
            idstream_line(r);
            r->line_len = 0;
        } else if (r->line_len + 1 < sizeof r->line) {
            r->line[r->line_len++] = p[i];
        }
    }
    return size * nmemb;
}

/* The streams of this process, released at its exit (as the harness's objects). */
static idstream *streams[64];
static int n_streams;

static void streams_release(void)
{
    for (int k = 0; k < n_streams; k++) {
        for (int i = 0; i < streams[k]->n; i++) {
            free(streams[k]->ev[i].data);
            json_decref(streams[k]->ev[i].json);
        }
        free(streams[k]);
    }
    n_streams = 0;
}

/* GET /v1/jobs/{id}/events (with Last-Event-ID: last_id unless it is NULL) until the
 * server closes the stream or timeout_s passes (then the events received in full so
 * far). Lives until the process exits. */
static idstream *events_get(srv *s, const char *id, const char *last_id, double timeout_s)
{
    ck_assert_int_lt(n_streams, (int)(sizeof streams / sizeof streams[0]));
    idstream *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    if (n_streams == 0)
        atexit(streams_release);
    streams[n_streams++] = r;
    r->cur.id = -1;
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Accept: text/event-stream");
    if (s->token[0])
        hl = curl_slist_append(hl, fmt("Authorization: Bearer %s", s->token));
    if (last_id)
        hl = curl_slist_append(hl, fmt("Last-Event-ID: %s", last_id));
    curl_easy_setopt(c, CURLOPT_URL, fmt("%s/v1/jobs/%s/events", s->base, id));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1e3));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, idstream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    r->closed = curl_easy_perform(c) == CURLE_OK;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return r;
}

/* Fails unless every event of r has an id and the ids increase. */
static void assert_ids_increase(const idstream *r, const char *what)
{
    for (int i = 0; i < r->n; i++) {
        ck_assert_msg(r->ev[i].id > 0, "%s: event %d (%s %s) has no id", what, i, r->ev[i].type,
                      r->ev[i].data);
        ck_assert_msg(i == 0 || r->ev[i].id > r->ev[i - 1].id,
                      "%s: event %d has id %lld after %lld", what, i, r->ev[i].id,
                      r->ev[i - 1].id);
    }
}

/* The status of a status event (NULL for other events). */
static const char *ev_status(const idev *e)
{
    return strcmp(e->type, "status") == 0 ? jstr(e->json, "status") : NULL;
}

/* ---- (3) crash recovery ---------------------------------------------------------------- */

START_TEST(kill9_recovery)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *done = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, done, "succeeded", 10);
    const char *a = long_job_running(s);
    const char *b = sleep_submit(s, "{\"ms\":600000}");
    const char *c = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"c\",\"params\":{\"ms\":50}}");
    ck_assert_str_eq(jstr(job_get(s, b), "status"), "queued");
    ck_assert_double_eq(jnum(job_get(s, a), "attempt"), 1);

    /* A burst of submissions, killed right after the last 202. */
    const char *burst[20];
    for (int i = 0; i < 20; i++)
        burst[i] = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"burst\",\"params\":{\"ms\":0}}");
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", NULL);

    /* Every job that got a 202 is there. */
    resp *rb = http_get(s, "/v1/jobs?label=burst&limit=100");
    ck_assert_uint_eq(json_array_size(jpath(rb->json, "jobs")), 20);
    for (int i = 0; i < 20; i++)
        ck_assert_str_eq(jstr(job_get(s, burst[i]), "status"), "queued");
    json_t *jd = job_get(s, done);
    ck_assert_str_eq(jstr(jd, "status"), "succeeded");
    ck_assert_double_eq(jnum(jd, "attempt"), 1);
    /* The interrupted job runs again, as its second attempt. */
    json_t *ja = job_wait(s, a, "running", 10);
    ck_assert_double_eq(jnum(ja, "attempt"), 2);
    ck_assert(json_is_null(jpath(ja, "error")));
    json_t *jb = job_get(s, b);
    ck_assert_str_eq(jstr(jb, "status"), "queued");
    ck_assert_double_eq(jnum(jb, "attempt"), 0);
    json_t *jc = job_get(s, c);
    ck_assert_str_eq(jstr(jc, "status"), "queued");
    ck_assert_str_eq(jstr(jc, "label"), "c");
    ck_assert_double_eq(jnum(jc, "request.params.ms"), 50);
    resp *r = http_get(s, "/v1/jobs?limit=100");
    ck_assert_uint_eq(json_array_size(jpath(r->json, "jobs")), 24);

    /* The queue moves on after the recovered job: cancel it, b runs, then c. */
    ASSERT_STATUS(cancel(s, a), 202);
    job_wait(s, a, "cancelled", 5);
    job_wait(s, b, "running", 5);
    ASSERT_STATUS(cancel(s, b), 202);
    json_t *jc2 = job_wait(s, c, "succeeded", 10);
    ck_assert_double_eq(jnum(jc2, "attempt"), 1);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(kill9_interrupted_max_attempts_1)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", "--max-attempts", "1", NULL);
    const char *a = long_job_running(s);
    const char *b = sleep_submit(s, "{\"ms\":50}");
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", "--max-attempts", "1", NULL);
    json_t *ja = job_get(s, a);
    ck_assert_str_eq(jstr(ja, "status"), "failed");
    ck_assert_str_eq(jstr(ja, "error.code"), "interrupted");
    ck_assert_ptr_nonnull(jstr(ja, "error.message"));
    ck_assert(is_rfc3339_ms(jstr(ja, "finished_at")));
    ck_assert_double_eq(jnum(ja, "attempt"), 1);
    /* The queued job was not running: it is not interrupted, it runs. */
    json_t *jb = job_wait(s, b, NULL, 10);
    ck_assert_str_eq(jstr(jb, "status"), "succeeded");
    ck_assert_double_eq(jnum(jb, "attempt"), 1);
    /* A job failed as interrupted is finished: 409 on cancel, deletable. */
    ASSERT_ERR(cancel(s, a), 409, "conflict");
    ASSERT_STATUS(http_delete(s, fmt("/v1/jobs/%s", a)), 204);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(kill9_twice_max_attempts_2)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", "--max-attempts", "2", NULL);
    const char *a = long_job_running(s);
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", "--max-attempts", "2", NULL);
    json_t *ja = job_wait(s, a, "running", 10);
    ck_assert_double_eq(jnum(ja, "attempt"), 2);
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", "--max-attempts", "2", NULL);
    ja = job_get(s, a);
    ck_assert_str_eq(jstr(ja, "status"), "failed");
    ck_assert_str_eq(jstr(ja, "error.code"), "interrupted");
    ck_assert_double_eq(jnum(ja, "attempt"), 2);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- (4) cancellation ---------------------------------------------------------------- */

START_TEST(cancel_running_and_queued)
{
    const char *a, *b;
    srv *s = one_busy_worker(&a, "{\"ms\":600000}", &b);

    /* Queued: cancelled at once, 200. */
    resp *r = cancel(s, b);
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "status"), "cancelled");
    ck_assert(is_rfc3339_ms(jstr(r->json, "finished_at")));
    ck_assert_str_eq(jstr(job_get(s, b), "status"), "cancelled");
    ck_assert_str_eq(jstr(job_get(s, a), "status"), "running");

    /* Running: 202, then cancelled within 1 s of the POST. */
    double t0 = now_s();
    r = cancel(s, a);
    ASSERT_STATUS(r, 202);
    double dl = t0 + 3.0, t_done = -1;
    while (now_s() < dl) {
        const char *st = jstr(job_get(s, a), "status");
        if (strcmp(st, "cancelled") == 0) {
            t_done = now_s() - t0;
            break;
        }
        ck_assert_str_eq(st, "running");
        sleep_s(0.005);
    }
    ck_assert_msg(t_done >= 0, "running job not cancelled after 3 s");
    ck_assert_msg(t_done < 1.0, "running job took %.3f s to be cancelled", t_done);
    json_t *ja = job_get(s, a);
    ck_assert(json_is_null(jpath(ja, "error")));
    ck_assert(json_is_null(jpath(ja, "result")));
    ck_assert_double_lt(jnum(ja, "progress.fraction"), 1.0);

    /* Cancelled now: cancel is idempotent, 200 both. */
    ASSERT_STATUS(cancel(s, a), 200);
    ASSERT_STATUS(cancel(s, b), 200);

    /* The worker is free again. */
    const char *c = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, c, "succeeded", 5);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(cancel_is_idempotent)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    /* Its worker looks at the cancellation flag every 1.5 s: the request stays pending
     * long enough to be seen. */
    const char *a = sleep_submit(s, "{\"ms\":600000,\"progress_every_ms\":1500}");
    job_wait(s, a, "running", 10);
    const char *b = sleep_submit(s, "{\"ms\":0}");
    ck_assert(json_is_false(jpath(job_get(s, a), "cancel_requested")));

    /* Queued: 200, then 200 again. */
    resp *r = cancel(s, b);
    ASSERT_STATUS(r, 200);
    ck_assert(json_is_false(jpath(r->json, "cancel_requested")));
    r = cancel(s, b);
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "status"), "cancelled");

    /* Running: 202 showing the request. */
    r = cancel(s, a);
    ASSERT_STATUS(r, 202);
    ck_assert_str_eq(jstr(r->json, "status"), "running");
    ck_assert_msg(json_is_true(jpath(r->json, "cancel_requested")),
                  "the 202 of a cancel does not show cancel_requested: %s", r->body);
    json_t *ja = job_get(s, a);
    if (strcmp(jstr(ja, "status"), "running") == 0)
        ck_assert_msg(json_is_true(jpath(ja, "cancel_requested")),
                      "GET of a job being cancelled: %s", json_dumps(ja, JSON_COMPACT));
    /* Again while it stops: the same answer (or 200 once it has stopped), never 409. */
    r = cancel(s, a);
    ck_assert_msg(r->status == 202 || r->status == 200, "second cancel: %ld %s", r->status,
                  r->body);
    if (r->status == 202) {
        ck_assert_str_eq(jstr(r->json, "status"), "running");
        ck_assert(json_is_true(jpath(r->json, "cancel_requested")));
    } else {
        ck_assert_str_eq(jstr(r->json, "status"), "cancelled");
    }
    job_wait(s, a, "cancelled", 5);
    r = cancel(s, a);
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "status"), "cancelled");
    ck_assert(json_is_false(jpath(r->json, "cancel_requested")));


    /* Succeeded or failed: 409. */
    const char *c = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, c, "succeeded", 10);
    ASSERT_ERR(cancel(s, c), 409, "conflict");
    const char *d = sleep_submit(s, "{\"ms\":0,\"fail\":true}");
    job_wait(s, d, "failed", 10);
    ASSERT_ERR(cancel(s, d), 409, "conflict");
    ASSERT_ERR(http_post(s, "/v1/jobs/j_nosuchjob/cancel", NULL), 404, "not_found");
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(cancel_requested_survives_a_crash)
{
    /* The worker would see the request only after 60 s; the process dies first. */
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *a = sleep_submit(s, "{\"ms\":600000,\"progress_every_ms\":60000}");
    job_wait(s, a, "running", 10);
    ASSERT_STATUS(cancel(s, a), 202);
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", NULL);
    json_t *ja = job_get(s, a);
    ck_assert_msg(strcmp(jstr(ja, "status"), "cancelled") == 0,
                  "a job being cancelled when the process died is %s after the restart",
                  jstr(ja, "status"));
    ck_assert(json_is_null(jpath(ja, "error")));
    ck_assert(json_is_false(jpath(ja, "cancel_requested")));
    idstream *e = events_get(s, a, NULL, 5);
    ck_assert(e->closed);
    ck_assert_int_ge(e->n, 2);
    assert_ids_increase(e, "after the crash");
    ck_assert_str_eq(ev_status(&e->ev[0]), "running");
    ck_assert_str_eq(ev_status(&e->ev[e->n - 1]), "cancelled");
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_late_client_gets_the_history)
{
    srv *s = srv_spawn("--workers", "1", NULL);
    json_t *j = job_run(s, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},"
                           "\"params\":{\"hidden\":[8],\"epochs\":60}}",
                        "succeeded", 60);
    const char *id = jstr(j, "id");
    double t0 = now_s();
    idstream *r = events_get(s, id, NULL, 10);
    double dt = now_s() - t0;
    ck_assert_int_eq(r->status, 200);
    ck_assert_msg(r->closed && dt < 3.0, "the stream of a finished job took %.1f s", dt);
    assert_ids_increase(r, "late client");
    ck_assert_int_ge(r->n, 62);
    ck_assert_str_eq(ev_status(&r->ev[0]), "running");
    ck_assert_str_eq(ev_status(&r->ev[r->n - 1]), "succeeded");
    int epochs = 0, i30 = -1;
    for (int i = 0; i < r->n; i++) {
        json_t *ep = jpath(r->ev[i].json, "metrics.epoch");
        if (strcmp(r->ev[i].type, "progress") != 0 || !ep)
            continue;
        ck_assert_msg(json_integer_value(ep) == epochs + 1, "epoch %lld after %d",
                      (long long)json_integer_value(ep), epochs);
        if (++epochs == 30)
            i30 = i;
    }
    ck_assert_int_eq(epochs, 60);

    /* Reconnecting after epoch 30: exactly the events after it. */
    idstream *t = events_get(s, id, fmt("%lld", r->ev[i30].id), 10);
    ck_assert(t->closed);
    ck_assert_int_eq(t->n, r->n - i30 - 1);
    for (int k = 0; k < t->n; k++) {
        ck_assert_int_eq(t->ev[k].id, r->ev[i30 + 1 + k].id);
        ck_assert_str_eq(t->ev[k].data, r->ev[i30 + 1 + k].data);
    }
    /* After the final event: nothing more, and the stream closes. */
    t = events_get(s, id, fmt("%lld", r->ev[r->n - 1].id), 10);
    ck_assert(t->closed);
    ck_assert_int_eq(t->n, 0);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_reconnect_mid_run_no_gap)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *id = sleep_submit(s, "{\"ms\":3000,\"progress_every_ms\":50}");
    job_wait(s, id, "running", 10);
    sleep_s(0.5);
    /* A client connects mid-run: the attempt so far, then live events; it drops after 1 s. */
    idstream *a = events_get(s, id, NULL, 1.0);
    ck_assert_int_eq(a->status, 200);
    ck_assert(!a->closed);
    ck_assert_int_ge(a->n, 5);
    assert_ids_increase(a, "first connection");
    ck_assert_str_eq(ev_status(&a->ev[0]), "running");
    /* Away for a while, then back with Last-Event-ID. */
    sleep_s(0.5);
    idstream *b = events_get(s, id, fmt("%lld", a->ev[a->n - 1].id), 10);
    ck_assert_int_eq(b->status, 200);
    ck_assert(b->closed);
    ck_assert_int_ge(b->n, 2);
    assert_ids_increase(b, "reconnection");
    ck_assert_int_gt(b->ev[0].id, a->ev[a->n - 1].id);
    ck_assert_str_eq(ev_status(&b->ev[b->n - 1]), "succeeded");
    /* Together they are the whole attempt as a client that connects now gets it (every
     * sleep report carries metrics, so none is coalesced): no gap, no duplicate. */
    idstream *w = events_get(s, id, NULL, 10);
    ck_assert(w->closed);
    assert_ids_increase(w, "after the end");
    ck_assert_msg(a->n + b->n == w->n, "%d + %d events while it ran, %d stored", a->n, b->n,
                  w->n);
    for (int i = 0; i < w->n; i++) {
        const idev *e = i < a->n ? &a->ev[i] : &b->ev[i - a->n];
        ck_assert_msg(e->id == w->ev[i].id && strcmp(e->data, w->ev[i].data) == 0,
                      "event %d: %lld %s, stored %lld %s", i, e->id, e->data, w->ev[i].id,
                      w->ev[i].data);
    }
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_ids_continue_across_attempts)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *id = sleep_submit(s, "{\"ms\":600000,\"progress_every_ms\":50}");
    job_wait(s, id, "running", 10);
    idstream *a = events_get(s, id, NULL, 0.7);
    ck_assert_int_ge(a->n, 3);
    assert_ids_increase(a, "first attempt");
    long long last = a->ev[a->n - 1].id;
    /* The process dies; the job runs again as its second attempt. */
    srv_kill9(s);
    srv_start(s, "--enable-test-kinds", "--workers", "1", NULL);
    job_wait(s, id, "running", 10);
    /* Resuming: what the first attempt wrote after the last id seen (progress events
     * stored between our read and the kill), then the re-queue and the new attempt, all
     * after that id. */
    idstream *b = events_get(s, id, fmt("%lld", last), 0.7);
    assert_ids_increase(b, "resumed");
    ck_assert_int_ge(b->n, 1);
    ck_assert_int_gt(b->ev[0].id, last);
    int q = 0;
    while (q < b->n && strcmp(b->ev[q].type, "progress") == 0)
        q++;
    ck_assert_msg(q + 2 < b->n, "resumed stream: %d events, %d progress before the re-queue",
                  b->n, q);
    ck_assert_str_eq(ev_status(&b->ev[q]), "queued");
    ck_assert_str_eq(ev_status(&b->ev[q + 1]), "running");
    /* A new client: the current attempt only, from its `running` event. */
    idstream *c = events_get(s, id, NULL, 0.7);
    ck_assert_int_ge(c->n, 2);
    ck_assert_str_eq(ev_status(&c->ev[0]), "running");
    ck_assert_int_eq(c->ev[0].id, b->ev[q + 1].id);
    ASSERT_STATUS(cancel(s, id), 202);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_live_client_misses_no_epoch)
{
    /* Thousands of short epochs come faster than a stream is written: a client that
     * follows the job live still receives every one (what the in-memory ring could not
     * hold comes from the stored history). */
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *a = sleep_submit(s, "{\"ms\":1000}");
    job_wait(s, a, "running", 10);
    const char *id = job_submit(s, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},"
                                   "\"params\":{\"hidden\":[4],\"epochs\":5000}}");
    idstream *r = events_get(s, id, NULL, 60);
    ck_assert(r->closed);
    assert_ids_increase(r, "live client");
    ck_assert_str_eq(ev_status(&r->ev[0]), "queued");
    ck_assert_str_eq(ev_status(&r->ev[r->n - 1]), "succeeded");
    int epochs = 0;
    for (int i = 0; i < r->n; i++) {
        json_t *ep = jpath(r->ev[i].json, "metrics.epoch");
        if (strcmp(r->ev[i].type, "progress") != 0 || !ep)
            continue;
        ck_assert_msg(json_integer_value(ep) == epochs + 1, "epoch %lld after %d",
                      (long long)json_integer_value(ep), epochs);
        epochs++;
    }
    ck_assert_int_eq(epochs, 5000);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(delete_queued_and_running)
{
    const char *a, *b;
    srv *s = one_busy_worker(&a, "{\"ms\":600000}", &b);
    ASSERT_ERR(http_delete(s, fmt("/v1/jobs/%s", a)), 409, "conflict");
    ASSERT_ERR(http_delete(s, fmt("/v1/jobs/%s", b)), 409, "conflict");
    /* 409 for the array of a queued job too. */
    ASSERT_ERR(http_getf(s, "/v1/jobs/%s/arrays/values", b), 409, "conflict");
    ASSERT_STATUS(cancel(s, b), 200);
    ASSERT_STATUS(http_delete(s, fmt("/v1/jobs/%s", b)), 204);
    ASSERT_STATUS(cancel(s, a), 202);
    job_wait(s, a, "cancelled", 5);
    ASSERT_STATUS(http_delete(s, fmt("/v1/jobs/%s", a)), 204);
    resp *r = http_get(s, "/v1/jobs");
    ck_assert_uint_eq(json_array_size(jpath(r->json, "jobs")), 0);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_cancelled_job)
{
    /* A stream opened on a queued job sees it cancelled and closes. */
    const char *a, *b;
    srv *s = one_busy_worker(&a, "{\"ms\":600000}", &b);
    sse_res *e = events_while_cancelling(s, b, b, 200, 5);
    ck_assert_int_ge(e->n, 2);
    ck_assert_str_eq(e->ev[0].type, "status");
    ck_assert_str_eq(jstr(e->ev[0].json, "status"), "queued");
    ck_assert_str_eq(e->ev[e->n - 1].type, "status");
    ck_assert_str_eq(jstr(e->ev[e->n - 1].json, "status"), "cancelled");
    /* And one on the running job sees progress, then cancelled. */
    e = events_while_cancelling(s, a, a, 202, 5);
    int n_progress = 0;
    for (int i = 0; i < e->n; i++)
        n_progress += strcmp(e->ev[i].type, "progress") == 0;
    ck_assert_int_ge(n_progress, 2);
    ck_assert_str_eq(jstr(e->ev[e->n - 1].json, "status"), "cancelled");
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(sse_queued_then_runs)
{
    /* A stream opened on a queued job follows it: queued, running, progress, succeeded. */
    const char *a, *b;
    srv *s = one_busy_worker(&a, "{\"ms\":500}", &b);
    sse_res *e = events_while_cancelling(s, b, a, 202, 10);
    char seq[512] = "";
    for (int i = 0; i < e->n; i++) {
        const char *what = strcmp(e->ev[i].type, "status") == 0 ? jstr(e->ev[i].json, "status")
                                                                 : e->ev[i].type;
        size_t l = strlen(seq);
        snprintf(seq + l, sizeof seq - l, "%s%s", l ? "," : "", what ? what : "?");
    }
    ck_assert_msg(strncmp(seq, "queued,running,progress", 23) == 0, "events: %s", seq);
    ck_assert_msg(strlen(seq) >= 10 && strcmp(seq + strlen(seq) - 10, ",succeeded") == 0,
                  "events: %s", seq);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- queue limit and memory budget ------------------------------------------------------ */

START_TEST(queue_full)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", "--max-queue", "2", NULL);
    const char *a = long_job_running(s);
    const char *b = sleep_submit(s, "{\"ms\":600000}");
    sleep_submit(s, "{\"ms\":0}");
    resp *r = http_post(s, "/v1/jobs", "{\"kind\":\"sleep\",\"params\":{\"ms\":0}}");
    ASSERT_ERR(r, 429, "queue_full");
    const char *ra = resp_header(r, "Retry-After");
    ck_assert_msg(ra && atoi(ra) > 0, "429 without a Retry-After in seconds: %s",
                  ra ? ra : "(none)");
    /* Dry runs store nothing and are not limited. */
    r = http_post(s, "/v1/jobs?dry_run=true", "{\"kind\":\"sleep\"}");
    ASSERT_STATUS(r, 200);
    /* The 429 job was not stored. */
    r = http_get(s, "/v1/jobs?limit=10");
    ck_assert_uint_eq(json_array_size(jpath(r->json, "jobs")), 3);
    r = http_get(s, "/metrics");
    ck_assert_ptr_nonnull(strstr(r->body, "\ntangent_jobs_queued 2\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\ntangent_jobs_running 1\n"));
    /* Room again after a cancellation. */
    ASSERT_STATUS(cancel(s, b), 200);
    r = http_post(s, "/v1/jobs", "{\"kind\":\"sleep\",\"params\":{\"ms\":0}}");
    ASSERT_STATUS(r, 202);
    ASSERT_STATUS(cancel(s, a), 202);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(memory_budget_serializes)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "2", "--memory-budget", "1000", NULL);
    resp *r = http_post(s, "/v1/jobs", "{\"kind\":\"sleep\",\"params\":{\"memory_bytes\":1001}}");
    ASSERT_ERR(r, 422, "too_large");

    /* Two jobs of 600 do not fit together: one after the other. The states are read
     * with one list request (one snapshot), never two GETs that a transition could fall
     * between. */
    const char *a = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"m600\",\"params\":"
                                  "{\"ms\":700,\"memory_bytes\":600}}");
    const char *b = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"m600\",\"params\":"
                                  "{\"ms\":700,\"memory_bytes\":600}}");
    int both = 0, b_waited = 0, reserved_seen = 0;
    double dl = now_s() + 10;
    for (;;) {
        resp *l = http_get(s, "/v1/jobs?label=m600");
        ASSERT_STATUS(l, 200);
        const char *sa = NULL, *sb = NULL;
        size_t i;
        json_t *j;
        json_array_foreach(jpath(l->json, "jobs"), i, j) {
            if (strcmp(jstr(j, "id"), a) == 0)
                sa = jstr(j, "status");
            else if (strcmp(jstr(j, "id"), b) == 0)
                sb = jstr(j, "status");
        }
        ck_assert_msg(sa && sb, "jobs missing from the list: %s", l->body);
        if (strcmp(sa, "running") == 0 && strcmp(sb, "running") == 0)
            both = 1;
        if (strcmp(sa, "running") == 0 && strcmp(sb, "queued") == 0) {
            b_waited = 1;
            if (!reserved_seen) {
                resp *m = http_get(s, "/metrics");
                reserved_seen = strstr(m->body, "\ntangent_memory_reserved_bytes 600\n") != NULL;
            }
        }
        if (strcmp(sb, "succeeded") == 0 && strcmp(sa, "succeeded") == 0)
            break;
        ck_assert_msg(now_s() < dl, "jobs not done after 10 s: %s %s", sa, sb);
        sleep_s(0.01);
    }
    ck_assert_msg(!both, "two jobs of 600 bytes ran together under a budget of 1000");
    ck_assert_msg(b_waited, "the second job never waited");
    ck_assert_msg(reserved_seen, "tangent_memory_reserved_bytes was not 600 while one ran");
    json_t *ja = job_get(s, a), *jb = job_get(s, b);
    ck_assert_msg(strcmp(jstr(jb, "started_at"), jstr(ja, "finished_at")) >= 0,
                  "b started %s before a finished %s", jstr(jb, "started_at"),
                  jstr(ja, "finished_at"));

    /* Control: two jobs of 400 fit together and do run at once. */
    const char *c = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"m400\",\"params\":"
                                  "{\"ms\":1500,\"memory_bytes\":400}}");
    const char *d = job_submit(s, "{\"kind\":\"sleep\",\"label\":\"m400\",\"params\":"
                                  "{\"ms\":1500,\"memory_bytes\":400}}");
    dl = now_s() + 5;
    both = 0;
    while (!both && now_s() < dl) {
        resp *l = http_get(s, "/v1/jobs?label=m400&status=running");
        both = json_array_size(jpath(l->json, "jobs")) == 2;
        sleep_s(0.01);
    }
    ck_assert_msg(both, "two jobs of 400 under a budget of 1000 did not run together");
    job_wait(s, c, "succeeded", 10);
    job_wait(s, d, "succeeded", 10);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- SIGTERM drain ---------------------------------------------------------------------- */

/* The checks of a draining server: new POSTs 503 with Retry-After, readyz 503,
 * healthz and reads still served. */
static void check_draining(srv *s, const char *running_id)
{
    resp *r = http_post(s, "/v1/jobs", "{\"kind\":\"sleep\",\"params\":{\"ms\":0}}");
    ASSERT_ERR(r, 503, "unavailable");
    const char *ra = resp_header(r, "Retry-After");
    ck_assert_msg(ra && atoi(ra) > 0, "503 without Retry-After: %s", ra ? ra : "(none)");
    r = http_post(s, "/v1/datasets", "{\"x\":[[1],[2]],\"y\":[0,1]}");
    ASSERT_ERR(r, 503, "unavailable");
    ck_assert_ptr_nonnull(resp_header(r, "Retry-After"));
    r = http_get(s, "/readyz");
    ASSERT_ERR(r, 503, "unavailable");
    ASSERT_STATUS(http_get(s, "/healthz"), 200);
    ck_assert_str_eq(jstr(job_get(s, running_id), "status"), "running");
}

START_TEST(drain_short_job_finishes)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    const char *a = sleep_submit(s, "{\"ms\":2000}");
    json_t *ja = job_wait(s, a, "running", 10);
    (void)ja;
    const char *q = sleep_submit(s, "{\"ms\":0}");
    double t0 = now_s();
    srv_signal(s, SIGTERM);
    sleep_s(0.2);
    check_draining(s, a);
    int rc = srv_wait(s, 35);
    double dt = now_s() - t0;
    ck_assert_msg(rc == 0, "exit status %d after SIGTERM; log:\n%s", rc, srv_log_text(s));
    ck_assert_msg(dt < 5.0, "took %.1f s to drain a job with < 2 s left", dt);
    srv_start(s, "--enable-test-kinds", "--workers", "1", NULL);
    ja = job_get(s, a);
    ck_assert_str_eq(jstr(ja, "status"), "succeeded");
    ck_assert_double_eq(jnum(ja, "attempt"), 1);
    /* The job that was still queued was not started during the drain; it runs now. */
    json_t *jq = job_wait(s, q, "succeeded", 10);
    ck_assert_double_eq(jnum(jq, "attempt"), 1);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(drain_long_job_requeued)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "3", NULL);
    const char *shortj = sleep_submit(s, "{\"ms\":3000}");
    const char *longj = sleep_submit(s, "{\"ms\":600000}");
    const char *longj2 = sleep_submit(s, "{\"ms\":600000}");
    job_wait(s, shortj, "running", 10);
    job_wait(s, longj, "running", 10);
    job_wait(s, longj2, "running", 10);
    /* A fourth job waits in the queue; a client listens to its (silent) stream, which
     * must carry a heartbeat comment after 15 s (API.md 2.6). The drain gives us the
     * time to see it. */
    const char *q = sleep_submit(s, "{\"ms\":0}");
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        sse_res *e = sse_read(s, fmt("/v1/jobs/%s/events", q), 20);
        int code = 0;
        if (e->n < 1 || strcmp(e->ev[0].type, "status") != 0 ||
            !jstr(e->ev[0].json, "status") || strcmp(jstr(e->ev[0].json, "status"), "queued"))
            code = 3;
        else if (e->heartbeats < 1)
            code = 4;
        else if (e->first_heartbeat < 14.0 || e->first_heartbeat > 17.0)
            code = 5;
        _exit(code);
    }
    sleep_s(0.3);
    double t0 = now_s();
    srv_signal(s, SIGTERM);
    sleep_s(0.2);
    check_draining(s, longj);
    /* The short job finishes within the grace period while the server drains. */
    json_t *js = job_wait(s, shortj, "succeeded", 10);
    ck_assert_double_eq(jnum(js, "attempt"), 1);
    ck_assert_str_eq(jstr(job_get(s, longj), "status"), "running");
    int rc = srv_wait(s, 40);
    double dt = now_s() - t0;
    ck_assert_msg(rc == 0, "exit status %d after SIGTERM; log:\n%s", rc, srv_log_text(s));
    ck_assert_msg(dt >= 29.0 && dt <= 33.0, "exit %.1f s after SIGTERM (want about 30)", dt);
    int kst = 0;
    waitpid(kid, &kst, 0);
    ck_assert_msg(WIFEXITED(kst) && WEXITSTATUS(kst) == 0,
                  "SSE on a queued job: %s",
                  !WIFEXITED(kst)              ? "the listener died"
                  : WEXITSTATUS(kst) == 3      ? "the first event was not status queued"
                  : WEXITSTATUS(kst) == 4      ? "no heartbeat within 20 s"
                                               : "the first heartbeat was not at about 15 s");

    /* Restart with one worker: the long jobs were left queued without counting their
     * attempts; the first runs again as attempt 1, the second waits (attempt 0). */
    srv_start(s, "--enable-test-kinds", "--workers", "1", NULL);
    json_t *jl = job_get(s, longj);
    const char *st = jstr(jl, "status");
    ck_assert_msg(strcmp(st, "queued") == 0 || strcmp(st, "running") == 0,
                  "long job %s after the drain", st);
    ck_assert(json_is_null(jpath(jl, "error")));
    jl = job_wait(s, longj, "running", 10);
    ck_assert_msg(jnum(jl, "attempt") == 1, "the drained attempt counted: attempt %g",
                  jnum(jl, "attempt"));
    json_t *jl2 = job_get(s, longj2);
    ck_assert_str_eq(jstr(jl2, "status"), "queued");
    ck_assert_msg(jnum(jl2, "attempt") == 0, "the drained attempt counted: attempt %g",
                  jnum(jl2, "attempt"));
    ck_assert(json_is_null(jpath(jl2, "error")));
    ck_assert(json_is_null(jpath(jl2, "started_at")));
    js = job_get(s, shortj);
    ck_assert_str_eq(jstr(js, "status"), "succeeded");
    ASSERT_STATUS(cancel(s, longj), 202);
    job_wait(s, longj, "cancelled", 5);
    jl = job_wait(s, longj2, "running", 10);
    ck_assert_double_eq(jnum(jl, "attempt"), 1);
    ASSERT_STATUS(cancel(s, longj2), 202);
    /* The job that was queued during the drain was never started; it runs now. */
    json_t *jq = job_wait(s, q, "succeeded", 10);
    ck_assert_double_eq(jnum(jq, "attempt"), 1);
    ck_assert_int_eq(srv_stop(s, 10), 0);
    /* Last, a smaller defect: the re-queued job had the progress object of a queued job
     * (API.md 2.2), not null. */
    ck_assert_msg(json_is_object(jpath(jl2, "progress")),
                  "a job re-queued by the drain shows \"progress\": %s while queued",
                  json_dumps(jpath(jl2, "progress"), JSON_ENCODE_ANY));
}
END_TEST

START_TEST(sigterm_idle_exits_at_once)
{
    srv *s = srv_spawn("--enable-test-kinds", NULL);
    double t0 = now_s();
    srv_signal(s, SIGTERM);
    ck_assert_int_eq(srv_wait(s, 10), 0);
    ck_assert_msg(now_s() - t0 < 2.0, "an idle server took %.1f s to stop", now_s() - t0);
    /* SIGINT drains the same way. */
    srv_start(s, "--enable-test-kinds", NULL);
    srv_signal(s, SIGINT);
    ck_assert_int_eq(srv_wait(s, 10), 0);
}
END_TEST

Suite *e2e_jobs_suite(void)
{
    Suite *s = suite_create("e2e_jobs");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, kill9_recovery);
    tcase_add_test(tc, kill9_interrupted_max_attempts_1);
    tcase_add_test(tc, kill9_twice_max_attempts_2);
    tcase_add_test(tc, cancel_running_and_queued);
    tcase_add_test(tc, delete_queued_and_running);
    tcase_add_test(tc, sse_cancelled_job);
    tcase_add_test(tc, sse_queued_then_runs);
    tcase_add_test(tc, queue_full);
    tcase_add_test(tc, memory_budget_serializes);
    tcase_add_test(tc, sigterm_idle_exits_at_once);
    tcase_add_test(tc, drain_short_job_finishes);
    tcase_add_test(tc, drain_long_job_requeued);
    suite_add_tcase(s, tc);
    /* Cancel idempotence and the stored event history (API.md 2.5, 2.6). */
    tc = tcase_create("history");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, cancel_is_idempotent);
    tcase_add_test(tc, cancel_requested_survives_a_crash);
    tcase_add_test(tc, sse_late_client_gets_the_history);
    tcase_add_test(tc, sse_reconnect_mid_run_no_gap);
    tcase_add_test(tc, sse_live_client_misses_no_epoch);
    tcase_add_test(tc, sse_ids_continue_across_attempts);
    suite_add_tcase(s, tc);
    return s;
}
