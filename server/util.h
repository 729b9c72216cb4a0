/* util.h: small runtime helpers: RFC 3339 timestamps, random ids, monotonic time,
 * a growable string buffer. Thread-safe. */
#ifndef TG_UTIL_H
#define TG_UTIL_H

#include <stddef.h>
#include <time.h>

/* "2026-11-22T20:51:55.123Z" (UTC, milliseconds) into buf (>= 32 bytes). */
char *util_now_rfc3339(char *buf, size_t n);
/* prefix + 16 random hex digits into buf (>= 20 + strlen(prefix) bytes). */
char *util_new_id(const char *prefix, char *buf, size_t n);
/* Seconds on the monotonic clock. */
double util_mono(void);
/* The CLOCK_MONOTONIC time `seconds` from now, for pthread_cond_timedwait on a condvar
 * whose clock is CLOCK_MONOTONIC. */
struct timespec util_mono_deadline(double seconds);

/* A growable byte buffer; on allocation failure it sets oom and stops growing. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;
void sbuf_put(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quoted and escaped); NULL becomes null. */
void sbuf_json_str(sbuf *b, const char *s);
void sbuf_free(sbuf *b);

#endif
