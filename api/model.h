/* model.h: models (API.md section 4): a fully-connected network with its task, loss,
 * classes, stored preprocessing, training request and weights (and initial weights).
 * Decoding of uploads (shape checks naming the bad layer), encoding of the model
 * object, the metadata/weights split used for storage, preprocessing of raw inputs and
 * prediction.
 *
 * Threading: reentrant; a tg_model is owned by one thread at a time.
 */
#ifndef TG_API_MODEL_H
#define TG_API_MODEL_H

#include <jansson.h>

#include "../core/dataset.h"
#include "../core/preprocess.h"
#include "../core/mlp.h"
#include "../core/tg.h"

typedef struct tg_model {
    char id[40];
    char created_at[32];
    char source_job[40];     /* "" for uploads */
    tg_task task;
    tg_loss loss;
    mlp_arch arch;
    size_t n_classes;        /* classification: K; regression 0 */
    tg_classes classes;      /* original labels (classification) */
    size_t P;
    double *theta;           /* P (owned) */
    double *theta0;          /* P or NULL: initial weights (owned) */
    tg_standardize_stats pre; /* pre.d == 0: no standardization */
    int unit_norm;
    json_t *training;        /* the filled train request, or NULL (owned ref) */
    int init_from_model;     /* the train request used init_model (no data-free prior) */
} tg_model;

tg_model *model_new(void);
void model_free(tg_model *m);

/* Upload body (section 4): arch, task, loss, n_classes, classes (optional), layers,
 * initial_layers (optional), preprocessing (optional). Shapes checked: 400 naming the
 * layer ("layers[1].weight"). *out: new. */
int model_decode_upload(const json_t *body, tg_model **out, tg_err *err);

/* The model object (without layers: include_weights/include_initial add them). New ref;
 * NULL on allocation failure (never a partial object). */
json_t *model_encode(const tg_model *m, int include_weights, int include_initial);

/* Storage split: the metadata JSON (model_encode without layers, plus what is needed to
 * rebuild the struct) and the weights as raw little-endian doubles. model_meta_text: new
 * string (caller frees), NULL on allocation failure. model_from_stored: *out new;
 * TG_ENOMEM, or TG_EINTERNAL for metadata or weights that do not fit together. */
char *model_meta_text(const tg_model *m);
int model_from_stored(const char *meta, const void *weights, size_t weights_len,
                      const void *initial, size_t initial_len, tg_model **out, tg_err *err);

/* Architecture object <-> mlp_arch ("arch" of section 4). model_arch_json: new ref,
 * NULL on allocation failure. model_arch_decode: TG_OK, or TG_EINVAL / TG_EMISSING /
 * TG_EUNKNOWN naming the field under path. */
json_t *model_arch_json(const mlp_arch *a);
int model_arch_decode(const json_t *o, const char *path, mlp_arch *a, tg_err *err);

/* Applies the stored preprocessing to n raw rows in place. */
void model_preprocess(const tg_model *m, double *x, size_t n);

/* Predict endpoint body for n rows of raw x (n x input_dim, borrowed): {"outputs",
 * "indices", "predictions", "probabilities"} (regression: outputs only). New ref; NULL
 * with TG_ENOMEM in err on allocation failure (never a partial object). Buffers are sized
 * with overflow checks (tg_alloc_array). */
json_t *model_predict_json(const tg_model *m, const double *x_raw, size_t n, tg_err *err);

/* Names of losses: the tg_loss named s, or -1 when unknown. */
int model_loss_from_name(const char *s);
const char *model_loss_name(tg_loss l);

#endif
