/* check_curv_struct.c: the structured explicit Hessian (core/curv_struct.c) against
 * - the column path of curv_hessian (no_struct = 1: one exact R-operator HVP per column),
 *   to relative 1e-12 (max |H_struct - H_cols| / max |H_cols|), over: no hidden layer and
 *   one hidden layer with every activation (relu's phi'' = 0 convention included);
 *   cross-entropy with 2 and 3 classes, logistic, MSE with 1 and 4 outputs and with class
 *   labels taken one-hot; unnormalized inputs (~1e3); l2 and damping; the ntk
 *   parameterization with and without biases; the subsets all, last_layer (depths 1 and 3)
 *   and arbitrary ranges; several blocks of rows;
 * - central finite differences of curv_grad (independent of both paths) for a few columns;
 * - cancellation and progress: the progress callback is polled (fraction -1) inside a
 *   block's rows and GEMMs and in the assembly, each able to stop the build; the cancel
 *   flag set from another thread 0.2 s into a build whose blocks of rows take seconds
 *   (d 99, h 200, 10 classes: one block's GEMMs are ~2.6e10 multiply-adds, and its
 *   first touch of 1.1 GB of accumulators took ~4 s here) returns within 1.5 s;
 * - the choice: a small subset of a wide first layer goes to the column path (memory).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/curv.h"
#include "tests/core/curv_case.h"
#include "tests/suite.h"

/* max |A - B| / max |B| over n entries. */
static double max_rel(const double *A, const double *B, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(A[i] - B[i]));
        den = fmax(den, fabs(B[i]));
    }
    return num / (den + 1e-300);
}

/* Structured vs columns on c->o; asserts that the structured path applies, or with
 * `forced` calls the structured build directly (curv_hessian would take the columns). */
static double struct_vs_cols_f(curv_case *c, const char *what, int forced)
{
    size_t dim = curv_dim(&c->o);
    double *H1 = malloc(dim * dim * sizeof(double)), *H2 = malloc(dim * dim * sizeof(double));
    ck_assert_msg(forced || curv_struct_applies(&c->o), "%s: the structured build should apply",
                  what);
    for (size_t i = 0; i < dim * dim; i++)
        H1[i] = NAN; /* every entry must be written */
    ck_assert_int_eq(forced ? curv_struct_hessian(&c->o, H1) : curv_hessian(&c->o, H1), TG_OK);
    c->o.no_struct = 1;
    ck_assert_int_eq(curv_hessian(&c->o, H2), TG_OK);
    c->o.no_struct = 0;
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++)
            ck_assert_msg(H1[i * dim + j] == H1[j * dim + i], "%s: not symmetric", what);
    double e = max_rel(H1, H2, dim * dim);
    ck_assert_msg(e < 1e-12, "%s: structured vs columns %.3g (dim %zu)", what, e, dim);
    free(H1), free(H2);
    return e;
}

static double struct_vs_cols(curv_case *c, const char *what)
{
    return struct_vs_cols_f(c, what, 0);
}

START_TEST(linear_models_match_columns)
{
    /* no hidden layer: cross-entropy 2 and 3 classes, logistic, mse 1 and 4 outputs,
     * mse on class labels */
    static const struct {
        tg_loss loss;
        int cls;
        size_t k;
    } cs[] = {{LOSS_CROSS_ENTROPY, 1, 3}, {LOSS_CROSS_ENTROPY, 1, 2}, {LOSS_LOGISTIC, 1, 1},
              {LOSS_MSE, 0, 1}, {LOSS_MSE, 0, 4}, {LOSS_MSE, 1, 3}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int v = 0; v < 3; v++) {
            curv_case c;
            /* v = 1: l2 and damping; v = 2: unnormalized inputs, 600 rows (3 blocks) */
            curv_case_make(&c, cs[i].loss, cs[i].cls, 5, NULL, 0, cs[i].k, v == 2 ? 600 : 40,
                       ACT_TANH, v == 2 ? 1e3 : 1.5, v == 2 ? 1e-3 : 0.7, 3 + i * 5 + (unsigned)v);
            if (v == 1) {
                c.o.l2 = 0.03;
                c.o.damping = 0.2;
            }
            char what[64];
            snprintf(what, sizeof what, "linear loss %d k %zu variant %d", (int)cs[i].loss,
                     cs[i].k, v);
            struct_vs_cols(&c, what);
            curv_case_free(&c);
        }
}
END_TEST

