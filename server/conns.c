/* conns.c: the guard of the HTTP connections (conns.h).
 *
 * libmicrohttpd 0.9.75 (Debian 12) has only an inactivity timeout per connection: a
 * client that sends one header byte a second is never cut off, and idle keep-alive
 * connections hold their slots until the limit is reached, after which new connections
 * wait in the kernel's backlog. This module closes them itself:
 *
 * - Every connection is an entry from MHD_CONNECTION_NOTIFY_STARTED to ..._CLOSED. An
 *   entry is "waiting" from its accept until its request head is complete (the first
 *   call of the request handler), and again from the end of each response until the next
 *   head. Waiting entries are in one FIFO list, oldest first (the list is sorted by
 *   `since`, because entries join it at the tail with the current monotonic time).
 * - A sweeper thread wakes SWEEP_SECS (or a quarter of the deadline when shorter) and
 *   closes every waiting entry older than the header deadline.
 * - When a new connection takes the number of open (not yet closing) connections over
 *   the high-water mark (7/8 of the limit), the oldest waiting entries are closed first:
 *   idle and slow connections give way before a new connection would be refused.
 *
 * Closing is shutdown(fd, SHUT_RDWR) from our thread: the socket stays open (the fd is
 *   libmicrohttpd's), its epoll thread sees the hang-up at once, even inside an
 *   epoll_wait without a timeout, and closes the connection through its normal path. The
 *   fd cannot be reused under us: libmicrohttpd calls the CLOSED notification (which
 *   takes our mutex and drops the entry) before it closes the fd, and shutdown is only
 *   called under the same mutex on entries still present.
 *
 * A connection whose head is complete (a body being received, a handler, a response or
 * an event stream being sent, a suspended stream) is never closed here.
 *
 * Threading: one mutex for everything; the callbacks come from libmicrohttpd's threads.
 */
#include "conns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "../core/tg.h"
#include "util.h"

#define SWEEP_SECS 0.25

struct conns_ent {
    int fd;
    int waiting;   /* in the waiting list */
    int shut;      /* shutdown called: closing */
    double since;  /* when it began waiting */
    conns_ent *prev, *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_t sweeper;
static int running, stopping;
static conns_ent *w_head, *w_tail;
static long long n_open, n_waiting, n_shut, high_water = 1LL << 40;
static double deadline = 30.0;
static unsigned long long n_timed_out, n_evicted;

static void w_remove(conns_ent *e)
{
    if (!e->waiting)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        w_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w_tail = e->prev;
    e->prev = e->next = NULL;
    e->waiting = 0;
    n_waiting--;
}

static void w_append(conns_ent *e, double now)
{
    e->since = now;
    e->prev = w_tail;
    e->next = NULL;
    if (w_tail)
        w_tail->next = e;
    else
        w_head = e;
    w_tail = e;
    e->waiting = 1;
    n_waiting++;
}

/* Under mu. */
static void shut(conns_ent *e)
{
    w_remove(e);
    shutdown(e->fd, SHUT_RDWR);
    e->shut = 1;
    n_shut++;
}

static void *sweep_main(void *arg)
{
    (void)arg;
    double period = deadline / 4 < SWEEP_SECS ? deadline / 4 : SWEEP_SECS;
    if (period < 0.05)
        period = 0.05;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec ts = util_mono_deadline(period);
        pthread_cond_timedwait(&cv, &mu, &ts);
        double now = util_mono();
        while (w_head && now - w_head->since >= deadline) {
            shut(w_head);
            n_timed_out++;
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int conns_start(int max, double header_deadline_s)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&mu);
    deadline = header_deadline_s;
    high_water = max > 8 ? (long long)max - max / 8 : max;
    stopping = 0;
    pthread_mutex_unlock(&mu);
    if (pthread_create(&sweeper, NULL, sweep_main, NULL) != 0)
        return TG_EIO;
    running = 1;
    return TG_OK;
}

void conns_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(sweeper, NULL);
    running = 0;
}

conns_ent *conns_opened(int fd)
{
    conns_ent *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fd = fd;
    pthread_mutex_lock(&mu);
    w_append(e, util_mono());
    n_open++;
    /* Room for the new connection: the oldest waiting ones (never the new one) go. */
    while (n_open - n_shut > high_water && w_head && w_head != e) {
        shut(w_head);
        n_evicted++;
    }
    pthread_mutex_unlock(&mu);
    return e;
}

void conns_closed(conns_ent *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&mu);
    w_remove(e);
    if (e->shut)
        n_shut--;
    n_open--;
    pthread_mutex_unlock(&mu);
    free(e);
}

int conns_busy(conns_ent *e)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&mu);
    w_remove(e);
    int gone = e->shut;
    pthread_mutex_unlock(&mu);
    return gone;
}

void conns_waiting(conns_ent *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&mu);
    if (!e->shut) {
        w_remove(e);
        w_append(e, util_mono());
    }
    pthread_mutex_unlock(&mu);
}

void conns_get_stats(conns_stats *out)
{
    pthread_mutex_lock(&mu);
    out->open = n_open;
    out->waiting = n_waiting;
    out->timed_out = n_timed_out;
    out->evicted = n_evicted;
    pthread_mutex_unlock(&mu);
}
