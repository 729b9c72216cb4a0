/* generators.c: the builtin dataset generators of API.md section 3.2 (see generators.h).
 *
 * Determinism: every random choice comes from a tg_rng seeded from the request, and
 * every number is computed by a fixed sequence of IEEE +, -, *, /, sqrt and the portable
 * functions of rng.h (activation_portable), summing in index order; so a (name,
 * parameters) pair gives the same bytes on every machine. tests/reference/data_ref.py
 * reimplements each algorithm below.
 *
 * Generators (N = rng_normal, U = rng_uniform, all draws from rng_seed(seed), in the
 * order written; "i mod K" gives balanced classes; the noise draws are made even when
 * the noise is 0, so the stream does not depend on it):
 * - two_moons: point i has class c = i mod 2; draw a = N, b = N (again while
 *   a^2 + b^2 == 0), r = sqrt(a^2 + b^2), (u, v) = (a / r, |b| / r), a uniform point on
 *   the upper unit half circle; class 0 is (u, v), class 1 is (1 - u, 1/2 - v); then
 *   x = (. + noise N, . + noise N).
 * - xor: u = 2U - 1, v = 2U - 1, class 1 when u v < 0 else 0, x = (u + noise N,
 *   v + noise N).
 * - blobs: centers C[k][j] = -5 + 10 U (k < centers, j < d, row by row); point i has
 *   class c = i mod centers and x[i][j] = C[c][j] + spread N.
 * - linear: w[j] = N / sqrt(d); then per point x[i][j] = N, y = sum_j w[j] x[i][j] +
 *   noise N.
 * - teacher: W[k][j] = N / sqrt(d) (k < width, row by row), a[k] = N / sqrt(width); per
 *   point x[i][j] = N, y = sum_k a[k] phi(sum_j W[k][j] x[i][j]) + noise N, phi the
 *   activation (leaky_relu slope 0.01; tanh, sigmoid, softplus, gelu, erf portable).
 * - sphere: W[k][j] = N, a[k] = N / sqrt(width); per point g[j] = N (again while g == 0),
 *   x = g / sqrt(sum_j g[j]^2), y = sum_k a[k] relu(sum_j W[k][j] x[i][j]).
 *
 *
 * Threading: reentrant.
 */
#include "generators.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "rng.h"

/* ---- generators --------------------------------------------------------------------- */

#define GEN_ROW(id, name, noise, ...) [id] = {name, {__VA_ARGS__, NULL}, noise},
const dataset_gen_info dataset_generators[GEN_COUNT] = {DATASET_GENERATORS(GEN_ROW)};
#undef GEN_ROW

int dataset_gen_find(const char *name)
{
    for (int i = 0; name && i < GEN_COUNT; i++)
        if (strcmp(dataset_generators[i].name, name) == 0)
            return i;
    return -1;
}

int dataset_gen_takes(int g, const char *param)
{
    for (int i = 0; dataset_generators[g].params[i]; i++)
        if (strcmp(dataset_generators[g].params[i], param) == 0)
            return 1;
    return 0;
}

/* The teacher's activation slope of leaky_relu (API.md 3.2). */
#define TEACHER_LEAKY_SLOPE 0.01

