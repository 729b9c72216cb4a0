/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const double http_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1, 2.5, 5, 10};
#define N_HTTP_B (sizeof http_buckets / sizeof http_buckets[0])
static const double job_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};
#define N_JOB_B (sizeof job_buckets / sizeof job_buckets[0])
static const char *const job_statuses[] = {"queued", "succeeded", "failed", "cancelled"};
#define N_JS 4

static const char *route_names[METRICS_MAX_ROUTES];
/* Status codes are bucketed by value 100..599. */
static atomic_ullong http_count[METRICS_MAX_ROUTES][500];
static atomic_ullong http_hist[N_HTTP_B + 1];
static atomic_ullong http_sum_us;

static pthread_mutex_t kind_mu = PTHREAD_MUTEX_INITIALIZER;
static char kind_names[METRICS_MAX_KINDS][40];
static atomic_ullong job_count[METRICS_MAX_KINDS][N_JS];
static atomic_ullong job_hist[METRICS_MAX_KINDS][N_JOB_B + 1];
static atomic_ullong job_sum_ms[METRICS_MAX_KINDS];

void metrics_route_name(int route, const char *name)
{
    if (route >= 0 && route < METRICS_MAX_ROUTES)
        route_names[route] = name;
}

void metrics_http(int route, int status, double seconds)
{
    if (route < 0 || route >= METRICS_MAX_ROUTES || status < 100 || status > 599)
        return;
    atomic_fetch_add_explicit(&http_count[route][status - 100], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < N_HTTP_B && seconds > http_buckets[b])
        b++;
    atomic_fetch_add_explicit(&http_hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&http_sum_us, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

static int kind_index(const char *kind)
{
    pthread_mutex_lock(&kind_mu);
    int k = -1;
    for (int i = 0; i < METRICS_MAX_KINDS; i++) {
        if (kind_names[i][0] == '\0') {
            snprintf(kind_names[i], sizeof kind_names[i], "%s", kind);
            k = i;
            break;
        }
        if (strcmp(kind_names[i], kind) == 0) {
            k = i;
            break;
        }
    }
    pthread_mutex_unlock(&kind_mu);
    return k;
}

void metrics_job(const char *kind, const char *status, double seconds)
{
    int k = kind_index(kind), s = -1;
    for (int i = 0; i < N_JS; i++)
        if (strcmp(job_statuses[i], status) == 0)
            s = i;
    if (k < 0 || s < 0)
        return;
    atomic_fetch_add(&job_count[k][s], 1);
    if (s > 0) {
        size_t b = 0;
        while (b < N_JOB_B && seconds > job_buckets[b])
            b++;
        atomic_fetch_add(&job_hist[k][b], 1);
        atomic_fetch_add(&job_sum_ms[k], (unsigned long long)(seconds * 1e3));
    }
}

void metrics_render(sbuf *b, long long queued, long long running, int workers,
                    long long budget, long long reserved)
{
    sbuf_puts(b, "# HELP tangent_jobs_total Jobs that reached a status since the process "
                 "started (queued = submitted).\n# TYPE tangent_jobs_total counter\n");
    for (int k = 0; k < METRICS_MAX_KINDS && kind_names[k][0]; k++)
        for (int s = 0; s < N_JS; s++)
            sbuf_printf(b, "tangent_jobs_total{kind=\"%s\",status=\"%s\"} %llu\n",
                        kind_names[k], job_statuses[s], (unsigned long long)job_count[k][s]);
    sbuf_printf(b, "# HELP tangent_jobs_queued Jobs waiting.\n# TYPE tangent_jobs_queued "
                   "gauge\ntangent_jobs_queued %lld\n",
                queued);
    sbuf_printf(b, "# HELP tangent_jobs_running Jobs running.\n# TYPE tangent_jobs_running "
                   "gauge\ntangent_jobs_running %lld\n",
                running);
    sbuf_puts(b, "# HELP tangent_job_duration_seconds Running time of finished attempts.\n"
                 "# TYPE tangent_job_duration_seconds histogram\n");
    for (int k = 0; k < METRICS_MAX_KINDS && kind_names[k][0]; k++) {
        unsigned long long cum = 0;
        for (size_t i = 0; i <= N_JOB_B; i++) {
            cum += job_hist[k][i];
            if (i < N_JOB_B)
                sbuf_printf(b, "tangent_job_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n",
                            kind_names[k], job_buckets[i], cum);
            else
                sbuf_printf(b, "tangent_job_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n",
                            kind_names[k], cum);
        }
        sbuf_printf(b, "tangent_job_duration_seconds_sum{kind=\"%s\"} %.3f\n", kind_names[k],
                    (double)job_sum_ms[k] / 1e3);
        sbuf_printf(b, "tangent_job_duration_seconds_count{kind=\"%s\"} %llu\n", kind_names[k],
                    cum);
    }
    sbuf_puts(b, "# HELP tangent_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE tangent_http_requests_total counter\n");
    for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
        if (!route_names[r])
            continue;
        for (int c = 0; c < 500; c++)
            if (http_count[r][c])
                sbuf_printf(b, "tangent_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                            route_names[r], c + 100, (unsigned long long)http_count[r][c]);
    }
    sbuf_puts(b, "# HELP tangent_http_request_duration_seconds HTTP request latency.\n"
                 "# TYPE tangent_http_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i <= N_HTTP_B; i++) {
        cum += http_hist[i];
        if (i < N_HTTP_B)
            sbuf_printf(b, "tangent_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                        http_buckets[i], cum);
        else
            sbuf_printf(b, "tangent_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                        cum);
    }
    sbuf_printf(b, "tangent_http_request_duration_seconds_sum %.6f\n",
                (double)http_sum_us / 1e6);
    sbuf_printf(b, "tangent_http_request_duration_seconds_count %llu\n", cum);
    sbuf_printf(b, "# HELP tangent_workers Job worker threads.\n# TYPE tangent_workers gauge\n"
                   "tangent_workers %d\n",
                workers);
    sbuf_printf(b, "# HELP tangent_memory_budget_bytes The memory budget for jobs.\n"
                   "# TYPE tangent_memory_budget_bytes gauge\ntangent_memory_budget_bytes %lld\n",
                budget);
    sbuf_printf(b, "# HELP tangent_memory_reserved_bytes Estimates of the running jobs.\n"
                   "# TYPE tangent_memory_reserved_bytes gauge\n"
                   "tangent_memory_reserved_bytes %lld\n",
                reserved);
}
