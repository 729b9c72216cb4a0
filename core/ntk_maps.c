/* ntk_maps.c: the per-layer maps of ntk.h (closed forms), the Gauss-Hermite rules and
 * the activations' vectorized evaluation for the quadrature (quad.c), and the row-wise
 * relu-family pass used by the Gram driver (ntk.c); the internal interface is
 * ntk_maps.h. Formulas:
 * relu (Cho & Saul 2009, arc-cosine kernel of degree 1; the theory's eq 9.13-9.14):
 *   with s = sqrt(q1 q2), rho = c / s, theta = arccos(rho):
 *   E[phi phi]   = s (sin theta + (pi - theta) cos theta) / (2 pi)
 *   E[phi' phi'] = (pi - theta) / (2 pi)
 * leaky_relu (slope a): phi = relu(z) - a relu(-z), so with J(theta) the relu value and
 *   J(pi - theta) = s (sin theta - theta cos theta) / (2 pi):
 *   E[phi phi] = (1 + a^2) J(theta) - 2 a J(pi - theta),
 *   E[phi' phi'] = ((1 + a^2)(pi - theta) + 2 a theta) / (2 pi)
 * abs: phi = relu(z) + relu(-z): E[phi phi] = s (2 sin theta + (pi - 2 theta) cos theta) / pi,
 *   E[phi' phi'] = 1 - 2 theta / pi
 * identity: c and 1
 * erf (Williams 1997): (2/pi) asin(2c / sqrt((1 + 2 q1)(1 + 2 q2))) and
 *   (4/pi) / sqrt((1 + 2 q1)(1 + 2 q2) - 4 c^2)
 * gelu, phi(z) = z Phi(z): with Phi(u) = P(g <= u) for an independent g ~ N(0, 1),
 *   E[phi(u) phi(v)] = E[u v 1{w1 >= 0, w2 >= 0}], w = (u - g1, v - g2) ~ N(0, S),
 *   S = [[1 + q1, c], [c, 1 + q2]]; regressing u, v on w and using the Gaussian orthant
 *   moments of w gives a closed form (gelu_k below). E[phi' phi'] with
 *   phi' = Phi(z) + z N(z) splits into four Gaussian integrals, each closed:
 *   1/4 + asin(rho_w)/(2 pi) + c (1/(1+q1) + 1/(1+q2)) / (2 pi sqrt(D)) + c / (2 pi D^1.5),
 *   D = det S, rho_w = c / sqrt((1+q1)(1+q2)).
 */
#include "ntk_maps.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"


int ntk_closed_form(tg_act act)
{
    return act == ACT_RELU || act == ACT_LEAKY_RELU || act == ACT_ABS || act == ACT_IDENTITY ||
           act == ACT_ERF || act == ACT_GELU;
}

/* rho clamped to [-1, 1] and snapped to +-1 within 8 epsilon: arccos is so ill-conditioned
 * there (theta ~ sqrt(2 (1 - rho))) that rounding in rho alone moves theta by 1e-8, and
 * identical points must give exactly theta = 0 whichever way their kernel was summed. */

static double clamp1(double r)
{
    return r >= RHO_SNAP ? 1.0 : (r <= -RHO_SNAP ? -1.0 : r);
}

static double gelu_k(double a, double b, double c)
{
    double s1 = sqrt(a + 1.0), s2 = sqrt(b + 1.0);
    double rw = c / (s1 * s2), sq = sqrt(1.0 - rw * rw);
    double P = 0.25 + asin(rw) / TWO_PI;
    double m11 = (a + 1.0) * (P + rw * sq / TWO_PI);
    double m22 = (b + 1.0) * (P + rw * sq / TWO_PI);
    double m12 = s1 * s2 * (rw * P + sq / TWO_PI);
    double D = (a + 1.0) * (b + 1.0) - c * c;
    double al1 = (a * (b + 1.0) - c * c) / D, al2 = c / D;
    double be1 = c / D, be2 = (b * (a + 1.0) - c * c) / D;
    double res = c - (a * be1 + c * be2);
    return res * P + al1 * be1 * m11 + (al1 * be2 + al2 * be1) * m12 + al2 * be2 * m22;
}

