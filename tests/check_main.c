/* check_main.c: the one runner of the unit suites listed in suites.def. Runs from the
 * tests/ directory so that fixtures are found at reference/... */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.def"
#undef SUITE

int main(int argc, char **argv)
{
    SRunner *sr = srunner_create(NULL);
#define SUITE(name)                                                                    \
    if (argc < 2 || strcmp(argv[1], #name) == 0)                                       \
        srunner_add_suite(sr, name##_suite());
#include "suites.def"
#undef SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
