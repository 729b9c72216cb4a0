/* store_catalog.c: datasets and models in the store (store.h).
 *
 * Both are catalogues of the same form: an id, text columns, one or two blobs, listed
 * newest first without their blobs, and deleted only while no queued or running job
 * references them (job_refs, 0002). One routine each for insert, get, list and delete
 * serves both, told apart by a catalog descriptor.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

const char *const store_sql_catalog[Q_N] = {
    [Q_REF_IN_USE] = "SELECT EXISTS (SELECT 1 FROM job_refs r JOIN jobs j ON j.id = r.job_id "
                     "WHERE r.type = ?1 AND r.ref_id = ?2 AND j.status IN "
                     "('queued', 'running'))",
    [Q_DS_INSERT] = "INSERT INTO datasets (id, name, meta, created_at, body) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_DS_GET] = "SELECT id, name, meta, created_at FROM datasets WHERE id = ?1",
    [Q_DS_GET_BODY] = "SELECT id, name, meta, created_at, body FROM datasets WHERE id = ?1",
    [Q_DS_LIST] = "SELECT id, name, meta, created_at FROM datasets ORDER BY seq DESC",
    [Q_DS_DELETE] = "DELETE FROM datasets WHERE id = ?1",
    [Q_MODEL_INSERT] = "INSERT INTO models (id, created_at, source_job, meta, weights, initial) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_MODEL_GET] = "SELECT id, created_at, meta FROM models WHERE id = ?1",
    [Q_MODEL_GET_W] = "SELECT id, created_at, meta, weights, initial FROM models WHERE id = ?1",
    [Q_MODEL_LIST] = "SELECT id, created_at, meta FROM models ORDER BY seq DESC",
    [Q_MODEL_DELETE] = "DELETE FROM models WHERE id = ?1",
};

/* Reads the row at s into row (zeroed), with its blobs or without. TG_OK or TG_ENOMEM;
 * on failure the caller deinitializes the row. */
typedef int (*row_reader)(sqlite3_stmt *s, store_blobs blobs, void *row);
typedef void (*row_deinit)(void *row);

typedef struct catalog {
    size_t row_size;
    int q_get, q_get_blobs, q_list, q_delete;
    store_ref_type ref_type; /* how job_refs names a reference to it */
    row_reader read;
    row_deinit deinit;
} catalog;

/* *out = a copy of blob column i (caller frees with free()), NULL for an SQL NULL; an
 * empty blob is a 1-byte allocation of length 0. TG_OK or TG_ENOMEM. */
static int blob_dup(sqlite3_stmt *s, int i, unsigned char **out, size_t *len)
{
    int null = sqlite3_column_type(s, i) == SQLITE_NULL;
    *out = NULL;
    *len = 0;
    if (null)
        return TG_OK;
    const void *b = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    if (!b && n > 0)
        return TG_ENOMEM;
    /* Datasets and weights are read whole into arrays of up to gigabytes: huge pages. */
    if (!(*out = tg_alloc_huge(n > 0 ? (size_t)n : 1)))
        return TG_ENOMEM;
    if (n > 0)
        memcpy(*out, b, (size_t)n);
    *len = (size_t)n;
    return TG_OK;
}

/* Inserts one row with q: text parameters 1..n_text, then blob parameters (a NULL blob
 * binds SQL NULL). One transaction. TG_OK or TG_EIO. */
static int insert_row(store *st, int q, const char *const *text, int n_text,
                      const void *const *blob, const size_t *blob_len, int n_blob, tg_err *err)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return store_err_io(NULL, err);
    if (store_begin(c) || !(s = store_stmt(c, q)))
        goto out;
    for (int i = 0; i < n_text; i++)
        store_bind_text(s, i + 1, text[i]);
    for (int i = 0; i < n_blob; i++)
        sqlite3_bind_blob64(s, n_text + i + 1, blob[i], blob_len[i], SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    sqlite3_reset(s);
    rc = store_commit(c);
out:
    if (rc)
        store_err_io(c, err);
    store_rollback(c);
    store_release(st, c);
    return rc;
}

static int get_row(store *st, const catalog *k, const char *id, store_blobs blobs, void *row)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    memset(row, 0, k->row_size);
    if (!c)
        return TG_EIO;
    if (!(s = store_stmt(c, blobs == STORE_WITH_BLOBS ? k->q_get_blobs : k->q_get)))
        goto out;
    store_bind_text(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = k->read(s, blobs, row);
    else if (step == SQLITE_DONE)
        rc = TG_ENOTFOUND;
    if (rc)
        k->deinit(row);
out:
    store_release(st, c);
    return rc;
}

/* Every row of k's listing, without blobs, in a new array (caller frees each row with
 * k->deinit, then the array). TG_OK, TG_ENOMEM or TG_EIO. */
