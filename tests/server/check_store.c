/* check_store.c: the SQLite store (server/store*.c): migrations (a 0001-era database
 * migrates), job lifecycle transitions, idempotency, queue limit, recovery, chunked
 * arrays, datasets, and the delete guard of the datasets and models a job references. */
#include <check.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/embed.h"
#include "server/store.h"

static char dbpath[256];
static store *st;

static void setup(void)
{
    char dir[] = "/tmp/tg_store_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    tg_err err;
    ck_assert_int_eq(store_open(dbpath, &st, &err), TG_OK);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %.*s", (int)(strrchr(dbpath, '/') - dbpath), dbpath);
    ck_assert_int_eq(system(cmd), 0);
}

/* Inserts a queued sleep job reading the n_refs refs. */
static void insert_job(const char *id, long long mem, const store_ref *refs, size_t n_refs)
{
    job_row j;
    int existing;
    tg_err err;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.kind, sizeof j.kind, "sleep");
    snprintf(j.created_at, sizeof j.created_at, "2026-01-01T00:00:00.000Z");
    j.request = "{\"kind\":\"sleep\"}";
    j.mem_estimate = mem;
    j.refs = refs;
    j.n_refs = n_refs;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 1000, &existing, &err), TG_OK);
    ck_assert_int_eq(existing, 0);
}

static void insert(const char *id, long long mem)
{
    insert_job(id, mem, NULL, 0);
}

START_TEST(reopen_keeps_schema_and_data)
{
    insert("j_a", 0);
    store_close(st);
    tg_err err;
    ck_assert_int_eq(store_open(dbpath, &st, &err), TG_OK);
    job_row j;
    ck_assert_int_eq(store_job_get(st, "j_a", 0, &j), TG_OK);
    ck_assert_str_eq(j.status, "queued");
    ck_assert_str_eq(j.request, "{\"kind\":\"sleep\"}");
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_get(st, "j_nope", 0, &j), TG_ENOTFOUND);
    ck_assert(store_writable(st));
}
END_TEST

START_TEST(claim_is_fifo_and_respects_memory)
{
    insert("j_1", 100);
    insert("j_2", 10);
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 50, 1000000, "t", "{}", &j, &blocked), TG_ENOTFOUND);
    ck_assert_int_eq(blocked, 1);
    ck_assert_int_eq(store_job_claim(st, 100, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_str_eq(j.id, "j_1");
    ck_assert_int_eq(j.attempt, 1);
    ck_assert_str_eq(j.status, "running");
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_claim(st, 100, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_str_eq(j.id, "j_2");
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_claim(st, 100, 1000000, "t", "{}", &j, &blocked), TG_ENOTFOUND);
    ck_assert_int_eq(blocked, 0);
}
END_TEST

START_TEST(a_job_over_the_budget_fails_instead_of_stalling_the_queue)
{
    insert("j_big", 5000);
    insert("j_small", 10);
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 1000, 1000, "t", "{}", &j, &blocked), TG_ENOTFOUND);
    ck_assert_int_eq(blocked, 2);
    ck_assert_str_eq(j.id, "j_big");
    ck_assert_int_eq(j.event_seq, 2); /* its final event: failed */
    ck_assert_int_eq(store_job_get(st, "j_big", 0, &j), TG_OK);
    ck_assert_str_eq(j.status, "failed");
    ck_assert_ptr_nonnull(strstr(j.error, "\"too_large\""));
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_claim(st, 1000, 1000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_str_eq(j.id, "j_small");
    job_row_deinit(&j);
}
END_TEST

START_TEST(idempotency_key_forgets_a_deleted_job)
{
    job_row j;
    int existing;
    tg_err err;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_k1");
    snprintf(j.kind, sizeof j.kind, "sleep");
    j.request = "{}";
    ck_assert_int_eq(store_job_insert(st, &j, "k", "{}", 10, &existing, &err), TG_OK);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_k1", "t", NULL), TG_OK);
    ck_assert_int_eq(store_job_delete(st, "j_k1"), TG_OK);
    snprintf(j.id, sizeof j.id, "j_k2");
    ck_assert_int_eq(store_job_insert(st, &j, "k", "{}", 10, &existing, &err), TG_OK);
    ck_assert_int_eq(existing, 0);
    ck_assert_str_eq(j.id, "j_k2");
}
END_TEST

