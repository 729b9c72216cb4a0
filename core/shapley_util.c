/* shapley_util.c: the utilities of shapley.h (k-NN, logistic, kernel ridge, features),
 * their per-thread evaluation states, and the k-NN closed form (Jia et al. 2019).
 *
 * Every buffer of a state is allocated by shap_state_new for the largest set (N
 * players), so adding players never allocates. A utility is read-only after
 * shap_utility_new and shared by the threads of a run; a state belongs to one thread. */
#include "shapley.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linalg.h"

#define LOGI_GTOL 1e-8
#define LOGI_MAX_IT 100
/* Softmax fits with at least this many parameters take the Newton direction from
 * conjugate gradients on Hessian-vector products (O(|S| P) each) instead of forming and
 * factoring H (O(|S| P^2 + P^3)): digits, 10 x 65 parameters, ~10x faster per fit. */
#define LOGI_CG_MIN 128
/* Rows per forward pass when the mlp utility scores the test split (train_metrics). */
#define MLP_CHUNK 512

struct shap_utility {
    shap_util_cfg cfg;
    shap_data data;
    size_t N;
    size_t c;          /* kernel ridge: target columns (K classes or ydim) */
    double *D;         /* knn: m x n squared distances */
    double u_empty;
    double *Yt;        /* kernel ridge: m x c test targets (one-hot for classification) */
    train_cfg tcfg;    /* mlp: the training configuration */
    double *theta0;    /* mlp: the initial weights (P) */
    size_t P;
};

struct shap_state {
    const shap_utility *u;
    size_t s;          /* players in the set */
    size_t *idx;       /* N: the set, in order of addition */
    /* knn: per test point the first min(k, s) players by (distance, index) */
    size_t *top;       /* m x k */
    size_t *n_top;     /* m */
    long long hits;    /* sum over test points of the matches among their top lists */
    /* logistic */
    size_t *cls_count; /* K: players of each class in the set */
    size_t n_present;
    size_t present[2]; /* the first two classes present */
    size_t *cls;       /* the classes present, ascending (fit order) */
    size_t p_fit;      /* classes of the current warm start (0: none) */
    double *W, *Wn, *G, *H, *dir, *z, *prob;
    double *cg_r, *cg_p, *cg_hp, *probs; /* Newton-CG: P, P, P and N x K */
    long long unconverged;
    /* kernel ridge */
    double *L;         /* N x N, row j holds L[j][0..j] */
    double *Wk;        /* N x m: L^-1 K(S, test) */
    double *Z;         /* N x c: L^-1 Y_S */
    double *P;         /* m x c: predictions */
    double *lrow;      /* N */
    /* features */
    double *row, *row2, *out;
    mlp_ws *ws;
    /* mlp: the set's rows (ascending index order), the weights, the test pass */
    size_t *sorted;    /* N */
    double *xs, *ys;   /* N x d, N x ydim */
    double *theta;     /* P */
    double *fb;        /* MLP_CHUNK x outputs */
    mlp_ws *mws;       /* MLP_CHUNK rows */
    const atomic_int *stop; /* the run's stop flag (may be NULL) */
};

void shap_state_set_stop(shap_state *s, const atomic_int *stop)
{
    s->stop = stop;
}

static int stopped(const shap_state *s)
{
    return s->stop && atomic_load_explicit(s->stop, memory_order_relaxed);
}

/* ---- distances and the k-NN closed form -------------------------------------------- */

/* D (mb x n) for the rows of Z (mb x d) against the columns of XT (d x n, the training
 * points transposed): for each entry the sequential sum over features of (z_j - x_j)^2,
 * vectorized across training points (so every entry is computed exactly as the plain
 * loop computes it, whatever the vector width: no reassociation, no contraction under
 * -std=c11). Chunks of 512 training points stay in cache across the block's rows. */
typedef double v4d __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default")))
static void sqdist_block(const double *restrict Z, size_t mb, const double *restrict XT,
                         size_t n, size_t d, double *restrict D)
{
    for (size_t i0 = 0; i0 < n; i0 += 512) {
        size_t i1 = i0 + 512 < n ? i0 + 512 : n;
        size_t t = 0;
        /* tiles of 4 rows x 8 training points, accumulated in registers over j */
        for (; t + 4 <= mb; t += 4) {
            const double *z0 = Z + t * d, *z1 = z0 + d, *z2 = z1 + d, *z3 = z2 + d;
            size_t i = i0;
            for (; i + 8 <= i1; i += 8) {
                v4d a0 = {0, 0, 0, 0}, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0,
                    b3 = a0;
                for (size_t j = 0; j < d; j++) {
                    const double *xr = XT + j * n + i;
                    v4d xa, xb;
                    memcpy(&xa, xr, sizeof xa);
                    memcpy(&xb, xr + 4, sizeof xb);
                    v4d c, e, f;
                    c = (v4d){z0[j], z0[j], z0[j], z0[j]};
                    e = c - xa;
                    f = c - xb;
                    a0 += e * e;
                    b0 += f * f;
                    c = (v4d){z1[j], z1[j], z1[j], z1[j]};
                    e = c - xa;
                    f = c - xb;
                    a1 += e * e;
                    b1 += f * f;
                    c = (v4d){z2[j], z2[j], z2[j], z2[j]};
                    e = c - xa;
                    f = c - xb;
                    a2 += e * e;
                    b2 += f * f;
                    c = (v4d){z3[j], z3[j], z3[j], z3[j]};
                    e = c - xa;
                    f = c - xb;
                    a3 += e * e;
                    b3 += f * f;
                }
                memcpy(D + t * n + i, &a0, sizeof a0);
                memcpy(D + t * n + i + 4, &b0, sizeof b0);
                memcpy(D + (t + 1) * n + i, &a1, sizeof a1);
                memcpy(D + (t + 1) * n + i + 4, &b1, sizeof b1);
                memcpy(D + (t + 2) * n + i, &a2, sizeof a2);
                memcpy(D + (t + 2) * n + i + 4, &b2, sizeof b2);
                memcpy(D + (t + 3) * n + i, &a3, sizeof a3);
                memcpy(D + (t + 3) * n + i + 4, &b3, sizeof b3);
            }
            for (; i < i1; i++)
                for (size_t r = 0; r < 4; r++) {
                    const double *z = Z + (t + r) * d;
                    double a = 0;
                    for (size_t j = 0; j < d; j++) {
                        double e = z[j] - XT[j * n + i];
                        a += e * e;
                    }
                    D[(t + r) * n + i] = a;
                }
        }
        for (; t < mb; t++) {
            const double *restrict z = Z + t * d;
            double *restrict Dt = D + t * n;
            for (size_t i = i0; i < i1; i++)
                Dt[i] = 0;
            for (size_t j = 0; j < d; j++) {
                const double zj = z[j], *restrict xr = XT + j * n;
                for (size_t i = i0; i < i1; i++) {
                    double e = zj - xr[i];
                    Dt[i] += e * e;
                }
            }
        }
    }
}

/* XT (d x n) = (X - mu)^T for X (n x d), mu (d) or NULL (0), in 16 x 16 tiles. */
static void transpose_into(const double *X, size_t n, size_t d, const double *mu, double *XT)
{
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        size_t i1 = i0 + 16 < n ? i0 + 16 : n;
        for (size_t j0 = 0; j0 < d; j0 += 16) {
            size_t j1 = j0 + 16 < d ? j0 + 16 : d;
            for (size_t j = j0; j < j1; j++) {
                double c = mu ? mu[j] : 0;
                for (size_t i = i0; i < i1; i++)
                    XT[j * n + i] = X[i * d + j] - c;
            }
        }
    }
}

static double *transpose(const double *X, size_t n, size_t d)
{
    double *XT = tg_alloc_array(n, d, sizeof(double));
    if (XT)
        transpose_into(X, n, d, NULL, XT);
    return XT;
}

void shap_sqdist(const double *Z, size_t m, const double *X, size_t n, size_t d, double *D)
{
    double *XT = transpose(X, n, d);
    if (XT) {
        sqdist_block(Z, m, XT, n, d, D);
        free(XT);
        return;
    }
    for (size_t t = 0; t < m; t++) /* out of memory for the copy: the same sums, slower */
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) {
                double e = Z[t * d + j] - X[i * d + j];
                s += e * e;
            }
            D[t * n + i] = s;
        }
}

/* Stable LSD radix sort of idx[0..n) (initially ascending) by key[idx] (non-negative
 * doubles, whose bit patterns order as the values), 11 bits per pass; ties keep the
 * lower index first. tmp: n indices; bits: n keys (workspace). */
