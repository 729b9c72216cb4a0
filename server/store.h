/* store.h: the service's durable state behind a narrow interface; store.c is the only
 * file with SQL (a PostgreSQL backend can replace it later).
 *
 * SQLite in WAL mode with synchronous=NORMAL and a busy timeout; every write is one
 * BEGIN IMMEDIATE transaction committed before the function returns, so whatever a
 * caller has acknowledged to a client survives kill -9 (API.md 6.4). Migrations are
 * embedded in the binary (migrations/NNNN_*.sql) and applied at open against
 * PRAGMA user_version.
 *
 * Threading: a store is shared by all threads; each call borrows one of its pooled
 * connections (one connection per concurrent caller, statements prepared once per
 * connection), so calls are thread-safe. Strings in rows are owned by the row
 * (free with job_row_deinit / dataset_row_deinit).
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>

#include "../core/tg.h"

typedef struct store store;

/* Opens (creating if needed) the database at path and migrates it. */
int store_open(const char *path, store **out, tg_err *err);
void store_close(store *st);
/* 1 when a write transaction succeeds now (readiness). */
int store_writable(store *st);

typedef struct job_row {
    long long seq;
    char id[40];
    char kind[40];
    char status[16];
    char created_at[32], started_at[32], finished_at[32]; /* "" when unset */
    int attempt;
    char *label;       /* NULL when unset */
    char *request;     /* JSON text */
    char *progress;    /* JSON text or NULL */
    char *provenance;  /* JSON text or NULL */
    char *error;       /* JSON text or NULL */
    char *partial;     /* JSON text or NULL */
    char *result;      /* JSON text or NULL */
    double timeout_s;  /* 0 = none */
    char *notify_url;
    long long mem_estimate;
    char *dataset_ref, *model_ref;
} job_row;
void job_row_deinit(job_row *j);

/* Inserts a queued job (j->id, kind, label, created_at, request, timeout_s, notify_url,
 * mem_estimate, dataset_ref, model_ref are used). With idem_key: a key seen before
 * with the same canonical body sets *existing = 1 and copies that job's id into j->id
 * instead of inserting; with another body, TG_ECONFLICT. TG_EQUEUEFULL when max_queue
 * jobs are queued. */
int store_job_insert(store *st, job_row *j, const char *idem_key, const char *idem_body,
                     long long max_queue, int *existing, tg_err *err);
/* TG_ENOTFOUND when there is no such job. light = skip request/result/partial. */
int store_job_get(store *st, const char *id, int light, job_row *out);

typedef struct job_filter {
    const char *status, *kind, *label; /* NULL = any */
    long long before_seq;              /* 0 = from the newest */
    int limit;
} job_filter;
/* Newest first; rows without request/result/partial. *rows_out: new array of *n_out
 * rows (free each with job_row_deinit, then free the array). *next_seq: the cursor of
 * the next page, 0 when this is the last. */
int store_job_list(store *st, const job_filter *f, job_row **rows_out, size_t *n_out,
                   long long *next_seq);

/* Claims the oldest queued job if its mem_estimate <= mem_free: status running,
 * attempt + 1, started_at = now, provenance set. TG_ENOTFOUND when none is queued;
 * *blocked = 1 when the oldest does not fit now; *blocked = 2 when it could never fit
 * (estimate > budget: accepted under a larger budget), in which case it has been failed
 * with `too_large` and the caller should try again at once. */
int store_job_claim(store *st, long long mem_free, long long budget, const char *now,
                    const char *provenance, job_row *out, int *blocked);
int store_job_set_progress(store *st, const char *id, const char *progress);
/* Terminal transition of a running job; error/partial/result may be NULL. */
int store_job_finish(store *st, const char *id, const char *status, const char *now,
                     const char *error, const char *partial, const char *result);
