/* errors.h: the error catalogues: request errors (errors.def) with the one function that
 * writes the JSON error body of API.md section 1, and the error codes of failed jobs
 * (job_errors.def) with their mapping from internal status codes. Thread-safe (no
 * state). */
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
/* {"error": {"code", "message", "field"?, "request_id"}}: new reference (NULL when out
 * of memory). field and request_id may be NULL or "". */
json_t *api_error_body(api_error e, const char *message, const char *field,
                       const char *request_id);

typedef enum job_error {
#define JOB_ERR(e, code, status) e,
#include "job_errors.def"
#undef JOB_ERR
    JOB_N_ERRORS
} job_error;

/* The code string of a job error ("diverged", ...; "internal" out of range). */
const char *job_error_code(job_error e);
/* The job error for a kind run's failure status (TG_EDIVERGED -> JOB_DIVERGED, ...;
 * anything unlisted -> JOB_INTERNAL). */
job_error job_error_from_status(int status);
/* A job's `error` object {"code", "message", "details"?}: new reference (NULL when out
 * of memory). details is borrowed and may be NULL. */
json_t *job_error_body(job_error e, const char *message, json_t *details);

#endif