static void radix_order(const double *key, size_t n, size_t *idx, size_t *tmp,
                        uint64_t *bits, uint64_t *bits_tmp)
{
    if (n < 64) { /* insertion sort: stable */
        for (size_t i = 1; i < n; i++) {
            size_t v = idx[i];
            size_t j = i;
            while (j > 0 && key[idx[j - 1]] > key[v]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
        return;
    }
    /* The keys' bit patterns order as the values (non-negative doubles). Radix passes
     * over the top 44 bits (11 per pass); then runs of equal top bits, rare, are put in
     * exact (value, index) order by insertion: the result is the exact stable order. */
    uint64_t maxb = 0, minb = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        double k = key[idx[i]];
        uint64_t b;
        memcpy(&b, &k, sizeof b);
        bits[i] = b;
        maxb |= b;
        minb &= b;
    }
    size_t cnt[2048];
    for (int shift = 20; shift < 64; shift += 11) {
        if ((((maxb ^ minb) >> shift) & 2047) == 0)
            continue; /* every key has the same digit here: the pass is a no-op */
        memset(cnt, 0, sizeof cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(bits[i] >> shift) & 2047]++;
        size_t sum = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pos = cnt[(bits[i] >> shift) & 2047]++;
            tmp[pos] = idx[i];
            bits_tmp[pos] = bits[i];
        }
        memcpy(idx, tmp, n * sizeof *idx);
        memcpy(bits, bits_tmp, n * sizeof *bits);
    }
    for (size_t i = 1; i < n; i++) {
        if ((bits[i] >> 20) != (bits[i - 1] >> 20) || bits[i] >= bits[i - 1])
            continue; /* ordered already (equal keys keep index order: stable) */
        uint64_t b = bits[i];
        size_t v = idx[i], j = i;
        while (j > 0 && (bits[j - 1] >> 20) == (b >> 20) && bits[j - 1] > b) {
            bits[j] = bits[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        bits[j] = b;
        idx[j] = v;
    }
}

/* The exact stable order of idx[0..n) = 0..n-1 by key: a bucket pass on the value
 * (n buckets over [min, max], filled in index order), then each bucket in (key, index)
 * order: insertion for small buckets, radix_order for large ones (clustered keys).
 * cnt: n + 1 counts; tmp, bits, bits_tmp: n each (workspace). */
static void bucket_order(const double *key, size_t n, size_t *idx, size_t *cnt, size_t *tmp,
                         uint64_t *bits, uint64_t *bits_tmp)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = key[i] < lo ? key[i] : lo;
        hi = key[i] > hi ? key[i] : hi;
    }
    if (!(hi > lo)) { /* all equal: index order */
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        return;
    }
    double scale = (double)n / (hi - lo);
    if (!(scale < INFINITY) || !(hi - lo < INFINITY)) {
        /* a range below n x the least subnormal (keys that underflowed) or with infinite
         * keys (overflow): the buckets would not be monotone; the bits order as well */
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        radix_order(key, n, idx, tmp, bits, bits_tmp);
        return;
    }
    memset(cnt, 0, (n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)((key[i] - lo) * scale);
        cnt[(b < n ? b : n - 1) + 1]++;
    }
    for (size_t b = 0; b < n; b++)
        cnt[b + 1] += cnt[b];
    /* cnt[b] = start of bucket b; scatter in index order (stable) */
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)((key[i] - lo) * scale);
        b = b < n ? b : n - 1;
        tmp[cnt[b]++] = i;
    }
    /* now cnt[b] = end of bucket b */
    size_t start = 0;
    for (size_t b = 0; b < n; b++) {
        size_t end = cnt[b], s = end - start;
        size_t *seg = tmp + start;
        if (s > 64) {
            radix_order(key, s, seg, idx, bits, bits_tmp);
        } else {
            for (size_t i = 1; i < s; i++) {
                size_t v = seg[i];
                double kv = key[v];
                size_t j = i;
                while (j > 0 && key[seg[j - 1]] > kv) {
                    seg[j] = seg[j - 1];
                    j--;
                }
                seg[j] = v;
            }
        }
        start = end;
    }
    memcpy(idx, tmp, n * sizeof(size_t));
}

/* ---- knn_exact ------------------------------------------------------------------------
 *
 * The order of the training points by (distance, index) per test point, exactly as the
 * distances of sqdist_block define it, at the cost of a GEMM-like pass:
 *  1. The data are centered by the training mean (a = fl(x - mu), b = fl(z - mu)) and
 *     G = b . a (dot_block, fused multiply-adds), giving approximations
 *     Dt = fl(fl(|b|^2 + |a|^2) - 2 G) of the exact distances E (sqdist_block's values).
 *  2. |Dt - E| <= beta for every training point of the test point, with
 *     beta = 2 (4d + 12) u S + (8d + 32) 2^-1074, u = 2^-53, S = |b|^2 + max |a|^2
 *     (computed norms). The factor 2 is a margin over the bound (4d + 11.04) u S of:
 *     centering (|(a - b) - (x - z)|_j <= 1.01 u (|a_j| + |b_j|): 4.04 u S on the squared
 *     distance), Dt against |a - b|^2 (2 gamma_d + 3u, gamma_n = nu / (1 - nu), whatever
 *     the summation order), E against |x - z|^2 <= 2S (2 gamma_{d+2}); the absolute term
 *     covers subnormal results (at most 2^-1075 per rounding, < 3d + 10 roundings).
 *     Centering makes S small for data with a large common offset (features + 1e6).
 *  3. The points are sorted by Dt: a 22-bit quantization of Dt (monotone) packed with the
 *     label's match and the index, two 11-bit LSD radix passes (stable: ties by index).
 *  4. Where consecutive keys differ by 2 or more, the points' Dt differ by more than 2
 *     beta (when a quantization step exceeds 2 beta, checked), so their E are in that
 *     order. Elsewhere (clusters of keys that differ by at most 1, a few per cent of the
 *     points) equal keys are put in Dt order, and the maximal runs of points without a
 *     Dt gap > 2 beta get their exact E (the direct sums in sqdist_block's order: the
 *     same values) and the (E, index) order; equal E are always in one run. The result
 *     is the exact (E, index) order, so the values are those of the plain algorithm
 *     bit for bit.
 * Where beta is not finite or too large for the data (runs cover more than a quarter of
 * the points, or one run has more than KNN_RUN_MAX: e.g. small integer features, or
 * clusters far apart), the test point falls back to the exact distances of all its
 * training points (sqdist_block) and bucket_order: the previous algorithm.
 * The recursion then runs for 4 test points at once (independent chains of additions),
 * each writing its terms into its row of G, added to the block's sums in test point
 * order. */

#define KNN_BLOCK 16  /* test points per block (the partial sums' grouping) */
#define KNN_CHUNK 64  /* training points per chunk of dot_block (d x 64 in L1 for d <= 64) */
#define KNN_QBITS 22
#define KNN_QMAX ((1u << KNN_QBITS) - 1)
#define KNN_RUN_MAX 256
#define KNN_GROUP 4   /* test points ordered together (knn_recursion4) */

typedef double v8d __attribute__((vector_size(64)));
typedef long long v8l __attribute__((vector_size(64)));

/* G (mb x n) = Z (mb x d) . X^T for X packed by knn_pack (chunks of KNN_CHUNK points,
 * each d x width, contiguous: one chunk's rows share a few pages). Contraction is allowed
 * here only: G is an approximation whose error the order's proof bounds for any
 * summation (step 2). */
#if defined(__GNUC__) && !defined(__clang__)
#define KNN_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define KNN_CONTRACT /* no fused multiply-adds: slower, the same order */
#endif

__attribute__((target_clones("avx512f", "avx2", "default"))) KNN_CONTRACT
static void dot_block(const double *restrict Z, size_t mb, const double *restrict XP,
                      size_t n, size_t d, double *restrict G)
{
    for (size_t i0 = 0; i0 < n; i0 += KNN_CHUNK) {
        size_t i1 = i0 + KNN_CHUNK < n ? i0 + KNN_CHUNK : n, w = i1 - i0;
        const double *XC = XP + i0 * d; /* d x w: XC[j w + i - i0] = x_i,j */
        size_t t = 0;
        for (; t + 4 <= mb; t += 4) {
            const double *z0 = Z + t * d, *z1 = z0 + d, *z2 = z1 + d, *z3 = z2 + d;
            size_t i = i0;
            for (; i + 16 <= i1; i += 16) {
                v8d a0 = {0}, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
                for (size_t j = 0; j < d; j++) {
                    const double *xr = XC + j * w + (i - i0);
                    v8d xa, xb;
                    memcpy(&xa, xr, sizeof xa);
                    memcpy(&xb, xr + 8, sizeof xb);
                    v8d c = {z0[j], z0[j], z0[j], z0[j], z0[j], z0[j], z0[j], z0[j]};
                    a0 += c * xa;
                    b0 += c * xb;
                    c = (v8d){z1[j], z1[j], z1[j], z1[j], z1[j], z1[j], z1[j], z1[j]};
                    a1 += c * xa;
                    b1 += c * xb;
                    c = (v8d){z2[j], z2[j], z2[j], z2[j], z2[j], z2[j], z2[j], z2[j]};
                    a2 += c * xa;
                    b2 += c * xb;
                    c = (v8d){z3[j], z3[j], z3[j], z3[j], z3[j], z3[j], z3[j], z3[j]};
                    a3 += c * xa;
                    b3 += c * xb;
                }
                memcpy(G + t * n + i, &a0, sizeof a0);
                memcpy(G + t * n + i + 8, &b0, sizeof b0);
                memcpy(G + (t + 1) * n + i, &a1, sizeof a1);
                memcpy(G + (t + 1) * n + i + 8, &b1, sizeof b1);
                memcpy(G + (t + 2) * n + i, &a2, sizeof a2);
                memcpy(G + (t + 2) * n + i + 8, &b2, sizeof b2);
                memcpy(G + (t + 3) * n + i, &a3, sizeof a3);
                memcpy(G + (t + 3) * n + i + 8, &b3, sizeof b3);
            }
            for (; i < i1; i++)
                for (size_t r = 0; r < 4; r++) {
                    const double *z = Z + (t + r) * d;
                    double a = 0;
                    for (size_t j = 0; j < d; j++)
                        a += z[j] * XC[j * w + (i - i0)];
                    G[(t + r) * n + i] = a;
                }
        }
        for (; t < mb; t++) {
            const double *restrict z = Z + t * d;
            double *restrict Gt = G + t * n;
            for (size_t i = i0; i < i1; i++)
                Gt[i] = 0;
            for (size_t j = 0; j < d; j++) {
                const double zj = z[j], *restrict xr = XC + j * w;
                for (size_t i = i0; i < i1; i++)
                    Gt[i] += zj * xr[i - i0];
            }
        }
    }
}

/* XP = (X - mu) packed for dot_block: chunk i0 (KNN_CHUNK points, the last one w < that)
 * at XP + i0 d, d rows of w. */
static void knn_pack(const double *X, size_t n, size_t d, const double *mu, double *XP)
{
    for (size_t i0 = 0; i0 < n; i0 += KNN_CHUNK) {
        size_t i1 = i0 + KNN_CHUNK < n ? i0 + KNN_CHUNK : n, w = i1 - i0;
        double *XC = XP + i0 * d;
        for (size_t i = i0; i < i1; i++)
            for (size_t j = 0; j < d; j++)
                XC[j * w + (i - i0)] = X[i * d + j] - mu[j];
    }
}

