/* store.h: the service's durable state behind a narrow interface; the store's files are
 * the only ones with SQL (a PostgreSQL backend can replace them later): store.c (open,
 * migrations, connections), store_sql.h (every statement), store_jobs.c, store_catalog.c
 * (datasets, models), store_arrays.c (result arrays); store_int.h is private to them.
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
 * (free with job_row_deinit / dataset_row_deinit / model_row_deinit); every pointer
 * argument is borrowed for the call unless its contract says otherwise.
 *
 * Return codes: TG_OK, or the negative tg_status codes each contract lists. TG_EIO
 * always means a storage failure (SQLite or the file system; also a connection that
 * cannot be opened); TG_ENOMEM an allocation that failed (nothing is half-returned: the
 * out-row or array is then empty).
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>

#include "../core/tg.h"

typedef struct store store;

/* Opens (creating if needed) the database at path and its array directory <path>.arrays,
 * and migrates it. *out: new, free with store_close. TG_OK, TG_ENOMEM, TG_EIO (cannot
 * open or create, not in WAL mode, a migration failed), with err set. */
int store_open(const char *path, store **out, tg_err *err);
/* Closes every connection and frees st (NULL: no-op). No call may be running on st. */
void store_close(store *st);
/* 1 when a write transaction succeeds now (readiness), else 0: also 0 from a write that
 * failed with SQLITE_FULL (logged once) until a later write commits. Thread-safe. */
int store_writable(store *st);

/* ---- jobs ---------------------------------------------------------------------------- */

/* A job's status; the names ("queued", ...) are those of the API and the database. */
typedef enum store_job_status {
    STORE_STATUS_QUEUED = 0,
    STORE_STATUS_RUNNING = 1,
    STORE_STATUS_SUCCEEDED = 2,
    STORE_STATUS_FAILED = 3,
    STORE_STATUS_CANCELLED = 4
} store_job_status;
/* The name of status (static), or NULL when it is none of the enum. */
const char *store_job_status_name(store_job_status status);
/* *out = the status named name: TG_OK, or TG_EINVAL (name NULL or no status name). */
int store_job_status_parse(const char *name, store_job_status *out);
/* 1 when the status named name is terminal (succeeded, failed, cancelled), else 0. */
int store_job_finished(const char *name);

/* The datasets and models a job reads: neither may be deleted while the job is queued or running. */
#define STORE_MAX_REFS 8
typedef enum store_ref_type { STORE_REF_DATASET = 0, STORE_REF_MODEL = 1 } store_ref_type;
typedef struct store_ref { store_ref_type type; const char *id; } store_ref;

typedef struct job_row {
    long long seq;
    char id[40];
    char kind[40];
    char status[16];   /* a store_job_status name */
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
    int cancel_requested; /* 1 while a running job is being cancelled */
    long long event_seq;  /* set by store_job_claim only: the id of its `running` event */
    /* Read by store_job_insert only (store_job_get leaves them NULL / 0); borrowed, never
     * freed by job_row_deinit. */
    const store_ref *refs;
    size_t n_refs;
} job_row;
/* Frees the row's strings and zeroes it (NULL: no-op). */
void job_row_deinit(job_row *j);

/* Inserts a queued job, with its first event (`status` queued, id 1) (j->id, kind, label, created_at, request, progress, timeout_s,
 * notify_url, mem_estimate and the n_refs <= STORE_MAX_REFS refs are used; a ref whose id
 * is NULL is skipped, a ref listed twice is recorded once; the referenced rows need not
 * exist). With idem_key: a key seen before with the same canonical body sets
 * *existing = 1 and copies that job's id into j->id instead of inserting; else
 * *existing = 0. j and the strings are borrowed; on success j->seq is set.
 * TG_OK; TG_ECONFLICT (idem_key used with another body); TG_EQUEUEFULL (max_queue jobs
 * are queued); TG_EINVAL (more than STORE_MAX_REFS refs, or a ref type out of the enum);
 * TG_EIO (also while the disk is full: see store_writable). err set on failure. */
int store_job_insert(store *st, job_row *j, const char *idem_key, const char *idem_body,
                     long long max_queue, int *existing, tg_err *err);

/* Which columns store_job_get reads. */
typedef enum store_job_detail {
    STORE_JOB_FULL = 0,  /* every column */
    STORE_JOB_LIGHT = 1  /* without request, partial and result (left NULL) */
} store_job_detail;
/* Reads job id into *out (new strings: job_row_deinit). TG_OK, TG_ENOTFOUND when there
 * is no such job, TG_ENOMEM, TG_EIO; on failure *out is zeroed. */
