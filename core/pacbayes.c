/* pacbayes.c: the PAC-Bayes bounds of pacbayes.h (API.md 5.5; the theory's theorem
 * 5.6.1), the Monte Carlo error of a Gaussian posterior over networks, and Dziugaite and
 * Roy's optimization of the posterior ("Computing nonvacuous generalization bounds for
 * deep (stochastic) neural networks with many more parameters than training data",
 * UAI 2017, section 3).
 *
 * The kl inverse: f(p) = kl(q||p) is increasing on [q, 1) from 0 to +inf, so the
 * bisection of [q, 1] on f(p) <= c keeps lo feasible and hi infeasible; it stops when the
 * bracket no longer shrinks in floating point and returns lo (the largest double known
 * feasible). kl itself is evaluated in a cancellation-free form (see
 * pacbayes_binary_kl), which is what makes the inverse accurate for tiny c.
 *
 * Threads of the Monte Carlo estimate: samples are handed out by an atomic counter; the
 * error of sample k depends only on (seed, stream + k), and the mean is summed over k in
 * order, so the result is the same for any number of threads.
 */
#include "pacbayes.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim.h"
#include "rng.h"

/* ---- binary kl and its inverse ------------------------------------------------------ */

/* h(u) = u - ln(1 + u) >= 0 for u > -1, without cancellation: its Taylor series
 * u^2/2 - u^3/3 + ... for |u| < 0.125 (terms until they no longer change the sum), else
 * directly (there u - log1p(u) >= u^2/4 loses at most a few bits). */
static double h_log1p(double u)
{
    if (fabs(u) >= 0.125)
        return u - log1p(u);
    double s = 0, pw = u * u, k = 2;
    for (int i = 0; i < 60; i++) {
        double t = pw / k;
        double s2 = (i % 2 == 0) ? s + t : s - t;
        if (s2 == s)
            break;
        s = s2;
        pw *= u;
        k += 1;
    }
    return s;
}

double pacbayes_binary_kl(double q, double p)
{
    if (q <= 0)
        return p >= 1 ? INFINITY : -log1p(-p);
    if (q >= 1)
        return p <= 0 ? INFINITY : -log(p);
    if (p <= 0 || p >= 1)
        return INFINITY;
    /* With x = p - q: kl = q h(x/q) + (1-q) h(-x/(1-q)), two non-negative terms (the
     * O(x) parts of q ln(q/p) and (1-q) ln((1-q)/(1-p)) cancel exactly), so kl is
     * accurate to a few ulps even when p is within 1e-8 of q. */
    double x = p - q;
    return q * h_log1p(x / q) + (1 - q) * h_log1p(-x / (1 - q));
}

