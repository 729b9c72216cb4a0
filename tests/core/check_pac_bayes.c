/* check_pac_bayes.c: core/pacbayes.c against the independent oracle
 * tests/reference/pacbayes_ref.py (60-digit decimal arithmetic written from API.md 5.5;
 * its output reference/pacbayes_fixtures.json is committed; regenerate with
 * /usr/bin/python3 tests/reference/pacbayes_ref.py), and against properties:
 * - kl_inv: 132 (q, c) pairs including q = 0, 1, c = 0, tiny and huge c: |ours - ref|
 *   <= 1e-13 (API.md asks 1e-12);
 * - bounds (calculator mode; Done-when 1): 844 cases, m 2..1e6, KL 0..1e5, e 0..1,
 *   delta 1e-6..0.5, each family to 1e-10 absolute (seeger null below m = 8);
 * - KL between diagonal Gaussians: 5 random cases (P up to 1000, isotropic and
 *   per-parameter posteriors, prior centre given or zero) to 1e-12 relative;
 * - properties on 20000 random inputs: every bound in [e, 1]; monotone in e and KL;
 *   kl(q || kl_inv(q, c)) <= c and kl_inv(q, c) >= q;
 * - Monte Carlo: threads 1, 2 and 3 give bit-identical per-sample errors; sigma = 0 gives
 *   the deterministic error; the estimate agrees with an independent estimate (other
 *   seed, Box-Muller normals drawn in this file) within 5 standard errors; a stop request
 *   returns TG_ECANCELLED;
 * - the optimization's surrogate gradient against central finite differences (fixed
 *   draws) to 1e-6 relative; a short optimization lowers the surrogate bound; a stop
 *   request returns TG_ECANCELLED.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/pacbayes.h"
#include "../../core/rng.h"
#include "fixture.h"

#define FIX "reference/pacbayes_fixtures.json"
#define SCRIPT "tests/reference/pacbayes_ref.py"

START_TEST(kl_inverse_matches_reference)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    json_t *cases = member(f, "kl_inv");
    double worst = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        double q = num(c, "q"), cc = num(c, "c"), p = num(c, "p");
        double ours = pacbayes_kl_inv(q, cc);
        double e = fabs(ours - p);
        ck_assert_msg(e <= 1e-13, "kl_inv(%g, %g) = %.17g, reference %.17g", q, cc, ours, p);
        if (e > worst)
            worst = e;
        ck_assert(ours >= q);
    }
    ck_assert_double_eq(pacbayes_kl_inv(0.3, INFINITY), 1.0);
    ck_assert(isnan(pacbayes_kl_inv(-0.1, 1)));
    ck_assert(isnan(pacbayes_kl_inv(0.5, -1)));
    ck_assert(isnan(pacbayes_kl_inv(NAN, 1)));
    json_decref(f);
}
END_TEST

START_TEST(bounds_match_reference)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    json_t *cases = member(f, "bounds");
    static const char *const names[3] = {"mcallester", "seeger", "catoni"};
    double worst[3] = {0, 0, 0};
    ck_assert(json_array_size(cases) > 800);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        double m = num(c, "m"), kl = num(c, "kl"), e = num(c, "e"), dl = num(c, "delta");
        for (int fam = 0; fam < 3; fam++) {
            json_t *ref = json_object_get(c, names[fam]);
            double ours = pacbayes_bound(fam, e, kl, m, dl);
            if (json_is_null(ref)) {
                ck_assert_msg(isnan(ours), "%s(m = %g) should be undefined", names[fam], m);
                continue;
            }
            double r = json_number_value(ref), d = fabs(ours - r);
            ck_assert_msg(d <= 1e-10, "%s(e=%g, kl=%g, m=%g, delta=%g) = %.17g, ref %.17g",
                          names[fam], e, kl, m, dl, ours, r);
            if (d > worst[fam])
                worst[fam] = d;
        }
    }
    ck_assert_str_eq(pacbayes_family_name(PB_CATONI), "catoni");
    ck_assert_int_eq(pacbayes_family_from_name("seeger"), PB_SEEGER);
    ck_assert_int_eq(pacbayes_family_from_name("langford"), -1);
    json_decref(f);
}
END_TEST

START_TEST(gaussian_kl_matches_reference)
{
    json_t *f = fixture_load(FIX, SCRIPT);
    json_t *cases = member(f, "kl_gauss");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        size_t P = count(c, "P");
        int iso = json_is_true(member(c, "iso"));
        double *mu = vec(c, "mu", P), *th = vec(c, "theta0", P), *sq = vec(c, "sigma_q", P);
        double sp = num(c, "sigma_p"), ref = num(c, "kl"), ref0 = num(c, "kl_zero_center");
        double ours = pacbayes_kl_gauss(mu, th, iso ? NULL : sq, sq[0], sp, P);
        double ours0 = pacbayes_kl_gauss(mu, NULL, sq, 0, sp, P);
        ck_assert_msg(fabs(ours - ref) <= 1e-12 * fmax(1, ref), "KL P=%zu %.17g vs %.17g", P,
                      ours, ref);
        ck_assert_msg(fabs(ours0 - ref0) <= 1e-12 * fmax(1, ref0), "KL0 P=%zu %.17g vs %.17g",
                      P, ours0, ref0);
        free(mu);
        free(th);
        free(sq);
    }
    /* Q = P gives 0 exactly. */
    double z[3] = {0.1, -0.2, 0.3};
    ck_assert_double_eq(pacbayes_kl_gauss(z, z, NULL, 0.5, 0.5, 3), 0.0);
    json_decref(f);
}
END_TEST

