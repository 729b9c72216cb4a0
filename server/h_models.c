/* h_models.c: the model endpoints of API.md section 4 (list, get with ?include=,
 * upload, predict, delete).
 * Decoding, shape checks and prediction are api/model.c's. */
#include <stdlib.h>
#include <string.h>

#include "../api/jx.h"
#include "../api/model.h"
#include "app.h"
#include "catalog.h"
#include "handlers.h"
#include "util.h"

#define PREDICT_MAX_ROWS 10000

void h_model_list(hreq *h)
{
    model_row *rows;
    size_t n;
    if (store_model_list(app->st, &rows, &n)) {
        http_reply_error(h, API_INTERNAL, NULL, "store error listing models");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *o = json_loads(rows[i].meta, 0, &je);
        if (o)
            json_array_append_new(arr, o);
        model_row_deinit(&rows[i]);
    }
    free(rows);
    http_reply_json(h, 200, json_pack("{s:o}", "models", arr));
}

/* ?include=weights,initial (default weights). */
static int parse_include(hreq *h, int *weights, int *initial)
{
    const char *inc = http_query(h, "include");
    *weights = 1;
    *initial = 0;
    if (!inc)
        return 0;
    *weights = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", inc);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "weights") == 0)
            *weights = 1;
        else if (strcmp(tok, "initial") == 0)
            *initial = 1;
        else if (strcmp(tok, "none") != 0)
            return -1;
    }
    return 0;
}

void h_model_get(hreq *h)
{
    const char *id = h->m.params[0];
    int w, i;
    tg_err err;
    tg_model *m = NULL;
    if (parse_include(h, &w, &i)) {
        http_reply_error(h, API_INVALID_ARGUMENT, "include",
                         "include must list weights and/or initial (or none)");
        return;
    }
    int rc = catalog_load_model(app->st, id, &m, &err);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no model %s", id);
        return;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "cannot read model %s: %s", id, err.msg);
        return;
    }
    http_reply_json(h, 200, model_encode(m, w, i));
    model_free(m);
}

void h_model_upload(hreq *h)
{
    tg_err err;
    tg_model *m = NULL;
    json_t *body;
    tg_err_clear(&err);
    if (app->shutting_down) {
        http_reply_error(h, API_UNAVAILABLE, NULL, "the server is shutting down");
        return;
    }
    if (!(body = http_body_json(h)))
        return;
    int rc = model_decode_upload(body, &m, &err);
    json_decref(body);
    if (rc) {
        http_reply_status(h, rc, &err);
        return;
    }
    rc = catalog_save_model(app->st, m, NULL, &err);
    if (rc) {
        http_reply_error(h, API_UNAVAILABLE, NULL, "the store is not writable: %s", err.msg);
    } else {
        char loc[80];
        snprintf(loc, sizeof loc, "/v1/models/%s", m->id);
        http_add_header(h, "Location", loc);
        http_reply_json(h, 201, model_encode(m, 0, 0));
    }
    model_free(m);
}

void h_model_predict(hreq *h)
{
    const char *id = h->m.params[0];
    tg_err err;
    tg_model *m = NULL;
    json_t *body = NULL;
    double *x = NULL;
    size_t rows, cols;
    tg_err_clear(&err);
    if (!(body = http_body_json(h)))
        return;
    static const char *const fields[] = {"x", NULL};
    int rc = jx_expect_object(body, "", &err);
    if (!rc)
        rc = jx_check_fields(body, "", fields, &err);
    if (!rc && !json_object_get(body, "x"))
        rc = tg_err_setf(&err, TG_EMISSING, "x", "x is required");
    if (!rc)
        rc = jx_matrix(json_object_get(body, "x"), "x", 0, (size_t)1 << 28, &rows, &cols, &x,
                       &err);
    if (rc) {
        http_reply_status(h, rc, &err);
        goto out;
    }
    if (rows > PREDICT_MAX_ROWS) {
        http_reply_error(h, API_TOO_LARGE, "x", "predict takes at most %d rows (got %zu)",
                         PREDICT_MAX_ROWS, rows);
        goto out;
    }
    rc = catalog_load_model(app->st, id, &m, &err);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no model %s", id);
        goto out;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "cannot read model %s: %s", id, err.msg);
        goto out;
    }
    if (cols != m->arch.dims[0]) {
        http_reply_error(h, API_INVALID_ARGUMENT, "x",
                         "x has %zu columns; the model's input_dim is %zu", cols,
                         m->arch.dims[0]);
        goto out;
    }
    json_t *res = model_predict_json(m, x, rows, &err);
    if (!res)
        http_reply_error(h, API_INTERNAL, NULL, "prediction failed: %s", err.msg);
    else
        http_reply_json(h, 200, res);
out:
    free(x);
    model_free(m);
    json_decref(body);
}

void h_model_delete(hreq *h)
{
    const char *id = h->m.params[0];
    int rc = store_model_delete(app->st, id);
    if (rc == TG_OK)
        http_reply(h, 204, NULL, "", 0);
    else if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no model %s", id);
    else if (rc == TG_ECONFLICT)
        http_reply_error(h, API_CONFLICT, NULL, "model %s is used by a queued or running job", id);
    else
        http_reply_error(h, API_INTERNAL, NULL, "store error deleting model %s", id);
}