double pacbayes_kl_inv(double q, double c)
{
    if (!(q >= 0 && q <= 1) || !(c >= 0))
        return NAN;
    if (c == 0 || q == 1)
        return q;
    if (isinf(c))
        return 1.0;
    if (q == 0)
        return -expm1(-c);
    /* Bisection to the last bit: lo stays feasible, hi infeasible. */
    double lo = q, hi = 1.0;
    for (int it = 0; it < 2000; it++) {
        double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            break;
        if (pacbayes_binary_kl(q, mid) <= c)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- KL between Gaussians ------------------------------------------------------------ */

double pacbayes_kl_gauss(const double *mu, const double *theta0, const double *sigma_q,
                         double sigma_q_iso, double sigma_p, size_t P)
{
    /* Kahan-compensated sum of the per-parameter terms. */
    double sum = 0, comp = 0, vp = sigma_p * sigma_p;
    for (size_t i = 0; i < P; i++) {
        double sq = sigma_q ? sigma_q[i] : sigma_q_iso;
        double r = sq / sigma_p, dm = mu[i] - (theta0 ? theta0[i] : 0.0);
        /* r^2 - 1 - ln r^2 computed as (r^2 - 1) - 2 ln r: both tiny when r ~ 1. */
        double t = (r * r - 1.0) - 2.0 * log(r) + dm * dm / vp;
        double yv = t - comp, s2 = sum + yv;
        comp = (s2 - sum) - yv;
        sum = s2;
    }
    double kl = 0.5 * sum;
    return kl > 0 ? kl : 0.0;
}

/* ---- the bounds ---------------------------------------------------------------------- */

static double clamp01(double v)
{
    if (isnan(v))
        return v;
    return v < 0 ? 0.0 : (v > 1 ? 1.0 : v);
}

double pacbayes_mcallester(double e, double kl, double m, double delta)
{
    if (!(m >= 2))
        return NAN;
    return clamp01(e + sqrt((kl + log(2 * m / delta)) / (2 * (m - 1))));
}

double pacbayes_seeger(double e, double kl, double m, double delta)
{
    if (!(m >= 8))
        return NAN;
    return clamp01(pacbayes_kl_inv(e, (kl + log(2 * sqrt(m) / delta)) / m));
}

double pacbayes_catoni(double e, double kl, double m, double delta)
{
    if (!(m >= 1))
        return NAN;
    double best = INFINITY, t = (kl + log(PACBAYES_CATONI_N / delta)) / m;
    for (int j = PACBAYES_CATONI_LO; j <= PACBAYES_CATONI_HI; j++) {
        double C = ldexp(1.0, j);
        double v = -expm1(-C * e - t) / -expm1(-C);
        if (v < best)
            best = v;
    }
    return clamp01(best);
}

static const char *const family_names[PACBAYES_FAMILIES] = {"mcallester", "seeger", "catoni"};

const char *pacbayes_family_name(int f)
{
    return f >= 0 && f < PACBAYES_FAMILIES ? family_names[f] : NULL;
}

int pacbayes_family_from_name(const char *s)
{
    for (int f = 0; f < PACBAYES_FAMILIES; f++)
        if (s && strcmp(s, family_names[f]) == 0)
            return f;
    return -1;
}

double pacbayes_bound(int f, double e, double kl, double m, double delta)
{
    switch (f) {
    case PB_MCALLESTER: return pacbayes_mcallester(e, kl, m, delta);
    case PB_SEEGER: return pacbayes_seeger(e, kl, m, delta);
    case PB_CATONI: return pacbayes_catoni(e, kl, m, delta);
    }
    return NAN;
}

/* ---- Monte Carlo --------------------------------------------------------------------- */

size_t pacbayes_count_errors(const double *f, size_t n, size_t k, const double *y)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double *fi = f + i * k;
        size_t pred = 0;
        if (k == 1) {
            pred = fi[0] > 0;
        } else {
            for (size_t j = 1; j < k; j++)
                if (fi[j] > fi[pred])
                    pred = j;
        }
        bad += pred != (size_t)y[i];
    }
    return bad;
}

/* Standard normals into out[0..n): the polar method keeping both values of each pair
 * (libm's log: the same numbers on one machine for any thread count). */
