/* store_catalog.c: datasets and models in the store (store.h).
 *
 * Both are catalogues of the same form: an id, a creation time, text columns and one or
 * two blobs, listed newest first without their blobs, and deleted only while no queued
 * or running job references them (job_refs, 0002). One routine each for insert, get,
 * list and delete serves both, told apart by a catalog descriptor; only the reading of
 * a kind's own columns differs.
 *
 * A dataset is named by its id or its unique name (the get and resolve statements of
 * store_sql.h match either), a model by its id; a delete resolves the reference to the
 * id first, in its transaction, since job_refs holds ids.
 */
#include "store_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Reads a kind's own columns (2, 3, ...) of the row at s into row, with its blobs or
 * without. TG_OK or TG_ENOMEM; on failure the caller deinitializes the row. */
typedef int (*kind_reader)(sqlite3_stmt *s, store_blobs blobs, void *row);

typedef struct catalog {
    size_t row_size;
    size_t id_off, id_size, created_off, created_size; /* the char[] id and created_at */
    int q_get, q_get_blobs, q_list, q_delete;
    int q_resolve; /* the id of a reference (an id, or a dataset's name) */
    store_ref_type ref_type; /* how job_refs names a reference to it */
    kind_reader read;
    store_row_deinit deinit;
} catalog;

/* offsetof and size of a char[] member, for a catalog descriptor */
#define FIELD(type, member) offsetof(type, member), sizeof(((type *)0)->member)

/* What a catalog read gets besides the row: the catalog and whether blobs are read. */
typedef struct read_ctx {
    const catalog *k;
    store_blobs blobs;
} read_ctx;

