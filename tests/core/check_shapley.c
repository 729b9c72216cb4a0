/* check_shapley.c: core/shapley.c and core/shapley_util.c against independent oracles:
 * the NumPy/scikit-learn reference tests/reference/shapley_ref.py (fixture
 * reference/shapley_fixtures.json), exact enumeration, and brute force over all
 * permutations.
 *
 * - knn_exact (Jia et al.'s recursion) == exact enumeration of the knn utility on
 *   N = 12 (ties, k = 3 and k = 15 > N) to 1e-12, and == the NumPy recursion on N = 2000
 *   with 200 test points (data from an LCG reimplemented here) to 1e-12; 1 and 2 threads
 *   bit-identical; and bit for bit the plain algorithm (shap_sqdist, qsort by (distance,
 *   index), the recursion) per test point on data where the fast order's rounding bound
 *   matters: duplicated rows, coinciding points, features + 1e6, clusters at +-1e6,
 *   small integers (+ 1e3), near ties 2^-50 apart in d = 1, n < k, n = 1, scales 1e-160
 *   and 1e150 (the fast path, its exact runs and its fallback all exercised);
 * - the logistic utility (binary, softmax by Newton with Cholesky and by Newton-CG) ==
 *   scikit-learn on all 1024 subsets of
 *   N = 10 (accuracy exactly, neg_mse to 1e-7: both fits stop at gradient norm 1e-8 or below), the exact Shapley values, efficiency
 *   residual < 1e-12; incremental (warm-started) scans == fresh fits to 1e-7;
 * - permutation, tmc and banzhaf (vs exact Banzhaf) within 3 reported standard errors
 *   for >= 95% of players, standard errors ~ 1/sqrt(permutations); difference too;
 * - 1 vs 2 threads identical for permutation, tmc, banzhaf, difference, exact;
 * - kernel ridge (rbf) U(S) == numpy.linalg.solve on all 256 subsets of N = 8, scans
 *   along permutations (incremental Cholesky) == fresh evaluations;
 * - the mlp utility: U(S) == the train core run directly on S, bit for bit, on all 128
 *   subsets of N = 7 (full batch / accuracy; mini-batches / neg_mse), scans == fresh
 *   evaluations, exact efficiency < 1e-12, permutation sampling 1 vs 2 threads identical;
 * - feature attribution: exact == brute force over all 4! orderings for a small network
 *   on iris-sized inputs (d = 4) with a preprocessing transform, and sampling agrees.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/shapley.h"
#include "core/train.h"
#include "fixture.h"

#define FIX "reference/shapley_fixtures.json"
#define SCRIPT "tests/reference/shapley_ref.py"

static json_t *load(void)
{
    return fixture_load(FIX, SCRIPT);
}

/* The LCG data of shapley_ref.py (lcg_data). */
typedef struct lcg_set {
    size_t n, m, d;
    double *x, *y, *xt, *yt;
} lcg_set;

static void lcg_make(uint64_t seed, size_t n, size_t m, size_t d, unsigned vmax, unsigned K,
                     lcg_set *o)
{
    uint64_t s = seed;
#define NXT(r) (s = s * 6364136223846793005ULL + 1442695040888963407ULL, (double)((s >> 33) % (r)))
    o->n = n;
    o->m = m;
    o->d = d;
    o->x = malloc(n * d * sizeof(double));
    o->y = malloc(n * sizeof(double));
    o->xt = malloc(m * d * sizeof(double));
    o->yt = malloc(m * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            o->x[i * d + j] = NXT(vmax + 1);
        o->y[i] = NXT(K);
    }
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < d; j++)
            o->xt[i * d + j] = NXT(vmax + 1);
        o->yt[i] = NXT(K);
    }
#undef NXT
}

static void lcg_free(lcg_set *o)
{
    free(o->x);
    free(o->y);
    free(o->xt);
    free(o->yt);
}

static shap_data data_of(const lcg_set *o, size_t K)
{
    shap_data D = {o->n, o->d, o->m, 1, 1, K, o->x, o->y, o->xt, o->yt};
    return D;
}

/* U of every subset through a utility (fresh evaluations). */
static double *table_of(const shap_utility *u, size_t N)
{
    size_t full = (size_t)1 << N;
    double *U = malloc(full * sizeof(double));
    size_t idx[32];
    shap_state *st = shap_state_new(u);
    ck_assert_ptr_nonnull(st);
    tg_err err;
    for (size_t mask = 0; mask < full; mask++) {
        size_t n = 0;
        for (size_t i = 0; i < N; i++)
            if (mask >> i & 1)
                idx[n++] = i;
        ck_assert_int_eq(shap_state_eval(st, idx, n, &U[mask], &err), TG_OK);
    }
    shap_state_free(st);
    return U;
}

static double maxdiff(const double *a, const double *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(a[i] - b[i]));
    return e;
}

static shap_run_cfg run_cfg(shap_method m, long long perms, int threads)
{
    shap_run_cfg c;
    memset(&c, 0, sizeof c);
    c.method = m;
    c.antithetic = 1;
    c.truncation = 0.01;
    c.max_permutations = perms;
    c.tolerance = 0; /* never converge: run all permutations */
    c.min_permutations = 30;
    c.seed = 7;
    c.threads = threads;
    return c;
}

