/* curv.c: see curv.h. Each thread is a "lane" with its own mlp workspace and P-vectors;
 * an HVP splits the rows into `threads` contiguous ranges (lane t takes range t), each
 * lane sums its blocks' HVPs (mlp_hvp, the R-operator: Pearlmutter 1994, eq. for
 * R{backprop}) weighted by rows / n, and the calling thread adds the lanes' results in
 * lane order (deterministic for a given thread count). An explicit Hessian deals its
 * columns to the lanes from a shared counter; every column is one lane's full HVP
 * against a unit vector, so it does not depend on which lane computed it.
 *
 * Cancellation: lanes test `cancel` and a shared stop flag between blocks of rows
 * (CURV_BLOCK rows: well under a second of work for the sizes the API admits); lane 0
 * runs on the calling thread and is the only one that polls `prog`.
 */
#include "curv.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* Rows per mlp_hvp call: large enough for efficient GEMMs, small enough to poll for
 * cancellation often. */
#define CURV_BLOCK 512
#define CURV_MAX_THREADS 64

/* The quantities of a lane's rows that do not depend on the direction v (theta is
 * fixed): per hidden layer l, h_l, phi'(z_l), c_l = (s_{l+1} delta_{l+1} W_{l+1}) .*
 * phi''(z_l) and delta_l; the output's delta (dl/df / n) and its loss curvature (softmax
 * probabilities; q(1 - q) for logistic). Each HVP then runs only the R-passes: no
 * activation function is evaluated and the forward and plain backward GEMMs are not
 * repeated (measured: about 2x fewer seconds per HVP for a tanh MLP). Row-major arrays
 * over the lane's rows; a block of rows is a contiguous slice of each. */
typedef struct frozen {
    double *h[MLP_MAX_LAYERS + 1], *dp[MLP_MAX_LAYERS + 1], *c[MLP_MAX_LAYERS + 1],
        *dl[MLP_MAX_LAYERS + 2];
    double *oh;        /* n x k (cross-entropy p) or n (logistic q(1-q)); NULL for mse */
} frozen;

/* The cache is used up to this size (else every HVP recomputes the forward pass). */
#define CURV_CACHE_MAX ((size_t)768 << 20)

typedef struct lane {
    mlp_ws *mws;
    double *vfull;  /* P: the direction, embedded (zeros off the subset) */
    double *acc;    /* P: this lane's sum */
    double *tmp;    /* P: one block's product */
    double *rz, *rh;   /* with the cache: block rows x (sum of dims[1..]) */
    double *rd0, *rd1; /* with the cache: block rows x max dim */
} lane;

struct curv_ws {
    const curv_obj *o;
    size_t P, dim, d, yd;
    int T;
    lane *lanes;
    atomic_int stop;
    /* the current job of the lanes */
    const double *v;       /* dim (hvp) */
    double *H;             /* dim x dim (hessian) */
    atomic_size_t next_col;
    atomic_size_t done_cols;
    int mode;              /* 0 hvp rows, 1 hessian columns, 2 gradient rows, 3 freeze */
    frozen *fz;            /* NULL: no cache (too large) */
    int fz_filled;         /* the cache holds theta's values (filled by the first HVP) */
    double loss_sum;       /* gradient mode: per-lane sums are folded in lane order */
    double *lane_loss;     /* T */
    int rc;
    /* curv_hvp_multi_ws (allocated on its first call): the current chunk's qc directions
     * packed per layer (see mpack), the rows per block, the layers [mlo, mhi] that hold
     * the subset, and per-lane stacked buffers (mlane) */
    size_t mq, mrows, mlo, mhi;
    double *mva, *mvh;
    size_t mcap_dir, mcap_rows; /* the buffers' capacity: directions, rows x directions */
    struct mlane *ml;      /* T */
};

static void multi_free(curv_ws *w);

size_t curv_dim(const curv_obj *o)
{
    return o->p_hi - o->p_lo;
}

void curv_subset_last_layer(const mlp_arch *a, size_t *lo, size_t *hi)
{
    size_t wo, bo;
    mlp_layer_offsets(a, a->n_layers, &wo, &bo);
    *lo = wo;
    *hi = mlp_param_count(a);
}

static size_t ydim_of(const curv_obj *o)
{
    return (o->loss == LOSS_MSE && !o->y_is_class) ? o->arch->dims[o->arch->n_layers] : 1;
}

static int threads_of(const curv_obj *o)
{
    int t = o->threads > 0 ? o->threads : 1;
    if (t > CURV_MAX_THREADS)
        t = CURV_MAX_THREADS;
    return t;
}

static size_t block_rows(size_t n)
{
    return n < CURV_BLOCK ? (n ? n : 1) : CURV_BLOCK;
}

static size_t sum_dims(const mlp_arch *a, size_t *max_dim, size_t *hidden)
{
    size_t total = 0, md = 0, hid = 0;
    for (size_t l = 0; l <= a->n_layers; l++) {
        if (l)
            total += a->dims[l];
        if (l && l < a->n_layers)
            hid += a->dims[l];
        if (a->dims[l] > md)
            md = a->dims[l];
    }
    if (max_dim)
        *max_dim = md;
    if (hidden)
        *hidden = hid;
    return total;
}

/* Bytes of the cache of n rows: 4 arrays per hidden unit, 2 per output; SIZE_MAX when
 * the product overflows. */
static size_t frozen_bytes(const mlp_arch *a, size_t n)
{
    size_t hid, per, bytes;
    sum_dims(a, NULL, &hid);
    per = 4 * hid + 2 * a->dims[a->n_layers];
    if (tg_mul3_size(n, per, sizeof(double), &bytes))
        return SIZE_MAX;
    return bytes;
}

double curv_ws_bytes(const mlp_arch *a, size_t n, int threads)
{
    size_t md, total = sum_dims(a, &md, NULL);
    double rows = (double)block_rows(n), P = (double)mlp_param_count(a);
    /* per lane: the mlp workspace, 3 P-vectors and the R-pass scratch */
    double per = rows * (4.0 * (double)total + 4.0 * (double)md +
                         2.0 * (double)a->dims[a->n_layers]) + 4.0 * P +
                 rows * (2.0 * (double)total + 2.0 * (double)md);
    size_t fz = frozen_bytes(a, n);
    return 8.0 * (threads > 0 ? threads : 1) * per + (fz <= CURV_CACHE_MAX ? (double)fz : 0);
}

