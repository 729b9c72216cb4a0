/* check_data.c: the data side of the contract (api/data.c): JSON and CSV uploads, the
 * dataset JSON, the storage format, and the `data` field of a job. Resolved datasets are
 * compared with reference/data_fixtures.json, written by the independent Python
 * reimplementation tests/reference/data_ref.py (tests run from tests/). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/data_ref.h"
#include "api/data.h"

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_ALLOW_NUL, &je);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, je.text);
    return v;
}

/* ---- a fake store for {"dataset": id} ------------------------------------------------ */

static int fake_load(void *ud, const char *id, tg_dataset **out, tg_err *err)
{
    (void)ud;
    if (strcmp(id, "d_broken") == 0)
        return tg_err_set(err, TG_EIO, "disk on fire");
    if (strcmp(id, "d_iris") != 0)
        return tg_err_set(err, TG_ENOTFOUND, "no such dataset");
    return dataset_builtin_load("iris", out, err);
}

static const data_env env = {fake_load, NULL, NULL};

/* A store whose dataset d_iris is also named "flowers" (and d_broken "broken"). */
static int fake_id(void *ud, const char *ref, char *id_out, size_t id_len, tg_err *err)
{
    (void)ud;
    if (strcmp(ref, "flowers") == 0 || strcmp(ref, "d_iris") == 0)
        snprintf(id_out, id_len, "d_iris");
    else if (strcmp(ref, "broken") == 0 || strcmp(ref, "d_broken") == 0)
        snprintf(id_out, id_len, "d_broken");
    else if (strcmp(ref, "offline") == 0)
        return tg_err_set(err, TG_EIO, "store offline");
    else
        return TG_ENOTFOUND;
    return TG_OK;
}
static const data_env named_env = {fake_load, NULL, fake_id};

/* data_resolve that must succeed; returns the dataset, *filled_out if wanted. */
static tg_dataset *resolve_ok(const char *text, int allow_pre, json_t **filled_out)
{
    json_t *d = js(text), *filled = NULL;
    tg_dataset *ds = NULL;
    tg_err err;
    int rc = data_resolve(d, &env, allow_pre, &filled, &ds, NULL, &err);
    ck_assert_msg(rc == TG_OK, "%s: %d %s (%s)", text, rc, err.msg, err.field);
    ck_assert_ptr_nonnull(filled);
    ck_assert_ptr_nonnull(ds);
    json_decref(d);
    if (filled_out)
        *filled_out = filled;
    else
        json_decref(filled);
    return ds;
}

static void resolve_fails(const char *text, int allow_pre, int code, const char *field)
{
    json_t *d = js(text), *filled = NULL;
    tg_dataset *ds = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = data_resolve(d, &env, allow_pre, &filled, &ds, NULL, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s)", text, rc, code, err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"", text,
                  err.field, field);
    ck_assert_ptr_null(filled);
    ck_assert_ptr_null(ds);
    /* Without asking for the dataset the verdict is the same. */
    tg_err_clear(&err);
    ck_assert_int_eq(data_resolve(d, &env, allow_pre, &filled, NULL, NULL, &err), code);
    ck_assert_str_eq(err.field, field);
    json_decref(d);
}

/* ---- the `data` field against the reference ------------------------------------------ */

static void compare_part(const json_t *cs, const tg_dataset *ds, int test, int exact)
{
    const char *sx = test ? "x_test" : "x", *sy = test ? "y_test" : "y";
    const double *x = test ? ds->x_test : ds->x, *y = test ? ds->y_test : ds->y;
    size_t n = test ? ds->n_test : ds->n_train, d = ds->d;
    json_t *fx = json_object_get(cs, sx);
    char key[64];
    if (fx) {
        json_t *fy = json_object_get(cs, sy);
        ck_assert_uint_eq(json_array_size(fx), n);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < d; j++)
                expect_near(x[i * d + j],
                            json_number_value(json_array_get(json_array_get(fx, i), j)),
                            exact, sx, i);
            for (size_t k = 0; k < ds->n_outputs; k++)
                expect_near(y[i * ds->n_outputs + k],
                            json_number_value(json_array_get(json_array_get(fy, i), k)),
                            exact, sy, i);
        }
        return;
    }
    /* Summaries: column sums in row order, the label sum and a few rows. */
    snprintf(key, sizeof key, "x_col_sum%s", test ? "_test" : "");
    json_t *cs_sum = json_object_get(cs, key);
    for (size_t j = 0; j < d; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += x[i * d + j];
        expect_near(s, json_number_value(json_array_get(cs_sum, j)), exact, key, j);
    }
    double ys = 0;
    for (size_t i = 0; i < n; i++)
        ys += y[i * ds->n_outputs];
    snprintf(key, sizeof key, "y_sum%s", test ? "_test" : "");
    expect_near(ys, json_number_value(json_object_get(cs, key)), exact, key, 0);
    snprintf(key, sizeof key, "rows%s", test ? "_test" : "");
    json_t *rows = json_object_get(cs, key);
    snprintf(key, sizeof key, "row_labels%s", test ? "_test" : "");
    json_t *labels = json_object_get(cs, key);
    const char *k;
    json_t *row;
    ck_assert_uint_ge(json_object_size(rows), test && n == 0 ? 0 : 1);
    json_object_foreach(rows, k, row) {
        size_t i = (size_t)strtoul(k, NULL, 10);
        ck_assert_uint_lt(i, n);
        for (size_t j = 0; j < d; j++)
            expect_near(x[i * d + j], json_number_value(json_array_get(row, j)), exact, k, j);
        expect_near(y[i * ds->n_outputs], json_number_value(json_object_get(labels, k)), exact,
                    "label", i);
    }
}

