/* events.h: the in-memory hub behind the SSE stream of API.md 2.6. A job's worker (or
 * the cancel handler) publishes events on the job's channel; each subscriber reads
 * them in order from a bounded ring (a subscriber that falls more than EVENTS_RING
 * events behind skips to the oldest kept one; terminal events are never lost).
 *
 * Subscribe before reading the job's state from the store, so that no event published
 * in between is missed.
 *
 * Threading: one mutex + condvar for the whole hub; all functions are thread-safe. */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#define EVENTS_RING 256

typedef struct ev_sub ev_sub;

void events_init(void);
/* Publishes an event (type "progress" or "status"; data: JSON text, copied). terminal:
 * the job has reached a terminal status and the channel closes after this event. */
void events_publish(const char *job_id, const char *type, const char *data, int terminal);
ev_sub *events_subscribe(const char *job_id);
/* Waits up to timeout_s for the next event. Returns 1 with *type_out and *data_out
 * (new, caller frees) and *terminal_out set, 0 on timeout, -1 when the hub shuts
 * down. */
int events_next(ev_sub *s, double timeout_s, char **type_out, char **data_out,
                int *terminal_out);
void events_unsubscribe(ev_sub *s);
/* 1 when events_next would return at once (an event is waiting, the terminal event is
 * not yet delivered, or the hub is down). Non-blocking. */
int events_ready(ev_sub *s);
/* Wakes every waiting subscriber with -1 (process shutdown). */
void events_shutdown(void);

#endif
