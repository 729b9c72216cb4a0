/* http.c: the libmicrohttpd daemon, body buffering with a hard ceiling, the common
 * headers (X-Request-Id, CORS), bearer-token checks, dispatch through the router, one
 * log line and the metrics per request.
 *
 * Threading: MHD runs a pool of epoll threads (MHD_OPTION_THREAD_POOL_SIZE); no callback
 * blocks for long: SSE streams park their connection (suspend/resume) while they wait,
 * array downloads read a bounded number of values per call. The number of connections
 * is bounded by MHD_OPTION_CONNECTION_LIMIT, sized from the open-file limit (raised to
 * its hard limit at start); conns.c closes connections that do not send a request head
 * within --header-timeout and, near the limit, the ones waiting longest for one. No
 * analysis runs on these threads.
 *
 * Request bodies: one buffer per request, grown by doubling but never past its
 * Content-Length (or --max-body), and every byte of capacity is taken first from one
 * process-wide bound (--max-body-memory); past it the request is a 503. A request that
 * will be refused anyway (no token, no route, over a limit) never buffers its body.
 * Ambiguous framing (Content-Length with Transfer-Encoding, two Content-Lengths) is a
 * 400 and a close: the library alone would take the first Content-Length.
 *
 * The listening socket is ours (http_listen, before the store opens): without
 * SO_REUSEPORT, so that a second server on a port in use fails at start (API.md 6.1)
 * instead of sharing the port's connections. The library's own messages go through
 * log.c (mhd_log), so that --log-format json stays one JSON object per line.
 *
 * A body over --max-body is never buffered. Without `Expect: 100-continue` the client
 * (Python's urllib and requests) sends it whole before it reads anything, so closing
 * at once would give it a reset instead of the 413: the rest is read and discarded,
 * bounded by DISCARD_FACTOR x --max-body bytes, DISCARD_SECS from the request's start
 * and DISCARD_IDLE_SECS between reads, and the 413 is sent when the body is complete
 * (nginx's lingering close does the same after the response). Past a bound the
 * connection is closed.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../api/jx.h"
#include "app.h"
#include "conns.h"
#include "router.h"
#include "sse.h"
#include "log.h"
#include "metrics.h"

#define MAX_EXTRA_HEADERS 4

/* The bounds of reading and discarding an over-limit body (see the file comment). */
#define DISCARD_FACTOR 4
#define DISCARD_SECS 30.0
#define DISCARD_IDLE_SECS 10u
/* The inactivity timeout of a connection (between reads or writes). */
#define IDLE_SECS 120u

typedef struct extra_headers {
    int n;
    char name[MAX_EXTRA_HEADERS][48];
    char value[MAX_EXTRA_HEADERS][256];
} extra_headers;

/* Extra headers are kept beside hreq (one allocation per request). */
typedef struct hreq_full {
    hreq h;
    extra_headers xh;
} hreq_full;

static struct MHD_Daemon *daemon_;
static int listen_fd = -1;
static int listen_port;

/* ---- helpers for handlers ---------------------------------------------------------- */

const char *http_query(hreq *h, const char *key)
{
    return MHD_lookup_connection_value(h->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(hreq *h, const char *name)
{
    return MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, name);
}

void http_add_header(hreq *h, const char *name, const char *value)
{
    extra_headers *x = &((hreq_full *)h)->xh;
    if (x->n >= MAX_EXTRA_HEADERS)
        return;
    size_t ln = strnlen(name, sizeof x->name[0] - 1), lv = strnlen(value, sizeof x->value[0] - 1);
    memcpy(x->name[x->n], name, ln);
    x->name[x->n][ln] = '\0';
    memcpy(x->value[x->n], value, lv);
    x->value[x->n][lv] = '\0';
    x->n++;
}

/* Origin allowed by --cors-origins ("*" allows any). */
static int origin_allowed(const char *origin)
{
    const char *list = app->cfg.cors_origins;
    if (!origin || !*list)
        return 0;
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t len = (size_t)(e - p);
        while (len && p[len - 1] == ' ')
            len--;
        if ((len == 1 && *p == '*') || (len == olen && strncmp(p, origin, len) == 0))
            return 1;
        p = e;
    }
    return 0;
}

