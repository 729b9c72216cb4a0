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
#include <time.h>

#include "core/curv.h"
#include "core/hessian.h"
#include "tests/core/curv_case.h"
#include "core/lanczos.h"
#include "core/rng.h"
#include "fixture.h"
#include "tests/suite.h"

typedef curv_case hcase;

/* A 2-hidden-layer network (dims d-h1-h2-k) on n random rows: theta in 0.6 [-1, 1), x in
 * 1.5 [-1, 1). */
static void hcase_make(hcase *c, tg_loss loss, size_t d, size_t h1, size_t h2, size_t k,
                       size_t n, tg_act act, unsigned long long seed)
{
    size_t hidden[2] = {h1, h2};
    curv_case_make(c, loss, 0, d, hidden, 2, k, n, act, 1.5, 0.6, seed);
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
            /* the cached R-passes against mlp_hvp's full recomputation */
            double *hv2 = malloc(dim * sizeof(double));
            c.o.no_cache = 1;
            ck_assert_int_eq(curv_hvp(&c.o, v, hv2), TG_OK);
            c.o.no_cache = 0;
            double e2 = rel_err(hv, hv2, dim);
            ck_assert_msg(e2 < 1e-13, "loss %zu variant %d: cached vs recomputed %g", li,
                          variant, e2);
            free(hv2);
            free(v), free(hv), free(fd);
            curv_case_free(&c);
        }
}
END_TEST

/* Every activation, a linear model (no hidden layer) and the ntk parameterization: the
 * cached R-passes against mlp_hvp (itself checked against finite differences and
 * PyTorch in check_mlp.c). */
START_TEST(cached_hvp_matches_mlp_hvp)
{
    for (int act = 0; act < ACT_COUNT; act++)
        for (int shape = 0; shape < 3; shape++) {
            hcase c;
            tg_loss loss = shape == 1 ? LOSS_MSE : LOSS_CROSS_ENTROPY;
            hcase_make(&c, loss, 4, 6, 5, 3, 530, (tg_act)act, 40 + (unsigned)act);
            if (shape == 2) {
                c.a.ntk = 1;
                c.a.w_std = 1.3;
                c.a.b_std = 0.4;
            }
            if (shape == 1) { /* a linear model */
                c.a.n_layers = 1;
                c.a.dims[1] = 3;
                c.o.p_hi = mlp_param_count(&c.a);
            }
            size_t P = mlp_param_count(&c.a);
            unsigned long long s = 5;
            double *v = malloc(P * sizeof(double)), *a1 = malloc(P * sizeof(double)),
                   *a2 = malloc(P * sizeof(double));
            for (size_t i = 0; i < P; i++)
                v[i] = lcg(&s);
            ck_assert_int_eq(curv_hvp(&c.o, v, a1), TG_OK);
            mlp_ws *ws = mlp_ws_new(&c.a, c.n);
            mlp_hvp(&c.a, c.theta, c.x, c.y, c.o.y_is_class, c.n, loss, v, ws, a2, NULL);
            double e = rel_err(a1, a2, P);
            ck_assert_msg(e < 1e-13, "act %d shape %d: cached hvp vs mlp_hvp %g", act, shape, e);
            mlp_ws_free(ws);
            free(v), free(a1), free(a2);
            curv_case_free(&c);
        }
}
END_TEST

/* The explicit Hessian from the cached R-passes against the one built from mlp_hvp (no
 * cache): every activation, every loss, a linear model, the ntk parameterization. */
