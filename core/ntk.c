/* ntk.c: see ntk.h. Formulas:
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
#include "ntk.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linalg.h"

#define TWO_PI 6.283185307179586476925

int ntk_closed_form(tg_act act)
{
    return act == ACT_RELU || act == ACT_LEAKY_RELU || act == ACT_ABS || act == ACT_IDENTITY ||
           act == ACT_ERF || act == ACT_GELU;
}

/* rho clamped to [-1, 1] and snapped to +-1 within 8 epsilon: arccos is so ill-conditioned
 * there (theta ~ sqrt(2 (1 - rho))) that rounding in rho alone moves theta by 1e-8, and
 * identical points must give exactly theta = 0 whichever way their kernel was summed. */
#define RHO_SNAP (1.0 - 8 * DBL_EPSILON)

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

#define GH_MAX 1024 /* the largest order the search tries */

typedef struct gh_rule {
    int m;
    double *x, *w; /* probabilists' Gauss-Hermite nodes and weights (sum w = 1) */
} gh_rule;

/* Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the probabilists'
 * Hermite polynomials (zero diagonal, off-diagonal sqrt(k)); the weights are the
 * squared first components of the normalized eigenvectors. */
static int gh_make(int m, gh_rule *r)
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
    if (linalg_tridiag_eig((size_t)m, r->x, e, v) != 0) {
        rc = TG_ENUMERICAL;
        goto out;
    }
    for (int j = 0; j < m; j++)
        r->w[j] = v[(size_t)j * (size_t)m] * v[(size_t)j * (size_t)m];
    rc = TG_OK;
out:
    free(e);
    free(v);
    return rc;
}

static void gh_free(gh_rule *r)
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

static double wdot(const double *w, const double *f, size_t m)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
        s0 += w[j] * f[j];
        s1 += w[j + 1] * f[j + 1];
        s2 += w[j + 2] * f[j + 2];
        s3 += w[j + 3] * f[j + 3];
    }
    for (; j < m; j++)
        s0 += w[j] * f[j];
    return (s0 + s1) + (s2 + s3);
}

/* E[f(u) f(v)] and E[f'(u) f'(v)] by 2-D quadrature in whitened coordinates:
 * u = sqrt(q1) z1, v = (c / sqrt(q1)) z1 + sqrt(q2 - c^2 / q1) z2. For tanh, sigmoid and
 * softplus, f and f' come together from one exponential per node, evaluated a row of
 * nodes at a time (vectorized); other activations (used by tests of the rule) go
 * through mlp_phi. */
static void quad_pair(const gh_rule *r, tg_act act, double slope, double q1, double q2,
                      double c, double *k, double *dk)
{
    double su = sqrt(q1 > 0 ? q1 : 0), a = su > 0 ? c / su : 0;
    double t2 = q2 - a * a;
    /* Rounding leaves t2 slightly positive for perfectly correlated pairs: snap. */
    double t = t2 > 8 * DBL_EPSILON * fabs(q2) ? sqrt(t2) : 0.0;
    double sk = 0, sdk = 0;
    int m = r->m;
    if (smooth_act(act) && m <= GH_MAX) {
        double v[GH_MAX], fu[GH_MAX], du[GH_MAX], fv[GH_MAX], dv[GH_MAX];
        for (int i = 0; i < m; i++)
            v[i] = su * r->x[i];
        smooth_eval(act, v, (size_t)m, fu, du);
        if (t == 0) {
            for (int i = 0; i < m; i++)
                v[i] = a * r->x[i];
            smooth_eval(act, v, (size_t)m, fv, dv);
            for (int i = 0; i < m; i++) {
                sk += r->w[i] * fu[i] * fv[i];
                sdk += r->w[i] * du[i] * dv[i];
            }
        } else {
            for (int i = 0; i < m; i++) {
                double base = a * r->x[i];
                for (int j = 0; j < m; j++)
                    v[j] = base + t * r->x[j];
                smooth_eval(act, v, (size_t)m, fv, dv);
                sk += r->w[i] * fu[i] * wdot(r->w, fv, (size_t)m);
                sdk += r->w[i] * du[i] * wdot(r->w, dv, (size_t)m);
            }
        }
        *k = sk;
        *dk = sdk;
        return;
    }
    for (int i = 0; i < m; i++) {
        double u = su * r->x[i], fu = mlp_phi(act, slope, u), du = mlp_dphi(act, slope, u);
        double ik = 0, idk = 0;
        if (t == 0) {
            /* Perfectly correlated (the diagonal): v is a function of z1 alone. */
            double v = a * r->x[i];
            sk += r->w[i] * fu * mlp_phi(act, slope, v);
            sdk += r->w[i] * du * mlp_dphi(act, slope, v);
            continue;
        }
        for (int j = 0; j < m; j++) {
            double v = a * r->x[i] + t * r->x[j];
            ik += r->w[j] * mlp_phi(act, slope, v);
            idk += r->w[j] * mlp_dphi(act, slope, v);
        }
        sk += r->w[i] * fu * ik;
        sdk += r->w[i] * du * idk;
    }
    *k = sk;
    *dk = sdk;
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
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) static void
relu_row(const ntk_cfg *c, size_t m, const double *sq1, const double *sq2, const double *rs2,
         size_t m_stride, int first_is_diag, double *K, double *T)
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