START_TEST(test_knn_exact_small)
{
    json_t *f = load(), *g = member(f, "knn_small");
    lcg_set o;
    lcg_make(12, 12, 15, 2, 3, 3, &o);
    shap_data D = data_of(&o, 3);
    size_t ks[2] = {count(g, "k"), count(g, "k_big")};
    const char *keys[2] = {"values", "values_k_big"};
    for (int q = 0; q < 2; q++) {
        double *ref = vec(g, keys[q], 12), v[12], v2[12], ex[12], uf;
        tg_err err;
        ck_assert_int_eq(shap_knn_exact(&D, ks[q], 0, 1, NULL, NULL, v, &uf, &err), TG_OK);
        ck_assert_int_eq(shap_knn_exact(&D, ks[q], 0, 2, NULL, NULL, v2, &uf, &err), TG_OK);
        ck_assert(memcmp(v, v2, sizeof v) == 0);
        /* exact enumeration of the knn utility (its own code path) */
        shap_util_cfg uc;
        memset(&uc, 0, sizeof uc);
        uc.kind = SHAP_U_KNN;
        uc.k = ks[q];
        shap_utility *u;
        ck_assert_int_eq(shap_utility_new(&uc, &D, &u, &err), TG_OK);
        double *U = table_of(u, 12);
        shap_exact_from_table(U, 12, 0, ex);
        double e1 = maxdiff(v, ex, 12), e2 = maxdiff(v, ref, 12);
        fprintf(stderr, "shapley: knn_exact N=12 k=%zu: |rec - enumeration| %.2e, |rec - numpy| "
                        "%.2e, u_full %.6f\n", ks[q], e1, e2, uf);
        ck_assert_msg(e1 < 1e-12 && e2 < 1e-12, "k %zu: %g %g", ks[q], e1, e2);
        ck_assert(fabs(uf - U[4095]) < 1e-15);
        /* empty_score shifts every value by -e/N */
        ck_assert_int_eq(shap_knn_exact(&D, ks[q], 0.3, 1, NULL, NULL, v2, &uf, &err), TG_OK);
        for (int i = 0; i < 12; i++)
            ck_assert(fabs(v2[i] - (v[i] - 0.3 / 12)) < 1e-15);
        /* exact through shap_run: efficiency */
        shap_run_cfg rc = run_cfg(SHAP_EXACT, 0, 2);
        double se[12];
        shap_result res;
        ck_assert_int_eq(shap_run(u, &rc, v2, se, &res, &err), TG_OK);
        ck_assert(maxdiff(v2, ex, 12) < 1e-15);
        ck_assert(fabs(res.efficiency_residual) < 1e-12);
        ck_assert_int_eq(res.evaluations, 4095);
        free(U);
        free(ref);
        shap_utility_free(u);
    }
    lcg_free(&o);
    json_decref(f);
}
END_TEST

START_TEST(test_knn_exact_large)
{
    json_t *f = load(), *g = member(f, "knn_large");
    lcg_set o;
    lcg_make(2000, 2000, 200, 4, 9, 4, &o);
    shap_data D = data_of(&o, 4);
    double *ref = vec(g, "values", 2000);
    double *v = malloc(2000 * sizeof(double)), *v2 = malloc(2000 * sizeof(double)), uf;
    tg_err err;
    ck_assert_int_eq(shap_knn_exact(&D, 5, 0, 1, NULL, NULL, v, &uf, &err), TG_OK);
    ck_assert_int_eq(shap_knn_exact(&D, 5, 0, 2, NULL, NULL, v2, &uf, &err), TG_OK);
    ck_assert(memcmp(v, v2, 2000 * sizeof(double)) == 0);
    double e = maxdiff(v, ref, 2000), sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += v[i];
    fprintf(stderr, "shapley: knn_exact N=2000, 200 test points: |C - numpy| %.2e, "
                    "efficiency residual %.2e\n", e, sum - uf);
    ck_assert_msg(e < 1e-12, "%g", e);
    ck_assert(fabs(sum - uf) < 1e-12);
    free(v);
    free(v2);
    free(ref);
    lcg_free(&o);
    json_decref(f);
}
END_TEST

/* ---- knn_exact's order (fast distances with an exact recheck) against the definition ---
 * The reference: the distances of shap_sqdist (the definition's), qsort by (distance,
 * index), the plain recursion. With one test point, shap_knn_exact's values are those
 * numbers exactly, so any misplaced pair of points whose labels differ shows. */

static const double *ord_key;

