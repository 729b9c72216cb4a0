/* hessian.c: see hessian.h. Stages and their shares of the progress fraction: the
 * gradient (2%), the eigenvalues (exact: the Hessian's columns; Lanczos: its steps), the
 * trace, the density. */
#include "hessian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lanczos.h"
#include "rng.h"

/* Hutchinson probes applied per pass of curv_hvp_multi_ws. */
#define HESSIAN_TRACE_BLOCK 16

void hessian_result_deinit(hessian_result *r)
{
    free(r->top);
    free(r->bottom);
    free(r->grid);
    free(r->values);
    memset(r, 0, sizeof *r);
}

/* A stage [lo, hi] of the parent progress. */
typedef struct stage {
    const tg_progress *parent;
    double lo, hi;
} stage;

static int stage_fn(void *ud, double f, const char *msg)
{
    stage *s = ud;
    return tg_progress_report(s->parent, f < 0 ? -1.0 : s->lo + (s->hi - s->lo) * f, msg);
}

/* HVP cost ~ 16 n x (the multiply-adds of one forward pass ~ P). */
static double hvp_flops(const mlp_arch *a, size_t n)
{
    return 16.0 * (double)n * (double)mlp_param_count(a);
}

double hessian_flops(const mlp_arch *a, size_t n, size_t dim, const hessian_cfg *cfg)
{
    double h = hvp_flops(a, n), D = (double)dim, f = h / 4; /* the gradient */
    if (cfg->method == HESSIAN_EXACT) {
        curv_obj o = {.arch = a, .n = n, .p_lo = 0, .p_hi = dim, .threads = 1};
        f += (curv_struct_applies(&o) ? curv_struct_flops(&o) : D * h) + 4.0 / 3.0 * D * D * D;
    } else {
        double s = (double)cfg->max_steps;
        f += s * h + 4.0 * s * s * D;
        f += (double)cfg->trace_samples * h;
        if (cfg->density)
            f += (double)cfg->probes * ((double)cfg->steps * h + 4.0 * (double)cfg->steps *
                                        (double)cfg->steps * D);
    }
    return f;
}

double hessian_memory(const mlp_arch *a, size_t n, size_t dim, const hessian_cfg *cfg,
                      int threads)
{
    double D = (double)dim, P = (double)mlp_param_count(a);
    double ws = curv_ws_bytes(a, n, threads);
    double m;
    if (cfg->method == HESSIAN_EXACT) {
        /* curv_hessian (H and its workspace), then the eigenvalues and dsyevd's workspace
         * (values only) */
        curv_obj o = {.arch = a, .n = n, .p_lo = 0, .p_hi = dim, .threads = threads};
        return curv_hessian_bytes(&o) + 8.0 * 4.0 * D;
    } else {
        /* The basis (steps x dim, in chunks of 32 rows), three vectors, the tridiagonal's
         * selected eigenvectors; SLQ runs after the extreme Lanczos and reuses the space. */
        double s = fmax((double)cfg->max_steps, cfg->density ? (double)cfg->steps : 0);
        m = 8.0 * ((s + 32.0) * D + 4.0 * D + 2.0 * (s + 64) * (s + 64) + 2.0 * P);
    }
    if (cfg->density)
        m += 8.0 * ((double)cfg->probes * (double)cfg->steps * 2.0 + 2.0 * (double)cfg->bins);
    if (cfg->trace_samples) /* the probes' block and the multi-direction products' buffers */
        m += 8.0 * 2.0 * HESSIAN_TRACE_BLOCK * D +
             curv_hvp_multi_bytes(a, n, HESSIAN_TRACE_BLOCK, threads, 0);
    return m + ws;
}

static void fill_density(hessian_result *res, const hessian_cfg *cfg, const double *nodes,
                         const double *weights, const size_t *counts, size_t probes,
                         size_t stride, double lo_eig, double hi_eig)
{
    double range = hi_eig - lo_eig;
    double sigma = cfg->sigma > 0 ? cfg->sigma : 1e-3 * range;
    if (!(sigma > 0)) /* a single eigenvalue: a width relative to its size */
        sigma = 1e-3 * fmax(fabs(hi_eig), 1e-300);
    res->sigma = sigma;
    lanczos_slq_density(nodes, weights, counts, probes, stride, sigma, lo_eig - 5 * sigma,
                        hi_eig + 5 * sigma, cfg->bins, res->grid, res->values);
}