static void frozen_free(frozen *f, const mlp_arch *a)
{
    if (!f)
        return;
    for (size_t l = 0; l <= a->n_layers + 1 && l <= MLP_MAX_LAYERS + 1; l++) {
        if (l <= MLP_MAX_LAYERS) {
            free(f->h[l]);
            free(f->dp[l]);
            free(f->c[l]);
        }
        free(f->dl[l]);
    }
    free(f->oh);
    free(f);
}

static frozen *frozen_new(const curv_obj *o)
{
    const mlp_arch *a = o->arch;
    size_t L = a->n_layers, n = o->n, k = a->dims[L];
    frozen *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    for (size_t l = 1; l < L; l++) {
        f->h[l] = tg_alloc_array(n, a->dims[l], sizeof(double));
        f->dp[l] = tg_alloc_array(n, a->dims[l], sizeof(double));
        f->c[l] = tg_alloc_array(n, a->dims[l], sizeof(double));
        f->dl[l] = tg_alloc_array(n, a->dims[l], sizeof(double));
        if (!f->h[l] || !f->dp[l] || !f->c[l] || !f->dl[l])
            goto fail;
    }
    f->dl[L] = tg_alloc_array(n, k, sizeof(double));
    if (!f->dl[L])
        goto fail;
    if (o->loss != LOSS_MSE && !(f->oh = tg_alloc_array(n, o->loss == LOSS_LOGISTIC ? 1 : k,
                                                        sizeof(double))))
        goto fail;
    return f;
fail:
    frozen_free(f, a);
    return NULL;
}

static int lane_init(const curv_obj *o, lane *L, size_t P, int scratch)
{
    size_t bm = block_rows(o->n), md, total = sum_dims(o->arch, &md, NULL);
    L->mws = mlp_ws_new(o->arch, bm);
    L->vfull = tg_alloc_array(P, 1, sizeof(double));
    L->acc = tg_alloc_array(P, 1, sizeof(double));
    L->tmp = tg_alloc_array(P, 1, sizeof(double));
    if (!L->mws || !L->vfull || !L->acc || !L->tmp)
        return TG_ENOMEM;
    if (scratch) {
        L->rz = tg_alloc_array(bm, total, sizeof(double));
        L->rh = tg_alloc_array(bm, total, sizeof(double));
        L->rd0 = tg_alloc_array(bm, md, sizeof(double));
        L->rd1 = tg_alloc_array(bm, md, sizeof(double));
        if (!L->rz || !L->rh || !L->rd0 || !L->rd1)
            return TG_ENOMEM;
    }
    return TG_OK;
}

static void lane_deinit(lane *L)
{
    mlp_ws_free(L->mws);
    free(L->vfull);
    free(L->acc);
    free(L->tmp);
    free(L->rz);
    free(L->rh);
    free(L->rd0);
    free(L->rd1);
    memset(L, 0, sizeof *L);
}

void curv_ws_free(curv_ws *w)
{
    if (!w)
        return;
    if (w->lanes)
        for (int t = 0; t < w->T; t++)
            lane_deinit(&w->lanes[t]);
    multi_free(w);
    frozen_free(w->fz, w->o->arch);
    free(w->lanes);
    free(w->lane_loss);
    free(w);
}

/* A workspace with `lanes` lanes (0: as many as threads, at most one per block of rows). */
static curv_ws *ws_new(const curv_obj *o, int lanes)
{
    curv_ws *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o = o;
    w->P = mlp_param_count(o->arch);
    w->dim = curv_dim(o);
    w->d = o->arch->dims[0];
    w->yd = ydim_of(o);
    w->T = threads_of(o);
    if (!lanes) {
        /* No more lanes than blocks of rows: an idle lane would only cost memory. */
        size_t nb = (o->n + CURV_BLOCK - 1) / CURV_BLOCK;
        if (nb >= 1 && (size_t)w->T > nb)
            w->T = (int)nb;
    }
    int cache = !o->no_cache && frozen_bytes(o->arch, o->n) <= CURV_CACHE_MAX;
    w->lanes = calloc((size_t)w->T, sizeof *w->lanes);
    w->lane_loss = calloc((size_t)w->T, sizeof(double));
    if (!w->lanes || !w->lane_loss)
        goto fail;
    for (int t = 0; t < w->T; t++)
        if (lane_init(o, &w->lanes[t], w->P, cache))
            goto fail;
    if (cache && !(w->fz = frozen_new(o)))
        goto fail;
    w->fz_filled = 0;
    return w;
fail:
    curv_ws_free(w);
    return NULL;
}

curv_ws *curv_ws_new(const curv_obj *o)
{
    return ws_new(o, 0);
}

/* 1 when the lanes must stop; lane 0 (the calling thread) also polls prog. */
static int should_stop(curv_ws *w, int t)
{
    const curv_obj *o = w->o;
    if (atomic_load(&w->stop))
        return 1;
    if ((o->cancel && *o->cancel) || (t == 0 && tg_progress_report(o->prog, -1.0, NULL))) {
        atomic_store(&w->stop, 1);
        return 1;
    }
    return 0;
}

/* Elementwise kernels with restrict pointers, so that they vectorize at -O2. */
static void mul2(double *restrict out, const double *restrict a, const double *restrict b,
                 size_t n)
{
    for (size_t q = 0; q < n; q++)
        out[q] = a[q] * b[q];
}

static void axpy(double *restrict y, double a, const double *restrict x, size_t n)
{
    for (size_t q = 0; q < n; q++)
        y[q] += a * x[q];
}

/* y = y .* a + b .* c */
static void fma2(double *restrict y, const double *restrict a, const double *restrict b,
                 const double *restrict c, size_t n)
{
    for (size_t q = 0; q < n; q++)
        y[q] = y[q] * a[q] + b[q] * c[q];
}

/* Fills the cache for rows [lo, hi) (lane t's workspace): forward pass, the output's
 * delta and loss curvature, then the plain backward pass. Returns 1 when stopped. */
