/* linalg.h: the LAPACK routines the core uses (Fortran interface, exported by OpenBLAS)
 * and small dense helpers. Column-major as LAPACK expects; callers pass symmetric
 * matrices, for which row- and column-major coincide.
 *
 * Threading: reentrant (LAPACK's own threading is OpenBLAS's process-wide setting). */
#ifndef TG_LINALG_H
#define TG_LINALG_H

#include <stddef.h>

/* Fortran LAPACK symbols (OpenBLAS). */
void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
            double *work, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);

/* Eigenvalues (ascending) of the symmetric tridiagonal matrix with diagonal d (n) and
 * off-diagonal e (n - 1); vectors (n x n, column-major, may be NULL). d and e are
 * overwritten (d receives the eigenvalues). Precondition: n fits in an int. Returns TG_OK,
 * TG_ENOMEM (workspace), or TG_ENUMERICAL when LAPACK's dstev fails (info != 0). */
int linalg_tridiag_eig(size_t n, double *d, double *e, double *vectors);

double linalg_dot(const double *a, const double *b, size_t n);
double linalg_norm(const double *a, size_t n);

#endif
