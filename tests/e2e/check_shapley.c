/* check_shapley.c: the shapley kind end to end: knn_exact on iris with efficiency,
 * sampling methods with standard errors and the stopping rule reported, identical values
 * with 1 and 2 threads, feature attributions of a trained iris model against a brute
 * force over all 2^4 subsets computed here from the predict endpoint, SSE metrics,
 * max_time_s, cancellation within 1 s, the mlp utility (exact values, U(all) equal to a
 * train job's test accuracy, bad train params named under params.utility, cancellation,
 * 422 over the memory budget), and bad requests with the field named. The
 * numbers themselves are checked against NumPy/scikit-learn fixtures by the core suite
 * (tests/core/check_shapley.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

static double *array_of(const char *id, const char *name, size_t *n)
{
    resp *r = http_getf(S, "/v1/jobs/%s/arrays/%s", id, name);
    ASSERT_STATUS(r, 200);
    json_t *a = jpath(r->json, "data");
    *n = json_array_size(a);
    double *v = malloc((*n ? *n : 1) * sizeof(double));
    for (size_t i = 0; i < *n; i++)
        v[i] = json_number_value(json_array_get(a, i));
    return v;
}

START_TEST(knn_exact_on_iris)
{
    json_t *j = job_run(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\","
                           "\"standardize\":true},\"params\":{}}", "succeeded", 60);
    const char *id = jstr(j, "id");
    ck_assert_str_eq(jstr(j, "result.method"), "knn_exact");
    ck_assert_str_eq(jstr(j, "request.params.method"), "auto");
    ck_assert_str_eq(jstr(j, "request.params.utility.model"), "knn");
    ck_assert_int_eq((int)jnum(j, "request.params.utility.k"), 5);
    ck_assert_int_eq((int)jnum(j, "result.n_players"), 120);
    ck_assert_int_eq((int)jnum(j, "result.values.shape[0]"), 120);
    ck_assert(fabs(jnum(j, "result.efficiency_residual")) < 1e-12);
    ck_assert(jnum(j, "result.u_empty") == 0);
    ck_assert(jnum(j, "result.u_full") > 0.8);
    ck_assert_uint_eq(json_array_size(jpath(j, "result.top")), 10);
    ck_assert_uint_eq(json_array_size(jpath(j, "result.bottom")), 10);
    ck_assert_str_eq(jstr(j, "result.stopped_by"), "exhaustive");
    ck_assert(jpath(j, "result.converged") == json_true());
    size_t n;
    double *v = array_of(id, "values", &n), sum = 0;
    ck_assert_uint_eq(n, 120);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    ck_assert(fabs(sum - jnum(j, "result.u_full")) < 1e-12);
    /* top[0] holds the largest value */
    size_t t0 = (size_t)jnum(j, "result.top[0]");
    for (size_t i = 0; i < n; i++)
        ck_assert(v[i] <= v[t0]);
    free(v);
}
END_TEST

START_TEST(sampling_methods_report_errors_and_stop_rule)
{
    const char *methods[] = {"permutation", "tmc", "banzhaf", "difference"};
    for (int q = 0; q < 4; q++) {
        json_t *j = job_run(S, fmt("{\"kind\":\"shapley\",\"data\":{\"builtin\":\"breast_cancer\","
                                   "\"standardize\":true,\"max_train\":30},\"params\":{\"utility\":"
                                   "{\"model\":\"logistic\"},\"method\":\"%s\","
                                   "\"max_permutations\":40}}", methods[q]),
                            "succeeded", 120);
        ck_assert_str_eq(jstr(j, "result.method"), methods[q]);
        ck_assert_str_eq(jstr(j, "result.stopped_by"), "max_permutations");
        ck_assert_int_eq((int)jnum(j, "result.permutations"), 40);
        ck_assert(jnum(j, "result.max_stderr") > 0);
        ck_assert_int_eq((int)jnum(j, "result.stderr.shape[0]"), 30);
        ck_assert(jnum(j, "result.u_empty") == 0.5); /* 1/K */
        if (q == 2) /* banzhaf: no efficiency */
            ck_assert(json_is_null(jpath(j, "result.efficiency_residual")));
        else if (q == 1) /* tmc: the truncated tail, at most truncation * |U(N)| */
            ck_assert(fabs(jnum(j, "result.efficiency_residual")) <=
                      0.01 * fabs(jnum(j, "result.u_full")) + 1e-9);
        else
            ck_assert(fabs(jnum(j, "result.efficiency_residual")) < 1e-9);
        if (q == 1)
            ck_assert(jnum(j, "request.params.truncation") == 0.01);
    }
}
END_TEST

