/* h_ops.c: health, readiness, metrics, the OpenAPI document, the kinds list and the
 * dashboard page (API.md 6.2, 2.7: the list and one kind's params schema). */
#include <string.h>

#include "../api/kinds.h"
#include "../core/embed.h"
#include "app.h"
#include "conns.h"
#include "handlers.h"
#include "metrics.h"
#include "pool.h"

void h_healthz(hreq *h)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply_json_text(h, 200, ok, sizeof ok - 1);
}

void h_readyz(hreq *h)
{
    int writable = store_writable(app->st);
    int workers = pool_alive(app->pool);
    if (writable && workers && !app->shutting_down) {
        static const char ok[] = "{\"status\":\"ready\"}";
        http_reply_json_text(h, 200, ok, sizeof ok - 1);
        return;
    }
    http_reply_error(h, API_UNAVAILABLE, NULL, "not ready:%s%s%s",
                     writable ? "" : " the store is not writable;",
                     workers ? "" : " the workers are not running;",
                     app->shutting_down ? " shutting down" : "");
}

void h_metrics(hreq *h)
{
    sbuf b = {0};
    long long q = 0, r = 0;
    store_job_counts(app->st, &q, &r);
    metrics_render(&b, q, r, app->cfg.workers, app->cfg.memory_budget,
                   app->pool ? pool_reserved(app->pool) : 0);
    conns_stats cs;
    conns_get_stats(&cs);
    sbuf_printf(&b, "# HELP tangent_http_connections Open HTTP connections.\n"
                    "# TYPE tangent_http_connections gauge\ntangent_http_connections %lld\n"
                    "# HELP tangent_http_connections_max The connection limit.\n"
                    "# TYPE tangent_http_connections_max gauge\n"
                    "tangent_http_connections_max %d\n",
                cs.open, app->cfg.max_connections);
    sbuf_printf(&b, "# HELP tangent_http_connections_closed_total Connections the server "
                    "closed while they waited for a request head.\n"
                    "# TYPE tangent_http_connections_closed_total counter\n"
                    "tangent_http_connections_closed_total{reason=\"header_timeout\"} %llu\n"
                    "tangent_http_connections_closed_total{reason=\"near_limit\"} %llu\n",
                cs.timed_out, cs.evicted);
    sbuf_printf(&b, "# HELP tangent_http_body_bytes Memory held by request bodies being "
                    "received.\n# TYPE tangent_http_body_bytes gauge\n"
                    "tangent_http_body_bytes %lld\n"
                    "# HELP tangent_http_body_bytes_max Their bound (--max-body-memory).\n"
                    "# TYPE tangent_http_body_bytes_max gauge\n"
                    "tangent_http_body_bytes_max %lld\n",
                http_body_memory(), app->cfg.max_body_memory);
    if (b.oom) {
        sbuf_free(&b);
        http_reply_error(h, API_INTERNAL, NULL, "out of memory rendering metrics");
        return;
    }
    http_reply(h, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    sbuf_free(&b);
}

void h_openapi(hreq *h)
{
    size_t len;
    const unsigned char *doc = embed_find("openapi.json", &len);
    if (!doc) {
        http_reply_error(h, API_INTERNAL, NULL, "the OpenAPI document is not embedded");
        return;
    }
    http_reply(h, 200, "application/json", (const char *)doc, len);
}

void h_kinds(hreq *h)
{
    http_reply_json(h, 200, kinds_describe_all(app->cfg.test_kinds));
}

void h_kind_get(hreq *h)
{
    const char *name = h->m.params[0];
    json_t *k;
    int rc = kinds_describe_one(name, app->cfg.test_kinds, &k);
    if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no kind %.100s", name);
    else if (rc)
        http_reply_error(h, API_INTERNAL, NULL, "out of memory describing kind %.100s", name);
    else
        http_reply_json(h, 200, k);
}

void h_dashboard(hreq *h)
{
    size_t len;
    const unsigned char *page = embed_find("server/assets/index.html", &len);
    if (!page) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no dashboard in this build");
        return;
    }
    http_reply(h, 200, "text/html; charset=utf-8", (const char *)page, len);
}
