/* check_fault.c: "every allocation site in server/, api/ and core/ is checked", tested by
 * making each single allocation of a scenario fail in turn (fault.h). Verdict per failed
 * allocation: no crash or sanitizer report, no block left allocated, and either a
 * negative tg_status or success with exactly the output of the clean run (a jansson
 * constructor whose NULL was ignored shows up as a success with a field missing).
 *
 * Scenarios, one Check test each: kinds_validate of train and ntk requests (builtin,
 * generated, inline and uploaded data, an init_model) compared as sorted JSON text with
 * the plan; the kinds' run functions with an in-memory job_io (result JSON without its
 * timings, the stored arrays as checksums, the saved models' metadata); data uploads
 * (JSON, CSV) and the storage round trip; model upload, encode, storage round trip and
 * predict; GET /v1/kinds; the store (jobs, datasets, models, arrays) on a temporary
 * database, where success must mean the row reads back whole; server/catalog.c and the
 * error bodies.
 *
 * `check_fault [scenario]` runs all or the one named. Environment: FAULT_AT=i runs only
 * allocation i, in-process (for gdb; with CK_FORK=no); FAULT_LSAN=1 (ASan builds) asks
 * LeakSanitizer after every failure point, not only when a block is missing;
 * FAULT_JANSSON=1 also fails allocations deep inside jansson's own parser/encoder. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/data.h"
#include "api/kinds.h"
#include "api/model.h"
#include "api/errors.h"
#include "server/catalog.h"
#include "server/store.h"
#include "tests/fault/fault.h"

extern void openblas_set_num_threads(int n);

/* ---- fixtures (built once, unarmed) -------------------------------------------------- */

static const char *const toy_upload =
    "{\"name\":\"toy\",\"x\":[[0,1],[1,0],[2,2],[0.5,1.5],[1,1],[3,0]],"
    "\"y\":[\"a\",\"b\",\"a\",\"b\",\"a\",\"b\"],\"x_test\":[[1,2]],\"y_test\":[\"b\"]}";
static const char *const toy_csv =
    "f1,f2,label\r\n0,1,3\r\n1,0,5\r\n\"2\",2,3\r\n0.5,1.5,5\r\n1,1,3\r\n3,0,5\r\n";
static const char *const toy_model =
    "{\"arch\":{\"input_dim\":2,\"hidden\":[3],\"output_dim\":2},\"task\":\"classification\","
    "\"n_classes\":2,\"classes\":[\"a\",\"b\"],\"layers\":[{\"weight\":[[1,2],[3,4],[-1,0.5]],"
    "\"bias\":[0,0.1,0]},{\"weight\":[[1,1,1],[0,-1,2]],\"bias\":[0,0.2]}],"
    "\"initial_layers\":[{\"weight\":[[1,0],[0,1],[1,1]],\"bias\":[0,0,0]},"
    "{\"weight\":[[1,0,0],[0,1,0]],\"bias\":[0,0]}],"
    "\"preprocessing\":{\"standardize\":{\"mean\":[1,1],\"std\":[2,1]},\"unit_norm\":false}}";

static unsigned char *toy_blob; /* data_serialize of toy_upload */
static size_t toy_blob_len;
static char *model_meta;        /* model_meta_text of toy_model */
static double *model_theta, *model_theta0;
static size_t model_P;

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v) {
        fprintf(stderr, "check_fault: bad fixture JSON %s: %s\n", text, je.text);
        abort();
    }
    return v;
}

static int load_dataset(void *ud, const char *id, tg_dataset **out, tg_err *err)
{
    (void)ud;
    *out = NULL;
    if (strcmp(id, "d_toy") != 0)
        return tg_err_set(err, TG_ENOTFOUND, "no dataset %s", id);
    return data_deserialize(toy_blob, toy_blob_len, out, err);
}

static int load_model(void *ud, const char *id, tg_model **out, tg_err *err)
{
    (void)ud;
    *out = NULL;
    if (strcmp(id, "m_toy") != 0)
        return tg_err_set(err, TG_ENOTFOUND, "no model %s", id);
    return model_from_stored(model_meta, model_theta, model_P * sizeof(double), model_theta0,
                             model_P * sizeof(double), out, err);
}

static const kind_src src = {.data = {.load = load_dataset}, .load_model = load_model};

