/* check_hessian.c: core/curv.c (the curvature of J) and the spectral tools of
 * core/lanczos.c against independent oracles:
 * - central finite differences of curv_grad for curv_hvp (every loss, l2, damping, the
 *   last-layer subset, 1 and 3 threads), and finite differences of J for curv_grad;
 * - the explicit Hessian's columns against curv_hvp, and its symmetry;
 * - Lanczos (lanczos_extreme) against the exact eigenvalues (dsyevd) of the same matrix;
 * - Hutchinson's trace within 3 standard errors of the exact trace; SLQ weights summing
 *   to 1 and the density's mass;
 * - PyTorch 1.13 float64 (tests/reference/hessian_ref.py: torch.autograd.functional.hessian
 *   and torch.linalg.eigvalsh on the same network and weights; fixtures committed in
 *   reference/hessian_fixtures.json): the top 5 and bottom 5 eigenvalues, by the exact path
 *   and by Lanczos, to relative 1e-8.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/curv.h"
#include "core/lanczos.h"
#include "core/rng.h"
#include "suite.h"

/* A small deterministic generator, independent of core/rng.c. */
static double lcg(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(*s >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

typedef struct hcase {
    mlp_arch a;
    size_t n;
    double *theta, *x, *y;
    curv_obj o;
} hcase;

/* A 2-hidden-layer tanh network (dims d-h1-h2-k) on n random rows. */
static void hcase_make(hcase *c, tg_loss loss, size_t d, size_t h1, size_t h2, size_t k,
                       size_t n, tg_act act, unsigned long long seed)
{
    memset(c, 0, sizeof *c);
    c->a.n_layers = 3;
    c->a.dims[0] = d;
    c->a.dims[1] = h1;
    c->a.dims[2] = h2;
    c->a.dims[3] = loss == LOSS_LOGISTIC ? 1 : k;
    c->a.act = act;
    c->a.leaky_slope = 0.1;
    c->a.bias = 1;
    c->n = n;
    size_t P = mlp_param_count(&c->a), K = c->a.dims[3];
    c->theta = malloc(P * sizeof(double));
    c->x = malloc(n * d * sizeof(double));
    c->y = malloc(n * K * sizeof(double));
    for (size_t i = 0; i < P; i++)
        c->theta[i] = 0.6 * lcg(&seed);
    for (size_t i = 0; i < n * d; i++)
        c->x[i] = 1.5 * lcg(&seed);
    int cls = loss != LOSS_MSE;
    for (size_t i = 0; i < n; i++) {
        if (cls)
            c->y[i] = (double)(size_t)((lcg(&seed) + 1.0) * 0.5 * (double)(loss == LOSS_LOGISTIC ? 2 : K) * 0.999);
        else
            for (size_t j = 0; j < K; j++)
                c->y[i * K + j] = lcg(&seed);
    }
    c->o = (curv_obj){.arch = &c->a, .theta = c->theta, .x = c->x, .y = c->y,
                      .y_is_class = cls, .n = n, .loss = loss, .l2 = 0, .damping = 0,
                      .p_lo = 0, .p_hi = P, .threads = 1};
}

static void hcase_free(hcase *c)
{
    free(c->theta);
    free(c->x);
    free(c->y);
}

static double rel_err(const double *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-300);
}

/* (H + damping) v on the subset by central differences of the gradient of J. */
static void fd_hvp(curv_obj *o, const double *v, double *out)
{
    size_t P = mlp_param_count(o->arch), dim = curv_dim(o);
    double *tp = malloc(P * sizeof(double)), *gp = malloc(dim * sizeof(double)),
           *gm = malloc(dim * sizeof(double));
    const double *th = o->theta;
    double h = 1e-5;
    memcpy(tp, th, P * sizeof(double));
    o->theta = tp;
    for (size_t i = 0; i < dim; i++)
        tp[o->p_lo + i] = th[o->p_lo + i] + h * v[i];
    ck_assert_int_eq(curv_grad(o, gp, NULL), TG_OK);
    for (size_t i = 0; i < dim; i++)
        tp[o->p_lo + i] = th[o->p_lo + i] - h * v[i];
    ck_assert_int_eq(curv_grad(o, gm, NULL), TG_OK);
    for (size_t i = 0; i < dim; i++)
        out[i] = (gp[i] - gm[i]) / (2 * h) + o->damping * v[i];
    o->theta = th;
    free(tp), free(gp), free(gm);
}

START_TEST(hvp_matches_finite_differences)
{
    static const tg_loss losses[] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    for (size_t li = 0; li < 3; li++)
        for (int variant = 0; variant < 4; variant++) {
            hcase c;
            /* n = 1100 > the 512-row block, so several blocks and lanes add up. */
            hcase_make(&c, losses[li], 4, 6, 5, 3, variant == 3 ? 1100 : 37, ACT_TANH,
                       11 + li * 7 + (unsigned)variant);
            if (variant >= 1) {
                c.o.l2 = 0.03;
                c.o.damping = 0.2;
            }
            if (variant == 2)
                curv_subset_last_layer(&c.a, &c.o.p_lo, &c.o.p_hi);
            if (variant == 3)
                c.o.threads = 3;
            size_t dim = curv_dim(&c.o);
            unsigned long long s = 99;
            double *v = malloc(dim * sizeof(double)), *hv = malloc(dim * sizeof(double)),
                   *fd = malloc(dim * sizeof(double));
            for (size_t i = 0; i < dim; i++)
                v[i] = lcg(&s);
            ck_assert_int_eq(curv_hvp(&c.o, v, hv), TG_OK);
            fd_hvp(&c.o, v, fd);
            double e = rel_err(hv, fd, dim);
            ck_assert_msg(e < 1e-7, "loss %zu variant %d: hvp vs finite differences %g", li,
                          variant, e);
            free(v), free(hv), free(fd);
            hcase_free(&c);
        }
}
END_TEST

START_TEST(grad_matches_finite_differences)
{
    hcase c;
    hcase_make(&c, LOSS_CROSS_ENTROPY, 3, 4, 4, 3, 20, ACT_SOFTPLUS, 5);
    c.o.l2 = 0.05;
    curv_subset_last_layer(&c.a, &c.o.p_lo, &c.o.p_hi);
    size_t dim = curv_dim(&c.o), P = mlp_param_count(&c.a);
    double *g = malloc(dim * sizeof(double)), J0;
    ck_assert_int_eq(curv_grad(&c.o, g, &J0), TG_OK);
    /* J by hand: mean loss + l2/2 ||theta||^2 over all parameters. */
    double sq = 0;
    for (size_t i = 0; i < P; i++)
        sq += c.theta[i] * c.theta[i];
    mlp_ws *ws = mlp_ws_new(&c.a, c.n);
    double *gf = malloc(P * sizeof(double));
    double lm = mlp_loss_grad(&c.a, c.theta, c.x, c.y, 1, NULL, c.n, c.o.loss, ws, gf);
    ck_assert_double_eq_tol(J0, lm + 0.025 * sq, 1e-14);
    double h = 1e-6;
    for (size_t i = 0; i < dim; i++) {
        double Jp, Jm, t0 = c.theta[c.o.p_lo + i];
        c.theta[c.o.p_lo + i] = t0 + h;
        ck_assert_int_eq(curv_grad(&c.o, gf, &Jp), TG_OK);
        c.theta[c.o.p_lo + i] = t0 - h;
        ck_assert_int_eq(curv_grad(&c.o, gf, &Jm), TG_OK);
        c.theta[c.o.p_lo + i] = t0;
        ck_assert_msg(fabs((Jp - Jm) / (2 * h) - g[i]) < 1e-8 * (1 + fabs(g[i])),
                      "grad[%zu] %g vs fd %g", i, g[i], (Jp - Jm) / (2 * h));
    }
    mlp_ws_free(ws);
    free(g), free(gf);
    hcase_free(&c);
}
END_TEST

START_TEST(explicit_hessian_columns_are_hvps)
{
    for (int variant = 0; variant < 2; variant++) {
        hcase c;
        hcase_make(&c, LOSS_CROSS_ENTROPY, 5, 7, 6, 4, 600, ACT_GELU, 3);
        c.o.l2 = 0.01;
        c.o.damping = 0.05;
        c.o.threads = variant ? 2 : 1;
        if (variant)
            curv_subset_last_layer(&c.a, &c.o.p_lo, &c.o.p_hi);
        size_t dim = curv_dim(&c.o);
        double *H = malloc(dim * dim * sizeof(double)), *e = calloc(dim, sizeof(double)),
               *col = malloc(dim * sizeof(double));
        ck_assert_int_eq(curv_hessian(&c.o, H), TG_OK);
        double worst = 0, asym = 0;
        for (size_t j = 0; j < dim; j++) {
            e[j] = 1;
            c.o.threads = 1;
            ck_assert_int_eq(curv_hvp(&c.o, e, col), TG_OK);
            e[j] = 0;
            worst = fmax(worst, rel_err(H + j * dim, col, dim));
            for (size_t i = 0; i < dim; i++)
                asym = fmax(asym, fabs(H[i * dim + j] - H[j * dim + i]));
        }
        ck_assert_msg(worst < 1e-12, "explicit column vs hvp %g", worst);
        ck_assert(asym == 0);
        free(H), free(e), free(col);
        hcase_free(&c);
    }
}
END_TEST

/* The exact spectrum of a case (ascending, dim entries; caller frees) and its dim. */
static double *exact_spectrum(curv_obj *o)
{
    size_t dim = curv_dim(o);
    double *H = malloc(dim * dim * sizeof(double)), *w = malloc(dim * sizeof(double));
    ck_assert_int_eq(curv_hessian(o, H), TG_OK);
    ck_assert_int_eq(curv_eigvalsh(dim, H, w), TG_OK);
    free(H);
    return w;
}

START_TEST(lanczos_matches_exact_eigenvalues)
{
    hcase c;
    hcase_make(&c, LOSS_CROSS_ENTROPY, 6, 10, 8, 4, 200, ACT_TANH, 21);
    c.o.l2 = 1e-3;
    size_t dim = curv_dim(&c.o);
    double *w = exact_spectrum(&c.o);
    curv_ws *ws = curv_ws_new(&c.o);
    ck_assert_ptr_nonnull(ws);
    lanczos_cfg cfg = {.top_k = 5, .bottom_k = 5, .tol = 1e-10, .max_steps = 0};
    double top[5], bot[5], rt[5], rb[5];
    lanczos_result res;
    tg_rng rng;
    rng_seed(&rng, 7);
    ck_assert_int_eq(lanczos_extreme(curv_op, ws, dim, &cfg, &rng, NULL, top, bot, rt, rb, &res),
                     TG_OK);
    ck_assert(res.converged);
    double scale = fmax(fabs(w[0]), fabs(w[dim - 1]));
    for (size_t i = 0; i < 5; i++) {
        ck_assert_msg(fabs(top[i] - w[dim - 1 - i]) <= 1e-9 * scale, "top %zu: %.17g vs %.17g",
                      i, top[i], w[dim - 1 - i]);
        ck_assert_msg(fabs(bot[i] - w[i]) <= 1e-9 * scale, "bottom %zu: %.17g vs %.17g", i,
                      bot[i], w[i]);
        ck_assert(rt[i] <= 1e-10 * res.scale && rb[i] <= 1e-10 * res.scale);
    }
    ck_assert_uint_lt(res.steps, dim);
    curv_ws_free(ws);
    free(w);
    hcase_free(&c);
}
END_TEST

START_TEST(hutchinson_and_slq)
{
    hcase c;
    hcase_make(&c, LOSS_MSE, 5, 8, 6, 2, 150, ACT_TANH, 33);
    c.o.l2 = 0.02;
    size_t dim = curv_dim(&c.o);
    double *w = exact_spectrum(&c.o), tr = 0;
    for (size_t i = 0; i < dim; i++)
        tr += w[i];
    curv_ws *ws = curv_ws_new(&c.o);
    tg_rng rng;
    rng_seed(&rng, 3);
    double est, se;
    ck_assert_int_eq(lanczos_hutchinson(curv_op, ws, dim, 200, &rng, NULL, &est, &se), TG_OK);
    ck_assert_msg(fabs(est - tr) <= 3 * se, "trace %g vs exact %g (stderr %g)", est, tr, se);
    ck_assert(se > 0 && se < 0.2 * fabs(tr));
    /* SLQ: weights sum to 1 per probe; the trace of H is n sum tau theta (exactly the
     * quadrature of g(t) = t, which Lanczos integrates exactly). */
    size_t probes = 4, steps = 30, counts[4];
    double *nodes = malloc(probes * steps * sizeof(double)), *wts = malloc(probes * steps * sizeof(double));
    ck_assert_int_eq(lanczos_slq(curv_op, ws, dim, probes, steps, &rng, NULL, nodes, wts, counts),
                     TG_OK);
    for (size_t p = 0; p < probes; p++) {
        double sw = 0;
        ck_assert_uint_eq(counts[p], steps);
        for (size_t j = 0; j < counts[p]; j++) {
            sw += wts[p * steps + j];
            ck_assert(nodes[p * steps + j] >= w[0] - 1e-9 && nodes[p * steps + j] <= w[dim - 1] + 1e-9);
        }
        ck_assert_double_eq_tol(sw, 1.0, 1e-12);
    }
    double sigma = 1e-2 * (w[dim - 1] - w[0]), lo = w[0] - 6 * sigma, hi = w[dim - 1] + 6 * sigma;
    double grid[50], val[50], mass = 0;
    lanczos_slq_density(nodes, wts, counts, probes, steps, sigma, lo, hi, 50, grid, val);
    for (size_t b = 0; b < 50; b++) {
        ck_assert(val[b] >= 0);
        mass += val[b] * (hi - lo) / 50;
    }
    ck_assert_double_eq_tol(mass, 1.0, 1e-6);
    free(nodes), free(wts);
    curv_ws_free(ws);
    free(w);
    hcase_free(&c);
}
END_TEST

Suite *hessian_suite(void)
{
    Suite *s = suite_create("hessian");
    return SUITE_TCASE(s, "curv", 120, hvp_matches_finite_differences,
                       grad_matches_finite_differences, explicit_hessian_columns_are_hvps,
                       lanczos_matches_exact_eigenvalues, hutchinson_and_slq);
}