/* row[i] = fl(fl(bn + xn[i]) - 2 row[i]) (no contraction in this file but dot_block);
 * *lo, *hi: their min and max. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void knn_approx_row(double *restrict row, size_t n, double bn,
                           const double *restrict xn, double *lo, double *hi)
{
    v8d l8, h8;
    for (int q = 0; q < 8; q++) {
        l8[q] = INFINITY;
        h8[q] = -INFINITY;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8d g, x;
        memcpy(&g, row + i, sizeof g);
        memcpy(&x, xn + i, sizeof x);
        v8d v = (bn + x) - 2 * g;
        memcpy(row + i, &v, sizeof v);
        v8l ml = v < l8, mh = v > h8;
        l8 = (v8d)((ml & (v8l)v) | (~ml & (v8l)l8));
        h8 = (v8d)((mh & (v8l)v) | (~mh & (v8l)h8));
    }
    double l = INFINITY, h = -INFINITY;
    for (int q = 0; q < 8; q++) {
        l = l8[q] < l ? l8[q] : l;
        h = h8[q] > h ? h8[q] : h;
    }
    for (; i < n; i++) {
        double v = (bn + xn[i]) - 2 * row[i];
        row[i] = v;
        l = v < l ? v : l;
        h = v > h ? v : h;
    }
    *lo = l;
    *hi = h;
}

/* The exact squared distance of z to x (d), as sqdist_block computes it. */
static double knn_exact_dist(const double *z, const double *x, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double e = z[j] - x[j];
        s += e * e;
    }
    return s;
}

typedef struct knn_item {
    double e;
    size_t i;
    uint64_t key;
} knn_item;

