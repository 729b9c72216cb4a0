/* curv_struct.c: the explicit Hessian of J from the network's structure (see curv.h,
 * "Structured Hessian"), for networks with at most one hidden layer and, at any depth,
 * for a subset inside the last layer. Notation (mlp.h): z1 = s1 W1 x + t1 b1, a1 =
 * phi(z1), f = s2 W2 a1 + t2 b2 (one hidden layer; with none, f = s1 W1 x + t1 b1 is the
 * "last layer" below); per row, g = dloss/df (k), Hf = d2loss/df2 (k x k), x~ = [s1 x;
 * t1] and a~ = [s2 a1; t2] (the derivatives of z1 and f w.r.t. a row of W and b; no last
 * entry without biases), M = s2 W2 diag(phi'(z1)) (k x h = df/dz1), r = s2 W2^T g.
 *
 * The Hessian of a row's loss is J^T Hf J + sum_c g_c grad^2 f_c (J = df/dtheta):
 *   (W1b1, W1b1)  entry [(j,m),(p,q)] = Hz[j,p] x~_m x~_q,
 *                 Hz = M^T Hf M + diag(phi''(z1) .* r)   (the pre-activation Hessian);
 *   (W2b2, W2b2)  entry [(c,m),(c',m')] = Hf[c,c'] a~_m a~_m'  (f is linear in W2, b2);
 *   (W2b2, W1b1)  entry [(c,m),(p,q)] = (Hf M)[c,p] a~_m x~_q
 *                                       + [m == p < h] s2 g_c phi'(z1_p) x~_q
 *                 (d2 f_c / dW2[c,m] dz1_p = s2 phi'(z1_p) [m == p]; b2 has none).
 * Each block is a sum over rows of products of two per-row factors, computed as one
 * GEMM over the rows per block of rows (accumulated with beta = 1), using both
 * symmetries of the first two: packed upper triangles of Hz and x~ x~^T (resp. Hf and
 * a~ a~^T), so the (W1b1, W1b1) GEMM is h(h+1)/2 x (d+1)(d+2)/2 with the row count as
 * inner dimension: about P1^2 n / 4 multiply-adds for the P1 = h (d+1) first-layer
 * parameters, against ~6 P n per HVP column of the column path. The (W1b1, W1b1)
 * accumulator R11 is Hz-major (row pk(j,p) holds the tri(na1) packed x~ x~^T sums), so
 * that the scatter reads one contiguous row of it per pair of hidden units (j, p) and
 * writes, for each m, the contiguous run of H's row (j, m) over unit p's weights. The
 * sums are divided by n and scattered into H in theta's order (mlp.h), then l2 + damping
 * go on the diagonal (as the column path does). H is exactly symmetric (each entry is
 * written from one packed value; the cross block's mirror is a tiled transpose of it).
 *
 * Threads: o->threads lanes take contiguous ranges of rows, each with its own buffers
 * and accumulators, summed in lane order (deterministic for a given count); lane 0 runs
 * on the calling thread and alone reports progress. The service calls curv_hessian with
 * one lane, so the GEMMs run on the calling thread with --blas-threads OpenBLAS threads.
 * Cancellation (o->cancel, or progress returning nonzero; progress is polled with
 * fraction -1 on the calling thread): checked before every row of a block's factors,
 * between pieces of each GEMM of at most CURV_SWORK multiply-adds (a block of rows of
 * d 99, h 200, 10 classes is ~2.6e10), and in the scatter once per hidden unit (or row
 * of the last layer's block, or 64-row band of the cross block's mirror).
 *
 * When: curv_struct_applies says yes when the build costs fewer operations than the
 * column path and its memory is at most 4x the column path's + 64 MiB (the accumulators
 * are ~P1^2/4 doubles whatever the subset: a small subset of a wide first layer would
 * take far more than its H). curv_struct_hessian itself computes any shape it can
 * represent (the tests force it on such cases).
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curv.h"

/* Rows per block (fewer when the per-row factors of a block would exceed
 * CURV_SBLOCK_BYTES; never fewer than CURV_SBLOCK_MIN). */
#define CURV_SBLOCK 256
#define CURV_SBLOCK_MIN 8
#define CURV_SBLOCK_BYTES ((double)(64 << 20))
/* The packed a~ a~^T of a block is built CURV_SCHUNK_BYTES at a time (columns of the
 * last-layer GEMM): with a wide last hidden layer it would be ~h^2/2 doubles per row. */
#define CURV_SCHUNK_BYTES ((double)(16 << 20))
#define CURV_SMAX_LANES 64
/* Multiply-adds of a GEMM piece between two cancellation checks: ~0.01 s at the ~5e10
 * multiply-adds/s measured on 2 cores, plus the first touch of the piece's accumulator
 * rows (on this VM, ~4 s per GB of fresh memory: the first block's R11 of d 99, h 200
 * is 812 MB). Pieces of ~450 rows of R11 run as fast as one GEMM (measured). */