static int ord_cmp(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (ord_key[a] != ord_key[b])
        return ord_key[a] < ord_key[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void knn_ref_one(const double *x, const double *y, size_t n, size_t d, const double *z,
                        double yt, size_t k, double *v)
{
    double *D = malloc(n * sizeof(double));
    size_t *idx = malloc(n * sizeof(size_t));
    shap_sqdist(z, 1, x, n, d, D);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    ord_key = D;
    qsort(idx, n, sizeof *idx, ord_cmp);
    double m_cur = y[idx[n - 1]] == yt, sv = m_cur / (double)(n > k ? n : k);
    v[idx[n - 1]] = sv;
    for (size_t i = n - 1; i >= 1; i--) {
        double m_prev = y[idx[i - 1]] == yt;
        double coef = 1.0 / (double)k * (double)(i < k ? i : k) / (double)i;
        sv += (m_prev - m_cur) * coef;
        v[idx[i - 1]] = sv;
        m_cur = m_prev;
    }
    free(D);
    free(idx);
}

/* Every test point alone (bit for bit against knn_ref_one), then all at once with 1 and 2
 * threads (identical; the mean of the references to 1e-15). */
static void knn_check_order(const char *name, const double *x, const double *y, size_t n,
                            size_t d, const double *xt, const double *yt, size_t m, size_t k)
{
    double *v = malloc(n * sizeof(double)), *r = malloc(n * sizeof(double));
    double *mean = calloc(n, sizeof(double)), *v2 = malloc(n * sizeof(double)), uf;
    tg_err err;
    size_t bad = 0;
    for (size_t t = 0; t < m; t++) {
        shap_data D1 = {n, d, 1, 1, 1, 10, x, y, xt + t * d, yt + t};
        ck_assert_int_eq(shap_knn_exact(&D1, k, 0, 1, NULL, NULL, v, &uf, &err), TG_OK);
        knn_ref_one(x, y, n, d, xt + t * d, yt[t], k, r);
        if (memcmp(v, r, n * sizeof(double)) != 0)
            bad++;
        for (size_t i = 0; i < n; i++)
            mean[i] += r[i];
    }
    shap_data D = {n, d, m, 1, 1, 10, x, y, xt, yt};
    ck_assert_int_eq(shap_knn_exact(&D, k, 0, 1, NULL, NULL, v, &uf, &err), TG_OK);
    ck_assert_int_eq(shap_knn_exact(&D, k, 0, 2, NULL, NULL, v2, &uf, &err), TG_OK);
    for (size_t i = 0; i < n; i++)
        mean[i] /= (double)m;
    double e = maxdiff(v, mean, n);
    fprintf(stderr, "shapley: knn_exact order, %s (n %zu, d %zu, k %zu): %zu of %zu test points "
                    "differ from the definition; all: |values - reference| %.2e\n",
            name, n, d, k, bad, m, e);
    ck_assert_msg(bad == 0, "%s: %zu test points", name, bad);
    ck_assert(memcmp(v, v2, n * sizeof(double)) == 0);
    ck_assert_msg(e < 1e-15, "%s: %g", name, e);
    free(v);
    free(r);
    free(mean);
    free(v2);
}

START_TEST(test_knn_exact_order)
{
    uint64_t s = 12345;
#define U01() (s = s * 6364136223846793005ULL + 1442695040888963407ULL, \
               (double)(s >> 11) * 0x1p-53)
    size_t n = 600, m = 24, d = 8;
    double *x = malloc(n * d * sizeof(double)), *y = malloc(n * sizeof(double));
    double *xt = malloc(m * d * sizeof(double)), *yt = malloc(m * sizeof(double));
    double *xo = malloc(n * d * sizeof(double)), *xto = malloc(m * d * sizeof(double));
    /* (1) real-valued data (3 decimals) with duplicated training rows (exact ties at
     * different indices) and test points coinciding with training points (distance 0) */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = round(2000 * U01() - 1000) / 1000;
        y[i] = (double)(i % 2);
    }
    for (size_t i = 0; i < 10; i++) /* rows 3i + 1 and 3i + 2 repeat row 3i */
        for (size_t j = 0; j < d; j++)
            x[(3 * i + 1) * d + j] = x[(3 * i + 2) * d + j] = x[3 * i * d + j];
    for (size_t t = 0; t < m; t++) {
        for (size_t j = 0; j < d; j++)
            xt[t * d + j] = t % 3 == 0 ? x[(t / 3 * 4) * d + j]
                                       : round(2000 * U01() - 1000) / 1000;
        yt[t] = (double)(t % 2);
    }
    knn_check_order("duplicates and coinciding points", x, y, n, d, xt, yt, m, 5);
    /* (2) the same with a large common offset (every feature + 1e6): dot products of the
     * raw data would lose every digit of the distances; centering keeps them */
    for (size_t i = 0; i < n * d; i++)
        xo[i] = x[i] + 1e6;
    for (size_t i = 0; i < m * d; i++)
        xto[i] = xt[i] + 1e6;
    knn_check_order("offset 1e6", xo, y, n, d, xto, yt, m, 5);
    /* (3) two clusters at +-1e6 (centering cannot help): the bound covers every pair of
     * the near cluster, which takes the exact distances */
    for (size_t i = 0; i < n * d; i++)
        xo[i] = x[i] + (i / d % 2 ? 1e6 : -1e6);
    for (size_t i = 0; i < m * d; i++)
        xto[i] = xt[i] + (i / d % 3 ? 1e6 : -1e6);
    knn_check_order("clusters at +-1e6", xo, y, n, d, xto, yt, m, 5);
    /* (4) small integers: many exact ties; and with an offset of 1e3 (ties and near ties
     * under a coarser bound) */
    for (size_t i = 0; i < n * d; i++)
        xo[i] = floor(4 * U01());
    for (size_t i = 0; i < m * d; i++)
        xto[i] = floor(4 * U01());
    knn_check_order("integers 0..3", xo, y, n, d, xto, yt, m, 3);
    for (size_t i = 0; i < n * d; i++)
        xo[i] += 1e3;
    for (size_t i = 0; i < m * d; i++)
        xto[i] += 1e3;
    knn_check_order("integers 0..3 + 1e3", xo, y, n, d, xto, yt, m, 3);
    /* (5) d = 1 with near ties far below the bound: 40 points at 1 + j 2^-50 from z = 0
     * on either side, alternating labels, among points spread over [-3, 3] */
    for (size_t i = 0; i < n; i++)
        xo[i] = i % 15 == 0 ? (i % 2 ? -1 : 1) * (1 + (double)(i % 7) * 0x1p-50)
                            : 6 * U01() - 3;
    for (size_t t = 0; t < m; t++)
        xto[t] = t % 2 ? 0 : 1e-3 * (double)t;
    knn_check_order("d = 1, near ties", xo, y, n, 1, xto, yt, m, 5);
    /* (6) n < k (three equal rows), n = 1, n = 2 with equal points */
    knn_check_order("n = 3 < k = 5", x, y, 3, d, xt, yt, m, 5);
    knn_check_order("n = 1", x, y, 1, d, xt, yt, m, 2);
    double x2[2] = {0.5, 0.5}, y2[2] = {1, 0}, z2[4] = {0.5, 0, 1, 0.25}, yt2[4] = {0, 1, 0, 1};
    knn_check_order("n = 2, one point twice", x2, y2, 2, 1, z2, yt2, 4, 1);
    /* (7) tiny and huge scales (squares that underflow; that overflow in the dot
     * products' bound) */
    for (size_t i = 0; i < n * d; i++)
        xo[i] = x[i] * 1e-160;
    for (size_t i = 0; i < m * d; i++)
        xto[i] = xt[i] * 1e-160;
    knn_check_order("scale 1e-160", xo, y, n, d, xto, yt, m, 5);
    for (size_t i = 0; i < n * d; i++)
        xo[i] = x[i] * 1e150;
    for (size_t i = 0; i < m * d; i++)
        xto[i] = xt[i] * 1e150;
    knn_check_order("scale 1e150", xo, y, n, d, xto, yt, m, 5);
    /* (8) distances that overflow while the norms do not (|a - b|^2 > DBL_MAX): the fast
     * order is skipped (an infinite approximate distance made NaN keys and an
     * out-of-bounds histogram write before); a review's reproducer, then random ones */
    double xh[2] = {-8e153, 8e153}, yh[2] = {0, 1}, zh[1] = {8e153}, yth[1] = {1};
    knn_check_order("distances overflow (2 points)", xh, yh, 2, 1, zh, yth, 1, 1);
    for (size_t i = 0; i < n * d + m * d; i++) {
        double sign = U01() < 0.5 ? -1 : 1, mag = 3e153 + 7e153 * U01();
        if (i < n * d)
            xo[i] = sign * mag;
        else
            xto[i - n * d] = sign * mag;
    }
    knn_check_order("features +-3e153..1e154", xo, y, n, d, xto, yt, m, 5);
#undef U01
    free(x);
    free(y);
    free(xt);
    free(yt);
    free(xo);
    free(xto);
}
END_TEST

