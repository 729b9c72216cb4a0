/* fault.c: see fault.h. The wrappers count every allocation made by our objects while
 * armed; free is wrapped too so that a run can tell how many blocks it left behind
 * (a leak on an error path shows as a positive difference from the clean run, without
 * needing LeakSanitizer; under `make asan`, LeakSanitizer is asked as well). */
#include "fault.h"

#include "../../api/jx.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FAULT_ASAN 1
#include <sanitizer/lsan_interface.h>
#else
#define FAULT_ASAN 0
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void __real_free(void *p);

#define BT_MAX 64
#define SITE_DEPTH 10

static atomic_int g_armed;
static atomic_long g_count;
static long g_fail_at;
static atomic_long g_live;      /* blocks allocated through us and not yet freed */
static int g_record;            /* clean run: note the site of every allocation */
static uint64_t *g_sites;       /* g_sites[n - 1]: site hash of allocation n */
static size_t g_sites_cap;
static int g_report_fd = -1;    /* child: where the injected failure is announced */

/* What a child reports: first when the injected allocation fails (fired), then its
 * verdict at the end. */
enum { MSG_FIRED = 1, MSG_VERDICT = 2 };
enum { V_OK = 0, V_STATUS, V_MISMATCH, V_LEAK, V_CRASH, V_NOT_FIRED };
static const char *const v_names[] = {"ok", "bad status", "SILENT WRONG SUCCESS", "LEAK",
                                      "CRASH/SANITIZER", "not fired"};
typedef struct fault_msg {
    int type;
    int verdict;
    int rc;
    long live_delta;
    const char *fn;   /* a string literal: valid in the parent (fork) */
    int nbt;
    void *bt[BT_MAX];
    char detail[240];
} fault_msg;

static void put_msg(int fd, const fault_msg *m)
{
    const char *p = (const char *)m;
    size_t left = sizeof *m;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w <= 0)
            return;
        p += w;
        left -= (size_t)w;
    }
}

/* libjansson 2.14 mishandles some allocation failures inside its own parser and
 * encoder: lex_save drops a failed strbuffer append and the string scanner then writes
 * past its buffer (SIGSEGV in json_loads; akheron/jansson#362), and do_dump ignores
 * dump_string's failure, so json_dumps returns text with a key missing ("{":"x"}",
 * akheron/jansson#655). Those are not ours to test: inside these functions only the
 * first allocation of a call is made to fail (json_loads / json_dumps then return NULL
 * cleanly), unless FAULT_JANSSON is set. */
static const char *const jansson_inner[] = {
    "json_loads", "json_loadb", "json_loadf", "json_loadfd", "json_load_file",
    "json_load_callback", "json_dumps", "json_dumpb", "json_dumpf", "json_dumpfd",
    "json_dump_file", "json_dump_callback", NULL};

static int in_jansson_codec(void *const *f, int n)
{
    static void *jbase;
    if (!jbase) {
        Dl_info di;
        if (dladdr((void *)json_loads, &di))
            jbase = di.dli_fbase;
    }
    for (int i = 0; i < n; i++) {
        Dl_info di;
        if (!dladdr(f[i], &di) || di.dli_fbase != jbase || !di.dli_sname)
            continue;
        for (int k = 0; jansson_inner[k]; k++)
            if (strcmp(di.dli_sname, jansson_inner[k]) == 0)
                return 1;
    }
    return 0;
}

/* The hash of the allocating call stack; *codec: inside jansson's parser or encoder. */
static uint64_t site_hash(int *codec)
{
    void *f[BT_MAX];
    int n = backtrace(f, BT_MAX);
    uint64_t h = 1469598103934665603ULL;
    for (int i = 2; i < n && i < SITE_DEPTH + 2; i++) { /* skip site_hash and hit */
        h ^= (uint64_t)(uintptr_t)f[i];
        h *= 1099511628211ULL;
    }
    *codec = in_jansson_codec(f, n);
    return h;
}

/* 1 when this allocation must fail. */
static int hit(const char *fn)
{
    if (!atomic_load_explicit(&g_armed, memory_order_relaxed))
        return 0;
    long n = atomic_fetch_add(&g_count, 1) + 1;
    if (g_record) {
        if ((size_t)n > g_sites_cap) {
            size_t cap = g_sites_cap ? 2 * g_sites_cap : 4096;
            uint64_t *s = __real_realloc(g_sites, cap * sizeof *s);
            if (!s)
                abort();
            g_sites = s;
            g_sites_cap = cap;
        }
        int codec;
        uint64_t h = site_hash(&codec);
        /* the low bit marks an allocation inside jansson's codec */
        g_sites[n - 1] = (h & ~(uint64_t)1) | (uint64_t)codec;
    }
    if (n != g_fail_at)
        return 0;
    if (g_report_fd >= 0) {
        fault_msg m;
        memset(&m, 0, sizeof m);
        m.type = MSG_FIRED;
        m.fn = fn;
        m.nbt = backtrace(m.bt, BT_MAX);
        put_msg(g_report_fd, &m);
    }
    return 1;
}