static int lane_freeze_rows(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    lane *L = &w->lanes[t];
    frozen *F = w->fz;
    size_t bs = L->mws->n_max, NL = a->n_layers, k = a->dims[NL];
    double inv_n = 1.0 / (double)o->n;
    for (size_t i = lo; i < hi; i += bs) {
        size_t m = hi - i < bs ? hi - i : bs;
        if (should_stop(w, t))
            return 1;
        mlp_forward(a, o->theta, o->x + i * w->d, m, L->mws, NULL);
        for (size_t l = 1; l < NL; l++) {
            size_t dl = a->dims[l];
            const double *z = mlp_ws_z(a, L->mws, l);
            memcpy(F->h[l] + i * dl, mlp_ws_h(a, L->mws, l), m * dl * sizeof(double));
            double *dp = F->dp[l] + i * dl;
            for (size_t q = 0; q < m * dl; q++)
                dp[q] = mlp_dphi(a->act, a->leaky_slope, z[q]);
        }
        const double *f = mlp_ws_z(a, L->mws, NL);
        double *g = F->dl[NL] + i * k;
        for (size_t r = 0; r < m; r++) {
            const double *fr = f + r * k, *yr = o->y + (i + r) * w->yd;
            mlp_loss_one(o->loss, fr, k, yr, o->y_is_class, g + r * k);
            for (size_t j = 0; j < k; j++)
                g[r * k + j] *= inv_n;
            if (o->loss == LOSS_CROSS_ENTROPY) {
                double mx = fr[0], sum = 0;
                double *p = F->oh + (i + r) * k;
                for (size_t j = 1; j < k; j++)
                    mx = fr[j] > mx ? fr[j] : mx;
                for (size_t j = 0; j < k; j++)
                    sum += (p[j] = exp(fr[j] - mx));
                for (size_t j = 0; j < k; j++)
                    p[j] /= sum;
            } else if (o->loss == LOSS_LOGISTIC) {
                double sg = yr[0] > 0.5 ? 1.0 : -1.0, q = 1.0 / (1.0 + exp(sg * fr[0]));
                F->oh[i + r] = q * (1.0 - q); /* q = sigmoid(-s f) */
            }
        }
        /* delta_{l-1} = u .* phi'(z_{l-1}), c_{l-1} = u .* phi''(z_{l-1}), u = s_l delta_l W_l */
        for (size_t l = NL; l >= 2; l--) {
            size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
            mlp_layer_offsets(a, l, &wo, &bo);
            const double *dlt = F->dl[l] + i * dout;
            double *u = L->rd0;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)din, (int)dout,
                        mlp_scale_w(a, l), dlt, (int)dout, o->theta + wo, (int)din, 0.0, u,
                        (int)din);
            const double *z = mlp_ws_z(a, L->mws, l - 1), *dp = F->dp[l - 1] + i * din;
            double *dn = F->dl[l - 1] + i * din, *c = F->c[l - 1] + i * din;
            for (size_t q = 0; q < m * din; q++) {
                dn[q] = u[q] * dp[q];
                c[q] = u[q] * mlp_d2phi(a->act, a->leaky_slope, z[q]);
            }
        }
    }
    return 0;
}

/* L->acc = the sum over rows [lo, hi) of H_loss v (v = L->vfull, already divided by n)
 * by the R-passes on the cache (Pearlmutter 1994: R{z_l} = s_l (V_l h_{l-1} + W_l
 * R{h_{l-1}}) + t_l R{b_l}, R{h_l} = phi'(z_l) R{z_l}; R{delta_{l-1}} = s_l (R{delta_l}
 * W_l + delta_l V_l) .* phi'(z_{l-1}) + c_{l-1} .* R{z_{l-1}}; H_W v = s_l (R{delta_l}^T
 * h_{l-1} + delta_l^T R{h_{l-1}})). Returns 1 when stopped. */
static int lane_hvp_frozen(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    lane *L = &w->lanes[t];
    const frozen *F = w->fz;
    const double *v = L->vfull, *theta = o->theta;
    size_t bs = L->mws->n_max, NL = a->n_layers, k = a->dims[NL];
    int hb = mlp_has_bias(a);
    double inv_n = 1.0 / (double)o->n;
    memset(L->acc, 0, w->P * sizeof(double));
    for (size_t i = lo; i < hi; i += bs) {
        size_t m = hi - i < bs ? hi - i : bs, off = 0;
        double *rz[MLP_MAX_LAYERS + 1] = {0}, *rh[MLP_MAX_LAYERS + 1] = {0};
        if (should_stop(w, t))
            return 1;
        for (size_t l = 1; l <= NL; l++) {
            size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
            mlp_layer_offsets(a, l, &wo, &bo);
            rz[l] = L->rz + off;
            rh[l] = L->rh + off;
            off += m * dout;
            const double *in = l == 1 ? o->x + i * w->d : F->h[l - 1] + i * din;
            double s = mlp_scale_w(a, l), tb = mlp_scale_b(a, l);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)dout, (int)din, s,
                        in, (int)din, v + wo, (int)din, 0.0, rz[l], (int)dout);
            if (l > 1)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)dout,
                            (int)din, s, rh[l - 1], (int)din, theta + wo, (int)din, 1.0, rz[l],
                            (int)dout);
            if (hb)
                for (size_t r = 0; r < m; r++)
                    axpy(rz[l] + r * dout, tb, v + bo, dout);
            if (l < NL)
                mul2(rh[l], F->dp[l] + i * dout, rz[l], m * dout);
        }
        /* R{delta_{L+1}} = (d2l/df2) R{f} / n */
        double *rd = L->rd0, *rn = L->rd1;
        const double *rf = rz[NL];
        for (size_t r = 0; r < m; r++) {
            const double *x = rf + r * k;
            double *out = rd + r * k;
            if (o->loss == LOSS_CROSS_ENTROPY) {
                const double *p = F->oh + (i + r) * k;
                double dot = 0;
                for (size_t j = 0; j < k; j++)
                    dot += p[j] * x[j];
                for (size_t j = 0; j < k; j++)
                    out[j] = p[j] * (x[j] - dot) * inv_n;
            } else if (o->loss == LOSS_LOGISTIC) {
                out[0] = F->oh[i + r] * x[0] * inv_n;
            } else {
                for (size_t j = 0; j < k; j++)
                    out[j] = x[j] * inv_n;
            }
        }
        for (size_t l = NL; l >= 1; l--) {
            size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
            mlp_layer_offsets(a, l, &wo, &bo);
            const double *in = l == 1 ? o->x + i * w->d : F->h[l - 1] + i * din;
            const double *dlt = F->dl[l] + i * dout;
            double s = mlp_scale_w(a, l), tb = mlp_scale_b(a, l);
            double *hw = L->acc + wo;
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)m, s,
                        rd, (int)dout, in, (int)din, 1.0, hw, (int)din);
            if (l > 1)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)m,
                            s, dlt, (int)dout, rh[l - 1], (int)din, 1.0, hw, (int)din);
            if (hb)
                for (size_t r = 0; r < m; r++)
                    axpy(L->acc + bo, tb, rd + r * dout, dout);
            if (l == 1)
                break;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)din, (int)dout, s,
                        rd, (int)dout, theta + wo, (int)din, 0.0, rn, (int)din);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)din, (int)dout, s,
                        dlt, (int)dout, v + wo, (int)din, 1.0, rn, (int)din);
            fma2(rn, F->dp[l - 1] + i * din, F->c[l - 1] + i * din, rz[l - 1], m * din);
            double *sw = rd;
            rd = rn;
            rn = sw;
        }
    }
    return 0;
}

