/* check_pac_bayes.c: the pac_bayes kind end to end.
 * - calculator mode against the 60-digit reference (tests/reference/pacbayes_fixtures.json,
 *   from pacbayes_ref.py) to 1e-10 on 24 cases through HTTP (the core suite covers all 844);
 * - a stored model (Done-when 2 and 3): the reported KL of every grid point equals the
 *   closed form recomputed here from the downloaded weights, initial weights and sigmas
 *   (1e-10 relative), also for an optimized posterior (its posterior_mean /
 *   posterior_sigma arrays); the reported empirical risk lies within 5 standard errors of
 *   an independent Monte Carlo estimate computed here (own forward pass, own normals);
 *   the confidence bookkeeping of API.md 5.5 (delta / (F G) per pair, delta_mc / G per
 *   estimate) and every bound of every grid point recomputed here from (e_bar, KL, m,
 *   delta') with formulas written in this file; every bound in [e_hat, 1];
 * - Done-when 4 (blobs): a model trained on 30000 blobs points with test error < 10% gets
 *   an optimized bound < 0.3;
 * - progress metrics and cancellation within 1 s; bad requests with the field named.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--workers", "2", "--blas-threads", "1")

#define FIX "tests/reference/pacbayes_fixtures.json"

/* ---- formulas written independently of core/pacbayes.c ------------------------------ */

static double bkl(double q, double p)
{
    double a = q > 0 ? q * log(q / p) : 0, b = q < 1 ? (1 - q) * log((1 - q) / (1 - p)) : 0;
    return a + b;
}