static double gelu_dk(double a, double b, double c)
{
    double D = (1.0 + a) * (1.0 + b) - c * c, sd = sqrt(D);
    double rw = c / sqrt((1.0 + a) * (1.0 + b));
    return 0.25 + asin(rw) / TWO_PI + c * (1.0 / (1.0 + a) + 1.0 / (1.0 + b)) / (TWO_PI * sd) +
           c / (TWO_PI * D * sd);
}

double ntk_map_k(tg_act act, double slope, double q1, double q2, double c)
{
    double s = sqrt(q1 * q2);
    switch (act) {
    case ACT_IDENTITY: return c;
    case ACT_ERF: return (2.0 / M_PI) * asin(clamp1(2.0 * c / sqrt((1 + 2 * q1) * (1 + 2 * q2))));
    case ACT_GELU: return gelu_k(q1, q2, c);
    case ACT_RELU:
    case ACT_LEAKY_RELU:
    case ACT_ABS: {
        if (s <= 0)
            return 0.0;
        double r = clamp1(c / s), th = acos(r), sn = sqrt(1.0 - r * r);
        double j = s * (sn + (M_PI - th) * r) / TWO_PI;
        if (act == ACT_RELU)
            return j;
        double jm = s * (sn - th * r) / TWO_PI;
        if (act == ACT_ABS)
            return 2.0 * (j + jm);
        return (1.0 + slope * slope) * j - 2.0 * slope * jm;
    }
    default: return NAN;
    }
}

double ntk_map_dk(tg_act act, double slope, double q1, double q2, double c)
{
    double s = sqrt(q1 * q2);
    switch (act) {
    case ACT_IDENTITY: return 1.0;
    case ACT_ERF: return (4.0 / M_PI) / sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c);
    case ACT_GELU: return gelu_dk(q1, q2, c);
    case ACT_RELU:
    case ACT_LEAKY_RELU:
    case ACT_ABS: {
        /* A zero variance makes u (or v) 0 almost surely, where phi'(0) is the
         * documented value (relu 0, leaky_relu slope, abs 0). */
        if (s <= 0) {
            double d0 = act == ACT_LEAKY_RELU ? slope : 0.0;
            if (q1 <= 0 && q2 <= 0)
                return d0 * d0;
            double other = act == ACT_RELU ? 0.5 : act == ACT_ABS ? 0.0 : (1.0 + slope) / 2.0;
            return d0 * other;
        }
        double th = acos(clamp1(c / s));
        if (act == ACT_RELU)
            return (M_PI - th) / TWO_PI;
        if (act == ACT_ABS)
            return 1.0 - 2.0 * th / M_PI;
        return ((1.0 + slope * slope) * (M_PI - th) + 2.0 * slope * th) / TWO_PI;
    }
    default: return NAN;
    }
}

/* ---- quadrature -------------------------------------------------------------------- */

/* Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the probabilists'
 * Hermite polynomials (zero diagonal, off-diagonal sqrt(k)); the weights are the
 * squared first components of the normalized eigenvectors. */
int ntk_gh_make(int m, ntk_gh_rule *r)
{
    double *e = malloc((size_t)m * sizeof(double));
    double *v = malloc((size_t)m * (size_t)m * sizeof(double));
    r->m = m;
    r->x = calloc((size_t)m, sizeof(double));
    r->w = malloc((size_t)m * sizeof(double));
    int rc = TG_ENOMEM;
    if (!e || !v || !r->x || !r->w)
        goto out;
    for (int k = 1; k < m; k++)
        e[k - 1] = sqrt((double)k);
    if ((rc = linalg_tridiag_eig((size_t)m, r->x, e, v)))
        goto out;
    for (int j = 0; j < m; j++)
        r->w[j] = v[(size_t)j * (size_t)m] * v[(size_t)j * (size_t)m];
    rc = TG_OK;
out:
    free(e);
    free(v);
    return rc;
}

void ntk_gh_free(ntk_gh_rule *r)
{
    free(r->x);
    free(r->w);
    r->x = r->w = NULL;
}

/* exp(x) for |x| <= 700 without branches or libm calls, so that loops over it vectorize:
 * x = k ln2 + r with |r| <= ln2/2 (k rounded by the 1.5 * 2^52 shift, ln2 split in two
 * (Cody-Waite) so that r is exact), exp(r) by its Taylor series to degree 13 (truncation
 * under 4e-18 relative), 2^k assembled in the exponent bits. Within 2 ulp of libm. */
