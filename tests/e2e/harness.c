/* harness.c: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- process-lifetime tracking ----------------------------------------------------- */

typedef struct tracked {
    void *p;
    void (*fn)(void *);
    struct tracked *next;
} tracked;

static tracked *live;
static char root_dir[200];
static pid_t root_owner;

#define MAX_SERVERS 32
static srv *servers[MAX_SERVERS];
static int n_servers;

static void *track(void *p, void (*fn)(void *))
{
    tracked *t = malloc(sizeof *t);
    if (!t) {
        fn(p);
        ck_abort_msg("out of memory");
    }
    t->p = p;
    t->fn = fn;
    t->next = live;
    live = t;
    return p;
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    ck_assert_msg(p != NULL, "out of memory");
    return p;
}

static void json_release(void *p)
{
    json_decref(p);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void at_exit(void)
{
    pid_t me = getpid();
    for (int i = 0; i < n_servers; i++) {
        srv *s = servers[i];
        if (!s || s->owner != me)
            continue;
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        if (getenv("E2E_KEEP") == NULL)
            rm_tree(s->dir);
    }
    while (live) {
        tracked *t = live;
        live = t->next;
        t->fn(t->p);
        free(t);
    }
    if (me == root_owner && root_dir[0] && getenv("E2E_KEEP") == NULL) {
        rm_tree(root_dir);
        root_dir[0] = '\0';
    }
    curl_global_cleanup();
}

void harness_init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root_dir, sizeof root_dir, "%s/tangentd-e2e.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root_dir)) {
        perror("mkdtemp");
        exit(2);
    }
    root_owner = getpid();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    atexit(at_exit);
}

void harness_fini(void)
{
    if (getpid() == root_owner && getenv("E2E_KEEP") == NULL) {
        rm_tree(root_dir);
        root_dir[0] = '\0';
    }
}

/* ---- small utilities ----------------------------------------------------------------- */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static char *vfmt(const char *f, va_list ap)
{
    char *out = NULL;
    int n = vasprintf(&out, f, ap);
    ck_assert_msg(n >= 0, "out of memory");
    return track(out, free);
}

char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *out = vfmt(f, ap);
    va_end(ap);
    return out;
}

const char *uniq(const char *prefix)
{
    static unsigned counter;
    return fmt("%s-%d-%u-%ld", prefix, (int)getpid(), ++counter, (long)time(NULL) % 100000);
}

static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    if (f) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                char *nb = realloc(buf, cap);
                ck_assert_msg(nb != NULL, "out of memory");
                buf = nb;
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

/* ---- servers ----------------------------------------------------------------------- */

static const char *server_bin(void)
{
    const char *b = getenv("TANGENTD_BIN");
    return b && *b ? b : "build/tangentd";
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    ck_assert_msg(getsockname(fd, (struct sockaddr *)&a, &al) == 0, "getsockname");
    close(fd);
    return ntohs(a.sin_port);
}

srv *srv_new(void)
{
    static unsigned n;
    ck_assert_msg(n_servers < MAX_SERVERS, "too many servers in one process");
    srv *s = xmalloc(sizeof *s);
    track(s, free);
    s->owner = getpid();
    snprintf(s->dir, sizeof s->dir, "%s/s%d-%u", root_dir, (int)getpid(), ++n);
    ck_assert_msg(mkdir(s->dir, 0700) == 0, "mkdir %s: %s", s->dir, strerror(errno));
    snprintf(s->db, sizeof s->db, "%s/t.db", s->dir);
    snprintf(s->log, sizeof s->log, "%s/tangentd.log", s->dir);
    servers[n_servers++] = s;
    return s;
}

const char *srv_log_text(srv *s)
{
    static char *last;
    free(last);
    last = read_file(s->log, NULL);
    return last;
}

const char *srv_log_tail(srv *s, size_t n)
{
    const char *t = srv_log_text(s);
    size_t len = strlen(t);
    return fmt("%s", len > n ? t + len - n : t);
}

