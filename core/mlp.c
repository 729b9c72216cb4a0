/* mlp.c: the network of mlp.h on CBLAS: forward, backward, per-example gradients and
 * the exact Hessian-vector product by the R-operator (Pearlmutter 1994; the theory's
 * section 4.4.1: "Hv can be computed in time linear in the size of the network by
 * differentiating the gradient computation").
 *
 * Layout of the workspace: z and h hold, for each layer l = 1..L+1, a block of n_max x
 * d_l values at offset n_max * (d_1 + ... + d_{l-1}), rows of length d_l.
 */
#include "mlp.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* log(1 + e^z), stably and without a threshold. */
static double softplus(double z)
{
    return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
}

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794
#define TWO_OVER_SQRTPI 1.12837916709551257390

double mlp_phi(tg_act a, double s, double z)
{
    switch (a) {
    case ACT_RELU: return z > 0 ? z : 0.0;
    case ACT_LEAKY_RELU: return z > 0 ? z : s * z;
    case ACT_ABS: return fabs(z);
    case ACT_TANH: return tanh(z);
    case ACT_SIGMOID: return sigmoid(z);
    case ACT_SOFTPLUS: return softplus(z);
    case ACT_GELU: return z * 0.5 * erfc(-z * INV_SQRT2);
    case ACT_ERF: return erf(z);
    case ACT_IDENTITY: return z;
    }
    return z;
}

double mlp_dphi(tg_act a, double s, double z)
{
    switch (a) {
    case ACT_RELU: return z > 0 ? 1.0 : 0.0;
    case ACT_LEAKY_RELU: return z > 0 ? 1.0 : s;
    case ACT_ABS: return z > 0 ? 1.0 : (z < 0 ? -1.0 : 0.0);
    case ACT_TANH: {
        double t = tanh(z);
        return 1.0 - t * t;
    }
    case ACT_SIGMOID: {
        double g = sigmoid(z);
        return g * (1.0 - g);
    }
    case ACT_SOFTPLUS: return sigmoid(z);
    case ACT_GELU: return 0.5 * erfc(-z * INV_SQRT2) + z * INV_SQRT2PI * exp(-0.5 * z * z);
    case ACT_ERF: return TWO_OVER_SQRTPI * exp(-z * z);
    case ACT_IDENTITY: return 1.0;
    }
    return 1.0;
}

double mlp_d2phi(tg_act a, double s, double z)
{
    (void)s;
    switch (a) {
    case ACT_TANH: {
        double t = tanh(z);
        return -2.0 * t * (1.0 - t * t);
    }
    case ACT_SIGMOID: {
        double g = sigmoid(z);
        return g * (1.0 - g) * (1.0 - 2.0 * g);
    }
    case ACT_SOFTPLUS: {
        double g = sigmoid(z);
        return g * (1.0 - g);
    }
    case ACT_GELU: return INV_SQRT2PI * exp(-0.5 * z * z) * (2.0 - z * z);
    case ACT_ERF: return -2.0 * z * TWO_OVER_SQRTPI * exp(-z * z);
    default: return 0.0; /* piecewise linear */
    }
}

/* h[i] = phi(z[i]) for n values, the switch outside the loop (the hot elementwise pass of
 * training). */
static void act_forward(const mlp_arch *a, const double *z, double *h, size_t n)
{
    switch (a->act) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            h[i] = z[i] > 0 ? z[i] : 0.0;
        return;
    case ACT_IDENTITY:
        memcpy(h, z, n * sizeof(double));
        return;
    default:
        for (size_t i = 0; i < n; i++)
            h[i] = mlp_phi(a->act, a->leaky_slope, z[i]);
        return;
    }
}

/* d[i] *= phi'(z[i]). */
static void act_backward(const mlp_arch *a, const double *z, double *d, size_t n)
{
    switch (a->act) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            d[i] = z[i] > 0 ? d[i] : 0.0;
        return;
    case ACT_IDENTITY:
        return;
    default:
        for (size_t i = 0; i < n; i++)
            d[i] *= mlp_dphi(a->act, a->leaky_slope, z[i]);
        return;
    }
}

