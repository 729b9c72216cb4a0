/* optim.h: the optimizers and learning-rate schedules of API.md section 5.1, with the
 * semantics of torch.optim (PyTorch 1.13) so that the same gradients give the same
 * weights to rounding:
 *   sgd        theta -= lr g
 *   momentum   buf = m buf + g (buf = g at the first step); theta -= lr buf
 *   nesterov   buf as momentum; theta -= lr (g + m buf)
 *   adagrad    sum += g^2; theta -= lr g / (sqrt(sum) + eps)
 *   rmsprop    sq = a sq + (1 - a) g^2; avg = sqrt(sq) + eps; momentum m > 0:
 *              buf = m buf + g / avg, theta -= lr buf; else theta -= lr g / avg
 *   adam       m1 = b1 m1 + (1 - b1) g; m2 = b2 m2 + (1 - b2) g^2 (amsgrad: vmax =
 *              max(vmax, m2), used for m2 below); theta -= (lr / (1 - b1^t)) m1 /
 *              (sqrt(m2) / sqrt(1 - b2^t) + eps)
 *   adamw      theta *= 1 - lr wd, then adam (decoupled decay; J has no L2 term)
 *   normalized theta -= lr g / max(||g||, 1e-12)
 *   sam        e = rho g / (||g|| + 1e-12); the base optimizer steps with the gradient
 *              of J at theta + e on the same batch (the caller evaluates it; see
 *              optim_sam_perturbation)
 * Here g is the gradient of the objective J on the batch (mean loss + the L2 term; the
 * caller adds weight_decay * theta, except for adamw).
 *
 * Threading: a state belongs to one job; reentrant.
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stddef.h>

#include "tg.h"

typedef enum tg_opt {
    OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, OPT_ADAMW,
    OPT_NORMALIZED_GD, OPT_SAM
} tg_opt;

typedef struct optim_cfg {
    tg_opt kind;
    tg_opt base;          /* sam: the base optimizer (not sam) */
    double lr;            /* the base learning rate (schedules scale it per epoch) */
    double momentum;      /* momentum, nesterov, rmsprop */
    double alpha;         /* rmsprop */
    double eps;           /* adagrad, rmsprop, adam, adamw */
    double beta1, beta2;  /* adam, adamw */
    int amsgrad;          /* adam, adamw */
    double rho;           /* sam */
    double weight_decay;  /* adamw's decoupled decay (others: the caller's L2 term) */
} optim_cfg;

typedef struct optim_state {
    size_t n;
    long long t;          /* steps taken */
    double *a, *b, *c;    /* per-optimizer buffers (owned) */
} optim_state;

/* Names as in API.md ("sgd", "momentum", ..., "sam"); -1 when unknown. */
int optim_from_name(const char *name);
const char *optim_name(tg_opt k);

/* A zeroed state for n parameters (three n-vectors; calloc checks n * sizeof(double)).
 * cfg is borrowed and not kept. New (free with optim_state_free); NULL on allocation
 * failure. optim_state_free(NULL) is a no-op. */
optim_state *optim_state_new(const optim_cfg *cfg, size_t n);
void optim_state_free(optim_state *s);

/* One step of cfg's optimizer (for sam: of its base) with gradient g at learning rate
 * lr (the scheduled rate of the epoch). */
void optim_step(const optim_cfg *cfg, optim_state *s, double *theta, const double *g,
                double lr);

/* SAM's ascent step: e (n) = rho g / (||g|| + 1e-12). */
void optim_sam_perturbation(double rho, const double *g, size_t n, double *e);

/* Learning-rate schedules (API.md 5.1), evaluated per epoch e counted from 0. */
typedef enum tg_sched {
    SCHED_CONSTANT, SCHED_STEP, SCHED_MULTISTEP, SCHED_EXPONENTIAL, SCHED_COSINE,
    SCHED_LINEAR, SCHED_INV_SQRT
} tg_sched;

#define SCHED_MAX_MILESTONES 64

typedef struct sched_cfg {
    tg_sched kind;
    long long step_size;   /* step */
    double gamma;          /* step, multistep, exponential */
    size_t n_milestones;   /* multistep */
    long long milestones[SCHED_MAX_MILESTONES];
    double t_max;          /* cosine */
    double eta_min;        /* cosine */
    double end_factor;     /* linear */
    double total_epochs;   /* linear */
    long long warmup;      /* warmup_epochs W */
} sched_cfg;

/* The schedule named name (API.md), or -1 when unknown. */
int sched_from_name(const char *name);
/* The learning rate of epoch e for base rate lr. */
double sched_lr(const sched_cfg *s, double lr, long long e);

#endif