static void fixtures_init(void)
{
    tg_err err;
    char *name = NULL;
    tg_dataset *ds = NULL;
    json_t *b = parse(toy_upload);
    if (data_upload_json(b, &name, &ds, &err) ||
        data_serialize(ds, &toy_blob, &toy_blob_len)) {
        fprintf(stderr, "check_fault: toy dataset: %s\n", err.msg);
        abort();
    }
    json_decref(b);
    free(name);
    dataset_free(ds);
    tg_model *m = NULL;
    b = parse(toy_model);
    if (model_decode_upload(b, &m, &err) || !(model_meta = model_meta_text(m))) {
        fprintf(stderr, "check_fault: toy model: %s (%s)\n", err.msg, err.field);
        abort();
    }
    json_decref(b);
    model_P = m->P;
    model_theta = malloc(m->P * sizeof(double));
    model_theta0 = malloc(m->P * sizeof(double));
    memcpy(model_theta, m->theta, m->P * sizeof(double));
    memcpy(model_theta0, m->theta0, m->P * sizeof(double));
    model_free(m);
}

static void out_add(char **out, const char *text)
{
    *out = fault_append(*out, text);
}

static void out_json(char **out, const json_t *v)
{
    char *t = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!t)
        abort();
    out_add(out, t);
    free(t);
}

/* An error carrier as a caller may pass it: not cleared. A function that returns
 * err->code without having set it returns this positive code (a bad status). */