/* sup{p : kl(q||p) <= c} by plain bisection (accurate to ~1e-9 for the c used here). */
static double kinv(double q, double c)
{
    double lo = q, hi = 1;
    if (q >= 1)
        return 1;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (bkl(q, mid) <= c)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static double clamp1(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

static double ref_bound(const char *fam, double e, double kl, double m, double dl)
{
    if (strcmp(fam, "mcallester") == 0)
        return clamp1(e + sqrt((kl + log(2 * m / dl)) / (2 * (m - 1))));
    if (strcmp(fam, "seeger") == 0)
        return clamp1(kinv(e, (kl + log(2 * sqrt(m) / dl)) / m));
    double best = 1e300;
    for (int j = -3; j <= 4; j++) {
        double C = pow(2, j);
        double v = (1 - exp(-C * e - (kl + log(8 / dl)) / m)) / (1 - exp(-C));
        if (v < best)
            best = v;
    }
    return clamp1(best);
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(calculator_matches_reference)
{
    json_error_t je;
    json_t *f = json_load_file(FIX, 0, &je);
    ck_assert_msg(f != NULL, "%s: %s", FIX, je.text);
    json_t *cases = json_object_get(f, "bounds");
    size_t n = json_array_size(cases), done = 0;
    for (size_t i = 0; i < n && done < 24; i += 37, done++) {
        json_t *c = json_array_get(cases, i);
        double m = json_number_value(json_object_get(c, "m"));
        const char *body = fmt("{\"kind\":\"pac_bayes\",\"params\":{\"kl\":%.17g,\"m\":%.0f,"
                               "\"empirical_risk\":%.17g,\"delta\":%.17g}}",
                               json_number_value(json_object_get(c, "kl")), m,
                               json_number_value(json_object_get(c, "e")),
                               json_number_value(json_object_get(c, "delta")));
        json_t *j = job_run(S, body, "succeeded", 30);
        static const char *const fams[3] = {"mcallester", "seeger", "catoni"};
        double mn = 2;
        for (int k = 0; k < 3; k++) {
            json_t *ref = json_object_get(c, fams[k]);
            json_t *got = jpath(j, fmt("result.bounds.%s", fams[k]));
            ck_assert(got != NULL);
            if (json_is_null(ref)) {
                ck_assert(json_is_null(got));
                continue;
            }
            double r = json_number_value(ref), g = json_number_value(got);
            ck_assert_msg(fabs(r - g) <= 1e-10, "%s: %s %.17g vs %.17g", body, fams[k], g, r);
            if (g < mn)
                mn = g;
        }
        ck_assert_double_eq(jnum(j, "result.bound"), mn);
        ck_assert(json_is_null(jpath(j, "result.train_error")));
        ck_assert(json_is_null(jpath(j, "result.delta_mc")));
        ck_assert_msg(strstr(jstr(j, "result.warnings[0]"), "3 delta") != NULL, "%s",
                      jstr(j, "result.warnings[0]"));
    }
    /* the filled request: delta and bounds defaults */
    json_t *j = job_run(S, "{\"kind\":\"pac_bayes\",\"params\":{\"kl\":10,\"m\":5,"
                           "\"empirical_risk\":0.1,\"bounds\":[\"seeger\",\"catoni\"]}}",
                        "succeeded", 30);
    ck_assert_double_eq(jnum(j, "request.params.delta"), 0.05);
    ck_assert(json_is_null(jpath(j, "result.bounds.seeger"))); /* m < 8 */
    ck_assert(jpath(j, "result.bounds.mcallester") == NULL);
    ck_assert_double_eq(jnum(j, "result.bound"), jnum(j, "result.bounds.catoni"));
    json_decref(f);
}
END_TEST

/* A 3-class 2-D problem with overlap (x: n x 2, y: n) as inline JSON lists. */
static void make_data(size_t n, unsigned seed, double *x, int *y)
{
    unsigned short xs[3] = {(unsigned short)seed, 7, 11};
    static const double cx[3] = {0, 2.2, -1}, cy[3] = {0, 0.4, 2.0};
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 3);
        double u1 = erand48(xs), u2 = erand48(xs);
        double r = sqrt(-2 * log(1 - u1));
        y[i] = c;
        x[2 * i] = cx[c] + 0.9 * r * cos(2 * M_PI * u2);
        x[2 * i + 1] = cy[c] + 0.9 * r * sin(2 * M_PI * u2);
    }
}

static char *xy_json(const double *x, const int *y, size_t n, const char *xn, const char *yn)
{
    size_t cap = n * 64 + 64, off = 0;
    char *b = malloc(cap);
    off += (size_t)snprintf(b + off, cap - off, "\"%s\":[", xn);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(b + off, cap - off, "%s[%.17g,%.17g]", i ? "," : "", x[2 * i],
                                x[2 * i + 1]);
    off += (size_t)snprintf(b + off, cap - off, "],\"%s\":[", yn);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(b + off, cap - off, "%s%d", i ? "," : "", y[i]);
    snprintf(b + off, cap - off, "]");
    return b;
}

/* The model's layers flattened in the order of API.md 4 (W_l row-major, then b_l). */
static double *flatten(json_t *layers, size_t *P)
{
    size_t cap = 4096, n = 0;
    double *v = malloc(cap * sizeof(double));
    for (size_t l = 0; l < json_array_size(layers); l++) {
        json_t *L = json_array_get(layers, l), *W = json_object_get(L, "weight");
        json_t *B = json_object_get(L, "bias");
        for (size_t i = 0; i < json_array_size(W); i++)
            for (size_t k = 0; k < json_array_size(json_array_get(W, i)); k++)
                v[n++] = json_number_value(json_array_get(json_array_get(W, i), k));
        for (size_t i = 0; i < json_array_size(B); i++)
            v[n++] = json_number_value(json_array_get(B, i));
    }
    *P = n;
    return v;
}

static double kl_closed(const double *mu, const double *th0, const double *sq, double sq_iso,
                        double sp, size_t P)
{
    long double s = 0;
    for (size_t i = 0; i < P; i++) {
        double q = sq ? sq[i] : sq_iso, dm = mu[i] - th0[i];
        s += (long double)(q * q / (sp * sp)) + (long double)(dm * dm / (sp * sp)) - 1 +
             (long double)log(sp * sp / (q * q));
    }
    return (double)(s / 2);
}

/* The error of a 2-H-3 relu net (flat theta, API.md layout) on n points. */
static double net_error(const double *th, size_t H, const double *x, const int *y, size_t n)
{
    const double *W1 = th, *b1 = th + 2 * H, *W2 = b1 + H, *b2 = W2 + 3 * H;
    size_t bad = 0;
    double h[64];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < H; j++) {
            double z = W1[2 * j] * x[2 * i] + W1[2 * j + 1] * x[2 * i + 1] + b1[j];
            h[j] = z > 0 ? z : 0;
        }
        int best = 0;
        double fb = -1e300;
        for (int c = 0; c < 3; c++) {
            double f = b2[c];
            for (size_t j = 0; j < H; j++)
                f += W2[c * H + j] * h[j];
            if (f > fb) {
                fb = f;
                best = c;
            }
        }
        bad += best != y[i];
    }
    return (double)bad / (double)n;
}