START_TEST(kernel_ridge_utilities)
{
    /* regression (the linear generator, 12 training points): exact by default, the empty
     * score -mean(y_test^2), efficiency; each kernel */
    const char *kernels[] = {"{\"name\":\"rbf\"}", "{\"name\":\"linear\"}",
                             "{\"name\":\"ntk\",\"depth\":2}"};
    for (int q = 0; q < 3; q++) {
        json_t *j = job_run(S, fmt("{\"kind\":\"shapley\",\"data\":{\"builtin\":\"linear\","
                                   "\"n\":15,\"d\":3},\"params\":{\"utility\":{\"model\":"
                                   "\"kernel_ridge\",\"ridge\":0.1,\"kernel\":%s}}}", kernels[q]),
                            "succeeded", 60);
        ck_assert_str_eq(jstr(j, "result.method"), "exact");
        ck_assert_str_eq(jstr(j, "request.params.utility.metric"), "neg_mse");
        ck_assert_int_eq((int)jnum(j, "result.n_players"), 12);
        ck_assert_int_eq((int)jnum(j, "result.utility_evaluations"), 4095);
        ck_assert(jnum(j, "result.u_empty") < 0);
        ck_assert(jnum(j, "result.u_empty") == jnum(j, "request.params.utility.empty_score"));
        ck_assert(fabs(jnum(j, "result.efficiency_residual")) < 1e-12);
        if (q == 0) /* gamma filled in as 1/d */
            ck_assert(fabs(jnum(j, "request.params.utility.kernel.gamma") - 1.0 / 3) < 1e-15);
    }
    /* classification with accuracy, sampled */
    json_t *j = job_run(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\","
                           "\"standardize\":true},\"params\":{\"utility\":{\"model\":"
                           "\"kernel_ridge\"},\"max_permutations\":10}}", "succeeded", 60);
    ck_assert_str_eq(jstr(j, "result.method"), "tmc");
    ck_assert(jnum(j, "result.u_empty") == 1.0 / 3);
    ck_assert(jnum(j, "result.u_full") > 0.8);
}
END_TEST

START_TEST(same_values_with_one_and_two_threads)
{
    const char *body = "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"wine\",\"standardize\":true,"
                       "\"max_train\":40},\"params\":{\"utility\":{\"model\":\"logistic\"},"
                       "\"method\":\"tmc\",\"max_permutations\":30,\"seed\":5}}";
    json_t *a = job_run(S, body, "succeeded", 120);
    srv *two = srv_spawn("--blas-threads", "2", NULL);
    json_t *b = job_run(two, body, "succeeded", 120);
    char *va = json_dumps(jpath(a, "result.values.data"), 0);
    char *vb = json_dumps(jpath(b, "result.values.data"), 0);
    char *sa = json_dumps(jpath(a, "result.stderr.data"), 0);
    char *sb = json_dumps(jpath(b, "result.stderr.data"), 0);
    ck_assert_ptr_nonnull(va);
    ck_assert_str_eq(va, vb);
    ck_assert_str_eq(sa, sb);
    ck_assert(jnum(a, "result.utility_evaluations") == jnum(b, "result.utility_evaluations"));
    free(va);
    free(vb);
    free(sa);
    free(sb);
    srv_stop(two, 10);
}
END_TEST