START_TEST(resolve_matches_reference)
{
    json_t *f = data_fixtures();
    json_t *cases = json_object_get(f, "cases");
    ck_assert_uint_ge(json_array_size(cases), 30);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c), *data = json_object_get(cs, "data");
        json_t *filled = NULL;
        tg_dataset *ds = NULL;
        tg_standardize_stats st;
        tg_err err;
        int rc = data_resolve(data, &env, 1, &filled, &ds, &st, &err);
        char *txt = json_dumps(data, JSON_COMPACT);
        ck_assert_msg(rc == TG_OK, "case %zu %s: %s", c, txt, err.msg);
        int exact = json_is_true(json_object_get(cs, "exact"));
        ck_assert_str_eq(ds->task == TG_TASK_CLASSIFICATION ? "classification" : "regression",
                         json_string_value(json_object_get(cs, "task")));
        ck_assert_msg(ds->n_train == (size_t)json_integer_value(json_object_get(cs, "n_train")),
                      "case %zu %s: n_train %zu", c, txt, ds->n_train);
        ck_assert_uint_eq(ds->n_test, (size_t)json_integer_value(json_object_get(cs, "n_test")));
        ck_assert_uint_eq(ds->d, (size_t)json_integer_value(json_object_get(cs, "d")));
        ck_assert_uint_eq(ds->n_outputs,
                          (size_t)json_integer_value(json_object_get(cs, "n_outputs")));
        json_t *classes = json_object_get(cs, "classes");
        if (ds->task == TG_TASK_CLASSIFICATION) {
            ck_assert_uint_eq(ds->classes.n, json_array_size(classes));
            for (size_t k = 0; k < ds->classes.n; k++) {
                json_t *lab = json_array_get(classes, k);
                if (ds->classes.is_string)
                    ck_assert_str_eq(ds->classes.strs[k], json_string_value(lab));
                else
                    ck_assert_int_eq(ds->classes.ints[k], json_integer_value(lab));
            }
        } else {
            ck_assert(json_is_null(classes));
        }
        compare_part(cs, ds, 0, exact);
        compare_part(cs, ds, 1, exact);
        json_t *stats = json_object_get(cs, "stats");
        if (stats) {
            ck_assert_uint_eq(st.d, ds->d);
            for (size_t j = 0; j < ds->d; j++) {
                expect_near(st.mean[j],
                            json_number_value(json_array_get(json_object_get(stats, "mean"), j)),
                            exact, "mean", j);
                expect_near(st.std[j],
                            json_number_value(json_array_get(json_object_get(stats, "std"), j)),
                            exact, "std", j);
            }
        } else {
            ck_assert_ptr_null(st.mean);
        }
        /* The filled-in value resolves to the same dataset. */
        tg_dataset *again = NULL;
        json_t *filled2 = NULL;
        ck_assert_int_eq(data_resolve(filled, &env, 1, &filled2, &again, NULL, &err), TG_OK);
        ck_assert(json_equal(filled, filled2));
        unsigned char *b1, *b2;
        size_t l1, l2;
        ck_assert_int_eq(data_serialize(ds, &b1, &l1), TG_OK);
        ck_assert_int_eq(data_serialize(again, &b2, &l2), TG_OK);
        ck_assert_msg(l1 == l2 && memcmp(b1, b2, l1) == 0, "case %zu: filled differs", c);
        free(b1);
        free(b2);
        free(txt);
        standardize_stats_deinit(&st);
        dataset_free(again);
        dataset_free(ds);
        json_decref(filled);
        json_decref(filled2);
    }
    json_decref(f);
}
END_TEST

START_TEST(resolve_is_deterministic)
{
    const char *reqs[] = {
        "{\"builtin\": \"digits\", \"standardize\": true, \"unit_norm\": true}",
        "{\"builtin\": \"teacher\", \"n\": 200, \"activation\": \"gelu\", \"noise\": 0.1}",
        "{\"builtin\": \"blobs\", \"max_train\": 50, \"subset_seed\": 9}",
        "{\"dataset\": \"d_iris\", \"binary\": {\"positive\": [0]}, \"test_fraction\": 0.4}"};
    for (size_t r = 0; r < 4; r++) {
        tg_dataset *a = resolve_ok(reqs[r], 1, NULL), *b = resolve_ok(reqs[r], 1, NULL);
        unsigned char *ba, *bb;
        size_t la, lb;
        ck_assert_int_eq(data_serialize(a, &ba, &la), TG_OK);
        ck_assert_int_eq(data_serialize(b, &bb, &lb), TG_OK);
        ck_assert(la == lb && memcmp(ba, bb, la) == 0);
        free(ba);
        free(bb);
        dataset_free(a);
        dataset_free(b);
    }
}
END_TEST