/* ---- many directions at once (curv_hvp_multi_ws) -------------------------------------
 *
 * The R-passes of lane_hvp_frozen for a chunk of qc directions together. A block of m
 * rows holds each direction-dependent quantity in the layout "rows outside, directions
 * inside": R{z_l} is m x (qc dout), entry (r, j dout + u) = R{z_l}[r, u] for direction
 * j; the same memory read as (m qc) x dout has row r qc + j. With it, per layer,
 *   R{z_l} = s V_l h_{l-1} + t R{b_l} + s W_l R{h_{l-1}}:
 *       [s h_{l-1} | t] (m x (din + 1), the bias as a column) times Va_l = the qc
 *       directions' [V_l | R{b_l}]^T side by side ((din + 1) x (qc dout); stored so, not
 *       transposed in the GEMM, OpenBLAS takes its small-matrix kernels): one GEMM; then
 *       R{h_{l-1}} W_l^T as (m qc) x dout x din;
 *   R{delta_{l-1}} = s (R{delta_l} W_l + delta_l V_l) .* phi' + c .* R{z_{l-1}}:
 *       (m qc) x din x dout, and delta_l (m x dout) times Vh_l = the V_l side by side
 *       (dout x (qc din)): m x (qc din) x dout;
 *   H_W v, H_b v = s R{delta_l}^T h_{l-1} + s delta_l^T R{h_{l-1}}, t sum R{delta_l}:
 *       A1_l += R{delta_l}^T [s h_{l-1} | t] ((qc dout) x (din + 1): the directions'
 *       [H_W v | H_b v] stacked), inner dimension m;
 *       A2_l += s delta_l^T R{h_{l-1}} (dout x (qc din), side by side like Vh_l), folded
 *       into A1_l when the lane's rows are done;
 * and the elementwise parts (phi' and c .* R{z} terms, the loss curvature) loop over
 * (row, direction) with the row's cached values broadcast. The same sums as
 * lane_hvp_frozen (blocks of rows, then the lanes in lane order), grouped differently:
 * equal to rounding, not bitwise.
 *
 * Only the layers [mlo, mhi] that hold part of the subset have nonzero V_l: below mlo the
 * R-forward quantities vanish and the backward pass stops at mlo (the last gradient
 * needed); above mhi the V terms are skipped.
 *
 * Sizes (measured on bench/influence's network, 32-140-3 tanh, n 2000, 100 directions,
 * one lane; ms per product with 1 / 2 OpenBLAS threads): the single-direction path takes
 * 2.4 / 2.6-2.7. All 100 directions stacked over blocks of 112 rows (GEMMs of 112 x 14000
 * x 33) took 2.3-2.6 / 1.8-4.2: a block's arrays (12 MB each) leave the caches and the
 * elementwise passes become memory-bound. Blocks whose arrays (R{z}, R{h}, R{delta}) take
 * ~512 KiB (CURV_MULTI_BLOCK_BYTES; 28 rows x 4 directions there) ran 1.3 / 1.3: in cache,
 * and every GEMM (at most 28 x 560 x 33) within OpenBLAS's small-matrix kernels, which run
 * on the calling thread (64 rows x 4 took 1.7: its forward GEMM left them). 2 to 8
 * directions per chunk were within noise of each other; CURV_MULTI_DIRS = 4.
 *
 * Memory: per direction of a chunk, the packs Va and Vh (shared by the lanes) and per
 * lane the accumulators A1, A2: (1 + T)(P + PH) doubles (PH: the weights, no biases);
 * per lane and (row x direction) of a block, R{z}, R{h} (sum of dims[1..] each), two
 * R{delta} buffers (max dim each) and the scaled inputs. Within o->multi_budget (default
 * CURV_MULTI_BUDGET) unless one direction over one row exceeds it. */

#define CURV_MULTI_BUDGET ((size_t)64 << 20)
#define CURV_MULTI_DIRS 4
#define CURV_MULTI_BLOCK_BYTES ((size_t)512 << 10)

typedef struct mlane {
    double *rz, *rh;   /* rows x directions x (sum of dims[1..]) */
    double *rd0, *rd1; /* rows x directions x max dim */
    double *ina;       /* rows x sum over layers of (din + bias) */
    double *A1, *A2;   /* directions x PA, directions x PH (mpk) */
} mlane;

/* Offsets of layer l's block in a per-direction packing [W_l | b_l] (sum over the layers
 * below of dout (din + bias): *wa) and of W_l alone (sum of dout din: *wh); at l =
 * n_layers + 1 the totals PA (= P) and PH. */
static void mpk(const mlp_arch *a, size_t l, size_t *wa, size_t *wh)
{
    size_t x = 0, y = 0, hb = mlp_has_bias(a) ? 1 : 0;
    for (size_t k = 1; k < l; k++) {
        x += a->dims[k] * (a->dims[k - 1] + hb);
        y += a->dims[k] * a->dims[k - 1];
    }
    *wa = x;
    *wh = y;
}

/* Bytes per direction (packs and all lanes' accumulators) and per row x direction (all
 * lanes' block buffers, the scaled inputs counted per row x direction). */
static void multi_unit_bytes(const mlp_arch *a, int T, double *per_d, double *per_rd)
{
    size_t md, total = sum_dims(a, &md, NULL), pa, ph, ins = 0;
    mpk(a, a->n_layers + 1, &pa, &ph);
    for (size_t l = 1; l <= a->n_layers; l++)
        ins += a->dims[l - 1] + (mlp_has_bias(a) ? 1 : 0);
    *per_d = 8.0 * ((double)pa + (double)ph) * (1.0 + (double)T);
    *per_rd = 8.0 * (2.0 * (double)total + 2.0 * (double)md + (double)ins) * (double)T;
}

/* Directions per chunk and rows per block for q directions on T lanes (see above). */
static void multi_plan(const mlp_arch *a, size_t n, size_t q, int T, size_t budget,
                       size_t *qc_out, size_t *mb_out)
{
    double per_d, per_rd, B = (double)(budget ? budget : CURV_MULTI_BUDGET);
    multi_unit_bytes(a, T, &per_d, &per_rd);
    size_t rmax = block_rows(n), qc = q < CURV_MULTI_DIRS ? (q ? q : 1) : CURV_MULTI_DIRS;
    double per_c = per_d + per_rd;
    if ((double)qc * per_c > B) {
        double f = floor(B / per_c);
        qc = f < 1 ? 1 : (size_t)f;
    }
    size_t chunks = ((q ? q : 1) + qc - 1) / qc;
    qc = ((q ? q : 1) + chunks - 1) / chunks;
    /* rows: CURV_MULTI_BLOCK_BYTES of one lane's block arrays, within the budget */
    double r = (double)CURV_MULTI_BLOCK_BYTES * (double)T / (per_rd * (double)qc);
    double rb = (B - (double)qc * per_d) / ((double)qc * per_rd);
    if (rb < r)
        r = rb;
    *qc_out = qc;
    *mb_out = r >= (double)rmax ? rmax : r < 1 ? 1 : (size_t)r;
}