static int knn_item_cmp(const void *pa, const void *pb)
{
    const knn_item *a = pa, *b = pb;
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

typedef struct knn_ws {
    uint64_t *a;      /* KNN_GROUP x n: orders (packed keys: quantized Dt << ib | index) */
    uint64_t *b;      /* n: radix sort workspace */
    double *sa;       /* n: Dt in sorted order */
    knn_item *run;    /* KNN_RUN_MAX */
    double *exact;    /* n: fallback distances */
    size_t *idx, *tmp, *cnt; /* fallback: n, n, n + 1 */
    uint64_t *bits, *bits2;  /* fallback: n each */
} knn_ws;

/* a[i] = min(floor((row[i] - lo) * scale), KNN_QMAX) << (ib + 1) | (y[i] == yt) << ib | i:
 * the quantized key is monotone in row[i]. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void knn_keys(const double *restrict row, const double *restrict y, double yt,
                     size_t n, double lo, double scale, int ib, uint64_t *restrict a)
{
    for (size_t i = 0; i < n; i++) {
        int32_t q = (int32_t)((row[i] - lo) * scale);
        q = q < (int32_t)KNN_QMAX ? q : (int32_t)KNN_QMAX;
        a[i] = (uint64_t)q << (ib + 1) | (uint64_t)(y[i] == yt) << ib | (uint64_t)i;
    }
}

/* Sorts the run it[0..len) by (exact distance, index). */
static void knn_sort_run(knn_item *it, size_t len)
{
    if (len > 16) {
        qsort(it, len, sizeof *it, knn_item_cmp);
        return;
    }
    for (size_t q = 1; q < len; q++) {
        knn_item v = it[q];
        size_t j = q;
        while (j > 0 && (it[j - 1].e > v.e || (it[j - 1].e == v.e && it[j - 1].i > v.i))) {
            it[j] = it[j - 1];
            j--;
        }
        it[j] = v;
    }
}

/* The cluster a[0..len) of a sorted order (by quantized Dt, ties by index): equal keys
 * into Dt order, then the runs without a gap > 2 beta into (E, index) order. Counts the
 * points in runs into *in_runs; returns 1 where the runs are too long (fallback). */
static int knn_cluster(const double *row, uint64_t *a, size_t len, double beta,
                       const double *z, const double *x, size_t d, int ib, size_t *in_runs,
                       size_t n, knn_ws *ws)
{
    uint64_t imask = ((uint64_t)1 << ib) - 1;
    int sh = ib + 1;
    double *sd = ws->sa;
    /* equal quantized keys (in index order) into Dt order: insertion, stable */
    sd[0] = row[a[0] & imask];
    for (size_t r = 1; r < len; r++) {
        uint64_t v = a[r];
        double dv = row[v & imask];
        size_t j = r;
        while (j > 0 && (a[j - 1] >> sh) == (v >> sh) && sd[j - 1] > dv) {
            a[j] = a[j - 1];
            sd[j] = sd[j - 1];
            j--;
        }
        a[j] = v;
        sd[j] = dv;
    }
    size_t start = 0;
    double gap = 2 * beta;
    for (size_t r = 1; r <= len; r++) {
        if (r < len && !(sd[r] - sd[r - 1] > gap))
            continue;
        size_t rl = r - start;
        if (rl > 1) {
            *in_runs += rl;
            if (rl > KNN_RUN_MAX || *in_runs > n / 4)
                return 1;
            knn_item *it = ws->run;
            for (size_t q = 0; q < rl; q++) {
                uint64_t v = a[start + q];
                it[q].key = v;
                it[q].i = v & imask;
                it[q].e = knn_exact_dist(z, x + (v & imask) * d, d);
            }
            knn_sort_run(it, rl);
            for (size_t q = 0; q < rl; q++)
                a[start + q] = it[q].key;
        }
        start = r;
    }
    return 0;
}

/* The (E, index) order of the n training points for test point z (original features)
 * into a (n keys: the index in the low ib bits, bit ib its label's match) from Dt (row, n, with lo and hi) and beta.
 * Returns 0, or 1 where the fast path does not apply (the caller falls back). */
static int knn_fast_order(const double *row, size_t n, double lo, double hi, double beta,
                          const double *z, const double *x, size_t d, const double *y,
                          double yt, int ib, uint64_t *a, knn_ws *ws)
{
    if (!(beta < INFINITY) || !(hi - lo < INFINITY) || !(hi - lo > 2 * beta))
        return 1;
    double scale = (double)KNN_QMAX / (hi - lo);
    if (!(scale < INFINITY))
        return 1;
    uint64_t *b = ws->b;
    knn_keys(row, y, yt, n, lo, scale, ib, a);
    int sh = ib + 1;
    uint32_t h0[2048], h1[2048];
    memset(h0, 0, sizeof h0);
    memset(h1, 0, sizeof h1);
    for (size_t i = 0; i < n; i++) {
        uint64_t q = a[i] >> sh;
        h0[q & 2047]++;
        h1[q >> 11]++;
    }
    uint32_t s0 = 0, s1 = 0;
    for (int c = 0; c < 2048; c++) {
        uint32_t v = h0[c];
        h0[c] = s0;
        s0 += v;
        v = h1[c];
        h1[c] = s1;
        s1 += v;
    }
    /* two stable passes: (quantized Dt, index) order */
    for (size_t i = 0; i < n; i++) {
        uint64_t v = a[i];
        b[h0[(v >> sh) & 2047]++] = v;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = b[i];
        a[h1[v >> (sh + 11)]++] = v;
    }
    /* Clusters: maximal stretches whose consecutive quantized keys differ by at most 1.
     * Where a bucket is wider than 2 beta (qgap), consecutive points whose keys differ
     * by 2 or more are more than 2 beta apart in Dt (the quantization's rounding moves
     * a key by less than 1e-8 of a bucket), so only the clusters need Dt. Otherwise the
     * whole order is one cluster. */
    int qgap = (1 - 1e-6) / scale > 2 * beta;
    size_t in_runs = 0;
    for (size_t c0 = 0; c0 < n;) {
        size_t c1 = c0 + 1;
        if (!qgap)
            c1 = n;
        else
            while (c1 < n && (a[c1] >> sh) - (a[c1 - 1] >> sh) <= 1)
                c1++;
        if (c1 - c0 > 1 && knn_cluster(row, a + c0, c1 - c0, beta, z, x, d, ib, &in_runs, n,
                                       ws))
            return 1;
        c0 = c1;
    }
    return 0;
}

/* Jia et al.'s recursion for one test point: v[i] = s of training point i, from the
 * order a (n packed keys: the index in the low ib bits, bit ib the label's match). */
static void knn_recursion1(const uint64_t *a, size_t n, size_t k, int ib, const double *coef,
                           double *v)
{
    uint64_t imask = ((uint64_t)1 << ib) - 1;
    /* i is 1-based in the recursion: position i-1 in a */
    size_t cur = a[n - 1] & imask;
    double m_cur = (double)(a[n - 1] >> ib & 1);
    double sv = m_cur / (double)(n > k ? n : k);
    v[cur] = sv;
    for (size_t i = n - 1; i >= 1; i--) {
        size_t prev = a[i - 1] & imask;
        double m_prev = (double)(a[i - 1] >> ib & 1);
        sv += (m_prev - m_cur) * coef[i];
        v[prev] = sv;
        m_cur = m_prev;
    }
}

/* knn_recursion1 for 4 test points at once (orders a + r n, rows v + r n): four
 * independent chains of additions instead of one latency-bound chain. */
static void knn_recursion4(const uint64_t *a, size_t n, size_t k, int ib, const double *coef,
                           double *v)
{
    uint64_t imask = ((uint64_t)1 << ib) - 1;
    const uint64_t *a0 = a, *a1 = a + n, *a2 = a + 2 * n, *a3 = a + 3 * n;
    double *v0 = v, *v1 = v + n, *v2 = v + 2 * n, *v3 = v + 3 * n;
    double den = (double)(n > k ? n : k);
    size_t c0 = a0[n - 1] & imask, c1 = a1[n - 1] & imask, c2 = a2[n - 1] & imask,
           c3 = a3[n - 1] & imask;
    double m0 = (double)(a0[n - 1] >> ib & 1), m1 = (double)(a1[n - 1] >> ib & 1),
           m2 = (double)(a2[n - 1] >> ib & 1), m3 = (double)(a3[n - 1] >> ib & 1);
    double s0 = m0 / den, s1 = m1 / den, s2 = m2 / den, s3 = m3 / den;
    v0[c0] = s0;
    v1[c1] = s1;
    v2[c2] = s2;
    v3[c3] = s3;
    for (size_t i = n - 1; i >= 1; i--) {
        double f = coef[i];
        size_t p0 = a0[i - 1] & imask, p1 = a1[i - 1] & imask, p2 = a2[i - 1] & imask,
               p3 = a3[i - 1] & imask;
        double q0 = (double)(a0[i - 1] >> ib & 1), q1 = (double)(a1[i - 1] >> ib & 1),
               q2 = (double)(a2[i - 1] >> ib & 1), q3 = (double)(a3[i - 1] >> ib & 1);
        s0 += (q0 - m0) * f;
        s1 += (q1 - m1) * f;
        s2 += (q2 - m2) * f;
        s3 += (q3 - m3) * f;
        v0[p0] = s0;
        v1[p1] = s1;
        v2[p2] = s2;
        v3[p3] = s3;
        m0 = q0;
        m1 = q1;
        m2 = q2;
        m3 = q3;
    }
}

typedef struct knn_job {
    const shap_data *data;
    size_t k;
    size_t n_blocks;
    atomic_size_t next;
    atomic_int stop;
    atomic_size_t done;
    pthread_mutex_t mu; /* exited, cv: a worker's exit wakes the reporting thread */
    pthread_cond_t cv;
    int exited;
    double *partial;   /* n_blocks x n */
    double *hits;      /* m: matches among the first min(k, n) */
    pthread_mutex_t xt_lock;
    double *XT;        /* d x n: the training points transposed, for the fallback's exact
                        * distances: made by the first fallback (under xt_lock) */
    const double *XTc; /* n x d: centered (a = fl(x - mu)), packed by knn_pack */
    const double *Zc;  /* m x d: the centered test points (b = fl(z - mu)) */
    const double *xn;  /* n: |a|^2 */
    const double *bn;  /* m: |b|^2 */
    double xn_max;
    int fast;          /* the fast order applies (n < 2^31) */
    int ib;            /* bits of an index in the packed keys */
    double *coef;      /* n: coef[i] = 1/k * min(k, i) / i (Jia et al.'s factor) */
    int failed;
} knn_job;

static void *knn_worker(void *arg)
{
    knn_job *J = arg;
    const shap_data *D = J->data;
    size_t n = D->n, d = D->d, k = J->k;
    double *G = malloc(KNN_BLOCK * n * sizeof(double));
    knn_ws w;
    w.a = tg_alloc_array(KNN_GROUP * n, sizeof(uint64_t), 1);
    w.b = malloc(n * sizeof(uint64_t));
    w.sa = malloc(n * sizeof(double));
    w.run = malloc(KNN_RUN_MAX * sizeof(knn_item));
    w.exact = malloc(n * sizeof(double));
    w.idx = malloc(n * sizeof(size_t));
    w.tmp = malloc(n * sizeof(size_t));
    w.cnt = malloc((n + 1) * sizeof(size_t));
    w.bits = malloc(n * sizeof(uint64_t));
    w.bits2 = malloc(n * sizeof(uint64_t));
    if (!G || !w.a || !w.b || !w.sa || !w.run || !w.exact || !w.idx || !w.tmp || !w.cnt ||
        !w.bits || !w.bits2) {
        J->failed = 1;
        atomic_store(&J->stop, 1);
        goto out;
    }
    /* step 2's bound: beta = cb * S + ca */
    double cb = 2 * (4 * (double)d + 12) * 0x1p-53, ca = (8 * (double)d + 32) * 0x1p-1074;
    for (;;) {
        if (atomic_load(&J->stop))
            break;
        size_t b = atomic_fetch_add(&J->next, 1);
        if (b >= J->n_blocks)
            break;
        double *acc = J->partial + b * n;
        memset(acc, 0, n * sizeof(double));
        size_t t0 = b * KNN_BLOCK;
        size_t t1 = (b + 1) * KNN_BLOCK < D->m ? (b + 1) * KNN_BLOCK : D->m;
        if (J->fast)
            dot_block(J->Zc + t0 * d, t1 - t0, J->XTc, n, d, G);
        for (size_t g0 = t0; g0 < t1 && !J->failed; g0 += KNN_GROUP) {
            size_t g1 = g0 + KNN_GROUP < t1 ? g0 + KNN_GROUP : t1;
            for (size_t t = g0; t < g1; t++) {
                const double *z = D->xt + t * d;
                uint64_t *a = w.a + (t - g0) * n;
                int slow = 1;
                /* the fast path only while every approximate distance (<= ~2 S) is
                 * finite: an infinite one would make the keys NaN */
                if (J->fast && 4 * (J->bn[t] + J->xn_max) < INFINITY) {
                    double *row = G + (t - t0) * n, lo, hi;
                    knn_approx_row(row, n, J->bn[t], J->xn, &lo, &hi);
                    double beta = cb * (J->bn[t] + J->xn_max) + ca;
                    slow = knn_fast_order(row, n, lo, hi, beta, z, D->x, d, D->y, D->yt[t],
                                          J->ib, a, &w);
                }
                if (slow) { /* the exact distances of every point, then their order */
                    pthread_mutex_lock(&J->xt_lock);
                    if (!J->XT)
                        J->XT = transpose(D->x, n, d);
                    const double *XT = J->XT;
                    pthread_mutex_unlock(&J->xt_lock);
                    if (!XT) {
                        J->failed = 1;
                        atomic_store(&J->stop, 1);
                        break;
                    }
                    sqdist_block(z, 1, XT, n, d, w.exact);
                    bucket_order(w.exact, n, w.idx, w.cnt, w.tmp, w.bits, w.bits2);
                    for (size_t i = 0; i < n; i++)
                        a[i] = (uint64_t)(D->y[w.idx[i]] == D->yt[t]) << J->ib | w.idx[i];
                }
                double h = 0;
                for (size_t i = 0; i < n && i < k; i++)
                    h += (double)(a[i] >> J->ib & 1);
                J->hits[t] = h;
            }
            if (J->failed)
                break;
            /* each point's term per test point into the test point's (consumed) row of
             * G, then added to acc in test point order: the sums of a plain loop */
            size_t t = g0;
            for (; t + 4 <= g1; t += 4)
                knn_recursion4(w.a + (t - g0) * n, n, k, J->ib, J->coef, G + (t - t0) * n);
            for (; t < g1; t++)
                knn_recursion1(w.a + (t - g0) * n, n, k, J->ib, J->coef, G + (t - t0) * n);
            for (t = g0; t < g1; t++) {
                const double *v = G + (t - t0) * n;
                for (size_t i = 0; i < n; i++)
                    acc[i] += v[i];
            }
        }
        atomic_fetch_add(&J->done, 1);
    }
out:
    pthread_mutex_lock(&J->mu);
    J->exited++;
    pthread_cond_signal(&J->cv);
    pthread_mutex_unlock(&J->mu);
    free(G);
    free(w.a);
    free(w.b);
    free(w.sa);
    free(w.run);
    free(w.exact);
    free(w.idx);
    free(w.tmp);
    free(w.cnt);
    free(w.bits);
    free(w.bits2);
    return NULL;
}

int shap_knn_exact(const shap_data *data, size_t k, double empty_score, int threads,
                   int (*report)(void *ud, double fraction, const shap_progress *p),
                   void *report_ud, double *values, double *u_full_out, tg_err *err)
{
    size_t n = data->n, m = data->m, d = data->d;
    knn_job J;
    memset(&J, 0, sizeof J);
    J.data = data;
    J.k = k;
    J.n_blocks = (m + KNN_BLOCK - 1) / KNN_BLOCK;
    atomic_init(&J.next, 0);
    atomic_init(&J.stop, 0);
    atomic_init(&J.done, 0);
    J.partial = tg_alloc_array(J.n_blocks, n, sizeof(double));
    J.hits = tg_alloc_array(m, 1, sizeof(double));
    pthread_mutex_init(&J.xt_lock, NULL);
    pthread_mutex_init(&J.mu, NULL);
    pthread_cond_init(&J.cv, NULL);
    J.coef = tg_alloc_array(n, 1, sizeof(double));
    double *XTc = tg_alloc_array(n, d, sizeof(double)), *Zc = tg_alloc_array(m, d, sizeof(double));
    double *xn = tg_alloc_array(n, 1, sizeof(double)), *bn = tg_alloc_array(m, 1, sizeof(double));
    double *mu = tg_alloc_array(d, 1, sizeof(double));
    int rc = TG_OK;
    if (!J.partial || !J.hits || !J.coef || !XTc || !Zc || !xn || !bn || !mu) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for knn_exact");
        goto out;
    }
    for (size_t i = 1; i < n; i++) /* as ((1[.] - 1[.]) / k) * min(k, i) / i for +-1 */
        J.coef[i] = 1.0 / (double)k * (double)(i < k ? i : k) / (double)i;
    /* centering (step 1): any mu keeps the bound; the mean makes S small */
    for (size_t j = 0; j < d; j++)
        mu[j] = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            mu[j] += data->x[i * d + j];
    for (size_t j = 0; j < d; j++)
        mu[j] /= (double)n;
    knn_pack(data->x, n, d, mu, XTc);
    J.xn_max = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            double a = data->x[i * d + j] - mu[j];
            s += a * a;
        }
        xn[i] = s;
        J.xn_max = s > J.xn_max ? s : J.xn_max;
    }
    for (size_t t = 0; t < m; t++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            double b = data->xt[t * d + j] - mu[j];
            Zc[t * d + j] = b;
            s += b * b;
        }
        bn[t] = s;
    }
    J.XTc = XTc;
    J.Zc = Zc;
    J.xn = xn;
    J.bn = bn;
    J.ib = 1;
    while (J.ib < 40 && ((size_t)1 << J.ib) < n)
        J.ib++;
    J.fast = n >= 2 && n < ((size_t)1 << 31);
    if (threads < 1)
        threads = 1;
    pthread_t th[64];
    int nt = threads > 64 ? 64 : threads, started = 0;
    for (int i = 0; i < nt; i++)
        if (pthread_create(&th[started], NULL, knn_worker, &J) == 0)
            started++;
    if (started == 0) {
        knn_worker(&J);
    } else {
        /* the calling thread reports (every 20 ms) while the workers run, and goes on
         * as soon as the last one exits */
        for (;;) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_mutex_lock(&J.mu);
            while (J.exited < started &&
                   pthread_cond_timedwait(&J.cv, &J.mu, &ts) == 0)
                ;
            int all = J.exited == started;
            pthread_mutex_unlock(&J.mu);
            if (all || atomic_load(&J.stop))
                break;
            shap_progress p = {0, 0, NAN, NAN, 0};
            if (report && report(report_ud, 0.95 * (double)atomic_load(&J.done) /
                                                (double)J.n_blocks, &p)) {
                atomic_store(&J.stop, 1);
                rc = TG_ECANCELLED;
            }
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (rc == TG_ECANCELLED) {
        tg_err_set(err, rc, "cancelled");
        goto out;
    }
    if (J.failed) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for knn_exact");
        goto out;
    }
    if (report) {
        shap_progress p = {0, 0, NAN, NAN, 0};
        if (report(report_ud, 0.95, &p)) {
            rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
            goto out;
        }
    }
    /* blocks in index order: the same sums whatever the thread count */
    for (size_t i = 0; i < n; i++)
        values[i] = 0;
    for (size_t b = 0; b < J.n_blocks; b++) {
        const double *a = J.partial + b * n;
        for (size_t i = 0; i < n; i++)
            values[i] += a[i];
    }
    double hits = 0;
    for (size_t t = 0; t < m; t++)
        hits += J.hits[t];
    for (size_t i = 0; i < n; i++)
        values[i] = values[i] / (double)m - empty_score / (double)n;
    *u_full_out = hits / ((double)k * (double)m);
