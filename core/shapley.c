/* shapley.c: the estimators of shapley.h over a utility: exact enumeration, Monte Carlo
 * permutations (plain, antithetic, truncated: Ghorbani & Zou 2019), data Banzhaf by
 * maximum sample reuse (Wang & Jia 2023) and the theory's difference estimator
 * (Thm 10.2.5 with the design of THEORY_EXTRACT.md 4), with running means, standard
 * errors and the stopping rules of API.md 5.4.
 *
 * Parallel runs: worker threads draw sample indices from a counter and write each
 * sample (one permutation or antithetic pair, one set) into a ring of slots; the calling
 * thread folds the slots into the running statistics strictly in index order and applies
 * the stopping rules after each sample. Sample t uses the RNG stream (seed, t), so the
 * values, standard errors and the sample at which a rule fires are the same for every
 * thread count. The calling thread also reports progress (and learns of a cancel) about
 * every 0.25 s; workers check a stop flag between utility evaluations. */
#include "shapley.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"

#define SHAP_EXACT_MAX 20
#define EXACT_BLOCK 64

const char *shap_method_name(shap_method m)
{
    static const char *const names[] = {"exact", "permutation", "tmc", "knn_exact",
                                        "banzhaf", "difference"};
    return (unsigned)m < 6 ? names[m] : "?";
}

