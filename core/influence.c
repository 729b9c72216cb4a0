/* influence.c: see influence.h. Koh & Liang 2017 (eq 2 and section 3's LOO check); the
 * theory's section 10.1 (Thm 10.1.2, Problem 10.1.3 for LiSSA).
 *
 * The curvature (gradient, Hessian-vector product, explicit Hessian of J on the range) is
 * core/curv.c's; this file adds the solvers, the GEMM, the rankings and the retraining.
 * Vectors named *_r live on the parameter range (length Pr = p_hi - p_lo). */
#include "influence.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curv.h"
#include "lanczos.h"
#include "linalg.h"
#include "rng.h"

/* Above this range size the LOO retraining uses L-BFGS instead of Newton. */
#define INFL_NEWTON_MAX_P 200
/* Explicit eigenvalues of H for the exact method up to this size (else Lanczos). */
#define INFL_EIG_MAX_P 2000
#define INFL_LOO_GTOL 1e-10

void infl_result_deinit(infl_result *r)
{
    free(r->influence);
    free(r->self_influence);
    free(r->top_helpful);
    free(r->top_harmful);
    r->influence = r->self_influence = NULL;
    r->top_helpful = r->top_harmful = NULL;
}

void infl_loo_out_deinit(infl_loo_out *o)
{
    free(o->actual);
    o->actual = NULL;
}

/* ---- per-example gradients ----------------------------------------------------------- */

static size_t ydim(const mlp_arch *a, tg_loss loss, int y_is_class)
{
    return (loss == LOSS_MSE && !y_is_class) ? a->dims[a->n_layers] : 1;
}

int influence_grads(const mlp_arch *a, const double *theta, const double *x, const double *y,
                    int y_is_class, size_t n, tg_loss loss, size_t p_lo, size_t p_hi,
                    double *G, tg_err *err)
{
    size_t P = mlp_param_count(a), Pr = p_hi - p_lo, d = a->dims[0];
    size_t yd = ydim(a, loss, y_is_class), L = a->n_layers, k = a->dims[L];
    size_t nb = 256;
    if (n == 0)
        return TG_OK;
    mlp_ws *ws = mlp_ws_new(a, n < nb ? n : nb);
    if (!ws)
        return tg_err_set(err, TG_ENOMEM, "out of memory for the gradients");
    if (p_lo == 0 && p_hi == P) {
        mlp_per_example_grads(a, theta, x, y, y_is_class, n, loss, ws, G);
        mlp_ws_free(ws);
        return TG_OK;
    }
    /* The last layer: grad W = s g h_L^T, grad b = t g, g = dl/df. */
    size_t wo, bo, din = a->dims[L - 1];
    mlp_layer_offsets(a, L, &wo, &bo);
    TG_ASSERT(p_lo == wo && p_hi == P);
    double s = mlp_scale_w(a, L), t = mlp_scale_b(a, L);
    double *gk = malloc(k * sizeof(double));
    if (!gk) {
        mlp_ws_free(ws);
        return tg_err_set(err, TG_ENOMEM, "out of memory for the gradients");
    }
    for (size_t i0 = 0; i0 < n; i0 += ws->n_max) {
        size_t b = n - i0 < ws->n_max ? n - i0 : ws->n_max;
        mlp_forward(a, theta, x + i0 * d, b, ws, NULL);
        const double *f = mlp_ws_z(a, ws, L);
        const double *h = mlp_ws_input(a, ws, x + i0 * d, L);
        for (size_t i = 0; i < b; i++) {
            double *row = G + (i0 + i) * Pr;
            mlp_loss_one(loss, f + i * k, k, y + (i0 + i) * yd, y_is_class, gk);
            for (size_t j = 0; j < k; j++) {
                double *w = row + j * din;
                const double *hi = h + i * din;
                for (size_t q = 0; q < din; q++)
                    w[q] = s * gk[j] * hi[q];
                if (bo != (size_t)-1)
                    row[bo - wo + j] = t * gk[j];
            }
        }
    }
    free(gk);
    mlp_ws_free(ws);
    return TG_OK;
}

/* ---- curvature of J on the range (core/curv.c) --------------------------------------- */

/* The objective J of pb on rows (x, y, n) at theta (P), with damping. */
static void make_obj(const infl_problem *pb, const double *theta, const double *x,
                     const double *y, size_t n, double damping, curv_obj *o)
{
    memset(o, 0, sizeof *o);
    o->arch = pb->arch;
    o->theta = theta;
    o->x = x;
    o->y = y;
    o->y_is_class = pb->y_is_class;
    o->n = n;
    o->loss = pb->loss;
    o->l2 = pb->l2;
    o->damping = damping;
    o->p_lo = pb->p_lo;
    o->p_hi = pb->p_hi;
    o->threads = 1;
    o->cancel = NULL;
    o->prog = NULL;
}

/* Explicit symmetric matrix (Pr x Pr) as a Lanczos operator. */
typedef struct mat_ctx {
    const double *H;
    size_t n;
} mat_ctx;

static int mat_op(void *ud, const double *v, double *Hv)
{
    mat_ctx *c = ud;
    cblas_dsymv(CblasRowMajor, CblasUpper, (int)c->n, 1.0, c->H, (int)c->n, v, 1, 0.0, Hv, 1);
    return 0;
}

/* Extreme Ritz values of op after k Lanczos steps. */
static int lanczos_extremes(lanczos_op op, void *ud, size_t n, size_t k, uint64_t seed,
                            double *lo, double *hi)
{
    tg_rng rng;
    rng_seed_stream(&rng, seed, 0x1f1u);
    if (k > n)
        k = n;
    double *ritz = malloc((k ? k : 1) * sizeof(double));
    size_t got = 0;
    if (!ritz)
        return TG_ENOMEM;
    int rc = lanczos_ritz(op, ud, n, k, &rng, ritz, &got);
    if (rc == TG_OK && got > 0) {
        *lo = ritz[0];
        *hi = ritz[got - 1];
    }
    free(ritz);
    return rc;
}

/* A stage [lo, hi] of a parent progress (curv_hessian reports its own fraction). */
typedef struct sub_prog {
    const tg_progress *parent;
    double lo, hi;
} sub_prog;

static int sub_prog_fn(void *ud, double f, const char *msg)
{
    sub_prog *s = ud;
    return tg_progress_report(s->parent, f < 0 ? -1 : s->lo + (s->hi - s->lo) * f, msg);
}

double influence_suggest_damping(double min_eig, double damping)
{
    double neg = damping - min_eig; /* -lambda_min of grad^2 J, > 0 here */
    double want = 2 * (neg > 0 ? neg : 0) + 1e-12;
    double e = pow(10, floor(log10(want)) - 1);
    return ceil(want / e) * e;
}

static int curv_fail(tg_err *err, int rc)
{
    if (rc == TG_ENOMEM)
        return tg_err_set(err, rc, "out of memory for the Hessian products");
    if (rc == TG_ECANCELLED)
        return rc;
    return tg_err_set(err, rc, "the curvature computation failed");
}

static int not_pd(tg_err *err, double min_eig, double damping, const char *how)
{
    return tg_err_set(err, TG_ENUMERICAL,
                      "the Hessian plus damping is not positive definite (%s): smallest "
                      "eigenvalue %.6g with damping %g; try damping %.2g",
                      how, min_eig, damping, influence_suggest_damping(min_eig, damping));
}

/* ---- block conjugate gradients --------------------------------------------------------- */