/* Lanes of a workspace on n rows (as ws_new with lanes = 0). */
static int ws_lanes(size_t n, int threads)
{
    int t = threads > 0 ? threads : 1;
    size_t nb = (n + CURV_BLOCK - 1) / CURV_BLOCK;
    if (t > CURV_MAX_THREADS)
        t = CURV_MAX_THREADS;
    if (nb >= 1 && (size_t)t > nb)
        t = (int)nb;
    return t;
}

double curv_hvp_multi_bytes(const mlp_arch *a, size_t n, size_t q, int threads, size_t budget)
{
    int T = ws_lanes(n, threads);
    size_t qc, mb;
    double per_d, per_rd;
    if (q == 0)
        return 0;
    multi_plan(a, n, q, T, budget, &qc, &mb);
    multi_unit_bytes(a, T, &per_d, &per_rd);
    return (double)qc * per_d + (double)qc * (double)mb * per_rd;
}

static void mlane_free(mlane *M)
{
    free(M->rz);
    free(M->rh);
    free(M->rd0);
    free(M->rd1);
    free(M->ina);
    free(M->A1);
    free(M->A2);
    memset(M, 0, sizeof *M);
}

static void multi_free(curv_ws *w)
{
    if (w->ml)
        for (int t = 0; t < w->T; t++)
            mlane_free(&w->ml[t]);
    free(w->ml);
    free(w->mva);
    free(w->mvh);
    w->ml = NULL;
    w->mva = w->mvh = NULL;
    w->mcap_dir = w->mcap_rows = 0;
}

/* Buffers for dirs directions and rd rows x directions (freed and reallocated). */
static int multi_alloc(curv_ws *w, size_t dirs, size_t rd)
{
    const mlp_arch *a = w->o->arch;
    size_t md, total = sum_dims(a, &md, NULL), pa, ph, ins = 0;
    mpk(a, a->n_layers + 1, &pa, &ph);
    for (size_t l = 1; l <= a->n_layers; l++)
        ins += a->dims[l - 1] + (mlp_has_bias(a) ? 1 : 0);
    multi_free(w);
    if (!(w->ml = calloc((size_t)w->T, sizeof *w->ml)))
        return TG_ENOMEM;
    w->mva = tg_alloc_array(dirs, pa, sizeof(double));
    w->mvh = tg_alloc_array(dirs, ph, sizeof(double));
    if (!w->mva || !w->mvh)
        goto fail;
    for (int t = 0; t < w->T; t++) {
        mlane *M = &w->ml[t];
        if (!(M->rz = tg_alloc_array(rd, total, sizeof(double))) ||
            !(M->rh = tg_alloc_array(rd, total, sizeof(double))) ||
            !(M->rd0 = tg_alloc_array(rd, md, sizeof(double))) ||
            !(M->rd1 = tg_alloc_array(rd, md, sizeof(double))) ||
            !(M->ina = tg_alloc_array(rd, ins, sizeof(double))) ||
            !(M->A1 = tg_alloc_array(dirs, pa, sizeof(double))) ||
            !(M->A2 = tg_alloc_array(dirs, ph, sizeof(double))))
            goto fail;
    }
    w->mcap_dir = dirs;
    w->mcap_rows = rd;
    return TG_OK;
fail:
    multi_free(w);
    return TG_ENOMEM;
}

/* [mlo, mhi]: the layers whose parameters meet [p_lo, p_hi) (dim >= 1). */
static void multi_layers(curv_ws *w)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    size_t lo = 0, hi = 0;
    for (size_t l = 1; l <= a->n_layers; l++) {
        size_t wo, bo, end;
        mlp_layer_offsets(a, l, &wo, &bo);
        end = wo + a->dims[l] * a->dims[l - 1] + (mlp_has_bias(a) ? a->dims[l] : 0);
        if (!lo && end > o->p_lo)
            lo = l;
        if (wo < o->p_hi)
            hi = l;
    }
    w->mlo = lo;
    w->mhi = hi;
}

/* The packs of the c directions V (c x dim) for layers [mlo, mhi]: zeros off the subset.
 * Parameter p of layer l (W_l[u, i] or b_l[u]) is Va_l[i or din, j dout + u] and
 * Vh_l[u, j din + i]. */
static void multi_pack(curv_ws *w, const double *V, size_t c)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    size_t hb = mlp_has_bias(a) ? 1 : 0;
    for (size_t l = w->mlo; l <= w->mhi; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l], nw = dout * din, wi = din + hb;
        size_t wo, bo, wa, wh;
        mlp_layer_offsets(a, l, &wo, &bo);
        mpk(a, l, &wa, &wh);
        double *va = w->mva + c * wa, *vh = w->mvh + c * wh;
        memset(va, 0, c * dout * wi * sizeof(double));
        memset(vh, 0, c * nw * sizeof(double));
        size_t p0 = wo > o->p_lo ? wo : o->p_lo, p1 = wo + nw < o->p_hi ? wo + nw : o->p_hi;
        for (size_t j = 0; p0 < p1 && j < c; j++) {
            const double *vj = V + j * w->dim;
            size_t u = (p0 - wo) / din, i = (p0 - wo) % din;
            for (size_t p = p0; p < p1; p++) {
                va[i * c * dout + j * dout + u] = vj[p - o->p_lo];
                vh[u * c * din + j * din + i] = vj[p - o->p_lo];
                if (++i == din)
                    i = 0, u++;
            }
        }
        if (!hb)
            continue;
        p0 = bo > o->p_lo ? bo : o->p_lo;
        p1 = bo + dout < o->p_hi ? bo + dout : o->p_hi;
        for (size_t j = 0; j < c; j++)
            for (size_t p = p0; p < p1; p++)
                va[din * c * dout + j * dout + p - bo] = V[j * w->dim + p - o->p_lo];
    }
}

/* Lane t's accumulators = the sums over rows [lo, hi) for the chunk's w->mq directions
 * (see above; the rows' weight 1/n is in the cached deltas and the loss curvature
 * step). Returns 1 when stopped. */