/* Checks the bookkeeping of a model-mode result r (the job object). */
static void check_bookkeeping(json_t *j)
{
    double delta = jnum(j, "result.delta"), dmc = jnum(j, "result.delta_mc");
    double F = jnum(j, "result.families"), G = jnum(j, "result.grid_points");
    double m = jnum(j, "result.m"), N = jnum(j, "result.mc_samples");
    ck_assert_double_eq_tol(jnum(j, "result.delta_pair"), delta / (F * G), 1e-18);
    ck_assert_double_eq_tol(jnum(j, "result.delta_mc_pair"), dmc / G, 1e-18);
    ck_assert_int_eq((int)G, (int)json_array_size(jpath(j, "result.grid")));
    double dp = delta / (F * G), cmc = log(2 / (dmc / G)) / N, best = 2;
    json_t *fams = jpath(j, "request.params.bounds");
    ck_assert_int_eq((int)F, (int)json_array_size(fams));
    for (size_t f = 0; f < json_array_size(fams); f++) {
        const char *fam = json_string_value(json_array_get(fams, f));
        double fbest = 2;
        for (size_t g = 0; g < (size_t)G; g++) {
            json_t *ge = jpath(j, fmt("result.grid[%zu]", g));
            if (json_is_true(json_object_get(ge, "skipped")))
                continue;
            double e = jnum(ge, "empirical_risk"), eb = jnum(ge, "empirical_risk_upper");
            double kl = jnum(ge, "kl"), b = jnum(ge, fmt("bounds.%s", fam));
            ck_assert_msg(fabs(eb - kinv(e, cmc)) <= 1e-9, "e_bar %g vs %g", eb, kinv(e, cmc));
            double rb = ref_bound(fam, eb, kl, m, dp);
            ck_assert_msg(fabs(b - rb) <= 1e-9, "grid %zu %s: %.17g vs %.17g", g, fam, b, rb);
            ck_assert(b >= e && b <= 1);
            if (b < fbest)
                fbest = b;
        }
        ck_assert_double_eq_tol(jnum(j, fmt("result.bounds.%s", fam)), fbest, 1e-15);
        if (fbest < best)
            best = fbest;
    }
    ck_assert_double_eq_tol(jnum(j, "result.bound"), best, 1e-15);
    ck_assert(jnum(j, "result.bound") >= jnum(j, "result.empirical_risk"));
    ck_assert(jnum(j, "progress.fraction") == 1.0);
}