/* All the right-hand sides share H, so they are solved together in blocks of up to s
 * columns by block conjugate gradients (O'Leary 1980; here with orthonormalized direction
 * blocks and the converged columns left out of the new directions, in the spirit of
 * Dubrulle 2001): each iteration applies H to q <= s orthonormal directions D, takes the
 * Galerkin step X += alpha^T D with alpha = (D H D^T)^-1 D R^T for every column, and
 * builds the next directions from the unconverged residuals, H-orthogonalized against D,
 * with linearly dependent ones dropped (coinciding test points give equal columns). The
 * Krylov space grows by q directions per iteration: on bench/influence (P 5043, 100 test
 * points) 15 iterations and ~1430 products where one CG per column needs 63 x 100. A block
 * that stagnates hands its columns to plain CG (see bcg_solve). The products of an
 * iteration go through curv_hvp_multi_ws together. */

typedef struct cg_stats {
    size_t iters;      /* block iterations + plain CG iterations, worst block */
    size_t products;   /* Hessian-vector products, all blocks */
    double relres;     /* worst true relative residual */
    size_t unconverged; /* columns above tol at the end */
    double ritz_lo, ritz_hi; /* extreme eigenvalues of the projected D H D^T (NAN if none) */
} cg_stats;

typedef struct bcg_ws {
    size_t s, Pr;
    double *X, *R, *D, *HD, *Z;    /* s x Pr each (row = one vector) */
    double *M, *Mc, *C, *U, *ev;   /* s x s, s x s, s x s, s x s, s */
    double *bn, *work;
    int *iwork;
    size_t *live;
    int lwork, liwork;
} bcg_ws;

/* Columns per block: as many as fit in ~256 MiB of block vectors, between 8 and 128. */
size_t influence_cg_block(size_t Pr, size_t solves)
{
    double fit = 256.0 * 1024 * 1024 / (5.0 * 8.0 * (double)(Pr ? Pr : 1));
    size_t s = fit > 128 ? 128 : fit < 8 ? 8 : (size_t)fit;
    return s < solves ? s : solves ? solves : 1;
}

static void bcg_free(bcg_ws *w)
{
    free(w->X);
    free(w->R);
    free(w->D);
    free(w->HD);
    free(w->Z);
    free(w->M);
    free(w->Mc);
    free(w->C);
    free(w->U);
    free(w->ev);
    free(w->bn);
    free(w->work);
    free(w->iwork);
    free(w->live);
    memset(w, 0, sizeof *w);
}

static int bcg_init(bcg_ws *w, size_t s, size_t Pr)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    w->Pr = Pr;
    int n = (int)s;
    w->lwork = 1 + 6 * n + 2 * n * n;
    w->liwork = 3 + 5 * n;
    if (!(w->X = tg_alloc_array(s, Pr, sizeof(double))) ||
        !(w->R = tg_alloc_array(s, Pr, sizeof(double))) ||
        !(w->D = tg_alloc_array(s, Pr, sizeof(double))) ||
        !(w->HD = tg_alloc_array(s, Pr, sizeof(double))) ||
        !(w->Z = tg_alloc_array(s, Pr, sizeof(double))) ||
        !(w->M = tg_alloc_array(s, s, sizeof(double))) ||
        !(w->Mc = tg_alloc_array(s, s, sizeof(double))) ||
        !(w->C = tg_alloc_array(s, s, sizeof(double))) ||
        !(w->U = tg_alloc_array(s, s, sizeof(double))) ||
        !(w->ev = tg_alloc_array(s, 1, sizeof(double))) ||
        !(w->bn = tg_alloc_array(s, 1, sizeof(double))) ||
        !(w->work = tg_alloc_array((size_t)w->lwork, 1, sizeof(double))) ||
        !(w->iwork = tg_alloc_array((size_t)w->liwork, 1, sizeof(int))) ||
        !(w->live = tg_alloc_array(s, 1, sizeof(size_t)))) {
        bcg_free(w);
        return TG_ENOMEM;
    }
    return TG_OK;
}

/* Symmetric eigendecomposition of the q x q A (row- = column-major): values ascending in
 * ev, vectors (jobz "V") in A's columns. */
static int bcg_eig(bcg_ws *w, const char *jobz, size_t q, double *A)
{
    int n = (int)q, info = 0;
    dsyevd_(jobz, "U", &n, A, &n, w->ev, w->work, &w->lwork, w->iwork, &w->liwork, &info);
    return info == 0 ? TG_OK : TG_ENUMERICAL;
}

/* D = an orthonormal basis of the span of the u rows of Z (destroyed), dropping the
 * directions whose share of the row-normalized Gram matrix is below 1e-10 of its largest;
 * returns q (>= 1 when some row is nonzero). Two passes: the eigenvectors of the Gram
 * matrix, then a Cholesky re-orthonormalization (CholeskyQR2's second pass). */
static size_t bcg_orth(bcg_ws *w, size_t u)
{
    size_t Pr = w->Pr, q = 0;
    int iu = (int)u, ip = (int)Pr;
    for (size_t c = 0; c < u; c++) {
        double nz = linalg_norm(w->Z + c * Pr, Pr);
        if (nz > 0)
            cblas_dscal(ip, 1.0 / nz, w->Z + c * Pr, 1);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iu, iu, ip, 1.0, w->Z, ip, w->Z, ip,
                0.0, w->U, iu);
    if (bcg_eig(w, "V", u, w->U) != TG_OK)
        return 0;
    double top = w->ev[u - 1];
    if (!(top > 0))
        return 0;
    /* U column j (column-major) = eigenvector j; keep the largest first. */
    for (size_t jj = u; jj-- > 0;) {
        if (!(w->ev[jj] > 1e-10 * top))
            break;
        double sc = 1.0 / sqrt(w->ev[jj]);
        for (size_t i = 0; i < u; i++)
            w->C[q * u + i] = sc * w->U[jj * u + i];
        q++;
    }
    int iq = (int)q;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, iq, ip, iu, 1.0, w->C, iu, w->Z, ip,
                0.0, w->D, ip);
    /* second pass: G = D D^T = L L^T, D <- L^-1 D */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iq, iq, ip, 1.0, w->D, ip, w->D, ip,
                0.0, w->U, iq);
    int info = 0;
    dpotrf_("L", &iq, w->U, &iq, &info); /* column-major lower = row-major upper */
    if (info != 0)
        return q; /* the first pass stands */
    /* row-major: G = U^T U with U upper (row-major view of the column-major lower L) */
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, iq, ip, 1.0,
                w->U, iq, w->D, ip);
    return q;
}

/* One conjugate-gradient run on H e = r from e = 0 for a column the block left above its
 * tolerance: x += e, r -= H e, until ||r|| <= goal or max_iter steps. p, Hp: Pr each. */
