/* check_influence.c: core/influence.c against the independent oracle
 * tests/reference/influence_ref.py (PyTorch float64: explicit Hessian by
 * torch.autograd.functional.hessian, numpy.linalg.solve, Newton retraining), whose output
 * reference/influence_fixtures.json is committed (tests run from tests/), and against
 * finite differences.
 *
 * - per-example gradients (all parameters and the last layer) vs central differences of
 *   the loss (h = 1e-6, bound 1e-7 relative) and vs autograd (1e-10);
 * - exact and cg (cg_tol 1e-13) influence and self-influence vs PyTorch: relative 1e-8
 *   (norm-wise); the exact extreme eigenvalues of H: 1e-8;
 * - lissa, full batch, with depth such that its documented bound (1 - lambda_min/s)^(r+1)
 *   is <= 1e-7: the error is within 10x the reported bound (norm-wise relative); with
 *   batches (batch_size 10, 4 repeats) the result correlates > 0.95 with the exact one;
 * - leave-one-out (logistic regression, all 60 training points against test point 0, and
 *   the last layer of an MLP regression): actual changes vs PyTorch's Newton retraining
 *   (1e-6 absolute of the largest), sign convention: predicted = -influence/n agrees in
 *   sign with the actual change for every point whose actual change is above 5% of the
 *   largest, and Pearson > 0.99 (logistic regression);
 * - H not positive definite (l2 = -(lambda_max + 1)): exact and cg fail with
 *   TG_ENUMERICAL, the message names the smallest eigenvalue and a damping;
 * - rankings (top_helpful most negative first, top_harmful most positive first) and the
 *   correlations (Pearson, Spearman with ties).
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/curv.h"
#include "core/influence.h"
#include "core/linalg.h"
#include "core/mlp.h"
#include "fixture.h"

#define FIX "reference/influence_fixtures.json"
#define SCRIPT "tests/reference/influence_ref.py"

typedef struct icase {
    json_t *c;
    mlp_arch arch;
    size_t n, m, P, p_lo, p_hi, kdim;
    int y_is_class;
    tg_loss loss;
    double *x, *y, *xt, *yt, *theta;
    double l2, damping;
} icase;

static double rel(const double *a, const double *b, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e += (a[i] - b[i]) * (a[i] - b[i]);
        s += b[i] * b[i];
    }
    return sqrt(e) / (sqrt(s) > 1e-300 ? sqrt(s) : 1e-300);
}

static void load_case(json_t *f, const char *name, icase *c)
{
    memset(c, 0, sizeof *c);
    c->c = member(member(f, "cases"), name);
    json_t *dims = member(c->c, "dims");
    c->arch.n_layers = json_array_size(dims) - 1;
    for (size_t l = 0; l <= c->arch.n_layers; l++)
        c->arch.dims[l] = (size_t)json_integer_value(json_array_get(dims, l));
    c->arch.act = (tg_act)mlp_act_from_name(str(c->c, "activation"));
    c->arch.bias = 1;
    c->arch.leaky_slope = 0.01;
    const char *loss = str(c->c, "loss");
    c->loss = strcmp(loss, "cross_entropy") == 0 ? LOSS_CROSS_ENTROPY
              : strcmp(loss, "logistic") == 0    ? LOSS_LOGISTIC
                                                 : LOSS_MSE;
    c->y_is_class = c->loss != LOSS_MSE;
    c->kdim = c->y_is_class ? 1 : c->arch.dims[c->arch.n_layers];
    c->n = count(c->c, "n");
    c->m = count(c->c, "m");
    c->P = mlp_param_count(&c->arch);
    c->p_lo = count(c->c, "p_lo");
    c->p_hi = count(c->c, "p_hi");
    size_t d = c->arch.dims[0];
    c->x = vec(c->c, "x", c->n * d);
    c->y = vec(c->c, "y", c->n * c->kdim);
    c->xt = vec(c->c, "x_test", c->m * d);
    c->yt = vec(c->c, "y_test", c->m * c->kdim);
    c->theta = vec(c->c, "theta", c->P);
    c->l2 = num(c->c, "l2");
    c->damping = num(c->c, "damping");
}

static void free_case(icase *c)
{
    free(c->x);
    free(c->y);
    free(c->xt);
    free(c->yt);
    free(c->theta);
}

static infl_problem problem(const icase *c)
{
    infl_problem pb = {.arch = &c->arch, .theta = c->theta, .loss = c->loss,
                       .y_is_class = c->y_is_class, .x = c->x, .y = c->y, .n = c->n,
                       .x_test = c->xt, .y_test = c->yt, .m = c->m, .p_lo = c->p_lo,
                       .p_hi = c->p_hi, .l2 = c->l2, .damping = c->damping, .threads = 1};
    return pb;
}

static infl_cfg cfg_of(infl_method m)
{
    infl_cfg cfg = {.method = m, .cg_tol = 1e-13, .cg_max_iter = 2000, .depth = 1000,
                    .scale = 0, .repeats = 1, .batch_size = 0, .seed = 3,
                    .self_influence = 1, .top_k = 5};
    return cfg;
}

static const char *const CASES[] = {"logreg", "mlp_ce", "mlp_mse_last"};

START_TEST(test_grads)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    for (size_t ci = 0; ci < 3; ci++) {
        icase c;
        tg_err err;
        load_case(f, CASES[ci], &c);
        size_t Pr = c.p_hi - c.p_lo, d = c.arch.dims[0], k = c.arch.dims[c.arch.n_layers];
        double *G = malloc(c.n * Pr * sizeof(double));
        double *want = vec(c.c, "grads_train", c.n * Pr);
        ck_assert_int_eq(influence_grads(&c.arch, c.theta, c.x, c.y, c.y_is_class, c.n, c.loss,
                                         c.p_lo, c.p_hi, G, &err), TG_OK);
        double e = rel(G, want, c.n * Pr);
        ck_assert_msg(e < 1e-10, "%s: per-example gradients vs autograd %g", CASES[ci], e);
        /* central differences of the loss of rows 0 and 1 */
        mlp_ws *ws = mlp_ws_new(&c.arch, 1);
        double *th = malloc(c.P * sizeof(double)), f1[8], f0[8];
        for (size_t i = 0; i < 2; i++) {
            double fd2 = 0, err2 = 0;
            for (size_t q = 0; q < Pr; q++) {
                double h = 1e-6;
                memcpy(th, c.theta, c.P * sizeof(double));
                th[c.p_lo + q] += h;
                mlp_forward(&c.arch, th, c.x + i * d, 1, ws, f1);
                double lp = mlp_loss_one(c.loss, f1, k, c.y + i * c.kdim, c.y_is_class, NULL);
                th[c.p_lo + q] -= 2 * h;
                mlp_forward(&c.arch, th, c.x + i * d, 1, ws, f0);
                double lm = mlp_loss_one(c.loss, f0, k, c.y + i * c.kdim, c.y_is_class, NULL);
                double fd = (lp - lm) / (2 * h);
                fd2 += fd * fd;
                err2 += (fd - G[i * Pr + q]) * (fd - G[i * Pr + q]);
            }
            ck_assert_msg(sqrt(err2) <= 1e-7 * sqrt(fd2) + 1e-9,
                          "%s row %zu: gradient vs finite differences %g", CASES[ci], i,
                          sqrt(err2 / (fd2 > 0 ? fd2 : 1)));
        }
        mlp_ws_free(ws);
        free(th);
        free(G);
        free(want);
        free_case(&c);
    }
    json_decref(f);
}
END_TEST