const char *shap_stop_name(shap_stop s)
{
    static const char *const names[] = {"exhaustive", "max_permutations", "max_evaluations",
                                        "max_time_s", "tolerance"};
    return (unsigned)s < 5 ? names[s] : "?";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- exact from the table ---------------------------------------------------------- */

void shap_exact_from_table(const double *U, size_t N, int banzhaf, double *values)
{
    /* w(s) = s! (N-1-s)! / N! = 1 / (N C(N-1, s)) */
    double w[SHAP_EXACT_MAX + 1];
    for (size_t s = 0; s < N; s++) {
        double c = 1;
        for (size_t j = 0; j < s; j++)
            c = c * (double)(N - 1 - j) / (double)(j + 1);
        w[s] = banzhaf ? ldexp(1.0, -(int)(N - 1)) : 1.0 / ((double)N * c);
    }
    size_t full = (size_t)1 << N;
    for (size_t i = 0; i < N; i++) {
        size_t bit = (size_t)1 << i;
        /* Neumaier summation: 2^19 terms */
        double sum = 0, comp = 0;
        for (size_t mask = 0; mask < full; mask++) {
            if (mask & bit)
                continue;
            double t = w[__builtin_popcountll((unsigned long long)mask)] *
                       (U[mask | bit] - U[mask]);
            double y = sum + t;
            comp += fabs(sum) >= fabs(t) ? (sum - y) + t : (t - y) + sum;
            sum = y;
        }
        values[i] = sum + comp;
    }
}

/* ---- the run ----------------------------------------------------------------------- */

typedef struct slot {
    long long t;        /* sample index held, -1 while empty */
    double *v;          /* N: the sample (marginals, or per-player estimates) */
    unsigned char *in;  /* N: banzhaf membership */
    double u;           /* banzhaf: U of the set */
    long long evals;
    long long perms;
} slot;

typedef struct run {
    const shap_utility *u;
    const shap_run_cfg *cfg;
    size_t N;
    double u_full, u_empty;
    /* work distribution */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long long next;      /* next sample to start */
    long long reduced;   /* samples folded */
    long long limit;     /* samples that may be started: a bound on what can be needed */
    size_t R;
    slot *slots;
    atomic_int stop;
    int failed;
    tg_err ferr;
    long long unconverged;
    /* exact */
    double *table;
    size_t n_blocks;
    atomic_size_t blocks_done;
} run;

/* One scan along perm: marg[perm[j]] = U(perm[..j]) - U(perm[..j-1]); truncated (tmc)
 * once |U(N) - U(prefix)| <= truncation |U(N)|. Returns the evaluations, or -1 on
 * error / stop. */
static long long scan(run *R, shap_state *st, const size_t *perm, double *marg, tg_err *err)
{
    size_t N = R->N;
    int tmc = R->cfg->method == SHAP_TMC;
    double thr = R->cfg->truncation * fabs(R->u_full);
    double prev = R->u_empty;
    long long ev = 0;
    shap_state_reset(st);
    for (size_t j = 0; j < N; j++) {
        if (tmc && fabs(R->u_full - prev) <= thr) {
            for (; j < N; j++)
                marg[perm[j]] = 0;
            break;
        }
        if (atomic_load_explicit(&R->stop, memory_order_relaxed))
            return -1;
        double uj;
        if (shap_state_add(st, perm[j], &uj, err))
            return -1;
        ev++;
        marg[perm[j]] = uj - prev;
        prev = uj;
    }
    return ev;
}

/* Computes sample t into sl. Returns TG_OK, or an error / -1 (stopped). */
static int sample(run *R, shap_state *st, long long t, slot *sl, size_t *perm, size_t *perm2,
                  double *tmp, tg_err *err)
{
    const shap_run_cfg *cfg = R->cfg;
    size_t N = R->N;
    tg_rng rng;
    rng_seed_stream(&rng, cfg->seed, (uint64_t)t);
    sl->evals = 0;
    sl->perms = 1;
    switch (cfg->method) {
    case SHAP_PERMUTATION:
    case SHAP_TMC: {
        rng_permutation(&rng, perm, N);
        long long e = scan(R, st, perm, sl->v, err);
        if (e < 0)
            return -1;
        sl->evals = e;
        if (cfg->antithetic) {
            for (size_t j = 0; j < N; j++)
                perm2[j] = perm[N - 1 - j];
            e = scan(R, st, perm2, tmp, err);
            if (e < 0)
                return -1;
            sl->evals += e;
            sl->perms = 2;
            for (size_t i = 0; i < N; i++)
                sl->v[i] = 0.5 * (sl->v[i] + tmp[i]);
        }
        return TG_OK;
    }
    case SHAP_BANZHAF: {
        size_t n = 0;
        for (size_t i = 0; i < N; i++) {
            sl->in[i] = (unsigned char)(rng_next(&rng) >> 63);
            if (sl->in[i])
                perm[n++] = i;
        }
        if (atomic_load_explicit(&R->stop, memory_order_relaxed))
            return -1;
        if (shap_state_eval(st, perm, n, &sl->u, err))
            return -1;
        sl->evals = n > 0;
        return TG_OK;
    }
    case SHAP_DIFFERENCE: {
        /* k ~ U{0..N-2}; S a uniform k-subset of players 1..N-1; for j outside S + {0}:
         * (N-1)/(N-1-k) (U(S + 0) - U(S + j)) estimates s_0 - s_j; s_0 from efficiency. */
        size_t k = (size_t)rng_below(&rng, N - 1);
        for (size_t i = 0; i < N - 1; i++)
            perm2[i] = i + 1;
        for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
            size_t j = i + (size_t)rng_below(&rng, N - 1 - i);
            size_t x = perm2[i];
            perm2[i] = perm2[j];
            perm2[j] = x;
        }
        memcpy(perm, perm2, k * sizeof(size_t));
        perm[k] = 0;
        double u0, uj, c = (double)(N - 1) / (double)(N - 1 - k), sumD = 0;
        if (shap_state_eval(st, perm, k + 1, &u0, err))
            return -1;
        sl->evals = 1;
        for (size_t i = 0; i < N; i++)
            tmp[i] = 0;
        for (size_t q = k; q < N - 1; q++) {
            if (atomic_load_explicit(&R->stop, memory_order_relaxed))
                return -1;
            size_t j = perm2[q];
            perm[k] = j;
            if (shap_state_eval(st, perm, k + 1, &uj, err))
                return -1;
            sl->evals++;
            tmp[j] = c * (u0 - uj);
            sumD += tmp[j];
        }
        double s0 = (R->u_full - R->u_empty + sumD) / (double)N;
        for (size_t i = 0; i < N; i++)
            sl->v[i] = s0 - tmp[i];
        return TG_OK;
    }
    default:
        return TG_EINTERNAL;
    }
}

static void fail(run *R, int rc, const tg_err *e)
{
    pthread_mutex_lock(&R->mu);
    if (!R->failed) {
        R->failed = rc;
        if (e)
            R->ferr = *e;
        else
            tg_err_set(&R->ferr, rc, "out of memory");
    }
    atomic_store(&R->stop, 1);
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
}

