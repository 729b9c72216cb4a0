/* store_jobs.c: jobs in the store (store.h): insert with idempotency keys, the queue
 * limit and the job's references; get and list; claim; the transitions; delete;
 * start-up recovery.
 *
 * Status transitions are single UPDATEs guarded by the current status (WHERE status =
 * 'running' ...), so two threads can never both move a job.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Columns 0..14 of every job read; request, partial and result follow (15..17). */
#define JOB_COLS                                                                       \
    "seq, id, kind, status, created_at, started_at, finished_at, attempt, label, "     \
    "progress, provenance, error, timeout_s, notify_url, mem_estimate"
#define JOB_COL_REQUEST 15

const char *const store_sql_jobs[Q_N] = {
    [Q_IDEM_GET] = "SELECT body, job_id FROM idempotency WHERE key = ?1",
    [Q_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency (key, body, job_id, created_at) "
                   "VALUES (?1, ?2, ?3, ?4)",
    [Q_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE created_at < ?1",
    [Q_COUNT_QUEUED] = "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' "
                       "LIMIT ?1)",
    /* dataset_ref and model_ref (0001) are no longer written: job_refs holds them. */
    [Q_JOB_INSERT] = "INSERT INTO jobs (id, kind, label, status, created_at, attempt, request, "
                     "progress, timeout_s, notify_url, mem_estimate) "
                     "VALUES (?1, ?2, ?3, 'queued', ?4, 0, ?5, ?6, ?7, ?8, ?9)",
    [Q_JOB_REF_INSERT] = "INSERT OR IGNORE INTO job_refs (job_id, type, ref_id) "
                         "VALUES (?1, ?2, ?3)",
    [Q_JOB_GET] = "SELECT " JOB_COLS ", request, partial, result FROM jobs WHERE id = ?1",
    [Q_JOB_GET_LIGHT] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [Q_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND "
                   "(?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR label = ?3) AND "
                   "(?4 = 0 OR seq < ?4) ORDER BY seq DESC LIMIT ?5",
    [Q_JOB_OLDEST_QUEUED] = "SELECT seq, mem_estimate FROM jobs WHERE status = 'queued' "
                            "ORDER BY seq LIMIT 1",
    [Q_JOB_CLAIM] = "UPDATE jobs SET status = 'running', attempt = attempt + 1, "
                    "started_at = ?2, finished_at = NULL, provenance = ?3, "
                    "progress = json_object('fraction', 0.0, 'message', 'started', "
                    "'updated_at', ?2) WHERE seq = ?1 AND status = 'queued' "
                    "RETURNING " JOB_COLS ", request",
    [Q_JOB_PROGRESS] = "UPDATE jobs SET progress = ?2 WHERE id = ?1 AND status = 'running'",
    [Q_JOB_FINISH] = "UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4, "
                     "partial = ?5, result = ?6 WHERE id = ?1 AND status = 'running'",
    [Q_JOB_REQUEUE] = "UPDATE jobs SET status = 'queued', attempt = attempt - 1, "
                      "started_at = NULL, progress = json_object('fraction', 0.0, 'message', "
                      "'queued again: the server stopped', 'updated_at', "
                      "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE id = ?1 AND status = "
                      "'running'",
    [Q_JOB_STATUS] = "SELECT status FROM jobs WHERE id = ?1",
    [Q_JOB_FAIL_TOO_LARGE] = "UPDATE jobs SET status = 'failed', finished_at = ?2, error = "
                             "json_object('code', 'too_large', 'message', "
                             "'the estimated memory of the job (' || mem_estimate || "
                             "' bytes) exceeds the memory budget of this server (' || ?3 || "
                             "' bytes); it was accepted under a larger budget') "
                             "WHERE seq = ?1 AND status = 'queued'",
    [Q_JOB_CANCEL] = "UPDATE jobs SET status = 'cancelled', finished_at = ?2 "
                     "WHERE id = ?1 AND status = 'queued'",
    [Q_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    /* Also removed by ON DELETE CASCADE; explicit, so that a connection without
     * foreign_keys cannot leave a guard behind. */
    [Q_JOB_REFS_DELETE] = "DELETE FROM job_refs WHERE job_id = ?1",
    [Q_ARRAYS_DELETE] = "DELETE FROM arrays WHERE job_id = ?1",
    [Q_IDEM_DELETE_JOB] = "DELETE FROM idempotency WHERE job_id = ?1",
    [Q_RECOVER_FAIL] = "UPDATE jobs SET status = 'failed', finished_at = ?2, error = "
                       "json_object('code', 'interrupted', 'message', "
                       "'the process died during each of the ' || attempt || ' attempts', "
                       "'details', json_object('attempts', attempt)) "
                       "WHERE status = 'running' AND attempt >= ?1",
    [Q_RECOVER_REQUEUE] = "UPDATE jobs SET status = 'queued', started_at = NULL, "
                          "progress = json_object('fraction', 0.0, 'message', "
                          "'queued again: the process died', 'updated_at', ?1) "
                          "WHERE status = 'running'",
    [Q_COUNTS] = "SELECT sum(status = 'queued'), sum(status = 'running') FROM jobs "
                 "WHERE status IN ('queued', 'running')",
};

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
    if (!j)
        return;
    free(j->label);
    free(j->request);
    free(j->progress);
    free(j->provenance);
    free(j->error);
    free(j->partial);
    free(j->result);
    free(j->notify_url);
    memset(j, 0, sizeof *j); /* refs are borrowed */
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
    for (size_t i = 0; !rc && i < sizeof text_cols / sizeof text_cols[0]; i++)
        rc = store_col_dup(s, text_cols[i], text[i]);
    for (int i = 0; !rc && i < n_extra; i++)
        rc = store_col_dup(s, JOB_COL_REQUEST + i, extra[i]);
    if (rc)
        job_row_deinit(j);
    return rc;
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
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
    for (size_t i = 0; i < j->n_refs; i++) {
        sqlite3_stmt *s;
        if (!j->refs[i].id)
            continue;
        if (!(s = store_stmt(c, Q_JOB_REF_INSERT)))
            return TG_EIO;
        store_bind_text(s, 1, j->id);
        store_bind_text(s, 2, store_ref_type_name(j->refs[i].type));
        store_bind_text(s, 3, j->refs[i].id);
        if (sqlite3_step(s) != SQLITE_DONE)
            return TG_EIO;
    }
    return TG_OK;
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
    if (!(c = store_acquire(st)))
        return store_err_io(NULL, err);
    rc = TG_EIO;
    if (store_begin(c))
        goto out;
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
    if (insert_refs(c, j))
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
    store_rollback(c);
    store_release(st, c);
    return rc;
}

int store_job_get(store *st, const char *id, store_job_detail detail, job_row *out)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO, light = detail == STORE_JOB_LIGHT;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (!(s = store_stmt(c, light ? Q_JOB_GET_LIGHT : Q_JOB_GET)))
        goto out;
    store_bind_text(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = read_job(s, light ? 0 : 3, out);
    else if (step == SQLITE_DONE)
        rc = TG_ENOTFOUND;
out:
    store_release(st, c);
    return rc;
}

int store_job_list(store *st, const job_filter *f, job_row **rows_out, size_t *n_out,
                   long long *next_seq)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO, step = SQLITE_ERROR;
    size_t n = 0;
    job_row *rows = NULL;
    *rows_out = NULL;
    *n_out = 0;
    *next_seq = 0;
    if (!c)
        return TG_EIO;
    if (!(s = store_stmt(c, Q_JOB_LIST)))
        goto out;
    store_bind_text(s, 1, f->status);
    store_bind_text(s, 2, f->kind);
    store_bind_text(s, 3, f->label);
    sqlite3_bind_int64(s, 4, f->before_seq);
    sqlite3_bind_int(s, 5, f->limit + 1);
    if (!(rows = calloc((size_t)f->limit + 1, sizeof *rows))) {
        rc = TG_ENOMEM;
        goto out;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == (size_t)f->limit) {
            *next_seq = rows[n - 1].seq;
            break;
        }
        if ((rc = read_job(s, 0, &rows[n])))
            goto out;
        n++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = TG_EIO;
        goto out;
    }
    *rows_out = rows;
    *n_out = n;
    rows = NULL;
    n = 0;
    rc = TG_OK;
out:
    for (size_t i = 0; i < n; i++)
        job_row_deinit(&rows[i]);
    free(rows);
    store_release(st, c);
    return rc;
}

int store_job_claim(store *st, long long mem_free, long long budget, const char *now,
                    const char *provenance, job_row *out, int *blocked)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *blocked = STORE_CLAIM_NONE;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (store_begin(c))
        goto out;
    if (!(s = store_stmt(c, Q_JOB_OLDEST_QUEUED)))
        goto out;
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
        if (!(s = store_stmt(c, Q_JOB_FAIL_TOO_LARGE)))
            goto out;
        sqlite3_bind_int64(s, 1, seq);
        store_bind_text(s, 2, now);
        sqlite3_bind_int64(s, 3, budget);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        rc = store_commit(c);
        *blocked = STORE_CLAIM_NEVER_FITS;
        if (rc == TG_OK)
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
    rc = store_commit(c);
    if (rc)
        job_row_deinit(out);
out:
    store_rollback(c);
    store_release(st, c);
    return rc;
}