static int list_rows(store *st, const catalog *k, void **rows_out, size_t *n_out)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO, step;
    size_t n = 0, cap = 16, bytes;
    char *rows = NULL;
    *rows_out = NULL;
    *n_out = 0;
    if (!c)
        return TG_EIO;
    if (!(s = store_stmt(c, k->q_list)))
        goto out;
    if (!(rows = calloc(cap, k->row_size))) {
        rc = TG_ENOMEM;
        goto out;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            char *r;
            if (tg_mul3_size(2, cap, k->row_size, &bytes) || !(r = realloc(rows, bytes))) {
                rc = TG_ENOMEM;
                goto out;
            }
            rows = r;
            memset(rows + cap * k->row_size, 0, cap * k->row_size);
            cap *= 2;
        }
        /* Counted before reading: a row that fails half-read is deinitialized too. */
        if ((rc = k->read(s, STORE_NO_BLOBS, rows + n++ * k->row_size)))
            goto out;
    }
    if (step != SQLITE_DONE) {
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
        k->deinit(rows + i * k->row_size);
    free(rows);
    store_release(st, c);
    return rc;
}

/* Deletes row id of k unless a queued or running job references it (TG_ECONFLICT);
 * TG_ENOTFOUND when there is no such row. One transaction. */
static int delete_unless_used(store *st, const catalog *k, const char *id)
{
    conn *c = store_acquire(st);
    sqlite3_stmt *s;
    int rc = TG_EIO;
    if (!c)
        return TG_EIO;
    if (store_begin(c) || !(s = store_stmt(c, Q_REF_IN_USE)))
        goto out;
    store_bind_text(s, 1, store_ref_type_name(k->ref_type));
    store_bind_text(s, 2, id);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    if (sqlite3_column_int64(s, 0) > 0) {
        rc = TG_ECONFLICT;
        goto out;
    }
    if (!(s = store_stmt(c, k->q_delete)))
        goto out;
    store_bind_text(s, 1, id);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    rc = sqlite3_changes(c->db) ? store_commit(c) : TG_ENOTFOUND;
out:
    store_rollback(c);
    store_release(st, c);
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

static int read_dataset(sqlite3_stmt *s, store_blobs blobs, void *row)
{
    dataset_row *d = row;
    int rc;
    store_col_copy(s, 0, d->id, sizeof d->id);
    store_col_copy(s, 3, d->created_at, sizeof d->created_at);
    if ((rc = store_col_dup(s, 1, &d->name)) || (rc = store_col_dup(s, 2, &d->meta)))
        return rc;
    return blobs == STORE_WITH_BLOBS ? blob_dup(s, 4, &d->body, &d->body_len) : TG_OK;
}

static void deinit_dataset(void *row)
{
    dataset_row_deinit(row);
}

static const catalog datasets = {sizeof(dataset_row), Q_DS_GET, Q_DS_GET_BODY, Q_DS_LIST,
                                 Q_DS_DELETE, STORE_REF_DATASET, read_dataset, deinit_dataset};

int store_dataset_insert(store *st, const dataset_row *d, tg_err *err)
{
    const char *text[] = {d->id, d->name, d->meta, d->created_at};
    const void *blob[] = {d->body};
    return insert_row(st, Q_DS_INSERT, text, 4, blob, &d->body_len, 1, err);
}

int store_dataset_get(store *st, const char *id, store_blobs blobs, dataset_row *out)
{
    return get_row(st, &datasets, id, blobs, out);
}

int store_dataset_list(store *st, dataset_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, &datasets, &rows, n_out);
    *rows_out = rows;
    return rc;
}

int store_dataset_delete(store *st, const char *id)
{
    return delete_unless_used(st, &datasets, id);
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

static int read_model(sqlite3_stmt *s, store_blobs blobs, void *row)
{
    model_row *m = row;
    int rc;
    store_col_copy(s, 0, m->id, sizeof m->id);
    store_col_copy(s, 1, m->created_at, sizeof m->created_at);
    if ((rc = store_col_dup(s, 2, &m->meta)) || blobs != STORE_WITH_BLOBS)
        return rc;
    if ((rc = blob_dup(s, 3, &m->weights, &m->weights_len)))
        return rc;
    return blob_dup(s, 4, &m->initial, &m->initial_len);
}

static void deinit_model(void *row)
{
    model_row_deinit(row);
}

static const catalog models = {sizeof(model_row), Q_MODEL_GET, Q_MODEL_GET_W, Q_MODEL_LIST,
                               Q_MODEL_DELETE, STORE_REF_MODEL, read_model, deinit_model};

int store_model_insert(store *st, const char *id, const char *created_at,
                       const char *source_job, const char *meta, const void *weights,
                       size_t weights_len, const void *initial, size_t initial_len,
                       tg_err *err)
{
    const char *text[] = {id, created_at, source_job, meta};
    const void *blob[] = {weights, initial};
    const size_t len[] = {weights_len, initial ? initial_len : 0};
    return insert_row(st, Q_MODEL_INSERT, text, 4, blob, len, 2, err);
}

int store_model_get(store *st, const char *id, store_blobs blobs, model_row *out)
{
    return get_row(st, &models, id, blobs, out);
}

int store_model_list(store *st, model_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, &models, &rows, n_out);
    *rows_out = rows;
    return rc;
}

int store_model_delete(store *st, const char *id)
{
    return delete_unless_used(st, &models, id);
}
