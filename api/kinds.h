/* kinds.h: the job-kind registry (kann's kad_op_list): one row per kind with its
 * validation (complete, at submission), memory estimate, run and parameter schema.
 * Adding an analysis = one row here plus its core file; the server does not change.
 *
 * The request lifecycle: kinds_validate() decodes and checks a submitted request and
 * returns it with every default filled in (what the job object shows as `request`)
 * together with an estimate; that filled request is stored; a worker later calls
 * kinds_run() with the stored request, so a run never depends on anything but the
 * stored text (and the datasets/models it names), which makes re-queued attempts
 * after a crash identical to the first.
 *
 * Threading: validate runs on HTTP threads, run on a worker thread; both are
 * reentrant. The environment callbacks (job_io, kind_env) are provided by the server.
 */
#ifndef TG_API_KINDS_H
#define TG_API_KINDS_H

#include <jansson.h>
#include <stddef.h>

#include "../core/tg.h"
#include "data.h"
#include "jx.h" /* jx_dumps, for the texts of the objects built here */
#include "model.h"

/* Loads model `id` into *out (new, caller frees). TG_ENOTFOUND when there is none. */
typedef int (*model_load_fn)(void *ud, const char *id, tg_model **out, tg_err *err);

/* Elements up to which an array is inlined into the result JSON (API.md 2.3). */
#define KINDS_INLINE_MAX 65536
/* Datasets and models one job may reference (each a guard against their deletion). */
#define KINDS_MAX_REFS 8

/* Where a kind finds the datasets and models a request names (borrowed; provided by the
 * server, store-backed). The same for validation and for the run. */
typedef struct kind_src {
    data_env data;
    model_load_fn load_model;
    void *model_ud;
} kind_src;

/* What validation has access to (all borrowed). */
typedef struct kind_env {
    kind_src src;
    int test_kinds;      /* --enable-test-kinds */
    double memory_budget; /* the server's memory budget in bytes (0: unknown), so that a kind
                           * can say what would fit; the server checks the estimate itself */
} kind_env;

typedef enum kind_ref_type { KIND_REF_DATASET = 0, KIND_REF_MODEL = 1 } kind_ref_type;

/* What validation learned of a job besides the filled request: its cost, and the
 * uploaded datasets and models it reads (recorded by kinds_data and kinds_model), which
 * may not be deleted while the job is queued or running (ids copied). */
typedef struct kind_plan {
    double memory_bytes; /* peak memory of the run, bytes */
    double flops;        /* floating-point operations, approximate */
    size_t n_refs;
    struct {
        kind_ref_type type;
        char id[64];
    } refs[KINDS_MAX_REFS];
} kind_plan;

/* The services a running job uses, provided by the server (worker side). */
typedef struct job_io {
    void *ud;
    const char *job_id;
    kind_src src;
    int threads;   /* threads a kind may use for its own parallel passes */
    /* Progress and cancellation: fraction in [0,1], msg and metrics (stolen, may be
     * NULL) go to the job object and the SSE stream. Returns nonzero when the job must
     * stop (cancel, timeout, shutdown); the kind then returns TG_ECANCELLED. */
    int (*progress)(void *ud, double fraction, const char *msg, json_t *metrics);
    /* Stores an array of the result: rows x cols doubles (cols 0 = a vector of rows
     * elements), row-major, copied (borrowed). Returns TG_OK or TG_EIO / TG_ENOMEM. */
    int (*put_array)(void *ud, const char *name, size_t rows, size_t cols,
                     const double *data, tg_err *err);
    /* The same for large arrays written out while they are computed in place:
     * array_begin reserves `name` for data (rows x cols; the buffer stays valid until
     * array_end); array_advance(h, b) writes its first b bytes, which must be final;
     * array_end stores the rest and records the array (commit = 1) or discards it
     * (commit = 0, err unused); either way h is released. Use them through
     * kinds_stream_* below. */
    int (*array_begin)(void *ud, const char *name, size_t rows, size_t cols,
                       const double *data, void **h, tg_err *err);
    int (*array_advance)(void *h, size_t bytes, tg_err *err);
    int (*array_end)(void *h, int commit, tg_err *err);
    /* Stores m as a model produced by this job: sets m->id, created_at and source_job.
     * Returns TG_OK, TG_ENOMEM or TG_EIO. */
    int (*save_model)(void *ud, tg_model *m, tg_err *err);
    /* Seconds this job spent storing arrays (kinds_put, kinds_stream_*): a kind reports
     * its time_s without them. Starts at 0. */
    double store_s;
} job_io;

