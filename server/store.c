/* store.c: SQLite implementation of store.h, the only file with SQL.
 *
 * Connections are pooled: a call takes an idle connection (opening one when none is
 * idle), uses its prepared statements (prepared once, reset after use) and gives it
 * back. Writes are BEGIN IMMEDIATE transactions; the busy timeout makes concurrent
 * writers wait instead of failing. Every value is bound, never formatted into SQL.
 */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "../core/embed.h"

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_IDEM_GET,
    Q_IDEM_PUT,
    Q_IDEM_EXPIRE,
    Q_COUNT_QUEUED,
    Q_JOB_INSERT,
    Q_JOB_GET,
    Q_JOB_GET_LIGHT,
    Q_JOB_OLDEST_QUEUED,
    Q_JOB_CLAIM,
    Q_JOB_PROGRESS,
    Q_JOB_FINISH,
    Q_JOB_REQUEUE,
    Q_JOB_STATUS,
    Q_JOB_CANCEL,
    Q_JOB_DELETE,
    Q_ARRAYS_DELETE,
    Q_IDEM_DELETE_JOB,
    Q_JOB_FAIL_TOO_LARGE,
    Q_RECOVER_FAIL,
    Q_RECOVER_REQUEUE,
    Q_COUNTS,
    Q_DS_INSERT,
    Q_DS_GET,
    Q_DS_GET_BODY,
    Q_DS_LIST,
    Q_DS_IN_USE,
    Q_DS_DELETE,
    Q_ARR_PUT,
    Q_ARR_INFO,
    Q_WRITABLE,
    Q_MODEL_INSERT,
    Q_MODEL_GET,
    Q_MODEL_GET_W,
    Q_MODEL_LIST,
    Q_MODEL_IN_USE,
    Q_MODEL_DELETE,
    Q_N
};

#define JOB_COLS                                                                       \
    "seq, id, kind, status, created_at, started_at, finished_at, attempt, label, "     \
    "progress, provenance, error, timeout_s, notify_url, mem_estimate, dataset_ref, "  \
    "model_ref"

static const char *const sql_text[Q_N] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_IDEM_GET] = "SELECT body, job_id FROM idempotency WHERE key = ?1",
    [Q_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency (key, body, job_id, created_at) "
                   "VALUES (?1, ?2, ?3, ?4)",
    [Q_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE created_at < ?1",
    [Q_COUNT_QUEUED] = "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' "
                       "LIMIT ?1)",
    [Q_JOB_INSERT] = "INSERT INTO jobs (id, kind, label, status, created_at, attempt, request, "
                     "progress, timeout_s, notify_url, mem_estimate, dataset_ref, model_ref) "
                     "VALUES (?1, ?2, ?3, 'queued', ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_JOB_GET] = "SELECT " JOB_COLS ", request, partial, result FROM jobs WHERE id = ?1",
    [Q_JOB_GET_LIGHT] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
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
    [Q_DS_INSERT] = "INSERT INTO datasets (id, name, meta, created_at, body) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_DS_GET] = "SELECT id, name, meta, created_at FROM datasets WHERE id = ?1",
    [Q_DS_GET_BODY] = "SELECT id, name, meta, created_at, body FROM datasets WHERE id = ?1",
    [Q_DS_LIST] = "SELECT id, name, meta, created_at FROM datasets ORDER BY seq DESC",
    [Q_DS_IN_USE] = "SELECT count(*) FROM jobs WHERE dataset_ref = ?1 AND status IN "
                    "('queued', 'running')",
    [Q_DS_DELETE] = "DELETE FROM datasets WHERE id = ?1",
    [Q_ARR_PUT] = "INSERT OR REPLACE INTO arrays (job_id, name, rows, cols, file) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_ARR_INFO] = "SELECT rows, cols, file FROM arrays WHERE job_id = ?1 AND name = ?2",
    [Q_WRITABLE] = "UPDATE idempotency SET key = key WHERE 0",
    [Q_MODEL_INSERT] = "INSERT INTO models (id, created_at, source_job, meta, weights, initial) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_MODEL_GET] = "SELECT id, created_at, meta FROM models WHERE id = ?1",
    [Q_MODEL_GET_W] = "SELECT id, created_at, meta, weights, initial FROM models WHERE id = ?1",
    [Q_MODEL_LIST] = "SELECT id, created_at, meta FROM models ORDER BY seq DESC",
    [Q_MODEL_IN_USE] = "SELECT count(*) FROM jobs WHERE model_ref = ?1 AND status IN "
                       "('queued', 'running')",
    [Q_MODEL_DELETE] = "DELETE FROM models WHERE id = ?1",
};

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

/* ---- connections ------------------------------------------------------------------- */

static int conn_open(const char *path, conn **out, tg_err *err)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        tg_err_set(err, TG_EIO, "cannot open database %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return TG_EIO;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_exec(c->db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                 "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
                 NULL, NULL, NULL);
    *out = c;
    return TG_OK;
}