static void poison(tg_err *e)
{
    memset(e, 0, sizeof *e);
    e->code = 7777;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* ---- 1. validation ------------------------------------------------------------------- */

static const char *const requests[] = {
    "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"hidden\":[8],\"epochs\":2}}",
    "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"depth\":2,"
    "\"regression\":{\"ridge\":1e-3},\"spectrum\":true,\"complexity\":true}}",
    "{\"kind\":\"train\",\"data\":{\"dataset\":\"d_toy\"},\"label\":\"toy\","
    "\"params\":{\"init_model\":\"m_toy\",\"epochs\":3,\"batch_size\":2}}",
    "{\"kind\":\"ntk\",\"data\":{\"inline\":{\"x\":[[1,2],[3,-1],[0,1],[2,2]],"
    "\"y\":[0.5,1.5,1,0]}},\"params\":{\"depth\":1}}",
    "{\"kind\":\"train\",\"data\":{\"builtin\":\"two_moons\",\"n\":60,\"standardize\":true},"
    "\"params\":{\"hidden\":[4],\"epochs\":3,\"validation_fraction\":0.25,"
    "\"early_stopping\":{\"patience\":1},\"optimizer\":{\"name\":\"adam\"},"
    "\"schedule\":{\"name\":\"cosine\"},\"track\":{\"sharpness_every\":1}}}",
};
#define N_REQ (sizeof requests / sizeof requests[0])
static json_t *req_json[N_REQ];
static json_t *filled_json[N_REQ]; /* from a clean kinds_validate */

static int sc_validate(void *ud, char **out)
{
    size_t r = (size_t)(uintptr_t)ud;
    kind_env env = {.src = src, .test_kinds = 0};
    kind_plan plan;
    json_t *filled = NULL;
    tg_err err;
    memset(&plan, 0, sizeof plan);
    poison(&err);
    int rc = kinds_validate(req_json[r], &env, &filled, &plan, &err);
    fault_disarm();
    if (rc)
        return json_decref(filled), rc;
    *out = NULL;
    out_json(out, filled);
    char line[512];
    snprintf(line, sizeof line, "memory %.17g flops %.17g refs %zu", plan.memory_bytes,
             plan.flops, plan.n_refs);
    out_add(out, line);
    for (size_t i = 0; i < plan.n_refs; i++)
        out_add(out, plan.refs[i].id);
    json_decref(filled);
    return TG_OK;
}

/* ---- 2. runs, with an in-memory job_io ----------------------------------------------- */

typedef struct mem_io {
    char *log; /* real allocator: one line per array or model */
} mem_io;

typedef struct mem_writer {
    mem_io *io;
    char name[64];
    size_t rows, cols, advanced;
    const double *data;
} mem_writer;


static void mem_note(mem_io *io, const char *what, const char *name, size_t rows,
                     size_t cols, const double *data)
{
    char line[256];
    size_t n = rows * (cols ? cols : 1);
    snprintf(line, sizeof line, "%s %s %zu x %zu fnv %016llx", what, name, rows, cols,
             (unsigned long long)fnv(data, n * sizeof(double), 1469598103934665603ULL));
    io->log = fault_append(io->log, line);
}

static int mem_progress(void *ud, double fraction, const char *msg, json_t *metrics)
{
    (void)ud;
    (void)fraction;
    (void)msg;
    json_decref(metrics);
    return 0;
}

/* A store copies the array: that allocation may fail too. */
static int mem_put_array(void *ud, const char *name, size_t rows, size_t cols,
                         const double *data, tg_err *err)
{
    size_t bytes = rows * (cols ? cols : 1) * sizeof(double);
    double *copy = malloc(bytes ? bytes : 1);
    if (!copy)
        return tg_err_set(err, TG_ENOMEM, "out of memory storing %s", name);
    memcpy(copy, data, bytes);
    mem_note(ud, "array", name, rows, cols, copy);
    free(copy);
    return TG_OK;
}

static int mem_array_begin(void *ud, const char *name, size_t rows, size_t cols,
                           const double *data, void **h, tg_err *err)
{
    mem_writer *w = malloc(sizeof *w);
    *h = w;
    if (!w)
        return tg_err_set(err, TG_ENOMEM, "out of memory opening %s", name);
    w->io = ud;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->rows = rows;
    w->cols = cols;
    w->data = data;
    w->advanced = 0;
    return TG_OK;
}

static int mem_array_advance(void *h, size_t bytes, tg_err *err)
{
    (void)err;
    mem_writer *w = h;
    if (bytes > w->advanced)
        w->advanced = bytes;
    return TG_OK;
}

static int mem_array_end(void *h, int commit, tg_err *err)
{
    (void)err;
    mem_writer *w = h;
    if (!w)
        return TG_OK;
    if (commit)
        mem_note(w->io, "stream", w->name, w->rows, w->cols, w->data);
    free(w);
    return TG_OK;
}

static int mem_save_model(void *ud, tg_model *m, tg_err *err)
{
    mem_io *io = ud;
    snprintf(m->id, sizeof m->id, "m_saved");
    snprintf(m->created_at, sizeof m->created_at, "2026-01-01T00:00:00Z");
    snprintf(m->source_job, sizeof m->source_job, "j_fault");
    char *meta = model_meta_text(m);
    if (!meta)
        return tg_err_set(err, TG_ENOMEM, "out of memory encoding the model");
    io->log = fault_append(io->log, "model");
    io->log = fault_append(io->log, meta);
    free(meta);
    mem_note(io, "weights", m->id, m->P, 0, m->theta);
    if (m->theta0)
        mem_note(io, "initial", m->id, m->P, 0, m->theta0);
    return TG_OK;
}

/* Fields that differ from run to run by nature (timings). */
static void strip_timings(json_t *v)
{
    static const char *const keys[] = {"time_s", "load_s", "store_s", "samples_per_s",
                                       "train_s", "kernel_s", NULL};
    size_t i;
    json_t *e;
    if (json_is_object(v)) {
        for (i = 0; keys[i]; i++)
            json_object_del(v, keys[i]);
        const char *k;
        json_object_foreach(v, k, e)
            strip_timings(e);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            strip_timings(e);
    }
}

static int sc_run(void *ud, char **out)
{
    size_t r = (size_t)(uintptr_t)ud;
    const json_t *req = filled_json[r];
    const tg_kind *k = kinds_find(json_string_value(json_object_get(req, "kind")), 0);
    mem_io mio = {NULL};
    job_io io = {.ud = &mio, .job_id = "j_fault", .src = src, .threads = 1,
                 .progress = mem_progress, .put_array = mem_put_array,
                 .array_begin = mem_array_begin, .array_advance = mem_array_advance,
                 .array_end = mem_array_end, .save_model = mem_save_model};
    json_t *res = NULL, *partial = NULL;
    tg_err err;
    poison(&err);
    int rc = k ? kinds_run(k, req, &io, &res, &partial, &err) : TG_EINTERNAL;
    fault_disarm();
    json_decref(partial);
    if (rc == TG_OK && !res)
        rc = 1; /* a success without a result: reported as a bad status */
    if (rc) {
        json_decref(res);
        fault_free(mio.log);
        return rc;
    }
    strip_timings(res);
    *out = NULL;
    out_json(out, res);
    out_add(out, mio.log ? mio.log : "");
    json_decref(res);
    fault_free(mio.log);
    return TG_OK;
}

/* ---- 3. data and models ------------------------------------------------------------- */

static json_t *upload_body, *model_body;

static int sc_data(void *ud, char **out)
{
    (void)ud;
    char *name = NULL;
    tg_dataset *ds = NULL, *ds2 = NULL, *ds3 = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *m1 = NULL, *a1 = NULL, *m2 = NULL, *a2 = NULL;
    tg_err err;
    data_csv_opts o = {NULL, NULL, 0.25, 7};
    int rc;
    poison(&err);
    if ((rc = data_upload_json(upload_body, &name, &ds, &err)) ||
        (rc = data_upload_csv(toy_csv, strlen(toy_csv), &o, &ds2, &err)) ||
        (rc = data_serialize(ds, &buf, &len)) ||
        (rc = data_deserialize(buf, len, &ds3, &err)))
        goto done;
    if (!(m1 = data_meta_json(ds3)) || !(a1 = data_arrays_json(ds3)) ||
        !(m2 = data_meta_json(ds2)) || !(a2 = data_arrays_json(ds2)))
        rc = TG_ENOMEM;
done:
    fault_disarm();
    if (rc == TG_OK) {
        char line[64];
        *out = NULL;
        out_add(out, name ? name : "(null name)");
        out_json(out, m1);
        out_json(out, a1);
        out_json(out, m2);
        out_json(out, a2);
        snprintf(line, sizeof line, "blob %zu %016llx", len,
                 (unsigned long long)fnv(buf, len, 1469598103934665603ULL));
        out_add(out, line);
    }
    free(name);
    free(buf);
    dataset_free(ds);
    dataset_free(ds2);
    dataset_free(ds3);
    json_decref(m1);
    json_decref(a1);
    json_decref(m2);
    json_decref(a2);
    return rc;
}

static int sc_model(void *ud, char **out)
{
    (void)ud;
    static const double x[] = {3, 2, 0, 0, -1, 4};
    tg_model *m = NULL, *m2 = NULL;
    json_t *e1 = NULL, *e2 = NULL, *p = NULL, *arch = NULL;
    char *meta = NULL;
    tg_err err;
    poison(&err);
    int rc;
    if ((rc = model_decode_upload(model_body, &m, &err)))
        goto done;
    if (!(e1 = model_encode(m, 1, 1)) || !(meta = model_meta_text(m))) {
        rc = TG_ENOMEM;
        goto done;
    }
    if ((rc = model_from_stored(meta, m->theta, m->P * sizeof(double), m->theta0,
                                m->P * sizeof(double), &m2, &err)))
        goto done;
    if (!(e2 = model_encode(m2, 1, 0)) || !(arch = model_arch_json(&m2->arch))) {
        rc = TG_ENOMEM;
        goto done;
    }
    if (!(p = model_predict_json(m2, x, 3, &err)))
        rc = err.code != 7777 ? err.code : TG_ENOMEM;
done:
    fault_disarm();
    if (rc == TG_OK) {
        *out = NULL;
        out_json(out, e1);
        out_add(out, meta);
        out_json(out, e2);
        out_json(out, arch);
        out_json(out, p);
    }
    json_decref(e1);
    json_decref(e2);
    json_decref(p);
    json_decref(arch);
    free(meta);
    model_free(m);
    model_free(m2);
    return rc;
}

/* ud: 0 the kinds list, 1 one kind's full schema (train), 2 the builtins list. */
static int sc_describe(void *ud, char **out)
{
    json_t *d = NULL;
    tg_err err;
    int rc = TG_OK;
    poison(&err);
    if (ud == (void *)0)
        d = kinds_describe_all(0);
    else if (ud == (void *)1)
        rc = kinds_describe_one("train", 0, &d);
    else
        d = data_builtins_json(&err);
    fault_disarm();
    if (rc)
        return rc;
    if (!d)
        return TG_ENOMEM;
    *out = NULL;
    out_json(out, d);
    json_decref(d);
    return TG_OK;
}

/* ---- 4. the store --------------------------------------------------------------------- */

static void rm_db(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-wal' '%s-shm' '%s.arrays' '%s.spare'", path, path,
             path, path, path);
    if (system(cmd) != 0)
        fprintf(stderr, "check_fault: %s failed\n", cmd);
}

