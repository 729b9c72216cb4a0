/* handlers.h: the request handlers of the route table (router.c) and the helpers they
 * share to reply. A handler runs on an HTTP thread once the whole body is buffered; it
 * must queue exactly one response through the http_reply_* functions. */
#ifndef TG_HANDLERS_H
#define TG_HANDLERS_H

#include <jansson.h>
#include <stddef.h>

#include "../api/data.h"
#include "../api/errors.h"
#include "router.h"
#include "util.h"

struct MHD_Connection;
struct MHD_Response;

typedef struct hreq {
    struct MHD_Connection *conn;
    const char *method, *url;
    char rid[72];
    double t0;
    sbuf body;
    int too_large;
    int replied;
    int status;
    long long bytes;
    route_match m;
} hreq;

/* Replies; each sets the common headers (X-Request-Id, CORS). The body is copied. */
void http_reply(hreq *h, int status, const char *content_type, const char *body,
                size_t len);
/* json is stolen. */
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

/* The parking thread of the SSE streams (see h_jobs.c): started before the daemon,
 * stopped (resuming every parked stream) before MHD_stop_daemon. */
void sse_park_start(void);
void sse_park_stop(void);

/* The store-backed dataset loader of data_env. */
int server_load_dataset(void *ud, const char *id, tg_dataset **out, tg_err *err);
/* The store-backed model loader and saver of kind_env / job_io. */
struct tg_model;
int server_load_model(void *ud, const char *id, struct tg_model **out, tg_err *err);
int server_save_model(void *ud, struct tg_model *m, const char *job_id, tg_err *err);

void h_healthz(hreq *h);
void h_readyz(hreq *h);
void h_metrics(hreq *h);
void h_dashboard(hreq *h);
void h_openapi(hreq *h);
void h_kinds(hreq *h);
void h_job_submit(hreq *h);
void h_job_list(hreq *h);
void h_job_get(hreq *h);
void h_job_delete(hreq *h);
void h_job_cancel(hreq *h);
void h_job_events(hreq *h);
void h_job_array(hreq *h);
void h_dataset_upload(hreq *h);
void h_dataset_list(hreq *h);
void h_dataset_get(hreq *h);
void h_dataset_delete(hreq *h);
void h_model_list(hreq *h);
void h_model_get(hreq *h);
void h_model_upload(hreq *h);
void h_model_predict(hreq *h);
void h_model_delete(hreq *h);

#endif
