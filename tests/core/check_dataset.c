/* check_dataset.c: the random number generator and portable functions (core/rng.c), the
 * CSV parser (core/csv.c), and datasets, builtins, generators and options
 * (core/dataset.c). The oracle is libm for the portable functions and the independent
 * Python reimplementation tests/reference/data_ref.py, whose output
 * reference/data_fixtures.json is committed (tests run from tests/). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/dataset.h"
#include "core/generators.h"
#include "core/preprocess.h"
#include "core/rng.h"

#define FIXTURES "reference/data_fixtures.json"

static json_t *fixtures(void)
{
    json_error_t je;
    json_t *f = json_load_file(FIXTURES, 0, &je);
    ck_assert_msg(f != NULL, "cannot read %s: %s", FIXTURES, je.text);
    return f;
}

static uint64_t hex64(const json_t *v)
{
    return strtoull(json_string_value(v), NULL, 16);
}

/* Exact (bit-identical) or within 1e-12 (1 + |b|). */
static void expect_near(double a, double b, int exact, const char *what, size_t i)
{
    if (exact)
        ck_assert_msg(a == b, "%s[%zu]: %.17g != %.17g", what, i, a, b);
    else
        ck_assert_msg(fabs(a - b) <= 1e-12 * (1.0 + fabs(b)), "%s[%zu]: %.17g vs %.17g",
                      what, i, a, b);
}

static double rel_err(double a, double b)
{
    if (a == b)
        return 0.0;
    return fabs(a - b) / fabs(b);
}

/* ---- rng ---------------------------------------------------------------------------- */