#define CURV_SWORK 4e8
/* The structured build is refused when its bytes exceed CURV_SMEM_RATIO x the column
 * path's + CURV_SMEM_SLACK. */
#define CURV_SMEM_RATIO 4.0
#define CURV_SMEM_SLACK ((double)(64 << 20))
/* Doubles summed between two cancellation checks when adding lanes. */
#define CURV_SADD_CHUNK ((size_t)1 << 22)

/* The shapes of a structured build. Layer "1" is the first layer of a one-hidden-layer
 * network (need1: the subset meets it); "2" is the last layer (need2), whatever the
 * depth. */
typedef struct sshape {
    size_t L, d, h, k;     /* layers; input dim of layer 1; input dim of the last layer
                            * (h = d when L == 1); outputs */
    int hb;                /* biases */
    size_t na1, na2;       /* x~ and a~ lengths: d + hb, h + hb */
    size_t T1, S1, S2, Kp; /* h(h+1)/2, na1(na1+1)/2, na2(na2+1)/2, k(k+1)/2 */
    size_t HN, KHN;        /* h na1, k h na1 */
    size_t wo1, bo1, wo2, bo2;
    int need1, need2;
    size_t B;              /* rows per block */
    size_t C2;             /* columns of the packed a~ a~^T built at a time (<= S2) */
    double cost;           /* multiply-adds, about */
    double bytes;          /* peak bytes without H (all lanes) */
    int worth;             /* cheaper than the column path, memory within bounds */
} sshape;

static size_t tri(size_t n)
{
    return n * (n + 1) / 2;
}

/* Doubles per row of a block's factors. */
static double per_row(const sshape *s)
{
    double r = (double)s->na2 + (double)s->Kp + (double)s->C2 + (double)s->k;
    if (s->need1)
        r += (double)s->T1 + (double)s->S1 + (double)s->na1 + (double)s->k * (double)s->h +
             (double)s->h;
    if (s->need1 && s->need2)
        r += (double)s->HN;
    return r;
}

/* Doubles of the accumulated products. */
static double acc_doubles(const sshape *s)
{
    double r = 0;
    if (s->need1)
        r += (double)s->T1 * (double)s->S1;
    if (s->need2)
        r += (double)s->Kp * (double)s->S2;
    if (s->need1 && s->need2)
        r += (double)s->na2 * (double)s->KHN + (double)s->k * (double)s->HN;
    return r;
}

/* Lanes: o->threads, at most one per block of rows. */
static int lanes_of(const curv_obj *o, const sshape *s)
{
    int t = o->threads > 0 ? o->threads : 1;
    size_t nb = (o->n + s->B - 1) / s->B;
    if (t > CURV_SMAX_LANES)
        t = CURV_SMAX_LANES;
    if ((size_t)t > nb)
        t = (int)(nb ? nb : 1);
    return t;
}

/* Peak bytes of the build without H: per lane, the accumulators, a block's factors and
 * the block's mlp workspace. */
static double struct_bytes(const curv_obj *o, const sshape *s)
{
    size_t md = 0, total = 0;
    for (size_t l = 0; l <= o->arch->n_layers; l++) {
        if (l)
            total += o->arch->dims[l];
        if (o->arch->dims[l] > md)
            md = o->arch->dims[l];
    }
    double ws = (double)s->B * (4.0 * (double)total + 4.0 * (double)md + 2.0 * (double)s->k) +
                (double)mlp_param_count(o->arch);
    return 8.0 * lanes_of(o, s) * (acc_doubles(s) + (double)s->B * per_row(s) + ws);
}

/* Fills s for o; 0 when the structured build cannot represent o (s->worth: whether it
 * should be used, see the file's comment). */