int store_job_get(store *st, const char *id, store_job_detail detail, job_row *out);

typedef struct job_filter {
    const char *status, *kind, *label; /* NULL = any */
    long long before_seq;              /* 0 = from the newest */
    int limit;                         /* >= 1 */
} job_filter;
/* Newest first; rows as STORE_JOB_LIGHT. *rows_out: new array of *n_out rows (free each
 * with job_row_deinit, then free the array; NULL when the call fails). *next_seq: the
 * cursor of the next page, 0 when this is the last. TG_OK, TG_ENOMEM, TG_EIO. */
int store_job_list(store *st, const job_filter *f, job_row **rows_out, size_t *n_out,
                   long long *next_seq);

/* Why store_job_claim claimed nothing (*blocked). */
typedef enum store_claim_block {
    STORE_CLAIM_NONE = 0,      /* not blocked: a job was claimed, none is queued, or error */
    STORE_CLAIM_WAIT = 1,      /* the oldest queued job does not fit in mem_free now */
    STORE_CLAIM_NEVER_FITS = 2 /* it exceeded the budget and has been failed: try again */
} store_claim_block;
/* Claims the oldest queued job if its mem_estimate <= mem_free: status running,
 * attempt + 1, started_at = now, provenance set, a `running` status event stored (its id
 * in out->event_seq); *out = the job as STORE_JOB_LIGHT plus
 * its request (new strings: job_row_deinit). *blocked: a store_claim_block (an int for
 * its callers' sake). When the oldest job's estimate > budget (accepted under a larger
 * budget), it is failed with `too_large`, *blocked = STORE_CLAIM_NEVER_FITS (out->id
 * and out->event_seq then name it and its final status event, nothing else is set), and
 * the caller should try again at once. TG_OK; TG_ENOTFOUND when nothing was claimed (none
 * queued, or *blocked != STORE_CLAIM_NONE); TG_ENOMEM (the job stays queued); TG_EIO. */
int store_job_claim(store *st, long long mem_free, long long budget, const char *now,
                    const char *provenance, job_row *out, int *blocked);
/* Sets the progress JSON of a running job (no-op for a job not running). TG_OK, TG_EIO. */
int store_job_set_progress(store *st, const char *id, const char *progress);
/* Terminal transition of a running job (status: a store_job_status name) with its final
 * status event, whose id is max(last stored id + 1, min_seq): *seq_out (may be NULL; 0
 * when nothing changed); error, partial and result (JSON text) may be NULL. No-op for a
 * job not running. TG_OK, TG_EIO. */
int store_job_finish_at(store *st, const char *id, const char *status, const char *now,
                        const char *error, const char *partial, const char *result,
                        long long min_seq, long long *seq_out);
/* store_job_finish_at without a minimum id. */
int store_job_finish(store *st, const char *id, const char *status, const char *now,
                     const char *error, const char *partial, const char *result);
/* A running job back to queued without counting the attempt (shutdown drain), with a
 * `queued` status event (id as store_job_finish_at: *seq_out, may be NULL). No-op for a
 * job not running (*seq_out = 0). TG_OK, TG_EIO. */
int store_job_requeue(store *st, const char *id, long long min_seq, long long *seq_out);

/* The positive outcomes of store_job_cancel_queued besides TG_OK. */
typedef enum store_cancel_rc {
    STORE_CANCEL_RUNNING = 1, /* the job is running: cancel it through its worker */
    STORE_CANCEL_DONE = 2     /* the job is cancelled already (cancel is idempotent) */
} store_cancel_rc;
/* Cancels a queued job: TG_OK when it was queued (now cancelled, finished_at = now, with
 * a `cancelled` status event whose id is *seq_out; seq_out may be NULL);
 * STORE_CANCEL_RUNNING when it is running and STORE_CANCEL_DONE when it is cancelled
 * (nothing changed); TG_ECONFLICT when it has succeeded or failed; TG_ENOTFOUND; TG_EIO. */
int store_job_cancel_queued(store *st, const char *id, const char *now, long long *seq_out);
/* Records that running job id is being cancelled (job_row.cancel_requested, cleared when
 * it finishes; a job so marked ends cancelled even when the process stops or dies before
 * its worker stops it). No-op for a job not running. TG_OK, TG_EIO. */
int store_job_cancel_request(store *st, const char *id);

