/* conns.h: the guard of the HTTP connections (see conns.c): every open connection is
 * tracked from its accept to its close, so that a connection that has not sent a complete
 * request head within the header deadline is closed, and, when the connections come near
 * the limit, the ones waiting longest for a request head (idle keep-alive connections,
 * slow senders) are closed first, before a new one would be refused. */
#ifndef TG_CONNS_H
#define TG_CONNS_H

typedef struct conns_ent conns_ent;

/* Starts the sweeper thread. max = the connection limit given to libmicrohttpd;
 * header_deadline_s = the most seconds a connection may wait for a complete request head
 * (counted from its accept or from the end of its previous response). TG_OK or TG_EIO. */
int conns_start(int max, double header_deadline_s);
/* Stops and joins the sweeper (the entries of open connections stay until closed). */
void conns_stop(void);

/* A connection was accepted on socket fd (MHD_CONNECTION_NOTIFY_STARTED). Returns its
 * entry (new; freed by conns_closed), or NULL when out of memory (the connection is then
 * not guarded). Past the high-water mark, closes the connections that wait longest for a
 * request head. Thread-safe. */
conns_ent *conns_opened(int fd);
/* The connection is about to close its socket (MHD_CONNECTION_NOTIFY_CLOSED): e is freed
 * (NULL is a no-op). Thread-safe. */
void conns_closed(conns_ent *e);
/* The connection's request head is complete (its request is being served): no header
 * deadline until conns_waiting. NULL is a no-op. Thread-safe. */
/* Returns 1 when the connection was already shut down (at the header deadline or by an
 * eviction) while its head was being read: the request must not run, since its answer
 * could not reach the client (who may then send it again). */
int conns_busy(conns_ent *e);
/* The connection's request is complete: it waits for the next head from now. NULL is a
 * no-op. Thread-safe. */
void conns_waiting(conns_ent *e);

typedef struct conns_stats {
    long long open;       /* tracked connections */
    long long waiting;    /* of which waiting for a request head */
    unsigned long long timed_out; /* closed at the header deadline, since start */
    unsigned long long evicted;   /* closed near the limit, since start */
} conns_stats;
void conns_get_stats(conns_stats *out);

#endif