/* Feature Shapley values of a trained iris model vs a brute force: U(S) for all 16
 * subsets from the predict endpoint (features outside S at the baseline), then the
 * subset formula here. */
START_TEST(feature_attribution_matches_brute_force)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\",\"standardize\":"
                           "true},\"params\":{\"hidden\":[16],\"epochs\":30,\"optimizer\":"
                           "{\"name\":\"adam\",\"lr\":0.01}}}", "succeeded", 120);
    const char *mid = jstr(t, "result.model");
    double x[4] = {6.1, 2.9, 4.7, 1.4}, base[4] = {5.0, 3.0, 1.5, 0.2};
    json_t *j = job_run(S, fmt("{\"kind\":\"shapley\",\"model\":\"%s\",\"params\":{\"players\":"
                               "\"features\",\"x\":[6.1,2.9,4.7,1.4],\"baseline\":"
                               "[5.0,3.0,1.5,0.2]}}", mid), "succeeded", 60);
    ck_assert_str_eq(jstr(j, "result.method"), "exact");
    ck_assert_int_eq((int)jnum(j, "result.n_players"), 4);
    int target = (int)jnum(j, "request.params.target");
    ck_assert_int_eq((int)jnum(j, "result.target"), target);
    /* the 16 rows */
    char body[4096] = "{\"x\":[";
    for (int mask = 0; mask < 16; mask++) {
        char row[128];
        snprintf(row, sizeof row, "%s[%.17g,%.17g,%.17g,%.17g]", mask ? "," : "",
                 mask & 1 ? x[0] : base[0], mask & 2 ? x[1] : base[1],
                 mask & 4 ? x[2] : base[2], mask & 8 ? x[3] : base[3]);
        strcat(body, row);
    }
    strcat(body, "]}");
    resp *p = http_post(S, fmt("/v1/models/%s/predict", mid), body);
    ASSERT_STATUS(p, 200);
    double U[16];
    for (int mask = 0; mask < 16; mask++)
        U[mask] = json_number_value(json_array_get(
            json_array_get(jpath(p->json, "outputs"), (size_t)mask), (size_t)target));
    /* the target is the predicted class at x */
    ck_assert_int_eq((int)json_integer_value(json_array_get(jpath(p->json, "indices"), 15)),
                     target);
    static const double w[4] = {1.0 / 4, 1.0 / 12, 1.0 / 12, 1.0 / 4}; /* s!(3-s)!/4! */
    double brute[4] = {0};
    for (int i = 0; i < 4; i++)
        for (int mask = 0; mask < 16; mask++)
            if (!(mask >> i & 1))
                brute[i] += w[__builtin_popcount((unsigned)mask)] * (U[mask | 1 << i] - U[mask]);
    size_t n;
    double *v = array_of(jstr(j, "id"), "values", &n), e = 0;
    ck_assert_uint_eq(n, 4);
    for (int i = 0; i < 4; i++)
        e = fmax(e, fabs(v[i] - brute[i]));
    fprintf(stderr, "shapley e2e: iris model feature attributions vs brute force: %.2e\n", e);
    ck_assert_msg(e < 1e-9, "%g", e);
    ck_assert(fabs(jnum(j, "result.u_full") - U[15]) < 1e-12);
    ck_assert(fabs(jnum(j, "result.u_empty") - U[0]) < 1e-12);
    free(v);
    /* test_index and baseline mean from the model's own training data; sampling */
    json_t *k = job_run(S, fmt("{\"kind\":\"shapley\",\"model\":\"%s\",\"params\":{\"players\":"
                               "\"features\",\"test_index\":3,\"baseline\":\"mean\",\"method\":"
                               "\"permutation\",\"max_permutations\":50}}", mid),
                        "succeeded", 60);
    ck_assert(json_is_null(jpath(k, "request.data"))); /* the model's own data */
    ck_assert(fabs(jnum(k, "result.efficiency_residual")) < 1e-9);
}
END_TEST