static inline __attribute__((always_inline)) double vexp(double x)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x > 700.0 ? 700.0 : (x < -700.0 ? -700.0 : x);
    double t = x * 1.4426950408889634 + shift;
    double k = t - shift;
    double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits + 1023u) << 52; /* the low bits of t hold 2^51 + k */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log(1 + y) for y in [0, 1]: 2 atanh(s), s = y / (2 + y) <= 1/3, by its series to s^35
 * (truncation under 2e-18). */
static inline __attribute__((always_inline)) double vlog1p01(double y)
{
    double s = y / (2.0 + y), z = s * s, p = 1.0 / 35.0;
    for (int k = 33; k >= 1; k -= 2)
        p = p * z + 1.0 / (double)k;
    return 2.0 * s * p;
}

/* f and f' of tanh, sigmoid or softplus at each of v[0..m-1] (v not const: GCC 12 takes a
 * const pointer to a local array as a read of every element; absolute error ~1e-16,
 * which is what a quadrature sum needs). */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) static void
smooth_eval(tg_act act, double *v, size_t m, double *f, double *df)
{
    if (act == ACT_TANH) {
        for (size_t j = 0; j < m; j++) {
            double e = vexp(-2.0 * fabs(v[j]));
            double th = (1.0 - e) / (1.0 + e);
            th = v[j] < 0 ? -th : th;
            f[j] = th;
            df[j] = 1.0 - th * th;
        }
    } else if (act == ACT_SIGMOID) {
        for (size_t j = 0; j < m; j++) {
            double g = 1.0 / (1.0 + vexp(-v[j]));
            f[j] = g;
            df[j] = g * (1.0 - g);
        }
    } else {
        for (size_t j = 0; j < m; j++) {
            double e = vexp(-fabs(v[j]));
            f[j] = (v[j] > 0 ? v[j] : 0.0) + vlog1p01(e);
            double g = 1.0 / (1.0 + e); /* sigmoid(|v|) */
            df[j] = v[j] >= 0 ? g : 1.0 - g;
        }
    }
}

static int smooth_act(tg_act act)
{
    return act == ACT_TANH || act == ACT_SIGMOID || act == ACT_SOFTPLUS;
}

void ntk_act_eval(tg_act act, double slope, double *v, size_t m, double *f, double *df)
{
    if (smooth_act(act)) {
        smooth_eval(act, v, m, f, df);
        return;
    }
    for (size_t j = 0; j < m; j++) {
        f[j] = mlp_phi(act, slope, v[j]);
        df[j] = mlp_dphi(act, slope, v[j]);
    }
}

/* ---- the relu family, row-wise --------------------------------------------------------
 * The hot loop of the default request. One row of entries at a time, layer by layer,
 * over contiguous arrays, with arccos by an inline series (no libm call), so the
 * compiler vectorizes it. asin(t) = sum_k c_k t^(2k+1) with c_k = (2k)! / (4^k (k!)^2
 * (2k+1)) converges for t^2 <= 1/4 to below 1e-17 relative within 24 terms; arccos(x) =
 * pi/2 - asin(x) for |x| <= 1/2 and 2 asin(sqrt((1 - |x|)/2)) (reflected for x < 0)
 * beyond. */
static const double asin_c[24] = {
    1.0, 0.16666666666666666, 0.075, 0.044642857142857144, 0.030381944444444444,
    0.022372159090909092, 0.017352764423076924, 0.01396484375, 0.011551800896139705,
    0.009761609529194078, 0.008390335809616815, 0.0073125258735988454,
    0.006447210311889649, 0.005740037670841924, 0.005153309682319905,
    0.004660143486915096, 0.004240907093679363, 0.003880964558837669,
    0.0035692053938259347, 0.003297059503473485, 0.0030578216492580306,
    0.002846178401108942, 0.00265787063820729, 0.0024894486782468836};

static inline __attribute__((always_inline)) double asin_series(double t)
{
    double z = t * t;
    /* Horner, written out so that no loop remains in the caller's loop body. */
    double p = asin_c[23];
    p = p * z + asin_c[22]; p = p * z + asin_c[21]; p = p * z + asin_c[20];
    p = p * z + asin_c[19]; p = p * z + asin_c[18]; p = p * z + asin_c[17];
    p = p * z + asin_c[16]; p = p * z + asin_c[15]; p = p * z + asin_c[14];
    p = p * z + asin_c[13]; p = p * z + asin_c[12]; p = p * z + asin_c[11];
    p = p * z + asin_c[10]; p = p * z + asin_c[9]; p = p * z + asin_c[8];
    p = p * z + asin_c[7]; p = p * z + asin_c[6]; p = p * z + asin_c[5];
    p = p * z + asin_c[4]; p = p * z + asin_c[3]; p = p * z + asin_c[2];
    p = p * z + asin_c[1];
    return t + t * z * p;
}

