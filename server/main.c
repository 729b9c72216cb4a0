/* main.c: tangentd's entry point. Order of start: configuration, the listening socket
 * (a port in use is exit 2 before anything is touched), store (migrations), recovery of
 * jobs interrupted by a crash, workers, HTTP. Signals are taken by a handler that
 * writes to a pipe which this thread reads; SIGTERM/SIGINT drain as API.md 6.4 says:
 * new POSTs get 503, running jobs get up to 30 s, then are stopped and left queued;
 * exit 0. */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/jx.h"
#include "app.h"
#include "catalog.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "util.h"

/* SIGTERM/SIGINT: OpenBLAS starts its threads before main, so a blocked mask cannot
 * keep the signals away from every thread; a handler (async-signal-safe: one write to a
 * pipe) runs on whichever thread receives them, and main reads the pipe. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    ssize_t w = write(sig_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

int main(int argc, char **argv)
{
    tg_err err;
    jx_mem_init();
    int rc = config_parse(&app->cfg, argc, argv);
    if (rc == 1)
        return 0;
    if (rc)
        return 2;
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe != 1) {
        fprintf(stderr, "tangentd: big-endian machines are not supported\n");
        return 1;
    }
    log_setup(app->cfg.log_json, app->cfg.log_level);
    snprintf(app->version, sizeof app->version, "tangentd %s", TG_VERSION);
    openblas_set_num_threads(app->cfg.blas_threads);
    snprintf(app->blas_info, sizeof app->blas_info, "%s", openblas_get_config());

    if (pipe(sig_pipe) != 0) {
        fprintf(stderr, "tangentd: cannot create the signal pipe\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The port first: a second server on a port in use stops before the store. */
    if (http_listen(app->cfg.port, app->cfg.bind, &err)) {
        fprintf(stderr, "tangentd: %s\n", err.msg);
        return err.code == TG_EINVAL ? 2 : 1;
    }
    if (store_open(app->cfg.db, &app->st, &err)) {
        fprintf(stderr, "tangentd: %s\n", err.msg);
        return 1;
    }
    char now[32];
    int requeued = 0, failed = 0;
    if (store_recover(app->st, app->cfg.max_attempts, util_now_rfc3339(now, sizeof now),
                      &requeued, &failed)) {
        fprintf(stderr, "tangentd: cannot recover interrupted jobs\n");
        return 1;
    }
    if (requeued || failed) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", requeued);
        snprintf(b, sizeof b, "%d", failed);
        log_msg(LOG_WARN, "recovery", "jobs interrupted by a crash", "requeued", a,
                "failed_interrupted", b, NULL);
    }
    events_init();
    json_t *prov = json_pack("{s:s, s:s, s:i}", "version", app->version, "blas",
                             app->blas_info, "blas_threads", app->cfg.blas_threads);
    char *prov_text = prov ? json_dumps(prov, JSON_COMPACT) : NULL;
    json_decref(prov);
    pool_cfg pc = {.st = app->st, .n_workers = app->cfg.workers,
                   .budget = app->cfg.memory_budget, .test_kinds = app->cfg.test_kinds,
                   .threads = app->cfg.blas_threads, .src = catalog_src(app->st),
                   .save_model = catalog_save_model, .provenance = prov_text};
    rc = prov_text ? pool_start(&pc, &app->pool) : TG_ENOMEM;
    free(prov_text);
    if (rc) {
        fprintf(stderr, "tangentd: cannot start the workers\n");
        return 1;
    }
    if (http_start(app->cfg.port, app->cfg.bind, &err)) {
        fprintf(stderr, "tangentd: %s\n", err.msg);
        return 1;
    }
    char addr[128], nw[16], budget[32];
    snprintf(addr, sizeof addr, "http://%s:%d", app->cfg.bind, http_port());
    snprintf(nw, sizeof nw, "%d", app->cfg.workers);
    snprintf(budget, sizeof budget, "%lld", app->cfg.memory_budget);
    log_msg(LOG_INFO, "start", "tangentd listening", "address", addr, "db", app->cfg.db,
            "workers", nw, "memory_budget", budget, "limits", app->cfg.limits, "version",
            TG_VERSION, NULL);

    int sig = 0;
    for (;;) {
        unsigned char b;
        ssize_t r = read(sig_pipe[0], &b, 1);
        if (r == 1) {
            sig = b;
            break;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
    }
    log_msg(LOG_INFO, "shutdown", sig == SIGTERM ? "SIGTERM: draining" : "SIGINT: draining",
            NULL);
    atomic_store(&app->shutting_down, 1);
    pool_stop(app->pool, 30.0);
    app->pool = NULL;
    events_shutdown();
    http_stop();
    store_close(app->st);
    log_msg(LOG_INFO, "shutdown", "stopped", NULL);
    return 0;
}
