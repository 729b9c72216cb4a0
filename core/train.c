/* train.c: the training loop of train.h. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lanczos.h"
#include "linalg.h"
#include "rng.h"

enum { STREAM_PERM = 1, STREAM_NOISE = 2, STREAM_SHARP = 3, STREAM_INIT = 4 };

void train_result_deinit(train_result *r)
{
    if (!r)
        return;
    free(r->history);
    memset(r, 0, sizeof *r);
}

/* ---- initialization ---------------------------------------------------------------- */

static int orthogonal(size_t rows, size_t cols, tg_rng *rng, double *W)
{
    int m = (int)(rows > cols ? rows : cols), n = (int)(rows > cols ? cols : rows);
    int info = 0, lwork = -1;
    double wq;
    double *A = tg_alloc_array((size_t)m, (size_t)n, sizeof(double));
    double *tau = malloc((size_t)n * sizeof(double));
    double *work = NULL;
    int rc = TG_ENOMEM;
    if (!A || !tau)
        goto out;
    /* torch.nn.init.orthogonal_: Gaussian (rows x cols), transposed when rows < cols, QR,
     * columns of Q times the signs of diag(R). A is column-major m x n. */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double g = rng_normal(rng);
            if (rows >= cols)
                A[i + j * (size_t)m] = g;
            else
                A[j + i * (size_t)m] = g;
        }
    dgeqrf_(&m, &n, A, &m, tau, &wq, &lwork, &info);
    lwork = (int)wq + 1;
    work = malloc((size_t)lwork * sizeof(double));
    if (!work)
        goto out;
    dgeqrf_(&m, &n, A, &m, tau, work, &lwork, &info);
    if (info) {
        rc = TG_ENUMERICAL;
        goto out;
    }
    double *sgn = tau; /* reuse after reading R's diagonal */
    double *diag = malloc((size_t)n * sizeof(double));
    if (!diag)
        goto out;
    for (int j = 0; j < n; j++)
        diag[j] = A[j + j * (size_t)m] >= 0 ? 1.0 : -1.0;
    dorgqr_(&m, &n, &n, A, &m, tau, work, &lwork, &info);
    if (info) {
        free(diag);
        rc = TG_ENUMERICAL;
        goto out;
    }
    (void)sgn;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            W[i * cols + j] = rows >= cols ? A[i + j * (size_t)m] * diag[j]
                                           : A[j + i * (size_t)m] * diag[i];
    free(diag);
    rc = TG_OK;
out:
    free(A);
    free(tau);
    free(work);
    return rc;
}

int train_init(const mlp_arch *a, const char *init, double init_std, uint64_t seed,
               double *theta, tg_err *err)
{
    tg_rng rng;
    rng_seed_stream(&rng, seed, STREAM_INIT);
    int hb = mlp_has_bias(a);
    for (size_t l = 1; l <= a->n_layers; l++) {
        size_t fin = a->dims[l - 1], fout = a->dims[l], wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        double *W = theta + wo;
        size_t nw = fin * fout;
        if (strcmp(init, "default") == 0) {
            if (a->ntk) {
                for (size_t i = 0; i < nw; i++)
                    W[i] = rng_normal(&rng);
                if (hb)
                    for (size_t i = 0; i < fout; i++)
                        theta[bo + i] = rng_normal(&rng);
            } else {
                double b = 1.0 / sqrt((double)fin);
                for (size_t i = 0; i < nw; i++)
                    W[i] = (2.0 * rng_uniform(&rng) - 1.0) * b;
                if (hb)
                    for (size_t i = 0; i < fout; i++)
                        theta[bo + i] = (2.0 * rng_uniform(&rng) - 1.0) * b;
            }
            continue;
        }
        if (strcmp(init, "xavier_uniform") == 0 || strcmp(init, "he_uniform") == 0) {
            double b = init[0] == 'x' ? sqrt(6.0 / (double)(fin + fout)) : sqrt(6.0 / (double)fin);
            for (size_t i = 0; i < nw; i++)
                W[i] = (2.0 * rng_uniform(&rng) - 1.0) * b;
        } else if (strcmp(init, "xavier_normal") == 0 || strcmp(init, "he_normal") == 0 ||
                   strcmp(init, "normal") == 0) {
            double sd = init[0] == 'x'   ? sqrt(2.0 / (double)(fin + fout))
                        : init[0] == 'h' ? sqrt(2.0 / (double)fin)
                                         : init_std;
            for (size_t i = 0; i < nw; i++)
                W[i] = sd * rng_normal(&rng);
        } else if (strcmp(init, "orthogonal") == 0) {
            int rc = orthogonal(fout, fin, &rng, W);
            if (rc)
                return tg_err_set(err, rc, "orthogonal initialization failed");
        } else {
            return tg_err_setf(err, TG_EINVAL, "init", "unknown init \"%s\"", init);
        }
        if (hb)
            memset(theta + bo, 0, fout * sizeof(double));
    }
    return TG_OK;
}

