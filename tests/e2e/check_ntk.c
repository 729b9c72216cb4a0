/* check_ntk.c: the ntk kind end to end: NTK regression accuracy on digits, the kernels
 * as arrays (inline, JSON, NPY), cross kernels, spectrum and complexity fields, the
 * empirical kernel of a stored model and of a random network, and bad requests with the
 * field named. The numbers themselves are checked against NumPy/PyTorch fixtures by the
 * core suite (tests/core/check_ntk.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

START_TEST(digits_regression_accuracy)
{
    const char *id = job_submit(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"digits\","
                                   "\"standardize\":true},\"params\":{\"depth\":2,"
                                   "\"regression\":{\"ridge\":0},\"spectrum\":true,"
                                   "\"complexity\":true}}");
    json_t *j = job_wait(S, id, NULL, 120);
    ck_assert_msg(strcmp(jstr(j, "status"), "succeeded") == 0, "%s", json_dumps(j, 0));
    double acc = jnum(j, "result.test_accuracy");
    fprintf(stderr, "ntk e2e: digits NTK regression (depth 2) test accuracy %.4f\n", acc);
    ck_assert_msg(acc >= 0.97, "test accuracy %.4f < 0.97", acc);
    ck_assert_int_eq((int)jnum(j, "result.n_train"), 1438);
    ck_assert_int_eq((int)jnum(j, "result.n_test"), 359);
    ck_assert(jnum(j, "result.min_eigenvalue") > 0);
    ck_assert(jnum(j, "result.condition_number") > 1);
    ck_assert(isfinite(jnum(j, "result.complexity")));
    ck_assert_int_eq((int)jnum(j, "result.ntk.shape[0]"), 1438);
    ck_assert(jpath(j, "result.ntk.data") == NULL); /* 1438^2 > 65536: not inlined */
    ck_assert_int_eq((int)jnum(j, "result.ntk_test.shape[0]"), 359);
    ck_assert_int_eq((int)jnum(j, "result.eigenvalues.shape[0]"), 1438);
    ck_assert_int_eq((int)jnum(j, "result.predictions.shape[1]"), 10);
    ck_assert_str_eq(jstr(j, "request.params.mode"), "analytic");
    ck_assert(jnum(j, "progress.fraction") == 1.0);
    /* eigenvalues descending; label projections sum to ||Y||_F^2 = n_train */
    resp *e = http_getf(S, "/v1/jobs/%s/arrays/eigenvalues", id);
    ASSERT_STATUS(e, 200);
    json_t *ev = jpath(e->json, "data");
    ck_assert_uint_eq(json_array_size(ev), 1438);
    for (size_t i = 1; i < json_array_size(ev); i++)
        ck_assert(json_number_value(json_array_get(ev, i)) <=
                  json_number_value(json_array_get(ev, i - 1)));
    resp *p = http_getf(S, "/v1/jobs/%s/arrays/label_projections", id);
    double sum = 0;
    for (size_t i = 0; i < json_array_size(jpath(p->json, "data")); i++)
        sum += json_number_value(json_array_get(jpath(p->json, "data"), i));
    ck_assert_double_eq_tol(sum, 1438.0, 1e-6);
    /* the kernel as NPY: header, shape, symmetric values */
    resp *n = http_getf(S, "/v1/jobs/%s/arrays/ntk?format=npy&rows=0:3&cols=0:3", id);
    ASSERT_STATUS(n, 200);
    ck_assert(n->len > 10 && memcmp(n->body, "\x93NUMPY", 6) == 0);
    size_t hl = (unsigned char)n->body[8] | ((size_t)(unsigned char)n->body[9] << 8);
    ck_assert_ptr_nonnull(strstr(n->body + 10, "'shape': (3, 3)"));
    double v[9];
    ck_assert_uint_eq(n->len, 10 + hl + sizeof v);
    memcpy(v, n->body + 10 + hl, sizeof v);
    ck_assert(v[1] == v[3] && v[2] == v[6] && v[5] == v[7]);
    ck_assert(v[0] > v[1]);
}
END_TEST