/* Validates p for generator g; fills the task / d / class count. */
static int gen_check(int g, const tg_gen_params *p, size_t *d_out, size_t *k_out,
                     tg_err *err)
{
    size_t d = 2, k = 2, width = 0, prod;

    if (p->n < 1 || p->n > DATASET_GEN_MAX_N)
        return tg_err_setf(err, p->n < 1 ? TG_EINVAL : TG_ETOOLARGE, "n",
                           "n must be in [1, %zu] (got %zu)", DATASET_GEN_MAX_N, p->n);
    if (g == GEN_TWO_MOONS || g == GEN_XOR || g == GEN_LINEAR || g == GEN_TEACHER)
        if (!(p->noise >= 0.0 && p->noise <= 1e150))
            return tg_err_setf(err, TG_EINVAL, "noise", "noise must be >= 0");
    if (g >= GEN_BLOBS) {
        d = p->d;
        if (d < 1 || d > DATASET_GEN_MAX_D)
            return tg_err_setf(err, d < 1 ? TG_EINVAL : TG_ETOOLARGE, "d",
                               "d must be in [1, %zu] (got %zu)", DATASET_GEN_MAX_D, d);
        if (tg_mul_size(p->n, d, &prod) || prod > DATASET_GEN_MAX_ELEMS)
            return tg_err_setf(err, TG_ETOOLARGE, "n",
                               "n * d must be at most %zu (got %zu x %zu)",
                               DATASET_GEN_MAX_ELEMS, p->n, d);
    }
    if (g == GEN_BLOBS) {
        k = p->centers;
        if (k < 1 || k > DATASET_GEN_MAX_CENTERS)
            return tg_err_setf(err, k < 1 ? TG_EINVAL : TG_ETOOLARGE, "centers",
                               "centers must be in [1, %zu] (got %zu)",
                               DATASET_GEN_MAX_CENTERS, k);
        if (!(p->spread >= 0.0 && p->spread <= 1e150))
            return tg_err_setf(err, TG_EINVAL, "spread", "spread must be >= 0");
    }
    if (g == GEN_TEACHER || g == GEN_SPHERE) {
        width = p->width;
        if (width < 1 || width > DATASET_GEN_MAX_WIDTH)
            return tg_err_setf(err, width < 1 ? TG_EINVAL : TG_ETOOLARGE, "width",
                               "width must be in [1, %zu] (got %zu)",
                               DATASET_GEN_MAX_WIDTH, width);
        if (tg_mul_size(width, d, &prod) || prod > DATASET_GEN_MAX_ELEMS)
            return tg_err_setf(err, TG_ETOOLARGE, "width",
                               "width * d must be at most %zu",
                               DATASET_GEN_MAX_ELEMS);
        if (tg_mul_size(p->n, width, &prod) || prod > DATASET_GEN_MAX_ACTS)
            return tg_err_setf(err, TG_ETOOLARGE, "n",
                               "n * width must be at most %zu",
                               DATASET_GEN_MAX_ACTS);
        if (tg_mul3_size(p->n, width, d, &prod) || prod > DATASET_GEN_MAX_WORK)
            return tg_err_setf(err, TG_ETOOLARGE, "n",
                               "n * width * d must be at most %zu",
                               DATASET_GEN_MAX_WORK);
    }
    if (g == GEN_TEACHER && activation_from_name(p->activation) < 0)
        return tg_err_setf(err, TG_EINVAL, "activation",
                           "activation must be one of " ACTIVATION_LIST);
    *d_out = d;
    *k_out = (g == GEN_LINEAR || g == GEN_TEACHER || g == GEN_SPHERE) ? 0 : k;
    return TG_OK;
}

/* The metadata of generator g into a new dataset (no arrays). */
static int gen_shell(const char *name, const tg_gen_params *p, int *g_out, tg_dataset **out,
                     tg_err *err)
{
    size_t d = 0, k = 0;
    int g = dataset_gen_find(name), rc;
    tg_dataset *ds;

    *out = NULL;
    if (g < 0)
        return tg_err_setf(err, TG_ENOTFOUND, "name", "no generator \"%.40s\"", name);
    rc = gen_check(g, p, &d, &k, err);
    if (rc)
        return rc;
    ds = dataset_new();
    if (!ds)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    ds->d = d;
    ds->n_outputs = 1;
    ds->n_train = p->n;
    if (k > 0) {
        ds->task = TG_TASK_CLASSIFICATION;
        ds->classes.ints = tg_alloc_array(k, 1, sizeof(long long));
        if (!ds->classes.ints) {
            dataset_free(ds);
            return tg_err_set(err, TG_ENOMEM, "out of memory");
        }
        ds->classes.n = k;
        for (size_t c = 0; c < k; c++)
            ds->classes.ints[c] = (long long)c;
    } else {
        ds->task = TG_TASK_REGRESSION;
    }
    *g_out = g;
    *out = ds;
    return TG_OK;
}

int dataset_generate_shell(const char *name, const tg_gen_params *p, tg_dataset **out,
                           tg_err *err)
{
    int g;
    return gen_shell(name, p, &g, out, err);
}

static void gen_two_moons(tg_rng *r, const tg_gen_params *p, double *x, double *y)
{
    for (size_t i = 0; i < p->n; i++) {
        double a, b, s;
        do {
            a = rng_normal(r);
            b = rng_normal(r);
            s = a * a + b * b;
        } while (s == 0.0);
        double rr = sqrt(s);
        double u = a / rr, v = (b < 0.0 ? -b : b) / rr;
        if (i % 2 == 1) {
            u = 1.0 - u;
            v = 0.5 - v;
        }
        x[2 * i] = u + p->noise * rng_normal(r);
        x[2 * i + 1] = v + p->noise * rng_normal(r);
        y[i] = (double)(i % 2);
    }
}

