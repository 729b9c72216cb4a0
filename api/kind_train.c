/* kind_train.c: the `train` kind (API.md 5.1): request decoding with every default
 * filled in, validation against the data and an init_model, the memory estimate, and
 * the run: data, validation carve-out, initial weights, core/train.c's loop with
 * per-epoch metrics on the SSE stream, the stored model and the result object. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/train.h"
#include "jx.h"
#include "kinds.h"
#include "train_params.h"

typedef struct train_req {
    train_cfg cfg;
    const char *init;
    double init_std;
    const char *init_model;
    double val_fraction;
} train_req;

/* ---- the params object ------------------------------------------------------------- */

/* Decodes p (the filled params, defaults written in place) against the resolved data.
 * With an init_model, *init_out receives it (new). */
static int decode_params(json_t *p, const tg_dataset *ds, const kind_src *src, train_req *r,
                         tg_model **init_out, kind_plan *plan, tg_err *err)
{
    static const char *const fields[] = {
        "hidden", "activation", "leaky_slope", "bias", "parameterization", "w_std", "b_std",
        "init", "init_std", "loss", "optimizer", "weight_decay", "schedule", "batch_size",
        "epochs", "max_steps", "clip_grad_norm", "label_noise", "validation_fraction",
        "early_stopping", "track", "init_model", "seed", NULL};
    tg_model *im = NULL;
    train_params tp;
    int rc;
    memset(r, 0, sizeof *r);
    *init_out = NULL;
    if ((rc = jx_check_fields(p, "params", fields, err)))
        return rc;

    /* init_model first: it supplies the architecture's defaults. */
    json_t *imv = json_object_get(p, "init_model");
    if (imv && !json_is_null(imv)) {
        if (!json_is_string(imv))
            return tg_err_setf(err, TG_EINVAL, "params.init_model",
                               "params.init_model must be a model id");
        r->init_model = json_string_value(imv);
        if ((rc = kinds_model(src, "params.init_model", r->init_model, &im, plan, err)))
            return rc;
    } else {
        jx_default(p, "init_model", json_null());
    }
    *init_out = im;
    if ((rc = train_params_decode(p, "params", ds, im, 1, &tp, err)))
        return rc;
    r->cfg = tp.cfg;
    r->init = tp.init;
    r->init_std = tp.init_std;
    r->val_fraction = tp.val_fraction;
    r->cfg.seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    return TG_OK;
}

/* ---- validate ---------------------------------------------------------------------- */

/* Resolves the data (and an init_model), decodes the params; references go to plan (may
 * be NULL). */
static int resolve(const json_t *req, json_t *filled, const kind_src *src, tg_dataset **ds,
                   tg_standardize_stats *stats, train_req *r, tg_model **im, kind_plan *plan,
                   tg_err *err)
{
    json_t *p;
    int rc;
    if ((rc = kinds_forbid(req, "model", "for kind train (use params.init_model)", err)) ||
        (rc = kinds_require(req, "data", "for kind train", err)) ||
        (rc = kinds_params(req, filled, &p, err)) ||
        (rc = kinds_data(req, filled, "train", src, 1, ds, stats, plan, err)))
        return rc;
    return decode_params(p, *ds, src, r, im, plan, err);
}

static int train_validate(const json_t *req, const kind_env *env, json_t *filled,
                          kind_plan *plan, tg_err *err)
{
    tg_dataset *ds = NULL;
    tg_model *im = NULL;
    train_req r;
    int rc = resolve(req, filled, &env->src, &ds, NULL, &r, &im, plan, err);
    if (rc == TG_OK) {
        const mlp_arch *a = &r.cfg.arch;
        double P = (double)mlp_param_count(a), total = 0, n = (double)ds->n_train;
        for (size_t l = 1; l <= a->n_layers; l++)
            total += (double)a->dims[l];
        double bs = r.cfg.batch_size == 0 || (double)r.cfg.batch_size > n ? n
                                                                          : (double)r.cfg.batch_size;
        double nmax = bs > 512 ? (bs > 4096 ? 4096 : bs) : 512;
        double data_b = (double)(ds->n_train + ds->n_test) * (double)(ds->d + ds->n_outputs) * 8;
        plan->memory_bytes = 10 * P * 8 + 2 * data_b + nmax * total * 4 * 8 +
                            (double)r.cfg.sharpness_iters * P * 8 + (1 << 20);
        plan->flops = 6.0 * P * n * (double)r.cfg.epochs;
    }
    dataset_free(ds);
    model_free(im);
    return rc;
}