/* ---- metrics ----------------------------------------------------------------------- */

void train_metrics(const mlp_arch *a, tg_loss loss, const double *theta, const double *x,
                   const double *y, size_t n, int classification, size_t ydim, mlp_ws *ws,
                   double *fbuf, split_metrics *out)
{
    size_t k = a->dims[a->n_layers], d = a->dims[0];
    int y_is_class = classification;
    double lsum = 0, correct = 0, se = 0;
    memset(out, 0, sizeof *out);
    out->present = n > 0;
    if (n == 0)
        return;
    for (size_t i0 = 0; i0 < n; i0 += ws->n_max) {
        size_t m = n - i0 < ws->n_max ? n - i0 : ws->n_max;
        mlp_forward(a, theta, x + i0 * d, m, ws, fbuf);
        for (size_t i = 0; i < m; i++) {
            const double *f = fbuf + i * k, *yi = y + (i0 + i) * ydim;
            lsum += mlp_loss_one(loss, f, k, yi, y_is_class, NULL);
            if (classification) {
                size_t pred = 0;
                if (k == 1) {
                    pred = f[0] > 0 ? 1 : 0;
                } else {
                    for (size_t j = 1; j < k; j++)
                        if (f[j] > f[pred])
                            pred = j;
                }
                correct += pred == (size_t)yi[0];
            } else {
                for (size_t j = 0; j < k; j++)
                    se += (f[j] - yi[j]) * (f[j] - yi[j]);
            }
        }
    }
    out->loss = lsum / (double)n;
    if (classification)
        out->accuracy = correct / (double)n;
    else
        out->mse = se / ((double)n * (double)k);
}

/* ---- sharpness --------------------------------------------------------------------- */

typedef struct hvp_ctx {
    const mlp_arch *a;
    tg_loss loss;
    const double *theta, *x, *y;
    int y_is_class;
    size_t n;
    double l2;
    mlp_ws *ws;
    const tg_progress *prog;
} hvp_ctx;

static int hvp_op(void *ud, const double *v, double *out)
{
    hvp_ctx *c = ud;
    size_t P = mlp_param_count(c->a);
    if (tg_progress_report(c->prog, -1.0, NULL))
        return 1;
    mlp_hvp(c->a, c->theta, c->x, c->y, c->y_is_class, c->n, c->loss, v, c->ws, out, NULL);
    for (size_t i = 0; i < P; i++)
        out[i] += c->l2 * v[i];
    return 0;
}

int train_sharpness(const mlp_arch *a, tg_loss loss, const double *theta, const double *x,
                    const double *y, int y_is_class, size_t n, double l2, int iters,
                    uint64_t seed, const tg_progress *prog, double *out)
{
    size_t P = mlp_param_count(a), k;
    size_t nm = n < 2048 ? n : 2048;
    mlp_ws *ws = mlp_ws_new(a, nm ? nm : 1);
    double *ritz = malloc((size_t)iters * sizeof(double));
    tg_rng rng;
    int rc = TG_ENOMEM;
    if (!ws || !ritz)
        goto out;
    rng_seed_stream(&rng, seed, STREAM_SHARP);
    hvp_ctx c = {a, loss, theta, x, y, y_is_class, n, l2, ws, prog};
    rc = lanczos_ritz(hvp_op, &c, P, (size_t)iters, &rng, ritz, &k);
    if (rc == TG_OK)
        *out = k ? ritz[k - 1] : NAN;
out:
    mlp_ws_free(ws);
    free(ritz);
    return rc;
}