static void conn_close(conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < Q_N; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

static void wlock(conn *c)
{
    if (!c->holds_w) {
        pthread_mutex_lock(&c->st->wmu);
        c->holds_w = 1;
    }
}

static void wunlock(conn *c)
{
    if (c->holds_w) {
        c->holds_w = 0;
        pthread_mutex_unlock(&c->st->wmu);
    }
}

static conn *acquire(store *st)
{
    conn *c;
    pthread_mutex_lock(&st->mu);
    c = st->idle;
    if (c)
        st->idle = c->next;
    pthread_mutex_unlock(&st->mu);
    if (!c && conn_open(st->path, &c, NULL))
        return NULL;
    c->st = st;
    return c;
}

static void release(store *st, conn *c)
{
    if (!c)
        return;
    /* A statement left mid-result would hold a read transaction on an old snapshot,
     * and the connection's next write would fail with SQLITE_BUSY_SNAPSHOT at once
     * instead of waiting: end them all here. */
    for (int i = 0; i < Q_N; i++)
        if (c->stmt[i] && sqlite3_stmt_busy(c->stmt[i]))
            sqlite3_reset(c->stmt[i]);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    wunlock(c);
    pthread_mutex_lock(&st->mu);
    c->next = st->idle;
    st->idle = c;
    pthread_mutex_unlock(&st->mu);
}

/* The prepared statement q of c, reset and unbound; NULL if it cannot be prepared. */
static sqlite3_stmt *stmt(conn *c, int q)
{
    if (!c->stmt[q]) {
        if (sqlite3_prepare_v3(c->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT,
                               &c->stmt[q], NULL) != SQLITE_OK) {
            fprintf(stderr, "tangentd: store: cannot prepare %d: %s\n", q,
                    sqlite3_errmsg(c->db));
            return NULL;
        }
    } else {
        sqlite3_reset(c->stmt[q]);
        sqlite3_clear_bindings(c->stmt[q]);
    }
    return c->stmt[q];
}

/* Runs a statement without results; returns SQLite's step code. */
static int exec_q(conn *c, int q)
{
    sqlite3_stmt *s = stmt(c, q);
    if (!s)
        return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

static int begin(conn *c)
{
    wlock(c);
    if (exec_q(c, Q_BEGIN) == SQLITE_DONE)
        return TG_OK;
    wunlock(c);
    return TG_EIO;
}

static int commit(conn *c)
{
    int rc = exec_q(c, Q_COMMIT) == SQLITE_DONE ? TG_OK : TG_EIO;
    if (rc == TG_OK)
        wunlock(c);
    return rc;
}

static void rollback(conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        exec_q(c, Q_ROLLBACK);
    wunlock(c);
}

static void bind_text_static(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *s, int i, char *buf, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

/* ---- open and migrate -------------------------------------------------------------- */

static int migrate(conn *c, tg_err *err)
{
    int version = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    /* Embedded files are listed in name order; migrations are NNNN_name.sql. */
    for (size_t i = 0; embed_name(i); i++) {
        const char *name = embed_name(i);
        if (strncmp(name, "migrations/", 11) != 0)
            continue;
        int n = atoi(name + 11);
        if (n <= version)
            continue;
        const char *sql = (const char *)embed_find(name, NULL);
        char *emsg = NULL;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", n);
        if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK ||
            sqlite3_exec(c->db, sql, NULL, NULL, &emsg) != SQLITE_OK ||
            sqlite3_exec(c->db, pragma, NULL, NULL, &emsg) != SQLITE_OK ||
            sqlite3_exec(c->db, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
            tg_err_set(err, TG_EIO, "store: migration %s failed: %s", name,
                       emsg ? emsg : "?");
            sqlite3_free(emsg);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return TG_EIO;
        }
        version = n;
    }
    return TG_OK;
}

int store_open(const char *path, store **out, tg_err *err)
{
    store *st = calloc(1, sizeof *st);
    conn *c = NULL;
    int rc;
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->wmu, NULL);
    size_t al = strlen(path) + 8;
    st->array_dir = malloc(al);
    if (!st->array_dir) {
        free(st->path);
        free(st);
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    snprintf(st->array_dir, al, "%s.arrays", path);
    if (mkdir(st->array_dir, 0750) != 0 && errno != EEXIST) {
        rc = tg_err_set(err, TG_EIO, "cannot create %s: %s", st->array_dir, strerror(errno));
        free(st->array_dir);
        free(st->path);
        free(st);
        return rc;
    }
    if ((rc = conn_open(path, &c, err)))
        goto fail;
    c->st = st;
    char *jm = NULL;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            jm = col_dup(s, 0);
        sqlite3_finalize(s);
    }
    if (!jm || strcmp(jm, "wal") != 0) {
        free(jm);
        rc = tg_err_set(err, TG_EIO, "store: cannot use WAL mode on %s", path);
        goto fail;
    }
    free(jm);
    if ((rc = migrate(c, err)))
        goto fail;
    release(st, c);
    *out = st;
    return TG_OK;
fail:
    conn_close(c);
    store_close(st);
    return rc;
}

void store_close(store *st)
{
    if (!st)
        return;
    while (st->idle) {
        conn *c = st->idle;
        st->idle = c->next;
        conn_close(c);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->wmu);
    free(st->array_dir);
    free(st->path);
    free(st);
}

int store_writable(store *st)
{
    conn *c = acquire(st);
    int ok = 0;
    if (!c)
        return 0;
    if (begin(c) == TG_OK) {
        ok = exec_q(c, Q_WRITABLE) == SQLITE_DONE;
        ok = commit(c) == TG_OK && ok;
    }
    rollback(c);
    release(st, c);
    return ok;
}

/* ---- jobs -------------------------------------------------------------------------- */

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
    free(j->dataset_ref);
    free(j->model_ref);
    memset(j, 0, sizeof *j);
}

/* Reads the JOB_COLS columns starting at column 0. */
static void read_job_cols(sqlite3_stmt *s, job_row *j)
{
    j->seq = sqlite3_column_int64(s, 0);
    col_copy(s, 1, j->id, sizeof j->id);
    col_copy(s, 2, j->kind, sizeof j->kind);
    col_copy(s, 3, j->status, sizeof j->status);
    col_copy(s, 4, j->created_at, sizeof j->created_at);
    col_copy(s, 5, j->started_at, sizeof j->started_at);
    col_copy(s, 6, j->finished_at, sizeof j->finished_at);
    j->attempt = sqlite3_column_int(s, 7);
    j->label = col_dup(s, 8);
    j->progress = col_dup(s, 9);
    j->provenance = col_dup(s, 10);
    j->error = col_dup(s, 11);
    j->timeout_s = sqlite3_column_double(s, 12);
    j->notify_url = col_dup(s, 13);
    j->mem_estimate = sqlite3_column_int64(s, 14);
    j->dataset_ref = col_dup(s, 15);
    j->model_ref = col_dup(s, 16);
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int store_job_insert(store *st, job_row *j, const char *idem_key, const char *idem_body,
                     long long max_queue, int *existing, tg_err *err)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *existing = 0;
    if (!c)
        return tg_err_set(err, TG_EIO, "store unavailable");
    if (begin(c))
        goto out;
    if (idem_key) {
        double now = unix_now();
        if (!(s = stmt(c, Q_IDEM_EXPIRE)))
            goto out;
        sqlite3_bind_double(s, 1, now - 86400.0 * 2);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        if (!(s = stmt(c, Q_IDEM_GET)))
            goto out;
        bind_text_static(s, 1, idem_key);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            const char *body = (const char *)sqlite3_column_text(s, 0);
            if (!body || strcmp(body, idem_body) != 0) {
                rc = tg_err_setf(err, TG_ECONFLICT, "Idempotency-Key",
                                 "Idempotency-Key was used with another request body");
                goto out;
            }
            col_copy(s, 1, j->id, sizeof j->id);
            *existing = 1;
            rc = commit(c);
            goto out;
        } else if (step != SQLITE_DONE) {
            goto out;
        }
    }
    if (!(s = stmt(c, Q_COUNT_QUEUED)))
        goto out;
    sqlite3_bind_int64(s, 1, max_queue);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    if (sqlite3_column_int64(s, 0) >= max_queue) {
        rc = tg_err_set(err, TG_EQUEUEFULL, "the queue holds %lld waiting jobs (the maximum)",
                        max_queue);
        goto out;
    }
    if (!(s = stmt(c, Q_JOB_INSERT)))
        goto out;
    bind_text_static(s, 1, j->id);
    bind_text_static(s, 2, j->kind);
    bind_text_static(s, 3, j->label);
    bind_text_static(s, 4, j->created_at);
    bind_text_static(s, 5, j->request);
    bind_text_static(s, 6, j->progress);
    if (j->timeout_s > 0)
        sqlite3_bind_double(s, 7, j->timeout_s);
    bind_text_static(s, 8, j->notify_url);
    sqlite3_bind_int64(s, 9, j->mem_estimate);
    bind_text_static(s, 10, j->dataset_ref);
    bind_text_static(s, 11, j->model_ref);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    j->seq = sqlite3_last_insert_rowid(c->db);
    if (idem_key) {
        if (!(s = stmt(c, Q_IDEM_PUT)))
            goto out;
        bind_text_static(s, 1, idem_key);
        bind_text_static(s, 2, idem_body);
        bind_text_static(s, 3, j->id);
        sqlite3_bind_double(s, 4, unix_now());
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
    }
    rc = commit(c);
out:
    if (rc == TG_EIO)
        tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
    rollback(c);
    release(st, c);
    return rc;
}