static void check_vs_torch(infl_method method, double tol)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    for (size_t ci = 0; ci < 3; ci++) {
        icase c;
        tg_err err;
        infl_result r;
        load_case(f, CASES[ci], &c);
        infl_problem pb = problem(&c);
        infl_cfg cfg = cfg_of(method);
        int rc = influence_run(&pb, &cfg, &r, NULL, &err);
        ck_assert_msg(rc == TG_OK, "%s: %s", CASES[ci], err.msg);
        double *want = vec(c.c, "influence", c.m * c.n), *ws = vec(c.c, "self_influence", c.n);
        double e1 = rel(r.influence, want, c.m * c.n), e2 = rel(r.self_influence, ws, c.n);
        printf("influence %s %s: influence %.2e self %.2e eig [%g, %g] cg iters %zu\n",
               method == INFL_EXACT ? "exact" : "cg", CASES[ci], e1, e2, r.min_eig, r.max_eig,
               r.cg_iterations);
        ck_assert_msg(e1 < tol && e2 < tol, "%s: influence %g, self-influence %g", CASES[ci],
                      e1, e2);
        if (method == INFL_EXACT) {
            double lo = num(c.c, "min_eigenvalue"), hi = num(c.c, "max_eigenvalue");
            ck_assert(r.eig_exact);
            ck_assert_msg(fabs(r.min_eig - lo) <= 1e-8 * fabs(hi) &&
                              fabs(r.max_eig - hi) <= 1e-8 * fabs(hi),
                          "%s: eigenvalues [%g, %g] vs [%g, %g]", CASES[ci], r.min_eig,
                          r.max_eig, lo, hi);
        } else {
            ck_assert(r.cg_relres <= 1e-13 && r.cg_unconverged == 0);
            /* Ritz values of CG lie inside the spectrum */
            ck_assert(r.max_eig <= num(c.c, "max_eigenvalue") * (1 + 1e-8));
            ck_assert(r.min_eig >= num(c.c, "min_eigenvalue") * (1 - 1e-8));
        }
        /* stationarity of the fixture's theta */
        ck_assert_msg(r.grad_norm < 1e-10, "%s: grad norm %g", CASES[ci], r.grad_norm);
        free(want);
        free(ws);
        infl_result_deinit(&r);
        free_case(&c);
    }
    json_decref(f);
}