START_TEST(cancel_delete_and_finish_transitions)
{
    insert("j_q", 0);
    insert("j_r", 0);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_q", "t", NULL), TG_OK);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_q", "t", NULL), STORE_CANCEL_DONE);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_x", "t", NULL), TG_ENOTFOUND);
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_str_eq(j.id, "j_r");
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_r", "t", NULL), 1);
    ck_assert_int_eq(store_job_delete(st, "j_r"), TG_ECONFLICT);
    double v[3] = {1, 2, 3};
    tg_err err;
    ck_assert_int_eq(store_array_put(st, "j_r", "v", 3, 0, v, &err), TG_OK);
    ck_assert_int_eq(store_job_finish(st, "j_r", "succeeded", "t2", NULL, NULL, "{\"x\":1}"),
                     TG_OK);
    ck_assert_int_eq(store_job_get(st, "j_r", 0, &j), TG_OK);
    ck_assert_str_eq(j.status, "succeeded");
    ck_assert_str_eq(j.result, "{\"x\":1}");
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_delete(st, "j_r"), TG_OK);
    size_t r, c;
    ck_assert_int_eq(store_array_info(st, "j_r", "v", &r, &c), TG_ENOTFOUND);
    ck_assert_int_eq(store_job_delete(st, "j_r"), TG_ENOTFOUND);
}
END_TEST

START_TEST(idempotency_and_queue_limit)
{
    job_row j;
    int existing;
    tg_err err;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_first");
    snprintf(j.kind, sizeof j.kind, "sleep");
    j.request = "{}";
    ck_assert_int_eq(store_job_insert(st, &j, "key1", "{\"a\":1}", 2, &existing, &err), TG_OK);
    snprintf(j.id, sizeof j.id, "j_second");
    ck_assert_int_eq(store_job_insert(st, &j, "key1", "{\"a\":1}", 2, &existing, &err), TG_OK);
    ck_assert_int_eq(existing, 1);
    ck_assert_str_eq(j.id, "j_first");
    snprintf(j.id, sizeof j.id, "j_third");
    ck_assert_int_eq(store_job_insert(st, &j, "key1", "{\"a\":2}", 2, &existing, &err),
                     TG_ECONFLICT);
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 2, &existing, &err), TG_OK);
    snprintf(j.id, sizeof j.id, "j_fourth");
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 2, &existing, &err), TG_EQUEUEFULL);
    long long q, r;
    ck_assert_int_eq(store_job_counts(st, &q, &r), TG_OK);
    ck_assert_int_eq(q, 2);
    ck_assert_int_eq(r, 0);
}
END_TEST

START_TEST(recovery_requeues_then_fails_interrupted)
{
    insert("j_1", 0);
    job_row j;
    int blocked, rq, fl;
    for (int attempt = 1; attempt <= 3; attempt++) {
        ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
        ck_assert_int_eq(j.attempt, attempt);
        job_row_deinit(&j);
        /* The process "dies" here; the next start recovers. */
        ck_assert_int_eq(store_recover(st, 3, "t", &rq, &fl), TG_OK);
        ck_assert_int_eq(rq, attempt < 3);
        ck_assert_int_eq(fl, attempt == 3);
    }
    ck_assert_int_eq(store_job_get(st, "j_1", 0, &j), TG_OK);
    ck_assert_str_eq(j.status, "failed");
    ck_assert_ptr_nonnull(strstr(j.error, "\"interrupted\""));
    job_row_deinit(&j);
}
END_TEST

START_TEST(requeue_does_not_count_the_attempt)
{
    insert("j_1", 0);
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_requeue(st, "j_1", 0, NULL), TG_OK);
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_int_eq(j.attempt, 1);
    job_row_deinit(&j);
}
END_TEST