START_TEST(one_hidden_layer_matches_columns)
{
    static const tg_loss losses[] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    size_t hid[1] = {7};
    for (int act = 0; act < ACT_COUNT; act++)
        for (int li = 0; li < 3; li++) {
            curv_case c;
            curv_case_make(&c, losses[li], 0, 4, hid, 1, 3, 45, (tg_act)act, 1.5, 0.7,
                       100 + (unsigned)act * 3 + (unsigned)li);
            c.o.l2 = li == 1 ? 0.0 : 0.02;
            c.o.damping = li == 2 ? 0.1 : 0.0;
            char what[64];
            snprintf(what, sizeof what, "act %d loss %d", act, li);
            struct_vs_cols(&c, what);
            curv_case_free(&c);
        }
}
END_TEST

START_TEST(one_hidden_layer_variants)
{
    size_t hid[1] = {6};
    for (int v = 0; v < 7; v++) {
        curv_case c;
        tg_loss loss = v % 2 ? LOSS_MSE : LOSS_CROSS_ENTROPY;
        int big = v == 0 || v == 1;
        /* v 0, 1: unnormalized inputs ~1e3 (theta ~1e-3 keeps tanh off saturation), 600
         * rows (3 blocks); v 2: ntk with biases; v 3: ntk without biases; v 4: cross-entropy
         * with 2 classes; v 5: mse on one-hot class labels; v 6: softplus, 1 output mse */
        curv_case_make(&c, loss, v == 5, 5, hid, 1, v == 4 ? 2 : (v == 6 ? 1 : 3), big ? 600 : 50,
                   v == 6 ? ACT_SOFTPLUS : ACT_TANH, big ? 1e3 : 1.2, big ? 1e-3 : 0.6,
                   500 + (unsigned)v);
        if (v == 2 || v == 3) {
            c.a.ntk = 1;
            c.a.w_std = 1.3;
            c.a.b_std = v == 2 ? 0.4 : 0.0;
            curv_case_retheta(&c, 0.8, 900 + (unsigned)v);
        }
        c.o.l2 = 0.01 * v;
        c.o.damping = v == 1 ? 0.05 : 0.0;
        char what[64];
        snprintf(what, sizeof what, "variant %d", v);
        struct_vs_cols(&c, what);
        curv_case_free(&c);
    }
}
END_TEST

START_TEST(subsets_match_columns)
{
    size_t hid1[1] = {6}, hid3[2] = {5, 4};
    /* last layer at depth 1 (one hidden layer) and depth 3 (two hidden layers), each
     * loss; ntk without biases at depth 3 */
    static const tg_loss losses[] = {LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE};
    for (int li = 0; li < 3; li++)
        for (int depth = 1; depth <= 3; depth += 2) {
            curv_case c;
            curv_case_make(&c, losses[li], 0, 4, depth == 1 ? hid1 : hid3, depth == 1 ? 1 : 2, 3,
                       60, ACT_SIGMOID, 2.0, 0.8, 40 + (unsigned)(li * 4 + depth));
            if (depth == 3 && li == 2) {
                c.a.ntk = 1;
                c.a.w_std = 1.1;
                c.a.b_std = 0.0;
                curv_case_retheta(&c, 0.9, 77);
            }
            curv_subset_last_layer(&c.a, &c.o.p_lo, &c.o.p_hi);
            c.o.l2 = 0.05;
            c.o.damping = 0.01;
            char what[64];
            snprintf(what, sizeof what, "last layer loss %d depth %d", li, depth);
            struct_vs_cols(&c, what);
            /* the depth-3 full set is not structured */
            if (depth == 3) {
                c.o.p_lo = 0;
                ck_assert(!curv_struct_applies(&c.o));
            }
            curv_case_free(&c);
        }
    /* a wide last hidden layer (401 inputs to the last layer over 30 rows: its packed
     * a~ a~^T, 80601 per row, is built in two column chunks) */
    {
        size_t wide[2] = {3, 400};
        curv_case c;
        curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 4, wide, 2, 2, 30, ACT_TANH, 1.0, 0.3, 71);
        curv_subset_last_layer(&c.a, &c.o.p_lo, &c.o.p_hi);
        c.o.l2 = 0.01;
        struct_vs_cols(&c, "wide last layer");
        curv_case_free(&c);
    }
    /* arbitrary ranges of a one-hidden-layer network (d 4, h 6, k 3: P1 = 30, P = 51) */
    static const size_t ranges[][2] = {{0, 30}, {3, 41}, {25, 51}, {31, 50}, {7, 8}, {0, 51},
                                       {29, 31}, {34, 36}, {11, 12}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        curv_case c;
        curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 4, hid1, 1, 3, 30, ACT_GELU, 1.0, 0.7,
                   60 + (unsigned)r);
        ck_assert_uint_eq(mlp_param_count(&c.a), 51);
        c.o.p_lo = ranges[r][0];
        c.o.p_hi = ranges[r][1];
        c.o.l2 = 0.02;
        char what[64];
        snprintf(what, sizeof what, "range [%zu, %zu)", c.o.p_lo, c.o.p_hi);
        if (curv_struct_applies(&c.o))
            struct_vs_cols(&c, what);
        else /* only a tiny range may fall back to the columns; forced, it agrees too */
            ck_assert_uint_le(c.o.p_hi - c.o.p_lo, 2);
        struct_vs_cols_f(&c, what, 1);
        curv_case_free(&c);
    }
}
END_TEST