int store_job_get(store *st, const char *id, int light, job_row *out)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (!(s = stmt(c, light ? Q_JOB_GET_LIGHT : Q_JOB_GET)))
        goto out;
    bind_text_static(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        read_job_cols(s, out);
        if (!light) {
            out->request = col_dup(s, 17);
            out->partial = col_dup(s, 18);
            out->result = col_dup(s, 19);
        }
        rc = TG_OK;
    } else if (step == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    }
    sqlite3_reset(s);
out:
    release(st, c);
    return rc;
}

int store_job_list(store *st, const job_filter *f, job_row **rows_out, size_t *n_out,
                   long long *next_seq)
{
    conn *c = acquire(st);
    sqlite3_stmt *s = NULL;
    int rc = TG_EIO;
    size_t n = 0;
    job_row *rows = NULL;
    *rows_out = NULL;
    *n_out = 0;
    *next_seq = 0;
    if (!c)
        return TG_EIO;
    /* Filters vary per call: a statement built from fixed fragments, values bound. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND "
             "(?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR label = ?3) AND "
             "(?4 = 0 OR seq < ?4) ORDER BY seq DESC LIMIT ?5");
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    bind_text_static(s, 1, f->status);
    bind_text_static(s, 2, f->kind);
    bind_text_static(s, 3, f->label);
    sqlite3_bind_int64(s, 4, f->before_seq);
    sqlite3_bind_int(s, 5, f->limit + 1);
    rows = calloc((size_t)f->limit + 1, sizeof *rows);
    if (!rows) {
        rc = TG_ENOMEM;
        goto out;
    }
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == (size_t)f->limit) {
            *next_seq = rows[n - 1].seq;
            break;
        }
        read_job_cols(s, &rows[n++]);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            job_row_deinit(&rows[i]);
        free(rows);
        rows = NULL;
        n = 0;
        goto out;
    }
    *rows_out = rows;
    *n_out = n;
    rc = TG_OK;
out:
    sqlite3_finalize(s);
    release(st, c);
    return rc;
}

int store_job_claim(store *st, long long mem_free, long long budget, const char *now,
                    const char *provenance, job_row *out, int *blocked)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *blocked = 0;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (begin(c))
        goto out;
    if (!(s = stmt(c, Q_JOB_OLDEST_QUEUED)))
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
        if (!(s = stmt(c, Q_JOB_FAIL_TOO_LARGE)))
            goto out;
        sqlite3_bind_int64(s, 1, seq);
        bind_text_static(s, 2, now);
        sqlite3_bind_int64(s, 3, budget);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        rc = commit(c);
        *blocked = 2;
        if (rc == TG_OK)
            rc = TG_ENOTFOUND;
        goto out;
    }
    if (mem > mem_free) {
        *blocked = 1;
        rc = TG_ENOTFOUND;
        goto out;
    }
    if (!(s = stmt(c, Q_JOB_CLAIM)))
        goto out;
    sqlite3_bind_int64(s, 1, seq);
    bind_text_static(s, 2, now);
    bind_text_static(s, 3, provenance);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    read_job_cols(s, out);
    out->request = col_dup(s, 17);
    sqlite3_reset(s);
    rc = commit(c);
    if (rc)
        job_row_deinit(out);
out:
    rollback(c);
    release(st, c);
    return rc;
}

/* One-statement write on a job id with up to 5 more text parameters. */
static int job_write(store *st, int q, const char *id, const char *a, const char *b,
                     const char *d, const char *e, const char *f, int *changes)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    wlock(c);
    if (!(s = stmt(c, q)))
        goto out;
    bind_text_static(s, 1, id);
    const char *args[5] = {a, b, d, e, f};
    for (int i = 0; i < 5; i++)
        if (sqlite3_bind_parameter_count(s) >= i + 2)
            bind_text_static(s, i + 2, args[i]);
    if (sqlite3_step(s) == SQLITE_DONE) {
        rc = TG_OK;
        if (changes)
            *changes = sqlite3_changes(c->db);
    }
    sqlite3_reset(s);
out:
    release(st, c);
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

int store_job_cancel_queued(store *st, const char *id, const char *now)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (begin(c) || !(s = stmt(c, Q_JOB_CANCEL)))
        goto out;
    bind_text_static(s, 1, id);
    bind_text_static(s, 2, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(c->db) == 1) {
        rc = commit(c);
        goto out;
    }
    if (!(s = stmt(c, Q_JOB_STATUS)))
        goto out;
    bind_text_static(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = TG_ENOTFOUND;
    else if (step == SQLITE_ROW)
        rc = strcmp((const char *)sqlite3_column_text(s, 0), "running") == 0 ? 1
                                                                            : TG_ECONFLICT;
    sqlite3_reset(s);
out:
    rollback(c);
    release(st, c);
    return rc;
}

static void dir_remove(const char *dir);

/* Only ids and names made of [A-Za-z0-9_] become file names. */
static int safe_name(const char *s)
{
    if (!*s || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int store_job_delete(store *st, const char *id)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (begin(c) || !(s = stmt(c, Q_JOB_STATUS)))
        goto out;
    bind_text_static(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
        goto out;
    }
    if (step != SQLITE_ROW)
        goto out;
    const char *status = (const char *)sqlite3_column_text(s, 0);
    if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) {
        rc = TG_ECONFLICT;
        goto out;
    }
    sqlite3_reset(s);
    /* A retry with the job's Idempotency-Key creates a new job once this one is gone. */
    const int qs[] = {Q_ARRAYS_DELETE, Q_IDEM_DELETE_JOB, Q_JOB_DELETE};
    for (int i = 0; i < 3; i++) {
        if (!(s = stmt(c, qs[i])))
            goto out;
        bind_text_static(s, 1, id);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
    }
    rc = commit(c);
    if (rc == TG_OK && safe_name(id)) {
        /* The payload files go after the rows: a crash in between leaves files that no
         * row names, never a row without its file. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", st->array_dir, id);
        dir_remove(dir);
    }
out:
    rollback(c);
    release(st, c);
    return rc;
}

int store_recover(store *st, int max_attempts, const char *now, int *requeued, int *failed)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *requeued = *failed = 0;
    if (!c)
        return TG_EIO;
    if (begin(c) || !(s = stmt(c, Q_RECOVER_FAIL)))
        goto out;
    sqlite3_bind_int(s, 1, max_attempts);
    bind_text_static(s, 2, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *failed = sqlite3_changes(c->db);
    if (!(s = stmt(c, Q_RECOVER_REQUEUE)))
        goto out;
    bind_text_static(s, 1, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *requeued = sqlite3_changes(c->db);
    rc = commit(c);
out:
    rollback(c);
    release(st, c);
    return rc;
}

int store_job_counts(store *st, long long *queued, long long *running)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    *queued = *running = 0;
    if (!c)
        return TG_EIO;
    if ((s = stmt(c, Q_COUNTS)) && sqlite3_step(s) == SQLITE_ROW) {
        *queued = sqlite3_column_int64(s, 0);
        *running = sqlite3_column_int64(s, 1);
        rc = TG_OK;
    }
    if (s)
        sqlite3_reset(s);
    release(st, c);
    return rc;
}

/* ---- datasets ---------------------------------------------------------------------- */

void dataset_row_deinit(dataset_row *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->meta);
    free(d->body);
    memset(d, 0, sizeof *d);
}

int store_dataset_insert(store *st, const dataset_row *d, tg_err *err)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return tg_err_set(err, TG_EIO, "store unavailable");
    if (begin(c) || !(s = stmt(c, Q_DS_INSERT)))
        goto out;
    bind_text_static(s, 1, d->id);
    bind_text_static(s, 2, d->name);
    bind_text_static(s, 3, d->meta);
    bind_text_static(s, 4, d->created_at);
    sqlite3_bind_blob64(s, 5, d->body, d->body_len, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    sqlite3_reset(s);
    rc = commit(c);
out:
    if (rc)
        tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
    rollback(c);
    release(st, c);
    return rc;
}

static int read_dataset(sqlite3_stmt *s, int with_body, dataset_row *out)
{
    col_copy(s, 0, out->id, sizeof out->id);
    out->name = col_dup(s, 1);
    out->meta = col_dup(s, 2);
    col_copy(s, 3, out->created_at, sizeof out->created_at);
    if (with_body) {
        int len = sqlite3_column_bytes(s, 4);
        const void *b = sqlite3_column_blob(s, 4);
        out->body = tg_alloc_huge(len > 0 ? (size_t)len : 1);
        if (!out->body)
            return TG_ENOMEM;
        if (len > 0)
            memcpy(out->body, b, (size_t)len);
        out->body_len = (size_t)len;
    }
    return TG_OK;
}

int store_dataset_get(store *st, const char *id, int with_body, dataset_row *out)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (!(s = stmt(c, with_body ? Q_DS_GET_BODY : Q_DS_GET)))
        goto out;
    bind_text_static(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = read_dataset(s, with_body, out);
    else if (step == SQLITE_DONE)
        rc = TG_ENOTFOUND;
    sqlite3_reset(s);
    if (rc)
        dataset_row_deinit(out);
out:
    release(st, c);
    return rc;
}

/* Runs the listing statement q and reads every row with read_row into a new array of
 * rows of row_size bytes (zeroed before reading; deinit releases one on failure). */
typedef void (*row_reader)(sqlite3_stmt *s, void *row);
typedef void (*row_deinit)(void *row);

static int list_rows(store *st, int q, size_t row_size, row_reader read_row,
                     row_deinit deinit, void **rows_out, size_t *n_out)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO, step = SQLITE_ERROR;
    size_t n = 0, cap = 16;
    char *rows = NULL;
    *rows_out = NULL;
    *n_out = 0;
    if (!c)
        return TG_EIO;
    if (!(s = stmt(c, q)) || !(rows = calloc(cap, row_size)))
        goto out;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            char *r = realloc(rows, 2 * cap * row_size);
            if (!r)
                break;
            rows = r;
            memset(rows + cap * row_size, 0, cap * row_size);
            cap *= 2;
        }
        read_row(s, rows + n++ * row_size);
    }
    if (step != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            deinit(rows + i * row_size);
        free(rows);
        goto out;
    }
    *rows_out = rows;
    *n_out = n;
    rc = TG_OK;
