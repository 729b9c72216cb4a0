/* store_jobs.c: jobs in the store (store.h): insert with idempotency keys, the queue
 * limit and the job's references; get and list; claim; the transitions; delete;
 * start-up recovery; the job's stream events.
 *
 * Status transitions are single UPDATEs guarded by the current status (WHERE status =
 * 'running' ...), so two threads can never both move a job; each writes its status
 * event in the same transaction, so the stored stream of a job always ends with the
 * status it has.
 */
#include "../api/errors.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The columns after JOB_COLS (store_sql.h): request, partial, result. */
#define JOB_COL_REQUEST 16

static const char *const status_names[] = {
    [STORE_STATUS_QUEUED] = "queued",
    [STORE_STATUS_RUNNING] = "running",
    [STORE_STATUS_SUCCEEDED] = "succeeded",
    [STORE_STATUS_FAILED] = "failed",
    [STORE_STATUS_CANCELLED] = "cancelled",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

const char *store_job_status_name(store_job_status status)
{
    return (size_t)status < N_STATUS ? status_names[status] : NULL;
}

int store_job_status_parse(const char *name, store_job_status *out)
{
    for (size_t i = 0; name && i < N_STATUS; i++)
        if (strcmp(name, status_names[i]) == 0) {
            *out = (store_job_status)i;
            return TG_OK;
        }
    return TG_EINVAL;
}

int store_job_finished(const char *name)
{
    store_job_status st;
    return store_job_status_parse(name, &st) == TG_OK &&
           (st == STORE_STATUS_SUCCEEDED || st == STORE_STATUS_FAILED ||
            st == STORE_STATUS_CANCELLED);
}

const char *store_ref_type_name(store_ref_type type)
{
    switch (type) {
    case STORE_REF_DATASET:
        return "dataset";
    case STORE_REF_MODEL:
        return "model";
    }
    return NULL;
}

void job_row_deinit(job_row *j)
{
    /* refs are borrowed */
    if (j)
        store_free_fields(j, sizeof *j,
                          (void *[]){j->label, j->request, j->progress, j->provenance,
                                     j->error, j->partial, j->result, j->notify_url},
                          8);
}

/* Reads the JOB_COLS columns and then n_extra of request, partial, result. TG_OK, or
 * TG_ENOMEM with j deinitialized. */
static int read_job(sqlite3_stmt *s, int n_extra, job_row *j)
{
    static const int text_cols[] = {8, 9, 10, 11, 13};
    char **text[] = {&j->label, &j->progress, &j->provenance, &j->error, &j->notify_url};
    char **extra[] = {&j->request, &j->partial, &j->result};
    int rc = TG_OK;
    memset(j, 0, sizeof *j);
    j->seq = sqlite3_column_int64(s, 0);
    store_col_copy(s, 1, j->id, sizeof j->id);
    store_col_copy(s, 2, j->kind, sizeof j->kind);
    store_col_copy(s, 3, j->status, sizeof j->status);
    store_col_copy(s, 4, j->created_at, sizeof j->created_at);
    store_col_copy(s, 5, j->started_at, sizeof j->started_at);
    store_col_copy(s, 6, j->finished_at, sizeof j->finished_at);
    j->attempt = sqlite3_column_int(s, 7);
    j->timeout_s = sqlite3_column_double(s, 12);
    j->mem_estimate = sqlite3_column_int64(s, 14);
    j->cancel_requested = sqlite3_column_int(s, 15);
    for (size_t i = 0; !rc && i < sizeof text_cols / sizeof text_cols[0]; i++)
        rc = store_col_dup(s, text_cols[i], text[i]);
    for (int i = 0; !rc && i < n_extra; i++)
        rc = store_col_dup(s, JOB_COL_REQUEST + i, extra[i]);
    if (rc)
        job_row_deinit(j);
    return rc;
}

/* A store_row_reader for store_job_list: the JOB_COLS columns only. */
static int read_job_light(sqlite3_stmt *s, const void *ud, void *row)
{
    return read_job(s, 0, row);
}

static void deinit_job(void *row)
{
    job_row_deinit(row);
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Stores the status event of job id after its transition to status (inside that
 * transaction), with the id max(last + 1, min_seq): *seq_out (may be NULL). TG_OK or
 * TG_EIO. */
static int status_event(conn *c, const char *id, const char *status, long long min_seq,
                        long long *seq_out)
{
    sqlite3_stmt *s = store_stmt(c, Q_EV_STATUS);
    if (!s)
        return TG_EIO;
    store_bind_text(s, 1, id);
    store_bind_text(s, 2, status);
    sqlite3_bind_int64(s, 3, min_seq);
    int rc = TG_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        if (seq_out)
            *seq_out = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s) == SQLITE_DONE ? TG_OK : TG_EIO;
    }
    sqlite3_reset(s);
    return rc;
}