static int shape_of(const curv_obj *o, sshape *s)
{
    const mlp_arch *a = o->arch;
    memset(s, 0, sizeof *s);
    s->L = a->n_layers;
    s->k = a->dims[s->L];
    s->hb = mlp_has_bias(a);
    size_t P = mlp_param_count(a), wl, bl;
    mlp_layer_offsets(a, s->L, &wl, &bl);
    if (o->p_hi <= o->p_lo || o->p_hi > P)
        return 0;
    if (o->p_lo >= wl) { /* inside the last layer: any depth */
        s->h = a->dims[s->L - 1];
        s->d = s->h;
        s->need2 = 1;
    } else if (s->L == 2) {
        s->d = a->dims[0];
        s->h = a->dims[1];
        s->need1 = 1;
        s->need2 = o->p_hi > wl;
    } else {
        return 0;
    }
    s->na1 = s->d + (size_t)s->hb;
    s->na2 = s->h + (size_t)s->hb;
    s->T1 = tri(s->h);
    s->S1 = tri(s->na1);
    s->S2 = tri(s->na2);
    s->Kp = tri(s->k);
    s->HN = s->h * s->na1;
    s->KHN = s->k * s->HN;
    if (s->L == 2) {
        mlp_layer_offsets(a, 1, &s->wo1, &s->bo1);
        mlp_layer_offsets(a, 2, &s->wo2, &s->bo2);
    } else {
        s->wo2 = wl;
        s->bo2 = bl;
    }
    /* CBLAS dimensions are ints */
    size_t big = s->T1 > s->S1 ? s->T1 : s->S1;
    big = big > s->S2 ? big : s->S2;
    big = big > s->KHN ? big : s->KHN;
    if (big > (size_t)INT_MAX || s->Kp > (size_t)INT_MAX || o->n > (size_t)INT_MAX)
        return 0;
    s->C2 = 0;
    double B = CURV_SBLOCK_BYTES / (8.0 * per_row(s));
    if (B > CURV_SBLOCK)
        B = CURV_SBLOCK;
    if (B < CURV_SBLOCK_MIN)
        B = CURV_SBLOCK_MIN;
    s->B = o->n < (size_t)B ? o->n : (size_t)B;
    double c2 = CURV_SCHUNK_BYTES / (8.0 * (double)s->B);
    s->C2 = c2 >= (double)s->S2 ? s->S2 : (size_t)(c2 > 64 ? c2 : 64);
    if (s->C2 > s->S2)
        s->C2 = s->S2;
    double pr = per_row(s);
    /* Multiply-adds of both builds (the column path: ~6 P per row per HVP, measured
     * order of magnitude); an arbitrary small subset of a wide first layer can favour
     * the columns. */
    double n = (double)o->n, dim = (double)(o->p_hi - o->p_lo);
    double cost = n * (pr + (double)s->S2); /* the per-row factors */
    if (s->need1)
        cost += n * (double)s->T1 * (double)s->S1 + n * (double)s->T1 * (double)s->k;
    if (s->need2)
        cost += n * (double)s->Kp * (double)s->S2;
    if (s->need1 && s->need2)
        cost += n * ((double)s->na2 + (double)s->k) * (double)s->KHN;
    s->cost = cost;
    /* memory: the accumulators do not shrink with the subset (32-[2000]-10 on [0, 3000)
     * would take 9.2 GB for a 72 MB H); against the column path's H and workspace
     * (curv_hessian_bytes with no_struct) */
    s->bytes = struct_bytes(o, s);
    double cols = 8.0 * dim * dim + curv_ws_bytes(a, o->n, o->threads > 0 ? o->threads : 1);
    s->worth = cost <= 6.0 * (double)P * n * dim &&
               8.0 * dim * dim + s->bytes <= CURV_SMEM_RATIO * cols + CURV_SMEM_SLACK;
    return 1;
}

int curv_struct_applies(const curv_obj *o)
{
    sshape s;
    return shape_of(o, &s) && s.worth;
}

double curv_struct_flops(const curv_obj *o)
{
    sshape s;
    return shape_of(o, &s) && s.worth ? 2.0 * s.cost : 0;
}

double curv_struct_bytes(const curv_obj *o)
{
    sshape s;
    return shape_of(o, &s) && s.worth ? s.bytes : 0;
}

/* Packed upper-triangle row offsets: off[a] = index of (a, a) in an n x n packing. */
static void tri_offsets(size_t n, size_t *off)
{
    size_t o = 0;
    for (size_t a = 0; a < n; a++) {
        off[a] = o;
        o += n - a;
    }
}

/* out (tri(n)) = the upper triangle of v v^T, row by row. */
static void pack_outer(const double *restrict v, size_t n, double *restrict out)
{
    for (size_t a = 0; a < n; a++) {
        double va = v[a];
        for (size_t b = a; b < n; b++)
            *out++ = va * v[b];
    }
}

/* out (cw) = the packed upper triangle of v v^T (n; row offsets off) from index c0. */
static void pack_outer_range(const double *restrict v, size_t n, const size_t *off, size_t c0,
                             size_t cw, double *restrict out)
{
    size_t a = 0;
    while (a + 1 < n && off[a + 1] <= c0)
        a++;
    size_t b = a + (c0 - off[a]), left = cw;
    while (left > 0 && a < n) {
        double va = v[a];
        for (; b < n && left > 0; b++, left--)
            *out++ = va * v[b];
        a++;
        b = a;
    }
}

