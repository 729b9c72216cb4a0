/* harness.h: the black-box harness of the end-to-end suites. It runs the real tangentd
 * binary ($TANGENTD_BIN, default build/tangentd) as a child process on a free loopback
 * port with a fresh temporary directory (database + log), talks to it over HTTP with
 * libcurl, reads Server-Sent Events with a deadline, and sends raw bytes where libcurl
 * would be too polite (a Content-Length it never sends).
 *
 * Every wait is bounded: requests have a timeout (10 s unless given), server start and
 * stop have deadlines, polling helpers give up with a test failure that names the
 * server log.
 *
 * Ownership: srv, resp and sse_res objects live until the process exits (they are
 * tracked and released by an atexit handler, also on a failed assertion, which exits the
 * forked test process), so tests need not free them; resp_free() may release one early.
 * A server is stopped (SIGKILL) and its directory removed by the atexit handler of the
 * process that started it, and is killed by the kernel (PR_SET_PDEATHSIG) if that
 * process dies first, so no test leaves a server behind.
 *
 * Threading: single-threaded (one Check test process at a time).
 */
#ifndef TG_E2E_HARNESS_H
#define TG_E2E_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- servers ----------------------------------------------------------------------- */

typedef struct srv {
    pid_t pid;        /* the running tangentd, 0 when none */
    pid_t owner;      /* the process that created this srv (only it cleans up) */
    int port;
    char dir[256];    /* temporary directory: t.db and tangentd.log */
    char db[300];
    char log[300];
    char token[128];  /* bearer token sent by default ("" = none), from --api-token */
    char base[64];    /* "http://127.0.0.1:PORT" */
} srv;

/* Once per process before anything else: curl, the root temporary directory and the
 * atexit handler. */
void harness_init(void);
/* Removes the root temporary directory (call at the end of main). */
void harness_fini(void);

/* A new server record with a fresh temporary directory (not started). */
srv *srv_new(void);
/* Starts tangentd with --port, --db and the extra flags (NULL-terminated), stderr and
 * stdout to s->log, and waits (up to 15 s) until GET /healthz answers 200. Fails the
 * test when it does not. A second start of the same srv reuses its directory and
 * database (a restart). Records the value of --api-token as s->token. */
void srv_start(srv *s, ...) __attribute__((sentinel));
void srv_startv(srv *s, const char *const *flags);
/* As srv_startv, but returns NULL on success or why it failed (no test failure): for
 * unchecked fixtures, which run in the runner process itself. */
char *srv_try_startv(srv *s, const char *const *flags);
/* srv_new + srv_start. */
srv *srv_spawn(const char *first, ...) __attribute__((sentinel));
/* Sends sig to the server (no wait). */
void srv_signal(srv *s, int sig);
/* Waits up to timeout_s for the server to exit. Returns its exit code, 128+signal if a
 * signal killed it, or -1 when it was still running at the deadline (then it is left
 * running). */
int srv_wait(srv *s, double timeout_s);
/* SIGTERM, then waits up to timeout_s; SIGKILL if still running (and returns -1). */
int srv_stop(srv *s, double timeout_s);
/* SIGKILL and reap (a crash). */
void srv_kill9(srv *s);
/* The server log as a string (borrowed until the next call). */
const char *srv_log_text(srv *s);
/* The last n bytes of the log (lives until exit). */
const char *srv_log_tail(srv *s, size_t n);
/* True when GET /healthz answers 200 within 2 s. */
int srv_alive(srv *s);
/* For the checked setup of tests that share a server: fails the test unless the server
 * answers. The first test to find it dead prints the tail of its log, the later ones a
 * short note (one crash must not bury the report under copies of the log). */
void srv_require(srv *s, const char *start_error);

/* ---- a server shared by the tests of a case ---------------------------------------- */