/* A few columns of the structured H against central differences of curv_grad. */
START_TEST(struct_matches_finite_differences)
{
    size_t hid[1] = {5};
    curv_case c;
    curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 3, hid, 1, 3, 25, ACT_SOFTPLUS, 1.3, 0.8, 7);
    c.o.l2 = 0.04;
    c.o.damping = 0.3;
    size_t dim = curv_dim(&c.o), P = dim;
    double *H = malloc(dim * dim * sizeof(double)), *gp = malloc(dim * sizeof(double)),
           *gm = malloc(dim * sizeof(double));
    ck_assert(curv_struct_applies(&c.o));
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_OK);
    /* W1[0,0], W1[4,2], b1[3], W2[0,2], W2[2,4], b2[0] (d 3, h 5, k 3: P = 38) */
    static const size_t cols[] = {0, 14, 18, 22, 34, 35};
    double h = 1e-5;
    for (size_t ci = 0; ci < sizeof cols / sizeof cols[0]; ci++) {
        size_t j = cols[ci];
        ck_assert_uint_lt(j, P);
        double t0 = c.theta[j];
        c.theta[j] = t0 + h;
        ck_assert_int_eq(curv_grad(&c.o, gp, NULL), TG_OK);
        c.theta[j] = t0 - h;
        ck_assert_int_eq(curv_grad(&c.o, gm, NULL), TG_OK);
        c.theta[j] = t0;
        for (size_t i = 0; i < dim; i++) {
            double fd = (gp[i] - gm[i]) / (2 * h) + (i == j ? c.o.damping : 0.0);
            ck_assert_msg(fabs(fd - H[i * dim + j]) < 1e-7 * (1 + fabs(fd)),
                          "H[%zu][%zu] %.12g vs fd %.12g", i, j, H[i * dim + j], fd);
        }
    }
    free(H), free(gp), free(gm);
    curv_case_free(&c);
}
END_TEST

/* Lanes: 3 threads over 900 rows (4 blocks) agree with one to rounding, and repeat
 * bit for bit. */
START_TEST(struct_lanes_agree)
{
    size_t hid[1] = {6};
    curv_case c;
    curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 4, hid, 1, 3, 900, ACT_TANH, 1.0, 0.5, 19);
    c.o.l2 = 0.01;
    size_t dim = curv_dim(&c.o);
    double *H1 = malloc(dim * dim * sizeof(double)), *H3 = malloc(dim * dim * sizeof(double)),
           *H3b = malloc(dim * dim * sizeof(double));
    ck_assert_int_eq(curv_hessian(&c.o, H1), TG_OK);
    c.o.threads = 3;
    ck_assert_int_eq(curv_hessian(&c.o, H3), TG_OK);
    ck_assert_int_eq(curv_hessian(&c.o, H3b), TG_OK);
    ck_assert(memcmp(H3, H3b, dim * dim * sizeof(double)) == 0);
    ck_assert_msg(max_rel(H3, H1, dim * dim) < 1e-14, "3 lanes vs 1: %g",
                  max_rel(H3, H1, dim * dim));
    struct_vs_cols(&c, "3 lanes");
    free(H1), free(H3), free(H3b);
    curv_case_free(&c);
}
END_TEST