START_TEST(arrays_span_chunks)
{
    size_t n = 17 * 15500; /* more than two chunks, not a multiple of one */
    double *v = malloc(n * sizeof *v), *buf = malloc(STORE_CHUNK * sizeof *buf);
    for (size_t i = 0; i < n; i++)
        v[i] = (double)i * 0.5;
    tg_err err;
    ck_assert_int_eq(store_array_put(st, "j_a", "big", n / 17, 17, v, &err), TG_OK);
    size_t r, c, got;
    ck_assert_int_eq(store_array_info(st, "j_a", "big", &r, &c), TG_OK);
    ck_assert_uint_eq(r, n / 17);
    ck_assert_uint_eq(c, 17);
    size_t seen = 0;
    for (size_t idx = 0; store_array_chunk(st, "j_a", "big", idx, buf, &got) == TG_OK; idx++) {
        for (size_t i = 0; i < got; i++)
            ck_assert_double_eq(buf[i], (double)(seen + i) * 0.5);
        seen += got;
    }
    ck_assert_uint_eq(seen, n);
    free(v);
    free(buf);
}
END_TEST

/* Streamed arrays (store_array_begin/advance/commit): a page-aligned buffer over the
 * direct-I/O threshold handed over in uneven steps, a size that is not a multiple of a
 * block, and an unaligned buffer (buffered path) read back exactly; an aborted array
 * leaves nothing behind. */
static void check_back(const char *job, const char *name, const double *v, size_t n)
{
    double *buf = malloc(STORE_CHUNK * sizeof *buf);
    size_t seen = 0, got;
    for (size_t idx = 0; store_array_chunk(st, job, name, idx, buf, &got) == TG_OK; idx++) {
        ck_assert_msg(memcmp(buf, v + seen, got * sizeof(double)) == 0, "%s chunk %zu differs",
                      name, idx);
        seen += got;
    }
    ck_assert_uint_eq(seen, n);
    free(buf);
}

START_TEST(arrays_streamed)
{
    const size_t rows = 1531, cols = 1003, n = rows * cols; /* 12.3 MB, odd size */
    double *a = tg_alloc_big(n * sizeof(double));
    double *raw = malloc((n + 1) * sizeof(double)), *b = raw + 1; /* not page-aligned */
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(raw);
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] = (double)i * 0.25 - 7.0;
    tg_err err;
    for (int k = 0; k < 2; k++) {
        const double *v = k ? b : a;
        const char *name = k ? "unaligned" : "aligned";
        store_array_writer *w;
        ck_assert_int_eq(store_array_begin(st, "j_s", name, rows, cols, v, &w, &err), TG_OK);
        size_t steps[] = {1, 4095, 4097, 1000003, 5000000, 5000000, 9000000};
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
            ck_assert_int_eq(store_array_advance(w, steps[i], &err), TG_OK);
        ck_assert_int_eq(store_array_info(st, "j_s", name, &(size_t){0}, &(size_t){0}),
                         TG_ENOTFOUND);
        ck_assert_int_eq(store_array_commit(w, &err), TG_OK);
        size_t r, c;
        ck_assert_int_eq(store_array_info(st, "j_s", name, &r, &c), TG_OK);
        ck_assert_uint_eq(r, rows);
        ck_assert_uint_eq(c, cols);
        check_back("j_s", name, v, n);
    }
    /* Abort: no row, no file (the job's directory holds the two committed files only). */
    store_array_writer *w;
    ck_assert_int_eq(store_array_begin(st, "j_s", "gone", rows, cols, a, &w, &err), TG_OK);
    ck_assert_int_eq(store_array_advance(w, n * 4, &err), TG_OK);
    store_array_abort(w);
    ck_assert_int_eq(store_array_info(st, "j_s", "gone", &(size_t){0}, &(size_t){0}),
                     TG_ENOTFOUND);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls %s.arrays/j_s | wc -l) -eq 2", dbpath);
    ck_assert_int_eq(system(cmd), 0);
    tg_free_big(a);
    free(raw);
}
END_TEST

START_TEST(datasets_and_in_use_guard)
{
    dataset_row d, g;
    tg_err err;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "d_1");
    d.name = "n";
    d.meta = "{\"task\":\"regression\"}";
    unsigned char body[4] = {1, 2, 3, 4};
    d.body = body;
    d.body_len = 4;
    ck_assert_int_eq(store_dataset_insert(st, &d, &err), TG_OK);
    ck_assert_int_eq(store_dataset_get(st, "d_1", 1, &g), TG_OK);
    ck_assert_uint_eq(g.body_len, 4);
    ck_assert_int_eq(memcmp(g.body, body, 4), 0);
    dataset_row_deinit(&g);
    job_row j;
    int existing;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_uses");
    snprintf(j.kind, sizeof j.kind, "ntk");
    j.request = "{}";
    store_ref refs[] = {{STORE_REF_DATASET, "d_1"}};
    j.refs = refs;
    j.n_refs = 1;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 10, &existing, &err), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "d_1"), TG_ECONFLICT);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_uses", "t", NULL), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "d_1"), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "d_1"), TG_ENOTFOUND);
}
END_TEST

