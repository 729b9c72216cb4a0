/* check_mlp.c: gradients, per-example gradients and Hessian-vector products of
 * core/mlp.c against two independent oracles:
 * - central finite differences, for every activation x loss x parameterization, with and
 *   without bias;
 * - PyTorch 1.13 float64 autograd (tests/reference/train_ref.py; its output
 *   reference/train_fixtures.json is committed, tests run from tests/; read by
 *   torch_ref.h): 144 cases, 9 activations x 4 losses x {standard, ntk} x {bias, none}:
 *   the mean loss and its gradient (mlp_loss_grad), the per-example gradients of all 8
 *   rows (mlp_per_example_grads, row by row) and the exact HVP (mlp_hvp, with the loss
 *   and gradient it also returns), norm-wise relative error bound 1e-10. Measured: mean
 *   loss 3.0e-16, gradient 7.9e-16, per-example gradients 2.3e-15, HVP 4.7e-16. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mlp.h"

#define TORCH_REF_TAG "mlp"
#include "torch_ref.h"

#define TOL 1e-10 /* against PyTorch */

/* A small deterministic generator, independent of core/rng.c. */
static double lcg(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(*s >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

typedef struct net_case {
    mlp_arch a;
    tg_loss loss;
    size_t n;
    double *theta, *x, *y;
    int y_is_class;
} net_case;

static void make_case(net_case *c, tg_act act, tg_loss loss, int ntk, int bias,
                      unsigned long long seed)
{
    memset(c, 0, sizeof *c);
    c->a.n_layers = 3;
    c->a.dims[0] = 3;
    c->a.dims[1] = 5;
    c->a.dims[2] = 4;
    c->a.dims[3] = loss == LOSS_LOGISTIC ? 1 : 3;
    c->a.act = act;
    c->a.leaky_slope = 0.1;
    c->a.bias = bias;
    c->a.ntk = ntk;
    c->a.w_std = 1.3;
    c->a.b_std = bias ? 0.7 : 0.0;
    c->loss = loss;
    c->n = 7;
    size_t P = mlp_param_count(&c->a), k = c->a.dims[3];
    c->theta = malloc(P * sizeof(double));
    c->x = malloc(c->n * 3 * sizeof(double));
    c->y = malloc(c->n * k * sizeof(double));
    for (size_t i = 0; i < P; i++)
        c->theta[i] = lcg(&seed) * (ntk ? 1.0 : 0.8);
    for (size_t i = 0; i < c->n * 3; i++)
        c->x[i] = lcg(&seed) * 1.5;
    c->y_is_class = loss != LOSS_MSE;
    for (size_t i = 0; i < c->n; i++) {
        if (loss == LOSS_CROSS_ENTROPY)
            c->y[i] = (double)(i % 3);
        else if (loss == LOSS_LOGISTIC)
            c->y[i] = (double)(i % 2);
        else
            for (size_t j = 0; j < k; j++)
                c->y[i * k + j] = lcg(&seed);
    }
}

static void free_case(net_case *c)
{
    free(c->theta);
    free(c->x);
    free(c->y);
}

static double loss_at(net_case *c, const double *theta, mlp_ws *ws, double *g)
{
    return mlp_loss_grad(&c->a, theta, c->x, c->y, c->y_is_class, NULL, c->n, c->loss, ws, g);
}

START_TEST(gradients_and_hvps_match_finite_differences)
{
    const tg_loss losses[] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    int checked = 0;
    for (int act = ACT_RELU; act <= ACT_IDENTITY; act++)
        for (int li = 0; li < 3; li++)
            for (int ntk = 0; ntk <= 1; ntk++)
                for (int bias = 0; bias <= 1; bias++) {
                    net_case c;
                    make_case(&c, (tg_act)act, losses[li], ntk, bias, 1000 + act * 31 + li);
                    size_t P = mlp_param_count(&c.a);
                    /* n_max 4 < n: exercises the blocked accumulation too. */
                    mlp_ws *ws = mlp_ws_new(&c.a, 4);
                    double *g = malloc(P * sizeof(double)), *fd = malloc(P * sizeof(double));
                    double *tp = malloc(P * sizeof(double)), *v = malloc(P * sizeof(double));
                    double *hv = malloc(P * sizeof(double)), *gp = malloc(P * sizeof(double));
                    double *gm = malloc(P * sizeof(double)), *fdh = malloc(P * sizeof(double));
                    double *g2 = malloc(P * sizeof(double));
                    loss_at(&c, c.theta, ws, g);
                    const double h = 1e-5;
                    for (size_t p = 0; p < P; p++) {
                        memcpy(tp, c.theta, P * sizeof(double));
                        tp[p] += h;
                        double lp = loss_at(&c, tp, ws, gp);
                        tp[p] -= 2 * h;
                        double lm = loss_at(&c, tp, ws, gp);
                        fd[p] = (lp - lm) / (2 * h);
                    }
                    ck_assert_msg(rel_err(g, fd, P) < 1e-6, "grad act=%d loss=%d ntk=%d bias=%d err=%g",
                                  act, li, ntk, bias, rel_err(g, fd, P));
                    unsigned long long s = 77;
                    for (size_t p = 0; p < P; p++)
                        v[p] = lcg(&s);
                    mlp_hvp(&c.a, c.theta, c.x, c.y, c.y_is_class, c.n, c.loss, v, ws, hv, g2);
                    ck_assert(rel_err(g2, g, P) < 1e-13);
                    for (size_t p = 0; p < P; p++)
                        tp[p] = c.theta[p] + h * v[p];
                    loss_at(&c, tp, ws, gp);
                    for (size_t p = 0; p < P; p++)
                        tp[p] = c.theta[p] - h * v[p];
                    loss_at(&c, tp, ws, gm);
                    for (size_t p = 0; p < P; p++)
                        fdh[p] = (gp[p] - gm[p]) / (2 * h);
                    ck_assert_msg(rel_err(hv, fdh, P) < 1e-6, "hvp act=%d loss=%d ntk=%d bias=%d err=%g",
                                  act, li, ntk, bias, rel_err(hv, fdh, P));
                    checked++;
                    free(g); free(fd); free(tp); free(v); free(hv); free(gp); free(gm);
                    free(fdh); free(g2);
                    mlp_ws_free(ws);
                    free_case(&c);
                }
    ck_assert_int_eq(checked, 9 * 3 * 2 * 2);
}
END_TEST

START_TEST(per_example_gradients_sum_to_the_mean_gradient)
{
    net_case c;
    make_case(&c, ACT_TANH, LOSS_CROSS_ENTROPY, 0, 1, 5);
    size_t P = mlp_param_count(&c.a);
    mlp_ws *ws = mlp_ws_new(&c.a, 3);
    double *G = malloc(c.n * P * sizeof(double)), *g = malloc(P * sizeof(double));
    double *sum = calloc(P, sizeof(double)), *gi = malloc(P * sizeof(double));
    mlp_per_example_grads(&c.a, c.theta, c.x, c.y, 1, c.n, c.loss, ws, G);
    loss_at(&c, c.theta, ws, g);
    for (size_t i = 0; i < c.n; i++) {
        for (size_t p = 0; p < P; p++)
            sum[p] += G[i * P + p] / (double)c.n;
        /* row i equals the gradient of the one-example objective */
        mlp_loss_grad(&c.a, c.theta, c.x + i * 3, c.y + i, 1, NULL, 1, c.loss, ws, gi);
        ck_assert(rel_err(G + i * P, gi, P) < 1e-13);
    }
    ck_assert(rel_err(sum, g, P) < 1e-13);
    free(G); free(g); free(sum); free(gi);
    mlp_ws_free(ws);
    free_case(&c);
}
END_TEST

START_TEST(activation_derivatives_at_zero)
{
    ck_assert_double_eq(mlp_dphi(ACT_RELU, 0.01, 0.0), 0.0);
    ck_assert_double_eq(mlp_dphi(ACT_LEAKY_RELU, 0.01, 0.0), 0.01);
    ck_assert_double_eq(mlp_dphi(ACT_ABS, 0.01, 0.0), 0.0);
    ck_assert_double_eq_tol(mlp_phi(ACT_SOFTPLUS, 0, 800.0), 800.0, 1e-12);
    ck_assert_double_eq_tol(mlp_phi(ACT_SOFTPLUS, 0, -800.0), 0.0, 1e-300);
    ck_assert_int_eq(mlp_act_from_name("gelu"), ACT_GELU);
    ck_assert_int_eq(mlp_act_from_name("swish"), -1);
    /* The activation table: names in enum order, and the message list is their join. */
    char list[256] = "";
    for (int i = 0; i < ACT_COUNT; i++) {
        ck_assert_int_eq(activation_from_name(activation_names[i]), i);
        ck_assert_str_eq(activation_name((tg_act)i), activation_names[i]);
        if (i)
            strcat(list, ", ");
        strcat(list, activation_names[i]);
    }
    ck_assert_ptr_null(activation_names[ACT_COUNT]);
    ck_assert_str_eq(list, ACTIVATION_LIST);
}
END_TEST

/* ---- against PyTorch ----------------------------------------------------------------- */

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
    printf("mlp: derivatives: %zu cases\n", nc);
    REPORT("mean loss", &w_loss, TOL);
    REPORT("gradient", &w_grad, TOL);
    REPORT("per-example gradients", &w_pe, TOL);
    REPORT("hvp", &w_hvp, TOL);
    REPORT("hvp's loss and gradient", &w_hvp_grad, TOL);
    json_decref(f);
    CHECK_REPORTS();
}
END_TEST

Suite *mlp_suite(void)
{
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("derivatives");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gradients_and_hvps_match_finite_differences);
    tcase_add_test(tc, per_example_gradients_sum_to_the_mean_gradient);
    tcase_add_test(tc, activation_derivatives_at_zero);
    suite_add_tcase(s, tc);
    tc = tcase_create("torch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_derivatives);
    suite_add_tcase(s, tc);
    return s;
}
