/* check_router.c: the route table and its matcher (server/router.c). */
#include <check.h>
#include <string.h>

#include "server/router.h"

START_TEST(matches_literal_and_params)
{
    route_match m;
    ck_assert_int_eq(router_match("GET", "/healthz", &m), 200);
    ck_assert_int_eq(router_match("GET", "/v1/jobs/j_1/arrays/ntk", &m), 200);
    ck_assert_int_eq(m.n_params, 2);
    ck_assert_str_eq(m.params[0], "j_1");
    ck_assert_str_eq(m.params[1], "ntk");
    ck_assert_str_eq(router_routes(NULL)[m.index].name, "job_array");
    ck_assert_int_eq(router_match("HEAD", "/v1/jobs/abc", &m), 200);
}
END_TEST

START_TEST(method_not_allowed_lists_allow)
{
    route_match m;
    ck_assert_int_eq(router_match("PUT", "/v1/jobs/abc", &m), 405);
    ck_assert_ptr_nonnull(strstr(m.allow, "GET"));
    ck_assert_ptr_nonnull(strstr(m.allow, "DELETE"));
    ck_assert_int_eq(router_match("DELETE", "/v1/jobs", &m), 405);
    ck_assert_ptr_nonnull(strstr(m.allow, "POST"));
}
END_TEST

START_TEST(unknown_paths_are_404)
{
    route_match m;
    ck_assert_int_eq(router_match("GET", "/v1/nothing", &m), 404);
    ck_assert_int_eq(router_match("GET", "/v1/jobs/", &m), 404);
    ck_assert_int_eq(router_match("GET", "/v1/jobs//events", &m), 404);
    ck_assert_int_eq(router_match("GET", "/v1/jobs/a/b/c", &m), 404);
    ck_assert_int_eq(router_match("GET", "/healthzz", &m), 404);
}
END_TEST

Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, matches_literal_and_params);
    tcase_add_test(tc, method_not_allowed_lists_allow);
    tcase_add_test(tc, unknown_paths_are_404);
    suite_add_tcase(s, tc);
    return s;
}