static void put_dataset(const char *id)
{
    dataset_row d;
    tg_err err;
    unsigned char body[1] = {0};
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    d.name = "n";
    d.meta = "{}";
    d.body = body;
    d.body_len = 1;
    ck_assert_int_eq(store_dataset_insert(st, &d, &err), TG_OK);
}

static void put_model(const char *id)
{
    tg_err err;
    double w[2] = {1, 2};
    ck_assert_int_eq(store_model_insert(st, id, "t", NULL, "{}", w, sizeof w, NULL, 0, &err),
                     TG_OK);
}

/* Every delete in the list gives want. */
static void assert_deletes(int want)
{
    ck_assert_int_eq(store_dataset_delete(st, "d_A"), want);
    ck_assert_int_eq(store_model_delete(st, "m_1"), want);
    ck_assert_int_eq(store_model_delete(st, "m_2"), want);
}

/* The job_refs rows of job id, read behind the store's back. */
static long long count_refs(const char *id)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    long long n = -1;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM job_refs WHERE job_id = ?1",
                                        -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

START_TEST(referenced_datasets_and_models_are_kept_while_the_job_is_active)
{
    put_dataset("d_A");
    put_model("m_1");
    put_model("m_2");
    /* A duplicate and a NULL id do not fail the insert. */
    const store_ref refs[] = {{STORE_REF_DATASET, "d_A"}, {STORE_REF_MODEL, "m_1"},
                              {STORE_REF_MODEL, "m_2"}, {STORE_REF_MODEL, "m_1"},
                              {STORE_REF_DATASET, NULL}};
    insert_job("j_refs", 0, refs, 5);
    ck_assert_int_eq(count_refs("j_refs"), 3);
    assert_deletes(TG_ECONFLICT); /* queued */
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 0, 1000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_str_eq(j.id, "j_refs");
    job_row_deinit(&j);
    assert_deletes(TG_ECONFLICT); /* running */
    ck_assert_int_eq(store_job_finish(st, "j_refs", "succeeded", "t", NULL, NULL, "{}"), TG_OK);
    assert_deletes(TG_OK);
    assert_deletes(TG_ENOTFOUND);
    /* The references go with their job. */
    ck_assert_int_eq(store_job_delete(st, "j_refs"), TG_OK);
    ck_assert_int_eq(count_refs("j_refs"), 0);
}
END_TEST

START_TEST(references_are_checked_before_the_insert)
{
    store_ref refs[STORE_MAX_REFS + 1];
    job_row j;
    int existing;
    tg_err err;
    for (size_t i = 0; i <= STORE_MAX_REFS; i++)
        refs[i] = (store_ref){STORE_REF_MODEL, "m_x"};
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_many");
    snprintf(j.kind, sizeof j.kind, "train");
    j.request = "{}";
    j.refs = refs;
    j.n_refs = STORE_MAX_REFS + 1;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 100, &existing, &err), TG_EINVAL);
    j.n_refs = STORE_MAX_REFS;
    refs[0].type = (store_ref_type)7;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 100, &existing, &err), TG_EINVAL);
    job_row g;
    ck_assert_int_eq(store_job_get(st, "j_many", STORE_JOB_LIGHT, &g), TG_ENOTFOUND);
    refs[0].type = STORE_REF_DATASET;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 100, &existing, &err), TG_OK);
    ck_assert_int_eq(count_refs("j_many"), 2);
}
END_TEST

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

/* The number of the last embedded migration (NNNN of migrations/NNNN_*.sql). */
static int latest_migration(void)
{
    int n = 0;
    for (size_t i = 0; embed_name(i); i++)
        if (strncmp(embed_name(i), "migrations/", 11) == 0 && atoi(embed_name(i) + 11) > n)
            n = atoi(embed_name(i) + 11);
    return n;
}