START_TEST(cached_hessian_matches_recomputed)
{
    static const tg_loss losses[] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    for (int act = 0; act < ACT_COUNT; act++)
        for (int shape = 0; shape < 3; shape++) {
            hcase c;
            tg_loss loss = losses[(act + shape) % 3];
            hcase_make(&c, loss, 3, 5, 4, 3, 70, (tg_act)act, 90 + (unsigned)act);
            if (shape == 1) {
                c.a.ntk = 1;
                c.a.w_std = 1.2;
                c.a.b_std = 0.3;
            }
            if (shape == 2) { /* a linear model */
                c.a.n_layers = 1;
                c.a.dims[1] = loss == LOSS_LOGISTIC ? 1 : 3;
                c.o.p_hi = mlp_param_count(&c.a);
            }
            c.o.l2 = 0.1;
            c.o.no_struct = 1; /* the column path (the linear model would be structured) */
            size_t dim = curv_dim(&c.o);
            double *H1 = malloc(dim * dim * sizeof(double)), *H2 = malloc(dim * dim * sizeof(double));
            ck_assert_int_eq(curv_hessian(&c.o, H1), TG_OK);
            c.o.no_cache = 1;
            ck_assert_int_eq(curv_hessian(&c.o, H2), TG_OK);
            double e = rel_err(H1, H2, dim * dim);
            ck_assert_msg(e < 1e-13, "act %d shape %d: cached vs recomputed Hessian %g", act, shape, e);
            free(H1), free(H2);
            curv_case_free(&c);
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
    curv_case_free(&c);
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
        curv_case_free(&c);
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
    curv_case_free(&c);
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
    /* The same probes 16 (and 7: a short last block) at a time through the multi-direction
     * products: the same estimate up to rounding. */
    for (size_t blk = 7; blk <= 16; blk += 9) {
        double est2, se2;
        rng_seed(&rng, 3);
        ck_assert_int_eq(lanczos_hutchinson_block(curv_block_op, ws, dim, 200, blk, &rng, NULL,
                                                  &est2, &se2), TG_OK);
        ck_assert_msg(fabs(est2 - est) <= 1e-12 * fabs(est) && fabs(se2 - se) <= 1e-10 * se,
                      "block %zu: trace %.17g vs %.17g, stderr %.17g vs %.17g", blk, est2, est,
                      se2, se);
    }
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
    curv_case_free(&c);
}
END_TEST


/* ---- against PyTorch ---------------------------------------------------------------- */

#define FIXTURES "reference/hessian_fixtures.json"
#define SCRIPT "tests/reference/hessian_ref.py"

typedef struct ref_case {
    mlp_arch a;
    double *theta, *x, *y;
    curv_obj o;
} ref_case;

static void ref_load(json_t *c, ref_case *r)
{
    memset(r, 0, sizeof *r);
    json_t *dims = member(c, "dims");
    r->a.n_layers = json_array_size(dims) - 1;
    for (size_t l = 0; l <= r->a.n_layers; l++)
        r->a.dims[l] = (size_t)json_integer_value(json_array_get(dims, l));
    r->a.act = (tg_act)activation_from_name(str(c, "activation"));
    r->a.bias = 1;
    const char *ln = str(c, "loss");
    tg_loss loss = strcmp(ln, "cross_entropy") == 0 ? LOSS_CROSS_ENTROPY
                   : strcmp(ln, "logistic") == 0    ? LOSS_LOGISTIC
                                                    : LOSS_MSE;
    size_t n = count(c, "n"), P = count(c, "param_count");
    ck_assert_uint_eq(P, mlp_param_count(&r->a));
    size_t yd = loss == LOSS_MSE ? r->a.dims[r->a.n_layers] : 1;
    r->theta = vec(c, "theta", P);
    r->x = vec(c, "x", n * r->a.dims[0]);
    r->y = vec(c, "y", n * yd);
    r->o = (curv_obj){.arch = &r->a, .theta = r->theta, .x = r->x, .y = r->y,
                      .y_is_class = loss != LOSS_MSE, .n = n, .loss = loss,
                      .l2 = num(c, "l2"), .p_lo = 0, .p_hi = P, .threads = 2};
}

static void ref_free(ref_case *r)
{
    free(r->theta), free(r->x), free(r->y);
}

/* Worst relative error of got (k) against want, noted in *worst. */
static void cmp_rel(const char *what, const char *name, const double *got, const double *want,
                    size_t k, double tol, double *worst)
{
    for (size_t i = 0; i < k; i++) {
        double e = fabs(got[i] - want[i]) / fabs(want[i]);
        *worst = fmax(*worst, e);
        ck_assert_msg(e <= tol, "%s %s[%zu]: %.17g vs torch %.17g (rel %.2e)", name, what, i,
                      got[i], want[i], e);
    }
}

START_TEST(eigenvalues_match_pytorch)
{
    json_t *f = fixture_load(FIXTURES, SCRIPT), *cases = member(f, "cases");
    double w_exact = 0, w_lanczos = 0, w_other = 0, w_subset = 0;
    size_t steps_max = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = str(c, "name");
        ref_case r;
        ref_load(c, &r);
        size_t P = r.o.p_hi;
        double *top = vec(c, "top5", 5), *bot = vec(c, "bottom5", 5);
        for (int m = 0; m < 2; m++) {
            hessian_cfg cfg = {.method = m ? HESSIAN_LANCZOS : HESSIAN_EXACT, .top_k = 5,
                               .bottom_k = 5, .tol = 1e-10, .max_steps = P, .grad_tol = 1e-4,
                               .eig_tol = 1e-4, .seed = 1};
            hessian_result hr;
            tg_err err;
            ck_assert_int_eq(hessian_run(&r.o, &cfg, NULL, &hr, &err), TG_OK);
            cmp_rel(m ? "lanczos top" : "exact top", name, hr.top, top, 5, 1e-8,
                    m ? &w_lanczos : &w_exact);
            cmp_rel(m ? "lanczos bottom" : "exact bottom", name, hr.bottom, bot, 5, 1e-8,
                    m ? &w_lanczos : &w_exact);
            ck_assert(hr.sharpness == hr.top[0] && hr.min_eigenvalue == hr.bottom[0]);
            double want[3] = {num(c, "objective"), num(c, "gradient_norm"), num(c, "trace")};
            double got[3] = {hr.objective, hr.gradient_norm, hr.trace};
            cmp_rel("J / |grad J| / trace", name, got, want, m ? 2 : 3, 1e-10, &w_other);
            ck_assert(!hr.second_order_stationary); /* negative curvature in every case */
            if (m) {
                ck_assert(hr.converged);
                steps_max = hr.lanczos_steps > steps_max ? hr.lanczos_steps : steps_max;
            }
            hessian_result_deinit(&hr);
        }
        json_t *sub = json_object_get(c, "subset");
        if (sub) {
            /* params_subset last_layer with damping: explicit block and Lanczos */
            curv_subset_last_layer(&r.a, &r.o.p_lo, &r.o.p_hi);
            ck_assert_uint_eq(r.o.p_lo, count(sub, "p_lo"));
            r.o.damping = num(sub, "damping");
            size_t dim = curv_dim(&r.o);
            double *st = vec(sub, "top5", 5), *sb = vec(sub, "bottom5", 5);
            double *H = malloc(dim * dim * sizeof(double)), *w = malloc(dim * sizeof(double));
            ck_assert_int_eq(curv_hessian(&r.o, H), TG_OK);
            double tr = 0, rt[5], rb[5];
            for (size_t i = 0; i < dim; i++)
                tr += H[i * dim + i];
            ck_assert_int_eq(curv_eigvalsh(dim, H, w), TG_OK);
            for (size_t i = 0; i < 5; i++) {
                rt[i] = w[dim - 1 - i];
                rb[i] = w[i];
            }
            cmp_rel("subset top", name, rt, st, 5, 1e-8, &w_subset);
            cmp_rel("subset bottom", name, rb, sb, 5, 1e-8, &w_subset);
            double tw = num(sub, "trace");
            cmp_rel("subset trace", name, &tr, &tw, 1, 1e-10, &w_subset);
            free(H), free(w), free(st), free(sb);
        }
        free(top), free(bot);
        ref_free(&r);
    }
    fprintf(stderr, "hessian vs PyTorch: top/bottom 5 eigenvalues, worst relative error: exact "
            "%.2e, Lanczos %.2e (at most %zu steps), last-layer block %.2e; J, |grad J|, "
            "trace %.2e\n", w_exact, w_lanczos, steps_max, w_subset, w_other);
    json_decref(f);
}
END_TEST

