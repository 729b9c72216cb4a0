/* check_hessian.c: the hessian kind end to end: a train job, then a hessian job on its
 * model (every result field, the request's defaults, J equal to the train job's final
 * objective on the model's own data with its validation carve-out and preprocessing),
 * the Lanczos path against the exact path, Hutchinson's trace against the exact trace,
 * the density, the edge of stability, and bad requests (400 naming the field, 422 naming
 * what fits). The numbers are checked against PyTorch by the core suite
 * (tests/core/check_hessian.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

/* A model trained on iris by full-batch gradient descent with weight decay, a validation
 * carve-out and standardized inputs (so the default data must undo all three). */
static const char *iris_model(void)
{
    static char id[64];
    if (id[0])
        return id;
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\","
                           "\"standardize\":true},\"params\":{\"hidden\":[6],"
                           "\"activation\":\"tanh\",\"epochs\":30,\"batch_size\":0,"
                           "\"optimizer\":{\"name\":\"sgd\",\"lr\":0.2},"
                           "\"weight_decay\":0.01,\"validation_fraction\":0.25}}",
                        "succeeded", 60);
    snprintf(id, sizeof id, "%s", jstr(t, "result.model"));
    return id;
}

static double train_objective(const char *mid)
{
    resp *m = http_getf(S, "/v1/models/%s?include=", mid);
    ASSERT_STATUS(m, 200);
    const char *job = jstr(m->json, "source.job");
    ck_assert_ptr_nonnull(job);
    json_t *j = job_get(S, job);
    return jnum(j, "result.final.objective");
}