out:
    release(st, c);
    return rc;
}

static void read_dataset_meta(sqlite3_stmt *s, void *row)
{
    read_dataset(s, 0, row);
}

static void deinit_dataset(void *row)
{
    dataset_row_deinit(row);
}

int store_dataset_list(store *st, dataset_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, Q_DS_LIST, sizeof(dataset_row), read_dataset_meta, deinit_dataset,
                       &rows, n_out);
    *rows_out = rows;
    return rc;
}

/* Deletes row `id` with q_delete unless q_in_use counts a queued or running job that
 * uses it (TG_ECONFLICT); TG_ENOTFOUND when there is no such row. One transaction. */
static int delete_unless_used(store *st, int q_in_use, int q_delete, const char *id)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (begin(c) || !(s = stmt(c, q_in_use)))
        goto out;
    bind_text_static(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    if (sqlite3_column_int64(s, 0) > 0) {
        rc = TG_ECONFLICT;
        goto out;
    }
    if (!(s = stmt(c, q_delete)))
        goto out;
    bind_text_static(s, 1, id);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    rc = sqlite3_changes(c->db) ? commit(c) : TG_ENOTFOUND;
out:
    rollback(c);
    release(st, c);
    return rc;
}

int store_dataset_delete(store *st, const char *id)
{
    return delete_unless_used(st, Q_DS_IN_USE, Q_DS_DELETE, id);
}

