/* check_influence.c: the influence kind end to end: train a model, then influence jobs on
 * its own training data (data omitted: stored as null) and test split.
 *
 * - L2-regularized logistic regression on breast_cancer (standardized, weight_decay 0.1,
 *   full-batch Nesterov to a stationary point): validate.loo 50 on each of 3 test points,
 *   Pearson >= 0.99 between predicted (-influence/n) and actual leave-one-out changes;
 *   the pairs' predicted values are -influence/n of the stored array; top_harmful[0][0]
 *   is the column of the largest influence, top_helpful[0][0] of the smallest; the SSE
 *   stream carries the running Pearson correlation in `metrics`;
 * - exact, cg and lissa agree (cg to 1e-7 relative; lissa within its reported bound),
 *   self_influence >= 0 and equal across methods;
 * - cancellation of a long retraining within about a second;
 * - bad requests name the field (400); over the memory budget: 422 naming `cg` and
 *   `params_subset "last_layer"`;
 * - the estimate of validate.loo counts each thread's Newton Hessian with the structured
 *   build's buffers (blobs d 190, hidden [1]: ~38 MB per thread).
 * The numbers themselves are checked against PyTorch by tests/core/check_influence.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

#define LOGREG_TRAIN                                                                      \
    "{\"kind\":\"train\",\"data\":{\"builtin\":\"breast_cancer\",\"standardize\":true},"  \
    "\"params\":{\"hidden\":[],\"loss\":\"logistic\",\"weight_decay\":%s,"                \
    "\"batch_size\":0,\"epochs\":3000,\"optimizer\":{\"name\":\"nesterov\",\"lr\":0.5,"   \
    "\"momentum\":0.9}}}"

static const char *logreg_model(const char *wd)
{
    json_t *t = job_run(S, fmt(LOGREG_TRAIN, wd), "succeeded", 120);
    return jstr(t, "result.model");
}

static double *array_of(const char *id, const char *name, size_t *n_out)
{
    resp *r = http_getf(S, "/v1/jobs/%s/arrays/%s", id, name);
    ASSERT_STATUS(r, 200);
    json_t *d = jpath(r->json, "data");
    size_t rows = json_array_size(d), cols = 1;
    if (rows && json_is_array(json_array_get(d, 0)))
        cols = json_array_size(json_array_get(d, 0));
    double *v = malloc(rows * cols * sizeof(double));
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            v[i * cols + j] = json_is_array(json_array_get(d, i))
                                  ? json_number_value(json_array_get(json_array_get(d, i), j))
                                  : json_number_value(json_array_get(d, i));
    *n_out = rows * cols;
    return v;
}

START_TEST(logistic_loo_correlation)
{
    const char *mid = logreg_model("0.1");
    for (int t = 0; t < 3; t++) {
        json_t *j = job_run(S, fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":"
                                   "{\"test_indices\":[%d],\"validate\":{\"loo\":50}}}",
                                   mid, t),
                            "succeeded", 120);
        const char *id = jstr(j, "id");
        double p = jnum(j, "result.validation.pearson");
        fprintf(stderr, "influence e2e: logistic regression, test point %d: loo pearson %.4f "
                        "spearman %.4f\n",
                t, p, jnum(j, "result.validation.spearman"));
        ck_assert_msg(p >= 0.99, "pearson %g < 0.99", p);
        ck_assert(json_is_null(jpath(j, "request.data")));
        ck_assert_str_eq(jstr(j, "request.params.method"), "auto");
        ck_assert_str_eq(jstr(j, "result.method"), "exact");
        ck_assert_int_eq((int)jnum(j, "result.param_count"), 31);
        ck_assert(jnum(j, "result.l2") == 0.1);
        ck_assert(jnum(j, "request.params.l2") == 0.1);
        ck_assert(jnum(j, "result.hessian.min_eigenvalue") > 0.1);
        ck_assert(jnum(j, "result.gradient_norm") < 1e-8);
        ck_assert(json_is_null(jpath(j, "result.cg")));
        ck_assert_uint_eq(json_array_size(jpath(j, "result.validation.pairs")), 50);
        ck_assert_int_eq((int)jnum(j, "result.influence.shape[0]"), 1);
        ck_assert_int_eq((int)jnum(j, "result.influence.shape[1]"), 456);
        size_t n;
        double *I = array_of(id, "influence", &n);
        ck_assert_uint_eq(n, 456);
        size_t imax = 0, imin = 0;
        for (size_t i = 1; i < n; i++) {
            if (I[i] > I[imax])
                imax = i;
            if (I[i] < I[imin])
                imin = i;
        }
        ck_assert_int_eq((int)jnum(j, "result.top_harmful[0][0]"), (int)imax);
        ck_assert_int_eq((int)jnum(j, "result.top_helpful[0][0]"), (int)imin);
        ck_assert_uint_eq(json_array_size(jpath(j, "result.top_harmful[0]")), 10);
        /* predicted = -influence / n; the first pair has the largest |influence| */
        int i0 = (int)jnum(j, "result.validation.pairs[0].train");
        ck_assert(fabs(I[i0]) >= fabs(I[imax]) && fabs(I[i0]) >= fabs(I[imin]));
        ck_assert(fabs(jnum(j, "result.validation.pairs[0].predicted") + I[i0] / 456.0) <=
                  1e-15 * fabs(I[i0]));
        free(I);
        if (t == 0) {
            /* the running correlation on the stream */
            sse_res *e = sse_read(S, fmt("/v1/jobs/%s/events", id), 20);
            int seen = 0;
            for (int k = 0; k < e->n; k++)
                if (e->ev[k].json && jpath(e->ev[k].json, "metrics.pearson") &&
                    jnum(e->ev[k].json, "metrics.retrained") == 50)
                    seen = fabs(jnum(e->ev[k].json, "metrics.pearson") - p) < 1e-12;
            ck_assert_msg(seen, "no progress event with the final pearson");
        }
    }
}
END_TEST