START_TEST(a_0001_database_migrates_its_job_references)
{
    /* A database as the code before 0002 left it: schema 0001, user_version 1, jobs
     * whose references are in dataset_ref / model_ref. */
    store_close(st);
    st = NULL;
    snprintf(strrchr(dbpath, '/'), sizeof dbpath - (size_t)(strrchr(dbpath, '/') - dbpath),
             "/old.db");
    const char *init = (const char *)embed_find("migrations/0001_init.sql", NULL);
    ck_assert_ptr_nonnull(init);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, init);
    exec_ok(db, "PRAGMA user_version = 1");
    exec_ok(db, "INSERT INTO jobs (id, kind, status, created_at, request, dataset_ref, model_ref) "
                "VALUES ('j_old', 'ntk', 'queued', 't', '{}', 'd_A', 'm_1'), "
                "('j_run', 'train', 'running', 't', '{}', NULL, 'm_2'), "
                "('j_done', 'ntk', 'succeeded', 't', '{}', 'd_B', NULL)");
    exec_ok(db, "INSERT INTO datasets (id, name, meta, created_at, body) VALUES "
                "('d_A', 'a', '{}', 't', x'00'), ('d_B', 'b', '{}', 't', x'00')");
    exec_ok(db, "INSERT INTO models (id, created_at, meta, weights) VALUES "
                "('m_1', 't', '{}', x'00'), ('m_2', 't', '{}', x'00')");
    sqlite3_close(db);

    tg_err err;
    ck_assert_int_eq(store_open(dbpath, &st, &err), TG_OK);
    ck_assert_int_eq(count_refs("j_old"), 2);
    ck_assert_int_eq(count_refs("j_run"), 1);
    assert_deletes(TG_ECONFLICT);
    ck_assert_int_eq(store_dataset_delete(st, "d_B"), TG_OK); /* its job has finished */
    ck_assert_int_eq(store_job_cancel_queued(st, "j_old", "t", NULL), TG_OK);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_run", "t", NULL), STORE_CANCEL_RUNNING);
    ck_assert_int_eq(store_job_finish(st, "j_run", "failed", "t", "{}", NULL, NULL), TG_OK);
    assert_deletes(TG_OK);
    /* Reopened: nothing is applied twice. */
    store_close(st);
    ck_assert_int_eq(store_open(dbpath, &st, &err), TG_OK);
    ck_assert_int_eq(count_refs("j_old"), 2);
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s, 0), latest_migration());
    sqlite3_finalize(s);
    sqlite3_close(db);
}
END_TEST

/* ---- dataset names (0004) --------------------------------------------------------------- */

static int put_named(const char *id, const char *name)
{
    dataset_row d;
    tg_err err;
    unsigned char body[1] = {0};
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    snprintf(d.created_at, sizeof d.created_at, "t");
    d.name = (char *)name;
    d.meta = "{}";
    d.body = body;
    d.body_len = 1;
    return store_dataset_insert(st, &d, &err);
}

/* The id that ref resolves to ("" when none). */
static const char *resolved(const char *ref)
{
    static char id[64];
    id[0] = '\0';
    int rc = store_dataset_resolve(st, ref, id, sizeof id);
    ck_assert_msg(rc == TG_OK || rc == TG_ENOTFOUND, "resolve %s: %d", ref, rc);
    return id;
}

