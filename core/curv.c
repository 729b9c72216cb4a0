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

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* Rows per mlp_hvp call: large enough for efficient GEMMs, small enough to poll for
 * cancellation often. */
#define CURV_BLOCK 512
#define CURV_MAX_THREADS 64

typedef struct lane {
    mlp_ws *mws;
    double *vfull;  /* P: the direction, embedded (zeros off the subset) */
    double *acc;    /* P: this lane's sum */
    double *tmp;    /* P: one block's product */
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
    int mode;              /* 0 hvp rows, 1 hessian columns, 2 gradient rows */
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

double curv_ws_bytes(const mlp_arch *a, size_t n, int threads)
{
    size_t total = 0, md = 0;
    for (size_t l = 0; l <= a->n_layers; l++) {
        if (l)
            total += a->dims[l];
        if (a->dims[l] > md)
            md = a->dims[l];
    }
    double rows = (double)block_rows(n), P = (double)mlp_param_count(a);
    double per = rows * (4.0 * (double)total + 4.0 * (double)md +
                         2.0 * (double)a->dims[a->n_layers]) + 4.0 * P;
    return 8.0 * (threads > 0 ? threads : 1) * per;
}

void curv_ws_free(curv_ws *w)
{
    if (!w)
        return;
    if (w->lanes)
        for (int t = 0; t < w->T; t++) {
            mlp_ws_free(w->lanes[t].mws);
            free(w->lanes[t].vfull);
            free(w->lanes[t].acc);
            free(w->lanes[t].tmp);
        }
    free(w->lanes);
    free(w->lane_loss);
    free(w);
}

curv_ws *curv_ws_new(const curv_obj *o)
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
    /* No more lanes than blocks of rows: an idle lane would only cost memory. */
    size_t nb = (o->n + CURV_BLOCK - 1) / CURV_BLOCK;
    if (nb >= 1 && (size_t)w->T > nb)
        w->T = (int)nb;
    w->lanes = calloc((size_t)w->T, sizeof *w->lanes);
    w->lane_loss = calloc((size_t)w->T, sizeof(double));
    if (!w->lanes || !w->lane_loss)
        goto fail;
    for (int t = 0; t < w->T; t++) {
        lane *L = &w->lanes[t];
        L->mws = mlp_ws_new(o->arch, block_rows(o->n));
        L->vfull = tg_alloc_array(w->P, 1, sizeof(double));
        L->acc = tg_alloc_array(w->P, 1, sizeof(double));
        L->tmp = tg_alloc_array(w->P, 1, sizeof(double));
        if (!L->mws || !L->vfull || !L->acc || !L->tmp)
            goto fail;
    }
    return w;
fail:
    curv_ws_free(w);
    return NULL;
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

/* L->acc = sum over rows [lo, hi) of the block HVPs against L->vfull, each weighted by
 * its rows / n (so the lanes' sums add up to H_loss v). Returns 1 when stopped. */
static int lane_hvp_rows(curv_ws *w, int t, size_t lo, size_t hi)
{
    const curv_obj *o = w->o;
    lane *L = &w->lanes[t];
    size_t bs = L->mws->n_max;
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

int curv_hvp_ws(curv_ws *w, const double *v, double *Hv)
{
    const curv_obj *o = w->o;
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

int curv_hessian(const curv_obj *o, double *H)
{
    curv_ws *w = curv_ws_new(o);
    if (!w)
        return TG_ENOMEM;
    /* Columns are whole-data HVPs: as many lanes as threads, whatever the row count. */
    int T = threads_of(o);
    if (T > w->T) {
        lane *nl = realloc(w->lanes, (size_t)T * sizeof *nl);
        int rc = TG_OK;
        if (!nl) {
            curv_ws_free(w);
            return TG_ENOMEM;
        }
        w->lanes = nl;
        for (int t = w->T; t < T; t++) {
            lane *L = &w->lanes[t];
            memset(L, 0, sizeof *L);
            L->mws = mlp_ws_new(o->arch, block_rows(o->n));
            L->vfull = tg_alloc_array(w->P, 1, sizeof(double));
            L->acc = tg_alloc_array(w->P, 1, sizeof(double));
            L->tmp = tg_alloc_array(w->P, 1, sizeof(double));
            w->T = t + 1; /* counted from here on, so curv_ws_free frees it */
            if (!L->mws || !L->vfull || !L->acc || !L->tmp)
                rc = TG_ENOMEM;
        }
        if (rc) {
            curv_ws_free(w);
            return rc;
        }
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