/* Checks j's references before any write: TG_OK or TG_EINVAL. */
static int check_refs(const job_row *j, tg_err *err)
{
    if (j->n_refs > STORE_MAX_REFS)
        return tg_err_set(err, TG_EINVAL, "a job references %zu datasets and models (at most %d)",
                          j->n_refs, STORE_MAX_REFS);
    for (size_t i = 0; i < j->n_refs; i++)
        if (!store_ref_type_name(j->refs[i].type))
            return tg_err_set(err, TG_EINVAL, "reference %zu has no valid type", i);
    return TG_OK;
}

/* Records the references of job j (inside the insert's transaction). TG_OK or TG_EIO. */
static int insert_refs(conn *c, const job_row *j)
{
    int rc = TG_OK;
    for (size_t i = 0; !rc && i < j->n_refs; i++) {
        const char *row[] = {j->id, store_ref_type_name(j->refs[i].type), j->refs[i].id};
        if (row[2])
            rc = store_run(c, Q_JOB_REF_INSERT, row, 3, NULL);
    }
    return rc;
}

int store_job_insert(store *st, job_row *j, const char *idem_key, const char *idem_body,
                     long long max_queue, int *existing, tg_err *err)
{
    conn *c = NULL;
    sqlite3_stmt *s;
    int rc;
    *existing = 0;
    if ((rc = check_refs(j, err)))
        return rc;
    /* A job row may still fit in the WAL where its results will not: no 202 that goes
     * nowhere on a full disk. */
    if (store_is_full(st))
        return tg_err_set(err, TG_EIO, "the disk is full");
    if ((rc = store_start(st, STORE_WRITE, -1, &c, NULL)))
        goto out;
    rc = TG_EIO;
    if (idem_key) {
        double now = unix_now();
        if (!(s = store_stmt(c, Q_IDEM_EXPIRE)))
            goto out;
        sqlite3_bind_double(s, 1, now - 86400.0 * 2);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        if (!(s = store_stmt(c, Q_IDEM_GET)))
            goto out;
        store_bind_text(s, 1, idem_key);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            const char *body = (const char *)sqlite3_column_text(s, 0);
            if (!body || strcmp(body, idem_body) != 0) {
                rc = tg_err_setf(err, TG_ECONFLICT, "Idempotency-Key",
                                 "Idempotency-Key was used with another request body");
                goto out;
            }
            store_col_copy(s, 1, j->id, sizeof j->id);
            *existing = 1;
            rc = store_commit(c);
            goto out;
        } else if (step != SQLITE_DONE) {
            goto out;
        }
    }
    if (!(s = store_stmt(c, Q_COUNT_QUEUED)))
        goto out;
    sqlite3_bind_int64(s, 1, max_queue);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    if (sqlite3_column_int64(s, 0) >= max_queue) {
        rc = tg_err_set(err, TG_EQUEUEFULL, "the queue holds %lld waiting jobs (the maximum)",
                        max_queue);
        goto out;
    }
    if (!(s = store_stmt(c, Q_JOB_INSERT)))
        goto out;
    store_bind_text(s, 1, j->id);
    store_bind_text(s, 2, j->kind);
    store_bind_text(s, 3, j->label);
    store_bind_text(s, 4, j->created_at);
    store_bind_text(s, 5, j->request);
    store_bind_text(s, 6, j->progress);
    if (j->timeout_s > 0)
        sqlite3_bind_double(s, 7, j->timeout_s);
    store_bind_text(s, 8, j->notify_url);
    sqlite3_bind_int64(s, 9, j->mem_estimate);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    j->seq = sqlite3_last_insert_rowid(c->db);
    if (insert_refs(c, j) || status_event(c, j->id, "queued", 0, NULL))
        goto out;
    if (idem_key) {
        if (!(s = store_stmt(c, Q_IDEM_PUT)))
            goto out;
        store_bind_text(s, 1, idem_key);
        store_bind_text(s, 2, idem_body);
        store_bind_text(s, 3, j->id);
        sqlite3_bind_double(s, 4, unix_now());
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
    }
    rc = store_commit(c);
