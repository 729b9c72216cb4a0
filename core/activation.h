/* activation.h: the one table of activations (API.md section 4 names): the enum, the
 * names in enum order, lookup by name, the list for messages, and the portable scalar
 * phi used by the dataset generators (bit-identical on every machine, rng.h functions).
 * mlp.c has the fast libm phi and its derivatives; ntk_maps.c the kernel maps.
 *
 * Threading: constant data and pure functions.
 */
#ifndef TG_ACTIVATION_H
#define TG_ACTIVATION_H

typedef enum tg_act {
    ACT_RELU, ACT_LEAKY_RELU, ACT_ABS, ACT_TANH, ACT_SIGMOID, ACT_SOFTPLUS, ACT_GELU,
    ACT_ERF, ACT_IDENTITY
} tg_act;
#define ACT_COUNT 9

/* The names indexed by tg_act, NULL-terminated (a choices list for request decoding). */
extern const char *const activation_names[ACT_COUNT + 1];
/* The names joined for messages: "relu, leaky_relu, ..., identity". */
#define ACTIVATION_LIST "relu, leaky_relu, abs, tanh, sigmoid, softplus, gelu, erf, identity"

/* The activation named `name`; -1 if unknown or name is NULL. */
int activation_from_name(const char *name);
/* The name of a, or "?" for a value outside the enum. Static storage. */
const char *activation_name(tg_act a);

/* phi(z) from +, -, *, / and the portable functions of rng.h only (leaky_relu with
 * `slope`), so that a generated dataset has the same bytes on every machine. */
double activation_portable(tg_act a, double slope, double z);

#endif