/* ---- arrays ------------------------------------------------------------------------ */

/* Removes dir and the files in it (one level: array files). */
static void dir_remove(const char *dir)
{
    char cmd_path[4400];
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(cmd_path, sizeof cmd_path, "%s/%s", dir, e->d_name);
        unlink(cmd_path);
    }
    closedir(d);
    rmdir(dir);
}

struct store_array_writer {
    store *st;
    char job_id[64], name[64];
    char tmp[4400], fin[4300], rel[256];
    size_t rows, cols, bytes, written;
    const char *data;
    int fd, direct;
};

#define DIRECT_ALIGN ((size_t)4096)
#define DIRECT_MIN ((size_t)8 << 20)
#define WRITE_MAX ((size_t)64 << 20)

/* Writes data bytes [w->written, upto) at the same file offsets. */
static int writer_put(store_array_writer *w, size_t upto)
{
    while (w->written < upto) {
        size_t len = upto - w->written;
        len = len > WRITE_MAX ? WRITE_MAX : len;
        if (w->direct)
            len -= len % DIRECT_ALIGN;
        if (len == 0)
            break; /* under one block left for a direct write: the caller's tail */
        ssize_t r = pwrite(w->fd, w->data + w->written, len, (off_t)w->written);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL && w->direct) {
            /* The file system does not take direct I/O after all: buffered from here. */
            int fl = fcntl(w->fd, F_GETFL);
            if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return -1;
            w->direct = 0;
            continue;
        }
        if (r <= 0)
            return -1;
        w->written += (size_t)r;
        if (w->direct && w->written % DIRECT_ALIGN) {
            /* A short direct write left the offset unaligned: buffered for the rest. */
            int fl = fcntl(w->fd, F_GETFL);
            if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return -1;
            w->direct = 0;
        }
    }
    return 0;
}

