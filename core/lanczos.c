/* lanczos.c: see lanczos.h. Full reorthogonalization (twice, classical Gram-Schmidt)
 * keeps the basis orthogonal to rounding, so no spurious copies of converged Ritz
 * values appear; memory is k vectors of length n. lanczos_extreme and lanczos_slq keep
 * the basis in chunks of rows and project with BLAS matrix-vector products; the wanted
 * Ritz pairs come from LAPACK dstevr (selected eigenpairs of the tridiagonal, O(m k)). */
#include "lanczos.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

int lanczos_ritz(lanczos_op op, void *ud, size_t n, size_t k, tg_rng *rng, double *ritz_out,
                 size_t *k_out)
{
    int rc = TG_OK;
    size_t vn;
    if (k > n)
        k = n;
    *k_out = 0;
    if (k == 0)
        return TG_OK;
    if (tg_mul3_size(k + 1, n, sizeof(double), &vn))
        return TG_ENOMEM;
    double *V = malloc(vn);
    double *w = malloc(n * sizeof(double));
    double *alpha = malloc(k * sizeof(double)), *beta = malloc(k * sizeof(double));
    if (!V || !w || !alpha || !beta) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        V[i] = rng_normal(rng);
    double nv = linalg_norm(V, n);
    for (size_t i = 0; i < n; i++)
        V[i] /= nv;
    size_t m = 0;
    for (size_t j = 0; j < k; j++) {
        double *vj = V + j * n;
        if (op(ud, vj, w)) {
            rc = TG_ECANCELLED;
            goto out;
        }
        alpha[j] = linalg_dot(w, vj, n);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i <= j; i++) {
                double c = linalg_dot(w, V + i * n, n);
                const double *vi = V + i * n;
                for (size_t q = 0; q < n; q++)
                    w[q] -= c * vi[q];
            }
        m = j + 1;
        double b = linalg_norm(w, n);
        beta[j] = b;
        if (j + 1 == k || b <= 1e-12 * (fabs(alpha[j]) + 1e-300))
            break;
        double *vn1 = V + (j + 1) * n;
        for (size_t q = 0; q < n; q++)
            vn1[q] = w[q] / b;
    }
    memcpy(ritz_out, alpha, m * sizeof(double));
    if ((rc = linalg_tridiag_eig(m, ritz_out, beta, NULL)))
        goto out;
    *k_out = m;
out:
    free(V);
    free(w);
    free(alpha);
    free(beta);
    return rc;
}

/* ---- a Lanczos basis in chunks, reorthogonalized by BLAS --------------------------- */

#define BASIS_CHUNK 32

/* Vectors of length n in chunks of BASIS_CHUNK contiguous rows, so memory follows the
 * steps actually taken and the projections are matrix-vector products. */
typedef struct basis {
    size_t n, count, n_chunks, cap_chunks;
    double **chunk;
} basis;

static void basis_free(basis *B)
{
    for (size_t c = 0; c < B->n_chunks; c++)
        free(B->chunk[c]);
    free(B->chunk);
    memset(B, 0, sizeof *B);
}

/* A slot for vector number B->count (not yet counted). NULL when out of memory. */
static double *basis_slot(basis *B)
{
    size_t c = B->count / BASIS_CHUNK, r = B->count % BASIS_CHUNK;
    if (c == B->n_chunks) {
        if (c == B->cap_chunks) {
            size_t cap = B->cap_chunks ? 2 * B->cap_chunks : 8;
            double **nc = realloc(B->chunk, cap * sizeof *nc);
            if (!nc)
                return NULL;
            B->chunk = nc;
            B->cap_chunks = cap;
        }
        B->chunk[c] = tg_alloc_array(BASIS_CHUNK, B->n, sizeof(double));
        if (!B->chunk[c])
            return NULL;
        B->n_chunks++;
    }
    return B->chunk[c] + r * B->n;
}

/* Vector i of the basis. */
static const double *basis_vec(const basis *B, size_t i)
{
    return B->chunk[i / BASIS_CHUNK] + (i % BASIS_CHUNK) * B->n;
}

/* w -= V (V^T w), `passes` times (classical Gram-Schmidt; two passes are enough: Giraud
 * et al. 2005). c: scratch of BASIS_CHUNK doubles. */
static void basis_orth(const basis *B, double *w, double *c, int passes)
{
    int n = (int)B->n;
    for (int pass = 0; pass < passes; pass++)
        for (size_t k = 0; k * BASIS_CHUNK < B->count; k++) {
            size_t rows = B->count - k * BASIS_CHUNK;
            if (rows > BASIS_CHUNK)
                rows = BASIS_CHUNK;
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)rows, n, 1.0, B->chunk[k], n, w, 1,
                        0.0, c, 1);
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)rows, n, -1.0, B->chunk[k], n, c, 1,
                        1.0, w, 1);
        }
}