typedef struct prog_log {
    double last;
    int calls, monotone;
    int stop_at; /* stop at this call (0: never) */
} prog_log;

static int prog_fn(void *ud, double f, const char *msg)
{
    (void)msg;
    prog_log *p = ud;
    p->calls++;
    if (f >= 0) {
        if (f < p->last)
            p->monotone = 0;
        p->last = f;
    }
    return p->stop_at && p->calls >= p->stop_at;
}

START_TEST(struct_progress_and_cancel)
{
    size_t hid[1] = {6};
    curv_case c;
    curv_case_make(&c, LOSS_MSE, 0, 4, hid, 1, 2, 900, ACT_TANH, 1.0, 0.5, 9);
    size_t dim = curv_dim(&c.o);
    double *H = malloc(dim * dim * sizeof(double));
    prog_log pl = {0, 0, 1, 0};
    tg_progress pr = {prog_fn, &pl};
    c.o.prog = &pr;
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_OK);
    ck_assert(pl.monotone);
    ck_assert(pl.calls >= 4); /* 900 rows: 4 blocks */
    ck_assert_double_eq(pl.last, 1.0);
    /* stopped by the progress callback after the second block */
    pl = (prog_log){0, 0, 1, 2};
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_ECANCELLED);
    /* the cancel flag */
    volatile int cancel = 1;
    c.o.prog = NULL;
    c.o.cancel = &cancel;
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_ECANCELLED);
    c.o.threads = 2;
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_ECANCELLED);
    c.o.threads = 1;
    /* the memory estimate covers H and the accumulators */
    c.o.cancel = NULL;
    ck_assert(curv_hessian_bytes(&c.o) > 8.0 * (double)(dim * dim));
    free(H);
    curv_case_free(&c);
}
END_TEST

/* Stops at the first call with fraction -1 after `after` calls with a fraction >= 0;
 * records the fractions seen. */
typedef struct poll_stop {
    int after, seen_pos, polls, stopped_on_poll;
    double max_f;
} poll_stop;

static int poll_stop_fn(void *ud, double f, const char *msg)
{
    (void)msg;
    poll_stop *p = ud;
    if (f >= 0) {
        p->seen_pos++;
        p->max_f = fmax(p->max_f, f);
        return 0;
    }
    p->polls++;
    if (p->seen_pos >= p->after) {
        p->stopped_on_poll = 1;
        return 1;
    }
    return 0;
}

/* Polls inside a block and inside the assembly can stop the build (one block of rows:
 * 60 rows; before, progress was only reported between blocks). */
START_TEST(struct_polls_stop_inside)
{
    size_t hid[1] = {9};
    curv_case c;
    curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 5, hid, 1, 3, 60, ACT_TANH, 1.0, 0.5, 31);
    size_t dim = curv_dim(&c.o);
    double *H = malloc(dim * dim * sizeof(double));
    /* a full build polls per row, per GEMM piece and per hidden unit of the assembly */
    poll_stop ps = {1000, 0, 0, 0, 0};
    tg_progress pr = {poll_stop_fn, &ps};
    c.o.prog = &pr;
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_OK);
    ck_assert_int_ge(ps.polls, 60 + 9);
    /* stopped by the first poll inside the block (after "rows 0/60"): never assembled */
    ps = (poll_stop){1, 0, 0, 0, 0};
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_ECANCELLED);
    ck_assert(ps.stopped_on_poll);
    ck_assert_double_eq(ps.max_f, 0.0);
    /* stopped by a poll of the assembly (after "hessian assembly" at 0.95) */
    ps = (poll_stop){2, 0, 0, 0, 0};
    ck_assert_int_eq(curv_hessian(&c.o, H), TG_ECANCELLED);
    ck_assert(ps.stopped_on_poll);
    ck_assert_double_eq(ps.max_f, 0.95);
    free(H);
    curv_case_free(&c);
}
END_TEST

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct canceller {
    volatile int flag;
    double t0, set_at;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *k = arg;
    while (mono_now() - k->t0 < 0.2)
        usleep(2000);
    k->set_at = mono_now();
    k->flag = 1;
    return NULL;
}