out:
    if (rc == TG_EIO)
        store_err_io(c, err);
    return store_end(c, rc);
}

int store_job_get(store *st, const char *id, store_job_detail detail, job_row *out)
{
    conn *c;
    sqlite3_stmt *s;
    int light = detail == STORE_JOB_LIGHT;
    int rc = store_start(st, STORE_READ, light ? Q_JOB_GET_LIGHT : Q_JOB_GET, &c, &s);
    memset(out, 0, sizeof *out);
    if (rc)
        goto out;
    store_bind_text(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = read_job(s, light ? 0 : 3, out);
    else
        rc = step == SQLITE_DONE ? TG_ENOTFOUND : TG_EIO;
out:
    return store_end(c, rc);
}

int store_job_list(store *st, const job_filter *f, job_row **rows_out, size_t *n_out,
                   long long *next_seq)
{
    conn *c;
    sqlite3_stmt *s;
    void *rows = NULL;
    size_t limit = (size_t)f->limit;
    int rc = store_start(st, STORE_READ, Q_JOB_LIST, &c, &s);
    *rows_out = NULL;
    *n_out = 0;
    *next_seq = 0;
    if (rc)
        goto out;
    store_bind_text(s, 1, f->status);
    store_bind_text(s, 2, f->kind);
    store_bind_text(s, 3, f->label);
    sqlite3_bind_int64(s, 4, f->before_seq);
    sqlite3_bind_int(s, 5, f->limit + 1);
    /* One row more than the page: its presence says that another page follows. */
    if ((rc = store_read_rows(s, sizeof(job_row), limit + 1, read_job_light, deinit_job, NULL,
                              &rows, n_out)))
        goto out;
    *rows_out = rows;
    if (*n_out > limit) {
        job_row_deinit(&(*rows_out)[limit]);
        *n_out = limit;
        if (limit > 0)
            *next_seq = (*rows_out)[limit - 1].seq;
    }
out:
    return store_end(c, rc);
}

/* Fails queued job seq with `too_large` (inside the claim's transaction); its id into
 * id_out (n bytes). TG_OK or TG_EIO. */
static int fail_too_large(conn *c, long long seq, const char *now, long long budget,
                          char *id_out, size_t n)
{
    sqlite3_stmt *s = store_stmt(c, Q_JOB_FAIL_TOO_LARGE);
    if (!s)
        return TG_EIO;
    sqlite3_bind_int64(s, 1, seq);
    store_bind_text(s, 2, now);
    sqlite3_bind_int64(s, 3, budget);
    store_bind_text(s, 4, job_error_code(JOB_TOO_LARGE));
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE || !(s = store_stmt(c, Q_JOB_ID_BY_SEQ)))
        return TG_EIO;
    sqlite3_bind_int64(s, 1, seq);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        store_col_copy(s, 0, id_out, n);
    sqlite3_reset(s);
    return step == SQLITE_ROW ? TG_OK : TG_EIO;
}

