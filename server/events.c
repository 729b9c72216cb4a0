/* events.c: see events.h. Channels live in a linked list (few jobs run at once); a
 * channel is freed when it is closed and has no subscribers, or when its last
 * subscriber leaves. Every string in a channel is the channel's own copy; a kept
 * event's strings are never NULL, the terminal event's are NULL only when copying them
 * failed. */
#include "events.h"

#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct event {
    long long seq;
    char *type, *data;
    int terminal;
} event;

typedef struct channel {
    char job_id[40];
    event ring[EVENTS_RING];
    unsigned long long head; /* sequence number of the next event */
    int closed;
    event final;             /* the terminal event, kept for late readers */
    int n_subs;
    struct channel *next;
} channel;

struct ev_sub {
    channel *ch;
    unsigned long long next_seq;
    int got_final;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static channel *channels;
static int hub_down;

void events_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

static channel *find(const char *job_id)
{
    for (channel *c = channels; c; c = c->next)
        if (strcmp(c->job_id, job_id) == 0)
            return c;
    return NULL;
}

static void channel_free(channel *c)
{
    for (channel **p = &channels; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    for (int i = 0; i < EVENTS_RING; i++) {
        free(c->ring[i].type);
        free(c->ring[i].data);
    }
    free(c->final.type);
    free(c->final.data);
    free(c);
}

int events_publish(const char *job_id, long long seq, const char *type, const char *data,
                   int terminal)
{
    int rc = TG_OK;
    pthread_mutex_lock(&mu);
    channel *c = find(job_id);
    if (!c || c->closed) {
        /* Nobody listens: nothing to keep (a later subscriber reads the store). */
        pthread_mutex_unlock(&mu);
        return TG_OK;
    }
    char *t = strdup(type), *d = strdup(data);
    if (!t || !d) {
        free(t);
        free(d);
        t = d = NULL;
        rc = TG_ENOMEM;
    }
    if (terminal) {
        /* Closed even without its copies: readers then get EVENTS_DOWN and end their
         * stream, and the client reads the final state from the store. */
        c->final.seq = seq;
        c->final.type = t;
        c->final.data = d;
        c->final.terminal = 1;
        c->closed = 1;
    } else if (t) {
        event *e = &c->ring[c->head % EVENTS_RING];
        free(e->type);
        free(e->data);
        e->seq = seq;
        e->type = t;
        e->data = d;
        e->terminal = 0;
        c->head++;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return rc;
}

ev_sub *events_subscribe(const char *job_id)
{
    ev_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_lock(&mu);
    channel *c = find(job_id);
    if (c && c->closed && c->n_subs == 0) {
        channel_free(c);
        c = NULL;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&mu);
            free(s);
            return NULL;
        }
        snprintf(c->job_id, sizeof c->job_id, "%s", job_id);
        c->next = channels;
        channels = c;
    }
    c->n_subs++;
    s->ch = c;
    s->next_seq = c->head;
    pthread_mutex_unlock(&mu);
    return s;
}

/* A new copy of t (NULL when t is NULL or on failure). */
static char *dup_or_null(const char *t)
{
    return t ? strdup(t) : NULL;
}

events_wait events_next(ev_sub *s, double timeout_s, long long *seq_out, char **type_out,
                        char **data_out, int *terminal_out)
{
    struct timespec dl = util_mono_deadline(timeout_s);
    events_wait rc = EVENTS_TIMEOUT;
    pthread_mutex_lock(&mu);
    for (;;) {
        channel *c = s->ch;
        if (hub_down) {
            rc = EVENTS_DOWN;
            break;
        }
        if (c->head - s->next_seq > EVENTS_RING) {
            s->next_seq = c->head - EVENTS_RING;
            rc = EVENTS_LAGGED;
            break;
        }
        if (s->next_seq < c->head) {
            event *e = &c->ring[s->next_seq % EVENTS_RING];
            *seq_out = e->seq;
            *type_out = dup_or_null(e->type);
            *data_out = dup_or_null(e->data);
            *terminal_out = 0;
            s->next_seq++;
            rc = EVENTS_GOT;
            break;
        }
        if (c->closed && !s->got_final) {
            *seq_out = c->final.seq;
            *type_out = dup_or_null(c->final.type);
            *data_out = dup_or_null(c->final.data);
            *terminal_out = 1;
            s->got_final = 1;
            rc = EVENTS_GOT;
            break;
        }
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) {
            rc = EVENTS_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    if (rc == EVENTS_GOT && (!*type_out || !*data_out)) {
        /* Out of memory: the stream ends, the client reads the store instead. */
        free(*type_out);
        free(*data_out);
        *type_out = *data_out = NULL;
        return EVENTS_DOWN;
    }
    return rc;
}

int events_ready(ev_sub *s)
{
    pthread_mutex_lock(&mu);
    channel *c = s->ch;
    int r = hub_down || s->next_seq < c->head || (c->closed && !s->got_final);
    pthread_mutex_unlock(&mu);
    return r;
}

void events_unsubscribe(ev_sub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&mu);
    if (--s->ch->n_subs == 0)
        channel_free(s->ch);
    pthread_mutex_unlock(&mu);
    free(s);
}

void events_shutdown(void)
{
    pthread_mutex_lock(&mu);
    hub_down = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}
