/* pool.c: see pool.h.
 *
 * Events (API.md 2.6): a worker numbers its job's events from the id of the `running`
 * event that its claim stored (job_row.event_seq). Progress events go into a batch that
 * is stored in one transaction and then published (events.h: the join), when it is full
 * or EV_FLUSH_S after the last flush (so that a job of many short epochs costs a write
 * per batch, not per epoch; the live stream lags by at most that, or by one progress
 * report). Every metrics event is stored; progress-only events are published at up to
 * 10 per second but stored at most every EVENT_STORE_S seconds, coalesced (store.h):
 * the latest one not stored waits as `pending` and is stored when the job ends or is
 * re-queued, unless a later event supersedes it. So a job's history keeps every metrics
 * and status event and a bounded number of progress events, and fewer than
 * STORE_EVENT_GAP published ids are ever unstored. */
#include "pool.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../api/errors.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

enum { STOP_NONE = 0, STOP_CANCEL = 1, STOP_SHUTDOWN = 2 };

/* Seconds between two stored progress events without metrics. */
#define EVENT_STORE_S 0.5
/* Events are stored and published in batches of at most EV_BATCH, at least every
 * EV_FLUSH_S seconds while the job reports progress. */
#define EV_BATCH 64
#define EV_FLUSH_S 0.1

/* A numbered event of a batch (data: JSON text, owned). */
typedef struct ev_buf {
    long long seq;
    char *data;
    int metrics;
} ev_buf;

typedef struct slot {
    int active;
    char id[40], kind[40];
    atomic_int stop;
    double deadline;   /* monotonic seconds; 0 = none */
    int timed_out;
    double last_store, last_pub, frac;
    long long mem;
    char progress[512]; /* the latest progress object (JSON text) */
    char message[160];  /* the latest message (kept when a report has none) */
    long long seq;      /* the id of the job's last event issued */
    long long stored_seq; /* ... and of the last one stored */
    double last_event_store;
    char *pending;      /* the latest progress event published, not stored (JSON), or NULL */
    long long pending_seq;
    ev_buf batch[EV_BATCH]; /* events numbered, neither stored nor published yet */
    int n_batch;
    double last_flush;
    pool *owner;
} slot;

struct pool {
    pool_cfg cfg;           /* cfg.st, cfg.budget: the store and the memory budget */
    int n;                  /* workers (fewer than cfg.n_workers when pool_start unwinds) */
    long long reserved;
    pthread_t *threads;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work available, or a job finished */
    int stopping;
    int running;
    int alive;
    char provenance[512];
};

/* ---- progress ---------------------------------------------------------------------- */

/* Stores the events of s's batch (those with metrics, and the last one when it is a
 * progress-only event that is due: see the file's comment) in one transaction, then
 * publishes them in order. final: the job's status changes next, so the latest
 * progress-only event (of the batch, else the pending one) is stored in any case. */
static void flush_events(slot *s, double now, int final)
{
    long long seq[EV_BATCH + 1];
    const char *data[EV_BATCH + 1];
    int co[EV_BATCH + 1];
    size_t n = 0;
    int last = s->n_batch - 1;
    char *keep = NULL; /* the new pending event */
    long long keep_seq = 0;
    if (s->n_batch > 0) {
        /* Superseded by a later event (coalescing): published, never stored. */
        free(s->pending);
        s->pending = NULL;
    }
    for (int i = 0; i < s->n_batch; i++)
        if (s->batch[i].metrics) {
            seq[n] = s->batch[i].seq;
            data[n] = s->batch[i].data;
            co[n++] = 0;
        }
    long long stored = n ? seq[n - 1] : s->stored_seq;
    if (last >= 0 && !s->batch[last].metrics) {
        ev_buf *e = &s->batch[last];
        if (final || now - s->last_event_store >= EVENT_STORE_S ||
            e->seq - stored >= STORE_EVENT_GAP - 1) {
            seq[n] = e->seq;
            data[n] = e->data;
            co[n++] = 1;
        } else {
            keep = e->data;
            keep_seq = e->seq;
        }
    } else if (last < 0 && final && s->pending) {
        seq[n] = s->pending_seq;
        data[n] = s->pending;
        co[n++] = 1;
    }
    if (n && store_job_events_put(s->owner->cfg.st, s->id, n, seq, data, co) == TG_OK) {
        s->stored_seq = seq[n - 1];
        s->last_event_store = now;
    }
    /* Published after they are stored (events.h: the join). */
    for (int i = 0; i < s->n_batch; i++) {
        events_publish(s->id, s->batch[i].seq, "progress", s->batch[i].data, 0);
        if (s->batch[i].data != keep)
            free(s->batch[i].data);
    }
    if (keep) {
        s->pending = keep;
        s->pending_seq = keep_seq;
    } else if (last < 0 && final) {
        free(s->pending);
        s->pending = NULL;
    }
    s->n_batch = 0;
    s->last_flush = now;
}

