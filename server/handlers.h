/* handlers.h: the request handlers of the route table (router.c), one per route, in
 * the endpoint files h_*.c. A handler runs on an HTTP thread once the whole body is
 * buffered; it must queue exactly one response through the http_reply_* functions
 * (http.h). Only the router refers to these. */
#ifndef TG_HANDLERS_H
#define TG_HANDLERS_H

#include "http.h"

void h_healthz(hreq *h);
void h_readyz(hreq *h);
void h_metrics(hreq *h);
void h_dashboard(hreq *h);
void h_openapi(hreq *h);
void h_kinds(hreq *h);
void h_kind_get(hreq *h);
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
void h_builtins(hreq *h);
void h_model_list(hreq *h);
void h_model_get(hreq *h);
void h_model_upload(hreq *h);
void h_model_predict(hreq *h);
void h_model_delete(hreq *h);

#endif