int store_array_begin(store *st, const char *job_id, const char *name, size_t rows,
                      size_t cols, const double *data, store_array_writer **out, tg_err *err)
{
    size_t n;
    char dir[4096];
    *out = NULL;
    if (!safe_name(job_id) || !safe_name(name) || strlen(job_id) >= 64 || strlen(name) >= 64)
        return tg_err_set(err, TG_EINTERNAL, "bad array name %s/%s", job_id, name);
    if (tg_mul_size(rows, cols ? cols : 1, &n) || n > SIZE_MAX / sizeof(double))
        return tg_err_set(err, TG_EINTERNAL, "array too large");
    store_array_writer *w = calloc(1, sizeof *w);
    if (!w)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    w->st = st;
    snprintf(w->job_id, sizeof w->job_id, "%s", job_id);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->rows = rows;
    w->cols = cols;
    w->bytes = n * sizeof(double);
    w->data = (const char *)data;
    snprintf(dir, sizeof dir, "%s/%s", st->array_dir, job_id);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        free(w);
        return tg_err_set(err, TG_EIO, "cannot create %s: %s", dir, strerror(errno));
    }
    snprintf(w->rel, sizeof w->rel, "%s/%s.f64", job_id, name);
    snprintf(w->fin, sizeof w->fin, "%s/%s", st->array_dir, w->rel);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->fin);
    /* Doubles are written in the machine's order; every supported target is
     * little-endian (checked at start-up by main.c). Written to a temporary name and
     * renamed, so a file that a row names is always complete. */
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    w->direct = w->bytes >= DIRECT_MIN && (uintptr_t)data % DIRECT_ALIGN == 0;
    w->fd = w->direct ? open(w->tmp, flags | O_DIRECT, 0640) : -1;
    if (w->fd < 0) {
        w->direct = 0;
        w->fd = open(w->tmp, flags, 0640);
    }
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return tg_err_set(err, TG_EIO, "cannot write %s/%s: %s", job_id, name, strerror(e));
    }
    *out = w;
    return TG_OK;
}

