/* pacbayes.h: PAC-Bayes generalization bounds (API.md 5.5; the theory's section 5.6,
 * theorem 5.6.1) for a Gaussian posterior Q = N(mu, diag(sigma_Q^2)) around a network
 * against a data-independent prior P = N(theta0, sigma_P^2 I), on the 0-1 loss:
 * - the KL divergence between the two diagonal Gaussians (closed form);
 * - the binary kl divergence kl(q||p) and its upper inverse kl^-1(q, c) = sup{p in [q,1] :
 *   kl(q||p) <= c} (Langford 2005), by bisection to 1e-12 (in fact to the last bits);
 * - the three bound families: mcallester (theorem 5.6.1, Langford's form), seeger
 *   (Maurer 2004's form of Seeger's bound, m >= 8) and catoni (Catoni 2007, with a grid
 *   of 8 values of C, each at delta/8);
 * - the Monte Carlo estimate of Q's 0-1 error on a set of points (networks drawn from Q
 *   on several threads, one RNG stream per sample: identical for any thread count);
 * - Dziugaite and Roy (2017)'s optimization of mu and a per-parameter sigma_Q (and of a
 *   continuous sigma_P, afterwards evaluated on the grid) by the reparameterization
 *   trick on a differentiable surrogate of the mcallester bound.
 *
 * Conventions: every bound is clamped to [0, 1]; a bound that is not defined for its
 * inputs (seeger with m < 8) is NAN. Deltas are the ones of one statement (the caller
 * does the union-bound bookkeeping).
 *
 * Threading: reentrant; pacbayes_mc_error uses cfg->threads threads of its own (each
 * with its own workspace; BLAS calls use the process-wide OpenBLAS thread count).
 */
#ifndef TG_PACBAYES_H
#define TG_PACBAYES_H

#include <stddef.h>
#include <stdint.h>

#include "mlp.h"
#include "tg.h"

/* Catoni's grid: C = 2^PACBAYES_CATONI_LO .. 2^PACBAYES_CATONI_HI (8 values). */
#define PACBAYES_CATONI_LO (-3)
#define PACBAYES_CATONI_HI 4
#define PACBAYES_CATONI_N 8

/* kl(q||p) = q ln(q/p) + (1-q) ln((1-q)/(1-p)) with 0 ln 0 = 0; +inf when p is 0 or 1
 * and q differs from it. q, p in [0, 1]. */
double pacbayes_binary_kl(double q, double p);

/* The upper inverse sup{p in [q, 1] : kl(q||p) <= c} for q in [0, 1], c >= 0 (c may be
 * +inf: 1). Exact special cases: c = 0 gives q, q = 1 gives 1, q = 0 gives 1 - e^-c;
 * otherwise bisection to the last bit on a cancellation-free kl (tested against 60-digit
 * decimal arithmetic to 1e-13 absolute, API.md asks 1e-12). NAN for q or c out of
 * range or NaN. */
double pacbayes_kl_inv(double q, double c);

/* KL(Q||P) = 1/2 sum_i [sigma_Qi^2/sigma_P^2 + (mu_i - theta0_i)^2/sigma_P^2 - 1
 * + ln(sigma_P^2/sigma_Qi^2)] over P parameters. theta0 NULL: the zero vector. sigma_q
 * (P) per parameter, or NULL: every sigma_Qi = sigma_q_iso. Summed in order (compensated),
 * so the result is deterministic. sigma_p > 0, sigma_Q > 0. */
double pacbayes_kl_gauss(const double *mu, const double *theta0, const double *sigma_q,
                         double sigma_q_iso, double sigma_p, size_t P);

/* The bound families at empirical risk e (an upper bound of Q's empirical risk, e_bar),
 * KL, m training points and confidence delta (the delta of this one statement), each
 * clamped to [0, 1]:
 * mcallester: e + sqrt((kl + ln(2m/delta)) / (2(m-1)))            (m >= 2, else NAN)
 * seeger:     kl^-1(e, (kl + ln(2 sqrt(m)/delta)) / m)             (m >= 8, else NAN)
 * catoni:     min over C in {2^-3..2^4} of (1 - exp(-C e - (kl + ln(8/delta))/m)) /
 *             (1 - exp(-C))                                       (m >= 1) */
double pacbayes_mcallester(double e, double kl, double m, double delta);
double pacbayes_seeger(double e, double kl, double m, double delta);
double pacbayes_catoni(double e, double kl, double m, double delta);

typedef enum pacbayes_family { PB_MCALLESTER = 0, PB_SEEGER = 1, PB_CATONI = 2 } pacbayes_family;
#define PACBAYES_FAMILIES 3
/* Name ("mcallester", ...) of family f, and the family named s (-1 when unknown). */
const char *pacbayes_family_name(int f);
int pacbayes_family_from_name(const char *s);
/* The bound of family f (as above). */
double pacbayes_bound(int f, double e, double kl, double m, double delta);