static void add_common_headers(hreq *h, struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Request-Id", h->rid);
    const char *origin = http_header(h, "Origin");
    if (origin_allowed(origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Access-Control-Expose-Headers",
                                "X-Request-Id, Location, Retry-After");
    }
    extra_headers *x = &((hreq_full *)h)->xh;
    for (int i = 0; i < x->n; i++)
        MHD_add_response_header(r, x->name[i], x->value[i]);
    x->n = 0;
}

void http_reply_response(hreq *h, int status, struct MHD_Response *r)
{
    if (h->replied || !r) {
        if (r)
            MHD_destroy_response(r);
        return;
    }
    add_common_headers(h, r);
    h->status = status;
    h->replied = 1;
    MHD_queue_response(h->conn, (unsigned)status, r);
    MHD_destroy_response(r);
}

void http_reply(hreq *h, int status, const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return;
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    h->bytes = (long long)len;
    http_reply_response(h, status, r);
}

void http_reply_json_text(hreq *h, int status, const char *text, size_t len)
{
    http_reply(h, status, "application/json", text, len);
}

void http_reply_json(hreq *h, int status, json_t *json)
{
    char *text = json ? jx_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (text && jx_oom_since(h->oom_mark)) {
        free(text);
        text = NULL;
    }
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot "
                                  "encode the response\"}}";
        http_reply_json_text(h, 500, oom, sizeof oom - 1);
        return;
    }
    http_reply_json_text(h, status, text, strlen(text));
    free(text);
}

/* A copy of s that is valid UTF-8 (invalid bytes become '?'), for error messages that
 * quote user input. */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        int ok = n > 0;
        for (int i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void http_reply_error(hreq *h, api_error e, const char *field, const char *fmt, ...)
{
    char msg[512];
    char fld[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_sanitize(msg);
    snprintf(fld, sizeof fld, "%s", field ? field : "");
    utf8_sanitize(fld);
    int status = api_error_status(e);
    if (status == 500)
        log_msg(LOG_ERROR, "internal", msg, "request_id", h->rid, NULL);
    if (e == API_UNAUTHORIZED)
        http_add_header(h, "WWW-Authenticate", "Bearer");
    /* After a 413 the connection closes (API.md 1): whatever of the body was not read
     * must never be taken for a next request. */
    if (e == API_PAYLOAD_TOO_LARGE)
        http_add_header(h, "Connection", "close");
    if (e == API_QUEUE_FULL || e == API_UNAVAILABLE)
        http_add_header(h, "Retry-After", e == API_QUEUE_FULL ? "5" : "10");
    json_t *body = api_error_body(e, status == 500 ? "internal error; see the server log "
                                                     "with this request id"
                                                   : msg,
                                  fld, h->rid);
    http_reply_json(h, status, body);
}

void http_reply_status(hreq *h, int status, const tg_err *err)
{
    api_error e = api_error_from_status(status);
    http_reply_error(h, e, err ? err->field : NULL, "%s",
                     err && err->msg[0] ? err->msg : api_error_code(e));
}

int http_content_type_is(hreq *h, const char *type)
{
    const char *ct = http_header(h, "Content-Type");
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* Maximum nesting depth of a JSON text (strings skipped); stops counting past limit. */
static int json_depth_exceeds(const char *p, size_t n, int limit)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > limit)
                return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

json_t *http_body_json(hreq *h)
{
    json_error_t je;
    if (!http_content_type_is(h, "application/json")) {
        const char *ct = http_header(h, "Content-Type");
        http_reply_error(h, API_UNSUPPORTED_MEDIA_TYPE, NULL,
                         "the body must be JSON with Content-Type: application/json (got %s)",
                         ct ? ct : "no Content-Type");
        return NULL;
    }
    if (h->body.len == 0) {
        http_reply_error(h, API_INVALID_JSON, NULL, "the request body is empty");
        return NULL;
    }
    if (json_depth_exceeds(h->body.p, h->body.len, 64)) {
        http_reply_error(h, API_INVALID_JSON, NULL, "JSON nesting deeper than 64 levels");
        return NULL;
    }
    json_t *v = json_loadb(h->body.p, h->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v)
        http_reply_error(h, API_INVALID_JSON, NULL, "invalid JSON at line %d, column %d: %s",
                         je.line, je.column, je.text);
    return v;
}

/* ---- the MHD callbacks ------------------------------------------------------------- */

/* Constant-time comparison of the bearer token. */
static int token_ok(hreq *h)
{
    const char *auth = http_header(h, "Authorization");
    const char *tok = app->cfg.api_token;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *given = auth + 7;
    size_t lt = strlen(tok), lg = strlen(given);
    unsigned diff = (unsigned)(lt ^ lg);
    for (size_t i = 0; i < lg; i++)
        diff |= (unsigned char)given[i] ^ (unsigned char)tok[i % (lt ? lt : 1)];
    return diff == 0;
}

static void set_request_id(hreq *h)
{
    const char *given = http_header(h, "X-Request-Id");
    if (given) {
        size_t n = strlen(given), ok = n > 0 && n < sizeof h->rid;
        for (size_t i = 0; ok && i < n; i++) {
            char c = given[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == ':';
        }
        if (ok) {
            memcpy(h->rid, given, n + 1);
            return;
        }
    }
    util_new_id("", h->rid, sizeof h->rid);
}

static void preflight(hreq *h)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (origin_allowed(http_header(h, "Origin"))) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods",
                                "GET, POST, DELETE, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Idempotency-Key, X-Request-Id, "
                                "Accept");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    }
    http_reply_response(h, 204, r);
}