int store_job_claim(store *st, long long mem_free, long long budget, const char *now,
                    const char *provenance, job_row *out, int *blocked)
{
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_WRITE, Q_JOB_OLDEST_QUEUED, &c, &s);
    *blocked = STORE_CLAIM_NONE;
    memset(out, 0, sizeof *out);
    if (rc)
        goto out;
    rc = TG_EIO;
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
        goto out;
    }
    if (step != SQLITE_ROW)
        goto out;
    long long seq = sqlite3_column_int64(s, 0), mem = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    if (mem > budget) {
        /* Accepted under a larger budget (before a restart): it can never start here, and
         * waiting for it would stall the whole queue. */
        if ((rc = fail_too_large(c, seq, now, budget, out->id, sizeof out->id)) ||
            (rc = status_event(c, out->id, "failed", 0, &out->event_seq)))
            goto out;
        *blocked = STORE_CLAIM_NEVER_FITS;
        if ((rc = store_commit(c)) == TG_OK)
            rc = TG_ENOTFOUND;
        goto out;
    }
    if (mem > mem_free) {
        *blocked = STORE_CLAIM_WAIT;
        rc = TG_ENOTFOUND;
        goto out;
    }
    if (!(s = store_stmt(c, Q_JOB_CLAIM)))
        goto out;
    sqlite3_bind_int64(s, 1, seq);
    store_bind_text(s, 2, now);
    store_bind_text(s, 3, provenance);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    if ((rc = read_job(s, 1, out)))
        goto out; /* rolled back: the job stays queued */
    sqlite3_reset(s);
    if (!(rc = status_event(c, out->id, "running", 0, &out->event_seq)))
        rc = store_commit(c);
    if (rc)
        job_row_deinit(out); /* rolled back by store_end: the job stays queued */
out:
    return store_end(c, rc);
}

/* One autocommit write q with text parameters 1..n_text (the job id first). TG_OK or
 * TG_EIO. */
static int job_write(store *st, int q, const char *const *text, int n_text)
{
    conn *c;
    int rc = store_start(st, STORE_WRITE_ONE, q, &c, NULL);
    if (!rc)
        rc = store_run(c, q, text, n_text, NULL);
    return store_end(c, rc);
}

int store_job_set_progress(store *st, const char *id, const char *progress)
{
    const char *text[] = {id, progress};
    return job_write(st, Q_JOB_PROGRESS, text, 2);
}

/* Runs transition q of job id (text parameters 1..n_text, the id first) and, when it
 * changed the job, stores its status event (store_job_finish_at), all in one
 * transaction. TG_OK or TG_EIO. */
static int transition(store *st, int q, const char *const *text, int n_text,
                      const char *status, long long min_seq, long long *seq_out)
{
    conn *c;
    int changes = 0, rc = store_start(st, STORE_WRITE, -1, &c, NULL);
    if (seq_out)
        *seq_out = 0;
    if (rc || (rc = store_run(c, q, text, n_text, &changes)))
        goto out;
    if (changes == 1 && (rc = status_event(c, text[0], status, min_seq, seq_out)))
        goto out;
    rc = store_commit(c);
out:
    return store_end(c, rc);
}

int store_job_finish_at(store *st, const char *id, const char *status, const char *now,
                        const char *error, const char *partial, const char *result,
                        long long min_seq, long long *seq_out)
{
    const char *text[] = {id, status, now, error, partial, result};
    return transition(st, Q_JOB_FINISH, text, 6, status, min_seq, seq_out);
}

int store_job_finish(store *st, const char *id, const char *status, const char *now,
                     const char *error, const char *partial, const char *result)
{
    return store_job_finish_at(st, id, status, now, error, partial, result, 0, NULL);
}

int store_job_requeue(store *st, const char *id, long long min_seq, long long *seq_out)
{
    return transition(st, Q_JOB_REQUEUE, &id, 1, "queued", min_seq, seq_out);
}

int store_job_cancel_request(store *st, const char *id)
{
    return job_write(st, Q_JOB_CANCEL_REQUEST, &id, 1);
}