/* The loss curvature Hf (k x k) and gradient g (k) of one row at output f. */
static void loss_curv(const curv_obj *o, const double *f, size_t k, const double *y,
                      double *g, double *Hf, double *p)
{
    mlp_loss_one(o->loss, f, k, y, o->y_is_class, g);
    memset(Hf, 0, k * k * sizeof(double));
    if (o->loss == LOSS_CROSS_ENTROPY) {
        double mx = f[0], sum = 0;
        for (size_t j = 1; j < k; j++)
            mx = f[j] > mx ? f[j] : mx;
        for (size_t j = 0; j < k; j++)
            sum += (p[j] = exp(f[j] - mx));
        for (size_t j = 0; j < k; j++)
            p[j] /= sum;
        for (size_t c = 0; c < k; c++) {
            for (size_t e = 0; e < k; e++)
                Hf[c * k + e] = -p[c] * p[e];
            Hf[c * k + c] += p[c];
        }
    } else if (o->loss == LOSS_LOGISTIC) {
        double sg = y[0] > 0.5 ? 1.0 : -1.0, q = 1.0 / (1.0 + exp(sg * f[0]));
        Hf[0] = q * (1.0 - q);
    } else {
        for (size_t c = 0; c < k; c++)
            Hf[c * k + c] = 1.0;
    }
}

typedef struct sbuf {
    mlp_ws *mws;
    /* per-block factors (B rows each) */
    double *Ap, *Hfp, *at, *g;        /* na2, Kp, S2... see struct_alloc */
    double *Hzp, *Xp, *xt, *HfM, *dp; /* ... tri(h), tri(na1), na1, k h, h */
    double *V;                        /* B x h na1: one cross factor at a time */
    /* per-row scratch */
    double *Hf, *prob, *M, *d2, *r;
    /* accumulators */
    double *R11, *R22, *R21, *G21;
    size_t *off_h, *off_n1, *off_n2, *off_k;
} sbuf;

static void sbuf_free(sbuf *b)
{
    mlp_ws_free(b->mws);
    double *ds[] = {b->Ap, b->Hfp, b->at, b->g, b->Hzp, b->Xp, b->V, b->Hf, b->prob,
                    b->xt, b->M, b->HfM, b->dp, b->d2, b->r, b->R11, b->R22, b->R21, b->G21};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
        free(ds[i]);
    free(b->off_h);
    free(b->off_n1);
    free(b->off_n2);
    free(b->off_k);
    memset(b, 0, sizeof *b);
}

/* calloc of a x b doubles (at least one), NULL on overflow. */
static double *zarr(size_t a, size_t b)
{
    size_t n;
    if (tg_mul_size(a, b, &n))
        return NULL;
    return calloc(n ? n : 1, sizeof(double));
}

static int sbuf_alloc(const curv_obj *o, const sshape *s, sbuf *b)
{
    size_t B = s->B, k = s->k;
    memset(b, 0, sizeof *b);
    b->mws = mlp_ws_new(o->arch, B);
    b->Ap = zarr(B, s->C2);
    b->Hfp = zarr(B, s->Kp);
    b->at = zarr(B, s->na2);
    b->g = zarr(B, k);
    b->Hf = zarr(k, k);
    b->prob = zarr(k, 1);
    b->off_n2 = calloc(s->na2 ? s->na2 : 1, sizeof(size_t));
    b->off_k = calloc(k ? k : 1, sizeof(size_t));
    b->R22 = s->need2 ? zarr(s->Kp, s->S2) : zarr(1, 1);
    if (!b->mws || !b->Ap || !b->Hfp || !b->at || !b->g || !b->Hf || !b->prob ||
        !b->off_n2 || !b->off_k || !b->R22)
        return TG_ENOMEM;
    tri_offsets(s->na2, b->off_n2);
    tri_offsets(k, b->off_k);
    if (!s->need1)
        return TG_OK;
    b->Hzp = zarr(B, s->T1);
    b->Xp = zarr(B, s->S1);
    b->xt = zarr(B, s->na1);
    b->M = zarr(k, s->h);
    b->HfM = zarr(B, k * s->h);
    b->dp = zarr(B, s->h);
    b->d2 = zarr(s->h, 1);
    b->r = zarr(s->h, 1);
    b->R11 = zarr(s->S1, s->T1);
    b->off_h = calloc(s->h ? s->h : 1, sizeof(size_t));
    b->off_n1 = calloc(s->na1 ? s->na1 : 1, sizeof(size_t));
    if (!b->Hzp || !b->Xp || !b->xt || !b->M || !b->HfM || !b->dp || !b->d2 || !b->r ||
        !b->R11 || !b->off_h || !b->off_n1)
        return TG_ENOMEM;
    tri_offsets(s->h, b->off_h);
    tri_offsets(s->na1, b->off_n1);
    if (!s->need2)
        return TG_OK;
    b->V = zarr(B, s->HN);
    b->R21 = zarr(s->na2, s->KHN);
    b->G21 = zarr(k, s->HN);
    if (!b->V || !b->R21 || !b->G21)
        return TG_ENOMEM;
    return TG_OK;
}

/* A lane: rows [lo, hi) into its own buffers and accumulators; lane 0 runs on the
 * calling thread and is the only one that reports progress. */
typedef struct slane {
    const curv_obj *o;
    const sshape *s;
    sbuf b;
    size_t lo, hi;
    int t;
    atomic_int *stop;
} slane;

/* Nonzero when the lane must stop: another lane stopped, o->cancel is set, or (lane 0
 * only) the progress callback, polled with fraction -1, says so. */
