/* data.h: the request side of the data contract (API.md section 3): dataset uploads
 * (JSON and CSV) and the `data` field of a job (sources, generators and options),
 * decoded strictly and resolved into a core tg_dataset. The dataset object's JSON and
 * the storage format are in data_codec.h (included here).
 *
 * The store is reached only through the loader callback of data_env, so this layer
 * knows no SQL. Every error names the field ("data.test_fraction", "x[3][1]", or for
 * CSV "row 7, column petal_width") with the codes of API.md section 1; core/ reports
 * its own input names, which this layer turns into request fields.
 *
 * Threading: reentrant; json_t values are borrowed and never shared across threads.
 */
#ifndef TG_API_DATA_H
#define TG_API_DATA_H

#include <jansson.h>
#include <stdint.h>

#include "../core/dataset.h"
#include "../core/generators.h"
#include "../core/preprocess.h"
#include "../core/tg.h"
#include "data_codec.h"

/* Size limits enforced while decoding (TG_ETOOLARGE beyond them). */
#define DATA_MAX_ELEMS ((size_t)1 << 28)  /* elements of x (+ x_test) in one dataset */
#define DATA_MAX_ROWS ((size_t)10000000)
#define DATA_MAX_CLASSES 100000
#define DATA_MAX_LABEL_LEN 1024  /* bytes of one string label */

/* Loads the uploaded dataset `id` into *out (new, caller frees). Returns TG_ENOTFOUND
 * when there is none. Provided by the server (store-backed). */
typedef int (*data_load_fn)(void *ud, const char *id, tg_dataset **out, tg_err *err);
/* The id of the uploaded dataset that `ref` names (its id or its name, API.md 3.1) into
 * id_out (id_len bytes). Returns TG_OK, TG_ENOTFOUND when there is none, or TG_EIO
 * (err set). Provided by the server (store-backed). */
typedef int (*data_id_fn)(void *ud, const char *ref, char *id_out, size_t id_len,
                          tg_err *err);
typedef struct data_env {
    data_load_fn load;
    void *ud;
    /* NULL: a reference is taken as an id as it is. Otherwise `{"dataset": ref}` is
     * resolved to the dataset's id first, which the filled request then holds. */
    data_id_fn resolve_id;
} data_env;

/* Byte length of an uploaded dataset's id (with its NUL) that data_id_fn must fit. */
#define DATA_ID_LEN 64

/* An uploaded dataset's name: at most 200 bytes, and not of the form of a dataset id
 * (`d_` and 16 lowercase hexadecimal digits), since a reference that is an id means
 * that id. "" (no name) is fine. TG_OK or TG_EINVAL on field "name". */
int data_check_name(const char *name, tg_err *err);

/* GET /v1/builtins (API.md 3.1): {"datasets": [{"name", "task", "n", "d", "n_classes",
 * "description"}, ...], "generators": [{"name", "description", "task", "params": {every
 * parameter with its default}}, ...]}, in the order of dataset_builtin_names. New ref,
 * NULL when out of memory or when a shipped dataset cannot be read (err set). */
json_t *data_builtins_json(tg_err *err);
/* The one-line description of builtin `name` (dataset_builtin_names), or NULL. */
const char *data_builtin_description(const char *name);

/* JSON upload (section 3.1). *name_out is new (caller frees; "" when absent; checked
 * with data_check_name). Returns TG_OK; TG_EINVAL, TG_EMISSING, TG_EUNKNOWN, TG_EDATA (naming the field), TG_ETOOLARGE,
 * TG_ENOMEM. */
int data_upload_json(const json_t *body, char **name_out, tg_dataset **out, tg_err *err);

typedef struct data_csv_opts {
    const char *target;    /* column name; NULL = the last column */
    const char *task;      /* "classification" | "regression" | NULL = infer */
    double test_fraction;  /* [0, 1) */
    uint64_t seed;
} data_csv_opts;

/* CSV upload: header row required, quoted fields and CRLF accepted. Errors are
 * TG_EDATA naming "row R, column C" (R counts data rows from 1). */
int data_upload_csv(const char *buf, size_t len, const data_csv_opts *opts,
                    tg_dataset **out, tg_err *err);

/* The `data` field of a job (section 3.2): validates `data` (field path "data"),
 * returns the filled-in value (every applicable default written) in *filled_out (new
 * ref) and the resolved dataset in *ds_out (new; may be NULL to skip returning it).
 * allow_preprocessing = 0 when the job has a model: `standardize` / `unit_norm` are
 * then a 400. stats_out (may be NULL) receives the standardize statistics.
 *
 * Details: exactly one of dataset / builtin / inline (else TG_EINVAL on "data");
 * parameters that the source does not take are TG_EUNKNOWN ("data.noise" with blobs,
 * "data.n" with iris, "data.standardize" without allow_preprocessing); generator limits
 * are the DATASET_GEN_MAX_* of core/generators.h (TG_ETOOLARGE); `dataset` names an
 * uploaded dataset by id or name, and the filled value is its id (env->resolve_id), so
 * that a stored job keeps reading the dataset it was validated against even if the name
 * is later deleted and reused; an uploaded dataset the loader does not find is TG_EINVAL
 * on "data.dataset" (other loader errors pass through); test_fraction or split_seed given for a source with a test split are
 * TG_EINVAL. Defaults filled in: test_fraction (0.2 for builtins and generators, 0
 * otherwise) and split_seed unless the source has a test split, max_train / max_test
 * null, subset_seed 0, standardize / unit_norm false (when allowed), classes / binary
 * null for classification, every generator parameter, and inline.task when inferred.
 * With ds_out NULL a generator is not run (its parameters and the options are checked
 * against its metadata); other sources are loaded and the options applied, so that the
 * verdict is the same. Deterministic: the same value always gives the same bytes. */
int data_resolve(const json_t *data, const data_env *env, int allow_preprocessing,
                 json_t **filled_out, tg_dataset **ds_out, tg_standardize_stats *stats_out,
                 tg_err *err);

#endif