static void *counted(void *p)
{
    if (p)
        atomic_fetch_add(&g_live, 1);
    return p;
}

void *__wrap_malloc(size_t n)
{
    return hit("malloc") ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t m)
{
    return hit("calloc") ? NULL : counted(__real_calloc(n, m));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (hit("realloc"))
        return NULL;
    void *q = __real_realloc(p, n);
    if (!p && q)
        atomic_fetch_add(&g_live, 1);
    else if (p && !q && n == 0)
        atomic_fetch_sub(&g_live, 1);
    return q;
}

char *__wrap_strdup(const char *s)
{
    return hit("strdup") ? NULL : counted(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
    return hit("strndup") ? NULL : counted(__real_strndup(s, n));
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    if (hit("posix_memalign"))
        return 12; /* ENOMEM */
    int rc = __real_posix_memalign(p, a, n);
    if (rc == 0)
        atomic_fetch_add(&g_live, 1);
    return rc;
}

void __wrap_free(void *p)
{
    if (p)
        atomic_fetch_sub(&g_live, 1);
    __real_free(p);
}

/* Stands in for jx_mem_init's allocator: a failure is counted for jx_oom_since. */
static void *json_malloc_hook(size_t n)
{
    if (hit("jansson malloc")) {
        jx_oom_note();
        return NULL;
    }
    return counted(__real_malloc(n));
}

static void json_free_hook(void *p)
{
    __wrap_free(p);
}

/* SQLite's allocator: counted like ours. */
static void *sq_malloc(int n)
{
    return hit("sqlite3 malloc") ? NULL : counted(__real_malloc((size_t)n));
}
static void sq_free(void *p)
{
    __wrap_free(p);
}
static void *sq_realloc(void *p, int n)
{
    return __wrap_realloc(p, (size_t)n);
}
static int sq_size(void *p)
{
    return p ? (int)malloc_usable_size(p) : 0;
}
static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}
static int sq_init(void *ud)
{
    (void)ud;
    return SQLITE_OK;
}
static void sq_shutdown(void *ud)
{
    (void)ud;
}

void fault_init(void)
{
    static const sqlite3_mem_methods mm = {sq_malloc, sq_free, sq_realloc, sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};
    json_set_alloc_funcs(json_malloc_hook, json_free_hook);
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mm) != SQLITE_OK ||
        sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK) {
        fprintf(stderr, "fault: sqlite3_config failed\n");
        abort();
    }
    void *warm[4];
    backtrace(warm, 4); /* loads the unwinder now, not inside a counted call */
}

void fault_arm(long fail_at)
{
    atomic_store(&g_count, 0);
    g_fail_at = fail_at;
    atomic_store(&g_armed, 1);
}

void fault_disarm(void)
{
    atomic_store(&g_armed, 0);
}

char *fault_strdup(const char *s)
{
    char *p = __real_strdup(s);
    if (!p)
        abort();
    return p;
}

void fault_free(void *p)
{
    __real_free(p);
}

char *fault_append(char *s, const char *line)
{
    size_t a = s ? strlen(s) : 0, b = strlen(line);
    char *t = __real_realloc(s, a + b + 2);
    if (!t)
        abort();
    memcpy(t + a, line, b);
    t[a + b] = '\n';
    t[a + b + 1] = '\0';
    return t;
}

/* ---- naming a call stack ------------------------------------------------------------- */

/* "func at file:line <- ..." for the frames of bt inside our executable, skipping those
 * of this file (the wrappers). */