/* One Lanczos run from the unit vector v0 (copied in as the first basis vector) for up
 * to max_steps steps; after each step, `check` (may be NULL) sees alpha/beta (m entries)
 * and returns 1 to stop, 0 to go on, or a negative status. Returns the status; *m_out =
 * steps taken; *invariant = 1 when beta_m vanished. */
typedef int (*lanczos_check)(void *cud, const double *alpha, const double *beta, size_t m);

static int lanczos_run(lanczos_op op, void *ud, size_t n, const double *v0, size_t max_steps,
                       double *alpha, double *beta, lanczos_check check, void *cud,
                       size_t *m_out, int *invariant)
{
    basis B = {.n = n};
    double c[BASIS_CHUNK];
    double *w = tg_alloc_array(n, 1, sizeof(double));
    int rc = TG_OK;
    *m_out = 0;
    *invariant = 0;
    double *v = basis_slot(&B);
    if (!w || !v) {
        rc = TG_ENOMEM;
        goto out;
    }
    memcpy(v, v0, n * sizeof(double));
    B.count = 1;
    for (size_t j = 0; j < max_steps; j++) {
        if (op(ud, v, w)) {
            rc = TG_ECANCELLED;
            goto out;
        }
        alpha[j] = cblas_ddot((int)n, w, 1, v, 1);
        /* The three-term recurrence first (it removes the large components), then full
         * reorthogonalization: a second Gram-Schmidt pass only when the first removed more
         * than 1 - 1/sqrt(2) of the norm (the DGKS criterion, Daniel et al. 1976). */
        cblas_daxpy((int)n, -alpha[j], v, 1, w, 1);
        if (j > 0)
            cblas_daxpy((int)n, -beta[j - 1], basis_vec(&B, j - 1), 1, w, 1);
        double before = cblas_dnrm2((int)n, w, 1);
        basis_orth(&B, w, c, 1);
        double b = cblas_dnrm2((int)n, w, 1);
        if (b < M_SQRT1_2 * before) {
            basis_orth(&B, w, c, 1);
            b = cblas_dnrm2((int)n, w, 1);
        }
        beta[j] = b;
        *m_out = j + 1;
        /* beta tiny against the operator's scale: the Krylov space is invariant. */
        double sc = 0;
        for (size_t i = 0; i <= j; i++)
            sc = fmax(sc, fabs(alpha[i]) + beta[i]);
        if (b <= 1e-13 * sc || b == 0) {
            *invariant = 1;
            beta[j] = 0;
            break;
        }
        if (check) {
            int s = check(cud, alpha, beta, j + 1);
            if (s < 0) {
                rc = s;
                goto out;
            }
            if (s > 0)
                break;
        }
        if (j + 1 == max_steps)
            break;
        if (!(v = basis_slot(&B))) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t q = 0; q < n; q++)
            v[q] = w[q] / b;
        B.count++;
    }
out:
    basis_free(&B);
    free(w);
    return rc;
}

/* Selected eigenpairs of the m x m tridiagonal (alpha, beta[0..m-2]) by LAPACK dstevr:
 * the il..iu-th smallest (1-based), values in w, last components of the unit
 * eigenvectors in last. Returns TG_OK, TG_ENOMEM or TG_ENUMERICAL. */
void dstevr_(const char *jobz, const char *range, const int *n, double *d, double *e,
             const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);

typedef struct tri_ws {
    size_t cap;
    double *d, *e, *w, *z, *work;
    int *isuppz, *iwork;
} tri_ws;

static void tri_ws_free(tri_ws *t)
{
    free(t->d);
    free(t->e);
    free(t->w);
    free(t->z);
    free(t->work);
    free(t->isuppz);
    free(t->iwork);
    memset(t, 0, sizeof *t);
}

static int tri_ws_reserve(tri_ws *t, size_t m)
{
    if (m <= t->cap)
        return TG_OK;
    size_t cap = m < 64 ? 64 : 2 * m;
    tri_ws_free(t);
    t->d = malloc(cap * sizeof(double));
    t->e = malloc(cap * sizeof(double));
    t->w = malloc(cap * sizeof(double));
    t->z = tg_alloc_array(cap, cap, sizeof(double));
    t->work = tg_alloc_array(cap, 20, sizeof(double));
    t->isuppz = tg_alloc_array(cap, 2, sizeof(int));
    t->iwork = tg_alloc_array(cap, 10, sizeof(int));
    if (!t->d || !t->e || !t->w || !t->z || !t->work || !t->isuppz || !t->iwork) {
        tri_ws_free(t);
        return TG_ENOMEM;
    }
    t->cap = cap;
    return TG_OK;
}

