/* lanczos.h: the Lanczos iteration with full reorthogonalization on a symmetric operator
 * given as a matrix-vector product callback (exact Hessian-vector products here), for
 * extreme eigenvalues: sharpness tracking (API.md 5.1 `track`) and the hessian kind.
 * Golub & Van Loan, Matrix Computations, section 10.1; the Ritz values of the k x k
 * tridiagonal matrix approximate the extreme eigenvalues.
 *
 * Threading: reentrant. */
#ifndef TG_LANCZOS_H
#define TG_LANCZOS_H

#include <stddef.h>

#include "rng.h"
#include "tg.h"

/* y = A x for vectors of length n; returns nonzero to stop (cancellation). */
typedef int (*lanczos_op)(void *ud, const double *x, double *y);

/* Runs up to k steps (k <= n) from a random start drawn from rng; ritz_out (k,
 * ascending) receives the Ritz values and *k_out how many there are (fewer when an
 * invariant subspace is found). Returns TG_OK, TG_ENOMEM, TG_ECANCELLED, or TG_ENUMERICAL
 * when the tridiagonal eigensolver fails. Precondition: k <= n. */
int lanczos_ritz(lanczos_op op, void *ud, size_t n, size_t k, tg_rng *rng, double *ritz_out,
                 size_t *k_out);

#endif
