/* mlp.h: the fully-connected network of API.md section 4 and its exact derivatives:
 * batched forward and backward passes on BLAS, the three losses, per-example
 * gradients, and the exact Hessian-vector product by the R-operator (Pearlmutter 1994;
 * the theory's section 4.4.1), never by finite differences.
 *
 * Network: h_0 = x; for l = 1..L+1: z_l = s_l W_l h_{l-1} + t_l b_l, h_l = phi(z_l) for
 * l <= L, f(x) = z_{L+1}. standard: s_l = t_l = 1; ntk: s_l = w_std / sqrt(fan_in_l),
 * t_l = b_std (no biases when b_std = 0).
 *
 * Parameters are one flat vector theta, layer by layer: W_l (d_l x d_{l-1}, row-major,
 * the PyTorch nn.Linear layout) followed by b_l (d_l) when the network has biases.
 *
 * Losses per example: cross_entropy -log softmax(f)_y (y a class index); logistic
 * log(1 + exp(-s f)), s = 2y - 1 (output dim 1); mse 1/2 ||f - y||^2 (y a target row,
 * or a class index taken one-hot). The objective is the mean loss; the L2 term is the
 * caller's (it adds weight_decay * theta to gradients and HVPs).
 *
 * Size preconditions: dims[l] and n fit in an int (CBLAS dimensions; the API bounds
 * widths by 1e6 and P by 2^27); caller arrays (x: n x dims[0], y, theta: P, grads: P or
 * n x P) exist with their stated sizes, so their byte sizes fit in size_t. Workspace
 * sizes are computed with overflow checks (mlp_ws_new).
 *
 * Threading: reentrant; a workspace belongs to one thread. BLAS calls use the
 * process-wide OpenBLAS thread count. Results are deterministic for a given thread
 * count.
 */
#ifndef TG_MLP_H
#define TG_MLP_H

#include <stddef.h>

#include "activation.h"
#include "tg.h"

#define MLP_MAX_LAYERS 64

typedef enum tg_loss { LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_MSE } tg_loss;

typedef struct mlp_arch {
    size_t n_layers;                  /* L + 1 weight layers (>= 1) */
    size_t dims[MLP_MAX_LAYERS + 1];  /* dims[0] input .. dims[n_layers] output */
    tg_act act;
    double leaky_slope;
    int bias;                         /* 1: every layer has b_l */
    int ntk;                          /* 1: ntk parameterization */
    double w_std, b_std;              /* ntk only */
} mlp_arch;

/* The activation table's lookups (activation.h) under mlp's names. */
static inline int mlp_act_from_name(const char *name) { return activation_from_name(name); }
static inline const char *mlp_act_name(tg_act a) { return activation_name(a); }
/* phi, phi' and phi'' at z (phi'(0) per API.md: relu 0, leaky slope, abs 0). */
double mlp_phi(tg_act a, double slope, double z);
double mlp_dphi(tg_act a, double slope, double z);
double mlp_d2phi(tg_act a, double slope, double z);

size_t mlp_param_count(const mlp_arch *a);
/* Offsets of W_l and b_l (l = 1..n_layers) in theta; *b_off = (size_t)-1 without bias. */
void mlp_layer_offsets(const mlp_arch *a, size_t l, size_t *w_off, size_t *b_off);
/* s_l and t_l of layer l (1-based). */
double mlp_scale_w(const mlp_arch *a, size_t l);
double mlp_scale_b(const mlp_arch *a, size_t l);
/* 1 when the network has bias vectors. */
int mlp_has_bias(const mlp_arch *a);

/* A workspace for batches of up to n_max rows (all buffers owned). */
typedef struct mlp_ws {
    size_t n_max;
    size_t total;       /* sum of dims[1..] */
    double *z, *h;      /* n_max x total: z_l and h_l of each layer, layer-major blocks */
    double *rz, *rh;    /* the R-operator's R{z_l}, R{h_l} */
    double *d0, *d1;    /* backward buffers, n_max x max dim */
    double *rd0, *rd1;  /* R{delta} buffers */
    double *g;          /* n_max x dims[L+1]: dloss/df */
    double *rg;         /* R{dloss/df} */
    double *part;       /* P: one block's gradient when a batch spans several blocks */
} mlp_ws;

/* A workspace for a (borrowed; only its sizes are read) and batches of up to n_max rows.
 * New (free with mlp_ws_free); NULL on allocation failure or when a size product
 * overflows (all sizes are overflow-checked). About (4 total + 4 max_dim + 2 out) n_max
 * + P doubles. */
mlp_ws *mlp_ws_new(const mlp_arch *a, size_t n_max);
void mlp_ws_free(mlp_ws *ws);

/* Forward pass of n rows of x (n x dims[0]); out (n x dims[L+1]) may be NULL. Keeps
 * z_l and h_l in ws for a following backward pass. n <= ws->n_max. */
void mlp_forward(const mlp_arch *a, const double *theta, const double *x, size_t n,
                 mlp_ws *ws, double *out);

/* Loss of one example at output f (k = output dim) and label/target y (a class index
 * for cross_entropy and logistic; k targets for mse, or a class index when
 * y_is_class). grad (k, may be NULL) receives dloss/df. */
double mlp_loss_one(tg_loss loss, const double *f, size_t k, const double *y,
                    int y_is_class, double *grad);

/* Mean loss over n rows and its gradient (P, overwritten) w.r.t. theta. y: n x ydim
 * (ydim 1 with class indices for cross_entropy/logistic, or when y_is_class for mse;
 * else ydim = output dim). weights (n, may be NULL): per-example weights in the mean
 * (the mean is then sum w_i l_i / n). Returns the mean loss. */
double mlp_loss_grad(const mlp_arch *a, const double *theta, const double *x,
                     const double *y, int y_is_class, const double *weights, size_t n,
                     tg_loss loss, mlp_ws *ws, double *grad);

/* Per-example gradients: G (n x P), row i = grad of loss(x_i, y_i) (not divided by n). */
void mlp_per_example_grads(const mlp_arch *a, const double *theta, const double *x,
                           const double *y, int y_is_class, size_t n, tg_loss loss,
                           mlp_ws *ws, double *G);

/* Exact Hessian-vector product of the mean loss over n rows: Hv (P) = H v, with the
 * R-operator: one forward, one R-forward, one backward and one R-backward pass. Also
 * returns the mean loss; grad (P, may be NULL) receives the gradient. */
double mlp_hvp(const mlp_arch *a, const double *theta, const double *x, const double *y,
               int y_is_class, size_t n, tg_loss loss, const double *v, mlp_ws *ws,
               double *Hv, double *grad);

/* After mlp_forward: z_l and h_l of layer l (1-based; n rows of d_l), and the input of
 * layer l (x for l = 1). Borrowed from ws. */
const double *mlp_ws_z(const mlp_arch *a, const mlp_ws *ws, size_t l);
const double *mlp_ws_h(const mlp_arch *a, const mlp_ws *ws, size_t l);
const double *mlp_ws_input(const mlp_arch *a, const mlp_ws *ws, const double *x, size_t l);

/* Predictions in blocks of ws->n_max rows: out (n x dims[L+1]). */
void mlp_predict(const mlp_arch *a, const double *theta, const double *x, size_t n,
                 mlp_ws *ws, double *out);

#endif
