/* store_int.h: the internals shared by the store's files, and by no other file.
 *
 * store.c        open, migrations, the connection pool, prepared statements, helpers
 * store_jobs.c   jobs, their references, idempotency keys, recovery
 * store_catalog.c datasets and models
 * store_arrays.c result arrays (payload files beside the database)
 *
 * Every statement has an id here; its SQL text stands in the file that runs it, in a
 * table indexed by the id (store_sql_core, store_sql_jobs, ...), each table listing only
 * its own ids. A connection prepares a statement the first time it runs it.
 *
 * Threading: a conn belongs to one thread between store_acquire and store_release.
 */
#ifndef TG_STORE_INT_H
#define TG_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

enum store_q {
    /* store.c */
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_WRITABLE,
    /* store_jobs.c */
    Q_IDEM_GET,
    Q_IDEM_PUT,
    Q_IDEM_EXPIRE,
    Q_COUNT_QUEUED,
    Q_JOB_INSERT,
    Q_JOB_REF_INSERT,
    Q_JOB_GET,
    Q_JOB_GET_LIGHT,
    Q_JOB_LIST,
    Q_JOB_OLDEST_QUEUED,
    Q_JOB_CLAIM,
    Q_JOB_PROGRESS,
    Q_JOB_FINISH,
    Q_JOB_REQUEUE,
    Q_JOB_STATUS,
    Q_JOB_CANCEL,
    Q_JOB_DELETE,
    Q_JOB_REFS_DELETE,
    Q_ARRAYS_DELETE,
    Q_IDEM_DELETE_JOB,
    Q_JOB_FAIL_TOO_LARGE,
    Q_RECOVER_FAIL,
    Q_RECOVER_REQUEUE,
    Q_COUNTS,
    /* store_catalog.c */
    Q_REF_IN_USE,
    Q_DS_INSERT,
    Q_DS_GET,
    Q_DS_GET_BODY,
    Q_DS_LIST,
    Q_DS_DELETE,
    Q_MODEL_INSERT,
    Q_MODEL_GET,
    Q_MODEL_GET_W,
    Q_MODEL_LIST,
    Q_MODEL_DELETE,
    /* store_arrays.c */
    Q_ARR_PUT,
    Q_ARR_INFO,
    Q_N
};

/* The SQL of each file's statements (NULL for the ids of other files). */
extern const char *const store_sql_core[Q_N];
extern const char *const store_sql_jobs[Q_N];
extern const char *const store_sql_catalog[Q_N];
extern const char *const store_sql_arrays[Q_N];

typedef struct conn {
    store *st;
    int holds_w;     /* this connection holds st->wmu (inside a write transaction) */
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_N];
    struct conn *next;
} conn;

struct store {
    char *path;
    char *array_dir;   /* <db>.arrays: the payload files of result arrays */
    pthread_mutex_t mu;
    /* Writers queue here, in the process, instead of polling SQLite's busy handler:
     * this keeps the latency of concurrent commits low and fair. */
    pthread_mutex_t wmu;
    conn *idle;
};

/* An idle connection of st (a new one when none is idle), or NULL when none can be
 * opened. Give it back with store_release (NULL: no-op), which ends any statement and
 * transaction left open. */
conn *store_acquire(store *st);
void store_release(store *st, conn *c);

/* The prepared statement q of c, reset and unbound; NULL if it cannot be prepared. The
 * statement belongs to c. */
sqlite3_stmt *store_stmt(conn *c, int q);
/* Runs a statement without results; returns SQLite's step code. */
int store_exec_q(conn *c, int q);

/* Write transactions: store_begin takes the process's writer lock and BEGIN IMMEDIATE
 * (TG_OK or TG_EIO); store_commit (TG_OK or TG_EIO) and store_rollback (a no-op outside
 * a transaction) end it. Every write function ends with store_rollback before
 * store_release, so that an early exit never leaves the lock held. */
int store_begin(conn *c);
int store_commit(conn *c);
void store_rollback(conn *c);
/* Takes the writer lock without a transaction (one-statement writes). */
void store_wlock(conn *c);

/* Binds t (borrowed until the statement is reset), or NULL when t is NULL. */
void store_bind_text(sqlite3_stmt *s, int i, const char *t);
/* *out = a new copy of text column i (caller frees), NULL for an SQL NULL. TG_OK, or
 * TG_ENOMEM (then *out is NULL). */
int store_col_dup(sqlite3_stmt *s, int i, char **out);
/* Copies text column i into buf of n bytes, truncating; "" for an SQL NULL. */
void store_col_copy(sqlite3_stmt *s, int i, char *buf, size_t n);
/* TG_EIO with SQLite's message of c in err (c may be NULL: "store unavailable"). */
int store_err_io(conn *c, tg_err *err);

/* 1 when s is made of [A-Za-z0-9_] only (1 to 100 of them): only such ids and names
 * become file names. */
int store_safe_name(const char *s);
/* "dataset" or "model" (the job_refs.type of 0002), NULL for no valid type. */
const char *store_ref_type_name(store_ref_type type);
/* Removes the directory of a job's array files and the files in it. */
void store_arrays_remove(store *st, const char *job_id);

#endif
