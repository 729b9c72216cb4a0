/* check_rng.c: the random number generator and the portable functions tg_plog, tg_pexp,
 * tg_pexpm1, tg_plog1p, tg_ptanh, tg_perf, tg_perfc (core/rng.c). The oracle is libm for
 * the portable functions and the independent Python reimplementation
 * tests/reference/data_ref.py, whose output reference/data_fixtures.json is committed
 * (tests run from tests/). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "../suite.h"
#include "data_ref.h"

static uint64_t hex64(const json_t *v)
{
    return strtoull(json_string_value(v), NULL, 16);
}

static double rel_err(double a, double b)
{
    if (a == b)
        return 0.0;
    return fabs(a - b) / fabs(b);
}

START_TEST(rng_matches_reference)
{
    json_t *f = data_fixtures(), *r = json_object_get(f, "rng");
    const uint64_t seeds[] = {0, 1, 42, 9007199254740993ULL};
    tg_rng g;
    char key[64];
    for (size_t s = 0; s < 4; s++) {
        snprintf(key, sizeof key, "next_%llu", (unsigned long long)seeds[s]);
        json_t *a = json_object_get(r, key);
        ck_assert_ptr_nonnull(a);
        rng_seed(&g, seeds[s]);
        for (size_t i = 0; i < json_array_size(a); i++)
            ck_assert_uint_eq(rng_next(&g), hex64(json_array_get(a, i)));
    }
    json_t *a = json_object_get(r, "stream_7_3");
    rng_seed_stream(&g, 7, 3);
    for (size_t i = 0; i < json_array_size(a); i++)
        ck_assert_uint_eq(rng_next(&g), hex64(json_array_get(a, i)));
    a = json_object_get(r, "uniform_1");
    rng_seed(&g, 1);
    for (size_t i = 0; i < json_array_size(a); i++)
        expect_near(rng_uniform(&g), json_real_value(json_array_get(a, i)), 1, "uniform", i);
    json_t *b = json_object_get(r, "below_5");
    json_t *bn = json_object_get(b, "n"), *bv = json_object_get(b, "value");
    rng_seed(&g, 5);
    for (size_t i = 0; i < json_array_size(bn); i++)
        ck_assert_uint_eq(rng_below(&g, hex64(json_array_get(bn, i))),
                          hex64(json_array_get(bv, i)));
    a = json_object_get(r, "normal_3");
    rng_seed(&g, 3);
    for (size_t i = 0; i < json_array_size(a); i++)
        expect_near(rng_normal(&g), json_real_value(json_array_get(a, i)), 1, "normal", i);
    size_t perm[10];
    rng_seed(&g, 9);
    for (int round = 0; round < 2; round++) {
        a = json_object_get(r, round ? "perm_9_10_again" : "perm_9_10");
        rng_permutation(&g, perm, 10);
        for (size_t i = 0; i < 10; i++)
            ck_assert_uint_eq(perm[i], (size_t)json_integer_value(json_array_get(a, i)));
    }
    json_decref(f);
}
END_TEST

START_TEST(rng_below_and_uniform_ranges)
{
    tg_rng g;
    rng_seed(&g, 11);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(rng_below(&g, 1), 0);
    /* Counts of rng_below(6) over 60000 draws: each within 5 sigma of 10000. */
    size_t count[6] = {0};
    for (int i = 0; i < 60000; i++) {
        uint64_t v = rng_below(&g, 6);
        ck_assert_uint_lt(v, 6);
        count[v]++;
    }
    for (int k = 0; k < 6; k++)
        ck_assert_msg(count[k] > 9540 && count[k] < 10460, "count[%d] = %zu", k, count[k]);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&g), z = rng_normal(&g);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += z;
        sum2 += z * z;
    }
    ck_assert(fabs(sum / 100000) < 0.02);
    ck_assert(fabs(sum2 / 100000 - 1.0) < 0.03);
    /* Streams differ from each other and from the plain seed. */
    tg_rng a, b, c;
    rng_seed(&a, 5);
    rng_seed_stream(&b, 5, 0);
    rng_seed_stream(&c, 5, 1);
    uint64_t va = rng_next(&a), vb = rng_next(&b), vc = rng_next(&c);
    ck_assert(va != vb && vb != vc && va != vc);
}
END_TEST