static void describe(void *const *bt, int nbt, char *buf, size_t len)
{
    Dl_info self;
    buf[0] = '\0';
    if (!dladdr((void *)describe, &self))
        return;
    char cmd[2048];
    int off = snprintf(cmd, sizeof cmd, "addr2line -f -i -p -e /proc/%d/exe", (int)getpid());
    int any = 0;
    for (int i = 1; i < nbt && off < (int)sizeof cmd - 32; i++) {
        Dl_info di;
        if (!dladdr(bt[i], &di) || di.dli_fbase != self.dli_fbase)
            continue;
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, " %#lx",
                        (unsigned long)((char *)bt[i] - (char *)self.dli_fbase - 1));
        any = 1;
    }
    if (!any)
        return;
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char line[512];
    size_t used = 0;
    int shown = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strstr(line, "tests/fault/fault.c") || strstr(line, "??"))
            continue;
        const char *l = line;
        if (strncmp(l, " (inlined by) ", 14) == 0)
            l += 14;
        char shortl[512];
        const char *at = strstr(l, " at /");
        if (at) { /* shorten an absolute path to the part from core/, api/, ... */
            static const char *const dirs[] = {"/core/", "/api/", "/server/", "/tests/"};
            for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
                const char *r = strstr(at, dirs[d]);
                if (r) {
                    snprintf(shortl, sizeof shortl, "%.*s%s", (int)(at - l + 4), l, r + 1);
                    l = shortl;
                    break;
                }
            }
        }
        if (shown < 5 && used + strlen(l) + 8 < len) {
            used += (size_t)snprintf(buf + used, len - used, "%s%s", shown ? " <- " : "", l);
            shown++;
        }
    }
    pclose(f);
}

/* ---- the driver ------------------------------------------------------------------------ */

typedef struct group {
    char site[900];
    int verdict;
    long first_i, n;
    const char *fn;
    char detail[240];
} group;

static void diff_hint(const char *want, const char *got, char *buf, size_t len)
{
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 40 ? i - 40 : 0;
    snprintf(buf, len, "differs at byte %zu: want \"...%.80s\" got \"...%.80s\"", i,
             want + from, got + from);
}

typedef struct site_ix {
    uint64_t h;
    long n;
} site_ix;

