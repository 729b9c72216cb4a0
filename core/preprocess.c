/* preprocess.c: the preprocessing options of API.md section 3.2 (see preprocess.h):
 * classes, binary, split, subsample, standardize, unit_norm, in that order.
 *
 * Determinism: random choices come from tg_rng streams seeded from the options; sums run
 * in index order, so the same options give the same bytes on every machine.
 *
 * Threading: reentrant; a dataset is owned by one thread while it is changed.
 */
#include "preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* ---- options ------------------------------------------------------------------------ */

static void label_text(char *buf, size_t n, const tg_label_list *l, size_t i)
{
    if (l->strs)
        snprintf(buf, n, "\"%.40s\"", l->strs[i]);
    else
        snprintf(buf, n, "%lld", l->ints[i]);
}

/* The class index of l's i-th label in c, or -1; TG_EINVAL naming path[i] when the
 * label is of the wrong type or unknown. */
static int label_lookup(const tg_classes *c, const tg_label_list *l, size_t i,
                        const char *path, long *idx_out, tg_err *err)
{
    char fb[160], lt[64];
    snprintf(fb, sizeof fb, "%s[%zu]", path, i);
    if (c->is_string ? !l->strs : !l->ints)
        return tg_err_setf(err, TG_EINVAL, fb, "%s must be %s, like the dataset's labels", fb,
                           c->is_string ? "a string" : "an integer");
    long idx = c->is_string ? dataset_class_index_str(c, l->strs[i])
                            : dataset_class_index_int(c, l->ints[i]);
    if (idx < 0) {
        label_text(lt, sizeof lt, l, i);
        return tg_err_setf(err, TG_EINVAL, fb, "%s: %s is not a class of the dataset", fb, lt);
    }
    *idx_out = idx;
    return TG_OK;
}

/* Checks a label list against c: known, of the right type, no duplicates. */
static int label_list_check(const tg_classes *c, const tg_label_list *l, const char *path,
                            tg_err *err)
{
    char fb[160];
    int rc = TG_OK;
    if (l->n == 0)
        return tg_err_setf(err, TG_EINVAL, path, "%s must not be empty", path);
    unsigned char *seen = calloc(c->n ? c->n : 1, 1);
    if (!seen)
        return tg_err_set(err, TG_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(c, l, i, path, &idx, err);
        if (rc)
            break;
        if (seen[idx]) {
            snprintf(fb, sizeof fb, "%s[%zu]", path, i);
            rc = tg_err_setf(err, TG_EINVAL, fb, "%s repeats a label", fb);
            break;
        }
        seen[idx] = 1;
    }
    free(seen);
    return rc;
}

int dataset_check_options(const tg_dataset *ds, const tg_data_options *opt, tg_err *err)
{
    int rc;
    if ((opt->has_classes || opt->has_binary) && ds->task != TG_TASK_CLASSIFICATION)
        return tg_err_setf(err, TG_EINVAL, opt->has_classes ? "classes" : "binary_positive",
                           "%s applies to classification data only",
                           opt->has_classes ? "classes" : "binary_positive");
    if (opt->has_classes) {
        rc = label_list_check(&ds->classes, &opt->classes, "classes", err);
        if (rc)
            return rc;
    }
    if (opt->has_binary) {
        /* The positive labels must survive the `classes` option. */
        tg_classes kept = ds->classes;
        if (opt->has_classes) {
            kept.n = opt->classes.n;
            kept.ints = opt->classes.ints;
            kept.strs = opt->classes.strs;
        }
        rc = label_list_check(&kept, &opt->binary_positive, "binary_positive", err);
        if (rc)
            return rc;
    }
    if (!(opt->test_fraction >= 0.0 && opt->test_fraction < 1.0))
        return tg_err_setf(err, TG_EINVAL, "test_fraction",
                           "test_fraction must be >= 0 and < 1 (got %.17g)",
                           opt->test_fraction);
    if (opt->has_test_fraction && ds->n_test > 0)
        return tg_err_setf(err, TG_EINVAL, "test_fraction",
                           "test_fraction does not apply: the dataset already has a "
                           "test split");
    return TG_OK;
}

/* Keeps the rows of one part whose class maps to >= 0 (relabelled to the map value), in
 * order, in place. */