static int lane_multi_rows(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    mlane *M = &w->ml[t];
    const frozen *F = w->fz;
    const double *theta = o->theta;
    size_t qc = w->mq, bs = w->mrows, NL = a->n_layers, k = a->dims[NL];
    size_t l0 = w->mlo, l1 = w->mhi, pa, ph, hb = mlp_has_bias(a) ? 1 : 0;
    double inv_n = 1.0 / (double)o->n;
    mpk(a, NL + 1, &pa, &ph);
    memset(M->A1, 0, qc * pa * sizeof(double));
    memset(M->A2, 0, qc * ph * sizeof(double));
    for (size_t i = lo; i < hi; i += bs) {
        size_t m = hi - i < bs ? hi - i : bs, mq = m * qc, off = 0, ioff = 0;
        double *rz[MLP_MAX_LAYERS + 1] = {0}, *rh[MLP_MAX_LAYERS + 1] = {0};
        double *ina[MLP_MAX_LAYERS + 1] = {0};
        if (should_stop(w, t))
            return 1;
        for (size_t l = l0; l <= NL; l++) {
            size_t din = a->dims[l - 1], dout = a->dims[l], wi = din + hb, wo, bo, wa, wh;
            mlp_layer_offsets(a, l, &wo, &bo);
            mpk(a, l, &wa, &wh);
            rz[l] = M->rz + off;
            rh[l] = M->rh + off;
            off += mq * dout;
            double s = mlp_scale_w(a, l), tb = mlp_scale_b(a, l);
            if (l <= l1) {
                /* [s h_{l-1} | t], kept for the backward pass */
                const double *in = l == 1 ? o->x + i * w->d : F->h[l - 1] + i * din;
                double *x = ina[l] = M->ina + ioff;
                ioff += m * wi;
                for (size_t r = 0; r < m; r++) {
                    for (size_t u = 0; u < din; u++)
                        x[r * wi + u] = s * in[r * din + u];
                    if (hb)
                        x[r * wi + din] = tb;
                }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)(qc * dout),
                            (int)wi, 1.0, x, (int)wi, w->mva + qc * wa, (int)(qc * dout), 0.0,
                            rz[l], (int)(qc * dout));
            }
            if (l > l0)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mq, (int)dout,
                            (int)din, s, rh[l - 1], (int)din, theta + wo, (int)din,
                            l <= l1 ? 1.0 : 0.0, rz[l], (int)dout);
            if (l < NL) {
                const double *dp = F->dp[l] + i * dout;
                for (size_t r = 0; r < m; r++)
                    for (size_t j = 0; j < qc; j++)
                        mul2(rh[l] + (r * qc + j) * dout, dp + r * dout,
                             rz[l] + (r * qc + j) * dout, dout);
            }
        }
        /* R{delta_{L+1}} = (d2l/df2) R{f} / n, per row and direction */
        double *rd = M->rd0, *rn = M->rd1;
        const double *rf = rz[NL];
        for (size_t r = 0; r < m; r++) {
            const double *p = o->loss == LOSS_CROSS_ENTROPY ? F->oh + (i + r) * k : NULL;
            double hq = o->loss == LOSS_LOGISTIC ? F->oh[i + r] * inv_n : 0;
            for (size_t j = 0; j < qc; j++) {
                const double *x = rf + (r * qc + j) * k;
                double *out = rd + (r * qc + j) * k;
                if (o->loss == LOSS_CROSS_ENTROPY) {
                    double dot = 0;
                    for (size_t u = 0; u < k; u++)
                        dot += p[u] * x[u];
                    for (size_t u = 0; u < k; u++)
                        out[u] = p[u] * (x[u] - dot) * inv_n;
                } else if (o->loss == LOSS_LOGISTIC) {
                    out[0] = hq * x[0];
                } else {
                    for (size_t u = 0; u < k; u++)
                        out[u] = x[u] * inv_n;
                }
            }
        }
        for (size_t l = NL; l >= l0; l--) {
            size_t din = a->dims[l - 1], dout = a->dims[l], wi = din + hb, wo, bo, wa, wh;
            mlp_layer_offsets(a, l, &wo, &bo);
            mpk(a, l, &wa, &wh);
            const double *dlt = F->dl[l] + i * dout;
            double s = mlp_scale_w(a, l);
            if (l <= l1) {
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(qc * dout), (int)wi,
                            (int)m, 1.0, rd, (int)(qc * dout), ina[l], (int)wi, 1.0,
                            M->A1 + qc * wa, (int)wi);
                if (l > l0)
                    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout,
                                (int)(qc * din), (int)m, s, dlt, (int)dout, rh[l - 1],
                                (int)(qc * din), 1.0, M->A2 + qc * wh, (int)(qc * din));
            }
            if (l == l0)
                break;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mq, (int)din, (int)dout,
                        s, rd, (int)dout, theta + wo, (int)din, 0.0, rn, (int)din);
            if (l <= l1)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)(qc * din),
                            (int)dout, s, dlt, (int)dout, w->mvh + qc * wh, (int)(qc * din), 1.0,
                            rn, (int)(qc * din));
            const double *dp = F->dp[l - 1] + i * din, *cc = F->c[l - 1] + i * din;
            for (size_t r = 0; r < m; r++)
                for (size_t j = 0; j < qc; j++)
                    fma2(rn + (r * qc + j) * din, dp + r * din, cc + r * din,
                         rz[l - 1] + (r * qc + j) * din, din);
            double *sw = rd;
            rd = rn;
            rn = sw;
        }
    }
    /* A1_l += A2_l rearranged (side by side -> stacked) */
    for (size_t l = l0 + 1; l <= l1; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l], wi = din + hb, wa, wh;
        mpk(a, l, &wa, &wh);
        double *A1 = M->A1 + qc * wa;
        const double *A2 = M->A2 + qc * wh;
        for (size_t j = 0; j < qc; j++)
            for (size_t u = 0; u < dout; u++)
                axpy(A1 + (j * dout + u) * wi, 1.0, A2 + u * qc * din + j * din, din);
    }
    return 0;
}

