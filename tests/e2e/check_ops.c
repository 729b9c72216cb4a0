/* check_ops.c: the command line and the security settings of API.md 6.1 and 6.3: bad
 * flags (exit 2, one line), --help and --version (exit 0), the bearer token (401 with
 * WWW-Authenticate: Bearer on every /v1 route, open health endpoints, /metrics open unless
 * --metrics-auth), preflight without a token, and JSON log lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        "--enable-test-kinds", "--help", "--version", NULL};
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

START_TEST(json_logs)
{
    srv *s = srv_spawn("--log-format", "json", "--enable-test-kinds", NULL);
    reqopt o = {.headers = {"X-Request-Id: log-probe-1", NULL}};
    ASSERT_STATUS(http_req(s, "GET", "/v1/jobs", &o), 200);
    const char *id = sleep_submit(s, "{\"ms\":0}");
    job_wait(s, id, "succeeded", 10);
    ck_assert_int_eq(srv_stop(s, 10), 0);
    const char *log = srv_log_text(s);
    int n = 0, rid = 0;
    for (const char *p = log; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && strncmp(p, "==== harness", 12) != 0) {
            char *line = fmt("%.*s", (int)len, p);
            json_error_t je;
            json_t *v = json_loads(line, 0, &je);
            ck_assert_msg(json_is_object(v), "log line is not a JSON object: %s", line);
            if (strstr(line, "log-probe-1"))
                rid = 1;
            json_decref(v);
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    ck_assert_int_ge(n, 3);
    ck_assert_msg(rid, "the request id does not appear in the log");
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
    suite_add_tcase(s, tc);
    return s;
}