START_TEST(rng_matches_reference)
{
    json_t *f = fixtures(), *r = json_object_get(f, "rng");
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
    json_t *f = fixtures(), *r = json_object_get(f, "rng");
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

/* ---- CSV ---------------------------------------------------------------------------- */

static const csv_limits big = {.max_rows = 1000, .max_cols = 100, .max_field_len = 100};

static csv_table *parse_ok(const char *s)
{
    csv_table *t = NULL;
    tg_err err;
    int rc = csv_parse(s, strlen(s), &big, &t, &err);
    ck_assert_msg(rc == TG_OK, "csv_parse: %s (%s)", err.msg, err.field);
    return t;
}

static void parse_fails(const char *s, size_t len, const csv_limits *lim, int code,
                        const char *field)
{
    csv_table *t = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = csv_parse(s, len, lim ? lim : &big, &t, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s)", s, rc, code, err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_ptr_null(t);
}

START_TEST(csv_quotes_crlf_and_blank_lines)
{
    csv_table *t = parse_ok("\xEF\xBB\xBF" "a,\"b,c\",d\r\n"
                            "1,\"x \"\"quoted\"\" y\",3\r\n"
                            "\r\n"
                            "\"multi\nline\",\"\",\"line\r\nbreak\"\n"
                            "\n"
                            "4,5,");
    ck_assert_uint_eq(t->n_cols, 3);
    ck_assert_uint_eq(t->n_rows, 3);
    ck_assert_str_eq(csv_header(t, 0), "a");
    ck_assert_str_eq(csv_header(t, 1), "b,c");
    ck_assert_str_eq(csv_cell(t, 0, 1), "x \"quoted\" y");
    ck_assert_str_eq(csv_cell(t, 1, 0), "multi\nline");
    ck_assert_str_eq(csv_cell(t, 1, 1), "");
    ck_assert_str_eq(csv_cell(t, 1, 2), "line\r\nbreak");
    ck_assert_str_eq(csv_cell(t, 2, 2), "");
    ck_assert_int_eq(csv_find_column(t, "d"), 2);
    ck_assert_int_eq(csv_find_column(t, "b"), -1);
    csv_free(t);
    t = parse_ok("x,y\n1,2\n");
    ck_assert_uint_eq(t->n_rows, 1);
    ck_assert_str_eq(csv_cell(t, 0, 1), "2");
    csv_free(t);
    t = parse_ok("only,header");
    ck_assert_uint_eq(t->n_rows, 0);
    ck_assert_uint_eq(t->n_cols, 2);
    csv_free(t);
    csv_free(NULL);
}
END_TEST

START_TEST(csv_errors)
{
    parse_fails("", 0, NULL, TG_EDATA, "header");
    parse_fails("\n\r\n", 3, NULL, TG_EDATA, "header");
    parse_fails("a,b\n1,\"2", 8, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b\n1,\"2\"x\n", 11, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b\n1,2\n3,4\"\n", 13, NULL, TG_EDATA, "row 2, column b");
    parse_fails("a,b\n1,2\n3\n", 10, NULL, TG_EDATA, "row 2");
    parse_fails("a,b\n1,2,3\n", 10, NULL, TG_EDATA, "row 1");
    parse_fails("a,b\n1\r2,3\n", 10, NULL, TG_EDATA, "row 1, column a");
    parse_fails("a,b\n1,2\0\n", 9, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b,a\n1,2,3\n", 12, NULL, TG_EDATA, "header");
    parse_fails("a,\"b\nc\n", 7, NULL, TG_EDATA, "header, column 2");
    const csv_limits small = {.max_rows = 2, .max_cols = 3, .max_field_len = 4};
    parse_fails("a,b\n1,2\n3,4\n5,6\n", 16, &small, TG_ETOOLARGE, "row 3");
    parse_fails("a,b,c,d\n", 8, &small, TG_ETOOLARGE, "header");
    parse_fails("a,b\n1,12345\n", 12, &small, TG_ETOOLARGE, "row 1, column b");
    parse_fails("a,b\n1,\"12345\"\n", 14, &small, TG_ETOOLARGE, "row 1, column b");
    csv_table *t = NULL;
    tg_err err;
    ck_assert_int_eq(csv_parse("a,b\n1,2\n3,4\n", 12, &small, &t, &err), TG_OK);
    ck_assert_str_eq(csv_cell(t, 1, 0), "3");
    csv_free(t);
}
END_TEST

START_TEST(csv_number_syntax)
{
    double v;
    long long i;
    const char *good[] = {"1", " 1.5 ", "-2e3", ".5", "5.", "+7", "1E-2", "\t3\t", "0.1"};
    const double want[] = {1, 1.5, -2000, 0.5, 5, 7, 0.01, 3, 0.1};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        ck_assert_msg(csv_to_double(good[k], &v) == 0, "%s", good[k]);
        ck_assert_double_eq(v, want[k]);
    }
    const char *bad[] = {"", " ", "nan", "inf", "-Infinity", "0x10", "1e", "1.2.3", "--1",
                         "1,5", "abc", ".", "e5", "1 2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_msg(csv_to_double(bad[k], &v) == -1, "%s", bad[k]);
    ck_assert_int_eq(csv_to_double("1e400", &v), -2);
    ck_assert_int_eq(csv_to_double("-1e400", &v), -2);
    ck_assert_int_eq(csv_to_int(" -42 ", &i), 0);
    ck_assert_int_eq(i, -42);
    ck_assert_int_eq(csv_to_int("3.0", &i), -1);
    ck_assert_int_eq(csv_to_int("99999999999999999999", &i), -1);
    ck_assert_int_eq(csv_to_int("", &i), -1);
    ck_assert_int_eq(csv_to_int("+", &i), -1);
}
END_TEST

/* ---- datasets from tables ----------------------------------------------------------- */

static tg_dataset *from_csv(const char *s, size_t target, int task, int want_rc,
                            const char *field)
{
    csv_table *t = parse_ok(s);
    tg_dataset *ds = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = dataset_from_csv(t, target, task, &ds, &err);
    csv_free(t);
    ck_assert_msg(rc == want_rc, "rc %d want %d: %s", rc, want_rc, err.msg);
    if (field)
        ck_assert_str_eq(err.field, field);
    return ds;
}

START_TEST(dataset_from_csv_labels)
{
    /* String labels: classes sorted by byte order ("B" < "a"). */
    tg_dataset *ds = from_csv("f1,f2,label\n1,2,b\n3,4,B\n5,6,a\n7,8,b\n", 2, 0, TG_OK, NULL);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_uint_eq(ds->classes.n, 3);
    ck_assert(ds->classes.is_string);
    ck_assert_str_eq(ds->classes.strs[0], "B");
    ck_assert_str_eq(ds->classes.strs[1], "a");
    ck_assert_str_eq(ds->classes.strs[2], "b");
    ck_assert_double_eq(ds->y[0], 2);
    ck_assert_double_eq(ds->y[1], 0);
    ck_assert_double_eq(ds->y[2], 1);
    ck_assert_double_eq(ds->x[6], 7);
    dataset_free(ds);
    /* Target in the middle; integers -> classification; reals -> regression. */
    ds = from_csv("a,t,b\n1,10,2\n3,-5,4\n", 1, 0, TG_OK, NULL);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_int_eq(ds->classes.ints[0], -5);
    ck_assert_double_eq(ds->x[2], 3);
    ck_assert_double_eq(ds->x[3], 4);
    dataset_free(ds);
    ds = from_csv("a,t\n1,10\n3,2.5\n", 1, 0, TG_OK, NULL);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    ck_assert_double_eq(ds->y[1], 2.5);
    dataset_free(ds);
    ds = from_csv("a,t\n1,1.0\n3,2\n", 1, TG_TASK_CLASSIFICATION, TG_OK, NULL);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_int_eq(ds->classes.ints[0], 1);
    dataset_free(ds);
    ds = from_csv("a,t\n1,1\n3,2\n", 1, TG_TASK_REGRESSION, TG_OK, NULL);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    dataset_free(ds);
    /* Errors name the row and the column. */
    from_csv("a,t\n1,1\n3,x\n", 1, 0, TG_EDATA, "row 2, column t");
    from_csv("a,t\n1,x\n3,1\n", 1, 0, TG_EDATA, "row 2, column t");
    from_csv("a,t\n1,1\nq,2\n", 1, 0, TG_EDATA, "row 2, column a");
    from_csv("a,t\n1,1\n1e999,2\n", 1, 0, TG_EDATA, "row 2, column a");
    from_csv("a,t\n1,1\n,2\n", 1, 0, TG_EDATA, "row 2, column a");
    from_csv("a,t\n1,\n", 1, 0, TG_EDATA, "row 1, column t");
    from_csv("a,t\n1,1.5\n", 1, TG_TASK_CLASSIFICATION, TG_EDATA, "row 1, column t");
    from_csv("a,t\n1,1e300\n", 1, TG_TASK_CLASSIFICATION, TG_EDATA, "row 1, column t");
    from_csv("a,t\n1,x\n", 1, TG_TASK_REGRESSION, TG_EDATA, "row 1, column t");
    from_csv("t\n1\n", 0, 0, TG_EDATA, "header");
    from_csv("a,t\n", 1, 0, TG_EDATA, "row 1");
}
END_TEST

START_TEST(labels_union_over_splits)
{
    tg_dataset *ds = dataset_new();
    tg_err err;
    const char *tr[] = {"dog", "cat", "dog"}, *te[] = {"emu", "cat"};
    ds->n_train = 3;
    ds->n_test = 2;
    ck_assert_int_eq(dataset_labels_str(ds, tr, te, &err), TG_OK);
    ck_assert_uint_eq(ds->classes.n, 3); /* "emu" appears only in the test split */
    ck_assert_str_eq(ds->classes.strs[2], "emu");
    ck_assert_double_eq(ds->y_test[0], 2);
    ck_assert_double_eq(ds->y[1], 0);
    ck_assert_int_eq(dataset_class_index_str(&ds->classes, "dog"), 1);
    ck_assert_int_eq(dataset_class_index_str(&ds->classes, "cow"), -1);
    ck_assert_int_eq(dataset_class_index_int(&ds->classes, 1), -1);
    long long a[] = {7, -1, 7}, b[] = {3};
    ds->n_test = 1;
    ck_assert_int_eq(dataset_labels_int(ds, a, b, &err), TG_OK); /* replaces the classes */
    ck_assert(!ds->classes.is_string);
    ck_assert_uint_eq(ds->classes.n, 3);
    ck_assert_int_eq(ds->classes.ints[0], -1);
    ck_assert_int_eq(ds->classes.ints[2], 7);
    ck_assert_double_eq(ds->y_test[0], 1);
    dataset_free(ds);
}
END_TEST

/* ---- builtins ----------------------------------------------------------------------- */

START_TEST(builtins_shapes_and_values)
{
    static const struct {
        const char *name;
        size_t n, d, k;
    } want[] = {{"iris", 150, 4, 3}, {"wine", 178, 13, 3}, {"breast_cancer", 569, 30, 2},
                {"digits", 1797, 64, 10}};
    json_t *f = fixtures(), *b = json_object_get(f, "builtins");
    for (size_t w = 0; w < 4; w++) {
        tg_dataset *ds;
        tg_err err;
        ck_assert_int_eq(dataset_builtin_kind(want[w].name), 1);
        ck_assert_int_eq(dataset_builtin_load(want[w].name, &ds, &err), TG_OK);
        ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
        ck_assert_uint_eq(ds->n_train, want[w].n);
        ck_assert_uint_eq(ds->d, want[w].d);
        ck_assert_uint_eq(ds->classes.n, want[w].k);
        ck_assert_uint_eq(ds->n_test, 0);
        ck_assert_int_eq(dataset_check(ds, &err), TG_OK);
        json_t *r = json_object_get(b, want[w].name);
        json_t *counts = json_object_get(r, "class_counts");
        for (size_t k = 0; k < want[w].k; k++) {
            size_t c = 0;
            for (size_t i = 0; i < ds->n_train; i++)
                c += ds->y[i] == (double)k;
            ck_assert_uint_eq(c, (size_t)json_integer_value(json_array_get(counts, k)));
            ck_assert_int_eq(ds->classes.ints[k],
                             json_integer_value(json_array_get(json_object_get(r, "classes"),
                                                               k)));
        }
        json_t *first = json_object_get(r, "first"), *last = json_object_get(r, "last");
        json_t *sums = json_object_get(r, "x_col_sum");
        for (size_t j = 0; j < ds->d; j++) {
            double s = 0;
            for (size_t i = 0; i < ds->n_train; i++)
                s += ds->x[i * ds->d + j];
            expect_near(ds->x[j], json_number_value(json_array_get(first, j)), 1, "first", j);
            expect_near(ds->x[(ds->n_train - 1) * ds->d + j],
                        json_number_value(json_array_get(last, j)), 1, "last", j);
            ck_assert(fabs(s - json_number_value(json_array_get(sums, j))) <=
                      1e-12 * (1 + fabs(s)));
        }
        ck_assert_double_eq(ds->y[ds->n_train - 1],
                            json_number_value(json_object_get(r, "label_last")));
        dataset_free(ds);
    }
    json_decref(f);
    tg_dataset *ds = NULL;
    tg_err err;
    ck_assert_int_eq(dataset_builtin_load("mnist", &ds, &err), TG_ENOTFOUND);
    ck_assert_int_eq(dataset_builtin_load("two_moons", &ds, &err), TG_ENOTFOUND);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(dataset_builtin_kind("two_moons"), 2);
    ck_assert_int_eq(dataset_builtin_kind("sphere"), 2);
    ck_assert_int_eq(dataset_builtin_kind("mnist"), 0);
}
END_TEST

/* ---- generators --------------------------------------------------------------------- */

static tg_gen_params defaults(void)
{
    tg_gen_params p = {.n = 1000, .seed = 0, .noise = 0.1, .d = 10, .centers = 3,
                       .spread = 1.0, .width = 64, .activation = "relu"};
    return p;
}

/* The fixture cases that are a plain generator run (no split, no option). */
START_TEST(generators_match_reference)
{
    json_t *f = fixtures(), *cases = json_object_get(f, "cases");
    int seen = 0;
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c), *data = json_object_get(cs, "data");
        const char *name = json_string_value(json_object_get(data, "builtin"));
        json_t *tf = json_object_get(data, "test_fraction");
        static const char *const opts[] = {"classes", "binary", "split_seed", "max_train",
                                           "max_test", "standardize", "unit_norm"};
        int plain = name && dataset_builtin_kind(name) == 2 && tf &&
                    json_number_value(tf) == 0 && json_object_get(cs, "x");
        for (size_t k = 0; plain && k < sizeof opts / sizeof opts[0]; k++)
            plain = !json_object_get(data, opts[k]);
        if (!plain)
            continue;
        tg_gen_params p = defaults();
        if (strcmp(name, "teacher") == 0)
            p.noise = 0.0;
        json_t *v;
        if ((v = json_object_get(data, "n")))
            p.n = (size_t)json_integer_value(v);
        if ((v = json_object_get(data, "seed")))
            p.seed = (uint64_t)json_integer_value(v);
        if ((v = json_object_get(data, "noise")))
            p.noise = json_number_value(v);
        if ((v = json_object_get(data, "d")))
            p.d = (size_t)json_integer_value(v);
        if ((v = json_object_get(data, "centers")))
            p.centers = (size_t)json_integer_value(v);
        if ((v = json_object_get(data, "spread")))
            p.spread = json_number_value(v);
        if ((v = json_object_get(data, "width")))
            p.width = (size_t)json_integer_value(v);
        if ((v = json_object_get(data, "activation")))
            p.activation = json_string_value(v);
        tg_dataset *ds;
        tg_err err;
        ck_assert_int_eq(dataset_generate(name, &p, &ds, &err), TG_OK);
        int exact = json_is_true(json_object_get(cs, "exact"));
        json_t *x = json_object_get(cs, "x"), *y = json_object_get(cs, "y");
        ck_assert_uint_eq(ds->n_train, json_array_size(x));
        ck_assert_uint_eq(ds->d, (size_t)json_integer_value(json_object_get(cs, "d")));
        for (size_t i = 0; i < ds->n_train; i++) {
            for (size_t j = 0; j < ds->d; j++)
                expect_near(ds->x[i * ds->d + j],
                            json_number_value(json_array_get(json_array_get(x, i), j)), exact,
                            name, i);
            expect_near(ds->y[i], json_number_value(json_array_get(json_array_get(y, i), 0)),
                        exact, name, i);
        }
        dataset_free(ds);
        seen++;
    }
    ck_assert_int_ge(seen, 15); /* every generator, every teacher activation */
    json_decref(f);
}
END_TEST

