/* catalog.h: datasets and models as the running service sees them: loaded from the store
 * and decoded into core structs, or encoded and saved. The loaders have the callback
 * shapes of api/ (data_load_fn, model_load_fn) with the store as user data, so that
 * validation (HTTP threads) and jobs (workers) are handed them without knowing the
 * store.
 *
 * Threading: thread-safe (the store is). */
#ifndef TG_CATALOG_H
#define TG_CATALOG_H

#include "../api/kinds.h"
#include "store.h"

/* Loads dataset `id` from the store (ud: the store*) into *out (new, caller frees).
 * Returns TG_OK, TG_ENOTFOUND (no such dataset), TG_EIO (store error), or the decoding
 * errors of data_deserialize (TG_EDATA, TG_ENOMEM). */
int catalog_load_dataset(void *ud, const char *id, tg_dataset **out, tg_err *err);
/* The id of the dataset `ref` names, its id or its name (ud: the store*), into id_out
 * (data_id_fn). Returns TG_OK, TG_ENOTFOUND, TG_EIO. */
int catalog_dataset_id(void *ud, const char *ref, char *id_out, size_t id_len, tg_err *err);
/* Loads model `id` (ud: the store*) into *out (new, caller frees). Returns TG_OK,
 * TG_ENOTFOUND, TG_EIO, or model_from_stored's errors. */
int catalog_load_model(void *ud, const char *id, tg_model **out, tg_err *err);
/* Stores m as a new model produced by job_id (NULL: an upload): sets m->id, created_at
 * and source_job. Returns TG_OK, TG_ENOMEM, TG_EIO. */
int catalog_save_model(store *st, tg_model *m, const char *job_id, tg_err *err);
/* The source of datasets and models for api/ (kind_src) backed by st. */
kind_src catalog_src(store *st);

#endif
