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
#include "model.h"

/* Loads model `id` into *out (new, caller frees). TG_ENOTFOUND when there is none. */
typedef int (*model_load_fn)(void *ud, const char *id, tg_model **out, tg_err *err);

/* Elements up to which an array is inlined into the result JSON (API.md 2.3). */
#define KINDS_INLINE_MAX 65536

/* What validation has access to (all borrowed). */
typedef struct kind_env {
    data_env data;       /* loader of uploaded datasets */
    model_load_fn load_model;
    void *model_ud;
    int test_kinds;      /* --enable-test-kinds */
} kind_env;

typedef struct kind_estimate {
    double memory_bytes; /* peak memory of the run, bytes */
    double flops;        /* floating-point operations, approximate */
} kind_estimate;

/* The services a running job uses, provided by the server (worker side). */
typedef struct job_io {
    void *ud;
    const char *job_id;
    data_env data;
    int threads;   /* threads a kind may use for its own parallel passes */
    /* Progress and cancellation: fraction in [0,1], msg and metrics (stolen, may be
     * NULL) go to the job object and the SSE stream. Returns nonzero when the job must
     * stop (cancel, timeout, shutdown); the kind then returns TG_ECANCELLED. */
    int (*progress)(void *ud, double fraction, const char *msg, json_t *metrics);
    /* Stores an array of the result: rows x cols doubles (cols 0 = a vector of rows
     * elements), row-major, copied (borrowed). */
    int (*put_array)(void *ud, const char *name, size_t rows, size_t cols,
                     const double *data, tg_err *err);
    /* The same for large arrays written out while they are computed in place:
     * array_begin reserves `name` for data (rows x cols; the buffer stays valid until
     * array_end); array_advance(h, b) writes its first b bytes, which must be final;
     * array_end stores the rest and records the array (commit = 1) or discards it
     * (commit = 0, err unused); either way h is released. */
    int (*array_begin)(void *ud, const char *name, size_t rows, size_t cols,
                       const double *data, void **h, tg_err *err);
    int (*array_advance)(void *h, size_t bytes, tg_err *err);
    int (*array_end)(void *h, int commit, tg_err *err);
    model_load_fn load_model;
    /* Stores m as a model produced by this job: sets m->id, created_at and source_job. */
    int (*save_model)(void *ud, tg_model *m, tg_err *err);
} job_io;

typedef struct tg_kind {
    const char *name;
    const char *summary; /* one line for GET /v1/kinds */
    /* Validates the whole request `req` (kind, data, model, params; the common fields
     * are already checked) and completes `filled` (a deep copy of req, to be stored):
     * every applicable default is written. Fills est. */
    int (*validate)(const json_t *req, const kind_env *env, json_t *filled,
                    kind_estimate *est, tg_err *err);
    /* Runs the job described by the filled request. On success *result_out is the
     * result object (new ref; must contain "warnings"). On failure *partial_out may
     * hold partial results (new ref or NULL) and err the job error. */
    int (*run)(const json_t *request, job_io *io, json_t **result_out,
               json_t **partial_out, tg_err *err);
    /* {"modes": [...], "data": ..., "model": ...}: new ref. The `params` JSON Schema is
     * added from the OpenAPI document (components/schemas/<schema>, $refs resolved). */
    json_t *(*describe)(void);
    const char *schema;
} tg_kind;

/* The kind named `name` (NULL if none, or test-only while test_kinds is off). */
const tg_kind *kinds_find(const char *name, int test_kinds);

/* Validates a submitted request body: the common fields (kind, data, model, params,
 * label, timeout_s, notify_url), then the kind's own rules. *filled_out: new ref. */
int kinds_validate(const json_t *req, const kind_env *env, json_t **filled_out,
                   kind_estimate *est, tg_err *err);

/* GET /v1/kinds body: new ref. */
json_t *kinds_describe_all(int test_kinds);

/* Helper for kinds' run functions: stores an array through io and returns its
 * reference object {"shape", "dtype", "href", "data"?} (new ref), or NULL with err. */
json_t *kinds_array(job_io *io, const char *name, size_t rows, size_t cols,
                    const double *data, tg_err *err);
/* The reference object of an array already stored (through array_begin/end). */
json_t *kinds_array_ref(const job_io *io, const char *name, size_t rows, size_t cols,
                        const double *data);

/* Helpers for validate functions: the `params` object of req (an empty object when
 * absent; TG_EINVAL when not an object), and field presence rules. */
int kinds_params(const json_t *req, json_t *filled, json_t **params_out, tg_err *err);
int kinds_forbid(const json_t *req, const char *field, const char *why, tg_err *err);
int kinds_require(const json_t *req, const char *field, const char *why, tg_err *err);

#endif