/* Numbers progress event ev (JSON text; with_metrics: it carries metrics) and adds it to
 * s's batch, which is flushed when it is full or EV_FLUSH_S have passed since the last
 * flush (one transaction for many short epochs, not one each). */
static void emit_progress(slot *s, const char *ev, int with_metrics, double now)
{
    char *copy = strdup(ev);
    if (!copy)
        return; /* out of memory: the event is dropped */
    s->batch[s->n_batch++] = (ev_buf){++s->seq, copy, with_metrics};
    if (s->n_batch == EV_BATCH || now - s->last_flush >= EV_FLUSH_S)
        flush_events(s, now, 0);
}

static int on_progress(void *ud, double fraction, const char *msg, json_t *metrics)
{
    slot *s = ud;
    double now = util_mono();
    char ts[32];
    if (!(fraction >= s->frac))
        fraction = s->frac;
    if (fraction > 1)
        fraction = 1;
    s->frac = fraction;
    if (msg)
        snprintf(s->message, sizeof s->message, "%s", msg);
    int publish = metrics || now - s->last_pub >= 0.1 || fraction >= 1;
    int persist = now - s->last_store >= 0.5;
    if (publish || persist) {
        util_now_rfc3339(ts, sizeof ts);
        json_t *prog = json_pack("{s:f, s:s, s:s}", "fraction", fraction, "message",
                                 s->message, "updated_at", ts);
        char *ptext = prog ? jx_dumps(prog, JSON_COMPACT) : NULL;
        if (ptext && strlen(ptext) < sizeof s->progress)
            memcpy(s->progress, ptext, strlen(ptext) + 1);
        if (prog && publish) {
            if (metrics)
                json_object_set(prog, "metrics", metrics);
            char *ev = jx_dumps(prog, JSON_COMPACT);
            if (ev)
                emit_progress(s, ev, metrics != NULL, now);
            free(ev);
            s->last_pub = now;
        }
        if (ptext && persist) {
            store_job_set_progress(s->owner->cfg.st, s->id, ptext);
            s->last_store = now;
        }
        free(ptext);
        json_decref(prog);
    }
    json_decref(metrics);
    if (s->deadline > 0 && now > s->deadline) {
        s->timed_out = 1;
        return 1;
    }
    return atomic_load(&s->stop) != STOP_NONE;
}

static int put_array(void *ud, const char *name, size_t rows, size_t cols,
                     const double *data, tg_err *err)
{
    slot *s = ud;
    return store_array_put(s->owner->cfg.st, s->id, name, rows, cols, data, err);
}

static int array_begin(void *ud, const char *name, size_t rows, size_t cols,
                       const double *data, void **h, tg_err *err)
{
    slot *s = ud;
    store_array_writer *w = NULL;
    int rc = store_array_begin(s->owner->cfg.st, s->id, name, rows, cols, data, &w, err);
    *h = w;
    return rc;
}

static int array_advance(void *h, size_t bytes, tg_err *err)
{
    return store_array_advance(h, bytes, err);
}

static int array_end(void *h, int commit, tg_err *err)
{
    if (!h)
        return TG_OK;
    if (commit)
        return store_array_commit(h, err);
    store_array_abort(h);
    return TG_OK;
}

static int save_model(void *ud, tg_model *m, tg_err *err)
{
    slot *s = ud;
    return s->owner->cfg.save_model(s->owner->cfg.st, m, s->id, err);
}

/* ---- one job ----------------------------------------------------------------------- */