int mlp_has_bias(const mlp_arch *a)
{
    return a->ntk ? (a->bias && a->b_std != 0.0) : a->bias;
}

double mlp_scale_w(const mlp_arch *a, size_t l)
{
    return a->ntk ? a->w_std / sqrt((double)a->dims[l - 1]) : 1.0;
}

double mlp_scale_b(const mlp_arch *a, size_t l)
{
    (void)l;
    return a->ntk ? a->b_std : 1.0;
}

size_t mlp_param_count(const mlp_arch *a)
{
    size_t p = 0;
    int hb = mlp_has_bias(a);
    for (size_t l = 1; l <= a->n_layers; l++)
        p += a->dims[l] * a->dims[l - 1] + (hb ? a->dims[l] : 0);
    return p;
}

void mlp_layer_offsets(const mlp_arch *a, size_t l, size_t *w_off, size_t *b_off)
{
    size_t off = 0;
    int hb = mlp_has_bias(a);
    for (size_t k = 1; k < l; k++)
        off += a->dims[k] * a->dims[k - 1] + (hb ? a->dims[k] : 0);
    *w_off = off;
    *b_off = hb ? off + a->dims[l] * a->dims[l - 1] : (size_t)-1;
}

/* Offset of layer l's block in ws->z / ws->h. */
static size_t block(const mlp_arch *a, const mlp_ws *ws, size_t l)
{
    size_t off = 0;
    for (size_t k = 1; k < l; k++)
        off += a->dims[k];
    return off * ws->n_max;
}

static size_t max_dim(const mlp_arch *a)
{
    size_t m = 0;
    for (size_t l = 0; l <= a->n_layers; l++)
        if (a->dims[l] > m)
            m = a->dims[l];
    return m;
}

mlp_ws *mlp_ws_new(const mlp_arch *a, size_t n_max)
{
    mlp_ws *ws = calloc(1, sizeof *ws);
    size_t total = 0, zn, dn;
    if (!ws)
        return NULL;
    for (size_t l = 1; l <= a->n_layers; l++)
        total += a->dims[l];
    ws->n_max = n_max;
    ws->total = total;
    if (tg_mul_size(n_max, total, &zn) || tg_mul_size(n_max, max_dim(a), &dn))
        goto fail;
    size_t out = a->dims[a->n_layers];
    ws->z = tg_alloc_array(zn, 1, sizeof(double));
    ws->h = tg_alloc_array(zn, 1, sizeof(double));
    ws->rz = tg_alloc_array(zn, 1, sizeof(double));
    ws->rh = tg_alloc_array(zn, 1, sizeof(double));
    ws->d0 = tg_alloc_array(dn, 1, sizeof(double));
    ws->d1 = tg_alloc_array(dn, 1, sizeof(double));
    ws->rd0 = tg_alloc_array(dn, 1, sizeof(double));
    ws->rd1 = tg_alloc_array(dn, 1, sizeof(double));
    ws->g = tg_alloc_array(n_max, out, sizeof(double));
    ws->rg = tg_alloc_array(n_max, out, sizeof(double));
    ws->part = tg_alloc_array(mlp_param_count(a), 1, sizeof(double));
    if (!ws->z || !ws->h || !ws->rz || !ws->rh || !ws->d0 || !ws->d1 || !ws->rd0 ||
        !ws->rd1 || !ws->g || !ws->rg || !ws->part)
        goto fail;
    return ws;
fail:
    mlp_ws_free(ws);
    return NULL;
}

void mlp_ws_free(mlp_ws *ws)
{
    if (!ws)
        return;
    free(ws->z);
    free(ws->h);
    free(ws->rz);
    free(ws->rh);
    free(ws->d0);
    free(ws->d1);
    free(ws->rd0);
    free(ws->rd1);
    free(ws->g);
    free(ws->rg);
    free(ws->part);
    free(ws);
}

