/* check_e2e.c: the runner of the end-to-end suites, which drive the real tangentd binary
 * ($TANGENTD_BIN) over HTTP. `build/check_e2e [suite]` runs every suite or the one
 * named (api, data, jobs, ops, train, ntk); Check's CK_RUN_CASE selects one test case.
 * E2E_KEEP=1 keeps the temporary directories (databases and server logs). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        Suite *(*fn)(void);
    } suites[] = {
        {"api", e2e_api_suite},
        {"data", e2e_data_suite},
        {"jobs", e2e_jobs_suite},
        {"ops", e2e_ops_suite},
        {"train", e2e_train_suite},
        {"ntk", e2e_ntk_suite},
    };
    harness_init();
    SRunner *sr = srunner_create(NULL);
    int n = 0;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (argc < 2 || strcmp(argv[1], suites[i].name) == 0) {
            srunner_add_suite(sr, suites[i].fn());
            n++;
        }
    if (!n) {
        fprintf(stderr, "check_e2e: no suite %s (api, data, jobs, ops, train, ntk)\n", argv[1]);
        srunner_free(sr);
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    harness_fini();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
