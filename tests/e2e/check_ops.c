/* check_ops.c: the command line and the security settings of API.md 6.1 and 6.3: bad
 * flags (exit 2, one line), --help and --version (exit 0), the bearer token (401 with
 * WWW-Authenticate: Bearer on every /v1 route, open health endpoints, /metrics open unless
 * --metrics-auth), preflight without a token, and JSON log lines (also the HTTP
 * library's messages). What a new user hits first (issue 9): a port in use is exit 2,
 * an over-limit body sent without Expect: 100-continue still gets its 413 JSON, the
 * OpenAPI document's version is the binary's, and the defaults of --workers and
 * --memory-budget follow the cgroup limits (a fake tree under
 * TANGENTD_TEST_CGROUP_ROOT, which the harness passes on: it is not a TANGENT_* twin). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* Number of '\n' in s. */
static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(cli_bad_flags)
{
    static const char *const cases[][4] = {
        {"--port", "x", NULL},
        {"--nope", NULL},
        {"--port", "70000", NULL},
        {"--workers", "0", NULL},
        {"--max-body", "lots", NULL},
        {"--memory-budget", "-5", NULL},
        {"--log-format", "xml", NULL},
        {"--max-attempts", "0", NULL},
        {"--max-connections", "3", NULL},
        {"--header-timeout", "0", NULL},
        {"--header-timeout", "x", NULL},
        {"--max-body-memory", "12", NULL},
        {"stray-argument", NULL},
        {"--port", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_cli(cases[i], 10, &out, &err);
        const char *what = fmt("%s %s", cases[i][0], cases[i][1] ? cases[i][1] : "");
        ck_assert_msg(rc == 2, "%s: exit %d (stderr: %s)", what, rc, err);
        ck_assert_msg(count_lines(err) == 1 && err[strlen(err) - 1] == '\n',
                      "%s: not a one-line error: \"%s\"", what, err);
        ck_assert_msg(strlen(err) > 10, "%s: empty error", what);
        ck_assert_msg(out[0] == '\0', "%s: printed on stdout: %s", what, out);
    }
}
END_TEST

START_TEST(cli_help_version)
{
    static const char *const help[] = {"--help", NULL};
    char *out, *err;
    int rc = run_cli(help, 10, &out, &err);
    ck_assert_msg(rc == 0, "--help: exit %d", rc);
    static const char *const flags[] = {
        "--port", "--bind", "--db", "--workers", "--blas-threads", "--max-body",
        "--max-queue", "--memory-budget", "--max-attempts", "--api-token", "--metrics-auth",
        "--cors-origins", "--webhook-secret", "--log-format", "--log-level",
        "--enable-test-kinds", "--max-connections", "--header-timeout", "--max-body-memory",
        "--help", "--version", NULL};
    for (int i = 0; flags[i]; i++)
        ck_assert_msg(strstr(out, flags[i]) != NULL, "--help does not list %s", flags[i]);

    static const char *const version[] = {"--version", NULL};
    rc = run_cli(version, 10, &out, &err);
    ck_assert_msg(rc == 0, "--version: exit %d", rc);
    ck_assert_msg(strncmp(out, "tangentd ", 9) == 0 && count_lines(out) == 1,
                  "--version printed \"%s\"", out);
}
END_TEST

/* ---- tokens -------------------------------------------------------------------------- */

static void assert_401(resp *r, const char *what)
{
    char *m = check_error(r, 401, "unauthorized", NULL);
    ck_assert_msg(m == NULL, "%s: %s", what, m);
    const char *w = resp_header(r, "WWW-Authenticate");
    ck_assert_msg(w && strncmp(w, "Bearer", 6) == 0, "%s: WWW-Authenticate: %s", what,
                  w ? w : "(none)");
}

START_TEST(auth_token)
{
    srv *s = srv_spawn("--enable-test-kinds", "--api-token", "s3cret-token",
                       "--cors-origins", "https://ok.example", NULL);
    static const struct {
        const char *method, *path;
    } guarded[] = {
        {"GET", "/v1/jobs"},       {"POST", "/v1/jobs"},          {"GET", "/v1/jobs/j_x"},
        {"DELETE", "/v1/jobs/j_x"}, {"POST", "/v1/jobs/j_x/cancel"}, {"GET", "/v1/jobs/j_x/events"},
        {"GET", "/v1/jobs/j_x/arrays/values"}, {"GET", "/v1/kinds"}, {"GET", "/v1/openapi.json"},
        {"GET", "/v1/datasets"},   {"POST", "/v1/datasets"},      {"GET", "/v1/datasets/d_x"},
        {"DELETE", "/v1/datasets/d_x"},
    };
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        reqopt none = {.no_auth = 1};
        const char *what = fmt("%s %s", guarded[i].method, guarded[i].path);
        assert_401(http_req(s, guarded[i].method, guarded[i].path, &none), what);
        reqopt wrong = {.token = "s3cret-tokeN"};
        assert_401(http_req(s, guarded[i].method, guarded[i].path, &wrong), what);
    }
    /* Near misses of the token. */
    static const char *const bad_auth[] = {
        "Authorization: Bearer s3cret-toke", "Authorization: Bearer s3cret-token2",
        "Authorization: Basic czNjcmV0LXRva2Vu", "Authorization: s3cret-token",
        "Authorization: Bearer", "Authorization: Bearer  s3cret-token"};
    for (size_t i = 0; i < sizeof bad_auth / sizeof bad_auth[0]; i++) {
        reqopt o = {.no_auth = 1, .headers = {bad_auth[i], NULL}};
        assert_401(http_req(s, "GET", "/v1/jobs", &o), bad_auth[i]);
    }
    /* With the token. */
    ASSERT_STATUS(http_get(s, "/v1/jobs"), 200);
    ASSERT_STATUS(http_get(s, "/v1/kinds"), 200);
    const char *id = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, id, "succeeded", 10);
    reqopt lower = {.no_auth = 1, .headers = {"Authorization: bearer s3cret-token", NULL}};
    ASSERT_STATUS(http_req(s, "GET", "/v1/jobs", &lower), 200);
    /* Open without a token: health, readiness, metrics, the dashboard page. */
    static const char *const open[] = {"/healthz", "/readyz", "/metrics", "/"};
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        reqopt none = {.no_auth = 1};
        resp *r = http_req(s, "GET", open[i], &none);
        ck_assert_msg(r->status == 200, "%s without a token: %ld", open[i], r->status);
    }
    /* A 404 for an unknown route does not need the token either way. */
    reqopt none = {.no_auth = 1};
    resp *r = http_req(s, "GET", "/nope", &none);
    ck_assert_msg(r->status == 404 || r->status == 401, "unknown route: %ld", r->status);
    /* Preflights carry no credentials and are answered. */
    reqopt pre = {.no_auth = 1, .headers = {"Origin: https://ok.example",
                                            "Access-Control-Request-Method: GET",
                                            "Access-Control-Request-Headers: authorization", NULL}};
    r = http_req(s, "OPTIONS", "/v1/jobs", &pre);
    ck_assert_msg(r->status == 200 || r->status == 204, "preflight with a token set: %ld",
                  r->status);
    ck_assert_ptr_nonnull(resp_header(r, "Access-Control-Allow-Origin"));
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