static void relabel_part(double *x, double *y, size_t *n, size_t d, const long *map)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        long c = map[(size_t)y[i]];
        if (c < 0)
            continue;
        if (w != i)
            memmove(x + w * d, x + i * d, d * sizeof(double));
        y[w++] = (double)c;
    }
    *n = w;
}

static void drop_empty_test(tg_dataset *ds)
{
    if (ds->n_test == 0) {
        free(ds->x_test);
        free(ds->y_test);
        ds->x_test = ds->y_test = NULL;
    }
}

static int apply_classes(tg_dataset *ds, const tg_label_list *l, tg_err *err)
{
    tg_classes nc = {0};
    long *map = tg_alloc_array(ds->classes.n, 1, sizeof *map);
    int rc = TG_OK;
    if (!map) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < ds->classes.n; k++)
        map[k] = -1;
    nc.is_string = ds->classes.is_string;
    if (nc.is_string)
        nc.strs = calloc(l->n, sizeof(char *));
    else
        nc.ints = tg_alloc_array(l->n, 1, sizeof(long long));
    if (nc.is_string ? !nc.strs : !nc.ints) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(&ds->classes, l, i, "classes", &idx, err);
        if (rc)
            goto out;
        map[idx] = (long)i;
        nc.n = i + 1;
        if (nc.is_string) {
            nc.strs[i] = strdup(l->strs[i]);
            if (!nc.strs[i]) {
                rc = TG_ENOMEM;
                goto out;
            }
        } else {
            nc.ints[i] = l->ints[i];
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < ds->n_train; i++)
        kept += map[(size_t)ds->y[i]] >= 0;
    if (kept == 0) {
        rc = tg_err_setf(err, TG_EINVAL, "classes",
                         "classes: no training point has one of these classes");
        goto out;
    }
    relabel_part(ds->x, ds->y, &ds->n_train, ds->d, map);
    relabel_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, map);
    drop_empty_test(ds);
    classes_deinit(&ds->classes);
    ds->classes = nc;
    memset(&nc, 0, sizeof nc);
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory applying classes");
    classes_deinit(&nc);
    free(map);
    return rc;
}

static int apply_binary(tg_dataset *ds, const tg_label_list *l, tg_err *err)
{
    long *map = calloc(ds->classes.n, sizeof *map);
    long long *ints = malloc(2 * sizeof *ints);
    int rc = TG_OK;
    if (!map || !ints) {
        rc = tg_err_set(err, TG_ENOMEM, "out of memory applying binary");
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        long idx;
        rc = label_lookup(&ds->classes, l, i, "binary_positive", &idx, err);
        if (rc)
            goto out;
        map[idx] = 1;
    }
    relabel_part(ds->x, ds->y, &ds->n_train, ds->d, map);
    relabel_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, map);
    classes_deinit(&ds->classes);
    ints[0] = 0;
    ints[1] = 1;
    ds->classes.n = 2;
    ds->classes.ints = ints;
    ints = NULL;
out:
    free(map);
    free(ints);
    return rc;
}

/* Replaces the parts of ds: rows with flag[i] == 0 stay in training, the others go to
 * the (empty) test part; both keep their order. */
static int move_to_test(tg_dataset *ds, const unsigned char *flag, size_t n_test)
{
    size_t d = ds->d, q = ds->n_outputs, n = ds->n_train, n_tr = n - n_test;
    double *x = dataset_alloc_doubles(n_tr, d), *y = dataset_alloc_doubles(n_tr, q);
    double *xt = dataset_alloc_doubles(n_test, d), *yt = dataset_alloc_doubles(n_test, q);
    if (!x || !y || !xt || !yt) {
        free(x);
        free(y);
        free(xt);
        free(yt);
        return TG_ENOMEM;
    }
    for (size_t i = 0, a = 0, b = 0; i < n; i++) {
        if (flag[i]) {
            memcpy(xt + b * d, ds->x + i * d, d * sizeof(double));
            memcpy(yt + b * q, ds->y + i * q, q * sizeof(double));
            b++;
        } else {
            memcpy(x + a * d, ds->x + i * d, d * sizeof(double));
            memcpy(y + a * q, ds->y + i * q, q * sizeof(double));
            a++;
        }
    }
    free(ds->x);
    free(ds->y);
    free(ds->x_test);
    free(ds->y_test);
    ds->x = x;
    ds->y = y;
    ds->x_test = xt;
    ds->y_test = yt;
    ds->n_train = n_tr;
    ds->n_test = n_test;
    return TG_OK;
}