static int lane_stopped(slane *L)
{
    const curv_obj *o = L->o;
    if (atomic_load(L->stop))
        return 1;
    if ((o->cancel && *o->cancel) || (L->t == 0 && tg_progress_report(o->prog, -1.0, NULL))) {
        atomic_store(L->stop, 1);
        return 1;
    }
    return 0;
}

/* The factors of rows [i, i + m) into L->b (row r of each block array). Nonzero when
 * stopped (checked before each row). */
static int block_factors(slane *ln, size_t i, size_t m)
{
    const curv_obj *o = ln->o;
    const sshape *s = ln->s;
    sbuf *b = &ln->b;
    const mlp_arch *a = o->arch;
    size_t k = s->k, h = s->h, L = s->L, d0 = a->dims[0];
    size_t yd = (o->loss == LOSS_MSE && !o->y_is_class) ? k : 1;
    const double *x = o->x + i * d0;
    mlp_forward(a, o->theta, x, m, b->mws, NULL);
    const double *f = mlp_ws_z(a, b->mws, L), *in = mlp_ws_input(a, b->mws, x, L);
    double s2 = mlp_scale_w(a, L), t2 = mlp_scale_b(a, L);
    const double *z1 = s->need1 ? mlp_ws_z(a, b->mws, 1) : NULL;
    double s1 = mlp_scale_w(a, 1), t1 = mlp_scale_b(a, 1);
    const double *W2 = o->theta + s->wo2;
    for (size_t r = 0; r < m; r++) {
        if (lane_stopped(ln))
            return 1;
        double *g = b->g + r * k, *at = b->at + r * s->na2;
        loss_curv(o, f + r * k, k, o->y + (i + r) * yd, g, b->Hf, b->prob);
        /* the last layer: a~ and the packed Hf and a~ a~^T */
        for (size_t q = 0; q < h; q++)
            at[q] = s2 * in[r * h + q];
        if (s->hb)
            at[h] = t2;
        double *hp = b->Hfp + r * s->Kp;
        for (size_t c = 0; c < k; c++)
            for (size_t e = c; e < k; e++)
                *hp++ = b->Hf[c * k + e];
        if (!s->need1)
            continue;
        /* the first layer (L == 2, h hidden units) */
        const double *zr = z1 + r * h, *xr = x + r * s->d;
        double *xt = b->xt + r * s->na1, *dp = b->dp + r * h, *HfM = b->HfM + r * k * h;
        for (size_t q = 0; q < s->d; q++)
            xt[q] = s1 * xr[q];
        if (s->hb)
            xt[s->d] = t1;
        pack_outer(xt, s->na1, b->Xp + r * s->S1);
        for (size_t p = 0; p < h; p++) {
            dp[p] = mlp_dphi(a->act, a->leaky_slope, zr[p]);
            b->d2[p] = mlp_d2phi(a->act, a->leaky_slope, zr[p]);
            b->r[p] = 0;
        }
        for (size_t c = 0; c < k; c++) {
            const double *w = W2 + c * h;
            double *Mc = b->M + c * h;
            for (size_t p = 0; p < h; p++) {
                Mc[p] = s2 * w[p] * dp[p];
                b->r[p] += s2 * w[p] * g[c];
            }
        }
        for (size_t c = 0; c < k; c++) {
            double *hm = HfM + c * h;
            memset(hm, 0, h * sizeof(double));
            for (size_t e = 0; e < k; e++) {
                double v = b->Hf[c * k + e];
                if (v == 0)
                    continue;
                const double *Me = b->M + e * h;
                for (size_t p = 0; p < h; p++)
                    hm[p] += v * Me[p];
            }
        }
        /* packed Hz = M^T (Hf M) + diag(phi'' .* r) */
        double *hz = b->Hzp + r * s->T1;
        for (size_t j = 0; j < h; j++) {
            double *out = hz + b->off_h[j] - j; /* out[p] for p >= j */
            for (size_t p = j; p < h; p++)
                out[p] = 0;
            for (size_t c = 0; c < k; c++) {
                double mj = b->M[c * h + j];
                const double *hm = HfM + c * h;
                if (mj == 0)
                    continue;
                for (size_t p = j; p < h; p++)
                    out[p] += mj * hm[p];
            }
            out[j] += b->d2[j] * b->r[j];
        }
    }
    return 0;
}

/* C (M x N, row stride ldc) += A^T Bm, row-major A (K x M, lda) and Bm (K x N, ldb), in
 * pieces of at most about CURV_SWORK multiply-adds (ranges of rows of C, or of columns
 * when C is wider than tall), with a stop check before each. Nonzero when stopped. */