static char *status_event(const char *status)
{
    json_t *o = json_pack("{s:s}", "status", status);
    char *t = jx_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

static void finish(pool *p, slot *s, const char *status, const char *error,
                   const char *partial, const char *result, double seconds, int attempt,
                   const char *detail)
{
    char now[32];
    util_now_rfc3339(now, sizeof now);
    if (strcmp(status, "succeeded") == 0) {
        char prog[160];
        snprintf(prog, sizeof prog,
                 "{\"fraction\":1.0,\"message\":\"done\",\"updated_at\":\"%s\"}", now);
        store_job_set_progress(p->cfg.st, s->id, prog);
    } else if (s->progress[0]) {
        store_job_set_progress(p->cfg.st, s->id, s->progress);
    }
    flush_events(s, util_mono(), 1);
    long long seq = 0;
    if (store_job_finish_at(p->cfg.st, s->id, status, now, error, partial, result, s->seq + 1,
                            &seq))
        log_msg(LOG_ERROR, "store", "cannot record the end of a job", "job", s->id, NULL);
    metrics_job(s->kind, status, seconds);
    log_job(s->id, s->kind, "running", status, attempt, detail);
    char *ev = status_event(status);
    if (ev)
        events_publish(s->id, seq, "status", ev, 1);
    free(ev);
}

static void run_job(pool *p, slot *s, job_row *j)
{
    json_error_t je;
    json_t *req = json_loads(j->request, 0, &je);
    json_t *result = NULL, *partial = NULL;
    tg_err err;
    char *rtext = NULL, *ptext = NULL, *etext = NULL;
    double t0 = util_mono();
    int rc;

    tg_err_clear(&err);
    const tg_kind *k = req ? kinds_find(j->kind, p->cfg.test_kinds) : NULL;
    if (!k) {
        rc = tg_err_set(&err, TG_EINTERNAL, "kind %s is not available in this process",
                        j->kind);
    } else {
        job_io io = {.ud = s, .job_id = s->id, .src = p->cfg.src, .progress = on_progress,
                     .put_array = put_array, .array_begin = array_begin,
                     .array_advance = array_advance, .array_end = array_end,
                     .threads = p->cfg.threads, .save_model = save_model};
        rc = kinds_run(k, req, &io, &result, &partial, &err);
    }
    double dt = util_mono() - t0;
    if (partial)
        ptext = jx_dumps(partial, JSON_COMPACT);
    if (rc == TG_OK) {
        if (!json_object_get(result, "warnings"))
            json_object_set_new(result, "warnings", json_array());
        if (!(rtext = jx_dumps(result, JSON_COMPACT)))
            rc = tg_err_set(&err, TG_ENOMEM, "out of memory encoding the result");
    }
    if (rc == TG_OK) {
        finish(p, s, "succeeded", NULL, NULL, rtext, dt, j->attempt, NULL);
    } else if (rc == TG_ECANCELLED && s->timed_out) {
        json_t *details = json_pack("{s:f}", "timeout_s", j->timeout_s);
        json_t *e = job_error_body(JOB_TIMEOUT, "the job ran longer than its timeout_s",
                                   details);
        etext = e ? jx_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        json_decref(details);
        finish(p, s, "failed", etext, ptext, NULL, dt, j->attempt, "timeout");
    } else if (rc == TG_ECANCELLED && atomic_load(&s->stop) == STOP_SHUTDOWN) {
        flush_events(s, util_mono(), 1);
        long long seq = 0;
        store_job_requeue(p->cfg.st, s->id, s->seq + 1, &seq);
        log_job(s->id, s->kind, "running", "queued", j->attempt, "shutdown");
        char *ev = status_event("queued");
        if (ev)
            events_publish(s->id, seq, "status", ev, 0);
        free(ev);
    } else if (rc == TG_ECANCELLED) {
        finish(p, s, "cancelled", NULL, ptext, NULL, dt, j->attempt, NULL);
    } else {
        json_t *details = partial ? json_object_get(partial, "error_details") : NULL;
        json_t *e = job_error_body(job_error_from_status(rc),
                                   err.msg[0] ? err.msg : "the job failed", details);
        if (details) {
            json_object_del(partial, "error_details");
            free(ptext);
            ptext = json_object_size(partial) ? jx_dumps(partial, JSON_COMPACT) : NULL;
        }
        etext = e ? jx_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        finish(p, s, "failed", etext, ptext, NULL, dt, j->attempt, err.msg);
    }
    free(rtext);
    free(ptext);
    free(etext);
    json_decref(result);
    json_decref(partial);
    json_decref(req);
}

/* ---- workers ----------------------------------------------------------------------- */

/* Seconds for which an idle pool keeps the large blocks of finished jobs for reuse
 * (tg_alloc_big): long enough for a client's next job of a sweep, short enough that an
 * idle service gives its memory back. */
#define BIG_KEEP_S 30.0

typedef struct worker_arg {
    pool *p;
    int index;
} worker_arg;

static void timed_wait(pool *p, double seconds)
{
    struct timespec dl = util_mono_deadline(seconds);
    pthread_cond_timedwait(&p->cv, &p->mu, &dl);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    pool *p = wa->p;
    slot *s = &p->slots[wa->index];
    free(wa);
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        job_row j;
        int blocked = 0;
        char now[32];
        util_now_rfc3339(now, sizeof now);
        int rc = store_job_claim(p->cfg.st, p->cfg.budget - p->reserved, p->cfg.budget, now, p->provenance,
                                 &j, &blocked);
        if (rc == TG_ENOTFOUND && blocked == STORE_CLAIM_NEVER_FITS) {
            log_msg(LOG_WARN, "job", "a queued job exceeds the memory budget: failed", "job",
                    j.id, NULL);
            char *fev = status_event("failed");
            if (fev)
                events_publish(j.id, j.event_seq, "status", fev, 1);
            free(fev);
            continue;
        }
        if (rc == TG_ENOTFOUND && p->running == 0)
            tg_big_trim(BIG_KEEP_S); /* idle: give back the kernel memory kept for reuse */
        if (rc != TG_OK) {
            /* Nothing to do (or the store is busy): wait for a submission or a finish. */
            timed_wait(p, rc == TG_ENOTFOUND ? 1.0 : 0.2);
            continue;
        }
        s->active = 1;
        snprintf(s->id, sizeof s->id, "%s", j.id);
        snprintf(s->kind, sizeof s->kind, "%s", j.kind);
        atomic_store(&s->stop, STOP_NONE);
        s->timed_out = 0;
        s->deadline = j.timeout_s > 0 ? util_mono() + j.timeout_s : 0;
        s->last_store = s->last_pub = s->last_event_store = s->last_flush = util_mono();
        s->n_batch = 0;
        s->seq = s->stored_seq = j.event_seq;
        s->frac = 0;
        s->progress[0] = '\0';
        snprintf(s->message, sizeof s->message, "started");
        s->mem = j.mem_estimate;
        p->reserved += j.mem_estimate;
        p->running++;
        pthread_mutex_unlock(&p->mu);

        log_job(j.id, j.kind, "queued", "running", j.attempt, NULL);
        char *ev = status_event("running");
        if (ev)
            events_publish(j.id, j.event_seq, "status", ev, 0);
        free(ev);
        run_job(p, s, &j);
        job_row_deinit(&j);
        free(s->pending); /* stored or superseded by now; the batch is empty */
        s->pending = NULL;

        pthread_mutex_lock(&p->mu);
        p->reserved -= s->mem;
        p->running--;
        s->active = 0;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int pool_start(const pool_cfg *cfg, pool **out)
{
    int rc = TG_OK;
    *out = NULL;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return TG_ENOMEM;
    p->cfg = *cfg;
    p->n = cfg->n_workers;
    snprintf(p->provenance, sizeof p->provenance, "%s",
             cfg->provenance ? cfg->provenance : "{}");
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    p->slots = calloc((size_t)p->n, sizeof *p->slots);
    if (!p->threads || !p->slots) {
        free(p->threads);
        free(p->slots);
        free(p);
        return TG_ENOMEM;
    }
    /* Kept blocks stay within the memory budget: they are only ever reused by, or
     * freed for, the next large allocation. */
    tg_big_keep(p->cfg.budget > 0 ? (size_t)(p->cfg.budget / 2) : 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < p->n; i++) {
        p->slots[i].owner = p;
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            rc = TG_ENOMEM;
            break;
        }
        wa->p = p;
        wa->index = i;
        if (pthread_create(&p->threads[p->alive], NULL, worker_main, wa) != 0) {
            free(wa);
            rc = TG_EINTERNAL;
            break;
        }
        p->alive++;
    }
    if (rc) {
        /* Unwind: stop and join the workers started so far; a job one of them claimed
         * already goes back to the queue (pool_stop without grace). */
        p->n = p->alive;
        pool_stop(p, 0.0);
        return rc;
    }
    *out = p;
    return TG_OK;
}

void pool_notify(pool *p)
{
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int pool_cancel(pool *p, const char *id)
{
    int found = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->slots[i].active && strcmp(p->slots[i].id, id) == 0) {
            atomic_store(&p->slots[i].stop, STOP_CANCEL);
            found = 1;
        }
    pthread_mutex_unlock(&p->mu);
    return found;
}

void pool_stop(pool *p, double grace_s)
{
    if (!p)
        return;
    double dl = util_mono() + grace_s;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    while (p->running > 0 && util_mono() < dl)
        timed_wait(p, 0.1);
    for (int i = 0; i < p->n; i++)
        if (p->slots[i].active) {
            /* A job being cancelled ends cancelled, not re-queued. */
            int none = STOP_NONE;
            atomic_compare_exchange_strong(&p->slots[i].stop, &none, STOP_SHUTDOWN);
        }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->alive; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->slots);
    free(p);
}

int pool_running(pool *p)
{
    pthread_mutex_lock(&p->mu);
    int r = p->running;
    pthread_mutex_unlock(&p->mu);
    return r;
}

long long pool_reserved(pool *p)
{
    pthread_mutex_lock(&p->mu);
    long long r = p->reserved;
    pthread_mutex_unlock(&p->mu);
    return r;
}

int pool_alive(pool *p)
{
    return p && p->alive == p->n && !p->stopping;
}