static void fill_normals(tg_rng *r, double *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        double u, v, s;
        do {
            u = 2.0 * rng_uniform(r) - 1.0;
            v = 2.0 * rng_uniform(r) - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        double f = sqrt(-2.0 * log(s) / s);
        out[i++] = u * f;
        if (i < n)
            out[i++] = v * f;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define MC_BLOCK 2048 /* rows per forward pass */

typedef struct mc_job {
    const mlp_arch *a;
    const double *mu, *sigma;
    double sigma_iso;
    const double *x, *y;
    size_t n, P, K;
    size_t batch;               /* samples whose first layers share one GEMM */
    size_t rows;                /* rows per forward block */
    const pacbayes_mc_cfg *cfg;
    size_t *errs;               /* per sample */
    atomic_size_t next, done, bad_sum;   /* next: the next batch */
    atomic_int stop;
} mc_job;

/* A worker's buffers: for each sample of a batch its network in the forward layout (per
 * layer W_l^T, din x dout, then b_l; the first layer's W_1^T of all samples side by side
 * in w1: d x (B d_1), and their biases in b1: B d_1), the normals, the first layer's
 * outputs of the batch (rows x B d_1) and two blocks of rows x max width. */
typedef struct mc_worker {
    double *theta, *w1, *b1, *eps, *z1, *h0, *h1;
} mc_worker;

static void mc_worker_free(mc_worker *w)
{
    free(w->theta);
    free(w->w1);
    free(w->b1);
    free(w->eps);
    free(w->z1);
    free(w->h0);
    free(w->h1);
}

static size_t max_width(const mlp_arch *a)
{
    size_t m = 1;
    for (size_t l = 1; l <= a->n_layers; l++)
        if (a->dims[l] > m)
            m = a->dims[l];
    return m;
}

static int mc_worker_init(mc_worker *w, const mc_job *J)
{
    size_t B = J->batch, d1 = J->a->dims[1], d = J->a->dims[0];
    memset(w, 0, sizeof *w);
    w->theta = tg_alloc_array(B, J->P, sizeof(double));
    w->w1 = tg_alloc_array(d, B * d1, sizeof(double));
    w->b1 = tg_alloc_array(B, d1, sizeof(double));
    w->eps = tg_alloc_array(J->P, 1, sizeof(double));
    w->z1 = tg_alloc_array(J->rows, B * d1, sizeof(double));
    w->h0 = tg_alloc_array(J->rows, max_width(J->a), sizeof(double));
    w->h1 = tg_alloc_array(J->rows, max_width(J->a), sizeof(double));
    if (!w->theta || !w->w1 || !w->b1 || !w->eps || !w->z1 || !w->h0 || !w->h1) {
        mc_worker_free(w);
        return TG_ENOMEM;
    }
    return TG_OK;
}

/* Sample k's network (theta = mu + sigma .* eps in parameter order, eps from the
 * sample's own stream) into slot s of the batch: layer 1 into w1 / b1, the others into
 * theta + s P in the forward layout. */
static void mc_draw(const mc_job *J, mc_worker *w, size_t k, size_t s)
{
    const mlp_arch *a = J->a;
    int hb = mlp_has_bias(a);
    size_t B = J->batch, d1 = a->dims[1];
    tg_rng r;
    rng_seed_stream(&r, J->cfg->seed, J->cfg->stream + k);
    fill_normals(&r, w->eps, J->P);
    double *th = w->theta + s * J->P;
    size_t off = 0;
    for (size_t l = 1; l <= a->n_layers; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l];
        /* parameter (o, i) of W_l (row-major dout x din) goes to W_l^T[i][o] */
        double *wt = l == 1 ? w->w1 + s * d1 : th + off;
        size_t ld = l == 1 ? B * d1 : dout;
        for (size_t o = 0; o < dout; o++)
            for (size_t i = 0; i < din; i++) {
                size_t p = off + o * din + i;
                double sg = J->sigma ? J->sigma[p] : J->sigma_iso;
                wt[i * ld + o] = J->mu[p] + sg * w->eps[p];
            }
        off += din * dout;
        if (hb) {
            double *bt = l == 1 ? w->b1 + s * d1 : th + off;
            for (size_t o = 0; o < dout; o++) {
                size_t p = off + o;
                double sg = J->sigma ? J->sigma[p] : J->sigma_iso;
                bt[o] = J->mu[p] + sg * w->eps[p];
            }
            off += dout;
        }
    }
}

static void act_inplace(const mlp_arch *a, double *z, size_t cnt)
{
    if (a->act == ACT_RELU) {
        /* Branch-free ((v + |v|) / 2 is exactly max(v, 0)): with signs at random, a
         * branch here mispredicts half the time and took half of the estimate's time. */
        for (size_t i = 0; i < cnt; i++)
            z[i] = 0.5 * (z[i] + fabs(z[i]));
    } else {
        for (size_t i = 0; i < cnt; i++)
            z[i] = mlp_phi(a->act, a->leaky_slope, z[i]);
    }
}

/* The errors of the batch's nb networks on the n rows, added to errs[0..nb): per block of
 * rows, one GEMM for the first layer of all nb networks (z = s_1 X W_1^T + t_1 b_1 with
 * the bias written first and the GEMM accumulating onto it), then each network's other
 * layers, one GEMM each. W_l^T is stored din x dout (the NN layout: OpenBLAS runs it
 * several times faster than NT when dout is small, e.g. the output layer). The result
 * for a network does not depend on which worker runs its batch. */
static void mc_batch_errors(const mc_job *J, mc_worker *w, size_t nb, size_t *errs)
{
    const mlp_arch *a = J->a;
    int hb = mlp_has_bias(a);
    size_t L = a->n_layers, K = a->dims[L], d = a->dims[0], d1 = a->dims[1];
    size_t B = J->batch, ld1 = B * d1;
    for (size_t i0 = 0; i0 < J->n; i0 += J->rows) {
        size_t m = J->n - i0 < J->rows ? J->n - i0 : J->rows;
        const double *x = J->x + i0 * d;
        double t1 = mlp_scale_b(a, 1);
        if (hb)
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < nb * d1; j++)
                    w->z1[i * ld1 + j] = t1 * w->b1[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)(nb * d1), (int)d,
                    mlp_scale_w(a, 1), x, (int)d, w->w1, (int)ld1, hb ? 1.0 : 0.0, w->z1,
                    (int)ld1);
        if (L > 1)
            for (size_t i = 0; i < m; i++)
                act_inplace(a, w->z1 + i * ld1, nb * d1);
        for (size_t s = 0; s < nb; s++) {
            const double *in = w->z1 + s * d1, *th = w->theta + s * J->P;
            size_t ld_in = ld1, off = d * d1 + (hb ? d1 : 0);
            double *z = w->h0;
            if (L == 1) {
                /* one layer: copy the network's outputs out of the batch block */
                for (size_t i = 0; i < m; i++)
                    memcpy(z + i * K, in + i * ld1, K * sizeof(double));
            }
            for (size_t l = 2; l <= L; l++) {
                size_t din = a->dims[l - 1], dout = a->dims[l];
                const double *wt = th + off, *b = wt + din * dout;
                double t = mlp_scale_b(a, l);
                off += din * dout + (hb ? dout : 0);
                if (hb)
                    for (size_t i = 0; i < m; i++)
                        for (size_t j = 0; j < dout; j++)
                            z[i * dout + j] = t * b[j];
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)dout,
                            (int)din, mlp_scale_w(a, l), in, (int)ld_in, wt, (int)dout,
                            hb ? 1.0 : 0.0, z, (int)dout);
                if (l < L) {
                    act_inplace(a, z, m * dout);
                    in = z;
                    ld_in = dout;
                    z = z == w->h0 ? w->h1 : w->h0;
                }
            }
            errs[s] += pacbayes_count_errors(z, m, K, J->y + i0);
        }
    }
}

