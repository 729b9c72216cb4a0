/* tg.c: the error carrier, invariant checks and size arithmetic of tg.h. */
#include "tg.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

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

void *tg_alloc_array(size_t a, size_t b, size_t elem)
{
    size_t bytes;
    if (tg_mul3_size(a ? a : 1, b ? b : 1, elem, &bytes))
        return NULL;
    return malloc(bytes);
}

int tg_progress_report(const tg_progress *p, double fraction, const char *msg)
{
    if (!p || !p->fn)
        return 0;
    return p->fn(p->ud, fraction, msg);
}

/* The keep-list of tg_alloc_big: every live or kept block of at least BIG_KEEP_MIN
 * bytes (more blocks than slots are simply not kept). */
#define BIG_KEEP_MIN ((size_t)64 << 20)
#define BIG_SLOTS 64

typedef struct big_block {
    void *p;
    size_t bytes;
    int live;
    double freed_at;
} big_block;

static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static big_block big[BIG_SLOTS];
static size_t big_limit, big_kept;

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void tg_big_keep(size_t limit)
{
    void *drop[BIG_SLOTS];
    int nd = 0;
    pthread_mutex_lock(&big_mu);
    big_limit = limit;
    for (int i = 0; i < BIG_SLOTS && big_kept > limit; i++)
        if (big[i].p && !big[i].live) {
            drop[nd++] = big[i].p;
            big_kept -= big[i].bytes;
            big[i].p = NULL;
        }
    pthread_mutex_unlock(&big_mu);
    for (int i = 0; i < nd; i++)
        free(drop[i]);
}

void tg_big_trim(double max_age_s)
{
    void *drop[BIG_SLOTS];
    int nd = 0;
    double now = mono_s();
    pthread_mutex_lock(&big_mu);
    for (int i = 0; i < BIG_SLOTS; i++)
        if (big[i].p && !big[i].live && max_age_s >= 0 && now - big[i].freed_at >= max_age_s) {
            drop[nd++] = big[i].p;
            big_kept -= big[i].bytes;
            big[i].p = NULL;
        }
    pthread_mutex_unlock(&big_mu);
    for (int i = 0; i < nd; i++)
        free(drop[i]);
}

size_t tg_big_kept(void)
{
    pthread_mutex_lock(&big_mu);
    size_t k = big_kept;
    pthread_mutex_unlock(&big_mu);
    return k;
}

void *tg_alloc_huge(size_t bytes)
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

void *tg_alloc_big(size_t bytes)
{
    void *p = NULL;
    if (bytes < BIG_KEEP_MIN)
        return tg_alloc_huge(bytes);
    /* A kept block of the same size, or else none is kept any longer: what was kept for
     * reuse must not add to the memory of a job that cannot use it. */
    void *drop[BIG_SLOTS];
    int nd = 0, slot = -1;
    pthread_mutex_lock(&big_mu);
    for (int i = 0; i < BIG_SLOTS && !p; i++)
        if (big[i].p && !big[i].live && big[i].bytes == bytes) {
            big[i].live = 1;
            big_kept -= bytes;
            p = big[i].p;
        }
    for (int i = 0; i < BIG_SLOTS && !p; i++)
        if (big[i].p && !big[i].live) {
            drop[nd++] = big[i].p;
            big_kept -= big[i].bytes;
            big[i].p = NULL;
        }
    pthread_mutex_unlock(&big_mu);
    for (int i = 0; i < nd; i++)
        free(drop[i]);
    if (p || !(p = tg_alloc_huge(bytes)))
        return p;
    pthread_mutex_lock(&big_mu);
    for (int i = 0; i < BIG_SLOTS && slot < 0; i++)
        if (!big[i].p)
            slot = i;
    if (slot >= 0)
        big[slot] = (big_block){p, bytes, 1, 0.0};
    pthread_mutex_unlock(&big_mu);
    return p;
}

void tg_free_big(void *p)
{
    if (!p)
        return;
    int keep = 0, found = 0;
    pthread_mutex_lock(&big_mu);
    for (int i = 0; i < BIG_SLOTS && !found; i++)
        if (big[i].p == p) {
            found = 1;
            if (big_kept + big[i].bytes <= big_limit) {
                keep = 1;
                big[i].live = 0;
                big[i].freed_at = mono_s();
                big_kept += big[i].bytes;
            } else {
                big[i].p = NULL;
            }
        }
    pthread_mutex_unlock(&big_mu);
    if (!keep)
        free(p);
}
