/* quad.c: the Hermite (Mehler) series with tail bounds and the nested-rule fallback
 * of quad.h. Notation: z, w standard normal; u = s1 z; h_k = He_k / sqrt(k!) (the
 * orthonormal probabilists' Hermite polynomials, h_{k+1} = (z h_k - sqrt(k) h_{k-1}) /
 * sqrt(k + 1)); Mehler's formula E[h_j(x) h_k(y)] = delta_jk rho^k for standard normals
 * of correlation rho gives E[phi(s1 x) phi(s2 y)] = sum_k A_k(s1) A_k(s2) rho^k with
 * A_k(s) = E[phi(s z) h_k(z)], and Parseval E[phi(s z)^2] = sum_k A_k(s)^2. The tail beyond
 * N is bounded by Cauchy-Schwarz: |sum_{k>N} A_k(s1) A_k(s2) rho^k| <= |rho|^(N+1)
 * sqrt(T_N(s1) T_N(s2)), T_N = E[phi^2] - sum_{k<=N} A_k^2.
 */
#include "quad.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const int quad_ladder[QUAD_LADDER] = {4, 8, 12, 16, 24, 32, 48, 64, 96, QUAD_NC};

/* Gauss-Legendre orders: [0] coefficients, [1] its check; [2] outer / 1-D pairs, [3] its
 * check; [4] inner, [5] its check. */
static const int quad_orders[6] = {16, 12, 20, 14, 16, 10};
#define COEF_W 1.5    /* panel width of the coefficient rule */
#define COEF_LIM 12.0 /* its range: h_k(z) N(z) <= e^(-z^2 / 4) / sqrt(2 pi) beyond */
#define PAIR_W 2.0
#define PAIR_LIM 10.0 /* Gaussian mass beyond 10: 1.5e-23 */
#define INV_SQRT2PI 0.39894228040143267794