START_TEST(auth_metrics)
{
    srv *s = srv_spawn("--api-token", "tok", "--metrics-auth", NULL);
    reqopt none = {.no_auth = 1};
    assert_401(http_req(s, "GET", "/metrics", &none), "/metrics with --metrics-auth");
    ASSERT_STATUS(http_get(s, "/metrics"), 200);
    ASSERT_STATUS(http_req(s, "GET", "/healthz", &none), 200);
    ASSERT_STATUS(http_req(s, "GET", "/readyz", &none), 200);
    assert_401(http_req(s, "GET", "/v1/jobs", &none), "/v1/jobs");
    ck_assert_int_eq(srv_stop(s, 10), 0);

    /* Without a token configured, nothing needs one, --metrics-auth or not. */
    srv *t = srv_spawn("--metrics-auth", NULL);
    ASSERT_STATUS(http_req(t, "GET", "/metrics", &none), 200);
    ASSERT_STATUS(http_req(t, "GET", "/v1/jobs", &none), 200);
    ck_assert_int_eq(srv_stop(t, 10), 0);
}
END_TEST

START_TEST(test_kinds_off_by_default)
{
    srv *s = srv_spawn(NULL, NULL);
    resp *r = http_post(s, "/v1/jobs", "{\"kind\":\"sleep\"}");
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "kind");
    r = http_get(s, "/v1/kinds");
    ASSERT_STATUS(r, 200);
    ck_assert_ptr_null(strstr(r->body, "\"sleep\""));
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* Fails the test unless every line of s's log (the harness's own lines aside) is a JSON
 * object; returns the number of lines and sets *has (when not NULL) to whether one of
 * them contains needle. */