static void job_line(char **out, const char *what, const job_row *j)
{
    char line[2048];
    snprintf(line, sizeof line,
             "%s %s %s %s %s %s %s %d label=%s request=%s progress=%s error=%s result=%s "
             "t=%g notify=%s mem=%lld",
             what, j->id, j->kind, j->status, j->created_at, j->started_at, j->finished_at,
             j->attempt, j->label ? j->label : "-", j->request ? j->request : "-",
             j->progress ? j->progress : "-", j->error ? j->error : "-",
             j->result ? j->result : "-", j->timeout_s, j->notify_url ? j->notify_url : "-",
             j->mem_estimate);
    *out = fault_append(*out, line);
}

static int sc_store(void *ud, char **out)
{
    (void)ud;
    char path[256];
    /* fixed width: SQLite's allocation count depends on the length of the path */
    snprintf(path, sizeof path, "/tmp/tg_fault_%010d.db", (int)getpid());
    rm_db(path);
    store *st = NULL;
    tg_err err;
    char *log = NULL, line[512];
    int rc, existing = 0, blocked = 0;
    job_row got, claimed, *rows = NULL;
    size_t n_rows = 0;
    long long next = 0;
    dataset_row d, dg;
    model_row mg;
    memset(&got, 0, sizeof got);
    memset(&claimed, 0, sizeof claimed);
    memset(&dg, 0, sizeof dg);
    memset(&mg, 0, sizeof mg);
    poison(&err);
    if ((rc = store_open(path, &st, &err)))
        goto done;
    job_row j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "j_1");
    snprintf(j.kind, sizeof j.kind, "train");
    snprintf(j.created_at, sizeof j.created_at, "2026-01-01T00:00:00Z");
    j.label = "lbl";
    j.request = "{\"kind\":\"train\"}";
    j.timeout_s = 5;
    j.mem_estimate = 1000;
    store_ref refs[] = {{STORE_REF_DATASET, "d_1"}};
    j.refs = refs;
    j.n_refs = 1;
    if ((rc = store_job_insert(st, &j, "key1", "{\"kind\":\"train\"}", 10, &existing, &err)))
        goto done;
    if ((rc = store_job_claim(st, 1 << 20, 1 << 20, "2026-01-01T00:00:01Z", "{\"p\":1}",
                              &claimed, &blocked)))
        goto done;
    log = fault_append(log, "claimed");
    job_line(&log, "claim", &claimed);
    if ((rc = store_job_set_progress(st, "j_1", "{\"fraction\":0.5}")) ||
        (rc = store_job_finish(st, "j_1", "succeeded", "2026-01-01T00:00:02Z", NULL, NULL,
                               "{\"r\":1}")) ||
        (rc = store_job_get(st, "j_1", 0, &got)))
        goto done;
    job_line(&log, "get", &got);
    job_filter f = {NULL, NULL, NULL, 0, 10};
    if ((rc = store_job_list(st, &f, &rows, &n_rows, &next)))
        goto done;
    for (size_t i = 0; i < n_rows; i++)
        job_line(&log, "list", &rows[i]);
    static const unsigned char body[] = {1, 2, 3, 4, 5};
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "d_1");
    d.name = "toy";
    d.meta = "{\"n_train\":5}";
    snprintf(d.created_at, sizeof d.created_at, "2026-01-01T00:00:03Z");
    d.body = (unsigned char *)body;
    d.body_len = sizeof body;
    if ((rc = store_dataset_insert(st, &d, &err)) ||
        (rc = store_dataset_get(st, "d_1", 1, &dg)))
        goto done;
    snprintf(line, sizeof line, "dataset %s %s %s %s %zu %016llx", dg.id, dg.name, dg.meta,
             dg.created_at, dg.body_len,
             (unsigned long long)fnv(dg.body, dg.body_len, 1469598103934665603ULL));
    log = fault_append(log, line);
    static const double w[] = {1, 2, 3}, w0[] = {0, 0, 1};
    if ((rc = store_model_insert(st, "m_1", "2026-01-01T00:00:04Z", "j_1", "{\"P\":3}", w,
                                 sizeof w, w0, sizeof w0, &err)) ||
        (rc = store_model_get(st, "m_1", 1, &mg)))
        goto done;
    snprintf(line, sizeof line, "model %s %s %s %zu %016llx %zu %016llx", mg.id, mg.created_at,
             mg.meta, mg.weights_len,
             (unsigned long long)fnv(mg.weights, mg.weights_len, 1469598103934665603ULL),
             mg.initial_len,
             (unsigned long long)fnv(mg.initial, mg.initial_len, 1469598103934665603ULL));
    log = fault_append(log, line);
    static const double arr[] = {1.5, -2, 3, 4, 5, 6};
    double buf[8];
    size_t n = 0, rows2 = 0, cols2 = 0;
    if ((rc = store_array_put(st, "j_1", "kernel", 2, 3, arr, &err)) ||
        (rc = store_array_info(st, "j_1", "kernel", &rows2, &cols2)) ||
        (rc = store_array_chunk(st, "j_1", "kernel", 0, buf, &n)))
        goto done;
    snprintf(line, sizeof line, "array %zu x %zu: %zu %016llx", rows2, cols2, n,
             (unsigned long long)fnv(buf, n * sizeof(double), 1469598103934665603ULL));
    log = fault_append(log, line);
    if ((rc = store_model_delete(st, "m_1")) || (rc = store_dataset_delete(st, "d_1")) ||
        (rc = store_job_delete(st, "j_1")))
        goto done;
    /* Deleted means gone. */
    job_row_deinit(&got);
    rc = store_job_get(st, "j_1", 1, &got) == TG_ENOTFOUND ? TG_OK : TG_EINTERNAL;
    if (rc == TG_OK)
        log = fault_append(log, "deleted");
