/* optim.c: the optimizers and schedules of optim.h, written to follow torch.optim's
 * order of floating-point operations (PyTorch 1.13, single-tensor code path). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const opt_names[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                        "adam", "adamw", "normalized_gd", "sam"};

int optim_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof opt_names / sizeof opt_names[0]); i++)
        if (strcmp(name, opt_names[i]) == 0)
            return i;
    return -1;
}

const char *optim_name(tg_opt k)
{
    return (unsigned)k < sizeof opt_names / sizeof opt_names[0] ? opt_names[k] : "?";
}

optim_state *optim_state_new(const optim_cfg *cfg, size_t n)
{
    optim_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n = n;
    /* Three zeroed buffers cover every optimizer (adam with amsgrad uses all three). */
    s->a = calloc(n ? n : 1, sizeof(double));
    s->b = calloc(n ? n : 1, sizeof(double));
    s->c = calloc(n ? n : 1, sizeof(double));
    (void)cfg;
    if (!s->a || !s->b || !s->c) {
        optim_state_free(s);
        return NULL;
    }
    return s;
}

void optim_state_free(optim_state *s)
{
    if (!s)
        return;
    free(s->a);
    free(s->b);
    free(s->c);
    free(s);
}

static double norm2(const double *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += g[i] * g[i];
    return sqrt(s);
}

void optim_sam_perturbation(double rho, const double *g, size_t n, double *e)
{
    double scale = rho / (norm2(g, n) + 1e-12);
    for (size_t i = 0; i < n; i++)
        e[i] = scale * g[i];
}

static void adam_step(const optim_cfg *cfg, optim_state *s, double *theta, const double *g,
                      double lr)
{
    double b1 = cfg->beta1, b2 = cfg->beta2;
    double bc1 = 1.0 - pow(b1, (double)s->t), bc2 = 1.0 - pow(b2, (double)s->t);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2);
    for (size_t i = 0; i < s->n; i++) {
        s->a[i] = s->a[i] * b1 + (1.0 - b1) * g[i];
        s->b[i] = s->b[i] * b2 + (1.0 - b2) * g[i] * g[i];
        double v = s->b[i];
        if (cfg->amsgrad) {
            s->c[i] = v > s->c[i] ? v : s->c[i];
            v = s->c[i];
        }
        double denom = sqrt(v) / bc2_sqrt + cfg->eps;
        theta[i] += -step_size * (s->a[i] / denom);
    }
}

void optim_step(const optim_cfg *cfg, optim_state *s, double *theta, const double *g,
                double lr)
{
    tg_opt k = cfg->kind == OPT_SAM ? cfg->base : cfg->kind;
    size_t n = s->n;
    s->t++;
    switch (k) {
    case OPT_SGD:
        for (size_t i = 0; i < n; i++)
            theta[i] += -lr * g[i];
        break;
    case OPT_MOMENTUM:
    case OPT_NESTEROV: {
        double m = cfg->momentum;
        if (s->t == 1)
            memcpy(s->a, g, n * sizeof(double));
        else
            for (size_t i = 0; i < n; i++)
                s->a[i] = s->a[i] * m + g[i];
        if (k == OPT_NESTEROV)
            for (size_t i = 0; i < n; i++)
                theta[i] += -lr * (g[i] + m * s->a[i]);
        else
            for (size_t i = 0; i < n; i++)
                theta[i] += -lr * s->a[i];
        break;
    }
    case OPT_ADAGRAD:
        for (size_t i = 0; i < n; i++) {
            s->a[i] += g[i] * g[i];
            theta[i] += -lr * (g[i] / (sqrt(s->a[i]) + cfg->eps));
        }
        break;
    case OPT_RMSPROP:
        for (size_t i = 0; i < n; i++) {
            s->a[i] = s->a[i] * cfg->alpha + (1.0 - cfg->alpha) * g[i] * g[i];
            double avg = sqrt(s->a[i]) + cfg->eps;
            if (cfg->momentum > 0) {
                s->b[i] = s->b[i] * cfg->momentum + g[i] / avg;
                theta[i] += -lr * s->b[i];
            } else {
                theta[i] += -lr * (g[i] / avg);
            }
        }
        break;
    case OPT_ADAMW:
        for (size_t i = 0; i < n; i++)
            theta[i] *= 1.0 - lr * cfg->weight_decay;
        adam_step(cfg, s, theta, g, lr);
        break;
    case OPT_ADAM:
        adam_step(cfg, s, theta, g, lr);
        break;
    case OPT_NORMALIZED_GD: {
        double nrm = norm2(g, n), scale = lr / (nrm > 1e-12 ? nrm : 1e-12);
        for (size_t i = 0; i < n; i++)
            theta[i] += -scale * g[i];
        break;
    }
    case OPT_SAM:
        TG_ASSERT(!"sam cannot be its own base");
    }
}

static const char *const sched_names[] = {"constant", "step",   "multistep", "exponential",
                                          "cosine",   "linear", "inv_sqrt"};

int sched_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof sched_names / sizeof sched_names[0]); i++)
        if (strcmp(name, sched_names[i]) == 0)
            return i;
    return -1;
}

double sched_lr(const sched_cfg *s, double lr, long long e)
{
    if (s->warmup > 0) {
        if (e < s->warmup)
            return lr * (double)(e + 1) / (double)s->warmup;
        e -= s->warmup;
    }
    switch (s->kind) {
    case SCHED_CONSTANT: return lr;
    case SCHED_STEP: return lr * pow(s->gamma, (double)(e / s->step_size));
    case SCHED_MULTISTEP: {
        int passed = 0;
        for (size_t i = 0; i < s->n_milestones; i++)
            passed += e >= s->milestones[i];
        return lr * pow(s->gamma, passed);
    }
    case SCHED_EXPONENTIAL: return lr * pow(s->gamma, (double)e);
    case SCHED_COSINE:
        if ((double)e > s->t_max)
            return s->eta_min;
        return s->eta_min + (lr - s->eta_min) * (1.0 + cos(M_PI * (double)e / s->t_max)) / 2.0;
    case SCHED_LINEAR: {
        double t = (double)e < s->total_epochs ? (double)e : s->total_epochs;
        return lr * (1.0 + (s->end_factor - 1.0) * t / s->total_epochs);
    }
    case SCHED_INV_SQRT: return lr / sqrt((double)(e + 1));
    }
    return lr;
}