typedef struct logi_case {
    size_t K;
    double l2;
    double *x, *y, *xt, *yt;
    shap_data D;
} logi_case;

static void logi_load(json_t *g, logi_case *c)
{
    c->K = count(g, "K");
    c->l2 = num(g, "l2");
    c->x = vec(g, "x", 30);
    c->y = vec(g, "y", 10);
    c->xt = vec(g, "xt", 180);
    c->yt = vec(g, "yt", 60);
    shap_data D = {10, 3, 60, 1, 1, c->K, c->x, c->y, c->xt, c->yt};
    c->D = D;
}

static void logi_free(logi_case *c)
{
    free(c->x);
    free(c->y);
    free(c->xt);
    free(c->yt);
}

static size_t cg_min; /* 0: default; 1 forces Newton-CG for every softmax fit */

static shap_utility *logi_util(logi_case *c, shap_metric metric, double empty)
{
    shap_util_cfg uc;
    memset(&uc, 0, sizeof uc);
    uc.kind = SHAP_U_LOGISTIC;
    uc.metric = metric;
    uc.l2 = c->l2;
    uc.empty_score = empty;
    uc.cg_min_params = cg_min;
    shap_utility *u;
    tg_err err;
    ck_assert_int_eq(shap_utility_new(&uc, &c->D, &u, &err), TG_OK);
    return u;
}

START_TEST(test_logistic_tables)
{
    json_t *f = load(), *gs = member(f, "logistic");
    /* the K = 3 case twice: Newton with Cholesky, then Newton-CG (cg_min 1) */
    for (size_t gi = 0; gi < json_array_size(gs) + 1; gi++) {
        json_t *g = json_array_get(gs, gi < json_array_size(gs) ? gi : 1);
        cg_min = gi == json_array_size(gs) ? 1 : 0;
        logi_case c;
        logi_load(g, &c);
        double *Ua = vec(g, "U_accuracy", 1024), *Um = vec(g, "U_neg_mse", 1024);
        double *sa = vec(g, "shapley_accuracy", 10), *sm = vec(g, "shapley_neg_mse", 10);
        shap_utility *ua = logi_util(&c, SHAP_ACCURACY, Ua[0]);
        shap_utility *um = logi_util(&c, SHAP_NEG_MSE, Um[0]);
        double *Ta = table_of(ua, 10), *Tm = table_of(um, 10);
        double ea = maxdiff(Ta, Ua, 1024), em = maxdiff(Tm, Um, 1024);
        double va[10], vm[10], se[10];
        shap_exact_from_table(Ta, 10, 0, va);
        shap_exact_from_table(Tm, 10, 0, vm);
        fprintf(stderr, "shapley: logistic K=%zu%s, all 1024 subsets vs scikit-learn: accuracy "
                        "%.1e, neg_mse %.2e; values %.2e, %.2e\n", c.K,
                cg_min ? " (Newton-CG)" : "", ea, em,
                maxdiff(va, sa, 10), maxdiff(vm, sm, 10));
        ck_assert_msg(ea == 0, "accuracy table differs by %g", ea);
        ck_assert_msg(em < 1e-7, "neg_mse table differs by %g", em);
        ck_assert(maxdiff(va, sa, 10) < 1e-12 && maxdiff(vm, sm, 10) < 1e-7);
        /* exact through shap_run, 1 and 2 threads; efficiency */
        shap_run_cfg rc = run_cfg(SHAP_EXACT, 0, 1);
        shap_result r1, r2;
        tg_err err;
        double v1[10], v2[10];
        ck_assert_int_eq(shap_run(um, &rc, v1, se, &r1, &err), TG_OK);
        rc.threads = 2;
        ck_assert_int_eq(shap_run(um, &rc, v2, se, &r2, &err), TG_OK);
        ck_assert(memcmp(v1, v2, sizeof v1) == 0);
        fprintf(stderr, "shapley: exact efficiency residual %.2e\n", r1.efficiency_residual);
        ck_assert(fabs(r1.efficiency_residual) < 1e-12);
        ck_assert_int_eq(r1.unconverged_fits, 0);
        /* scans along permutations (warm starts) agree with fresh fits */
        shap_state *st = shap_state_new(um);
        tg_rng rng;
        rng_seed(&rng, 3);
        size_t perm[10];
        double worst = 0;
        for (int p = 0; p < 20; p++) {
            rng_permutation(&rng, perm, 10);
            shap_state_reset(st);
            unsigned mask = 0;
            for (int j = 0; j < 10; j++) {
                double uu;
                ck_assert_int_eq(shap_state_add(st, perm[j], &uu, &err), TG_OK);
                mask |= 1u << perm[j];
                worst = fmax(worst, fabs(uu - Tm[mask]));
            }
        }
        ck_assert_msg(worst < 1e-7, "warm-started scan differs from fresh fits by %g", worst);
        shap_state_free(st);
        free(Ta);
        free(Tm);
        free(Ua);
        free(Um);
        free(sa);
        free(sm);
        shap_utility_free(ua);
        shap_utility_free(um);
        logi_free(&c);
    }
    cg_min = 0;
    json_decref(f);
}
END_TEST

