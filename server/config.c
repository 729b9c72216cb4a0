/* config.c: command-line flags and their TANGENT_* environment twins (API.md 6.1).
 * A flag overrides its environment variable; a bad value is a one-line error and
 * exit code 2.
 *
 * The defaults of --workers and --memory-budget follow the limits of the container
 * (cgroup v2) when there are any, else the machine's: workers = ceil(cpu.max quota /
 * period), at least 1 and at most the usable cores; budget = 60 % of the smaller of
 * memory.max and RAM. The cgroup is the process's own (/proc/self/cgroup, "0::" line)
 * under /sys/fs/cgroup, and every ancestor up to that root counts (the smallest limit
 * wins), so a limit set on a parent slice applies too. cgroup v1 limits are not read.
 * TANGENTD_TEST_CGROUP_ROOT replaces /sys/fs/cgroup (tests point it at a fake tree); it
 * is not a TANGENT_* twin of a flag, and is not for production use. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/tg.h"
#include "app.h"

enum {
    OPT_PORT = 1, OPT_BIND, OPT_DB, OPT_WORKERS, OPT_BLAS, OPT_MAX_BODY, OPT_MAX_QUEUE,
    OPT_MEM, OPT_ATTEMPTS, OPT_TOKEN, OPT_METRICS_AUTH, OPT_CORS, OPT_SECRET, OPT_LOG_FMT,
    OPT_LOG_LEVEL, OPT_TEST_KINDS, OPT_MAX_CONN, OPT_HEADER_TIMEOUT, OPT_BODY_MEM, OPT_HELP,
    OPT_VERSION
};

static const struct {
    const char *flag, *env, *arg, *help;
    int id;
} options[] = {
    {"port", "TANGENT_PORT", "N", "TCP port [8080]", OPT_PORT},
    {"bind", "TANGENT_BIND", "ADDR", "address to listen on [127.0.0.1]", OPT_BIND},
    {"db", "TANGENT_DB", "PATH", "SQLite database file [./tangent.db]", OPT_DB},
    {"workers", "TANGENT_WORKERS", "N",
     "job worker threads [number of cores, or the container's CPU limit]", OPT_WORKERS},
    {"blas-threads", "TANGENT_BLAS_THREADS", "N", "OpenBLAS threads, process-wide [1]",
     OPT_BLAS},
    {"max-body", "TANGENT_MAX_BODY", "BYTES", "largest request body [256 MiB]", OPT_MAX_BODY},
    {"max-body-memory", "TANGENT_MAX_BODY_MEMORY", "BYTES",
     "memory for all request bodies being received, together; 503 beyond [512 MiB, at "
     "least --max-body]", OPT_BODY_MEM},
    {"max-connections", "TANGENT_MAX_CONNECTIONS", "N",
     "most open connections [10000, or fewer when the open-file limit (raised to its hard "
     "limit at start) is lower]", OPT_MAX_CONN},
    {"header-timeout", "TANGENT_HEADER_TIMEOUT", "SECONDS",
     "a connection must send a complete request line and headers within this many seconds "
     "of its start or of its previous response, else it is closed [30]", OPT_HEADER_TIMEOUT},
    {"max-queue", "TANGENT_MAX_QUEUE", "N", "most waiting jobs before 429 [1000]",
     OPT_MAX_QUEUE},
    {"memory-budget", "TANGENT_MEMORY_BUDGET", "BYTES",
     "memory budget for all jobs [60% of RAM, or of the container's memory limit]; "
     "suffixes K, M, G", OPT_MEM},
    {"max-attempts", "TANGENT_MAX_ATTEMPTS", "N", "attempts before `interrupted` [3]",
     OPT_ATTEMPTS},
    {"api-token", "TANGENT_API_TOKEN", "TOKEN", "require Authorization: Bearer TOKEN [none]",
     OPT_TOKEN},
    {"metrics-auth", "TANGENT_METRICS_AUTH", NULL, "require the token for /metrics too [off]",
     OPT_METRICS_AUTH},
    {"cors-origins", "TANGENT_CORS_ORIGINS", "LIST", "comma-separated allowed origins [none]",
     OPT_CORS},
    {"webhook-secret", "TANGENT_WEBHOOK_SECRET", "SECRET", "HMAC key for webhooks [none]",
     OPT_SECRET},
    {"log-format", "TANGENT_LOG_FORMAT", "text|json", "log line format [text]", OPT_LOG_FMT},
    {"log-level", "TANGENT_LOG_LEVEL", "LEVEL", "debug|info|warn|error [info]", OPT_LOG_LEVEL},
    {"enable-test-kinds", "TANGENT_ENABLE_TEST_KINDS", NULL,
     "register test-only job kinds (sleep) [off]", OPT_TEST_KINDS},
    {"help", NULL, NULL, "print this help and exit", OPT_HELP},
    {"version", NULL, NULL, "print the version and exit", OPT_VERSION},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Bytes with an optional K/M/G/T suffix (powers of 1024). */