/* ---- the per-entry recursion ------------------------------------------------------- */

typedef struct gram_pass {
    const ntk_cfg *cfg;
    size_t n, m;
    int sym, diag_only;
    double *buf;               /* the input kernel (n x m, or n for diag) */
    double *nngp, *ntk;        /* outputs (may be NULL) */
    const double *qx, *qz;     /* post-Dense diagonal variances: (L+1) x n and x m */
    const double *sqx, *sqz, *rsz; /* sqrt(qx), sqrt(qz), 1 / sqrt(qz) (0 for q = 0) */
    const gh_rule *rule;       /* NULL for closed forms */
    atomic_int stop;
    int nthreads;
    /* Blocks of BLOCK rows go in order; a barrier per block separates the row pass of a
     * block from its mirror (which reads rows of every thread). done[t]: the rows thread
     * t has finished (row pass and mirror); the rows below min_t done[t] are final. */
    pthread_mutex_t mu;
    pthread_cond_t cv, cv_ready;
    int arrived;
    unsigned gen;
    atomic_size_t done[64];
    /* The input kernel is computed in panels of rows by the calling thread; the rows
     * below `ready` have theirs. */
    const double *X, *Z;
    size_t d;
    atomic_size_t ready;
    /* The writer thread: rows [0, handed) were given to cfg->rows_final. */
    size_t handed;
    int writer_rc;
} gram_pass;

/* Runs the recursion for one entry with input kernel g; ix, jz index qx / qz. */
static void entry(const gram_pass *J, double g, size_t ix, size_t jz, double *k_out, double *t_out)
{
    const ntk_cfg *c = J->cfg;
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    double K = g, T = 0.0;
    size_t L = c->depth;
    for (size_t l = 0; l <= L; l++) {
        K = w2 * K + b2;
        T = K + w2 * T;
        if (l == L)
            break;
        double q1 = J->qx[l * J->n + ix], q2 = J->qz[l * J->m + jz];
        double kn, dk;
        if (J->rule) {
            quad_pair(J->rule, c->act, c->leaky_slope, q1, q2, K, &kn, &dk);
        } else {
            kn = ntk_map_k(c->act, c->leaky_slope, q1, q2, K);
            dk = ntk_map_dk(c->act, c->leaky_slope, q1, q2, K);
        }
        T *= dk;
        K = kn;
    }
    *k_out = K;
    *t_out = T;
}

#define BLOCK 64

static int relu_family(tg_act a)
{
    return a == ACT_RELU || a == ACT_LEAKY_RELU || a == ACT_ABS;
}