/* The 0-1 error of n rows at the network outputs f (n x k): a row is correct when its
 * prediction (k = 1: f > 0 means class 1; else the first maximal output) equals the label
 * (class index) y[i]. Returns the count of errors. */
size_t pacbayes_count_errors(const double *f, size_t n, size_t k, const double *y);

/* Monte Carlo estimate of Q's 0-1 error on n points (x: n x d rows, y: n class
 * indices): `samples` networks theta_k = mu + sigma .* eps_k, eps_k ~ N(0, I) drawn with
 * rng_seed_stream(seed, stream + k) (P normals in parameter order by rng_normal), each
 * evaluated on all n points. */
typedef struct pacbayes_mc_cfg {
    size_t samples;
    uint64_t seed, stream;
    int threads;              /* >= 1 */
    /* Progress (may be NULL): called from the calling thread, at least every ~0.25 s,
     * with the samples done and the running error; nonzero stops the estimate
     * (TG_ECANCELLED). */
    int (*on_progress)(void *ud, size_t done, size_t total, double running_error);
    void *ud;
} pacbayes_mc_cfg;
/* mu (P), sigma (P, or NULL: sigma_iso everywhere). *err_out = mean over samples of the
 * fraction of misclassified points; per_sample (samples, may be NULL) receives each
 * sample's error count. Returns TG_OK, TG_ENOMEM, TG_ECANCELLED. */
int pacbayes_mc_error(const mlp_arch *a, const double *mu, const double *sigma,
                      double sigma_iso, const double *x, const double *y, size_t n,
                      const pacbayes_mc_cfg *cfg, double *err_out, size_t *per_sample,
                      tg_err *err);

/* Dziugaite and Roy's optimization (2017, section 3): minimize
 *   B(mu, rho, lambda) = L(mu + exp(rho) .* eps) / ln 2 + sqrt((KL + ln(2m/delta)) / (2(m-1)))
 * over mu (P), rho = ln sigma_Q (P) and lambda = ln sigma_P (scalar, kept in
 * [lambda_min, lambda_max]; fixed when they are equal), with L the loss of the network
 * (cross-entropy, or logistic for one output: in bits it is >= the 0-1 loss) on a
 * minibatch, eps ~ N(0, I) (the reparameterization trick: dL/dmu = g, dL/drho = g .* eps
 * .* sigma with g the loss gradient at the sampled network, averaged over `samples` draws),
 * and the KL term differentiated in closed form. Adam (torch defaults, lr) over `epochs`
 * passes of minibatches of `batch` points (a fresh permutation per epoch). */
typedef struct pacbayes_opt_cfg {
    size_t epochs, samples, batch;
    double lr;
    double m, delta;          /* m and the delta of the surrogate's mcallester term */
    double lambda_min, lambda_max;
    tg_loss loss;             /* LOSS_CROSS_ENTROPY or LOSS_LOGISTIC */
    uint64_t seed, stream;
    /* Progress (may be NULL), from the calling thread after each epoch and at least every
     * ~0.25 s: fraction in [0, 1] and the epoch's mean surrogate objective; nonzero stops
     * (TG_ECANCELLED). */
    int (*on_progress)(void *ud, double fraction, size_t epoch, double objective);
    void *ud;
} pacbayes_opt_cfg;
/* theta0 (P, NULL: zero) the prior center. mu (P): in the starting point, out the
 * optimized mean. sigma (P): in the starting sigma_Q, out the optimized one. *sigma_p:
 * in the starting sigma_P, out the optimized one. x (n x d), y (n class indices).
 * Returns TG_OK, TG_ENOMEM, TG_ECANCELLED, TG_EDIVERGED (the objective became NaN). */
int pacbayes_optimize(const mlp_arch *a, const double *theta0, double *mu, double *sigma,
                      double *sigma_p, const double *x, const double *y, size_t n,
                      const pacbayes_opt_cfg *cfg, tg_err *err);

/* The surrogate objective of pacbayes_optimize at w = [mu (P), rho (P), lambda] for
 * fixed draws eps (S x P) on n rows, and its exact gradient grad (2P + 1; the lambda
 * entry 0 unless train_lambda). ws: a workspace for n rows; th, gl: P scratch doubles
 * each. Exposed for the finite-difference test. */
double pacbayes_surrogate(const mlp_arch *a, const double *theta0, const double *w,
                          const double *x, const double *y, size_t n, const double *eps,
                          size_t S, double m, double delta, tg_loss loss, int train_lambda,
                          mlp_ws *ws, double *th, double *gl, double *grad);

#endif