START_TEST(metrics_max_time_and_cancel)
{
    /* max_time_s stops the run and says so; SSE progress carries the metrics */
    json_t *j = job_run(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"digits\"},\"params\":"
                           "{\"method\":\"permutation\",\"max_permutations\":1000000,"
                           "\"tolerance\":0,\"max_time_s\":1.5}}", "succeeded", 60);
    ck_assert_str_eq(jstr(j, "result.stopped_by"), "max_time_s");
    ck_assert(jpath(j, "result.converged") == json_false());
    ck_assert(jnum(j, "result.permutations") >= 2);
    sse_res *ev = sse_read(S, fmt("/v1/jobs/%s/events", jstr(j, "id")), 30);
    int with_metrics = 0;
    for (int i = 0; i < ev->n; i++)
        if (strcmp(ev->ev[i].type, "progress") == 0 && jpath(ev->ev[i].json, "metrics.max_stderr") &&
            jpath(ev->ev[i].json, "metrics.permutations") &&
            jpath(ev->ev[i].json, "metrics.top10_stability"))
            with_metrics++;
    ck_assert_msg(with_metrics > 0, "no progress event with shapley metrics");
    /* cancellation of a running job within 1 s */
    const char *id = job_submit(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"digits\"},"
                                   "\"params\":{\"utility\":{\"model\":\"logistic\"},\"method\":"
                                   "\"permutation\",\"max_permutations\":1000000}}");
    job_wait(S, id, "running", 30);
    sleep_s(0.5);
    double t0 = now_s();
    resp *r = http_req(S, "POST", fmt("/v1/jobs/%s/cancel", id), NULL);
    ASSERT_STATUS(r, 202);
    job_wait(S, id, "cancelled", 5);
    double dt = now_s() - t0;
    fprintf(stderr, "shapley e2e: cancelled a running shapley job in %.3f s\n", dt);
    ck_assert_msg(dt < 1.0, "cancellation took %.3f s", dt);
}
END_TEST

/* The mlp utility: exact values on 10 iris points (a network trained per subset) with
 * the train params' defaults filled in; U(all) equals the test accuracy of a train job
 * with the same params and seed (the same core, the same rows in the same order); auto
 * picks tmc above 12 players; cancellation within 1 s of a job training on digits. */