/* fraction of players whose estimate lies within 3 reported standard errors */
static double within3(const double *v, const double *se, const double *ex, size_t N)
{
    size_t ok = 0;
    for (size_t i = 0; i < N; i++)
        ok += fabs(v[i] - ex[i]) <= 3 * se[i] + 1e-12;
    return (double)ok / (double)N;
}

static double mean_of(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

START_TEST(test_sampling_estimators)
{
    json_t *f = load(), *gs = member(f, "logistic");
    json_t *g = json_array_get(gs, 0);
    logi_case c;
    logi_load(g, &c);
    double *Ua = vec(g, "U_accuracy", 1024);
    double *sa = vec(g, "shapley_accuracy", 10), *ba = vec(g, "banzhaf_accuracy", 10);
    shap_utility *u = logi_util(&c, SHAP_ACCURACY, Ua[0]);
    const shap_method ms[4] = {SHAP_PERMUTATION, SHAP_TMC, SHAP_BANZHAF, SHAP_DIFFERENCE};
    /* several seeds: the fraction within 3 standard errors over 40 player-estimates */
    for (int q = 0; q < 4; q++) {
        const double *ex = ms[q] == SHAP_BANZHAF ? ba : sa;
        size_t ok = 0, tot = 0;
        double se_small = 0, se_big = 0;
        for (int seed = 1; seed <= 4; seed++) {
            shap_run_cfg rc = run_cfg(ms[q], 400, 2);
            rc.seed = (uint64_t)seed;
            rc.truncation = 0.001;
            double v[10], se[10], v1[10], se1[10];
            shap_result r, r1;
            tg_err err;
            ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
            ok += (size_t)llround(within3(v, se, ex, 10) * 10);
            tot += 10;
            se_big += mean_of(se, 10);
            ck_assert(r.stopped_by == SHAP_STOP_MAX_PERMUTATIONS);
            ck_assert_int_eq(r.permutations, 400);
            if (ms[q] != SHAP_BANZHAF)
                ck_assert(isfinite(r.efficiency_residual));
            else
                ck_assert(isnan(r.efficiency_residual));
            if (ms[q] == SHAP_DIFFERENCE)
                ck_assert(fabs(r.efficiency_residual) < 1e-12);
            /* 1 thread: identical */
            rc.threads = 1;
            ck_assert_int_eq(shap_run(u, &rc, v1, se1, &r1, &err), TG_OK);
            ck_assert_msg(memcmp(v, v1, sizeof v) == 0 && memcmp(se, se1, sizeof se) == 0,
                          "%s: 1 and 2 threads differ", shap_method_name(ms[q]));
            ck_assert_int_eq(r.evaluations, r1.evaluations);
            rc.max_permutations = 100;
            rc.threads = 2;
            ck_assert_int_eq(shap_run(u, &rc, v1, se1, &r1, &err), TG_OK);
            se_small += mean_of(se1, 10);
        }
        double ratio = se_small / se_big;
        fprintf(stderr, "shapley: %s N=10 logistic, 400 permutations: %zu/%zu within 3 stderr; "
                        "stderr(100)/stderr(400) = %.3f (1/sqrt: 2)\n", shap_method_name(ms[q]),
                ok, tot, ratio);
        ck_assert_msg((double)ok >= 0.95 * (double)tot, "%s: %zu/%zu", shap_method_name(ms[q]),
                      ok, tot);
        ck_assert_msg(ratio > 1.6 && ratio < 2.5, "%s: ratio %g", shap_method_name(ms[q]), ratio);
    }
    /* stopping: tolerance after min_permutations; max_evaluations */
    shap_run_cfg rc = run_cfg(SHAP_PERMUTATION, 100000, 2);
    rc.tolerance = 0.05;
    double v[10], se[10];
    shap_result r;
    tg_err err;
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
    ck_assert(r.converged && r.stopped_by == SHAP_STOP_TOLERANCE);
    ck_assert(r.max_stderr < 0.05 && r.permutations >= 30);
    rc.tolerance = 0;
    rc.max_evaluations = 500;
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
    ck_assert(!r.converged && r.stopped_by == SHAP_STOP_MAX_EVALUATIONS);
    ck_assert(r.evaluations >= 500 && r.evaluations <= 521);
    free(Ua);
    free(sa);
    free(ba);
    shap_utility_free(u);
    logi_free(&c);
    json_decref(f);
}
END_TEST

static int cancel_after(void *ud, double fraction, const shap_progress *p)
{
    int *calls = ud;
    (void)fraction;
    (void)p;
    return ++*calls >= 2;
}

START_TEST(test_cancel)
{
    lcg_set o;
    lcg_make(5, 300, 50, 4, 9, 3, &o);
    shap_data D = data_of(&o, 3);
    shap_util_cfg uc;
    memset(&uc, 0, sizeof uc);
    uc.kind = SHAP_U_KNN;
    uc.k = 5;
    shap_utility *u;
    tg_err err;
    ck_assert_int_eq(shap_utility_new(&uc, &D, &u, &err), TG_OK);
    shap_run_cfg rc = run_cfg(SHAP_PERMUTATION, 100000000, 2);
    int calls = 0;
    rc.report = cancel_after;
    rc.report_ud = &calls;
    double *v = malloc(300 * sizeof(double)), *se = malloc(300 * sizeof(double));
    shap_result r;
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_ECANCELLED);
    /* max_time_s */
    rc.report = NULL;
    rc.max_time_s = 0.3;
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
    ck_assert(r.stopped_by == SHAP_STOP_MAX_TIME && r.permutations > 0);
    free(v);
    free(se);
    shap_utility_free(u);
    lcg_free(&o);
}
END_TEST

