/* kreg.h: kernel regression and kernel diagnostics on a precomputed Gram matrix (the
 * theory's chapter 3 and section 9.3): ridge regression, the finite-time gradient-flow
 * prediction of eq 9.5, the spectrum with label projections (figure 9.1) and the
 * complexity measure of eq 9.11. LAPACK (Cholesky, symmetric eigensolver).
 *
 * K is n x n symmetric (row-major = column-major), never modified; Kt is m x n (test
 * rows against training columns); Y is n x c (one-hot columns for classification).
 * All arrays are borrowed; outputs are written, never allocated for the caller.
 *
 * Size preconditions: n, m and c fit in an int (LAPACK/CBLAS dimensions; the API bounds
 * them far lower); the n x n workspaces are sized with overflow checks. Every function
 * returns TG_ENOMEM when a workspace cannot be allocated (err set).
 *
 * Threading: reentrant. */
#ifndef TG_KREG_H
#define TG_KREG_H

#include <stddef.h>

#include "tg.h"

/* pred (m x c) = Kt (K + ridge I)^-1 Y. TG_ENUMERICAL when K + ridge I is not positive
 * definite (Cholesky fails); *min_eig_out then holds its smallest eigenvalue (NaN if the
 * eigensolver fails as well). TG_ENOMEM (then *min_eig_out is not meaningful). */
int kreg_ridge(const double *K, size_t n, const double *Kt, size_t m, const double *Y,
               size_t c, double ridge, double *pred, double *min_eig_out, tg_err *err);

/* pred = Kt A^-1 (I - exp(-A t)) Y with A = K + ridge I, by the eigendecomposition of A
 * (the factor (1 - exp(-lambda t)) / lambda is continued to t at lambda = 0).
 * TG_ENUMERICAL when the eigensolver fails. */
int kreg_flow(const double *K, size_t n, const double *Kt, size_t m, const double *Y,
              size_t c, double ridge, double t, double *pred, tg_err *err);

/* Eigenvalues of K in descending order (eig, n) and the label projections
 * proj_i = sum_k (v_i . y_k)^2 (n; may be NULL with Y NULL). TG_ENUMERICAL when the
 * eigensolver fails. */
int kreg_spectrum(const double *K, size_t n, const double *Y, size_t c, double *eig,
                  double *proj, tg_err *err);

/* sqrt(2 * sum_k y_k^T K^-1 y_k * tr K) / n. TG_ENUMERICAL when K is not positive
 * definite. */
int kreg_complexity(const double *K, size_t n, const double *Y, size_t c, double *out,
                    tg_err *err);

#endif
