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

#define TRAIN_MAX_PARAMS ((size_t)1 << 27)
#define TRAIN_MAX_EPOCHS 1000000

typedef struct train_req {
    train_cfg cfg;
    const char *init;
    double init_std;
    const char *init_model;
    double val_fraction;
} train_req;

static const char *const *const act_choices = activation_names;

/* ---- optimizer and schedule -------------------------------------------------------- */

/* The fields each optimizer takes (torch.optim's), in API.md's order. */
static int opt_fields(tg_opt k, const char **out, size_t *n)
{
    size_t i = 0;
    out[i++] = "lr";
    switch (k) {
    case OPT_MOMENTUM:
    case OPT_NESTEROV: out[i++] = "momentum"; break;
    case OPT_ADAGRAD: out[i++] = "eps"; break;
    case OPT_RMSPROP:
        out[i++] = "alpha";
        out[i++] = "eps";
        out[i++] = "momentum";
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        out[i++] = "betas";
        out[i++] = "eps";
        out[i++] = "amsgrad";
        break;
    default: break;
    }
    *n = i;
    return 0;
}

/* Decodes the fields of optimizer k from o (path), writing defaults. */
static int decode_opt_fields(json_t *o, const char *path, tg_opt k, optim_cfg *c, tg_err *err)
{
    int rc;
    double lr_def = (k == OPT_ADAM || k == OPT_ADAMW) ? 0.001 : 0.01;
    if ((rc = jx_number(o, "lr", path, lr_def, 0, 1, INFINITY, 0, &c->lr, err)))
        return rc;
    jx_default(o, "lr", json_real(c->lr));
    if (k == OPT_MOMENTUM || k == OPT_NESTEROV) {
        if ((rc = jx_number(o, "momentum", path, 0.9, 0, k == OPT_NESTEROV, 1, 1, &c->momentum,
                            err)))
            return rc;
        jx_default(o, "momentum", json_real(c->momentum));
    }
    if (k == OPT_ADAGRAD) {
        if ((rc = jx_number(o, "eps", path, 1e-10, 0, 0, INFINITY, 0, &c->eps, err)))
            return rc;
        jx_default(o, "eps", json_real(c->eps));
    }
    if (k == OPT_RMSPROP) {
        if ((rc = jx_number(o, "alpha", path, 0.99, 0, 0, 1, 0, &c->alpha, err)) ||
            (rc = jx_number(o, "eps", path, 1e-8, 0, 0, INFINITY, 0, &c->eps, err)) ||
            (rc = jx_number(o, "momentum", path, 0, 0, 0, 1, 1, &c->momentum, err)))
            return rc;
        jx_default(o, "alpha", json_real(c->alpha));
        jx_default(o, "eps", json_real(c->eps));
        jx_default(o, "momentum", json_real(c->momentum));
    }
    if (k == OPT_ADAM || k == OPT_ADAMW) {
        char fb[160];
        json_t *b = json_object_get(o, "betas");
        c->beta1 = 0.9;
        c->beta2 = 0.999;
        if (b) {
            jx_path(fb, sizeof fb, path, "betas");
            if (!json_is_array(b) || json_array_size(b) != 2)
                return tg_err_setf(err, TG_EINVAL, fb, "%s must be a pair [beta1, beta2]", fb);
            for (int i = 0; i < 2; i++) {
                char eb[180];
                double v;
                if ((rc = jx_as_number(json_array_get(b, (size_t)i),
                                       jx_index_path(eb, sizeof eb, fb, (size_t)i), &v, err)))
                    return rc;
                if (!(v >= 0 && v < 1))
                    return tg_err_setf(err, TG_EINVAL, eb, "%s must be in [0, 1) (got %g)", eb,
                                       v);
                if (i == 0)
                    c->beta1 = v;
                else
                    c->beta2 = v;
            }
        }
        if ((rc = jx_number(o, "eps", path, 1e-8, 0, 0, INFINITY, 0, &c->eps, err)) ||
            (rc = jx_bool(o, "amsgrad", path, 0, &c->amsgrad, err)))
            return rc;
        jx_default(o, "betas", json_pack("[f, f]", c->beta1, c->beta2));
        jx_default(o, "eps", json_real(c->eps));
        jx_default(o, "amsgrad", json_boolean(c->amsgrad));
    }
    return TG_OK;
}