static void expect_filled(const char *req, int allow_pre, const char *want)
{
    json_t *filled, *w = js(want);
    tg_dataset *ds = resolve_ok(req, allow_pre, &filled);
    char *got = json_dumps(filled, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_msg(json_equal(filled, w), "%s -> %s", req, got);
    free(got);
    json_decref(filled);
    json_decref(w);
    dataset_free(ds);
}

START_TEST(resolve_fills_defaults)
{
    expect_filled("{\"builtin\": \"digits\"}", 1,
                  "{\"builtin\": \"digits\", \"classes\": null, \"binary\": null, "
                  "\"test_fraction\": 0.2, \"split_seed\": 0, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0, \"standardize\": false, "
                  "\"unit_norm\": false}");
    expect_filled("{\"builtin\": \"two_moons\", \"seed\": 4}", 0,
                  "{\"builtin\": \"two_moons\", \"n\": 1000, \"seed\": 4, \"noise\": 0.1, "
                  "\"classes\": null, \"binary\": null, \"test_fraction\": 0.2, "
                  "\"split_seed\": 0, \"max_train\": null, \"max_test\": null, "
                  "\"subset_seed\": 0}");
    expect_filled("{\"builtin\": \"teacher\", \"n\": 10}", 1,
                  "{\"builtin\": \"teacher\", \"n\": 10, \"seed\": 0, \"d\": 10, "
                  "\"width\": 64, \"activation\": \"relu\", \"noise\": 0.0, "
                  "\"test_fraction\": 0.2, \"split_seed\": 0, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0, \"standardize\": false, "
                  "\"unit_norm\": false}");
    expect_filled("{\"builtin\": \"blobs\", \"n\": 10, \"max_train\": 5}", 0,
                  "{\"builtin\": \"blobs\", \"n\": 10, \"seed\": 0, \"d\": 10, "
                  "\"centers\": 3, \"spread\": 1.0, \"classes\": null, \"binary\": null, "
                  "\"test_fraction\": 0.2, \"split_seed\": 0, \"max_train\": 5, "
                  "\"max_test\": null, \"subset_seed\": 0}");
    expect_filled("{\"builtin\": \"sphere\", \"n\": 10}", 0,
                  "{\"builtin\": \"sphere\", \"n\": 10, \"seed\": 0, \"d\": 10, \"width\": 64, "
                  "\"test_fraction\": 0.2, \"split_seed\": 0, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0}");
    expect_filled("{\"builtin\": \"linear\", \"n\": 10}", 0,
                  "{\"builtin\": \"linear\", \"n\": 10, \"seed\": 0, \"d\": 10, \"noise\": 0.1, "
                  "\"test_fraction\": 0.2, \"split_seed\": 0, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0}");
    /* Uploaded and inline data: test_fraction 0 by default; the inferred task is filled;
     * with a test split, test_fraction and split_seed do not apply. */
    expect_filled("{\"dataset\": \"d_iris\", \"unit_norm\": true}", 1,
                  "{\"dataset\": \"d_iris\", \"classes\": null, \"binary\": null, "
                  "\"test_fraction\": 0.0, \"split_seed\": 0, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0, \"standardize\": false, "
                  "\"unit_norm\": true}");
    expect_filled("{\"inline\": {\"x\": [[1], [2]], \"y\": [0.5, 1.5], \"x_test\": [[3]], "
                  "\"y_test\": [2.5]}}", 0,
                  "{\"inline\": {\"x\": [[1], [2]], \"y\": [0.5, 1.5], \"x_test\": [[3]], "
                  "\"y_test\": [2.5], \"task\": \"regression\"}, \"max_train\": null, "
                  "\"max_test\": null, \"subset_seed\": 0}");
}
END_TEST

START_TEST(resolve_sources_and_shapes)
{
    tg_dataset *ds = resolve_ok("{\"builtin\": \"iris\", \"test_fraction\": 0}", 1, NULL);
    ck_assert_uint_eq(ds->n_train, 150);
    ck_assert_uint_eq(ds->n_test, 0);
    ck_assert_ptr_null(ds->x_test);
    dataset_free(ds);
    ds = resolve_ok("{\"builtin\": \"wine\"}", 1, NULL);
    ck_assert_uint_eq(ds->n_train + ds->n_test, 178);
    ck_assert_uint_eq(ds->d, 13);
    dataset_free(ds);
    ds = resolve_ok("{\"builtin\": \"breast_cancer\"}", 1, NULL);
    ck_assert_uint_eq(ds->n_train + ds->n_test, 569);
    ck_assert_uint_eq(ds->classes.n, 2);
    dataset_free(ds);
    ds = resolve_ok("{\"builtin\": \"digits\", \"test_fraction\": 0.0}", 1, NULL);
    ck_assert_uint_eq(ds->n_train, 1797);
    ck_assert_uint_eq(ds->d, 64);
    ck_assert_uint_eq(ds->classes.n, 10);
    dataset_free(ds);
    ds = resolve_ok("{\"dataset\": \"d_iris\", \"max_train\": 3.0}", 1, NULL);
    ck_assert_uint_eq(ds->n_train, 3);
    dataset_free(ds);
    /* String labels through `classes` and `binary`. */
    ds = resolve_ok("{\"inline\": {\"x\": [[1], [2], [3], [4]], \"y\": [\"b\", \"a\", \"c\", "
                    "\"a\"]}, \"classes\": [\"a\", \"c\"], \"binary\": {\"positive\": "
                    "[\"c\"]}}", 1, NULL);
    ck_assert_uint_eq(ds->n_train, 3);
    ck_assert(!ds->classes.is_string);
    ck_assert_double_eq(ds->y[0], 0);
    ck_assert_double_eq(ds->y[1], 1);
    dataset_free(ds);
    /* Standardize statistics come back when asked for. */
    json_t *d = js("{\"builtin\": \"iris\", \"standardize\": true}"), *filled;
    tg_standardize_stats st;
    tg_err err;
    ck_assert_int_eq(data_resolve(d, &env, 1, &filled, &ds, &st, &err), TG_OK);
    ck_assert_uint_eq(st.d, 4);
    ck_assert(st.std[0] > 0.5 && st.std[0] < 1.0);
    standardize_stats_deinit(&st);
    dataset_free(ds);
    json_decref(filled);
    json_decref(d);
    /* Without a dataset out, generators are only checked, not run. */
    d = js("{\"builtin\": \"teacher\", \"n\": 1000000, \"d\": 30, \"width\": 30}");
    ck_assert_int_eq(data_resolve(d, &env, 1, &filled, NULL, NULL, &err), TG_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(filled, "n")), 1000000);
    json_decref(filled);
    json_decref(d);
}
END_TEST

