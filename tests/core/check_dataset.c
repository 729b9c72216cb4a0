/* check_dataset.c: datasets (core/dataset.c): from CSV tables, labels, the builtins
 * (against reference/data_fixtures.json, written by the independent Python
 * reimplementation tests/reference/data_ref.py; tests run from tests/), clone and check. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/csv.h"
#include "core/dataset.h"
#include "core/preprocess.h"
#include "../suite.h"
#include "data_ref.h"

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
    json_t *f = data_fixtures(), *b = json_object_get(f, "builtins");
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
    SUITE_TCASE(s, "csv", 0, dataset_from_csv_labels, labels_union_over_splits);
    return SUITE_TCASE(s, "datasets", 60, builtins_shapes_and_values, clone_and_check);
}