static int parse_bytes(const char *s, long long *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && !end[2])) {
        end += (*end == 'i') ? 2 : 1;
    }
    if (*end || v * mul > 9.0e18)
        return -1;
    *out = (long long)(v * mul);
    return 0;
}

/* The first line of a small file (NUL-terminated, newline removed), or -1. */
static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(buf, (int)size, f);
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* cgroup v2 limits of dir: *cpus (CPUs, 0 = none) from cpu.max "QUOTA PERIOD" or "max
 * PERIOD", *mem (bytes, 0 = none) from memory.max "BYTES" or "max". Files that are
 * absent or unreadable set no limit. */
static void cgroup_dir_limits(const char *dir, double *cpus, long long *mem)
{
    char path[2300], line[128];
    *cpus = 0;
    *mem = 0;
    if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path)
        return;
    if (read_line(path, line, sizeof line) == 0) {
        long long quota, period;
        if (sscanf(line, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0)
            *cpus = (double)quota / (double)period;
    }
    if (snprintf(path, sizeof path, "%s/memory.max", dir) >= (int)sizeof path)
        return;
    if (read_line(path, line, sizeof line) == 0 && strcmp(line, "max") != 0) {
        long long v;
        char *end;
        errno = 0;
        v = strtoll(line, &end, 10);
        if (!errno && end != line && !*end && v > 0)
            *mem = v;
    }
}

/* The limits of this process's cgroup and its ancestors under the cgroup root (0 =
 * none). */
static void cgroup_limits(double *cpus, long long *mem)
{
    const char *root = getenv("TANGENTD_TEST_CGROUP_ROOT");
    char own[1024] = "", line[1100], dir[2200];
    *cpus = 0;
    *mem = 0;
    if (!root || !*root)
        root = "/sys/fs/cgroup";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "0::", 3) == 0) {
                line[strcspn(line, "\n")] = '\0';
                if (snprintf(own, sizeof own, "%s", line + 3) >= (int)sizeof own)
                    own[0] = '\0';
            }
        fclose(f);
    }
    /* From the own cgroup up to the root; at most 64 levels. */
    if (snprintf(dir, sizeof dir, "%s%s", root, strcmp(own, "/") == 0 ? "" : own) >=
        (int)sizeof dir)
        return;
    size_t root_len = strlen(root);
    for (int depth = 0; depth < 64; depth++) {
        double c;
        long long m;
        cgroup_dir_limits(dir, &c, &m);
        if (c > 0 && (*cpus == 0 || c < *cpus))
            *cpus = c;
        if (m > 0 && (*mem == 0 || m < *mem))
            *mem = m;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= root_len || !slash || (size_t)(slash - dir) < root_len)
            break;
        *slash = '\0';
    }
}

/* 60 % of bytes, exactly (no float rounding, no overflow). */
static long long budget_of(long long bytes)
{
    return bytes / 5 * 3 + bytes % 5 * 3 / 5;
}

/* The defaults of --workers and --memory-budget (see the file comment). */
static void default_limits(tg_config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        cores = CPU_COUNT(&set);
    if (cores < 1)
        cores = 1;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    long long ram = (pages > 0 && psz > 0) ? (long long)pages * psz : 0;
    double cpus;
    long long mem;
    cgroup_limits(&cpus, &mem);
    snprintf(cfg->limits, sizeof cfg->limits, "%s", cpus > 0 || mem > 0 ? "cgroup" : "host");
    cfg->workers = (int)cores;
    if (cpus > 0 && ceil(cpus) < (double)cores)
        cfg->workers = ceil(cpus) < 1 ? 1 : (int)ceil(cpus);
    if (mem > 0 && (ram == 0 || mem < ram))
        ram = mem;
    cfg->memory_budget = ram > 0 ? budget_of(ram) : (1LL << 32);
}