out:
    free(J.partial);
    free(J.hits);
    free(J.XT);
    pthread_mutex_destroy(&J.xt_lock);
    pthread_mutex_destroy(&J.mu);
    pthread_cond_destroy(&J.cv);
    free(J.coef);
    free(XTc);
    free(Zc);
    free(xn);
    free(bn);
    free(mu);
    return rc;
}

/* ---- the utility object ------------------------------------------------------------ */

static double features_eval_row(const shap_utility *u, const double *raw, double *tmp,
                                double *out, mlp_ws *ws)
{
    size_t d = u->cfg.arch->dims[0];
    memcpy(tmp, raw, d * sizeof(double));
    if (u->cfg.transform)
        u->cfg.transform(u->cfg.transform_ud, tmp, 1);
    mlp_forward(u->cfg.arch, u->cfg.theta, tmp, 1, ws, out);
    return out[u->cfg.target];
}

int shap_utility_new(const shap_util_cfg *cfg, const shap_data *data, shap_utility **out,
                     tg_err *err)
{
    *out = NULL;
    shap_utility *u = calloc(1, sizeof *u);
    if (!u)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    u->cfg = *cfg;
    if (data)
        u->data = *data;
    u->u_empty = cfg->empty_score;
    int rc = TG_OK;
    switch (cfg->kind) {
    case SHAP_U_KNN:
        u->N = data->n;
        if (!data->classification || cfg->k < 1) {
            rc = tg_err_setf(err, TG_EINVAL, "k", "the knn utility needs classification "
                                                 "data and k >= 1");
            goto fail;
        }
        if (!(u->D = tg_alloc_array(data->m, data->n, sizeof(double))))
            goto oom;
        shap_sqdist(data->xt, data->m, data->x, data->n, data->d, u->D);
        break;
    case SHAP_U_LOGISTIC:
        u->N = data->n;
        if (!data->classification || cfg->metric > SHAP_NEG_MSE) {
            rc = tg_err_setf(err, TG_EINVAL, "metric", "the logistic utility needs "
                                                      "classification data");
            goto fail;
        }
        break;
    case SHAP_U_KRIDGE:
        u->N = data->n;
        u->c = data->classification ? data->n_classes : data->ydim;
        if (!(u->Yt = tg_alloc_array(data->m, u->c, sizeof(double))))
            goto oom;
        for (size_t t = 0; t < data->m; t++)
            for (size_t j = 0; j < u->c; j++)
                u->Yt[t * u->c + j] = data->classification ? (double)((size_t)data->yt[t] == j)
                                                           : data->yt[t * u->c + j];
        break;
    case SHAP_U_MLP: {
        u->N = data->n;
        const mlp_arch *a = &cfg->train->arch;
        size_t K = a->dims[a->n_layers];
        if (cfg->metric == SHAP_ACCURACY && !data->classification) {
            rc = tg_err_setf(err, TG_EINVAL, "metric", "the accuracy metric needs "
                                                      "classification data");
            goto fail;
        }
        if (a->dims[0] != data->d ||
            (data->classification ? !(K == data->n_classes || (K == 1 && data->n_classes == 2))
                                  : K != data->ydim)) {
            rc = tg_err_setf(err, TG_EINVAL, "arch", "the mlp utility's network takes %zu "
                             "inputs to %zu outputs, which does not fit the data", a->dims[0], K);
            goto fail;
        }
        u->tcfg = *cfg->train;
        u->cfg.train = &u->tcfg;
        u->cfg.init = NULL;
        u->P = mlp_param_count(a);
        if (!(u->theta0 = tg_alloc_array(u->P, 1, sizeof(double))))
            goto oom;
        if ((rc = train_init(a, cfg->init ? cfg->init : "default", cfg->init_std,
                             cfg->train->seed, u->theta0, err)))
            goto fail;
        break;
    }
    case SHAP_U_FEATURES: {
        u->N = cfg->arch->dims[0];
        mlp_ws *ws = mlp_ws_new(cfg->arch, 1);
        double *tmp = malloc(u->N * sizeof(double));
        double *o = malloc(cfg->arch->dims[cfg->arch->n_layers] * sizeof(double));
        if (!ws || !tmp || !o) {
            mlp_ws_free(ws);
            free(tmp);
            free(o);
            goto oom;
        }
        u->u_empty = features_eval_row(u, cfg->baseline, tmp, o, ws);
        mlp_ws_free(ws);
        free(tmp);
        free(o);
        break;
    }
    }
    *out = u;
    return TG_OK;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory for the utility");
fail:
    shap_utility_free(u);
    return rc;
}

void shap_utility_free(shap_utility *u)
{
    if (!u)
        return;
    free(u->D);
    free(u->Yt);
    free(u->theta0);
    free(u);
}

size_t shap_utility_players(const shap_utility *u)
{
    return u->N;
}

double shap_utility_empty(const shap_utility *u)
{
    return u->u_empty;
}

/* ---- states ------------------------------------------------------------------------ */

shap_state *shap_state_new(const shap_utility *u)
{
    shap_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->u = u;
    size_t N = u->N, m = u->data.m, d = u->data.d;
    if (!(s->idx = tg_alloc_array(N, 1, sizeof(size_t))))
        goto fail;
    switch (u->cfg.kind) {
    case SHAP_U_KNN:
        if (!(s->top = tg_alloc_array(m, u->cfg.k, sizeof(size_t))) ||
            !(s->n_top = tg_alloc_array(m, 1, sizeof(size_t))))
            goto fail;
        break;
    case SHAP_U_LOGISTIC: {
        size_t K = u->data.n_classes, P = K * (d + 1);
        size_t cgmin = u->cfg.cg_min_params ? u->cfg.cg_min_params : LOGI_CG_MIN;
        size_t PH = K > 2 && P < cgmin ? P : d + 1; /* the largest Hessian formed */
        if (!(s->cls_count = tg_alloc_array(K, 1, sizeof(size_t))) ||
            !(s->cls = tg_alloc_array(K, 1, sizeof(size_t))) ||
            !(s->W = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->Wn = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->G = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->dir = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->H = tg_alloc_array(PH, PH, sizeof(double))) ||
            !(s->z = tg_alloc_array(K, 1, sizeof(double))) ||
            !(s->cg_r = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->cg_p = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->cg_hp = tg_alloc_array(P, 1, sizeof(double))) ||
            !(s->probs = tg_alloc_array(N, K, sizeof(double))) ||
            !(s->prob = tg_alloc_array(K, 1, sizeof(double))))
            goto fail;
        break;
    }
    case SHAP_U_KRIDGE:
        if (!(s->L = tg_alloc_array(N, N, sizeof(double))) ||
            !(s->Wk = tg_alloc_array(N, m, sizeof(double))) ||
            !(s->Z = tg_alloc_array(N, u->c, sizeof(double))) ||
            !(s->P = tg_alloc_array(m, u->c, sizeof(double))) ||
            !(s->lrow = tg_alloc_array(N, 1, sizeof(double))))
            goto fail;
        break;
    case SHAP_U_MLP: {
        const mlp_arch *a = &u->tcfg.arch;
        size_t ydim = u->data.classification ? 1 : u->data.ydim;
        if (!(s->sorted = tg_alloc_array(N, 1, sizeof(size_t))) ||
            !(s->xs = tg_alloc_array(N, d, sizeof(double))) ||
            !(s->ys = tg_alloc_array(N, ydim, sizeof(double))) ||
            !(s->theta = tg_alloc_array(u->P, 1, sizeof(double))) ||
            !(s->fb = tg_alloc_array(MLP_CHUNK, a->dims[a->n_layers], sizeof(double))) ||
            !(s->mws = mlp_ws_new(a, MLP_CHUNK)) ||
            (u->data.classification &&
             !(s->cls_count = tg_alloc_array(u->data.n_classes, 1, sizeof(size_t)))))
            goto fail;
        break;
    }
    case SHAP_U_FEATURES:
        if (!(s->row = tg_alloc_array(N, 1, sizeof(double))) ||
            !(s->row2 = tg_alloc_array(N, 1, sizeof(double))) ||
            !(s->out = tg_alloc_array(u->cfg.arch->dims[u->cfg.arch->n_layers], 1,
                                      sizeof(double))) ||
            !(s->ws = mlp_ws_new(u->cfg.arch, 1)))
            goto fail;
        break;
    }
    shap_state_reset(s);
    return s;
fail:
    shap_state_free(s);
    return NULL;
}