done:
    fault_disarm();
    if (rc == TG_OK)
        *out = log;
    else
        fault_free(log);
    for (size_t i = 0; i < n_rows; i++)
        job_row_deinit(&rows[i]);
    free(rows);
    job_row_deinit(&got);
    job_row_deinit(&claimed);
    dataset_row_deinit(&dg);
    model_row_deinit(&mg);
    store_close(st);
    rm_db(path);
    return rc;
}

/* ---- 5. the catalog (server/catalog.c) and the error bodies ------------------------ */

static int sc_catalog(void *ud, char **out)
{
    (void)ud;
    char path[256];
    /* fixed width: SQLite's allocation count depends on the length of the path */
    snprintf(path, sizeof path, "/tmp/tg_fault_%010d.db", (int)getpid());
    rm_db(path);
    store *st = NULL;
    tg_err err;
    tg_model *m = NULL, *back = NULL;
    tg_dataset *ds = NULL;
    json_t *meta = NULL, *menc = NULL, *e1 = NULL, *e2 = NULL;
    int rc;
    poison(&err);
    if ((rc = store_open(path, &st, &err)))
        goto done;
    dataset_row d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "d_toy");
    d.name = "toy";
    d.meta = "{}";
    snprintf(d.created_at, sizeof d.created_at, "2026-01-01T00:00:00Z");
    d.body = toy_blob;
    d.body_len = toy_blob_len;
    if ((rc = store_dataset_insert(st, &d, &err)) ||
        (rc = catalog_load_dataset(st, "d_toy", &ds, &err)))
        goto done;
    if (!(meta = data_meta_json(ds))) {
        rc = TG_ENOMEM;
        goto done;
    }
    if ((rc = model_decode_upload(model_body, &m, &err)) ||
        (rc = catalog_save_model(st, m, "j_fault", &err)) ||
        (rc = catalog_load_model(st, m->id, &back, &err)))
        goto done;
    if (!(menc = model_encode(back, 1, 1)) ||
        !(e1 = api_error_body(api_error_from_status(TG_EDATA), "bad row 3", "x[3]", "r_1")) ||
        !(e2 = job_error_body(job_error_from_status(TG_EDIVERGED), "loss is NaN", meta)))
        rc = TG_ENOMEM;