/* Child side of a start: a clean environment and signal state, output to the log. */
static void exec_child(pid_t parent, const char *log, char *const *argv)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0)
        _exit(127);
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    close(nul);
    /* The TANGENT_* twins of the flags must not leak in from the caller's environment. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e; e++)
            if (strncmp(*e, "TANGENT_", 8) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name)
                    n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    execv(argv[0], argv);
    fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static long probe_status(srv *s, const char *path);

char *srv_try_startv(srv *s, const char *const *flags)
{
    if (s->pid != 0)
        return fmt("server already running");
    s->token[0] = '\0';
    size_t nf = 0;
    while (flags && flags[nf])
        nf++;
    for (size_t i = 0; i + 1 < nf; i++)
        if (strcmp(flags[i], "--api-token") == 0)
            snprintf(s->token, sizeof s->token, "%s", flags[i + 1]);
    for (int attempt = 0; attempt < 5; attempt++) {
        char port[16];
        s->port = free_port();
        snprintf(port, sizeof port, "%d", s->port);
        snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
        char **argv = xmalloc((nf + 6) * sizeof *argv);
        size_t k = 0;
        argv[k++] = (char *)server_bin();
        argv[k++] = "--port";
        argv[k++] = port;
        argv[k++] = "--db";
        argv[k++] = s->db;
        for (size_t i = 0; i < nf; i++)
            argv[k++] = (char *)flags[i];
        argv[k] = NULL;
        FILE *lf = fopen(s->log, "a");
        if (lf) {
            fprintf(lf, "==== harness: start on port %d ====\n", s->port);
            fclose(lf);
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            free(argv);
            return fmt("fork: %s", strerror(errno));
        }
        if (pid == 0)
            exec_child(parent, s->log, argv);
        free(argv);
        s->pid = pid;
        double dl = now_s() + 15.0;
        int exited = 0;
        while (now_s() < dl) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = 1;
                s->pid = 0;
                break;
            }
            if (probe_status(s, "/healthz") == 200)
                return NULL;
            sleep_s(0.01);
        }
        if (!exited) {
            srv_kill9(s);
            return fmt("tangentd did not answer /healthz within 15 s; log %s:\n%s", s->log,
                       srv_log_text(s));
        }
        /* Lost the race for the port: try another one. */
        if (!strstr(srv_log_text(s), "cannot listen"))
            break;
    }
    return fmt("tangentd exited at start; log %s:\n%s", s->log, srv_log_text(s));
}

void srv_startv(srv *s, const char *const *flags)
{
    char *why = srv_try_startv(s, flags);
    ck_assert_msg(why == NULL, "%s", why);
}

/* first and the arguments of ap up to NULL (at most 63) into flags, NULL-terminated. */
static void flags_collect(const char *flags[64], const char *first, va_list ap)
{
    size_t n = 0;
    for (const char *f = first; f != NULL && n < 63; f = va_arg(ap, const char *))
        flags[n++] = f;
    flags[n] = NULL;
}

void srv_start(srv *s, ...)
{
    const char *flags[64];
    va_list ap;
    va_start(ap, s);
    flags_collect(flags, va_arg(ap, const char *), ap);
    va_end(ap);
    srv_startv(s, flags);
}

srv *srv_spawn(const char *first, ...)
{
    const char *flags[64];
    va_list ap;
    va_start(ap, first);
    flags_collect(flags, first, ap);
    va_end(ap);
    srv *s = srv_new();
    srv_startv(s, flags);
    return s;
}

void srv_signal(srv *s, int sig)
{
    ck_assert_msg(s->pid > 0, "no server running");
    kill(s->pid, sig);
}

int srv_wait(srv *s, double timeout_s)
{
    if (s->pid <= 0)
        return -1;
    double dl = now_s() + timeout_s;
    for (;;) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
            return -1;
        }
        if (r < 0) {
            s->pid = 0;
            return -1;
        }
        if (now_s() >= dl)
            return -1;
        sleep_s(0.005);
    }
}

int srv_stop(srv *s, double timeout_s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int rc = srv_wait(s, timeout_s);
    if (rc == -1 && s->pid > 0) {
        srv_kill9(s);
        return -1;
    }
    return rc;
}