/* ---- job events (API.md 2.6) ----------------------------------------------------------
 * A job's stream events, stored so that late and reconnecting clients receive what they
 * missed. Ids (seq) increase within the job across attempts; status events are written
 * by the transitions above, in their transactions; a worker writes its progress events
 * with ids it counts from its claim's event_seq. A progress event without metrics may
 * be coalesced: stored with coalesce = 1, it replaces the job's last event when that one
 * was stored so too, which bounds the rows of a job by twice its status and metrics
 * events. A worker leaves fewer than STORE_EVENT_GAP of the ids it issued unstored;
 * store_recover numbers the events it writes for a dead worker's job STORE_EVENT_GAP
 * past the last stored one, so that no id seen by a client is reused. */
#define STORE_EVENT_GAP 32

typedef struct job_event {
    long long seq;     /* the event's id */
    char type[16];     /* "progress" or "status" */
    char *data;        /* JSON text */
    int terminal;      /* a status event with a terminal status */
} job_event;
/* Frees e's data and zeroes it (NULL: no-op). */
void job_event_deinit(job_event *e);
/* Stores progress event seq (data: JSON text) of running job id; coalesce: see above.
 * No-op for a job not running. TG_OK, TG_EIO (also for a seq that exists). */
int store_job_event_put(store *st, const char *id, long long seq, const char *data,
                        int coalesce);
/* The same for n events at once (in order, one transaction: all or none): seq[i],
 * data[i], coalesce[i]. */
int store_job_events_put(store *st, const char *id, size_t n, const long long *seq,
                         const char *const *data, const int *coalesce);
/* The stored events of job id with ids > after, in order; from_attempt = 1: only those
 * from the start of the current attempt (its `running` event) or, for a queued job, of
 * its queueing (the last `queued` event). *rows_out: new array of *n_out events (free
 * each with job_event_deinit, then the array; NULL when there are none or on failure).
 * TG_OK (also for no such job: no events), TG_ENOMEM, TG_EIO. */
int store_job_events(store *st, const char *id, long long after, int from_attempt,
                     job_event **rows_out, size_t *n_out);

/* Deletes a finished job, its references, its events, its idempotency key and its
 * arrays (rows and files). TG_OK; TG_ECONFLICT while it is queued or running; TG_ENOTFOUND; TG_EIO. */
int store_job_delete(store *st, const char *id);
/* Start-up recovery: running jobs are cancelled when their cancellation was requested,
 * else re-queued, or failed with `interrupted` once their attempt count has reached
 * max_attempts, each with its status event; *requeued and *failed count them.
 * TG_OK, TG_EIO. */
int store_recover(store *st, int max_attempts, const char *now, int *requeued,
                  int *failed);
/* The numbers of queued and running jobs. TG_OK, TG_EIO (then both 0). */
int store_job_counts(store *st, long long *queued, long long *running);

/* ---- datasets and models ------------------------------------------------------------- */

/* Whether a get reads the row's blobs (a dataset's body; a model's weights and initial
 * weights) or only its metadata. */
typedef enum store_blobs {
    STORE_NO_BLOBS = 0,
    STORE_WITH_BLOBS = 1
} store_blobs;

typedef struct dataset_row {
    char id[40];
    char *name;
    char *meta;        /* JSON text */
    char created_at[32];
    unsigned char *body; /* NULL unless asked for (STORE_WITH_BLOBS) */
    size_t body_len;
} dataset_row;
/* Frees the row's strings and body and zeroes it (NULL: no-op). */
void dataset_row_deinit(dataset_row *d);
/* Inserts d (borrowed; id, name, meta, created_at, body). Names other than "" are
 * unique among datasets (0004). TG_OK, TG_ECONFLICT when the name is taken, TG_EIO (also
 * for an id that exists), with err set. */
int store_dataset_insert(store *st, const dataset_row *d, tg_err *err);
/* A dataset is named by a reference `ref`: its id or its name (API.md 3.1); the id wins
 * when ref is both. */
/* Reads the dataset ref names into *out (new strings and body: dataset_row_deinit).
 * TG_OK, TG_ENOTFOUND, TG_ENOMEM, TG_EIO; on failure *out is zeroed. */
int store_dataset_get(store *st, const char *ref, store_blobs blobs, dataset_row *out);
/* The id of the dataset ref names into id_out (n bytes). TG_OK, TG_ENOTFOUND, TG_EIO. */
int store_dataset_resolve(store *st, const char *ref, char *id_out, size_t n);
/* Newest first, without bodies. *rows_out: new array of *n_out rows (free each with
 * dataset_row_deinit, then free the array). TG_OK, TG_ENOMEM, TG_EIO. */