static int cg_column(curv_ws *cw, double *x, double *r, double *p, double *Hp, size_t Pr,
                     double goal, size_t max_iter, size_t *iters, int *neg, double *curv_min,
                     const tg_progress *prog)
{
    double rr = linalg_dot(r, r, Pr);
    int rc;
    memcpy(p, r, Pr * sizeof(double));
    *iters = 0;
    while (sqrt(rr) > goal && *iters < max_iter) {
        if (tg_progress_report(prog, -1, NULL))
            return TG_ECANCELLED;
        if ((rc = curv_hvp_ws(cw, p, Hp)))
            return rc;
        double pHp = linalg_dot(p, Hp, Pr), pp = linalg_dot(p, p, Pr);
        if (pp > 0 && pHp / pp < *curv_min)
            *curv_min = pHp / pp;
        if (!(pHp > 0)) {
            *neg = 1;
            return TG_ENUMERICAL;
        }
        double al = rr / pHp;
        cblas_daxpy((int)Pr, al, p, 1, x, 1);
        cblas_daxpy((int)Pr, -al, Hp, 1, r, 1);
        double rr1 = linalg_dot(r, r, Pr);
        for (size_t q = 0; q < Pr; q++)
            p[q] = r[q] + rr1 / rr * p[q];
        rr = rr1;
        (*iters)++;
    }
    return TG_OK;
}

/* Solves H X = B for the s rows of B (s x Pr; s <= w->s) into w->X. `done`/`solves`
 * place the block in the job's progress. The block iterations stop when every column's
 * recurrence residual is below tol, or when the worst one has not halved in 8 iterations
 * (block CG keeps H-conjugacy only against the previous block: on hard spectra it can
 * stagnate); then every column's true residual b - H x is computed and a column still
 * above tol continues by plain conjugate gradients from the block's x (cg_column). On
 * TG_ENUMERICAL, *neg says whether a non-positive curvature was met (else err is set). */
static int bcg_solve(curv_ws *cw, bcg_ws *w, const double *B, size_t s, double tol,
                     size_t max_iter, cg_stats *st, size_t done, size_t solves,
                     const tg_progress *prog, double *curv_min, int *neg, tg_err *err)
{
    size_t Pr = w->Pr;
    int ip = (int)Pr, is = (int)s, rc, info = 0;
    memset(w->X, 0, s * Pr * sizeof(double));
    memcpy(w->R, B, s * Pr * sizeof(double));
    size_t u = 0;
    for (size_t c = 0; c < s; c++) {
        w->bn[c] = linalg_norm(B + c * Pr, Pr);
        if (!isfinite(w->bn[c]))
            return tg_err_set(err, TG_ENUMERICAL,
                              "a gradient to solve for is not finite (overflow in the model's "
                              "outputs or the loss)");
        if (w->bn[c] > 0)
            w->live[u++] = c;
    }
    double worst = u ? 1 : 0, mark = worst;
    size_t it = 0, it_mark = 0;
    for (size_t j = 0; j < u; j++)
        memcpy(w->Z + j * Pr, w->R + w->live[j] * Pr, Pr * sizeof(double));
    while (u > 0 && it < max_iter) {
        if (tg_progress_report(prog, -1, NULL))
            return TG_ECANCELLED;
        size_t q = bcg_orth(w, u);
        if (q == 0)
            break; /* no usable direction: the columns go on one by one */
        int iq = (int)q;
        /* all q products in one pass (stacked GEMMs; it polls prog between row blocks) */
        if (tg_progress_report(prog, -1, NULL))
            return TG_ECANCELLED;
        if ((rc = curv_hvp_multi_ws(cw, w->D, q, w->HD)))
            return rc;
        st->products += q;
        /* M = D H D^T (symmetrized), its extreme eigenvalues, its Cholesky factor */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iq, iq, ip, 1.0, w->D, ip, w->HD,
                    ip, 0.0, w->M, iq);
        for (size_t i = 0; i < q; i++)
            for (size_t j = 0; j < i; j++)
                w->M[i * q + j] = w->M[j * q + i] = 0.5 * (w->M[i * q + j] + w->M[j * q + i]);
        memcpy(w->Mc, w->M, q * q * sizeof(double));
        if (bcg_eig(w, "N", q, w->Mc) == TG_OK) {
            if (!(w->ev[0] >= st->ritz_lo))
                st->ritz_lo = w->ev[0];
            if (!(w->ev[q - 1] <= st->ritz_hi))
                st->ritz_hi = w->ev[q - 1];
            if (w->ev[0] < *curv_min)
                *curv_min = w->ev[0];
            if (!(w->ev[0] > 0)) {
                *neg = 1; /* a Rayleigh quotient of H <= 0: the caller estimates lambda_min */
                return TG_ENUMERICAL;
            }
        }
        dpotrf_("U", &iq, w->M, &iq, &info);
        if (info != 0)
            break; /* M numerically singular: finish column by column */
        /* R D^T (s x q row-major) is D R^T as a column-major q x s: dpotrs turns it into
         * alpha (column-major q x s), i.e. alpha^T row-major s x q */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, is, iq, ip, 1.0, w->R, ip, w->D, ip,
                    0.0, w->C, iq);
        dpotrs_("U", &iq, &is, w->M, &iq, w->C, &iq, &info);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, is, ip, iq, 1.0, w->C, iq, w->D, ip,
                    1.0, w->X, ip);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, is, ip, iq, -1.0, w->C, iq, w->HD,
                    ip, 1.0, w->R, ip);
        it++;
        /* residuals; the live columns */
        worst = 0;
        u = 0;
        for (size_t c = 0; c < s; c++) {
            if (!(w->bn[c] > 0))
                continue;
            double rr = linalg_norm(w->R + c * Pr, Pr) / w->bn[c];
            if (!(rr <= worst))
                worst = rr;
            if (!(rr <= tol))
                w->live[u++] = c;
        }
        char msg[96];
        snprintf(msg, sizeof msg, "block CG: solves %zu-%zu of %zu, iteration %zu, residual %.2g",
                 done + 1, done + s, solves, it, worst);
        if (tg_progress_report(prog, 0.05 + 0.9 * ((double)done + (double)(s - u)) / (double)solves,
                               msg))
            return TG_ECANCELLED;
        if (worst <= 0.5 * mark) {
            mark = worst;
            it_mark = it;
        }
        if (u == 0 || it >= max_iter || it - it_mark >= 8 || !(worst <= 4 * mark))
            break;
        /* Z = R_live - beta^T D, beta = M^-1 HD R_live^T (q x u): the live residuals made
         * H-orthogonal to D */
        for (size_t j = 0; j < u; j++)
            memcpy(w->Z + j * Pr, w->R + w->live[j] * Pr, Pr * sizeof(double));
        int iu = (int)u;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iu, iq, ip, 1.0, w->Z, ip, w->HD, ip,
                    0.0, w->C, iq); /* (HD Z^T)^T: u x q row-major = q x u column-major */
        dpotrs_("U", &iq, &iu, w->M, &iq, w->C, &iq, &info); /* beta, column-major q x u */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, iu, ip, iq, -1.0, w->C, iq, w->D,
                    ip, 1.0, w->Z, ip);
    }
    /* The true residuals b - H x of every column (the recurrence drifts; one pass of
     * products for the whole block), and plain CG for the columns still above tol (D and
     * HD then serve as its p and Hp). */
    size_t extra = 0;
    worst = 0;
    if (it > 0) {
        if (tg_progress_report(prog, -1, NULL))
            return TG_ECANCELLED;
        if ((rc = curv_hvp_multi_ws(cw, w->X, s, w->HD)))
            return rc;
        st->products += s;
        for (size_t c = 0; c < s; c++)
            for (size_t q = 0; q < Pr; q++)
                w->R[c * Pr + q] = B[c * Pr + q] - w->HD[c * Pr + q];
    }
    for (size_t c = 0; c < s; c++) {
        if (!(w->bn[c] > 0))
            continue;
        double *x = w->X + c * Pr, *r = w->R + c * Pr;
        if (tg_progress_report(prog, -1, NULL))
            return TG_ECANCELLED;
        /* up to 3 rounds of: CG from x while the true residual is above tol, then the
         * true residual again (CG's recurrence residual drifts from the true one on
         * hard spectra); the reported residual is a true one */
        size_t ci = 0;
        for (int round = 0; round < 4; round++) {
            if (round > 0) {
                if ((rc = curv_hvp_ws(cw, x, w->HD)))
                    return rc;
                st->products++;
                for (size_t q = 0; q < Pr; q++)
                    r[q] = B[c * Pr + q] - w->HD[q];
            }
            size_t used = it + ci, budget = max_iter > used ? max_iter - used : 0, k = 0;
            if (linalg_norm(r, Pr) <= tol * w->bn[c] || budget == 0 || round == 3)
                break;
            rc = cg_column(cw, x, r, w->D, w->HD, Pr, tol * w->bn[c], budget, &k, neg,
                           curv_min, prog);
            st->products += k;
            ci += k;
            if (rc)
                return rc;
        }
        if (ci > extra)
            extra = ci;
        double rr = linalg_norm(r, Pr) / w->bn[c];
        if (!(rr <= worst))
            worst = rr;
        if (!(rr <= tol))
            st->unconverged++;
    }
    if (it + extra > st->iters)
        st->iters = it + extra;
    if (!(worst <= st->relres))
        st->relres = worst;
    return TG_OK;
}

