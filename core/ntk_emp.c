/* ntk_emp.c: the empirical (finite-width) NTK of ntk.h (ntk_empirical): per layer, the
 * Gram matrices of the layer inputs and of the backpropagated vectors, as GEMMs in blocks
 * of rows (the theory's section 9.4).
 *
 * Threading: reentrant; BLAS uses the process-wide OpenBLAS thread count.
 */
#include "ntk.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* Forward pass of all rows and the backpropagated vectors of output k:
 * B[l] (rows x d_l) for l = 1..L+1. H inputs stay in ws. */
static void backprop_vectors(const mlp_arch *a, const double *theta, size_t rows, size_t k,
                             const mlp_ws *ws, double **B)
{
    size_t L1 = a->n_layers;
    double *bo = B[L1];
    size_t K = a->dims[L1];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < K; j++)
            bo[i * K + j] = j == k ? 1.0 : 0.0;
    for (size_t l = L1; l >= 2; l--) {
        size_t wo, bofs;
        mlp_layer_offsets(a, l, &wo, &bofs);
        double s = mlp_scale_w(a, l);
        size_t dout = a->dims[l], din = a->dims[l - 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)din, (int)dout,
                    s, B[l], (int)dout, theta + wo, (int)din, 0.0, B[l - 1], (int)din);
        const double *z = mlp_ws_z(a, ws, l - 1);
        for (size_t i = 0; i < rows * din; i++)
            B[l - 1][i] *= mlp_dphi(a->act, a->leaky_slope, z[i]);
    }
}

int ntk_empirical(const mlp_arch *a, const double *theta, const double *X, size_t n,
                  const double *Z, size_t m, int output, int diag_only, double *out,
                  const tg_progress *prog, tg_err *err)
{
    int sym = Z == NULL, rc = TG_OK;
    size_t L1 = a->n_layers, K = a->dims[L1], d = a->dims[0];
    int hb = mlp_has_bias(a);
    if (sym)
        m = n;
    mlp_ws *wx = mlp_ws_new(a, n ? n : 1), *wz = sym ? NULL : mlp_ws_new(a, m ? m : 1);
    double *Bx[MLP_MAX_LAYERS + 1] = {0}, *Bz[MLP_MAX_LAYERS + 1] = {0};
    const size_t RB = 256;
    double *A = tg_alloc_array(RB, m, sizeof(double));
    double *C = tg_alloc_array(RB, m, sizeof(double));
    int ok = wx && (sym || wz) && A && C;
    for (size_t l = 1; ok && l <= L1; l++) {
        Bx[l] = tg_alloc_array(n, a->dims[l], sizeof(double));
        Bz[l] = sym ? Bx[l] : tg_alloc_array(m, a->dims[l], sizeof(double));
        ok = Bx[l] && Bz[l];
    }
    if (!ok) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory for the empirical kernel");
        goto out;
    }
    if (diag_only)
        memset(out, 0, n * sizeof(double));
    else
        memset(out, 0, n * m * sizeof(double));
    mlp_forward(a, theta, X, n, wx, NULL);
    if (!sym)
        mlp_forward(a, theta, Z, m, wz, NULL);
    const mlp_ws *wzz = sym ? wx : wz;
    const double *Zx = sym ? X : Z;
    size_t k0 = output >= 0 ? (size_t)output : 0, k1 = output >= 0 ? (size_t)output + 1 : K;
    double scale = 1.0 / (double)(k1 - k0);
    size_t total = (k1 - k0) * ((n + RB - 1) / RB), step = 0;
    for (size_t k = k0; k < k1; k++) {
        backprop_vectors(a, theta, n, k, wx, Bx);
        if (!sym)
            backprop_vectors(a, theta, m, k, wz, Bz);
        for (size_t r0 = 0; r0 < n; r0 += RB, step++) {
            size_t rb = n - r0 < RB ? n - r0 : RB;
            char msg[96];
            snprintf(msg, sizeof msg, "output %zu, rows %zu of %zu", k, r0, n);
            if (tg_progress_report(prog, (double)step / (double)total, msg)) {
                rc = TG_ECANCELLED;
                goto out;
            }
            for (size_t l = 1; l <= L1; l++) {
                size_t din = a->dims[l - 1], dl = a->dims[l];
                double s = mlp_scale_w(a, l), t = hb ? mlp_scale_b(a, l) : 0.0;
                const double *Hx = mlp_ws_input(a, wx, X, l) + r0 * din;
                const double *Hz = mlp_ws_input(a, wzz, Zx, l);
                if (diag_only) {
                    for (size_t i = 0; i < rb; i++) {
                        double hh = linalg_dot(Hx + i * din, Hx + i * din, din);
                        double bb = linalg_dot(Bx[l] + (r0 + i) * dl, Bx[l] + (r0 + i) * dl, dl);
                        out[r0 + i] += scale * (s * s * hh + t * t) * bb;
                    }
                    continue;
                }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)m, (int)din,
                            s * s, Hx, (int)din, Hz, (int)din, 0.0, A, (int)m);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)m, (int)dl,
                            scale, Bx[l] + r0 * dl, (int)dl, Bz[l], (int)dl, 0.0, C, (int)m);
                double *o = out + r0 * m;
                for (size_t i = 0; i < rb * m; i++)
                    o[i] += (A[i] + t * t) * C[i];
            }
        }
    }
    (void)d;
out:
    mlp_ws_free(wx);
    mlp_ws_free(wz);
    for (size_t l = 1; l <= L1; l++) {
        free(Bx[l]);
        if (!sym)
            free(Bz[l]);
    }
    free(A);
    free(C);
    return rc;
}