START_TEST(bound_properties)
{
    tg_rng r;
    rng_seed(&r, 77);
    for (int it = 0; it < 20000; it++) {
        double e = rng_uniform(&r);
        if (it % 7 == 0)
            e = 0;
        if (it % 11 == 0)
            e = 1;
        double kl = it % 5 == 0 ? 0 : pow(10, 6 * rng_uniform(&r) - 2);
        double m = floor(pow(10, 1 + 5 * rng_uniform(&r)));
        double dl = pow(10, -6 * rng_uniform(&r)) * 0.9;
        for (int f = 0; f < 3; f++) {
            double b = pacbayes_bound(f, e, kl, m, dl);
            ck_assert_msg(b >= e - 1e-15 && b <= 1.0, "family %d: %g not in [%g, 1]", f, b, e);
            double b2 = pacbayes_bound(f, fmin(1, e + 0.01), kl, m, dl);
            double b3 = pacbayes_bound(f, e, kl * 1.5 + 1, m, dl);
            ck_assert(b2 >= b - 1e-15 && b3 >= b - 1e-15);
        }
        double c = pow(10, 8 * rng_uniform(&r) - 6);
        double p = pacbayes_kl_inv(e, c);
        ck_assert(p >= e && p <= 1);
        /* feasible, up to the conditioning of kl near p = 1 (then the double below is) */
        ck_assert_msg(pacbayes_binary_kl(e, p) <= c * (1 + 1e-12) ||
                          pacbayes_binary_kl(e, nextafter(p, 0)) <= c,
                      "kl(%g, %.17g) = %.17g > %.17g", e, p, pacbayes_binary_kl(e, p), c);
        if (p < 1 - 1e-9) /* within 1e-12 of the supremum */
            ck_assert_msg(pacbayes_binary_kl(e, p + 1e-12) > c, "kl_inv(%g, %g) = %.17g", e, c,
                          p);
    }
}
END_TEST

/* ---- Monte Carlo ------------------------------------------------------------------- */

/* A 3-class problem: 2-D points around three centres with overlap, a 2-12-3 tanh net. */
typedef struct mc_setup {
    mlp_arch a;
    size_t n, P;
    double *x, *y, *theta;
} mc_setup;