void srv_kill9(srv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* ---- HTTP -------------------------------------------------------------------------- */

typedef struct growbuf {
    char *p;
    size_t len, cap;
} growbuf;

static int gb_put(growbuf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    return gb_put(ud, data, size * nmemb) ? 0 : size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    resp *r = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue): start over. */
        for (int i = 0; i < r->n_headers; i++) {
            free(r->hname[i]);
            free(r->hvalue[i]);
        }
        r->n_headers = 0;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || r->n_headers >= RESP_MAX_HEADERS)
        return n;
    size_t ln = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    r->hname[r->n_headers] = strndup(data, ln);
    r->hvalue[r->n_headers] = strndup(v, (size_t)(end - v));
    r->n_headers++;
    return n;
}

typedef struct reader {
    const char *p;
    size_t left;
} reader;

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    reader *rd = ud;
    size_t n = size * nmemb;
    if (n > rd->left)
        n = rd->left;
    /* Small pieces, so that the body really arrives as several chunks. */
    if (n > 8192)
        n = 8192;
    memcpy(buf, rd->p, n);
    rd->p += n;
    rd->left -= n;
    return n;
}

void resp_free(resp *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_headers; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    r->n_headers = 0;
    free(r->body);
    r->body = NULL;
    json_decref(r->json);
    r->json = NULL;
}

static void resp_release(void *p)
{
    resp_free(p);
    free(p);
}

const char *resp_header(const resp *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->hname[i], name) == 0)
            return r->hvalue[i];
    return NULL;
}

static resp *do_request(srv *s, const char *method, const char *path, const reqopt *o)
{
    static const reqopt none;
    if (!o)
        o = &none;
    resp *r = xmalloc(sizeof *r);
    track(r, resp_release);
    CURL *c = curl_easy_init();
    ck_assert_msg(c != NULL, "curl_easy_init failed");
    struct curl_slist *hl = NULL;
    growbuf body = {0};
    reader rd = {0};
    char url[2048];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)((o->timeout_s > 0 ? o->timeout_s : 10.0) * 1e3));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    size_t blen = o->body ? (o->body_len > 0 ? (size_t)o->body_len : strlen(o->body)) : 0;
    int has_expect = 0;
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (o->body && o->chunked) {
        rd.p = o->body;
        rd.left = blen;
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &rd);
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (o->body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body ? o->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (o->body || strcmp(method, "POST") == 0) {
        const char *ct = o->ctype ? o->ctype : (o->body ? "application/json" : NULL);
        /* "Content-Type:" with nothing removes curl's default form type. */
        hl = curl_slist_append(hl, ct && *ct ? fmt("Content-Type: %s", ct) : "Content-Type:");
    }
    const char *tok = o->token ? o->token : s->token;
    if (!o->no_auth && tok && *tok)
        hl = curl_slist_append(hl, fmt("Authorization: Bearer %s", tok));
    for (int i = 0; i < 8 && o->headers[i]; i++) {
        hl = curl_slist_append(hl, o->headers[i]);
        if (strncasecmp(o->headers[i], "Expect:", 7) == 0)
            has_expect = 1;
    }
    if (!has_expect)
        hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    double t0 = now_s();
    r->curl_rc = (int)curl_easy_perform(c);
    r->secs = now_s() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    r->body = body.p ? body.p : strdup("");
    r->len = body.len;
    if (r->len && (r->body[0] == '{' || r->body[0] == '['))
        r->json = json_loadb(r->body, r->len, 0, NULL);
    return r;
}

resp *http_req(srv *s, const char *method, const char *path, const reqopt *o)
{
    resp *r = do_request(s, method, path, o);
    ck_assert_msg(r->status != 0, "%s %s: no response (curl error %d: %s)", method, path,
                  r->curl_rc, curl_easy_strerror((CURLcode)r->curl_rc));
    const char *rid = resp_header(r, "X-Request-Id");
    ck_assert_msg(rid && *rid, "%s %s -> %ld without X-Request-Id", method, path, r->status);
    return r;
}

static long probe_status(srv *s, const char *path)
{
    reqopt o = {.timeout_s = 1.0, .no_auth = 1};
    resp *r = do_request(s, "GET", path, &o);
    return r->status;
}

