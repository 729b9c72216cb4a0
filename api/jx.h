/* jx.h: strict decoding of request JSON (jansson) into C values, with the error
 * conventions of API.md section 1: every failure names the field by its dotted path
 * ("params.optimizer.lr", "data.x[3][1]"), unknown fields are rejected with the closest
 * allowed name suggested, integers accept integral reals (3.0) and nothing else, and
 * non-finite numbers are rejected.
 *
 * Every getter takes the containing object, the key and the object's own path (""
 * for the top level); a missing key yields the default (or TG_EMISSING when the
 * field is required, see the *_req variants). Errors go to err with err->field set.
 * Every int function returns TG_OK or: TG_EMISSING (a required key is absent),
 * TG_EINVAL (wrong type, out of range, not one of the choices), TG_EUNKNOWN
 * (jx_check_fields), and for jx_matrix / jx_vector also TG_EDATA (a bad entry),
 * TG_ETOOLARGE (over max_elems) and TG_ENOMEM.
 *
 * Threading: reentrant; the json_t values are borrowed and not shared across threads.
 */
#ifndef TG_JX_H
#define TG_JX_H

#include <jansson.h>
#include <stddef.h>

#include "../core/tg.h"

/* Allocation failures inside jansson. Its constructors return NULL and its setters fail
 * when an allocation fails, and a NULL handed on (json_object_set_new(o, k, NULL)) is
 * dropped without a trace: checking every call would bury the decoders. Instead
 * jx_mem_init routes jansson's allocations through a function that counts failures per
 * thread, and each phase that builds JSON checks the count once at its end: a request's
 * validation (kinds_validate), a job's run (the pool), a reply (http_reply_json), a
 * stored model's metadata (model_meta_text). A phase is
 *     unsigned mark = jx_oom_mark();  ...build...;  if (jx_oom_since(mark)) fail;
 * which nests. jx_mem_init: once per process, before any other jansson call (the
 * server's main; the unit tests run without it and never see a failure). */
void jx_mem_init(void);
unsigned jx_oom_mark(void);
int jx_oom_since(unsigned mark);
/* Counts a failure seen by an allocator that replaces jx_mem_init's (tests). */
void jx_oom_note(void);

/* Formats "prefix.key" (or "key" when prefix is empty) into buf. */
const char *jx_path(char *buf, size_t n, const char *prefix, const char *key);
/* Formats "prefix[i]" into buf. */
const char *jx_index_path(char *buf, size_t n, const char *prefix, size_t i);

/* TG_EUNKNOWN for the first key of obj not in allowed (NULL-terminated); the message
 * suggests the closest allowed name (edit distance <= 3) when there is one. */
int jx_check_fields(const json_t *obj, const char *path, const char *const *allowed,
                    tg_err *err);
/* TG_EINVAL unless v is an object (field named path). */
int jx_expect_object(const json_t *v, const char *path, tg_err *err);

/* A number (any JSON number). Range [lo, hi]; pass -INFINITY/INFINITY for none. With
 * lo_open/hi_open the bound itself is excluded. */
int jx_number(const json_t *obj, const char *key, const char *path, double def,
              double lo, int lo_open, double hi, int hi_open, double *out, tg_err *err);
int jx_number_req(const json_t *obj, const char *key, const char *path, double lo,
                  int lo_open, double hi, int hi_open, double *out, tg_err *err);
/* An integer: integral JSON numbers only (3 or 3.0), in [lo, hi]. A real 3.0 is replaced
 * by the integer 3 in obj (decoders work on their own copy of the request). */
int jx_int(const json_t *obj, const char *key, const char *path, long long def,
           long long lo, long long hi, long long *out, tg_err *err);
int jx_int_req(const json_t *obj, const char *key, const char *path, long long lo,
               long long hi, long long *out, tg_err *err);
/* Converts a json_t value (not a key lookup) to an integer; path names it. */
int jx_as_int(const json_t *v, const char *path, long long lo, long long hi,
              long long *out, tg_err *err);
int jx_as_number(const json_t *v, const char *path, double *out, tg_err *err);
int jx_bool(const json_t *obj, const char *key, const char *path, int def, int *out,
            tg_err *err);
/* A string; with choices (NULL-terminated) it must be one of them. *out is borrowed
 * from obj (or def). max_len bounds the byte length (0 = 4096). */
int jx_string(const json_t *obj, const char *key, const char *path, const char *def,
              const char *const *choices, size_t max_len, const char **out, tg_err *err);
int jx_string_req(const json_t *obj, const char *key, const char *path,
                  const char *const *choices, size_t max_len, const char **out,
                  tg_err *err);

/* A rectangular matrix of numbers (list of equal-length lists) into a new row-major
 * array (caller frees). Ragged rows, non-numbers and an empty matrix are TG_EDATA
 * naming the entry ("data.x[3]", "data.x[3][1]"). A 1-D list is accepted as n x 1 when
 * allow_vector. Limits: at most max_elems elements (TG_ETOOLARGE). */
int jx_matrix(const json_t *v, const char *path, int allow_vector, size_t max_elems,
              size_t *rows_out, size_t *cols_out, double **out, tg_err *err);
/* A list of numbers into a new array (caller frees). */
int jx_vector(const json_t *v, const char *path, size_t max_elems, size_t *n_out,
              double **out, tg_err *err);

/* Sets key in obj to a new reference of val (steals val) unless obj already has it.
 * val NULL (a constructor out of memory) leaves key unset: a stored request then lacks
 * that default, and the run decodes the same default again. */
void jx_default(json_t *obj, const char *key, json_t *val);

/* A JSON number for x: a real, or null when x is not finite (API.md section 1). */
json_t *jx_real(double x);
/* An array of n reals (nulls for non-finite values): new ref, NULL when out of memory. */
json_t *jx_real_array(const double *x, size_t n);
/* A rows x cols nested array: new ref, NULL when out of memory. */
json_t *jx_real_matrix(const double *x, size_t rows, size_t cols);

/* ---- output ----------------------------------------------------------------------- */

/* v as JSON text: the text of json_dumps(v, flags) for flags JSON_COMPACT (and
 * optionally JSON_SORT_KEYS; other flags are ignored), except that every real is written
 * in the shortest decimal form that strtod reads back to the same double (API.md
 * section 1: "0.2", never jansson's %.17g "0.20000000000000001"). A real keeps a "." or
 * an exponent ("1.0", "1e300", "-0.0") so that it is read back as a real, and the
 * exponent has no "+" and no leading zeros, as jansson writes it; a non-finite real
 * (jansson never holds one) is written as null. Strings are escaped as jansson does
 * (", \\, control characters; UTF-8 passes through).
 *
 * Returns a new NUL-terminated string (caller frees with free()), or NULL when v is NULL
 * or out of memory. Allocates with plain malloc/realloc, never through jansson's
 * allocator: a caller checking jx_oom_since sees only the failures of building v, and
 * tests NULL for its own. Reentrant; v is borrowed. */
char *jx_dumps(const json_t *v, size_t flags);
/* The shortest form of x as jx_dumps writes a real, into buf (at least 32 bytes); x must
 * be finite. Returns the length. */
size_t jx_format_real(double x, char *buf);
/* The same digits without the real's marks (3 stays 3, not 3.0): for arrays of doubles
 * (JSON and CSV downloads). */
size_t jx_format_number(double x, char *buf);

#endif