START_TEST(portable_log_exp_vs_libm)
{
    tg_rng g;
    double worst_log = 0, worst_exp = 0;
    rng_seed(&g, 2024);
    for (int i = 0; i < 1000000; i++) {
        double u = rng_uniform(&g);
        double t = (u - 0.5) * 1400.0; /* exponents over most of the double range */
        double x = exp(t);
        double e = rel_err(tg_plog(x), log(x));
        if (e > worst_log)
            worst_log = e;
        if (t > -708.0 && t < 709.0) {
            e = rel_err(tg_pexp(t), exp(t));
            if (e > worst_exp)
                worst_exp = e;
        }
        x = 1.0 + (u - 0.5) * 1e-3; /* near 1, where log is small */
        if (x != 1.0 && (e = rel_err(tg_plog(x), log(x))) > worst_log)
            worst_log = e;
        t = (u - 0.5) * 1e-6;
        if ((e = rel_err(tg_pexp(t), exp(t))) > worst_exp)
            worst_exp = e;
    }
    ck_assert_msg(worst_log < 1e-15, "log: %g", worst_log);
    ck_assert_msg(worst_exp < 1e-15, "exp: %g", worst_exp);
    /* Subnormals, the extremes and special values. */
    ck_assert(rel_err(tg_plog(5e-324), log(5e-324)) < 1e-15);
    ck_assert(rel_err(tg_plog(1e-310), log(1e-310)) < 1e-15);
    ck_assert(rel_err(tg_plog(1.7976931348623157e308), log(1.7976931348623157e308)) < 1e-15);
    ck_assert(tg_plog(1.0) == 0.0);
    ck_assert(isinf(tg_plog(0.0)) && tg_plog(0.0) < 0);
    ck_assert(isnan(tg_plog(-1.0)));
    ck_assert(isnan(tg_plog(NAN)));
    ck_assert(isinf(tg_plog(INFINITY)));
    ck_assert(tg_pexp(0.0) == 1.0);
    ck_assert(isinf(tg_pexp(710.0)));
    ck_assert(tg_pexp(-746.0) == 0.0);
    ck_assert(rel_err(tg_pexp(709.78), exp(709.78)) < 1e-15);
    ck_assert(tg_pexp(-745.0) > 0.0);
    ck_assert(isnan(tg_pexp(NAN)));
    /* The committed values of the Python mirror of the same algorithms: bit for bit. */
    json_t *f = data_fixtures(), *r = json_object_get(f, "rng");
    json_t *a = json_object_get(r, "plog");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *p = json_array_get(a, i);
        expect_near(tg_plog(json_number_value(json_array_get(p, 0))),
                    json_number_value(json_array_get(p, 1)), 1, "plog", i);
    }
    a = json_object_get(r, "pexp");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *p = json_array_get(a, i);
        expect_near(tg_pexp(json_number_value(json_array_get(p, 0))),
                    json_number_value(json_array_get(p, 1)), 1, "pexp", i);
    }
    json_decref(f);
}
END_TEST

START_TEST(portable_functions_vs_libm)
{
    tg_rng g;
    double w[5] = {0};
    rng_seed(&g, 77);
    for (int i = 0; i < 300000; i++) {
        double u = rng_uniform(&g);
        double a = (u - 0.5) * 4.0, b = (u - 0.3) * 3.0, c = (u - 0.5) * 50.0;
        double e1 = (u - 0.5) * 14.0, e2 = (u - 0.3) * 40.0;
        double e[5] = {rel_err(tg_pexpm1(a), expm1(a)), rel_err(tg_plog1p(b), log1p(b)),
                       rel_err(tg_ptanh(c), tanh(c)), rel_err(tg_perf(e1), erf(e1)),
                       erfc(e2) > 1e-300 ? rel_err(tg_perfc(e2), erfc(e2)) : 0.0};
        for (int k = 0; k < 5; k++)
            if (e[k] > w[k])
                w[k] = e[k];
    }
    ck_assert_msg(w[0] < 1e-15, "expm1 %g", w[0]);
    ck_assert_msg(w[1] < 1e-15, "log1p %g", w[1]);
    ck_assert_msg(w[2] < 1e-15, "tanh %g", w[2]);
    ck_assert_msg(w[3] < 1e-14, "erf %g", w[3]);
    ck_assert_msg(w[4] < 1e-14, "erfc %g", w[4]);
    ck_assert(tg_pexpm1(1e-300) == 1e-300);
    ck_assert(tg_plog1p(-1.0) < 0 && isinf(tg_plog1p(-1.0)));
    ck_assert(tg_ptanh(30.0) == 1.0 && tg_ptanh(-30.0) == -1.0);
    ck_assert(tg_perf(7.0) == 1.0 && tg_perf(0.0) == 0.0);
    ck_assert(tg_perfc(30.0) == 0.0 && tg_perfc(-30.0) == 2.0);
}
END_TEST

Suite *rng_suite(void)
{
    return SUITE_TCASE(suite_create("rng"), "rng", 120, rng_matches_reference,
                       rng_below_and_uniform_ranges, portable_log_exp_vs_libm,
                       portable_functions_vs_libm);
}