/* One server for all the tests of a test case, started by an unchecked fixture (once per
 * case, in the runner process) and stopped (SIGTERM, up to 40 s for the drain, then
 * SIGKILL) after the case; each test's checked setup fails the test unless the server
 * answers (srv_require), so a server that did not start or has crashed fails every test
 * rather than the runner. Declare one per suite file with
 *     FIXTURE_SERVER(S, "--workers", "2", ...)
 * (the flags of srv_start, without the NULL), which defines `static srv *S` and its
 * fixture functions, and create each test case that uses S with
 *     TCase *tc = FIXTURE_CASE(suite, "name", timeout_s, S);
 * The functions below are what those expand to. */
typedef struct fixture {
    const char *const *flags; /* NULL-terminated, borrowed (static) */
    srv *s;                   /* the case's server, NULL before the first setup */
    char *start_error;        /* why it did not start, or NULL */
} fixture;

/* Unchecked setup: a new server with f->flags; returns it (also in f->s). */
srv *fixture_server(fixture *f);
/* Unchecked teardown: stops f's server when it runs. */
void fixture_stop(fixture *f);
/* Checked setup: fails the test unless f's server answers. */
void fixture_require(fixture *f);
/* A new test case of suite s with the timeout and the three fixture functions. */
TCase *fixture_case(Suite *s, const char *name, double timeout_s, SFun setup, SFun teardown,
                    SFun require);

#define FIXTURE_SERVER(var, ...)                                                              \
    static srv *var;                                                                          \
    static fixture var##_fixture = {(const char *const[]){__VA_ARGS__, NULL}, NULL, NULL};    \
    static void var##_setup(void) { var = fixture_server(&var##_fixture); }                   \
    static void var##_teardown(void) { fixture_stop(&var##_fixture); }                        \
    static void var##_require(void) { fixture_require(&var##_fixture); }