/* The input of layer l: x for l = 1, else h_{l-1}. */
static const double *layer_input(const mlp_arch *a, const mlp_ws *ws, const double *x,
                                 size_t l)
{
    return l == 1 ? x : ws->h + block(a, ws, l - 1);
}

const double *mlp_ws_z(const mlp_arch *a, const mlp_ws *ws, size_t l)
{
    return ws->z + block(a, ws, l);
}

const double *mlp_ws_h(const mlp_arch *a, const mlp_ws *ws, size_t l)
{
    return ws->h + block(a, ws, l);
}

const double *mlp_ws_input(const mlp_arch *a, const mlp_ws *ws, const double *x, size_t l)
{
    return layer_input(a, ws, x, l);
}

void mlp_forward(const mlp_arch *a, const double *theta, const double *x, size_t n,
                 mlp_ws *ws, double *out)
{
    TG_ASSERT(n <= ws->n_max);
    int hb = mlp_has_bias(a);
    for (size_t l = 1; l <= a->n_layers; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        const double *in = layer_input(a, ws, x, l);
        double *z = ws->z + block(a, ws, l), *h = ws->h + block(a, ws, l);
        double s = mlp_scale_w(a, l), t = mlp_scale_b(a, l);
        if (n > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)dout, (int)din,
                        s, in, (int)din, theta + wo, (int)din, 0.0, z, (int)dout);
        if (hb) {
            const double *b = theta + bo;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < dout; j++)
                    z[i * dout + j] += t * b[j];
        }
        if (l < a->n_layers)
            act_forward(a, z, h, n * dout);
    }
    if (out) {
        size_t k = a->dims[a->n_layers];
        memcpy(out, ws->z + block(a, ws, a->n_layers), n * k * sizeof(double));
    }
}

void mlp_predict(const mlp_arch *a, const double *theta, const double *x, size_t n,
                 mlp_ws *ws, double *out)
{
    size_t d = a->dims[0], k = a->dims[a->n_layers];
    for (size_t i = 0; i < n; i += ws->n_max) {
        size_t m = n - i < ws->n_max ? n - i : ws->n_max;
        mlp_forward(a, theta, x + i * d, m, ws, out + i * k);
    }
}

double mlp_loss_one(tg_loss loss, const double *f, size_t k, const double *y,
                    int y_is_class, double *grad)
{
    switch (loss) {
    case LOSS_CROSS_ENTROPY: {
        size_t c = (size_t)y[0];
        double m = f[0], sum = 0;
        for (size_t j = 1; j < k; j++)
            if (f[j] > m)
                m = f[j];
        for (size_t j = 0; j < k; j++)
            sum += exp(f[j] - m);
        if (grad)
            for (size_t j = 0; j < k; j++)
                grad[j] = exp(f[j] - m) / sum - (j == c ? 1.0 : 0.0);
        return log(sum) + m - f[c];
    }
    case LOSS_LOGISTIC: {
        double s = y[0] > 0.5 ? 1.0 : -1.0, u = -s * f[0];
        if (grad)
            grad[0] = -s * sigmoid(u);
        return softplus(u);
    }
    case LOSS_MSE: {
        double l = 0;
        for (size_t j = 0; j < k; j++) {
            double t = y_is_class ? ((size_t)y[0] == j ? 1.0 : 0.0) : y[j];
            double r = f[j] - t;
            l += r * r;
            if (grad)
                grad[j] = r;
        }
        return 0.5 * l;
    }
    }
    return NAN;
}