static int assert_json_lines(srv *s, const char *needle, int *has)
{
    const char *log = srv_log_text(s);
    int n = 0;
    if (has)
        *has = 0;
    for (const char *p = log; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && strncmp(p, "==== harness", 12) != 0) {
            char *line = fmt("%.*s", (int)len, p);
            json_error_t je;
            json_t *v = json_loads(line, 0, &je);
            ck_assert_msg(json_is_object(v), "log line is not a JSON object: %s", line);
            if (has && needle && strstr(line, needle))
                *has = 1;
            json_decref(v);
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    return n;
}

START_TEST(json_logs)
{
    srv *s = srv_spawn("--log-format", "json", "--enable-test-kinds", NULL);
    reqopt o = {.headers = {"X-Request-Id: log-probe-1", NULL}};
    ASSERT_STATUS(http_req(s, "GET", "/v1/jobs", &o), 200);
    const char *id = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, id, "succeeded", 10);
    ck_assert_int_eq(srv_stop(s, 10), 0);
    int rid;
    ck_assert_int_ge(assert_json_lines(s, "log-probe-1", &rid), 3);
    ck_assert_msg(rid, "the request id does not appear in the log");
}
END_TEST

/* An event stream cut by its client makes libmicrohttpd report the failed send; the
 * message is a log line like the others (debug level), not raw text on stderr. */
START_TEST(json_logs_library_messages)
{
    srv *s = srv_spawn("--log-format", "json", "--log-level", "debug", "--enable-test-kinds",
                       NULL);
    const char *id = sleep_submit(s, "{\"ms\":20000,\"progress_every_ms\":20}");
    job_wait(s, id, "running", 10);
    for (int i = 0; i < 3; i++) {
        sse_res *r = sse_read(s, fmt("/v1/jobs/%s/events", id), 0.3);
        ck_assert_int_eq(r->status, 200);
        ck_assert_msg(!r->closed, "the stream of a running job ended");
    }
    /* The server notices at its next write (progress every 20 ms). */
    int has = 0;
    for (double dl = now_s() + 5; !has && now_s() < dl; sleep_s(0.1))
        has = strstr(srv_log_text(s), "\"libmicrohttpd\"") != NULL;
    ASSERT_STATUS(http_post(s, fmt("/v1/jobs/%s/cancel", id), NULL), 202);
    ck_assert_int_eq(srv_stop(s, 10), 0);
    assert_json_lines(s, "\"event\":\"libmicrohttpd\"", &has);
    ck_assert_msg(has, "no libmicrohttpd message in the log: %s", srv_log_tail(s, 2000));
}
END_TEST

/* ---- a port in use (API.md 6.1) ---------------------------------------------------- */

/* A second server on the port of a running one: exit 2, one line naming the port,
 * before it touches the database (the same one here: the first server's running job
 * is not re-queued as if after a crash); the first one keeps serving. Also with
 * --bind 0.0.0.0, which overlaps the first one's 127.0.0.1. */