/* ---- LiSSA ------------------------------------------------------------------------------ */

typedef struct lissa_ws {
    double *r, *Hr;           /* Pr each */
    double *bx, *by;          /* batch rows */
    size_t *perm;             /* n */
    curv_obj bo;              /* the batch objective (rows in bx, by) */
    curv_ws *bw;              /* its workspace, or NULL (full batch) */
} lissa_ws;

/* x = mean over repeats of r_depth / s (see the header). stream: the solve's RNG stream. */
static int lissa_solve(const infl_problem *pb, curv_ws *full, const double *b, double *x,
                       size_t Pr, const infl_cfg *cfg, double s, uint64_t stream, lissa_ws *lw,
                       const tg_progress *prog, tg_err *err)
{
    size_t d = pb->arch->dims[0], yd = ydim(pb->arch, pb->loss, pb->y_is_class);
    size_t bs = cfg->batch_size && cfg->batch_size < pb->n ? cfg->batch_size : 0;
    double bn = linalg_norm(b, Pr);
    int rc;
    memset(x, 0, Pr * sizeof(double));
    if (bn == 0)
        return TG_OK;
    tg_rng rng;
    rng_seed_stream(&rng, cfg->seed, stream);
    size_t pos = pb->n; /* position in the current permutation of the rows */
    for (size_t rep = 0; rep < cfg->repeats; rep++) {
        memcpy(lw->r, b, Pr * sizeof(double));
        for (size_t t = 1; t <= cfg->depth; t++) {
            if (tg_progress_report(prog, -1, NULL))
                return TG_ECANCELLED;
            curv_ws *o = full;
            if (bs) {
                /* Batches of a fresh permutation, in order (sampling without replacement
                 * within an epoch). */
                for (size_t q = 0; q < bs; q++) {
                    if (pos >= pb->n) {
                        rng_permutation(&rng, lw->perm, pb->n);
                        pos = 0;
                    }
                    size_t i = lw->perm[pos++];
                    memcpy(lw->bx + q * d, pb->x + i * d, d * sizeof(double));
                    memcpy(lw->by + q * yd, pb->y + i * yd, yd * sizeof(double));
                }
                o = lw->bw;
            }
            if ((rc = curv_hvp_ws(o, lw->r, lw->Hr)))
                return curv_fail(err, rc);
            for (size_t q = 0; q < Pr; q++)
                lw->r[q] = b[q] + lw->r[q] - lw->Hr[q] / s;
            double rn = linalg_norm(lw->r, Pr);
            if (!isfinite(rn) || rn > 10.0 * (double)(t + 1) * bn)
                return tg_err_set(err, TG_ENUMERICAL,
                                  "lissa diverged at step %zu (||r|| = %.3g x ||v||): H/s has an "
                                  "eigenvalue outside (0, 2); H is not positive definite or the "
                                  "scale %g is below its largest eigenvalue: raise damping or "
                                  "scale, or use method exact",
                                  t, rn / bn, s);
        }
        for (size_t q = 0; q < Pr; q++)
            x[q] += lw->r[q] / s / (double)cfg->repeats;
    }
    return TG_OK;
}

/* ---- rankings ---------------------------------------------------------------------------- */

typedef struct vi {
    double v;
    size_t i;
} vi;