/* Hessian of the loss w.r.t. f applied to rf: out = (d^2 l / df^2) rf. */
static void loss_hess_apply(tg_loss loss, const double *f, size_t k, const double *y,
                            const double *rf, double *out)
{
    switch (loss) {
    case LOSS_CROSS_ENTROPY: {
        double m = f[0], sum = 0, dot = 0;
        for (size_t j = 1; j < k; j++)
            if (f[j] > m)
                m = f[j];
        for (size_t j = 0; j < k; j++)
            sum += exp(f[j] - m);
        for (size_t j = 0; j < k; j++)
            dot += exp(f[j] - m) / sum * rf[j];
        for (size_t j = 0; j < k; j++) {
            double p = exp(f[j] - m) / sum;
            out[j] = p * rf[j] - p * dot;
        }
        return;
    }
    case LOSS_LOGISTIC: {
        double s = y[0] > 0.5 ? 1.0 : -1.0, q = sigmoid(-s * f[0]);
        out[0] = q * (1.0 - q) * rf[0];
        return;
    }
    case LOSS_MSE:
        memcpy(out, rf, k * sizeof(double));
        return;
    }
}

static size_t ydim_of(const mlp_arch *a, tg_loss loss, int y_is_class)
{
    return (loss == LOSS_MSE && !y_is_class) ? a->dims[a->n_layers] : 1;
}

/* Sets ws->g to the per-example dloss/df scaled by scale_i = w_i * scale; returns the
 * weighted loss sum. */
static double output_grads(const mlp_arch *a, const double *y, int y_is_class,
                           const double *weights, size_t n, tg_loss loss, double scale,
                           mlp_ws *ws)
{
    size_t k = a->dims[a->n_layers], yd = ydim_of(a, loss, y_is_class);
    const double *f = ws->z + block(a, ws, a->n_layers);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double w = weights ? weights[i] : 1.0;
        double l = mlp_loss_one(loss, f + i * k, k, y + i * yd, y_is_class, ws->g + i * k);
        total += w * l;
        for (size_t j = 0; j < k; j++)
            ws->g[i * k + j] *= w * scale;
    }
    return total;
}

/* Backward pass from ws->g (as delta_{L+1}). grad (P) receives the sum over rows of the
 * per-row gradients; or, with G (n x P), each row's own gradient. */
static void backward(const mlp_arch *a, const double *theta, const double *x, size_t n,
                     mlp_ws *ws, double *grad, double *G)
{
    size_t P = mlp_param_count(a);
    int hb = mlp_has_bias(a);
    double *delta = ws->g, *next = ws->d0;
    for (size_t l = a->n_layers; l >= 1; l--) {
        size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        const double *in = layer_input(a, ws, x, l);
        double s = mlp_scale_w(a, l), t = mlp_scale_b(a, l);
        if (grad) {
            if (n > 0)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din,
                            (int)n, s, delta, (int)dout, in, (int)din, 0.0, grad + wo,
                            (int)din);
            else
                memset(grad + wo, 0, dout * din * sizeof(double));
            if (hb) {
                for (size_t j = 0; j < dout; j++)
                    grad[bo + j] = 0;
                for (size_t i = 0; i < n; i++)
                    for (size_t j = 0; j < dout; j++)
                        grad[bo + j] += t * delta[i * dout + j];
            }
        }
        if (G) {
            for (size_t i = 0; i < n; i++) {
                double *row = G + i * P;
                for (size_t j = 0; j < dout; j++) {
                    double dj = s * delta[i * dout + j];
                    double *w = row + wo + j * din;
                    const double *hi = in + i * din;
                    for (size_t q = 0; q < din; q++)
                        w[q] = dj * hi[q];
                    if (hb)
                        row[bo + j] = t * delta[i * dout + j];
                }
            }
        }
        if (l == 1)
            break;
        /* delta_{l-1} = (s_l delta_l W_l) .* phi'(z_{l-1}) */
        if (n > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)din, (int)dout,
                        s, delta, (int)dout, theta + wo, (int)din, 0.0, next, (int)din);
        act_backward(a, ws->z + block(a, ws, l - 1), next, n * din);
        delta = next;
        next = (next == ws->d0) ? ws->d1 : ws->d0;
    }
}