START_TEST(dataset_names_are_unique_handles)
{
    ck_assert_int_eq(put_named("d_1", "pts"), TG_OK);
    ck_assert_int_eq(put_named("d_2", "pts"), TG_ECONFLICT);
    ck_assert_int_eq(put_named("d_3", ""), TG_OK); /* no name: any number of them */
    ck_assert_int_eq(put_named("d_4", ""), TG_OK);
    ck_assert_int_eq(put_named("d_5", "d_1"), TG_OK); /* a name that is another's id */
    ck_assert_int_eq(put_named("d_6", "busy"), TG_OK);
    ck_assert_str_eq(resolved("pts"), "d_1");
    ck_assert_str_eq(resolved("d_1"), "d_1"); /* the id wins over d_5's name */
    ck_assert_str_eq(resolved("d_4"), "d_4");
    ck_assert_str_eq(resolved(""), ""); /* "" names nothing */
    ck_assert_str_eq(resolved("nope"), "");
    dataset_row g;
    ck_assert_int_eq(store_dataset_get(st, "pts", STORE_WITH_BLOBS, &g), TG_OK);
    ck_assert_str_eq(g.id, "d_1");
    ck_assert_str_eq(g.name, "pts");
    ck_assert_uint_eq(g.body_len, 1);
    dataset_row_deinit(&g);
    ck_assert_int_eq(store_dataset_get(st, "busy", STORE_NO_BLOBS, &g), TG_OK);
    ck_assert_str_eq(g.id, "d_6");
    dataset_row_deinit(&g);
    ck_assert_int_eq(store_dataset_get(st, "", STORE_NO_BLOBS, &g), TG_ENOTFOUND);

    /* The delete guard holds for a dataset named by its name. */
    job_row j;
    int existing;
    tg_err err;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_uses");
    snprintf(j.kind, sizeof j.kind, "ntk");
    j.request = "{}";
    store_ref refs[] = {{STORE_REF_DATASET, "d_6"}};
    j.refs = refs;
    j.n_refs = 1;
    ck_assert_int_eq(store_job_insert(st, &j, NULL, NULL, 10, &existing, &err), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "busy"), TG_ECONFLICT);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_uses", "t", NULL), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "busy"), TG_OK);
    ck_assert_int_eq(store_dataset_delete(st, "busy"), TG_ENOTFOUND);

    /* Deleted by name, the name is free again. */
    ck_assert_int_eq(store_dataset_delete(st, "pts"), TG_OK);
    ck_assert_str_eq(resolved("d_1"), "d_5"); /* now only d_5's name */
    ck_assert_int_eq(put_named("d_7", "pts"), TG_OK);
    ck_assert_str_eq(resolved("pts"), "d_7");
}
END_TEST

START_TEST(a_0002_database_with_duplicate_names_migrates)
{
    /* A database as the code before 0004 left it, with names uploaded several times. */
    store_close(st);
    st = NULL;
    snprintf(strrchr(dbpath, '/'), sizeof dbpath - (size_t)(strrchr(dbpath, '/') - dbpath),
             "/old.db");
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, (const char *)embed_find("migrations/0001_init.sql", NULL));
    exec_ok(db, (const char *)embed_find("migrations/0002_job_refs.sql", NULL));
    exec_ok(db, "PRAGMA user_version = 2");
    exec_ok(db, "INSERT INTO datasets (id, name, meta, created_at, body) VALUES "
                "('d_A', 'p', '{}', 't', x'00'), ('d_B', 'p', '{}', 't', x'00'), "
                "('d_C', 'q', '{}', 't', x'00'), ('d_D', 'p', '{}', 't', x'00'), "
                "('d_E', '', '{}', 't', x'00'), ('d_F', '', '{}', 't', x'00')");
    sqlite3_close(db);

    tg_err err;
    ck_assert_int_eq(store_open(dbpath, &st, &err), TG_OK);
    static const char *const want[][2] = {{"d_A", "p"}, {"d_B", "p (d_B)"}, {"d_C", "q"},
                                          {"d_D", "p (d_D)"}, {"d_E", ""}, {"d_F", ""}};
    for (size_t i = 0; i < 6; i++) {
        dataset_row g;
        ck_assert_int_eq(store_dataset_get(st, want[i][0], STORE_NO_BLOBS, &g), TG_OK);
        ck_assert_str_eq(g.name, want[i][1]);
        dataset_row_deinit(&g);
    }
    ck_assert_str_eq(resolved("p"), "d_A"); /* the oldest keeps the name */
    ck_assert_str_eq(resolved("p (d_D)"), "d_D");
    ck_assert_int_eq(put_named("d_G", "p"), TG_ECONFLICT);
    ck_assert_int_eq(put_named("d_H", "q (2)"), TG_OK);
}
END_TEST

/* The stored events of job id (after, from_attempt as store_job_events) as
 * "seq:type:data|..." into a buffer that lives until the next call. */
static const char *events_text(const char *id, long long after, int from_attempt)
{
    static char buf[4096];
    job_event *e;
    size_t n;
    ck_assert_int_eq(store_job_events(st, id, after, from_attempt, &e, &n), TG_OK);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%lld:%s:%s%s", i ? "|" : "", e[i].seq, e[i].type,
                 e[i].data, e[i].terminal ? ":T" : "");
        job_event_deinit(&e[i]);
    }
    free(e);
    return buf;
}

