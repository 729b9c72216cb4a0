/* errors.c: the error catalogues (see errors.h). */
#include "errors.h"

#include "jx.h"

static const struct {
    int status;
    const char *code;
} catalogue[] = {
#define ERR(e, status, code) {status, code},
#include "errors.def"
#undef ERR
};

int api_error_status(api_error e)
{
    return (unsigned)e < API_N_ERRORS ? catalogue[e].status : 500;
}

const char *api_error_code(api_error e)
{
    return (unsigned)e < API_N_ERRORS ? catalogue[e].code : "internal";
}

api_error api_error_from_status(int status)
{
    switch (status) {
    case TG_EINVAL: return API_INVALID_ARGUMENT;
    case TG_EDATA: return API_INVALID_DATA;
    case TG_EMISSING: return API_MISSING_FIELD;
    case TG_EUNKNOWN: return API_UNKNOWN_FIELD;
    case TG_ETOOLARGE: return API_TOO_LARGE;
    case TG_ENOTFOUND: return API_NOT_FOUND;
    case TG_ECONFLICT: return API_CONFLICT;
    case TG_EQUEUEFULL: return API_QUEUE_FULL;
    default: return API_INTERNAL;
    }
}

json_t *api_error_body(api_error e, const char *message, const char *field,
                       const char *request_id)
{
    unsigned mark = jx_oom_mark();
    json_t *inner = json_object();
    json_object_set_new(inner, "code", json_string(api_error_code(e)));
    json_object_set_new(inner, "message", json_string(message ? message : ""));
    if (field && *field)
        json_object_set_new(inner, "field", json_string(field));
    json_object_set_new(inner, "request_id", json_string(request_id ? request_id : ""));
    json_t *body = json_pack("{s:o}", "error", inner);
    if (body && jx_oom_since(mark)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static const struct {
    const char *code;
    int status;
} job_catalogue[] = {
#define JOB_ERR(e, code, status) {code, status},
#include "job_errors.def"
#undef JOB_ERR
};

const char *job_error_code(job_error e)
{
    return (unsigned)e < JOB_N_ERRORS ? job_catalogue[e].code : "internal";
}

job_error job_error_from_status(int status)
{
    for (int e = 0; e < JOB_N_ERRORS; e++)
        if (status != 0 && job_catalogue[e].status == status)
            return (job_error)e;
    return JOB_INTERNAL;
}

json_t *job_error_body(job_error e, const char *message, json_t *details)
{
    unsigned mark = jx_oom_mark();
    json_t *o = json_pack("{s:s, s:s}", "code", job_error_code(e), "message",
                          message ? message : "");
    if (o && ((details && json_object_set(o, "details", details)) || jx_oom_since(mark))) {
        json_decref(o);
        return NULL;
    }
    return o;
}