START_TEST(methods_agree)
{
    const char *mid = logreg_model("0.01");
    const char *base = "{\"kind\":\"influence\",\"model\":\"%s\",\"data\":{\"builtin\":"
                       "\"breast_cancer\"},\"params\":{\"test_indices\":[3,0,7],"
                       "\"train_indices\":[5,1,400,77,300],\"self_influence\":true,"
                       "\"top_k\":3%s}}";
    json_t *e = job_run(S, fmt(base, mid, ",\"method\":\"exact\""), "succeeded", 60);
    json_t *c = job_run(S, fmt(base, mid, ",\"method\":\"cg\",\"cg_tol\":1e-12"),
                        "succeeded", 60);
    json_t *l = job_run(S, fmt(base, mid, ",\"method\":\"lissa\",\"depth\":4000"),
                        "succeeded", 120);
    ck_assert(jnum(c, "result.cg.iterations") >= 1);
    ck_assert(jnum(c, "result.cg.relative_residual") <= 1e-12);
    double bound = jnum(l, "result.lissa_error_bound");
    ck_assert(jnum(l, "result.scale") > jnum(e, "result.hessian.max_eigenvalue"));
    ck_assert_msg(bound < 1e-6, "lissa bound %g", bound);
    ck_assert_int_eq((int)jnum(e, "result.top_helpful[0]") == 0, 0);
    ck_assert_uint_eq(json_array_size(jpath(e, "result.top_helpful[2]")), 3);
    const char *names[2] = {"influence", "self_influence"};
    for (int a = 0; a < 2; a++) {
        json_t *ed = jpath(e, fmt("result.%s.data", names[a]));
        json_t *cd = jpath(c, fmt("result.%s.data", names[a]));
        json_t *ld = jpath(l, fmt("result.%s.data", names[a]));
        ck_assert_ptr_nonnull(ed);
        size_t rows = a == 0 ? 3 : 1, cols = 5;
        double num_c = 0, num_l = 0, den = 0;
        for (size_t i = 0; i < rows; i++)
            for (size_t k = 0; k < cols; k++) {
                json_t *ev = a ? json_array_get(ed, k) : json_array_get(json_array_get(ed, i), k);
                json_t *cv = a ? json_array_get(cd, k) : json_array_get(json_array_get(cd, i), k);
                json_t *lv = a ? json_array_get(ld, k) : json_array_get(json_array_get(ld, i), k);
                double x = json_number_value(ev);
                if (a)
                    ck_assert(x >= 0);
                num_c += pow(json_number_value(cv) - x, 2);
                num_l += pow(json_number_value(lv) - x, 2);
                den += x * x;
            }
        ck_assert_msg(sqrt(num_c / den) < 1e-7, "%s: cg vs exact %g", names[a],
                      sqrt(num_c / den));
        ck_assert_msg(sqrt(num_l / den) < 10 * bound + 1e-9, "%s: lissa vs exact %g",
                      names[a], sqrt(num_l / den));
    }
    /* the training indices are those of the training split */
    int h = (int)jnum(e, "result.top_harmful[0][0]");
    ck_assert(h == 5 || h == 1 || h == 400 || h == 77 || h == 300);
}
END_TEST

