/* tg.h: status codes, the error carrier and invariant checks shared by every layer.
 *
 * Internal calls return int: TG_OK (0) or a negative tg_status. Details go into an
 * optional tg_err (code + fixed message buffer); tg_err_set is a no-op when err is
 * NULL and never allocates, so it is safe on every error path (SQLite / redis style).
 *
 * The status codes map onto the API's catalogues in api/: the request errors
 * (api/errors.def, api_error_from_status) and the error codes of failed jobs
 * (api/job_errors.def, job_error_from_status). core/ knows neither.
 */
#ifndef TG_H
#define TG_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum tg_status {
    TG_OK = 0,
    TG_EINVAL = -1,       /* invalid_argument: a value out of range or inconsistent */
    TG_EDATA = -2,        /* invalid_data: bad rows, NaN in data, ragged matrix */
    TG_EMISSING = -3,     /* missing_field */
    TG_EUNKNOWN = -4,     /* unknown_field */
    TG_ENOMEM = -5,       /* allocation failed */
    TG_ETOOLARGE = -6,    /* too_large: over a documented limit or the memory budget */
    TG_ENOTFOUND = -7,    /* not_found */
    TG_ECONFLICT = -8,    /* conflict */
    TG_ECANCELLED = -9,   /* the job was cancelled (a status, not an error) */
    TG_EDIVERGED = -11,   /* diverged: a loss became NaN/Inf */
    TG_ENUMERICAL = -12,  /* numerical: e.g. a matrix that had to be PD was not */
    TG_EINTERNAL = -13,   /* internal: a bug */
    TG_EIO = -14,         /* storage failure */
    TG_EQUEUEFULL = -16   /* queue_full: the queue holds the maximum of waiting jobs */
} tg_status;

typedef struct tg_err {
    int code;        /* a tg_status */
    char field[128]; /* the input at fault, in the vocabulary of the layer that set it: a
                      * core function's own input ("n", "classes[1]"), a request field
                      * ("data.n", "params.init") once api/ has named it; or "" */
    char msg[256];
} tg_err;

/* Sets err (if not NULL) to code and a printf-formatted message; returns code. */
int tg_err_set(tg_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As tg_err_set, also naming the request field at fault. */
int tg_err_setf(tg_err *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tg_err_clear(tg_err *err);

void tg_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define TG_ASSERT(e) ((e) ? (void)0 : tg_assert_fail(#e, __FILE__, __LINE__))

/* Memory for large arrays (kernels, Gram matrices): aligned to 2 MiB and marked for
 * transparent huge pages where the system has them, which cuts page faults and TLB
 * misses of a first pass over gigabytes by ~512x (measured: -35% on an 8000 x 8000
 * NTK). Free with tg_free_big(). NULL on failure. Contents are not zeroed.
 *
 * Blocks of 64 MiB and more can be kept after tg_free_big (up to tg_big_keep bytes in
 * all; none by default) and handed out again to a request of exactly the same size:
 * repeated jobs of one size then run on memory that is already mapped, instead of
 * paying a page fault per page again (on virtual machines that return freed memory to
 * the host, the first touch of a gigabyte costs seconds). A request that finds no block
 * of its size frees every kept block first, so keeping never adds to the peak memory of
 * a job. tg_big_trim frees the blocks kept for max_age_s seconds or longer (a negative
 * age: none). Thread-safe. */
void *tg_alloc_big(size_t bytes);
void tg_free_big(void *p);
/* The same memory (2 MiB aligned, huge pages) without the keep-list: free with free().
 * For arrays that other code frees (datasets, stored blobs). */
void *tg_alloc_huge(size_t bytes);
void tg_big_keep(size_t limit);
void tg_big_trim(double max_age_s);
size_t tg_big_kept(void);

/* Overflow-checked size products: return 0 and set *out, or -1 on overflow. */
int tg_mul_size(size_t a, size_t b, size_t *out);
int tg_mul3_size(size_t a, size_t b, size_t c, size_t *out);
/* malloc(a * b * elem) with the product checked: NULL on overflow or failure. A zero
 * count allocates one element, so NULL always means "no memory". Free with free(). */
void *tg_alloc_array(size_t a, size_t b, size_t elem);

/* Progress and cancellation callback handed to core routines by the job runner.
 * fraction in [0,1] (monotone within one call tree); msg may be NULL. Returns nonzero
 * when the work must stop (cancelled, timed out or shutting down); the core routine
 * then returns TG_ECANCELLED promptly. May be NULL: never stop, report nothing. */
typedef int (*tg_progress_fn)(void *ud, double fraction, const char *msg);
typedef struct tg_progress {
    tg_progress_fn fn;
    void *ud;
} tg_progress;
/* Calls p->fn if set; returns its verdict (0 = go on). */
int tg_progress_report(const tg_progress *p, double fraction, const char *msg);

#define TG_VERSION "0.1.0"

#endif
