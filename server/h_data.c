/* h_data.c: the dataset endpoints of API.md 3.1: upload (JSON or CSV), list, get
 * (?include=data) and delete, and the list of builtins. Decoding and validation are
 * api/data.c's; this file moves bytes between HTTP and the store. The URL names a
 * dataset by its id or its (unique) name; the store resolves either. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../api/data.h"
#include "../api/jx.h"
#include "app.h"
#include "handlers.h"
#include "util.h"

/* The dataset object: id, name, created_at and the stored meta fields. */
static json_t *dataset_object(const dataset_row *d)
{
    json_error_t je;
    json_t *meta = d->meta ? json_loads(d->meta, 0, &je) : NULL;
    json_t *o = json_pack("{s:s, s:s}", "id", d->id, "name", d->name ? d->name : "");
    if (meta)
        json_object_update(o, meta);
    json_object_set_new(o, "created_at", json_string(d->created_at));
    json_decref(meta);
    return o;
}

static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v < 1))
        return -1;
    *out = v;
    return 0;
}

void h_dataset_upload(hreq *h)
{
    tg_err err;
    tg_dataset *ds = NULL;
    json_t *body = NULL;
    char *name = NULL;
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    int rc;

    tg_err_clear(&err);
    if (app->shutting_down) {
        http_reply_error(h, API_UNAVAILABLE, NULL, "the server is shutting down");
        return;
    }
    if (http_content_type_is(h, "text/csv")) {
        data_csv_opts o = {0};
        const char *tf = http_query(h, "test_fraction"), *seed = http_query(h, "seed");
        const char *qname = http_query(h, "name");
        o.target = http_query(h, "target");
        o.task = http_query(h, "task");
        if (o.task && strcmp(o.task, "classification") != 0 &&
            strcmp(o.task, "regression") != 0) {
            http_reply_error(h, API_INVALID_ARGUMENT, "task",
                             "task must be classification or regression");
            return;
        }
        if (tf && parse_fraction(tf, &o.test_fraction)) {
            http_reply_error(h, API_INVALID_ARGUMENT, "test_fraction",
                             "test_fraction must be a number in [0, 1)");
            return;
        }
        if (seed) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(seed, &end, 10);
            if (!*seed || *end || seed[0] == '-' || errno == ERANGE) {
                http_reply_error(h, API_INVALID_ARGUMENT, "seed",
                                 "seed must be a non-negative integer");
                return;
            }
            o.seed = v;
        }
        if (qname && data_check_name(qname, &err)) {
            http_reply_status(h, err.code, &err);
            return;
        }
        rc = data_upload_csv(h->body.p ? h->body.p : "", h->body.len, &o, &ds, &err);
        name = strdup(qname ? qname : "");
    } else if (http_content_type_is(h, "application/json")) {
        if (!(body = http_body_json(h)))
            return;
        rc = data_upload_json(body, &name, &ds, &err);
    } else {
        const char *ct = http_header(h, "Content-Type");
        http_reply_error(h, API_UNSUPPORTED_MEDIA_TYPE, NULL,
                         "upload a dataset as application/json or text/csv (got %s)",
                         ct ? ct : "no Content-Type");
        return;
    }
    if (rc) {
        http_reply_status(h, rc, &err);
        goto out;
    }
    if (!name || data_serialize(ds, &blob, &blob_len)) {
        http_reply_error(h, API_INTERNAL, NULL, "out of memory storing the dataset");
        goto out;
    }
    dataset_row d;
    memset(&d, 0, sizeof d);
    util_new_id("d_", d.id, sizeof d.id);
    util_now_rfc3339(d.created_at, sizeof d.created_at);
    d.name = name;
    json_t *meta = data_meta_json(ds);
    d.meta = jx_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    d.body = blob;
    d.body_len = blob_len;
    rc = store_dataset_insert(app->st, &d, &err);
    if (rc == TG_ECONFLICT) {
        http_reply_error(h, API_CONFLICT, "name",
                         "a dataset named \"%.200s\" exists; names are unique (choose another, "
                         "or delete that one first)", name);
    } else if (rc) {
        http_reply_error(h, API_UNAVAILABLE, NULL, "the store is not writable: %s", err.msg);
    } else {
        char loc[80];
        snprintf(loc, sizeof loc, "/v1/datasets/%s", d.id);
        http_add_header(h, "Location", loc);
        http_reply_json(h, 201, dataset_object(&d));
    }
    free(d.meta);
out:
    free(blob);
    free(name);
    dataset_free(ds);
    json_decref(body);
}

void h_dataset_list(hreq *h)
{
    dataset_row *rows;
    size_t n;
    if (store_dataset_list(app->st, &rows, &n)) {
        http_reply_error(h, API_INTERNAL, NULL, "store error listing datasets");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, dataset_object(&rows[i]));
        dataset_row_deinit(&rows[i]);
    }
    free(rows);
    http_reply_json(h, 200, json_pack("{s:o}", "datasets", arr));
}

void h_dataset_get(hreq *h)
{
    const char *id = h->m.params[0];
    const char *inc = http_query(h, "include");
    store_blobs with_data = STORE_NO_BLOBS;
    if (inc) {
        if (strcmp(inc, "data") != 0) {
            http_reply_error(h, API_INVALID_ARGUMENT, "include", "include must be \"data\"");
            return;
        }
        with_data = STORE_WITH_BLOBS;
    }
    dataset_row d;
    int rc = store_dataset_get(app->st, id, with_data, &d);
    if (rc == TG_ENOTFOUND) {
        http_reply_error(h, API_NOT_FOUND, NULL, "no dataset %s", id);
        return;
    }
    if (rc) {
        http_reply_error(h, API_INTERNAL, NULL, "store error reading dataset %s", id);
        return;
    }
    json_t *o = dataset_object(&d);
    if (with_data) {
        tg_dataset *ds = NULL;
        tg_err err;
        if (data_deserialize(d.body, d.body_len, &ds, &err)) {
            json_decref(o);
            dataset_row_deinit(&d);
            http_reply_error(h, API_INTERNAL, NULL, "stored dataset %s is unreadable: %s", id,
                             err.msg);
            return;
        }
        json_t *arrays = data_arrays_json(ds);
        json_object_update(o, arrays);
        json_decref(arrays);
        dataset_free(ds);
    }
    dataset_row_deinit(&d);
    http_reply_json(h, 200, o);
}

void h_dataset_delete(hreq *h)
{
    const char *id = h->m.params[0];
    int rc = store_dataset_delete(app->st, id);
    if (rc == TG_OK)
        http_reply(h, 204, NULL, "", 0);
    else if (rc == TG_ENOTFOUND)
        http_reply_error(h, API_NOT_FOUND, NULL, "no dataset %s", id);
    else if (rc == TG_ECONFLICT)
        http_reply_error(h, API_CONFLICT, NULL, "dataset %s is used by a queued or running job",
                         id);
    else
        http_reply_error(h, API_INTERNAL, NULL, "store error deleting dataset %s", id);
}

void h_builtins(hreq *h)
{
    tg_err err;
    tg_err_clear(&err);
    json_t *o = data_builtins_json(&err);
    if (!o) {
        http_reply_error(h, API_INTERNAL, NULL, "cannot list the builtins: %s", err.msg);
        return;
    }
    http_reply_json(h, 200, o);
}