int store_array_advance(store_array_writer *w, size_t bytes, tg_err *err)
{
    bytes = bytes < w->bytes ? bytes : w->bytes;
    if (w->direct)
        bytes -= bytes % DIRECT_ALIGN;
    if (bytes > w->written && writer_put(w, bytes) != 0)
        return tg_err_set(err, TG_EIO, "cannot write array %s: %s", w->name, strerror(errno));
    return TG_OK;
}

void store_array_abort(store_array_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlink(w->tmp);
    free(w);
}

int store_array_commit(store_array_writer *w, tg_err *err)
{
    store *st = w->st;
    int bad = 0;
    if (w->direct) {
        /* The aligned part directly, the tail (under one block) buffered. */
        size_t aligned = w->bytes - w->bytes % DIRECT_ALIGN;
        bad = writer_put(w, aligned) != 0;
        int fl = fcntl(w->fd, F_GETFL);
        if (!bad && (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0))
            bad = 1;
        w->direct = 0;
    }
    if (!bad)
        bad = writer_put(w, w->bytes) != 0;
    int e = errno;
    if (close(w->fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    w->fd = -1;
    if (bad || rename(w->tmp, w->fin) != 0) {
        if (!bad)
            e = errno;
        unlink(w->tmp);
        tg_err_set(err, TG_EIO, "cannot write array %s: %s", w->name, strerror(e));
        free(w);
        return TG_EIO;
    }
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c) {
        free(w);
        return tg_err_set(err, TG_EIO, "store unavailable");
    }
    if (begin(c) || !(s = stmt(c, Q_ARR_PUT)))
        goto out;
    bind_text_static(s, 1, w->job_id);
    bind_text_static(s, 2, w->name);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)w->rows);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)w->cols);
    bind_text_static(s, 5, w->rel);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    rc = commit(c);
out:
    if (rc == TG_EIO)
        tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
    rollback(c);
    release(st, c);
    free(w);
    return rc;
}

int store_array_put(store *st, const char *job_id, const char *name, size_t rows,
                    size_t cols, const double *data, tg_err *err)
{
    store_array_writer *w;
    int rc = store_array_begin(st, job_id, name, rows, cols, data, &w, err);
    return rc ? rc : store_array_commit(w, err);
}