START_TEST(cancel_within_a_second)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"breast_cancer\","
                           "\"standardize\":true},\"params\":{\"hidden\":[32],\"loss\":"
                           "\"logistic\",\"epochs\":5}}",
                        "succeeded", 60);
    const char *id = job_submit(S, fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":"
                                       "{\"validate\":{\"loo\":400},\"test_indices\":[0],\"damping\":2}}",
                                       jstr(t, "result.model")));
    job_wait(S, id, "running", 30);
    sleep_s(1.0);
    double t0 = now_s();
    resp *r = http_req(S, "POST", fmt("/v1/jobs/%s/cancel", id), NULL);
    ck_assert_msg(r->status == 202 || r->status == 200, "cancel: %ld %s %s", r->status,
                  jstr(job_get(S, id), "status"), jstr(job_get(S, id), "error.message"));
    job_wait(S, id, "cancelled", 5);
    double dt = now_s() - t0;
    fprintf(stderr, "influence e2e: cancelled in %.3f s\n", dt);
    ck_assert_msg(dt < 1.5, "cancel took %.3f s", dt);
}
END_TEST

START_TEST(bad_requests_name_the_field)
{
    const char *mid = logreg_model("0.01");
    static const struct {
        const char *params, *field, *code;
    } cases[] = {
        {"{\"method\":\"exact\",\"cg_tol\":1e-8}", "params.cg_tol", "unknown_field"},
        {"{\"method\":\"cg\",\"depth\":10}", "params.depth", "unknown_field"},
        {"{\"method\":\"newton\"}", "params.method", "invalid_argument"},
        {"{\"damping\":-1}", "params.damping", "invalid_argument"},
        {"{\"l2\":-0.1}", "params.l2", "invalid_argument"},
        {"{\"test_indices\":[113]}", "params.test_indices[0]", "invalid_argument"},
        {"{\"train_indices\":[3,3]}", "params.train_indices[1]", "invalid_argument"},
        {"{\"train_indices\":[]}", "params.train_indices", "invalid_argument"},
        {"{\"validate\":{\"loo\":0}}", "params.validate.loo", "invalid_argument"},
        {"{\"validate\":{\"loo\":457}}", "params.validate.loo", "invalid_argument"},
        {"{\"validate\":{\"k\":3}}", "params.validate.k", "unknown_field"},
        {"{\"params_subset\":\"first_layer\"}", "params.params_subset", "invalid_argument"},
        {"{\"top_k\":0}", "params.top_k", "invalid_argument"},
        {"{\"method\":\"lissa\",\"scale\":-2}", "params.scale", "invalid_argument"},
        {"{\"method\":\"lissa\",\"depth\":0}", "params.depth", "invalid_argument"},
        {"{\"cg_max_iter\":1.5}", "params.cg_max_iter", "invalid_argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                                   fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":%s}",
                                       mid, cases[i].params)),
                         400, cases[i].code, cases[i].field);
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", "{\"kind\":\"influence\"}"), 400, "missing_field",
                     "model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", "{\"kind\":\"influence\",\"model\":\"m_0\"}"), 400,
                     "invalid_argument", "model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"breast_cancer\",\"standardize\":true}}",
                                   mid)),
                     400, "unknown_field", "data.standardize");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"breast_cancer\",\"test_fraction\":0}}",
                                   mid)),
                     400, "invalid_argument", "data");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"iris\"}}",
                                   mid)),
                     400, "invalid_argument", "data");
    /* the model's own data is its training split minus the validation carve-out */
    json_t *tv = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"breast_cancer\","
                            "\"standardize\":true},\"params\":{\"hidden\":[],\"loss\":"
                            "\"logistic\",\"epochs\":2,\"validation_fraction\":0.25}}",
                         "succeeded", 60);
    json_t *iv = job_run(S, fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":"
                                "{\"test_indices\":[0],\"damping\":0.1}}",
                                jstr(tv, "result.model")),
                         "succeeded", 60);
    int nv = (int)jnum(iv, "result.influence.shape[1]");
    ck_assert_msg(nv >= 340 && nv <= 344, "training points without the carve-out: %d", nv);
    /* the stored request, data null, is accepted again as it is */
    json_t *j = job_run(S, fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":{"
                               "\"test_indices\":[1],\"train_indices\":[0,1]}}", mid),
                        "succeeded", 60);
    char *again = json_dumps(jpath(j, "request"), 0);
    resp *r = http_post(S, "/v1/jobs?dry_run=true", again);
    ASSERT_STATUS(r, 200);
    free(again);
}
END_TEST