/* Branch-free (selects only), so loops over it vectorize. */
static inline __attribute__((always_inline)) double fast_acos(double x)
{
    double ax = fabs(x);
    int big = ax > 0.5;
    double h = (1.0 - ax) * 0.5, th = sqrt(h > 0 ? h : 0.0); /* always: a select, no branch */
    double t = big ? th : ax;
    double p = asin_series(t);
    double a = big ? 2.0 * p : M_PI / 2 - p; /* arccos(|x|) */
    return x >= 0 ? a : M_PI - a;
}

/* K, T: one row of m entries (in: input kernel; out: nngp, ntk). sq1 = sqrt(q) of the row
 * point per layer; sq2/rs2 = sqrt(q) and 1/sqrt(q) of the column points per layer.
 * first_is_diag: entry 0 pairs the point with itself (rho = 1 exactly). */
/* Clones: AVX-512 (x86-64-v4), AVX2 and the baseline; the same operations in the same
 * order in each (no FMA contraction under -std=c11), so every clone gives the same bits. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void
ntk_relu_row(const ntk_cfg *c, size_t m, const double *sq1, const double *sq2,
             const double *rs2, size_t m_stride, int first_is_diag, double *K, double *T)
{
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std, a = c->leaky_slope;
    size_t L = c->depth;
    tg_act act = c->act;
    for (size_t j = 0; j < m; j++)
        T[j] = 0.0;
    for (size_t l = 0; l <= L; l++) {
        for (size_t j = 0; j < m; j++) {
            K[j] = w2 * K[j] + b2;
            T[j] = K[j] + w2 * T[j];
        }
        if (l == L)
            break;
        double s1 = sq1[l], r1 = s1 > 0 ? 1.0 / s1 : 0.0;
        const double *s2 = sq2 + l * m_stride, *q2 = rs2 + l * m_stride;
        if (act == ACT_RELU) {
            for (size_t j = 0; j < m; j++) {
                double s = s1 * s2[j], rho = K[j] * r1 * q2[j];
                rho = rho >= RHO_SNAP ? 1.0 : (rho <= -RHO_SNAP ? -1.0 : rho);
                rho = (first_is_diag && j == 0) ? 1.0 : rho;
                double th = fast_acos(rho), sn = sqrt(1.0 - rho * rho);
                double kn = s * (sn + (M_PI - th) * rho) * (1.0 / TWO_PI);
                double dk = (M_PI - th) * (1.0 / TWO_PI);
                /* A zero variance: E[phi phi] = 0 and E[phi' phi'] = 0 (relu'(0) = 0). */
                T[j] *= s > 0 ? dk : 0.0;
                K[j] = s > 0 ? kn : 0.0;
            }
            continue;
        }
        for (size_t j = 0; j < m; j++) {
            double s = s1 * s2[j], rho = K[j] * r1 * q2[j];
            rho = rho >= RHO_SNAP ? 1.0 : (rho <= -RHO_SNAP ? -1.0 : rho);
            rho = (first_is_diag && j == 0) ? 1.0 : rho;
            double th = fast_acos(rho), sn = sqrt(1.0 - rho * rho);
            double jp = s * (sn + (M_PI - th) * rho) * (1.0 / TWO_PI);
            double jm = s * (sn - th * rho) * (1.0 / TWO_PI);
            double kn, dk;
            if (act == ACT_ABS) {
                kn = 2.0 * (jp + jm);
                dk = 1.0 - 2.0 * th * (1.0 / M_PI);
            } else {
                kn = (1.0 + a * a) * jp - 2.0 * a * jm;
                dk = ((1.0 + a * a) * (M_PI - th) + 2.0 * a * th) * (1.0 / TWO_PI);
            }
            /* Zero variances: the maps' limits (see ntk_map_dk). */
            if (!(s > 0)) {
                kn = 0.0;
                dk = ntk_map_dk(act, a, s1 * s1, s2[j] * s2[j], 0.0);
            }
            T[j] *= dk;
            K[j] = kn;
        }
    }
}