static int site_cmp(const void *a, const void *b)
{
    const site_ix *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

static int long_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A clean run in a child, so that every run starts from the same state (lazily built
 * caches, SQLite's initialization): sends a clean_hdr, the K site hashes, the output. */
typedef struct clean_hdr {
    int rc;
    long k, live_delta;
    size_t out_len;
} clean_hdr;

static void put_bytes(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static int get_bytes(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static void child_clean(int fd, fault_scenario_fn fn, void *ud)
{
    clean_hdr h;
    char *out = NULL;
    long live0 = atomic_load(&g_live);
    g_record = 1;
    fault_arm(0);
    h.rc = fn(ud, &out);
    fault_disarm();
    g_record = 0;
    h.k = atomic_load(&g_count);
    h.live_delta = atomic_load(&g_live) - live0;
    h.out_len = out ? strlen(out) : 0;
    put_bytes(fd, &h, sizeof h);
    put_bytes(fd, g_sites, (size_t)h.k * sizeof *g_sites);
    if (out)
        put_bytes(fd, out, h.out_len);
}

/* Forks a child connected by a pipe: in the child returns 0 with *fd the write end; in
 * the parent the child's pid with *fd the read end. */
static pid_t fork_child(int *fd)
{
    int fds[2];
    if (pipe(fds))
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    close(fds[pid == 0 ? 0 : 1]);
    *fd = fds[pid == 0 ? 1 : 0];
    return pid;
}

/* Runs child_clean; 0 and the results, or -1 when the child died. */
static int run_clean(fault_scenario_fn fn, void *ud, clean_hdr *h, uint64_t **sites_out,
                     char **out)
{
    int rfd;
    pid_t pid = fork_child(&rfd);
    if (pid == 0) {
        child_clean(rfd, fn, ud);
        _exit(0);
    }
    int fds[1] = {rfd};
    *sites_out = NULL;
    *out = NULL;
    int rc = get_bytes(fds[0], h, sizeof *h);
    if (rc == 0) {
        *sites_out = __real_malloc((size_t)h->k * sizeof **sites_out + 1);
        *out = __real_malloc(h->out_len + 1);
        if (!*sites_out || !*out)
            abort();
        rc = get_bytes(fds[0], *sites_out, (size_t)h->k * sizeof **sites_out);
        if (rc == 0)
            rc = get_bytes(fds[0], *out, h->out_len);
        (*out)[h->out_len] = '\0';
    }
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (rc || !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        return -1;
    return 0;
}

static void child_run(int fd, long i, fault_scenario_fn fn, void *ud, const char *want,
                      long clean_delta)
{
    g_report_fd = fd;
    fault_msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_VERDICT;
    char *out = NULL;
    long live0 = atomic_load(&g_live);
    fault_arm(i);
    int rc = fn(ud, &out);
    fault_disarm();
    m.rc = rc;
    m.live_delta = atomic_load(&g_live) - live0;
    if (atomic_load(&g_count) < i)
        m.verdict = V_NOT_FIRED;
    else if (m.live_delta > clean_delta)
        snprintf(m.detail, sizeof m.detail, "%ld block(s) not freed (rc %d)",
                 m.live_delta - clean_delta, rc), m.verdict = V_LEAK;
    else if (rc > 0 || (rc == 0 && !out))
        snprintf(m.detail, sizeof m.detail, "rc %d", rc), m.verdict = V_STATUS;
    else if (rc == 0 && strcmp(out, want) != 0)
        diff_hint(want, out, m.detail, sizeof m.detail), m.verdict = V_MISMATCH;
    fault_free(out);
#if FAULT_ASAN
    if (m.verdict == V_LEAK || getenv("FAULT_LSAN"))
        if (__lsan_do_recoverable_leak_check() && m.verdict == V_OK)
            snprintf(m.detail, sizeof m.detail, "LeakSanitizer"), m.verdict = V_LEAK;
#endif
    put_msg(fd, &m);
}

int fault_run(const char *name, fault_scenario_fn fn, void *ud, int cache, long *k_out,
              long *tried_out, char *report, size_t report_len)
{
    double t0 = now_s();
    char *out0 = NULL, *out1 = NULL;
    int bad = 0;
    report[0] = '\0';
    *k_out = *tried_out = 0;

    /* Two clean runs: the count and the output must repeat exactly. Blocks a clean run
     * leaves allocated are caches (SQLite's, lazily built documents); a failing run may
     * leave as many, not more. */
    clean_hdr h0, h1;
    uint64_t *sites1 = NULL;
    int rc = run_clean(fn, ud, &h0, &g_sites, &out0);
    int rc1 = run_clean(fn, ud, &h1, &sites1, &out1);
    long k = h0.k;
    *k_out = k;
    long first_diff = 0; /* the first allocation whose call site differs */
    if (rc == 0 && rc1 == 0)
        for (long i = 0; i < k && i < h1.k && !first_diff; i++)
            if (g_sites[i] != sites1[i])
                first_diff = i + 1;
    __real_free(sites1);
    if (rc || rc1 || h0.rc || h1.rc) {
        snprintf(report, report_len, "%s: the clean run failed (rc %d / %d)", name,
                 rc ? -100 : h0.rc, rc1 ? -100 : h1.rc);
        fault_free(out0);
        fault_free(out1);
        return 1;
    }
    /* A count that varies by a few (SQLite, now and then) only shifts which call site a
     * number hits: every injection is still a valid one. The output must not vary. */
    if (k != h1.k)
        fprintf(stderr, "fault %s: note: K %ld then %ld (call sites differ from allocation "
                "#%ld)\n", name, k, h1.k, first_diff);
    if (strcmp(out0, out1) != 0 || h0.live_delta != h1.live_delta) {
        char d[240] = "";
        if (strcmp(out0, out1))
            diff_hint(out0, out1, d, sizeof d);
        snprintf(report, report_len,
                 "%s: the clean run is not repeatable: K %ld then %ld (call sites differ "
                 "from allocation #%ld), %ld then %ld block(s) left; %s", name, k, h1.k,
                 first_diff, h0.live_delta, h1.live_delta, d);
        fault_free(out0);
        fault_free(out1);
        return 1;
    }
    fault_free(out1);
    if (h0.live_delta && !cache) {
        snprintf(report, report_len, "%s: the clean run leaves %ld block(s) allocated", name,
                 h0.live_delta);
        fault_free(out0);
        return 1;
    }
    if (h0.live_delta)
        fprintf(stderr, "fault %s: a clean run keeps %ld block(s) (caches)\n", name,
                h0.live_delta);

    /* FAULT_AT=i: only that point, in this process (for a debugger). */
    if (getenv("FAULT_AT")) {
        long i = atol(getenv("FAULT_AT"));
        char *out = NULL;
        fault_arm(i);
        int frc = fn(ud, &out);
        fault_disarm();
        fprintf(stderr, "fault %s: FAULT_AT=%ld: rc %d, output %s\n", name, i, frc,
                !out ? "none" : strcmp(out, out0) ? "DIFFERS" : "same");
        fault_free(out);
        fault_free(out0);
        return 0;
    }

    /* Which failure points: all, or first and last of every call site; inside jansson's
     * codec only the first allocation of a call (see jansson_inner). */
    int all_jansson = getenv("FAULT_JANSSON") != NULL;
    long skipped = 0;
    long *pts = __real_malloc((size_t)(k + 1) * sizeof *pts);
    long n_pts = 0;
    if (!pts)
        abort();
    if (k <= FAULT_FULL_MAX) {
        for (long i = 1; i <= k; i++)
            pts[n_pts++] = i;
    } else {
        /* sort (site, number) pairs; keep the first and last number of each site */
        site_ix *ix = __real_malloc((size_t)k * sizeof *ix);
        if (!ix)
            abort();
        for (long i = 0; i < k; i++)
            ix[i] = (site_ix){g_sites[i], i + 1};
        qsort(ix, (size_t)k, sizeof *ix, site_cmp);
        for (long i = 0; i < k; i++)
            if (i == 0 || ix[i].h != ix[i - 1].h || i == k - 1 || ix[i].h != ix[i + 1].h)
                pts[n_pts++] = ix[i].n;
        __real_free(ix);
        qsort(pts, (size_t)n_pts, sizeof *pts, long_cmp);
    }

    if (!all_jansson) {
        long w = 0;
        for (long t = 0; t < n_pts; t++) {
            long i = pts[t];
            if ((g_sites[i - 1] & 1) && i > 1 && (g_sites[i - 2] & 1))
                skipped++;
            else
                pts[w++] = i;
        }
        n_pts = w;
    }

    group *groups = __real_calloc(64, sizeof *groups);
    int n_groups = 0;
    if (!groups)
        abort();
    for (long t = 0; t < n_pts; t++) {
        long i = pts[t];
        int rfd;
        pid_t pid = fork_child(&rfd);
        if (pid == 0) {
            child_run(rfd, i, fn, ud, out0, h0.live_delta);
            _exit(0);
        }
        int fds[1] = {rfd};
        fault_msg fired, m;
        memset(&fired, 0, sizeof fired);
        memset(&m, 0, sizeof m);
        m.verdict = V_CRASH;
        fault_msg cur;
        size_t got = 0;
        for (;;) {
            ssize_t r = read(fds[0], (char *)&cur + got, sizeof cur - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            if (got == sizeof cur) {
                if (cur.type == MSG_FIRED)
                    fired = cur;
                else
                    m = cur;
                got = 0;
            }
        }
        close(fds[0]);
        int st;
        waitpid(pid, &st, 0);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            m.verdict = V_CRASH;
            if (WIFSIGNALED(st))
                snprintf(m.detail, sizeof m.detail, "killed by signal %d", WTERMSIG(st));
            else
                snprintf(m.detail, sizeof m.detail, "exit status %d (sanitizer report above)",
                         WEXITSTATUS(st));
        }
        if (m.verdict == V_OK || m.verdict == V_NOT_FIRED)
            continue;
        bad++;
        char site[900];
        describe(fired.bt, fired.nbt, site, sizeof site);
        int gi;
        for (gi = 0; gi < n_groups; gi++)
            if (groups[gi].verdict == m.verdict && strcmp(groups[gi].site, site) == 0)
                break;
        if (gi == n_groups && n_groups < 64) {
            n_groups++;
            snprintf(groups[gi].site, sizeof groups[gi].site, "%s", site);
            groups[gi].verdict = m.verdict;
            groups[gi].first_i = i;
            groups[gi].fn = fired.fn;
            snprintf(groups[gi].detail, sizeof groups[gi].detail, "%s", m.detail);
            fprintf(stderr, "fault %s: allocation #%ld (%s) failed -> %s: %s\n    at %s\n",
                    name, i, fired.fn ? fired.fn : "?", v_names[m.verdict], m.detail, site);
        }
        if (gi < n_groups)
            groups[gi].n++;
    }
    *tried_out = n_pts;
    size_t used = (size_t)snprintf(report, report_len,
                                   "%s: K=%ld, tried %ld (%ld inside jansson's codec skipped), "
                                   "%d bad", name, k, n_pts, skipped, bad);
    for (int g = 0; g < n_groups && used < report_len; g++)
        used += (size_t)snprintf(report + used, report_len - used,
                                 "\n  [%s] x%ld, first #%ld (%s): %s\n      at %s",
                                 v_names[groups[g].verdict], groups[g].n, groups[g].first_i,
                                 groups[g].fn ? groups[g].fn : "?", groups[g].detail,
                                 groups[g].site);
    fprintf(stderr, "fault %s: K=%ld, tried %ld, skipped %ld, %d bad, %.1f s\n", name, k,
            n_pts, skipped, bad, now_s() - t0);
    __real_free(groups);
    __real_free(pts);
    fault_free(out0);
    return bad;
}