done:
    fault_disarm();
    if (rc == TG_OK) {
        /* the model's id and time are new on every save */
        json_object_del(menc, "id");
        json_object_del(menc, "created_at");
        *out = NULL;
        out_json(out, meta);
        out_json(out, menc);
        out_json(out, e1);
        out_json(out, e2);
    }
    json_decref(meta);
    json_decref(menc);
    json_decref(e1);
    json_decref(e2);
    dataset_free(ds);
    model_free(m);
    model_free(back);
    store_close(st);
    rm_db(path);
    return rc;
}

/* ---- the tests ----------------------------------------------------------------------- */

/* cache: the scenario may keep blocks from its first run (kinds_describe: the parsed
 * OpenAPI document); any other scenario must free everything on its clean run. */
static void check(const char *name, fault_scenario_fn fn, void *ud, int cache)
{
    static char report[16384];
    long k, tried;
    int bad = fault_run(name, fn, ud, cache, &k, &tried, report, sizeof report);
    fprintf(stderr, "%s\n", report);
    /* Check caps its messages: the full report is on stderr above. */
    ck_assert_msg(bad == 0, "%.1500s%s", report, strlen(report) > 1500 ? " [...]" : "");
}

START_TEST(validate_train_builtin) { check("validate_train_builtin", sc_validate, (void *)0, 0); }
END_TEST
START_TEST(validate_ntk_builtin) { check("validate_ntk_builtin", sc_validate, (void *)1, 0); }
END_TEST
START_TEST(validate_train_uploaded) { check("validate_train_uploaded", sc_validate, (void *)2, 0); }
END_TEST
START_TEST(validate_ntk_inline) { check("validate_ntk_inline", sc_validate, (void *)3, 0); }
END_TEST
START_TEST(run_train_builtin) { check("run_train_builtin", sc_run, (void *)0, 0); }
END_TEST
START_TEST(run_ntk_builtin) { check("run_ntk_builtin", sc_run, (void *)1, 0); }
END_TEST
START_TEST(run_train_uploaded) { check("run_train_uploaded", sc_run, (void *)2, 0); }
END_TEST
START_TEST(run_ntk_inline) { check("run_ntk_inline", sc_run, (void *)3, 0); }
END_TEST
START_TEST(validate_train_generator) { check("validate_train_generator", sc_validate, (void *)4, 0); }
END_TEST
START_TEST(run_train_generator) { check("run_train_generator", sc_run, (void *)4, 0); }
END_TEST
START_TEST(data_uploads) { check("data_uploads", sc_data, NULL, 0); }
END_TEST
START_TEST(model_roundtrip) { check("model_roundtrip", sc_model, NULL, 0); }
END_TEST
START_TEST(kinds_describe) { check("kinds_describe", sc_describe, (void *)0, 1); }
END_TEST
START_TEST(kind_schema) { check("kind_schema", sc_describe, (void *)1, 1); }
END_TEST
START_TEST(builtins_list) { check("builtins_list", sc_describe, (void *)2, 1); }
END_TEST
START_TEST(catalog_and_errors) { check("catalog_and_errors", sc_catalog, NULL, 0); }
END_TEST
START_TEST(store_rows) { check("store_rows", sc_store, NULL, 0); }
END_TEST

