/* check_jx.c: strict JSON decoding helpers (api/jx.c). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/jx.h"

START_TEST(unknown_field_suggests)
{
    tg_err err;
    json_t *o = json_pack("{s:f, s:i}", "lr", 0.1, "momentun", 1);
    const char *allowed[] = {"lr", "momentum", NULL};
    ck_assert_int_eq(jx_check_fields(o, "params.optimizer", allowed, &err), TG_EUNKNOWN);
    ck_assert_str_eq(err.field, "params.optimizer.momentun");
    ck_assert_ptr_nonnull(strstr(err.msg, "\"momentum\""));
    json_decref(o);
}
END_TEST

START_TEST(integers_accept_integral_reals)
{
    tg_err err;
    long long v;
    json_t *o = json_pack("{s:f, s:f, s:s, s:i}", "a", 3.0, "b", 3.5, "c", "3", "d", -1);
    ck_assert_int_eq(jx_int(o, "a", "p", 0, 0, 10, &v, &err), TG_OK);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(jx_int(o, "b", "p", 0, 0, 10, &v, &err), TG_EINVAL);
    ck_assert_str_eq(err.field, "p.b");
    ck_assert_int_eq(jx_int(o, "c", "p", 0, 0, 10, &v, &err), TG_EINVAL);
    ck_assert_int_eq(jx_int(o, "d", "p", 0, 0, 10, &v, &err), TG_EINVAL);
    ck_assert_int_eq(jx_int(o, "missing", "p", 7, 0, 10, &v, &err), TG_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(jx_int_req(o, "missing", "p", 0, 10, &v, &err), TG_EMISSING);
    ck_assert_str_eq(err.field, "p.missing");
    json_decref(o);
}
END_TEST

START_TEST(number_ranges)
{
    tg_err err;
    double x;
    json_t *o = json_pack("{s:f, s:f}", "lr", -0.1, "ok", 0.5);
    ck_assert_int_eq(jx_number(o, "lr", "params.optimizer", 0.01, 0, 1, INFINITY, 0, &x, &err),
                     TG_EINVAL);
    ck_assert_str_eq(err.field, "params.optimizer.lr");
    ck_assert_ptr_nonnull(strstr(err.msg, "> 0"));
    ck_assert_int_eq(jx_number(o, "ok", "", 0, 0, 1, 1, 0, &x, &err), TG_OK);
    ck_assert_double_eq(x, 0.5);
    json_decref(o);
}
END_TEST

START_TEST(ragged_matrix_names_row)
{
    tg_err err;
    size_t r, c;
    double *m = NULL;
    json_error_t je;
    json_t *v = json_loads("[[1,2],[3,4],[5]]", 0, &je);
    ck_assert_int_eq(jx_matrix(v, "data.x", 0, 100, &r, &c, &m, &err), TG_EDATA);
    ck_assert_str_eq(err.field, "data.x[2]");
    json_decref(v);
    v = json_loads("[[1,2],[3,\"a\"]]", 0, &je);
    ck_assert_int_eq(jx_matrix(v, "data.x", 0, 100, &r, &c, &m, &err), TG_EDATA);
    ck_assert_str_eq(err.field, "data.x[1][1]");
    json_decref(v);
    v = json_loads("[[1,2],[3,4]]", 0, &je);
    ck_assert_int_eq(jx_matrix(v, "data.x", 0, 100, &r, &c, &m, &err), TG_OK);
    ck_assert_uint_eq(r, 2);
    ck_assert_uint_eq(c, 2);
    ck_assert_double_eq(m[3], 4.0);
    free(m);
    ck_assert_int_eq(jx_matrix(v, "data.x", 0, 3, &r, &c, &m, &err), TG_ETOOLARGE);
    json_decref(v);
}
END_TEST

START_TEST(nonfinite_outputs_become_null)
{
    json_t *v = jx_real(NAN);
    ck_assert(json_is_null(v));
    json_decref(v);
    v = jx_real(1.5);
    ck_assert(json_is_real(v));
    json_decref(v);
}
END_TEST

Suite *jx_suite(void)
{
    Suite *s = suite_create("jx");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, unknown_field_suggests);
    tcase_add_test(tc, integers_accept_integral_reals);
    tcase_add_test(tc, number_ranges);
    tcase_add_test(tc, ragged_matrix_names_row);
    tcase_add_test(tc, nonfinite_outputs_become_null);
    suite_add_tcase(s, tc);
    return s;
}
