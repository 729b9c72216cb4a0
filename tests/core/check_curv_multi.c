/* check_curv_multi.c: curv_hvp_multi_ws (many directions per pass, core/curv.c) against q
 * single products curv_hvp_ws on the same workspace, to relative 1e-13 per direction
 * (max |HV_multi - HV_single| / max |HV_single|), over: every loss (cross-entropy with 3
 * classes, logistic, MSE with 2 outputs); activations with phi'' != 0 (tanh, gelu) and
 * phi'' = 0 (relu, leaky relu); no, one and three hidden layers; the subsets all,
 * last_layer and inner ranges (starting and ending inside a layer's weights or biases);
 * q = 1, q below and above the chunk (4 directions by default; a small multi_budget
 * forces smaller chunks and blocks down to one row); l2 and damping; the ntk parameterization and no biases; 1 and 2
 * lanes; workspace reuse with varying q; the no-cache fallback; the bytes estimate;
 * determinism; cancellation and progress.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/curv.h"
#include "tests/core/curv_case.h"
#include "tests/suite.h"

typedef curv_case mcase;

/* hidden: nh widths; k outputs (1 for logistic); theta in 0.7 [-1, 1), x in 2 [-1, 1);
 * l2 0.01, damping 0.1. */
static void mcase_make(mcase *c, tg_loss loss, size_t d, const size_t *hidden, size_t nh,
                       size_t k, size_t n, tg_act act, unsigned long long seed)
{
    curv_case_make(c, loss, 0, d, hidden, nh, k, n, act, 2.0, 0.7, seed);
    c->o.l2 = 0.01;
    c->o.damping = 0.1;
}

/* max over directions of max |A - B| / max |B| (per direction's row of dim). */
static double worst_rel(const double *A, const double *B, size_t q, size_t dim)
{
    double w = 0;
    for (size_t j = 0; j < q; j++) {
        double num = 0, den = 0;
        for (size_t i = 0; i < dim; i++) {
            num = fmax(num, fabs(A[j * dim + i] - B[j * dim + i]));
            den = fmax(den, fabs(B[j * dim + i]));
        }
        w = fmax(w, num / (den + 1e-300));
    }
    return w;
}

/* q random directions through the multi path and one by one on the same workspace;
 * asserts agreement to 1e-13 and returns the error. */
static double multi_vs_single(const curv_obj *o, size_t q, unsigned long long seed,
                              const char *what)
{
    size_t dim = curv_dim(o);
    double *V = malloc(q * dim * sizeof(double)), *H1 = malloc(q * dim * sizeof(double)),
           *H2 = malloc(q * dim * sizeof(double));
    for (size_t i = 0; i < q * dim; i++) {
        V[i] = lcg(&seed);
        H1[i] = NAN; /* every entry must be written */
    }
    curv_ws *w = curv_ws_new(o);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, q, H1), TG_OK);
    for (size_t j = 0; j < q; j++)
        ck_assert_int_eq(curv_hvp_ws(w, V + j * dim, H2 + j * dim), TG_OK);
    double e = worst_rel(H1, H2, q, dim);
    ck_assert_msg(e < 1e-13, "%s: multi vs single %.3g (q %zu, dim %zu)", what, e, q, dim);
    curv_ws_free(w);
    if (!o->multi_budget && q > 2) {
        /* again with 2 directions per chunk and blocks of 1 or 2 rows: 2.5 times the
         * budget of one direction over one row */
        curv_obj o2 = *o;
        o2.multi_budget = (size_t)(2.5 * curv_hvp_multi_bytes(o->arch, o->n, 1, o->threads, 1));
        w = curv_ws_new(&o2);
        ck_assert_int_eq(curv_hvp_multi_ws(w, V, q, H1), TG_OK);
        double e2 = worst_rel(H1, H2, q, dim);
        ck_assert_msg(e2 < 1e-13, "%s, chunks of 2: multi vs single %.3g (q %zu, dim %zu)",
                      what, e2, q, dim);
        e = fmax(e, e2);
        curv_ws_free(w);
    }
    free(V), free(H1), free(H2);
    return e;
}