static int vi_asc(const void *a, const void *b)
{
    const vi *x = a, *y = b;
    if (x->v < y->v)
        return -1;
    if (x->v > y->v)
        return 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

/* top_helpful: the k most negative (ascending), top_harmful: the k most positive
 * (descending; ties by index). buf: n pairs. */
static void rank_row(const double *row, const size_t *cols, size_t n, size_t k, vi *buf,
                     size_t *helpful, size_t *harmful)
{
    for (size_t i = 0; i < n; i++) {
        buf[i].v = row[i];
        buf[i].i = cols ? cols[i] : i;
    }
    qsort(buf, n, sizeof *buf, vi_asc);
    for (size_t t = 0; t < k; t++)
        helpful[t] = buf[t].i;
    for (size_t i = 0; i < n; i++)
        buf[i].v = -row[i], buf[i].i = cols ? cols[i] : i;
    qsort(buf, n, sizeof *buf, vi_asc);
    for (size_t t = 0; t < k; t++)
        harmful[t] = buf[t].i;
}

/* ---- the computation ------------------------------------------------------------------- */

/* Rows of x at cols (n_cols) into out. */
static void gather(const double *x, size_t w, const size_t *cols, size_t nc, double *out)
{
    for (size_t i = 0; i < nc; i++)
        memcpy(out + i * w, x + cols[i] * w, w * sizeof(double));
}

int influence_run(const infl_problem *pb, const infl_cfg *cfg, infl_result *res,
                  const tg_progress *prog, tg_err *err)
{
    const mlp_arch *a = pb->arch;
    size_t Pr = pb->p_hi - pb->p_lo, m = pb->m, n = pb->n, nc = pb->cols ? pb->n_cols : n;
    size_t d = a->dims[0], yd = ydim(a, pb->loss, pb->y_is_class);
    double *G = NULL, *S = NULL, *H = NULL, *w = NULL, *xs = NULL, *ys = NULL, *tmp = NULL;
    vi *buf = NULL;
    lissa_ws lw;
    int rc = TG_OK;
    curv_obj o;
    memset(&lw, 0, sizeof lw);
    memset(res, 0, sizeof *res);
    res->min_eig = res->max_eig = res->lissa_bound = res->cg_relres = NAN;
    res->top_k = cfg->top_k < nc ? cfg->top_k : nc;
    make_obj(pb, pb->theta, pb->x, pb->y, n, pb->damping, &o);
    /* One curv lane: io->threads is OpenBLAS's count, and lanes calling a multithreaded
     * BLAS contend (core/curv.h). */
    o.threads = 1;
    o.prog = prog;
    curv_ws *cw = NULL;

    if (!(G = tg_alloc_array(nc, Pr, sizeof(double))) ||
        !(S = tg_alloc_array(m, Pr, sizeof(double))) ||
        !(res->influence = tg_alloc_array(m, nc, sizeof(double))) ||
        !(res->top_helpful = tg_alloc_array(m, res->top_k, sizeof(size_t))) ||
        !(res->top_harmful = tg_alloc_array(m, res->top_k, sizeof(size_t))) ||
        !(buf = tg_alloc_array(nc, 1, sizeof(vi))))
        goto oom;
    if (cfg->self_influence && !(res->self_influence = tg_alloc_array(nc, 1, sizeof(double))))
        goto oom;
    if (tg_progress_report(prog, 0.0, "gradients")) {
        rc = TG_ECANCELLED;
        goto out;
    }
    /* Stationarity of J at theta*. */
    {
        double *g = malloc(Pr * sizeof(double)), J;
        if (!g)
            goto oom;
        curv_obj o0 = o;
        o0.damping = 0;
        rc = curv_grad(&o0, g, &J);
        res->grad_norm = linalg_norm(g, Pr);
        free(g);
        if (rc) {
            rc = curv_fail(err, rc);
            goto out;
        }
    }
    /* Training gradients (the kept n_cols x Pr matrix) and test gradients (into S). */
    if (pb->cols) {
        if (!(xs = tg_alloc_array(nc, d, sizeof(double))) ||
            !(ys = tg_alloc_array(nc, yd, sizeof(double))))
            goto oom;
        gather(pb->x, d, pb->cols, nc, xs);
        gather(pb->y, yd, pb->cols, nc, ys);
    }
    if ((rc = influence_grads(a, pb->theta, xs ? xs : pb->x, ys ? ys : pb->y, pb->y_is_class, nc,
                              pb->loss, pb->p_lo, pb->p_hi, G, err)) ||
        (rc = influence_grads(a, pb->theta, pb->x_test, pb->y_test, pb->y_is_class, m, pb->loss,
                              pb->p_lo, pb->p_hi, S, err)))
        goto out;
    free(xs);
    free(ys);
    xs = ys = NULL;
    if (tg_progress_report(prog, 0.05, "solves")) {
        rc = TG_ECANCELLED;
        goto out;
    }

    if (cfg->method == INFL_EXACT) {
        if (!(H = tg_alloc_array(Pr, Pr, sizeof(double))))
            goto oom;
        sub_prog sp = {prog, 0.05, 0.5};
        tg_progress hp = {sub_prog_fn, &sp};
        curv_obj oh = o;
        oh.prog = prog ? &hp : NULL;
        if ((rc = curv_hessian(&oh, H))) {
            rc = curv_fail(err, rc);
            goto out;
        }
        if (tg_progress_report(prog, 0.5, "Cholesky")) {
            rc = TG_ECANCELLED;
            goto out;
        }
        if (Pr <= INFL_EIG_MAX_P) {
            if (!(tmp = tg_alloc_array(Pr, Pr, sizeof(double))) ||
                !(w = tg_alloc_array(Pr, 1, sizeof(double))))
                goto oom;
            memcpy(tmp, H, Pr * Pr * sizeof(double));
            if ((rc = curv_eigvalsh(Pr, tmp, w))) {
                rc = tg_err_set(err, rc, "the eigenvalues of H failed to converge");
                goto out;
            }
            res->min_eig = w[0];
            res->max_eig = w[Pr - 1];
            res->eig_exact = 1;
            free(tmp);
            tmp = NULL;
        } else {
            mat_ctx mc = {H, Pr};
            if ((rc = lanczos_extremes(mat_op, &mc, Pr, 100, cfg->seed, &res->min_eig,
                                       &res->max_eig)))
                goto out;
        }
        int nn = (int)Pr, info = 0, nrhs = (int)m;
        dpotrf_("U", &nn, H, &nn, &info);
        if (info != 0) {
            rc = not_pd(err, res->min_eig, pb->damping,
                        res->eig_exact ? "Cholesky failed" : "Cholesky failed; Lanczos estimate");
            goto out;
        }
        if (m > 0)
            dpotrs_("U", &nn, &nrhs, H, &nn, S, &nn, &info);
        if (info != 0) {
            rc = tg_err_set(err, TG_EINTERNAL, "dpotrs failed (info %d)", info);
            goto out;
        }
        if (tg_progress_report(prog, 0.8, "influence")) {
            rc = TG_ECANCELLED;
            goto out;
        }
        if (m > 0 && nc > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nc, (int)Pr, -1.0,
                        S, (int)Pr, G, (int)Pr, 0.0, res->influence, (int)nc);
        if (cfg->self_influence) {
            /* H = U^T U (column-major upper): g^T H^-1 g = ||U^-T g||^2; G^T is Pr x nc
             * column-major. */
            cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, (int)Pr,
                        (int)nc, 1.0, H, (int)Pr, G, (int)Pr);
            for (size_t i = 0; i < nc; i++)
                res->self_influence[i] = linalg_dot(G + i * Pr, G + i * Pr, Pr);
        }
    } else {
        size_t solves = m + (cfg->self_influence ? nc : 0);
        double s = cfg->scale, lo = NAN, hi = NAN;
        if (!(cw = curv_ws_new(&o)))
            goto oom;
        if (cfg->method == INFL_LISSA) {
            /* Extreme eigenvalues of H (the scale and the error bound). */
            if ((rc = lanczos_extremes(curv_op, cw, Pr, 30, cfg->seed, &lo, &hi))) {
                rc = curv_fail(err, rc);
                goto out;
            }
            res->min_eig = lo;
            res->max_eig = hi;
            if (!(s > 0))
                s = 1.1 * hi;
            res->scale = s;
            if (!(s > 0)) {
                rc = not_pd(err, lo, pb->damping, "Lanczos estimate");
                goto out;
            }
            res->lissa_bound = lo > 0 ? pow(1.0 - lo / s, (double)cfg->depth + 1) : NAN;
            size_t bs = cfg->batch_size && cfg->batch_size < n ? cfg->batch_size : 0;
            if (!(lw.r = malloc(Pr * sizeof(double))) || !(lw.Hr = malloc(Pr * sizeof(double))))
                goto oom;
            if (bs && (!(lw.bx = tg_alloc_array(bs, d, sizeof(double))) ||
                       !(lw.by = tg_alloc_array(bs, yd, sizeof(double))) ||
                       !(lw.perm = tg_alloc_array(n, 1, sizeof(size_t)))))
                goto oom;
            if (bs) {
                lw.bo = o;
                lw.bo.x = lw.bx;
                lw.bo.y = lw.by;
                lw.bo.n = bs;
                lw.bo.no_cache = 1; /* the batch rows change between products */
                if (!(lw.bw = curv_ws_new(&lw.bo)))
                    goto oom;
            }
        }
        if (cfg->method == INFL_CG) {
            /* Block CG over the test gradients (rows of S, in place), then the training
             * gradients for self-influence. */
            size_t bs = influence_cg_block(Pr, solves);
            bcg_ws bw;
            cg_stats st = {0, 0, 0, 0, NAN, NAN};
            double curv_min = INFINITY;
            int neg = 0;
            if (bcg_init(&bw, bs, Pr))
                goto oom;
            for (int part = 0; part < 2; part++) { /* a block is all test or all training */
                size_t j_lo = part ? m : 0, j_hi = part ? solves : m;
                for (size_t j0 = j_lo; j0 < j_hi && rc == TG_OK; j0 += bs) {
                    size_t cnt = j_hi - j0 < bs ? j_hi - j0 : bs;
                    double *B = part ? G + (j0 - m) * Pr : S + j0 * Pr;
                    rc = bcg_solve(cw, &bw, B, cnt, cfg->cg_tol, cfg->cg_max_iter, &st, j0,
                                   solves, prog, &curv_min, &neg, err);
                    if (rc == TG_OK && !part)
                        memcpy(B, bw.X, cnt * Pr * sizeof(double));
                    else if (rc == TG_OK)
                        for (size_t c = 0; c < cnt; c++)
                            res->self_influence[j0 - m + c] =
                                linalg_dot(B + c * Pr, bw.X + c * Pr, Pr);
                }
            }
            bcg_free(&bw);
            if (rc == TG_ENUMERICAL && !neg)
                goto out; /* err says why */
            if (rc == TG_ENUMERICAL) {
                double l0 = curv_min, l1 = NAN;
                int r2 = lanczos_extremes(curv_op, cw, Pr, 80, cfg->seed, &l0, &l1);
                if (r2 == TG_ECANCELLED)
                    rc = TG_ECANCELLED;
                else
                    rc = not_pd(err, l0 < curv_min ? l0 : curv_min, pb->damping,
                                "conjugate gradients met p^T H p <= 0; Lanczos estimate");
                goto out;
            }
            if (rc) {
                rc = curv_fail(err, rc);
                goto out;
            }
            res->cg_iterations = st.iters;
            res->cg_products = st.products;
            res->cg_relres = st.relres;
            res->cg_unconverged = st.unconverged;
            /* Extreme eigenvalue estimates: the projected blocks' (free, but for the
             * smallest only an upper bound) and 40 Lanczos steps' Ritz values. */
            double l0 = NAN, l1 = NAN;
            if ((rc = lanczos_extremes(curv_op, cw, Pr, 40, cfg->seed, &l0, &l1))) {
                rc = curv_fail(err, rc);
                goto out;
            }
            res->min_eig = fmin(l0, st.ritz_lo);
            res->max_eig = fmax(l1, st.ritz_hi);
            if (!(res->min_eig > 0)) {
                /* a Ritz value is a Rayleigh quotient: H is not positive definite even if
                 * the right-hand sides converged */
                rc = not_pd(err, res->min_eig, pb->damping, "Lanczos estimate after the solves");
                goto out;
            }
        } else {
            double *x = malloc(Pr * sizeof(double));
            if (!x)
                goto oom;
            for (size_t j = 0; j < solves && rc == TG_OK; j++) {
                /* Solves 0..m-1: the test gradients (rows of S, in place); then the training
                 * gradients for self-influence. */
                int is_test = j < m;
                const double *b = is_test ? S + j * Pr : G + (j - m) * Pr;
                char msg[64];
                snprintf(msg, sizeof msg, "solve %zu of %zu", j + 1, solves);
                if (tg_progress_report(prog, 0.05 + 0.9 * (double)j / (double)solves, msg)) {
                    rc = TG_ECANCELLED;
                    break;
                }
                rc = lissa_solve(pb, cw, b, x, Pr, cfg, s, j, &lw, prog, err);
                if (rc)
                    break;
                if (is_test)
                    memcpy(S + j * Pr, x, Pr * sizeof(double));
                else
                    res->self_influence[j - m] = linalg_dot(b, x, Pr);
            }
            free(x);
            if (rc)
                goto out;
        }
        if (m > 0 && nc > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nc, (int)Pr, -1.0,
                        S, (int)Pr, G, (int)Pr, 0.0, res->influence, (int)nc);
    }
    for (size_t j = 0; j < m; j++)
        rank_row(res->influence + j * nc, pb->cols, nc, res->top_k, buf,
                 res->top_helpful + j * res->top_k, res->top_harmful + j * res->top_k);
    tg_progress_report(prog, 1.0, "done");
    goto out;
oom:
    rc = tg_err_set(err, TG_ENOMEM, "out of memory for the influence computation");
out:
    free(G);
    free(S);
    free(H);
    free(w);
    free(xs);
    free(ys);
    free(tmp);
    free(buf);
    free(lw.r);
    free(lw.Hr);
    free(lw.bx);
    free(lw.by);
    free(lw.perm);
    curv_ws_free(lw.bw);
    curv_ws_free(cw);
    return rc;
}

