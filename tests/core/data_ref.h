/* data_ref.h: what the suites of the data modules share (check_rng.c, check_csv.c,
 * check_generators.c, check_preprocess.c, check_dataset.c, and tests/api/check_data.c):
 * reference/data_fixtures.json, written by the independent Python reimplementation
 * tests/reference/data_ref.py (tests run from tests/), the comparison with its values, and
 * the inputs several suites start from (a parsed CSV, the generator defaults, iris).
 * Header-only (static functions; a suite need not use all of them). */
#ifndef TG_TESTS_DATA_REF_H
#define TG_TESTS_DATA_REF_H

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/csv.h"
#include "core/dataset.h"
#include "core/generators.h"

#include "fixture.h"

#define DATA_FIXTURES "reference/data_fixtures.json"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

static json_t *data_fixtures(void)
{
    return fixture_load(DATA_FIXTURES, "tests/reference/data_ref.py");
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

/* Limits no test table reaches. */
static const csv_limits csv_big = {.max_rows = 1000, .max_cols = 100, .max_field_len = 100};

/* The table of s, which must parse under csv_big. */
static csv_table *parse_ok(const char *s)
{
    csv_table *t = NULL;
    tg_err err;
    int rc = csv_parse(s, strlen(s), &csv_big, &t, &err);
    ck_assert_msg(rc == TG_OK, "csv_parse: %s (%s)", err.msg, err.field);
    return t;
}

/* The generator parameters the tests start from. */
static tg_gen_params gen_defaults(void)
{
    tg_gen_params p = {.n = 1000, .seed = 0, .noise = 0.1, .d = 10, .centers = 3,
                       .spread = 1.0, .width = 64, .activation = "relu"};
    return p;
}

/* The builtin iris: 150 points of 4 features, 3 classes of 50. */
static tg_dataset *iris(void)
{
    tg_dataset *ds;
    tg_err err;
    ck_assert_int_eq(dataset_builtin_load("iris", &ds, &err), TG_OK);
    return ds;
}

#pragma GCC diagnostic pop

#endif
