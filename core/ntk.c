/* ntk.c: the analytic Gram pass of ntk.h (ntk_analytic): the input kernel by GEMM/SYRK in
 * panels, the elementwise per-entry recursion over blocks of rows on worker threads (the
 * maps of ntk_maps.c), the mirror of symmetric blocks, and the writer thread that hands
 * final rows to cfg->rows_final. Formulas: ntk_maps.c.
 *
 * Threading: one call owns its gram_pass; workers synchronize per block by a barrier
 * (mutex + condvar) and publish progress through atomics.
 */
#include "ntk.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linalg.h"
#include "ntk_maps.h"
#include "quad.h"

/* ---- the per-entry recursion ------------------------------------------------------- */

typedef struct gram_pass {
    const ntk_cfg *cfg;
    size_t n, m;
    int sym, diag_only;
    double *buf;               /* the input kernel (n x m, or n for diag) */
    double *nngp, *ntk;        /* outputs (may be NULL) */
    const double *qx, *qz;     /* post-Dense diagonal variances: (L+1) x n and x m */
    const double *sqx, *sqz, *rsz; /* sqrt(qx), sqrt(qz), 1 / sqrt(qz) (0 for q = 0) */
    const quad_ctx *qm;              /* NULL for closed forms */
    quad_stats qst[64];              /* per thread */
    atomic_int stop;
    int nthreads;
    /* Blocks of BLOCK rows go in order; a barrier per block separates the row pass of a
     * block from its mirror (which reads rows of every thread). done[t]: the rows thread
     * t has finished (row pass and mirror); the rows below min_t done[t] are final. */
    pthread_mutex_t mu;
    pthread_cond_t cv, cv_ready, cv_done; /* cv_done: a worker has finished */
    int arrived;
    unsigned gen;
    atomic_size_t done[64];
    /* The input kernel is computed in panels of rows by the calling thread; the rows
     * below `ready` have theirs. */
    const double *X, *Z;
    size_t d;
    atomic_size_t ready;
    /* The writer thread: rows [0, handed) were given to cfg->rows_final. */
    size_t handed;
    int writer_rc;
    atomic_int worker_rc;      /* a worker's failure (TG_ENOMEM for its scratch rows) */
} gram_pass;

/* Runs the recursion for one entry with input kernel g; ix, jz index qx / qz (closed
 * forms; the quadrature's diagonal by quad_diag). */
static void entry(const gram_pass *J, double g, size_t ix, size_t jz, double *k_out, double *t_out)
{
    const ntk_cfg *c = J->cfg;
    if (J->qm) {
        quad_diag(J->qm, ix, g, k_out, t_out);
        return;
    }
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    double K = g, T = 0.0;
    size_t L = c->depth;
    for (size_t l = 0; l <= L; l++) {
        K = w2 * K + b2;
        T = K + w2 * T;
        if (l == L)
            break;
        double q1 = J->qx[l * J->n + ix], q2 = J->qz[l * J->m + jz];
        double kn = ntk_map_k(c->act, c->leaky_slope, q1, q2, K);
        double dk = ntk_map_dk(c->act, c->leaky_slope, q1, q2, K);
        T *= dk;
        K = kn;
    }
    *k_out = K;
    *t_out = T;
}

#define BLOCK 64

static int relu_family(tg_act a)
{
    return a == ACT_RELU || a == ACT_LEAKY_RELU || a == ACT_ABS;
}

/* Waits until every thread has arrived, or a stop was requested; returns 1 on stop. */
static int block_barrier(gram_pass *J)
{
    if (J->nthreads == 1)
        return atomic_load(&J->stop);
    pthread_mutex_lock(&J->mu);
    unsigned g = J->gen;
    if (++J->arrived == J->nthreads) {
        J->arrived = 0;
        J->gen++;
        pthread_cond_broadcast(&J->cv);
    } else {
        while (g == J->gen && !atomic_load(&J->stop))
            pthread_cond_wait(&J->cv, &J->mu);
    }
    pthread_mutex_unlock(&J->mu);
    return atomic_load(&J->stop);
}