static const char *const opt_choices[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                          "adam", "adamw", "normalized_gd", "sam", NULL};

static int decode_optimizer(json_t *p, optim_cfg *c, tg_err *err)
{
    const char *path = "params.optimizer", *name;
    const char *fields[16];
    size_t nf;
    int rc;
    json_t *o = json_object_get(p, "optimizer");
    if (!o) {
        o = json_pack("{s:s}", "name", "sgd");
        if (!o || json_object_set_new(p, "optimizer", o))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if ((rc = jx_expect_object(o, path, err)) ||
        (rc = jx_string_req(o, "name", path, opt_choices, 0, &name, err)))
        return rc;
    memset(c, 0, sizeof *c);
    c->kind = (tg_opt)optim_from_name(name);
    tg_opt k = c->kind;
    if (k == OPT_SAM) {
        static const char *const bases[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                            "adam", "adamw", "normalized_gd", NULL};
        const char *base;
        if ((rc = jx_string(o, "base", path, "sgd", bases, 0, &base, err)))
            return rc;
        c->base = (tg_opt)optim_from_name(base);
        k = c->base;
        jx_default(o, "base", json_string(base));
    }
    opt_fields(k, fields, &nf);
    fields[nf++] = "name";
    if (c->kind == OPT_SAM) {
        fields[nf++] = "rho";
        fields[nf++] = "base";
    }
    fields[nf] = NULL;
    if ((rc = jx_check_fields(o, path, fields, err)))
        return rc;
    if (c->kind == OPT_SAM) {
        if ((rc = jx_number(o, "rho", path, 0.05, 0, 1, INFINITY, 0, &c->rho, err)))
            return rc;
        jx_default(o, "rho", json_real(c->rho));
    }
    return decode_opt_fields(o, path, k, c, err);
}

static const char *const sched_choices[] = {"constant", "step",   "multistep", "exponential",
                                            "cosine",   "linear", "inv_sqrt",  NULL};

static int decode_schedule(json_t *p, long long epochs, sched_cfg *s, tg_err *err)
{
    const char *path = "params.schedule", *name;
    int rc;
    long long w;
    json_t *o = json_object_get(p, "schedule");
    if (!o) {
        o = json_pack("{s:s}", "name", "constant");
        if (!o || json_object_set_new(p, "schedule", o))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    if ((rc = jx_expect_object(o, path, err)) ||
        (rc = jx_string_req(o, "name", path, sched_choices, 0, &name, err)))
        return rc;
    memset(s, 0, sizeof *s);
    s->kind = (tg_sched)sched_from_name(name);
    const char *fields[8] = {"name", "warmup_epochs"};
    size_t nf = 2;
    switch (s->kind) {
    case SCHED_STEP: fields[nf++] = "step_size"; fields[nf++] = "gamma"; break;
    case SCHED_MULTISTEP: fields[nf++] = "milestones"; fields[nf++] = "gamma"; break;
    case SCHED_EXPONENTIAL: fields[nf++] = "gamma"; break;
    case SCHED_COSINE: fields[nf++] = "t_max"; fields[nf++] = "eta_min"; break;
    case SCHED_LINEAR: fields[nf++] = "end_factor"; fields[nf++] = "total_epochs"; break;
    default: break;
    }
    fields[nf] = NULL;
    if ((rc = jx_check_fields(o, path, fields, err)) ||
        (rc = jx_int(o, "warmup_epochs", path, 0, 0, TRAIN_MAX_EPOCHS, &w, err)))
        return rc;
    s->warmup = w;
    jx_default(o, "warmup_epochs", json_integer(w));
    switch (s->kind) {
    case SCHED_STEP: {
        long long ss;
        if ((rc = jx_int(o, "step_size", path, 10, 1, TRAIN_MAX_EPOCHS, &ss, err)) ||
            (rc = jx_number(o, "gamma", path, 0.1, 0, 1, INFINITY, 0, &s->gamma, err)))
            return rc;
        s->step_size = ss;
        jx_default(o, "step_size", json_integer(ss));
        jx_default(o, "gamma", json_real(s->gamma));
        break;
    }
    case SCHED_MULTISTEP: {
        char fb[160], eb[180];
        json_t *m = json_object_get(o, "milestones");
        jx_path(fb, sizeof fb, path, "milestones");
        if (!m)
            return tg_err_setf(err, TG_EMISSING, fb, "%s is required for multistep", fb);
        if (!json_is_array(m) || json_array_size(m) > SCHED_MAX_MILESTONES)
            return tg_err_setf(err, TG_EINVAL, fb, "%s must be a list of at most %d epochs", fb,
                               SCHED_MAX_MILESTONES);
        for (size_t i = 0; i < json_array_size(m); i++) {
            long long v;
            if ((rc = jx_as_int(json_array_get(m, i), jx_index_path(eb, sizeof eb, fb, i), 0,
                                TRAIN_MAX_EPOCHS, &v, err)))
                return rc;
            if (i > 0 && v <= s->milestones[i - 1])
                return tg_err_setf(err, TG_EINVAL, eb, "%s must increase", fb);
            s->milestones[i] = v;
        }
        s->n_milestones = json_array_size(m);
        if ((rc = jx_number(o, "gamma", path, 0.1, 0, 1, INFINITY, 0, &s->gamma, err)))
            return rc;
        jx_default(o, "gamma", json_real(s->gamma));
        break;
    }
    case SCHED_EXPONENTIAL:
        if ((rc = jx_number(o, "gamma", path, 0.95, 0, 1, INFINITY, 0, &s->gamma, err)))
            return rc;
        jx_default(o, "gamma", json_real(s->gamma));
        break;
    case SCHED_COSINE: {
        long long tm;
        if ((rc = jx_int(o, "t_max", path, epochs, 1, TRAIN_MAX_EPOCHS, &tm, err)) ||
            (rc = jx_number(o, "eta_min", path, 0, 0, 0, INFINITY, 0, &s->eta_min, err)))
            return rc;
        s->t_max = (double)tm;
        jx_default(o, "t_max", json_integer(tm));
        jx_default(o, "eta_min", json_real(s->eta_min));
        break;
    }
    case SCHED_LINEAR: {
        long long te;
        if ((rc = jx_number(o, "end_factor", path, 0.01, 0, 0, INFINITY, 0, &s->end_factor,
                            err)) ||
            (rc = jx_int(o, "total_epochs", path, epochs, 1, TRAIN_MAX_EPOCHS, &te, err)))
            return rc;
        s->total_epochs = (double)te;
        jx_default(o, "end_factor", json_real(s->end_factor));
        jx_default(o, "total_epochs", json_integer(te));
        break;
    }
    default: break;
    }
    return TG_OK;
}

/* ---- the params object ------------------------------------------------------------- */

/* Null or absent: 1 (use the default); else 0. */
static int is_unset(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return !v || json_is_null(v);
}

/* Compares an explicitly given architecture field with the init model's. */
static int arch_conflict(const char *field, tg_err *err)
{
    char fb[96];
    snprintf(fb, sizeof fb, "params.%s", field);
    return tg_err_setf(err, TG_EINVAL, fb, "%s does not match the architecture of "
                       "params.init_model (omit it to use the model's)", fb);
}

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
    static const char *const params_choices[] = {"standard", "ntk", NULL};
    static const char *const init_choices[] = {"default", "xavier_uniform", "xavier_normal",
                                               "he_uniform", "he_normal", "orthogonal",
                                               "normal", NULL};
    static const char *const loss_choices[] = {"cross_entropy", "logistic", "mse", NULL};
    train_cfg *c = &r->cfg;
    tg_model *im = NULL;
    const char *s;
    long long v;
    int rc;
    int classification = ds->task == TG_TASK_CLASSIFICATION;
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

    /* Architecture. */
    mlp_arch *a = &c->arch;
    memset(a, 0, sizeof *a);
    json_t *hidden = json_object_get(p, "hidden");
    if (!hidden) {
        hidden = json_array();
        if (im)
            for (size_t l = 1; l < im->arch.n_layers; l++)
                json_array_append_new(hidden, json_integer((json_int_t)im->arch.dims[l]));
        else
            json_array_append_new(hidden, json_integer(64));
        if (!hidden || json_object_set_new(p, "hidden", hidden))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    } else if (im) {
        int same = json_is_array(hidden) && json_array_size(hidden) + 1 == im->arch.n_layers;
        for (size_t l = 1; same && l < im->arch.n_layers; l++)
            same = json_integer_value(json_array_get(hidden, l - 1)) ==
                   (json_int_t)im->arch.dims[l];
        if (!same)
            return arch_conflict("hidden", err);
    }
    if (!json_is_array(hidden) || json_array_size(hidden) > MLP_MAX_LAYERS - 1)
        return tg_err_setf(err, TG_EINVAL, "params.hidden",
                           "params.hidden must be a list of at most %d widths", MLP_MAX_LAYERS - 1);
    a->dims[0] = ds->d;
    for (size_t i = 0; i < json_array_size(hidden); i++) {
        char eb[64];
        if ((rc = jx_as_int(json_array_get(hidden, i), jx_index_path(eb, sizeof eb, "params.hidden", i),
                            1, 1000000, &v, err)))
            return rc;
        a->dims[i + 1] = (size_t)v;
    }
    a->n_layers = json_array_size(hidden) + 1;

    if ((rc = jx_string(p, "activation", "params", im ? mlp_act_name(im->arch.act) : "relu",
                        act_choices, 0, &s, err)))
        return rc;
    a->act = (tg_act)mlp_act_from_name(s);
    if (im && a->act != im->arch.act)
        return arch_conflict("activation", err);
    jx_default(p, "activation", json_string(s));
    if (a->act == ACT_LEAKY_RELU) {
        if ((rc = jx_number(p, "leaky_slope", "params", im ? im->arch.leaky_slope : 0.01,
                            -INFINITY, 0, INFINITY, 0, &a->leaky_slope, err)))
            return rc;
        if (im && a->leaky_slope != im->arch.leaky_slope)
            return arch_conflict("leaky_slope", err);
        jx_default(p, "leaky_slope", json_real(a->leaky_slope));
    } else if (json_object_get(p, "leaky_slope")) {
        return tg_err_setf(err, TG_EINVAL, "params.leaky_slope",
                           "params.leaky_slope applies to the leaky_relu activation only");
    } else {
        a->leaky_slope = 0.01;
    }
    if ((rc = jx_bool(p, "bias", "params", im ? im->arch.bias : 1, &a->bias, err)))
        return rc;
    jx_default(p, "bias", json_boolean(a->bias));
    if ((rc = jx_string(p, "parameterization", "params",
                        im ? (im->arch.ntk ? "ntk" : "standard") : "standard", params_choices, 0,
                        &s, err)))
        return rc;
    a->ntk = strcmp(s, "ntk") == 0;
    jx_default(p, "parameterization", json_string(s));
    if (!a->ntk) {
        if (!is_unset(p, "w_std") || !is_unset(p, "b_std"))
            return tg_err_setf(err, TG_EINVAL, is_unset(p, "w_std") ? "params.b_std" : "params.w_std",
                               "w_std and b_std apply to the ntk parameterization only");
        a->w_std = 1.0;
        a->b_std = 0.0;
    } else {
        if ((rc = jx_number(p, "w_std", "params", im ? im->arch.w_std : 1.0, 0, 1, INFINITY, 0,
                            &a->w_std, err)) ||
            (rc = jx_number(p, "b_std", "params", im ? im->arch.b_std : 0.0, 0, 0, INFINITY, 0,
                            &a->b_std, err)))
            return rc;
        jx_default(p, "w_std", json_real(a->w_std));
        jx_default(p, "b_std", json_real(a->b_std));
    }
    if (im && (a->bias != im->arch.bias || a->ntk != im->arch.ntk))
        return arch_conflict(a->bias != im->arch.bias ? "bias" : "parameterization", err);
    if (im && a->ntk && (a->w_std != im->arch.w_std || a->b_std != im->arch.b_std))
        return arch_conflict(a->w_std != im->arch.w_std ? "w_std" : "b_std", err);

    /* Loss and the output layer. */
    const char *loss_def = im ? model_loss_name(im->loss)
                              : (classification ? "cross_entropy" : "mse");
    if ((rc = jx_string(p, "loss", "params", loss_def, loss_choices, 0, &s, err)))
        return rc;
    c->loss = (tg_loss)model_loss_from_name(s);
    jx_default(p, "loss", json_string(s));
    if (!classification && c->loss != LOSS_MSE)
        return tg_err_setf(err, TG_EINVAL, "params.loss",
                           "params.loss %s needs a classification task; the data is regression", s);
    if (c->loss == LOSS_LOGISTIC && ds->classes.n != 2)
        return tg_err_setf(err, TG_EINVAL, "params.loss",
                           "params.loss logistic needs 2 classes (the data has %zu)", ds->classes.n);
    if (classification && ds->classes.n < 2)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the training data has %zu class; classification needs at least 2",
                           ds->classes.n);
    c->n_classes = classification ? ds->classes.n : 0;
    a->dims[a->n_layers] = classification ? (c->loss == LOSS_LOGISTIC ? 1 : ds->classes.n)
                                          : ds->n_outputs;
    if (im) {
        if (im->arch.dims[0] != ds->d)
            return tg_err_setf(err, TG_EINVAL, "params.init_model",
                               "params.init_model takes %zu inputs; the data has %zu features",
                               im->arch.dims[0], ds->d);
        if (im->arch.dims[im->arch.n_layers] != a->dims[a->n_layers])
            return tg_err_setf(err, TG_EINVAL, "params.init_model",
                               "params.init_model has %zu outputs; this task needs %zu (labels "
                               "outside the model's classes?)",
                               im->arch.dims[im->arch.n_layers], a->dims[a->n_layers]);
        if ((im->task == TG_TASK_CLASSIFICATION) != classification)
            return tg_err_setf(err, TG_EINVAL, "params.init_model",
                               "params.init_model is a %s model; the data is %s",
                               im->task == TG_TASK_CLASSIFICATION ? "classification" : "regression",
                               classification ? "classification" : "regression");
    }
    size_t P = mlp_param_count(a);
    if (P > TRAIN_MAX_PARAMS)
        return tg_err_setf(err, TG_ETOOLARGE, "params.hidden",
                           "the network has %zu parameters (limit %zu)", P, TRAIN_MAX_PARAMS);

    /* Initialization. */
    if ((rc = jx_string(p, "init", "params", "default", init_choices, 0, &r->init, err)))
        return rc;
    jx_default(p, "init", json_string(r->init));
    if (strcmp(r->init, "normal") == 0) {
        if ((rc = jx_number(p, "init_std", "params", 0.01, 0, 0, INFINITY, 0, &r->init_std, err)))
            return rc;
        jx_default(p, "init_std", json_real(r->init_std));
    } else if (json_object_get(p, "init_std")) {
        return tg_err_setf(err, TG_EINVAL, "params.init_std",
                           "params.init_std applies to init \"normal\" only");
    }
    if (im && json_object_get(p, "init") && strcmp(r->init, "default") != 0)
        return tg_err_setf(err, TG_EINVAL, "params.init",
                           "params.init does not apply with params.init_model (the weights "
                           "come from the model)");

    /* Optimization. */
    if ((rc = jx_int(p, "epochs", "params", 20, 1, TRAIN_MAX_EPOCHS, &c->epochs, err)))
        return rc;
    jx_default(p, "epochs", json_integer(c->epochs));
    if ((rc = decode_optimizer(p, &c->opt, err)) ||
        (rc = decode_schedule(p, c->epochs, &c->sched, err)) ||
        (rc = jx_number(p, "weight_decay", "params", 0, 0, 0, INFINITY, 0, &c->weight_decay,
                        err)))
        return rc;
    jx_default(p, "weight_decay", json_real(c->weight_decay));
    c->opt.weight_decay = c->weight_decay;
    if ((rc = jx_int(p, "batch_size", "params", 32, 0, 100000000, &v, err)))
        return rc;
    c->batch_size = (size_t)v;
    jx_default(p, "batch_size", json_integer(v));
    if (is_unset(p, "max_steps")) {
        json_object_set_new(p, "max_steps", json_null());
    } else {
        if ((rc = jx_int(p, "max_steps", "params", 0, 1, 1LL << 40, &c->max_steps, err)))
            return rc;
    }
    if (is_unset(p, "clip_grad_norm")) {
        json_object_set_new(p, "clip_grad_norm", json_null());
    } else if ((rc = jx_number(p, "clip_grad_norm", "params", 0, 0, 1, INFINITY, 0, &c->clip,
                               err))) {
        return rc;
    }

    /* Label noise. */
    json_t *ln = json_object_get(p, "label_noise");
    if (!ln || json_is_null(ln)) {
        json_object_set_new(p, "label_noise", json_null());
    } else {
        static const char *const lnf[] = {"sigma", "flip_prob", NULL};
        if ((rc = jx_expect_object(ln, "params.label_noise", err)) ||
            (rc = jx_check_fields(ln, "params.label_noise", lnf, err)))
            return rc;
        if (json_object_size(ln) != 1)
            return tg_err_setf(err, TG_EINVAL, "params.label_noise",
                               "params.label_noise takes exactly one of sigma, flip_prob");
        if (json_object_get(ln, "sigma")) {
            if (classification)
                return tg_err_setf(err, TG_EINVAL, "params.label_noise.sigma",
                                   "label_noise.sigma applies to regression; use flip_prob");
            c->noise = NOISE_SIGMA;
            if ((rc = jx_number(ln, "sigma", "params.label_noise", 0, 0, 0, INFINITY, 0,
                                &c->noise_level, err)))
                return rc;
        } else {
            if (!classification)
                return tg_err_setf(err, TG_EINVAL, "params.label_noise.flip_prob",
                                   "label_noise.flip_prob applies to classification; use sigma");
            c->noise = NOISE_FLIP;
            if ((rc = jx_number(ln, "flip_prob", "params.label_noise", 0, 0, 0, 1, 0,
                                &c->noise_level, err)))
                return rc;
        }
    }

    /* Validation and early stopping. */
    if ((rc = jx_number(p, "validation_fraction", "params", 0, 0, 0, 1, 1, &r->val_fraction,
                        err)))
        return rc;
    jx_default(p, "validation_fraction", json_real(r->val_fraction));
    json_t *es = json_object_get(p, "early_stopping");
    if (!es || json_is_null(es)) {
        json_object_set_new(p, "early_stopping", json_null());
    } else {
        static const char *const esf[] = {"patience", "min_delta", "restore_best", NULL};
        const char *ep = "params.early_stopping";
        if ((rc = jx_expect_object(es, ep, err)) || (rc = jx_check_fields(es, ep, esf, err)) ||
            (rc = jx_int(es, "patience", ep, 10, 1, TRAIN_MAX_EPOCHS, &c->patience, err)) ||
            (rc = jx_number(es, "min_delta", ep, 0, 0, 0, INFINITY, 0, &c->min_delta, err)) ||
            (rc = jx_bool(es, "restore_best", ep, 1, &c->restore_best, err)))
            return rc;
        if (!(r->val_fraction > 0))
            return tg_err_setf(err, TG_EINVAL, "params.early_stopping",
                               "params.early_stopping needs params.validation_fraction > 0");
        c->early_stopping = 1;
        jx_default(es, "patience", json_integer(c->patience));
        jx_default(es, "min_delta", json_real(c->min_delta));
        jx_default(es, "restore_best", json_boolean(c->restore_best));
    }

    /* Tracking. */
    json_t *tr = json_object_get(p, "track");
    if (!tr) {
        tr = json_object();
        if (!tr || json_object_set_new(p, "track", tr))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    static const char *const trf[] = {"sharpness_every", "sharpness_iters", NULL};
    if ((rc = jx_expect_object(tr, "params.track", err)) ||
        (rc = jx_check_fields(tr, "params.track", trf, err)))
        return rc;
    if (!is_unset(tr, "sharpness_every")) {
        long long it;
        if ((rc = jx_int(tr, "sharpness_every", "params.track", 0, 1, TRAIN_MAX_EPOCHS,
                         &c->sharpness_every, err)) ||
            (rc = jx_int(tr, "sharpness_iters", "params.track", 20, 2, 500, &it, err)))
            return rc;
        c->sharpness_iters = (int)it;
        jx_default(tr, "sharpness_iters", json_integer(it));
    } else if (json_object_get(tr, "sharpness_iters")) {
        return tg_err_setf(err, TG_EINVAL, "params.track.sharpness_iters",
                           "params.track.sharpness_iters needs sharpness_every");
    }
    c->seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
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