START_TEST(test_kernel_ridge)
{
    json_t *f = load(), *g = member(f, "kernel_ridge");
    double gamma = num(g, "gamma"), ridge = num(g, "ridge");
    double *x = vec(g, "x", 16), *y = vec(g, "y", 8), *xt = vec(g, "xt", 40),
           *yt = vec(g, "yt", 20), *Uref = vec(g, "U", 256), *sref = vec(g, "shapley", 8);
    double K[64], Kt[160], D1[64], D2[160];
    shap_sqdist(x, 8, x, 8, 2, D1);
    shap_sqdist(xt, 20, x, 8, 2, D2);
    for (int i = 0; i < 64; i++)
        K[i] = exp(-gamma * D1[i]);
    for (int i = 0; i < 160; i++)
        Kt[i] = exp(-gamma * D2[i]);
    shap_data D = {8, 2, 20, 1, 0, 0, x, y, xt, yt};
    shap_util_cfg uc;
    memset(&uc, 0, sizeof uc);
    uc.kind = SHAP_U_KRIDGE;
    uc.metric = SHAP_NEG_MSE;
    uc.ridge = ridge;
    uc.K = K;
    uc.Kt = Kt;
    uc.empty_score = Uref[0];
    shap_utility *u;
    tg_err err;
    ck_assert_int_eq(shap_utility_new(&uc, &D, &u, &err), TG_OK);
    double *U = table_of(u, 8), v[8];
    double e = maxdiff(U, Uref, 256);
    shap_exact_from_table(U, 8, 0, v);
    fprintf(stderr, "shapley: kernel ridge (rbf) all 256 subsets vs numpy solve: %.2e; values "
                    "%.2e\n", e, maxdiff(v, sref, 8));
    ck_assert_msg(e < 1e-10, "%g", e);
    ck_assert(maxdiff(v, sref, 8) < 1e-10);
    /* incremental scans == fresh solves */
    shap_state *st = shap_state_new(u);
    tg_rng rng;
    rng_seed(&rng, 4);
    size_t perm[8];
    double worst = 0;
    for (int p = 0; p < 30; p++) {
        rng_permutation(&rng, perm, 8);
        shap_state_reset(st);
        unsigned mask = 0;
        for (int j = 0; j < 8; j++) {
            double uu;
            ck_assert_int_eq(shap_state_add(st, perm[j], &uu, &err), TG_OK);
            mask |= 1u << perm[j];
            worst = fmax(worst, fabs(uu - Uref[mask]));
        }
    }
    ck_assert_msg(worst < 1e-10, "%g", worst);
    /* a duplicated point with ridge 0: numerical, not a wrong number */
    shap_state_free(st);
    shap_utility_free(u);
    memcpy(x + 2, x, 2 * sizeof(double));
    shap_sqdist(x, 8, x, 8, 2, D1);
    for (int i = 0; i < 64; i++)
        K[i] = exp(-gamma * D1[i]);
    uc.ridge = 0;
    ck_assert_int_eq(shap_utility_new(&uc, &D, &u, &err), TG_OK);
    st = shap_state_new(u);
    size_t two[2] = {0, 1};
    double uu;
    ck_assert_int_eq(shap_state_eval(st, two, 2, &uu, &err), TG_ENUMERICAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "ridge"));
    shap_state_free(st);
    shap_utility_free(u);
    free(U);
    free(x);
    free(y);
    free(xt);
    free(yt);
    free(Uref);
    free(sref);
    json_decref(f);
}
END_TEST

static void affine(void *ud, double *x, size_t n)
{
    const double *ms = ud; /* mean[4], std[4] */
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (x[i * 4 + j] - ms[j]) / ms[4 + j];
}