/* Gauss-Legendre nodes and weights on [-1, 1] by Newton's method on P_p. */
static void gl_make(int p, double *x, double *w)
{
    for (int i = 0; i < p; i++) {
        double z = cos(M_PI * (i + 0.75) / (p + 0.5)), dp = 1.0;
        for (int it = 0; it < 100; it++) {
            double p0 = 1.0, p1 = z;
            for (int k = 2; k <= p; k++) {
                double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            if (p == 1)
                p1 = z, p0 = 1.0;
            dp = p * (z * p1 - p0) / (z * z - 1.0);
            double dz = p1 / dp;
            z -= dz;
            if (fabs(dz) < 1e-17)
                break;
        }
        /* dp at the final z */
        double p0 = 1.0, p1 = z;
        for (int k = 2; k <= p; k++) {
            double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
            p0 = p1;
            p1 = p2;
        }
        dp = p * (z * p1 - p0) / (z * z - 1.0);
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Breakpoints on [-lim, lim]: center +- wmin 2^j (while < W) merged with the uniform grid
 * of width W anchored at -lim; sorted, near-duplicates removed. At most 128. */
static size_t graded_bp(double center, double wmin, double W, double lim, double *bp)
{
    double t[160];
    size_t nb = 0;
    wmin = wmin < W ? wmin : W;
    wmin = wmin > 1e-9 ? wmin : 1e-9;
    for (double g = -lim; g < lim - 0.5 * W; g += W)
        t[nb++] = g;
    t[nb++] = lim;
    if (center > -lim && center < lim)
        t[nb++] = center;
    for (double o = wmin; o < W && nb + 2 <= 158; o *= 2) {
        if (center - o > -lim && center - o < lim)
            t[nb++] = center - o;
        if (center + o > -lim && center + o < lim)
            t[nb++] = center + o;
    }
    qsort(t, nb, sizeof(double), cmp_d);
    size_t k = 0;
    for (size_t i = 0; i < nb; i++)
        if (k == 0 || t[i] - bp[k - 1] > 1e-12 * W)
            bp[k++] = t[i];
    return k;
}

/* Nodes and weights (times the standard normal density) of the composite rule of order
 * R->gx[ord] on the panels of bp. */
static size_t panel_rule(const quad_rules *R, int ord, const double *bp, size_t nb, double *z,
                         double *w)
{
    int p = quad_orders[ord];
    size_t c = 0;
    for (size_t b = 0; b + 1 < nb; b++) {
        double h = 0.5 * (bp[b + 1] - bp[b]), mid = 0.5 * (bp[b + 1] + bp[b]);
        for (int i = 0; i < p; i++) {
            double x = mid + h * R->gx[ord][i];
            z[c] = x;
            w[c] = h * R->gw[ord][i] * INV_SQRT2PI * exp(-0.5 * x * x);
            c++;
        }
    }
    return c;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

/* ---- per point ----------------------------------------------------------------------- */

/* ext 0: e0, e1, the coefficients k <= QUAD_NC0 and the ladder up to it; ext 1: the
 * coefficients QUAD_NC0 < k <= QUAD_NC, the rest of the ladder and thA, thB (the same
 * computation, storing the other part). */
static void point_data(const quad_ctx *Q, quad_layer *Ly, size_t p, double q, quad_scratch *S,
                       int ext)
{
    const ntk_cfg *c = Q->cfg;
    size_t P = Q->P;
    double s = q > 0 ? sqrt(q) : 0.0;
    int k0 = ext ? QUAD_NC0 + 1 : 0, k1 = ext ? QUAD_NC : QUAD_NC0;
    int v0 = ext ? QUAD_LADDER0 : 0, v1 = ext ? QUAD_LADDER : QUAD_LADDER0;
    if (!ext) {
        Ly->q[p] = q;
        Ly->rs[p] = s > 0 ? 1.0 / s : 0.0;
    }
    if (!(s > 0)) {
        /* u = 0 almost surely: phi(0) and phi'(0), a constant (k = 0 only). */
        double zero = 0.0, f0, d0;
        ntk_act_eval(c->act, c->leaky_slope, &zero, 1, &f0, &d0);
        for (int k = k0; k <= k1; k++)
            Ly->A[(size_t)k * P + p] = Ly->B[(size_t)k * P + p] = 0.0;
        if (!ext) {
            Ly->A[p] = f0;
            Ly->B[p] = d0;
            Ly->e0[p] = f0 * f0;
            Ly->e1[p] = d0 * d0;
        }
        for (int l = v0; l < v1; l++)
            Ly->tA[(size_t)l * P + p] = Ly->tB[(size_t)l * P + p] = 0.0;
        if (ext)
            Ly->thA[p] = Ly->thB[p] = 0.0;
        return;
    }
    double bp[130];
    size_t nb = graded_bp(0.0, 0.5 / s, COEF_W, COEF_LIM, bp);
    /* the check: E[phi^2], E[phi'^2] at the lower order on the same panels */
    size_t nz = panel_rule(Q->rules, 1, bp, nb, S->z, S->w);
    for (size_t j = 0; j < nz; j++)
        S->v[j] = s * S->z[j];
    ntk_act_eval(c->act, c->leaky_slope, S->v, nz, S->f, S->df);
    double e0lo = 0, e1lo = 0;
    for (size_t j = 0; j < nz; j++) {
        e0lo += S->w[j] * S->f[j] * S->f[j];
        e1lo += S->w[j] * S->df[j] * S->df[j];
    }
    nz = panel_rule(Q->rules, 0, bp, nb, S->z, S->w);
    for (size_t j = 0; j < nz; j++)
        S->v[j] = s * S->z[j];
    ntk_act_eval(c->act, c->leaky_slope, S->v, nz, S->f, S->df);
    double *wf = S->g, *wd = S->dg, *h = S->v, *hm = S->zi;
    double e0 = 0, e1 = 0;
    for (size_t j = 0; j < nz; j++) {
        wf[j] = S->w[j] * S->f[j];
        wd[j] = S->w[j] * S->df[j];
        e0 += wf[j] * S->f[j];
        e1 += wd[j] * S->df[j];
        h[j] = 1.0;
        hm[j] = 0.0;
    }
    double err = 0.0;
    if (e0 > 0)
        err = fmax(err, fabs(e0 - e0lo) / e0);
    if (e1 > 0)
        err = fmax(err, fabs(e1 - e1lo) / e1);
    if (!ext) {
        Ly->e0[p] = e0;
        Ly->e1[p] = e1;
        if (err > Ly->err1d)
            Ly->err1d = err; /* per-thread layer copies are merged by the caller */
    }
    double pa = 0, pb = 0;
    int lv = 0;
    for (int k = 0; k <= k1; k++) {
        double a = dot(wf, h, nz), b = dot(wd, h, nz);
        if (k >= k0) {
            Ly->A[(size_t)k * P + p] = a;
            Ly->B[(size_t)k * P + p] = b;
        }
        pa += a * a;
        pb += b * b;
        if (k == quad_ladder[lv]) {
            double slack = 4.0 * (k + 1) * DBL_EPSILON + err;
            if (lv >= v0) {
                Ly->tA[(size_t)lv * P + p] = (e0 > 0 ? fmax(e0 - pa, 0.0) / e0 : 0.0) + slack;
                Ly->tB[(size_t)lv * P + p] = (e1 > 0 ? fmax(e1 - pb, 0.0) / e1 : 0.0) + slack;
            }
            lv++;
        }
        if (k == k1)
            break;
        double r1 = sqrt((double)k), r2 = 1.0 / sqrt((double)k + 1.0);
        for (size_t j = 0; j < nz; j++) {
            double hn = (S->z[j] * h[j] - r1 * hm[j]) * r2;
            hm[j] = h[j];
            h[j] = hn;
        }
    }
    if (ext) {
        double ex = 1.0 / (2.0 * (QUAD_NC + 1));
        Ly->thA[p] = pow(Ly->tA[(size_t)(QUAD_LADDER - 1) * P + p], ex);
        Ly->thB[p] = pow(Ly->tB[(size_t)(QUAD_LADDER - 1) * P + p], ex);
    }
}

int quad_scratch_init(quad_scratch *S, size_t m)
{
    memset(S, 0, sizeof *S);
    size_t mm = m ? m : 1;
    S->rho = tg_alloc_array(mm, 1, sizeof(double));
    S->buf = tg_alloc_array(mm, 1, sizeof(double));
    S->buf2 = tg_alloc_array(mm, 1, sizeof(double));
    S->ok = malloc(mm);
    double **nodes[9] = {&S->z, &S->w, &S->f, &S->df, &S->v, &S->g, &S->dg, &S->zi, &S->wi};
    int bad = !S->rho || !S->buf || !S->buf2 || !S->ok;
    for (int i = 0; i < 9; i++)
        bad |= !(*nodes[i] = malloc(QUAD_NODES * sizeof(double)));
    if (bad) {
        quad_scratch_free(S);
        return TG_ENOMEM;
    }
    return TG_OK;
}

void quad_scratch_free(quad_scratch *S)
{
    free(S->rho);
    free(S->buf);
    free(S->buf2);
    free(S->ok);
    free(S->z);
    free(S->w);
    free(S->f);
    free(S->df);
    free(S->v);
    free(S->g);
    free(S->dg);
    free(S->zi);
    free(S->wi);
    memset(S, 0, sizeof *S);
}

/* ---- preparation ------------------------------------------------------------------- */

typedef struct prep_job {
    quad_ctx *Q;
    const double *q0;
    size_t p0, p1;
    int ext;  /* 1: extend layer `layer` */
    size_t layer;
    double err1d[64]; /* per layer (depth <= 64 handled by capping below) */
    int rc;
} prep_job;

static void *prep_main(void *arg)
{
    prep_job *jb = arg;
    quad_ctx *Q = jb->Q;
    const ntk_cfg *c = Q->cfg;
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    quad_scratch S;
    if (quad_scratch_init(&S, 1)) {
        jb->rc = TG_ENOMEM;
        return NULL;
    }
    if (jb->ext) {
        quad_layer *y = &Q->ly[jb->layer];
        for (size_t p = jb->p0; p < jb->p1; p++)
            point_data(Q, y, p, y->q[p], &S, 1);
        quad_scratch_free(&S);
        return NULL;
    }
    for (size_t p = jb->p0; p < jb->p1; p++) {
        double v = jb->q0[p];
        for (size_t l = 0; l < Q->L; l++) {
            v = w2 * v + b2;
            quad_layer tmp = Q->ly[l];
            tmp.err1d = 0.0;
            point_data(Q, &tmp, p, v, &S, 0);
            size_t li = l < 64 ? l : 63;
            if (tmp.err1d > jb->err1d[li])
                jb->err1d[li] = tmp.err1d;
            v = Q->ly[l].e0[p];
        }
    }
    quad_scratch_free(&S);
    return NULL;
}

void quad_free(quad_ctx *Q)
{
    if (Q->ly) {
        for (size_t l = 0; l < Q->L; l++) {
            quad_layer *y = &Q->ly[l];
            free(y->A);
            free(y->B);
            free(y->tA);
            free(y->tB);
            free(y->thA);
            free(y->thB);
            free(y->e0);
            free(y->e1);
            free(y->q);
            free(y->rs);
            pthread_mutex_destroy(&y->ext_mu);
        }
        free(Q->ly);
    }
    Q->ly = NULL;
}

/* Drops the nodes of weight below 1e-20 (|x| > ~9.4: half of the nodes of order 128):
 * they change an expectation of |phi(m + t x)| <= |m| + 16 t by less than 1e-17. */
static void gh_trim(ntk_gh_rule *r)
{
    int k = 0;
    for (int j = 0; j < r->m; j++)
        if (r->w[j] >= 1e-20) {
            r->x[k] = r->x[j];
            r->w[k] = r->w[j];
            k++;
        }
    r->m = k;
}

/* The rules, made once per process (read-only afterwards). */
static quad_rules rules_static;
static int rules_rc;
static pthread_once_t rules_once = PTHREAD_ONCE_INIT;
static const int gh_orders[3] = {40, 64, 128}, gh_lo_orders[3] = {28, 48, 96};
static const double gh_t[3] = {0.35, 0.6, 0.9};

static void rules_init(void)
{
    for (int o = 0; o < 6; o++)
        gl_make(quad_orders[o], rules_static.gx[o], rules_static.gw[o]);
    for (int g = 0; g < 3 && !rules_rc; g++) {
        rules_rc = ntk_gh_make(gh_orders[g], &rules_static.gh[g]);
        if (!rules_rc)
            rules_rc = ntk_gh_make(gh_lo_orders[g], &rules_static.gh_lo[g]);
        if (!rules_rc) {
            gh_trim(&rules_static.gh[g]);
            gh_trim(&rules_static.gh_lo[g]);
        }
    }
}

int quad_prepare(quad_ctx *Q, const ntk_cfg *cfg, const double *q0, size_t n, size_t m, int sym,
               int threads, const tg_progress *prog, double f0, double f1)
{
    memset(Q, 0, sizeof *Q);
    Q->cfg = cfg;
    Q->L = cfg->depth;
    Q->n = n;
    Q->m = m;
    Q->P = sym ? n : n + m;
    Q->co = sym ? 0 : n;
    Q->tol_t = cfg->quad_tol / 8.0;
    Q->cutA = Q->cutB = pow(Q->tol_t, 1.0 / (QUAD_NC + 1));
    int rc;
    pthread_once(&rules_once, rules_init);
    if ((rc = rules_rc))
        goto fail;
    Q->rules = &rules_static;
    rc = TG_ENOMEM;
    if (!(Q->ly = calloc(Q->L ? Q->L : 1, sizeof(quad_layer))))
        goto fail;
    for (size_t l = 0; l < Q->L; l++) {
        pthread_mutex_init(&Q->ly[l].ext_mu, NULL);
        atomic_init(&Q->ly[l].ext_done, 0);
    }
    size_t P = Q->P ? Q->P : 1;
    for (size_t l = 0; l < Q->L; l++) {
        quad_layer *y = &Q->ly[l];
        y->A = tg_alloc_array(QUAD_NC + 1, P, sizeof(double));
        y->B = tg_alloc_array(QUAD_NC + 1, P, sizeof(double));
        y->tA = tg_alloc_array(QUAD_LADDER, P, sizeof(double));
        y->tB = tg_alloc_array(QUAD_LADDER, P, sizeof(double));
        y->thA = tg_alloc_array(P, 1, sizeof(double));
        y->thB = tg_alloc_array(P, 1, sizeof(double));
        y->e0 = tg_alloc_array(P, 1, sizeof(double));
        y->e1 = tg_alloc_array(P, 1, sizeof(double));
        y->q = tg_alloc_array(P, 1, sizeof(double));
        y->rs = tg_alloc_array(P, 1, sizeof(double));
        if (!y->A || !y->B || !y->tA || !y->tB || !y->thA || !y->thB || !y->e0 || !y->e1 ||
            !y->q || !y->rs)
            goto fail;
    }
    int nt = threads > 0 ? (threads > 64 ? 64 : threads) : 1;
    Q->threads = nt;
    size_t chunk = 256 * (size_t)nt;
    for (size_t c0 = 0; c0 < Q->P; c0 += chunk) {
        size_t c1 = c0 + chunk < Q->P ? c0 + chunk : Q->P, per = (c1 - c0 + nt - 1) / nt;
        prep_job jobs[64];
        pthread_t th[64];
        int started[64];
        for (int t = 0; t < nt; t++) {
            memset(&jobs[t], 0, sizeof jobs[t]);
            jobs[t].Q = Q;
            jobs[t].q0 = q0;
            jobs[t].p0 = c0 + per * (size_t)t < c1 ? c0 + per * (size_t)t : c1;
            jobs[t].p1 = jobs[t].p0 + per < c1 ? jobs[t].p0 + per : c1;
            started[t] = t > 0 && jobs[t].p1 > jobs[t].p0 &&
                         pthread_create(&th[t], NULL, prep_main, &jobs[t]) == 0;
        }
        for (int t = 1; t < nt; t++)
            if (!started[t])
                prep_main(&jobs[t]);
        prep_main(&jobs[0]);
        for (int t = 1; t < nt; t++)
            if (started[t])
                pthread_join(th[t], NULL);
        for (int t = 0; t < nt; t++) {
            if (jobs[t].rc)
                goto fail;
            for (size_t l = 0; l < Q->L; l++)
                Q->ly[l].err1d = fmax(Q->ly[l].err1d, jobs[t].err1d[l < 64 ? l : 63]);
        }
        if (tg_progress_report(prog, f0 + (f1 - f0) * (double)c1 / (double)Q->P,
                               "Hermite coefficients")) {
            rc = TG_ECANCELLED;
            goto fail;
        }
    }
    for (size_t l = 0; l < Q->L; l++) {
        quad_layer *y = &Q->ly[l];
        for (int v = 0; v < QUAD_LADDER0; v++) {
            double ma = 0, mb = 0;
            for (size_t j = 0; j < m; j++) {
                ma = fmax(ma, y->tA[(size_t)v * Q->P + Q->co + j]);
                mb = fmax(mb, y->tB[(size_t)v * Q->P + Q->co + j]);
            }
            y->tmaxA[v] = ma;
            y->tmaxB[v] = mb;
        }
    }
    return TG_OK;
fail:
    quad_free(Q);
    return rc;
}

int quad_extend(const quad_ctx *Qc, size_t l)
{
    /* The layer's extension state is synchronized here (mutex, atomic flag). */
    quad_ctx *Q = (quad_ctx *)Qc;
    quad_layer *y = &Q->ly[l];
    if (atomic_load_explicit(&y->ext_done, memory_order_acquire))
        return y->ext_rc;
    pthread_mutex_lock(&y->ext_mu);
    if (!atomic_load_explicit(&y->ext_done, memory_order_relaxed)) {
        int nt = Q->threads > 0 ? Q->threads : 1;
        size_t per = (Q->P + (size_t)nt - 1) / (size_t)nt;
        prep_job jobs[64];
        pthread_t th[64];
        int started[64];
        for (int t = 0; t < nt; t++) {
            memset(&jobs[t], 0, sizeof jobs[t]);
            jobs[t].Q = Q;
            jobs[t].ext = 1;
            jobs[t].layer = l;
            jobs[t].p0 = per * (size_t)t < Q->P ? per * (size_t)t : Q->P;
            jobs[t].p1 = jobs[t].p0 + per < Q->P ? jobs[t].p0 + per : Q->P;
            started[t] = t > 0 && jobs[t].p1 > jobs[t].p0 &&
                         pthread_create(&th[t], NULL, prep_main, &jobs[t]) == 0;
        }
        for (int t = 1; t < nt; t++)
            if (!started[t])
                prep_main(&jobs[t]);
        prep_main(&jobs[0]);
        for (int t = 1; t < nt; t++)
            if (started[t])
                pthread_join(th[t], NULL);
        int rc = TG_OK;
        for (int t = 0; t < nt; t++)
            rc = jobs[t].rc ? jobs[t].rc : rc;
        for (int v = QUAD_LADDER0; v < QUAD_LADDER; v++) {
            double ma = 0, mb = 0;
            for (size_t j = 0; j < Q->m; j++) {
                ma = fmax(ma, y->tA[(size_t)v * Q->P + Q->co + j]);
                mb = fmax(mb, y->tB[(size_t)v * Q->P + Q->co + j]);
            }
            y->tmaxA[v] = ma;
            y->tmaxB[v] = mb;
        }
        y->ext_rc = rc;
        atomic_store_explicit(&y->ext_done, 1, memory_order_release);
    }
    pthread_mutex_unlock(&y->ext_mu);
    return y->ext_rc;
}

/* ---- the fallback and rho = +-1 ------------------------------------------------------- */

/* E[f(s1 z) f(a z)] and E[f'(s1 z) f'(a z)] (v = a z exactly), with the check. */
static void pair_1d(const quad_rules *R, tg_act act, double slope, double s1, double a,
                    double *k, double *dk, double *ek, double *edk, quad_scratch *S)
{
    double bp[130], res[2][2];
    double smax = fmax(s1, fabs(a));
    size_t nb = graded_bp(0.0, smax > 0 ? 0.5 / smax : PAIR_W, PAIR_W, PAIR_LIM, bp);
    for (int lev = 0; lev < 2; lev++) {
        size_t nz = panel_rule(R, lev ? 3 : 2, bp, nb, S->z, S->w);
        for (size_t j = 0; j < nz; j++)
            S->v[j] = s1 * S->z[j];
        ntk_act_eval(act, slope, S->v, nz, S->f, S->df);
        for (size_t j = 0; j < nz; j++)
            S->v[j] = a * S->z[j];
        ntk_act_eval(act, slope, S->v, nz, S->g, S->dg);
        double sk = 0, sdk = 0;
        for (size_t j = 0; j < nz; j++) {
            sk += S->w[j] * S->f[j] * S->g[j];
            sdk += S->w[j] * S->df[j] * S->dg[j];
        }
        res[lev][0] = sk;
        res[lev][1] = sdk;
    }
    *k = res[0][0];
    *dk = res[0][1];
    *ek = fabs(res[0][0] - res[1][0]);
    *edk = fabs(res[0][1] - res[1][1]);
}

void quad_pair_nested(const quad_rules *R, tg_act act, double slope, double q1, double q2,
                    double c, double *k, double *dk, double *ek, double *edk, quad_scratch *S)
{
    if (q2 > q1) {
        double t = q1;
        q1 = q2;
        q2 = t;
    }
    double s1 = q1 > 0 ? sqrt(q1) : 0.0, a = s1 > 0 ? c / s1 : 0.0, t2 = q2 - a * a;
    double t = t2 > 8 * DBL_EPSILON * fabs(q2) ? sqrt(t2) : 0.0;
    if (t == 0.0) {
        pair_1d(R, act, slope, s1, a, k, dk, ek, edk, S);
        return;
    }
    double bp[130], bpi[130], res[2][2];
    size_t nb = graded_bp(0.0, s1 > 0 ? 0.5 / s1 : PAIR_W, PAIR_W, PAIR_LIM, bp);
    for (int lev = 0; lev < 2; lev++) {
        size_t no = panel_rule(R, lev ? 3 : 2, bp, nb, S->z, S->w);
        /* outer values: S->f, S->df; the outer nodes stay in S->z, S->w */
        double *fo = S->g, *dfo = S->dg;
        for (size_t j = 0; j < no; j++)
            S->v[j] = s1 * S->z[j];
        ntk_act_eval(act, slope, S->v, no, fo, dfo);
        double sk = 0, sdk = 0;
        int tier = t <= gh_t[0] ? 0 : t <= gh_t[1] ? 1 : t <= gh_t[2] ? 2 : -1;
        const ntk_gh_rule *gh = tier < 0 ? NULL : lev ? &R->gh_lo[tier] : &R->gh[tier];
        for (size_t o = 0; o < no; o++) {
            if (S->w[o] < 1e-20)
                continue; /* |z| > ~9.4: below 1e-17 of the scale (phi grows at most
                           * linearly) */
            double mu = a * S->z[o], G = 0, dG = 0;
            if (gh) {
                for (int j = 0; j < gh->m; j++)
                    S->v[j] = mu + t * gh->x[j];
                ntk_act_eval(act, slope, S->v, (size_t)gh->m, S->f, S->df);
                G = dot(gh->w, S->f, (size_t)gh->m);
                dG = dot(gh->w, S->df, (size_t)gh->m);
            } else {
                size_t ni = graded_bp(-mu / t, 0.5 / t, PAIR_W, PAIR_LIM, bpi);
                ni = panel_rule(R, lev ? 5 : 4, bpi, ni, S->zi, S->wi);
                for (size_t j = 0; j < ni; j++)
                    S->v[j] = mu + t * S->zi[j];
                ntk_act_eval(act, slope, S->v, ni, S->f, S->df);
                G = dot(S->wi, S->f, ni);
                dG = dot(S->wi, S->df, ni);
            }
            sk += S->w[o] * fo[o] * G;
            sdk += S->w[o] * dfo[o] * dG;
        }
        res[lev][0] = sk;
        res[lev][1] = sdk;
    }
    *k = res[0][0];
    *dk = res[0][1];
    *ek = fabs(res[0][0] - res[1][0]);
    *edk = fabs(res[0][1] - res[1][1]);
}

/* ---- rows -------------------------------------------------------------------------- */

static void note(quad_stats *st, double e, double q1, double q2, double rho)
{
    if (e > st->max_err || !(e == e)) {
        st->max_err = e == e ? e : INFINITY;
        st->err_q1 = q1;
        st->err_q2 = q2;
        st->err_rho = rho;
    }
}

void quad_stats_merge(quad_stats *into, const quad_stats *s)
{
    if (s->max_err > into->max_err) {
        into->max_err = s->max_err;
        into->err_q1 = s->err_q1;
        into->err_q2 = s->err_q2;
        into->err_rho = s->err_rho;
    }
    into->series += s->series;
    into->nested += s->nested;
    into->exact += s->exact;
    into->max_terms = s->max_terms > into->max_terms ? s->max_terms : into->max_terms;
}

/* The shortest ladder length whose bound holds for the whole row (rmax: the row's largest
 * |rho| among series entries), or QUAD_NC with the entries' own bound (mx: their largest
 * |rho| th_i th_j). */
static int row_terms(const double *tl, size_t P, size_t i, const double *tmax, double rmax,
                     double mx, double tol, double *bound)
{
    for (int v = 0; v < QUAD_LADDER; v++) {
        double b = pow(rmax, quad_ladder[v] + 1) * sqrt(tl[(size_t)v * P + i] * tmax[v]);
        if (b <= tol) {
            *bound = b;
            return quad_ladder[v];
        }
    }
    *bound = pow(mx, QUAD_NC + 1);
    return QUAD_NC;
}

/* acc[j] = sum_{k<=N} ci[k] col[k][j] rho[j]^k (Horner). */
static void series(int N, const double *ci, const double *col, size_t P, const double *rho,
                   size_t len, double *acc)
{
    for (size_t j = 0; j < len; j++)
        acc[j] = ci[(size_t)N * P] * col[(size_t)N * P + j];
    for (int k = N - 1; k >= 0; k--) {
        double a = ci[(size_t)k * P];
        const double *ck = col + (size_t)k * P;
        for (size_t j = 0; j < len; j++)
            acc[j] = acc[j] * rho[j] + a * ck[j];
    }
}

/* The maps of layer l for row point i against the columns cj .. cj + len - 1 (point
 * indices): K in: the covariances; out: kn into S->buf, dk into S->buf2. */
static void row_layer(const quad_ctx *Q, size_t l, size_t i, size_t cj, size_t len,
                      int first_is_diag, const double *K, quad_scratch *S, quad_stats *st)
{
    const ntk_cfg *c = Q->cfg;
    size_t P = Q->P;
    const quad_layer *y = &Q->ly[l];
    double ri = y->rs[i];
    const double *rc = y->rs + cj;
    double *rho = S->rho;
    unsigned char *ok = S->ok;
    double rmax = 0, mxa = 0, mxb = 0, bA = 0, bB = 0;
    size_t nbad = 0;
    for (size_t j = 0; j < len; j++) {
        double r = K[j] * ri * rc[j];
        r = r >= RHO_SNAP ? 1.0 : (r <= -RHO_SNAP ? -1.0 : r);
        r = (first_is_diag && j == 0) ? 1.0 : r;
        rho[j] = r;
        double a = fabs(r);
        int o = a < 1.0;
        ok[j] = (unsigned char)o;
        nbad += !o;
        rmax = o && a > rmax ? a : rmax;
    }
    /* A series of at most QUAD_NC0 terms for the whole row when the row bound allows (the
     * usual case); otherwise the long coefficients, an entry-wise test and the fallback.
     * The choice depends only on the row's data (not on whether another row has made
     * the long coefficients already), so results do not depend on the threads. */
    int NA = -1, NB = -1;
    for (int v = 0; v < QUAD_LADDER0; v++) {
        double ba = pow(rmax, quad_ladder[v] + 1) * sqrt(y->tA[(size_t)v * P + i] * y->tmaxA[v]);
        double bb = pow(rmax, quad_ladder[v] + 1) * sqrt(y->tB[(size_t)v * P + i] * y->tmaxB[v]);
        if (NA < 0 && ba <= Q->tol_t) {
            NA = quad_ladder[v];
            bA = ba;
        }
        if (NB < 0 && bb <= Q->tol_t) {
            NB = quad_ladder[v];
            bB = bb;
        }
    }
    if (NA < 0 || NB < 0) {
        if (quad_extend(Q, l) != TG_OK) {
            note(st, INFINITY, y->q[i], y->q[i], rmax);
            return;
        }
        double tai = y->thA[i], tbi = y->thB[i];
        const double *tac = y->thA + cj, *tbc = y->thB + cj;
        rmax = 0;
        nbad = 0;
        for (size_t j = 0; j < len; j++) {
            double a = fabs(rho[j]), pa = a * tai * tac[j], pb = a * tbi * tbc[j];
            int o = a < 1.0 && pa <= Q->cutA && pb <= Q->cutB;
            ok[j] = (unsigned char)o;
            nbad += !o;
            rmax = o && a > rmax ? a : rmax;
            mxa = o && pa > mxa ? pa : mxa;
            mxb = o && pb > mxb ? pb : mxb;
        }
        NA = row_terms(y->tA, P, i, y->tmaxA, rmax, mxa, Q->tol_t, &bA);
        NB = row_terms(y->tB, P, i, y->tmaxB, rmax, mxb, Q->tol_t, &bB);
    }
    series(NA, y->A + i, y->A + cj, P, rho, len, S->buf);
    series(NB, y->B + i, y->B + cj, P, rho, len, S->buf2);
    size_t nser = len - nbad;
    if (nser) {
        /* coefficient errors: sum_k |dA_k(i) A_k(j) + A_k(i) dA_k(j)| |rho|^k <= 2
         * sqrt(N + 1) err1d sqrt(E_i E_j) (Cauchy-Schwarz; err1d: the rule's check) */
        int N = NA > NB ? NA : NB;
        double e = fmax(bA, bB) + 2.0 * sqrt(N + 1.0) * y->err1d;
        note(st, e, y->q[i], y->q[i], rmax);
        st->series += nser;
        st->max_terms = N > st->max_terms ? N : st->max_terms;
    }
    if (!nbad)
        return;
    for (size_t j = 0; j < len; j++) {
        if (ok[j])
            continue;
        if (S->stop && atomic_load_explicit(S->stop, memory_order_relaxed))
            return; /* the caller discards the results */
        double kn, dk, qi = y->q[i], qj = y->q[cj + j];
        if (rho[j] == 1.0 && qi == qj) {
            kn = y->e0[i];
            dk = y->e1[i];
            st->exact++;
        } else {
            double ek, edk, cv = rho[j] * sqrt(qi) * sqrt(qj);
            if (fabs(rho[j]) == 1.0)
                pair_1d(Q->rules, c->act, c->leaky_slope, sqrt(qi), rho[j] * sqrt(qj), &kn,
                        &dk, &ek, &edk, S);
            else
                quad_pair_nested(Q->rules, c->act, c->leaky_slope, qi, qj, cv, &kn, &dk, &ek,
                               &edk, S);
            double sk = sqrt(y->e0[i] * y->e0[cj + j]), sd = sqrt(y->e1[i] * y->e1[cj + j]);
            double e = fmax(sk > 0 ? ek / sk : ek, sd > 0 ? edk / sd : edk);
            note(st, e, qi, qj, rho[j]);
            st->nested++;
        }
        S->buf[j] = kn;
        S->buf2[j] = dk;
    }
}

void quad_row(const quad_ctx *Q, size_t i, size_t j0, size_t len, int first_is_diag, double *K,
            double *T, quad_scratch *S, quad_stats *st)
{
    const ntk_cfg *c = Q->cfg;
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    size_t L = Q->L;
    for (size_t j = 0; j < len; j++)
        T[j] = 0.0;
    for (size_t l = 0; l <= L; l++) {
        for (size_t j = 0; j < len; j++) {
            K[j] = w2 * K[j] + b2;
            T[j] = K[j] + w2 * T[j];
        }
        if (l == L)
            break;
        row_layer(Q, l, i, Q->co + j0, len, first_is_diag, K, S, st);
        if (S->stop && atomic_load_explicit(S->stop, memory_order_relaxed))
            return;
        for (size_t j = 0; j < len; j++) {
            T[j] *= S->buf2[j];
            K[j] = S->buf[j];
        }
    }
}

void quad_diag(const quad_ctx *Q, size_t p, double g, double *k_out, double *t_out)
{
    const ntk_cfg *c = Q->cfg;
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std, K = g, T = 0.0;
    for (size_t l = 0; l <= Q->L; l++) {
        K = w2 * K + b2;
        T = K + w2 * T;
        if (l == Q->L)
            break;
        T *= Q->ly[l].e1[p];
        K = Q->ly[l].e0[p];
    }
    *k_out = K;
    *t_out = T;
}

int quad_map(const ntk_cfg *cfg, double q1, double q2, double c, double *k, double *dk,
           double *err)
{
    ntk_cfg one = *cfg;
    one.depth = 1;
    one.w_std = 1.0;
    one.b_std = 0.0;
    /* q = w^2 q0 + b^2 = q0 for the one layer */
    double q0[2] = {q1, q2};
    quad_ctx Q;
    quad_scratch S;
    quad_stats st;
    memset(&st, 0, sizeof st);
    int rc = quad_prepare(&Q, &one, q0, 1, 1, 0, 1, NULL, 0, 1);
    if (rc)
        return rc;
    if ((rc = quad_scratch_init(&S, 1))) {
        quad_free(&Q);
        return rc;
    }
    row_layer(&Q, 0, 0, Q.co, 1, 0, &c, &S, &st);
    *k = S.buf[0];
    *dk = S.buf2[0];
    *err = fmax(st.max_err, Q.ly[0].err1d);
    quad_scratch_free(&S);
    quad_free(&Q);
    return TG_OK;
}
