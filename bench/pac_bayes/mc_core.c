/* mc_core.c: the core of the pac_bayes job's Monte Carlo estimate (pacbayes_mc_error) on
 * the problem written by bench/pac_bayes/bench.py: reads <dir>/problem.bin (header: n, d,
 * hidden, K, P, samples as doubles; then x (n x d), y (n), mu (P), sigma), runs the
 * estimate with 1 and 2 threads `reps` times each, prints one JSON line per run:
 * {"threads", "seconds", "error"}. OpenBLAS runs single-threaded (the service's default
 * --blas-threads 1); the threads are the estimate's own. Built by bench/pac_bayes/run.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#include "core/pacbayes.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mc_core problem.bin reps\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    double h[7];
    if (!f || fread(h, sizeof(double), 7, f) != 7)
        return 1;
    size_t n = (size_t)h[0], d = (size_t)h[1], H = (size_t)h[2], K = (size_t)h[3];
    size_t P = (size_t)h[4], S = (size_t)h[5];
    double sigma = h[6];
    double *x = malloc(n * d * sizeof(double)), *y = malloc(n * sizeof(double));
    double *mu = malloc(P * sizeof(double));
    if (fread(x, sizeof(double), n * d, f) != n * d || fread(y, sizeof(double), n, f) != n ||
        fread(mu, sizeof(double), P, f) != P)
        return 1;
    fclose(f);
    mlp_arch a = {.n_layers = 2, .dims = {d, H, K}, .act = ACT_RELU, .bias = 1};
    if (mlp_param_count(&a) != P)
        return 1;
    int reps = atoi(argv[2]);
    openblas_set_num_threads(1); /* as the service's default --blas-threads 1 */
    for (int t = 1; t <= 2; t++)
        for (int r = 0; r < reps; r++) {
            pacbayes_mc_cfg cfg = {.samples = S, .seed = 1, .threads = t};
            double e, t0 = now();
            if (pacbayes_mc_error(&a, mu, NULL, sigma, x, y, n, &cfg, &e, NULL, NULL))
                return 1;
            printf("{\"threads\": %d, \"seconds\": %.6f, \"error\": %.6f}\n", t, now() - t0, e);
            fflush(stdout);
        }
    return 0;
}