START_TEST(mlp_utility)
{
    const char *util = "\"hidden\":[8],\"epochs\":30,\"optimizer\":{\"name\":\"adam\","
                       "\"lr\":0.05}";
    json_t *j = job_run(S, fmt("{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\","
                               "\"standardize\":true,\"max_train\":10},\"params\":{\"utility\":"
                               "{\"model\":\"mlp\",%s},\"seed\":3}}", util), "succeeded", 60);
    const char *id = jstr(j, "id");
    ck_assert_str_eq(jstr(j, "result.method"), "exact");
    ck_assert_int_eq((int)jnum(j, "result.n_players"), 10);
    ck_assert_int_eq((int)jnum(j, "result.utility_evaluations"), 1023);
    ck_assert(fabs(jnum(j, "result.efficiency_residual")) < 1e-12);
    ck_assert(jnum(j, "result.u_empty") == 1.0 / 3);
    ck_assert_int_eq((int)jnum(j, "request.params.utility.batch_size"), 32);
    ck_assert_str_eq(jstr(j, "request.params.utility.activation"), "relu");
    ck_assert_str_eq(jstr(j, "request.params.utility.loss"), "cross_entropy");
    ck_assert_str_eq(jstr(j, "request.params.utility.metric"), "accuracy");
    ck_assert(jnum(j, "request.params.utility.optimizer.eps") == 1e-8);
    double u_full = jnum(j, "result.u_full");
    ck_assert_msg(u_full > 0.6, "U(all) = %g", u_full);
    size_t n;
    double *v = array_of(id, "values", &n), sum = 0;
    ck_assert_uint_eq(n, 10);
    for (size_t i = 0; i < n; i++) {
        ck_assert(isfinite(v[i]) && fabs(v[i]) < 1);
        sum += v[i];
    }
    ck_assert(fabs(sum - (u_full - 1.0 / 3)) < 1e-12);
    free(v);
    fprintf(stderr, "shapley e2e: mlp utility, exact on 10 iris points: U(all) = %.4f, "
                    "%.2f s\n", u_full, jnum(j, "result.time_s"));
    json_t *t = job_run(S, fmt("{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\","
                               "\"standardize\":true,\"max_train\":10},\"params\":{%s,"
                               "\"seed\":3}}", util), "succeeded", 60);
    ck_assert_msg(jnum(t, "result.final.test_accuracy") == u_full, "train %.17g, shapley %.17g",
                  jnum(t, "result.final.test_accuracy"), u_full);
    /* auto = tmc above 12 players; regression with neg_mse */
    j = job_run(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"linear\",\"n\":25,\"d\":3},"
                   "\"params\":{\"utility\":{\"model\":\"mlp\",\"hidden\":[4],\"epochs\":5},"
                   "\"max_permutations\":4}}", "succeeded", 60);
    ck_assert_str_eq(jstr(j, "result.method"), "tmc");
    ck_assert_str_eq(jstr(j, "request.params.utility.metric"), "neg_mse");
    ck_assert_int_eq((int)jnum(j, "result.permutations"), 4); /* 2 antithetic pairs */
    ck_assert_msg(jnum(j, "result.u_full") < 0 && isfinite(jnum(j, "result.max_stderr")),
                  "u_full %g, max_stderr %g", jnum(j, "result.u_full"), jnum(j, "result.max_stderr"));
    /* cancellation within 1 s */
    const char *cid = job_submit(S, "{\"kind\":\"shapley\",\"data\":{\"builtin\":\"digits\"},"
                                    "\"params\":{\"utility\":{\"model\":\"mlp\"},"
                                    "\"max_permutations\":1000000}}");
    job_wait(S, cid, "running", 30);
    sleep_s(0.5);
    double t0 = now_s();
    resp *r = http_req(S, "POST", fmt("/v1/jobs/%s/cancel", cid), NULL);
    ASSERT_STATUS(r, 202);
    job_wait(S, cid, "cancelled", 5);
    double dt = now_s() - t0;
    fprintf(stderr, "shapley e2e: cancelled a running mlp-utility job in %.3f s\n", dt);
    ck_assert_msg(dt < 1.0, "cancellation took %.3f s", dt);
}
END_TEST