/* Takes samples until none is left or stop is set. */
static void mc_loop(mc_job *J, mc_worker *w, int report)
{
    double last = report ? now_s() : 0;
    size_t total = J->cfg->samples;
    if (report && J->cfg->on_progress && J->cfg->on_progress(J->cfg->ud, 0, total, 0.0)) {
        atomic_store(&J->stop, 1);
        return;
    }
    for (;;) {
        if (atomic_load(&J->stop))
            return;
        size_t bi = atomic_fetch_add(&J->next, 1), k0 = bi * J->batch;
        if (k0 >= total)
            break;
        size_t nb = total - k0 < J->batch ? total - k0 : J->batch, bad = 0;
        for (size_t s = 0; s < nb; s++) {
            mc_draw(J, w, k0 + s, s);
            J->errs[k0 + s] = 0;
        }
        mc_batch_errors(J, w, nb, J->errs + k0);
        for (size_t s = 0; s < nb; s++)
            bad += J->errs[k0 + s];
        atomic_fetch_add(&J->bad_sum, bad);
        atomic_fetch_add(&J->done, nb);
        if (report && J->cfg->on_progress && now_s() - last >= 0.25) {
            size_t done = atomic_load(&J->done);
            double run = (double)atomic_load(&J->bad_sum) / ((double)done * (double)J->n);
            last = now_s();
            if (J->cfg->on_progress(J->cfg->ud, done, total, run)) {
                atomic_store(&J->stop, 1);
                return;
            }
        }
    }
    if (!report)
        return;
    /* The reporting thread waits for the others' last samples, still reporting. */
    while (atomic_load(&J->done) < total && !atomic_load(&J->stop)) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (J->cfg->on_progress && now_s() - last >= 0.25) {
            size_t done = atomic_load(&J->done);
            double run = done ? (double)atomic_load(&J->bad_sum) / ((double)done * (double)J->n)
                              : 0.0;
            last = now_s();
            if (J->cfg->on_progress(J->cfg->ud, done, total, run)) {
                atomic_store(&J->stop, 1);
                return;
            }
        }
    }
}