START_TEST(events_follow_the_transitions_and_coalesce)
{
    insert("j_e", 0);
    ck_assert_str_eq(events_text("j_e", 0, 1), "1:status:{\"status\":\"queued\"}");
    job_row j;
    int blocked;
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_int_eq(j.event_seq, 2);
    job_row_deinit(&j);
    /* Progress without metrics coalesces (3 and 4 replaced by 5); metrics events stay. */
    ck_assert_int_eq(store_job_event_put(st, "j_e", 3, "{\"p\":3}", 1), TG_OK);
    long long seqs[] = {4, 5};
    const char *datas[] = {"{\"p\":4}", "{\"p\":5}"};
    int cos[] = {1, 1};
    ck_assert_int_eq(store_job_events_put(st, "j_e", 2, seqs, datas, cos), TG_OK);
    ck_assert_int_eq(store_job_event_put(st, "j_e", 6, "{\"m\":6}", 0), TG_OK);
    ck_assert_int_eq(store_job_event_put(st, "j_e", 7, "{\"m\":7}", 0), TG_OK);
    ck_assert_int_eq(store_job_event_put(st, "j_e", 9, "{\"p\":9}", 1), TG_OK);
    ck_assert_int_eq(store_job_event_put(st, "j_e", 9, "{\"p\":9}", 0), TG_EIO);
    ck_assert_str_eq(events_text("j_e", 0, 1),
                     "2:status:{\"status\":\"running\"}|5:progress:{\"p\":5}|"
                     "6:progress:{\"m\":6}|7:progress:{\"m\":7}|9:progress:{\"p\":9}");
    ck_assert_str_eq(events_text("j_e", 6, 0), "7:progress:{\"m\":7}|9:progress:{\"p\":9}");
    ck_assert_int_eq(strncmp(events_text("j_e", 0, 0), "1:status:", 9), 0);
    /* Drain: re-queued, then the next attempt continues the ids. */
    long long seq = 0;
    ck_assert_int_eq(store_job_requeue(st, "j_e", 12, &seq), TG_OK);
    ck_assert_int_eq(seq, 12);
    ck_assert_str_eq(events_text("j_e", 0, 1), "12:status:{\"status\":\"queued\"}");
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_int_eq(j.event_seq, 13);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_event_put(st, "j_e", 14, "{\"p\":14}", 1), TG_OK);
    /* Recovery after a crash: the worker may have issued ids it did not store. */
    int rq, fl;
    ck_assert_int_eq(store_recover(st, 5, "t", &rq, &fl), TG_OK);
    ck_assert_int_eq(rq, 1);
    char want[128];
    snprintf(want, sizeof want, "%d:status:{\"status\":\"queued\"}", 14 + STORE_EVENT_GAP);
    ck_assert_str_eq(events_text("j_e", 0, 1), want);
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_int_eq(j.event_seq, 15 + STORE_EVENT_GAP);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_finish_at(st, "j_e", "succeeded", "t", NULL, NULL, "{}", 0, &seq),
                     TG_OK);
    ck_assert_int_eq(seq, 16 + STORE_EVENT_GAP);
    snprintf(want, sizeof want,
             "%d:status:{\"status\":\"running\"}|%d:status:{\"status\":\"succeeded\"}:T",
             15 + STORE_EVENT_GAP, 16 + STORE_EVENT_GAP);
    ck_assert_str_eq(events_text("j_e", 0, 1), want);
    /* A finished job takes no more events; its events go with it. */
    ck_assert_int_eq(store_job_event_put(st, "j_e", 100, "{}", 0), TG_OK);
    ck_assert_str_eq(events_text("j_e", 16 + STORE_EVENT_GAP, 0), "");
    ck_assert_int_eq(store_job_delete(st, "j_e"), TG_OK);
    ck_assert_str_eq(events_text("j_e", 0, 0), "");
    /* A queued job cancelled: queued, cancelled. */
    insert("j_c", 0);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_c", "t", &seq), TG_OK);
    ck_assert_int_eq(seq, 2);
    ck_assert_str_eq(events_text("j_c", 0, 1),
                     "1:status:{\"status\":\"queued\"}|2:status:{\"status\":\"cancelled\"}:T");
}
END_TEST