static void *sample_worker(void *arg)
{
    run *R = arg;
    size_t N = R->N;
    shap_state *st = shap_state_new(R->u);
    size_t *perm = malloc(N * sizeof(size_t)), *perm2 = malloc(N * sizeof(size_t));
    double *tmp = malloc(N * sizeof(double));
    tg_err e;
    tg_err_clear(&e);
    if (!st || !perm || !perm2 || !tmp) {
        fail(R, TG_ENOMEM, NULL);
        goto out;
    }
    shap_state_set_stop(st, &R->stop);
    for (;;) {
        pthread_mutex_lock(&R->mu);
        while (!atomic_load(&R->stop) && R->next < R->limit &&
               R->next >= R->reduced + (long long)R->R)
            pthread_cond_wait(&R->cv, &R->mu);
        if (atomic_load(&R->stop) || R->next >= R->limit) {
            pthread_mutex_unlock(&R->mu);
            break;
        }
        long long t = R->next++;
        pthread_mutex_unlock(&R->mu);
        slot *sl = &R->slots[t % (long long)R->R];
        int rc = sample(R, st, t, sl, perm, perm2, tmp, &e);
        if (rc == -1 && atomic_load(&R->stop))
            break;
        if (rc) {
            fail(R, rc == -1 ? e.code : rc, &e);
            break;
        }
        pthread_mutex_lock(&R->mu);
        sl->t = t;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
    }
out:
    if (st) {
        pthread_mutex_lock(&R->mu);
        R->unconverged += shap_state_unconverged(st);
        pthread_mutex_unlock(&R->mu);
    }
    shap_state_free(st);
    free(perm);
    free(perm2);
    free(tmp);
    return NULL;
}

static void *exact_worker(void *arg)
{
    run *R = arg;
    size_t N = R->N;
    shap_state *st = shap_state_new(R->u);
    size_t *idx = malloc(N * sizeof(size_t));
    tg_err e;
    tg_err_clear(&e);
    if (!st || !idx) {
        fail(R, TG_ENOMEM, NULL);
        goto out;
    }
    shap_state_set_stop(st, &R->stop);
    for (;;) {
        if (atomic_load(&R->stop))
            break;
        pthread_mutex_lock(&R->mu);
        long long b = R->next++;
        pthread_mutex_unlock(&R->mu);
        if (b >= (long long)R->n_blocks)
            break;
        size_t full = (size_t)1 << N;
        size_t m0 = (size_t)b * EXACT_BLOCK, m1 = m0 + EXACT_BLOCK < full ? m0 + EXACT_BLOCK : full;
        for (size_t mask = m0; mask < m1; mask++) {
            if (mask == 0) {
                R->table[0] = R->u_empty;
                continue;
            }
            if (atomic_load_explicit(&R->stop, memory_order_relaxed))
                goto out;
            size_t n = 0;
            for (size_t i = 0; i < N; i++)
                if (mask >> i & 1)
                    idx[n++] = i;
            int rc = shap_state_eval(st, idx, n, &R->table[mask], &e);
            if (rc && atomic_load(&R->stop))
                goto out;
            if (rc) {
                fail(R, rc, &e);
                goto out;
            }
        }
        atomic_fetch_add(&R->blocks_done, 1);
    }
out:
    if (st) {
        pthread_mutex_lock(&R->mu);
        R->unconverged += shap_state_unconverged(st);
        pthread_mutex_unlock(&R->mu);
    }
    shap_state_free(st);
    free(idx);
    return NULL;
}

/* Welford accumulators */
typedef struct acc {
    double n, mean, m2;
} acc;

static void acc_add(acc *a, double x)
{
    a->n += 1;
    double d = x - a->mean;
    a->mean += d / a->n;
    a->m2 += d * (x - a->mean);
}

static double acc_var_of_mean(const acc *a)
{
    return a->n >= 2 ? a->m2 / (a->n - 1) / a->n : INFINITY;
}

/* Indices of the (up to) 10 largest values, into top (returns how many). */
static size_t top10(const double *v, size_t N, size_t *top)
{
    size_t c = 0;
    for (size_t i = 0; i < N; i++) {
        size_t pos = c;
        while (pos > 0 && v[top[pos - 1]] < v[i])
            pos--;
        if (pos >= 10)
            continue;
        if (c < 10)
            c++;
        memmove(top + pos + 1, top + pos, (c - 1 - pos) * sizeof(size_t));
        top[pos] = i;
    }
    return c;
}

static int start_threads(run *R, void *(*fn)(void *), pthread_t *th, int want)
{
    int started = 0;
    for (int i = 0; i < want; i++)
        if (pthread_create(&th[started], NULL, fn, R) == 0)
            started++;
    return started;
}

