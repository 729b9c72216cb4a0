/* csv.h: a bounded CSV parser (RFC 4180) for the shipped datasets and for uploads.
 * Pure text: no numbers, no JSON. Used by core/dataset.c (builtins) and api/data.c
 * (CSV uploads).
 *
 * Accepted: a header row (required), fields separated by ',', records ended by CRLF or
 * LF (the last one optionally unterminated), quoted fields ("a,b", "line\nbreak") with
 * "" standing for one quote, a leading UTF-8 byte order mark, and blank lines (skipped).
 * Rejected (TG_EDATA): every record with another field count than the header, a quote
 * inside an unquoted field, anything but a separator after a closing quote, an
 * unterminated quoted field, a carriage return not followed by a line feed outside
 * quotes, NUL bytes, duplicate column names, an empty input. Over a limit: TG_ETOOLARGE.
 * Errors name the place in err->field: "header", "row R" or "row R, column NAME", with
 * R counting data rows from 1 (the header is not counted).
 *
 * Sizes: the text buffers grow by doubling with overflow checks (TG_ENOMEM when they
 * would not fit in size_t); the limits bound rows x cols before any table is built.
 *
 * Threading: reentrant; a table is immutable once parsed.
 */
#ifndef TG_CSV_H
#define TG_CSV_H

#include <stddef.h>

#include "tg.h"

typedef struct csv_limits {
    size_t max_rows;      /* data rows, header excluded */
    size_t max_cols;
    size_t max_field_len; /* bytes of one field after unescaping */
} csv_limits;

typedef struct csv_table {
    size_t n_rows; /* data rows (header excluded) */
    size_t n_cols;
    char *text;    /* every field unescaped and NUL-terminated, back to back (owned) */
    size_t *off;   /* (n_rows + 1) x n_cols offsets into text; row 0 is the header (owned) */
} csv_table;

/* Parses buf[0..len) into *out (new, caller frees with csv_free). lim is required.
 * Returns TG_OK; TG_EDATA (malformed: an unterminated quote, a ragged row, ...; the
 * message names row and column), TG_ETOOLARGE (over a limit of lim), TG_ENOMEM. */
int csv_parse(const char *buf, size_t len, const csv_limits *lim, csv_table **out,
              tg_err *err);
/* Frees t; csv_free(NULL) is a no-op. */
void csv_free(csv_table *t);
/* The name of column col (borrowed from t). */
const char *csv_header(const csv_table *t, size_t col);
/* The field of data row `row` (0-based, header excluded) and column col (borrowed). */
const char *csv_cell(const csv_table *t, size_t row, size_t col);
/* The index of the column named name, or -1 when there is none. */
long csv_find_column(const csv_table *t, const char *name);

/* Strict number syntax for fields: optional blanks (space, tab) around
 * [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?, nothing else (no "nan",
 * "inf", hex or empty fields). Returns 0 and *out, -1 when s is not a number, -2 when
 * it overflows (e.g. 1e400). Correctly rounded (strtod in the C locale). */
int csv_to_double(const char *s, double *out);
/* [+-]? digits with optional blanks, in the range of long long: 0, else -1. */
int csv_to_int(const char *s, long long *out);

#endif