double mlp_loss_grad(const mlp_arch *a, const double *theta, const double *x,
                     const double *y, int y_is_class, const double *weights, size_t n,
                     tg_loss loss, mlp_ws *ws, double *grad)
{
    size_t P = mlp_param_count(a), d = a->dims[0], yd = ydim_of(a, loss, y_is_class);
    double total = 0;
    double *part = NULL;
    /* One block: the backward pass writes every entry of grad itself. */
    if (n == 0 || n > ws->n_max)
        memset(grad, 0, P * sizeof(double));
    if (n == 0)
        return 0;
    if (n > ws->n_max)
        part = ws->part;
    /* Rows in blocks of n_max; each block's gradient is added in order (deterministic). */
    for (size_t i = 0; i < n; i += ws->n_max) {
        size_t m = n - i < ws->n_max ? n - i : ws->n_max;
        mlp_forward(a, theta, x + i * d, m, ws, NULL);
        total += output_grads(a, y + i * yd, y_is_class, weights ? weights + i : NULL, m,
                              loss, 1.0 / (double)n, ws);
        if (!part) {
            backward(a, theta, x + i * d, m, ws, grad, NULL);
        } else {
            backward(a, theta, x + i * d, m, ws, part, NULL);
            for (size_t p = 0; p < P; p++)
                grad[p] += part[p];
        }
    }
    return total / (double)n;
}

void mlp_per_example_grads(const mlp_arch *a, const double *theta, const double *x,
                           const double *y, int y_is_class, size_t n, tg_loss loss,
                           mlp_ws *ws, double *G)
{
    size_t P = mlp_param_count(a), d = a->dims[0], yd = ydim_of(a, loss, y_is_class);
    for (size_t i = 0; i < n; i += ws->n_max) {
        size_t m = n - i < ws->n_max ? n - i : ws->n_max;
        mlp_forward(a, theta, x + i * d, m, ws, NULL);
        output_grads(a, y + i * yd, y_is_class, NULL, m, loss, 1.0, ws);
        backward(a, theta, x + i * d, m, ws, NULL, G + i * P);
    }
}