/* Every subset kind on c with q directions: all, last_layer, and two inner ranges. */
static void all_subsets(mcase *c, size_t q, const char *what)
{
    char msg[128];
    size_t P = mlp_param_count(&c->a), lo, hi;
    c->o.p_lo = 0, c->o.p_hi = P;
    snprintf(msg, sizeof msg, "%s, all", what);
    multi_vs_single(&c->o, q, 11, msg);
    curv_subset_last_layer(&c->a, &lo, &hi);
    c->o.p_lo = lo, c->o.p_hi = hi;
    snprintf(msg, sizeof msg, "%s, last_layer", what);
    multi_vs_single(&c->o, q, 12, msg);
    /* inner: from inside the first layer's weights to inside the last layer's */
    c->o.p_lo = P / 5, c->o.p_hi = P - 2;
    snprintf(msg, sizeof msg, "%s, inner [%zu, %zu)", what, c->o.p_lo, c->o.p_hi);
    multi_vs_single(&c->o, q, 13, msg);
    /* a narrow range (inside one layer when it is wide) */
    c->o.p_lo = P / 3, c->o.p_hi = P / 3 + 5 < P ? P / 3 + 5 : P;
    snprintf(msg, sizeof msg, "%s, narrow [%zu, %zu)", what, c->o.p_lo, c->o.p_hi);
    multi_vs_single(&c->o, q, 14, msg);
    c->o.p_lo = 0, c->o.p_hi = P;
}

START_TEST(losses_activations_depths)
{
    const tg_loss losses[3] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    const char *lname[3] = {"ce", "logistic", "mse"};
    const tg_act acts[2] = {ACT_TANH, ACT_RELU};
    const size_t hid[3] = {7, 5, 6};
    const size_t depths[3] = {0, 1, 3};
    for (int li = 0; li < 3; li++)
        for (int ai = 0; ai < 2; ai++)
            for (int di = 0; di < 3; di++) {
                mcase c;
                char what[96];
                mcase_make(&c, losses[li], 4, hid, depths[di], li == 2 ? 2 : 3, 90, acts[ai],
                           100 + (unsigned long long)(li * 10 + ai * 3 + di));
                snprintf(what, sizeof what, "%s %s depth %zu", lname[li],
                         ai ? "relu" : "tanh", depths[di]);
                all_subsets(&c, 6, what);
                curv_case_free(&c);
            }
}
END_TEST

START_TEST(q_one_and_chunks)
{
    const size_t hid[2] = {9, 6};
    mcase c;
    mcase_make(&c, LOSS_CROSS_ENTROPY, 5, hid, 2, 3, 150, ACT_GELU, 7);
    multi_vs_single(&c.o, 1, 21, "q 1");
    multi_vs_single(&c.o, 17, 22, "q 17, default budget");
    /* a budget that holds 4 directions over 25 rows: chunks of 4, 4, 4, 4, 1 and blocks
     * of 25 rows */
    c.o.multi_budget = 80000;
    double b = curv_hvp_multi_bytes(&c.a, c.n, 17, 1, c.o.multi_budget);
    ck_assert_msg(b > 0.8 * 80000 && b <= 80000, "bytes %.0f", b);
    all_subsets(&c, 17, "gelu depth 2, small budget");
    /* smaller than one direction over one row: one direction per chunk, over budget */
    c.o.multi_budget = 1000;
    ck_assert(curv_hvp_multi_bytes(&c.a, c.n, 5, 1, c.o.multi_budget) > 1000);
    multi_vs_single(&c.o, 5, 23, "one direction per chunk");
    curv_case_free(&c);
}
END_TEST

START_TEST(parameterizations_and_lanes)
{
    const size_t hid[1] = {8};
    mcase c;
    mcase_make(&c, LOSS_MSE, 3, hid, 1, 2, 700, ACT_LEAKY_RELU, 31);
    /* 700 rows: two blocks of CURV_BLOCK, so 2 lanes split them */
    multi_vs_single(&c.o, 9, 32, "leaky relu, 1 lane");
    c.o.threads = 2;
    multi_vs_single(&c.o, 9, 33, "leaky relu, 2 lanes");
    c.o.multi_budget = 100000; /* chunks of 3 directions, blocks of 39 rows per lane */
    all_subsets(&c, 9, "leaky relu, 2 lanes, small budget");
    c.o.multi_budget = 0;
    c.o.threads = 1;
    curv_case_free(&c);
    /* the ntk parameterization (s_l, t_l != 1), with and without biases */
    mcase_make(&c, LOSS_CROSS_ENTROPY, 4, hid, 1, 3, 80, ACT_TANH, 41);
    c.a.ntk = 1;
    c.a.w_std = 1.3;
    c.a.b_std = 0.4;
    all_subsets(&c, 4, "ntk");
    c.a.bias = 0;
    c.o.p_hi = mlp_param_count(&c.a);
    all_subsets(&c, 4, "ntk, no bias");
    c.a.ntk = 0;
    all_subsets(&c, 4, "standard, no bias");
    /* no damping, no l2 */
    c.o.l2 = c.o.damping = 0;
    multi_vs_single(&c.o, 3, 42, "no damping");
    curv_case_free(&c);
}
END_TEST