START_TEST(stored_model_kl_risk_and_bookkeeping)
{
    enum { NTR = 240, NTE = 90, H = 16 };
    double x[2 * NTR], xt[2 * NTE];
    int y[NTR], yt[NTE];
    make_data(NTR, 1, x, y);
    make_data(NTE, 2, xt, yt);
    char *tr = xy_json(x, y, NTR, "x", "y"), *te = xy_json(xt, yt, NTE, "x_test", "y_test");
    json_t *t = job_run(S, fmt("{\"kind\":\"train\",\"data\":{\"inline\":{%s,%s}},\"params\":"
                               "{\"hidden\":[%d],\"epochs\":60,\"batch_size\":16,\"optimizer\":"
                               "{\"name\":\"adam\",\"lr\":0.01}}}", tr, te, H),
                        "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    resp *mr = http_getf(S, "/v1/models/%s?include=weights,initial", mid);
    ASSERT_STATUS(mr, 200);
    size_t P, P0;
    double *w = flatten(jpath(mr->json, "layers"), &P);
    double *w0 = flatten(jpath(mr->json, "initial_layers"), &P0);
    ck_assert_int_eq((int)P, 2 * H + H + 3 * H + 3);
    ck_assert_int_eq((int)P, (int)P0);

    /* auto posterior on a 5-point grid, data defaulted to the model's own */
    json_t *j = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                               "\"prior\":{\"grid\":{\"min\":0.01,\"max\":0.3,\"count\":5}},"
                               "\"mc_samples\":400,\"seed\":3}}", mid),
                        "succeeded", 60);
    ck_assert_int_eq((int)jnum(j, "result.m"), NTR);
    ck_assert_int_eq((int)jnum(j, "result.param_count"), (int)P);
    ck_assert_str_eq(jstr(j, "request.params.prior.center"), "init");
    ck_assert_str_eq(jstr(j, "request.params.posterior"), "auto");
    check_bookkeeping(j);
    for (size_t g = 0; g < 5; g++) {
        json_t *ge = jpath(j, fmt("result.grid[%zu]", g));
        double sp = jnum(ge, "sigma_prior"), sq = jnum(ge, "sigma_posterior");
        ck_assert_double_eq_tol(sp, 0.01 * pow(30, g / 4.0), 1e-12 * sp);
        double kl = kl_closed(w, w0, NULL, sq, sp, P);
        ck_assert_msg(fabs(jnum(ge, "kl") - kl) <= 1e-10 * kl, "KL %.17g vs %.17g",
                      jnum(ge, "kl"), kl);
    }
    /* the empirical risk against an independent Monte Carlo estimate */
    double sq = jnum(j, "result.sigma_posterior"), e_ours = jnum(j, "result.empirical_risk");
    size_t Nind = 3000, Nours = 400;
    unsigned short xs[3] = {4, 5, 6};
    double *th = malloc(P * sizeof(double)), s1 = 0, s2 = 0;
    for (size_t k = 0; k < Nind; k++) {
        for (size_t i = 0; i < P; i++) {
            double u1 = erand48(xs), u2 = erand48(xs);
            th[i] = w[i] + sq * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
        }
        double e = net_error(th, H, x, y, NTR);
        s1 += e;
        s2 += e * e;
    }
    double mean = s1 / (double)Nind, var = s2 / (double)Nind - mean * mean;
    double se = sqrt(var / (double)Nind + var / (double)Nours);
    fprintf(stderr, "pac_bayes e2e: e_hat %.5f, independent %.5f (se %.5f), bound %.4f\n",
            e_ours, mean, se, jnum(j, "result.bound"));
    ck_assert_msg(fabs(e_ours - mean) <= 5 * se + 1e-12, "e_hat %g vs independent %g (se %g)",
                  e_ours, mean, se);
    ck_assert_double_eq_tol(jnum(j, "result.train_error"), net_error(w, H, x, y, NTR), 1e-15);
    ck_assert(jnum(j, "result.test_error_posterior") >= 0);
    ck_assert_int_eq((int)jnum(j, "result.n_test"), NTE);

    /* the same job again: identical numbers (deterministic) */
    json_t *j2 = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                                "\"prior\":{\"grid\":{\"min\":0.01,\"max\":0.3,\"count\":5}},"
                                "\"mc_samples\":400,\"seed\":3}}", mid),
                         "succeeded", 60);
    ck_assert(jnum(j2, "result.bound") == jnum(j, "result.bound"));
    ck_assert(jnum(j2, "result.test_error_posterior") == jnum(j, "result.test_error_posterior"));

    /* fixed sigma, zero centre, one family: G = 1, F = 1 */
    json_t *k = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                               "\"prior\":{\"center\":\"zero\",\"sigma\":0.5},\"posterior\":"
                               "{\"sigma\":0.05},\"bounds\":[\"catoni\"],\"mc_samples\":200}}",
                               mid),
                        "succeeded", 60);
    check_bookkeeping(k);
    double *zero = calloc(P, sizeof(double));
    double klz = kl_closed(w, zero, NULL, 0.05, 0.5, P);
    ck_assert(fabs(jnum(k, "result.kl") - klz) <= 1e-10 * klz);
    ck_assert_double_eq(jnum(k, "result.delta_pair"), 0.05);

    /* optimized posterior: KL from the posterior arrays */
    json_t *o = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                               "\"prior\":{\"grid\":{\"min\":0.01,\"max\":1,\"count\":6}},"
                               "\"posterior\":{\"optimize\":{\"epochs\":20,\"lr\":0.01}},"
                               "\"mc_samples\":300}}", mid),
                        "succeeded", 60);
    check_bookkeeping(o);
    resp *am = http_getf(S, "/v1/jobs/%s/arrays/posterior_mean", jstr(o, "id"));
    resp *as = http_getf(S, "/v1/jobs/%s/arrays/posterior_sigma", jstr(o, "id"));
    ASSERT_STATUS(am, 200);
    ASSERT_STATUS(as, 200);
    double *mu = malloc(P * sizeof(double)), *sg = malloc(P * sizeof(double));
    double smin = 1e300, smax = 0;
    for (size_t i = 0; i < P; i++) {
        mu[i] = json_number_value(json_array_get(jpath(am->json, "data"), i));
        sg[i] = json_number_value(json_array_get(jpath(as->json, "data"), i));
        smin = fmin(smin, sg[i]);
        smax = fmax(smax, sg[i]);
    }
    ck_assert_double_eq(jnum(o, "result.sigma_posterior.min"), smin);
    ck_assert_double_eq(jnum(o, "result.sigma_posterior.max"), smax);
    for (size_t g = 0; g < 6; g++) {
        json_t *ge = jpath(o, fmt("result.grid[%zu]", g));
        double kl = kl_closed(mu, w0, sg, 0, jnum(ge, "sigma_prior"), P);
        ck_assert_msg(fabs(jnum(ge, "kl") - kl) <= 1e-10 * kl, "KL %.17g vs %.17g",
                      jnum(ge, "kl"), kl);
    }
    fprintf(stderr, "pac_bayes e2e: small model: auto bound %.4f, optimized %.4f\n",
            jnum(j, "result.bound"), jnum(o, "result.bound"));
    free(mu);
    free(sg);
    free(zero);
    free(th);
    free(w);
    free(w0);
    free(tr);
    free(te);
}
END_TEST