void shap_state_free(shap_state *s)
{
    if (!s)
        return;
    free(s->idx);
    free(s->top);
    free(s->n_top);
    free(s->cls_count);
    free(s->cls);
    free(s->W);
    free(s->Wn);
    free(s->G);
    free(s->H);
    free(s->dir);
    free(s->z);
    free(s->prob);
    free(s->cg_r);
    free(s->cg_p);
    free(s->cg_hp);
    free(s->probs);
    free(s->L);
    free(s->Wk);
    free(s->Z);
    free(s->P);
    free(s->lrow);
    free(s->row);
    free(s->row2);
    free(s->out);
    mlp_ws_free(s->ws);
    free(s->sorted);
    free(s->xs);
    free(s->ys);
    free(s->theta);
    free(s->fb);
    mlp_ws_free(s->mws);
    free(s);
}

long long shap_state_unconverged(const shap_state *s)
{
    return s->unconverged;
}

void shap_state_reset(shap_state *s)
{
    const shap_utility *u = s->u;
    s->s = 0;
    switch (u->cfg.kind) {
    case SHAP_U_KNN:
        memset(s->n_top, 0, u->data.m * sizeof(size_t));
        s->hits = 0;
        break;
    case SHAP_U_LOGISTIC:
        memset(s->cls_count, 0, u->data.n_classes * sizeof(size_t));
        s->n_present = 0;
        s->p_fit = 0;
        break;
    case SHAP_U_KRIDGE:
        memset(s->P, 0, u->data.m * u->c * sizeof(double));
        break;
    case SHAP_U_FEATURES:
        memcpy(s->row, u->cfg.baseline, u->N * sizeof(double));
        break;
    case SHAP_U_MLP:
        if (s->cls_count)
            memset(s->cls_count, 0, u->data.n_classes * sizeof(size_t));
        break;
    }
}

/* ---- knn ---------------------------------------------------------------------------- */

static double knn_add(shap_state *s, size_t i)
{
    const shap_utility *u = s->u;
    size_t k = u->cfg.k, m = u->data.m, n = u->data.n;
    const double *y = u->data.y;
    for (size_t t = 0; t < m; t++) {
        const double *Dt = u->D + t * n;
        size_t *top = s->top + t * k, c = s->n_top[t];
        double di = Dt[i];
        double yt = u->data.yt[t];
        /* position of i among the top list: after every (dist, index) below it */
        size_t pos = c;
        while (pos > 0 && (Dt[top[pos - 1]] > di || (Dt[top[pos - 1]] == di && top[pos - 1] > i)))
            pos--;
        if (pos >= k)
            continue;
        if (c == k) { /* the last one drops out */
            s->hits -= y[top[k - 1]] == yt;
            c--;
        }
        memmove(top + pos + 1, top + pos, (c - pos) * sizeof(size_t));
        top[pos] = i;
        s->n_top[t] = c + 1;
        s->hits += y[i] == yt;
    }
    return (double)s->hits / ((double)k * (double)m);
}

/* ---- logistic ----------------------------------------------------------------------- */

/* Objective, gradient (G, may be NULL) of the fit over the current set; classes
 * s->cls[0..p). Binary (p = 2): w = W[0..d], positive class cls[1]. */
static double logi_obj(shap_state *s, const double *W, size_t p, double *G)
{
    const shap_utility *u = s->u;
    size_t d = u->data.d, D1 = d + 1, ns = s->s;
    const double *X = u->data.x, *y = u->data.y;
    double l2 = u->cfg.l2, f = 0;
    size_t nw = p == 2 ? 1 : p;
    if (G)
        memset(G, 0, nw * D1 * sizeof(double));
    for (size_t a = 0; a < ns; a++) {
        size_t i = s->idx[a];
        const double *x = X + i * d;
        size_t yi = (size_t)y[i];
        if (p == 2) {
            const double *w = W;
            double z = w[d];
            for (size_t j = 0; j < d; j++)
                z += w[j] * x[j];
            double t = yi == s->cls[1];
            /* softplus(z) - t z, stably */
            f += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - t * z;
            if (G) {
                double sg = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
                double r = sg - t;
                for (size_t j = 0; j < d; j++)
                    G[j] += r * x[j];
                G[d] += r;
            }
        } else {
            double zmax = -INFINITY;
            for (size_t k = 0; k < p; k++) {
                const double *w = W + k * D1;
                double z = w[d];
                for (size_t j = 0; j < d; j++)
                    z += w[j] * x[j];
                s->z[k] = z;
                if (z > zmax)
                    zmax = z;
            }
            double se = 0, zy = 0;
            for (size_t k = 0; k < p; k++) {
                s->prob[k] = exp(s->z[k] - zmax);
                se += s->prob[k];
                if (s->cls[k] == yi)
                    zy = s->z[k];
            }
            f += zmax + log(se) - zy;
            if (G)
                for (size_t k = 0; k < p; k++) {
                    double r = s->prob[k] / se - (s->cls[k] == yi);
                    double *g = G + k * D1;
                    for (size_t j = 0; j < d; j++)
                        g[j] += r * x[j];
                    g[d] += r;
                }
        }
    }
    f /= (double)ns;
    double pen = 0;
    for (size_t k = 0; k < nw; k++)
        for (size_t j = 0; j < d; j++)
            pen += W[k * D1 + j] * W[k * D1 + j];
    f += 0.5 * l2 * pen;
    if (G)
        for (size_t k = 0; k < nw; k++) {
            for (size_t j = 0; j < D1; j++)
                G[k * D1 + j] /= (double)ns;
            for (size_t j = 0; j < d; j++)
                G[k * D1 + j] += l2 * W[k * D1 + j];
        }
    return f;
}

/* Hessian of the objective (+ the shift direction of the softmax biases, which leaves
 * the Newton step unchanged: the gradient is orthogonal to it). */
static void logi_hess(shap_state *s, const double *W, size_t p, double *H)
{
    const shap_utility *u = s->u;
    size_t d = u->data.d, D1 = d + 1, ns = s->s;
    size_t nw = p == 2 ? 1 : p, P = nw * D1;
    const double *X = u->data.x;
    memset(H, 0, P * P * sizeof(double));
    for (size_t a = 0; a < ns; a++) {
        size_t i = s->idx[a];
        const double *x = X + i * d;
        if ((a & 63) == 63 && stopped(s))
            return;
        if (p == 2) {
            double z = W[d];
            for (size_t j = 0; j < d; j++)
                z += W[j] * x[j];
            double sg = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
            double c = sg * (1 - sg);
            for (size_t a1 = 0; a1 < D1; a1++) {
                double va = a1 < d ? x[a1] : 1.0;
                double cva = c * va;
                double *h = H + a1 * P;
                for (size_t b = 0; b <= a1; b++)
                    h[b] += cva * (b < d ? x[b] : 1.0);
            }
        } else {
            double zmax = -INFINITY, se = 0;
            for (size_t k = 0; k < p; k++) {
                const double *w = W + k * D1;
                double z = w[d];
                for (size_t j = 0; j < d; j++)
                    z += w[j] * x[j];
                s->z[k] = z;
                if (z > zmax)
                    zmax = z;
            }
            for (size_t k = 0; k < p; k++) {
                s->prob[k] = exp(s->z[k] - zmax);
                se += s->prob[k];
            }
            for (size_t k = 0; k < p; k++)
                s->prob[k] /= se;
            for (size_t k = 0; k < p; k++)
                for (size_t l = 0; l <= k; l++) {
                    double c = s->prob[k] * ((k == l) - s->prob[l]);
                    for (size_t a1 = 0; a1 < D1; a1++) {
                        double cva = c * (a1 < d ? x[a1] : 1.0);
                        double *h = H + (k * D1 + a1) * P + l * D1;
                        size_t bmax = k == l ? a1 + 1 : D1;
                        for (size_t b = 0; b < bmax; b++)
                            h[b] += cva * (b < d ? x[b] : 1.0);
                    }
                }
        }
    }
    /* lower triangle filled; scale, regularize, mirror */
    double inv = 1.0 / (double)ns;
    for (size_t r = 0; r < P; r++)
        for (size_t c = 0; c <= r; c++)
            H[r * P + c] *= inv;
    for (size_t k = 0; k < nw; k++)
        for (size_t j = 0; j < d; j++)
            H[(k * D1 + j) * P + k * D1 + j] += u->cfg.l2;
    if (p > 2)
        for (size_t k = 0; k < p; k++)
            for (size_t l = 0; l <= k; l++)
                H[(k * D1 + d) * P + l * D1 + d] += 1.0 / (double)p;
    for (size_t r = 0; r < P; r++)
        for (size_t c = r + 1; c < P; c++)
            H[r * P + c] = H[c * P + r];
}

/* Softmax probabilities of the set's points at W (p classes): s->probs, s->s x p. */
static void logi_probs(shap_state *s, const double *W, size_t p)
{
    const shap_utility *u = s->u;
    size_t d = u->data.d, D1 = d + 1;
    for (size_t a = 0; a < s->s; a++) {
        const double *x = u->data.x + s->idx[a] * d;
        double *pr = s->probs + a * p, zmax = -INFINITY, se = 0;
        for (size_t k = 0; k < p; k++) {
            const double *w = W + k * D1;
            double z = w[d];
            for (size_t j = 0; j < d; j++)
                z += w[j] * x[j];
            pr[k] = z;
            zmax = z > zmax ? z : zmax;
        }
        for (size_t k = 0; k < p; k++) {
            pr[k] = exp(pr[k] - zmax);
            se += pr[k];
        }
        for (size_t k = 0; k < p; k++)
            pr[k] /= se;
    }
}

