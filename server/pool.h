/* pool.h: the job workers. N threads claim queued jobs from the store (oldest first, when
 * the job's memory estimate fits in the budget that running jobs leave free) and run
 * their kind's function with a progress + cancellation callback.
 *
 * Threading: one mutex + condvar guard the worker state; pool_notify wakes the workers
 * after a submission; pool_cancel flags a running job, which its worker sees at the
 * next progress callback. */
#ifndef TG_POOL_H
#define TG_POOL_H

#include "../api/kinds.h"
#include "store.h"

typedef struct pool pool;

/* Everything the workers use (borrowed; must outlive the pool). */
typedef struct pool_cfg {
    store *st;
    int n_workers;
    long long budget;     /* the memory budget in bytes */
    int test_kinds;       /* run test-only kinds */
    int threads;          /* threads a job may use (job_io.threads) */
    kind_src src;         /* datasets and models for the kinds */
    /* Stores a model a job produced (job_io.save_model, with the job's id). */
    int (*save_model)(store *st, tg_model *m, const char *job_id, tg_err *err);
    const char *provenance; /* JSON text recorded on each claimed job (copied) */
} pool_cfg;

/* Starts cfg->n_workers threads. Returns TG_OK; TG_ENOMEM or TG_EINTERNAL (a thread
 * could not be created) with nothing left running. */
int pool_start(const pool_cfg *cfg, pool **out);
/* A job was queued: wake a worker. Thread-safe, as every function below. */
void pool_notify(pool *p);
/* 1 when job `id` is running here (now flagged for cancellation), else 0. */
int pool_cancel(pool *p, const char *id);
/* Stops claiming, lets running jobs finish for up to grace_s seconds, then stops them
 * and leaves them queued (no attempt counted); joins the threads and frees p. */
void pool_stop(pool *p, double grace_s);
/* Jobs running now. */
int pool_running(pool *p);
/* Bytes of the budget reserved by the running jobs' estimates. */
long long pool_reserved(pool *p);
/* 1 when every worker is alive and the pool is not stopping (readiness). */
int pool_alive(pool *p);

#endif
