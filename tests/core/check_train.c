/* check_train_ref.c: core/mlp.c and core/optim.c against PyTorch 1.13 (float64,
 * autograd, torch.optim, torch.optim.lr_scheduler). The oracle is
 * tests/reference/train_ref.py; its output reference/train_fixtures.json is committed
 * (tests run from tests/). Regenerate with /usr/bin/python3 tests/reference/train_ref.py.
 *
 * Groups (errors are norm-wise relative, ||ours - torch|| / ||torch||, bound 1e-10):
 * - derivatives (144 cases: 9 activations x 4 losses x {standard, ntk} x {bias, none}):
 *   the mean loss and its gradient (mlp_loss_grad), the per-example gradients of all 8
 *   rows (mlp_per_example_grads, row by row) and the exact HVP (mlp_hvp, with the loss
 *   and gradient it also returns);
 * - schedules: sched_lr of every step of every trajectory against the learning rate
 *   torch used (its lr_scheduler where one exists, else API.md's formula);
 * - trajectories (109 cases): 10 full-batch steps driven as the train job does (g from
 *   mlp_loss_grad, clip_grad_norm, + weight_decay * theta except adamw, SAM's two
 *   gradients, optim_step at sched_lr), theta compared after every step; also the
 *   displacement theta_t - theta_0 (a stricter measure, bound 1e-8) and the number of
 *   steps where clipping was active.
 * Worst relative errors measured (x86-64, OpenBLAS, gcc -O2; each test prints its own):
 *   mean loss 3.0e-16, gradient 7.9e-16, per-example gradients 2.3e-15, HVP 4.7e-16;
 *   sched_lr 4.9e-16; trajectories theta 3.3e-16 (every optimizer <= 3.3e-16),
 *   displacement 5.5e-15; clipped-step counts equal.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mlp.h"
#include "core/optim.h"

#define FIXTURES "reference/train_fixtures.json"
#define TOL 1e-10
#define TOL_DISP 1e-8

static json_t *load_fixtures(void)
{
    json_error_t je;
    json_t *f = json_load_file(FIXTURES, 0, &je);
    ck_assert_msg(f != NULL, "%s: %s (line %d); regenerate with tests/reference/train_ref.py",
                  FIXTURES, je.text, je.line);
    return f;
}

static json_t *member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(v != NULL, "fixture member '%s' missing", key);
    return v;
}

static double num(json_t *o, const char *key)
{
    json_t *v = member(o, key);
    ck_assert_msg(json_is_number(v), "fixture member '%s' is not a number", key);
    return json_number_value(v);
}

/* A JSON array of numbers as a malloc'd vector of exactly `expect` values. */
static double *vec(json_t *o, const char *key, size_t expect)
{
    json_t *a = member(o, key);
    ck_assert_msg(json_is_array(a) && json_array_size(a) == expect,
                  "fixture member '%s': expected %zu numbers, got %zu", key, expect,
                  json_array_size(a));
    double *v = malloc((expect ? expect : 1) * sizeof(double));
    ck_assert(v != NULL);
    for (size_t i = 0; i < expect; i++) {
        json_t *e = json_array_get(a, i);
        ck_assert_msg(json_is_number(e), "fixture member '%s'[%zu] is not a number", key, i);
        v[i] = json_number_value(e);
    }
    return v;
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
    printf("train_ref: %-32s worst relative error %.2e (%s)%s\n", group, w->err, w->name,
           w->n_over ? "  FAIL" : "");
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

/* ---- derivatives ------------------------------------------------------------------- */

START_TEST(test_derivatives)
{
    json_t *f = load_fixtures();
    json_t *cases = member(f, "derivatives");
    worst w_loss = {0}, w_grad = {0}, w_pe = {0}, w_hvp = {0}, w_hvp_grad = {0};
    char fail[256] = "";
    size_t nc = json_array_size(cases);
    ck_assert_uint_eq(nc, 144);
    for (size_t ci = 0; ci < nc; ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(member(c, "name"));
        mlp_arch a;
        tg_loss loss;
        int yc;
        read_net(c, &a, &loss, &yc);
        size_t P = mlp_param_count(&a), n = (size_t)json_integer_value(member(c, "n"));
        double *theta = vec(c, "theta", P), *x = vec(c, "x", n * a.dims[0]);
        double *y = vec(c, "y", n * ydim(&a, loss, yc)), *v = vec(c, "v", P);
        double *grad_ref = vec(c, "grad", P), *hvp_ref = vec(c, "hvp", P);
        double *pe_ref = vec(c, "per_example_grads", n * P);
        double loss_ref = num(c, "loss_value");
        double *g = malloc(P * sizeof(double)), *hv = malloc(P * sizeof(double));
        double *g2 = malloc(P * sizeof(double)), *G = malloc(n * P * sizeof(double));
        mlp_ws *ws = mlp_ws_new(&a, n);
        ck_assert(g && hv && g2 && G && ws);

        double l = mlp_loss_grad(&a, theta, x, y, yc, NULL, n, loss, ws, g);
        note(&w_loss, fabs(l - loss_ref) / fabs(loss_ref), TOL, name, "loss");
        note(&w_grad, rel_err(g, grad_ref, P), TOL, name, "grad");

        mlp_per_example_grads(&a, theta, x, y, yc, n, loss, ws, G);
        for (size_t i = 0; i < n; i++) {
            char what[32];
            snprintf(what, sizeof what, "row %zu", i);
            note(&w_pe, rel_err(G + i * P, pe_ref + i * P, P), TOL, name, what);
        }

        double l2 = mlp_hvp(&a, theta, x, y, yc, n, loss, v, ws, hv, g2);
        note(&w_hvp, rel_err(hv, hvp_ref, P), TOL, name, "hvp");
        note(&w_hvp_grad, fmax(fabs(l2 - loss_ref) / fabs(loss_ref), rel_err(g2, grad_ref, P)),
             TOL, name, "hvp's loss/grad");

        mlp_ws_free(ws);
        free(theta), free(x), free(y), free(v), free(grad_ref), free(hvp_ref), free(pe_ref);
        free(g), free(hv), free(g2), free(G);
    }
    printf("train_ref: derivatives: %zu cases\n", nc);
    REPORT("mean loss", &w_loss, TOL);
    REPORT("gradient", &w_grad, TOL);
    REPORT("per-example gradients", &w_pe, TOL);
    REPORT("hvp", &w_hvp, TOL);
    REPORT("hvp's loss and gradient", &w_hvp_grad, TOL);
    json_decref(f);
    CHECK_REPORTS();
}
END_TEST

/* ---- optimizers and schedules ------------------------------------------------------ */

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

START_TEST(test_schedules)
{
    json_t *f = load_fixtures();
    json_t *cases = member(f, "trajectories");
    worst w = {0};
    char fail[256] = "";
    size_t nc = json_array_size(cases), nlr = 0;
    for (size_t ci = 0; ci < nc; ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(member(c, "name"));
        optim_cfg cfg;
        sched_cfg sc;
        read_optim(member(c, "optimizer"), num(c, "weight_decay"), &cfg);
        read_sched(member(c, "schedule"), &sc);
        size_t steps = (size_t)json_integer_value(member(c, "steps"));
        double *lrs = vec(c, "lrs", steps);
        for (size_t e = 0; e < steps; e++, nlr++) {
            double lr = sched_lr(&sc, cfg.lr, (long long)e);
            char what[32];
            snprintf(what, sizeof what, "epoch %zu", e);
            note(&w, fabs(lr - lrs[e]) / fabs(lrs[e]), TOL, name, what);
        }
        free(lrs);
    }
    printf("train_ref: schedules: %zu learning rates of %zu trajectories\n", nlr, nc);
    REPORT("sched_lr", &w, TOL);
    json_decref(f);
    CHECK_REPORTS();
}
END_TEST

/* torch.nn.utils.clip_grad_norm_: scaled by c / (norm + 1e-6) when norm > c. */
static int clip(double *g, size_t n, double c)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += g[i] * g[i];
    double norm = sqrt(s);
    if (!(norm > c))
        return 0;
    double k = c / (norm + 1e-6);
    for (size_t i = 0; i < n; i++)
        g[i] *= k;
    return 1;
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

/* The gradient of J at theta as the train job forms it: mean-loss gradient, clipped
 * (clip > 0), plus weight_decay * theta unless the decay is adamw's (decoupled). */
static int objective_grad(problem *pr, const double *theta, double c, double wd,
                          int decoupled, double *g)
{
    mlp_loss_grad(&pr->a, theta, pr->x, pr->y, pr->yc, NULL, pr->n, pr->loss, pr->ws, g);
    int clipped = c > 0 ? clip(g, pr->P, c) : 0;
    if (!decoupled)
        for (size_t i = 0; i < pr->P; i++)
            g[i] += wd * theta[i];
    return clipped;
}

#define MAX_GROUPS 32

START_TEST(test_trajectories)
{
    json_t *f = load_fixtures();
    json_t *problems = member(f, "problems"), *cases = member(f, "trajectories");
    problem cls, reg;
    read_problem(member(problems, "cls"), &cls);
    read_problem(member(problems, "reg"), &reg);
    worst w_theta = {0}, w_disp = {0}, w_clip = {0};
    char fail[256] = "";
    char gname[MAX_GROUPS][32];
    worst gw[MAX_GROUPS];
    size_t ng = 0, nc = json_array_size(cases);
    memset(gw, 0, sizeof gw);
    ck_assert_uint_eq(nc, 109);
    for (size_t ci = 0; ci < nc; ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(member(c, "name"));
        problem *pr = strcmp(json_string_value(member(c, "problem")), "reg") == 0 ? &reg : &cls;
        size_t P = pr->P, steps = (size_t)json_integer_value(member(c, "steps"));
        double wd = num(c, "weight_decay");
        json_t *cj = member(c, "clip_grad_norm");
        double cmax = json_is_null(cj) ? 0.0 : json_number_value(cj);
        optim_cfg cfg;
        sched_cfg sc;
        read_optim(member(c, "optimizer"), wd, &cfg);
        read_sched(member(c, "schedule"), &sc);
        int decoupled = cfg.base == OPT_ADAMW;

        /* The group: the optimizer part of the case name ("cls/adam-amsgrad/..."). */
        const char *s1 = strchr(name, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        ck_assert(s1 && s2);
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
        size_t gi = 0;
        while (gi < ng && strcmp(gname[gi], key) != 0)
            gi++;
        if (gi == ng) {
            ck_assert(ng < MAX_GROUPS);
            snprintf(gname[ng++], sizeof gname[0], "%s", key);
        }

        json_t *thetas = member(c, "thetas");
        ck_assert_uint_eq(json_array_size(thetas), steps);
        double *theta = malloc(P * sizeof(double)), *g = malloc(P * sizeof(double));
        double *e = malloc(P * sizeof(double)), *th2 = malloc(P * sizeof(double));
        double *d_ours = malloc(P * sizeof(double)), *d_ref = malloc(P * sizeof(double));
        ck_assert(theta && g && e && th2 && d_ours && d_ref);
        memcpy(theta, pr->theta0, P * sizeof(double));
        optim_state *st = optim_state_new(&cfg, P);
        ck_assert(st != NULL);
        long long clipped = 0;
        for (size_t t = 0; t < steps; t++) {
            double lr = sched_lr(&sc, cfg.lr, (long long)t);
            clipped += objective_grad(pr, theta, cmax, wd, decoupled, g);
            if (cfg.kind == OPT_SAM) {
                optim_sam_perturbation(cfg.rho, g, P, e);
                for (size_t i = 0; i < P; i++)
                    th2[i] = theta[i] + e[i];
                clipped += objective_grad(pr, th2, cmax, wd, decoupled, g);
            }
            optim_step(&cfg, st, theta, g, lr);

            json_t *row = json_array_get(thetas, t);
            ck_assert_uint_eq(json_array_size(row), P);
            for (size_t i = 0; i < P; i++) {
                double r = json_number_value(json_array_get(row, i));
                d_ref[i] = r - pr->theta0[i];
                d_ours[i] = theta[i] - pr->theta0[i];
                th2[i] = r;
            }
            char what[32];
            snprintf(what, sizeof what, "step %zu", t + 1);
            double err = rel_err(theta, th2, P);
            note(&w_theta, err, TOL, name, what);
            note(&gw[gi], err, TOL, name, what);
            note(&w_disp, rel_err(d_ours, d_ref, P), TOL_DISP, name, what);
        }
        long long want = (long long)json_integer_value(member(c, "clipped_steps"));
        note(&w_clip, (double)llabs(clipped - want), 0.0, name, "clipped steps");
        optim_state_free(st);
        free(theta), free(g), free(e), free(th2), free(d_ours), free(d_ref);
    }
    printf("train_ref: trajectories: %zu cases x 10 steps\n", nc);
    for (size_t gi = 0; gi < ng; gi++) {
        char label[48];
        snprintf(label, sizeof label, "theta, %s", gname[gi]);
        REPORT(label, &gw[gi], TOL);
    }
    REPORT("theta (all)", &w_theta, TOL);
    REPORT("displacement theta_t - theta_0", &w_disp, TOL_DISP);
    REPORT("clipped-step count |ours-torch|", &w_clip, 0.0);
    free_problem(&cls);
    free_problem(&reg);
    json_decref(f);
    CHECK_REPORTS();
}
END_TEST

Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_derivatives);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_trajectories);
    suite_add_tcase(s, tc);
    return s;
}
