/* runner.h: the one loop of the Check runners (tests/check_main.c, tests/e2e/check_e2e.c):
 * runs every suite of a table, or the one named by argv[1]; 2 when there is no such
 * suite, else EXIT_FAILURE when a check failed. Header-only: each runner is one binary. */
#ifndef TG_TESTS_RUNNER_H
#define TG_TESTS_RUNNER_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct runner_suite {
    const char *name;
    Suite *(*fn)(void);
} runner_suite;

static inline int runner_run(const char *prog, const runner_suite *suites, size_t n, int argc,
                             char **argv)
{
    SRunner *sr = srunner_create(NULL);
    int added = 0;
    for (size_t i = 0; i < n; i++)
        if (argc < 2 || strcmp(argv[1], suites[i].name) == 0) {
            srunner_add_suite(sr, suites[i].fn());
            added++;
        }
    if (!added) {
        fprintf(stderr, "%s: no suite %s\n", prog, argv[1]);
        srunner_free(sr);
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