/* HV (c x dim) = the lanes' sums (in lane order) on the subset + (l2 + damping) V. */
static void multi_gather(curv_ws *w, const double *V, size_t c, double *HV)
{
    const curv_obj *o = w->o;
    const mlp_arch *a = o->arch;
    double diag = o->l2 + o->damping;
    size_t hb = mlp_has_bias(a) ? 1 : 0, dim = w->dim;
    for (size_t l = w->mlo; l <= w->mhi; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l], nw = dout * din, wi = din + hb;
        size_t wo, bo, wa, wh;
        mlp_layer_offsets(a, l, &wo, &bo);
        mpk(a, l, &wa, &wh);
        for (size_t part = 0; part < 1 + hb; part++) {
            size_t base = part ? bo : wo, len = part ? dout : nw;
            size_t p0 = base > o->p_lo ? base : o->p_lo;
            size_t p1 = base + len < o->p_hi ? base + len : o->p_hi;
            for (size_t j = 0; p0 < p1 && j < c; j++) {
                double *hv = HV + j * dim;
                const double *vj = V + j * dim;
                size_t u = part ? p0 - bo : (p0 - wo) / din, i = part ? din : (p0 - wo) % din;
                for (size_t p = p0; p < p1; p++) {
                    size_t at = (j * dout + u) * wi + i;
                    double sum = w->ml[0].A1[c * wa + at];
                    for (int tt = 1; tt < w->T; tt++)
                        sum += w->ml[tt].A1[c * wa + at];
                    hv[p - o->p_lo] = sum + diag * vj[p - o->p_lo];
                    if (part)
                        u++;
                    else if (++i == din)
                        i = 0, u++;
                }
            }
        }
    }
}

/* L->acc = sum over rows [lo, hi) of the block HVPs against L->vfull, each weighted by
 * its rows / n (so the lanes' sums add up to H_loss v). Returns 1 when stopped. */
static int lane_hvp_rows(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    lane *L = &w->lanes[t];
    size_t bs = L->mws->n_max;
    if (w->fz)
        return lane_hvp_frozen(w, t, lo, hi);
    memset(L->acc, 0, w->P * sizeof(double));
    for (size_t i = lo; i < hi; i += bs) {
        size_t m = hi - i < bs ? hi - i : bs;
        if (should_stop(w, t))
            return 1;
        mlp_hvp(o->arch, o->theta, o->x + i * w->d, o->y + i * w->yd, o->y_is_class, m,
                o->loss, L->vfull, L->mws, L->tmp, NULL);
        double s = (double)m / (double)o->n;
        for (size_t p = 0; p < w->P; p++)
            L->acc[p] += s * L->tmp[p];
    }
    return 0;
}

/* As lane_hvp_rows for the gradient of the mean loss; w->lane_loss[t] = its loss sum
 * (weighted likewise). */
static int lane_grad_rows(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    lane *L = &w->lanes[t];
    size_t bs = L->mws->n_max;
    double ls = 0;
    memset(L->acc, 0, w->P * sizeof(double));
    for (size_t i = lo; i < hi; i += bs) {
        size_t m = hi - i < bs ? hi - i : bs;
        if (should_stop(w, t))
            return 1;
        double lv = mlp_loss_grad(o->arch, o->theta, o->x + i * w->d, o->y + i * w->yd,
                                  o->y_is_class, NULL, m, o->loss, L->mws, L->tmp);
        double s = (double)m / (double)o->n;
        ls += s * lv;
        for (size_t p = 0; p < w->P; p++)
            L->acc[p] += s * L->tmp[p];
    }
    w->lane_loss[t] = ls;
    return 0;
}

/* Row range of lane t: contiguous, in whole blocks where possible. */
static void lane_range(const curv_ws *w, int t, size_t *lo, size_t *hi)
{
    size_t n = w->o->n;
    *lo = n * (size_t)t / (size_t)w->T;
    *hi = n * (size_t)(t + 1) / (size_t)w->T;
}

/* Hessian mode: columns from the shared counter until none is left. */
static void lane_columns(curv_ws *w, int t)
{
    const curv_obj *o = w->o;
    lane *L = &w->lanes[t];
    size_t dim = w->dim;
    double diag = o->l2 + o->damping;
    memset(L->vfull, 0, w->P * sizeof(double));
    for (;;) {
        size_t j = atomic_fetch_add(&w->next_col, 1);
        if (j >= dim)
            return;
        L->vfull[o->p_lo + j] = 1.0;
        int stopped = lane_hvp_rows(w, t, 0, o->n);
        L->vfull[o->p_lo + j] = 0.0;
        if (stopped)
            return;
        double *row = w->H + j * dim;
        memcpy(row, L->acc + o->p_lo, dim * sizeof(double));
        row[j] += diag;
        size_t done = atomic_fetch_add(&w->done_cols, 1) + 1;
        if (t == 0) {
            char msg[64];
            snprintf(msg, sizeof msg, "hessian column %zu/%zu", done, dim);
            if (tg_progress_report(o->prog, (double)done / (double)dim, msg))
                atomic_store(&w->stop, 1);
        }
    }
}

static void lane_work(curv_ws *w, int t)
{
    size_t lo, hi;
    switch (w->mode) {
    case 0:
        lane_range(w, t, &lo, &hi);
        lane_hvp_rows(w, t, lo, hi);
        break;
    case 1:
        lane_columns(w, t);
        break;
    case 3:
        lane_range(w, t, &lo, &hi);
        lane_freeze_rows(w, t, lo, hi);
        break;
    case 4:
        lane_range(w, t, &lo, &hi);
        lane_multi_rows(w, t, lo, hi);
        break;
    default:
        lane_range(w, t, &lo, &hi);
        lane_grad_rows(w, t, lo, hi);
        break;
    }
}

typedef struct lane_arg {
    curv_ws *w;
    int t;
} lane_arg;

static void *lane_main(void *p)
{
    lane_arg *a = p;
    lane_work(a->w, a->t);
    return NULL;
}

/* Runs lane_work on every lane (lane 0 here). Returns TG_OK or TG_ECANCELLED. A lane
 * thread that cannot start runs on this thread afterwards (same result). */
static int run_lanes(curv_ws *w)
{
    pthread_t th[CURV_MAX_THREADS];
    lane_arg args[CURV_MAX_THREADS];
    int started[CURV_MAX_THREADS] = {0};
    atomic_store(&w->stop, 0);
    for (int t = 1; t < w->T; t++) {
        args[t] = (lane_arg){w, t};
        started[t] = pthread_create(&th[t], NULL, lane_main, &args[t]) == 0;
    }
    lane_work(w, 0);
    for (int t = 1; t < w->T; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            lane_work(w, t);
    }
    return atomic_load(&w->stop) ? TG_ECANCELLED : TG_OK;
}

/* Fills the cache on first use (its rows split over the lanes like an HVP's). */
static int ensure_frozen(curv_ws *w)
{
    if (!w->fz || w->fz_filled)
        return TG_OK;
    w->mode = 3;
    int rc = run_lanes(w);
    if (rc == TG_OK)
        w->fz_filled = 1;
    return rc;
}