/* round(f * m), halves up, for f in [0, 1). */
static size_t round_count(double f, size_t m)
{
    return (size_t)(f * (double)m + 0.5);
}

int dataset_split(tg_dataset *ds, double f, uint64_t seed, tg_err *err)
{
    size_t n = ds->n_train, n_test = 0;
    unsigned char *flag = NULL;
    size_t *perm = NULL, *members = NULL, *start = NULL;
    tg_rng r;
    int rc = TG_OK;

    if (!(f >= 0.0 && f < 1.0))
        return tg_err_setf(err, TG_EINVAL, "test_fraction",
                           "test_fraction must be >= 0 and < 1 (got %.17g)", f);
    if (ds->n_test > 0)
        return tg_err_setf(err, TG_EINVAL, "test_fraction",
                           "test_fraction does not apply: the dataset already has a "
                           "test split");
    if (f == 0.0)
        return TG_OK;
    flag = calloc(n, 1);
    perm = tg_alloc_array(n, 1, sizeof *perm);
    if (!flag || !perm) {
        rc = TG_ENOMEM;
        goto out;
    }
    rng_seed(&r, seed);
    if (ds->task == TG_TASK_CLASSIFICATION) {
        size_t k = ds->classes.n;
        /* Counting sort of the points by class, each class in index order. */
        members = tg_alloc_array(n, 1, sizeof *members);
        start = calloc(k + 1, sizeof *start);
        if (!members || !start) {
            rc = TG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            start[(size_t)ds->y[i] + 1]++;
        for (size_t c = 0; c < k; c++)
            start[c + 1] += start[c];
        for (size_t i = 0; i < n; i++)
            members[start[(size_t)ds->y[i]]++] = i;
        for (size_t c = k; c > 0; c--) /* back to the class starts */
            start[c] = start[c - 1];
        start[0] = 0;
        for (size_t c = 0; c < k; c++) {
            size_t nc = start[c + 1] - start[c], t = round_count(f, nc);
            rng_permutation(&r, perm, nc);
            for (size_t p = 0; p < t; p++)
                flag[members[start[c] + perm[p]]] = 1;
            n_test += t;
        }
    } else {
        n_test = round_count(f, n);
        rng_permutation(&r, perm, n);
        for (size_t p = 0; p < n_test; p++)
            flag[perm[p]] = 1;
    }
    if (n_test == n) {
        rc = tg_err_setf(err, TG_EINVAL, "test_fraction",
                         "test_fraction %.17g leaves no training points", f);
        goto out;
    }
    if (n_test > 0 && move_to_test(ds, flag, n_test)) {
        rc = TG_ENOMEM;
        goto out;
    }
out:
    if (rc == TG_ENOMEM)
        tg_err_set(err, TG_ENOMEM, "out of memory splitting the dataset");
    free(flag);
    free(perm);
    free(members);
    free(start);
    return rc;
}

/* Keeps max of the n rows of one part: the first max positions of a permutation from
 * rng_seed_stream(seed, stream), in their original order. */
static int subsample_part(double *x, double *y, size_t *n, size_t d, size_t q, size_t max,
                          uint64_t seed, uint64_t stream)
{
    tg_rng r;
    if (max == 0 || *n <= max)
        return TG_OK;
    size_t *perm = tg_alloc_array(*n, 1, sizeof *perm);
    unsigned char *keep = calloc(*n, 1);
    if (!perm || !keep) {
        free(perm);
        free(keep);
        return TG_ENOMEM;
    }
    rng_seed_stream(&r, seed, stream);
    rng_permutation(&r, perm, *n);
    for (size_t p = 0; p < max; p++)
        keep[perm[p]] = 1;
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!keep[i])
            continue;
        if (w != i) {
            memmove(x + w * d, x + i * d, d * sizeof(double));
            memmove(y + w * q, y + i * q, q * sizeof(double));
        }
        w++;
    }
    *n = w;
    free(perm);
    free(keep);
    return TG_OK;
}

void standardize_stats_deinit(tg_standardize_stats *s)
{
    if (!s)
        return;
    free(s->mean);
    free(s->std);
    memset(s, 0, sizeof *s);
}