static void *mc_thread(void *arg)
{
    mc_job *J = arg;
    mc_worker w;
    if (mc_worker_init(&w, J))
        return NULL; /* the other threads take its share: the same result */
    mc_loop(J, &w, 0);
    mc_worker_free(&w);
    return NULL;
}

int pacbayes_mc_error(const mlp_arch *a, const double *mu, const double *sigma,
                      double sigma_iso, const double *x, const double *y, size_t n,
                      const pacbayes_mc_cfg *cfg, double *err_out, size_t *per_sample,
                      tg_err *err)
{
    mc_job J;
    mc_worker w;
    pthread_t th[64];
    int nt = cfg->threads < 1 ? 1 : (cfg->threads > 64 ? 64 : cfg->threads), started = 0;
    int rc = TG_OK;
    memset(&J, 0, sizeof J);
    J.a = a;
    J.mu = mu;
    J.sigma = sigma;
    J.sigma_iso = sigma_iso;
    J.x = x;
    J.y = y;
    J.n = n;
    J.P = mlp_param_count(a);
    J.K = a->dims[a->n_layers];
    J.cfg = cfg;
    /* Batches of up to 8 samples, fewer when the batch's first-layer block (rows x B d_1)
     * or its networks (B P) would pass 2^21 doubles; a function of the shapes only, so
     * that the batches (and the result) are the same for any thread count. */
    J.rows = n < MC_BLOCK ? (n ? n : 1) : MC_BLOCK;
    J.batch = 8;
    while (J.batch > 1 && ((double)J.rows * (double)(J.batch * a->dims[1]) > 2097152.0 ||
                           (double)J.batch * (double)J.P > 2097152.0))
        J.batch /= 2;
    atomic_init(&J.next, 0);
    atomic_init(&J.done, 0);
    atomic_init(&J.bad_sum, 0);
    atomic_init(&J.stop, 0);
    *err_out = NAN;
    if (cfg->samples == 0 || n == 0) {
        *err_out = 0;
        return TG_OK;
    }
    J.errs = tg_alloc_array(cfg->samples, 1, sizeof(size_t));
    if (!J.errs)
        return tg_err_set(err, TG_ENOMEM, "out of memory (Monte Carlo errors)");
    if (mc_worker_init(&w, &J)) {
        free(J.errs);
        return tg_err_set(err, TG_ENOMEM, "out of memory (Monte Carlo workspace)");
    }
    size_t nbatches = (cfg->samples + J.batch - 1) / J.batch;
    if ((size_t)nt > nbatches)
        nt = (int)nbatches;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&th[started], NULL, mc_thread, &J) != 0)
            break; /* fewer threads: the same result */
        started++;
    }
    mc_loop(&J, &w, 1);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    mc_worker_free(&w);
    if (atomic_load(&J.stop)) {
        rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
    }
    if (rc == TG_OK) {
        double s = 0;
        for (size_t k = 0; k < cfg->samples; k++)
            s += (double)J.errs[k] / (double)n;
        *err_out = s / (double)cfg->samples;
        if (per_sample)
            memcpy(per_sample, J.errs, cfg->samples * sizeof(size_t));
    }
    free(J.errs);
    return rc;
}

