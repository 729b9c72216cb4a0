/* http.h: the HTTP daemon (libmicrohttpd) and the request/reply functions handlers use.
 * See http.c. */
#ifndef TG_HTTP_H
#define TG_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <stddef.h>

#include "../api/errors.h"
#include "../core/tg.h"
#include "router.h"
#include "util.h"

struct MHD_Connection;
struct MHD_Response;

/* One request in flight (a handler's view of it). */
typedef struct hreq {
    struct MHD_Connection *conn;
    const char *method, *url;
    char rid[72];
    double t0;
    sbuf body;                   /* the body; its capacity counts in --max-body-memory */
    int too_large;               /* over --max-body: 413 */
    int no_room;                 /* over --max-body-memory: 503 */
    int discard;                 /* the body is read and thrown away (an error reply) */
    int framing;                 /* ambiguous framing: 400 and close */
    unsigned long long content_length; /* its value, or ULLONG_MAX without one */
    unsigned long long received; /* body bytes read so far, kept or discarded */
    size_t reserved;             /* bytes of --max-body-memory held for body */
    int replied;
    int status;
    long long bytes;
    route_match m;
    unsigned oom_mark; /* jx_oom_mark() when the handler started */
} hreq;

/* Replies; each sets the common headers (X-Request-Id, CORS). The body is copied. */
void http_reply(hreq *h, int status, const char *content_type, const char *body,
                size_t len);
/* json is stolen. A 500 instead when json is NULL, cannot be encoded, or a jansson
 * allocation of the handler failed (jx_oom_since), so that no reply misses a field. */
void http_reply_json(hreq *h, int status, json_t *json);
void http_reply_json_text(hreq *h, int status, const char *text, size_t len);
void http_reply_error(hreq *h, api_error e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A tg_status from validation/store to the catalogue error, with err's message. */
void http_reply_status(hreq *h, int status, const tg_err *err);
/* Queues a ready response (headers added here); takes ownership. */
void http_reply_response(hreq *h, int status, struct MHD_Response *r);
/* A header to add to the next reply of h (copied; at most 4). */
void http_add_header(hreq *h, const char *name, const char *value);
const char *http_query(hreq *h, const char *key);
const char *http_header(hreq *h, const char *name);
/* Parses the body as a JSON value (checks the media type, nesting depth <= 64); on
 * failure it replies (400/415) and returns NULL. */
json_t *http_body_json(hreq *h);
/* 1 when the Content-Type header is media type `type` (parameters ignored). */
int http_content_type_is(hreq *h, const char *type);

/* Binds and listens on bind_addr:port (port 0 = any free port, see http_port), without
 * SO_REUSEPORT: a port another process listens on is an error. Called before the store
 * opens, so that a second server on a port in use stops before it touches anything.
 * Returns TG_OK (also when already listening) or TG_EINVAL (a port in use, an address
 * not on this machine, a privileged port...; the message names the port) or TG_EIO. */
int http_listen(int port, const char *bind_addr, tg_err *err);
/* Serves on the socket of http_listen (which it calls first if needed). */
int http_start(int port, const char *bind_addr, tg_err *err);
/* Bytes held by the request bodies being received (all of them). */
long long http_body_memory(void);
/* The port actually bound. */
int http_port(void);
/* Stops accepting, closes connections and joins the connection threads. */
void http_stop(void);

#endif