START_TEST(resolve_errors)
{
    resolve_fails("[1]", 1, TG_EINVAL, "data");
    resolve_fails("{}", 1, TG_EINVAL, "data");
    resolve_fails("{\"test_fraction\": 0.1}", 1, TG_EINVAL, "data");
    resolve_fails("{\"builtin\": \"iris\", \"dataset\": \"d_iris\"}", 1, TG_EINVAL, "data");
    resolve_fails("{\"builtin\": \"mnist\"}", 1, TG_EINVAL, "data.builtin");
    resolve_fails("{\"builtin\": 3}", 1, TG_EINVAL, "data.builtin");
    resolve_fails("{\"builtin\": \"blobs\", \"noise\": 0.2}", 1, TG_EUNKNOWN, "data.noise");
    resolve_fails("{\"builtin\": \"iris\", \"n\": 20}", 1, TG_EUNKNOWN, "data.n");
    resolve_fails("{\"builtin\": \"sphere\", \"activation\": \"relu\"}", 1, TG_EUNKNOWN,
                  "data.activation");
    resolve_fails("{\"dataset\": \"d_iris\", \"seed\": 1}", 1, TG_EUNKNOWN, "data.seed");
    resolve_fails("{\"builtin\": \"iris\", \"test_fractoin\": 0.1}", 1, TG_EUNKNOWN,
                  "data.test_fractoin");
    resolve_fails("{\"builtin\": \"iris\", \"standardize\": true}", 0, TG_EUNKNOWN,
                  "data.standardize");
    resolve_fails("{\"builtin\": \"iris\", \"unit_norm\": false}", 0, TG_EUNKNOWN,
                  "data.unit_norm");
    resolve_fails("{\"builtin\": \"iris\", \"standardize\": \"yes\"}", 1, TG_EINVAL,
                  "data.standardize");
    resolve_fails("{\"builtin\": \"iris\", \"test_fraction\": 1}", 1, TG_EINVAL,
                  "data.test_fraction");
    resolve_fails("{\"builtin\": \"iris\", \"test_fraction\": -0.1}", 1, TG_EINVAL,
                  "data.test_fraction");
    resolve_fails("{\"builtin\": \"iris\", \"split_seed\": -1}", 1, TG_EINVAL,
                  "data.split_seed");
    resolve_fails("{\"builtin\": \"iris\", \"split_seed\": 1.5}", 1, TG_EINVAL,
                  "data.split_seed");
    resolve_fails("{\"builtin\": \"iris\", \"max_train\": 0}", 1, TG_EINVAL, "data.max_train");
    resolve_fails("{\"builtin\": \"iris\", \"max_test\": \"all\"}", 1, TG_EINVAL,
                  "data.max_test");
    resolve_fails("{\"builtin\": \"iris\", \"subset_seed\": null}", 1, TG_EINVAL,
                  "data.subset_seed");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": [0, 7]}", 1, TG_EINVAL,
                  "data.classes[1]");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": [\"0\"]}", 1, TG_EINVAL,
                  "data.classes[0]");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": [1, 1]}", 1, TG_EINVAL,
                  "data.classes[1]");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": []}", 1, TG_EINVAL, "data.classes");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": 1}", 1, TG_EINVAL, "data.classes");
    resolve_fails("{\"builtin\": \"iris\", \"binary\": {}}", 1, TG_EMISSING,
                  "data.binary.positive");
    resolve_fails("{\"builtin\": \"iris\", \"binary\": [1]}", 1, TG_EINVAL, "data.binary");
    resolve_fails("{\"builtin\": \"iris\", \"binary\": {\"positive\": [1], \"negative\": [0]}}",
                  1, TG_EUNKNOWN, "data.binary.negative");
    resolve_fails("{\"builtin\": \"iris\", \"binary\": {\"positive\": [3]}}", 1, TG_EINVAL,
                  "data.binary.positive[0]");
    resolve_fails("{\"builtin\": \"iris\", \"classes\": [0, 1], \"binary\": {\"positive\": "
                  "[2]}}", 1, TG_EINVAL, "data.binary.positive[0]");
    resolve_fails("{\"builtin\": \"two_moons\", \"classes\": [2]}", 1, TG_EINVAL,
                  "data.classes[0]");
    resolve_fails("{\"builtin\": \"linear\", \"classes\": [0]}", 1, TG_EINVAL, "data.classes");
    resolve_fails("{\"builtin\": \"teacher\", \"binary\": {\"positive\": [1]}}", 1, TG_EINVAL,
                  "data.binary");
    /* Generator parameters. */
    resolve_fails("{\"builtin\": \"two_moons\", \"n\": 0}", 1, TG_EINVAL, "data.n");
    resolve_fails("{\"builtin\": \"two_moons\", \"n\": 2.5}", 1, TG_EINVAL, "data.n");
    resolve_fails("{\"builtin\": \"two_moons\", \"n\": 1000001}", 1, TG_ETOOLARGE, "data.n");
    resolve_fails("{\"builtin\": \"two_moons\", \"noise\": -1}", 1, TG_EINVAL, "data.noise");
    resolve_fails("{\"builtin\": \"xor\", \"seed\": -3}", 1, TG_EINVAL, "data.seed");
    resolve_fails("{\"builtin\": \"blobs\", \"d\": 20000}", 1, TG_ETOOLARGE, "data.d");
    resolve_fails("{\"builtin\": \"blobs\", \"centers\": 0}", 1, TG_EINVAL, "data.centers");
    resolve_fails("{\"builtin\": \"blobs\", \"spread\": -1}", 1, TG_EINVAL, "data.spread");
    resolve_fails("{\"builtin\": \"linear\", \"n\": 1000000, \"d\": 1000}", 1, TG_ETOOLARGE,
                  "data.n");
    resolve_fails("{\"builtin\": \"teacher\", \"width\": 0}", 1, TG_EINVAL, "data.width");
    resolve_fails("{\"builtin\": \"teacher\", \"activation\": \"swish\"}", 1, TG_EINVAL,
                  "data.activation");
    resolve_fails("{\"builtin\": \"sphere\", \"n\": 1000000, \"width\": 100, \"d\": 2}", 1,
                  TG_ETOOLARGE, "data.n");
    /* Uploaded datasets. */
    resolve_fails("{\"dataset\": \"d_nope\"}", 1, TG_EINVAL, "data.dataset");
    resolve_fails("{\"dataset\": 5}", 1, TG_EINVAL, "data.dataset");
    resolve_fails("{\"dataset\": \"d_broken\"}", 1, TG_EIO, "");
    /* Inline data. */
    resolve_fails("{\"inline\": [1]}", 1, TG_EINVAL, "data.inline");
    resolve_fails("{\"inline\": {\"x\": [[1]], \"y\": [1], \"w\": 2}}", 1, TG_EUNKNOWN,
                  "data.inline.w");
    resolve_fails("{\"inline\": {\"x\": [[1], [2, 3]], \"y\": [1, 2]}}", 1, TG_EDATA,
                  "data.inline.x[1]");
    resolve_fails("{\"inline\": {\"x\": [[1], [2]], \"y\": [1, \"a\"]}}", 1, TG_EDATA,
                  "data.inline.y[1]");
    resolve_fails("{\"inline\": {\"x\": [[1]], \"y\": [1], \"x_test\": [[2]], \"y_test\": [1]},"
                  " \"test_fraction\": 0.2}", 1, TG_EINVAL, "data.test_fraction");
    resolve_fails("{\"inline\": {\"x\": [[1]], \"y\": [1], \"x_test\": [[2]], \"y_test\": [1]},"
                  " \"test_fraction\": 0}", 1, TG_EINVAL, "data.test_fraction");
    resolve_fails("{\"inline\": {\"x\": [[1]], \"y\": [1], \"x_test\": [[2]], \"y_test\": [1]},"
                  " \"split_seed\": 3}", 1, TG_EINVAL, "data.split_seed");
    resolve_fails("{\"inline\": {\"x\": [[1], [2]], \"y\": [0, 1]}, \"test_fraction\": 0.5}", 1,
                  TG_EINVAL, "data.test_fraction");
    resolve_fails("{\"inline\": {\"x\": [[1]], \"y\": [0], \"x_test\": [[2]], \"y_test\": [1]},"
                  " \"classes\": [1]}", 1, TG_EINVAL, "data.classes");
    /* No loader at all. */
    json_t *d = js("{\"dataset\": \"d_iris\"}"), *filled;
    tg_dataset *ds;
    tg_err err;
    ck_assert_int_eq(data_resolve(d, NULL, 1, &filled, &ds, NULL, &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "data.dataset");
    json_decref(d);
}
END_TEST

/* ---- JSON uploads ------------------------------------------------------------------- */

static tg_dataset *upload_ok(const char *text, char **name_out)
{
    json_t *b = js(text);
    tg_dataset *ds = NULL;
    char *name = NULL;
    tg_err err;
    int rc = data_upload_json(b, &name, &ds, &err);
    ck_assert_msg(rc == TG_OK, "%s: %s (%s)", text, err.msg, err.field);
    json_decref(b);
    if (name_out)
        *name_out = name;
    else
        free(name);
    return ds;
}