/* ---- Dziugaite-Roy optimization ------------------------------------------------------ */

double pacbayes_surrogate(const mlp_arch *a, const double *theta0, const double *w,
                          const double *x, const double *y, size_t n, const double *eps,
                          size_t S, double m, double delta, tg_loss loss, int train_lambda,
                          mlp_ws *ws, double *th, double *gl, double *grad)
{
    size_t P = mlp_param_count(a), N = 2 * P + 1;
    double inv_ln2 = 1.0 / log(2.0), lam = w[2 * P], vp = exp(2 * lam), L = 0;
    memset(grad, 0, N * sizeof(double));
    for (size_t s = 0; s < S; s++) {
        const double *e = eps + s * P;
        for (size_t i = 0; i < P; i++)
            th[i] = w[i] + exp(w[P + i]) * e[i];
        L += mlp_loss_grad(a, th, x, y, 1, NULL, n, loss, ws, gl) * inv_ln2;
        /* Reparameterization: theta = mu + exp(rho) eps, so dL/dmu = g and
         * dL/drho = g eps exp(rho). */
        for (size_t i = 0; i < P; i++) {
            double gi = gl[i] * inv_ln2 / (double)S;
            grad[i] += gi;
            grad[P + i] += gi * e[i] * exp(w[P + i]);
        }
    }
    L /= (double)S;
    /* KL(Q||P) with sigma_Q = exp(rho), sigma_P = exp(lambda), and its gradient:
     * dKL/dmu = (mu - theta0)/sp^2, dKL/drho = sq^2/sp^2 - 1,
     * dKL/dlambda = P - (sum sq^2 + |mu - theta0|^2)/sp^2. */
    double kl = 0, ssum = 0;
    for (size_t i = 0; i < P; i++) {
        double sq = exp(2 * w[P + i]), dm = w[i] - (theta0 ? theta0[i] : 0.0);
        kl += sq / vp + dm * dm / vp - 1 + 2 * lam - 2 * w[P + i];
        ssum += sq + dm * dm;
    }
    kl *= 0.5;
    double R = sqrt((kl + log(2 * m / delta)) / (2 * (m - 1)));
    double dR = 1.0 / (4 * (m - 1) * R);
    for (size_t i = 0; i < P; i++) {
        double sq = exp(2 * w[P + i]), dm = w[i] - (theta0 ? theta0[i] : 0.0);
        grad[i] += dR * dm / vp;
        grad[P + i] += dR * (sq / vp - 1);
    }
    grad[2 * P] = train_lambda ? dR * ((double)P - ssum / vp) : 0.0;
    return L + R;
}

