/* errors.h: the error catalogue (errors.def) and the one function that writes the JSON
 * error body of API.md section 1. Thread-safe (no state). */
#ifndef TG_API_ERRORS_H
#define TG_API_ERRORS_H

#include <jansson.h>

#include "../core/tg.h"

typedef enum api_error {
#define ERR(e, status, code) e,
#include "errors.def"
#undef ERR
    API_N_ERRORS
} api_error;

int api_error_status(api_error e);
const char *api_error_code(api_error e);
/* The catalogue entry for a tg_status from validation (TG_EINVAL -> invalid_argument,
 * TG_EDATA -> invalid_data, ...). */
api_error api_error_from_status(int status);
/* {"error": {"code", "message", "field"?, "request_id"}}: new reference. field and
 * request_id may be NULL or "". */
json_t *api_error_body(api_error e, const char *message, const char *field,
                       const char *request_id);

#endif