static int run_exact(run *R, double *values, double *se, shap_result *res, tg_err *err)
{
    size_t N = R->N;
    const shap_run_cfg *cfg = R->cfg;
    if (N > SHAP_EXACT_MAX)
        return tg_err_set(err, TG_EINVAL, "exact enumeration takes at most %d players",
                          SHAP_EXACT_MAX);
    size_t full = (size_t)1 << N;
    R->table = tg_alloc_array(full, 1, sizeof(double));
    if (!R->table)
        return tg_err_set(err, TG_ENOMEM, "out of memory for the subset table");
    R->n_blocks = (full + EXACT_BLOCK - 1) / EXACT_BLOCK;
    pthread_t th[64];
    int want = cfg->threads < 1 ? 1 : cfg->threads > 64 ? 64 : cfg->threads;
    int started = start_threads(R, exact_worker, th, want);
    int rc = TG_OK;
    if (started == 0) {
        exact_worker(R);
    } else {
        double last = now_s();
        while (atomic_load(&R->blocks_done) < R->n_blocks && !atomic_load(&R->stop)) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            double t = now_s();
            if (cfg->report && t - last >= 0.25) {
                last = t;
                double done = (double)atomic_load(&R->blocks_done) * EXACT_BLOCK;
                shap_progress p = {0, (long long)done, NAN, NAN, 0};
                if (cfg->report(cfg->report_ud, 0.95 * done / (double)full, &p)) {
                    atomic_store(&R->stop, 1);
                    rc = TG_ECANCELLED;
                }
            }
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    res->unconverged_fits = R->unconverged;
    if (R->failed)
        return tg_err_set(err, R->failed, "%s", R->ferr.msg);
    if (rc)
        return tg_err_set(err, rc, "cancelled");
    shap_exact_from_table(R->table, N, cfg->method == SHAP_BANZHAF, values);
    for (size_t i = 0; i < N; i++)
        se[i] = 0;
    res->u_full = R->table[full - 1];
    res->evaluations = (long long)full - 1;
    res->permutations = 0;
    res->converged = 1;
    res->stopped_by = SHAP_STOP_EXHAUSTIVE;
    res->max_stderr = 0;
    return TG_OK;
}

static int run_sampling(run *R, double *values, double *se, shap_result *res, tg_err *err)
{
    const shap_run_cfg *cfg = R->cfg;
    size_t N = R->N;
    int banzhaf = cfg->method == SHAP_BANZHAF;
    int per_perm = cfg->method == SHAP_PERMUTATION || cfg->method == SHAP_TMC;
    long long ppu = per_perm && cfg->antithetic ? 2 : 1; /* permutations per sample */
    long long max_samples = (cfg->max_permutations + ppu - 1) / ppu;
    int want = cfg->threads < 1 ? 1 : cfg->threads > 64 ? 64 : cfg->threads;
    int rc = TG_OK;
    acc *A = calloc(N * (banzhaf ? 2 : 1), sizeof(acc));
    size_t *top_prev = calloc(10, sizeof(size_t)), *top_now = calloc(10, sizeof(size_t));
    R->R = (size_t)(4 * want + 4);
    R->slots = calloc(R->R, sizeof(slot));
    if (!A || !top_prev || !top_now || !R->slots)
        goto oom;
    for (size_t q = 0; q < R->R; q++) {
        R->slots[q].t = -1;
        if (!(R->slots[q].v = tg_alloc_array(N, 1, sizeof(double))) ||
            !(R->slots[q].in = tg_alloc_array(N, 1, 1)))
            goto oom;
    }
    R->limit = max_samples;
    pthread_t th[64];
    int started = start_threads(R, sample_worker, th, want);
    if (started == 0) {
        free(A);
        rc = tg_err_set(err, TG_ENOMEM, "could not start a thread");
        A = NULL;
        goto out;
    }
    double t0 = now_s(), last = t0, frac = 0, max_se = NAN;
    long long perms = 0, evals = 0;
    size_t n_top_prev = 0;
    double stability = NAN;
    shap_stop stop_by = SHAP_STOP_MAX_PERMUTATIONS;
    int converged = 0, done = 0;
    pthread_mutex_lock(&R->mu);
    while (!done) {
        slot *sl = &R->slots[R->reduced % (long long)R->R];
        while (sl->t != R->reduced && !R->failed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&R->cv, &R->mu, &ts);
            double t = now_s();
            if (cfg->max_time_s > 0 && t - t0 >= cfg->max_time_s && R->reduced > 0) {
                stop_by = SHAP_STOP_MAX_TIME;
                done = 1;
                break;
            }
            if (cfg->report && t - last >= 0.25) {
                last = t;
                shap_progress p = {perms, evals, max_se, stability, 0};
                pthread_mutex_unlock(&R->mu);
                int stop = cfg->report(cfg->report_ud, frac, &p);
                pthread_mutex_lock(&R->mu);
                if (stop) {
                    rc = TG_ECANCELLED;
                    done = 1;
                    break;
                }
            }
        }
        if (done || R->failed)
            break;
        /* fold sample R->reduced (its slot is not touched by workers until released) */
        pthread_mutex_unlock(&R->mu);
        perms += sl->perms;
        evals += sl->evals;
        if (banzhaf) {
            for (size_t i = 0; i < N; i++)
                acc_add(&A[2 * i + (sl->in[i] ? 0 : 1)], sl->u);
        } else {
            for (size_t i = 0; i < N; i++)
                acc_add(&A[i], sl->v[i]);
        }
        max_se = 0;
        for (size_t i = 0; i < N; i++) {
            double v = banzhaf ? acc_var_of_mean(&A[2 * i]) + acc_var_of_mean(&A[2 * i + 1])
                               : acc_var_of_mean(&A[i]);
            double s = sqrt(v);
            if (!(s <= max_se))
                max_se = s;
        }
        double t = now_s();
        if (perms >= cfg->min_permutations && max_se < cfg->tolerance) {
            stop_by = SHAP_STOP_TOLERANCE;
            converged = 1;
            done = 1;
        } else if (cfg->max_evaluations > 0 && evals + 1 >= cfg->max_evaluations) {
            stop_by = SHAP_STOP_MAX_EVALUATIONS;
            done = 1;
        } else if (perms >= cfg->max_permutations) {
            stop_by = SHAP_STOP_MAX_PERMUTATIONS;
            done = 1;
        } else if (cfg->max_time_s > 0 && t - t0 >= cfg->max_time_s) {
            stop_by = SHAP_STOP_MAX_TIME;
            done = 1;
        }
        double f = (double)perms / (double)cfg->max_permutations;
        if (cfg->max_evaluations > 0)
            f = fmax(f, (double)evals / (double)cfg->max_evaluations);
        if (cfg->max_time_s > 0)
            f = fmax(f, (t - t0) / cfg->max_time_s);
        frac = fmax(frac, fmin(f, 0.99));
        if (cfg->report && (t - last >= 0.25 || done)) {
            last = t;
            for (size_t i = 0; i < N; i++)
                values[i] = banzhaf ? A[2 * i].mean - A[2 * i + 1].mean : A[i].mean;
            size_t c = top10(values, N, top_now);
            if (n_top_prev) {
                size_t same = 0;
                for (size_t a = 0; a < c; a++)
                    for (size_t b = 0; b < n_top_prev; b++)
                        same += top_now[a] == top_prev[b];
                stability = (double)same / (double)c;
            }
            memcpy(top_prev, top_now, c * sizeof(size_t));
            n_top_prev = c;
            shap_progress p = {perms, evals, max_se, stability, done};
            if (cfg->report(cfg->report_ud, frac, &p)) {
                rc = TG_ECANCELLED;
                done = 1;
            }
        }
        pthread_mutex_lock(&R->mu);
        sl->t = -1;
        R->reduced++;
        if (R->reduced >= max_samples)
            done = 1;
        pthread_cond_broadcast(&R->cv);
    }
    atomic_store(&R->stop, 1);
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    res->unconverged_fits = R->unconverged;
    if (R->failed) {
        rc = tg_err_set(err, R->failed, "%s", R->ferr.msg);
        goto out;
    }
    if (rc) {
        tg_err_set(err, rc, "cancelled");
        goto out;
    }
    for (size_t i = 0; i < N; i++) {
        if (banzhaf) {
            values[i] = A[2 * i].mean - A[2 * i + 1].mean;
            se[i] = sqrt(acc_var_of_mean(&A[2 * i]) + acc_var_of_mean(&A[2 * i + 1]));
        } else {
            values[i] = A[i].mean;
            se[i] = sqrt(acc_var_of_mean(&A[i]));
        }
    }
    res->permutations = perms;
    res->evaluations = evals + 1; /* + U(N) */
    res->converged = converged;
    res->stopped_by = stop_by;
    res->max_stderr = max_se;
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory for the sampler");
out:
    free(A);
    free(top_prev);
    free(top_now);
    if (R->slots)
        for (size_t q = 0; q < R->R; q++) {
            free(R->slots[q].v);
            free(R->slots[q].in);
        }
    free(R->slots);
    R->slots = NULL;
    return rc;
}

