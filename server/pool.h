/* pool.h: the job workers. N threads claim queued jobs from the store (oldest first, when
 * the job's memory estimate fits in the budget that running jobs leave free) and run
 * their kind's function with a progress + cancellation callback.
 *
 * Threading: one mutex + condvar guard the worker state; pool_notify wakes the workers
 * after a submission; pool_cancel flags a running job, which its worker sees at the
 * next progress callback. */
#ifndef TG_POOL_H
#define TG_POOL_H

#include "../api/data.h"
#include "store.h"

typedef struct pool pool;

/* Starts n_workers threads. budget: the memory budget in bytes. */
int pool_start(store *st, int n_workers, long long budget, int test_kinds,
               const data_env *data, pool **out);
/* A job was queued: wake a worker. */
void pool_notify(pool *p);
/* 1 when job `id` is running here (now flagged for cancellation), else 0. */
int pool_cancel(pool *p, const char *id);
/* Stops claiming, lets running jobs finish for up to grace_s seconds, then stops them
 * and leaves them queued (no attempt counted); joins the threads and frees p. */
void pool_stop(pool *p, double grace_s);
int pool_running(pool *p);
long long pool_reserved(pool *p);
int pool_alive(pool *p);

#endif