START_TEST(bad_requests_name_the_field)
{
    static const struct {
        const char *body, *field, *code;
        int status;
    } cases[] = {
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"logistic\"},\"method\":\"knn_exact\"}}", "params.method", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"logistic\"},\"method\":\"exact\"}}", NULL, "too_large", 422},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"hidden\":[4,0]}}}", "params.utility.hidden[1]",
         "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"optimizer\":{\"name\":\"adam\",\"momentum\":0.9}}}}",
         "params.utility.optimizer.momentum", "unknown_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"schedule\":{\"name\":\"multistep\"}}}}",
         "params.utility.schedule.milestones", "missing_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"epochs\":0}}}", "params.utility.epochs", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"loss\":\"logistic\"}}}", "params.utility.loss",
         "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"label_noise\":{\"sigma\":1}}}}",
         "params.utility.label_noise.sigma", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"early_stopping\":{\"patience\":3}}}}",
         "params.utility.early_stopping", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"seed\":3}}}", "params.utility.seed", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"mlp\",\"k\":3}}}", "params.utility.k", "unknown_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"knn\",\"k\":0}}}", "params.utility.k", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"knn\",\"l2\":1}}}", "params.utility.l2", "unknown_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"tolerence\":1}}",
         "params.tolerence", "unknown_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"linear\",\"n\":50},\"params\":{\"utility\":"
         "{\"model\":\"kernel_ridge\",\"metric\":\"accuracy\"}}}", "params.utility.metric",
         "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"linear\",\"n\":50},\"params\":{}}",
         "params.utility.model", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"method\":"
         "\"permutation\",\"truncation\":0.1}}", "params.truncation", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"max_permutations\":0}}",
         "params.max_permutations", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"utility\":"
         "{\"model\":\"kernel_ridge\",\"kernel\":{\"name\":\"rbf\",\"gamma\":-1}}}}",
         "params.utility.kernel.gamma", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"inline\":{\"x\":[[1],[2]],\"y\":[0,1]}},\"params\":{}}",
         "data", "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"params\":{\"players\":\"features\",\"x\":[1,2,3,4]}}", "model",
         "missing_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"model\":\"m_nope\"}", "model",
         "invalid_argument", 400},
        {"{\"kind\":\"shapley\",\"params\":{}}", "data", "missing_field", 400},
        {"{\"kind\":\"shapley\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"players\":\"all\"}}",
         "params.players", "invalid_argument", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].field)
            ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", cases[i].body), cases[i].status,
                             cases[i].code, cases[i].field);
        else
            ASSERT_ERR(http_post(S, "/v1/jobs", cases[i].body), cases[i].status, cases[i].code);
    }
    /* the kernels and per-thread factors of kernel ridge on digits exceed a 10 MB budget */
    srv *small = srv_spawn("--memory-budget", "10M", NULL);
    ASSERT_ERR(http_post(small, "/v1/jobs", "{\"kind\":\"shapley\",\"data\":{\"builtin\":"
                                            "\"digits\"},\"params\":{\"utility\":{\"model\":"
                                            "\"kernel_ridge\"}}}"),
               422, "too_large");
    /* the mlp utility: two threads' training buffers of a 4-million-parameter network */
    ASSERT_ERR(http_post(small, "/v1/jobs", "{\"kind\":\"shapley\",\"data\":{\"builtin\":"
                                            "\"digits\"},\"params\":{\"utility\":{\"model\":"
                                            "\"mlp\",\"hidden\":[2000,2000]}}}"),
               422, "too_large");
    srv_stop(small, 10);
    /* features: a point of the wrong length, both x and test_index, a bad target */
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},\"params\":"
                           "{\"hidden\":[4],\"epochs\":1}}", "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\",\"x\":"
                                                  "[1,2,3]}}", mid)),
                     400, "invalid_argument", "params.x");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\",\"x\":"
                                                  "[1,2,3,4],\"test_index\":0}}", mid)),
                     400, "invalid_argument", "params.test_index");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\",\"x\":"
                                                  "[1,2,3,4],\"target\":3}}", mid)),
                     400, "invalid_argument", "params.target");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\",\"x\":"
                                                  "[1,2,3,4],\"method\":\"knn_exact\"}}", mid)),
                     400, "invalid_argument", "params.method");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\","
                                                  "\"test_index\":1000}}", mid)),
                     400, "invalid_argument", "params.test_index");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"shapley\",\"model\":\"%s\","
                                                  "\"params\":{\"players\":\"features\"}}", mid)),
                     400, "missing_field", "params.x");
}
END_TEST

Suite *e2e_shapley_suite(void)
{
    Suite *s = suite_create("e2e_shapley");
    TCase *tc = FIXTURE_CASE(s, "shapley", 300, S);
    tcase_add_test(tc, knn_exact_on_iris);
    tcase_add_test(tc, sampling_methods_report_errors_and_stop_rule);
    tcase_add_test(tc, kernel_ridge_utilities);
    tcase_add_test(tc, same_values_with_one_and_two_threads);
    tcase_add_test(tc, feature_attribution_matches_brute_force);
    tcase_add_test(tc, metrics_max_time_and_cancel);
    tcase_add_test(tc, bad_requests_name_the_field);
    tcase_add_test(tc, mlp_utility);
    return s;
}