static int tri_select(tri_ws *t, const double *alpha, const double *beta, size_t m, int il,
                      int iu, double *w, double *last)
{
    int rc = tri_ws_reserve(t, m);
    if (rc)
        return rc;
    memcpy(t->d, alpha, m * sizeof(double));
    if (m > 1)
        memcpy(t->e, beta, (m - 1) * sizeof(double));
    t->e[m - 1] = 0;
    int nn = (int)m, found = 0, ldz = nn, lwork = 20 * nn, liwork = 10 * nn, info = 0;
    double vl = 0, vu = 0, abstol = 0;
    dstevr_("V", "I", &nn, t->d, t->e, &vl, &vu, &il, &iu, &abstol, &found, t->w, t->z, &ldz,
            t->isuppz, t->work, &lwork, t->iwork, &liwork, &info);
    if (info || found != iu - il + 1)
        return TG_ENUMERICAL;
    for (int i = 0; i < found; i++) {
        w[i] = t->w[i];
        last[i] = t->z[(size_t)i * m + (m - 1)];
    }
    return TG_OK;
}

typedef struct extreme_ctx {
    const lanczos_cfg *cfg;
    const tg_progress *prog;
    size_t min_steps, max_steps;
    tri_ws t;
    double *w, *last; /* top_k + bottom_k */
    double scale, worst, frac;
    int converged;
} extreme_ctx;

/* The wanted Ritz values of the current tridiagonal and their residual bounds; sets
 * ctx->scale, worst (relative), converged. */
static int extreme_eval(extreme_ctx *X, const double *alpha, const double *beta, size_t m)
{
    const lanczos_cfg *cfg = X->cfg;
    size_t kb = cfg->bottom_k < m ? cfg->bottom_k : m, kt = cfg->top_k < m ? cfg->top_k : m;
    int rc;
    double bm = beta[m - 1];
    /* Ends first, for the scale (il = 1 and iu = m are always computed). */
    double lo, hi, llo, lhi;
    if ((rc = tri_select(&X->t, alpha, beta, m, 1, 1, &lo, &llo)) ||
        (rc = tri_select(&X->t, alpha, beta, m, (int)m, (int)m, &hi, &lhi)))
        return rc;
    X->scale = fmax(fabs(lo), fabs(hi));
    double *wb = X->w, *lb = X->last, *wt = X->w + cfg->bottom_k, *lt = X->last + cfg->bottom_k;
    if (kb && (rc = tri_select(&X->t, alpha, beta, m, 1, (int)kb, wb, lb)))
        return rc;
    if (kt && (rc = tri_select(&X->t, alpha, beta, m, (int)(m - kt + 1), (int)m, wt, lt)))
        return rc;
    double worst = 0;
    for (size_t i = 0; i < kb; i++)
        worst = fmax(worst, fabs(bm * lb[i]));
    for (size_t i = 0; i < kt; i++)
        worst = fmax(worst, fabs(bm * lt[i]));
    X->worst = X->scale > 0 ? worst / X->scale : (worst > 0 ? INFINITY : 0);
    X->converged = X->worst <= cfg->tol && kb == cfg->bottom_k && kt == cfg->top_k;
    return TG_OK;
}

static int extreme_check(void *cud, const double *alpha, const double *beta, size_t m)
{
    extreme_ctx *X = cud;
    int rc = extreme_eval(X, alpha, beta, m);
    if (rc)
        return rc;
    /* Fraction: the larger of steps / cap and the decades of residual gained. */
    double f = (double)m / (double)X->max_steps;
    if (X->worst > 0 && X->worst < 1 && X->cfg->tol < 1)
        f = fmax(f, log(X->worst) / log(X->cfg->tol));
    f = fmin(f, 0.99);
    if (f > X->frac)
        X->frac = f;
    char msg[96];
    snprintf(msg, sizeof msg, "lanczos step %zu: residual %.2e of the scale", m, X->worst);
    if (tg_progress_report(X->prog, X->frac, msg))
        return TG_ECANCELLED;
    return X->converged && m >= X->min_steps ? 1 : 0;
}

static void random_unit(tg_rng *rng, size_t n, double *v, int rademacher)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rademacher ? (rng_uniform(rng) < 0.5 ? -1.0 : 1.0) : rng_normal(rng);
    double nv = cblas_dnrm2((int)n, v, 1);
    for (size_t i = 0; i < n; i++)
        v[i] /= nv;
}

