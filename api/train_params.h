/* train_params.h: the `train` params object (API.md 5.1) as core/train.h's configuration,
 * for the train kind and for the shapley kind's mlp utility.
 *
 * train_params_decode validates the architecture, loss, init, optimizer, schedule,
 * epochs, batch size, max_steps, clipping and label noise fields of p (and with `full`
 * also validation_fraction, early_stopping and track), writing every default into p.
 * Error paths are prefix.field ("params.hidden", "params.utility.optimizer.lr"). The
 * caller checks the allowed field names (jx_check_fields), resolves init_model (im: its
 * architecture supplies the defaults and must match; NULL for none) and sets cfg.seed. */
#ifndef TG_TRAIN_PARAMS_H
#define TG_TRAIN_PARAMS_H

#include <jansson.h>

#include "../core/train.h"
#include "data.h"
#include "model.h"

#define TRAIN_MAX_PARAMS ((size_t)1 << 27)
#define TRAIN_MAX_EPOCHS 1000000
#define TP_PATH 160 /* room for a field path */

typedef struct train_params {
    train_cfg cfg;        /* seed 0: the caller's to set */
    const char *init;     /* borrowed from p */
    double init_std;
    double val_fraction;  /* full only */
} train_params;

/* Returns TG_OK, TG_EINVAL / TG_EMISSING / TG_EUNKNOWN (field named), TG_ETOOLARGE (more
 * than TRAIN_MAX_PARAMS parameters: field prefix.hidden), TG_ENOMEM. */
int train_params_decode(json_t *p, const char *prefix, const tg_dataset *ds, const tg_model *im,
                        int full, train_params *out, tg_err *err);

#endif