/* out = H v for the softmax objective at the probabilities in s->probs (Hessian-vector
 * product without forming H): (1/|S|) sum_i x_i (P_ik (u_ik - sum_l P_il u_il)) with
 * u_ik = v_k . x_i, plus l2 v on the weights. */
static void logi_hvp(shap_state *s, size_t p, const double *v, double *out)
{
    const shap_utility *u = s->u;
    size_t d = u->data.d, D1 = d + 1, P = p * D1;
    memset(out, 0, P * sizeof(double));
    for (size_t a = 0; a < s->s; a++) {
        const double *x = u->data.x + s->idx[a] * d, *pr = s->probs + a * p;
        double ub = 0;
        for (size_t k = 0; k < p; k++) {
            const double *vk = v + k * D1;
            double uk = vk[d];
            for (size_t j = 0; j < d; j++)
                uk += vk[j] * x[j];
            s->z[k] = uk;
            ub += pr[k] * uk;
        }
        for (size_t k = 0; k < p; k++) {
            double r = pr[k] * (s->z[k] - ub);
            double *ok = out + k * D1;
            for (size_t j = 0; j < d; j++)
                ok[j] += r * x[j];
            ok[d] += r;
        }
    }
    double inv = 1.0 / (double)s->s;
    for (size_t k = 0; k < p; k++) {
        for (size_t j = 0; j < D1; j++)
            out[k * D1 + j] *= inv;
        for (size_t j = 0; j < d; j++)
            out[k * D1 + j] += u->cfg.l2 * v[k * D1 + j];
    }
}

/* The Newton direction by conjugate gradients on H dir = -G (inexact Newton: relative
 * residual min(0.5, sqrt(|G|)), so convergence stays superlinear). The gradient is
 * orthogonal to H's null direction (equal shifts of the biases), so the iterates stay in
 * H's range. Into s->Wn as -dir (as the Cholesky path leaves it). */
static void logi_cg(shap_state *s, size_t p, double gnorm)
{
    size_t P = p * (s->u->data.d + 1);
    double *x = s->Wn, *r = s->cg_r, *q = s->cg_p, *hq = s->cg_hp;
    double tol = (gnorm < 0.25 ? sqrt(gnorm) : 0.5) * gnorm, rr = 0;
    logi_probs(s, s->W, p);
    for (size_t j = 0; j < P; j++) {
        x[j] = 0;
        r[j] = -s->G[j];
        q[j] = r[j];
        rr += r[j] * r[j];
    }
    for (int it = 0; it < 500 && sqrt(rr) > tol; it++) {
        if (stopped(s))
            break;
        logi_hvp(s, p, q, hq);
        double qhq = 0;
        for (size_t j = 0; j < P; j++)
            qhq += q[j] * hq[j];
        if (!(qhq > 0))
            break;
        double al = rr / qhq, rn = 0;
        for (size_t j = 0; j < P; j++) {
            x[j] += al * q[j];
            r[j] -= al * hq[j];
            rn += r[j] * r[j];
        }
        double be = rn / rr;
        rr = rn;
        for (size_t j = 0; j < P; j++)
            q[j] = r[j] + be * q[j];
    }
    int zero = 1;
    for (size_t j = 0; j < P && zero; j++)
        zero = x[j] == 0;
    for (size_t j = 0; j < P; j++) /* Wn = -direction, steepest descent if CG gave none */
        x[j] = zero ? s->G[j] : -x[j];
}

/* Newton with backtracking from s->W to gradient norm LOGI_GTOL. */
static void logi_fit(shap_state *s, size_t p)
{
    const shap_utility *u = s->u;
    size_t D1 = u->data.d + 1, P = (p == 2 ? 1 : p) * D1;
    int nP = (int)P, one = 1, info;
    double f = logi_obj(s, s->W, p, s->G);
    for (int it = 0;; it++) {
        double gn = 0;
        for (size_t j = 0; j < P; j++)
            gn += s->G[j] * s->G[j];
        if (sqrt(gn) <= LOGI_GTOL)
            return;
        if (it >= LOGI_MAX_IT)
            break;
        if (stopped(s))
            return;
        if (p > 2 && P >= (u->cfg.cg_min_params ? u->cfg.cg_min_params : LOGI_CG_MIN)) {
            logi_cg(s, p, sqrt(gn));
            goto search;
        }
        logi_hess(s, s->W, p, s->H);
        /* Cholesky; a jitter when H is singular (l2 = 0 on collinear features) */
        double jit = 0;
        for (;;) {
            memcpy(s->Wn, s->G, P * sizeof(double));
            if (jit > 0)
                for (size_t j = 0; j < P; j++)
                    s->H[j * P + j] += jit;
            dpotrf_("L", &nP, s->H, &nP, &info);
            if (info == 0)
                break;
            logi_hess(s, s->W, p, s->H);
            jit = jit > 0 ? jit * 100 : 1e-10;
            if (jit > 1e6)
                goto stuck;
        }
        dpotrs_("L", &nP, &one, s->H, &nP, s->Wn, &nP, &info);
    search:;
        double slope = 0;
        for (size_t j = 0; j < P; j++) {
            s->dir[j] = -s->Wn[j];
            slope += s->dir[j] * s->G[j];
        }
        double a = 1, fn = f;
        for (int ls = 0; ls < 60; ls++) {
            for (size_t j = 0; j < P; j++)
                s->Wn[j] = s->W[j] + a * s->dir[j];
            fn = logi_obj(s, s->Wn, p, NULL);
            if (fn <= f + 1e-4 * a * slope || fn <= f)
                break;
            a *= 0.5;
        }
        if (!(fn <= f))
            goto stuck;
        memcpy(s->W, s->Wn, P * sizeof(double));
        f = logi_obj(s, s->W, p, s->G);
    }
stuck:
    s->unconverged++;
}

static double logi_score(shap_state *s)
{
    const shap_utility *u = s->u;
    size_t m = u->data.m, d = u->data.d, D1 = d + 1, K = u->data.n_classes;
    const double *Xt = u->data.xt, *yt = u->data.yt;
    int acc = u->cfg.metric == SHAP_ACCURACY;
    double score = 0;
    size_t p = s->n_present;
    for (size_t t = 0; t < m; t++) {
        const double *x = Xt + t * d;
        size_t yi = (size_t)yt[t];
        if (p == 1) {
            size_t c = s->present[0];
            score += acc ? (double)(c == yi) : (double)(c == yi ? 0 : 2);
            continue;
        }
        if (p == 2) {
            double z = s->W[d];
            for (size_t j = 0; j < d; j++)
                z += s->W[j] * x[j];
            if (acc) {
                score += (z > 0 ? s->cls[1] : s->cls[0]) == yi;
            } else {
                double sg = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
                double p1 = sg, p0 = 1 - sg, e = 0;
                /* squared error against one-hot over all K classes */
                e += (p0 - (s->cls[0] == yi)) * (p0 - (s->cls[0] == yi));
                e += (p1 - (s->cls[1] == yi)) * (p1 - (s->cls[1] == yi));
                if (yi != s->cls[0] && yi != s->cls[1] && yi < K)
                    e += 1;
                score += e;
            }
            continue;
        }
        size_t best = 0;
        double zmax = -INFINITY;
        for (size_t k = 0; k < p; k++) {
            const double *w = s->W + k * D1;
            double z = w[d];
            for (size_t j = 0; j < d; j++)
                z += w[j] * x[j];
            s->z[k] = z;
            if (z > zmax) {
                zmax = z;
                best = k;
            }
        }
        if (acc) {
            score += s->cls[best] == yi;
        } else {
            double se = 0, e = 0;
            int seen = 0;
            for (size_t k = 0; k < p; k++)
                se += exp(s->z[k] - zmax);
            for (size_t k = 0; k < p; k++) {
                double pk = exp(s->z[k] - zmax) / se, tk = s->cls[k] == yi;
                seen |= s->cls[k] == yi;
                e += (pk - tk) * (pk - tk);
            }
            if (!seen && yi < K)
                e += 1;
            score += e;
        }
    }
    if (acc)
        return score / (double)m;
    return -score / ((double)m * (double)K);
}

/* The current set changed (players appended): refit (warm start when the classes
 * present are the same) and score. */
static double logi_update(shap_state *s)
{
    size_t K = s->u->data.n_classes, p = 0;
    for (size_t c = 0; c < K; c++)
        if (s->cls_count[c])
            s->cls[p++] = c;
    s->n_present = p;
    s->present[0] = p > 0 ? s->cls[0] : 0;
    if (p >= 2) {
        size_t D1 = s->u->data.d + 1, P = (p == 2 ? 1 : p) * D1;
        if (s->p_fit != p)
            memset(s->W, 0, P * sizeof(double));
        s->p_fit = p;
        logi_fit(s, p);
    } else {
        s->p_fit = 0;
    }
    return logi_score(s);
}

/* ---- kernel ridge ------------------------------------------------------------------- */

static int kr_score(shap_state *s, double *u_out)
{
    const shap_utility *u = s->u;
    size_t m = u->data.m, c = u->c;
    double score = 0;
    if (u->cfg.metric == SHAP_ACCURACY) {
        for (size_t t = 0; t < m; t++) {
            const double *p = s->P + t * c;
            size_t best = 0;
            for (size_t j = 1; j < c; j++)
                if (p[j] > p[best])
                    best = j;
            score += best == (size_t)u->data.yt[t];
        }
        *u_out = score / (double)m;
    } else {
        for (size_t e = 0; e < m * c; e++) {
            double r = s->P[e] - u->Yt[e];
            score += r * r;
        }
        *u_out = -score / ((double)m * (double)c);
    }
    return TG_OK;
}