/* Per feature j over the training rows: a constant feature gets mean x[0][j] and std 0;
 * otherwise mean = (sum_i x[i][j]) / n and std = sqrt((sum_i (x[i][j] - mean)^2) / n),
 * sums in row order. Both parts become (x - mean) / std, or x - mean where std is 0. */
static int standardize(tg_dataset *ds, tg_standardize_stats *st)
{
    size_t n = ds->n_train, d = ds->d;
    double *mean = dataset_alloc_doubles(d, 1), *sd = dataset_alloc_doubles(d, 1);
    double *lo = dataset_alloc_doubles(d, 1), *hi = dataset_alloc_doubles(d, 1);
    int rc = TG_OK;
    if (!mean || !sd || !lo || !hi) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < d; j++) {
        lo[j] = hi[j] = ds->x[j];
        mean[j] = 0.0;
        sd[j] = 0.0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double v = ds->x[i * d + j];
            mean[j] += v;
            if (v < lo[j])
                lo[j] = v;
            if (v > hi[j])
                hi[j] = v;
        }
    for (size_t j = 0; j < d; j++)
        mean[j] = lo[j] == hi[j] ? lo[j] : mean[j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double c = ds->x[i * d + j] - mean[j];
            sd[j] += c * c;
        }
    for (size_t j = 0; j < d; j++)
        sd[j] = lo[j] == hi[j] ? 0.0 : sqrt(sd[j] / (double)n);
    for (int part = 0; part < 2; part++) {
        double *x = part ? ds->x_test : ds->x;
        size_t m = part ? ds->n_test : ds->n_train;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < d; j++) {
                double c = x[i * d + j] - mean[j];
                x[i * d + j] = sd[j] > 0.0 ? c / sd[j] : c;
            }
    }
    if (st) {
        st->d = d;
        st->mean = mean;
        st->std = sd;
        mean = sd = NULL;
    }
out:
    free(mean);
    free(sd);
    free(lo);
    free(hi);
    return rc;
}

/* Each row x becomes x / ||x|| computed as (x / m) / sqrt(sum (x_j / m)^2) with
 * m = max |x_j| (no overflow or underflow); a zero row stays zero. */
static void unit_norm_rows(double *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double *xi = x + i * d, m = 0.0, s = 0.0;
        for (size_t j = 0; j < d; j++) {
            double a = xi[j] < 0.0 ? -xi[j] : xi[j];
            if (a > m)
                m = a;
        }
        if (m == 0.0)
            continue;
        for (size_t j = 0; j < d; j++) {
            double v = xi[j] / m;
            s += v * v;
        }
        double nrm = sqrt(s);
        for (size_t j = 0; j < d; j++)
            xi[j] = (xi[j] / m) / nrm;
    }
}

int dataset_apply_options(tg_dataset *ds, const tg_data_options *opt,
                          tg_standardize_stats *stats_out, tg_err *err)
{
    int rc;
    if (stats_out)
        memset(stats_out, 0, sizeof *stats_out);
    rc = dataset_check_options(ds, opt, err);
    if (!rc && opt->has_classes)
        rc = apply_classes(ds, &opt->classes, err);
    if (!rc && opt->has_binary)
        rc = apply_binary(ds, &opt->binary_positive, err);
    if (!rc && ds->n_test == 0 && opt->test_fraction > 0.0)
        rc = dataset_split(ds, opt->test_fraction, opt->split_seed, err);
    if (rc)
        return rc;
    if (subsample_part(ds->x, ds->y, &ds->n_train, ds->d, ds->n_outputs, opt->max_train,
                       opt->subset_seed, 0) ||
        subsample_part(ds->x_test, ds->y_test, &ds->n_test, ds->d, ds->n_outputs,
                       opt->max_test, opt->subset_seed, 1))
        return tg_err_set(err, TG_ENOMEM, "out of memory subsampling the dataset");
    if (opt->standardize && standardize(ds, stats_out))
        return tg_err_set(err, TG_ENOMEM, "out of memory standardizing the dataset");
    if (opt->unit_norm) {
        unit_norm_rows(ds->x, ds->n_train, ds->d);
        unit_norm_rows(ds->x_test, ds->n_test, ds->d);
    }
    return TG_OK;
}

/* ---- validation --------------------------------------------------------------------- */