static int run_exact(const curv_obj *o, const hessian_cfg *cfg, const tg_progress *prog,
                     hessian_result *res, tg_err *err)
{
    size_t dim = res->dim, nb;
    int rc;
    double *H = NULL, *w = NULL, *wt = NULL;
    size_t count = dim;
    if (tg_mul3_size(dim, dim, sizeof(double), &nb) || !(H = tg_alloc_big(nb)) ||
        !(w = tg_alloc_array(dim, 1, sizeof(double)))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the %zu x %zu Hessian", dim, dim);
        goto out;
    }
    stage st = {prog, 0.02, 0.95};
    tg_progress sp = {stage_fn, &st};
    curv_obj oc = *o;
    oc.prog = &sp;
    if ((rc = curv_hessian(&oc, H))) {
        tg_err_set(err, rc, rc == TG_ECANCELLED ? "cancelled" : "out of memory");
        goto out;
    }
    double tr = 0;
    for (size_t i = 0; i < dim; i++)
        tr += H[i * dim + i];
    if (tg_progress_report(prog, 0.95, "eigendecomposition")) {
        rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
        goto out;
    }
    if ((rc = curv_eigvalsh(dim, H, w))) {
        tg_err_set(err, rc, rc == TG_ENOMEM ? "out of memory" :
                                               "the symmetric eigensolver (dsyevd) did not "
                                               "converge");
        goto out;
    }
    res->has_trace = 1;
    res->trace_exact = 1;
    res->trace = tr;
    res->trace_stderr = 0;
    for (size_t i = 0; i < cfg->top_k; i++)
        res->top[i] = w[dim - 1 - i];
    for (size_t i = 0; i < cfg->bottom_k; i++)
        res->bottom[i] = w[i];
    res->sharpness = w[dim - 1];
    res->min_eigenvalue = w[0];
    res->converged = 1;
    if (cfg->density) {
        if (!(wt = tg_alloc_array(dim, 1, sizeof(double)))) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < dim; i++)
            wt[i] = 1.0 / (double)dim;
        fill_density(res, cfg, w, wt, &count, 1, dim, w[0], w[dim - 1]);
    }
out:
    tg_free_big(H);
    free(w);
    free(wt);
    return rc;
}