/* A running job back to queued without counting the attempt (shutdown drain). */
int store_job_requeue(store *st, const char *id);
/* Cancels a queued job: TG_OK when it was queued (now cancelled); TG_ECONFLICT when it
 * is finished; TG_ENOTFOUND; 1 when it is running. */
int store_job_cancel_queued(store *st, const char *id, const char *now);
/* Deletes a finished job and its arrays: TG_ECONFLICT while queued or running. */
int store_job_delete(store *st, const char *id);
/* Start-up recovery: running jobs are re-queued, or failed with `interrupted` once
 * their attempt count has reached max_attempts. */
int store_recover(store *st, int max_attempts, const char *now, int *requeued,
                  int *failed);
int store_job_counts(store *st, long long *queued, long long *running);

typedef struct dataset_row {
    char id[40];
    char *name;
    char *meta;        /* JSON text */
    char created_at[32];
    unsigned char *body; /* NULL unless asked for */
    size_t body_len;
} dataset_row;
void dataset_row_deinit(dataset_row *d);
int store_dataset_insert(store *st, const dataset_row *d, tg_err *err);
int store_dataset_get(store *st, const char *id, int with_body, dataset_row *out);
int store_dataset_list(store *st, dataset_row **rows_out, size_t *n_out);
/* TG_ECONFLICT while a queued or running job uses it. */
int store_dataset_delete(store *st, const char *id);

typedef struct model_row {
    char id[40];
    char created_at[32];
    char *meta;                 /* the model object without layers (JSON text) */
    unsigned char *weights;     /* NULL unless asked for */
    size_t weights_len;
    unsigned char *initial;     /* NULL when absent or not asked for */
    size_t initial_len;
} model_row;
void model_row_deinit(model_row *m);
/* source_job may be NULL (upload). */
int store_model_insert(store *st, const char *id, const char *created_at,
                       const char *source_job, const char *meta, const void *weights,
                       size_t weights_len, const void *initial, size_t initial_len,
                       tg_err *err);
int store_model_get(store *st, const char *id, int with_weights, model_row *out);
/* Newest first; rows without weights. */
int store_model_list(store *st, model_row **rows_out, size_t *n_out);
/* TG_ECONFLICT while a queued or running job uses it. */
int store_model_delete(store *st, const char *id);

/* Arrays of results: metadata in the database, the float64 payload in a file under
 * <db>.arrays/ (written once, renamed into place before its row is committed), read back
 * in chunks of STORE_CHUNK doubles. cols 0 = a vector. */
#define STORE_CHUNK ((size_t)131072)
int store_array_put(store *st, const char *job_id, const char *name, size_t rows,
                    size_t cols, const double *data, tg_err *err);
/* The same, streamed, for arrays written out while they are being computed:
 * store_array_begin opens the (temporary) file for data, rows x cols doubles, which
 * stays valid until commit or abort; store_array_advance(w, b) writes bytes up to b of
 * data (the caller promises that they no longer change; b only grows);
 * store_array_commit writes the rest, renames the file into place and records the
 * array; store_array_abort discards it. Both free w. Large page-aligned buffers are
 * written with O_DIRECT (no page-cache copy, no CPU time taken from the computation;
 * buffered writes where the file system refuses it). */
typedef struct store_array_writer store_array_writer;
int store_array_begin(store *st, const char *job_id, const char *name, size_t rows,
                      size_t cols, const double *data, store_array_writer **out, tg_err *err);
int store_array_advance(store_array_writer *w, size_t bytes, tg_err *err);
int store_array_commit(store_array_writer *w, tg_err *err);
void store_array_abort(store_array_writer *w);
int store_array_info(store *st, const char *job_id, const char *name, size_t *rows,
                     size_t *cols);
/* Reads chunk idx (STORE_CHUNK doubles, the last may be shorter) into buf; *n_out
 * doubles. TG_ENOTFOUND past the end. */
int store_array_chunk(store *st, const char *job_id, const char *name, size_t idx,
                      double *buf, size_t *n_out);

#endif