/* 1 when the request must carry the token: a token is configured and the path is not
 * one of the open routes (/healthz, /readyz, /metrics without --metrics-auth, the
 * dashboard page). A path no route knows needs it too, so that without the token every
 * answer is 401 whatever the path, method or body (API.md 6.3). */
static int needs_token(hreq *h, int match_rc)
{
    if (!app->cfg.api_token[0])
        return 0;
    int i = match_rc == 200 ? h->m.index : h->m.path_index;
    if (i < 0)
        return 1;
    const route *rt = &router_routes(NULL)[i];
    return rt->auth || (strcmp(rt->name, "metrics") == 0 && app->cfg.metrics_auth);
}

/* ---- the memory of request bodies (--max-body-memory) ------------------------------- */

static atomic_llong body_mem;

/* Takes n bytes of the bound; -1 when they do not fit. */
static int body_mem_take(size_t n)
{
    long long cur = atomic_load(&body_mem);
    do {
        if ((unsigned long long)cur + n > (unsigned long long)app->cfg.max_body_memory)
            return -1;
    } while (!atomic_compare_exchange_weak(&body_mem, &cur, cur + (long long)n));
    return 0;
}

static void body_mem_give(size_t n)
{
    atomic_fetch_sub(&body_mem, (long long)n);
}

long long http_body_memory(void)
{
    return atomic_load(&body_mem);
}

/* Frees the body and gives its bytes back. */
static void body_drop(hreq *h)
{
    sbuf_free(&h->body);
    body_mem_give(h->reserved);
    h->reserved = 0;
}

/* Appends n bytes to the body. The buffer grows by doubling from 4 KiB, but never past
 * the Content-Length (the library passes no more than it announces) or --max-body
 * without one; each growth is taken from --max-body-memory first. -1 when the bound or
 * the allocator refuses (nothing changed then). */