START_TEST(reuse_determinism_fallback)
{
    const size_t hid[1] = {6};
    mcase c;
    mcase_make(&c, LOSS_CROSS_ENTROPY, 4, hid, 1, 3, 120, ACT_TANH, 51);
    /* q 3: one chunk of 3 x 55 rows; q 12: grows to chunks of 4 x 40 rows; then the
     * buffers are reused with up to 160 rows x directions */
    c.o.multi_budget = 60000;
    size_t dim = curv_dim(&c.o), qs[5] = {3, 12, 3, 20, 1};
    double *V = malloc(20 * dim * sizeof(double)), *H1 = malloc(20 * dim * sizeof(double)),
           *H2 = malloc(20 * dim * sizeof(double)), *H3 = malloc(20 * dim * sizeof(double));
    unsigned long long seed = 52;
    for (size_t i = 0; i < 20 * dim; i++)
        V[i] = lcg(&seed);
    curv_ws *w = curv_ws_new(&c.o);
    for (size_t j = 0; j < 20; j++)
        ck_assert_int_eq(curv_hvp_ws(w, V + j * dim, H2 + j * dim), TG_OK);
    /* one workspace, varying q (buffers reused or grown) */
    for (int r = 0; r < 5; r++) {
        ck_assert_int_eq(curv_hvp_multi_ws(w, V, qs[r], H1), TG_OK);
        double e = worst_rel(H1, H2, qs[r], dim);
        ck_assert_msg(e < 1e-13, "reuse q %zu: %.3g", qs[r], e);
    }
    /* the same call twice: bitwise equal */
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 12, H1), TG_OK);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 12, H3), TG_OK);
    ck_assert(memcmp(H1, H3, 12 * dim * sizeof(double)) == 0);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 0, H1), TG_OK);
    curv_ws_free(w);
    /* no cache: the single products */
    c.o.no_cache = 1;
    w = curv_ws_new(&c.o);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 7, H1), TG_OK);
    ck_assert_msg(worst_rel(H1, H2, 7, dim) < 1e-13, "no cache");
    curv_ws_free(w);
    free(V), free(H1), free(H2), free(H3);
    curv_case_free(&c);
}
END_TEST

static int prog_calls(void *ud, double f, const char *msg)
{
    (void)f, (void)msg;
    int *p = ud;
    return ++*p >= 3;
}

START_TEST(multi_cancel_and_progress)
{
    const size_t hid[1] = {6};
    mcase c;
    mcase_make(&c, LOSS_MSE, 4, hid, 1, 2, 300, ACT_TANH, 61);
    size_t dim = curv_dim(&c.o);
    double *V = calloc(8 * dim, sizeof(double)), *H = malloc(8 * dim * sizeof(double));
    V[0] = 1;
    int calls = 0;
    tg_progress pr = {prog_calls, &calls};
    c.o.prog = &pr;
    c.o.multi_budget = 20000; /* chunks of 4, blocks of 11 rows: progress between them */
    curv_ws *w = curv_ws_new(&c.o);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 8, H), TG_ECANCELLED);
    ck_assert_int_eq(calls, 3);
    curv_ws_free(w);
    c.o.prog = NULL;
    volatile int cancel = 1;
    c.o.cancel = &cancel;
    w = curv_ws_new(&c.o);
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 8, H), TG_ECANCELLED);
    cancel = 0;
    ck_assert_int_eq(curv_hvp_multi_ws(w, V, 8, H), TG_OK);
    curv_ws_free(w);
    free(V), free(H);
    curv_case_free(&c);
}
END_TEST

Suite *curv_multi_suite(void)
{
    return SUITE_TCASE(suite_create("curv_multi"), "curv_multi", 60, losses_activations_depths,
                       q_one_and_chunks, parameterizations_and_lanes,
                       reuse_determinism_fallback, multi_cancel_and_progress);
}
