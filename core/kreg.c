/* kreg.c: see kreg.h. Every n x n and n x c buffer is sized by tg_alloc_array (overflow
 * checked); an allocation failure is TG_ENOMEM, never a numerical verdict. */
#include "kreg.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* Eigen-decomposition of a copy of K (+ shift I): w ascending, V (column-major,
 * n x n, = row-major V^T) when vectors. */
static int sym_eig(const double *K, size_t n, double shift, int vectors, double *V, double *w,
                   tg_err *err)
{
    int nn = (int)n, info = 0, lwork = -1, liwork = -1, iw;
    double wq;
    memcpy(V, K, n * n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        V[i * n + i] += shift;
    const char *job = vectors ? "V" : "N";
    dsyevd_(job, "U", &nn, V, &nn, w, &wq, &lwork, &iw, &liwork, &info);
    lwork = (int)wq + 1;
    liwork = iw + 1;
    double *work = malloc((size_t)lwork * sizeof(double));
    int *iwork = malloc((size_t)liwork * sizeof(int));
    if (!work || !iwork) {
        free(work);
        free(iwork);
        return tg_err_set(err, TG_ENOMEM, "out of memory for the eigensolver");
    }
    dsyevd_(job, "U", &nn, V, &nn, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    if (info)
        return tg_err_set(err, TG_ENUMERICAL, "the eigensolver failed (info %d)", info);
    return TG_OK;
}

/* The smallest eigenvalue of K + shift I into *out: TG_OK, TG_ENOMEM, or TG_ENUMERICAL
 * when the eigensolver fails (*out is then NaN). */
static int min_eig(const double *K, size_t n, double shift, double *out, tg_err *err)
{
    double *V = tg_alloc_array(n, n, sizeof(double)), *w = tg_alloc_array(n, 1, sizeof(double));
    int rc;
    *out = NAN;
    if (!V || !w) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the eigensolver");
        goto out;
    }
    rc = sym_eig(K, n, shift, 0, V, w, err);
    if (!rc)
        *out = w[0];
out:
    free(V);
    free(w);
    return rc;
}

/* A = chol(K + ridge I) into L (n x n); 0 or the LAPACK info. */
static int chol(const double *K, size_t n, double ridge, double *L)
{
    int nn = (int)n, info = 0;
    memcpy(L, K, n * n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        L[i * n + i] += ridge;
    dpotrf_("U", &nn, L, &nn, &info);
    return info;
}

/* Solves (K + ridge I) X = Y with the factor (Y n x c row-major; in place, via a
 * column-major copy). TG_OK, TG_ENOMEM, or TG_ENUMERICAL (err set either way). */
static int chol_solve(const double *L, size_t n, double *Y, size_t c, tg_err *err)
{
    int nn = (int)n, nc = (int)c, info = 0;
    double *B = tg_alloc_array(n, c, sizeof(double));
    if (!B)
        return tg_err_set(err, TG_ENOMEM, "out of memory for the triangular solve");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++)
            B[j * n + i] = Y[i * c + j];
    dpotrs_("U", &nn, &nc, L, &nn, B, &nn, &info);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++)
            Y[i * c + j] = B[j * n + i];
    free(B);
    return info ? tg_err_set(err, TG_ENUMERICAL, "the triangular solve failed") : TG_OK;
}

int kreg_ridge(const double *K, size_t n, const double *Kt, size_t m, const double *Y,
               size_t c, double ridge, double *pred, double *min_eig_out, tg_err *err)
{
    double *L = tg_alloc_array(n, n, sizeof(double)), *A = tg_alloc_array(n, c, sizeof(double));
    int rc = TG_OK;
    if (!L || !A) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for kernel regression");
        goto out;
    }
    if (chol(K, n, ridge, L) != 0) {
        free(L);
        L = NULL;
        /* The eigensolver failing too leaves NaN, reported as such; no memory is
         * TG_ENOMEM, not a verdict on the kernel. */
        rc = min_eig(K, n, ridge, min_eig_out, err);
        if (rc == TG_ENOMEM)
            goto out;
        rc = tg_err_set(err, TG_ENUMERICAL, "the kernel (+ ridge) is not positive definite "
                        "(smallest eigenvalue %.3g)", *min_eig_out);
        goto out;
    }
    memcpy(A, Y, n * c * sizeof(double));
    if ((rc = chol_solve(L, n, A, c, err)))
        goto out;
    if (m > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)c, (int)n, 1.0, Kt,
                    (int)n, A, (int)c, 0.0, pred, (int)c);