int curv_hvp_ws(curv_ws *w, const double *v, double *Hv)
{
    const curv_obj *o = w->o;
    int rc0 = ensure_frozen(w);
    if (rc0)
        return rc0;
    for (int t = 0; t < w->T; t++) {
        double *vf = w->lanes[t].vfull;
        memset(vf, 0, w->P * sizeof(double));
        memcpy(vf + o->p_lo, v, w->dim * sizeof(double));
    }
    w->mode = 0;
    int rc = run_lanes(w);
    if (rc)
        return rc;
    double diag = o->l2 + o->damping;
    for (size_t i = 0; i < w->dim; i++) {
        double s = 0;
        for (int t = 0; t < w->T; t++)
            s += w->lanes[t].acc[o->p_lo + i];
        Hv[i] = s + diag * v[i];
    }
    return TG_OK;
}

int curv_hvp_multi_ws(curv_ws *w, const double *V, size_t q, double *HV)
{
    const curv_obj *o = w->o;
    if (q == 0 || w->dim == 0)
        return TG_OK;
    int rc = ensure_frozen(w);
    if (rc)
        return rc;
    if (!w->fz) {
        /* no cache: the products one by one (mlp_hvp per block) */
        for (size_t j = 0; j < q; j++)
            if ((rc = curv_hvp_ws(w, V + j * w->dim, HV + j * w->dim)))
                return rc;
        return TG_OK;
    }
    size_t qc, mb;
    multi_plan(o->arch, o->n, q, w->T, o->multi_budget, &qc, &mb);
    /* Reuse the buffers when they hold the chunk with at least half the planned rows
     * (then fewer rows than planned: the memory stays one plan's, within the budget). */
    if (w->ml && w->mcap_dir >= qc && 2 * (w->mcap_rows / qc) >= mb) {
        if (mb > w->mcap_rows / qc)
            mb = w->mcap_rows / qc;
    } else if (multi_alloc(w, qc, qc * mb)) {
        return TG_ENOMEM;
    }
    multi_layers(w);
    w->mrows = mb;
    for (size_t j0 = 0; j0 < q; j0 += qc) {
        size_t c = q - j0 < qc ? q - j0 : qc;
        w->mq = c;
        multi_pack(w, V + j0 * w->dim, c);
        w->mode = 4;
        if ((rc = run_lanes(w)))
            return rc;
        multi_gather(w, V + j0 * w->dim, c, HV + j0 * w->dim);
    }
    return TG_OK;
}

int curv_hvp(const curv_obj *o, const double *v, double *Hv)
{
    curv_ws *w = curv_ws_new(o);
    if (!w)
        return TG_ENOMEM;
    int rc = curv_hvp_ws(w, v, Hv);
    curv_ws_free(w);
    return rc;
}

int curv_op(void *ud, const double *x, double *y)
{
    return curv_hvp_ws(ud, x, y) ? 1 : 0;
}

int curv_block_op(void *ud, const double *X, size_t b, double *Y)
{
    return curv_hvp_multi_ws(ud, X, b, Y) ? 1 : 0;
}

double curv_hessian_bytes(const curv_obj *o)
{
    double d = (double)curv_dim(o);
    if (!o->no_struct && curv_struct_applies(o))
        return 8.0 * d * d + curv_struct_bytes(o);
    return 8.0 * d * d + curv_ws_bytes(o->arch, o->n, threads_of(o));
}

double curv_hessian_flops(const curv_obj *o)
{
    if (!o->no_struct && curv_struct_applies(o))
        return curv_struct_flops(o);
    return 2.0 * (double)o->n * (double)mlp_param_count(o->arch) * (double)curv_dim(o);
}

int curv_hessian(const curv_obj *o, double *H)
{
    if (!o->no_struct && curv_struct_applies(o))
        return curv_struct_hessian(o, H);
    /* Columns are whole-data HVPs: as many lanes as threads, whatever the row count. */
    curv_ws *w = ws_new(o, threads_of(o));
    if (!w)
        return TG_ENOMEM;
    int rc0 = ensure_frozen(w);
    if (rc0) {
        curv_ws_free(w);
        return rc0;
    }
    w->mode = 1;
    w->H = H;
    atomic_store(&w->next_col, 0);
    atomic_store(&w->done_cols, 0);
    int rc = run_lanes(w);
    if (rc == TG_OK) {
        size_t dim = w->dim;
        /* H v computed column by column is symmetric only to rounding: take the mean. */
        for (size_t i = 0; i < dim; i++)
            for (size_t j = i + 1; j < dim; j++) {
                double s = 0.5 * (H[i * dim + j] + H[j * dim + i]);
                H[i * dim + j] = s;
                H[j * dim + i] = s;
            }
    }
    curv_ws_free(w);
    return rc;
}

int curv_grad(const curv_obj *o, double *g, double *J_out)
{
    curv_ws *w = curv_ws_new(o);
    if (!w)
        return TG_ENOMEM;
    w->mode = 2;
    int rc = run_lanes(w);
    if (rc == TG_OK) {
        double loss = 0, sq = 0;
        for (int t = 0; t < w->T; t++)
            loss += w->lane_loss[t];
        for (size_t i = 0; i < w->dim; i++) {
            double s = 0;
            for (int t = 0; t < w->T; t++)
                s += w->lanes[t].acc[o->p_lo + i];
            g[i] = s + o->l2 * o->theta[o->p_lo + i];
        }
        for (size_t p = 0; p < w->P; p++)
            sq += o->theta[p] * o->theta[p];
        if (J_out)
            *J_out = loss + 0.5 * o->l2 * sq;
    }
    curv_ws_free(w);
    return rc;
}

/* ---- eigen helpers ----------------------------------------------------------------- */

int curv_eigvalsh(size_t n, double *A, double *w)
{
    int nn = (int)n, lda = nn > 0 ? nn : 1, info = 0, lwork = -1, liwork = -1, iw = 0;
    double wq = 0;
    if (n == 0)
        return TG_OK;
    dsyevd_("N", "U", &nn, A, &lda, w, &wq, &lwork, &iw, &liwork, &info);
    if (info)
        return TG_ENUMERICAL;
    lwork = (int)wq + 1;
    liwork = iw > 1 ? iw : 1;
    double *work = tg_alloc_array((size_t)lwork, 1, sizeof(double));
    int *iwork = tg_alloc_array((size_t)liwork, 1, sizeof(int));
    int rc = TG_OK;
    if (!work || !iwork) {
        rc = TG_ENOMEM;
        goto out;
    }
    dsyevd_("N", "U", &nn, A, &lda, w, work, &lwork, iwork, &liwork, &info);
    if (info)
        rc = TG_ENUMERICAL;
out:
    free(work);
    free(iwork);
    return rc;
}