/* One block of the HVP: adds H_block v (sum over rows, scaled by 1/n_total) to Hv. */
static double hvp_block(const mlp_arch *a, const double *theta, const double *x,
                        const double *y, int y_is_class, size_t n, size_t n_total,
                        tg_loss loss, const double *v, mlp_ws *ws, double *Hv, double *grad)
{
    size_t k = a->dims[a->n_layers], yd = ydim_of(a, loss, y_is_class);
    int hb = mlp_has_bias(a);
    double scale = 1.0 / (double)n_total;

    mlp_forward(a, theta, x, n, ws, NULL);
    /* R-forward: R{z_l} = s_l (R{h_{l-1}} W_l^T + h_{l-1} V_l^T) + t_l vb_l. */
    for (size_t l = 1; l <= a->n_layers; l++) {
        size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        const double *in = layer_input(a, ws, x, l);
        double *rz = ws->rz + block(a, ws, l), *rh = ws->rh + block(a, ws, l);
        double s = mlp_scale_w(a, l), t = mlp_scale_b(a, l);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)dout, (int)din, s,
                    in, (int)din, v + wo, (int)din, 0.0, rz, (int)dout);
        if (l > 1)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)dout, (int)din,
                        s, ws->rh + block(a, ws, l - 1), (int)din, theta + wo, (int)din, 1.0,
                        rz, (int)dout);
        if (hb)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < dout; j++)
                    rz[i * dout + j] += t * v[bo + j];
        if (l < a->n_layers) {
            const double *z = ws->z + block(a, ws, l);
            for (size_t i = 0; i < n * dout; i++)
                rh[i] = mlp_dphi(a->act, a->leaky_slope, z[i]) * rz[i];
        }
    }
    /* Output: g = dl/df / n, R{g} = (d2l/df2) R{f} / n. */
    const double *f = ws->z + block(a, ws, a->n_layers);
    const double *rf = ws->rz + block(a, ws, a->n_layers);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        total += mlp_loss_one(loss, f + i * k, k, y + i * yd, y_is_class, ws->g + i * k);
        loss_hess_apply(loss, f + i * k, k, y + i * yd, rf + i * k, ws->rg + i * k);
        for (size_t j = 0; j < k; j++) {
            ws->g[i * k + j] *= scale;
            ws->rg[i * k + j] *= scale;
        }
    }
    /* R-backward. */
    double *delta = ws->g, *rdelta = ws->rg, *next = ws->d0, *rnext = ws->rd0;
    for (size_t l = a->n_layers; l >= 1; l--) {
        size_t din = a->dims[l - 1], dout = a->dims[l], wo, bo;
        mlp_layer_offsets(a, l, &wo, &bo);
        const double *in = layer_input(a, ws, x, l);
        double s = mlp_scale_w(a, l), t = mlp_scale_b(a, l);
        /* Hv_W += s (R{delta}^T h_{l-1} + delta^T R{h_{l-1}}) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)n, s,
                    rdelta, (int)dout, in, (int)din, 1.0, Hv + wo, (int)din);
        if (l > 1)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)n,
                        s, delta, (int)dout, ws->rh + block(a, ws, l - 1), (int)din, 1.0,
                        Hv + wo, (int)din);
        if (grad)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dout, (int)din, (int)n,
                        s, delta, (int)dout, in, (int)din, 1.0, grad + wo, (int)din);
        if (hb)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < dout; j++) {
                    Hv[bo + j] += t * rdelta[i * dout + j];
                    if (grad)
                        grad[bo + j] += t * delta[i * dout + j];
                }
        if (l == 1)
            break;
        /* dH = s delta W; R{dH} = s (R{delta} W + delta V). */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)din, (int)dout, s,
                    delta, (int)dout, theta + wo, (int)din, 0.0, next, (int)din);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)din, (int)dout, s,
                    rdelta, (int)dout, theta + wo, (int)din, 0.0, rnext, (int)din);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)din, (int)dout, s,
                    delta, (int)dout, v + wo, (int)din, 1.0, rnext, (int)din);
        const double *zp = ws->z + block(a, ws, l - 1), *rzp = ws->rz + block(a, ws, l - 1);
        for (size_t i = 0; i < n * din; i++) {
            double d1 = mlp_dphi(a->act, a->leaky_slope, zp[i]);
            double d2 = mlp_d2phi(a->act, a->leaky_slope, zp[i]);
            rnext[i] = rnext[i] * d1 + next[i] * d2 * rzp[i];
            next[i] *= d1;
        }
        delta = next;
        rdelta = rnext;
        next = (next == ws->d0) ? ws->d1 : ws->d0;
        rnext = (rnext == ws->rd0) ? ws->rd1 : ws->rd0;
    }
    return total;
}

double mlp_hvp(const mlp_arch *a, const double *theta, const double *x, const double *y,
               int y_is_class, size_t n, tg_loss loss, const double *v, mlp_ws *ws,
               double *Hv, double *grad)
{
    size_t P = mlp_param_count(a), d = a->dims[0], yd = ydim_of(a, loss, y_is_class);
    double total = 0;
    memset(Hv, 0, P * sizeof(double));
    if (grad)
        memset(grad, 0, P * sizeof(double));
    for (size_t i = 0; i < n; i += ws->n_max) {
        size_t m = n - i < ws->n_max ? n - i : ws->n_max;
        total += hvp_block(a, theta, x + i * d, y + i * yd, y_is_class, m, n, loss, v, ws, Hv,
                           grad);
    }
    return n ? total / (double)n : 0;
}
