/* check_train.c: core/train.c (the training loop of the train kind) against PyTorch 1.13
 * (float64, torch.optim, torch.optim.lr_scheduler, clip_grad_norm_). The oracle is
 * tests/reference/train_ref.py; its output reference/train_fixtures.json is committed
 * (tests run from tests/; read by torch_ref.h). Regenerate with
 * /usr/bin/python3 tests/reference/train_ref.py.
 *
 * - train_run (109 trajectories): 10 full-batch epochs from torch's initial weights with
 *   the trajectory's optimizer, schedule, weight decay and clipping; the final weights
 *   against torch's after its 10th step (norm-wise relative error, bound 1e-10), and the
 *   epochs and steps run. The pieces (mlp_loss_grad, optim_step, sched_lr) are held to
 *   the same fixtures step by step in check_mlp.c and check_optim.c; the train kind runs
 *   the same trajectories through the service in tests/e2e/check_train.c.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mlp.h"
#include "core/optim.h"
#include "core/train.h"

#define TORCH_REF_TAG "train"
#include "torch_ref.h"

#define TOL 1e-10

START_TEST(test_train_run_trajectories)
{
    json_t *f = load_fixtures();
    json_t *problems = member(f, "problems"), *cases = member(f, "trajectories");
    problem cls, reg;
    read_problem(member(problems, "cls"), &cls);
    read_problem(member(problems, "reg"), &reg);
    worst w = {0};
    char fail[256] = "";
    size_t nc = json_array_size(cases);
    ck_assert_uint_eq(nc, 109);
    for (size_t ci = 0; ci < nc; ci++) {
        trajectory tr;
        read_trajectory(json_array_get(cases, ci), &cls, &reg, &tr);
        const char *name = tr.name;
        problem *pr = tr.pr;
        size_t P = pr->P, steps = tr.steps;
        train_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.arch = pr->a;
        cfg.loss = pr->loss;
        cfg.weight_decay = tr.wd;
        cfg.opt = tr.opt;
        cfg.sched = tr.sched;
        cfg.batch_size = 0;
        cfg.epochs = (long long)steps;
        cfg.clip = tr.clip;
        cfg.n_classes = pr->yc ? pr->a.dims[pr->a.n_layers] : 0;
        cfg.seed = 7;
        train_data data;
        memset(&data, 0, sizeof data);
        data.d = pr->a.dims[0];
        data.ydim = ydim(&pr->a, pr->loss, pr->yc);
        data.classification = pr->yc;
        data.x = pr->x;
        data.y = pr->y;
        data.n = pr->n;

        json_t *last = json_array_get(tr.thetas, steps - 1);
        ck_assert_uint_eq(json_array_size(last), P);
        double *want = malloc(P * sizeof(double)), *theta = malloc(P * sizeof(double));
        ck_assert(want && theta);
        for (size_t i = 0; i < P; i++)
            want[i] = json_number_value(json_array_get(last, i));
        memcpy(theta, pr->theta0, P * sizeof(double));
        train_result res;
        memset(&res, 0, sizeof res);
        tg_err err;
        memset(&err, 0, sizeof err);
        int rc = train_run(&cfg, &data, theta, &res, NULL, NULL, NULL, &err);
        ck_assert_msg(rc == TG_OK, "%s: train_run returned %d (%s)", name, rc, err.msg);
        ck_assert_msg(res.epochs_run == (long long)steps && res.steps == (long long)steps,
                      "%s: %lld epochs and %lld steps run, want %zu of each", name,
                      res.epochs_run, res.steps, steps);
        note(&w, rel_err(theta, want, P), TOL, name, "theta after the last epoch");
        train_result_deinit(&res);
        free(theta);
        free(want);
    }
    printf("train: train_run: %zu trajectories x 10 full-batch epochs\n", nc);
    REPORT("train_run final theta", &w, TOL);
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
    tcase_add_test(tc, test_train_run_trajectories);
    suite_add_tcase(s, tc);
    return s;
}
