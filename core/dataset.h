/* dataset.h: in-memory datasets, their class labels, datasets from CSV tables and the
 * builtin real datasets (API.md section 3). The generators are in generators.h, the
 * preprocessing options in preprocess.h. Pure numerics: no JSON, no SQL, no files (the
 * builtin CSVs are embedded by the build and reach core/ as bytes).
 *
 * Errors: err->field names the input of this module at fault (a CSV location such as
 * "row 3, column x1", or a member of tg_dataset: "x", "y_test", ...), never a request
 * field; the API layer names request fields.
 *
 * Size preconditions: the callers bound rows x cols (the API's DATA_MAX_ELEMS and the
 * generator limits); every rows * cols * sizeof(double) here is still computed with
 * tg_mul_size, so an overflow is TG_ENOMEM, never a short buffer.
 *
 * A dataset has a training part and an optional test part. Classification labels are
 * class indices 0..K-1 stored as doubles in y (n_outputs == 1); the original labels
 * (integers or strings) are kept in `classes`, sorted (strings by byte order), so that
 * index k stands for classes.{ints,strs}[k]. Regression targets are n x n_outputs.
 *
 * Determinism: every generator uses only tg_rng and +, -, *, /, sqrt (and the portable
 * log/exp of rng.h), so a (name, options) pair gives identical bytes on every machine.
 *
 * Threading: the functions are reentrant; a dataset object is not shared while mutated.
 */
#ifndef TG_DATASET_H
#define TG_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "tg.h"

typedef enum tg_task { TG_TASK_CLASSIFICATION = 1, TG_TASK_REGRESSION = 2 } tg_task;

typedef struct tg_classes {
    size_t n;
    int is_string;   /* 1: strs holds the labels; 0: ints does */
    long long *ints; /* n, ascending (owned) */
    char **strs;     /* n, byte order ascending (owned, each owned) */
    /* (After the `classes` option the order is that of the option's list.) */
} tg_classes;

typedef struct tg_dataset {
    tg_task task;
    size_t d;         /* input dimension */
    size_t n_outputs; /* 1 for classification; target dimension for regression */
    size_t n_train, n_test;
    double *x;        /* n_train x d, row-major (owned) */
    double *y;        /* n_train x n_outputs (owned) */
    double *x_test;   /* n_test x d or NULL when n_test == 0 (owned) */
    double *y_test;   /* n_test x n_outputs or NULL (owned) */
    tg_classes classes; /* classification only; n = K */
} tg_dataset;

/* A new empty dataset (all zero). Returns NULL on allocation failure. */
tg_dataset *dataset_new(void);
/* Frees ds and everything it owns. dataset_free(NULL) is a no-op. */
void dataset_free(tg_dataset *ds);
/* Deep copy; NULL on allocation failure. */
tg_dataset *dataset_clone(const tg_dataset *ds);
void classes_deinit(tg_classes *c);
/* A new uninitialized array of a x b doubles (huge pages; free with free()), or NULL on
 * overflow of a * b * sizeof(double) or allocation failure. A zero size gives 1 element. */
double *dataset_alloc_doubles(size_t a, size_t b);

/* Loads a builtin real dataset ("iris", "wine", "breast_cancer", "digits") into
 * *out (new, caller frees). TG_ENOTFOUND (field "name") for an unknown name. */
int dataset_builtin_load(const char *name, tg_dataset **out, tg_err *err);
/* 1 if name is a builtin real dataset, 2 if a generator (generators.h), 0 otherwise. */
int dataset_builtin_kind(const char *name);
/* The names of the builtins, NULL-terminated: real datasets first, then the generators
 * (in the order of the DATASET_GENERATORS table of generators.h). */
extern const char *const dataset_builtin_names[];

/* Classification labels from original labels: sets ds->task, n_outputs = 1, classes =
 * the sorted union of train and test labels (strings by byte order), and y / y_test to
 * their class indices (new arrays; any old ones are freed). ds->n_train and ds->n_test
 * must be set; test may be NULL when n_test == 0. Labels are borrowed (strings copied).
 * Returns TG_OK, TG_EINVAL (no labels at all) or TG_ENOMEM. */
int dataset_labels_int(tg_dataset *ds, const long long *train, const long long *test,
                       tg_err *err);
int dataset_labels_str(tg_dataset *ds, const char *const *train, const char *const *test,
                       tg_err *err);
/* A dataset from a parsed CSV table (csv.h): column `target` holds the labels or
 * targets, every other column is a numeric feature (TG_EDATA "row R, column NAME"
 * otherwise). task is TG_TASK_CLASSIFICATION, TG_TASK_REGRESSION or 0 to infer it from
 * the target column: integer labels ("3") or labels that are not numbers ("setosa") give
 * classification, other numbers ("3.5", "3.0") regression; numbers mixed with
 * non-numbers are TG_EDATA. Explicit classification also accepts integral numbers
 * ("3.0" is class 3). Training part only. Returns TG_OK; TG_EDATA (a bad cell, naming
 * row and column); TG_EINVAL (a target out of range, a task the column cannot be);
 * TG_ETOOLARGE; TG_ENOMEM. */
struct csv_table;
int dataset_from_csv(const struct csv_table *t, size_t target, int task, tg_dataset **out,
                     tg_err *err);

/* The position of an original label in c, or -1 (linear search). */
long dataset_class_index_int(const tg_classes *c, long long label);
long dataset_class_index_str(const tg_classes *c, const char *label);

/* Validates finite values, shapes and labels; TG_EDATA naming the first bad entry. */
int dataset_check(const tg_dataset *ds, tg_err *err);

#endif