typedef struct tg_kind {
    const char *name;
    const char *summary; /* one line: the `description` of GET /v1/kinds */
    /* Validates the whole request `req` (kind, data, model, params; the common fields
     * are already checked) and completes `filled` (a deep copy of req, to be stored):
     * every applicable default is written. Fills plan (cost; references through
     * kinds_data / kinds_model). Returns TG_OK or the request error (TG_EINVAL,
     * TG_EMISSING, TG_EUNKNOWN, TG_EDATA, TG_ETOOLARGE; TG_ENOMEM, TG_EIO). */
    int (*validate)(const json_t *req, const kind_env *env, json_t *filled,
                    kind_plan *plan, tg_err *err);
    /* Runs the job described by the filled request. On success *result_out is the
     * result object (new ref; must contain "warnings"). On failure *partial_out may
     * hold partial results (new ref or NULL) and err the job error. */
    int (*run)(const json_t *request, job_io *io, json_t **result_out,
               json_t **partial_out, tg_err *err);
    /* {"modes": [...], "data": ..., "model": ...}: new ref. The `params` (their defaults
     * for GET /v1/kinds, the JSON Schema for GET /v1/kinds/{name}) are added from the
     * OpenAPI document (components/schemas/<schema>, $refs resolved). */
    json_t *(*describe)(void);
    const char *schema;
} tg_kind;

/* The kind named `name` (NULL if none, or test-only while test_kinds is off). */
const tg_kind *kinds_find(const char *name, int test_kinds);

/* Validates a submitted request body: the common fields (kind, data, model, params,
 * label, timeout_s, notify_url), then the kind's own rules. *filled_out: new ref; plan
 * filled. Returns as tg_kind.validate. */
int kinds_validate(const json_t *req, const kind_env *env, json_t **filled_out,
                   kind_plan *plan, tg_err *err);

/* Runs a job of kind k on its filled request (tg_kind.run), and turns a success whose
 * result lost a field to a failed jansson allocation into TG_ENOMEM (see jx.h). The
 * outputs and returns are those of tg_kind.run; on TG_ENOMEM *result_out is NULL. */
int kinds_run(const tg_kind *k, const json_t *request, job_io *io, json_t **result_out,
              json_t **partial_out, tg_err *err);

/* GET /v1/kinds body (API.md 2.7), compact enough to read: {"kinds": [...]}, each kind
 * {"name", "description", "available": true, "test_only"?, "modes", "data", "model",
 * "params"} with params its top-level parameters mapped to their defaults (null: none;
 * for a kind whose parameters depend on the mode, an object from mode to those), then
 * each planned kind as {"name", "available": false}. New ref, NULL when out of
 * memory. */
json_t *kinds_describe_all(int test_kinds);
/* GET /v1/kinds/{name} body: the kind as in kinds_describe_all but with params its full
 * JSON Schema (from the OpenAPI document, every $ref resolved); a planned kind is
 * {"name", "available": false}. *out: new ref. Returns TG_OK, TG_ENOTFOUND (no such kind,
 * or the test-only kind while test_kinds is off), TG_ENOMEM. */
int kinds_describe_one(const char *name, int test_kinds, json_t **out);

/* ---- helpers for validate functions ------------------------------------------------ */

/* The `params` object of filled (an empty object is added when absent; TG_EINVAL when
 * not an object). *params_out is borrowed from filled. */
int kinds_params(const json_t *req, json_t *filled, json_t **params_out, tg_err *err);
/* Field presence rules: TG_EINVAL "<field> is not allowed <why>" / TG_EMISSING
 * "<field> is required <why>". */
int kinds_forbid(const json_t *req, const char *field, const char *why, tg_err *err);
int kinds_require(const json_t *req, const char *field, const char *why, tg_err *err);

/* The `data` of a job of kind `kind` (required): resolves filled's "data" through
 * src (data_resolve; every default written back into filled), checks that the training
 * split is not empty, and records an uploaded dataset in plan (NULL: not recorded, as
 * in a run). allow_preprocessing and stats_out as data_resolve. *ds_out: new. Returns
 * TG_OK or data_resolve's errors, TG_EMISSING on "data", TG_EINVAL "the training split
 * is empty". */
int kinds_data(const json_t *req, json_t *filled, const char *kind, const kind_src *src,
               int allow_preprocessing, tg_dataset **ds_out, tg_standardize_stats *stats_out,
               kind_plan *plan, tg_err *err);
/* The model `id` named by request field `field` ("model", "params.init_model"):
 * loads it through src and records it in plan (may be NULL). *out: new. Returns
 * TG_OK; TG_EINVAL "no model <id>" on field when there is none; loader errors. */
int kinds_model(const kind_src *src, const char *field, const char *id, tg_model **out,
                kind_plan *plan, tg_err *err);