START_TEST(cancel_requested_is_kept_and_survives_a_crash)
{
    insert("j_a", 0);
    insert("j_b", 0);
    job_row j;
    int blocked, rq, fl;
    ck_assert_int_eq(store_job_cancel_request(st, "j_a"), TG_OK); /* queued: no-op */
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    ck_assert_int_eq(j.cancel_requested, 0);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_claim(st, 0, 1000000, "t", "{}", &j, &blocked), TG_OK);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_cancel_request(st, "j_a"), TG_OK);
    ck_assert_int_eq(store_job_get(st, "j_a", STORE_JOB_LIGHT, &j), TG_OK);
    ck_assert_int_eq(j.cancel_requested, 1);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_a", "t", NULL), STORE_CANCEL_RUNNING);
    /* The process dies: j_a ends cancelled (not re-queued), j_b is re-queued. */
    ck_assert_int_eq(store_recover(st, 5, "t2", &rq, &fl), TG_OK);
    ck_assert_int_eq(rq, 1);
    ck_assert_int_eq(fl, 0);
    ck_assert_int_eq(store_job_get(st, "j_a", STORE_JOB_LIGHT, &j), TG_OK);
    ck_assert_str_eq(j.status, "cancelled");
    ck_assert_str_eq(j.finished_at, "t2");
    ck_assert_int_eq(j.cancel_requested, 0);
    job_row_deinit(&j);
    ck_assert_int_eq(store_job_cancel_queued(st, "j_a", "t", NULL), STORE_CANCEL_DONE);
    char want[128];
    snprintf(want, sizeof want, "%d:status:{\"status\":\"cancelled\"}:T",
             2 + STORE_EVENT_GAP);
    ck_assert_str_eq(events_text("j_a", 2, 0), want);
    ck_assert_int_eq(store_job_get(st, "j_b", STORE_JOB_LIGHT, &j), TG_OK);
    ck_assert_str_eq(j.status, "queued");
    job_row_deinit(&j);
}
END_TEST

START_TEST(job_status_names)
{
    store_job_status s;
    for (int i = STORE_STATUS_QUEUED; i <= STORE_STATUS_CANCELLED; i++) {
        ck_assert_int_eq(store_job_status_parse(store_job_status_name(i), &s), TG_OK);
        ck_assert_int_eq(s, i);
    }
    ck_assert_str_eq(store_job_status_name(STORE_STATUS_CANCELLED), "cancelled");
    ck_assert_ptr_null(store_job_status_name((store_job_status)5));
    ck_assert_int_eq(store_job_status_parse("done", &s), TG_EINVAL);
    ck_assert_int_eq(store_job_status_parse(NULL, &s), TG_EINVAL);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reopen_keeps_schema_and_data);
    tcase_add_test(tc, claim_is_fifo_and_respects_memory);
    tcase_add_test(tc, cancel_delete_and_finish_transitions);
    tcase_add_test(tc, a_job_over_the_budget_fails_instead_of_stalling_the_queue);
    tcase_add_test(tc, idempotency_key_forgets_a_deleted_job);
    tcase_add_test(tc, idempotency_and_queue_limit);
    tcase_add_test(tc, recovery_requeues_then_fails_interrupted);
    tcase_add_test(tc, requeue_does_not_count_the_attempt);
    tcase_add_test(tc, arrays_span_chunks);
    tcase_add_test(tc, arrays_streamed);
    tcase_add_test(tc, datasets_and_in_use_guard);
    tcase_add_test(tc, referenced_datasets_and_models_are_kept_while_the_job_is_active);
    tcase_add_test(tc, references_are_checked_before_the_insert);
    tcase_add_test(tc, a_0001_database_migrates_its_job_references);
    tcase_add_test(tc, job_status_names);
    tcase_add_test(tc, dataset_names_are_unique_handles);
    tcase_add_test(tc, a_0002_database_with_duplicate_names_migrates);
    tcase_add_test(tc, events_follow_the_transitions_and_coalesce);
    tcase_add_test(tc, cancel_requested_is_kept_and_survives_a_crash);
    suite_add_tcase(s, tc);
    return s;
}