/* ---- run --------------------------------------------------------------------------- */

static void put_split(json_t *o, const char *prefix, const split_metrics *m, int classification)
{
    char k[32];
    if (!m->present)
        return;
    snprintf(k, sizeof k, "%s_loss", prefix);
    json_object_set_new(o, k, jx_real(m->loss));
    snprintf(k, sizeof k, "%s_%s", prefix, classification ? "accuracy" : "mse");
    json_object_set_new(o, k, jx_real(classification ? m->accuracy : m->mse));
}

static json_t *epoch_json(const train_epoch *e, int classification, int with_epoch)
{
    json_t *o = json_object();
    if (with_epoch) {
        json_object_set_new(o, "epoch", json_integer(e->epoch));
        json_object_set_new(o, "lr", jx_real(e->lr));
    }
    put_split(o, "train", &e->train, classification);
    put_split(o, "val", &e->val, classification);
    put_split(o, "test", &e->test, classification);
    json_object_set_new(o, "objective", jx_real(e->objective));
    if (with_epoch) {
        json_object_set_new(o, "grad_norm", jx_real(e->grad_norm));
        if (e->has_sharpness) {
            json_object_set_new(o, "sharpness", jx_real(e->sharpness));
            json_object_set_new(o, "two_over_lr", jx_real(e->two_over_lr));
        }
    }
    return o;
}

static json_t *history_json(const train_result *res, int classification)
{
    json_t *h = json_array();
    for (size_t i = 0; i < res->n_history; i++)
        json_array_append_new(h, epoch_json(&res->history[i], classification, 1));
    return h;
}

typedef struct run_ctx {
    job_io *io;
    int classification;
    long long epochs;
} run_ctx;

static void on_epoch(void *ud, const train_epoch *e, double fraction)
{
    run_ctx *c = ud;
    char msg[64];
    snprintf(msg, sizeof msg, "epoch %lld/%lld", e->epoch, c->epochs);
    c->io->progress(c->io->ud, fraction, msg, epoch_json(e, c->classification, 1));
}

