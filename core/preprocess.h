/* preprocess.h: the preprocessing options of API.md section 3.2, applied to a dataset in
 * the documented order: classes, binary, split, subsample, standardize, unit_norm.
 *
 * Errors: err->field names the tg_data_options member at fault, with the index of a
 * label ("classes", "classes[1]", "binary_positive[0]", "test_fraction"), and each
 * message starts with that same name, so that the API layer can put the request field
 * in its place (api/data.c options_err) without knowing the wording.
 *
 * Size preconditions: the dataset's arrays exist, so rows * cols * sizeof(double) of
 * each part fits in size_t; new arrays are still sized with tg_mul_size.
 *
 * Threading: reentrant; a dataset is not shared while it is changed.
 */
#ifndef TG_PREPROCESS_H
#define TG_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "tg.h"

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
 * Errors name the option (see above): TG_EINVAL, or TG_ENOMEM. */
int dataset_apply_options(tg_dataset *ds, const tg_data_options *opt,
                          tg_standardize_stats *stats_out, tg_err *err);
void standardize_stats_deinit(tg_standardize_stats *s);
/* The checks of dataset_apply_options that need no data (labels known and of the right
 * type, no duplicates, classification-only options, test_fraction against an existing
 * test split); works on a shell dataset. Returns TG_OK or TG_EINVAL / TG_EUNKNOWN
 * naming the option at fault. */
int dataset_check_options(const tg_dataset *ds, const tg_data_options *opt, tg_err *err);

/* The single steps of dataset_apply_options (also used by CSV uploads). dataset_split
 * splits the training part with test_fraction f in [0, 1) and seed (ds must have no test
 * part): classification: per class c (in index order), round(f * n_c) (half up) test
 * points, chosen as the first positions of a Fisher-Yates permutation of the class's
 * points (in their order) drawn from rng_seed(seed), one permutation per class;
 * regression: round(f * n) test points, the first positions of one permutation. Both
 * parts keep the original order of the points. TG_EINVAL ("test_fraction") when no
 * training point would remain. */
int dataset_split(tg_dataset *ds, double test_fraction, uint64_t seed, tg_err *err);


#endif
