/* check_influence.c: the influence kind end to end (filled in below). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

START_TEST(placeholder)
{
}
END_TEST

Suite *e2e_influence_suite(void)
{
    Suite *s = suite_create("e2e_influence");
    TCase *tc = FIXTURE_CASE(s, "influence", 300, S);
    tcase_add_test(tc, placeholder);
    return s;
}