/* Lanczos at P = 100,000: memory is the basis (steps x P) and a few P-vectors. */
START_TEST(lanczos_at_p_100000)
{
    hcase c;
    /* 30-300-300-30 tanh: P = 30*300 + 300 + 300*300 + 300 + 300*30 + 30 = 108,630 */
    hcase_make(&c, LOSS_CROSS_ENTROPY, 30, 300, 300, 30, 64, ACT_TANH, 77);
    size_t P = curv_dim(&c.o);
    ck_assert_uint_gt(P, 100000);
    c.o.threads = 1;
    hessian_cfg cfg = {.method = HESSIAN_LANCZOS, .top_k = 1, .bottom_k = 1, .tol = 1e-6,
                       .max_steps = 300, .seed = 3};
    hessian_result hr;
    double t0 = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    ck_assert_int_eq(hessian_run(&c.o, &cfg, NULL, &hr, NULL), TG_OK);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double dt = (double)ts.tv_sec + ts.tv_nsec / 1e9 - t0;
    ck_assert(hr.converged);
    ck_assert(hr.sharpness > 0 && hr.min_eigenvalue < hr.sharpness);
    /* The estimate of the job is linear in P: the basis (max_steps + 32 rows) plus O(1)
     * P-vectors and the per-row workspace. */
    double m1 = hessian_memory(&c.a, c.n, P, &cfg, 1);
    ck_assert(m1 < 8.0 * (double)P * (cfg.max_steps + 32 + 16) + 64e6);
    fprintf(stderr, "hessian: Lanczos at P = %zu: %zu steps to residual %.1e in %.2f s; the "
            "basis took %.1f MB (%.0f bytes per parameter)\n", P, hr.lanczos_steps, hr.residual,
            dt, 8.0 * (double)hr.lanczos_steps * (double)P / 1e6, 8.0 * (double)hr.lanczos_steps);
    hessian_result_deinit(&hr);
    curv_case_free(&c);
}
END_TEST

Suite *hessian_suite(void)
{
    Suite *s = suite_create("hessian");
    SUITE_TCASE(s, "curv", 120, hvp_matches_finite_differences, cached_hvp_matches_mlp_hvp,
                cached_hessian_matches_recomputed,
                grad_matches_finite_differences, explicit_hessian_columns_are_hvps,
                lanczos_matches_exact_eigenvalues, hutchinson_and_slq);
    return SUITE_TCASE(s, "torch", 120, eigenvalues_match_pytorch, lanczos_at_p_100000);
}
