/* check_main.c: the one runner of the unit suites: those of suites.def, then one per
 * job kind of api/kinds.def. `check_unit [suite]` runs every suite or the one named.
 * Runs from the tests/ directory so that fixtures are found at reference/... */
#include "runner.h"

#define SUITE(name) Suite *name##_suite(void);
#define KIND(name) SUITE(name)
#define TEST_KIND(name)
#define PLANNED_KIND(name)
#include "suites.def"
#include "../api/kinds.def"

int main(int argc, char **argv)
{
    static const runner_suite suites[] = {
#undef SUITE
#define SUITE(name) {#name, name##_suite},
#include "suites.def"
#include "../api/kinds.def"
    };
    return runner_run("check_unit", suites, sizeof suites / sizeof suites[0], argc, argv);
}