/* ---- the loop ---------------------------------------------------------------------- */

typedef struct loop {
    const train_cfg *cfg;
    const train_data *data;
    size_t P, ydim, bs;
    int y_is_class;
    mlp_ws *ws;
    double *g, *g2, *e, *theta_e, *xb, *yb, *fbuf, *best;
    size_t *perm;
    optim_state *opt;
    tg_rng rng_perm, rng_noise;
} loop;

/* Gradient of J for the batch: mean-loss gradient, clipped, plus the L2 term (at tp). */
static double batch_grad(loop *L, const double *tp, size_t m, double *g)
{
    const train_cfg *cfg = L->cfg;
    double lv = mlp_loss_grad(&cfg->arch, tp, L->xb, L->yb, L->y_is_class, NULL, m, cfg->loss,
                              L->ws, g);
    if (cfg->clip > 0) {
        /* torch.nn.utils.clip_grad_norm_: scale by min(1, c / (norm + 1e-6)). */
        double c = cfg->clip / (linalg_norm(g, L->P) + 1e-6);
        if (c < 1.0)
            for (size_t i = 0; i < L->P; i++)
                g[i] *= c;
    }
    if (cfg->opt.kind != OPT_ADAMW && !(cfg->opt.kind == OPT_SAM && cfg->opt.base == OPT_ADAMW) &&
        cfg->weight_decay != 0)
        for (size_t i = 0; i < L->P; i++)
            g[i] += cfg->weight_decay * tp[i];
    return lv;
}

static void gather(loop *L, const size_t *idx, size_t m)
{
    const train_data *D = L->data;
    const train_cfg *cfg = L->cfg;
    for (size_t i = 0; i < m; i++) {
        memcpy(L->xb + i * D->d, D->x + idx[i] * D->d, D->d * sizeof(double));
        memcpy(L->yb + i * L->ydim, D->y + idx[i] * L->ydim, L->ydim * sizeof(double));
        if (cfg->noise == NOISE_SIGMA) {
            for (size_t j = 0; j < L->ydim; j++)
                L->yb[i * L->ydim + j] += cfg->noise_level * rng_normal(&L->rng_noise);
        } else if (cfg->noise == NOISE_FLIP && cfg->n_classes > 1) {
            if (rng_uniform(&L->rng_noise) < cfg->noise_level) {
                size_t c = (size_t)L->yb[i], o = (size_t)rng_below(&L->rng_noise,
                                                                   cfg->n_classes - 1);
                L->yb[i] = (double)(o >= c ? o + 1 : o);
            }
        }
    }
}

/* Sum of squares with four accumulators (the compiler keeps them in registers). */
static double sumsq(const double *v, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += v[i] * v[i];
        s1 += v[i + 1] * v[i + 1];
        s2 += v[i + 2] * v[i + 2];
        s3 += v[i + 3] * v[i + 3];
    }
    for (; i < n; i++)
        s0 += v[i] * v[i];
    return (s0 + s1) + (s2 + s3);
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static void epoch_metrics(loop *L, const double *theta, train_epoch *e)
{
    const train_cfg *cfg = L->cfg;
    const train_data *D = L->data;
    train_metrics(&cfg->arch, cfg->loss, theta, D->x, D->y, D->n, D->classification, L->ydim,
                  L->ws, L->fbuf, &e->train);
    train_metrics(&cfg->arch, cfg->loss, theta, D->x_val, D->y_val, D->n_val,
                  D->classification, L->ydim, L->ws, L->fbuf, &e->val);
    train_metrics(&cfg->arch, cfg->loss, theta, D->x_test, D->y_test, D->n_test,
                  D->classification, L->ydim, L->ws, L->fbuf, &e->test);
    int decoupled = cfg->opt.kind == OPT_ADAMW ||
                    (cfg->opt.kind == OPT_SAM && cfg->opt.base == OPT_ADAMW);
    double sq = linalg_dot(theta, theta, L->P);
    e->objective = e->train.loss + (decoupled ? 0.0 : 0.5 * cfg->weight_decay * sq);
}