static int run_lanczos(const curv_obj *o, const hessian_cfg *cfg, const tg_progress *prog,
                       hessian_result *res, tg_err *err)
{
    size_t dim = res->dim;
    size_t kt = cfg->top_k ? cfg->top_k : 1, kb = cfg->bottom_k ? cfg->bottom_k : 1;
    double *top = malloc(kt * sizeof(double)), *bot = malloc(kb * sizeof(double));
    double *nodes = NULL, *wts = NULL;
    size_t *counts = NULL;
    curv_ws *ws = NULL;
    int rc = TG_OK;
    tg_rng rng;
    /* Shares of the remaining progress: eigenvalues, trace, density by HVP counts. */
    double e_w = (double)cfg->max_steps / 4, t_w = (double)cfg->trace_samples,
           d_w = cfg->density ? (double)(cfg->probes * cfg->steps) : 0;
    double tot = e_w + t_w + d_w, a = 0.02, b = a + 0.98 * e_w / tot, c = b + 0.98 * t_w / tot;
    stage st = {prog, a, b};
    tg_progress sp = {stage_fn, &st};
    curv_obj oc = *o;
    oc.prog = prog; /* the HVPs only poll (fraction -1) */
    if (!top || !bot || !(ws = curv_ws_new(&oc))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    lanczos_cfg lc = {.top_k = kt, .bottom_k = kb, .tol = cfg->tol, .max_steps = cfg->max_steps};
    lanczos_result lr;
    rng_seed_stream(&rng, cfg->seed, 1);
    rc = lanczos_extreme(curv_op, ws, dim, &lc, &rng, &sp, top, bot, NULL, NULL, &lr);
    if (rc) {
        tg_err_set(err, rc, rc == TG_ECANCELLED ? "cancelled" : rc == TG_ENOMEM ? "out of memory"
                   : "the tridiagonal eigensolver (dstevr) failed");
        goto out;
    }
    memcpy(res->top, top, cfg->top_k * sizeof(double));
    memcpy(res->bottom, bot, cfg->bottom_k * sizeof(double));
    res->sharpness = top[0];
    res->min_eigenvalue = bot[0];
    res->lanczos_steps = lr.steps;
    res->converged = lr.converged;
    res->residual = lr.worst;
    if (cfg->trace_samples) {
        st.lo = b;
        st.hi = c;
        rng_seed_stream(&rng, cfg->seed, 2);
        if ((rc = lanczos_hutchinson_block(curv_block_op, ws, dim, cfg->trace_samples,
                                           HESSIAN_TRACE_BLOCK, &rng, &sp, &res->trace,
                                           &res->trace_stderr))) {
            tg_err_set(err, rc, rc == TG_ECANCELLED ? "cancelled" : "out of memory");
            goto out;
        }
        res->has_trace = 1;
    }
    if (cfg->density) {
        st.lo = c;
        st.hi = 1.0;
        if (!(nodes = tg_alloc_array(cfg->probes, cfg->steps, sizeof(double))) ||
            !(wts = tg_alloc_array(cfg->probes, cfg->steps, sizeof(double))) ||
            !(counts = tg_alloc_array(cfg->probes, 1, sizeof(size_t)))) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory");
            goto out;
        }
        rng_seed_stream(&rng, cfg->seed, 3);
        rc = lanczos_slq(curv_op, ws, dim, cfg->probes, cfg->steps, &rng, &sp, nodes, wts, counts);
        if (rc) {
            tg_err_set(err, rc, rc == TG_ECANCELLED ? "cancelled" : rc == TG_ENOMEM ? "out of memory"
                       : "the tridiagonal eigensolver (dstev) failed");
            goto out;
        }
        fill_density(res, cfg, nodes, wts, counts, cfg->probes, cfg->steps, res->min_eigenvalue,
                     res->sharpness);
    }
out:
    curv_ws_free(ws);
    free(top);
    free(bot);
    free(nodes);
    free(wts);
    free(counts);
    return rc;
}

int hessian_run(const curv_obj *o, const hessian_cfg *cfg, const tg_progress *prog,
                hessian_result *res, tg_err *err)
{
    memset(res, 0, sizeof *res);
    size_t dim = curv_dim(o);
    res->dim = dim;
    res->trace = res->trace_stderr = NAN;
    int rc;
    double *g = NULL;
    res->top = tg_alloc_array(cfg->top_k, 1, sizeof(double));
    res->bottom = tg_alloc_array(cfg->bottom_k, 1, sizeof(double));
    if (cfg->density) {
        res->grid = tg_alloc_array(cfg->bins, 1, sizeof(double));
        res->values = tg_alloc_array(cfg->bins, 1, sizeof(double));
    }
    g = tg_alloc_array(dim, 1, sizeof(double));
    if (!res->top || !res->bottom || !g || (cfg->density && (!res->grid || !res->values))) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory");
        goto out;
    }
    curv_obj oc = *o;
    oc.prog = prog;
    if ((rc = curv_grad(&oc, g, &res->objective))) {
        tg_err_set(err, rc, rc == TG_ECANCELLED ? "cancelled" : "out of memory");
        goto out;
    }
    double sq = 0;
    for (size_t i = 0; i < dim; i++)
        sq += g[i] * g[i];
    res->gradient_norm = sqrt(sq);
    if (tg_progress_report(prog, 0.02, "gradient")) {
        rc = tg_err_set(err, TG_ECANCELLED, "cancelled");
        goto out;
    }
    rc = cfg->method == HESSIAN_EXACT ? run_exact(o, cfg, prog, res, err)
                                      : run_lanczos(o, cfg, prog, res, err);
    if (rc)
        goto out;
    res->second_order_stationary = res->gradient_norm <= cfg->grad_tol &&
                                   res->min_eigenvalue >= -cfg->eig_tol;
out:
    free(g);
    if (rc)
        hessian_result_deinit(res);
    return rc;
}
