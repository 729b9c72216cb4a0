/* store.c: SQLite implementation of store.h: open, migrations, the connection pool, the
 * prepared statements and the helpers that the other store files share (store_int.h).
 * The texts of the store's statements are in store_sql.h; no file outside store* has SQL.
 *
 * Connections are pooled: a call takes an idle connection (opening one when none is
 * idle), uses its prepared statements (prepared once, reset after use) and gives it
 * back. Writes are BEGIN IMMEDIATE transactions; the busy timeout makes concurrent
 * writers wait instead of failing. Every value is bound, never formatted into SQL.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../core/embed.h"
#include "log.h"

static const char *const sql_text[Q_N] = {
#define STORE_SQL(id, text) [id] = text,
#include "store_sql.h"
#undef STORE_SQL
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
    /* foreign_keys: job_refs rows go with their job (ON DELETE CASCADE, 0002).
     * secure_delete=FAST, a small autocheckpoint and journal_size_limit keep committed
     * data out of a large WAL, so that a delete on a full disk fits in the spare's room
     * (Debian builds SQLite with secure_delete on: a delete would rewrite every page). */
    sqlite3_exec(c->db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                 "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA secure_delete=FAST; "
                 "PRAGMA journal_size_limit=1048576; PRAGMA wal_autocheckpoint=256;",
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

sqlite3_stmt *store_stmt(conn *c, int q)
{
    if (!c->stmt[q]) {
        if (sqlite3_prepare_v3(c->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[q],
                               NULL) != SQLITE_OK) {
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
    sqlite3_stmt *s = store_stmt(c, q);
    if (!s)
        return SQLITE_ERROR;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

/* ---- the spare file: room kept for deletes on a full disk ---------------------------- */

#define STORE_SPARE_LEN (4L << 20)

static void spare_path(const store *st, char *buf, size_t n)
{
    snprintf(buf, n, "%s.spare", st->path);
}

/* 1 when the filesystem of the database has less than twice the spare's size free. */
static int low_space(const store *st)
{
    struct statvfs v;
    return statvfs(st->path, &v) != 0 ||
           (unsigned long long)v.f_bavail * v.f_frsize < 2ULL * STORE_SPARE_LEN;
}

/* Creates <db>.spare of STORE_SPARE_LEN bytes unless it exists or the space is low (the
 * room it would take back is what the next delete needs); never leaves a partial file. */
static void spare_make(store *st)
{
    char p[4096];
    if (low_space(st))
        return;
    spare_path(st, p, sizeof p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return;
    int ok = posix_fallocate(fd, 0, STORE_SPARE_LEN) == 0;
    if (close(fd) || !ok)
        unlink(p);
}


int store_is_full(store *st)
{
    pthread_mutex_lock(&st->mu);
    int full = st->full;
    pthread_mutex_unlock(&st->mu);
    if (!full)
        return 0;
    /* Room came back without a write to prove it (space freed outside): one may try. */
    return low_space(st);
}

/* Records the outcome of a write: full = 1 after SQLITE_FULL (the disk is full), 0 after
 * a commit. Logs the transitions only, so a full disk gives one line, not one a request. */
static void set_full(store *st, int full)
{
    pthread_mutex_lock(&st->mu);
    int was = st->full;
    st->full = full;
    pthread_mutex_unlock(&st->mu);
    if (full && !was)
        log_msg(LOG_ERROR, "store", "writes fail: the disk is full (SQLITE_FULL); reads and "
                "deletes still work, uploads and submissions get 503", "db", st->path, NULL);
    else if (!full && was) {
        log_msg(LOG_WARN, "store", "writes succeed again", "db", st->path, NULL);
        spare_make(st);
    }
}

static int is_full(conn *c)
{
    return (sqlite3_extended_errcode(c->db) & 0xff) == SQLITE_FULL;
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

static void release(conn *c)
{
    store *st = c->st;
    /* A statement left mid-result would hold a read transaction on an old snapshot,
     * and the connection's next write would fail with SQLITE_BUSY_SNAPSHOT at once
     * instead of waiting: end them all here. */
    if (c->holds_w && is_full(c))
        set_full(st, 1);
    c->probe = 0;
    for (int i = 0; i < Q_N; i++)
        if (c->stmt[i] && sqlite3_stmt_busy(c->stmt[i]))
            sqlite3_reset(c->stmt[i]);
    if (!sqlite3_get_autocommit(c->db))
        exec_q(c, Q_ROLLBACK);
    wunlock(c);
    pthread_mutex_lock(&st->mu);
    c->next = st->idle;
    st->idle = c;
    pthread_mutex_unlock(&st->mu);
}

int store_make_room(store *st, int attempt)
{
    char p[4096];
    spare_path(st, p, sizeof p);
    if (attempt == 0)
        return unlink(p) == 0 || store_make_room(st, 1);
    if (attempt > 1)
        return 0;
    /* Copy the WAL into the database (its freed pages: no growth) and truncate it. */
    conn *c = acquire(st);
    if (!c)
        return 0;
    wlock(c);
    sqlite3_stmt *s = store_stmt(c, Q_CHECKPOINT);
    int ok = s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0;
    if (s)
        sqlite3_reset(s);
    release(c);
    return ok;
}

static int begin(conn *c)
{
    wlock(c);
    if (exec_q(c, Q_BEGIN) == SQLITE_DONE)
        return TG_OK;
    wunlock(c);
    return TG_EIO;
}

int store_commit(conn *c)
{
    int rc = exec_q(c, Q_COMMIT) == SQLITE_DONE ? TG_OK : TG_EIO;
    if (rc == TG_OK && !c->probe)
        set_full(c->st, 0);
    else if (rc != TG_OK && is_full(c))
        set_full(c->st, 1);
    if (rc == TG_OK)
        wunlock(c);
    return rc;
}

int store_start(store *st, store_mode mode, int q, conn **c, sqlite3_stmt **s)
{
    if (s)
        *s = NULL;
    if (!(*c = acquire(st)))
        return TG_EIO;
    if (mode == STORE_WRITE && begin(*c))
        return TG_EIO;
    if (mode == STORE_WRITE_ONE)
        wlock(*c);
    if (s && !(*s = store_stmt(*c, q)))
        return TG_EIO;
    return TG_OK;
}

int store_end(conn *c, int rc)
{
    if (c)
        release(c);
    return rc;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

int store_col_dup(sqlite3_stmt *s, int i, char **out)
{
    /* The type first: it is undefined once the value has been converted. */
    int null = sqlite3_column_type(s, i) == SQLITE_NULL;
    *out = NULL;
    if (null)
        return TG_OK;
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t) /* SQLite could not convert the value: out of memory */
        return TG_ENOMEM;
    *out = strdup((const char *)t);
    return *out ? TG_OK : TG_ENOMEM;
}

void store_col_copy(sqlite3_stmt *s, int i, char *buf, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

int store_run(conn *c, int q, const char *const *text, int n_text, int *changes)
{
    sqlite3_stmt *s = store_stmt(c, q);
    if (!s)
        return TG_EIO;
    for (int i = 0; i < n_text; i++)
        store_bind_text(s, i + 1, text[i]);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE)
        return TG_EIO;
    if (changes)
        *changes = sqlite3_changes(c->db);
    return TG_OK;
}

int store_read_rows(sqlite3_stmt *s, size_t row_size, size_t max, store_row_reader read,
                    store_row_deinit deinit, const void *ud, void **rows_out, size_t *n_out)
{
    size_t n = 0, cap = 16, bytes;
    int rc = TG_OK, step = SQLITE_DONE;
    char *rows = calloc(cap, row_size);
    *rows_out = NULL;
    *n_out = 0;
    if (!rows)
        return TG_ENOMEM;
    while ((max == 0 || n < max) && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            char *grown;
            if (tg_mul3_size(2, cap, row_size, &bytes) || !(grown = realloc(rows, bytes))) {
                rc = TG_ENOMEM;
                goto out;
            }
            rows = grown;
            memset(rows + cap * row_size, 0, cap * row_size);
            cap *= 2;
        }
        /* Counted before reading: a row that fails half-read is deinitialized too. */
        if ((rc = read(s, ud, rows + n++ * row_size)))
            goto out;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = TG_EIO;
        goto out;
    }
    *rows_out = rows;
    *n_out = n;
    rows = NULL;
    n = 0;
out:
    for (size_t i = 0; i < n; i++)
        deinit(rows + i * row_size);
    free(rows);
    return rc;
}

void store_free_fields(void *row, size_t size, void *const *ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);
    memset(row, 0, size);
}

int store_err_io(conn *c, tg_err *err)
{
    if (!c)
        return tg_err_set(err, TG_EIO, "store unavailable");
    return tg_err_set(err, TG_EIO, "store: %s", sqlite3_errmsg(c->db));
}

/* ---- open and migrate -------------------------------------------------------------- */

/* Applies the embedded migrations/NNNN_*.sql with NNNN > PRAGMA user_version, in order,
 * each in one transaction that also sets user_version = NNNN. */
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

/* 1 when c's database is in WAL mode. */
static int is_wal(conn *c)
{
    sqlite3_stmt *s;
    int wal = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &s, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        wal = t && strcmp((const char *)t, "wal") == 0;
    }
    sqlite3_finalize(s);
    return wal;
}

int store_open(const char *path, store **out, tg_err *err)
{
    store *st = calloc(1, sizeof *st);
    conn *c = NULL;
    int rc;
    size_t al = strlen(path) + sizeof ".arrays";
    *out = NULL;
    if (!st)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->wmu, NULL);
    if (!(st->path = strdup(path)) || !(st->array_dir = malloc(al))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(st->array_dir, al, "%s.arrays", path);
    if (mkdir(st->array_dir, 0750) != 0 && errno != EEXIST) {
        rc = tg_err_set(err, TG_EIO, "cannot create %s: %s", st->array_dir, strerror(errno));
        goto out;
    }
    if ((rc = conn_open(path, &c, err)))
        goto out;
    c->st = st;
    if (!is_wal(c)) {
        rc = tg_err_set(err, TG_EIO, "store: cannot use WAL mode on %s", path);
        goto out;
    }
    if ((rc = migrate(c, err)))
        goto out;
    release(c);
    c = NULL;
    spare_make(st);
    *out = st;
out:
    if (rc) {
        conn_close(c);
        store_close(st);
    }
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
    conn *c;
    sqlite3_stmt *s;
    if (store_is_full(st))
        return 0;   /* the probe's small write may still fit where real writes do not */
    int ok = store_start(st, STORE_WRITE, Q_WRITABLE, &c, &s) == TG_OK;
    if (ok)
        c->probe = 1;
    ok = ok && sqlite3_step(s) == SQLITE_DONE && store_commit(c) == TG_OK;
    store_end(c, TG_OK);
    return ok;
}