static int train_run_job(const json_t *request, job_io *io, json_t **result_out,
                         json_t **partial_out, tg_err *err)
{
    json_t *filled = json_deep_copy(request);
    tg_dataset *ds = NULL, *split = NULL;
    tg_model *im = NULL, *m = NULL;
    tg_standardize_stats stats;
    train_req r;
    train_result res;
    double *theta = NULL, *theta0 = NULL;
    int rc;
    memset(&stats, 0, sizeof stats);
    memset(&res, 0, sizeof res);
    if (!filled)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    rc = resolve(request, filled, &io->src, &ds, &stats, &r, &im, NULL, err);
    if (rc)
        goto out;
    int classification = ds->task == TG_TASK_CLASSIFICATION;
    train_data td = {.d = ds->d, .ydim = ds->n_outputs, .classification = classification,
                     .x = ds->x, .y = ds->y, .n = ds->n_train, .x_test = ds->x_test,
                     .y_test = ds->y_test, .n_test = ds->n_test};
    if (r.val_fraction > 0) {
        /* The validation carve-out: a stratified split of the training part. */
        split = dataset_new();
        if (!split) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto out;
        }
        split->task = ds->task;
        split->d = ds->d;
        split->n_outputs = ds->n_outputs;
        split->classes.n = ds->classes.n; /* dataset_split stratifies by class */
        split->n_train = ds->n_train;
        split->x = malloc(ds->n_train * ds->d * sizeof(double));
        split->y = malloc(ds->n_train * ds->n_outputs * sizeof(double));
        if (!split->x || !split->y) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(split->x, ds->x, ds->n_train * ds->d * sizeof(double));
        memcpy(split->y, ds->y, ds->n_train * ds->n_outputs * sizeof(double));
        if ((rc = dataset_split(split, r.val_fraction, r.cfg.seed, err))) {
            if (rc == TG_EINVAL) /* core names its own input (test_fraction) */
                tg_err_setf(err, rc, "params.validation_fraction",
                            "params.validation_fraction %g leaves no training points",
                            r.val_fraction);
            goto out;
        }
        td.x = split->x;
        td.y = split->y;
        td.n = split->n_train;
        td.x_val = split->x_test;
        td.y_val = split->y_test;
        td.n_val = split->n_test;
    }
    size_t P = mlp_param_count(&r.cfg.arch);
    theta = malloc(P * sizeof(double));
    theta0 = malloc(P * sizeof(double));
    if (!theta || !theta0) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    if (im)
        memcpy(theta, im->theta, P * sizeof(double));
    else if ((rc = train_init(&r.cfg.arch, r.init, r.init_std, r.cfg.seed, theta, err)))
        goto out;
    memcpy(theta0, theta, P * sizeof(double));

    run_ctx rc_ctx = {io, classification, r.cfg.epochs};
    kinds_stage whole = {io, 0.0, 1.0};
    tg_progress prog = {kinds_stage_progress, &whole};
    double t0 = kinds_now();
    rc = train_run(&r.cfg, &td, theta, &res, &prog, on_epoch, &rc_ctx, err);
    double dt = kinds_now() - t0;
    if (rc) {
        *partial_out = json_pack("{s:o}", "history", history_json(&res, classification));
        goto out;
    }
    /* The model: weights, initial weights, preprocessing and the filled request. */
    m = model_new();
    if (!m) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    m->task = ds->task;
    m->loss = r.cfg.loss;
    m->arch = r.cfg.arch;
    m->n_classes = classification ? ds->classes.n : 0;
    if (classification) {
        m->classes.n = ds->classes.n;
        m->classes.is_string = ds->classes.is_string;
        ds->classes.n = 0; /* moved into the model */
        m->classes.ints = ds->classes.ints;
        m->classes.strs = ds->classes.strs;
        ds->classes.ints = NULL;
        ds->classes.strs = NULL;
    }
    m->P = P;
    m->theta = theta;
    m->theta0 = theta0;
    theta = theta0 = NULL;
    m->pre = stats;
    memset(&stats, 0, sizeof stats);
    m->unit_norm = json_is_true(json_object_get(json_object_get(filled, "data"), "unit_norm"));
    m->training = json_incref(filled);
    m->init_from_model = im != NULL;
    if ((rc = io->save_model(io->ud, m, err)))
        goto out;

    json_t *warnings = json_array();
    if (r.cfg.early_stopping && r.cfg.restore_best && res.best_epoch == 0)
        json_array_append_new(warnings, json_string("early stopping never saw the validation "
                                                    "loss improve; the last weights are kept"));
    *result_out = json_pack("{s:s, s:I, s:I, s:b, s:I, s:f, s:o, s:o, s:o, s:o}", "model", m->id,
                            "param_count", (json_int_t)P, "epochs_run",
                            (json_int_t)res.epochs_run, "stopped_early", res.stopped_early,
                            "steps", (json_int_t)res.steps, "time_s", dt, "samples_per_s",
                            jx_real(dt > 0 ? res.samples / dt : 0), "warnings", warnings,
                            "final", epoch_json(&res.final, classification, 0), "history",
                            history_json(&res, classification));
    if (!*result_out) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory encoding the result");
        goto out;
    }
    if (r.cfg.early_stopping)
        json_object_set_new(*result_out, "best_epoch", json_integer(res.best_epoch));
out:
    train_result_deinit(&res);
    standardize_stats_deinit(&stats);
    free(theta);
    free(theta0);
    dataset_free(ds);
    dataset_free(split);
    model_free(im);
    model_free(m);
    json_decref(filled);
    return rc;
}

static json_t *train_describe(void)
{
    return json_pack("{s:[s], s:s, s:s}", "modes", "default", "data", "required", "model",
                     "forbidden (use params.init_model)");
}

const tg_kind kind_train = {
    .name = "train",
    .summary = "fully-connected networks with the optimizers of the literature; stores the model",
    .validate = train_validate,
    .run = train_run_job,
    .describe = train_describe,
    .schema = "TrainParams",
};
