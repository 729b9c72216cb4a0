/* check_optim.c: core/optim.c (optimizers, SAM's perturbation, learning-rate schedules)
 * against PyTorch 1.13 (float64, torch.optim, torch.optim.lr_scheduler). The oracle is
 * tests/reference/train_ref.py; its output reference/train_fixtures.json is committed
 * (tests run from tests/; read by torch_ref.h). Regenerate with
 * /usr/bin/python3 tests/reference/train_ref.py.
 *
 * Groups (errors are norm-wise relative, ||ours - torch|| / ||torch||, bound 1e-10):
 * - schedules: sched_lr of every step of every trajectory against the learning rate
 *   torch used (its lr_scheduler where one exists, else API.md's formula);
 * - trajectories (109 cases): 10 full-batch steps driven as the train job does (g from
 *   mlp_loss_grad, clip_grad_norm, + weight_decay * theta except adamw, SAM's two
 *   gradients, optim_step at sched_lr), theta compared after every step; also the
 *   displacement theta_t - theta_0 (a stricter measure, bound 1e-8) and the number of
 *   steps where clipping was active. (train_run itself is held to the same trajectories
 *   by check_train.c.)
 * Worst relative errors measured (x86-64, OpenBLAS, gcc -O2; each test prints its own):
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

#define TORCH_REF_TAG "optim"
#include "torch_ref.h"

#define TOL 1e-10
#define TOL_DISP 1e-8

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
    /* every step of every trajectory: an empty or truncated fixture must not pass */
    ck_assert_uint_eq(nc, 109);
    ck_assert_uint_eq(nlr, 1090);
    printf("optim: schedules: %zu learning rates of %zu trajectories\n", nlr, nc);
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
        trajectory tr;
        read_trajectory(c, &cls, &reg, &tr);
        const char *name = tr.name;
        problem *pr = tr.pr;
        size_t P = pr->P, steps = tr.steps;
        double wd = tr.wd, cmax = tr.clip;
        optim_cfg cfg = tr.opt;
        sched_cfg sc = tr.sched;
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

        json_t *thetas = tr.thetas;
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
    printf("optim: trajectories: %zu cases x 10 steps\n", nc);
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

Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_trajectories);
    suite_add_tcase(s, tc);
    return s;
}