START_TEST(test_features)
{
    /* a 4-8-3 tanh network with random weights, iris-like raw inputs */
    mlp_arch a;
    memset(&a, 0, sizeof a);
    a.n_layers = 2;
    a.dims[0] = 4;
    a.dims[1] = 8;
    a.dims[2] = 3;
    a.act = ACT_TANH;
    a.bias = 1;
    size_t P = mlp_param_count(&a);
    double *theta = malloc(P * sizeof(double));
    tg_rng rng;
    rng_seed(&rng, 11);
    for (size_t i = 0; i < P; i++)
        theta[i] = rng_normal(&rng);
    double ms[8] = {5.8, 3.0, 3.7, 1.2, 0.8, 0.4, 1.8, 0.8};
    double point[4] = {6.3, 2.8, 5.1, 1.5}, base[4] = {5.8, 3.0, 3.7, 1.2};
    shap_util_cfg uc;
    memset(&uc, 0, sizeof uc);
    uc.kind = SHAP_U_FEATURES;
    uc.arch = &a;
    uc.theta = theta;
    uc.point = point;
    uc.baseline = base;
    uc.target = 2;
    uc.transform = affine;
    uc.transform_ud = ms;
    shap_utility *u;
    tg_err err;
    ck_assert_int_eq(shap_utility_new(&uc, NULL, &u, &err), TG_OK);
    ck_assert_uint_eq(shap_utility_players(u), 4);
    /* brute force: all 24 orderings, each prefix's output by a direct forward pass */
    mlp_ws *ws = mlp_ws_new(&a, 1);
    double brute[4] = {0}, out[3], row[4];
    size_t perm[4] = {0, 1, 2, 3};
    int nperm = 0;
    for (;;) {
        memcpy(row, base, sizeof row);
        double tmp[4];
        memcpy(tmp, row, sizeof tmp);
        affine(ms, tmp, 1);
        mlp_forward(&a, theta, tmp, 1, ws, out);
        double prev = out[2];
        for (int j = 0; j < 4; j++) {
            row[perm[j]] = point[perm[j]];
            memcpy(tmp, row, sizeof tmp);
            affine(ms, tmp, 1);
            mlp_forward(&a, theta, tmp, 1, ws, out);
            brute[perm[j]] += out[2] - prev;
            prev = out[2];
        }
        nperm++;
        /* next lexicographic permutation */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 3;
        while (perm[j] < perm[i])
            j--;
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (int l = i + 1, r = 3; l < r; l++, r--) {
            t = perm[l];
            perm[l] = perm[r];
            perm[r] = t;
        }
    }
    ck_assert_int_eq(nperm, 24);
    for (int i = 0; i < 4; i++)
        brute[i] /= 24;
    shap_run_cfg rc = run_cfg(SHAP_EXACT, 0, 2);
    double v[4], se[4];
    shap_result r;
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
    double e = maxdiff(v, brute, 4);
    fprintf(stderr, "shapley: feature attribution exact vs brute force over 24 orderings: %.2e "
                    "(values %.4f %.4f %.4f %.4f)\n", e, v[0], v[1], v[2], v[3]);
    ck_assert_msg(e < 1e-12, "%g", e);
    ck_assert(fabs(r.efficiency_residual) < 1e-12);
    /* antithetic permutation sampling on 4 features: within 3 stderr */
    rc = run_cfg(SHAP_PERMUTATION, 2000, 2);
    ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
    ck_assert(within3(v, se, brute, 4) >= 0.75);
    ck_assert(fabs(r.efficiency_residual) < 1e-12); /* every permutation sums exactly */
    mlp_ws_free(ws);
    shap_utility_free(u);
    free(theta);
}
END_TEST

/* The mlp utility: a network trained by core/train.c on the set's rows (ascending index
 * order, the same initial weights and seed for every set). */
static train_cfg mlp_cfg(size_t d, size_t batch)
{
    train_cfg c;
    memset(&c, 0, sizeof c);
    c.arch.n_layers = 2;
    c.arch.dims[0] = d;
    c.arch.dims[1] = 4;
    c.arch.dims[2] = 2;
    c.arch.act = ACT_TANH;
    c.arch.bias = 1;
    c.arch.w_std = 1;
    c.loss = LOSS_CROSS_ENTROPY;
    c.opt.kind = OPT_SGD;
    c.opt.lr = 0.5;
    c.sched.kind = SCHED_CONSTANT;
    c.batch_size = batch;
    c.epochs = 10;
    c.n_classes = 2;
    c.seed = 11;
    return c;
}

/* U(S) by running the train core directly on S (rows in ascending order). */
static double mlp_direct(const lcg_set *o, const train_cfg *c, size_t mask, shap_metric metric)
{
    size_t d = o->d, n = 0, cnt[2] = {0, 0};
    double xs[64], ys[16];
    for (size_t i = 0; i < o->n; i++)
        if (mask >> i & 1) {
            memcpy(xs + n * d, o->x + i * d, d * sizeof(double));
            ys[n++] = o->y[i];
            cnt[(size_t)o->y[i]]++;
        }
    if (cnt[0] == 0 || cnt[1] == 0) { /* one class: predicted everywhere */
        size_t cl = cnt[0] ? 0 : 1;
        double sc = 0;
        for (size_t t = 0; t < o->m; t++)
            sc += metric == SHAP_ACCURACY ? (double)((size_t)o->yt[t] == cl)
                                          : ((size_t)o->yt[t] == cl ? 0.0 : 2.0);
        return metric == SHAP_ACCURACY ? sc / (double)o->m : -sc / (2.0 * (double)o->m);
    }
    size_t P = mlp_param_count(&c->arch);
    double *theta = malloc(P * sizeof(double));
    tg_err err;
    ck_assert_int_eq(train_init(&c->arch, "default", 0, c->seed, theta, &err), TG_OK);
    train_data td = {.d = d, .ydim = 1, .classification = 1, .x = xs, .y = ys, .n = n,
                     .x_test = o->xt, .y_test = o->yt, .n_test = o->m};
    train_result res;
    ck_assert_int_eq(train_run(c, &td, theta, &res, NULL, NULL, NULL, &err), TG_OK);
    double out = res.final.test.accuracy;
    if (metric == SHAP_NEG_MSE) { /* softmax probabilities against one-hot targets */
        mlp_ws *ws = mlp_ws_new(&c->arch, o->m);
        double f[64], se = 0;
        mlp_forward(&c->arch, theta, o->xt, o->m, ws, f);
        for (size_t t = 0; t < o->m; t++) {
            double a = f[2 * t], b = f[2 * t + 1], mx = a > b ? a : b;
            double ea = exp(a - mx), eb = exp(b - mx);
            double p0 = ea / (ea + eb), p1 = eb / (ea + eb);
            double t0 = (size_t)o->yt[t] == 0, t1 = (size_t)o->yt[t] == 1;
            se += (p0 - t0) * (p0 - t0);
            se += (p1 - t1) * (p1 - t1);
        }
        out = -se / (2.0 * (double)o->m);
        mlp_ws_free(ws);
    }
    train_result_deinit(&res);
    free(theta);
    return out;
}