START_TEST(small_kernels_inline_and_consistent)
{
    /* Closed-form identity network at depth 0: NNGP = w^2 x.x'/d + b^2 and NTK = NNGP +
     * w^2 * 0 ... with depth 0, Theta = K. Two points in 2-D. */
    const char *id = job_submit(S, "{\"kind\":\"ntk\",\"data\":{\"inline\":{\"x\":[[1,2],[3,-1]],"
                                   "\"y\":[0.5,1.5]}},\"params\":{\"depth\":0,\"w_std\":2,"
                                   "\"b_std\":0.5}}");
    json_t *j = job_wait(S, id, "succeeded", 30);
    /* K = 4 * x.x'/2 + 0.25: [[10.25, 2.25], [2.25, 20.25]] */
    ck_assert_double_eq_tol(jnum(j, "result.nngp.data[0][0]"), 10.25, 1e-14);
    ck_assert_double_eq_tol(jnum(j, "result.nngp.data[0][1]"), 2.25, 1e-14);
    ck_assert_double_eq_tol(jnum(j, "result.nngp.data[1][1]"), 20.25, 1e-14);
    ck_assert_double_eq_tol(jnum(j, "result.ntk.data[1][0]"), 2.25, 1e-14);
    /* relu, depth 1, diagonal only equals the full diagonal */
    json_t *a = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},"
                           "\"params\":{\"depth\":3,\"b_std\":0.1}}", "succeeded", 30);
    json_t *b = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},"
                           "\"params\":{\"depth\":3,\"b_std\":0.1,"
                           "\"diagonal_only\":true}}", "succeeded", 30);
    ck_assert_int_eq((int)jnum(b, "result.ntk.shape[0]"), 120);
    ck_assert(jpath(b, "result.ntk.shape[1]") == NULL);
    for (int i = 0; i < 120; i += 17)
        ck_assert_double_eq_tol(jnum(b, fmt("result.ntk.data[%d]", i)),
                                jnum(a, fmt("result.ntk.data[%d][%d]", i, i)), 1e-13);
    /* tanh has no closed form: issue 10's case (iris standardized, depth 2, b_std 0.1,
     * w_std 1.5, the default quadrature_tol 1e-10) succeeds and reports its quadrature;
     * raw iris (pre-activation variances near 20) succeeds too: standardizing is advice */
    json_t *q = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\","
                           "\"standardize\":true},"
                           "\"params\":{\"activation\":\"tanh\",\"depth\":2,"
                           "\"w_std\":1.5,\"b_std\":0.1}}", "succeeded", 60);
    ck_assert_str_eq(jstr(q, "result.quadrature.method"), "hermite_series+nested_gauss_legendre");
    ck_assert_double_eq(jnum(q, "result.quadrature.tolerance"), 1e-10);
    double est = jnum(q, "result.quadrature.max_error_estimate");
    ck_assert_msg(est > 0 && est <= 1e-10, "max_error_estimate %g", est);
    ck_assert(jnum(q, "result.quadrature.series_maps") > 0);
    ck_assert(jnum(q, "result.quadrature.max_series_terms") <= 128);
    ck_assert_int_eq((int)jnum(q, "result.ntk.shape[0]"), 120);
    json_t *raw = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\","
                             "\"max_train\":40,\"max_test\":10},"
                             "\"params\":{\"activation\":\"tanh\",\"depth\":1,"
                             "\"w_std\":1.5}}", "succeeded", 60);
    ck_assert(jnum(raw, "result.quadrature.max_variance") > 20);
    ck_assert(jnum(raw, "result.quadrature.max_error_estimate") <= 1e-10);
    /* closed forms report no quadrature */
    ck_assert(jpath(a, "result.quadrature") == NULL);
}
END_TEST

