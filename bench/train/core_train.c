/* bench/train/core_train.c: the train job's numeric core without the service, for
 * profiling (perf) and a per-phase breakdown. Built from the core sources by run.sh; not part of make.
 *
 * Usage: core_train X.bin Y.bin N D BATCH THREADS REPS
 *   X.bin: N x D float64 row-major, Y.bin: N float64 class indices (bench.py --dump).
 * Prints, per repetition, the time of train_run (1 epoch, momentum 0.01/0.9, hidden
 * [256, 256], relu, cross-entropy: what the service runs) and then a breakdown of one
 * epoch re-enacted from the public core API: gather, mlp_loss_grad (forward + loss +
 * backward), the gradient checks and norm, optim_step, and train_metrics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "core/linalg.h"
#include "core/mlp.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/train.h"

void openblas_set_num_threads(int);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double *load(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    double *v = malloc(n * sizeof(double));
    if (!f || !v || fread(v, sizeof(double), n, f) != n) {
        fprintf(stderr, "core_train: cannot read %zu doubles from %s\n", n, path);
        exit(1);
    }
    fclose(f);
    return v;
}

static int finite_all(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}


/* ---- prototype of the proposed core changes (not the service's code) ----------------
 * The same epoch as train_run for this configuration (standard parameterization, relu,
 * cross-entropy, momentum, no clipping/noise/decay), with:
 *  1. the activation's switch hoisted out of the element loops: bias + relu fused into
 *     one pass after each forward GEMM, and the backward mask (z > 0) inline;
 *  2. no memset of the gradient before a single-block backward (every entry is written);
 *  3. one pass for the divergence check and the gradient norm: the sum of squares with
 *     four accumulators, finite iff every entry is finite unless it overflows, in which
 *     case the exact all_finite check runs; only grad_norm's last bits change;
 *  4. the momentum update with the first-step branch hoisted out of the loop.
 * Everything else (GEMM calls, summation order of the loss and gradient, the RNG
 * streams) is train_run's, so the weights and the loss come out bit-identical. */
/* relu without a branch (a data-dependent branch mispredicts on about half the units):
 * v if v > 0, else +0.0 (also for NaN), bit for bit mlp_phi's relu. */
static inline double keep_if(double v, int cond)
{
    uint64_t u, mask = -(uint64_t)(cond != 0);
    memcpy(&u, &v, sizeof u);
    u &= mask;
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline double relu_bits(double v)
{
    return keep_if(v, v > 0);
}

typedef struct proto {
    size_t nmax, dims[4];
    double *z[4], *h[4], *g, *d0, *d1, *fb;
} proto;

__attribute__((noinline)) static void proto_forward(proto *p, const double *theta, const double *x, size_t n)
{
    const double *in = x;
    size_t off = 0;
    for (int l = 1; l <= 3; l++) {
        size_t din = p->dims[l - 1], dout = p->dims[l];
        const double *W = theta + off, *b = theta + off + din * dout;
        double *z = p->z[l], *h = p->h[l];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)dout, (int)din, 1.0,
                    in, (int)din, W, (int)din, 0.0, z, (int)dout);
        if (l < 3) {
            for (size_t i = 0; i < n; i++) {
                double *zi = z + i * dout, *hi = h + i * dout;
                for (size_t j = 0; j < dout; j++) {
                    double v = zi[j] + b[j];
                    zi[j] = v;
                    hi[j] = relu_bits(v);
                }
            }
        } else {
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < dout; j++)
                    z[i * dout + j] += b[j];
        }
        in = h;
        off += din * dout + dout;
    }
}

/* Mean loss; grad (P) fully written. n <= nmax. */
__attribute__((noinline)) static double proto_loss_grad(proto *p, const double *theta, const double *x,
                              const double *y, size_t n, double *grad)
{
    size_t k = p->dims[3];
    double total = 0, scale = 1.0 / (double)n;
    proto_forward(p, theta, x, n);
    for (size_t i = 0; i < n; i++) {
        total += mlp_loss_one(LOSS_CROSS_ENTROPY, p->z[3] + i * k, k, y + i, 1, p->g + i * k);
        for (size_t j = 0; j < k; j++)
            p->g[i * k + j] *= scale;
    }
    size_t offs[4] = {0};
    for (int l = 1; l <= 3; l++)
        offs[l] = offs[l - 1] + p->dims[l - 1] * p->dims[l] + p->dims[l];
    double *delta = p->g, *next = p->d0;
    for (int l = 3; l >= 1; l--) {
        size_t din = p->dims[l - 1], dout = p->dims[l], wo = offs[l - 1], bo = wo + din * dout;
        const double *in = l == 1 ? x : p->h[l - 1];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)n, 1.0,
                    delta, (int)dout, in, (int)din, 0.0, grad + wo, (int)din);
        for (size_t j = 0; j < dout; j++)
            grad[bo + j] = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < dout; j++)
                grad[bo + j] += delta[i * dout + j];
        if (l == 1)
            break;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)din, (int)dout, 1.0,
                    delta, (int)dout, theta + wo, (int)din, 0.0, next, (int)din);
        const double *zp = p->z[l - 1];
        for (size_t i = 0; i < n * din; i++)
            next[i] = keep_if(next[i], zp[i] > 0); /* +0.0 where train.c has next * 0.0 */
        delta = next;
        next = next == p->d0 ? p->d1 : p->d0;
    }
    return total / (double)n;
}