static int set_option(tg_config *cfg, int id, const char *name, const char *val)
{
    long long v;
    switch (id) {
    case OPT_PORT:
        if (parse_ll(val, 0, 65535, &v))
            goto bad;
        cfg->port = (int)v;
        break;
    case OPT_BIND:
        if (strlen(val) >= sizeof cfg->bind)
            goto bad;
        snprintf(cfg->bind, sizeof cfg->bind, "%s", val);
        break;
    case OPT_DB:
        if (!*val || strlen(val) >= sizeof cfg->db)
            goto bad;
        snprintf(cfg->db, sizeof cfg->db, "%s", val);
        break;
    case OPT_WORKERS:
        if (parse_ll(val, 1, 256, &v))
            goto bad;
        cfg->workers = (int)v;
        break;
    case OPT_BLAS:
        if (parse_ll(val, 1, 256, &v))
            goto bad;
        cfg->blas_threads = (int)v;
        break;
    case OPT_MAX_BODY:
        if (parse_bytes(val, &v) || v < 1024)
            goto bad;
        cfg->max_body = (size_t)v;
        break;
    case OPT_BODY_MEM:
        if (parse_bytes(val, &v) || v < 1024)
            goto bad;
        cfg->max_body_memory = v;
        break;
    case OPT_MAX_CONN:
        if (parse_ll(val, 16, 1000000, &v))
            goto bad;
        cfg->max_connections = (int)v;
        break;
    case OPT_HEADER_TIMEOUT: {
        char *end;
        errno = 0;
        double d = strtod(val, &end);
        if (errno || end == val || *end || !(d >= 0.5 && d <= 3600))
            goto bad;
        cfg->header_timeout = d;
        break;
    }
    case OPT_MAX_QUEUE:
        if (parse_ll(val, 1, 100000000, &v))
            goto bad;
        cfg->max_queue = v;
        break;
    case OPT_MEM:
        if (parse_bytes(val, &v) || v < 1)
            goto bad;
        cfg->memory_budget = v;
        break;
    case OPT_ATTEMPTS:
        if (parse_ll(val, 1, 100, &v))
            goto bad;
        cfg->max_attempts = (int)v;
        break;
    case OPT_TOKEN:
        if (strlen(val) >= sizeof cfg->api_token)
            goto bad;
        snprintf(cfg->api_token, sizeof cfg->api_token, "%s", val);
        break;
    case OPT_METRICS_AUTH:
        cfg->metrics_auth = !val || strcmp(val, "0") != 0;
        break;
    case OPT_CORS:
        if (strlen(val) >= sizeof cfg->cors_origins)
            goto bad;
        snprintf(cfg->cors_origins, sizeof cfg->cors_origins, "%s", val);
        break;
    case OPT_SECRET:
        if (strlen(val) >= sizeof cfg->webhook_secret)
            goto bad;
        snprintf(cfg->webhook_secret, sizeof cfg->webhook_secret, "%s", val);
        break;
    case OPT_LOG_FMT:
        if (strcmp(val, "text") == 0)
            cfg->log_json = 0;
        else if (strcmp(val, "json") == 0)
            cfg->log_json = 1;
        else
            goto bad;
        break;
    case OPT_LOG_LEVEL: {
        static const char *const lv[] = {"debug", "info", "warn", "error"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(val, lv[i]) == 0)
                found = i;
        if (found < 0)
            goto bad;
        cfg->log_level = found;
        break;
    }
    case OPT_TEST_KINDS:
        cfg->test_kinds = !val || strcmp(val, "0") != 0;
        break;
    default:
        break;
    }
    return 0;
bad:
    fprintf(stderr, "tangentd: invalid value for %s: \"%s\" (see --help)\n", name, val);
    return 2;
}

static void usage(void)
{
    printf("usage: tangentd [options]\n\n"
           "The tangentd service: deep-learning theory analyses as HTTP jobs.\n"
           "Each option has an environment variable twin; the flag wins.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s%s%s", options[i].flag, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        printf("  %-28s %s%s%s\n", lhs, options[i].help, options[i].env ? "  $" : "",
               options[i].env ? options[i].env : "");
    }
}

int config_parse(tg_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = 8080;
    snprintf(cfg->bind, sizeof cfg->bind, "127.0.0.1");
    snprintf(cfg->db, sizeof cfg->db, "./tangent.db");
    default_limits(cfg);
    cfg->blas_threads = 1;
    cfg->max_body = (size_t)256 << 20;
    cfg->max_queue = 1000;
    cfg->max_attempts = 3;
    cfg->log_level = 1;
    cfg->max_connections = 0; /* 0: sized from the open-file limit by http_start */
    cfg->header_timeout = 30.0;
    cfg->max_body_memory = 0; /* 0: 512 MiB, at least max_body (below) */

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = options[i].env ? getenv(options[i].env) : NULL;
        if (v && set_option(cfg, options[i].id, options[i].env, v))
            return 2;
    }
    struct option longopts[N_OPTIONS + 1];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        longopts[i].name = options[i].flag;
        longopts[i].has_arg = options[i].arg ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = options[i].id;
    }
    memset(&longopts[N_OPTIONS], 0, sizeof longopts[0]);
    opterr = 0;
    optind = 1;
    for (;;) {
        int id = getopt_long(argc, argv, "", longopts, NULL);
        if (id == -1)
            break;
        if (id == '?' || id == ':') {
            fprintf(stderr, "tangentd: unknown or incomplete option \"%s\" (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (id == OPT_HELP) {
            usage();
            return 1;
        }
        if (id == OPT_VERSION) {
            printf("tangentd %s\n", TG_VERSION);
            return 1;
        }
        const char *name = "?";
        for (size_t i = 0; i < N_OPTIONS; i++)
            if (options[i].id == id)
                name = options[i].flag;
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", name);
        if (set_option(cfg, id, flag, optarg))
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "tangentd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return 2;
    }
    if (cfg->max_body_memory == 0)
        cfg->max_body_memory = (long long)512 << 20;
    if (cfg->max_body_memory < (long long)cfg->max_body)
        cfg->max_body_memory = (long long)cfg->max_body;
    return 0;
}