static int body_put(hreq *h, const char *p, size_t n)
{
    sbuf *b = &h->body;
    size_t need = b->len + n;
    if (need > h->reserved) {
        size_t lim = h->content_length != ULLONG_MAX ? (size_t)h->content_length
                                                     : app->cfg.max_body;
        size_t cap = h->reserved ? h->reserved : 4096;
        while (cap < need)
            cap = cap > SIZE_MAX / 4 ? need : cap * 2;
        if (cap > lim)
            cap = lim;
        if (cap < need)
            cap = need;
        if (body_mem_take(cap - h->reserved))
            return -1;
        char *q = realloc(b->p, cap + 1);
        if (!q) {
            body_mem_give(cap - h->reserved);
            return -1;
        }
        b->p = q;
        b->cap = cap + 1;
        h->reserved = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void dispatch(hreq *h)
{
    const char *path = h->url;
    int rc = router_match(h->method, path, &h->m);
    if (h->framing) {
        http_add_header(h, "Connection", "close");
        http_reply_error(h, API_INVALID_ARGUMENT, NULL, "%s",
                         h->framing == 1 ? "Content-Length together with Transfer-Encoding"
                         : h->framing == 2 ? "more than one Content-Length header"
                                           : "Transfer-Encoding other than one chunked");
        return;
    }
    if (strcmp(h->method, "OPTIONS") == 0 && (rc == 200 || rc == 405)) {
        preflight(h);
        return;
    }
    if (needs_token(h, rc) && !token_ok(h)) {
        http_reply_error(h, API_UNAUTHORIZED, NULL,
                         "this server needs Authorization: Bearer <token>");
        return;
    }
    if (rc == 404) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no route for %s %s", h->method, path);
        return;
    }
    if (rc == 405) {
        http_add_header(h, "Allow", h->m.allow);
        http_reply_error(h, API_METHOD_NOT_ALLOWED, NULL, "%s is not allowed on %s (allowed: %s)",
                         h->method, path, h->m.allow);
        return;
    }
    if (h->too_large) {
        if (h->content_length != ULLONG_MAX)
            http_reply_error(h, API_PAYLOAD_TOO_LARGE, NULL,
                             "the request body (%llu bytes) exceeds %zu bytes",
                             h->content_length, app->cfg.max_body);
        else
            http_reply_error(h, API_PAYLOAD_TOO_LARGE, NULL,
                             "the request body exceeds %zu bytes", app->cfg.max_body);
        return;
    }
    if (h->no_room) {
        http_reply_error(h, API_UNAVAILABLE, NULL,
                         "the server is receiving too many request bodies at once (%lld bytes "
                         "together at most, --max-body-memory); retry later",
                         app->cfg.max_body_memory);
        return;
    }
    const route *rt = &router_routes(NULL)[h->m.index];
    h->oom_mark = jx_oom_mark();
    rt->fn(h);
    if (!h->replied)
        http_reply_error(h, API_INTERNAL, NULL, "handler sent no response for %s %s",
                         h->method, path);
}

/* The most body bytes read (and discarded) for a request over --max-body. */
static unsigned long long discard_cap(void)
{
    unsigned long long m = app->cfg.max_body;
    return m > ULLONG_MAX / DISCARD_FACTOR ? ULLONG_MAX : m * DISCARD_FACTOR;
}

static int expects_continue(struct MHD_Connection *conn)
{
    const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
    return e && strcasecmp(e, "100-continue") == 0;
}

/* From now on the body of h is discarded: a short idle timeout, so that a client that
 * stops sending does not hold the connection for the default 120 s. */
static void discard_start(hreq *h)
{
    h->discard = 1;
    MHD_set_connection_option(h->conn, MHD_CONNECTION_OPTION_TIMEOUT, DISCARD_IDLE_SECS);
}

/* The framing headers of a request (every occurrence, not only the first). */
typedef struct framing {
    int n_cl, n_te, te_other;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    framing *f = cls;
    (void)kind;
    if (strcasecmp(key, "Content-Length") == 0)
        f->n_cl++;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->n_te++;
        if (!value || strcasecmp(value, "chunked") != 0)
            f->te_other = 1;
    }
    return MHD_YES;
}