int lanczos_extreme(lanczos_op op, void *ud, size_t n, const lanczos_cfg *cfg, tg_rng *rng,
                    const tg_progress *prog, double *top, double *bottom, double *res_top,
                    double *res_bottom, lanczos_result *out)
{
    extreme_ctx X;
    memset(&X, 0, sizeof X);
    memset(out, 0, sizeof *out);
    size_t K = cfg->top_k + cfg->bottom_k, steps = 0;
    int invariant = 0, rc;
    X.cfg = cfg;
    X.prog = prog;
    X.max_steps = cfg->max_steps && cfg->max_steps < n ? cfg->max_steps : n;
    /* A few steps beyond the wanted count before trusting residuals (an eigenvalue
     * nearly absent from the start vector converges late). */
    X.min_steps = 2 * K + 10 < X.max_steps ? 2 * K + 10 : X.max_steps;
    double *v0 = tg_alloc_array(n, 1, sizeof(double));
    double *alpha = tg_alloc_array(X.max_steps, 1, sizeof(double));
    double *beta = tg_alloc_array(X.max_steps, 1, sizeof(double));
    X.w = tg_alloc_array(K, 1, sizeof(double));
    X.last = tg_alloc_array(K, 1, sizeof(double));
    if (!v0 || !alpha || !beta || !X.w || !X.last) {
        rc = TG_ENOMEM;
        goto out;
    }
    random_unit(rng, n, v0, 0);
    rc = lanczos_run(op, ud, n, v0, X.max_steps, alpha, beta, extreme_check, &X, &steps,
                     &invariant);
    if (rc)
        goto out;
    /* The final tridiagonal (after an invariant-subspace stop or the cap, check did not
     * see the last step's beta = 0). */
    if ((rc = extreme_eval(&X, alpha, beta, steps)))
        goto out;
    size_t kb = cfg->bottom_k < steps ? cfg->bottom_k : steps;
    size_t kt = cfg->top_k < steps ? cfg->top_k : steps;
    double bm = beta[steps - 1];
    for (size_t i = 0; i < cfg->bottom_k; i++) {
        bottom[i] = i < kb ? X.w[i] : NAN;
        if (res_bottom)
            res_bottom[i] = i < kb ? fabs(bm * X.last[i]) : NAN;
    }
    for (size_t i = 0; i < cfg->top_k; i++) {
        /* descending: the largest is the last of the ascending selection */
        size_t j = cfg->bottom_k + kt - 1 - i;
        top[i] = i < kt ? X.w[j] : NAN;
        if (res_top)
            res_top[i] = i < kt ? fabs(bm * X.last[j]) : NAN;
    }
    double lo, hi, l1;
    if ((rc = tri_select(&X.t, alpha, beta, steps, 1, 1, &lo, &l1)) ||
        (rc = tri_select(&X.t, alpha, beta, steps, (int)steps, (int)steps, &hi, &l1)))
        goto out;
    out->steps = steps;
    out->converged = invariant || X.converged;
    out->scale = X.scale;
    out->worst = invariant ? 0 : X.worst;
    out->ritz_min = lo;
    out->ritz_max = hi;
out:
    tri_ws_free(&X.t);
    free(v0);
    free(alpha);
    free(beta);
    free(X.w);
    free(X.last);
    return rc;
}

/* One vector at a time through a lanczos_op. */
typedef struct single_op {
    lanczos_op op;
    void *ud;
    size_t n;
} single_op;

static int single_block(void *ud, const double *X, size_t b, double *Y)
{
    const single_op *s = ud;
    for (size_t j = 0; j < b; j++)
        if (s->op(s->ud, X + j * s->n, Y + j * s->n))
            return 1;
    return 0;
}

int lanczos_hutchinson(lanczos_op op, void *ud, size_t n, size_t samples, tg_rng *rng,
                       const tg_progress *prog, double *trace_out, double *stderr_out)
{
    single_op s = {op, ud, n};
    return lanczos_hutchinson_block(single_block, &s, n, samples, 1, rng, prog, trace_out,
                                    stderr_out);
}