static void upload_fails(const char *text, int code, const char *field)
{
    json_t *b = js(text);
    tg_dataset *ds = NULL;
    char *name = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = data_upload_json(b, &name, &ds, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s)", text, rc, code, err.msg);
    ck_assert_msg(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"", text,
                  err.field, field);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_null(name);
    json_decref(b);
}

START_TEST(upload_json_inference)
{
    char *name;
    tg_dataset *ds = upload_ok("{\"name\": \"toy\", \"x\": [[0, 1], [1, 0], [2, 2]], "
                               "\"y\": [3, -1, 3]}", &name);
    ck_assert_str_eq(name, "toy");
    free(name);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_uint_eq(ds->classes.n, 2);
    ck_assert_int_eq(ds->classes.ints[0], -1);
    ck_assert_double_eq(ds->y[0], 1);
    ck_assert_double_eq(ds->x[5], 2);
    dataset_free(ds);
    /* Strings in byte order; a test label absent from the training split. */
    ds = upload_ok("{\"x\": [[0], [1], [2]], \"y\": [\"b\", \"a\", \"B\"], "
                   "\"x_test\": [[3]], \"y_test\": [\"zz\"]}", &name);
    ck_assert_str_eq(name, "");
    free(name);
    ck_assert(ds->classes.is_string);
    ck_assert_uint_eq(ds->classes.n, 4);
    ck_assert_str_eq(ds->classes.strs[0], "B");
    ck_assert_str_eq(ds->classes.strs[1], "a");
    ck_assert_str_eq(ds->classes.strs[3], "zz");
    ck_assert_double_eq(ds->y[0], 2);
    ck_assert_double_eq(ds->y_test[0], 3);
    ck_assert_uint_eq(ds->n_test, 1);
    dataset_free(ds);
    /* Reals (even integral) -> regression; vectors -> n_outputs. */
    ds = upload_ok("{\"x\": [[0], [1]], \"y\": [1.0, 2]}", NULL);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    ck_assert_uint_eq(ds->classes.n, 0);
    dataset_free(ds);
    ds = upload_ok("{\"x\": [[0], [1]], \"y\": [[1, 2], [3, 4.5]], \"x_test\": [[2]], "
                   "\"y_test\": [[5, 6]]}", NULL);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    ck_assert_uint_eq(ds->n_outputs, 2);
    ck_assert_double_eq(ds->y[3], 4.5);
    ck_assert_double_eq(ds->y_test[1], 6);
    dataset_free(ds);
    /* An explicit task wins over inference. */
    ds = upload_ok("{\"task\": \"classification\", \"x\": [[0], [1]], \"y\": [1.0, 2.0]}",
                   NULL);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_int_eq(ds->classes.ints[1], 2);
    dataset_free(ds);
    ds = upload_ok("{\"task\": \"regression\", \"x\": [[0], [1]], \"y\": [1, 2]}", NULL);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    dataset_free(ds);
    ds = upload_ok("{\"x\": [[0], [1]], \"y\": [1, 2], \"x_test\": null, \"y_test\": null}",
                   NULL);
    ck_assert_uint_eq(ds->n_test, 0);
    dataset_free(ds);
}
END_TEST

START_TEST(upload_json_errors)
{
    upload_fails("[]", TG_EINVAL, "");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"z\": 1}", TG_EUNKNOWN, "z");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"y_tset\": [1]}", TG_EUNKNOWN, "y_tset");
    upload_fails("{\"y\": [1]}", TG_EMISSING, "x");
    upload_fails("{\"x\": [[1]]}", TG_EMISSING, "y");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"x_test\": [[1]]}", TG_EMISSING, "y_test");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"y_test\": [1]}", TG_EMISSING, "x_test");
    upload_fails("{\"x\": [], \"y\": []}", TG_EDATA, "x");
    upload_fails("{\"x\": [[]], \"y\": [1]}", TG_EDATA, "x[0]");
    upload_fails("{\"x\": [[1, 2], [3]], \"y\": [1, 2]}", TG_EDATA, "x[1]");
    upload_fails("{\"x\": [[1, 2], [3, \"a\"]], \"y\": [1, 2]}", TG_EDATA, "x[1][1]");
    upload_fails("{\"x\": [1, 2], \"y\": [1, 2]}", TG_EDATA, "x[0]");
    upload_fails("{\"x\": [[1], [2]], \"y\": [1]}", TG_EDATA, "y");
    upload_fails("{\"x\": [[1], [2]], \"y\": 1}", TG_EDATA, "y");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"x_test\": [[1, 2]], \"y_test\": [1]}", TG_EDATA,
                 "x_test");
    upload_fails("{\"x\": [[1]], \"y\": [1], \"x_test\": [[1], [2]], \"y_test\": [1]}",
                 TG_EDATA, "y_test");
    upload_fails("{\"x\": [[1], [2], [3]], \"y\": [1, 2, \"a\"]}", TG_EDATA, "y[2]");
    upload_fails("{\"x\": [[1]], \"y\": [\"a\"], \"x_test\": [[1]], \"y_test\": [0]}",
                 TG_EDATA, "y_test[0]");
    upload_fails("{\"x\": [[1], [2]], \"y\": [1, [2]]}", TG_EDATA, "y[1]");
    upload_fails("{\"x\": [[1], [2]], \"y\": [true, false]}", TG_EDATA, "y[0]");
    upload_fails("{\"x\": [[1], [2]], \"y\": [1, null]}", TG_EDATA, "y[1]");
    upload_fails("{\"x\": [[1], [2]], \"y\": [[1, 2], [3]]}", TG_EDATA, "y[1]");
    upload_fails("{\"x\": [[1]], \"y\": [[1, 2]], \"x_test\": [[1]], \"y_test\": [[1]]}",
                 TG_EDATA, "y_test");
    upload_fails("{\"task\": \"classification\", \"x\": [[1], [2]], \"y\": [1, 2.5]}",
                 TG_EDATA, "y[1]");
    upload_fails("{\"task\": \"classification\", \"x\": [[1]], \"y\": [[1]]}", TG_EDATA,
                 "y[0]");
    upload_fails("{\"task\": \"regression\", \"x\": [[1]], \"y\": [\"a\"]}", TG_EDATA, "y[0]");
    upload_fails("{\"task\": \"clustering\", \"x\": [[1]], \"y\": [1]}", TG_EINVAL, "task");
    upload_fails("{\"name\": 5, \"x\": [[1]], \"y\": [1]}", TG_EINVAL, "name");
    /* A label with a NUL byte, and an overlong one. */
    upload_fails("{\"x\": [[1]], \"y\": [\"a\\u0000b\"]}", TG_EDATA, "y[0]");
    char big[1200 + 64];
    memset(big, 0, sizeof big);
    strcpy(big, "{\"x\": [[1]], \"y\": [\"");
    memset(big + strlen(big), 'q', 1100);
    strcat(big, "\"]}");
    upload_fails(big, TG_EDATA, "y[0]");
    /* More than DATA_MAX_CLASSES distinct labels. */
    json_t *x = json_array(), *y = json_array();
    for (int i = 0; i <= DATA_MAX_CLASSES; i++) {
        json_array_append_new(x, json_pack("[i]", i));
        json_array_append_new(y, json_integer(i));
    }
    json_t *b = json_pack("{s:o, s:o}", "x", x, "y", y);
    tg_dataset *ds = NULL;
    char *name = NULL;
    tg_err err;
    ck_assert_int_eq(data_upload_json(b, &name, &ds, &err), TG_ETOOLARGE);
    ck_assert_str_eq(err.field, "y");
    ck_assert_ptr_null(ds);
    json_decref(b);
}
END_TEST

