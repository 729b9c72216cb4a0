/* suite.h: building a Check suite without a fixture in one statement per test case:
 * SUITE_TCASE(s, "name", timeout, test, ...) adds to the suite s a test case of that name
 * running the tests in order, with that timeout in seconds (0: Check's default, which is
 * CK_DEFAULT_TIMEOUT), and returns s. For example:
 *     return SUITE_TCASE(suite_create("rng"), "rng", 120, rng_matches_reference, ...);
 * Header-only. */
#ifndef TG_TESTS_SUITE_H
#define TG_TESTS_SUITE_H

#include <check.h>
#include <stddef.h>

static inline Suite *tcase_of(Suite *s, const char *name, double timeout,
                              const TTest *const *tests, size_t n)
{
    TCase *t = tcase_create(name);
    if (timeout > 0)
        tcase_set_timeout(t, timeout);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(t, tests[i]);
    suite_add_tcase(s, t);
    return s;
}

#define SUITE_TCASE(s, name, timeout, ...)                                                  \
    tcase_of((s), (name), (timeout), (const TTest *const[]){__VA_ARGS__},                 \
             sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *))

#endif