START_TEST(over_budget_names_what_fits)
{
    srv *small = srv_spawn("--memory-budget", "150M", "--workers", "1", NULL);
    json_t *t = job_run(small, "{\"kind\":\"train\",\"data\":{\"builtin\":\"digits\"},"
                               "\"params\":{\"hidden\":[64],\"epochs\":1}}",
                        "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    resp *r = http_post(small, "/v1/jobs",
                        fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":{\"method\":"
                            "\"exact\"}}", mid));
    ASSERT_ERR(r, 422, "too_large");
    const char *msg = jstr(r->json, "error.message");
    fprintf(stderr, "influence e2e: 422: %s\n", msg);
    ck_assert_ptr_nonnull(strstr(msg, "method \"cg\""));
    ck_assert_ptr_nonnull(strstr(msg, "params_subset \"last_layer\""));
    /* what it names is accepted */
    resp *ok = http_post(small, "/v1/jobs?dry_run=true",
                         fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":{\"method\":"
                             "\"cg\"}}", mid));
    ASSERT_STATUS(ok, 200);
    srv_stop(small, 10);
}
END_TEST

/* blobs d 190, hidden [1], 2 classes: P = 196 <= 200, so each of the 2 LOO threads
 * retrains by Newton, whose structured Hessian holds 256 rows of packed x~ x~^T (18336
 * doubles each): ~38 MB per thread, which the estimate used to count as 2 P^2 doubles
 * (0.6 MB). The dry run's memory_bytes with validate.loo must exceed the one without
 * (where the exact solve's own ~38 MB dominates) by more than 40 MB. */
START_TEST(loo_estimate_counts_newton_hessian)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"blobs\",\"d\":190,"
                           "\"centers\":2},\"params\":{\"hidden\":[1],\"epochs\":1}}",
                        "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    resp *with = http_post(S, "/v1/jobs?dry_run=true",
                           fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":{"
                               "\"method\":\"exact\",\"validate\":{\"loo\":5}}}", mid));
    ASSERT_STATUS(with, 200);
    resp *without = http_post(S, "/v1/jobs?dry_run=true",
                              fmt("{\"kind\":\"influence\",\"model\":\"%s\",\"params\":"
                                  "{\"method\":\"exact\"}}", mid));
    ASSERT_STATUS(without, 200);
    double mw = jnum(with->json, "estimate.memory_bytes"),
           mo = jnum(without->json, "estimate.memory_bytes");
    ck_assert_msg(mw - mo > 40e6, "loo estimate %.0f vs %.0f without", mw, mo);
    ck_assert_msg(mw > 2 * 38e6, "loo estimate %.0f", mw);
}
END_TEST

Suite *e2e_influence_suite(void)
{
    Suite *s = suite_create("e2e_influence");
    TCase *tc = FIXTURE_CASE(s, "influence", 300, S);
    tcase_add_test(tc, logistic_loo_correlation);
    tcase_add_test(tc, methods_agree);
    tcase_add_test(tc, cancel_within_a_second);
    tcase_add_test(tc, bad_requests_name_the_field);
    tcase_add_test(tc, over_budget_names_what_fits);
    tcase_add_test(tc, loo_estimate_counts_newton_hessian);
    return s;
}