int srv_alive(srv *s)
{
    reqopt o = {.timeout_s = 2.0, .no_auth = 1};
    return do_request(s, "GET", "/healthz", &o)->status == 200;
}

void srv_require(srv *s, const char *start_error)
{
    ck_assert_msg(start_error == NULL, "the shared server did not start: %s", start_error);
    if (s->pid > 0 && srv_alive(s))
        return;
    char mark[400];
    snprintf(mark, sizeof mark, "%s/dead-reported", s->dir);
    if (access(mark, F_OK) == 0)
        ck_abort_msg("the shared server is gone (see the first failure of this case)");
    FILE *f = fopen(mark, "w");
    if (f)
        fclose(f);
    ck_abort_msg("the shared server stopped answering (crashed?); log tail:\n%s",
                 srv_log_tail(s, 1500));
}

/* ---- fixtures ---------------------------------------------------------------------- */

srv *fixture_server(fixture *f)
{
    f->s = srv_new();
    f->start_error = srv_try_startv(f->s, f->flags);
    return f->s;
}

void fixture_stop(fixture *f)
{
    if (f->s && f->s->pid > 0)
        srv_stop(f->s, 40);
}

void fixture_require(fixture *f)
{
    ck_assert_msg(f->s != NULL, "the shared server was never started (no unchecked setup)");
    srv_require(f->s, f->start_error);
}

TCase *fixture_case(Suite *s, const char *name, double timeout_s, SFun setup, SFun teardown,
                    SFun require)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, require, NULL);
    tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

resp *http_get(srv *s, const char *path)
{
    return http_req(s, "GET", path, NULL);
}

resp *http_getf(srv *s, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *path = vfmt(f, ap);
    va_end(ap);
    return http_get(s, path);
}

resp *http_post(srv *s, const char *path, const char *json_body)
{
    reqopt o = {.body = json_body};
    return http_req(s, "POST", path, &o);
}

resp *http_delete(srv *s, const char *path)
{
    return http_req(s, "DELETE", path, NULL);
}

/* ---- raw TCP ----------------------------------------------------------------------- */

/* True when buf holds a complete response: headers and Content-Length bytes of body. */
static int raw_complete(const char *buf, size_t len)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t hdr = (size_t)(end - buf) + 4;
    for (const char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0)
            return len >= hdr + strtoull(p + 15, NULL, 10);
    }
    return 0;
}

char *raw_http(srv *s, const char *bytes, size_t len, double timeout_s, int until_close,
               double *secs_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
                  strerror(errno));
    double t0 = now_s(), dl = t0 + timeout_s;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, bytes + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    growbuf b = {0};
    gb_put(&b, "", 0);
    for (;;) {
        double left = dl - now_s();
        if (left <= 0)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(left * 1e3) + 1);
        if (pr <= 0)
            break;
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            break;
        gb_put(&b, tmp, (size_t)n);
        if (!until_close && raw_complete(b.p, b.len))
            break;
    }
    if (secs_out)
        *secs_out = now_s() - t0;
    close(fd);
    return track(b.p, free);
}

/* ---- SSE --------------------------------------------------------------------------- */

typedef struct sse_parse {
    sse_res *res;
    growbuf line;     /* pending bytes of the current line */
    char type[32];
    growbuf data;
    int have_data;
    double t0;
    size_t cap;
} sse_parse;

static void sse_dispatch(sse_parse *sp)
{
    sse_res *r = sp->res;
    if (!sp->have_data && !sp->type[0])
        return;
    if ((size_t)r->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 64;
        sse_ev *ne = realloc(r->ev, cap * sizeof *ne);
        if (!ne)
            return;
        r->ev = ne;
        sp->cap = cap;
    }
    sse_ev *e = &r->ev[r->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->type, sizeof e->type, "%s", sp->type[0] ? sp->type : "message");
    e->data = strdup(sp->data.p ? sp->data.p : "");
    e->json = json_loads(e->data, 0, NULL);
    e->t = now_s() - sp->t0;
    sp->type[0] = '\0';
    sp->data.len = 0;
    if (sp->data.p)
        sp->data.p[0] = '\0';
    sp->have_data = 0;
}

