/* app.h: the runtime configuration (API.md 6.1) and the process-wide objects shared by
 * the server's modules. One tg_app exists per process (app_main); its fields are set
 * before the HTTP daemon and the workers start and are read-only afterwards, except the
 * atomics. */
#ifndef TG_APP_H
#define TG_APP_H

#include <stdatomic.h>
#include <stddef.h>

#include "store.h"

typedef struct tg_config {
    int port;
    char bind[64];
    char db[1024];
    int workers;
    int blas_threads;
    size_t max_body;
    long long max_queue;
    long long memory_budget;
    int max_attempts;
    char api_token[256];     /* "" = none */
    int metrics_auth;
    char cors_origins[1024]; /* comma-separated; "" = none; "*" = any */
    char webhook_secret[256];
    int log_json;
    int log_level;           /* 0 debug, 1 info, 2 warn, 3 error */
    int test_kinds;
    int max_connections;     /* MHD_OPTION_CONNECTION_LIMIT (0 = from the fd limit) */
    double header_timeout;   /* seconds for a request line and headers (conns.c) */
    long long max_body_memory; /* all buffered request bodies together (http.c) */
    char limits[8];          /* where the defaults of workers and memory_budget came from:
                              * "cgroup" (the container's limits) or "host" */
} tg_config;

/* Parses argv and the TANGENT_* environment into cfg. Returns 0 to run, 1 when it printed
 * --help or --version (exit 0), 2 on a bad flag (a one-line error was printed). */
int config_parse(tg_config *cfg, int argc, char **argv);

struct pool;
struct events;

typedef struct tg_app {
    tg_config cfg;
    store *st;
    struct pool *pool;
    atomic_int shutting_down;
    char blas_info[256];
    char version[64];
} tg_app;

extern tg_app *app;

#endif