/* Waits until every thread has arrived, or a stop was requested; returns 1 on stop. */
static int block_barrier(gram_pass *J)
{
    if (J->nthreads == 1)
        return atomic_load(&J->stop);
    pthread_mutex_lock(&J->mu);
    unsigned g = J->gen;
    if (++J->arrived == J->nthreads) {
        J->arrived = 0;
        J->gen++;
        pthread_cond_broadcast(&J->cv);
    } else {
        while (g == J->gen && !atomic_load(&J->stop))
            pthread_cond_wait(&J->cv, &J->mu);
    }
    pthread_mutex_unlock(&J->mu);
    return atomic_load(&J->stop);
}

static void request_stop(gram_pass *J)
{
    pthread_mutex_lock(&J->mu);
    atomic_store(&J->stop, 1);
    pthread_cond_broadcast(&J->cv);
    pthread_cond_broadcast(&J->cv_ready);
    pthread_mutex_unlock(&J->mu);
}

/* Waits until the input kernel of the rows below upto is there; 1 on a stop. */
static int wait_ready(gram_pass *J, size_t upto)
{
    if (atomic_load(&J->ready) >= upto)
        return atomic_load(&J->stop);
    pthread_mutex_lock(&J->mu);
    while (atomic_load(&J->ready) < upto && !atomic_load(&J->stop))
        pthread_cond_wait(&J->cv_ready, &J->mu);
    pthread_mutex_unlock(&J->mu);
    return atomic_load(&J->stop);
}

/* The input kernel of rows [p0, p1) into buf: symmetric: the upper triangle of the
 * diagonal block by SYRK and the rows' part right of it by GEMM (so the whole is one
 * SYRK's worth of work), with the diagonal set to exactly the variances the diagonal
 * chain uses (K(x, x) must equal them bit for bit, or arccos near 1 turns a rounding
 * difference of 1e-16 in rho into 1e-8 in the angle); cross: one GEMM. Then publishes
 * the rows to the workers. */
static void input_panel(gram_pass *J, const double *qx0, size_t p0, size_t p1)
{
    size_t n = J->n, m = J->m, d = J->d, P = p1 - p0;
    double *buf = J->buf, s = 1.0 / (double)d;
    if (P > 0 && J->sym) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)P, (int)d, s, J->X + p0 * d,
                    (int)d, 0.0, buf + p0 * n + p0, (int)n);
        if (p1 < n)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)(n - p1), (int)d,
                        s, J->X + p0 * d, (int)d, J->X + p1 * d, (int)d, 0.0,
                        buf + p0 * n + p1, (int)n);
        for (size_t i = p0; i < p1; i++)
            buf[i * n + i] = qx0[i];
    } else if (P > 0 && m > 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)m, (int)d, s,
                    J->X + p0 * d, (int)d, J->Z, (int)d, 0.0, buf + p0 * m, (int)m);
    }
    pthread_mutex_lock(&J->mu);
    atomic_store(&J->ready, p1);
    pthread_cond_broadcast(&J->cv_ready);
    pthread_mutex_unlock(&J->mu);
}

static size_t rows_final(gram_pass *J);