int lanczos_hutchinson_block(lanczos_block_op op, void *ud, size_t n, size_t samples,
                             size_t block, tg_rng *rng, const tg_progress *prog,
                             double *trace_out, double *stderr_out)
{
    if (block < 1)
        block = 1;
    if (block > samples && samples > 0)
        block = samples;
    double *z = tg_alloc_array(block, n, sizeof(double));
    double *az = tg_alloc_array(block, n, sizeof(double));
    double mean = 0, m2 = 0;
    int rc = TG_OK;
    *trace_out = NAN;
    *stderr_out = NAN;
    if (!z || !az) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t s0 = 0; s0 < samples; s0 += block) {
        size_t b = samples - s0 < block ? samples - s0 : block;
        for (size_t i = 0; i < b * n; i++)
            z[i] = rng_uniform(rng) < 0.5 ? -1.0 : 1.0;
        if (op(ud, z, b, az)) {
            rc = TG_ECANCELLED;
            goto out;
        }
        for (size_t j = 0; j < b; j++) {
            double q = cblas_ddot((int)n, z + j * n, 1, az + j * n, 1);
            /* Welford's running mean and sum of squared deviations. */
            size_t s = s0 + j;
            double dlt = q - mean;
            mean += dlt / (double)(s + 1);
            m2 += dlt * (q - mean);
        }
        char msg[64];
        snprintf(msg, sizeof msg, "trace probe %zu/%zu", s0 + b, samples);
        if (tg_progress_report(prog, (double)(s0 + b) / (double)samples, msg)) {
            rc = TG_ECANCELLED;
            goto out;
        }
    }
    if (samples) {
        *trace_out = mean;
        if (samples > 1)
            *stderr_out = sqrt(m2 / (double)(samples - 1) / (double)samples);
    }
out:
    free(z);
    free(az);
    return rc;
}

typedef struct slq_ctx {
    const tg_progress *prog;
    size_t probe, probes, steps;
} slq_ctx;

static int slq_check(void *cud, const double *alpha, const double *beta, size_t m)
{
    slq_ctx *S = cud;
    double f = ((double)S->probe + (double)m / (double)S->steps) / (double)S->probes;
    char msg[64];
    snprintf(msg, sizeof msg, "density probe %zu/%zu, step %zu", S->probe + 1, S->probes, m);
    return tg_progress_report(S->prog, f, msg) ? TG_ECANCELLED : 0;
}

int lanczos_slq(lanczos_op op, void *ud, size_t n, size_t probes, size_t steps, tg_rng *rng,
                const tg_progress *prog, double *nodes, double *weights, size_t *counts)
{
    size_t run = steps > n ? n : steps; /* rows of nodes/weights keep the stride steps */
    double *v0 = tg_alloc_array(n, 1, sizeof(double));
    double *alpha = tg_alloc_array(run, 1, sizeof(double));
    double *beta = tg_alloc_array(run, 1, sizeof(double));
    double *z = tg_alloc_array(run, run, sizeof(double));
    int rc = TG_OK;
    if (!v0 || !alpha || !beta || !z) {
        rc = TG_ENOMEM;
        goto out;
    }
    slq_ctx S = {prog, 0, probes, run};
    for (size_t p = 0; p < probes; p++) {
        size_t m = 0;
        int inv = 0;
        S.probe = p;
        random_unit(rng, n, v0, 1);
        if ((rc = lanczos_run(op, ud, n, v0, run, alpha, beta, slq_check, &S, &m, &inv)))
            goto out;
        double *nd = nodes + p * steps, *wt = weights + p * steps;
        memcpy(nd, alpha, m * sizeof(double));
        if ((rc = linalg_tridiag_eig(m, nd, beta, z)))
            goto out;
        for (size_t j = 0; j < m; j++)
            wt[j] = z[j * m] * z[j * m]; /* first component of eigenvector j (column-major) */
        counts[p] = m;
    }
out:
    free(v0);
    free(alpha);
    free(beta);
    free(z);
    return rc;
}

void lanczos_slq_density(const double *nodes, const double *weights, const size_t *counts,
                         size_t probes, size_t steps, double sigma, double lo, double hi,
                         size_t bins, double *grid, double *values)
{
    double width = (hi - lo) / (double)bins;
    for (size_t b = 0; b < bins; b++) {
        grid[b] = lo + ((double)b + 0.5) * width;
        values[b] = 0;
    }
    for (size_t p = 0; p < probes; p++)
        for (size_t j = 0; j < counts[p]; j++) {
            double t = nodes[p * steps + j], w = weights[p * steps + j];
            /* Mass of N(t, sigma^2) in [e_b, e_{b+1}]: differences of the normal cdf. */
            double prev = 0.5 * erfc(-(lo - t) / (sigma * M_SQRT2));
            for (size_t b = 0; b < bins; b++) {
                double e = lo + (double)(b + 1) * width;
                double cur = 0.5 * erfc(-(e - t) / (sigma * M_SQRT2));
                values[b] += w * (cur - prev);
                prev = cur;
            }
        }
    for (size_t b = 0; b < bins; b++)
        values[b] /= (double)probes * width;
}
