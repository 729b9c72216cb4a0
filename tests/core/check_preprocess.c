/* check_preprocess.c: the data options (core/preprocess.c): the stratified and plain test
 * split, classes, binary, subsampling, standardize and unit_norm, and their errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/preprocess.h"
#include "../suite.h"
#include "data_ref.h"

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
    tg_gen_params p = gen_defaults();
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
    tg_gen_params p = gen_defaults();
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

Suite *preprocess_suite(void)
{
    return SUITE_TCASE(suite_create("preprocess"), "options", 60, split_stratified_and_plain,
                       options_classes_binary_subsample, options_errors,
                       standardize_and_unit_norm);
}