static int kr_add(shap_state *s, size_t i, tg_err *err)
{
    const shap_utility *u = s->u;
    size_t n = u->data.n, m = u->data.m, c = u->c, j = s->s;
    const double *K = u->cfg.K;
    double *l = s->lrow;
    /* forward substitution L l = K(S, i) */
    for (size_t a = 0; a < j; a++) {
        const double *La = s->L + a * n;
        double v = K[s->idx[a] * n + i];
        for (size_t b = 0; b < a; b++)
            v -= La[b] * l[b];
        l[a] = v / La[a];
    }
    double dd = K[i * n + i] + u->cfg.ridge;
    double piv = dd;
    for (size_t a = 0; a < j; a++)
        piv -= l[a] * l[a];
    if (!(piv > 1e-13 * fabs(dd)) || !(piv > 0))
        return tg_err_set(err, TG_ENUMERICAL,
                          "kernel ridge: K(S,S) + ridge I is not positive definite (pivot %.3g "
                          "when adding training point %zu): set a larger params.utility.ridge",
                          piv, i);
    double lj = sqrt(piv);
    double *Lj = s->L + j * n;
    memcpy(Lj, l, j * sizeof(double));
    Lj[j] = lj;
    /* new rows of L^-1 K(S, test) and L^-1 Y_S */
    double *w = s->Wk + j * m, *z = s->Z + j * c;
    for (size_t t = 0; t < m; t++)
        w[t] = u->cfg.Kt[t * n + i];
    for (size_t a = 0; a < j; a++) {
        const double *wa = s->Wk + a * m;
        double la = l[a];
        for (size_t t = 0; t < m; t++)
            w[t] -= la * wa[t];
    }
    for (size_t t = 0; t < m; t++)
        w[t] /= lj;
    for (size_t q = 0; q < c; q++)
        z[q] = u->data.classification ? (double)((size_t)u->data.y[i] == q) : u->data.y[i * c + q];
    for (size_t a = 0; a < j; a++) {
        const double *za = s->Z + a * c;
        for (size_t q = 0; q < c; q++)
            z[q] -= l[a] * za[q];
    }
    for (size_t q = 0; q < c; q++)
        z[q] /= lj;
    for (size_t t = 0; t < m; t++)
        for (size_t q = 0; q < c; q++)
            s->P[t * c + q] += w[t] * z[q];
    return TG_OK;
}

/* ---- mlp ---------------------------------------------------------------------------- */

static int mlp_poll(void *ud, double fraction, const char *msg)
{
    (void)fraction;
    (void)msg;
    return stopped(ud);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The score of the network theta (or, with single >= 0, of predicting class `single`)
 * on the test split: accuracy, or minus the mean squared error (classification: of the
 * predicted probabilities against one-hot targets over the K classes, as the logistic
 * utility scores). */
static double mlp_score(shap_state *s, const double *theta, long single)
{
    const shap_utility *u = s->u;
    const mlp_arch *a = &u->tcfg.arch;
    size_t m = u->data.m, d = u->data.d, K = u->data.n_classes, k = a->dims[a->n_layers];
    int acc = u->cfg.metric == SHAP_ACCURACY;
    if (single >= 0) {
        double score = 0;
        for (size_t t = 0; t < m; t++) {
            int hit = (size_t)single == (size_t)u->data.yt[t];
            score += acc ? (double)hit : (hit ? 0.0 : 2.0);
        }
        return acc ? score / (double)m : -score / ((double)m * (double)K);
    }
    if (acc || !u->data.classification) {
        split_metrics sm;
        train_metrics(a, u->tcfg.loss, theta, u->data.xt, u->data.yt, m,
                      u->data.classification, u->data.classification ? 1 : u->data.ydim,
                      s->mws, s->fb, &sm);
        return acc ? sm.accuracy : -sm.mse;
    }
    double se = 0;
    for (size_t i0 = 0; i0 < m; i0 += MLP_CHUNK) {
        size_t mb = m - i0 < MLP_CHUNK ? m - i0 : MLP_CHUNK;
        mlp_forward(a, theta, u->data.xt + i0 * d, mb, s->mws, s->fb);
        for (size_t i = 0; i < mb; i++) {
            const double *f = s->fb + i * k;
            size_t yi = (size_t)u->data.yt[i0 + i];
            if (k == 1) { /* logistic loss: P(class 1) = sigmoid(f) */
                double z = f[0];
                double p1 = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
                se += (p1 - (yi == 1)) * (p1 - (yi == 1)) +
                      ((1 - p1) - (yi == 0)) * ((1 - p1) - (yi == 0));
                continue;
            }
            double zmax = f[0], sum = 0;
            for (size_t j = 1; j < k; j++)
                if (f[j] > zmax)
                    zmax = f[j];
            for (size_t j = 0; j < k; j++)
                sum += exp(f[j] - zmax);
            for (size_t j = 0; j < k; j++) {
                double pj = exp(f[j] - zmax) / sum - (double)(yi == j);
                se += pj * pj;
            }
        }
    }
    return -se / ((double)m * (double)K);
}

/* U of the current set s->idx[0..s->s): trains from theta0 on its rows in ascending
 * index order (so U depends on the set, not on the order of additions). */
static int mlp_eval(shap_state *s, double *u_out, tg_err *err)
{
    const shap_utility *u = s->u;
    size_t n = s->s, d = u->data.d, ydim = u->data.classification ? 1 : u->data.ydim;
    if (u->data.classification) {
        size_t present = 0, c = 0;
        for (size_t j = 0; j < u->data.n_classes; j++)
            if (s->cls_count[j]) {
                present++;
                c = j;
            }
        if (present == 1) {
            *u_out = mlp_score(s, NULL, (long)c);
            return TG_OK;
        }
    }
    memcpy(s->sorted, s->idx, n * sizeof(size_t));
    qsort(s->sorted, n, sizeof(size_t), cmp_size);
    for (size_t a = 0; a < n; a++) {
        memcpy(s->xs + a * d, u->data.x + s->sorted[a] * d, d * sizeof(double));
        memcpy(s->ys + a * ydim, u->data.y + s->sorted[a] * ydim, ydim * sizeof(double));
    }
    memcpy(s->theta, u->theta0, u->P * sizeof(double));
    train_data td = {.d = d, .ydim = u->data.ydim, .classification = u->data.classification,
                     .x = s->xs, .y = s->ys, .n = n};
    train_result res;
    tg_progress prog = {mlp_poll, s};
    int rc = train_run(&u->tcfg, &td, s->theta, &res, &prog, NULL, NULL, err);
    train_result_deinit(&res);
    if (rc == TG_ECANCELLED)
        return tg_err_set(err, TG_ECANCELLED, "stopped");
    if (rc == TG_EDIVERGED) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return tg_err_set(err, rc, "mlp utility, training on a set of %zu points: %s", n, msg);
    }
    if (rc)
        return rc;
    *u_out = mlp_score(s, s->theta, -1);
    return TG_OK;
}

/* ---- dispatch ----------------------------------------------------------------------- */

int shap_state_add(shap_state *s, size_t i, double *u_out, tg_err *err)
{
    const shap_utility *u = s->u;
    int rc = TG_OK;
    switch (u->cfg.kind) {
    case SHAP_U_KNN:
        s->idx[s->s++] = i;
        *u_out = knn_add(s, i);
        break;
    case SHAP_U_LOGISTIC:
        s->idx[s->s++] = i;
        s->cls_count[(size_t)u->data.y[i]]++;
        *u_out = logi_update(s);
        if (stopped(s))
            return tg_err_set(err, TG_ECANCELLED, "stopped");
        break;
    case SHAP_U_KRIDGE:
        if ((rc = kr_add(s, i, err)))
            return rc;
        s->idx[s->s++] = i;
        kr_score(s, u_out);
        break;
    case SHAP_U_FEATURES:
        s->idx[s->s++] = i;
        s->row[i] = u->cfg.point[i];
        *u_out = features_eval_row(u, s->row, s->row2, s->out, s->ws);
        break;
    case SHAP_U_MLP:
        s->idx[s->s++] = i;
        if (s->cls_count)
            s->cls_count[(size_t)u->data.y[i]]++;
        rc = mlp_eval(s, u_out, err);
        break;
    }
    return rc;
}

int shap_state_eval(shap_state *s, const size_t *idx, size_t n, double *u_out, tg_err *err)
{
    const shap_utility *u = s->u;
    shap_state_reset(s);
    if (n == 0) {
        *u_out = u->u_empty;
        return TG_OK;
    }
    int rc = TG_OK;
    switch (u->cfg.kind) {
    case SHAP_U_KNN:
        for (size_t a = 0; a < n; a++) {
            s->idx[s->s++] = idx[a];
            *u_out = knn_add(s, idx[a]);
        }
        break;
    case SHAP_U_LOGISTIC: /* one fit of the whole set, from zero */
        for (size_t a = 0; a < n; a++) {
            s->idx[s->s++] = idx[a];
            s->cls_count[(size_t)u->data.y[idx[a]]]++;
        }
        *u_out = logi_update(s);
        if (stopped(s))
            return tg_err_set(err, TG_ECANCELLED, "stopped");
        break;
    case SHAP_U_KRIDGE:
        for (size_t a = 0; a < n; a++) {
            if ((rc = kr_add(s, idx[a], err)))
                return rc;
            s->idx[s->s++] = idx[a];
        }
        kr_score(s, u_out);
        break;
    case SHAP_U_FEATURES:
        for (size_t a = 0; a < n; a++) {
            s->idx[s->s++] = idx[a];
            s->row[idx[a]] = u->cfg.point[idx[a]];
        }
        *u_out = features_eval_row(u, s->row, s->row2, s->out, s->ws);
        break;
    case SHAP_U_MLP:
        for (size_t a = 0; a < n; a++) {
            s->idx[s->s++] = idx[a];
            if (s->cls_count)
                s->cls_count[(size_t)u->data.y[idx[a]]]++;
        }
        rc = mlp_eval(s, u_out, err);
        break;
    }
    return rc;
}
