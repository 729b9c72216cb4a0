/* torch_ref.h: reading reference/train_fixtures.json (written by PyTorch 1.13 through
 * tests/reference/train_ref.py; tests run from tests/) into networks, optimizers,
 * schedules and problems, and the error record of the suites that compare with it
 * (check_mlp.c, check_optim.c, check_train.c). Errors are norm-wise relative,
 * ||ours - torch|| / ||torch||. Header-only (static functions; a suite need not use all
 * of them); include after defining TORCH_REF_TAG, the prefix of the lines printed. A test
 * declares `char fail[256] = ""`, records errors with note(), prints each group with
 * REPORT() and ends with CHECK_REPORTS(), which fails on the first group out of bounds. */
#ifndef TG_TESTS_TORCH_REF_H
#define TG_TESTS_TORCH_REF_H

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mlp.h"
#include "core/optim.h"

#ifndef TORCH_REF_TAG
#define TORCH_REF_TAG "train_ref"
#endif
#define TORCH_FIXTURES "reference/train_fixtures.json"

#include "fixture.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

static json_t *load_fixtures(void)
{
    return fixture_load(TORCH_FIXTURES, "tests/reference/train_ref.py");
}

static double rel_err(const double *a, const double *b, size_t n)
{
    double num2 = 0, den2 = 0;
    for (size_t i = 0; i < n; i++) {
        num2 += (a[i] - b[i]) * (a[i] - b[i]);
        den2 += b[i] * b[i];
    }
    double den = sqrt(den2);
    return sqrt(num2) / (den > 1e-300 ? den : 1e-300);
}

/* The worst error of a group and the case where it occurred. */
typedef struct worst {
    double err;
    char name[96];
    size_t n_over;
    char first_over[160];
} worst;

static void note(worst *w, double err, double tol, const char *name, const char *what)
{
    if (w->name[0] == 0 || err > w->err || (isnan(err) && !isnan(w->err))) {
        w->err = err;
        snprintf(w->name, sizeof w->name, "%s", name);
    }
    if (!(err <= tol)) { /* also catches NaN */
        if (w->n_over++ == 0)
            snprintf(w->first_over, sizeof w->first_over, "%s (%s): %.3e", name, what, err);
    }
}

/* Prints a group's worst error; the first failing group's message goes to *fail. */
static void report(const char *group, const worst *w, double tol, char *fail, size_t fsz)
{
    printf("%s: %-32s worst relative error %.2e (%s)%s\n", TORCH_REF_TAG, group, w->err,
           w->name, w->n_over ? "  FAIL" : "");
    if (w->n_over && fail[0] == 0)
        snprintf(fail, fsz, "%s: %zu case(s) above %.0e, first %s", group, w->n_over, tol,
                 w->first_over);
}

#define REPORT(group, w, tol) report(group, w, tol, fail, sizeof fail)
#define CHECK_REPORTS() ck_assert_msg(fail[0] == 0, "%s", fail)

/* A network and loss from a fixture object (a derivative case or a problem). */
static void read_net(json_t *c, mlp_arch *a, tg_loss *loss, int *y_is_class)
{
    memset(a, 0, sizeof *a);
    json_t *dims = member(c, "dims");
    size_t nd = json_array_size(dims);
    ck_assert(nd >= 2 && nd <= MLP_MAX_LAYERS + 1);
    a->n_layers = nd - 1;
    for (size_t i = 0; i < nd; i++)
        a->dims[i] = (size_t)json_integer_value(json_array_get(dims, i));
    int act = mlp_act_from_name(json_string_value(member(c, "activation")));
    ck_assert(act >= 0);
    a->act = (tg_act)act;
    a->leaky_slope = num(c, "leaky_slope");
    a->bias = json_is_true(member(c, "bias"));
    a->ntk = strcmp(json_string_value(member(c, "parameterization")), "ntk") == 0;
    a->w_std = a->ntk ? num(c, "w_std") : 0.0;
    a->b_std = a->ntk ? num(c, "b_std") : 0.0;
    const char *l = json_string_value(member(c, "loss"));
    if (strcmp(l, "cross_entropy") == 0)
        *loss = LOSS_CROSS_ENTROPY;
    else if (strcmp(l, "logistic") == 0)
        *loss = LOSS_LOGISTIC;
    else if (strcmp(l, "mse") == 0)
        *loss = LOSS_MSE;
    else
        ck_abort_msg("unknown loss %s", l);
    *y_is_class = *loss != LOSS_MSE || json_is_true(member(c, "y_is_class"));
    ck_assert_uint_eq(mlp_param_count(a), (size_t)json_integer_value(member(c, "param_count")));
}

static size_t ydim(const mlp_arch *a, tg_loss loss, int y_is_class)
{
    return (loss == LOSS_MSE && !y_is_class) ? a->dims[a->n_layers] : 1;
}