int train_run(const train_cfg *cfg, const train_data *data, double *theta,
              train_result *res, const tg_progress *prog, train_epoch_fn on_epoch, void *ud,
              tg_err *err)
{
    loop L;
    int rc = TG_OK;
    memset(&L, 0, sizeof L);
    memset(res, 0, sizeof *res);
    L.cfg = cfg;
    L.data = data;
    L.P = mlp_param_count(&cfg->arch);
    L.y_is_class = data->classification;
    L.ydim = data->classification ? 1 : data->ydim;
    size_t n = data->n;
    L.bs = cfg->batch_size == 0 || cfg->batch_size > n ? n : cfg->batch_size;
    size_t nmax = L.bs > 512 ? L.bs : 512;
    if (nmax > 4096)
        nmax = 4096;
    size_t k = cfg->arch.dims[cfg->arch.n_layers];
    L.ws = mlp_ws_new(&cfg->arch, nmax);
    L.g = tg_alloc_array(L.P, 1, sizeof(double));
    L.g2 = tg_alloc_array(L.P, 1, sizeof(double));
    L.e = tg_alloc_array(L.P, 1, sizeof(double));
    L.theta_e = tg_alloc_array(L.P, 1, sizeof(double));
    L.best = tg_alloc_array(L.P, 1, sizeof(double));
    L.xb = tg_alloc_array(L.bs, data->d, sizeof(double));
    L.yb = tg_alloc_array(L.bs, L.ydim, sizeof(double));
    L.fbuf = tg_alloc_array(nmax, k, sizeof(double));
    L.perm = tg_alloc_array(n, 1, sizeof(size_t));
    L.opt = optim_state_new(&cfg->opt, L.P);
    res->history = calloc((size_t)cfg->epochs + 1, sizeof(train_epoch));
    if (!L.ws || !L.g || !L.g2 || !L.e || !L.theta_e || !L.best || !L.xb || !L.yb || !L.fbuf ||
        !L.perm || !L.opt || !res->history) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for training");
        goto out;
    }
    rng_seed_stream(&L.rng_perm, cfg->seed, STREAM_PERM);
    rng_seed_stream(&L.rng_noise, cfg->seed, STREAM_NOISE);
    for (size_t i = 0; i < n; i++)
        L.perm[i] = i;

    size_t batches = (n + L.bs - 1) / L.bs;
    double total_steps = (double)batches * (double)cfg->epochs;
    if (cfg->max_steps > 0 && (double)cfg->max_steps < total_steps)
        total_steps = (double)cfg->max_steps;
    double best_val = INFINITY;
    long long wait = 0;
    int have_best = 0;
    char msg[96];

    for (long long ep = 0; ep < cfg->epochs; ep++) {
        double lr = sched_lr(&cfg->sched, cfg->opt.lr, ep);
        double gsum = 0;
        long long steps_this = 0;
        /* Full batch: the data in order (the mean does not depend on the order); else
         * a fresh permutation per epoch. */
        if (L.bs < n)
            rng_shuffle(&L.rng_perm, L.perm, n);
        for (size_t b = 0; b < batches; b++) {
            if (cfg->max_steps > 0 && res->steps >= cfg->max_steps)
                break;
            snprintf(msg, sizeof msg, "epoch %lld/%lld", ep + 1, cfg->epochs);
            if (tg_progress_report(prog, (double)res->steps / total_steps, msg)) {
                rc = TG_ECANCELLED;
                goto out;
            }
            size_t lo = b * L.bs, m = n - lo < L.bs ? n - lo : L.bs;
            gather(&L, L.perm + lo, m);
            double lv = batch_grad(&L, theta, m, L.g);
            /* One pass for the norm; a non-finite sum of squares means a non-finite
             * gradient (or an overflow, which diverges all the same). */
            double gsq = sumsq(L.g, L.P);
            if (!isfinite(lv) || !isfinite(gsq)) {
                rc = tg_err_set(err, TG_EDIVERGED, "the training loss became %s at epoch %lld, "
                                "step %lld (lower the learning rate?)",
                                isnan(lv) ? "NaN" : "infinite", ep + 1, res->steps + 1);
                goto out;
            }
            gsum += sqrt(gsq);
            if (cfg->opt.kind == OPT_SAM) {
                optim_sam_perturbation(cfg->opt.rho, L.g, L.P, L.e);
                for (size_t i = 0; i < L.P; i++)
                    L.theta_e[i] = theta[i] + L.e[i];
                batch_grad(&L, L.theta_e, m, L.g2);
                optim_step(&cfg->opt, L.opt, theta, L.g2, lr);
            } else {
                optim_step(&cfg->opt, L.opt, theta, L.g, lr);
            }
            res->steps++;
            res->samples += (double)m;
            steps_this++;
        }
        if (!all_finite(theta, L.P)) {
            rc = tg_err_set(err, TG_EDIVERGED, "the weights became non-finite in epoch %lld",
                            ep + 1);
            goto out;
        }
        train_epoch *e = &res->history[res->n_history];
        memset(e, 0, sizeof *e);
        e->epoch = ep + 1;
        e->lr = lr;
        e->grad_norm = steps_this ? gsum / (double)steps_this : 0;
        epoch_metrics(&L, theta, e);
        if (!isfinite(e->train.loss)) {
            rc = tg_err_set(err, TG_EDIVERGED, "the training loss became %s after epoch %lld",
                            isnan(e->train.loss) ? "NaN" : "infinite", ep + 1);
            res->n_history++;
            res->epochs_run = ep + 1;
            goto out;
        }
        if (cfg->sharpness_every > 0 && (ep + 1) % cfg->sharpness_every == 0) {
            int decoupled = cfg->opt.kind == OPT_ADAMW ||
                            (cfg->opt.kind == OPT_SAM && cfg->opt.base == OPT_ADAMW);
            double sh;
            rc = train_sharpness(&cfg->arch, cfg->loss, theta, data->x, data->y, L.y_is_class,
                                 n, decoupled ? 0.0 : cfg->weight_decay, cfg->sharpness_iters,
                                 cfg->seed + (uint64_t)ep, prog, &sh);
            if (rc) {
                if (rc != TG_ECANCELLED)
                    tg_err_set(err, rc, "sharpness estimation failed");
                goto out;
            }
            e->has_sharpness = 1;
            e->sharpness = sh;
            e->two_over_lr = 2.0 / lr;
        }
        res->n_history++;
        res->epochs_run = ep + 1;
        int stop = 0;
        if (cfg->early_stopping && e->val.present) {
            if (e->val.loss < best_val - cfg->min_delta) {
                best_val = e->val.loss;
                res->best_epoch = e->epoch;
                memcpy(L.best, theta, L.P * sizeof(double));
                have_best = 1;
                wait = 0;
            } else if (++wait >= cfg->patience) {
                stop = 1;
                res->stopped_early = 1;
            }
        }
        if (on_epoch)
            on_epoch(ud, e, total_steps > 0 ? (double)res->steps / total_steps : 1.0);
        if (stop || (cfg->max_steps > 0 && res->steps >= cfg->max_steps))
            break;
    }
    if (cfg->early_stopping && cfg->restore_best && have_best) {
        memcpy(theta, L.best, L.P * sizeof(double));
        res->final = res->history[res->best_epoch - 1];
    } else if (res->n_history > 0) {
        res->final = res->history[res->n_history - 1];
    } else {
        memset(&res->final, 0, sizeof res->final);
        epoch_metrics(&L, theta, &res->final);
    }
out:
    mlp_ws_free(L.ws);
    free(L.g);
    free(L.g2);
    free(L.e);
    free(L.theta_e);
    free(L.best);
    free(L.xb);
    free(L.yb);
    free(L.fbuf);
    free(L.perm);
    optim_state_free(L.opt);
    return rc;
}
