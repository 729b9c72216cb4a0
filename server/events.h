/* events.h: the in-memory hub behind the SSE stream of API.md 2.6. A job's worker (or
 * the cancel handler) publishes events on the job's channel; each subscriber reads
 * them in order from a bounded ring (a subscriber that falls more than EVENTS_RING
 * events behind is told so, and skips to the oldest kept one; terminal events are never
 * lost).
 *
 * Every event carries its id (seq: increasing within the job, API.md 2.6), the id under
 * which it is stored (store.h, job events) when it is; 0 for none. A client's stream
 * joins the stored history and the live events without gap or duplicate thus:
 * subscribe, then read the stored events and send them, then send the subscription's
 * events whose id is greater than the last one sent. A publisher stores an event before
 * publishing it, so an event published before the subscription is in the history read
 * after it (except coalesced progress events, which a later event supersedes).
 *
 * Threading: one mutex + condvar for the whole hub; all functions are thread-safe
 * (events_init first, once, before any other). Every pointer argument is borrowed for
 * the call. */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#include "../core/tg.h"

#define EVENTS_RING 256

typedef struct ev_sub ev_sub;

/* Sets up the hub's condition variable (monotonic clock). Once, at start-up. */
void events_init(void);
/* Publishes event seq (type "progress" or "status"; data: JSON text; both copied) on
 * job_id's channel. terminal: the job has reached a terminal status and the channel
 * closes after this event. Without subscribers nothing is kept (TG_OK). TG_OK, or
 * TG_ENOMEM when the copies could not be made: a progress event is then dropped; a
 * terminal one still closes the channel and its readers get EVENTS_DOWN (they read the
 * final state from the store). */
int events_publish(const char *job_id, long long seq, const char *type, const char *data,
                   int terminal);
/* A new subscription to job_id's channel (created when there is none), reading from the
 * next event published; free with events_unsubscribe. NULL when out of memory. */
ev_sub *events_subscribe(const char *job_id);

/* What events_next returns. */
typedef enum events_wait {
    EVENTS_DOWN = -1,   /* the hub shuts down, or an event could not be copied: end the stream */
    EVENTS_TIMEOUT = 0, /* no event within the timeout */
    EVENTS_GOT = 1,     /* an event: *seq_out, *type_out, *data_out, *terminal_out are set */
    EVENTS_LAGGED = 2   /* s fell more than EVENTS_RING events behind: the events in between
                           are lost to it (the store has them); the next call continues
                           with the oldest event kept */
} events_wait;
/* Waits up to timeout_s seconds (0: only looks) for the next event of s. EVENTS_GOT with
 * *seq_out, *type_out and *data_out (new, caller frees) and *terminal_out set;
 * EVENTS_LAGGED, EVENTS_TIMEOUT, EVENTS_DOWN (outputs untouched or NULL). */
events_wait events_next(ev_sub *s, double timeout_s, long long *seq_out, char **type_out,
                        char **data_out, int *terminal_out);
/* Ends and frees s (NULL: no-op); the channel goes with its last subscriber. */
void events_unsubscribe(ev_sub *s);
/* 1 when events_next would return at once (an event is waiting, the terminal event is
 * not yet delivered, or the hub is down), else 0. Non-blocking. */
int events_ready(ev_sub *s);
/* Wakes every waiting subscriber with EVENTS_DOWN (process shutdown); the hub stays down. */
void events_shutdown(void);

#endif