START_TEST(train_then_hessian)
{
    const char *mid = iris_model();
    json_t *h = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":{\"top_k\":3,"
                               "\"bottom_k\":2,\"density\":true,\"bins\":40}}", mid),
                        "succeeded", 60);
    /* P = 4*6 + 6 + 6*3 + 3 = 51: the exact path */
    ck_assert_int_eq((int)jnum(h, "result.param_count"), 51);
    ck_assert_str_eq(jstr(h, "result.method"), "exact");
    ck_assert_int_eq((int)jnum(h, "result.n"), 90); /* 120 training points less 25% */
    /* J on the default data equals what the train job minimized */
    double J = jnum(h, "result.objective"), Jt = train_objective(mid);
    ck_assert_msg(fabs(J - Jt) <= 1e-12 * fabs(Jt), "J %.17g vs train objective %.17g", J, Jt);
    double t0 = jnum(h, "result.eigenvalues_top[0]"), t1 = jnum(h, "result.eigenvalues_top[1]"),
           t2 = jnum(h, "result.eigenvalues_top[2]");
    double b0 = jnum(h, "result.eigenvalues_bottom[0]"),
           b1 = jnum(h, "result.eigenvalues_bottom[1]");
    ck_assert(t0 >= t1 && t1 >= t2 && b0 <= b1 && b1 <= t2);
    ck_assert(jnum(h, "result.sharpness") == t0);
    ck_assert(jnum(h, "result.min_eigenvalue") == b0);
    ck_assert_str_eq(jstr(h, "result.trace_method"), "exact");
    ck_assert(jnum(h, "result.trace_stderr") == 0);
    ck_assert(jnum(h, "result.trace") > t0);
    ck_assert(jnum(h, "result.gradient_norm") > 0);
    ck_assert(json_is_boolean(jpath(h, "result.second_order_stationary")));
    ck_assert(jnum(h, "result.edge_of_stability.lr") == 0.2);
    ck_assert_double_eq_tol(jnum(h, "result.edge_of_stability.two_over_lr"), 10.0, 1e-12);
    ck_assert_double_eq_tol(jnum(h, "result.edge_of_stability.ratio"), t0 * 0.1, 1e-15);
    ck_assert_uint_eq(json_array_size(jpath(h, "result.density.grid")), 40);
    ck_assert_uint_eq(json_array_size(jpath(h, "result.density.values")), 40);
    ck_assert(jnum(h, "result.density.sigma") > 0);
    ck_assert_uint_eq(json_array_size(jpath(h, "result.warnings")), 0);
    /* the request with every default */
    ck_assert(jnum(h, "request.params.l2") == 0.01);
    ck_assert_str_eq(jstr(h, "request.params.method"), "auto");
    ck_assert_str_eq(jstr(h, "request.params.sigma"), "auto");
    ck_assert(jnum(h, "request.params.tolerance") == 1e-8);
    ck_assert(jnum(h, "request.params.trace_samples") == 0);
    ck_assert(json_is_null(jpath(h, "request.data")));
    ck_assert(jnum(h, "progress.fraction") == 1.0);

    /* Lanczos forced on the same model: the same extreme eigenvalues; Hutchinson */
    json_t *l = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":{\"method\":"
                               "\"lanczos\",\"top_k\":3,\"bottom_k\":2,\"trace_samples\":400,"
                               "\"seed\":4}}", mid),
                        "succeeded", 60);
    ck_assert_str_eq(jstr(l, "result.method"), "lanczos");
    ck_assert_str_eq(jstr(l, "result.trace_method"), "hutchinson");
    double scale = fmax(fabs(t0), fabs(b0));
    ck_assert(fabs(jnum(l, "result.eigenvalues_top[0]") - t0) <= 1e-8 * scale);
    ck_assert(fabs(jnum(l, "result.eigenvalues_top[2]") - t2) <= 1e-8 * scale);
    ck_assert(fabs(jnum(l, "result.eigenvalues_bottom[1]") - b1) <= 1e-8 * scale);
    double tr = jnum(h, "result.trace"), te = jnum(l, "result.trace"),
           se = jnum(l, "result.trace_stderr");
    ck_assert_msg(fabs(te - tr) <= 3 * se, "hutchinson %g +- %g vs exact %g", te, se, tr);
    ck_assert(jnum(l, "result.lanczos_steps") <= 51);
    /* the SSE stream carried every Lanczos step with its residual */
    sse_res *ev = sse_read(S, fmt("/v1/jobs/%s/events", jstr(l, "id")), 30);
    ck_assert(ev->closed);
    int steps = 0;
    double last = NAN;
    for (int i = 0; i < ev->n; i++)
        if (strcmp(ev->ev[i].type, "progress") == 0 && jpath(ev->ev[i].json, "metrics.lanczos_step")) {
            steps++;
            last = jnum(ev->ev[i].json, "metrics.residual");
        }
    ck_assert_msg(steps == (int)jnum(l, "result.lanczos_steps") ||
                  steps + 1 == (int)jnum(l, "result.lanczos_steps"),
                  "%d step events for %g steps", steps, jnum(l, "result.lanczos_steps"));
    ck_assert_msg(last <= 1e-8, "last residual %g", last);

    /* explicit data: the whole training split of the raw data (no carve-out), l2 given */
    json_t *d = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"data\":{\"builtin\":"
                               "\"iris\"},\"params\":{\"l2\":0}}", mid),
                        "succeeded", 60);
    ck_assert_int_eq((int)jnum(d, "result.n"), 120);
    ck_assert(jnum(d, "result.sharpness") != t0);
    /* "data": null is the model's own data, as when absent */
    json_t *z = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"data\":null}", mid),
                        "succeeded", 60);
    ck_assert_int_eq((int)jnum(z, "result.n"), 90);
    ck_assert(jnum(z, "result.sharpness") == t0);
}
END_TEST

/* Softmax regression (no hidden layer): the Hessian has a null space of dimension d + 1
 * (adding one vector to every class's weights leaves the softmax unchanged), so 0 is an
 * eigenvalue of multiplicity 5 on iris. The exact path shows it; Lanczos reports each
 * distinct eigenvalue once and says so. */
