/* errors.c: the error catalogue of API.md section 1 (see errors.def). */
#include "errors.h"

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
    case TG_ESHUTDOWN: return API_UNAVAILABLE;
    case TG_EQUEUEFULL: return API_QUEUE_FULL;
    default: return API_INTERNAL;
    }
}

json_t *api_error_body(api_error e, const char *message, const char *field,
                       const char *request_id)
{
    json_t *inner = json_object();
    json_object_set_new(inner, "code", json_string(api_error_code(e)));
    json_object_set_new(inner, "message", json_string(message ? message : ""));
    if (field && *field)
        json_object_set_new(inner, "field", json_string(field));
    json_object_set_new(inner, "request_id", json_string(request_id ? request_id : ""));
    return json_pack("{s:o}", "error", inner);
}