/* ---- leave-one-out retraining ------------------------------------------------------------ */

/* Cancellation of a retraining: a flag (any thread) and a progress callback (the calling
 * thread only; NULL on workers). */
typedef struct stopper {
    const volatile int *flag;
    const tg_progress *prog;
} stopper;

static int stopped(const stopper *st)
{
    return (st->flag && *st->flag) || tg_progress_report(st->prog, -1, NULL);
}

/* J and its gradient on the range (no damping) at theta. */
static int obj_grad(const infl_problem *pb, const double *theta, const double *x,
                    const double *y, size_t n, double *g, double *J, const stopper *st,
                    tg_err *err)
{
    curv_obj o;
    make_obj(pb, theta, x, y, n, 0.0, &o);
    o.cancel = st->flag;
    o.prog = st->prog;
    int rc = curv_grad(&o, g, J);
    return rc ? curv_fail(err, rc) : TG_OK;
}

typedef struct retrain_ws {
    double *g, *g1, *dir, *H, *th1; /* Pr, Pr, Pr, Pr^2 (Newton) or 2 m Pr (L-BFGS), P */
    double *S, *Y, *rho, *al;       /* L-BFGS memory */
} retrain_ws;

#define LBFGS_M 20
#define LBFGS_MAX_ITER 20000
#define NEWTON_MAX_ITER 100

static void retrain_ws_free(retrain_ws *w)
{
    free(w->g);
    free(w->g1);
    free(w->dir);
    free(w->H);
    free(w->th1);
    free(w->S);
    free(w->Y);
    free(w->rho);
    free(w->al);
}

static int retrain_ws_init(retrain_ws *w, size_t P, size_t Pr, int newton)
{
    memset(w, 0, sizeof *w);
    w->g = malloc(Pr * sizeof(double));
    w->g1 = malloc(Pr * sizeof(double));
    w->dir = malloc(Pr * sizeof(double));
    w->th1 = malloc(P * sizeof(double));
    if (newton) {
        w->H = tg_alloc_array(Pr, Pr, sizeof(double));
        w->S = tg_alloc_array(Pr, Pr, sizeof(double)); /* the factor */
    } else {
        w->S = tg_alloc_array(LBFGS_M, Pr, sizeof(double));
        w->Y = tg_alloc_array(LBFGS_M, Pr, sizeof(double));
        w->rho = malloc(LBFGS_M * sizeof(double));
        w->al = malloc(LBFGS_M * sizeof(double));
    }
    if (!w->g || !w->g1 || !w->dir || !w->th1 || !w->S ||
        (newton ? !w->H : (!w->Y || !w->rho || !w->al))) {
        retrain_ws_free(w);
        return TG_ENOMEM;
    }
    return TG_OK;
}

/* Minimizes J over the range of theta (P, in/out; warm start) on rows x, y (n): Newton
 * (newton = 1) or L-BFGS, to gradient norm INFL_LOO_GTOL. *gnorm: the final gradient
 * norm. Returns TG_OK (also when the tolerance was not reached), TG_ECANCELLED, errors. */
