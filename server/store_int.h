/* store_int.h: the internals shared by the store's files, and by no other file.
 *
 * store.c          open, migrations, the connection pool, prepared statements, helpers
 * store_sql.h      the SQL of every statement
 * store_jobs.c     jobs, their references, idempotency keys, recovery
 * store_catalog.c  datasets and models
 * store_arrays.c   result arrays (payload files beside the database)
 *
 * Every statement has an id (enum store_q) and a text, both from the one list in
 * store_sql.h. A connection prepares a statement the first time it runs it.
 *
 * Threading: a conn belongs to one thread between store_start and store_end.
 */
#ifndef TG_STORE_INT_H
#define TG_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

enum store_q {
#define STORE_SQL(id, text) id,
#include "store_sql.h"
#undef STORE_SQL
    Q_N
};

typedef struct conn {
    store *st;
    int holds_w;     /* this connection holds st->wmu (inside a write transaction) */
    int probe;       /* the write is store_writable's probe: its success proves nothing */
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
    /* 1 from a write that failed with SQLITE_FULL until a write (not the probe) commits;
     * read and written under mu. The change is logged once per episode. */
    int full;
};

/* How a call uses its connection. */
typedef enum store_mode {
    STORE_READ,      /* reads only (autocommit) */
    STORE_WRITE,     /* one BEGIN IMMEDIATE transaction, committed with store_commit */
    STORE_WRITE_ONE  /* one autocommit write statement under the writer lock */
} store_mode;
/* Starts a call on st: *c = a connection (NULL when none can be opened) set up for
 * mode, and *s (when s is not NULL) = its statement q (q is ignored when s is NULL).
 * TG_OK or TG_EIO; either way the call ends with store_end(*c, rc). */
int store_start(store *st, store_mode mode, int q, conn **c, sqlite3_stmt **s);
/* Ends a call: rolls back what was not committed, releases the writer lock and gives c
 * back (NULL: no-op). Returns rc. */
int store_end(conn *c, int rc);

/* The prepared statement q of c, reset and unbound; NULL if it cannot be prepared. The
 * statement belongs to c. */
sqlite3_stmt *store_stmt(conn *c, int q);

/* 1 while writes fail with SQLITE_FULL (st->full) and the filesystem has less than
 * twice the spare's size free. */
int store_is_full(store *st);
/* Makes room for a delete on a full disk; attempt 0: deletes <db>.spare, the room kept
 * for this (made again when writes succeed again), or else does attempt 1; attempt 1:
 * checkpoints and truncates the WAL. 1 when a retry may now fit, else 0. Holds no lock
 * on return; call it outside a store call. */
int store_make_room(store *st, int attempt);

/* Commits the transaction of a STORE_WRITE call: TG_OK or TG_EIO. */
int store_commit(conn *c);

/* Binds t (borrowed until the statement is reset), or NULL when t is NULL. */
void store_bind_text(sqlite3_stmt *s, int i, const char *t);
/* *out = a new copy of text column i (caller frees), NULL for an SQL NULL. TG_OK, or
 * TG_ENOMEM (then *out is NULL). */
int store_col_dup(sqlite3_stmt *s, int i, char **out);
/* Copies text column i into buf of n bytes, truncating; "" for an SQL NULL. */
void store_col_copy(sqlite3_stmt *s, int i, char *buf, size_t n);
/* Runs write statement q of c to its end with text parameters 1..n_text (text[i] NULL
 * binds NULL; borrowed). *changes (may be NULL): the rows it changed. TG_OK or TG_EIO. */
int store_run(conn *c, int q, const char *const *text, int n_text, int *changes);

/* Reads one result row of s into row (zeroed; ud: the reader's own context). TG_OK or
 * TG_ENOMEM; on failure the caller deinitializes the row. */
typedef int (*store_row_reader)(sqlite3_stmt *s, const void *ud, void *row);
typedef void (*store_row_deinit)(void *row);
/* Steps s for up to max rows (0: all) and reads each with read into a new array of rows
 * of row_size bytes: *rows_out (caller deinitializes each row, then frees the array),
 * *n_out rows. TG_OK; TG_ENOMEM or TG_EIO, with nothing returned. */
int store_read_rows(sqlite3_stmt *s, size_t row_size, size_t max, store_row_reader read,
                    store_row_deinit deinit, const void *ud, void **rows_out, size_t *n_out);
/* Frees the n pointers of ptrs (heap blocks of a row), then zeroes the row of size bytes. */
void store_free_fields(void *row, size_t size, void *const *ptrs, size_t n);

/* TG_EIO with SQLite's message of c in err (c may be NULL: "store unavailable"). */
int store_err_io(conn *c, tg_err *err);

/* "dataset" or "model" (the job_refs.type of 0002), NULL for no valid type. */
const char *store_ref_type_name(store_ref_type type);
/* Removes the directory of a job's array files and the files in it (store_arrays.c). */
void store_arrays_remove(store *st, const char *job_id);

#endif