typedef struct full_job {
    run *R;
    int rc;
    tg_err err;
    atomic_int done;
} full_job;

static void *full_worker(void *arg)
{
    full_job *F = arg;
    run *R = F->R;
    size_t N = R->N;
    shap_state *st = shap_state_new(R->u);
    size_t *all = malloc(N * sizeof(size_t));
    if (!st || !all) {
        F->rc = tg_err_set(&F->err, TG_ENOMEM, "out of memory");
    } else {
        shap_state_set_stop(st, &R->stop);
        for (size_t i = 0; i < N; i++)
            all[i] = i;
        F->rc = shap_state_eval(st, all, N, &R->u_full, &F->err);
        R->unconverged += shap_state_unconverged(st);
    }
    shap_state_free(st);
    free(all);
    atomic_store(&F->done, 1);
    return NULL;
}

static int eval_full(run *R, tg_err *err)
{
    full_job F;
    memset(&F, 0, sizeof F);
    F.R = R;
    atomic_init(&F.done, 0);
    pthread_t th;
    const shap_run_cfg *cfg = R->cfg;
    int cancelled = 0;
    if (pthread_create(&th, NULL, full_worker, &F) != 0) {
        full_worker(&F);
    } else {
        double last = now_s();
        while (!atomic_load(&F.done)) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            double t = now_s();
            if (cfg->report && !cancelled && t - last >= 0.25) {
                last = t;
                shap_progress p = {0, 0, NAN, NAN, 0};
                if (cfg->report(cfg->report_ud, 0, &p)) {
                    cancelled = 1;
                    atomic_store(&R->stop, 1);
                }
            }
        }
        pthread_join(th, NULL);
    }
    if (cancelled)
        return tg_err_set(err, TG_ECANCELLED, "cancelled");
    if (F.rc)
        return tg_err_set(err, F.rc, "%s", F.err.msg);
    return TG_OK;
}