/* A store_row_reader: columns 0 (id) and 1 (created_at), then the kind's own. */
static int read_row(sqlite3_stmt *s, const void *ud, void *row)
{
    const read_ctx *x = ud;
    store_col_copy(s, 0, (char *)row + x->k->id_off, x->k->id_size);
    store_col_copy(s, 1, (char *)row + x->k->created_off, x->k->created_size);
    return x->k->read(s, x->blobs, row);
}

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
 * binds SQL NULL). One transaction. TG_OK, TG_ECONFLICT when a unique column is taken
 * (the only one a caller chooses is a dataset's name: the ids are random), or TG_EIO;
 * err set. */
static int insert_row(store *st, int q, const char *const *text, int n_text,
                      const void *const *blob, const size_t *blob_len, int n_blob, tg_err *err)
{
    conn *c;
    sqlite3_stmt *s;
    int rc = store_start(st, STORE_WRITE, q, &c, &s);
    if (rc)
        goto out;
    for (int i = 0; i < n_text; i++)
        store_bind_text(s, i + 1, text[i]);
    for (int i = 0; i < n_blob; i++)
        sqlite3_bind_blob64(s, n_text + i + 1, blob[i], blob_len[i], SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = store_commit(c);
    else if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE)
        rc = tg_err_set(err, TG_ECONFLICT, "the name is taken");
    else
        rc = TG_EIO;
out:
    if (rc == TG_EIO)
        store_err_io(c, err);
    return store_end(c, rc);
}

/* The id of the row of k that ref names into id (n bytes), within c's call. TG_OK,
 * TG_ENOTFOUND or TG_EIO. */
static int resolve_ref(conn *c, const catalog *k, const char *ref, char *id, size_t n)
{
    sqlite3_stmt *s = store_stmt(c, k->q_resolve);
    if (!s)
        return TG_EIO;
    store_bind_text(s, 1, ref);
    int step = sqlite3_step(s), rc = TG_OK;
    if (step == SQLITE_ROW)
        store_col_copy(s, 0, id, n);
    else
        rc = step == SQLITE_DONE ? TG_ENOTFOUND : TG_EIO;
    sqlite3_reset(s);
    return rc;
}

/* Row id of k into row (new fields: k->deinit). TG_OK, TG_ENOTFOUND, TG_ENOMEM, TG_EIO;
 * on failure row is zeroed. */
static int get_row(store *st, const catalog *k, const char *id, store_blobs blobs, void *row)
{
    conn *c;
    sqlite3_stmt *s;
    read_ctx x = {k, blobs};
    int rc = store_start(st, STORE_READ, blobs == STORE_WITH_BLOBS ? k->q_get_blobs : k->q_get,
                         &c, &s);
    memset(row, 0, k->row_size);
    if (rc)
        goto out;
    store_bind_text(s, 1, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = read_row(s, &x, row);
    else
        rc = step == SQLITE_DONE ? TG_ENOTFOUND : TG_EIO;
    if (rc)
        k->deinit(row);
out:
    return store_end(c, rc);
}

/* Every row of k, newest first, without blobs, in a new array (caller frees each row
 * with k->deinit, then the array). TG_OK, TG_ENOMEM or TG_EIO. */
static int list_rows(store *st, const catalog *k, void **rows_out, size_t *n_out)
{
    conn *c;
    sqlite3_stmt *s;
    read_ctx x = {k, STORE_NO_BLOBS};
    int rc = store_start(st, STORE_READ, k->q_list, &c, &s);
    *rows_out = NULL;
    *n_out = 0;
    if (!rc)
        rc = store_read_rows(s, k->row_size, 0, read_row, k->deinit, &x, rows_out, n_out);
    return store_end(c, rc);
}

/* Deletes the row of k that ref names unless a queued or running job references it
 * (TG_ECONFLICT); TG_ENOTFOUND when there is no such row. One transaction. */
static int delete_unless_used(store *st, const catalog *k, const char *ref)
{
    conn *c;
    sqlite3_stmt *s;
    int changes = 0;
    char id[64];
    const char *idp = id;
    int rc = store_start(st, STORE_WRITE, k->q_resolve, &c, NULL);
    if (rc || (rc = resolve_ref(c, k, ref, id, sizeof id)))
        goto out;
    if (!(s = store_stmt(c, Q_REF_IN_USE))) {
        rc = TG_EIO;
        goto out;
    }
    store_bind_text(s, 1, store_ref_type_name(k->ref_type));
    store_bind_text(s, 2, id);
    if (sqlite3_step(s) != SQLITE_ROW)
        rc = TG_EIO;
    else if (sqlite3_column_int64(s, 0) > 0)
        rc = TG_ECONFLICT;
    sqlite3_reset(s);
    if (!rc && !(rc = store_run(c, k->q_delete, &idp, 1, &changes)))
        rc = changes ? store_commit(c) : TG_ENOTFOUND;
out:
    return store_end(c, rc);
}

/* ---- the two kinds, side by side ---------------------------------------------------- */

static int read_dataset(sqlite3_stmt *s, store_blobs blobs, void *row)
{
    dataset_row *d = row;
    int rc = store_col_dup(s, 2, &d->name);
    if (!rc)
        rc = store_col_dup(s, 3, &d->meta);
    if (!rc && blobs == STORE_WITH_BLOBS)
        rc = blob_dup(s, 4, &d->body, &d->body_len);
    return rc;
}

static int read_model(sqlite3_stmt *s, store_blobs blobs, void *row)
{
    model_row *m = row;
    int rc = store_col_dup(s, 2, &m->meta);
    if (rc || blobs != STORE_WITH_BLOBS)
        return rc;
    rc = blob_dup(s, 3, &m->weights, &m->weights_len);
    return rc ? rc : blob_dup(s, 4, &m->initial, &m->initial_len);
}

void dataset_row_deinit(dataset_row *d)
{
    if (d)
        store_free_fields(d, sizeof *d, (void *[]){d->name, d->meta, d->body}, 3);
}

void model_row_deinit(model_row *m)
{
    if (m)
        store_free_fields(m, sizeof *m, (void *[]){m->meta, m->weights, m->initial}, 3);
}

/* store_row_deinit adapters of the two */
static void dataset_row_free_fields(void *row)
{
    dataset_row_deinit(row);
}

static void model_row_free_fields(void *row)
{
    model_row_deinit(row);
}

static const catalog datasets = {
    sizeof(dataset_row), FIELD(dataset_row, id), FIELD(dataset_row, created_at),
    Q_DS_GET, Q_DS_GET_BODY, Q_DS_LIST, Q_DS_DELETE, Q_DS_RESOLVE, STORE_REF_DATASET,
    read_dataset, dataset_row_free_fields};
static const catalog models = {
    sizeof(model_row), FIELD(model_row, id), FIELD(model_row, created_at),
    Q_MODEL_GET, Q_MODEL_GET_W, Q_MODEL_LIST, Q_MODEL_DELETE, Q_MODEL_RESOLVE, STORE_REF_MODEL,
    read_model, model_row_free_fields};

/* ---- the entry points of store.h, by operation ----------------------------------- */

int store_dataset_insert(store *st, const dataset_row *d, tg_err *err)
{
    const char *text[] = {d->id, d->name, d->meta, d->created_at};
    const void *blob[] = {d->body};
    return insert_row(st, Q_DS_INSERT, text, 4, blob, &d->body_len, 1, err);
}

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

int store_dataset_get(store *st, const char *ref, store_blobs blobs, dataset_row *out)
{
    return get_row(st, &datasets, ref, blobs, out);
}

int store_dataset_resolve(store *st, const char *ref, char *id_out, size_t n)
{
    conn *c;
    int rc = store_start(st, STORE_READ, Q_DS_RESOLVE, &c, NULL);
    if (!rc)
        rc = resolve_ref(c, &datasets, ref, id_out, n);
    return store_end(c, rc);
}

int store_model_get(store *st, const char *id, store_blobs blobs, model_row *out)
{
    return get_row(st, &models, id, blobs, out);
}

int store_dataset_list(store *st, dataset_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, &datasets, &rows, n_out);
    *rows_out = rows;
    return rc;
}

int store_model_list(store *st, model_row **rows_out, size_t *n_out)
{
    void *rows;
    int rc = list_rows(st, &models, &rows, n_out);
    *rows_out = rows;
    return rc;
}

int store_dataset_delete(store *st, const char *ref)
{
    int rc = delete_unless_used(st, &datasets, ref);
    /* A delete needs room in the WAL: on a full disk, give it the spare file's room. */
    for (int a = 0; a < 2 && rc == TG_EIO && store_is_full(st) && store_make_room(st, a); a++)
        rc = delete_unless_used(st, &datasets, ref);
    return rc;
}

int store_model_delete(store *st, const char *id)
{
    return delete_unless_used(st, &models, id);
}