/* ---- CSV uploads -------------------------------------------------------------------- */

static tg_dataset *csv_ok(const char *text, const char *target, const char *task, double f,
                          uint64_t seed)
{
    data_csv_opts o = {target, task, f, seed};
    tg_dataset *ds = NULL;
    tg_err err;
    int rc = data_upload_csv(text, strlen(text), &o, &ds, &err);
    ck_assert_msg(rc == TG_OK, "%s: %s (%s)", text, err.msg, err.field);
    return ds;
}

static void csv_fails(const char *text, const char *target, const char *task, double f,
                      int code, const char *field)
{
    data_csv_opts o = {target, task, f, 0};
    tg_dataset *ds = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = data_upload_csv(text, strlen(text), &o, &ds, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s)", text, rc, code, err.msg);
    ck_assert_msg(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"", text,
                  err.field, field);
    ck_assert_ptr_null(ds);
}

START_TEST(upload_csv_quirks)
{
    tg_dataset *ds = csv_ok("\"sepal, length\",width,species\r\n"
                            "5.1,3.5,\"setosa\"\r\n"
                            "7.0,\"3.2\",versicolor\r\n"
                            "6.3,3.3,\"vir\"\"ginica\"\r\n",
                            NULL, NULL, 0, 0);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    ck_assert_uint_eq(ds->n_train, 3);
    ck_assert_uint_eq(ds->d, 2);
    ck_assert_str_eq(ds->classes.strs[0], "setosa");
    ck_assert_str_eq(ds->classes.strs[2], "vir\"ginica");
    ck_assert_double_eq(ds->x[3], 3.2);
    dataset_free(ds);
    /* A target by name; the other columns keep their order. */
    ds = csv_ok("a,price,b\n1,10.5,2\n3,20.25,4\n", "price", NULL, 0, 0);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    ck_assert_double_eq(ds->y[1], 20.25);
    ck_assert_double_eq(ds->x[1], 2);
    ck_assert_double_eq(ds->x[2], 3);
    dataset_free(ds);
    ds = csv_ok("a,label\n1,1.0\n2,2.0\n", NULL, "classification", 0, 0);
    ck_assert_int_eq(ds->task, TG_TASK_CLASSIFICATION);
    dataset_free(ds);
    ds = csv_ok("a,label\n1,1\n2,2\n", NULL, "regression", 0, 0);
    ck_assert_int_eq(ds->task, TG_TASK_REGRESSION);
    dataset_free(ds);
    /* test_fraction: stratified split, seeded. */
    char buf[4096];
    size_t off = (size_t)snprintf(buf, sizeof buf, "x,label\n");
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%d,%s\n", i, i % 4 ? "a" : "b");
    ds = csv_ok(buf, NULL, NULL, 0.25, 7);
    ck_assert_uint_eq(ds->n_test, 11); /* round(7.5) = 8 of the 30 "a", round(2.5) = 3 of 10 "b" */
    dataset_free(ds);
}
END_TEST

START_TEST(upload_csv_errors)
{
    csv_fails("a,b\n1,2\n3,x\n", NULL, NULL, 0, TG_EDATA, "row 2, column b");
    csv_fails("a,b\n1,2\nx,3\n", NULL, NULL, 0, TG_EDATA, "row 2, column a");
    csv_fails("a,b\n1,2\nnan,3\n", NULL, NULL, 0, TG_EDATA, "row 2, column a");
    csv_fails("a,b\n1e999,2\n", NULL, NULL, 0, TG_EDATA, "row 1, column a");
    csv_fails("a,b\n1,2\n3\n", NULL, NULL, 0, TG_EDATA, "row 2");
    csv_fails("a,b\n1,\"2\n", NULL, NULL, 0, TG_EDATA, "row 1, column b");
    csv_fails("", NULL, NULL, 0, TG_EDATA, "header");
    csv_fails("a,b\n", NULL, NULL, 0, TG_EDATA, "row 1");
    csv_fails("b\n1\n", NULL, NULL, 0, TG_EDATA, "header");
    csv_fails("a,b\n1,2\n", "c", NULL, 0, TG_EINVAL, "target");
    csv_fails("a,b\n1,2\n", NULL, "ranking", 0, TG_EINVAL, "task");
    csv_fails("a,b\n1,2\n", NULL, NULL, 1.0, TG_EINVAL, "test_fraction");
    csv_fails("a,b\n1,2\n", NULL, NULL, -0.5, TG_EINVAL, "test_fraction");
    csv_fails("a,b\n1,x\n2,3\n", NULL, NULL, 0, TG_EDATA, "row 2, column b");
    csv_fails("a,b\n1,2.5\n", NULL, "classification", 0, TG_EDATA, "row 1, column b");
    csv_fails("a,b\n1,x\n", NULL, "regression", 0, TG_EDATA, "row 1, column b");
    csv_fails("a,b\n1,0\n2,1\n", NULL, NULL, 0.5, TG_EINVAL, "test_fraction");
}
END_TEST

/* ---- dataset JSON and storage ------------------------------------------------------- */

