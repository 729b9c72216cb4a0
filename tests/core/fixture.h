/* fixture.h: reading the committed JSON fixtures of tests/reference/ (tests run from
 * tests/): a file, and members of the expected type, failing the test with the member's
 * name otherwise. Header-only (static functions; a suite need not use all of them). */
#ifndef TG_TESTS_FIXTURE_H
#define TG_TESTS_FIXTURE_H

#include <check.h>
#include <jansson.h>
#include <stdlib.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* The JSON file at path (new reference), written by the script named in the failure. */
static json_t *fixture_load(const char *path, const char *script)
{
    json_error_t je;
    json_t *f = json_load_file(path, 0, &je);
    ck_assert_msg(f != NULL, "%s: %s (line %d); regenerate with %s", path, je.text, je.line,
                  script);
    return f;
}

static json_t *member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(v != NULL, "fixture member '%s' missing", key);
    return v;
}

static double num(json_t *o, const char *key)
{
    json_t *v = member(o, key);
    ck_assert_msg(json_is_number(v), "fixture member '%s' is not a number", key);
    return json_number_value(v);
}

static size_t count(json_t *o, const char *key)
{
    json_t *v = member(o, key);
    ck_assert_msg(json_is_integer(v) && json_integer_value(v) >= 0,
                  "fixture member '%s' is not a count", key);
    return (size_t)json_integer_value(v);
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = member(o, key);
    ck_assert_msg(json_is_string(v), "fixture member '%s' is not a string", key);
    return json_string_value(v);
}

/* A JSON array of numbers as a malloc'd vector of exactly `expect` values. */
static double *vec(json_t *o, const char *key, size_t expect)
{
    json_t *a = member(o, key);
    ck_assert_msg(json_is_array(a) && json_array_size(a) == expect,
                  "fixture member '%s': expected %zu numbers, got %zu", key, expect,
                  json_array_size(a));
    double *v = malloc((expect ? expect : 1) * sizeof(double));
    ck_assert(v != NULL);
    for (size_t i = 0; i < expect; i++) {
        json_t *e = json_array_get(a, i);
        ck_assert_msg(json_is_number(e), "fixture member '%s'[%zu] is not a number", key, i);
        v[i] = json_number_value(e);
    }
    return v;
}

#pragma GCC diagnostic pop

#endif