int pacbayes_optimize(const mlp_arch *a, const double *theta0, double *mu, double *sigma,
                      double *sigma_p, const double *x, const double *y, size_t n,
                      const pacbayes_opt_cfg *cfg, tg_err *err)
{
    size_t P = mlp_param_count(a), d = a->dims[0];
    size_t B = cfg->batch < n ? cfg->batch : n, S = cfg->samples ? cfg->samples : 1;
    int rc = TG_OK;
    int train_lambda = cfg->lambda_max > cfg->lambda_min;
    /* The optimized vector: [mu (P), rho (P), lambda (1)]. */
    size_t N = 2 * P + 1;
    double *w = tg_alloc_array(N, 1, sizeof(double));
    double *g = tg_alloc_array(N, 1, sizeof(double));
    double *th = tg_alloc_array(P, 1, sizeof(double));
    double *eps = tg_alloc_array(S, P, sizeof(double));
    double *gl = tg_alloc_array(P, 1, sizeof(double));
    double *xb = tg_alloc_array(B ? B : 1, d, sizeof(double));
    double *yb = tg_alloc_array(B ? B : 1, 1, sizeof(double));
    size_t *perm = tg_alloc_array(n ? n : 1, 1, sizeof(size_t));
    mlp_ws *ws = mlp_ws_new(a, B ? B : 1);
    optim_cfg oc = {.kind = OPT_ADAM, .lr = cfg->lr, .eps = 1e-8, .beta1 = 0.9,
                    .beta2 = 0.999};
    optim_state *os = optim_state_new(&oc, N);
    tg_rng r_perm, r_eps;
    if (!w || !g || !th || !eps || !gl || !xb || !yb || !perm || !ws || !os) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory (posterior optimization)");
        goto out;
    }
    rng_seed_stream(&r_perm, cfg->seed, cfg->stream);
    rng_seed_stream(&r_eps, cfg->seed, cfg->stream + 1);
    memcpy(w, mu, P * sizeof(double));
    for (size_t i = 0; i < P; i++)
        w[P + i] = log(sigma[i]);
    w[2 * P] = log(*sigma_p);
    double last = now_s();
    size_t steps_per_epoch = B ? (n + B - 1) / B : 0;
    for (size_t ep = 0; ep < cfg->epochs; ep++) {
        double obj_sum = 0;
        rng_permutation(&r_perm, perm, n);
        for (size_t st = 0; st < steps_per_epoch; st++) {
            size_t lo = st * B, nb = n - lo < B ? n - lo : B;
            for (size_t i = 0; i < nb; i++) {
                memcpy(xb + i * d, x + perm[lo + i] * d, d * sizeof(double));
                yb[i] = y[perm[lo + i]];
            }
            for (size_t k = 0; k < S; k++)
                fill_normals(&r_eps, eps + k * P, P);
            double obj = pacbayes_surrogate(a, theta0, w, xb, yb, nb, eps, S, cfg->m,
                                            cfg->delta, cfg->loss, train_lambda, ws, th, gl, g);
            if (!isfinite(obj)) {
                rc = tg_err_set(err, TG_EDIVERGED,
                                "the posterior optimization diverged (objective %g at epoch "
                                "%zu); lower params.posterior.optimize.lr", obj, ep + 1);
                goto out;
            }
            obj_sum += obj * (double)nb;
            optim_step(&oc, os, w, g, cfg->lr);
            if (w[2 * P] < cfg->lambda_min)
                w[2 * P] = cfg->lambda_min;
            if (w[2 * P] > cfg->lambda_max)
                w[2 * P] = cfg->lambda_max;
            if (cfg->on_progress && now_s() - last >= 0.25) {
                last = now_s();
                double frac = ((double)ep + (double)(st + 1) / (double)steps_per_epoch) /
                              (double)cfg->epochs;
                if (cfg->on_progress(cfg->ud, frac, ep, obj_sum / (double)(lo + nb))) {
                    rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
                    goto out;
                }
            }
        }
        if (cfg->on_progress) {
            last = now_s();
            if (cfg->on_progress(cfg->ud, (double)(ep + 1) / (double)cfg->epochs, ep + 1,
                                 n ? obj_sum / (double)n : 0)) {
                rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
                goto out;
            }
        }
    }
    memcpy(mu, w, P * sizeof(double));
    for (size_t i = 0; i < P; i++)
        sigma[i] = exp(w[P + i]);
    *sigma_p = exp(w[2 * P]);
out:
    free(w);
    free(g);
    free(th);
    free(eps);
    free(gl);
    free(xb);
    free(yb);
    free(perm);
    mlp_ws_free(ws);
    optim_state_free(os);
    return rc;
}