int main(int argc, char **argv)
{
    const struct {
        const char *name;
        const TTest *t;
    } tests[] = {
#define T(n) {#n, n}
        T(validate_train_builtin), T(validate_ntk_builtin), T(validate_train_uploaded),
        T(validate_ntk_inline),    T(run_train_builtin),    T(run_ntk_builtin),
        T(run_train_uploaded),     T(run_ntk_inline),       T(validate_train_generator),
        T(run_train_generator),    T(data_uploads),
        T(model_roundtrip),        T(kinds_describe),       T(store_rows),
        T(catalog_and_errors),     T(kind_schema),          T(builtins_list),
#undef T
    };
    fault_init();
    openblas_set_num_threads(1);
    fixtures_init();
    upload_body = parse(toy_upload);
    model_body = parse(toy_model);
    for (size_t r = 0; r < N_REQ; r++) {
        kind_env env = {.src = src, .test_kinds = 0};
        kind_plan plan;
        tg_err err;
        req_json[r] = parse(requests[r]);
        if (kinds_validate(req_json[r], &env, &filled_json[r], &plan, &err)) {
            fprintf(stderr, "check_fault: request %zu invalid: %s (%s)\n", r, err.msg,
                    err.field);
            return 2;
        }
    }
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("fault");
    tcase_set_timeout(tc, 900);
    int n = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (argc < 2 || strcmp(argv[1], tests[i].name) == 0) {
            tcase_add_test(tc, tests[i].t);
            n++;
        }
    if (!n) {
        fprintf(stderr, "check_fault: no scenario %s\n", argv[1]);
        return 2;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