START_TEST(generators_properties)
{
    tg_gen_params p = defaults();
    tg_dataset *ds, *ds2;
    tg_err err;
    /* two_moons without noise: class 0 on the upper unit half circle, class 1 on the
     * lower half circle centred at (1, 1/2); classes alternate. */
    p.noise = 0.0;
    p.n = 500;
    ck_assert_int_eq(dataset_generate("two_moons", &p, &ds, &err), TG_OK);
    for (size_t i = 0; i < ds->n_train; i++) {
        double u = ds->x[2 * i], v = ds->x[2 * i + 1];
        ck_assert_double_eq(ds->y[i], (double)(i % 2));
        if (i % 2 == 0) {
            ck_assert(fabs(u * u + v * v - 1.0) < 1e-14 && v >= 0);
        } else {
            ck_assert(fabs((1 - u) * (1 - u) + (0.5 - v) * (0.5 - v) - 1.0) < 1e-14);
            ck_assert(v <= 0.5);
        }
    }
    dataset_free(ds);
    /* xor without noise: the label is the sign disagreement of the coordinates. */
    ck_assert_int_eq(dataset_generate("xor", &p, &ds, &err), TG_OK);
    for (size_t i = 0; i < ds->n_train; i++) {
        double u = ds->x[2 * i], v = ds->x[2 * i + 1];
        ck_assert(fabs(u) <= 1 && fabs(v) <= 1);
        ck_assert_double_eq(ds->y[i], u * v < 0 ? 1.0 : 0.0);
    }
    dataset_free(ds);
    /* blobs with spread 0: every point of a class is its center, inside [-5, 5]^d. */
    p.spread = 0.0;
    p.centers = 4;
    p.d = 3;
    ck_assert_int_eq(dataset_generate("blobs", &p, &ds, &err), TG_OK);
    ck_assert_uint_eq(ds->classes.n, 4);
    for (size_t i = 4; i < ds->n_train; i++) {
        ck_assert_double_eq(ds->y[i], (double)(i % 4));
        for (size_t j = 0; j < 3; j++) {
            ck_assert_double_eq(ds->x[i * 3 + j], ds->x[(i % 4) * 3 + j]);
            ck_assert(fabs(ds->x[i * 3 + j]) <= 5.0);
        }
    }
    dataset_free(ds);
    /* sphere: unit inputs; regression. */
    p.d = 5;
    p.width = 7;
    ck_assert_int_eq(dataset_generate("sphere", &p, &ds, &err), TG_OK);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    ck_assert_uint_eq(ds->classes.n, 0);
    for (size_t i = 0; i < ds->n_train; i++) {
        double s = 0;
        for (size_t j = 0; j < 5; j++)
            s += ds->x[i * 5 + j] * ds->x[i * 5 + j];
        ck_assert(fabs(s - 1.0) < 1e-14);
    }
    dataset_free(ds);
    /* linear without noise: y is exactly linear, so y(x1 + x2)... check via 3 points
     * spanning d = 1: y_i / x_i is the same w for all i. */
    p.d = 1;
    ck_assert_int_eq(dataset_generate("linear", &p, &ds, &err), TG_OK);
    for (size_t i = 1; i < ds->n_train; i++)
        ck_assert(fabs(ds->y[i] / ds->x[i] - ds->y[0] / ds->x[0]) < 1e-12);
    dataset_free(ds);
    /* Determinism: same parameters, same bytes; another seed, other data. */
    p = defaults();
    ck_assert_int_eq(dataset_generate("teacher", &p, &ds, &err), TG_OK);
    ck_assert_int_eq(dataset_generate("teacher", &p, &ds2, &err), TG_OK);
    ck_assert(memcmp(ds->x, ds2->x, ds->n_train * ds->d * sizeof(double)) == 0);
    ck_assert(memcmp(ds->y, ds2->y, ds->n_train * sizeof(double)) == 0);
    dataset_free(ds2);
    p.seed = 1;
    ck_assert_int_eq(dataset_generate("teacher", &p, &ds2, &err), TG_OK);
    ck_assert(memcmp(ds->x, ds2->x, ds->n_train * ds->d * sizeof(double)) != 0);
    dataset_free(ds);
    dataset_free(ds2);
    /* The shell has the metadata only. */
    p = defaults();
    p.centers = 5;
    ck_assert_int_eq(dataset_generate_shell("blobs", &p, &ds, &err), TG_OK);
    ck_assert_ptr_null(ds->x);
    ck_assert_uint_eq(ds->classes.n, 5);
    ck_assert_uint_eq(ds->n_train, 1000);
    ck_assert_uint_eq(ds->d, 10);
    dataset_free(ds);
}
END_TEST

