/* curv_case.h: random MLP objectives for the curvature tests (check_hessian.c,
 * check_curv_struct.c, check_curv_multi.c): architecture, parameters, rows and labels
 * drawn from a small LCG, independent of core/rng.c. */
#ifndef TG_TESTS_CURV_CASE_H
#define TG_TESTS_CURV_CASE_H

#include <stdlib.h>
#include <string.h>

#include "core/curv.h"

/* Uniform in [-1, 1). */
static inline double lcg(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(*s >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

typedef struct curv_case {
    mlp_arch a;
    size_t n;
    double *theta, *x, *y;
    curv_obj o;
} curv_case;

/* hidden: nh widths; k outputs (1 for logistic); act with leaky slope 0.1, biases; theta
 * uniform in ts [-1, 1), the n rows in xs [-1, 1); y: class indices when loss != MSE or
 * y_is_class, else targets in [-1, 1). o: every parameter, l2 = damping = 0, one lane. */
static inline void curv_case_make(curv_case *c, tg_loss loss, int y_is_class, size_t d,
                                  const size_t *hidden, size_t nh, size_t k, size_t n,
                                  tg_act act, double xs, double ts, unsigned long long seed)
{
    memset(c, 0, sizeof *c);
    c->a.n_layers = nh + 1;
    c->a.dims[0] = d;
    for (size_t l = 0; l < nh; l++)
        c->a.dims[l + 1] = hidden[l];
    c->a.dims[nh + 1] = loss == LOSS_LOGISTIC ? 1 : k;
    c->a.act = act;
    c->a.leaky_slope = 0.1;
    c->a.bias = 1;
    c->n = n;
    size_t P = mlp_param_count(&c->a), K = c->a.dims[nh + 1];
    c->theta = malloc(P * sizeof(double));
    c->x = malloc(n * d * sizeof(double));
    c->y = malloc(n * K * sizeof(double));
    for (size_t i = 0; i < P; i++)
        c->theta[i] = ts * lcg(&seed);
    for (size_t i = 0; i < n * d; i++)
        c->x[i] = xs * lcg(&seed);
    int cls = loss != LOSS_MSE || y_is_class;
    for (size_t i = 0; i < n; i++) {
        if (cls)
            c->y[i] = (double)(size_t)((lcg(&seed) + 1.0) * 0.5 *
                                       (double)(loss == LOSS_LOGISTIC ? 2 : K) * 0.999);
        else
            for (size_t j = 0; j < K; j++)
                c->y[i * K + j] = lcg(&seed);
    }
    c->o = (curv_obj){.arch = &c->a, .theta = c->theta, .x = c->x, .y = c->y,
                      .y_is_class = cls, .n = n, .loss = loss, .p_lo = 0, .p_hi = P,
                      .threads = 1};
}

/* After changing the architecture in place (ntk, bias): new theta of the new size. */
static inline void curv_case_retheta(curv_case *c, double ts, unsigned long long seed)
{
    size_t P = mlp_param_count(&c->a);
    free(c->theta);
    c->theta = malloc(P * sizeof(double));
    for (size_t i = 0; i < P; i++)
        c->theta[i] = ts * lcg(&seed);
    c->o.theta = c->theta;
    c->o.p_lo = 0;
    c->o.p_hi = P;
}

static inline void curv_case_free(curv_case *c)
{
    free(c->theta);
    free(c->x);
    free(c->y);
}

#endif