/* The cancel flag set from another thread 0.2 s in: the build returns within 1.5 s of
 * it (the service promises 1 s; the bound leaves room for a loaded machine). d 99, h 200,
 * 10 classes, 356 rows in 2 blocks of 178: each block's GEMMs are ~2.6e10 multiply-adds
 * and first touch 1.1 GB of accumulators (before the fix: returned 4.4 s after the flag).
 * The subset [0, 1000) keeps H at 8 MB; it is forced through curv_struct_hessian (which
 * curv_hessian would decline for its memory); cancelled early, only a little of the
 * accumulators is ever touched. */
START_TEST(struct_cancel_within_a_second)
{
    size_t hid[1] = {200};
    curv_case c;
    curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 99, hid, 1, 10, 356, ACT_TANH, 1.0, 0.1, 47);
    c.o.p_lo = 0;
    c.o.p_hi = 1000;
    ck_assert(!curv_struct_applies(&c.o));
    double *H = malloc(1000 * 1000 * sizeof(double));
    canceller k = {0, mono_now(), 0};
    c.o.cancel = &k.flag;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, &k), 0);
    int rc = curv_struct_hessian(&c.o, H);
    double back = mono_now();
    pthread_join(th, NULL);
    ck_assert_int_eq(rc, TG_ECANCELLED);
    ck_assert_msg(back - k.set_at < 1.5, "returned %.3f s after the cancel flag",
                  back - k.set_at);
    free(H);
    curv_case_free(&c);
}
END_TEST

/* The choice: 32-[2000]-10 on [0, 3000) would take ~9 GB of accumulators for a 72 MB H:
 * the column path; all of its parameters: structured (no allocation here). */
START_TEST(struct_memory_choice)
{
    mlp_arch a;
    memset(&a, 0, sizeof a);
    a.n_layers = 2;
    a.dims[0] = 32;
    a.dims[1] = 2000;
    a.dims[2] = 10;
    a.act = ACT_TANH;
    a.bias = 1;
    curv_obj o = {.arch = &a, .n = 1000, .loss = LOSS_CROSS_ENTROPY, .y_is_class = 1,
                  .p_lo = 0, .p_hi = 3000, .threads = 1};
    ck_assert(!curv_struct_applies(&o));
    ck_assert_double_eq(curv_struct_bytes(&o), 0);
    double cols = 8.0 * 3000 * 3000 + curv_ws_bytes(&a, o.n, 1);
    ck_assert_double_eq(curv_hessian_bytes(&o), cols);
    ck_assert(cols < 3e8); /* H 72 MB, the cached HVP workspace ~166 MB */
    o.p_hi = mlp_param_count(&a);
    ck_assert(curv_struct_applies(&o));
    ck_assert(curv_struct_bytes(&o) > 8e9);
    /* the small cases of this suite are never declined for memory */
    size_t hid[1] = {6};
    curv_case c;
    curv_case_make(&c, LOSS_CROSS_ENTROPY, 0, 4, hid, 1, 3, 30, ACT_TANH, 1.0, 0.5, 5);
    c.o.p_lo = 3;
    c.o.p_hi = 20;
    ck_assert(curv_struct_applies(&c.o));
    curv_case_free(&c);
}
END_TEST

Suite *curv_struct_suite(void)
{
    return SUITE_TCASE(suite_create("curv_struct"), "curv_struct", 60,
                       linear_models_match_columns, one_hidden_layer_matches_columns,
                       one_hidden_layer_variants, subsets_match_columns,
                       struct_matches_finite_differences, struct_lanes_agree,
                       struct_progress_and_cancel, struct_polls_stop_inside,
                       struct_cancel_within_a_second, struct_memory_choice);
}