START_TEST(port_in_use)
{
    srv *a = srv_spawn("--enable-test-kinds", NULL);
    const char *id = sleep_submit(a, "{\"ms\":30000}");
    job_wait(a, id, "running", 10);
    char port[16];
    snprintf(port, sizeof port, "%d", a->port);
    const char *const second[][7] = {
        {"--port", port, "--db", a->db, NULL},
        {"--port", port, "--bind", "0.0.0.0", "--db", fmt("%s/other.db", a->dir), NULL},
    };
    for (size_t i = 0; i < sizeof second / sizeof second[0]; i++) {
        char *out, *err;
        int rc = run_cli(second[i], 10, &out, &err);
        ck_assert_msg(rc == 2, "second server on port %s (case %zu): exit %d (stderr: %s)",
                      port, i, rc, err);
        ck_assert_msg(count_lines(err) == 1 && err[strlen(err) - 1] == '\n',
                      "not a one-line error: \"%s\"", err);
        ck_assert_msg(strstr(err, port) != NULL, "the message does not name port %s: %s",
                      port, err);
        ck_assert_msg(srv_alive(a), "the first server stopped answering");
    }
    for (int i = 0; i < 20; i++)
        ASSERT_STATUS(http_get(a, "/healthz"), 200);
    json_t *job = job_get(a, id);
    ck_assert_str_eq(jstr(job, "status"), "running");
    ck_assert_int_eq((int)jnum(job, "attempt"), 1);
    ASSERT_STATUS(http_post(a, fmt("/v1/jobs/%s/cancel", id), NULL), 202);
    ck_assert_int_eq(srv_stop(a, 10), 0);
}
END_TEST

/* ---- 413 for clients that send the whole body (API.md 1) --------------------------- */

typedef struct upload {
    size_t sent;     /* body bytes the kernel accepted */
    int send_errno;  /* 0 when the whole body was sent */
    char *reply;     /* what was read after (NUL-terminated, lives until exit) */
    int closed;      /* the server closed the connection (EOF or reset) */
} upload;

/* What Python's http.client does: the head, then the whole body (n bytes of 'x', or
 * chunks of 64 KiB when chunked), blocking, and only then reads the response (until it
 * is complete, the server closes, or timeout_s). */
static upload send_whole_body(srv *s, const char *head, size_t n, int chunked,
                              double timeout_s)
{
    upload u = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
                  strerror(errno));
    struct timeval tv = {.tv_sec = (time_t)timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static char block[65536 + 16];
    memset(block, 'x', sizeof block);
    size_t hl = strlen(head), off = 0;
    while (off < hl) {
        ssize_t w = send(fd, head + off, hl - off, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "sending the head: %s", strerror(errno));
        off += (size_t)w;
    }
    while (u.sent < n && !u.send_errno) {
        size_t len = n - u.sent < 65536 ? n - u.sent : 65536;
        char *p = block;
        size_t plen = len;
        if (chunked) {
            int hlen = snprintf(block, 16, "%zx\r\n", len);
            memset(block + hlen, 'x', len);
            memcpy(block + hlen + len, "\r\n", 2);
            plen = (size_t)hlen + len + 2;
        }
        for (size_t o = 0; o < plen;) {
            ssize_t w = send(fd, p + o, plen - o, MSG_NOSIGNAL);
            if (w <= 0) {
                u.send_errno = w < 0 ? errno : EPIPE;
                break;
            }
            o += (size_t)w;
        }
        if (!u.send_errno)
            u.sent += len;
    }
    if (chunked && !u.send_errno && send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL) != 5)
        u.send_errno = errno;
    size_t cap = 1 << 16, got = 0;
    char *buf = calloc(1, cap + 1);
    ck_assert_ptr_nonnull(buf);
    for (double dl = now_s() + timeout_s; got < cap && now_s() < dl;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf + got, cap - got, 0);
        if (r <= 0) {
            u.closed = 1;
            break;
        }
        got += (size_t)r;
        buf[got] = '\0';
        const char *hend = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "Content-Length:");
        if (hend && cl && cl < hend && got >= (size_t)(hend + 4 - buf) + strtoul(cl + 15, NULL, 10))
            break;
    }
    close(fd);
    u.reply = fmt("%s", buf);
    free(buf);
    return u;
}

