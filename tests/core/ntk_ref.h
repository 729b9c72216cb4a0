/* ntk_ref.h: reading reference/ntk_fixtures.json (written by the independent oracle
 * tests/reference/ntk_ref.py; tests run from tests/) and the error measures of the suites
 * that compare with it (check_ntk.c, check_kreg.c). Header-only (static functions, so
 * each suite has its own failure record; a suite need not use all of them); include
 * after defining NTK_REF_TAG, the prefix of the lines printed.
 *
 * Error measures: "norm-wise" = ||ours - ref||_F / ||ref||_F per matrix; "entry" = the
 * worst |ours_ij - ref_ij| / max(|ref_ij|, floor), see compare_f. Comparison failures are
 * collected (the first few printed) so that one run reports every group's worst errors;
 * each test calls begin() first and finish() last, which asserts there were none. */
#ifndef TG_TESTS_NTK_REF_H
#define TG_TESTS_NTK_REF_H

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef NTK_REF_TAG
#define NTK_REF_TAG "ntk"
#endif
#define NTK_FIXTURES "reference/ntk_fixtures.json"

#include "fixture.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- fixtures ------------------------------------------------------------------------ */

static json_t *load_fixtures(void)
{
    return fixture_load(NTK_FIXTURES, "tests/reference/ntk_ref.py");
}

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    ck_assert(p != NULL);
    return p;
}

/* ---- error measures ------------------------------------------------------------------ */

typedef struct worst {
    double norm, entry;
    char where_norm[160], where_entry[160];
} worst;

static double normrel(const double *a, const double *b, size_t n)
{
    double num2 = 0, den2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - b[i];
        num2 += d * d;
        den2 += b[i] * b[i];
    }
    if (den2 == 0)
        return num2 == 0 ? 0.0 : INFINITY;
    return sqrt(num2 / den2);
}

/* Comparison failures are collected (and the first few printed) so that one run reports
 * every group's worst errors; each test asserts at its end that there were none. */
static int g_fails;
static char g_first[512];
static double g_t0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void begin(void)
{
    g_fails = 0;
    g_first[0] = 0;
    g_t0 = now_s();
}

static void fail_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_note(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_fails++ == 0)
        snprintf(g_first, sizeof g_first, "%s", buf);
    if (g_fails <= 12)
        printf("%s: FAIL %s\n", NTK_REF_TAG, buf);
}

static void finish(const char *test)
{
    printf("%s: %s: %.2f s\n", NTK_REF_TAG, test, now_s() - g_t0);
    fflush(stdout);
    ck_assert_msg(g_fails == 0, "%s: %d comparison(s) out of bounds; the first: %s", test,
                  g_fails, g_first);
}

static void note(worst *w, double e_norm, double e_entry, const char *label)
{
    if (!(e_norm <= w->norm)) {
        w->norm = e_norm;
        snprintf(w->where_norm, sizeof w->where_norm, "%s", label);
    }
    if (!(e_entry <= w->entry)) {
        w->entry = e_entry;
        snprintf(w->where_entry, sizeof w->where_entry, "%s", label);
    }
}

/* Compares a (r x c) with ref: the norm-wise error and the worst entry error with entry
 * scale max(|ref_ij|, cs_floor sqrt(|dr_i dc_j|)) (dr, dc NULL: |ref_ij|). Fails above
 * tol; records into w. */
static void compare_f(const char *label, const double *a, const double *ref, size_t r,
                      size_t c, const double *dr, const double *dc, double cs_floor,
                      double tol, worst *w)
{
    double en = normrel(a, ref, r * c), ee = 0;
    size_t wi = 0, wj = 0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double b = ref[i * c + j], s = fabs(b);
            if (dr && dc) {
                double cs = cs_floor * sqrt(fabs(dr[i] * dc[j]));
                s = s > cs ? s : cs;
            }
            double d = fabs(a[i * c + j] - b);
            double e = a[i * c + j] == b ? 0.0 : d / (s > 1e-300 ? s : 1e-300);
            if (!(e <= ee)) {
                ee = e;
                wi = i;
                wj = j;
            }
        }
    note(w, en, ee, label);
    if (!(en <= tol && ee <= tol))
        fail_note("%s: norm-wise error %.3g, worst entry %.3g at (%zu, %zu): got %.17g, "
                  "want %.17g (bound %g)",
                  label, en, ee, wi, wj, a[wi * c + wj], ref[wi * c + wj], tol);
}

/* Against a reference: entries relative to themselves, floored at 1e-3 of their
 * Cauchy-Schwarz scale sqrt(K(x, x) K(z, z)). */
static void compare(const char *label, const double *a, const double *ref, size_t r, size_t c,
                    const double *dr, const double *dc, double tol, worst *w)
{
    compare_f(label, a, ref, r, c, dr, dc, 1e-3, tol, w);
}

/* Two computations that sum the input kernel x.z / d in different orders (GEMM vs SYRK):
 * those differ by rounding relative to |x||z| / d, not to |x.z|, so entries are measured
 * against the full Cauchy-Schwarz scale. */
static void compare_cs(const char *label, const double *a, const double *ref, size_t r,
                       size_t c, const double *dr, const double *dc, double tol, worst *w)
{
    compare_f(label, a, ref, r, c, dr, dc, 1.0, tol, w);
}

static void report(const char *what, const worst *w, double tol)
{
    printf("%s: %-44s norm-wise %.2e (%s), entry %.2e (%s); bound %.0e\n", NTK_REF_TAG, what,
           w->norm, w->where_norm, w->entry, w->where_entry, tol);
    fflush(stdout);
}

#pragma GCC diagnostic pop

#endif