static void mc_setup_init(mc_setup *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->a.n_layers = 2;
    s->a.dims[0] = 2;
    s->a.dims[1] = 12;
    s->a.dims[2] = 3;
    s->a.act = ACT_TANH;
    s->a.bias = 1;
    s->n = n;
    s->P = mlp_param_count(&s->a);
    s->x = malloc(n * 2 * sizeof(double));
    s->y = malloc(n * sizeof(double));
    s->theta = malloc(s->P * sizeof(double));
    tg_rng r;
    rng_seed(&r, 5);
    static const double cx[3] = {0, 2, -1}, cy[3] = {0, 0.5, 1.8};
    for (size_t i = 0; i < n; i++) {
        size_t c = i % 3;
        s->y[i] = (double)c;
        s->x[2 * i] = cx[c] + rng_normal(&r);
        s->x[2 * i + 1] = cy[c] + rng_normal(&r);
    }
    for (size_t i = 0; i < s->P; i++)
        s->theta[i] = 0.8 * rng_normal(&r);
}

static void mc_setup_free(mc_setup *s)
{
    free(s->x);
    free(s->y);
    free(s->theta);
}

START_TEST(mc_threads_identical)
{
    mc_setup s;
    mc_setup_init(&s, 301);
    size_t N = 57, per[3][57];
    double e[3];
    for (int t = 0; t < 3; t++) {
        pacbayes_mc_cfg cfg = {.samples = N, .seed = 9, .stream = 1234, .threads = t + 1};
        ck_assert_int_eq(pacbayes_mc_error(&s.a, s.theta, NULL, 0.3, s.x, s.y, s.n, &cfg, &e[t],
                                           per[t], NULL),
                         TG_OK);
    }
    ck_assert(e[0] == e[1] && e[0] == e[2]);
    ck_assert(memcmp(per[0], per[1], sizeof per[0]) == 0);
    ck_assert(memcmp(per[0], per[2], sizeof per[0]) == 0);
    /* per-parameter sigma equal to the isotropic one: the same networks */
    double *sig = malloc(s.P * sizeof(double)), e4;
    for (size_t i = 0; i < s.P; i++)
        sig[i] = 0.3;
    pacbayes_mc_cfg cfg = {.samples = N, .seed = 9, .stream = 1234, .threads = 2};
    ck_assert_int_eq(pacbayes_mc_error(&s.a, s.theta, sig, 0, s.x, s.y, s.n, &cfg, &e4, NULL,
                                       NULL), TG_OK);
    ck_assert(e4 == e[0]);
    /* sigma = 0: every sample is the deterministic network */
    double e0, *out = malloc(s.n * 3 * sizeof(double));
    mlp_ws *ws = mlp_ws_new(&s.a, s.n);
    mlp_predict(&s.a, s.theta, s.x, s.n, ws, out);
    double det = (double)pacbayes_count_errors(out, s.n, 3, s.y) / (double)s.n;
    ck_assert_int_eq(pacbayes_mc_error(&s.a, s.theta, NULL, 0.0, s.x, s.y, s.n, &cfg, &e0, NULL,
                                       NULL), TG_OK);
    ck_assert_double_eq_tol(e0, det, 1e-15);
    mlp_ws_free(ws);
    free(out);
    free(sig);
    mc_setup_free(&s);
}
END_TEST

START_TEST(mc_agrees_with_independent_estimate)
{
    mc_setup s;
    mc_setup_init(&s, 300);
    size_t N = 2000;
    double ours;
    pacbayes_mc_cfg cfg = {.samples = N, .seed = 1, .stream = 0, .threads = 2};
    ck_assert_int_eq(pacbayes_mc_error(&s.a, s.theta, NULL, 0.25, s.x, s.y, s.n, &cfg, &ours,
                                       NULL, NULL), TG_OK);
    /* Independent: Box-Muller normals from rand48, errors counted here. */
    unsigned short xs[3] = {1, 2, 3};
    double *th = malloc(s.P * sizeof(double)), *out = malloc(s.n * 3 * sizeof(double));
    mlp_ws *ws = mlp_ws_new(&s.a, s.n);
    double sum = 0, sum2 = 0;
    for (size_t k = 0; k < N; k++) {
        for (size_t i = 0; i < s.P; i++) {
            double u1 = erand48(xs), u2 = erand48(xs);
            double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
            th[i] = s.theta[i] + 0.25 * z;
        }
        mlp_predict(&s.a, th, s.x, s.n, ws, out);
        size_t bad = 0;
        for (size_t i = 0; i < s.n; i++) {
            size_t best = 0;
            for (size_t j = 1; j < 3; j++)
                if (out[i * 3 + j] > out[i * 3 + best])
                    best = j;
            bad += best != (size_t)s.y[i];
        }
        double e = (double)bad / (double)s.n;
        sum += e;
        sum2 += e * e;
    }
    double mean = sum / (double)N, var = sum2 / (double)N - mean * mean;
    double se = sqrt(2 * var / (double)N);
    ck_assert_msg(fabs(ours - mean) <= 5 * se, "ours %g, independent %g (se %g)", ours, mean, se);
    ck_assert_msg(mean > 0.05 && mean < 0.97, "mean %g", mean); /* a non-trivial error */
    mlp_ws_free(ws);
    free(th);
    free(out);
    mc_setup_free(&s);
}
END_TEST

