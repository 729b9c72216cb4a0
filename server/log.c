/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int log_json_fmt;
static int log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(int json, int level)
{
    log_json_fmt = json;
    log_min = level;
}

static void emit(sbuf *b)
{
    sbuf_put(b, "\n", 1);
    if (!b->oom) {
        ssize_t w = write(STDERR_FILENO, b->p, b->len);
        (void)w;
    }
    sbuf_free(b);
}

/* Starts a line with time and level; text: "TIME level event", JSON: {"time",...}. */
static void start(sbuf *b, int level, const char *event)
{
    char ts[32];
    util_now_rfc3339(ts, sizeof ts);
    if (log_json_fmt) {
        sbuf_printf(b, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":", ts, level_names[level]);
        sbuf_json_str(b, event);
    } else {
        sbuf_printf(b, "%s %s %s", ts, level_names[level], event);
    }
}

static void kv(sbuf *b, const char *k, const char *v)
{
    if (log_json_fmt) {
        sbuf_printf(b, ",\"%s\":", k);
        sbuf_json_str(b, v);
    } else {
        int quote = v && (strchr(v, ' ') || !*v);
        sbuf_printf(b, " %s=%s%s%s", k, quote ? "\"" : "", v ? v : "-", quote ? "\"" : "");
    }
}

static void end(sbuf *b)
{
    if (log_json_fmt)
        sbuf_put(b, "}", 1);
    emit(b);
}

void log_msg(int level, const char *event, const char *msg, ...)
{
    if (level < log_min)
        return;
    sbuf b = {0};
    va_list ap;
    start(&b, level, event);
    kv(&b, "msg", msg);
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        kv(&b, k, va_arg(ap, const char *));
    }
    va_end(ap);
    end(&b);
}

void log_request(const char *rid, const char *method, const char *path, int status,
                 double ms, long long bytes)
{
    if (LOG_INFO < log_min)
        return;
    sbuf b = {0};
    char num[32];
    start(&b, LOG_INFO, "request");
    kv(&b, "request_id", rid);
    kv(&b, "method", method);
    kv(&b, "path", path);
    if (log_json_fmt) {
        sbuf_printf(&b, ",\"status\":%d,\"ms\":%.3f,\"bytes\":%lld", status, ms, bytes);
    } else {
        snprintf(num, sizeof num, "%d", status);
        kv(&b, "status", num);
        snprintf(num, sizeof num, "%.3f", ms);
        kv(&b, "ms", num);
        snprintf(num, sizeof num, "%lld", bytes);
        kv(&b, "bytes", num);
    }
    end(&b);
}

void log_job(const char *job_id, const char *kind, const char *from, const char *to,
             int attempt, const char *detail)
{
    if (LOG_INFO < log_min)
        return;
    sbuf b = {0};
    char num[16];
    start(&b, LOG_INFO, "job");
    kv(&b, "job", job_id);
    kv(&b, "kind", kind);
    kv(&b, "from", from);
    kv(&b, "to", to);
    snprintf(num, sizeof num, "%d", attempt);
    kv(&b, "attempt", num);
    if (detail)
        kv(&b, "detail", detail);
    end(&b);
}