START_TEST(test_exact)
{
    check_vs_torch(INFL_EXACT, 1e-8);
}
END_TEST

START_TEST(test_cg)
{
    check_vs_torch(INFL_CG, 1e-8);
}
END_TEST

START_TEST(test_lissa)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    for (size_t ci = 0; ci < 3; ci++) {
        icase c;
        tg_err err;
        infl_result r, b;
        load_case(f, CASES[ci], &c);
        infl_problem pb = problem(&c);
        infl_cfg cfg = cfg_of(INFL_LISSA);
        cfg.self_influence = 0;
        /* depth for a bound of 1e-7 at the fixture's eigenvalues with s = 1.1 lambda_max */
        double lo = num(c.c, "min_eigenvalue"), hi = num(c.c, "max_eigenvalue");
        double rho = 1 - lo / (1.1 * hi);
        cfg.depth = (size_t)ceil(log(1e-7) / log(rho));
        ck_assert_int_eq(influence_run(&pb, &cfg, &r, NULL, &err), TG_OK);
        double *want = vec(c.c, "influence", c.m * c.n);
        double e = rel(r.influence, want, c.m * c.n);
        printf("influence lissa %s: depth %zu scale %g bound %.2e error %.2e\n", CASES[ci],
               cfg.depth, r.scale, r.lissa_bound, e);
        ck_assert(r.lissa_bound <= 2e-7);
        ck_assert_msg(e <= 10 * r.lissa_bound, "%s: lissa error %g, bound %g", CASES[ci], e,
                      r.lissa_bound);
        /* stochastic batches */
        cfg.batch_size = 10;
        cfg.repeats = 4;
        ck_assert_int_eq(influence_run(&pb, &cfg, &b, NULL, &err), TG_OK);
        double pr = influence_pearson(b.influence, want, c.m * c.n);
        printf("influence lissa %s batches: pearson %.4f\n", CASES[ci], pr);
        ck_assert_msg(pr > 0.95, "%s: batched lissa pearson %g", CASES[ci], pr);
        infl_result_deinit(&b);
        free(want);
        infl_result_deinit(&r);
        free_case(&c);
    }
    json_decref(f);
}
END_TEST