static int retrain(const infl_problem *pb, const double *x, const double *y, size_t n,
                   double *theta, int newton, const stopper *stop, retrain_ws *w, double *gnorm,
                   tg_err *err)
{
    size_t P = mlp_param_count(pb->arch), Pr = pb->p_hi - pb->p_lo;
    double J, J1;
    size_t hist = 0, head = 0;
    int rc = obj_grad(pb, theta, x, y, n, w->g, &J, stop, err);
    if (rc)
        return rc;
    size_t max_iter = newton ? NEWTON_MAX_ITER : LBFGS_MAX_ITER;
    for (size_t it = 0; it < max_iter; it++) {
        double gn = linalg_norm(w->g, Pr);
        *gnorm = gn;
        if (gn <= INFL_LOO_GTOL)
            return TG_OK;
        if (stopped(stop))
            return TG_ECANCELLED;
        if (newton) {
            curv_obj o;
            make_obj(pb, theta, x, y, n, 0.0, &o);
            o.cancel = stop->flag;
            o.prog = stop->prog;
            if ((rc = curv_hessian(&o, w->H)))
                return curv_fail(err, rc);
            /* (H + mu I) d = -g with the smallest mu in {0, 1e-8 s, 1e-7 s, ...} that
             * factors (s = the largest diagonal entry): Levenberg-Marquardt safeguard. */
            double dmax = 0;
            for (size_t q = 0; q < Pr; q++)
                dmax = fmax(dmax, fabs(w->H[q * Pr + q]));
            double mu = 0;
            int nn = (int)Pr, info = 1, one = 1;
            for (int tries = 0; tries < 30 && info != 0; tries++) {
                memcpy(w->S, w->H, Pr * Pr * sizeof(double));
                for (size_t q = 0; q < Pr; q++)
                    w->S[q * Pr + q] += mu;
                dpotrf_("U", &nn, w->S, &nn, &info);
                mu = mu == 0 ? 1e-8 * (dmax + 1e-300) : mu * 10;
            }
            if (info != 0)
                return tg_err_set(err, TG_ENUMERICAL, "Newton: no positive definite shift");
            for (size_t q = 0; q < Pr; q++)
                w->dir[q] = -w->g[q];
            dpotrs_("U", &nn, &one, w->S, &nn, w->dir, &nn, &info);
        } else {
            /* L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4). */
            memcpy(w->dir, w->g, Pr * sizeof(double));
            for (size_t h = 0; h < hist; h++) {
                size_t s = (head + LBFGS_M - 1 - h) % LBFGS_M;
                w->al[s] = w->rho[s] * linalg_dot(w->S + s * Pr, w->dir, Pr);
                for (size_t q = 0; q < Pr; q++)
                    w->dir[q] -= w->al[s] * w->Y[s * Pr + q];
            }
            double gamma = 1.0 / (gn > 1 ? gn : 1);
            if (hist > 0) {
                size_t s = (head + LBFGS_M - 1) % LBFGS_M;
                gamma = 1.0 / (w->rho[s] * linalg_dot(w->Y + s * Pr, w->Y + s * Pr, Pr));
            }
            for (size_t q = 0; q < Pr; q++)
                w->dir[q] *= gamma;
            for (size_t h = hist; h-- > 0;) {
                size_t s = (head + LBFGS_M - 1 - h) % LBFGS_M;
                double be = w->rho[s] * linalg_dot(w->Y + s * Pr, w->dir, Pr);
                for (size_t q = 0; q < Pr; q++)
                    w->dir[q] += (w->al[s] - be) * w->S[s * Pr + q];
            }
            for (size_t q = 0; q < Pr; q++)
                w->dir[q] = -w->dir[q];
        }
        double gd = linalg_dot(w->g, w->dir, Pr);
        if (!(gd < 0)) {
            /* Not a descent direction (L-BFGS memory gone bad): steepest descent. */
            for (size_t q = 0; q < Pr; q++)
                w->dir[q] = -w->g[q] / (gn > 1 ? gn : 1);
            gd = linalg_dot(w->g, w->dir, Pr);
            hist = 0;
        }
        /* Armijo backtracking; near the optimum, where J no longer resolves the decrease,
         * a step that lowers the gradient norm is taken. */
        double t = 1;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++) {
            memcpy(w->th1, theta, P * sizeof(double));
            for (size_t q = 0; q < Pr; q++)
                w->th1[pb->p_lo + q] += t * w->dir[q];
            if ((rc = obj_grad(pb, w->th1, x, y, n, w->g1, &J1, stop, err)))
                return rc;
            if (isfinite(J1) &&
                (J1 <= J + 1e-4 * t * gd ||
                 (J1 <= J + 1e-13 * fabs(J) && linalg_norm(w->g1, Pr) < gn))) {
                ok = 1;
                break;
            }
            t *= 0.5;
        }
        if (!ok)
            return TG_OK; /* no progress possible in float64: *gnorm says where it stopped */
        if (!newton) {
            size_t s = head;
            double sy = 0;
            for (size_t q = 0; q < Pr; q++) {
                w->S[s * Pr + q] = t * w->dir[q];
                w->Y[s * Pr + q] = w->g1[q] - w->g[q];
            }
            sy = linalg_dot(w->S + s * Pr, w->Y + s * Pr, Pr);
            if (sy > 1e-300) {
                w->rho[s] = 1.0 / sy;
                head = (head + 1) % LBFGS_M;
                if (hist < LBFGS_M)
                    hist++;
            }
        }
        memcpy(theta, w->th1, P * sizeof(double));
        memcpy(w->g, w->g1, Pr * sizeof(double));
        J = J1;
    }
    *gnorm = linalg_norm(w->g, Pr);
    return TG_OK;
}

static double test_loss(const infl_problem *pb, const double *theta, mlp_ws *ws)
{
    size_t k = pb->arch->dims[pb->arch->n_layers];
    double f[1024], *fb = k <= 1024 ? f : malloc(k * sizeof(double));
    if (!fb)
        return NAN;
    mlp_forward(pb->arch, theta, pb->x_test, 1, ws, fb);
    double l = mlp_loss_one(pb->loss, fb, k, pb->y_test, pb->y_is_class, NULL);
    if (fb != f)
        free(fb);
    return l;
}

typedef struct loo_job {
    const infl_problem *pb;
    const size_t *idx;
    size_t k;
    int newton;
    double ref_loss;
    double *actual, *gnorm;
    unsigned char *finished;
    atomic_size_t next, done;
    volatile int stop; /* also curv's cancel flag */
    pthread_mutex_t mu;
    int rc;
    tg_err err;
} loo_job;

