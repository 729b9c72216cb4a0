/* sse.c: see sse.h. */
#include "sse.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

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
    long long last_id;        /* the id of the last event sent (events.h: the join) */
    sse_history history;      /* what a lagging stream missed, or NULL */
    char key[64];
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

void sse_start(void)
{
    pthread_mutex_lock(&park_mu);
    if (!park_started && pthread_create(&park_thread, NULL, park_main, NULL) == 0)
        park_started = 1;
    pthread_mutex_unlock(&park_mu);
}

void sse_stop(void)
{
    pthread_mutex_lock(&park_mu);
    park_stop = 1;
    pthread_cond_broadcast(&park_cv);
    int started = park_started;
    pthread_mutex_unlock(&park_mu);
    if (started)
        pthread_join(park_thread, NULL);
}

void sse_format(sbuf *b, long long seq, const char *type, const char *data)
{
    if (seq > 0)
        sbuf_printf(b, "id: %lld\n", seq);
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
        long long seq = 0;
        int terminal = 0;
        events_wait got = events_next(s->sub, 0.0, &seq, &type, &data, &terminal);
        if (got == EVENTS_DOWN)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (got == EVENTS_LAGGED) {
            /* Too slow for the ring: what it skipped comes from the store (the join of
             * events.h again, from the last id sent). */
            if (s->history && s->history(s->key, &s->out, &s->last_id, &s->done) != 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
            continue;
        }
        if (got == EVENTS_GOT) {
            /* Sent already from the stored history (the join of events.h): skipped. */
            if (seq <= 0 || seq > s->last_id) {
                sse_format(&s->out, seq, type, data);
                if (seq > 0)
                    s->last_id = seq;
            }
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

struct MHD_Response *sse_response(struct MHD_Connection *conn, ev_sub *sub,
                                  const char *initial, size_t initial_len, int done,
                                  long long last_id, sse_history history, const char *key)
{
    sse_state *s = calloc(1, sizeof *s);
    if (!s) {
        events_unsubscribe(sub);
        return NULL;
    }
    s->conn = conn;
    s->sub = sub;
    s->done = done;
    s->last_id = last_id;
    s->history = history;
    snprintf(s->key, sizeof s->key, "%s", key ? key : "");
    s->last_write = util_mono();
    if (initial_len) /* an empty initial may be NULL */
        sbuf_put(&s->out, initial, initial_len);
    if (s->out.oom) {
        sse_free(s);
        return NULL;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}