static void request_stop(gram_pass *J)
{
    pthread_mutex_lock(&J->mu);
    atomic_store(&J->stop, 1);
    pthread_cond_broadcast(&J->cv);
    pthread_cond_broadcast(&J->cv_ready);
    pthread_mutex_unlock(&J->mu);
}

/* Waits until the input kernel of the rows below upto is there; 1 on a stop. */
static int wait_ready(gram_pass *J, size_t upto)
{
    if (atomic_load(&J->ready) >= upto)
        return atomic_load(&J->stop);
    pthread_mutex_lock(&J->mu);
    while (atomic_load(&J->ready) < upto && !atomic_load(&J->stop))
        pthread_cond_wait(&J->cv_ready, &J->mu);
    pthread_mutex_unlock(&J->mu);
    return atomic_load(&J->stop);
}

/* The input kernel of rows [p0, p1) into buf: symmetric: the upper triangle of the
 * diagonal block by SYRK and the rows' part right of it by GEMM (so the whole is one
 * SYRK's worth of work), with the diagonal set to exactly the variances the diagonal
 * chain uses (K(x, x) must equal them bit for bit, or arccos near 1 turns a rounding
 * difference of 1e-16 in rho into 1e-8 in the angle); cross: one GEMM. Then publishes
 * the rows to the workers. */
static void input_panel(gram_pass *J, const double *qx0, size_t p0, size_t p1)
{
    size_t n = J->n, m = J->m, d = J->d, P = p1 - p0;
    double *buf = J->buf, s = 1.0 / (double)d;
    if (P > 0 && J->sym) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)P, (int)d, s, J->X + p0 * d,
                    (int)d, 0.0, buf + p0 * n + p0, (int)n);
        if (p1 < n)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)(n - p1), (int)d,
                        s, J->X + p0 * d, (int)d, J->X + p1 * d, (int)d, 0.0,
                        buf + p0 * n + p1, (int)n);
        for (size_t i = p0; i < p1; i++)
            buf[i * n + i] = qx0[i];
    } else if (P > 0 && m > 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)m, (int)d, s,
                    J->X + p0 * d, (int)d, J->Z, (int)d, 0.0, buf + p0 * m, (int)m);
    }
    pthread_mutex_lock(&J->mu);
    atomic_store(&J->ready, p1);
    pthread_cond_broadcast(&J->cv_ready);
    pthread_mutex_unlock(&J->mu);
}

static size_t rows_final(gram_pass *J);