/* Hands final rows to cfg->rows_final as they come, until all are handed or a stop. */
static void *writer_main(void *arg)
{
    gram_pass *J = arg;
    for (;;) {
        size_t dn = rows_final(J);
        if (dn > J->handed) {
            int r = J->cfg->rows_final(J->cfg->rows_ud, dn);
            if (r != TG_OK) {
                J->writer_rc = r;
                request_stop(J);
                break;
            }
            J->handed = dn;
        }
        if (J->handed >= J->n || atomic_load(&J->stop))
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The rows below this are final in both outputs. */
static size_t rows_final(gram_pass *J)
{
    size_t lo = J->n;
    for (int t = 0; t < J->nthreads; t++) {
        size_t d = atomic_load(&J->done[t]);
        lo = d < lo ? d : lo;
    }
    return lo;
}

/* One row of the recursion: entries j0..m-1 of row i. */
static void do_row(gram_pass *J, size_t i, double *rowK, double *rowT, double *sq1)
{
    size_t n = J->n, m = J->m;
    if (J->diag_only) {
        double k, t;
        entry(J, J->buf[i], i, i, &k, &t);
        if (J->nngp)
            J->nngp[i] = k;
        if (J->ntk)
            J->ntk[i] = t;
        return;
    }
    size_t j0 = J->sym ? i : 0, len = m - j0;
    if (sq1) {
        /* In place where the outputs allow: the input kernel lives in buf, which is the
         * nngp output when there is one (else the ntk output, and K then needs the
         * scratch row). */
        double *K = J->nngp ? J->nngp + i * m + j0 : rowK;
        double *T = J->ntk ? J->ntk + i * m + j0 : rowT;
        if (!J->nngp)
            memcpy(rowK, J->buf + i * m + j0, len * sizeof(double));
        for (size_t l = 0; l < J->cfg->depth; l++)
            sq1[l] = J->sqx[l * n + i];
        relu_row(J->cfg, len, sq1, J->sqz + j0, J->rsz + j0, m, J->sym, K, T);
        return;
    }
    for (size_t j = j0; j < m; j++) {
        double k, t;
        entry(J, J->buf[i * m + j], i, j, &k, &t);
        if (J->nngp)
            J->nngp[i * m + j] = k;
        if (J->ntk)
            J->ntk[i * m + j] = t;
    }
}

/* Copies block rows [b0, b1) of the upper triangle of A (n x n) to the lower one: the
 * entries (j, i) for i in [b0, b1), j > i, j in this thread's share of [b0, n). */
static void mirror_block(double *A, size_t n, size_t b0, size_t b1, int tid, int nt)
{
    if (!A)
        return;
    size_t span = n - b0, per = (span + (size_t)nt - 1) / (size_t)nt;
    size_t j_lo = b0 + per * (size_t)tid, j_hi = j_lo + per < n ? j_lo + per : n;
    for (size_t jb = j_lo; jb < j_hi; jb += BLOCK) {
        size_t je = jb + BLOCK < j_hi ? jb + BLOCK : j_hi;
        for (size_t i = b0; i < b1; i++) {
            const double *src = A + i * n;
            for (size_t j = (jb > i + 1 ? jb : i + 1); j < je; j++)
                A[j * n + i] = src[j];
        }
    }
}

static void *worker(void *arg)
{
    void **a = arg;
    gram_pass *J = a[0];
    int tid = (int)(size_t)a[1], nt = J->nthreads;
    size_t n = J->n, m = J->m;
    int fast = relu_family(J->cfg->act) && !J->diag_only && !J->rule;
    double *rowK = fast ? malloc((m ? m : 1) * sizeof(double)) : NULL;
    double *rowT = fast ? malloc((m ? m : 1) * sizeof(double)) : NULL;
    double *sq1 = fast ? malloc((J->cfg->depth + 1) * sizeof(double)) : NULL;
    if (fast && (!rowK || !rowT || !sq1)) {
        /* Without scratch memory, the per-entry path. */
        free(sq1);
        sq1 = NULL;
    }
    int mirror = J->sym && !J->diag_only;
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        if (atomic_load(&J->stop) || (!J->diag_only && wait_ready(J, b1)))
            break;
        for (size_t i = b0 + (size_t)tid; i < b1; i += (size_t)nt)
            do_row(J, i, rowK, rowT, sq1);
        if (mirror) {
            if (block_barrier(J))
                break;
            mirror_block(J->nngp, n, b0, b1, tid, nt);
            mirror_block(J->ntk, n, b0, b1, tid, nt);
        }
        atomic_store(&J->done[tid], b1);
    }
    free(rowK);
    free(rowT);
    free(sq1);
    return NULL;
}

/* Post-Dense diagonal variances of every layer: q[l][i] for l = 0..L-1 (the input to
 * the l-th nonlinearity). */
static void diag_chain(const ntk_cfg *c, const gh_rule *rule, const double *q0, size_t n,
                       double *q)
{
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    for (size_t i = 0; i < n; i++) {
        double v = q0[i];
        for (size_t l = 0; l < c->depth; l++) {
            v = w2 * v + b2;
            q[l * n + i] = v;
            if (rule) {
                double k, dk;
                quad_pair(rule, c->act, c->leaky_slope, v, v, v, &k, &dk);
                v = k;
            } else {
                v = ntk_map_k(c->act, c->leaky_slope, v, v, v);
            }
        }
    }
}

/* Difference of two probe results, relative to the largest probe value of each kernel
 * (entries near zero would make an entrywise relative test meaningless). */
static double probe_diff(const gram_pass *J, const gh_rule *r1, const gh_rule *r2, const double *gx,
                         size_t np)
{
    double dk = 0, dt = 0, sk = 0, stt = 0;
    gram_pass A = *J, B = *J;
    A.rule = r1;
    B.rule = r2;
    for (size_t p = 0; p < np; p++) {
        size_t i = (p * 7919) % J->n, j = (p * 104729 + p / 3) % J->m;
        double ka, ta, kb, tb;
        /* Probes use the diagonal chain of the finer rule; the input kernel is gx. */
        entry(&A, gx[p], i, j, &ka, &ta);
        entry(&B, gx[p], i, j, &kb, &tb);
        if (!isfinite(ka) || !isfinite(kb) || !isfinite(ta) || !isfinite(tb))
            return INFINITY;
        dk = fmax(dk, fabs(ka - kb));
        dt = fmax(dt, fabs(ta - tb));
        sk = fmax(sk, fabs(kb));
        stt = fmax(stt, fabs(tb));
    }
    return fmax(sk > 0 ? dk / sk : dk, stt > 0 ? dt / stt : dt);
}

int ntk_analytic(const ntk_cfg *cfg, const double *X, size_t n, const double *Z, size_t m,
                 size_t d, int diag_only, double *nngp_out, double *ntk_out, int *order_out,
                 const tg_progress *prog, tg_err *err)
{
    int sym = Z == NULL, rc = TG_OK;
    size_t L = cfg->depth;
    if (sym)
        m = n;
    if (order_out)
        *order_out = 0;
    double *buf = nngp_out ? nngp_out : ntk_out;
    double *qx0 = malloc((n ? n : 1) * sizeof(double));
    double *qz0 = malloc((m ? m : 1) * sizeof(double));
    double *qx = malloc((L ? L : 1) * (n ? n : 1) * sizeof(double));
    double *qz = malloc((L ? L : 1) * (m ? m : 1) * sizeof(double));
    double *sqx = NULL, *sqz = NULL, *rsz = NULL;
    gh_rule rules[2];
    memset(rules, 0, sizeof rules);
    if (!buf) {
        rc = tg_err_set(err, TG_EINTERNAL, "ntk_analytic: no output array");
        goto out;
    }
    if (!qx0 || !qz0 || !qx || !qz) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
        goto out;
    }
    /* Diagonals of the input kernel x.x'/d; the rest is computed in panels of rows
     * (input_panel) just before the elementwise pass needs them. */
    for (size_t i = 0; i < n; i++)
        qx0[i] = linalg_dot(X + i * d, X + i * d, d) / (double)d;
    for (size_t j = 0; j < m; j++)
        qz0[j] = sym ? qx0[j] : linalg_dot(Z + j * d, Z + j * d, d) / (double)d;
    if (diag_only)
        memcpy(buf, qx0, n * sizeof(double));
    if (tg_progress_report(prog, 0.01, "diagonals done")) {
        rc = TG_ECANCELLED;
        goto out;
    }
    gram_pass J;
    memset(&J, 0, sizeof J);
    J.cfg = cfg;
    J.n = n;
    J.m = m;
    J.sym = sym;
    J.diag_only = diag_only;
    J.buf = buf;
    J.nngp = nngp_out;
    J.ntk = ntk_out;
    J.qx = qx;
    J.qz = qz;
    J.nthreads = cfg->threads > 0 ? cfg->threads : 1;
    const gh_rule *use = NULL;
    if (!ntk_closed_form(cfg->act) && L > 0) {
        /* Raise the order (doubling from 8) until two successive rules agree to quad_tol
         * on probe entries (diagonal chains included), then use the finer one. */
        size_t np = n && m ? 64 : 0;
        double gx[64];
        for (size_t p = 0; p < np; p++) {
            size_t i = (p * 7919) % n, j = (p * 104729 + p / 3) % m;
            gx[p] = diag_only ? qx0[i]
                              : linalg_dot(X + i * d, (sym ? X : Z) + j * d, d) / (double)d;
        }
        int ok = 0;
        if ((rc = gh_make(8, &rules[0])))
            goto out;
        for (int mo = 16; mo <= 1024; mo *= 2) {
            gh_free(&rules[1]);
            if ((rc = gh_make(mo, &rules[1])))
                goto out;
            diag_chain(cfg, &rules[1], qx0, n, qx);
            diag_chain(cfg, &rules[1], qz0, m, qz);
            double diff = probe_diff(&J, &rules[0], &rules[1], gx, np);
            if (diff <= cfg->quad_tol) {
                ok = 1;
                break;
            }
            gh_free(&rules[0]);
            rules[0] = rules[1];
            memset(&rules[1], 0, sizeof rules[1]);
            if (tg_progress_report(prog, 0.05, "choosing the quadrature order")) {
                rc = TG_ECANCELLED;
                goto out;
            }
        }
        if (!ok) {
            rc = tg_err_set(err, TG_ENUMERICAL, "the quadrature for %s did not reach the "
                            "relative tolerance %g by order 1024", mlp_act_name(cfg->act),
                            cfg->quad_tol);
            goto out;
        }
        use = &rules[1];
        if (order_out)
            *order_out = rules[1].m;
    } else {
        diag_chain(cfg, NULL, qx0, n, qx);
        diag_chain(cfg, NULL, qz0, m, qz);
    }
    J.rule = use;
    if (L > 0 && relu_family(cfg->act) && !diag_only) {
        sqx = malloc(L * (n ? n : 1) * sizeof(double));
        sqz = malloc(L * (m ? m : 1) * sizeof(double));
        rsz = malloc(L * (m ? m : 1) * sizeof(double));
        if (!sqx || !sqz || !rsz) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
            goto out;
        }
        for (size_t i = 0; i < L * n; i++)
            sqx[i] = sqrt(qx[i]);
        for (size_t j = 0; j < L * m; j++) {
            sqz[j] = sqrt(qz[j]);
            rsz[j] = sqz[j] > 0 ? 1.0 / sqz[j] : 0.0;
        }
        J.sqx = sqx;
        J.sqz = sqz;
        J.rsz = rsz;
    }

    /* Small problems run on this thread; large ones on worker threads while this thread
     * reports progress, hands final rows to cfg->rows_final and watches for a stop. */
    pthread_mutex_init(&J.mu, NULL);
    pthread_cond_init(&J.cv, NULL);
    pthread_cond_init(&J.cv_ready, NULL);
    J.X = X;
    J.Z = Z;
    J.d = d;
    if (diag_only)
        atomic_store(&J.ready, n);
    if ((double)n * (double)(diag_only ? 1 : m) <= 65536.0) {
        J.nthreads = 1;
        if (!diag_only)
            input_panel(&J, qx0, 0, n);
        void *arg[2] = {&J, (void *)(size_t)0};
        worker(arg);
        if (tg_progress_report(prog, 1.0, "kernel done"))
            rc = TG_ECANCELLED;
        if (rc == TG_OK && cfg->rows_final && !diag_only)
            rc = cfg->rows_final(cfg->rows_ud, n);
        goto done;
    }
    pthread_t th[64], wth;
    void *args[64][2];
    int nt = J.nthreads > 64 ? 64 : J.nthreads, started = 0, writer = 0;
    J.nthreads = nt;
    for (int t = 0; t < nt; t++) {
        args[t][0] = &J;
        args[t][1] = (void *)(size_t)t;
        if (pthread_create(&th[t], NULL, worker, args[t]) == 0)
            started++;
        else
            break;
    }
    if (started == nt && cfg->rows_final && !diag_only) {
        writer = pthread_create(&wth, NULL, writer_main, &J) == 0;
        if (!writer)
            started = -1;
    }
    if (started < nt) {
        /* The rows are dealt to nt threads; with fewer, stop and report. */
        request_stop(&J);
        for (int t = 0; t < (started < 0 ? nt : started); t++)
            pthread_join(th[t], NULL);
        rc = tg_err_set(err, TG_EINTERNAL, "cannot start kernel threads");
        goto done;
    }
    /* Panels of rows (about a sixteenth of the input kernel's work each, in whole
     * blocks): the pass over a panel and the writing of its rows proceed while the next
     * panel's input kernel is computed. */
    size_t panel = diag_only ? n : (n / 16 + BLOCK - 1) / BLOCK * BLOCK;
    panel = panel < BLOCK ? BLOCK : panel;
    for (size_t p0 = 0; p0 < n && !diag_only; p0 += panel) {
        size_t dn = rows_final(&J);
        char msg[96];
        snprintf(msg, sizeof msg, "%zu of %zu rows", dn, n);
        if (atomic_load(&J.stop))
            break; /* the writer's error: reported below */
        if (tg_progress_report(prog, 0.01 + 0.04 * (double)p0 / n, msg)) {
            rc = TG_ECANCELLED;
            break;
        }
        input_panel(&J, qx0, p0, p0 + panel < n ? p0 + panel : n);
    }
    while (rc == TG_OK) {
        size_t dn = rows_final(&J);
        if (dn >= n || atomic_load(&J.stop))
            break;
        char msg[96];
        snprintf(msg, sizeof msg, "%zu of %zu rows", dn, n);
        double frac = 0.05 + 0.95 * (double)dn / (double)(n ? n : 1);
        if (sym && n)
            frac = 0.05 + 0.95 * (1.0 - (1.0 - (double)dn / n) * (1.0 - (double)dn / n));
        if (tg_progress_report(prog, frac, msg)) {
            rc = TG_ECANCELLED;
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc != TG_OK)
        request_stop(&J);
    for (int t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    if (writer)
        pthread_join(wth, NULL);
    if (rc == TG_OK && J.writer_rc != TG_OK)
        rc = J.writer_rc;
    if (rc == TG_OK && atomic_load(&J.stop))
        rc = TG_ECANCELLED;
    if (rc == TG_OK && tg_progress_report(prog, 1.0, "kernel done"))
        rc = TG_ECANCELLED;
done:
    pthread_cond_destroy(&J.cv);
    pthread_cond_destroy(&J.cv_ready);
    pthread_mutex_destroy(&J.mu);
out:
    free(sqx);
    free(sqz);
    free(rsz);
    free(qx0);
    free(qz0);
    free(qx);
    free(qz);
    gh_free(&rules[0]);
    gh_free(&rules[1]);
    return rc;
}

/* ---- empirical kernel -------------------------------------------------------------- */

/* Forward pass of all rows and the backpropagated vectors of output k:
 * B[l] (rows x d_l) for l = 1..L+1. H inputs stay in ws. */
static void backprop_vectors(const mlp_arch *a, const double *theta, size_t rows, size_t k,
                             const mlp_ws *ws, double **B)
{
    size_t L1 = a->n_layers;
    double *bo = B[L1];
    size_t K = a->dims[L1];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < K; j++)
            bo[i * K + j] = j == k ? 1.0 : 0.0;
    for (size_t l = L1; l >= 2; l--) {
        size_t wo, bofs;
        mlp_layer_offsets(a, l, &wo, &bofs);
        double s = mlp_scale_w(a, l);
        size_t dout = a->dims[l], din = a->dims[l - 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)din, (int)dout,
                    s, B[l], (int)dout, theta + wo, (int)din, 0.0, B[l - 1], (int)din);
        const double *z = mlp_ws_z(a, ws, l - 1);
        for (size_t i = 0; i < rows * din; i++)
            B[l - 1][i] *= mlp_dphi(a->act, a->leaky_slope, z[i]);
    }
}