static int stop_now(void *ud, size_t done, size_t total, double e)
{
    (void)done;
    (void)total;
    (void)e;
    ++*(int *)ud;
    return 1;
}

START_TEST(mc_cancel)
{
    mc_setup s;
    mc_setup_init(&s, 100);
    int calls = 0;
    double e;
    pacbayes_mc_cfg cfg = {.samples = 100000, .seed = 1, .threads = 2, .on_progress = stop_now,
                           .ud = &calls};
    tg_err err;
    ck_assert_int_eq(pacbayes_mc_error(&s.a, s.theta, NULL, 0.1, s.x, s.y, s.n, &cfg, &e, NULL,
                                       &err), TG_ECANCELLED);
    ck_assert_int_ge(calls, 1);
    mc_setup_free(&s);
}
END_TEST

/* ---- optimization ------------------------------------------------------------------ */

START_TEST(surrogate_gradient_finite_differences)
{
    mc_setup s;
    mc_setup_init(&s, 40);
    size_t P = s.P, N = 2 * P + 1, S = 2;
    double *w = malloc(N * sizeof(double)), *g = malloc(N * sizeof(double));
    double *g2 = malloc(N * sizeof(double)), *eps = malloc(S * P * sizeof(double));
    double *th = malloc(P * sizeof(double)), *gl = malloc(P * sizeof(double));
    double *th0 = malloc(P * sizeof(double));
    mlp_ws *ws = mlp_ws_new(&s.a, s.n);
    tg_rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < P; i++) {
        w[i] = s.theta[i];
        w[P + i] = log(0.05 + 0.2 * rng_uniform(&r));
        th0[i] = 0.3 * rng_normal(&r);
    }
    w[2 * P] = log(0.4);
    for (size_t i = 0; i < S * P; i++)
        eps[i] = rng_normal(&r);
    for (int loss = 0; loss < 1; loss++) {
        pacbayes_surrogate(&s.a, th0, w, s.x, s.y, s.n, eps, S, 500, 0.01, LOSS_CROSS_ENTROPY, 1,
                           ws, th, gl, g);
        double worst = 0;
        for (size_t i = 0; i < N; i++) {
            double h = 1e-6, keep = w[i];
            w[i] = keep + h;
            double fp = pacbayes_surrogate(&s.a, th0, w, s.x, s.y, s.n, eps, S, 500, 0.01,
                                           LOSS_CROSS_ENTROPY, 1, ws, th, gl, g2);
            w[i] = keep - h;
            double fm = pacbayes_surrogate(&s.a, th0, w, s.x, s.y, s.n, eps, S, 500, 0.01,
                                           LOSS_CROSS_ENTROPY, 1, ws, th, gl, g2);
            w[i] = keep;
            double fd = (fp - fm) / (2 * h), d = fabs(fd - g[i]) / fmax(1e-3, fabs(g[i]));
            ck_assert_msg(d < 1e-5, "entry %zu: analytic %.12g, fd %.12g", i, g[i], fd);
            if (d > worst)
                worst = d;
        }
    }
    mlp_ws_free(ws);
    free(w);
    free(g);
    free(g2);
    free(eps);
    free(th);
    free(gl);
    free(th0);
    mc_setup_free(&s);
}
END_TEST