static void gen_fails(const char *name, tg_gen_params p, int code, const char *field)
{
    tg_dataset *ds = NULL;
    tg_err err;
    tg_err_clear(&err);
    ck_assert_int_eq(dataset_generate(name, &p, &ds, &err), code);
    ck_assert_ptr_null(ds);
    ck_assert_str_eq(err.field, field);
}

START_TEST(generator_errors)
{
    tg_gen_params p = defaults();
    p.n = 0;
    gen_fails("two_moons", p, TG_EINVAL, "n");
    p.n = DATASET_GEN_MAX_N + 1;
    gen_fails("xor", p, TG_ETOOLARGE, "n");
    p = defaults();
    p.noise = -1;
    gen_fails("linear", p, TG_EINVAL, "noise");
    p = defaults();
    p.d = 0;
    gen_fails("blobs", p, TG_EINVAL, "d");
    p.d = DATASET_GEN_MAX_D + 1;
    gen_fails("sphere", p, TG_ETOOLARGE, "d");
    p = defaults();
    p.n = 1000000;
    p.d = 100;
    gen_fails("linear", p, TG_ETOOLARGE, "n");
    p = defaults();
    p.centers = 0;
    gen_fails("blobs", p, TG_EINVAL, "centers");
    p = defaults();
    p.spread = -0.5;
    gen_fails("blobs", p, TG_EINVAL, "spread");
    p = defaults();
    p.width = DATASET_GEN_MAX_WIDTH + 1;
    gen_fails("teacher", p, TG_ETOOLARGE, "width");
    p = defaults();
    p.n = 1000000;
    p.d = 1;
    p.width = 1000;
    gen_fails("teacher", p, TG_ETOOLARGE, "n");
    p = defaults();
    p.activation = "swish";
    gen_fails("teacher", p, TG_EINVAL, "activation");
    p = defaults();
    gen_fails("spiral", p, TG_ENOTFOUND, "name");
}
END_TEST

