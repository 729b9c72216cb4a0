/* linalg.c: see linalg.h. */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>

#include "tg.h"

int linalg_tridiag_eig(size_t n, double *d, double *e, double *vectors)
{
    int nn = (int)n, info = 0, ldz = nn > 0 ? nn : 1;
    size_t bytes;
    if (tg_mul_size(2 * n + 2, sizeof(double), &bytes))
        return TG_ENOMEM;
    double *work = malloc(bytes);
    if (!work)
        return TG_ENOMEM;
    dstev_(vectors ? "V" : "N", &nn, d, e, vectors, &ldz, work, &info);
    free(work);
    return info ? TG_ENUMERICAL : TG_OK;
}

double linalg_dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

double linalg_norm(const double *a, size_t n)
{
    return sqrt(linalg_dot(a, a, n));
}
