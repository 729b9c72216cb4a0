/* check_generators.c: the generated datasets (core/generators.c), against the independent
 * Python reimplementation tests/reference/data_ref.py, whose output
 * reference/data_fixtures.json is committed (tests run from tests/), and their closed-form
 * properties. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/generators.h"
#include "../suite.h"
#include "data_ref.h"

/* The fixture cases that are a plain generator run (no split, no option). */
START_TEST(generators_match_reference)
{
    json_t *f = data_fixtures(), *cases = json_object_get(f, "cases");
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
        tg_gen_params p = gen_defaults();
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
    tg_gen_params p = gen_defaults();
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
    p = gen_defaults();
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
    p = gen_defaults();
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
    tg_gen_params p = gen_defaults();
    p.n = 0;
    gen_fails("two_moons", p, TG_EINVAL, "n");
    p.n = DATASET_GEN_MAX_N + 1;
    gen_fails("xor", p, TG_ETOOLARGE, "n");
    p = gen_defaults();
    p.noise = -1;
    gen_fails("linear", p, TG_EINVAL, "noise");
    p = gen_defaults();
    p.d = 0;
    gen_fails("blobs", p, TG_EINVAL, "d");
    p.d = DATASET_GEN_MAX_D + 1;
    gen_fails("sphere", p, TG_ETOOLARGE, "d");
    p = gen_defaults();
    p.n = 1000000;
    p.d = 100;
    gen_fails("linear", p, TG_ETOOLARGE, "n");
    p = gen_defaults();
    p.centers = 0;
    gen_fails("blobs", p, TG_EINVAL, "centers");
    p = gen_defaults();
    p.spread = -0.5;
    gen_fails("blobs", p, TG_EINVAL, "spread");
    p = gen_defaults();
    p.width = DATASET_GEN_MAX_WIDTH + 1;
    gen_fails("teacher", p, TG_ETOOLARGE, "width");
    p = gen_defaults();
    p.n = 1000000;
    p.d = 1;
    p.width = 1000;
    gen_fails("teacher", p, TG_ETOOLARGE, "n");
    p = gen_defaults();
    p.activation = "swish";
    gen_fails("teacher", p, TG_EINVAL, "activation");
    p = gen_defaults();
    gen_fails("spiral", p, TG_ENOTFOUND, "name");
}
END_TEST

Suite *generators_suite(void)
{
    return SUITE_TCASE(suite_create("generators"), "generators", 60,
                       generators_match_reference, generators_properties, generator_errors);
}