/* ---- options ------------------------------------------------------------------------ */

static tg_dataset *iris(void)
{
    tg_dataset *ds;
    tg_err err;
    ck_assert_int_eq(dataset_builtin_load("iris", &ds, &err), TG_OK);
    return ds;
}

static size_t count_class(const double *y, size_t n, double c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += y[i] == c;
    return k;
}

/* Whether every row of part (n x d) is a row of src, in increasing order of position. */
static int rows_in_order(const double *part, size_t n, const double *src, size_t m, size_t d)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        while (at < m && memcmp(part + i * d, src + at * d, d * sizeof(double)) != 0)
            at++;
        if (at == m)
            return 0;
        at++;
    }
    return 1;
}

START_TEST(split_stratified_and_plain)
{
    tg_dataset *ds = iris(), *orig = dataset_clone(ds);
    tg_err err;
    ck_assert_ptr_nonnull(orig);
    ck_assert_int_eq(dataset_split(ds, 0.3, 5, &err), TG_OK);
    ck_assert_uint_eq(ds->n_test, 45); /* round(0.3 * 50) = 15 per class */
    ck_assert_uint_eq(ds->n_train, 105);
    for (int c = 0; c < 3; c++) {
        ck_assert_uint_eq(count_class(ds->y_test, ds->n_test, c), 15);
        ck_assert_uint_eq(count_class(ds->y, ds->n_train, c), 35);
    }
    ck_assert(rows_in_order(ds->x, ds->n_train, orig->x, 150, 4));
    ck_assert(rows_in_order(ds->x_test, ds->n_test, orig->x, 150, 4));
    /* An existing test split is never split again. */
    ck_assert_int_eq(dataset_split(ds, 0.1, 5, &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "test_fraction");
    /* Another seed, another choice; the same seed, the same one. */
    tg_dataset *a = dataset_clone(orig), *b = dataset_clone(orig);
    ck_assert_int_eq(dataset_split(a, 0.3, 6, &err), TG_OK);
    ck_assert_int_eq(dataset_split(b, 0.3, 5, &err), TG_OK);
    ck_assert(memcmp(a->x_test, ds->x_test, 45 * 4 * sizeof(double)) != 0);
    ck_assert(memcmp(b->x_test, ds->x_test, 45 * 4 * sizeof(double)) == 0);
    dataset_free(a);
    dataset_free(b);
    /* Half-up rounding per class: 0.25 * 50 = 12.5 -> 13. */
    a = dataset_clone(orig);
    ck_assert_int_eq(dataset_split(a, 0.25, 0, &err), TG_OK);
    ck_assert_uint_eq(a->n_test, 39);
    dataset_free(a);
    a = dataset_clone(orig);
    ck_assert_int_eq(dataset_split(a, 0.0, 0, &err), TG_OK);
    ck_assert_uint_eq(a->n_test, 0);
    ck_assert_int_eq(dataset_split(a, 1.0, 0, &err), TG_EINVAL);
    ck_assert_int_eq(dataset_split(a, -0.1, 0, &err), TG_EINVAL);
    dataset_free(a);
    /* Regression: round(f n) points. */
    tg_gen_params p = defaults();
    p.n = 101;
    ck_assert_int_eq(dataset_generate("linear", &p, &a, &err), TG_OK);
    ck_assert_int_eq(dataset_split(a, 0.2, 3, &err), TG_OK);
    ck_assert_uint_eq(a->n_test, 20);
    ck_assert_uint_eq(a->n_train, 81);
    dataset_free(a);
    /* A single point per class with f = 0.5 goes to the test split; no training left. */
    a = dataset_new();
    long long lab[] = {0, 1};
    a->n_train = 2;
    a->d = 1;
    a->x = calloc(2, sizeof(double));
    ck_assert_int_eq(dataset_labels_int(a, lab, NULL, &err), TG_OK);
    ck_assert_int_eq(dataset_split(a, 0.5, 0, &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "test_fraction");
    dataset_free(a);
    dataset_free(ds);
    dataset_free(orig);
}
END_TEST

START_TEST(options_classes_binary_subsample)
{
    tg_dataset *ds = iris(), *orig = dataset_clone(ds);
    tg_err err;
    long long keep[] = {2, 0}, pos[] = {2};
    tg_data_options o = {0};
    o.has_classes = 1;
    o.classes.n = 2;
    o.classes.ints = keep;
    ck_assert_int_eq(dataset_apply_options(ds, &o, NULL, &err), TG_OK);
    ck_assert_uint_eq(ds->n_train, 100);
    ck_assert_uint_eq(ds->classes.n, 2);
    ck_assert_int_eq(ds->classes.ints[0], 2); /* in the given order */
    ck_assert_int_eq(ds->classes.ints[1], 0);
    ck_assert_double_eq(ds->y[0], 1);  /* iris row 0 is class 0 -> index 1 */
    ck_assert_double_eq(ds->y[99], 0); /* the last row is class 2 -> index 0 */
    ck_assert(rows_in_order(ds->x, 100, orig->x, 150, 4));
    dataset_free(ds);
    /* classes then binary: positives refer to original labels. */
    ds = dataset_clone(orig);
    o.has_binary = 1;
    o.binary_positive.n = 1;
    o.binary_positive.ints = pos;
    ck_assert_int_eq(dataset_apply_options(ds, &o, NULL, &err), TG_OK);
    ck_assert_uint_eq(ds->classes.n, 2);
    ck_assert_int_eq(ds->classes.ints[1], 1);
    ck_assert_uint_eq(count_class(ds->y, ds->n_train, 1), 50);
    ck_assert_double_eq(ds->y[99], 1);
    dataset_free(ds);
    /* Subsample: max_train rows, kept in order; deterministic. */
    tg_data_options s = {0};
    s.max_train = 17;
    s.subset_seed = 4;
    tg_dataset *a = dataset_clone(orig), *b = dataset_clone(orig);
    ck_assert_int_eq(dataset_apply_options(a, &s, NULL, &err), TG_OK);
    ck_assert_int_eq(dataset_apply_options(b, &s, NULL, &err), TG_OK);
    ck_assert_uint_eq(a->n_train, 17);
    ck_assert(rows_in_order(a->x, 17, orig->x, 150, 4));
    ck_assert(memcmp(a->x, b->x, 17 * 4 * sizeof(double)) == 0);
    ck_assert(memcmp(a->y, b->y, 17 * sizeof(double)) == 0);
    dataset_free(a);
    dataset_free(b);
    /* A limit above the size changes nothing. */
    s.max_train = 1000;
    a = dataset_clone(orig);
    ck_assert_int_eq(dataset_apply_options(a, &s, NULL, &err), TG_OK);
    ck_assert_uint_eq(a->n_train, 150);
    dataset_free(a);
    dataset_free(orig);
}
END_TEST

static void options_fail(tg_dataset *ds, const tg_data_options *o, int code, const char *field)
{
    tg_err err;
    tg_err_clear(&err);
    ck_assert_int_eq(dataset_apply_options(ds, o, NULL, &err), code);
    ck_assert_str_eq(err.field, field);
}

START_TEST(options_errors)
{
    tg_dataset *ds = iris();
    long long bad[] = {0, 5}, dup[] = {1, 1}, pos[] = {1}, keep[] = {0, 2};
    char *strs[] = {"setosa"};
    tg_data_options o = {0};
    o.has_classes = 1;
    o.classes.n = 2;
    o.classes.ints = bad;
    options_fail(ds, &o, TG_EINVAL, "classes[1]");
    o.classes.ints = dup;
    options_fail(ds, &o, TG_EINVAL, "classes[1]");
    o.classes.n = 0;
    options_fail(ds, &o, TG_EINVAL, "classes");
    o.classes.n = 1;
    o.classes.ints = NULL;
    o.classes.strs = strs;
    options_fail(ds, &o, TG_EINVAL, "classes[0]");
    /* A positive label removed by `classes`. */
    o.classes.strs = NULL;
    o.classes.ints = keep;
    o.classes.n = 2;
    o.has_binary = 1;
    o.binary_positive.n = 1;
    o.binary_positive.ints = pos;
    options_fail(ds, &o, TG_EINVAL, "binary_positive[0]");
    memset(&o, 0, sizeof o);
    o.test_fraction = 1.0;
    options_fail(ds, &o, TG_EINVAL, "test_fraction");
    ck_assert_uint_eq(ds->n_train, 150); /* nothing applied */
    /* test_fraction given explicitly when there is a test split already. */
    ck_assert_int_eq(dataset_split(ds, 0.2, 0, NULL), TG_OK);
    o.test_fraction = 0.2;
    o.has_test_fraction = 1;
    options_fail(ds, &o, TG_EINVAL, "test_fraction");
    o.has_test_fraction = 0; /* the default is then ignored */
    ck_assert_int_eq(dataset_apply_options(ds, &o, NULL, NULL), TG_OK);
    ck_assert_uint_eq(ds->n_test, 30);
    dataset_free(ds);
    /* Classification options on regression data. */
    tg_gen_params p = defaults();
    p.n = 20;
    ck_assert_int_eq(dataset_generate("linear", &p, &ds, NULL), TG_OK);
    memset(&o, 0, sizeof o);
    o.has_binary = 1;
    o.binary_positive.n = 1;
    o.binary_positive.ints = pos;
    options_fail(ds, &o, TG_EINVAL, "binary_positive");
    o.has_binary = 0;
    o.has_classes = 1;
    o.classes.n = 1;
    o.classes.ints = pos;
    options_fail(ds, &o, TG_EINVAL, "classes");
    dataset_free(ds);
    /* `classes` keeping only a class that has no training point. */
    ds = dataset_new();
    long long tr[] = {0, 0}, te[] = {1};
    ds->n_train = 2;
    ds->n_test = 1;
    ds->d = 1;
    ds->x = calloc(2, sizeof(double));
    ds->x_test = calloc(1, sizeof(double));
    ck_assert_int_eq(dataset_labels_int(ds, tr, te, NULL), TG_OK);
    memset(&o, 0, sizeof o);
    o.has_classes = 1;
    o.classes.n = 1;
    o.classes.ints = pos;
    options_fail(ds, &o, TG_EINVAL, "classes");
    dataset_free(ds);
}
END_TEST

START_TEST(standardize_and_unit_norm)
{
    tg_dataset *ds = iris();
    tg_err err;
    tg_standardize_stats st;
    /* A constant feature and a zero row after standardizing are kept as documented. */
    for (size_t i = 0; i < ds->n_train; i++)
        ds->x[i * 4 + 2] = 3.25;
    tg_data_options o = {0};
    o.test_fraction = 0.2;
    o.standardize = 1;
    ck_assert_int_eq(dataset_apply_options(ds, &o, &st, &err), TG_OK);
    ck_assert_uint_eq(st.d, 4);
    ck_assert_double_eq(st.mean[2], 3.25);
    ck_assert_double_eq(st.std[2], 0.0);
    for (size_t j = 0; j < 4; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < ds->n_train; i++)
            m += ds->x[i * 4 + j];
        m /= (double)ds->n_train;
        for (size_t i = 0; i < ds->n_train; i++)
            v += (ds->x[i * 4 + j] - m) * (ds->x[i * 4 + j] - m);
        v /= (double)ds->n_train;
        ck_assert(fabs(m) < 1e-12);
        if (j == 2) {
            ck_assert_double_eq(v, 0.0);
            ck_assert_double_eq(ds->x[j], 0.0);
            ck_assert_double_eq(ds->x_test[j], 0.0);
        } else {
            ck_assert(fabs(v - 1.0) < 1e-12);
            ck_assert(st.std[j] > 0);
        }
    }
    standardize_stats_deinit(&st);
    dataset_free(ds);
    /* unit_norm: every row of both parts has norm 1; a zero row stays zero; huge and tiny
     * values neither overflow nor underflow. */
    ds = iris();
    ck_assert_int_eq(dataset_split(ds, 0.2, 1, &err), TG_OK);
    for (size_t j = 0; j < 4; j++) {
        ds->x[j] = 0.0;
        ds->x[4 + j] = 1e300;
        ds->x[8 + j] = 1e-300;
    }
    memset(&o, 0, sizeof o);
    o.unit_norm = 1;
    ck_assert_int_eq(dataset_apply_options(ds, &o, &st, &err), TG_OK);
    ck_assert_ptr_null(st.mean);
    for (int part = 0; part < 2; part++) {
        const double *x = part ? ds->x_test : ds->x;
        size_t n = part ? ds->n_test : ds->n_train;
        for (size_t i = part ? 0 : 1; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < 4; j++)
                s += x[i * 4 + j] * x[i * 4 + j];
            ck_assert_msg(fabs(s - 1.0) < 1e-14, "row %zu: %g", i, s);
        }
    }
    for (size_t j = 0; j < 4; j++) {
        ck_assert_double_eq(ds->x[j], 0.0);
        ck_assert_double_eq(ds->x[4 + j], 0.5);
        ck_assert_double_eq(ds->x[8 + j], 0.5);
    }
    dataset_free(ds);
}
END_TEST