#define FIXTURE_CASE(suite, name, timeout_s, var)                                             \
    fixture_case((suite), (name), (timeout_s), var##_setup, var##_teardown, var##_require)

/* ---- HTTP -------------------------------------------------------------------------- */

#define RESP_MAX_HEADERS 64

typedef struct resp {
    long status;       /* 0 on a transport error */
    int curl_rc;
    char *body;        /* NUL-terminated (the NUL is not counted in len) */
    size_t len;
    int n_headers;
    char *hname[RESP_MAX_HEADERS], *hvalue[RESP_MAX_HEADERS];
    json_t *json;      /* the body parsed as JSON, or NULL */
    double secs;       /* time to the complete response */
} resp;

typedef struct reqopt {
    const char *body;      /* request body, or NULL */
    long body_len;         /* -1 (or 0 with a body): strlen(body) */
    const char *ctype;     /* Content-Type; NULL: application/json when there is a body */
    const char *headers[8];/* extra "Name: value" lines, NULL-terminated */
    int chunked;           /* send the body with Transfer-Encoding: chunked */
    int no_auth;           /* do not send the server's token */
    const char *token;     /* send this token instead of the server's */
    double timeout_s;      /* 0: 10 s */
} reqopt;

/* One request; path is appended to the server's base URL. Every response is checked to
 * carry X-Request-Id. */
resp *http_req(srv *s, const char *method, const char *path, const reqopt *o);
resp *http_get(srv *s, const char *path);
resp *http_post(srv *s, const char *path, const char *json_body);
resp *http_delete(srv *s, const char *path);
/* printf-style path helpers. */
resp *http_getf(srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The value of header name (case-insensitive), or NULL. */
const char *resp_header(const resp *r, const char *name);
void resp_free(resp *r);

/* Raw TCP: sends the bytes, then reads until the server closes, until timeout_s, or
 * (unless until_close) until the first response is complete (headers + Content-Length
 * body). Returns what was read (NUL-terminated, lives until exit); *secs_out (may be
 * NULL) gets the elapsed time. */
char *raw_http(srv *s, const char *bytes, size_t len, double timeout_s, int until_close,
               double *secs_out);

/* ---- Server-Sent Events ------------------------------------------------------------ */

typedef struct sse_ev {
    char type[32];
    char *data;
    json_t *json;  /* data parsed as JSON, or NULL */
    double t;      /* seconds from the request */
} sse_ev;

typedef struct sse_res {
    long status;
    int closed;        /* the server ended the stream (not our timeout) */
    double secs;       /* until the end of the stream or the timeout */
    int heartbeats;    /* comment lines */
    double first_heartbeat; /* seconds from the request to the first one, or -1 */
    int n;
    sse_ev *ev;
    char ctype[128];
    char request_id[128];  /* the X-Request-Id header ("" when absent) */
} sse_res;

/* GET path as an event stream; returns when the server closes it or at timeout_s. */
sse_res *sse_read(srv *s, const char *path, double timeout_s);

/* ---- JSON helpers ------------------------------------------------------------------ */

/* The value at a dotted path with optional [i] indexes ("error.code", "jobs[0].id"), or
 * NULL. Borrowed. */
json_t *jpath(json_t *root, const char *path);
const char *jstr(json_t *root, const char *path);  /* NULL unless a string */
double jnum(json_t *root, const char *path);       /* NAN unless a number */
/* Parses text or fails the test. New reference, released at exit. */
json_t *jparse(const char *text);
/* True when s is an RFC 3339 UTC time with milliseconds: 2026-11-22T20:51:55.123Z. */
int is_rfc3339_ms(const char *s);

/* ---- job helpers ------------------------------------------------------------------- */

/* POST /v1/jobs with body; asserts 202 and returns the job id (lives until exit). */
const char *job_submit(srv *s, const char *body);
/* Submits {"kind":"sleep","params":PARAMS} (params_json may be NULL). */
const char *sleep_submit(srv *s, const char *params_json);
/* Polls GET /v1/jobs/{id} every 10 ms until the status is `status` (or any terminal
 * status when status is NULL); fails the test at timeout_s. Returns the job object
 * (borrowed, lives until exit). */
json_t *job_wait(srv *s, const char *id, const char *status, double timeout_s);
/* job_submit, then job_wait for status (NULL: any terminal status): the job object. */
json_t *job_run(srv *s, const char *body, const char *status, double timeout_s);
/* GET /v1/jobs/{id}, asserting 200. */
json_t *job_get(srv *s, const char *id);

/* Runs the binary with args (NULL-terminated) and no server; captures stdout and stderr;
 * returns the exit code, or -1 if it did not exit within timeout_s. */
int run_cli(const char *const *args, double timeout_s, char **out, char **err);

/* Monotonic seconds. */
double now_s(void);
void sleep_s(double s);
/* A string unique within this run ("u<pid>-<n>"), for labels and keys. */
const char *uniq(const char *prefix);
/* A printf into a buffer that lives until exit. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Checks that r is an error response of the contract: the status, a JSON body
 * {"error": {"code", "message", "request_id", "field"?}} with the code, request_id equal
 * to the X-Request-Id header, and (when field is not NULL) the field. Returns NULL when
 * it is, else a description of the difference. */
char *check_error(const resp *r, long status, const char *code, const char *field);
#define ASSERT_ERR(r, st, code)                                                        \
    do {                                                                               \
        char *m_ = check_error((r), (st), (code), NULL);                               \
        ck_assert_msg(m_ == NULL, "%s", m_);                                           \
    } while (0)
#define ASSERT_ERR_FIELD(r, st, code, field)                                           \
    do {                                                                               \
        char *m_ = check_error((r), (st), (code), (field));                            \
        ck_assert_msg(m_ == NULL, "%s", m_);                                           \
    } while (0)
#define ASSERT_STATUS(r, st)                                                           \
    ck_assert_msg((r)->status == (st), "expected HTTP %d, got %ld: %.400s", (int)(st), \
                  (r)->status, (r)->body ? (r)->body : "")

#endif