static int opt_stop(void *ud, double f, size_t ep, double obj)
{
    (void)f;
    (void)ep;
    (void)obj;
    return ud != NULL;
}

START_TEST(optimization_lowers_the_surrogate)
{
    mc_setup s;
    mc_setup_init(&s, 300);
    size_t P = s.P, N = 2 * P + 1, S = 64;
    double *mu = malloc(P * sizeof(double)), *sig = malloc(P * sizeof(double));
    double *w = malloc(N * sizeof(double)), *g = malloc(N * sizeof(double));
    double *eps = malloc(S * P * sizeof(double)), *th = malloc(P * sizeof(double));
    double *gl = malloc(P * sizeof(double));
    mlp_ws *ws = mlp_ws_new(&s.a, s.n);
    tg_rng r;
    rng_seed(&r, 8);
    for (size_t i = 0; i < S * P; i++)
        eps[i] = rng_normal(&r);
    memcpy(mu, s.theta, P * sizeof(double));
    for (size_t i = 0; i < P; i++)
        sig[i] = 0.05;
    double sp = 0.05;
    /* the surrogate on the whole set with 64 fixed draws, before and after */
    for (size_t i = 0; i < P; i++) {
        w[i] = mu[i];
        w[P + i] = log(sig[i]);
    }
    w[2 * P] = log(sp);
    double before = pacbayes_surrogate(&s.a, NULL, w, s.x, s.y, s.n, eps, S, 300, 0.01,
                                       LOSS_CROSS_ENTROPY, 1, ws, th, gl, g);
    pacbayes_opt_cfg cfg = {.epochs = 40, .samples = 1, .batch = 50, .lr = 0.01, .m = 300,
                            .delta = 0.01, .lambda_min = log(1e-3), .lambda_max = log(1.0),
                            .loss = LOSS_CROSS_ENTROPY, .seed = 2};
    ck_assert_int_eq(pacbayes_optimize(&s.a, NULL, mu, sig, &sp, s.x, s.y, s.n, &cfg, NULL), TG_OK);
    for (size_t i = 0; i < P; i++) {
        w[i] = mu[i];
        w[P + i] = log(sig[i]);
    }
    w[2 * P] = log(sp);
    double after = pacbayes_surrogate(&s.a, NULL, w, s.x, s.y, s.n, eps, S, 300, 0.01,
                                      LOSS_CROSS_ENTROPY, 1, ws, th, gl, g);
    ck_assert_msg(after < before - 0.05, "surrogate %g -> %g", before, after);
    ck_assert(sp >= 1e-3 * (1 - 1e-12) && sp <= 1.0 * (1 + 1e-12));
    /* stop requests are honoured */
    int flag = 1;
    cfg.on_progress = opt_stop;
    cfg.ud = &flag;
    ck_assert_int_eq(pacbayes_optimize(&s.a, NULL, mu, sig, &sp, s.x, s.y, s.n, &cfg, NULL),
                     TG_ECANCELLED);
    mlp_ws_free(ws);
    free(mu);
    free(sig);
    free(w);
    free(g);
    free(eps);
    free(th);
    free(gl);
    mc_setup_free(&s);
}
END_TEST

Suite *pac_bayes_suite(void)
{
    Suite *s = suite_create("pac_bayes");
    TCase *tc = tcase_create("bounds");
    tcase_add_test(tc, kl_inverse_matches_reference);
    tcase_add_test(tc, bounds_match_reference);
    tcase_add_test(tc, gaussian_kl_matches_reference);
    tcase_add_test(tc, bound_properties);
    suite_add_tcase(s, tc);
    tc = tcase_create("monte_carlo");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mc_threads_identical);
    tcase_add_test(tc, mc_agrees_with_independent_estimate);
    tcase_add_test(tc, mc_cancel);
    suite_add_tcase(s, tc);
    tc = tcase_create("optimize");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, surrogate_gradient_finite_differences);
    tcase_add_test(tc, optimization_lowers_the_surrogate);
    suite_add_tcase(s, tc);
    return s;
}
