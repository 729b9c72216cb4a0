/* kind_sleep.c: the test-only kind `sleep` (registered with --enable-test-kinds), a job
 * whose duration, progress cadence, memory estimate and failure the lifecycle tests
 * control. params: ms [1000] (0..3600000), fail [false] (fail with `internal` at the
 * end), progress_every_ms [50], memory_bytes [0] (the estimate reported at
 * submission, to exercise the memory budget), array [0] (store an n x n array
 * `values` with values[i][j] = i * n + j, to exercise array storage), seed. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "jx.h"
#include "kinds.h"

static const char *const sleep_fields[] = {"ms", "fail", "progress_every_ms", "memory_bytes",
                                           "array", "seed", NULL};

static int sleep_validate(const json_t *req, const kind_env *env, json_t *filled,
                          kind_plan *plan, tg_err *err)
{
    json_t *p;
    long long ms, every, mem, arr;
    int fail, rc;
    (void)env;
    if ((rc = kinds_forbid(req, "data", "for kind sleep", err)) ||
        (rc = kinds_forbid(req, "model", "for kind sleep", err)) ||
        (rc = kinds_params(req, filled, &p, err)) ||
        (rc = jx_check_fields(p, "params", sleep_fields, err)) ||
        (rc = jx_int(p, "ms", "params", 1000, 0, 3600000, &ms, err)) ||
        (rc = jx_bool(p, "fail", "params", 0, &fail, err)) ||
        (rc = jx_int(p, "progress_every_ms", "params", 50, 1, 60000, &every, err)) ||
        (rc = jx_int(p, "memory_bytes", "params", 0, 0, 1LL << 50, &mem, err)) ||
        (rc = jx_int(p, "array", "params", 0, 0, 20000, &arr, err)))
        return rc;
    jx_default(p, "ms", json_integer(ms));
    jx_default(p, "fail", json_boolean(fail));
    jx_default(p, "progress_every_ms", json_integer(every));
    jx_default(p, "memory_bytes", json_integer(mem));
    jx_default(p, "array", json_integer(arr));
    plan->memory_bytes = (double)mem + (double)arr * (double)arr * 8.0;
    return TG_OK;
}

static int sleep_run(const json_t *request, job_io *io, json_t **result_out,
                     json_t **partial_out, tg_err *err)
{
    json_t *p = json_object_get(request, "params");
    long long ms = json_integer_value(json_object_get(p, "ms"));
    long long every = json_integer_value(json_object_get(p, "progress_every_ms"));
    long long arr = json_integer_value(json_object_get(p, "array"));
    int fail = json_is_true(json_object_get(p, "fail"));
    double t0 = 1e3 * kinds_now(), t;
    char msg[64];
    (void)partial_out;
    while ((t = 1e3 * kinds_now() - t0) < (double)ms) {
        double left = (double)ms - t, nap = left < (double)every ? left : (double)every;
        struct timespec ts = {(time_t)(nap / 1e3), (long)(fmod(nap, 1e3) * 1e6)};
        nanosleep(&ts, NULL);
        t = 1e3 * kinds_now() - t0;
        snprintf(msg, sizeof msg, "slept %.0f of %lld ms", t < ms ? t : (double)ms, ms);
        if (io->progress(io->ud, t < ms ? t / (double)ms : 1.0, msg,
                         json_pack("{s:f}", "elapsed_ms", t)))
            return TG_ECANCELLED;
    }
    if (fail)
        return tg_err_set(err, TG_EINTERNAL, "the sleep job was asked to fail");
    json_t *res = json_pack("{s:I, s:[]}", "slept_ms", (json_int_t)ms, "warnings");
    if (!res)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    if (arr > 0) {
        size_t n = (size_t)arr; /* <= 20000 (validated): n * n * 8 fits */
        double *v = malloc(n * n * sizeof *v);
        int rc = v ? TG_OK : tg_err_set(err, TG_ENOMEM, "out of memory");
        for (size_t i = 0; v && i < n * n; i++)
            v[i] = (double)i;
        if (rc == TG_OK)
            rc = kinds_put(res, io, "values", n, n, v, err);
        free(v);
        if (rc) {
            json_decref(res);
            return rc;
        }
    }
    io->progress(io->ud, 1.0, "done", NULL);
    *result_out = res;
    return TG_OK;
}

static json_t *sleep_describe(void)
{
    return json_pack("{s:[s], s:s, s:s}", "modes", "default", "data", "forbidden", "model",
                     "forbidden");
}

const tg_kind kind_sleep = {
    .name = "sleep",
    .summary = "test-only: sleeps, reports progress, optionally fails or stores an array",
    .validate = sleep_validate,
    .run = sleep_run,
    .describe = sleep_describe,
    .schema = "SleepParams",
};