/* ---- optimizers, schedules and problems ------------------------------------------ */

static void read_optim(json_t *o, double wd, optim_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    int k = optim_from_name(json_string_value(member(o, "name")));
    ck_assert(k >= 0);
    cfg->kind = (tg_opt)k;
    cfg->base = cfg->kind;
    if (cfg->kind == OPT_SAM) {
        int b = optim_from_name(json_string_value(member(o, "base")));
        ck_assert(b >= 0 && b != OPT_SAM);
        cfg->base = (tg_opt)b;
        cfg->rho = num(o, "rho");
    }
    cfg->lr = num(o, "lr");
    json_t *v;
    if ((v = json_object_get(o, "momentum")))
        cfg->momentum = json_number_value(v);
    if ((v = json_object_get(o, "alpha")))
        cfg->alpha = json_number_value(v);
    if ((v = json_object_get(o, "eps")))
        cfg->eps = json_number_value(v);
    if ((v = json_object_get(o, "betas"))) {
        cfg->beta1 = json_number_value(json_array_get(v, 0));
        cfg->beta2 = json_number_value(json_array_get(v, 1));
    }
    if ((v = json_object_get(o, "amsgrad")))
        cfg->amsgrad = json_is_true(v);
    cfg->weight_decay = wd; /* used by adamw only */
}

static void read_sched(json_t *s, sched_cfg *sc)
{
    memset(sc, 0, sizeof *sc);
    int k = sched_from_name(json_string_value(member(s, "name")));
    ck_assert(k >= 0);
    sc->kind = (tg_sched)k;
    json_t *v;
    if ((v = json_object_get(s, "step_size")))
        sc->step_size = (long long)json_integer_value(v);
    if ((v = json_object_get(s, "gamma")))
        sc->gamma = json_number_value(v);
    if ((v = json_object_get(s, "milestones"))) {
        sc->n_milestones = json_array_size(v);
        ck_assert(sc->n_milestones <= SCHED_MAX_MILESTONES);
        for (size_t i = 0; i < sc->n_milestones; i++)
            sc->milestones[i] = (long long)json_integer_value(json_array_get(v, i));
    }
    if ((v = json_object_get(s, "t_max")))
        sc->t_max = json_number_value(v);
    if ((v = json_object_get(s, "eta_min")))
        sc->eta_min = json_number_value(v);
    if ((v = json_object_get(s, "end_factor")))
        sc->end_factor = json_number_value(v);
    if ((v = json_object_get(s, "total_epochs")))
        sc->total_epochs = json_number_value(v);
    sc->warmup = (long long)json_integer_value(member(s, "warmup_epochs"));
}

typedef struct problem {
    mlp_arch a;
    tg_loss loss;
    int yc;
    size_t n, P;
    double *x, *y, *theta0;
    mlp_ws *ws;
} problem;

static void read_problem(json_t *p, problem *pr)
{
    read_net(p, &pr->a, &pr->loss, &pr->yc);
    pr->n = (size_t)json_integer_value(member(p, "n"));
    pr->P = mlp_param_count(&pr->a);
    pr->x = vec(p, "x", pr->n * pr->a.dims[0]);
    pr->y = vec(p, "y", pr->n * ydim(&pr->a, pr->loss, pr->yc));
    pr->theta0 = vec(p, "theta0", pr->P);
    pr->ws = mlp_ws_new(&pr->a, pr->n);
    ck_assert(pr->ws != NULL);
}

static void free_problem(problem *pr)
{
    free(pr->x), free(pr->y), free(pr->theta0);
    mlp_ws_free(pr->ws);
}

/* One case of "trajectories": its problem (cls or reg, read once by the caller), the
 * optimizer, schedule, weight decay, clipping (0: none), and torch's weights after each
 * of its steps (thetas: steps rows of P numbers, borrowed from the fixture). */
typedef struct trajectory {
    const char *name;
    problem *pr;
    size_t steps;
    double wd, clip;
    optim_cfg opt;
    sched_cfg sched;
    json_t *thetas;
} trajectory;

static void read_trajectory(json_t *c, problem *cls, problem *reg, trajectory *t)
{
    t->name = json_string_value(member(c, "name"));
    t->pr = strcmp(json_string_value(member(c, "problem")), "reg") == 0 ? reg : cls;
    t->steps = (size_t)json_integer_value(member(c, "steps"));
    t->wd = num(c, "weight_decay");
    json_t *cj = member(c, "clip_grad_norm");
    t->clip = json_is_null(cj) ? 0.0 : json_number_value(cj);
    read_optim(member(c, "optimizer"), t->wd, &t->opt);
    read_sched(member(c, "schedule"), &t->sched);
    t->thetas = member(c, "thetas");
    ck_assert_uint_eq(json_array_size(t->thetas), t->steps);
}

#pragma GCC diagnostic pop

#endif