static conns_ent *conn_ent(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The first call for a request: its head is complete, no byte of the body is read yet.
 * Decides whether the body is kept or thrown away, and answers at once when reading it
 * is pointless (ambiguous framing; an error for a client that waits for 100 Continue or
 * a body past what we would read and discard). */
static void request_head(hreq *h, struct MHD_Connection *conn)
{
    /* The library takes the first Content-Length and lets Transfer-Encoding win over it:
     * a proxy in front could frame the request otherwise (RFC 9112 6.3), so ambiguous
     * framing is refused and the connection closed. */
    framing f = {0, 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    h->framing = f.n_cl && f.n_te ? 1 : f.n_cl > 1 ? 2 : (f.n_te > 1 || f.te_other) ? 3 : 0;
    if (h->framing) {
        dispatch(h);
        return;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    h->content_length = cl ? strtoull(cl, NULL, 10) : ULLONG_MAX;
    int has_body = f.n_te || (cl && h->content_length > 0);
    int rc = router_match(h->method, h->url, &h->m);
    if (rc != 200 || (needs_token(h, rc) && !token_ok(h))) {
        h->discard = 1;
    } else if (cl && h->content_length > app->cfg.max_body) {
        h->too_large = 1;
    } else if (cl && (unsigned long long)http_body_memory() + h->content_length >
                         (unsigned long long)app->cfg.max_body_memory) {
        h->no_room = 1;
    }
    if (!(h->discard || h->too_large || h->no_room) || !has_body)
        return;
    if (expects_continue(conn) || (cl && h->content_length > discard_cap()))
        dispatch(h);
    else
        discard_start(h);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    hreq *h = *con_cls;
    (void)cls;
    (void)version;
    if (!h) {
        /* shut down by the header deadline or an eviction after its head arrived: not
         * run (the reply would go nowhere and a client may resend the request) */
        if (conns_busy(conn_ent(conn)))
            return MHD_NO;
        hreq_full *hf = calloc(1, sizeof *hf);
        if (!hf)
            return MHD_NO;
        h = &hf->h;
        h->conn = conn;
        h->method = method;
        h->url = url;
        h->t0 = util_mono();
        h->status = 0;
        h->content_length = ULLONG_MAX;
        set_request_id(h);
        *con_cls = h;
        request_head(h, conn);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        h->received += n;
        if (h->replied)
            return MHD_YES;
        if (!h->discard) {
            if (h->body.len + n > app->cfg.max_body)
                h->too_large = 1;
            else if (body_put(h, upload_data, n))
                h->no_room = 1;
            if (h->too_large || h->no_room) {
                body_drop(h);
                discard_start(h);
            }
            return MHD_YES;
        }
        if (h->received > discard_cap() || util_mono() - h->t0 > DISCARD_SECS) {
            char got[32];
            snprintf(got, sizeof got, "%llu", h->received);
            log_msg(LOG_WARN, "http", "closing the connection of a refused body past "
                    "the bounds of its discard", "request_id", h->rid, "bytes_read", got,
                    NULL);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (!h->replied)
        dispatch(h);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hreq *h = *con_cls;
    (void)cls;
    (void)toe;
    conns_waiting(conn_ent(conn));
    if (!h)
        return;
    /* a discarded body shortened the connection's idle timeout: a kept-alive connection
     * gets the normal one back for its next request */
    if (h->discard)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, IDLE_SECS);
    double dt = util_mono() - h->t0;
    if (h->status)
        metrics_http(h->m.index >= 0 ? h->m.index : METRICS_MAX_ROUTES - 1, h->status, dt);
    log_request(h->rid, h->method, h->url, h->status, dt * 1e3, h->bytes);
    body_drop(h);
    free(h);
    *con_cls = NULL;
}

/* Every connection is tracked by conns.c from its accept to its close. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? conns_opened(ci->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conns_closed(*socket_context);
        *socket_context = NULL;
    }
}

/* The library's messages, one log line each. A client that went away (a stream closed
 * early, a reset) is routine: debug; anything else is a warning. */
static void mhd_log(void *cls, const char *fm, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fm, va_list ap)
{
    static const char *const routine[] = {"no longer available", "reset by", "closed by",
                                          "disconnected", "timed out", "Broken pipe"};
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fm, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    int level = LOG_WARN;
    for (size_t i = 0; i < sizeof routine / sizeof routine[0]; i++)
        if (strstr(msg, routine[i]))
            level = LOG_DEBUG;
    log_msg(level, "libmicrohttpd", msg, NULL);
}

int http_listen(int port, const char *bind_addr, tg_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (listen_fd >= 0)
        return TG_OK;
    if (inet_pton(AF_INET, bind_addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, bind_addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof *s6;
    } else {
        return tg_err_set(err, TG_EINVAL, "--bind: not an IP address: %s", bind_addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tg_err_set(err, TG_EIO, "cannot create a socket: %s", strerror(errno));
    /* SO_REUSEADDR only lets a restart bind while old connections sit in TIME_WAIT; on
     * Linux it never lets two sockets listen on one port (SO_REUSEPORT would). */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return tg_err_set(err, TG_EINVAL, "port %d is already in use on %s (another "
                              "server listens on it; choose another --port)", port, bind_addr);
        return tg_err_set(err, TG_EINVAL, "cannot listen on port %d of %s: %s", port,
                          bind_addr, strerror(e));
    }
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        listen_port = ntohs(ss.ss_family == AF_INET6 ? s6->sin6_port : s4->sin_port);
    listen_fd = fd;
    return TG_OK;
}

/* Raises the soft open-file limit to the hard one and returns it. */
static long long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1LL << 20 : (long long)rl.rlim_cur;
}

/* The connection limit: --max-connections (default 10000), at most the open-file limit
 * less a reserve for the database (three files per SQLite connection, one connection
 * per thread), array files, the log and the library's own descriptors. */
static int connection_limit(long long nofile)
{
    long long reserve = 128 + 8LL * app->cfg.workers;
    long long room = nofile - reserve < 16 ? 16 : nofile - reserve;
    long long want = app->cfg.max_connections ? app->cfg.max_connections : 10000;
    if (want > room) {
        if (app->cfg.max_connections) {
            char a[24], b[24];
            snprintf(a, sizeof a, "%lld", want);
            snprintf(b, sizeof b, "%lld", room);
            log_msg(LOG_WARN, "http", "--max-connections is more than the open-file limit "
                    "allows; lowered", "asked", a, "max_connections", b, NULL);
        }
        want = room;
    }
    return (int)want;
}

int http_start(int port, const char *bind_addr, tg_err *err)
{
    size_t n;
    const route *rt = router_routes(&n);
    for (size_t i = 0; i < n; i++)
        metrics_route_name((int)i, rt[i].name);
    metrics_route_name(METRICS_MAX_ROUTES - 1, "unmatched");

    int rc = http_listen(port, bind_addr, err);
    if (rc)
        return rc;
    long long nofile = raise_fd_limit();
    app->cfg.max_connections = connection_limit(nofile);
    if (conns_start(app->cfg.max_connections, app->cfg.header_timeout))
        return tg_err_set(err, TG_EIO, "cannot start the connection guard thread");
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = cores > 2 ? (unsigned)cores : 2;
    /* The logger first, so that no message of the start escapes it. */
    daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                               MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                               MHD_OPTION_LISTEN_SOCKET, listen_fd,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)app->cfg.max_connections,
                               MHD_OPTION_THREAD_POOL_SIZE, pool,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECS,
                               MHD_OPTION_END);
    if (!daemon_) {
        conns_stop();
        return tg_err_set(err, TG_EIO, "cannot start the HTTP server on %s:%d", bind_addr,
                          listen_port);
    }
    char a[24], b[24], c[24], d[24];
    snprintf(a, sizeof a, "%d", app->cfg.max_connections);
    snprintf(b, sizeof b, "%lld", nofile);
    snprintf(c, sizeof c, "%g", app->cfg.header_timeout);
    snprintf(d, sizeof d, "%lld", app->cfg.max_body_memory);
    log_msg(LOG_INFO, "http", "connection limits", "max_connections", a, "fd_limit", b,
            "header_timeout_s", c, "max_body_memory", d, NULL);
    sse_start();
    return TG_OK;
}

int http_port(void)
{
    return listen_port;
}

void http_stop(void)
{
    /* Parked streams must be resumed before MHD may stop. */
    sse_stop();
    if (daemon_)
        MHD_stop_daemon(daemon_);
    else if (listen_fd >= 0)
        close(listen_fd);
    conns_stop();
    daemon_ = NULL;
    listen_fd = -1;
}
