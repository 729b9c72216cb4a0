/* catalog.c: see catalog.h. */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int catalog_load_dataset(void *ud, const char *id, tg_dataset **out, tg_err *err)
{
    dataset_row d;
    int rc = store_dataset_get(ud, id, STORE_WITH_BLOBS, &d);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "no dataset %s", id);
    if (rc)
        return tg_err_set(err, TG_EIO, "store error reading dataset %s", id);
    rc = data_deserialize(d.body, d.body_len, out, err);
    dataset_row_deinit(&d);
    return rc;
}

int catalog_dataset_id(void *ud, const char *ref, char *id_out, size_t id_len, tg_err *err)
{
    int rc = store_dataset_resolve(ud, ref, id_out, id_len);
    if (rc == TG_EIO)
        return tg_err_set(err, TG_EIO, "store error reading dataset %s", ref);
    return rc;
}

int catalog_load_model(void *ud, const char *id, tg_model **out, tg_err *err)
{
    model_row r;
    int rc = store_model_get(ud, id, STORE_WITH_BLOBS, &r);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "no model %s", id);
    if (rc)
        return tg_err_set(err, TG_EIO, "store error reading model %s", id);
    rc = model_from_stored(r.meta, r.weights, r.weights_len, r.initial, r.initial_len, out, err);
    model_row_deinit(&r);
    return rc;
}

int catalog_save_model(store *st, tg_model *m, const char *job_id, tg_err *err)
{
    util_new_id("m_", m->id, sizeof m->id);
    util_now_rfc3339(m->created_at, sizeof m->created_at);
    snprintf(m->source_job, sizeof m->source_job, "%s", job_id ? job_id : "");
    char *meta = model_meta_text(m);
    if (!meta)
        return tg_err_set(err, TG_ENOMEM, "out of memory encoding the model");
    int rc = store_model_insert(st, m->id, m->created_at, job_id, meta, m->theta,
                                m->P * sizeof(double), m->theta0,
                                m->theta0 ? m->P * sizeof(double) : 0, err);
    free(meta);
    return rc;
}

kind_src catalog_src(store *st)
{
    return (kind_src){.data = {catalog_load_dataset, st, catalog_dataset_id},
                      .load_model = catalog_load_model,
                      .model_ud = st};
}