static void sse_line(sse_parse *sp, char *l)
{
    size_t n = strlen(l);
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) {
        sse_dispatch(sp);
        return;
    }
    if (l[0] == ':') {
        if (sp->res->heartbeats++ == 0)
            sp->res->first_heartbeat = now_s() - sp->t0;
        return;
    }
    char *colon = strchr(l, ':');
    char *val = colon ? colon + 1 : l + n;
    if (colon)
        *colon = '\0';
    if (*val == ' ')
        val++;
    if (strcmp(l, "event") == 0) {
        snprintf(sp->type, sizeof sp->type, "%s", val);
    } else if (strcmp(l, "data") == 0) {
        if (sp->have_data)
            gb_put(&sp->data, "\n", 1);
        gb_put(&sp->data, val, strlen(val));
        sp->have_data = 1;
    }
}

static size_t on_sse(char *data, size_t size, size_t nmemb, void *ud)
{
    sse_parse *sp = ud;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            gb_put(&sp->line, "", 0);
            sse_line(sp, sp->line.p);
            sp->line.len = 0;
        } else {
            gb_put(&sp->line, data + i, 1);
        }
    }
    return n;
}

static void sse_release(void *p)
{
    sse_res *r = p;
    for (int i = 0; i < r->n; i++) {
        free(r->ev[i].data);
        json_decref(r->ev[i].json);
    }
    free(r->ev);
    free(r);
}

sse_res *sse_read(srv *s, const char *path, double timeout_s)
{
    sse_res *r = xmalloc(sizeof *r);
    track(r, sse_release);
    sse_parse sp;
    memset(&sp, 0, sizeof sp);
    sp.res = r;
    r->first_heartbeat = -1;
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    hl = curl_slist_append(hl, "Accept: text/event-stream");
    if (s->token[0])
        hl = curl_slist_append(hl, fmt("Authorization: Bearer %s", s->token));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1e3));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sp);
    resp hdrs;
    memset(&hdrs, 0, sizeof hdrs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    sp.t0 = now_s();
    CURLcode rc = curl_easy_perform(c);
    r->secs = now_s() - sp.t0;
    r->closed = rc == CURLE_OK;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    const char *rid = resp_header(&hdrs, "X-Request-Id");
    snprintf(r->request_id, sizeof r->request_id, "%s", rid ? rid : "");
    resp_free(&hdrs);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    free(sp.line.p);
    free(sp.data.p);
    return r;
}

/* ---- JSON -------------------------------------------------------------------------- */

json_t *jpath(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if (*end != ']' || !json_is_array(cur))
                return NULL;
            cur = json_array_get(cur, (size_t)i);
            p = end + 1;
            continue;
        }
        size_t n = strcspn(p, ".[");
        char key[128];
        if (n >= sizeof key || !json_is_object(cur))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n;
    }
    return cur;
}

const char *jstr(json_t *root, const char *path)
{
    return json_string_value(jpath(root, path));
}

double jnum(json_t *root, const char *path)
{
    json_t *v = jpath(root, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

json_t *jparse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    ck_assert_msg(v != NULL, "not JSON (%s): %.300s", je.text, text);
    return track(v, json_release);
}

int is_rfc3339_ms(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
            return 0;
    }
    return 1;
}

/* ---- jobs -------------------------------------------------------------------------- */

const char *job_submit(srv *s, const char *body)
{
    resp *r = http_post(s, "/v1/jobs", body);
    ck_assert_msg(r->status == 202, "submit %s: expected 202, got %ld: %s", body, r->status,
                  r->body);
    const char *id = jstr(r->json, "id");
    ck_assert_msg(id && *id, "202 without an id: %s", r->body);
    return fmt("%s", id);
}

const char *sleep_submit(srv *s, const char *params_json)
{
    return job_submit(s, fmt("{\"kind\":\"sleep\",\"params\":%s}",
                             params_json ? params_json : "{}"));
}

json_t *job_run(srv *s, const char *body, const char *status, double timeout_s)
{
    return job_wait(s, job_submit(s, body), status, timeout_s);
}

