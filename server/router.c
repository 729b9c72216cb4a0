/* router.c: see router.h. The table is the API surface of API.md sections 2, 3 and 6;
 * and the models of section 4. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "handlers.h"

static const route routes[] = {
    {"GET", "/healthz", "healthz", h_healthz, 0},
    {"GET", "/readyz", "readyz", h_readyz, 0},
    {"GET", "/metrics", "metrics", h_metrics, 0},
    {"GET", "/", "dashboard", h_dashboard, 0},
    {"GET", "/v1/openapi.json", "openapi", h_openapi, 1},
    {"GET", "/v1/kinds", "kinds", h_kinds, 1},
    {"GET", "/v1/kinds/*", "kind_get", h_kind_get, 1},
    {"POST", "/v1/jobs", "jobs_submit", h_job_submit, 1},
    {"GET", "/v1/jobs", "jobs_list", h_job_list, 1},
    {"GET", "/v1/jobs/*", "job_get", h_job_get, 1},
    {"DELETE", "/v1/jobs/*", "job_delete", h_job_delete, 1},
    {"POST", "/v1/jobs/*/cancel", "job_cancel", h_job_cancel, 1},
    {"GET", "/v1/jobs/*/events", "job_events", h_job_events, 1},
    {"GET", "/v1/jobs/*/arrays/*", "job_array", h_job_array, 1},
    {"POST", "/v1/datasets", "datasets_upload", h_dataset_upload, 1},
    {"GET", "/v1/datasets", "datasets_list", h_dataset_list, 1},
    {"GET", "/v1/datasets/*", "dataset_get", h_dataset_get, 1},
    {"DELETE", "/v1/datasets/*", "dataset_delete", h_dataset_delete, 1},
    {"GET", "/v1/builtins", "builtins", h_builtins, 1},
    {"GET", "/v1/models", "models_list", h_model_list, 1},
    {"POST", "/v1/models", "models_upload", h_model_upload, 1},
    {"GET", "/v1/models/*", "model_get", h_model_get, 1},
    {"DELETE", "/v1/models/*", "model_delete", h_model_delete, 1},
    {"POST", "/v1/models/*/predict", "model_predict", h_model_predict, 1},
    {NULL, NULL, NULL, NULL, 0},
};

const route *router_routes(size_t *n_out)
{
    if (n_out)
        *n_out = sizeof routes / sizeof routes[0] - 1;
    return routes;
}

/* Matches path against pattern; captures "*" segments into m. */
static int match_pattern(const char *pat, const char *path, route_match *m)
{
    m->n_params = 0;
    while (*pat && *path) {
        if (*pat == '*') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0 || len >= ROUTER_PARAM_LEN || m->n_params >= ROUTER_MAX_PARAMS)
                return 0;
            memcpy(m->params[m->n_params], path, len);
            m->params[m->n_params][len] = '\0';
            m->n_params++;
            path += len;
            pat++;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *pat == '\0' && *path == '\0';
}

int router_match(const char *method, const char *path, route_match *m)
{
    const char *meth = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int found_path = 0;
    size_t off = 0;
    m->allow[0] = '\0';
    m->index = -1;
    m->path_index = -1;
    for (size_t i = 0; routes[i].method; i++) {
        route_match tmp;
        if (!match_pattern(routes[i].pattern, path, &tmp))
            continue;
        if (m->path_index < 0)
            m->path_index = (int)i;
        if (strcmp(routes[i].method, meth) == 0) {
            tmp.path_index = m->path_index;
            *m = tmp;
            m->index = (int)i;
            m->allow[0] = '\0';
            return 200;
        }
        found_path = 1;
        int w = snprintf(m->allow + off, sizeof m->allow - off, "%s%s", off ? ", " : "",
                         routes[i].method);
        if (w > 0 && (size_t)w < sizeof m->allow - off)
            off += (size_t)w;
    }
    if (found_path) {
        if (strstr(m->allow, "GET") && !strstr(m->allow, "HEAD") && off + 6 < sizeof m->allow)
            snprintf(m->allow + off, sizeof m->allow - off, ", HEAD");
        return 405;
    }
    return 404;
}
