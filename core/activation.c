/* activation.c: the activation table of activation.h and the portable phi of the
 * generators (tanh, sigmoid, softplus, gelu and erf through rng.h's tg_p* functions).
 */
#include "activation.h"

#include <string.h>

#include "rng.h"

const char *const activation_names[ACT_COUNT + 1] = {
    "relu", "leaky_relu", "abs", "tanh", "sigmoid", "softplus", "gelu", "erf", "identity",
    NULL};

int activation_from_name(const char *name)
{
    for (int i = 0; name && i < ACT_COUNT; i++)
        if (strcmp(name, activation_names[i]) == 0)
            return i;
    return -1;
}

const char *activation_name(tg_act a)
{
    return (unsigned)a < ACT_COUNT ? activation_names[a] : "?";
}

double activation_portable(tg_act a, double slope, double z)
{
    switch (a) {
    case ACT_RELU: return z > 0.0 ? z : 0.0;
    case ACT_LEAKY_RELU: return z > 0.0 ? z : slope * z;
    case ACT_ABS: return z < 0.0 ? -z : z;
    case ACT_TANH: return tg_ptanh(z);
    case ACT_SIGMOID: {
        if (z >= 0.0)
            return 1.0 / (1.0 + tg_pexp(-z));
        double e = tg_pexp(z);
        return e / (1.0 + e);
    }
    case ACT_SOFTPLUS: {
        /* log(1 + e^z) = max(z, 0) + log1p(e^-|z|), without a threshold. */
        double m = z < 0.0 ? -z : z;
        return (z > 0.0 ? z : 0.0) + tg_plog1p(tg_pexp(-m));
    }
    /* z Phi(z) = z erfc(-z / sqrt 2) / 2 (exact erf form, accurate for negative z too). */
    case ACT_GELU: return 0.5 * z * tg_perfc(-z / 0x1.6a09e667f3bcdp+0);
    case ACT_ERF: return tg_perf(z);
    case ACT_IDENTITY: return z;
    }
    return z;
}