json_t *job_get(srv *s, const char *id)
{
    resp *r = http_getf(s, "/v1/jobs/%s", id);
    ck_assert_msg(r->status == 200 && r->json, "GET job %s: %ld %s", id, r->status, r->body);
    return r->json;
}

static int terminal(const char *st)
{
    return st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
                  strcmp(st, "cancelled") == 0);
}

json_t *job_wait(srv *s, const char *id, const char *status, double timeout_s)
{
    double dl = now_s() + timeout_s;
    const char *last = "?";
    for (;;) {
        resp *r = http_getf(s, "/v1/jobs/%s", id);
        ck_assert_msg(r->status == 200 && r->json, "GET job %s: %ld %s", id, r->status,
                      r->body);
        const char *st = jstr(r->json, "status");
        if (status ? (st && strcmp(st, status) == 0) : terminal(st))
            return r->json;
        last = fmt("%s", st ? st : "(none)");
        ck_assert_msg(!(status && terminal(st)),
                      "job %s reached %s while waiting for %s: %s", id, st, status, r->body);
        if (now_s() > dl)
            break;
        resp_free(r);
        sleep_s(0.01);
    }
    ck_abort_msg("job %s still %s after %.1f s (waiting for %s); log %s", id, last, timeout_s,
                 status ? status : "a terminal status", s->log);
    return NULL;
}

/* ---- CLI --------------------------------------------------------------------------- */

int run_cli(const char *const *args, double timeout_s, char **out, char **err)
{
    static unsigned n;
    char po[400], pe[400];
    snprintf(po, sizeof po, "%s/cli-%d-%u.out", root_dir, (int)getpid(), ++n);
    snprintf(pe, sizeof pe, "%s/cli-%d-%u.err", root_dir, (int)getpid(), n);
    size_t na = 0;
    while (args[na])
        na++;
    char **argv = xmalloc((na + 2) * sizeof *argv);
    argv[0] = (char *)server_bin();
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)args[i];
    argv[na + 1] = NULL;
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || nul < 0)
            _exit(127);
        dup2(nul, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        /* Run where a stray start could not touch anything: the temporary root. */
        if (chdir(root_dir) != 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    srv tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.pid = pid;
    int rc = srv_wait(&tmp, timeout_s);
    if (rc == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (out)
        *out = track(read_file(po, NULL), free);
    if (err)
        *err = track(read_file(pe, NULL), free);
    unlink(po);
    unlink(pe);
    return rc;
}

/* ---- error bodies ------------------------------------------------------------------ */

char *check_error(const resp *r, long status, const char *code, const char *field)
{
    if (r->status != status)
        return fmt("expected HTTP %ld %s, got %ld: %.400s", status, code, r->status, r->body);
    const char *ct = resp_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0)
        return fmt("error response with Content-Type %s", ct ? ct : "(none)");
    if (!r->json)
        return fmt("error body is not JSON: %.400s", r->body);
    json_t *e = json_object_get(r->json, "error");
    if (!json_is_object(e))
        return fmt("no \"error\" object: %.400s", r->body);
    const char *c = jstr(e, "code"), *m = jstr(e, "message"), *rid = jstr(e, "request_id");
    if (!c || strcmp(c, code) != 0)
        return fmt("expected error code %s, got %s: %.400s", code, c ? c : "(none)", r->body);
    if (!m || !*m)
        return fmt("error without a message: %.400s", r->body);
    const char *hrid = resp_header(r, "X-Request-Id");
    if (!rid || !hrid || strcmp(rid, hrid) != 0)
        return fmt("error.request_id %s differs from X-Request-Id %s", rid ? rid : "(none)",
                   hrid ? hrid : "(none)");
    /* Only the documented members. */
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (strcmp(key, "code") && strcmp(key, "message") && strcmp(key, "field") &&
            strcmp(key, "request_id") && strcmp(key, "details"))
            return fmt("unexpected member error.%s: %.400s", key, r->body);
    }
    if (field) {
        const char *f = jstr(e, "field");
        if (!f || strcmp(f, field) != 0)
            return fmt("expected error.field %s, got %s: %.400s", field, f ? f : "(none)",
                       r->body);
    }
    return NULL;
}