static int gemm_tn(slane *L, size_t M, size_t N, size_t K, const double *A, size_t lda,
                   const double *Bm, size_t ldb, double *C, size_t ldc)
{
    int by_rows = M >= N;
    size_t along = by_rows ? M : N;
    double per = (double)K * (double)(by_rows ? N : M); /* multiply-adds per row/column */
    double np = per > 0 ? ceil((double)along * per / CURV_SWORK) : 1;
    size_t pieces = np < 1 ? 1 : (np > (double)along ? along : (size_t)np);
    size_t step = (along + pieces - 1) / pieces;
    for (size_t s0 = 0; s0 < along; s0 += step) {
        size_t w = along - s0 < step ? along - s0 : step;
        if (lane_stopped(L))
            return 1;
        if (by_rows)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)w, (int)N, (int)K, 1.0,
                        A + s0, (int)lda, Bm, (int)ldb, 1.0, C + s0 * ldc, (int)ldc);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)M, (int)w, (int)K, 1.0,
                        A, (int)lda, Bm + s0, (int)ldb, 1.0, C + s0, (int)ldc);
    }
    return 0;
}

/* The products of one block's factors (m rows), added to the accumulators. Nonzero when
 * stopped. */
static int block_gemms(slane *L, size_t m)
{
    const sshape *s = L->s;
    sbuf *b = &L->b;
    if (s->need2)
        for (size_t c0 = 0; c0 < s->S2; c0 += s->C2) {
            size_t cw = s->S2 - c0 < s->C2 ? s->S2 - c0 : s->C2;
            for (size_t r = 0; r < m; r++)
                pack_outer_range(b->at + r * s->na2, s->na2, b->off_n2, c0, cw, b->Ap + r * cw);
            if (gemm_tn(L, s->Kp, cw, m, b->Hfp, s->Kp, b->Ap, cw, b->R22 + c0, s->S2))
                return 1;
        }
    /* R11 (tri(h) x tri(na1)) += Hz^T X over the block's rows */
    if (s->need1 && gemm_tn(L, s->T1, s->S1, m, b->Hzp, s->T1, b->Xp, s->S1, b->R11, s->S1))
        return 1;
    if (!(s->need1 && s->need2))
        return 0;
    /* the cross block, one factor at a time in V (rows r, entries (p, q)): phi'(z1_p) x~_q
     * against g, then (Hf M)[c,p] x~_q against a~ for each output c */
    size_t h = s->h, na = s->na1, k = s->k;
    for (size_t c = 0; c <= k; c++) {
        if (lane_stopped(L))
            return 1;
        for (size_t r = 0; r < m; r++) {
            const double *xt = b->xt + r * na;
            const double *u = c == 0 ? b->dp + r * h : b->HfM + r * k * h + (c - 1) * h;
            double *out = b->V + r * s->HN;
            for (size_t p = 0; p < h; p++) {
                double v = u[p];
                for (size_t q = 0; q < na; q++)
                    out[p * na + q] = v * xt[q];
            }
        }
        if (c == 0 ? gemm_tn(L, k, s->HN, m, b->g, k, b->V, s->HN, b->G21, s->HN)
                   : gemm_tn(L, s->na2, s->HN, m, b->at, s->na2, b->V, s->HN,
                             b->R21 + (c - 1) * s->HN, s->KHN))
            return 1;
    }
    return 0;
}

static size_t pk(const size_t *off, size_t a, size_t c)
{
    return a <= c ? off[a] + (c - a) : off[c] + (a - c);
}

/* The columns of unit p of a layer (`in` inputs, W at wo, b at bo when hb) that lie in
 * [lo, hi): its weights' inputs q in [*qa, *qb) (empty when *qa == *qb); returns 1 when
 * its bias does. */
static int unit_cols(size_t wo, size_t bo, int hb, size_t in, size_t p, size_t lo, size_t hi,
                     size_t *qa, size_t *qb)
{
    size_t c0 = wo + p * in, c1 = c0 + in;
    size_t a = lo > c0 ? lo : c0, e = hi < c1 ? hi : c1;
    *qa = a < e ? a - c0 : 0;
    *qb = a < e ? e - c0 : 0;
    return hb && bo + p >= lo && bo + p < hi;
}

/* out[q - qa] = sc S[m][q] for q in [qa, qb), S symmetric with its upper triangle
 * packed in R (row offsets off; off[m] >= m). */
static void unpack_row(const double *R, const size_t *off, size_t m, size_t qa, size_t qb,
                       double sc, double *restrict out)
{
    size_t q = qa;
    for (; q < qb && q < m; q++)
        out[q - qa] = sc * R[off[q] + (m - q)];
    const double *Rm = R + (off[m] - m);
    for (; q < qb; q++)
        out[q - qa] = sc * Rm[q];
}

/* Nonzero when the scatter (on the calling thread) must stop. */
static int scatter_stopped(const curv_obj *o)
{
    return (o->cancel && *o->cancel) || tg_progress_report(o->prog, -1.0, NULL);
}