static void check_loo(const char *name, int threads, int lbfgs, double min_pearson)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    icase c;
    tg_err err;
    infl_result r;
    infl_loo_out lo;
    load_case(f, name, &c);
    infl_problem pb = problem(&c);
    pb.damping = 0;
    pb.threads = threads;
    pb.loo_lbfgs = lbfgs;
    infl_cfg cfg = cfg_of(INFL_EXACT);
    ck_assert_int_eq(influence_run(&pb, &cfg, &r, NULL, &err), TG_OK);
    size_t *idx = malloc(c.n * sizeof(size_t));
    double *pred = malloc(c.n * sizeof(double));
    for (size_t i = 0; i < c.n; i++) {
        idx[i] = i;
        pred[i] = -r.influence[i] / (double)c.n;
    }
    pb.m = 1;
    ck_assert_int_eq(influence_loo(&pb, idx, c.n, pred, &lo, NULL, NULL, NULL, &err), TG_OK);
    double *want = vec(c.c, "loo_actual", c.n), amax = 0;
    for (size_t i = 0; i < c.n; i++)
        amax = fmax(amax, fabs(want[i]));
    for (size_t i = 0; i < c.n; i++) {
        ck_assert_msg(fabs(lo.actual[i] - want[i]) <= 1e-6 * amax, "%s %zu: actual %g vs %g",
                      name, i, lo.actual[i], want[i]);
        if (fabs(want[i]) > 0.05 * amax)
            ck_assert_msg(pred[i] * lo.actual[i] > 0, "%s %zu: predicted %g, actual %g", name,
                          i, pred[i], lo.actual[i]);
    }
    double p = influence_pearson(pred, lo.actual, c.n);
    ck_assert(lo.newton == (size_t)!lbfgs);
    printf("influence loo %s: pearson %.5f (torch %.5f), spearman %.4f, worst grad %.1e\n", name,
           p, num(c.c, "loo_pearson"), influence_spearman(pred, lo.actual, c.n), lo.worst_grad);
    ck_assert(p > min_pearson);
    ck_assert(lo.unconverged == 0);
    infl_loo_out_deinit(&lo);
    infl_result_deinit(&r);
    free(idx);
    free(pred);
    free(want);
    free_case(&c);
    json_decref(f);
}

START_TEST(test_loo)
{
    check_loo("logreg", 2, 0, 0.99);
    check_loo("mlp_mse_last", 1, 0, 0.95);
    check_loo("mlp_mse_last", 2, 1, 0.95);
}
END_TEST

/* Block CG with several blocks and linearly dependent right-hand sides: the test set is the
 * case's test points and training points repeated to 300 rows (blocks of 128, 128, 44,
 * each with equal columns); against exact, and equal rows give equal influence rows. */
START_TEST(test_cg_blocks)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    for (size_t ci = 0; ci < 3; ci++) {
        icase c;
        tg_err err;
        infl_result re, rc;
        load_case(f, CASES[ci], &c);
        size_t d = c.arch.dims[0], m = 300;
        double *xt = malloc(m * d * sizeof(double)), *yt = malloc(m * c.kdim * sizeof(double));
        for (size_t j = 0; j < m; j++) {
            int tr = (j / 7) % 2; /* runs of 7 test rows, then 7 training rows */
            size_t src = tr ? j % c.n : j % c.m;
            memcpy(xt + j * d, (tr ? c.x : c.xt) + src * d, d * sizeof(double));
            memcpy(yt + j * c.kdim, (tr ? c.y : c.yt) + src * c.kdim, c.kdim * sizeof(double));
        }
        infl_problem pb = problem(&c);
        pb.x_test = xt;
        pb.y_test = yt;
        pb.m = m;
        infl_cfg cfg = cfg_of(INFL_EXACT);
        ck_assert_int_eq(influence_run(&pb, &cfg, &re, NULL, &err), TG_OK);
        cfg = cfg_of(INFL_CG);
        cfg.cg_tol = 1e-12;
        ck_assert_int_eq(influence_run(&pb, &cfg, &rc, NULL, &err), TG_OK);
        double e1 = rel(rc.influence, re.influence, m * c.n);
        double e2 = rel(rc.self_influence, re.self_influence, c.n);
        printf("influence cg blocks %s: influence %.2e self %.2e, %zu iterations, %zu products "
               "(P %zu, %zu solves)\n", CASES[ci], e1, e2, rc.cg_iterations, rc.cg_products,
               c.p_hi - c.p_lo, m + c.n);
        ck_assert(e1 < 1e-9 && e2 < 1e-9);
        ck_assert(rc.cg_unconverged == 0 && rc.cg_relres <= 1e-12);
        /* equal rows give equal influence rows */
        size_t a = 0; /* test row 0 holds the case's test point 0, as do later ones */
        for (size_t j = 0; j < m; j++) {
            int tr = (j / 7) % 2;
            size_t src = tr ? j % c.n : j % c.m;
            if (!tr && src == 0 && j != a)
                ck_assert(rel(rc.influence + j * c.n, rc.influence + a * c.n, c.n) < 1e-9);
        }
        infl_result_deinit(&re);
        infl_result_deinit(&rc);
        free(xt);
        free(yt);
        free_case(&c);
    }
    json_decref(f);
}
END_TEST

