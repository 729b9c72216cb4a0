/* check_kreg.c: core/kreg.c (kernel regression: ridge predictions, gradient flow,
 * eigenvalues and label projections, complexity) against the independent oracle
 * tests/reference/ntk_ref.py (NumPy), whose output reference/ntk_fixtures.json ("kreg")
 * is committed (tests run from tests/); reading it and the error measures are in
 * ntk_ref.h.
 *
 * ridge (0, 1e-3), gradient flow (t 0.5, 10; ridge 0 and 1e-3), eigenvalues, label
 * projections (summing to ||Y||^2), complexity, on a relu NTK (7 x 7, condition 106) with
 * one-hot and regression targets, bound 1e-9; a singular PSD kernel (rank 4): ridge 0 and
 * the complexity give TG_ENUMERICAL (with the smallest eigenvalue ~ 0), ridge 1e-3 works,
 * the flow prediction at t = 10 matches.
 *
 * Measured at the time of writing (x86-64, OpenBLAS, gcc -O2): 1.1e-14 norm-wise, 2.4e-13
 * per entry (flow on the singular kernel). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/kreg.h"

#define NTK_REF_TAG "kreg"
#include "ntk_ref.h"

#define TOL_KREG 1e-9

START_TEST(test_kreg)
{
    begin();
    json_t *f = load_fixtures();
    json_t *kr = member(f, "kreg");
    size_t n = count(kr, "n"), m = count(kr, "m");
    double *K = vec(kr, "K", n * n), *Kt = vec(kr, "Kt", m * n);
    double *eig_ref = vec(kr, "eigenvalues", n);
    worst wr = {0}, wf = {0}, we = {0}, wp = {0}, wcx = {0};
    tg_err err;
    double *eig = dalloc(n), *proj = dalloc(n);
    ck_assert_int_eq(kreg_spectrum(K, n, NULL, 0, eig, NULL, &err), TG_OK);
    compare("eigenvalues (no projections)", eig, eig_ref, 1, n, NULL, NULL, TOL_KREG, &we);
    json_t *targets = member(kr, "targets");
    size_t nt = 0;
    for (size_t ti = 0; ti < json_array_size(targets); ti++) {
        json_t *t = json_array_get(targets, ti);
        const char *name = str(t, "name");
        size_t c = count(t, "c");
        double *Y = vec(t, "Y", n * c), *pred = dalloc(m * c);
        char label[128];
        json_t *rl = member(t, "ridge");
        for (size_t i = 0; i < json_array_size(rl); i++) {
            json_t *r = json_array_get(rl, i);
            double ridge = num(r, "ridge"), me = NAN;
            double *want = vec(r, "pred", m * c);
            ck_assert_int_eq(kreg_ridge(K, n, Kt, m, Y, c, ridge, pred, &me, &err), TG_OK);
            snprintf(label, sizeof label, "ridge %g, %s", ridge, name);
            compare(label, pred, want, m, c, NULL, NULL, TOL_KREG, &wr);
            free(want);
            nt++;
        }
        json_t *fl = member(t, "flow");
        for (size_t i = 0; i < json_array_size(fl); i++) {
            json_t *r = json_array_get(fl, i);
            double ridge = num(r, "ridge"), tt = num(r, "t");
            double *want = vec(r, "pred", m * c);
            ck_assert_int_eq(kreg_flow(K, n, Kt, m, Y, c, ridge, tt, pred, &err), TG_OK);
            snprintf(label, sizeof label, "flow t %g ridge %g, %s", tt, ridge, name);
            compare(label, pred, want, m, c, NULL, NULL, TOL_KREG, &wf);
            free(want);
            nt++;
        }
        double *pref = vec(t, "projections", n);
        ck_assert_int_eq(kreg_spectrum(K, n, Y, c, eig, proj, &err), TG_OK);
        snprintf(label, sizeof label, "eigenvalues, %s", name);
        compare(label, eig, eig_ref, 1, n, NULL, NULL, TOL_KREG, &we);
        /* projections relative to the norm of Y (a projection may be tiny) */
        double ynorm2 = 0;
        for (size_t i = 0; i < n * c; i++)
            ynorm2 += Y[i] * Y[i];
        double ep = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs(proj[i] - pref[i]) / ynorm2;
            ep = e > ep ? e : ep;
            sum += proj[i];
        }
        snprintf(label, sizeof label, "label projections, %s", name);
        note(&wp, normrel(proj, pref, n), ep, label);
        if (!(normrel(proj, pref, n) <= TOL_KREG && ep <= TOL_KREG))
            fail_note("%s: norm-wise %.3g, worst / ||Y||^2 %.3g", label,
                      normrel(proj, pref, n), ep);
        if (!(fabs(sum - ynorm2) <= 1e-12 * ynorm2))
            fail_note("%s: projections sum to %.17g, not ||Y||^2 = %.17g", label, sum, ynorm2);
        double cx = NAN, cref = num(t, "complexity");
        ck_assert_int_eq(kreg_complexity(K, n, Y, c, &cx, &err), TG_OK);
        snprintf(label, sizeof label, "complexity, %s", name);
        compare(label, &cx, &cref, 1, 1, NULL, NULL, TOL_KREG, &wcx);
        free(pref), free(Y), free(pred);
        nt += 2;
    }
    /* A singular PSD kernel: ridge 0 and the complexity fail with TG_ENUMERICAL and the
     * smallest eigenvalue; ridge > 0 works; the flow prediction is finite and right. */
    json_t *sg = member(kr, "singular");
    double *Ks = vec(sg, "K", n * n), *Kst = vec(sg, "Kt", m * n);
    double *fwant = vec(sg, "flow_pred", m * 3), *Y1 = vec(json_array_get(targets, 0), "Y", n * 3);
    double *pred = dalloc(m * 3), me = NAN, cx = NAN, scale = 0;
    int rc = kreg_ridge(Ks, n, Kst, m, Y1, 3, 0.0, pred, &me, &err);
    for (size_t i = 0; i < n; i++)
        scale = Ks[i * n + i] > scale ? Ks[i * n + i] : scale;
    ck_assert_msg(rc == TG_ENUMERICAL && fabs(me) <= 1e-12 * scale,
                  "singular kernel, ridge 0: rc %d, smallest eigenvalue %.3g (want ~0, "
                  "reference %.3g)", rc, me, num(sg, "min_eigenvalue"));
    ck_assert_int_eq(kreg_complexity(Ks, n, Y1, 3, &cx, &err), TG_ENUMERICAL);
    ck_assert_int_eq(kreg_ridge(Ks, n, Kst, m, Y1, 3, 1e-3, pred, &me, &err), TG_OK);
    ck_assert_int_eq(kreg_flow(Ks, n, Kst, m, Y1, 3, 0.0, num(sg, "t"), pred, &err), TG_OK);
    compare("flow t 10 on a singular kernel", pred, fwant, m, 3, NULL, NULL, TOL_KREG, &wf);
    nt += 4;
    /* 2 targets x (2 ridge + 3 flow + 2), + 4 on the singular kernel */
    ck_assert_uint_eq(nt, 18);
    printf("kreg: %zu comparisons (n %zu, m %zu)\n", nt, n, m);
    report("kreg ridge predictions", &wr, TOL_KREG);
    report("kreg gradient-flow predictions", &wf, TOL_KREG);
    report("kreg eigenvalues", &we, TOL_KREG);
    report("kreg label projections (entry: / ||Y||^2)", &wp, TOL_KREG);
    report("kreg complexity", &wcx, TOL_KREG);
    free(Ks), free(Kst), free(fwant), free(Y1), free(pred);
    free(K), free(Kt), free(eig_ref), free(eig), free(proj);
    json_decref(f);
    finish("kreg");
}
END_TEST

Suite *kreg_suite(void)
{
    Suite *s = suite_create("kreg");
    TCase *tc = tcase_create("kreg");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kreg);
    suite_add_tcase(s, tc);
    return s;
}