int shap_run(const shap_utility *u, const shap_run_cfg *cfg, double *values,
             double *stderr_out, shap_result *res, tg_err *err)
{
    memset(res, 0, sizeof *res);
    run R;
    memset(&R, 0, sizeof R);
    R.u = u;
    R.cfg = cfg;
    R.N = shap_utility_players(u);
    R.u_empty = shap_utility_empty(u);
    atomic_init(&R.stop, 0);
    atomic_init(&R.blocks_done, 0);
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
    res->u_empty = R.u_empty;
    res->efficiency_residual = NAN;
    int rc = TG_OK;
    size_t N = R.N;
    if (cfg->method == SHAP_EXACT) {
        rc = run_exact(&R, values, stderr_out, res, err);
    } else {
        /* U(N): the reference of truncation, the anchor of the difference estimator; on a
         * helper thread, so that a cancel during a long fit is seen */
        rc = eval_full(&R, err);
        res->u_full = R.u_full;
        long long unc = R.unconverged;
        R.unconverged = 0;
        if (rc == TG_OK && N == 1) {
            /* one player: every method gives U({0}) - U(empty) exactly */
            values[0] = R.u_full - R.u_empty;
            stderr_out[0] = 0;
            res->evaluations = 1;
            res->converged = 1;
            res->stopped_by = SHAP_STOP_EXHAUSTIVE;
        } else if (rc == TG_OK) {
            rc = run_sampling(&R, values, stderr_out, res, err);
        }
        res->unconverged_fits += unc;
    }
    if (rc == TG_OK && cfg->method != SHAP_BANZHAF) {
        double s = 0;
        for (size_t i = 0; i < N; i++)
            s += values[i];
        res->efficiency_residual = s - (res->u_full - res->u_empty);
    }
    free(R.table);
    pthread_mutex_destroy(&R.mu);
    pthread_cond_destroy(&R.cv);
    return rc;
}
