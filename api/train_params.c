/* train_params.c: the `train` params object (API.md 5.1) decoded into core/train.h's
 * configuration with every default written in place, shared by the train kind and the
 * shapley kind's mlp utility (whose error paths are prefixed "params.utility"). */
#include "train_params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"

/* The path of field k under the prefix, into fb. */
#define PF(k) jx_path(fb, sizeof fb, pre, k)

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
        char fb[TP_PATH];
        json_t *b = json_object_get(o, "betas");
        c->beta1 = 0.9;
        c->beta2 = 0.999;
        if (b) {
            jx_path(fb, sizeof fb, path, "betas");
            if (!json_is_array(b) || json_array_size(b) != 2)
                return tg_err_setf(err, TG_EINVAL, fb, "%s must be a pair [beta1, beta2]", fb);
            for (int i = 0; i < 2; i++) {
                char eb[TP_PATH + 24];
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

static int decode_optimizer(json_t *p, const char *pre, optim_cfg *c, tg_err *err)
{
    char path[TP_PATH];
    const char *name;
    jx_path(path, sizeof path, pre, "optimizer");
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

static int decode_schedule(json_t *p, const char *pre, long long epochs, sched_cfg *s,
                           tg_err *err)
{
    char path[TP_PATH];
    const char *name;
    jx_path(path, sizeof path, pre, "schedule");
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
        char fb[TP_PATH], eb[TP_PATH + 24];
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
static int arch_conflict(const char *pre, const char *field, tg_err *err)
{
    char fb[TP_PATH], ib[TP_PATH];
    jx_path(fb, sizeof fb, pre, field);
    jx_path(ib, sizeof ib, pre, "init_model");
    return tg_err_setf(err, TG_EINVAL, fb, "%s does not match the architecture of "
                       "%s (omit it to use the model's)", fb, ib);
}

/* ---- the params object ------------------------------------------------------------- */

int train_params_decode(json_t *p, const char *pre, const tg_dataset *ds, const tg_model *im,
                        int full, train_params *r, tg_err *err)
{
    static const char *const params_choices[] = {"standard", "ntk", NULL};
    static const char *const init_choices[] = {"default", "xavier_uniform", "xavier_normal",
                                               "he_uniform", "he_normal", "orthogonal",
                                               "normal", NULL};
    static const char *const loss_choices[] = {"cross_entropy", "logistic", "mse", NULL};
    train_cfg *c = &r->cfg;
    char fb[TP_PATH], gb[TP_PATH];
    const char *s;
    long long v;
    int rc;
    int classification = ds->task == TG_TASK_CLASSIFICATION;
    memset(r, 0, sizeof *r);

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
    }
    if (!json_is_array(hidden) || json_array_size(hidden) > MLP_MAX_LAYERS - 1)
        return tg_err_setf(err, TG_EINVAL, PF("hidden"),
                           "%s must be a list of at most %d widths", fb, MLP_MAX_LAYERS - 1);
    a->dims[0] = ds->d;
    for (size_t i = 0; i < json_array_size(hidden); i++) {
        char eb[64];
        if ((rc = jx_as_int(json_array_get(hidden, i), jx_index_path(eb, sizeof eb, PF("hidden"), i),
                            1, 1000000, &v, err)))
            return rc;
        a->dims[i + 1] = (size_t)v;
        /* an integral real (8.0) is an integer (API.md 1): stored as one */
        if (json_is_real(json_array_get(hidden, i)) &&
            json_array_set_new(hidden, i, json_integer(v)))
            return tg_err_set(err, TG_ENOMEM, "out of memory");
    }
    a->n_layers = json_array_size(hidden) + 1;
    if (im) { /* compared as integers, after the checks above */
        int same = a->n_layers == im->arch.n_layers;
        for (size_t l = 1; same && l < im->arch.n_layers; l++)
            same = a->dims[l] == im->arch.dims[l];
        if (!same)
            return arch_conflict(pre, "hidden", err);
    }

    if ((rc = jx_string(p, "activation", pre, im ? mlp_act_name(im->arch.act) : "relu",
                        act_choices, 0, &s, err)))
        return rc;
    a->act = (tg_act)mlp_act_from_name(s);
    if (im && a->act != im->arch.act)
        return arch_conflict(pre, "activation", err);
    jx_default(p, "activation", json_string(s));
    if (a->act == ACT_LEAKY_RELU) {
        if ((rc = jx_number(p, "leaky_slope", pre, im ? im->arch.leaky_slope : 0.01,
                            -INFINITY, 0, INFINITY, 0, &a->leaky_slope, err)))
            return rc;
        if (im && a->leaky_slope != im->arch.leaky_slope)
            return arch_conflict(pre, "leaky_slope", err);
        jx_default(p, "leaky_slope", json_real(a->leaky_slope));
    } else if (json_object_get(p, "leaky_slope")) {
        return tg_err_setf(err, TG_EINVAL, PF("leaky_slope"),
                           "%s applies to the leaky_relu activation only", fb);
    } else {
        a->leaky_slope = 0.01;
    }
    if ((rc = jx_bool(p, "bias", pre, im ? im->arch.bias : 1, &a->bias, err)))
        return rc;
    jx_default(p, "bias", json_boolean(a->bias));
    if ((rc = jx_string(p, "parameterization", pre,
                        im ? (im->arch.ntk ? "ntk" : "standard") : "standard", params_choices, 0,
                        &s, err)))
        return rc;
    a->ntk = strcmp(s, "ntk") == 0;
    jx_default(p, "parameterization", json_string(s));
    if (!a->ntk) {
        if (!is_unset(p, "w_std") || !is_unset(p, "b_std"))
            return tg_err_setf(err, TG_EINVAL, PF(is_unset(p, "w_std") ? "b_std" : "w_std"),
                               "w_std and b_std apply to the ntk parameterization only");
        a->w_std = 1.0;
        a->b_std = 0.0;
    } else {
        if ((rc = jx_number(p, "w_std", pre, im ? im->arch.w_std : 1.0, 0, 1, INFINITY, 0,
                            &a->w_std, err)) ||
            (rc = jx_number(p, "b_std", pre, im ? im->arch.b_std : 0.0, 0, 0, INFINITY, 0,
                            &a->b_std, err)))
            return rc;
        jx_default(p, "w_std", json_real(a->w_std));
        jx_default(p, "b_std", json_real(a->b_std));
    }
    if (im && (a->bias != im->arch.bias || a->ntk != im->arch.ntk))
        return arch_conflict(pre, a->bias != im->arch.bias ? "bias" : "parameterization", err);
    if (im && a->ntk && (a->w_std != im->arch.w_std || a->b_std != im->arch.b_std))
        return arch_conflict(pre, a->w_std != im->arch.w_std ? "w_std" : "b_std", err);

    /* Loss and the output layer. */
    const char *loss_def = im ? model_loss_name(im->loss)
                              : (classification ? "cross_entropy" : "mse");
    if ((rc = jx_string(p, "loss", pre, loss_def, loss_choices, 0, &s, err)))
        return rc;
    c->loss = (tg_loss)model_loss_from_name(s);
    jx_default(p, "loss", json_string(s));
    if (!classification && c->loss != LOSS_MSE)
        return tg_err_setf(err, TG_EINVAL, PF("loss"),
                           "%s %s needs a classification task; the data is regression", fb, s);
    if (c->loss == LOSS_LOGISTIC && ds->classes.n != 2)
        return tg_err_setf(err, TG_EINVAL, PF("loss"),
                           "%s logistic needs 2 classes (the data has %zu)", fb, ds->classes.n);
    if (classification && ds->classes.n < 2)
        return tg_err_setf(err, TG_EINVAL, "data",
                           "the training data has %zu class; classification needs at least 2",
                           ds->classes.n);
    c->n_classes = classification ? ds->classes.n : 0;
    a->dims[a->n_layers] = classification ? (c->loss == LOSS_LOGISTIC ? 1 : ds->classes.n)
                                          : ds->n_outputs;
    if (im) {
        if (im->arch.dims[0] != ds->d)
            return tg_err_setf(err, TG_EINVAL, PF("init_model"),
                               "%s takes %zu inputs; the data has %zu features", fb,
                               im->arch.dims[0], ds->d);
        if (im->arch.dims[im->arch.n_layers] != a->dims[a->n_layers])
            return tg_err_setf(err, TG_EINVAL, PF("init_model"),
                               "%s has %zu outputs; this task needs %zu (labels "
                               "outside the model's classes?)", fb,
                               im->arch.dims[im->arch.n_layers], a->dims[a->n_layers]);
        if ((im->task == TG_TASK_CLASSIFICATION) != classification)
            return tg_err_setf(err, TG_EINVAL, PF("init_model"),
                               "%s is a %s model; the data is %s", fb,
                               im->task == TG_TASK_CLASSIFICATION ? "classification" : "regression",
                               classification ? "classification" : "regression");
    }
    size_t P = mlp_param_count(a);
    if (P > TRAIN_MAX_PARAMS)
        return tg_err_setf(err, TG_ETOOLARGE, PF("hidden"),
                           "the network has %zu parameters (limit %zu)", P, TRAIN_MAX_PARAMS);

    /* Initialization. */
    if ((rc = jx_string(p, "init", pre, "default", init_choices, 0, &r->init, err)))
        return rc;
    jx_default(p, "init", json_string(r->init));
    if (strcmp(r->init, "normal") == 0) {
        if ((rc = jx_number(p, "init_std", pre, 0.01, 0, 0, INFINITY, 0, &r->init_std, err)))
            return rc;
        jx_default(p, "init_std", json_real(r->init_std));
    } else if (json_object_get(p, "init_std")) {
        return tg_err_setf(err, TG_EINVAL, PF("init_std"),
                           "%s applies to init \"normal\" only", fb);
    }
    if (im && json_object_get(p, "init") && strcmp(r->init, "default") != 0)
        return tg_err_setf(err, TG_EINVAL, PF("init"),
                           "%s does not apply with %s (the weights "
                           "come from the model)", fb, jx_path(gb, sizeof gb, pre, "init_model"));

    /* Optimization. */
    if ((rc = jx_int(p, "epochs", pre, 20, 1, TRAIN_MAX_EPOCHS, &c->epochs, err)))
        return rc;
    jx_default(p, "epochs", json_integer(c->epochs));
    if ((rc = decode_optimizer(p, pre, &c->opt, err)) ||
        (rc = decode_schedule(p, pre, c->epochs, &c->sched, err)) ||
        (rc = jx_number(p, "weight_decay", pre, 0, 0, 0, INFINITY, 0, &c->weight_decay,
                        err)))
        return rc;
    jx_default(p, "weight_decay", json_real(c->weight_decay));
    c->opt.weight_decay = c->weight_decay;
    if ((rc = jx_int(p, "batch_size", pre, 32, 0, 100000000, &v, err)))
        return rc;
    c->batch_size = (size_t)v;
    jx_default(p, "batch_size", json_integer(v));
    if (is_unset(p, "max_steps")) {
        json_object_set_new(p, "max_steps", json_null());
    } else {
        if ((rc = jx_int(p, "max_steps", pre, 0, 1, 1LL << 40, &c->max_steps, err)))
            return rc;
    }
    if (is_unset(p, "clip_grad_norm")) {
        json_object_set_new(p, "clip_grad_norm", json_null());
    } else if ((rc = jx_number(p, "clip_grad_norm", pre, 0, 0, 1, INFINITY, 0, &c->clip,
                               err))) {
        return rc;
    }

    /* Label noise. */
    json_t *ln = json_object_get(p, "label_noise");
    if (!ln || json_is_null(ln)) {
        json_object_set_new(p, "label_noise", json_null());
    } else {
        static const char *const lnf[] = {"sigma", "flip_prob", NULL};
        char lp[TP_PATH];
        jx_path(lp, sizeof lp, pre, "label_noise");
        if ((rc = jx_expect_object(ln, lp, err)) || (rc = jx_check_fields(ln, lp, lnf, err)))
            return rc;
        if (json_object_size(ln) != 1)
            return tg_err_setf(err, TG_EINVAL, lp, "%s takes exactly one of sigma, flip_prob",
                               lp);
        if (json_object_get(ln, "sigma")) {
            if (classification)
                return tg_err_setf(err, TG_EINVAL, jx_path(fb, sizeof fb, lp, "sigma"),
                                   "label_noise.sigma applies to regression; use flip_prob");
            c->noise = NOISE_SIGMA;
            if ((rc = jx_number(ln, "sigma", lp, 0, 0, 0, INFINITY, 0,
                                &c->noise_level, err)))
                return rc;
        } else {
            if (!classification)
                return tg_err_setf(err, TG_EINVAL, jx_path(fb, sizeof fb, lp, "flip_prob"),
                                   "label_noise.flip_prob applies to classification; use sigma");
            c->noise = NOISE_FLIP;
            if ((rc = jx_number(ln, "flip_prob", lp, 0, 0, 0, 1, 0,
                                &c->noise_level, err)))
                return rc;
        }
    }

    if (!full)
        return TG_OK;
    /* Validation and early stopping. */
    if ((rc = jx_number(p, "validation_fraction", pre, 0, 0, 0, 1, 1, &r->val_fraction,
                        err)))
        return rc;
    jx_default(p, "validation_fraction", json_real(r->val_fraction));
    json_t *es = json_object_get(p, "early_stopping");
    if (!es || json_is_null(es)) {
        json_object_set_new(p, "early_stopping", json_null());
    } else {
        static const char *const esf[] = {"patience", "min_delta", "restore_best", NULL};
        char ep[TP_PATH];
        jx_path(ep, sizeof ep, pre, "early_stopping");
        if ((rc = jx_expect_object(es, ep, err)) || (rc = jx_check_fields(es, ep, esf, err)) ||
            (rc = jx_int(es, "patience", ep, 10, 1, TRAIN_MAX_EPOCHS, &c->patience, err)) ||
            (rc = jx_number(es, "min_delta", ep, 0, 0, 0, INFINITY, 0, &c->min_delta, err)) ||
            (rc = jx_bool(es, "restore_best", ep, 1, &c->restore_best, err)))
            return rc;
        if (!(r->val_fraction > 0))
            return tg_err_setf(err, TG_EINVAL, ep, "%s needs %s > 0", ep,
                               PF("validation_fraction"));
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
    char tp[TP_PATH];
    jx_path(tp, sizeof tp, pre, "track");
    if ((rc = jx_expect_object(tr, tp, err)) || (rc = jx_check_fields(tr, tp, trf, err)))
        return rc;
    if (!is_unset(tr, "sharpness_every")) {
        long long it;
        if ((rc = jx_int(tr, "sharpness_every", tp, 0, 1, TRAIN_MAX_EPOCHS,
                         &c->sharpness_every, err)) ||
            (rc = jx_int(tr, "sharpness_iters", tp, 20, 2, 500, &it, err)))
            return rc;
        c->sharpness_iters = (int)it;
        jx_default(tr, "sharpness_iters", json_integer(it));
    } else if (json_object_get(tr, "sharpness_iters")) {
        return tg_err_setf(err, TG_EINVAL, jx_path(fb, sizeof fb, tp, "sharpness_iters"),
                           "%s needs sharpness_every", fb);
    }
    return TG_OK;
}