/* rows, cols and the file of an array. */
static int array_lookup(store *st, const char *job_id, const char *name, size_t *rows,
                        size_t *cols, char *file, size_t file_n)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (!(s = stmt(c, Q_ARR_INFO)))
        goto out;
    bind_text_static(s, 1, job_id);
    bind_text_static(s, 2, name);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *rows = (size_t)sqlite3_column_int64(s, 0);
        *cols = (size_t)sqlite3_column_int64(s, 1);
        if (file)
            col_copy(s, 2, file, file_n);
        rc = TG_OK;
    } else if (step == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    }
    sqlite3_reset(s);
out:
    release(st, c);
    return rc;
}

int store_array_info(store *st, const char *job_id, const char *name, size_t *rows,
                     size_t *cols)
{
    return array_lookup(st, job_id, name, rows, cols, NULL, 0);
}

int store_array_chunk(store *st, const char *job_id, const char *name, size_t idx,
                      double *buf, size_t *n_out)
{
    size_t rows, cols, n;
    char rel[256], path[4400];
    *n_out = 0;
    int rc = array_lookup(st, job_id, name, &rows, &cols, rel, sizeof rel);
    if (rc)
        return rc;
    n = rows * (cols ? cols : 1);
    if (idx * STORE_CHUNK >= n)
        return TG_ENOTFOUND;
    size_t len = n - idx * STORE_CHUNK < STORE_CHUNK ? n - idx * STORE_CHUNK : STORE_CHUNK;
    snprintf(path, sizeof path, "%s/%s", st->array_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TG_EIO;
    size_t got = 0, want = len * sizeof(double);
    off_t off = (off_t)(idx * STORE_CHUNK * sizeof(double));
    while (got < want) {
        ssize_t r = pread(fd, (char *)buf + got, want - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want)
        return TG_EIO;
    *n_out = len;
    return TG_OK;
}

/* ---- models ------------------------------------------------------------------------ */

void model_row_deinit(model_row *m)
{
    if (!m)
        return;
    free(m->meta);
    free(m->weights);
    free(m->initial);
    memset(m, 0, sizeof *m);
}

int store_model_insert(store *st, const char *id, const char *created_at,
                       const char *source_job, const char *meta, const void *weights,
                       size_t weights_len, const void *initial, size_t initial_len,
                       tg_err *err)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return tg_err_set(err, TG_EIO, "store unavailable");
    if (begin(c) || !(s = stmt(c, Q_MODEL_INSERT)))
        goto out;
    bind_text_static(s, 1, id);
    bind_text_static(s, 2, created_at);
    bind_text_static(s, 3, source_job);
    bind_text_static(s, 4, meta);
    sqlite3_bind_blob64(s, 5, weights, weights_len, SQLITE_STATIC);
    if (initial)
        sqlite3_bind_blob64(s, 6, initial, initial_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 6);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    rc = commit(c);
out:
    if (rc)
        tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
    rollback(c);
    release(st, c);
    return rc;
}

static unsigned char *blob_dup(sqlite3_stmt *s, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    *len = 0;
    if (!b)
        return NULL;
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && n > 0)
        memcpy(p, b, (size_t)n);
    *len = p ? (size_t)n : 0;
    return p;
}

static void read_model(sqlite3_stmt *s, int with_weights, model_row *out)
{
    col_copy(s, 0, out->id, sizeof out->id);
    col_copy(s, 1, out->created_at, sizeof out->created_at);
    out->meta = col_dup(s, 2);
    if (with_weights) {
        out->weights = blob_dup(s, 3, &out->weights_len);
        out->initial = blob_dup(s, 4, &out->initial_len);
    }
}

int store_model_get(store *st, const char *id, int with_weights, model_row *out)
{
    conn *c = acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    memset(out, 0, sizeof *out);
    if (!c)
        return TG_EIO;
    if (!(s = stmt(c, with_weights ? Q_MODEL_GET_W : Q_MODEL_GET)))
        goto out;
    bind_text_static(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        read_model(s, with_weights, out);
        rc = (!out->meta || (with_weights && !out->weights)) ? TG_ENOMEM : TG_OK;
    } else if (step == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    }
    if (rc)
        model_row_deinit(out);
out:
    release(st, c);
    return rc;
}

static void read_model_meta(sqlite3_stmt *s, void *row)
{
    read_model(s, 0, row);
}

static void deinit_model(void *row)
{
    model_row_deinit(row);
}

int store_model_list(store *st, model_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, Q_MODEL_LIST, sizeof(model_row), read_model_meta, deinit_model,
                       &rows, n_out);
    *rows_out = rows;
    return rc;
}

int store_model_delete(store *st, const char *id)
{
    return delete_unless_used(st, Q_MODEL_IN_USE, Q_MODEL_DELETE, id);
}