START_TEST(meta_and_arrays_json)
{
    tg_dataset *ds = upload_ok("{\"x\": [[0], [1], [2]], \"y\": [\"b\", \"a\", \"b\"], "
                               "\"x_test\": [[3]], \"y_test\": [\"c\"]}", NULL);
    json_t *m = data_meta_json(ds), *w;
    w = js("{\"task\": \"classification\", \"n_train\": 3, \"n_test\": 1, \"d\": 1, "
           "\"n_outputs\": 1, \"n_classes\": 3, \"classes\": [\"a\", \"b\", \"c\"]}");
    ck_assert(json_equal(m, w));
    json_decref(m);
    json_decref(w);
    m = data_arrays_json(ds);
    w = js("{\"x\": [[0.0], [1.0], [2.0]], \"y\": [\"b\", \"a\", \"b\"], "
           "\"x_test\": [[3.0]], \"y_test\": [\"c\"]}");
    ck_assert(json_equal(m, w));
    json_decref(m);
    json_decref(w);
    dataset_free(ds);
    ds = upload_ok("{\"x\": [[0], [1]], \"y\": [[1, 2], [3, 4]]}", NULL);
    m = data_meta_json(ds);
    w = js("{\"task\": \"regression\", \"n_train\": 2, \"n_test\": 0, \"d\": 1, "
           "\"n_outputs\": 2, \"n_classes\": 0, \"classes\": null}");
    ck_assert(json_equal(m, w));
    json_decref(m);
    json_decref(w);
    m = data_arrays_json(ds);
    w = js("{\"x\": [[0.0], [1.0]], \"y\": [[1.0, 2.0], [3.0, 4.0]], \"x_test\": null, "
           "\"y_test\": null}");
    ck_assert(json_equal(m, w));
    json_decref(m);
    json_decref(w);
    dataset_free(ds);
    ds = upload_ok("{\"x\": [[0], [1]], \"y\": [7, -2]}", NULL);
    m = data_arrays_json(ds);
    w = js("{\"x\": [[0.0], [1.0]], \"y\": [7, -2], \"x_test\": null, \"y_test\": null}");
    ck_assert(json_equal(m, w));
    json_decref(m);
    json_decref(w);
    /* The arrays upload again to the same dataset. */
    m = data_arrays_json(ds);
    tg_dataset *again = NULL;
    char *name;
    tg_err err;
    ck_assert_int_eq(data_upload_json(m, &name, &again, &err), TG_OK);
    ck_assert_double_eq(again->y[1], ds->y[1]);
    free(name);
    json_decref(m);
    dataset_free(again);
    dataset_free(ds);
}
END_TEST

static void expect_same(const tg_dataset *a, const tg_dataset *b)
{
    ck_assert_int_eq(a->task, b->task);
    ck_assert_uint_eq(a->d, b->d);
    ck_assert_uint_eq(a->n_outputs, b->n_outputs);
    ck_assert_uint_eq(a->n_train, b->n_train);
    ck_assert_uint_eq(a->n_test, b->n_test);
    ck_assert(memcmp(a->x, b->x, a->n_train * a->d * sizeof(double)) == 0);
    ck_assert(memcmp(a->y, b->y, a->n_train * a->n_outputs * sizeof(double)) == 0);
    if (a->n_test) {
        ck_assert(memcmp(a->x_test, b->x_test, a->n_test * a->d * sizeof(double)) == 0);
        ck_assert(memcmp(a->y_test, b->y_test, a->n_test * a->n_outputs * sizeof(double)) == 0);
    }
    ck_assert_uint_eq(a->classes.n, b->classes.n);
    ck_assert_int_eq(a->classes.is_string, b->classes.is_string);
    for (size_t k = 0; k < a->classes.n; k++) {
        if (a->classes.is_string)
            ck_assert_str_eq(a->classes.strs[k], b->classes.strs[k]);
        else
            ck_assert_int_eq(a->classes.ints[k], b->classes.ints[k]);
    }
}

START_TEST(serialize_round_trip)
{
    tg_dataset *sets[4];
    sets[0] = resolve_ok("{\"builtin\": \"wine\"}", 1, NULL);
    sets[1] = upload_ok("{\"x\": [[0, 1e-300], [1, -0.0]], \"y\": [\"\\u00e9t\\u00e9\", \"a\"],"
                        " \"x_test\": [[2, 3]], \"y_test\": [\"z\"]}", NULL);
    sets[2] = upload_ok("{\"x\": [[0], [1]], \"y\": [[1, 2.5], [3, 4]], \"x_test\": [[5]], "
                        "\"y_test\": [[1e300, -7]]}", NULL);
    sets[3] = resolve_ok("{\"builtin\": \"iris\", \"classes\": [2, 1], \"test_fraction\": 0}",
                         1, NULL);
    for (int s = 0; s < 4; s++) {
        unsigned char *buf, *buf2;
        size_t len, len2;
        tg_dataset *back = NULL;
        tg_err err;
        ck_assert_int_eq(data_serialize(sets[s], &buf, &len), TG_OK);
        ck_assert(memcmp(buf, "TGDS\1\0\0\0", 8) == 0);
        ck_assert_int_eq(data_deserialize(buf, len, &back, &err), TG_OK);
        expect_same(sets[s], back);
        ck_assert_int_eq(data_serialize(back, &buf2, &len2), TG_OK);
        ck_assert(len == len2 && memcmp(buf, buf2, len) == 0);
        free(buf2);
        dataset_free(back);
        free(buf);
        dataset_free(sets[s]);
    }
}
END_TEST

START_TEST(deserialize_rejects_corruption)
{
    tg_dataset *ds = upload_ok("{\"x\": [[0, 1], [2, 3]], \"y\": [\"a\", \"b\"], "
                               "\"x_test\": [[4, 5]], \"y_test\": [\"a\"]}", NULL);
    unsigned char *buf;
    size_t len;
    tg_dataset *back = NULL;
    tg_err err;
    ck_assert_int_eq(data_serialize(ds, &buf, &len), TG_OK);
    /* Every truncation, and one byte too many. */
    for (size_t l = 0; l < len; l++) {
        ck_assert_int_eq(data_deserialize(buf, l, &back, &err), TG_EIO);
        ck_assert_ptr_null(back);
    }
    unsigned char *longer = calloc(len + 1, 1);
    memcpy(longer, buf, len);
    ck_assert_int_eq(data_deserialize(longer, len + 1, &back, &err), TG_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "trailing"));
    free(longer);
    /* Bad magic, version, task, a label out of range, a NaN, a huge count. */
    size_t y_off = 56 + 4 * 8; /* after the header and x (2 x 2) */
    struct {
        size_t at;
        unsigned char v;
    } flips[] = {{0, 'X'}, {4, 2}, {8, 3}, {12, 7}, {y_off + 7, 0x40} /* y[0] = 2.0 */,
                 {56 + 7, 0x7f} /* x[0] exponent all ones */, {16 + 7, 0x10} /* d huge */,
                 {48, 0} /* no classes */};
    for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
        unsigned char *c = malloc(len);
        memcpy(c, buf, len);
        c[flips[f].at] = flips[f].v;
        if (flips[f].at == 56 + 7)
            c[56 + 6] = 0xf8;
        ck_assert_msg(data_deserialize(c, len, &back, &err) == TG_EIO, "flip %zu", f);
        ck_assert_ptr_null(back);
        free(c);
    }
    free(buf);
    dataset_free(ds);
}
END_TEST