int ntk_empirical(const mlp_arch *a, const double *theta, const double *X, size_t n,
                  const double *Z, size_t m, int output, int diag_only, double *out,
                  const tg_progress *prog, tg_err *err)
{
    int sym = Z == NULL, rc = TG_OK;
    size_t L1 = a->n_layers, K = a->dims[L1], d = a->dims[0];
    int hb = mlp_has_bias(a);
    if (sym)
        m = n;
    mlp_ws *wx = mlp_ws_new(a, n ? n : 1), *wz = sym ? NULL : mlp_ws_new(a, m ? m : 1);
    double *Bx[MLP_MAX_LAYERS + 1] = {0}, *Bz[MLP_MAX_LAYERS + 1] = {0};
    const size_t RB = 256;
    double *A = malloc(RB * (m ? m : 1) * sizeof(double));
    double *C = malloc(RB * (m ? m : 1) * sizeof(double));
    int ok = wx && (sym || wz) && A && C;
    for (size_t l = 1; ok && l <= L1; l++) {
        Bx[l] = malloc((n ? n : 1) * a->dims[l] * sizeof(double));
        Bz[l] = sym ? Bx[l] : malloc((m ? m : 1) * a->dims[l] * sizeof(double));
        ok = Bx[l] && Bz[l];
    }
    if (!ok) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the empirical kernel");
        goto out;
    }
    if (diag_only)
        memset(out, 0, n * sizeof(double));
    else
        memset(out, 0, n * m * sizeof(double));
    mlp_forward(a, theta, X, n, wx, NULL);
    if (!sym)
        mlp_forward(a, theta, Z, m, wz, NULL);
    const mlp_ws *wzz = sym ? wx : wz;
    const double *Zx = sym ? X : Z;
    size_t k0 = output >= 0 ? (size_t)output : 0, k1 = output >= 0 ? (size_t)output + 1 : K;
    double scale = 1.0 / (double)(k1 - k0);
    size_t total = (k1 - k0) * ((n + RB - 1) / RB), step = 0;
    for (size_t k = k0; k < k1; k++) {
        backprop_vectors(a, theta, n, k, wx, Bx);
        if (!sym)
            backprop_vectors(a, theta, m, k, wz, Bz);
        for (size_t r0 = 0; r0 < n; r0 += RB, step++) {
            size_t rb = n - r0 < RB ? n - r0 : RB;
            char msg[96];
            snprintf(msg, sizeof msg, "output %zu, rows %zu of %zu", k, r0, n);
            if (tg_progress_report(prog, (double)step / (double)total, msg)) {
                rc = TG_ECANCELLED;
                goto out;
            }
            for (size_t l = 1; l <= L1; l++) {
                size_t din = a->dims[l - 1], dl = a->dims[l];
                double s = mlp_scale_w(a, l), t = hb ? mlp_scale_b(a, l) : 0.0;
                const double *Hx = mlp_ws_input(a, wx, X, l) + r0 * din;
                const double *Hz = mlp_ws_input(a, wzz, Zx, l);
                if (diag_only) {
                    for (size_t i = 0; i < rb; i++) {
                        double hh = linalg_dot(Hx + i * din, Hx + i * din, din);
                        double bb = linalg_dot(Bx[l] + (r0 + i) * dl, Bx[l] + (r0 + i) * dl, dl);
                        out[r0 + i] += scale * (s * s * hh + t * t) * bb;
                    }
                    continue;
                }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)m, (int)din,
                            s * s, Hx, (int)din, Hz, (int)din, 0.0, A, (int)m);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)m, (int)dl,
                            scale, Bx[l] + r0 * dl, (int)dl, Bz[l], (int)dl, 0.0, C, (int)m);
                double *o = out + r0 * m;
                for (size_t i = 0; i < rb * m; i++)
                    o[i] += (A[i] + t * t) * C[i];
            }
        }
    }
    (void)d;
out:
    mlp_ws_free(wx);
    mlp_ws_free(wz);
    for (size_t l = 1; l <= L1; l++) {
        free(Bx[l]);
        if (!sym)
            free(Bz[l]);
    }
    free(A);
    free(C);
    return rc;
}
