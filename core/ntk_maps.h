/* ntk_maps.h: internal interface between the Gram driver (ntk.c) and the per-layer maps
 * (ntk_maps.c): Gauss-Hermite rules, the activations' evaluation for the quadrature
 * (quad.c), and the row-wise closed-form pass of the relu family. Not part of the public core API (see ntk.h).
 *
 * Threading: the functions are reentrant; a rule is read-only once made and may be
 * shared by threads.
 */
#ifndef TG_NTK_MAPS_H
#define TG_NTK_MAPS_H

#include <float.h>
#include <stddef.h>

#include "ntk.h"

#define TWO_PI 6.283185307179586476925
/* rho clamped to [-1, 1] and snapped to +-1 within 8 epsilon: arccos is so ill-conditioned
 * there (theta ~ sqrt(2 (1 - rho))) that rounding in rho alone moves theta by 1e-8, and
 * identical points must give exactly theta = 0 whichever way their kernel was summed. */
#define RHO_SNAP (1.0 - 8 * DBL_EPSILON)

typedef struct ntk_gh_rule {
    int m;
    double *x, *w; /* probabilists' Gauss-Hermite nodes and weights (sum w = 1) */
} ntk_gh_rule;

/* Makes the order-m rule into *r (x, w new: free with ntk_gh_free, also after a failure).
 * Precondition: 1 <= m <= 1024 (so m * m * sizeof(double) fits in size_t).
 * TG_ENOMEM, or TG_ENUMERICAL when the eigensolver fails. */
int ntk_gh_make(int m, ntk_gh_rule *r);
/* Frees r's arrays (NULL arrays allowed); r can be made again. */
void ntk_gh_free(ntk_gh_rule *r);

/* phi and phi' at v[0..m-1] into f and df (tanh, sigmoid, softplus vectorized, absolute
 * error ~1e-16; other activations through mlp_phi / mlp_dphi). v is not const (see the
 * definition). */
void ntk_act_eval(tg_act act, double slope, double *v, size_t m, double *f, double *df);

/* One row of m entries of the relu family (relu, leaky_relu, abs) through every layer:
 * K, T (m; in: the input kernel; out: nngp and ntk). sq1: sqrt(q) of the row point per
 * layer; sq2 / rs2: sqrt(q) and 1 / sqrt(q) of the column points per layer, layer l at
 * l * m_stride. first_is_diag: entry 0 pairs the point with itself (rho = 1 exactly). */
void ntk_relu_row(const ntk_cfg *c, size_t m, const double *sq1, const double *sq2,
                  const double *rs2, size_t m_stride, int first_is_diag, double *K, double *T);

#endif