/* ---- names (API.md 3.1) ---------------------------------------------------------------- */

START_TEST(resolve_names_the_id)
{
    /* A dataset named by its name: the filled request holds its id. */
    static const char *const refs[] = {"flowers", "d_iris"};
    for (int i = 0; i < 2; i++) {
        json_t *d = json_pack("{s:s}", "dataset", refs[i]), *filled = NULL;
        tg_dataset *ds = NULL;
        tg_err err;
        ck_assert_int_eq(data_resolve(d, &named_env, 1, &filled, &ds, NULL, &err), TG_OK);
        ck_assert_str_eq(json_string_value(json_object_get(filled, "dataset")), "d_iris");
        ck_assert_uint_eq(ds->n_train, 150);
        dataset_free(ds);
        json_decref(filled);
        json_decref(d);
    }
    static const struct {
        const char *ref;
        int rc;
    } bad[] = {{"nope", TG_EINVAL}, {"offline", TG_EIO}, {"broken", TG_EIO}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *d = json_pack("{s:s}", "dataset", bad[i].ref), *filled = NULL;
        tg_dataset *ds = NULL;
        tg_err err;
        tg_err_clear(&err);
        ck_assert_int_eq(data_resolve(d, &named_env, 1, &filled, &ds, NULL, &err), bad[i].rc);
        if (bad[i].rc == TG_EINVAL)
            ck_assert_str_eq(err.field, "data.dataset");
        ck_assert_ptr_null(filled);
        ck_assert_ptr_null(ds);
        json_decref(d);
    }
}
END_TEST

START_TEST(dataset_names_checked)
{
    tg_err err;
    ck_assert_int_eq(data_check_name("", &err), TG_OK);
    ck_assert_int_eq(data_check_name("points", &err), TG_OK);
    ck_assert_int_eq(data_check_name("d_points", &err), TG_OK);
    ck_assert_int_eq(data_check_name("d_0123456789abcdef0", &err), TG_OK);
    ck_assert_int_eq(data_check_name("d_0123456789ABCDEF", &err), TG_OK);
    ck_assert_int_eq(data_check_name("d_0123456789abcdef", &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "name");
    char long_name[202];
    memset(long_name, 'a', 201);
    long_name[201] = '\0';
    ck_assert_int_eq(data_check_name(long_name, &err), TG_EINVAL);
    long_name[200] = '\0';
    ck_assert_int_eq(data_check_name(long_name, &err), TG_OK);
    /* The JSON upload checks it too. */
    json_t *b = json_pack("{s:s, s:[[i]], s:[i]}", "name", "d_00000000000000ff", "x", 1, "y", 1);
    char *name = NULL;
    tg_dataset *ds = NULL;
    ck_assert_int_eq(data_upload_json(b, &name, &ds, &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "name");
    json_decref(b);
}
END_TEST

START_TEST(builtins_listed)
{
    tg_err err;
    tg_err_clear(&err);
    json_t *o = data_builtins_json(&err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    json_t *sets = json_object_get(o, "datasets"), *gens = json_object_get(o, "generators");
    ck_assert_uint_eq(json_array_size(sets), 4);
    ck_assert_uint_eq(json_array_size(gens), GEN_COUNT);
    static const struct {
        const char *name;
        int n, d, k;
    } shapes[] = {{"iris", 150, 4, 3}, {"wine", 178, 13, 3}, {"breast_cancer", 569, 30, 2},
                  {"digits", 1797, 64, 10}};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(sets, i);
        ck_assert_str_eq(json_string_value(json_object_get(e, "name")), shapes[i].name);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "n")), shapes[i].n);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "d")), shapes[i].d);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "n_classes")), shapes[i].k);
        ck_assert_str_eq(json_string_value(json_object_get(e, "task")), "classification");
    }
    /* Every builtin has a description; a generator's params are its filled defaults. */
    for (size_t i = 0; dataset_builtin_names[i]; i++) {
        const char *desc = data_builtin_description(dataset_builtin_names[i]);
        ck_assert_msg(desc && *desc && !strchr(desc, '\n'), "%s: no one-line description",
                      dataset_builtin_names[i]);
    }
    for (size_t g = 0; g < GEN_COUNT; g++) {
        json_t *e = json_array_get(gens, g);
        ck_assert_str_eq(json_string_value(json_object_get(e, "name")),
                         dataset_generators[g].name);
        json_t *d = json_pack("{s:s}", "builtin", dataset_generators[g].name), *filled = NULL;
        ck_assert_int_eq(data_resolve(d, NULL, 1, &filled, NULL, NULL, &err), TG_OK);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(e, "params"), k, v)
            ck_assert_msg(json_equal(v, json_object_get(filled, k)), "%s.%s",
                          dataset_generators[g].name, k);
        ck_assert_uint_eq(json_object_size(json_object_get(e, "params")),
                          2 + (size_t)(dataset_gen_takes((int)g, "noise") +
                                       dataset_gen_takes((int)g, "d") +
                                       2 * dataset_gen_takes((int)g, "centers") +
                                       dataset_gen_takes((int)g, "width") +
                                       dataset_gen_takes((int)g, "activation")));
        json_decref(filled);
        json_decref(d);
    }
    ck_assert_double_eq(json_number_value(json_object_get(
                            json_object_get(json_array_get(gens, 0), "params"), "noise")), 0.1);
    json_decref(o);
}
END_TEST

Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *t = tcase_create("resolve");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, resolve_matches_reference);
    tcase_add_test(t, resolve_is_deterministic);
    tcase_add_test(t, resolve_fills_defaults);
    tcase_add_test(t, resolve_sources_and_shapes);
    tcase_add_test(t, resolve_errors);
    tcase_add_test(t, resolve_names_the_id);
    tcase_add_test(t, dataset_names_checked);
    tcase_add_test(t, builtins_listed);
    suite_add_tcase(s, t);
    t = tcase_create("uploads");
    tcase_add_test(t, upload_json_inference);
    tcase_add_test(t, upload_json_errors);
    tcase_add_test(t, upload_csv_quirks);
    tcase_add_test(t, upload_csv_errors);
    suite_add_tcase(s, t);
    t = tcase_create("objects");
    tcase_add_test(t, meta_and_arrays_json);
    tcase_add_test(t, serialize_round_trip);
    tcase_add_test(t, deserialize_rejects_corruption);
    suite_add_tcase(s, t);
    return s;
}
