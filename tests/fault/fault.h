/* fault.h: allocation-failure injection for tests/fault (build/check_fault).
 *
 * check_fault is linked with -Wl,--wrap=malloc,calloc,realloc,strdup,strndup,
 * posix_memalign,free: every such call from our objects (core/, api/, server/ and the
 * test itself) goes through the counters of fault.c; jansson's allocations are routed
 * there by json_set_alloc_funcs and SQLite's by SQLITE_CONFIG_MALLOC (fault_init).
 * While armed, allocation number fail_at (counting from 1) returns NULL, and only
 * that one, so that the recovery path after it runs too.
 *
 * fault_run drives one scenario: a clean run counts K allocations and records the
 * output text; then for each selected i in 1..K a forked child runs the scenario with
 * fail_at = i and checks the verdict: no crash (no sanitizer report), no leaked block,
 * and either a negative status or TG_OK with exactly the clean output. All i are tried
 * when K <= FAULT_FULL_MAX; beyond that, the first and the last allocation of every
 * distinct call site (a hash of the allocating call stack), so that every site is still
 * hit. Failures are reported per site with the source lines (addr2line).
 *
 * Single-threaded by design: scenarios run their kinds with one thread. */
#ifndef TG_TESTS_FAULT_H
#define TG_TESTS_FAULT_H

#include <stddef.h>

/* One run of a scenario. Runs armed; returns a tg_status (0 or negative). On TG_OK
 * *out must be set to the output text (malloc'd while disarmed through fault_strdup,
 * or NULL for "no output"). Everything else the run allocated must be freed. */
typedef int (*fault_scenario_fn)(void *ud, char **out);

/* Counts only from fault_arm to fault_disarm; an unarmed allocation never fails. */
void fault_arm(long fail_at);
void fault_disarm(void);
/* A copy of s made with the real allocator (never fails, never counted as ours). */
char *fault_strdup(const char *s);
void fault_free(void *p);
/* s (real allocator, may be NULL) with line and a newline appended; never fails. */
char *fault_append(char *s, const char *line);

void fault_init(void);

/* Runs the scenario as described above; returns the number of bad verdicts and writes
 * a summary (one line per failing site) into report. cache: a clean run may leave
 * blocks allocated (lazily built caches), a failing run as many; otherwise a clean run
 * must leave none. *k_out: allocations of a clean
 * run; *tried_out: failure points tried. */
int fault_run(const char *name, fault_scenario_fn fn, void *ud, int cache, long *k_out,
              long *tried_out, char *report, size_t report_len);

#define FAULT_FULL_MAX 2000

#endif