/* The training data of `model` for a job of kind `kind` that names no `data`: the `data`
 * of the model's train request without its preprocessing options (the inputs stay raw;
 * the run applies the model's stored preprocessing, which reproduces the training
 * inputs), with that request's test split, minus the validation carve-out of its
 * training run. Recorded in plan like kinds_data. *ds_out: new. Returns TG_OK;
 * TG_EMISSING on "data" for an uploaded model (no training request); TG_EINVAL on "data"
 * when the training data cannot be loaded any more (a deleted dataset); TG_ENOMEM. */
int kinds_model_data(const tg_model *model, const char *kind, const kind_src *src,
                     kind_plan *plan, tg_dataset **ds_out, tg_err *err);
/* For a classification model and data: rewrites ds's class indices (training and test
 * labels) as the model's, matching original labels (data "classes: [1, 2]" of a model
 * trained on 0, 1, 2 are the model's classes 1 and 2, not 0 and 1). A label the model
 * does not know becomes the model's n_classes and is counted in *unknown. Without the
 * model's labels (an uploaded model without `classes`) the indices stay as they are. */
void kinds_map_labels(const tg_model *m, tg_dataset *ds, size_t *unknown);
/* The data of a job on model m: the request's `data`, or without one the model's own
 * (kinds_model_data; `data` is then null in filled), checked against the model: as many
 * features, the same task, as many regression targets, and for a classifier its labels
 * mapped to the model's (kinds_map_labels) with every label known and below the loss's
 * class count. Errors are 400s on "data". *ds: new, also on error (the caller frees). */
int kinds_model_job_data(const json_t *req, json_t *filled, const char *kind,
                         const kind_src *src, const tg_model *m, kind_plan *plan,
                         tg_dataset **ds, tg_err *err);
/* The common head of a job on a stored model (hessian, influence): `model` required,
 * params (kinds_params), the model (kinds_model) and its data (kinds_model_job_data).
 * *model and *ds: new, also on error (NULL when not reached; the caller frees). */
int kinds_model_job(const json_t *req, json_t *filled, const char *kind, const kind_src *src,
                    json_t **params, tg_model **model, tg_dataset **ds, kind_plan *plan,
                    tg_err *err);

/* ---- helpers for run functions ------------------------------------------------------ */

/* Monotonic seconds (for time_s). */
double kinds_now(void);

/* Progress over a stage [lo, hi] of a job: pass {kinds_stage_progress, &stage} as the
 * tg_progress of a core routine, whose fractions in [0, 1] then map onto [lo, hi]. */
typedef struct kinds_stage {
    job_io *io;
    double lo, hi;
} kinds_stage;
int kinds_stage_progress(void *ud, double fraction, const char *msg);
/* Reports fraction and msg; TG_ECANCELLED when the job must stop, else TG_OK. */
int kinds_checkpoint(job_io *io, double fraction, const char *msg);

/* Stores an array through io and adds its reference object {"shape", "dtype", "href",
 * "data"?} to res under `name`; the time spent counts in io->store_s. Returns TG_OK,
 * TG_EIO, TG_ENOMEM or TG_EINTERNAL (a shape whose size overflows). */
int kinds_put(json_t *res, job_io *io, const char *name, size_t rows, size_t cols,
              const double *data, tg_err *err);

/* Arrays written out while they are computed (a kernel whose rows become final in
 * order): up to KINDS_STREAM_MAX arrays of one shape, advanced together. */
#define KINDS_STREAM_MAX 4
typedef struct kinds_stream {
    job_io *io;
    size_t n, rows, cols;
    const char *name[KINDS_STREAM_MAX];
    const double *data[KINDS_STREAM_MAX];
    void *h[KINDS_STREAM_MAX];
    tg_err *err;
    double spent; /* seconds in array_advance (possibly on another thread) */
} kinds_stream;
/* Opens the arrays named (name[k] or data[k] NULL: skipped) for streaming: rows x cols
 * each. A zeroed kinds_stream may be passed to end/abort without a begin. Returns TG_OK
 * or the store's error (nothing stays open then). */
int kinds_stream_begin(kinds_stream *sm, job_io *io, size_t rows, size_t cols, size_t n,
                       const char *const *name, const double *const *data, tg_err *err);
/* A core rows_final callback (ud = the kinds_stream): the first `rows` rows of every
 * array are final. Returns TG_OK or the store's error. */
int kinds_stream_rows(void *ud, size_t rows);
/* Commits the arrays and adds their references to res; the time counts in
 * io->store_s. Returns TG_OK or the store's error (the rest is discarded then). */
int kinds_stream_end(kinds_stream *sm, json_t *res, tg_err *err);
/* Discards what is still open (no-op after end). */
void kinds_stream_abort(kinds_stream *sm);

#endif
