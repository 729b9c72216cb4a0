/* data_codec.h: the encodings of a stored dataset: the dataset object's JSON (API.md
 * section 3.1, the fields that derive from the data, and the arrays) and the versioned
 * byte format in which the store keeps a dataset (layout in data_codec.c). The request
 * side (uploads, the `data` field of a job) is data.h.
 *
 * Threading: reentrant; the datasets are borrowed and only read.
 */
#ifndef TG_API_DATA_CODEC_H
#define TG_API_DATA_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "../core/dataset.h"
#include "../core/tg.h"

/* "classification" or "regression". Static storage. */
const char *data_task_name(tg_task t);

/* The dataset object fields that derive from the data: task, n_train, n_test, d,
 * n_outputs, n_classes, classes (original labels; null for regression). New ref, NULL
 * on allocation failure. */
json_t *data_meta_json(const tg_dataset *ds);
/* x, y, x_test, y_test as JSON (labels as the original labels). New ref, NULL on
 * allocation failure. */
json_t *data_arrays_json(const tg_dataset *ds);

/* Byte serialization of ds for storage (little-endian, versioned). *buf_out is new
 * (malloc; caller frees), *len_out its length. TG_ENOMEM on allocation failure or when
 * the size overflows size_t (sizes are computed with overflow checks). */
int data_serialize(const tg_dataset *ds, unsigned char **buf_out, size_t *len_out);
/* The dataset in buf (borrowed) into *out (new, caller frees with dataset_free). Every
 * size is checked against len before it is used; TG_EIO ("corrupt dataset: ...") for a
 * blob that is truncated, inconsistent, over the DATA_MAX_* limits of data.h or has
 * trailing bytes; TG_ENOMEM. */
int data_deserialize(const unsigned char *buf, size_t len, tg_dataset **out, tg_err *err);

#endif