START_TEST(blobs_optimized_bound)
{
    /* Done-when 4: 30000 training points (37500 before the 0.2 test split). */
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"blobs\",\"n\":37500,"
                           "\"seed\":1},\"params\":{\"hidden\":[32],\"epochs\":5,\"optimizer\":"
                           "{\"name\":\"adam\",\"lr\":0.001}}}", "succeeded", 60);
    ck_assert(1 - jnum(t, "result.final.test_accuracy") < 0.1);
    double t0 = now_s();
    json_t *j = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                               "\"posterior\":{\"optimize\":{}}}}", jstr(t, "result.model")),
                        "succeeded", 120);
    fprintf(stderr, "pac_bayes e2e: blobs m=%d optimize bound %.4f (posterior test error %.5f, "
            "%.1f s)\n", (int)jnum(j, "result.m"), jnum(j, "result.bound"),
            jnum(j, "result.test_error_posterior"), now_s() - t0);
    ck_assert_int_eq((int)jnum(j, "result.m"), 30000);
    ck_assert(jnum(j, "result.bound") < 0.3);
    ck_assert_int_eq((int)jnum(j, "request.params.posterior.optimize.epochs"), 50);
    check_bookkeeping(j);
}
END_TEST

START_TEST(progress_and_cancel)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"digits\"},\"params\":"
                           "{\"hidden\":[32],\"epochs\":2}}", "succeeded", 60);
    const char *id = job_submit(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{"
                                       "\"mc_samples\":1000000}}", jstr(t, "result.model")));
    job_wait(S, id, "running", 30);
    double t0 = now_s();
    json_t *j = NULL;
    while (now_s() - t0 < 20) {
        j = job_get(S, id);
        if (jnum(j, "progress.fraction") > 0.02)
            break;
        sleep_s(0.05);
    }
    ck_assert_msg(strstr(jstr(j, "progress.message"), "samples") != NULL, "%s",
                  jstr(j, "progress.message"));
    resp *c = http_post(S, fmt("/v1/jobs/%s/cancel", id), "");
    ck_assert(c->status == 202 || c->status == 200);
    t0 = now_s();
    json_t *d = job_wait(S, id, NULL, 10);
    ck_assert_str_eq(jstr(d, "status"), "cancelled");
    ck_assert_msg(now_s() - t0 < 1.5, "cancel took %.2f s", now_s() - t0);
    /* the stream carried progress metrics */
    sse_res *ev = sse_read(S, fmt("/v1/jobs/%s/events", id), 10);
    int metrics = 0;
    for (int i = 0; i < ev->n; i++)
        if (ev->ev[i].json && jpath(ev->ev[i].json, "metrics.running_error"))
            metrics++;
    ck_assert_int_ge(metrics, 1);
}
END_TEST