/* H (dim x dim) from the accumulators, times 1/n, on [p_lo, p_hi); cancellation checked
 * once per row of the last layer's block, per hidden unit of the first layer's and the
 * cross block, per 64-row band of the cross block's mirror. TG_OK or TG_ECANCELLED.
 * Rows and columns of a unit (j, m), m over the layer's inputs and its bias (m = in),
 * are at wo + j in + m and bo + j (pidx). */
static int scatter(const curv_obj *o, const sshape *s, const sbuf *b, double *H)
{
    size_t lo = o->p_lo, hi = o->p_hi, dim = hi - lo, k = s->k, h = s->h;
    double inv_n = 1.0 / (double)o->n, s2 = mlp_scale_w(o->arch, s->L);
    int hb = s->hb;
    size_t ma, mb, qa, qb;
    /* (W2b2, W2b2): row (c, m), the columns of output e from row pk(c, e) of R22 */
    if (s->need2)
        for (size_t c = 0; c < k; c++) {
            int rb = unit_cols(s->wo2, s->bo2, hb, h, c, lo, hi, &ma, &mb);
            for (size_t m = ma; m < mb + (size_t)rb; m++) {
                if (m == mb)
                    m = h; /* the bias row */
                if (scatter_stopped(o))
                    return TG_ECANCELLED;
                size_t ri = m < h ? s->wo2 + c * h + m : s->bo2 + c;
                double *row = H + (ri - lo) * dim;
                for (size_t e = 0; e < k; e++) {
                    const double *R = b->R22 + pk(b->off_k, c, e) * s->S2;
                    int cb = unit_cols(s->wo2, s->bo2, hb, h, e, lo, hi, &qa, &qb);
                    if (qa < qb)
                        unpack_row(R, b->off_n2, m, qa, qb, inv_n,
                                   row + (s->wo2 + e * h + qa - lo));
                    if (cb)
                        row[s->bo2 + e - lo] = inv_n * R[pk(b->off_n2, m, h)];
                }
            }
        }
    if (!s->need1)
        return TG_OK;
    /* (W1b1, W1b1): for each pair of hidden units (j, p), row pk(j, p) of R11 (tri(na1))
     * gives the block of rows (j, m) and columns (p, q); each row's run over unit p's
     * weights is written contiguously */
    size_t d = s->d, na = s->na1;
    for (size_t j = 0; j < h; j++) {
        if (scatter_stopped(o))
            return TG_ECANCELLED;
        int rb = unit_cols(s->wo1, s->bo1, hb, d, j, lo, hi, &ma, &mb);
        if (ma == mb && !rb)
            continue;
        for (size_t p = 0; p < h; p++) {
            const double *R = b->R11 + pk(b->off_h, j, p) * s->S1;
            int cb = unit_cols(s->wo1, s->bo1, hb, d, p, lo, hi, &qa, &qb);
            if (qa == qb && !cb)
                continue;
            for (size_t m = ma; m < mb + (size_t)rb; m++) {
                if (m == mb)
                    m = d;
                size_t ri = m < d ? s->wo1 + j * d + m : s->bo1 + j;
                double *row = H + (ri - lo) * dim;
                if (qa < qb)
                    unpack_row(R, b->off_n1, m, qa, qb, inv_n, row + (s->wo1 + p * d + qa - lo));
                if (cb)
                    row[s->bo1 + p - lo] = inv_n * R[b->off_n1[m] + (d - m)];
            }
        }
    }
    if (!s->need2)
        return TG_OK;
    /* (W2b2, W1b1): row (c, m) of the last layer, the columns (p, q) of the first from
     * R21's row m (+ s2 G21 on the columns of unit p = m); then the mirror */
    for (size_t m = 0; m < s->na2; m++) {
        if (scatter_stopped(o))
            return TG_ECANCELLED;
        for (size_t c = 0; c < k; c++) {
            size_t ri = m < h ? s->wo2 + c * h + m : s->bo2 + c;
            if (ri < lo || ri >= hi)
                continue;
            double *row = H + (ri - lo) * dim;
            const double *R = b->R21 + m * s->KHN + c * s->HN;
            const double *G = b->G21 + c * s->HN;
            for (size_t p = 0; p < h; p++) {
                const double *Rp = R + p * na, *Gp = G + p * na;
                int cb = unit_cols(s->wo1, s->bo1, hb, d, p, lo, hi, &qa, &qb);
                double *out = qa < qb ? row + (s->wo1 + p * d + qa - lo) : NULL;
                if (m == p) {
                    for (size_t q = qa; q < qb; q++)
                        out[q - qa] = inv_n * (Rp[q] + s2 * Gp[q]);
                    if (cb)
                        row[s->bo1 + p - lo] = inv_n * (Rp[d] + s2 * Gp[d]);
                } else {
                    for (size_t q = qa; q < qb; q++)
                        out[q - qa] = inv_n * Rp[q];
                    if (cb)
                        row[s->bo1 + p - lo] = inv_n * Rp[d];
                }
            }
        }
    }
    /* the mirror: the last layer's rows [r0, r1) x the first layer's columns [0, c1) of
     * H (theta: W1 b1 W2 b2, so both are contiguous), transposed in 64 x 64 tiles */
    size_t r0 = s->wo2 - lo, r1 = dim, c1 = s->wo2 - lo;
    for (size_t rt = r0; rt < r1; rt += 64) {
        if (scatter_stopped(o))
            return TG_ECANCELLED;
        size_t re = r1 - rt < 64 ? r1 : rt + 64;
        for (size_t ct = 0; ct < c1; ct += 64) {
            size_t ce = c1 - ct < 64 ? c1 : ct + 64;
            for (size_t c = ct; c < ce; c++) {
                double *dst = H + c * dim;
                for (size_t r = rt; r < re; r++)
                    dst[r] = H[r * dim + c];
            }
        }
    }
    return TG_OK;
}

