/* sse.h: Server-Sent Events responses (API.md 2.6) over libmicrohttpd without holding a
 * thread per stream: when no event is waiting, the content callback parks the
 * connection (MHD_suspend_connection); one parking thread resumes it when an event of
 * its subscription arrives (events.h), a heartbeat is due (every 15 s of silence), or
 * the process stops.
 *
 * Threading: sse_start / sse_stop from the thread that starts and stops the daemon;
 * sse_response and sse_format from any thread. */
#ifndef TG_SSE_H
#define TG_SSE_H

#include <stddef.h>

#include "events.h"
#include "util.h"

struct MHD_Connection;
struct MHD_Response;

/* Starts the parking thread (before the daemon starts; idempotent). */
void sse_start(void);
/* Stops it, resuming every parked stream, which then ends (before MHD_stop_daemon). */
void sse_stop(void);
/* Appends one event ("id: seq\nevent: type\ndata: data\n\n"; without the id line when
 * seq is 0) to b. */
void sse_format(sbuf *b, long long seq, const char *type, const char *data);
/* Appends to out the stored events of stream `key` with ids > *last_id (sse_format),
 * setting *last_id to the last one's and *done_out to 1 when one is terminal. TG_OK, or
 * a tg_status that ends the stream. Called on an MHD thread. */
typedef int (*sse_history)(const char *key, sbuf *out, long long *last_id, int *done_out);
/* A stream response for conn: the bytes `initial` (copied), then the events of sub whose
 * id is greater than last_id (events without an id: all), up to and including a
 * terminal one; done = 1: only `initial`. When the stream falls more than EVENTS_RING
 * events behind, it sends what it missed from history(key, ...) (key: copied, under 64
 * bytes; history may be NULL: the events are then lost to it). Takes sub (it is
 * unsubscribed when the response ends, or here on failure). Returns the response (new,
 * to be queued) or NULL when out of memory. */
struct MHD_Response *sse_response(struct MHD_Connection *conn, ev_sub *sub,
                                  const char *initial, size_t initial_len, int done,
                                  long long last_id, sse_history history, const char *key);

#endif