int store_dataset_list(store *st, dataset_row **rows_out, size_t *n_out);
/* Deletes the dataset ref names. TG_OK; TG_ECONFLICT while a queued or running job
 * references it; TG_ENOTFOUND; TG_EIO. */
int store_dataset_delete(store *st, const char *ref);

typedef struct model_row {
    char id[40];
    char created_at[32];
    char *meta;                 /* the model object without layers (JSON text) */
    unsigned char *weights;     /* NULL unless asked for (STORE_WITH_BLOBS) */
    size_t weights_len;
    unsigned char *initial;     /* NULL when absent or not asked for */
    size_t initial_len;
} model_row;
/* Frees the row's strings and blobs and zeroes it (NULL: no-op). */
void model_row_deinit(model_row *m);
/* Inserts a model; every argument is borrowed. source_job may be NULL (upload); initial
 * may be NULL (none). TG_OK, TG_EIO (also for an id that exists), with err set. */
int store_model_insert(store *st, const char *id, const char *created_at,
                       const char *source_job, const char *meta, const void *weights,
                       size_t weights_len, const void *initial, size_t initial_len,
                       tg_err *err);
/* Reads model id into *out (new strings and blobs: model_row_deinit). TG_OK,
 * TG_ENOTFOUND, TG_ENOMEM, TG_EIO; on failure *out is zeroed. */
int store_model_get(store *st, const char *id, store_blobs blobs, model_row *out);
/* Newest first; rows without weights. *rows_out: new array of *n_out rows (free each
 * with model_row_deinit, then free the array). TG_OK, TG_ENOMEM, TG_EIO. */
int store_model_list(store *st, model_row **rows_out, size_t *n_out);
/* TG_OK; TG_ECONFLICT while a queued or running job references it; TG_ENOTFOUND;
 * TG_EIO. */
int store_model_delete(store *st, const char *id);

/* ---- arrays -------------------------------------------------------------------------- */

/* Arrays of results: metadata in the database, the float64 payload in a file under
 * <db>.arrays/ (written once, renamed into place before its row is committed), read back
 * in chunks of STORE_CHUNK doubles. cols 0 = a vector. job_id and name: [A-Za-z0-9_],
 * under 64 characters. A second array of the same job and name replaces the first. */
#define STORE_CHUNK ((size_t)131072)
/* Writes rows x cols doubles of data (borrowed) at once. TG_OK; TG_EINTERNAL (a bad
 * name, or a size that overflows); TG_ENOMEM; TG_EIO; err set on failure. */
int store_array_put(store *st, const char *job_id, const char *name, size_t rows,
                    size_t cols, const double *data, tg_err *err);
/* The same, streamed, for arrays written out while they are being computed:
 * store_array_begin opens the (temporary) file for data, rows x cols doubles, which
 * stays valid until commit or abort; store_array_advance(w, b) writes bytes up to b of
 * data (the caller promises that they no longer change; b only grows);
 * store_array_commit writes the rest, renames the file into place and records the
 * array; store_array_abort discards it (NULL: no-op). Both free w. Large page-aligned
 * buffers are written with O_DIRECT (no page-cache copy, no CPU time taken from the
 * computation; buffered writes where the file system refuses it).
 * begin: *out new (freed by commit or abort); TG_OK, TG_EINTERNAL (bad name, size
 * overflow), TG_ENOMEM, TG_EIO. advance: TG_OK, TG_EIO (w stays valid: abort it).
 * commit: TG_OK, TG_EIO (the file is removed). err set on failure. */
typedef struct store_array_writer store_array_writer;
int store_array_begin(store *st, const char *job_id, const char *name, size_t rows,
                      size_t cols, const double *data, store_array_writer **out, tg_err *err);
int store_array_advance(store_array_writer *w, size_t bytes, tg_err *err);
int store_array_commit(store_array_writer *w, tg_err *err);
void store_array_abort(store_array_writer *w);
/* The shape of an array. TG_OK, TG_ENOTFOUND, TG_EIO. */
int store_array_info(store *st, const char *job_id, const char *name, size_t *rows,
                     size_t *cols);
/* Reads chunk idx (STORE_CHUNK doubles, the last may be shorter) into buf (the caller's,
 * of STORE_CHUNK doubles); *n_out doubles. TG_OK; TG_ENOTFOUND when there is no such
 * array or idx is past the end; TG_EIO (also a payload file shorter than its row). */
int store_array_chunk(store *st, const char *job_id, const char *name, size_t idx,
                      double *buf, size_t *n_out);

#endif
