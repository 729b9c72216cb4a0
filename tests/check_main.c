/* check_main.c: the one runner of the unit suites: those of suites.def, then one per
 * job kind of api/kinds.def. `check_unit [suite]` runs every suite or the one named.
 * Runs from the tests/ directory so that fixtures are found at reference/... */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE(name) Suite *name##_suite(void);
#define KIND(name) SUITE(name)
#define TEST_KIND(name)
#define PLANNED_KIND(name)
#include "suites.def"
#include "../api/kinds.def"

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        Suite *(*fn)(void);
    } suites[] = {
#undef SUITE
#define SUITE(name) {#name, name##_suite},
#include "suites.def"
#include "../api/kinds.def"
    };
    SRunner *sr = srunner_create(NULL);
    int n = 0;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (argc < 2 || strcmp(argv[1], suites[i].name) == 0) {
            srunner_add_suite(sr, suites[i].fn());
            n++;
        }
    if (!n) {
        fprintf(stderr, "check_unit: no suite %s\n", argv[1]);
        srunner_free(sr);
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