/* An indefinite H whose right-hand sides never see the negative direction: logistic
 * regression with l2 moved so that exactly one eigenvalue of H is negative, and test
 * inputs chosen with [x; 1] orthogonal to its eigenvector (so are their gradients). The
 * block CG solves converge inside the positive subspace; the job must still fail
 * TG_ENUMERICAL (the Lanczos estimate after the solves). */
START_TEST(test_cg_indefinite_hidden)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    icase c;
    tg_err err;
    infl_result r;
    load_case(f, "logreg", &c);
    ck_assert_int_eq((int)c.arch.n_layers, 1);
    size_t P = c.P, d = c.arch.dims[0], m = 5;
    curv_obj o = {.arch = &c.arch, .theta = c.theta, .x = c.x, .y = c.y,
                  .y_is_class = c.y_is_class, .n = c.n, .loss = c.loss, .l2 = c.l2,
                  .p_lo = 0, .p_hi = P, .threads = 1};
    double *H = malloc(P * P * sizeof(double)), ev[64], work[4096];
    int iwork[512], n = (int)P, lw = 4096, liw = 512, info = 0;
    ck_assert_int_eq(curv_hessian(&o, H), TG_OK);
    dsyevd_("V", "U", &n, H, &n, ev, work, &lw, iwork, &liw, &info);
    ck_assert_int_eq(info, 0);
    ck_assert(ev[0] < ev[1]);
    const double *v1 = H; /* column 0 (column-major): the eigenvector of ev[0] */
    size_t j = 0; /* the input coordinate with the largest weight in v1 */
    for (size_t q = 1; q < d; q++)
        if (fabs(v1[q]) > fabs(v1[j]))
            j = q;
    double *xt = malloc(m * d * sizeof(double)), *yt = malloc(m * sizeof(double));
    for (size_t t = 0; t < m; t++) {
        double dot = v1[d]; /* the bias coordinate times 1 */
        for (size_t q = 0; q < d; q++) {
            xt[t * d + q] = sin(1.0 + 3.0 * (double)(t * d + q));
            if (q != j)
                dot += v1[q] * xt[t * d + q];
        }
        xt[t * d + j] = -dot / v1[j];
        yt[t] = (double)(t % 2);
    }
    infl_problem pb = problem(&c);
    pb.x_test = xt;
    pb.y_test = yt;
    pb.m = m;
    pb.damping = 0;
    pb.l2 = c.l2 - 0.5 * (ev[0] + ev[1]); /* eigenvalues (ev[0] - ev[1]) / 2 < 0, then > 0 */
    infl_cfg cfg = cfg_of(INFL_CG);
    cfg.self_influence = 0;
    tg_err_clear(&err);
    ck_assert_int_eq(influence_run(&pb, &cfg, &r, NULL, &err), TG_ENUMERICAL);
    printf("influence cg, indefinite H unseen by the right-hand sides (lambda_min %.4g): %s\n",
           0.5 * (ev[0] - ev[1]), err.msg);
    ck_assert(strstr(err.msg, "smallest eigenvalue") && strstr(err.msg, "try damping"));
    infl_result_deinit(&r);
    free(H);
    free(xt);
    free(yt);
    free_case(&c);
    json_decref(f);
}
END_TEST

