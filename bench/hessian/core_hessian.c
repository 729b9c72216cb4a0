/* bench/hessian/core_hessian.c: our side of bench/hessian: the top eigenvalues of the
 * Hessian of J (mean cross-entropy of an MLP, no L2) by core/lanczos.c's lanczos_extreme
 * on core/curv.c's exact HVPs (the hessian job's Lanczos path without the service).
 * Built from the core sources by run.sh; not part of make.
 *
 * Usage: core_hessian DIR THREADS K TOL REPS
 *   DIR holds meta.txt ("n d h1 h2 k"), x.bin (n x d), y.bin (n class indices) and
 *   theta.bin (P, the service's layout), float64, written by bench.py.
 * Prints one line per repetition: "time_s steps hvp_s l1 l2 ... lK" (descending), then
 * "rss_mb" and the peak resident memory. NO_CACHE=1 in the environment: every HVP
 * recomputes the forward pass (mlp_hvp), for the cache's share of the speed. THREADS is
 * OpenBLAS's thread count; the HVPs run on one lane, as in the service (lanes call BLAS
 * concurrently: with a multithreaded BLAS they only contend); LANES=k overrides.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/curv.h"
#include "core/lanczos.h"
#include "core/rng.h"

void openblas_set_num_threads(int);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double *load(const char *dir, const char *name, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    double *v = malloc(n * sizeof(double));
    if (!f || !v || fread(v, sizeof(double), n, f) != n) {
        fprintf(stderr, "core_hessian: cannot read %zu doubles from %s\n", n, path);
        exit(1);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: core_hessian DIR THREADS K TOL REPS\n");
        return 2;
    }
    const char *dir = argv[1];
    int threads = atoi(argv[2]), K = atoi(argv[3]), reps = atoi(argv[5]);
    double tol = atof(argv[4]);
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *m = fopen(path, "r");
    size_t n, d, h1, h2, k;
    if (!m || fscanf(m, "%zu %zu %zu %zu %zu", &n, &d, &h1, &h2, &k) != 5) {
        fprintf(stderr, "core_hessian: cannot read %s\n", path);
        return 1;
    }
    fclose(m);
    openblas_set_num_threads(threads);
    mlp_arch a;
    memset(&a, 0, sizeof a);
    a.n_layers = 3;
    a.dims[0] = d;
    a.dims[1] = h1;
    a.dims[2] = h2;
    a.dims[3] = k;
    a.act = ACT_TANH;
    a.bias = 1;
    size_t P = mlp_param_count(&a);
    double *x = load(dir, "x.bin", n * d), *y = load(dir, "y.bin", n),
           *theta = load(dir, "theta.bin", P);
    curv_obj o = {.arch = &a, .theta = theta, .x = x, .y = y, .y_is_class = 1, .n = n,
                  .loss = LOSS_CROSS_ENTROPY, .p_lo = 0, .p_hi = P, .threads = 1,
                  .no_cache = getenv("NO_CACHE") != NULL};
    if (getenv("LANES"))
        o.threads = atoi(getenv("LANES"));
    double *top = malloc((size_t)K * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        curv_ws *ws = curv_ws_new(&o);
        lanczos_cfg cfg = {.top_k = (size_t)K, .bottom_k = 0, .tol = tol, .max_steps = 500};
        lanczos_result res;
        tg_rng rng;
        rng_seed(&rng, 1);
        if (!ws || lanczos_extreme(curv_op, ws, P, &cfg, &rng, NULL, top, NULL, NULL, NULL,
                                   &res)) {
            fprintf(stderr, "core_hessian: lanczos failed\n");
            return 1;
        }
        double dt = now() - t0;
        /* one HVP alone, for the per-product cost */
        double *v = malloc(P * sizeof(double)), *hv = malloc(P * sizeof(double));
        for (size_t i = 0; i < P; i++)
            v[i] = 1.0 / (double)(i + 1);
        double t1 = now();
        curv_hvp_ws(ws, v, hv);
        double hvp = now() - t1;
        printf("%.6f %zu %.6f", dt, res.steps, hvp);
        for (int i = 0; i < K; i++)
            printf(" %.17g", top[i]);
        printf("\n");
        fflush(stdout);
        free(v);
        free(hv);
        curv_ws_free(ws);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rss_mb %.1f\n", (double)ru.ru_maxrss / 1024.0);
    return 0;
}