/* The reply of u is a complete 413 with the JSON error body of the contract. */
static void assert_413(const upload *u, const char *what)
{
    ck_assert_msg(u->send_errno == 0, "%s: the server broke the upload after %zu bytes (%s)",
                  what, u->sent, strerror(u->send_errno));
    ck_assert_msg(strncmp(u->reply, "HTTP/1.1 413 ", 13) == 0, "%s: got %.300s", what,
                  u->reply);
    const char *body = strstr(u->reply, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    json_t *v = jparse(body + 4);
    ck_assert_msg(jstr(v, "error.code") && strcmp(jstr(v, "error.code"), "payload_too_large") == 0,
                  "%s: body %s", what, body + 4);
    ck_assert_ptr_nonnull(jstr(v, "error.request_id"));
    ck_assert_msg(strcasestr(u->reply, "\r\nConnection: close\r\n") != NULL,
                  "%s: the connection is not closed after the 413: %.300s", what, u->reply);
}

START_TEST(body_413_without_expect)
{
    srv *s = srv_spawn("--max-body", "4M", NULL);
    size_t limit = (size_t)4 << 20;
    /* Content-Length twice the limit, no Expect (urllib, requests). */
    const char *head = fmt("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           "application/json\r\nContent-Length: %zu\r\n\r\n", 2 * limit);
    upload u = send_whole_body(s, head, 2 * limit, 0, 20);
    assert_413(&u, "Content-Length 2 x limit");
    /* The same body chunked: the limit is found while reading. */
    u = send_whole_body(s, "POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n", 2 * limit, 1, 20);
    assert_413(&u, "chunked 2 x limit");
    /* With Expect: 100-continue the 413 comes before the body (curl's way). */
    reqopt o = {.headers = {"Expect: 100-continue", NULL}, .body_len = (long)(2 * limit)};
    char *big = malloc(2 * limit + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', 2 * limit);
    big[2 * limit] = '\0';
    o.body = big;
    resp *r = http_req(s, "POST", "/v1/jobs", &o);
    ASSERT_ERR(r, 413, "payload_too_large");
    free(big);
    ASSERT_STATUS(http_get(s, "/healthz"), 200);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* The discard is bounded: a chunked body far past 4 x the limit is cut (the server does
 * not read 40 MiB for a 1 MiB limit), and a client that stops sending in the middle of an
 * over-limit body is disconnected after the idle bound (10 s), not the 120 s of an
 * ordinary connection. */
START_TEST(body_413_discard_bounded)
{
    srv *s = srv_spawn("--max-body", "1M", NULL);
    size_t limit = (size_t)1 << 20;
    upload u = send_whole_body(s, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  "application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                               40 * limit, 1, 20);
    ck_assert_msg(u.send_errno != 0 || u.closed,
                  "40 MiB were read for a limit of 1 MiB (%zu bytes sent)", u.sent);
    ck_assert_msg(u.sent < 20 * limit, "%zu bytes were accepted", u.sent);

    /* 1.5 x the limit announced, 1.25 x sent, then silence. */
    const char *head = fmt("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           "application/json\r\nContent-Length: %zu\r\n\r\n", limit * 3 / 2);
    double t0 = now_s();
    char *bytes = malloc(strlen(head) + limit * 5 / 4);
    ck_assert_ptr_nonnull(bytes);
    memcpy(bytes, head, strlen(head));
    memset(bytes + strlen(head), 'x', limit * 5 / 4);
    raw_http(s, bytes, strlen(head) + limit * 5 / 4, 25, 1, NULL);
    free(bytes);
    double secs = now_s() - t0;
    ck_assert_msg(secs < 20, "the server held a stalled over-limit upload for %.1f s", secs);
    ASSERT_STATUS(http_get(s, "/healthz"), 200);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- the OpenAPI document's version ------------------------------------------------ */

START_TEST(openapi_version)
{
    static const char *const version[] = {"--version", NULL};
    char *out, *err;
    ck_assert_int_eq(run_cli(version, 10, &out, &err), 0);
    char *v = fmt("%s", out + 9); /* "tangentd X.Y.Z\n" */
    v[strcspn(v, "\n")] = '\0';
    srv *s = srv_spawn(NULL, NULL);
    resp *r = http_get(s, "/v1/openapi.json");
    ASSERT_STATUS(r, 200);
    ck_assert_ptr_nonnull(r->json);
    const char *doc = jstr(r->json, "info.version");
    ck_assert_msg(doc && strcmp(doc, v) == 0, "info.version %s, tangentd --version %s",
                  doc ? doc : "(none)", v);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- defaults from the cgroup limits (API.md 6.1) ---------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* The value of an unlabelled metric in s's /metrics. */
static long long metric(srv *s, const char *name)
{
    resp *r = http_get(s, "/metrics");
    ASSERT_STATUS(r, 200);
    const char *p = strstr(r->body, fmt("\n%s ", name));
    ck_assert_msg(p != NULL, "no %s in /metrics", name);
    return strtoll(p + strlen(name) + 2, NULL, 10);
}

/* The host's values, as the server computes them without limits: the cores this process
 * may run on, 60 % of RAM. */
static long long host_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static long long sixty_percent(long long b)
{
    return b / 5 * 3 + b % 5 * 3 / 5;
}

START_TEST(cgroup_defaults)
{
    srv *s = srv_new();
    const char *root = fmt("%s/cgroup", s->dir);
    ck_assert_int_eq(mkdir(root, 0700), 0);
    setenv("TANGENTD_TEST_CGROUP_ROOT", root, 1);
    long long cores = host_cores();
    long long ram = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    static const struct {
        const char *cpu_max, *memory_max;
        long long workers, budget; /* -1: the host's */
        const char *flags[5];
    } cases[] = {
        {"50000 100000", "1073741824", 1, 644245094, {NULL}},
        {"150000 100000", "max", 2, -1, {NULL}},
        {"1 100000", "2147483648", 1, 1288490188, {NULL}},
        {"max 100000", "max", -1, -1, {NULL}},
        /* Explicit values win over the limits. */
        {"50000 100000", "1073741824", 3, 2147483648LL,
         {"--workers", "3", "--memory-budget", "2G", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(fmt("%s/cpu.max", root), fmt("%s\n", cases[i].cpu_max));
        write_file(fmt("%s/memory.max", root), fmt("%s\n", cases[i].memory_max));
        srv_startv(s, cases[i].flags);
        long long want_w = cases[i].workers < 0 ? cores
                           : cases[i].flags[0] ? cases[i].workers
                           : cases[i].workers < cores ? cases[i].workers : cores;
        long long want_b = cases[i].budget < 0 ? sixty_percent(ram) : cases[i].budget;
        long long w = metric(s, "tangent_workers"), b = metric(s, "tangent_memory_budget_bytes");
        ck_assert_msg(w == want_w && b == want_b,
                      "cpu.max %s, memory.max %s: %lld workers, budget %lld (want %lld, %lld)",
                      cases[i].cpu_max, cases[i].memory_max, w, b, want_w, want_b);
        ck_assert_int_eq(srv_stop(s, 10), 0);
    }
    /* The start line says where the defaults came from. */
    ck_assert_msg(strstr(srv_log_text(s), "limits=cgroup") != NULL, "%s",
                  srv_log_tail(s, 2500));
    unsetenv("TANGENTD_TEST_CGROUP_ROOT");
}
END_TEST


/* ---- a full disk (issue 11): the database on a 20 MB tmpfs ----------------------------- */

/* The mount point, made by the unchecked setup in the runner process so that its
 * teardown can unmount it even when the test (a forked child) failed midway. */
static char disk_dir[256];

static void disk_setup(void)
{
    snprintf(disk_dir, sizeof disk_dir, "/tmp/tangentd-disk-%d", (int)getpid());
    mkdir(disk_dir, 0700);
}

static void disk_teardown(void)
{
    umount2(disk_dir, MNT_DETACH);
    rmdir(disk_dir);
}

static long disk_upload(srv *s, const char *name, const char *csv, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets?name=%s", name);
    reqopt o = {.body = csv, .body_len = (long)len, .ctype = "text/csv"};
    resp *r = http_req(s, "POST", path, &o);
    long st = r->status;
    resp_free(r);
    return st;
}

START_TEST(disk_full)
{
    if (mount("tmpfs", disk_dir, "tmpfs", 0, "size=20m") != 0) {
        printf("disk_full: SKIPPED (passes without checking): cannot mount a tmpfs on %s: %s "
               "(needs root)\n", disk_dir, strerror(errno));
        return;
    }
    srv *s = srv_new();
    snprintf(s->db, sizeof s->db, "%s/t.db", disk_dir);
    srv_start(s, NULL);
    /* A finished job to delete later. */
    json_t *j = job_run(s, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},"
                           "\"params\":{\"hidden\":[4],\"epochs\":5}}", "succeeded", 60);
    const char *job_id = jstr(j, "id");
    ck_assert_ptr_nonnull(job_id);
    char job_path[128];
    snprintf(job_path, sizeof job_path, "/v1/jobs/%s", job_id);
    /* ~1.7 MB of CSV per upload. */
    size_t cap = 2u << 20, len = 0;
    char *csv = malloc(cap);
    ck_assert_ptr_nonnull(csv);
    len += (size_t)snprintf(csv, cap, "a,b,c,y\n");
    for (unsigned i = 0; len + 64 < cap - (300u << 10); i++)
        len += (size_t)snprintf(csv + len, cap - len, "%u.%06u,%u.%06u,%u.%06u,%u\n", i % 7,
                                (i * 7919) % 1000000, i % 5, (i * 104729) % 1000000, i % 3,
                                (i * 1299709) % 1000000, i % 2);
    int n = 0;
    long st = 0;
    char name[32];
    while (n < 40) {
        snprintf(name, sizeof name, "d%d", n);
        st = disk_upload(s, name, csv, len);
        if (st != 201)
            break;
        n++;
    }
    ck_assert_msg(st == 503, "upload %d: %ld, want 503 once the disk is full", n, st);
    ck_assert_int_ge(n, 1);
    resp *r = http_get(s, "/readyz");
    ck_assert_int_eq(r->status, 503);
    resp_free(r);
    r = http_post(s, "/v1/jobs", "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},"
                                 "\"params\":{\"hidden\":[4],\"epochs\":5}}");
    ck_assert_int_eq(r->status, 503);
    ck_assert_str_eq(jstr(r->json, "error.code"), "unavailable");
    ck_assert_ptr_nonnull(resp_header(r, "Retry-After"));
    resp_free(r);
    r = http_delete(s, job_path);
    ck_assert_msg(r->status == 204, "DELETE job: %ld; log: %s", r->status, srv_log_tail(s, 2500));
    resp_free(r);
    r = http_delete(s, "/v1/datasets/d0");
    ck_assert_msg(r->status == 204, "DELETE dataset: %ld; log: %s", r->status, srv_log_tail(s, 2500));
    resp_free(r);
    for (int i = 1; i < n; i++) {
        snprintf(name, sizeof name, "/v1/datasets/d%d", i);
        r = http_delete(s, name);
        ck_assert_int_eq(r->status, 204);
        resp_free(r);
    }
    ck_assert_int_eq(disk_upload(s, "again", csv, len), 201);
    r = http_get(s, "/readyz");
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
    ck_assert_ptr_nonnull(strstr(srv_log_text(s), "the disk is full"));
    free(csv);
    srv_stop(s, 20);
}
END_TEST

Suite *e2e_ops_suite(void)
{
    Suite *s = suite_create("e2e_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cli_bad_flags);
    tcase_add_test(tc, cli_help_version);
    tcase_add_test(tc, auth_token);
    tcase_add_test(tc, auth_metrics);
    tcase_add_test(tc, test_kinds_off_by_default);
    tcase_add_test(tc, json_logs);
    tcase_add_test(tc, json_logs_library_messages);
    tcase_add_test(tc, port_in_use);
    tcase_add_test(tc, body_413_without_expect);
    tcase_add_test(tc, body_413_discard_bounded);
    tcase_add_test(tc, openapi_version);
    tcase_add_test(tc, cgroup_defaults);
    suite_add_tcase(s, tc);
    tc = tcase_create("disk");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, disk_setup, disk_teardown);
    tcase_add_test(tc, disk_full);
    suite_add_tcase(s, tc);
    return s;
}