START_TEST(repeated_eigenvalues)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\","
                           "\"standardize\":true},\"params\":{\"hidden\":[],\"epochs\":5}}",
                        "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    json_t *e = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":"
                               "{\"bottom_k\":6}}", mid), "succeeded", 60);
    double top = jnum(e, "result.sharpness");
    for (int i = 0; i < 5; i++)
        ck_assert(fabs(jnum(e, fmt("result.eigenvalues_bottom[%d]", i))) <= 1e-12 * top);
    ck_assert(jnum(e, "result.eigenvalues_bottom[5]") > 1e-6 * top);
    json_t *l = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":"
                               "{\"method\":\"lanczos\",\"top_k\":12}}", mid),
                        "succeeded", 60);
    ck_assert(jnum(l, "result.lanczos_steps") <= 11);
    ck_assert(json_is_null(jpath(l, "result.eigenvalues_top[11]")));
    ck_assert_ptr_nonnull(strstr(jstr(l, "result.warnings[0]"), "invariant subspace"));
    ck_assert(fabs(jnum(l, "result.sharpness") - top) <= 1e-10 * top);
}
END_TEST

/* The data's labels are the model's by original label: iris restricted to classes 1 and 2
 * is classes 1 and 2 of a model trained on all three (it was read as 0 and 1, so a
 * model of classes 0 and 1 took it silently); a label the model was not trained on is a
 * 400 on data. */
START_TEST(labels_follow_the_model)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\","
                           "\"classes\":[0,1]},\"params\":{\"hidden\":[4],\"epochs\":5}}",
                        "succeeded", 60);
    const char *two = jstr(t, "result.model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                               fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"data\":"
                                   "{\"builtin\":\"iris\",\"classes\":[1,2]}}", two)),
                     400, "invalid_argument", "data");
    /* classes known to the model are accepted whatever the data's own indices */
    json_t *c = job_run(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"data\":"
                               "{\"builtin\":\"iris\",\"classes\":[1,2]}}", iris_model()),
                        "succeeded", 60);
    ck_assert(isfinite(jnum(c, "result.objective")));
}
END_TEST

START_TEST(bad_requests_name_the_field)
{
    const char *mid = iris_model();
    static const struct {
        const char *params, *field, *code;
    } cases[] = {
        {"{\"top_k\":-1}", "params.top_k", "invalid_argument"},
        {"{\"top_k\":1.5}", "params.top_k", "invalid_argument"},
        {"{\"top_k\":52}", "params.top_k", "invalid_argument"},
        {"{\"bottom_k\":52}", "params.bottom_k", "invalid_argument"},
        {"{\"trace_samples\":-3}", "params.trace_samples", "invalid_argument"},
        {"{\"probes\":5}", "params.probes", "invalid_argument"},
        {"{\"density\":true,\"sigma\":0}", "params.sigma", "invalid_argument"},
        {"{\"density\":true,\"sigma\":\"wide\"}", "params.sigma", "invalid_argument"},
        {"{\"density\":true,\"bins\":0}", "params.bins", "invalid_argument"},
        {"{\"density\":\"yes\"}", "params.density", "invalid_argument"},
        {"{\"method\":\"power\"}", "params.method", "invalid_argument"},
        {"{\"l2\":-1}", "params.l2", "invalid_argument"},
        {"{\"tolerance\":0}", "params.tolerance", "invalid_argument"},
        {"{\"method\":\"lanczos\",\"top_k\":5,\"bottom_k\":5,\"max_steps\":4}",
         "params.max_steps", "invalid_argument"},
        {"{\"topk\":3}", "params.topk", "unknown_field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_ERR_FIELD(http_post(S, "/v1/jobs",
                                   fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":%s}",
                                       mid, cases[i].params)),
                         400, cases[i].code, cases[i].field);
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", "{\"kind\":\"hessian\"}"), 400, "missing_field",
                     "model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", "{\"kind\":\"hessian\",\"model\":\"m_nope\"}"), 400,
                     "invalid_argument", "model");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"hessian\",\"model\":\"%s\","
                                                  "\"data\":{\"builtin\":\"wine\"}}", mid)),
                     400, "invalid_argument", "data");
    ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", fmt("{\"kind\":\"hessian\",\"model\":\"%s\","
                                                  "\"data\":{\"builtin\":\"iris\","
                                                  "\"standardize\":true}}", mid)),
                     400, "unknown_field", "data.standardize");
    resp *nf = http_get(S, "/v1/models/m_nope");
    ASSERT_STATUS(nf, 404);
}
END_TEST