static void gen_xor(tg_rng *r, const tg_gen_params *p, double *x, double *y)
{
    for (size_t i = 0; i < p->n; i++) {
        double u = 2.0 * rng_uniform(r) - 1.0;
        double v = 2.0 * rng_uniform(r) - 1.0;
        y[i] = u * v < 0.0 ? 1.0 : 0.0;
        x[2 * i] = u + p->noise * rng_normal(r);
        x[2 * i + 1] = v + p->noise * rng_normal(r);
    }
}

static void gen_blobs(tg_rng *r, const tg_gen_params *p, const double *centers, double *x,
                      double *y)
{
    size_t d = p->d;
    for (size_t i = 0; i < p->n; i++) {
        size_t c = i % p->centers;
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = centers[c * d + j] + p->spread * rng_normal(r);
        y[i] = (double)c;
    }
}

/* linear, teacher and sphere: w holds w (linear) or W then a (teacher, sphere). */
static void gen_regression(int g, tg_rng *r, const tg_gen_params *p, const double *w,
                           tg_act phi, double *x, double *y)
{
    size_t d = p->d, width = p->width;
    for (size_t i = 0; i < p->n; i++) {
        double *xi = x + i * d;
        if (g == GEN_SPHERE) {
            double s;
            do {
                s = 0.0;
                for (size_t j = 0; j < d; j++) {
                    xi[j] = rng_normal(r);
                    s += xi[j] * xi[j];
                }
            } while (s == 0.0);
            double nrm = sqrt(s);
            for (size_t j = 0; j < d; j++)
                xi[j] = xi[j] / nrm;
        } else {
            for (size_t j = 0; j < d; j++)
                xi[j] = rng_normal(r);
        }
        double out = 0.0;
        if (g == GEN_LINEAR) {
            for (size_t j = 0; j < d; j++)
                out += w[j] * xi[j];
        } else {
            const double *a = w + width * d;
            for (size_t k = 0; k < width; k++) {
                double z = 0.0;
                for (size_t j = 0; j < d; j++)
                    z += w[k * d + j] * xi[j];
                out += a[k] * activation_portable(phi, TEACHER_LEAKY_SLOPE, z);
            }
        }
        if (g != GEN_SPHERE)
            out += p->noise * rng_normal(r);
        y[i] = out;
    }
}

int dataset_generate(const char *name, const tg_gen_params *p, tg_dataset **out, tg_err *err)
{
    tg_dataset *ds = NULL;
    double *w = NULL;
    tg_rng r;
    int g, rc;

    *out = NULL;
    rc = gen_shell(name, p, &g, &ds, err);
    if (rc)
        return rc;
    ds->x = dataset_alloc_doubles(ds->n_train, ds->d);
    ds->y = dataset_alloc_doubles(ds->n_train, 1);
    if (!ds->x || !ds->y) {
        rc = TG_ENOMEM;
        goto out;
    }
    rng_seed(&r, p->seed);
    switch (g) {
    case GEN_TWO_MOONS:
        gen_two_moons(&r, p, ds->x, ds->y);
        break;
    case GEN_XOR:
        gen_xor(&r, p, ds->x, ds->y);
        break;
    case GEN_BLOBS:
        w = dataset_alloc_doubles(p->centers, p->d);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < p->centers * p->d; i++)
            w[i] = -5.0 + 10.0 * rng_uniform(&r);
        gen_blobs(&r, p, w, ds->x, ds->y);
        break;
    case GEN_LINEAR: {
        double sd = sqrt((double)p->d);
        w = dataset_alloc_doubles(p->d, 1);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t j = 0; j < p->d; j++)
            w[j] = rng_normal(&r) / sd;
        gen_regression(g, &r, p, w, ACT_IDENTITY, ds->x, ds->y);
        break;
    }
    default: { /* teacher, sphere */
        size_t nw = p->width * p->d; /* checked by gen_check */
        double sd = sqrt((double)p->d), sw = sqrt((double)p->width);
        w = dataset_alloc_doubles(nw + p->width, 1);
        if (!w) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nw; i++)
            w[i] = g == GEN_TEACHER ? rng_normal(&r) / sd : rng_normal(&r);
        for (size_t k = 0; k < p->width; k++)
            w[nw + k] = rng_normal(&r) / sw;
        tg_act phi = g == GEN_TEACHER ? (tg_act)activation_from_name(p->activation) : ACT_RELU;
        gen_regression(g, &r, p, w, phi, ds->x, ds->y);
        break;
    }
    }
    *out = ds;
    ds = NULL;
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory generating %s", name);
    free(w);
    dataset_free(ds);
    return rc;
}