/* The status of job id: TG_OK, TG_ENOTFOUND or TG_EIO. */
static int job_status(conn *c, const char *id, store_job_status *out)
{
    sqlite3_stmt *s = store_stmt(c, Q_JOB_STATUS);
    int rc = TG_EIO;
    if (!s)
        return TG_EIO;
    store_bind_text(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = TG_ENOTFOUND;
    else if (step == SQLITE_ROW && store_job_status_parse((const char *)sqlite3_column_text(s, 0),
                                                          out) == TG_OK)
        rc = TG_OK;
    sqlite3_reset(s);
    return rc;
}

int store_job_cancel_queued(store *st, const char *id, const char *now, long long *seq_out)
{
    conn *c;
    store_job_status status;
    const char *text[] = {id, now};
    int changes = 0, rc = store_start(st, STORE_WRITE, -1, &c, NULL);
    if (seq_out)
        *seq_out = 0;
    if (rc || (rc = store_run(c, Q_JOB_CANCEL, text, 2, &changes)))
        goto out;
    if (changes == 1) {
        if (!(rc = status_event(c, id, "cancelled", 0, seq_out)))
            rc = store_commit(c);
    } else if ((rc = job_status(c, id, &status)) == TG_OK) {
        rc = status == STORE_STATUS_RUNNING     ? STORE_CANCEL_RUNNING
             : status == STORE_STATUS_CANCELLED ? STORE_CANCEL_DONE
                                                : TG_ECONFLICT;
    }
out:
    return store_end(c, rc);
}

static int job_delete_once(store *st, const char *id)
{
    /* A retry with the job's Idempotency-Key creates a new job once this one is gone. */
    static const int qs[] = {Q_ARRAYS_DELETE, Q_IDEM_DELETE_JOB, Q_JOB_REFS_DELETE,
                             Q_JOB_EVENTS_DELETE, Q_JOB_DELETE};
    conn *c;
    store_job_status status;
    int rc = store_start(st, STORE_WRITE, -1, &c, NULL);
    if (rc || (rc = job_status(c, id, &status)))
        goto out;
    if (status == STORE_STATUS_QUEUED || status == STORE_STATUS_RUNNING) {
        rc = TG_ECONFLICT;
        goto out;
    }
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        if ((rc = store_run(c, qs[i], &id, 1, NULL)))
            goto out;
    /* The payload files go after the rows: a crash in between leaves files that no row
     * names, never a row without its file. */
    if ((rc = store_commit(c)) == TG_OK)
        store_arrays_remove(st, id);
out:
    return store_end(c, rc);
}

int store_job_delete(store *st, const char *id)
{
    int rc = job_delete_once(st, id);
    /* A delete needs room in the WAL: on a full disk, give it the spare file's room. */
    for (int a = 0; a < 2 && rc == TG_EIO && store_is_full(st) && store_make_room(st, a); a++)
        rc = job_delete_once(st, id);
    return rc;
}

int store_recover(store *st, int max_attempts, const char *now, int *requeued, int *failed)
{
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_WRITE, -1, &c, NULL);
    *requeued = *failed = 0;
    if (rc)
        goto out;
    rc = TG_EIO;
    /* Each status event before its transition, which it selects the same rows as. */
    if (!(s = store_stmt(c, Q_RECOVER_CANCEL_EV)))
        goto out;
    sqlite3_bind_int(s, 1, STORE_EVENT_GAP);
    if (sqlite3_step(s) != SQLITE_DONE || store_run(c, Q_RECOVER_CANCEL, &now, 1, NULL))
        goto out;
    if (!(s = store_stmt(c, Q_RECOVER_FAIL_EV)))
        goto out;
    sqlite3_bind_int(s, 1, STORE_EVENT_GAP);
    sqlite3_bind_int(s, 2, max_attempts);
    if (sqlite3_step(s) != SQLITE_DONE || !(s = store_stmt(c, Q_RECOVER_FAIL)))
        goto out;
    sqlite3_bind_int(s, 1, max_attempts);
    store_bind_text(s, 2, now);
    store_bind_text(s, 3, job_error_code(JOB_INTERRUPTED));
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *failed = sqlite3_changes(c->db);
    if (!(s = store_stmt(c, Q_RECOVER_REQUEUE_EV)))
        goto out;
    sqlite3_bind_int(s, 1, STORE_EVENT_GAP);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    if (!(rc = store_run(c, Q_RECOVER_REQUEUE, &now, 1, requeued)))
        rc = store_commit(c);
out:
    return store_end(c, rc);
}

