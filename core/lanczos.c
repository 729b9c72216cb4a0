/* lanczos.c: see lanczos.h. Full reorthogonalization (twice, classical Gram-Schmidt)
 * keeps the basis orthogonal to rounding, so no spurious copies of converged Ritz
 * values appear; memory is k vectors of length n. */
#include "lanczos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

int lanczos_ritz(lanczos_op op, void *ud, size_t n, size_t k, tg_rng *rng, double *ritz_out,
                 size_t *k_out)
{
    int rc = TG_OK;
    size_t vn;
    if (k > n)
        k = n;
    *k_out = 0;
    if (k == 0)
        return TG_OK;
    if (tg_mul3_size(k + 1, n, sizeof(double), &vn))
        return TG_ENOMEM;
    double *V = malloc(vn);
    double *w = malloc(n * sizeof(double));
    double *alpha = malloc(k * sizeof(double)), *beta = malloc(k * sizeof(double));
    if (!V || !w || !alpha || !beta) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        V[i] = rng_normal(rng);
    double nv = linalg_norm(V, n);
    for (size_t i = 0; i < n; i++)
        V[i] /= nv;
    size_t m = 0;
    for (size_t j = 0; j < k; j++) {
        double *vj = V + j * n;
        if (op(ud, vj, w)) {
            rc = TG_ECANCELLED;
            goto out;
        }
        alpha[j] = linalg_dot(w, vj, n);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i <= j; i++) {
                double c = linalg_dot(w, V + i * n, n);
                const double *vi = V + i * n;
                for (size_t q = 0; q < n; q++)
                    w[q] -= c * vi[q];
            }
        m = j + 1;
        double b = linalg_norm(w, n);
        beta[j] = b;
        if (j + 1 == k || b <= 1e-12 * (fabs(alpha[j]) + 1e-300))
            break;
        double *vn1 = V + (j + 1) * n;
        for (size_t q = 0; q < n; q++)
            vn1[q] = w[q] / b;
    }
    memcpy(ritz_out, alpha, m * sizeof(double));
    if ((rc = linalg_tridiag_eig(m, ritz_out, beta, NULL)))
        goto out;
    *k_out = m;
out:
    free(V);
    free(w);
    free(alpha);
    free(beta);
    return rc;
}