/* One-statement write on a job id with up to 5 more text parameters. TG_OK or TG_EIO;
 * *changes (may be NULL): the rows changed. */
static int job_write(store *st, int q, const char *id, const char *a, const char *b,
                     const char *d, const char *e, const char *f, int *changes)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    store_wlock(c);
    if (!(s = store_stmt(c, q)))
        goto out;
    store_bind_text(s, 1, id);
    const char *args[5] = {a, b, d, e, f};
    for (int i = 0; i < 5; i++)
        if (sqlite3_bind_parameter_count(s) >= i + 2)
            store_bind_text(s, i + 2, args[i]);
    if (sqlite3_step(s) == SQLITE_DONE) {
        rc = TG_OK;
        if (changes)
            *changes = sqlite3_changes(c->db);
    }
    sqlite3_reset(s);
out:
    store_release(st, c);
    return rc;
}

int store_job_set_progress(store *st, const char *id, const char *progress)
{
    return job_write(st, Q_JOB_PROGRESS, id, progress, NULL, NULL, NULL, NULL, NULL);
}

int store_job_finish(store *st, const char *id, const char *status, const char *now,
                     const char *error, const char *partial, const char *result)
{
    return job_write(st, Q_JOB_FINISH, id, status, now, error, partial, result, NULL);
}