START_TEST(empirical_kernels)
{
    /* a random network: ntk parameterization, width from the request */
    json_t *r = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},"
                           "\"params\":{\"mode\":\"empirical\",\"width\":64,"
                           "\"depth\":2,\"regression\":{\"ridge\":0.001}}}", "succeeded", 60);
    ck_assert_str_eq(jstr(r, "request.params.kernels[0]"), "ntk");
    ck_assert(jpath(r, "result.nngp") == NULL);
    ck_assert(jnum(r, "result.test_accuracy") > 0.5);
    /* a stored model: raw inputs, the model's preprocessing */
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"wine\","
                           "\"standardize\":true},\"params\":{\"hidden\":[8],"
                           "\"epochs\":3}}", "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    json_t *e = job_run(S, fmt("{\"kind\":\"ntk\",\"model\":\"%s\",\"data\":"
                               "{\"builtin\":\"wine\"},\"params\":{\"mode\":"
                               "\"empirical\",\"output\":2}}",
                               mid), "succeeded", 60);
    ck_assert_int_eq((int)jnum(e, "result.ntk.shape[0]"), 142);
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"ntk\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"wine\"},\"params\":{\"mode\":\"empirical\",\"output\":3}}",
                                   mid)),
                     400, "invalid_argument", "params.output");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"ntk\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"wine\"},\"params\":{\"mode\":\"empirical\",\"depth\":2}}",
                                   mid)),
                     400, "invalid_argument", "params.depth");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"ntk\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"wine\",\"standardize\":true},\"params\":{\"mode\":"
                                   "\"empirical\"}}",
                                   mid)),
                     400, "unknown_field", "data.standardize");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"ntk\",\"model\":\"%s\",\"data\":{\"builtin\":"
                                   "\"wine\"}}",
                                   mid)),
                     400, "invalid_argument", "model");
}
END_TEST

START_TEST(bad_requests_name_the_field)
{
    static const struct {
        const char *body, *field, *code;
    } cases[] = {
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"depth\":-1}}",
         "params.depth", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"activation\":\"swish\"}}",
         "params.activation", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"kernels\":[\"cntk\"]}}",
         "params.kernels[0]", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"mode\":\"empirical\","
         "\"kernels\":[\"nngp\"]}}",
         "params.kernels[0]", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"width\":10}}",
         "params.width", "unknown_field"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"diagonal_only\":true,"
         "\"spectrum\":true}}",
         "params.diagonal_only", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\",\"test_fraction\":0},\"params\":"
         "{\"regression\":{}}}",
         "params.regression", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"regression\":"
         "{\"ridge\":-1}}}",
         "params.regression.ridge", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"kernels\":[\"ntk\"],"
         "\"regression\":{\"kernel\":\"nngp\"}}}",
         "params.regression.kernel", "invalid_argument"},
        {"{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\"},\"model\":\"m_x\"}", "model",
         "invalid_argument"},
        {"{\"kind\":\"ntk\",\"params\":{}}", "data", "missing_field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", cases[i].body), 400, cases[i].code,
                         cases[i].field);
    /* a kernel over the memory budget is refused at submission */
    srv *small = srv_spawn("--memory-budget", "10M", NULL);
    ASSERT_ERR(http_post(small, "/v1/jobs", "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"digits\"}}"),
               422, "too_large");
    srv_stop(small, 10);
}
END_TEST

Suite *e2e_ntk_suite(void)
{
    Suite *s = suite_create("e2e_ntk");
    TCase *tc = FIXTURE_CASE(s, "ntk", 300, S);
    tcase_add_test(tc, digits_regression_accuracy);
    tcase_add_test(tc, small_kernels_inline_and_consistent);
    tcase_add_test(tc, empirical_kernels);
    tcase_add_test(tc, bad_requests_name_the_field);
    return s;
}
