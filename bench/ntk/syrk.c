/* syrk.c: the bare BLAS baseline of bench/ntk: one DSYRK of an n x d float64 matrix
 * (the input kernel X X^T / d, upper triangle). Prints the median of the runs after the
 * first (into the same, already touched, output), then the first run, into fresh memory
 * (page faults included). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: syrk N D THREADS [REPS]\n");
        return 2;
    }
    size_t n = strtoul(argv[1], NULL, 10), d = strtoul(argv[2], NULL, 10);
    int th = atoi(argv[3]), reps = argc > 4 ? atoi(argv[4]) : 3;
    openblas_set_num_threads(th);
    double *X = malloc(n * d * sizeof(double)), *K = malloc(n * n * sizeof(double));
    if (!X || !K)
        return 1;
    unsigned long long s = 12345;
    for (size_t i = 0; i < n * d; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        X[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
    }
    double first = 0, warm[64];
    int nw = 0;
    reps = reps > 65 ? 65 : reps;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0 / (double)d, X,
                    (int)d, 0.0, K, (int)n);
        double t = now() - t0;
        if (r == 0)
            first = t;
        else
            warm[nw++] = t;
    }
    for (int i = 1; i < nw; i++) /* insertion sort: a handful of values */
        for (int j = i; j > 0 && warm[j] < warm[j - 1]; j--) {
            double x = warm[j];
            warm[j] = warm[j - 1];
            warm[j - 1] = x;
        }
    printf("%.4f %.4f\n", nw ? warm[nw / 2] : first, first);
    return 0;
}