int store_job_requeue(store *st, const char *id)
{
    return job_write(st, Q_JOB_REQUEUE, id, NULL, NULL, NULL, NULL, NULL, NULL);
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

int store_job_cancel_queued(store *st, const char *id, const char *now)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    store_job_status status;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (store_begin(c) || !(s = store_stmt(c, Q_JOB_CANCEL)))
        goto out;
    store_bind_text(s, 1, id);
    store_bind_text(s, 2, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(c->db) == 1) {
        rc = store_commit(c);
        goto out;
    }
    if ((rc = job_status(c, id, &status)))
        goto out;
    rc = status == STORE_STATUS_RUNNING ? STORE_CANCEL_RUNNING : TG_ECONFLICT;
out:
    store_rollback(c);
    store_release(st, c);
    return rc;
}

int store_job_delete(store *st, const char *id)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    store_job_status status;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (store_begin(c) || (rc = job_status(c, id, &status)))
        goto out;
    if (status == STORE_STATUS_QUEUED || status == STORE_STATUS_RUNNING) {
        rc = TG_ECONFLICT;
        goto out;
    }
    rc = TG_EIO;
    /* A retry with the job's Idempotency-Key creates a new job once this one is gone. */
    static const int qs[] = {Q_ARRAYS_DELETE, Q_IDEM_DELETE_JOB, Q_JOB_REFS_DELETE,
                             Q_JOB_DELETE};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if (!(s = store_stmt(c, qs[i])))
            goto out;
        store_bind_text(s, 1, id);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
    }
    rc = store_commit(c);
    /* The payload files go after the rows: a crash in between leaves files that no row
     * names, never a row without its file. */
    if (rc == TG_OK)
        store_arrays_remove(st, id);
out:
    store_rollback(c);
    store_release(st, c);
    return rc;
}

int store_recover(store *st, int max_attempts, const char *now, int *requeued, int *failed)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *requeued = *failed = 0;
    if (!c)
        return TG_EIO;
    if (store_begin(c) || !(s = store_stmt(c, Q_RECOVER_FAIL)))
        goto out;
    sqlite3_bind_int(s, 1, max_attempts);
    store_bind_text(s, 2, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *failed = sqlite3_changes(c->db);
    if (!(s = store_stmt(c, Q_RECOVER_REQUEUE)))
        goto out;
    store_bind_text(s, 1, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *requeued = sqlite3_changes(c->db);
    rc = store_commit(c);
out:
    store_rollback(c);
    store_release(st, c);
    return rc;
}

int store_job_counts(store *st, long long *queued, long long *running)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *queued = *running = 0;
    if (!c)
        return TG_EIO;
    if ((s = store_stmt(c, Q_COUNTS)) && sqlite3_step(s) == SQLITE_ROW) {
        *queued = sqlite3_column_int64(s, 0);
        *running = sqlite3_column_int64(s, 1);
        rc = TG_OK;
    }
    store_release(st, c);
    return rc;
}
