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
};

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
