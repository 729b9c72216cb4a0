/* check_csv.c: the CSV parser and its number syntax (core/csv.c). */
#include <check.h>
#include <string.h>

#include "core/csv.h"
#include "../suite.h"
#include "data_ref.h"

static void parse_fails(const char *s, size_t len, const csv_limits *lim, int code,
                        const char *field)
{
    csv_table *t = NULL;
    tg_err err;
    tg_err_clear(&err);
    int rc = csv_parse(s, len, lim ? lim : &csv_big, &t, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s)", s, rc, code, err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_ptr_null(t);
}

START_TEST(csv_quotes_crlf_and_blank_lines)
{
    csv_table *t = parse_ok("\xEF\xBB\xBF" "a,\"b,c\",d\r\n"
                            "1,\"x \"\"quoted\"\" y\",3\r\n"
                            "\r\n"
                            "\"multi\nline\",\"\",\"line\r\nbreak\"\n"
                            "\n"
                            "4,5,");
    ck_assert_uint_eq(t->n_cols, 3);
    ck_assert_uint_eq(t->n_rows, 3);
    ck_assert_str_eq(csv_header(t, 0), "a");
    ck_assert_str_eq(csv_header(t, 1), "b,c");
    ck_assert_str_eq(csv_cell(t, 0, 1), "x \"quoted\" y");
    ck_assert_str_eq(csv_cell(t, 1, 0), "multi\nline");
    ck_assert_str_eq(csv_cell(t, 1, 1), "");
    ck_assert_str_eq(csv_cell(t, 1, 2), "line\r\nbreak");
    ck_assert_str_eq(csv_cell(t, 2, 2), "");
    ck_assert_int_eq(csv_find_column(t, "d"), 2);
    ck_assert_int_eq(csv_find_column(t, "b"), -1);
    csv_free(t);
    t = parse_ok("x,y\n1,2\n");
    ck_assert_uint_eq(t->n_rows, 1);
    ck_assert_str_eq(csv_cell(t, 0, 1), "2");
    csv_free(t);
    t = parse_ok("only,header");
    ck_assert_uint_eq(t->n_rows, 0);
    ck_assert_uint_eq(t->n_cols, 2);
    csv_free(t);
    csv_free(NULL);
}
END_TEST

START_TEST(csv_errors)
{
    parse_fails("", 0, NULL, TG_EDATA, "header");
    parse_fails("\n\r\n", 3, NULL, TG_EDATA, "header");
    parse_fails("a,b\n1,\"2", 8, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b\n1,\"2\"x\n", 11, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b\n1,2\n3,4\"\n", 13, NULL, TG_EDATA, "row 2, column b");
    parse_fails("a,b\n1,2\n3\n", 10, NULL, TG_EDATA, "row 2");
    parse_fails("a,b\n1,2,3\n", 10, NULL, TG_EDATA, "row 1");
    parse_fails("a,b\n1\r2,3\n", 10, NULL, TG_EDATA, "row 1, column a");
    parse_fails("a,b\n1,2\0\n", 9, NULL, TG_EDATA, "row 1, column b");
    parse_fails("a,b,a\n1,2,3\n", 12, NULL, TG_EDATA, "header");
    parse_fails("a,\"b\nc\n", 7, NULL, TG_EDATA, "header, column 2");
    /* Issue 11: a second BOM made a column named "\ufeffa". */
    parse_fails("\xEF\xBB\xBF\xEF\xBB\xBF" "a,b\n1,2\n", 14, NULL, TG_EDATA, "header");
    const csv_limits small = {.max_rows = 2, .max_cols = 3, .max_field_len = 4};
    parse_fails("a,b\n1,2\n3,4\n5,6\n", 16, &small, TG_ETOOLARGE, "row 3");
    parse_fails("a,b,c,d\n", 8, &small, TG_ETOOLARGE, "header");
    parse_fails("a,b\n1,12345\n", 12, &small, TG_ETOOLARGE, "row 1, column b");
    parse_fails("a,b\n1,\"12345\"\n", 14, &small, TG_ETOOLARGE, "row 1, column b");
    csv_table *t = NULL;
    tg_err err;
    ck_assert_int_eq(csv_parse("a,b\n1,2\n3,4\n", 12, &small, &t, &err), TG_OK);
    ck_assert_str_eq(csv_cell(t, 1, 0), "3");
    csv_free(t);
}
END_TEST

START_TEST(csv_number_syntax)
{
    double v;
    long long i;
    const char *good[] = {"1", " 1.5 ", "-2e3", ".5", "5.", "+7", "1E-2", "\t3\t", "0.1"};
    const double want[] = {1, 1.5, -2000, 0.5, 5, 7, 0.01, 3, 0.1};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        ck_assert_msg(csv_to_double(good[k], &v) == 0, "%s", good[k]);
        ck_assert_double_eq(v, want[k]);
    }
    const char *bad[] = {"", " ", "nan", "inf", "-Infinity", "0x10", "1e", "1.2.3", "--1",
                         "1,5", "abc", ".", "e5", "1 2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_msg(csv_to_double(bad[k], &v) == -1, "%s", bad[k]);
    ck_assert_int_eq(csv_to_double("1e400", &v), -2);
    ck_assert_int_eq(csv_to_double("-1e400", &v), -2);
    ck_assert_int_eq(csv_to_int(" -42 ", &i), 0);
    ck_assert_int_eq(i, -42);
    ck_assert_int_eq(csv_to_int("3.0", &i), -1);
    ck_assert_int_eq(csv_to_int("99999999999999999999", &i), -1);
    ck_assert_int_eq(csv_to_int("", &i), -1);
    ck_assert_int_eq(csv_to_int("+", &i), -1);
}
END_TEST

Suite *csv_suite(void)
{
    return SUITE_TCASE(suite_create("csv"), "csv", 0, csv_quotes_crlf_and_blank_lines,
                       csv_errors, csv_number_syntax);
}
