/* check_jx.c: strict JSON decoding helpers (api/jx.c). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* ---- jx_dumps ------------------------------------------------------------------------ */

/* Significant digits of the number at the start of s ("0.00120e5" -> 2). */
static int significant_digits(const char *s)
{
    char d[64];
    int n = 0;
    for (; *s && *s != 'e' && *s != ']' && n < 63; s++)
        if (*s >= '0' && *s <= '9' && (n || *s != '0'))
            d[n++] = *s;
    while (n > 1 && d[n - 1] == '0')
        n--;
    return n ? n : 1;
}

/* x through jx_dumps and back (jansson's parser, strtod underneath): bit-identical, still
 * a real, and no longer than jansson's own %.17g text. */
static void round_trip(double x)
{
    json_t *a = json_pack("[f]", x);
    char *t = jx_dumps(a, JSON_COMPACT);
    char *ref = json_dumps(a, JSON_COMPACT);
    ck_assert_ptr_nonnull(t);
    json_error_t je;
    json_t *back = json_loads(t, 0, &je);
    ck_assert_msg(back != NULL, "%a: %s does not parse", x, t);
    json_t *e = json_array_get(back, 0);
    ck_assert_msg(json_is_real(e), "%a: %s is not read back as a real", x, t);
    double y = json_real_value(e);
    ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%a: %s reads back as %a", x, t, y);
    ck_assert_msg(significant_digits(t + 1) <= significant_digits(ref + 1),
                  "%a: %s has more digits than %s", x, t, ref);
    /* No %.Ng form with fewer significant digits reads back. */
    int sig = significant_digits(t + 1);
    for (int prec = 1; prec < sig; prec++) {
        char b[400];
        snprintf(b, sizeof b, "%.*g", prec, x);
        double z = strtod(b, NULL);
        ck_assert_msg(memcmp(&z, &x, sizeof x) != 0, "%a: %s is shorter than %s", x, b, t);
    }
    free(t);
    free(ref);
    json_decref(a);
    json_decref(back);
}

START_TEST(dumps_reals_shortest_round_trip)
{
    static const struct {
        double x;
        const char *text;
    } exact[] = {
        {0.2, "[0.2]"}, {0.9, "[0.9]"}, {0.999, "[0.999]"}, {0.1 + 0.2, "[0.30000000000000004]"},
        {1e-300, "[1e-300]"}, {-0.0, "[-0.0]"}, {0.0, "[0.0]"}, {3.0, "[3.0]"},
        {-42.0, "[-42.0]"}, {1e20, "[1e20]"}, {1e21, "[1e21]"}, {1.5e-5, "[1.5e-5]"},
        {123456789012345.0, "[123456789012345.0]"}, {1e15, "[1e15]"},
        {1.7976931348623157e308, "[1.7976931348623157e308]"}, {5e-324, "[5e-324]"},
        {2.2250738585072014e-308, "[2.2250738585072014e-308]"}, {0.1, "[0.1]"},
        {1.0 / 3.0, "[0.3333333333333333]"}, {2.0 / 3.0, "[0.6666666666666666]"},
        {100.0, "[100.0]"}, {9007199254740993.0, "[9007199254740992.0]"},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        json_t *a = json_pack("[f]", exact[i].x);
        char *t = jx_dumps(a, JSON_COMPACT);
        ck_assert_msg(t && strcmp(t, exact[i].text) == 0, "%a: got %s, want %s", exact[i].x,
                      t ? t : "NULL", exact[i].text);
        free(t);
        json_decref(a);
        round_trip(exact[i].x);
    }
    /* Random bit patterns (every finite one), subnormals, integers as reals, huge and
     * tiny exponents, decimal fractions. */
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double x;
        uint64_t bits = s;
        if (i % 4 == 1)
            bits &= 0x800fffffffffffffull; /* subnormal (or zero) */
        memcpy(&x, &bits, sizeof x);
        if (i % 4 == 2)
            x = (double)(int64_t)(s >> (s & 63)) * ((s & 1) ? 1 : -1);
        if (i % 4 == 3)
            x = (double)(s % 100000) / 1000.0 * ((s & 2) ? 1e-10 : 1e10);
        if (!isfinite(x))
            continue;
        round_trip(x);
    }
    double nines[] = {0.1, 1e-310, 1e-320, 4.9406564584124654e-324, 1e308, 1e-5, 123e-20};
    for (size_t i = 0; i < sizeof nines / sizeof nines[0]; i++) {
        round_trip(nines[i]);
        round_trip(-nines[i]);
        round_trip(nextafter(nines[i], 0));
        round_trip(nextafter(nines[i], INFINITY));
    }
}
END_TEST

/* Everything but reals is written exactly as json_dumps(JSON_COMPACT) writes it. */
START_TEST(dumps_matches_jansson_otherwise)
{
    static const char *const texts[] = {
        "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\\\"y\\\\z\\n\\t\\u0001\\u001f/\"}",
        "{\"z\":{},\"y\":[],\"x\":[[1,2],[3]],\"\\u00e9t\\u00e9\":\"caf\\u00e9 \\u2028\"}",
        "[-9223372036854775808,9223372036854775807,0,-1]",
        "\"\\b\\f\\r\"", "{}", "[]", "null", "7",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_error_t je;
        json_t *v = json_loads(texts[i], JSON_DECODE_ANY, &je);
        ck_assert_msg(v != NULL, "%s: %s", texts[i], je.text);
        for (int sorted = 0; sorted < 2; sorted++) {
            size_t f = JSON_COMPACT | JSON_ENCODE_ANY | (sorted ? JSON_SORT_KEYS : 0);
            char *t = jx_dumps(v, f), *ref = json_dumps(v, f);
            ck_assert_msg(t && ref && strcmp(t, ref) == 0, "got %s, want %s", t, ref);
            free(t);
            free(ref);
        }
        json_decref(v);
    }
    /* Nested reals, and a real next to integers stays a real. */
    json_t *v = json_pack("{s:f, s:[f, i, f], s:{s:f}}", "test_fraction", 0.2, "betas", 0.9,
                          3, 0.999, "o", "lr", 1e-3);
    char *t = jx_dumps(v, JSON_COMPACT);
    ck_assert_str_eq(t, "{\"test_fraction\":0.2,\"betas\":[0.9,3,0.999],\"o\":{\"lr\":0.001}}");
    free(t);
    json_decref(v);
    ck_assert_ptr_null(jx_dumps(NULL, JSON_COMPACT));
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
    tcase_add_test(tc, dumps_reals_shortest_round_trip);
    tcase_add_test(tc, dumps_matches_jansson_otherwise);
    suite_add_tcase(s, tc);
    return s;
}