static void *loo_worker(void *arg)
{
    loo_job *J = arg;
    const infl_problem *pb = J->pb;
    size_t P = mlp_param_count(pb->arch), Pr = pb->p_hi - pb->p_lo, d = pb->arch->dims[0];
    size_t yd = ydim(pb->arch, pb->loss, pb->y_is_class), n = pb->n;
    retrain_ws w;
    tg_err e;
    int rc = TG_OK;
    tg_err_clear(&e);
    double *th = malloc(P * sizeof(double));
    double *xm = tg_alloc_array(n, d, sizeof(double)), *ym = tg_alloc_array(n, yd, sizeof(double));
    mlp_ws *ws = mlp_ws_new(pb->arch, 1);
    if (!th || !xm || !ym || !ws || retrain_ws_init(&w, P, Pr, J->newton)) {
        rc = tg_err_set(&e, TG_ENOMEM, "out of memory for the retraining");
        goto out;
    }
    for (;;) {
        size_t t = atomic_fetch_add(&J->next, 1);
        if (t >= J->k || J->stop)
            break;
        size_t i = J->idx[t];
        /* The data without row i. */
        memcpy(xm, pb->x, i * d * sizeof(double));
        memcpy(xm + i * d, pb->x + (i + 1) * d, (n - 1 - i) * d * sizeof(double));
        memcpy(ym, pb->y, i * yd * sizeof(double));
        memcpy(ym + i * yd, pb->y + (i + 1) * yd, (n - 1 - i) * yd * sizeof(double));
        memcpy(th, pb->theta, P * sizeof(double));
        stopper sp = {&J->stop, NULL};
        rc = retrain(pb, xm, ym, n - 1, th, J->newton, &sp, &w, &J->gnorm[t], &e);
        if (rc)
            break;
        J->actual[t] = test_loss(pb, th, ws) - J->ref_loss;
        pthread_mutex_lock(&J->mu);
        J->finished[t] = 1;
        pthread_mutex_unlock(&J->mu);
        atomic_fetch_add(&J->done, 1);
    }
    retrain_ws_free(&w);
out:
    free(th);
    free(xm);
    free(ym);
    mlp_ws_free(ws);
    if (rc) {
        pthread_mutex_lock(&J->mu);
        if (J->rc == TG_OK || J->rc == TG_ECANCELLED) {
            J->rc = rc;
            J->err = e;
        }
        pthread_mutex_unlock(&J->mu);
        J->stop = 1;
    }
    return NULL;
}

int influence_loo(const infl_problem *pb, const size_t *idx, size_t k, const double *predicted,
                  infl_loo_out *out, infl_loo_fn cb, void *cb_ud, const tg_progress *prog,
                  tg_err *err)
{
    size_t P = mlp_param_count(pb->arch), Pr = pb->p_hi - pb->p_lo;
    int newton = Pr <= INFL_NEWTON_MAX_P && !pb->loo_lbfgs, rc = TG_OK;
    retrain_ws w;
    loo_job J;
    double *th = NULL, *pa = NULL, *pp = NULL;
    mlp_ws *ws = NULL;
    memset(out, 0, sizeof *out);
    memset(&J, 0, sizeof J);
    memset(&w, 0, sizeof w);
    out->newton = (size_t)newton;
    if (!(out->actual = tg_alloc_array(k, 1, sizeof(double))) ||
        !(J.gnorm = tg_alloc_array(k, 1, sizeof(double))) ||
        !(J.finished = calloc(k ? k : 1, 1)) || !(th = malloc(P * sizeof(double))) ||
        !(pa = tg_alloc_array(k, 1, sizeof(double))) ||
        !(pp = tg_alloc_array(k, 1, sizeof(double))) || !(ws = mlp_ws_new(pb->arch, 1)) ||
        retrain_ws_init(&w, P, Pr, newton)) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the retraining");
        goto out;
    }
    /* The reference: the same solver on all n points from the same start. */
    if (tg_progress_report(prog, 0.0, "retraining on all points")) {
        rc = TG_ECANCELLED;
        goto out;
    }
    memcpy(th, pb->theta, P * sizeof(double));
    double g0 = 0;
    stopper sp0 = {NULL, prog};
    if ((rc = retrain(pb, pb->x, pb->y, pb->n, th, newton, &sp0, &w, &g0, err)))
        goto out;
    out->worst_grad = g0;
    out->unconverged = g0 > INFL_LOO_GTOL;
    {
        double s2 = 0;
        for (size_t q = pb->p_lo; q < pb->p_hi; q++)
            s2 += (th[q] - pb->theta[q]) * (th[q] - pb->theta[q]);
        out->ref_shift = sqrt(s2);
    }
    out->ref_loss = test_loss(pb, th, ws);
    J.pb = pb;
    J.idx = idx;
    J.k = k;
    J.newton = newton;
    J.ref_loss = out->ref_loss;
    J.actual = out->actual;
    atomic_init(&J.next, 0);
    atomic_init(&J.done, 0);
    pthread_mutex_init(&J.mu, NULL);
    tg_err_clear(&J.err);
    int nt = pb->threads > 1 ? pb->threads : 1;
    if ((size_t)nt > k)
        nt = k ? (int)k : 1;
    if (nt > 64)
        nt = 64;
    pthread_t tids[64];
    int started = 0;
    for (int t = 0; t < nt; t++) {
        if (pthread_create(&tids[t], NULL, loo_worker, &J) != 0)
            break;
        started++;
    }
    if (started == 0) {
        /* No thread: do it here. */
        loo_worker(&J);
    }
    size_t seen = 0;
    while (started > 0) {
        size_t dn = atomic_load(&J.done);
        int all = dn >= k || J.stop;
        if (dn != seen || all) {
            seen = dn;
            size_t c = 0;
            pthread_mutex_lock(&J.mu);
            for (size_t t = 0; t < k; t++)
                if (J.finished[t]) {
                    pa[c] = predicted[t];
                    pp[c] = out->actual[t];
                    c++;
                }
            pthread_mutex_unlock(&J.mu);
            double pr = c >= 3 ? influence_pearson(pa, pp, c) : NAN;
            if (cb && cb(cb_ud, dn, k, pr))
                J.stop = 1;
        }
        if (all && dn >= k)
            break;
        if (J.stop)
            break;
        if (tg_progress_report(prog, -1, NULL))
            J.stop = 1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&J.mu);
    if (J.rc) {
        rc = J.rc;
        if (err)
            *err = J.err;
        goto out;
    }
    if (atomic_load(&J.done) < k) {
        rc = TG_ECANCELLED;
        goto out;
    }
    for (size_t t = 0; t < k; t++) {
        if (J.gnorm[t] > out->worst_grad)
            out->worst_grad = J.gnorm[t];
        out->unconverged += J.gnorm[t] > INFL_LOO_GTOL;
    }
out:
    retrain_ws_free(&w);
    free(J.gnorm);
    free(J.finished);
    free(th);
    free(pa);
    free(pp);
    mlp_ws_free(ws);
    return rc;
}

/* ---- correlations ---------------------------------------------------------------------- */

double influence_pearson(const double *a, const double *b, size_t n)
{
    if (n < 2)
        return NAN;
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (!(saa > 0) || !(sbb > 0))
        return NAN;
    return sab / sqrt(saa * sbb);
}

/* Average ranks (1-based) of v into r. */
static int ranks(const double *v, size_t n, double *r)
{
    vi *b = tg_alloc_array(n, 1, sizeof(vi));
    if (!b)
        return TG_ENOMEM;
    for (size_t i = 0; i < n; i++)
        b[i].v = v[i], b[i].i = i;
    qsort(b, n, sizeof *b, vi_asc);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && b[j + 1].v == b[i].v)
            j++;
        double avg = 0.5 * ((double)i + (double)j) + 1;
        for (size_t q = i; q <= j; q++)
            r[b[q].i] = avg;
        i = j + 1;
    }
    free(b);
    return TG_OK;
}

double influence_spearman(const double *a, const double *b, size_t n)
{
    if (n < 2)
        return NAN;
    double *ra = tg_alloc_array(n, 1, sizeof(double)), *rb = tg_alloc_array(n, 1, sizeof(double));
    double s = NAN;
    if (ra && rb && ranks(a, n, ra) == TG_OK && ranks(b, n, rb) == TG_OK)
        s = influence_pearson(ra, rb, n);
    free(ra);
    free(rb);
    return s;
}