START_TEST(test_not_pd)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    icase c;
    tg_err err;
    infl_result r;
    load_case(f, "mlp_ce", &c);
    infl_problem pb = problem(&c);
    pb.l2 = -(num(c.c, "max_eigenvalue") + 1);
    for (int mth = 0; mth < 2; mth++) {
        infl_cfg cfg = cfg_of(mth ? INFL_CG : INFL_EXACT);
        tg_err_clear(&err);
        ck_assert_int_eq(influence_run(&pb, &cfg, &r, NULL, &err), TG_ENUMERICAL);
        printf("influence not PD (%s): %s\n", mth ? "cg" : "exact", err.msg);
        ck_assert(strstr(err.msg, "smallest eigenvalue") && strstr(err.msg, "try damping"));
        infl_result_deinit(&r);
    }
    double s = influence_suggest_damping(-0.5, 0.001);
    ck_assert(s >= 1.002 && s < 1.2);
    free_case(&c);
    json_decref(f);
}
END_TEST

START_TEST(test_rank_corr)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    icase c;
    tg_err err;
    infl_result r;
    load_case(f, "mlp_ce", &c);
    infl_problem pb = problem(&c);
    size_t cols[6] = {3, 17, 0, 25, 9, 39};
    pb.cols = cols;
    pb.n_cols = 6;
    infl_cfg cfg = cfg_of(INFL_EXACT);
    cfg.top_k = 4;
    ck_assert_int_eq(influence_run(&pb, &cfg, &r, NULL, &err), TG_OK);
    double *want = vec(c.c, "influence", c.m * c.n), *ws = vec(c.c, "self_influence", c.n);
    ck_assert_int_eq((int)r.top_k, 4);
    for (size_t j = 0; j < c.m; j++) {
        for (size_t t = 0; t < 6; t++) {
            double a = r.influence[j * 6 + t], b = want[j * c.n + cols[t]];
            ck_assert(fabs(a - b) <= 1e-8 * fabs(b) + 1e-14);
        }
        for (size_t t = 0; t + 1 < 4; t++) {
            ck_assert(want[j * c.n + r.top_helpful[j * 4 + t]] <=
                      want[j * c.n + r.top_helpful[j * 4 + t + 1]]);
            ck_assert(want[j * c.n + r.top_harmful[j * 4 + t]] >=
                      want[j * c.n + r.top_harmful[j * 4 + t + 1]]);
        }
        /* the most helpful is the minimum over the columns */
        double mn = INFINITY;
        for (size_t t = 0; t < 6; t++)
            mn = fmin(mn, want[j * c.n + cols[t]]);
        ck_assert(want[j * c.n + r.top_helpful[j * 4]] == mn);
    }
    for (size_t t = 0; t < 6; t++)
        ck_assert(fabs(r.self_influence[t] - ws[cols[t]]) <= 1e-8 * ws[cols[t]]);
    infl_result_deinit(&r);
    free(want);
    free(ws);
    free_case(&c);
    json_decref(f);
    double a[5] = {1, 2, 3, 4, 5}, b[5] = {2, 4, 6, 8, 10}, t[5] = {1, 1, 2, 3, 3};
    ck_assert(fabs(influence_pearson(a, b, 5) - 1) < 1e-15);
    ck_assert(isnan(influence_pearson(a, (double[5]){1, 1, 1, 1, 1}, 5)));
    /* ranks of t: 1.5 1.5 3 4.5 4.5; spearman with a = pearson of the ranks */
    double rt[5] = {1.5, 1.5, 3, 4.5, 4.5};
    ck_assert(fabs(influence_spearman(a, t, 5) - influence_pearson(a, rt, 5)) < 1e-15);
    ck_assert(fabs(influence_spearman(a, (double[5]){5, 4, 3, 2, 1}, 5) + 1) < 1e-15);
}
END_TEST

Suite *influence_suite(void)
{
    Suite *s = suite_create("influence");
    TCase *tc = tcase_create("influence");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_grads);
    tcase_add_test(tc, test_exact);
    tcase_add_test(tc, test_cg);
    tcase_add_test(tc, test_cg_blocks);
    tcase_add_test(tc, test_cg_indefinite_hidden);
    tcase_add_test(tc, test_lissa);
    tcase_add_test(tc, test_loo);
    tcase_add_test(tc, test_not_pd);
    tcase_add_test(tc, test_rank_corr);
    suite_add_tcase(s, tc);
    return s;
}