START_TEST(test_mlp)
{
    lcg_set o;
    lcg_make(21, 7, 12, 2, 4, 2, &o);
    /* labels with signal (x0 + noise > x1), grid values scaled to [0, 1] */
    for (size_t i = 0; i < 7; i++) {
        o.y[i] = o.x[2 * i] + (i % 3 == 0 ? 1 : 0) > o.x[2 * i + 1];
        o.x[2 * i] /= 4;
        o.x[2 * i + 1] /= 4;
    }
    for (size_t i = 0; i < 12; i++) {
        o.yt[i] = o.xt[2 * i] > o.xt[2 * i + 1];
        o.xt[2 * i] /= 4;
        o.xt[2 * i + 1] /= 4;
    }
    shap_data D = data_of(&o, 2);
    for (int variant = 0; variant < 2; variant++) {
        /* full batch with accuracy; mini-batches of 3 (seeded shuffles) with neg_mse */
        train_cfg tc = mlp_cfg(2, variant ? 3 : 0);
        shap_metric metric = variant ? SHAP_NEG_MSE : SHAP_ACCURACY;
        shap_util_cfg uc;
        memset(&uc, 0, sizeof uc);
        uc.kind = SHAP_U_MLP;
        uc.metric = metric;
        uc.empty_score = 0.5;
        uc.train = &tc;
        uc.init = "default";
        shap_utility *u;
        tg_err err;
        ck_assert_int_eq(shap_utility_new(&uc, &D, &u, &err), TG_OK);
        double *U = table_of(u, 7), Uref[128];
        size_t differ = 0, distinct = 0;
        Uref[0] = 0.5;
        ck_assert(U[0] == 0.5);
        for (size_t mask = 1; mask < 128; mask++) {
            Uref[mask] = mlp_direct(&o, &tc, mask, metric);
            differ += memcmp(&U[mask], &Uref[mask], sizeof(double)) != 0;
            distinct += U[mask] != U[1];
        }
        ck_assert_msg(differ == 0, "%zu of 127 subsets differ from the train core", differ);
        fprintf(stderr, "shapley: mlp utility (%s): %zu of 127 subsets differ from U({0})\n", variant ? "neg_mse" : "accuracy", distinct);
        ck_assert_msg(distinct > 10, "only %zu subsets differ from U({0})", distinct);
        /* a scan along a permutation (adds) gives the same U as fresh evaluations */
        shap_state *st = shap_state_new(u);
        const size_t order[7] = {5, 2, 6, 0, 3, 1, 4};
        size_t mask = 0;
        for (size_t a = 0; a < 7; a++) {
            double v;
            ck_assert_int_eq(shap_state_add(st, order[a], &v, &err), TG_OK);
            mask |= (size_t)1 << order[a];
            ck_assert(memcmp(&v, &Uref[mask], sizeof v) == 0);
        }
        shap_state_free(st);
        /* exact: the table's values, efficiency */
        double v[7], se[7], ref[7], v1[7], se1[7];
        shap_result r, r1;
        shap_exact_from_table(Uref, 7, 0, ref);
        shap_run_cfg rc = run_cfg(SHAP_EXACT, 1, 2);
        ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
        for (size_t i = 0; i < 7; i++)
            ck_assert_msg(fabs(v[i] - ref[i]) < 1e-12, "player %zu: %.17g vs %.17g", i, v[i],
                          ref[i]);
        ck_assert_msg(fabs(r.efficiency_residual) < 1e-12, "%g", r.efficiency_residual);
        ck_assert(r.u_full == Uref[127] && r.u_empty == 0.5);
        /* permutation sampling: 1 and 2 threads identical */
        rc = run_cfg(SHAP_PERMUTATION, 8, 2);
        ck_assert_int_eq(shap_run(u, &rc, v, se, &r, &err), TG_OK);
        rc.threads = 1;
        ck_assert_int_eq(shap_run(u, &rc, v1, se1, &r1, &err), TG_OK);
        ck_assert(memcmp(v, v1, sizeof v) == 0 && memcmp(se, se1, sizeof se) == 0);
        ck_assert_int_eq(r.evaluations, r1.evaluations);
        free(U);
        shap_utility_free(u);
    }
    lcg_free(&o);
}
END_TEST

Suite *shapley_suite(void)
{
    Suite *s = suite_create("shapley");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_knn_exact_small);
    tcase_add_test(tc, test_knn_exact_large);
    tcase_add_test(tc, test_knn_exact_order);
    tcase_add_test(tc, test_logistic_tables);
    tcase_add_test(tc, test_sampling_estimators);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_kernel_ridge);
    tcase_add_test(tc, test_features);
    tcase_add_test(tc, test_mlp);
    suite_add_tcase(s, tc);
    return s;
}