static void *lane_rows(void *arg)
{
    slane *L = arg;
    const curv_obj *o = L->o;
    size_t nb = (L->hi - L->lo + L->s->B - 1) / L->s->B, done = 0;
    for (size_t i = L->lo; i < L->hi; i += L->s->B, done++) {
        size_t m = L->hi - i < L->s->B ? L->hi - i : L->s->B;
        if (atomic_load(L->stop))
            return NULL;
        if (o->cancel && *o->cancel) {
            atomic_store(L->stop, 1);
            return NULL;
        }
        if (L->t == 0) {
            char msg[64];
            snprintf(msg, sizeof msg, "hessian rows %zu/%zu", i - L->lo, L->hi - L->lo);
            if (tg_progress_report(o->prog, 0.95 * (double)done / (double)nb, msg)) {
                atomic_store(L->stop, 1);
                return NULL;
            }
        }
        if (block_factors(L, i, m) || block_gemms(L, m))
            return NULL;
    }
    return NULL;
}

/* a += b, n doubles, with a cancellation check every CURV_SADD_CHUNK. Nonzero when
 * stopped. */
static int add_to(const curv_obj *o, double *restrict a, const double *restrict b, size_t n)
{
    for (size_t i0 = 0; i0 < n; i0 += CURV_SADD_CHUNK) {
        if (scatter_stopped(o))
            return 1;
        size_t e = n - i0 < CURV_SADD_CHUNK ? n : i0 + CURV_SADD_CHUNK;
        for (size_t i = i0; i < e; i++)
            a[i] += b[i];
    }
    return 0;
}

int curv_struct_hessian(const curv_obj *o, double *H)
{
    sshape s;
    slane lanes[CURV_SMAX_LANES];
    pthread_t th[CURV_SMAX_LANES];
    int started[CURV_SMAX_LANES] = {0};
    atomic_int stop;
    if (!shape_of(o, &s))
        return TG_EINVAL;
    int T = lanes_of(o, &s), rc = TG_OK;
    atomic_init(&stop, 0);
    memset(lanes, 0, sizeof lanes);
    for (int t = 0; t < T; t++) {
        lanes[t] = (slane){.o = o, .s = &s, .t = t, .stop = &stop,
                           .lo = o->n * (size_t)t / (size_t)T,
                           .hi = o->n * (size_t)(t + 1) / (size_t)T};
        if ((rc = sbuf_alloc(o, &s, &lanes[t].b)))
            goto out;
    }
    for (int t = 1; t < T; t++)
        started[t] = pthread_create(&th[t], NULL, lane_rows, &lanes[t]) == 0;
    lane_rows(&lanes[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            lane_rows(&lanes[t]);
    }
    if (atomic_load(&stop) || (o->cancel && *o->cancel) ||
        tg_progress_report(o->prog, 0.95, "hessian assembly")) {
        rc = TG_ECANCELLED;
        goto out;
    }
    /* the lanes' sums, in lane order */
    sbuf *b0 = &lanes[0].b;
    for (int t = 1; t < T; t++) {
        const sbuf *bt = &lanes[t].b;
        if ((s.need2 && add_to(o, b0->R22, bt->R22, s.Kp * s.S2)) ||
            (s.need1 && add_to(o, b0->R11, bt->R11, s.S1 * s.T1)) ||
            (s.need1 && s.need2 &&
             (add_to(o, b0->R21, bt->R21, s.na2 * s.KHN) ||
              add_to(o, b0->G21, bt->G21, s.k * s.HN)))) {
            rc = TG_ECANCELLED;
            goto out;
        }
    }
    if ((rc = scatter(o, &s, b0, H)))
        goto out;
    size_t dim = o->p_hi - o->p_lo;
    for (size_t q = 0; q < dim; q++)
        H[q * dim + q] += o->l2 + o->damping;
    if (tg_progress_report(o->prog, 1.0, "hessian done"))
        rc = TG_ECANCELLED;
out:
    for (int t = 0; t < T; t++)
        sbuf_free(&lanes[t].b);
    return rc;
}