START_TEST(bad_requests_name_the_field)
{
    json_t *t = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},\"params\":"
                           "{\"hidden\":[4],\"epochs\":1}}", "succeeded", 60);
    const char *mid = jstr(t, "result.model");
    json_t *tr = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"linear\",\"n\":50},"
                            "\"params\":{\"hidden\":[4],\"epochs\":1}}", "succeeded", 60);
    const char *rid = jstr(tr, "result.model");
    json_t *ti = job_run(S, fmt("{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},\"params\":"
                                "{\"hidden\":[4],\"epochs\":1,\"init_model\":\"%s\"}}", mid),
                         "succeeded", 60);
    const char *iid = jstr(ti, "result.model");
    resp *up = http_post(S, "/v1/models",
                         "{\"arch\":{\"input_dim\":4,\"hidden\":[],\"output_dim\":3},"
                         "\"task\":\"classification\",\"loss\":\"cross_entropy\",\"n_classes\":3,"
                         "\"layers\":[{\"weight\":[[1,0,0,0],[0,1,0,0],[0,0,1,0]],"
                         "\"bias\":[0,0,0]}]}");
    ASSERT_STATUS(up, 201);
    const char *uid = jstr(up->json, "id");
    const char *M = fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":", mid);
    const struct {
        const char *body, *field, *code;
    } cases[] = {
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"empirical_risk\":0.1}}", "params.m",
         "missing_field"},
        {"{\"kind\":\"pac_bayes\",\"params\":{}}", "params.kl", "missing_field"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":1,\"empirical_risk\":0.1}}",
         "params.m", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10.5,\"empirical_risk\":0.1}}",
         "params.m", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":-1,\"m\":10,\"empirical_risk\":0.1}}",
         "params.kl", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":1.5}}",
         "params.empirical_risk", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"delta\":0}}", "params.delta", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"delta\":1}}", "params.delta", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"bounds\":[\"pinsker\"]}}", "params.bounds[0]", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"bounds\":[\"seeger\",\"seeger\"]}}", "params.bounds[1]", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"bounds\":[]}}", "params.bounds", "invalid_argument"},
        {"{\"kind\":\"pac_bayes\",\"params\":{\"kl\":1,\"m\":10,\"empirical_risk\":0.1,"
         "\"mc_samples\":5}}", "params.mc_samples", "unknown_field"},
        {"{\"kind\":\"pac_bayes\",\"data\":{\"builtin\":\"iris\"},\"params\":{\"kl\":1,"
         "\"m\":10,\"empirical_risk\":0.1}}", "model", "missing_field"},
        {"{\"kind\":\"pac_bayes\",\"model\":\"m_0000000000000000\"}", "model",
         "invalid_argument"},
        {fmt("%s{\"kl\":3}}", M), "params.kl", "invalid_argument"},
        /* one training point: the bounds need m >= 2 (it used to fail at run time) */
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"data\":{\"builtin\":\"iris\","
             "\"max_train\":1}}", mid), "data", "invalid_argument"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\"}", rid), "model", "invalid_argument"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\"}", iid), "params.prior.center",
         "invalid_argument"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"params\":{\"prior\":{\"center\":"
             "\"zero\"}}}", uid), "data", "missing_field"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"data\":{\"builtin\":\"iris\"}}", uid),
         "params.prior.center", "invalid_argument"},
        {fmt("%s{\"prior\":{\"center\":\"mean\"}}}", M), "params.prior.center",
         "invalid_argument"},
        {fmt("%s{\"prior\":{\"sigma\":0.1,\"grid\":{}}}}", M), "params.prior.sigma",
         "invalid_argument"},
        {fmt("%s{\"prior\":{\"sigma\":0}}}", M), "params.prior.sigma", "invalid_argument"},
        {fmt("%s{\"prior\":{\"grid\":{\"min\":0.5,\"max\":0.1}}}}", M),
         "params.prior.grid.max", "invalid_argument"},
        {fmt("%s{\"prior\":{\"grid\":{\"count\":0}}}}", M), "params.prior.grid.count",
         "invalid_argument"},
        {fmt("%s{\"prior\":{\"grid\":{\"steps\":3}}}}", M), "params.prior.grid.steps",
         "unknown_field"},
        {fmt("%s{\"posterior\":\"best\"}}", M), "params.posterior", "invalid_argument"},
        {fmt("%s{\"posterior\":{\"sigma\":-1}}}", M), "params.posterior.sigma",
         "invalid_argument"},
        {fmt("%s{\"posterior\":{\"optimize\":{\"lr\":0}}}}", M),
         "params.posterior.optimize.lr", "invalid_argument"},
        {fmt("%s{\"posterior\":{\"optimize\":{\"epochs\":0}}}}", M),
         "params.posterior.optimize.epochs", "invalid_argument"},
        {fmt("%s{\"posterior\":{\"optimize\":{\"momentum\":0.9}}}}", M),
         "params.posterior.optimize.momentum", "unknown_field"},
        {fmt("%s{\"mc_samples\":0}}", M), "params.mc_samples", "invalid_argument"},
        {fmt("%s{\"delta\":0.5,\"delta_mc\":0.5}}", M), "params.delta_mc", "invalid_argument"},
        {fmt("%s{\"sigma\":1}}", M), "params.sigma", "unknown_field"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"data\":{\"builtin\":\"iris\","
             "\"standardize\":true}}", mid), "data.standardize", "unknown_field"},
        {fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"data\":{\"builtin\":\"wine\"}}", mid),
         "data", "invalid_argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_ERR_FIELD(http_post(S, "/v1/jobs", cases[i].body), 400, cases[i].code,
                         cases[i].field);
    /* explicit data with the model's features, a zero-centred prior: accepted */
    json_t *j = job_run(S, fmt("{\"kind\":\"pac_bayes\",\"model\":\"%s\",\"data\":{\"builtin\":"
                               "\"iris\"},\"params\":{\"prior\":{\"center\":\"zero\",\"sigma\":"
                               "0.1},\"mc_samples\":50}}", uid),
                        "succeeded", 60);
    ck_assert_int_eq((int)jnum(j, "result.m"), 120);
}
END_TEST

Suite *e2e_pac_bayes_suite(void)
{
    Suite *s = suite_create("e2e_pac_bayes");
    TCase *tc = FIXTURE_CASE(s, "pac_bayes", 300, S);
    tcase_add_test(tc, calculator_matches_reference);
    tcase_add_test(tc, stored_model_kl_risk_and_bookkeeping);
    tcase_add_test(tc, blobs_optimized_bound);
    tcase_add_test(tc, progress_and_cancel);
    tcase_add_test(tc, bad_requests_name_the_field);
    return s;
}
