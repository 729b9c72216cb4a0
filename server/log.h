/* log.h: one line per request and per job transition, as text or JSON (--log-format),
 * to stderr. Lines are written with one write(2) each, so threads never interleave
 * within a line. */
#ifndef TG_LOG_H
#define TG_LOG_H

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_setup(int json, int level);
/* A free-form message; kv pairs are "key", "value" strings, NULL-terminated. */
void log_msg(int level, const char *event, const char *msg, ...);
void log_request(const char *rid, const char *method, const char *path, int status,
                 double ms, long long bytes);
void log_job(const char *job_id, const char *kind, const char *from, const char *to,
             int attempt, const char *detail);

#endif