out:
    free(L);
    free(A);
    return rc;
}

int kreg_flow(const double *K, size_t n, const double *Kt, size_t m, const double *Y,
              size_t c, double ridge, double t, double *pred, tg_err *err)
{
    double *V = tg_alloc_array(n, n, sizeof(double)), *w = tg_alloc_array(n, 1, sizeof(double));
    double *P = tg_alloc_array(n, c, sizeof(double)), *Q = tg_alloc_array(n, c, sizeof(double));
    int rc = TG_OK;
    if (!V || !w || !P || !Q) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the gradient-flow prediction");
        goto out;
    }
    if ((rc = sym_eig(K, n, ridge, 1, V, w, err)))
        goto out;
    /* V is column-major: row-major it is V^T (row i = eigenvector i). P = V^T Y. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)c, (int)n, 1.0, V,
                (int)n, Y, (int)c, 0.0, P, (int)c);
    for (size_t i = 0; i < n; i++) {
        double lt = w[i] * t;
        double f = fabs(lt) < 1e-300 ? t : -expm1(-lt) / w[i];
        for (size_t j = 0; j < c; j++)
            P[i * c + j] *= f;
    }
    /* Q = V P (eigenvectors as columns: V^T row-major transposed). */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)c, (int)n, 1.0, V, (int)n,
                P, (int)c, 0.0, Q, (int)c);
    if (m > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)c, (int)n, 1.0, Kt,
                    (int)n, Q, (int)c, 0.0, pred, (int)c);
out:
    free(V);
    free(w);
    free(P);
    free(Q);
    return rc;
}

int kreg_spectrum(const double *K, size_t n, const double *Y, size_t c, double *eig,
                  double *proj, tg_err *err)
{
    double *V = tg_alloc_array(n, n, sizeof(double)), *w = tg_alloc_array(n, 1, sizeof(double));
    int rc = TG_OK;
    if (!V || !w) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the spectrum");
        goto out;
    }
    if ((rc = sym_eig(K, n, 0.0, proj != NULL, V, w, err)))
        goto out;
    for (size_t i = 0; i < n; i++)
        eig[i] = w[n - 1 - i];
    if (proj) {
        for (size_t i = 0; i < n; i++) {
            const double *v = V + (n - 1 - i) * n; /* eigenvector of eig[i] */
            double s = 0;
            for (size_t k = 0; k < c; k++) {
                double dot = 0;
                for (size_t r = 0; r < n; r++)
                    dot += v[r] * Y[r * c + k];
                s += dot * dot;
            }
            proj[i] = s;
        }
    }
out:
    free(V);
    free(w);
    return rc;
}

int kreg_complexity(const double *K, size_t n, const double *Y, size_t c, double *out,
                    tg_err *err)
{
    double *L = tg_alloc_array(n, n, sizeof(double)), *A = tg_alloc_array(n, c, sizeof(double));
    int rc = TG_OK;
    if (!L || !A) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the complexity");
        goto out;
    }
    if (chol(K, n, 0.0, L) != 0) {
        rc = tg_err_set(err, TG_ENUMERICAL, "the kernel is not positive definite");
        goto out;
    }
    memcpy(A, Y, n * c * sizeof(double));
    if ((rc = chol_solve(L, n, A, c, err)))
        goto out;
    double q = 0, tr = 0;
    for (size_t i = 0; i < n * c; i++)
        q += Y[i] * A[i];
    for (size_t i = 0; i < n; i++)
        tr += K[i * n + i];
    *out = sqrt(2.0 * q * tr) / (double)n;
out:
    free(L);
    free(A);
    return rc;
}