__attribute__((noinline)) static double sumsq4(const double *g, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += g[i] * g[i];
        s1 += g[i + 1] * g[i + 1];
        s2 += g[i + 2] * g[i + 2];
        s3 += g[i + 3] * g[i + 3];
    }
    for (; i < n; i++)
        s0 += g[i] * g[i];
    return (s0 + s1) + (s2 + s3);
}

__attribute__((noinline)) static void momentum_step(optim_state *s, double *theta, const double *g, double lr,
                          double mom)
{
    double *a = s->a;
    size_t n = s->n;
    s->t++;
    if (s->t == 1) {
        for (size_t i = 0; i < n; i++) {
            a[i] = g[i];
            theta[i] += -lr * a[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            a[i] = a[i] * mom + g[i];
            theta[i] += -lr * a[i];
        }
    }
}

/* One epoch + the metrics pass, as train_run; returns the train loss of the metrics. */
static double proto_epoch(const train_cfg *cfg, const double *x, const double *y, size_t n,
                          size_t d, double *theta, double *acc_out, double *gnorm_out)
{
    size_t bs = cfg->batch_size, nmax = bs > 512 ? bs : 512, P = mlp_param_count(&cfg->arch);
    proto p = {.nmax = nmax, .dims = {d, 256, 256, 10}};
    for (int l = 1; l <= 3; l++) {
        p.z[l] = malloc(nmax * p.dims[l] * sizeof(double));
        p.h[l] = malloc(nmax * p.dims[l] * sizeof(double));
    }
    p.g = malloc(nmax * 10 * sizeof(double));
    p.d0 = malloc(nmax * 256 * sizeof(double));
    p.d1 = malloc(nmax * 256 * sizeof(double));
    double *g = malloc(P * sizeof(double)), *xb = malloc(bs * d * sizeof(double));
    double *yb = malloc(bs * sizeof(double));
    size_t *perm = malloc(n * sizeof(size_t));
    optim_state *os = optim_state_new(&cfg->opt, P);
    tg_rng rng;
    rng_seed_stream(&rng, cfg->seed, 1); /* train.c's STREAM_PERM */
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    rng_shuffle(&rng, perm, n);
    double gsum = 0;
    long long steps = 0;
    for (size_t lo = 0; lo < n; lo += bs) {
        size_t m = n - lo < bs ? n - lo : bs;
        for (size_t i = 0; i < m; i++) {
            memcpy(xb + i * d, x + perm[lo + i] * d, d * sizeof(double));
            yb[i] = y[perm[lo + i]];
        }
        double lv = proto_loss_grad(&p, theta, xb, yb, m, g);
        double ss = sumsq4(g, P);
        if (!isfinite(lv) || (!isfinite(ss) && !finite_all(g, P))) {
            fprintf(stderr, "proto: diverged\n");
            exit(1);
        }
        gsum += sqrt(ss);
        momentum_step(os, theta, g, cfg->opt.lr, cfg->opt.momentum);
        steps++;
    }
    /* metrics over the training split, blocks of nmax rows */
    double lsum = 0, correct = 0;
    for (size_t i0 = 0; i0 < n; i0 += nmax) {
        size_t m = n - i0 < nmax ? n - i0 : nmax;
        proto_forward(&p, theta, x + i0 * d, m);
        for (size_t i = 0; i < m; i++) {
            const double *f = p.z[3] + i * 10;
            lsum += mlp_loss_one(LOSS_CROSS_ENTROPY, f, 10, y + i0 + i, 1, NULL);
            size_t pred = 0;
            for (size_t j = 1; j < 10; j++)
                if (f[j] > f[pred])
                    pred = j;
            correct += pred == (size_t)y[i0 + i];
        }
    }
    *acc_out = correct / (double)n;
    *gnorm_out = gsum / (double)steps;
    for (int l = 1; l <= 3; l++) {
        free(p.z[l]);
        free(p.h[l]);
    }
    free(p.g);
    free(p.d0);
    free(p.d1);
    free(g);
    free(xb);
    free(yb);
    free(perm);
    optim_state_free(os);
    return lsum / (double)n;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: core_train X.bin Y.bin N D BATCH THREADS REPS\n");
        return 2;
    }
    size_t n = strtoul(argv[3], NULL, 10), d = strtoul(argv[4], NULL, 10);
    size_t bs = strtoul(argv[5], NULL, 10);
    int threads = atoi(argv[6]), reps = atoi(argv[7]);
    double *x = load(argv[1], n * d), *y = load(argv[2], n);
    openblas_set_num_threads(threads);

    train_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.arch.n_layers = 3;
    cfg.arch.dims[0] = d;
    cfg.arch.dims[1] = 256;
    cfg.arch.dims[2] = 256;
    cfg.arch.dims[3] = 10;
    cfg.arch.act = ACT_RELU;
    cfg.arch.leaky_slope = 0.01;
    cfg.arch.bias = 1;
    cfg.loss = LOSS_CROSS_ENTROPY;
    cfg.opt.kind = OPT_MOMENTUM;
    cfg.opt.lr = 0.01;
    cfg.opt.momentum = 0.9;
    cfg.sched.kind = SCHED_CONSTANT;
    cfg.batch_size = bs;
    cfg.epochs = 1;
    cfg.n_classes = 10;
    train_data td = {.d = d, .ydim = 1, .classification = 1, .x = x, .y = y, .n = n};
    size_t P = mlp_param_count(&cfg.arch);
    double *theta = malloc(P * sizeof(double));
    tg_err err;

    for (int rep = 0; rep <= reps; rep++) {
        train_result res;
        train_init(&cfg.arch, "default", 0.01, (uint64_t)rep, theta, &err);
        double c0 = cpu(), t0 = now();
        int rc = train_run(&cfg, &td, theta, &res, NULL, NULL, NULL, &err);
        double t1 = now(), c1 = cpu();
        if (rc) {
            fprintf(stderr, "train_run: %s\n", err.msg);
            return 1;
        }
        if (rep > 0)
            printf("{\"what\": \"train_run\", \"batch\": %zu, \"threads\": %d, \"rep\": %d, "
                   "\"time_s\": %.6f, \"cpu_s\": %.6f, \"samples_per_s\": %.1f, \"train_loss\": %.17g, "
                   "\"grad_norm\": %.17g}\n",
                   bs, threads, rep, t1 - t0, c1 - c0, res.samples / (t1 - t0), res.final.train.loss,
                   res.final.grad_norm);
        train_result_deinit(&res);
        /* the prototype on the same initial weights */
        train_init(&cfg.arch, "default", 0.01, (uint64_t)rep, theta, &err);
        double acc, gn;
        c0 = cpu();
        t0 = now();
        double pl = proto_epoch(&cfg, x, y, n, d, theta, &acc, &gn);
        t1 = now();
        c1 = cpu();
        if (rep > 0)
            printf("{\"what\": \"proto\", \"batch\": %zu, \"threads\": %d, \"rep\": %d, "
                   "\"time_s\": %.6f, \"cpu_s\": %.6f, \"samples_per_s\": %.1f, \"train_loss\": %.17g, "
                   "\"grad_norm\": %.17g}\n",
                   bs, threads, rep, t1 - t0, c1 - c0, (double)n / (t1 - t0), pl, gn);
    }

    /* One epoch re-enacted from the public API, each phase timed. */
    size_t nmax = bs > 512 ? bs : 512;
    mlp_ws *ws = mlp_ws_new(&cfg.arch, nmax);
    double *g = malloc(P * sizeof(double)), *xb = malloc(bs * d * sizeof(double));
    double *yb = malloc(bs * sizeof(double)), *fbuf = malloc(nmax * 10 * sizeof(double));
    size_t *perm = malloc(n * sizeof(size_t));
    optim_state *os = optim_state_new(&cfg.opt, P);
    tg_rng rng;
    rng_seed_stream(&rng, 0, 1);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    train_init(&cfg.arch, "default", 0.01, 0, theta, &err);
    double t_gather = 0, t_grad = 0, t_check = 0, t_opt = 0, t_shuffle, t_met, a, b;
    a = now();
    rng_shuffle(&rng, perm, n);
    t_shuffle = now() - a;
    for (size_t lo = 0; lo < n; lo += bs) {
        size_t m = n - lo < bs ? n - lo : bs;
        a = now();
        for (size_t i = 0; i < m; i++) {
            memcpy(xb + i * d, x + perm[lo + i] * d, d * sizeof(double));
            yb[i] = y[perm[lo + i]];
        }
        b = now();
        t_gather += b - a;
        mlp_loss_grad(&cfg.arch, theta, xb, yb, 1, NULL, m, cfg.loss, ws, g);
        a = now();
        t_grad += a - b;
        volatile double gn = linalg_norm(g, P);
        volatile int ok = finite_all(g, P);
        (void)gn;
        (void)ok;
        b = now();
        t_check += b - a;
        optim_step(&cfg.opt, os, theta, g, 0.01);
        t_opt += now() - b;
    }
    split_metrics sm;
    a = now();
    train_metrics(&cfg.arch, cfg.loss, theta, x, y, n, 1, 1, ws, fbuf, &sm);
    t_met = now() - a;
    double tot = t_shuffle + t_gather + t_grad + t_check + t_opt + t_met;
    printf("{\"what\": \"breakdown\", \"batch\": %zu, \"threads\": %d, \"shuffle_s\": %.4f, "
           "\"gather_s\": %.4f, \"loss_grad_s\": %.4f, \"check_norm_s\": %.4f, "
           "\"optim_s\": %.4f, \"metrics_s\": %.4f, \"total_s\": %.4f}\n",
           bs, threads, t_shuffle, t_gather, t_grad, t_check, t_opt, t_met, tot);
    return 0;
}
