/* generators.h: the builtin dataset generators of API.md section 3.2 (two_moons, xor,
 * blobs, linear, teacher, sphere): the one generator table (names, the parameters each
 * takes, default noise), their limits, and generation. The algorithms are documented in
 * generators.c.
 *
 * Errors: err->field names the tg_gen_params member at fault ("n", "d", "width", ...),
 * or "name" for an unknown generator; messages use the same neutral names. The API layer
 * checks every limit first and names the request field.
 *
 * Size preconditions: the limits below bound every product (n * d, width * d, n * width,
 * n * width * d) well inside size_t; gen_check enforces them before any allocation.
 *
 * Threading: reentrant; the table is constant.
 */
#ifndef TG_GENERATORS_H
#define TG_GENERATORS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "tg.h"

/* The generator table, one row per generator: X(enum constant, name, default noise, the
 * parameters it takes besides n and seed...): tg_gen_params member names in API.md's
 * order; the noise default is 0 for a generator that takes no noise. The enum, the
 * name list of dataset_builtin_names and dataset_generators[] all follow from it. */
#define DATASET_GENERATORS(X)                                                               \
    X(GEN_TWO_MOONS, "two_moons", 0.1, "noise")                                             \
    X(GEN_XOR, "xor", 0.1, "noise")                                                         \
    X(GEN_BLOBS, "blobs", 0.0, "d", "centers", "spread")                                    \
    X(GEN_LINEAR, "linear", 0.1, "d", "noise")                                              \
    X(GEN_TEACHER, "teacher", 0.0, "d", "width", "activation", "noise")                     \
    X(GEN_SPHERE, "sphere", 0.0, "d", "width")

#define GEN_ENUM(id, name, noise, ...) id,
typedef enum dataset_gen { DATASET_GENERATORS(GEN_ENUM) GEN_COUNT } dataset_gen;
#undef GEN_ENUM

/* A row of the table as data: params NULL-terminated. */
typedef struct dataset_gen_info {
    const char *name;
    const char *params[5];
    double noise;
} dataset_gen_info;
extern const dataset_gen_info dataset_generators[GEN_COUNT];

/* The generator named `name`, or -1. */
int dataset_gen_find(const char *name);
/* 1 when generator g takes parameter `param` (a tg_gen_params member name). */
int dataset_gen_takes(int g, const char *param);

/* Generator parameters (API.md 3.2). Unset fields are filled by generator defaults by
 * the API layer before the call; core/ takes them as given. */
typedef struct tg_gen_params {
    size_t n;            /* points before the split [1000] */
    uint64_t seed;       /* [0] */
    double noise;        /* two_moons, xor, linear, teacher */
    size_t d;            /* blobs, linear, teacher, sphere */
    size_t centers;      /* blobs */
    double spread;       /* blobs */
    size_t width;        /* teacher, sphere */
    const char *activation; /* teacher: an activation name of API.md section 4 */
} tg_gen_params;

/* Generator limits (TG_ETOOLARGE beyond them; the API layer checks them first, naming
 * the field). They bound memory (n * d doubles, width * d teacher weights) and time
 * (n * width activations, n * width * d multiply-adds). */
#define DATASET_GEN_MAX_N ((size_t)1000000)
#define DATASET_GEN_MAX_D ((size_t)10000)
#define DATASET_GEN_MAX_WIDTH ((size_t)10000)
#define DATASET_GEN_MAX_CENTERS ((size_t)1000)
#define DATASET_GEN_MAX_ELEMS ((size_t)1 << 25)  /* n * d and width * d */
#define DATASET_GEN_MAX_ACTS ((size_t)1 << 26)   /* n * width */
#define DATASET_GEN_MAX_WORK ((size_t)1 << 30)   /* n * width * d */

/* Runs generator `name` with p into *out (new, caller frees); training part only.
 * TG_EINVAL (field: the parameter) for a bad parameter, TG_ETOOLARGE over a limit above,
 * TG_ENOTFOUND (field "name") for no generator, TG_ENOMEM. */
int dataset_generate(const char *name, const tg_gen_params *p, tg_dataset **out, tg_err *err);
/* As dataset_generate, but only the metadata: task, d, n_outputs, n_train (= p->n) and
 * classes, with no arrays (x, y NULL). For validating a request without generating. */
int dataset_generate_shell(const char *name, const tg_gen_params *p, tg_dataset **out,
                           tg_err *err);

#endif
