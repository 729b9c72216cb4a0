/* check_e2e.c: the runner of the end-to-end suites, which drive the real tangentd binary
 * ($TANGENTD_BIN) over HTTP: those of the service (api, data, jobs, ops, hostile), then one per
 * job kind of api/kinds.def (`e2e_<kind>_suite` in check_<kind>.c).
 * `build/check_e2e [suite]` runs every suite or the one named; Check's CK_RUN_CASE
 * selects one test case. E2E_KEEP=1 keeps the temporary directories (databases and
 * server logs). */
#include "../runner.h"
#include "harness.h"

#define SERVICE_SUITES(X) X(api) X(data) X(jobs) X(ops) X(hostile)
#define KIND(name) Suite *e2e_##name##_suite(void);
#define TEST_KIND(name)
#define PLANNED_KIND(name)
#define DECLARE(name) Suite *e2e_##name##_suite(void);
SERVICE_SUITES(DECLARE)
#include "../../api/kinds.def"
#undef KIND

int main(int argc, char **argv)
{
    static const runner_suite suites[] = {
#define ROW(name) {#name, e2e_##name##_suite},
#define KIND(name) ROW(name)
        SERVICE_SUITES(ROW)
#include "../../api/kinds.def"
    };
    harness_init();
    int rc = runner_run("check_e2e", suites, sizeof suites / sizeof suites[0], argc, argv);
    harness_fini();
    return rc;
}
