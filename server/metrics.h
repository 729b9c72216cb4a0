/* metrics.h: Prometheus counters and histograms of API.md 6.2, kept in atomics so that
 * the request path never takes a lock. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include "../core/tg.h"
#include "util.h"

#define METRICS_MAX_ROUTES 48
#define METRICS_MAX_KINDS 16

void metrics_http(int route, int status, double seconds);
/* Registers the name of route index i (for labels); called at start-up. */
void metrics_route_name(int route, const char *name);
/* A job reached `status` (queued, succeeded, failed, cancelled); seconds = running time
 * for terminal statuses. */
void metrics_job(const char *kind, const char *status, double seconds);
/* Appends the whole exposition text to b. */
void metrics_render(sbuf *b, long long queued, long long running, int workers,
                    long long budget, long long reserved);

#endif
