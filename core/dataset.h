/* dataset.h: in-memory datasets, the builtin generators and the preprocessing options
 * of API.md section 3.2. Pure numerics: no JSON, no SQL, no files (the builtin CSVs are
 * embedded by the build and reach core/ as bytes).
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

/* Loads a builtin real dataset ("iris", "wine", "breast_cancer", "digits") into
 * *out (new, caller frees). TG_ENOTFOUND for an unknown name. */
int dataset_builtin_load(const char *name, tg_dataset **out, tg_err *err);
/* 1 if name is a builtin real dataset, 2 if a generator, 0 otherwise. */
int dataset_builtin_kind(const char *name);
/* Runs generator `name` with p into *out (new, caller frees); training part only.
 * The exact algorithms are documented in dataset.c. TG_EINVAL (field "data.<param>")
 * for a bad parameter, TG_ETOOLARGE over a limit above, TG_ENOTFOUND for no generator. */
int dataset_generate(const char *name, const tg_gen_params *p, tg_dataset **out, tg_err *err);
/* As dataset_generate, but only the metadata: task, d, n_outputs, n_train (= p->n) and
 * classes, with no arrays (x, y NULL). For validating a request without generating. */
int dataset_generate_shell(const char *name, const tg_gen_params *p, tg_dataset **out,
                           tg_err *err);
/* The names of the builtins, NULL-terminated: real datasets first, then generators. */
extern const char *const dataset_builtin_names[];

/* The options of API.md 3.2, applied by dataset_apply_options in the documented order:
 * classes, binary, split, subsample, standardize, unit_norm. Label lists refer to the
 * original labels: as integers when the dataset's classes are integers, else strings. */
typedef struct tg_label_list {
    size_t n;
    long long *ints; /* borrowed */
    char **strs;     /* borrowed */
} tg_label_list;

typedef struct tg_data_options {
    int has_classes; tg_label_list classes;
    int has_binary;  tg_label_list binary_positive;
    double test_fraction; int has_test_fraction; /* has_: given explicitly */
    uint64_t split_seed;
    size_t max_train, max_test; /* 0 = no limit */
    uint64_t subset_seed;
    int standardize;
    int unit_norm;
} tg_data_options;

/* Statistics of standardize, kept so that a model can apply them to raw inputs. */
typedef struct tg_standardize_stats {
    size_t d;
    double *mean; /* d (owned) */
    double *std;  /* d (owned); 0 for a constant feature (only centered) */
} tg_standardize_stats;

/* Applies opt to ds in place. stats_out (may be NULL) receives the standardize
 * statistics when opt->standardize (caller frees with standardize_stats_deinit).
 * Errors name the option: TG_EINVAL with err->field set ("data.test_fraction", ...). */
int dataset_apply_options(tg_dataset *ds, const tg_data_options *opt,
                          tg_standardize_stats *stats_out, tg_err *err);
void standardize_stats_deinit(tg_standardize_stats *s);
/* The checks of dataset_apply_options that need no data (labels known and of the right
 * type, no duplicates, classification-only options, test_fraction against an existing
 * test split); works on a shell dataset. */
int dataset_check_options(const tg_dataset *ds, const tg_data_options *opt, tg_err *err);

/* The single steps of dataset_apply_options (also used by CSV uploads). dataset_split
 * splits the training part with test_fraction f in [0, 1) and seed (ds must have no test
 * part): classification: per class c (in index order), round(f * n_c) (half up) test
 * points, chosen as the first positions of a Fisher-Yates permutation of the class's
 * points (in their order) drawn from rng_seed(seed), one permutation per class;
 * regression: round(f * n) test points, the first positions of one permutation. Both
 * parts keep the original order of the points. TG_EINVAL ("data.test_fraction") when no
 * training point would remain. */
int dataset_split(tg_dataset *ds, double test_fraction, uint64_t seed, tg_err *err);

/* Classification labels from original labels: sets ds->task, n_outputs = 1, classes =
 * the sorted union of train and test labels (strings by byte order), and y / y_test to
 * their class indices (new arrays; any old ones are freed). ds->n_train and ds->n_test
 * must be set; test may be NULL when n_test == 0. Labels are borrowed (strings copied). */
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
 * ("3.0" is class 3). Training part only. */
struct csv_table;
int dataset_from_csv(const struct csv_table *t, size_t target, int task, tg_dataset **out,
                     tg_err *err);

/* The position of an original label in c, or -1 (linear search). */
long dataset_class_index_int(const tg_classes *c, long long label);
long dataset_class_index_str(const tg_classes *c, const char *label);

/* Validates finite values, shapes and labels; TG_EDATA naming the first bad entry. */
int dataset_check(const tg_dataset *ds, tg_err *err);

#endif