/* Hands final rows to cfg->rows_final as they come, until all are handed or a stop. */
static void *writer_main(void *arg)
{
    gram_pass *J = arg;
    for (;;) {
        size_t dn = rows_final(J);
        if (dn > J->handed) {
            int r = J->cfg->rows_final(J->cfg->rows_ud, dn);
            if (r != TG_OK) {
                J->writer_rc = r;
                request_stop(J);
                break;
            }
            J->handed = dn;
        }
        if (J->handed >= J->n || atomic_load(&J->stop))
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The rows below this are final in both outputs. */
static size_t rows_final(gram_pass *J)
{
    size_t lo = J->n;
    for (int t = 0; t < J->nthreads; t++) {
        size_t d = atomic_load(&J->done[t]);
        lo = d < lo ? d : lo;
    }
    return lo;
}

/* One row of the recursion: entries j0..m-1 of row i. */
static void do_row(gram_pass *J, size_t i, double *rowK, double *rowT, double *sq1,
                   quad_scratch *S, quad_stats *st)
{
    size_t n = J->n, m = J->m;
    if (J->diag_only) {
        double k, t;
        entry(J, J->buf[i], i, i, &k, &t);
        if (J->nngp)
            J->nngp[i] = k;
        if (J->ntk)
            J->ntk[i] = t;
        return;
    }
    size_t j0 = J->sym ? i : 0, len = m - j0;
    if (S) {
        double *K = J->nngp ? J->nngp + i * m + j0 : rowK;
        double *T = J->ntk ? J->ntk + i * m + j0 : rowT;
        if (!J->nngp)
            memcpy(rowK, J->buf + i * m + j0, len * sizeof(double));
        quad_row(J->qm, i, j0, len, J->sym, K, T, S, st);
        return;
    }
    if (sq1) {
        /* In place where the outputs allow: the input kernel lives in buf, which is the
         * nngp output when there is one (else the ntk output, and K then needs the
         * scratch row). */
        double *K = J->nngp ? J->nngp + i * m + j0 : rowK;
        double *T = J->ntk ? J->ntk + i * m + j0 : rowT;
        if (!J->nngp)
            memcpy(rowK, J->buf + i * m + j0, len * sizeof(double));
        for (size_t l = 0; l < J->cfg->depth; l++)
            sq1[l] = J->sqx[l * n + i];
        ntk_relu_row(J->cfg, len, sq1, J->sqz + j0, J->rsz + j0, m, J->sym, K, T);
        return;
    }
    for (size_t j = j0; j < m; j++) {
        double k, t;
        entry(J, J->buf[i * m + j], i, j, &k, &t);
        if (J->nngp)
            J->nngp[i * m + j] = k;
        if (J->ntk)
            J->ntk[i * m + j] = t;
    }
}

/* Copies block rows [b0, b1) of the upper triangle of A (n x n) to the lower one: the
 * entries (j, i) for i in [b0, b1), j > i, j in this thread's share of [b0, n). */
static void mirror_block(double *A, size_t n, size_t b0, size_t b1, int tid, int nt)
{
    if (!A)
        return;
    size_t span = n - b0, per = (span + (size_t)nt - 1) / (size_t)nt;
    size_t j_lo = b0 + per * (size_t)tid, j_hi = j_lo + per < n ? j_lo + per : n;
    for (size_t jb = j_lo; jb < j_hi; jb += BLOCK) {
        size_t je = jb + BLOCK < j_hi ? jb + BLOCK : j_hi;
        for (size_t i = b0; i < b1; i++) {
            const double *src = A + i * n;
            for (size_t j = (jb > i + 1 ? jb : i + 1); j < je; j++)
                A[j * n + i] = src[j];
        }
    }
}

static void *worker(void *arg)
{
    void **a = arg;
    gram_pass *J = a[0];
    int tid = (int)(size_t)a[1], nt = J->nthreads;
    size_t n = J->n, m = J->m;
    int quad = J->qm && !J->diag_only;
    int fast = relu_family(J->cfg->act) && !J->diag_only && !J->qm;
    double *rowK = fast || quad ? tg_alloc_array(m, 1, sizeof(double)) : NULL;
    double *rowT = fast || quad ? tg_alloc_array(m, 1, sizeof(double)) : NULL;
    double *sq1 = fast ? tg_alloc_array(J->cfg->depth + 1, 1, sizeof(double)) : NULL;
    quad_scratch S;
    int have_s = quad && quad_scratch_init(&S, m) == TG_OK;
    if (have_s)
        S.stop = &J->stop;
    if ((fast && (!rowK || !rowT || !sq1)) || (quad && (!rowK || !rowT || !have_s))) {
        if (have_s)
            quad_scratch_free(&S);
        /* No fallback to the per-entry path: its rounding differs from the row pass, so
         * the kernel would depend on the memory available. */
        atomic_store(&J->worker_rc, TG_ENOMEM);
        request_stop(J);
        free(rowK);
        free(rowT);
        free(sq1);
        return NULL;
    }
    int mirror = J->sym && !J->diag_only;
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        if (atomic_load(&J->stop) || (!J->diag_only && wait_ready(J, b1)))
            break;
        for (size_t i = b0 + (size_t)tid; i < b1; i += (size_t)nt)
            do_row(J, i, rowK, rowT, sq1, have_s ? &S : NULL, &J->qst[tid]);
        if (mirror) {
            if (block_barrier(J))
                break;
            mirror_block(J->nngp, n, b0, b1, tid, nt);
            mirror_block(J->ntk, n, b0, b1, tid, nt);
        }
        atomic_store(&J->done[tid], b1);
    }
    if (have_s)
        quad_scratch_free(&S);
    pthread_mutex_lock(&J->mu);
    pthread_cond_broadcast(&J->cv_done);
    pthread_mutex_unlock(&J->mu);
    free(rowK);
    free(rowT);
    free(sq1);
    return NULL;
}

/* Post-Dense diagonal variances of every layer: q[l][i] for l = 0..L-1 (the input to
 * the l-th nonlinearity). */
static void diag_chain(const ntk_cfg *c, const double *q0, size_t n, double *q)
{
    double w2 = c->w_std * c->w_std, b2 = c->b_std * c->b_std;
    for (size_t i = 0; i < n; i++) {
        double v = q0[i];
        for (size_t l = 0; l < c->depth; l++) {
            v = w2 * v + b2;
            q[l * n + i] = v;
            v = ntk_map_k(c->act, c->leaky_slope, v, v, v);
        }
    }
}

double ntk_quad_doubles(size_t depth, double points)
{
    /* per layer and point: A and B (QUAD_NC + 1 each), the two tail ladders, thA, thB,
     * e0, e1, q, rs */
    return (double)depth * points * (2.0 * (QUAD_NC + 1) + 2.0 * QUAD_LADDER + 6.0);
}

int ntk_analytic(const ntk_cfg *cfg, const double *X, size_t n, const double *Z, size_t m,
                 size_t d, int diag_only, double *nngp_out, double *ntk_out, int *order_out,
                 const tg_progress *prog, tg_err *err)
{
    int sym = Z == NULL, rc = TG_OK;
    size_t L = cfg->depth;
    if (sym)
        m = n;
    if (order_out)
        *order_out = 0;
    double *buf = nngp_out ? nngp_out : ntk_out;
    double *qx0 = tg_alloc_array(n, 1, sizeof(double));
    double *qz0 = tg_alloc_array(m, 1, sizeof(double));
    double *qx = tg_alloc_array(L, n, sizeof(double));
    double *qz = tg_alloc_array(L, m, sizeof(double));
    double *sqx = NULL, *sqz = NULL, *rsz = NULL;
    double *q0all = NULL;
    quad_ctx qm;
    int have_qm = 0;
    memset(&qm, 0, sizeof qm);
    if (!buf) {
        rc = tg_err_set(err, TG_EINTERNAL, "ntk_analytic: no output array");
        goto out;
    }
    if (!qx0 || !qz0 || !qx || !qz) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
        goto out;
    }
    /* Diagonals of the input kernel x.x'/d; the rest is computed in panels of rows
     * (input_panel) just before the elementwise pass needs them. */
    for (size_t i = 0; i < n; i++)
        qx0[i] = linalg_dot(X + i * d, X + i * d, d) / (double)d;
    for (size_t j = 0; j < m; j++)
        qz0[j] = sym ? qx0[j] : linalg_dot(Z + j * d, Z + j * d, d) / (double)d;
    if (diag_only)
        memcpy(buf, qx0, n * sizeof(double));
    if (tg_progress_report(prog, 0.01, "diagonals done")) {
        rc = TG_ECANCELLED;
        goto out;
    }
    gram_pass J;
    memset(&J, 0, sizeof J);
    J.cfg = cfg;
    J.n = n;
    J.m = m;
    J.sym = sym;
    J.diag_only = diag_only;
    J.buf = buf;
    J.nngp = nngp_out;
    J.ntk = ntk_out;
    J.qx = qx;
    J.qz = qz;
    J.nthreads = cfg->threads > 0 ? cfg->threads : 1;
    int quad = L > 0 && (cfg->force_numeric || !ntk_closed_form(cfg->act));
    if (quad) {
        /* Per point: the variance chain and the Hermite coefficients of every layer. */
        int qsym = sym || diag_only;
        q0all = tg_alloc_array(qsym ? n : n + m, 1, sizeof(double));
        if (!q0all) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
            goto out;
        }
        memcpy(q0all, qx0, n * sizeof(double));
        if (!qsym)
            memcpy(q0all + n, qz0, m * sizeof(double));
        rc = quad_prepare(&qm, cfg, q0all, n, qsym ? n : m, qsym, J.nthreads, prog, 0.01, 0.05);
        if (rc) {
            if (rc == TG_ENOMEM)
                tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
            goto out;
        }
        have_qm = 1;
        for (size_t l = 0; l < L; l++) {
            memcpy(qx + l * n, qm.ly[l].q, n * sizeof(double));
            memcpy(qz + l * m, qm.ly[l].q + qm.co, m * sizeof(double));
        }
        J.qm = &qm;
    } else {
        diag_chain(cfg, qx0, n, qx);
        diag_chain(cfg, qz0, m, qz);
    }
    if (L > 0 && relu_family(cfg->act) && !diag_only) {
        sqx = tg_alloc_array(L, n, sizeof(double));
        sqz = tg_alloc_array(L, m, sizeof(double));
        rsz = tg_alloc_array(L, m, sizeof(double));
        if (!sqx || !sqz || !rsz) {
            rc = tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
            goto out;
        }
        for (size_t i = 0; i < L * n; i++)
            sqx[i] = sqrt(qx[i]);
        for (size_t j = 0; j < L * m; j++) {
            sqz[j] = sqrt(qz[j]);
            rsz[j] = sqz[j] > 0 ? 1.0 / sqz[j] : 0.0;
        }
        J.sqx = sqx;
        J.sqz = sqz;
        J.rsz = rsz;
    }

    /* Small problems run on this thread; large ones on worker threads while this thread
     * reports progress, hands final rows to cfg->rows_final and watches for a stop. */
    pthread_mutex_init(&J.mu, NULL);
    pthread_cond_init(&J.cv, NULL);
    pthread_cond_init(&J.cv_ready, NULL);
    pthread_cond_init(&J.cv_done, NULL);
    J.X = X;
    J.Z = Z;
    J.d = d;
    if (diag_only)
        atomic_store(&J.ready, n);
    /* (The quadrature always runs on worker threads, so that this thread can watch for a
     * stop while fallback entries take their time.) */
    if ((double)n * (double)(diag_only ? 1 : m) <= 65536.0 && (!J.qm || diag_only)) {
        J.nthreads = 1;
        if (!diag_only)
            input_panel(&J, qx0, 0, n);
        void *arg[2] = {&J, (void *)(size_t)0};
        worker(arg);
        if ((rc = atomic_load(&J.worker_rc)))
            goto done;
        if (tg_progress_report(prog, 1.0, "kernel done"))
            rc = TG_ECANCELLED;
        if (rc == TG_OK && cfg->rows_final && !diag_only)
            rc = cfg->rows_final(cfg->rows_ud, n);
        goto done;
    }
    pthread_t th[64], wth;
    void *args[64][2];
    int nt = J.nthreads > 64 ? 64 : J.nthreads, started = 0, writer = 0;
    J.nthreads = nt;
    for (int t = 0; t < nt; t++) {
        args[t][0] = &J;
        args[t][1] = (void *)(size_t)t;
        if (pthread_create(&th[t], NULL, worker, args[t]) == 0)
            started++;
        else
            break;
    }
    if (started == nt && cfg->rows_final && !diag_only) {
        writer = pthread_create(&wth, NULL, writer_main, &J) == 0;
        if (!writer)
            started = -1;
    }
    if (started < nt) {
        /* The rows are dealt to nt threads; with fewer, stop and report. */
        request_stop(&J);
        for (int t = 0; t < (started < 0 ? nt : started); t++)
            pthread_join(th[t], NULL);
        rc = tg_err_set(err, TG_EINTERNAL, "cannot start kernel threads");
        goto done;
    }
    /* Panels of rows (about a sixteenth of the input kernel's work each, in whole
     * blocks): the pass over a panel and the writing of its rows proceed while the next
     * panel's input kernel is computed. */
    size_t panel = diag_only ? n : (n / 16 + BLOCK - 1) / BLOCK * BLOCK;
    panel = panel < BLOCK ? BLOCK : panel;
    for (size_t p0 = 0; p0 < n && !diag_only; p0 += panel) {
        size_t dn = rows_final(&J);
        char msg[96];
        snprintf(msg, sizeof msg, "%zu of %zu rows", dn, n);
        if (atomic_load(&J.stop))
            break; /* the writer's error: reported below */
        if (tg_progress_report(prog, 0.01 + 0.04 * (double)p0 / n, msg)) {
            rc = TG_ECANCELLED;
            break;
        }
        input_panel(&J, qx0, p0, p0 + panel < n ? p0 + panel : n);
    }
    while (rc == TG_OK) {
        size_t dn = rows_final(&J);
        if (dn >= n || atomic_load(&J.stop))
            break;
        char msg[96];
        snprintf(msg, sizeof msg, "%zu of %zu rows", dn, n);
        double frac = 0.05 + 0.95 * (double)dn / (double)(n ? n : 1);
        if (sym && n)
            frac = 0.05 + 0.95 * (1.0 - (1.0 - (double)dn / n) * (1.0 - (double)dn / n));
        if (tg_progress_report(prog, frac, msg)) {
            rc = TG_ECANCELLED;
            break;
        }
        /* A 20 ms tick, or until a worker finishes (small problems end at once). */
        pthread_mutex_lock(&J.mu);
        if (rows_final(&J) < n && !atomic_load(&J.stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&J.cv_done, &J.mu, &ts);
        }
        pthread_mutex_unlock(&J.mu);
    }
    if (rc != TG_OK)
        request_stop(&J);
    for (int t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    if (writer)
        pthread_join(wth, NULL);
    if (rc == TG_OK && atomic_load(&J.worker_rc) != TG_OK)
        rc = atomic_load(&J.worker_rc);
    if (rc == TG_OK && J.writer_rc != TG_OK)
        rc = J.writer_rc;
    if (rc == TG_OK && atomic_load(&J.stop))
        rc = TG_ECANCELLED;
    if (rc == TG_OK && tg_progress_report(prog, 1.0, "kernel done"))
        rc = TG_ECANCELLED;
done:
    pthread_cond_destroy(&J.cv);
    pthread_cond_destroy(&J.cv_ready);
    pthread_cond_destroy(&J.cv_done);
    pthread_mutex_destroy(&J.mu);
    if (rc == TG_OK && have_qm) {
        quad_stats st;
        memset(&st, 0, sizeof st);
        for (int t = 0; t < 64; t++)
            quad_stats_merge(&st, &J.qst[t]);
        if (diag_only) {
            st.exact = n * L;
            st.max_err = 0.0;
        }
        /* the 1-D rules of the diagonals (every layer) */
        double e1d = 0.0, qmax = 0.0;
        for (size_t l = 0; l < L; l++) {
            e1d = fmax(e1d, qm.ly[l].err1d);
            for (size_t p = 0; p < qm.P; p++)
                qmax = fmax(qmax, qm.ly[l].q[p]);
        }
        if (e1d > st.max_err) {
            st.max_err = e1d;
            st.err_q1 = st.err_q2 = qmax;
            st.err_rho = 1.0;
        }
        if (order_out)
            *order_out = st.max_terms;
        ntk_quad_info *qi = cfg->quad_info;
        if (qi) {
            qi->used = 1;
            if (st.max_err >= qi->max_error_estimate) {
                qi->max_error_estimate = st.max_err;
                qi->worst_q1 = st.err_q1;
                qi->worst_q2 = st.err_q2;
                qi->worst_rho = st.err_rho;
            }
            qi->series_maps += st.series;
            qi->nested_maps += st.nested;
            qi->exact_maps += st.exact;
            qi->max_series_terms = st.max_terms > qi->max_series_terms ? st.max_terms
                                                                       : qi->max_series_terms;
            qi->max_variance = fmax(qi->max_variance, qmax);
        }
        if (!(st.max_err <= cfg->quad_tol))
            rc = tg_err_set(err, TG_ENUMERICAL,
                            "%s: quadrature error estimate %.2g > quadrature_tol %g at "
                            "variances %.4g, %.4g (correlation %.6f): more than float64 "
                            "rules certify there; raise quadrature_tol or reduce the "
                            "variances (standardize, smaller w_std)",
                            mlp_act_name(cfg->act), st.max_err, cfg->quad_tol, st.err_q1,
                            st.err_q2, st.err_rho);
    }
out:
    free(sqx);
    free(sqz);
    free(rsz);
    free(qx0);
    free(qz0);
    free(qx);
    free(qz);
    free(q0all);
    if (have_qm)
        quad_free(&qm);
    if (rc == TG_ENOMEM && err && err->code != TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory for the kernel");
    return rc;
}