START_TEST(clone_and_check)
{
    tg_dataset *ds = iris(), *c;
    tg_err err;
    ck_assert_int_eq(dataset_split(ds, 0.2, 0, &err), TG_OK);
    c = dataset_clone(ds);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->n_test, ds->n_test);
    ck_assert(memcmp(c->x_test, ds->x_test, ds->n_test * 4 * sizeof(double)) == 0);
    ck_assert(c->classes.ints != ds->classes.ints);
    ck_assert_int_eq(c->classes.ints[2], 2);
    c->x_test[5] = NAN;
    ck_assert_int_eq(dataset_check(c, &err), TG_EDATA);
    ck_assert_str_eq(err.field, "x_test[1][1]");
    c->x_test[5] = 0;
    c->y[3] = 3;
    ck_assert_int_eq(dataset_check(c, &err), TG_EDATA);
    ck_assert_str_eq(err.field, "y[3]");
    c->y[3] = 0.5;
    ck_assert_int_eq(dataset_check(c, &err), TG_EDATA);
    c->y[3] = 1;
    ck_assert_int_eq(dataset_check(c, &err), TG_OK);
    dataset_free(c);
    dataset_free(ds);
    dataset_free(NULL);
    ds = dataset_new();
    ck_assert_int_eq(dataset_check(ds, &err), TG_EDATA);
    dataset_free(ds);
}
END_TEST

Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *t = tcase_create("rng");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, rng_matches_reference);
    tcase_add_test(t, rng_below_and_uniform_ranges);
    tcase_add_test(t, portable_log_exp_vs_libm);
    tcase_add_test(t, portable_functions_vs_libm);
    suite_add_tcase(s, t);
    t = tcase_create("csv");
    tcase_add_test(t, csv_quotes_crlf_and_blank_lines);
    tcase_add_test(t, csv_errors);
    tcase_add_test(t, csv_number_syntax);
    tcase_add_test(t, dataset_from_csv_labels);
    tcase_add_test(t, labels_union_over_splits);
    suite_add_tcase(s, t);
    t = tcase_create("datasets");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, builtins_shapes_and_values);
    tcase_add_test(t, generators_match_reference);
    tcase_add_test(t, generators_properties);
    tcase_add_test(t, generator_errors);
    tcase_add_test(t, split_stratified_and_plain);
    tcase_add_test(t, options_classes_binary_subsample);
    tcase_add_test(t, options_errors);
    tcase_add_test(t, standardize_and_unit_norm);
    tcase_add_test(t, clone_and_check);
    suite_add_tcase(s, t);
    return s;
}