int store_job_counts(store *st, long long *queued, long long *running)
{
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_READ, Q_COUNTS, &c, &s);
    *queued = *running = 0;
    if (rc)
        goto out;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *queued = sqlite3_column_int64(s, 0);
        *running = sqlite3_column_int64(s, 1);
    } else {
        rc = TG_EIO;
    }
out:
    return store_end(c, rc);
}

/* ---- events ------------------------------------------------------------------------ */

void job_event_deinit(job_event *e)
{
    if (e)
        store_free_fields(e, sizeof *e, (void *[]){e->data}, 1);
}

/* Stores one event (inside a write transaction). TG_OK or TG_EIO. */
static int put_event(conn *c, const char *id, long long seq, const char *data, int coalesce)
{
    sqlite3_stmt *s;
    int changes = 0;
    if (coalesce) {
        if (!(s = store_stmt(c, Q_EV_COALESCE)))
            return TG_EIO;
        store_bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, seq);
        store_bind_text(s, 3, data);
        if (sqlite3_step(s) != SQLITE_DONE)
            return TG_EIO;
        changes = sqlite3_changes(c->db);
    }
    if (changes)
        return TG_OK;
    if (!(s = store_stmt(c, Q_EV_INSERT)))
        return TG_EIO;
    store_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, seq);
    store_bind_text(s, 3, data);
    sqlite3_bind_int(s, 4, coalesce != 0);
    return sqlite3_step(s) == SQLITE_DONE ? TG_OK : TG_EIO;
}

int store_job_events_put(store *st, const char *id, size_t n, const long long *seq,
                         const char *const *data, const int *coalesce)
{
    conn *c;
    int rc = store_start(st, STORE_WRITE, -1, &c, NULL);
    for (size_t i = 0; !rc && i < n; i++)
        rc = put_event(c, id, seq[i], data[i], coalesce[i]);
    if (!rc)
        rc = store_commit(c);
    return store_end(c, rc);
}

int store_job_event_put(store *st, const char *id, long long seq, const char *data,
                        int coalesce)
{
    return store_job_events_put(st, id, 1, &seq, &data, &coalesce);
}

/* A store_row_reader for store_job_events: seq, type, data, terminal. */
static int read_event(sqlite3_stmt *s, const void *ud, void *row)
{
    job_event *e = row;
    (void)ud;
    e->seq = sqlite3_column_int64(s, 0);
    store_col_copy(s, 1, e->type, sizeof e->type);
    e->terminal = sqlite3_column_int(s, 3);
    return store_col_dup(s, 2, &e->data);
}

static void deinit_event(void *row)
{
    job_event_deinit(row);
}

int store_job_events(store *st, const char *id, long long after, int from_attempt,
                     job_event **rows_out, size_t *n_out)
{
    conn *c;
    sqlite3_stmt *s;
    void *rows = NULL;
    int rc = store_start(st, STORE_READ, Q_EV_LIST, &c, &s);
    *rows_out = NULL;
    *n_out = 0;
    if (rc)
        goto out;
    store_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int(s, 3, from_attempt != 0);
    if ((rc = store_read_rows(s, sizeof(job_event), 0, read_event, deinit_event, NULL, &rows,
                              n_out)))
        goto out;
    if (*n_out)
        *rows_out = rows;
    else
        free(rows);
out:
    return store_end(c, rc);
}
