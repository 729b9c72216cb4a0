/* tg.c: the error carrier, invariant checks and size arithmetic of tg.h. */
#include "tg.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

int tg_err_set(tg_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->field[0] = '\0';
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int tg_err_setf(tg_err *err, int code, const char *field, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void tg_err_clear(tg_err *err)
{
    if (err) {
        err->code = TG_OK;
        err->field[0] = '\0';
        err->msg[0] = '\0';
    }
}

const char *tg_status_job_code(int code)
{
    switch (code) {
    case TG_EDIVERGED: return "diverged";
    case TG_ETIMEOUT: return "timeout";
    case TG_ENUMERICAL: return "numerical";
    case TG_ECANCELLED: return "cancelled";
    default: return "internal";
    }
}

void tg_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "tangentd: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

int tg_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int tg_mul3_size(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (tg_mul_size(a, b, &ab))
        return -1;
    return tg_mul_size(ab, c, out);
}

int tg_progress_report(const tg_progress *p, double fraction, const char *msg)
{
    if (!p || !p->fn)
        return 0;
    return p->fn(p->ud, fraction, msg);
}

void *tg_alloc_big(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (bytes < 2 * huge)
        return malloc(bytes ? bytes : 1);
    if (posix_memalign(&p, huge, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}