START_TEST(over_budget_names_what_fits)
{
    /* P = 64*40 + 40 + 40*10 + 10 = 3010 > 3000: auto is Lanczos; exact needs 72 MB */
    srv *small = srv_spawn("--memory-budget", "40M", NULL);
    json_t *t = job_run(small, "{\"kind\":\"train\",\"data\":{\"builtin\":\"digits\"},"
                               "\"params\":{\"hidden\":[40],\"epochs\":1}}", "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    resp *r = http_post(small, "/v1/jobs", fmt("{\"kind\":\"hessian\",\"model\":\"%s\","
                                               "\"params\":{\"method\":\"exact\"}}", mid));
    ASSERT_ERR(r, 422, "too_large");
    ck_assert_ptr_nonnull(strstr(jstr(r->json, "error.message"), "params.method \"lanczos\""));
    resp *q = http_post(small, "/v1/jobs", fmt("{\"kind\":\"hessian\",\"model\":\"%s\","
                                               "\"params\":{\"max_steps\":3000}}", mid));
    ASSERT_ERR(q, 422, "too_large");
    ck_assert_ptr_nonnull(strstr(jstr(q->json, "error.message"), "params.max_steps <= "));
    json_t *h = job_run(small, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":"
                                   "{\"top_k\":2,\"tolerance\":1e-6}}", mid), "succeeded", 120);
    ck_assert_str_eq(jstr(h, "result.method"), "lanczos");
    ck_assert(json_is_null(jpath(h, "result.trace")));
    ck_assert(jnum(h, "result.sharpness") >= jnum(h, "result.eigenvalues_top[1]"));
    srv_stop(small, 10);
}
END_TEST

START_TEST(cancel_within_a_second)
{
    /* P = 85,002 (digits, hidden [256, 256]): Lanczos, a step per progress report */
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"digits\"},"
                           "\"params\":{\"hidden\":[256,256],\"epochs\":1}}", "succeeded", 60);
    const char *id = job_submit(S, fmt("{\"kind\":\"hessian\",\"model\":\"%s\",\"params\":"
                                       "{\"top_k\":5,\"bottom_k\":5,\"tolerance\":1e-15,"
                                       "\"density\":true}}", jstr(t, "result.model")));
    job_wait(S, id, "running", 30);
    sleep_s(1.5);
    json_t *run = job_get(S, id);
    const char *msg = jstr(run, "progress.message");
    ck_assert_msg(msg && strstr(msg, "lanczos step"), "progress message %s", msg ? msg : "(none)");
    ck_assert(jnum(run, "progress.fraction") > 0);
    double t0 = now_s();
    resp *r = http_req(S, "POST", fmt("/v1/jobs/%s/cancel", id), NULL);
    ASSERT_STATUS(r, 202);
    job_wait(S, id, "cancelled", 5);
    double dt = now_s() - t0;
    fprintf(stderr, "hessian e2e: cancelled a running Lanczos (P = 85002) in %.3f s\n", dt);
    ck_assert_msg(dt < 1.0, "cancellation took %.3f s", dt);
}
END_TEST

Suite *e2e_hessian_suite(void)
{
    Suite *s = suite_create("e2e_hessian");
    TCase *tc = FIXTURE_CASE(s, "hessian", 300, S);
    tcase_add_test(tc, train_then_hessian);
    tcase_add_test(tc, repeated_eigenvalues);
    tcase_add_test(tc, labels_follow_the_model);
    tcase_add_test(tc, bad_requests_name_the_field);
    tcase_add_test(tc, over_budget_names_what_fits);
    tcase_add_test(tc, cancel_within_a_second);
    return s;
}
