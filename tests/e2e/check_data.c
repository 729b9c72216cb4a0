/* check_data.c: the dataset endpoints of API.md 3.1 against one shared server: JSON and
 * CSV uploads, the dataset object, ?include=data, list, delete, label handling
 * (classes, inference of the task) and the 400s of bad data (invalid_data naming the
 * row and column), 415 and request errors.
 *
 * The `data` field of a job (section 3.2) is checked through dry runs of `train`, the
 * first kind that takes data, and the 409 on deleting a dataset that a queued job uses
 * with a server of its own (one worker kept busy by a `sleep` job). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

FIXTURE_SERVER(S, "--max-body", "1M")

static resp *upload_json(const char *body)
{
    return http_post(S, "/v1/datasets", body);
}

static resp *upload_csv(const char *query, const char *csv)
{
    reqopt o = {.body = csv, .ctype = "text/csv"};
    return http_req(S, "POST", fmt("/v1/datasets%s", query), &o);
}

/* The dataset object of API.md 3.1 (the fields every one has). */
static void check_object(json_t *d)
{
    static const char *const keys[] = {"id", "name", "task", "n_train", "n_test", "d",
                                       "n_outputs", "n_classes", "classes", "created_at",
                                       NULL};
    for (int i = 0; keys[i]; i++)
        ck_assert_msg(json_object_get(d, keys[i]) != NULL, "dataset object without %s: %s",
                      keys[i], json_dumps(d, JSON_COMPACT));
    ck_assert(is_rfc3339_ms(jstr(d, "created_at")));
}

static int jeq_text(json_t *v, const char *text)
{
    json_t *w = jparse(text);
    return json_equal(v, w);
}

START_TEST(json_upload_get_list_delete)
{
    const char *name = uniq("tiny");
    resp *r = upload_json(fmt("{\"name\":\"%s\",\"task\":\"classification\","
                              "\"x\":[[0.1,2.0],[1.5,-3],[2,2],[0,0]],\"y\":[0,1,1,0],"
                              "\"x_test\":[[1,1]],\"y_test\":[1]}",
                              name));
    ASSERT_STATUS(r, 201);
    json_t *d = r->json;
    check_object(d);
    const char *id = fmt("%s", jstr(d, "id"));
    const char *loc = resp_header(r, "Location");
    ck_assert_msg(loc && strcmp(loc, fmt("/v1/datasets/%s", id)) == 0, "Location %s", loc);
    ck_assert_str_eq(jstr(d, "name"), name);
    ck_assert_str_eq(jstr(d, "task"), "classification");
    ck_assert_double_eq(jnum(d, "n_train"), 4);
    ck_assert_double_eq(jnum(d, "n_test"), 1);
    ck_assert_double_eq(jnum(d, "d"), 2);
    ck_assert_double_eq(jnum(d, "n_classes"), 2);
    ck_assert(jeq_text(jpath(d, "classes"), "[0,1]"));

    r = http_getf(S, "/v1/datasets/%s", id);
    ASSERT_STATUS(r, 200);
    check_object(r->json);
    ck_assert_str_eq(jstr(r->json, "id"), id);
    ck_assert_ptr_null(json_object_get(r->json, "x"));

    r = http_getf(S, "/v1/datasets/%s?include=data", id);
    ASSERT_STATUS(r, 200);
    ck_assert(jeq_text(jpath(r->json, "x"), "[[0.1,2.0],[1.5,-3.0],[2.0,2.0],[0.0,0.0]]"));
    ck_assert_double_eq(jnum(r->json, "y[1]"), 1);
    ck_assert_uint_eq(json_array_size(jpath(r->json, "y")), 4);
    ck_assert(jeq_text(jpath(r->json, "x_test"), "[[1.0,1.0]]"));
    ck_assert_double_eq(jnum(r->json, "y_test[0]"), 1);

    r = http_getf(S, "/v1/datasets/%s?include=weights", id);
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "include");

    r = http_get(S, "/v1/datasets");
    ASSERT_STATUS(r, 200);
    json_t *list = jpath(r->json, "datasets");
    ck_assert(json_is_array(list));
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (jstr(e, "id") && strcmp(jstr(e, "id"), id) == 0) {
            found = 1;
            ck_assert_ptr_null(json_object_get(e, "x"));
        }
    }
    ck_assert_msg(found, "uploaded dataset not listed");

    ASSERT_STATUS(http_delete(S, fmt("/v1/datasets/%s", id)), 204);
    ASSERT_ERR(http_getf(S, "/v1/datasets/%s", id), 404, "not_found");
    ASSERT_ERR(http_delete(S, fmt("/v1/datasets/%s", id)), 404, "not_found");
}
END_TEST

START_TEST(labels_and_task_inference)
{
    /* String labels: classes are the sorted union of both splits, by byte order; a test
     * label absent from the training split is accepted. */
    resp *r = upload_json("{\"x\":[[1],[2],[3],[4]],\"y\":[\"cat\",\"dog\",\"cat\",\"Ant\"],"
                          "\"x_test\":[[5]],\"y_test\":[\"emu\"]}");
    ASSERT_STATUS(r, 201);
    ck_assert_str_eq(jstr(r->json, "task"), "classification");
    ck_assert(jeq_text(jpath(r->json, "classes"), "[\"Ant\",\"cat\",\"dog\",\"emu\"]"));
    ck_assert_double_eq(jnum(r->json, "n_classes"), 4);
    r = http_getf(S, "/v1/datasets/%s?include=data", jstr(r->json, "id"));
    ASSERT_STATUS(r, 200);
    ck_assert(jeq_text(jpath(r->json, "y"), "[\"cat\",\"dog\",\"cat\",\"Ant\"]"));
    ck_assert(jeq_text(jpath(r->json, "y_test"), "[\"emu\"]"));

    /* Integer labels: classification, sorted numerically. */
    r = upload_json("{\"x\":[[1],[2],[3]],\"y\":[10,2,10]}");
    ASSERT_STATUS(r, 201);
    ck_assert_str_eq(jstr(r->json, "task"), "classification");
    ck_assert(jeq_text(jpath(r->json, "classes"), "[2,10]"));
    ck_assert_double_eq(jnum(r->json, "n_test"), 0);

    /* Other numbers: regression. */
    r = upload_json("{\"x\":[[1,0],[2,0],[3,1]],\"y\":[0.5,1.25,2.0]}");
    ASSERT_STATUS(r, 201);
    ck_assert_str_eq(jstr(r->json, "task"), "regression");
    ck_assert_double_eq(jnum(r->json, "n_outputs"), 1);

    /* Vector targets. */
    r = upload_json("{\"task\":\"regression\",\"x\":[[1],[2]],\"y\":[[1,2,3],[4,5,6]]}");
    ASSERT_STATUS(r, 201);
    ck_assert_double_eq(jnum(r->json, "n_outputs"), 3);

    /* An explicit task wins over inference. */
    r = upload_json("{\"task\":\"regression\",\"x\":[[1],[2]],\"y\":[0,1]}");
    ASSERT_STATUS(r, 201);
    ck_assert_str_eq(jstr(r->json, "task"), "regression");
}
END_TEST

START_TEST(json_bad_data)
{
    static const struct {
        const char *body, *code, *where;
    } cases[] = {
        /* ragged rows: the message names the row */
        {"{\"x\":[[1,2],[3],[4,5]],\"y\":[0,1,0]}", "invalid_data", "1"},
        /* non-numeric feature */
        {"{\"x\":[[1,2],[3,\"a\"]],\"y\":[0,1]}", "invalid_data", "1"},
        {"{\"x\":[[1,2],[3,null]],\"y\":[0,1]}", "invalid_data", "1"},
        /* mixed label types */
        {"{\"x\":[[1],[2],[3]],\"y\":[0,\"a\",1]}", "invalid_data", NULL},
        {"{\"x\":[[1],[2]],\"y\":[0,1],\"x_test\":[[3]],\"y_test\":[\"a\"]}", "invalid_data", NULL},
        /* empty set */
        {"{\"x\":[],\"y\":[]}", "invalid_data", NULL},
        /* ragged regression targets */
        {"{\"task\":\"regression\",\"x\":[[1],[2]],\"y\":[[1,2],[3]]}", "invalid_data", NULL},
        /* the test split with another number of features */
        {"{\"x\":[[1,2],[3,4]],\"y\":[0,1],\"x_test\":[[1]],\"y_test\":[0]}", NULL, NULL},
        /* x and y of different lengths */
        {"{\"x\":[[1],[2],[3]],\"y\":[0,1]}", NULL, NULL},
        /* class labels that are not integers */
        {"{\"task\":\"classification\",\"x\":[[1],[2]],\"y\":[0.5,1]}", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp *r = upload_json(cases[i].body);
        if (cases[i].code) {
            char *m = check_error(r, 400, cases[i].code, NULL);
            ck_assert_msg(m == NULL, "%s: %s", cases[i].body, m);
        } else {
            ck_assert_msg(r->status == 400, "%s: %ld %s", cases[i].body, r->status, r->body);
            const char *code = jstr(r->json, "error.code");
            ck_assert_msg(code && (strcmp(code, "invalid_data") == 0 ||
                                   strcmp(code, "invalid_argument") == 0),
                          "%s: code %s", cases[i].body, code ? code : "(none)");
        }
        if (cases[i].where) {
            const char *msg = jstr(r->json, "error.message"), *f = jstr(r->json, "error.field");
            ck_assert_msg(strstr(msg, cases[i].where) || (f && strstr(f, cases[i].where)),
                          "%s: the error does not name the row: %s", cases[i].body, r->body);
        }
    }
}
END_TEST

START_TEST(json_request_errors)
{
    resp *r = upload_json("{\"y\":[0,1]}");
    ASSERT_ERR_FIELD(r, 400, "missing_field", "x");
    r = upload_json("{\"x\":[[1],[2]]}");
    ASSERT_ERR_FIELD(r, 400, "missing_field", "y");
    r = upload_json("{\"x\":[[1],[2]],\"y\":[0,1],\"xtest\":[[1]]}");
    ASSERT_ERR_FIELD(r, 400, "unknown_field", "xtest");
    ck_assert_ptr_nonnull(strstr(jstr(r->json, "error.message"), "\"x_test\""));
    r = upload_json("{\"x\":[[1],[2]],\"y\":[0,1],\"task\":\"clustering\"}");
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "task");
    r = upload_json("{\"x\":[[1],[2]],\"y\":[0,1],\"name\":5}");
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "name");
    r = upload_json("{\"x\":[[1],[2]],\"y\":[0,1]");
    ASSERT_ERR(r, 400, "invalid_json");
    r = upload_json("[1,2]");
    ck_assert_msg(r->status == 400, "array body: %ld", r->status);
    reqopt o = {.body = "x,y\n1,0\n", .ctype = "text/plain"};
    r = http_req(S, "POST", "/v1/datasets", &o);
    ASSERT_ERR(r, 415, "unsupported_media_type");
    reqopt o2 = {.body = "{\"x\":[[1]],\"y\":[0]}", .ctype = ""};
    r = http_req(S, "POST", "/v1/datasets", &o2);
    ASSERT_ERR(r, 415, "unsupported_media_type");
}
END_TEST

START_TEST(csv_upload)
{
    const char *name = uniq("csv");
    resp *r = upload_csv(fmt("?name=%s", name),
                         "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8.5,y\n");
    ASSERT_STATUS(r, 201);
    check_object(r->json);
    ck_assert_str_eq(jstr(r->json, "name"), name);
    ck_assert_str_eq(jstr(r->json, "task"), "classification");
    ck_assert_double_eq(jnum(r->json, "n_train"), 4);
    ck_assert_double_eq(jnum(r->json, "n_test"), 0);
    ck_assert_double_eq(jnum(r->json, "d"), 2);
    ck_assert(jeq_text(jpath(r->json, "classes"), "[\"x\",\"y\"]"));
    r = http_getf(S, "/v1/datasets/%s?include=data", jstr(r->json, "id"));
    ck_assert(jeq_text(jpath(r->json, "x"), "[[1.0,2.0],[3.0,4.0],[5.0,6.0],[7.0,8.5]]"));

    /* ?target names the column; quoted fields and CRLF line ends. */
    r = upload_csv("?target=b&task=regression",
                   "\"a\",\"b\",\"c\"\r\n\"1.5\",2,3\r\n4,\"5\",6\r\n7,8,9\r\n");
    ASSERT_STATUS(r, 201);
    ck_assert_str_eq(jstr(r->json, "task"), "regression");
    ck_assert_double_eq(jnum(r->json, "d"), 2);
    ck_assert_double_eq(jnum(r->json, "n_train"), 3);
    r = http_getf(S, "/v1/datasets/%s?include=data", jstr(r->json, "id"));
    ck_assert(jeq_text(jpath(r->json, "x"), "[[1.5,3.0],[4.0,6.0],[7.0,9.0]]"));
    ck_assert(jeq_text(jpath(r->json, "y"), "[2.0,5.0,8.0]"));

    /* test_fraction and seed split the rows. */
    r = upload_csv("?test_fraction=0.25&seed=3",
                   "f,y\n1,0\n2,0\n3,0\n4,0\n5,1\n6,1\n7,1\n8,1\n");
    ASSERT_STATUS(r, 201);
    ck_assert_double_eq(jnum(r->json, "n_train") + jnum(r->json, "n_test"), 8);
    ck_assert_double_eq(jnum(r->json, "n_test"), 2);
    /* Deterministic for a seed. */
    resp *r2 = upload_csv("?test_fraction=0.25&seed=3",
                          "f,y\n1,0\n2,0\n3,0\n4,0\n5,1\n6,1\n7,1\n8,1\n");
    resp *a = http_getf(S, "/v1/datasets/%s?include=data", jstr(r->json, "id"));
    resp *b = http_getf(S, "/v1/datasets/%s?include=data", jstr(r2->json, "id"));
    ck_assert(json_equal(jpath(a->json, "x_test"), jpath(b->json, "x_test")));
}
END_TEST

START_TEST(csv_bad_data)
{
    /* A non-numeric feature: invalid_data naming the row and the column. */
    resp *r = upload_csv("", "a,b,y\n1,2,0\n3,oops,1\n");
    ASSERT_ERR(r, 400, "invalid_data");
    const char *msg = jstr(r->json, "error.message");
    ck_assert_msg(strstr(msg, "2") && strstr(msg, "b"), "does not name row 2, column b: %s",
                  msg);
    static const char *const bad[] = {
        "a,b,y\n1,2,0\n3,1\n",            /* ragged */
        "a,b,y\n1,2,0\n3,4,5,6\n",        /* ragged, too many */
        "a,b,y\n",                        /* header only: empty set */
        "a,b,y\n1,nan,0\n2,3,1\n",        /* NaN */
        "a,b,y\n1,inf,0\n2,3,1\n",        /* Inf */
        "a,b,y\n1,2,0\n2,3,x\n",          /* mixed label types */
        "a,b,y\n1,,0\n2,3,1\n",           /* empty feature */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = upload_csv("", bad[i]);
        char *m = check_error(r, 400, "invalid_data", NULL);
        ck_assert_msg(m == NULL, "csv %zu: %s", i, m);
    }
    /* Query errors. */
    static const struct {
        const char *query, *field;
    } q[] = {
        {"?task=clustering", "task"},   {"?test_fraction=1", "test_fraction"},
        {"?test_fraction=-0.1", "test_fraction"}, {"?test_fraction=x", "test_fraction"},
        {"?seed=-1", "seed"},           {"?seed=x", "seed"},
        {"?seed=99999999999999999999999", "seed"},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        r = upload_csv(q[i].query, "a,y\n1,0\n2,1\n");
        char *m = check_error(r, 400, "invalid_argument", q[i].field);
        ck_assert_msg(m == NULL, "%s: %s", q[i].query, m);
    }
    /* One byte-order mark is a signature and is skipped; a second one is an error, not
     * a column named "\ufeffa" (issue 11). */
    r = upload_csv("", "\xEF\xBB\xBF" "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n");
    ASSERT_STATUS(r, 201);
    r = upload_csv("", "\xEF\xBB\xBF\xEF\xBB\xBF" "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n");
    ASSERT_ERR(r, 400, "invalid_data");
    ck_assert_msg(strstr(jstr(r->json, "error.message"), "byte-order mark") != NULL, "%s",
                  r->body);
    /* An unknown target column. */
    r = upload_csv("?target=nope", "a,y\n1,0\n2,1\n");
    ck_assert_msg(r->status == 400, "unknown target: %ld %s", r->status, r->body);
}
END_TEST

static resp *dry_job(const char *body)
{
    return http_post(S, "/v1/jobs?dry_run=true", body);
}

START_TEST(job_data_field)
{
    /* Builtins resolve; the filled-in request shows the defaults of the options. */
    resp *r = dry_job("{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"}}");
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "request.data.builtin"), "iris");
    ck_assert_double_eq(jnum(r->json, "request.data.test_fraction"), 0.2);
    ck_assert_double_eq(jnum(r->json, "request.data.split_seed"), 0);
    ck_assert(json_is_false(jpath(r->json, "request.data.standardize")));
    ck_assert(json_is_false(jpath(r->json, "request.data.unit_norm")));
    r = dry_job("{\"kind\":\"train\",\"data\":{\"builtin\":\"two_moons\"}}");
    ASSERT_STATUS(r, 200);
    ck_assert_double_eq(jnum(r->json, "request.data.n"), 1000);
    ck_assert_double_eq(jnum(r->json, "request.data.noise"), 0.1);

    static const struct {
        const char *data, *code, *field;
    } bad[] = {
        {"{\"builtin\":\"nope\"}", "invalid_argument", "data.builtin"},
        {"{\"dataset\":\"d_does_not_exist\"}", "invalid_argument", "data.dataset"},
        {"{\"builtin\":\"iris\",\"test_fraction\":1.5}", "invalid_argument",
         "data.test_fraction"},
        {"{\"builtin\":\"iris\",\"standardise\":true}", "unknown_field", "data.standardise"},
        {"{}", NULL, NULL},
        {"{\"builtin\":\"iris\",\"inline\":{\"x\":[[1]],\"y\":[0]}}", NULL, NULL},
        {"{\"inline\":{\"x\":[[1,2],[3]],\"y\":[0,1]}}", "invalid_data", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = dry_job(fmt("{\"kind\":\"train\",\"data\":%s}", bad[i].data));
        if (bad[i].code) {
            char *m = check_error(r, 400, bad[i].code, bad[i].field);
            ck_assert_msg(m == NULL, "data %s: %s", bad[i].data, m);
        } else {
            ck_assert_msg(r->status == 400, "data %s: %ld %s", bad[i].data, r->status, r->body);
        }
    }
    r = dry_job("{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\",\"standardise\":true}}");
    ck_assert_ptr_nonnull(strstr(jstr(r->json, "error.message"), "\"standardize\""));

    /* An uploaded dataset, named inside a body. */
    r = upload_json("{\"x\":[[0,1],[1,0],[1,1],[0,0]],\"y\":[0,1,1,0]}");
    ASSERT_STATUS(r, 201);
    const char *id = fmt("%s", jstr(r->json, "id"));
    r = dry_job(fmt("{\"kind\":\"train\",\"data\":{\"dataset\":\"%s\"}}", id));
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "request.data.dataset"), id);
    ASSERT_STATUS(http_delete(S, fmt("/v1/datasets/%s", id)), 204);
    r = dry_job(fmt("{\"kind\":\"train\",\"data\":{\"dataset\":\"%s\"}}", id));
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "data.dataset");
}
END_TEST

START_TEST(delete_dataset_in_use)
{
    srv *s = srv_spawn("--enable-test-kinds", "--workers", "1", NULL);
    resp *r = http_post(s, "/v1/datasets", "{\"x\":[[0,1],[1,0],[1,1],[0,0]],\"y\":[0,1,1,0]}");
    ASSERT_STATUS(r, 201);
    const char *id = fmt("%s", jstr(r->json, "id"));
    /* Keep the one worker busy, so that the job that reads the dataset stays queued. */
    const char *busy = sleep_submit(s, "{\"ms\":600000}");
    job_wait(s, busy, "running", 10);
    const char *user = job_submit(
        s, fmt("{\"kind\":\"train\",\"data\":{\"dataset\":\"%s\"},\"params\":{\"epochs\":1}}",
               id));
    ck_assert_str_eq(jstr(job_get(s, user), "status"), "queued");
    r = http_delete(s, fmt("/v1/datasets/%s", id));
    ASSERT_ERR(r, 409, "conflict");
    ASSERT_STATUS(http_getf(s, "/v1/datasets/%s", id), 200);
    /* Once the job is finished (here: cancelled), the dataset can go. */
    ASSERT_STATUS(http_post(s, fmt("/v1/jobs/%s/cancel", user), NULL), 200);
    ASSERT_STATUS(http_delete(s, fmt("/v1/datasets/%s", id)), 204);
    ASSERT_STATUS(http_post(s, fmt("/v1/jobs/%s/cancel", busy), NULL), 202);
    job_wait(s, busy, "cancelled", 5);
    ck_assert_int_eq(srv_stop(s, 10), 0);
}
END_TEST

/* ---- numbers in output JSON (API.md section 1) ------------------------------------- */

/* Significant digits of the decimal number text t[0..n) ("0.0012e5" -> 2). */
static int sig_digits(const char *t, size_t n)
{
    int k = 0, zeros = 0;
    for (size_t i = 0; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
        if (t[i] < '0' || t[i] > '9')
            continue;
        if (t[i] == '0') {
            if (k)
                zeros++;
            continue;
        }
        k += zeros + 1;
        zeros = 0;
    }
    return k ? k : 1;
}

/* Checks every number of the JSON text body: read back with strtod and printed in the
 * shortest %.Ng form that reads back bit for bit, it has no fewer significant digits
 * than the text (so no %.17g artefact such as 0.20000000000000001). Returns the count
 * of numbers seen. */
static size_t check_shortest_numbers(const char *what, const char *body)
{
    size_t n_numbers = 0;
    for (const char *p = body; *p;) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
            continue;
        }
        if (*p != '-' && (*p < '0' || *p > '9')) {
            p++;
            continue;
        }
        size_t n = strspn(p, "-+0123456789.eE");
        char tok[64];
        ck_assert_msg(n < sizeof tok, "%s: a number of %zu characters", what, n);
        memcpy(tok, p, n);
        tok[n] = '\0';
        double x = strtod(tok, NULL);
        int best = 17;
        for (int prec = 1; prec <= 17; prec++) {
            char b[400];
            snprintf(b, sizeof b, "%.*g", prec, x);
            double y = strtod(b, NULL);
            if (memcmp(&x, &y, sizeof x) == 0) {
                best = prec;
                break;
            }
        }
        ck_assert_msg(sig_digits(tok, n) <= best, "%s: %s is not the shortest form of %.17g "
                      "(%d digits suffice)", what, tok, x, best);
        n_numbers++;
        p += n;
    }
    return n_numbers;
}

START_TEST(output_numbers_shortest)
{
    /* A job object with request defaults (test_fraction 0.2, the optimizer's betas). */
    resp *r = dry_job("{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\"},"
                      "\"params\":{\"epochs\":2,\"optimizer\":{\"name\":\"adam\"}}}");
    ASSERT_STATUS(r, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "\"test_fraction\":0.2"));
    check_shortest_numbers("dry run", r->body);
    /* A train result and its model. */
    json_t *job = job_run(S, "{\"kind\":\"train\",\"data\":{\"builtin\":\"iris\",\"standardize\":"
                             "true},\"params\":{\"epochs\":2,\"hidden\":[3],\"optimizer\":"
                             "{\"name\":\"adam\",\"lr\":0.01}}}", "succeeded", 60);
    const char *id = fmt("%s", jstr(job, "id"));
    r = http_getf(S, "/v1/jobs/%s", id);
    ASSERT_STATUS(r, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "\"lr\":0.01"));
    ck_assert_uint_gt(check_shortest_numbers("train job", r->body), 20);
    const char *model = jstr(r->json, "result.model");
    ck_assert_ptr_nonnull(model);
    r = http_getf(S, "/v1/models/%s", model);
    ASSERT_STATUS(r, 200);
    ck_assert_uint_gt(check_shortest_numbers("model", r->body), 20);
    r = http_get(S, "/v1/models");
    ASSERT_STATUS(r, 200);
    check_shortest_numbers("models", r->body);
    /* A dataset object and its data. */
    r = upload_json("{\"x\":[[0.1,0.2],[0.3,0.7],[1e-300,2.5e10],[0.9,0]],\"y\":[0.1,0.2,0.3,0.4]}");
    ASSERT_STATUS(r, 201);
    id = fmt("%s", jstr(r->json, "id"));
    check_shortest_numbers("dataset", r->body);
    r = http_getf(S, "/v1/datasets/%s?include=data", id);
    ASSERT_STATUS(r, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "[0.3,0.7]"));
    ck_assert_uint_ge(check_shortest_numbers("dataset data", r->body), 12);
    ASSERT_STATUS(http_delete(S, fmt("/v1/datasets/%s", id)), 204);
    /* An array download as JSON and as CSV (a kernel: 15 x 15 reals of every length). */
    job = job_run(S, "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\",\"max_train\":15},"
                     "\"params\":{\"depth\":2}}", "succeeded", 60);
    id = fmt("%s", jstr(job, "id"));
    r = http_getf(S, "/v1/jobs/%s/arrays/ntk", id);
    ASSERT_STATUS(r, 200);
    ck_assert_uint_ge(check_shortest_numbers("array json", r->body), 225);
    r = http_getf(S, "/v1/jobs/%s/arrays/ntk?format=csv", id);
    ASSERT_STATUS(r, 200);
    ck_assert_uint_ge(check_shortest_numbers("array csv", r->body), 225);
}
END_TEST

/* ---- names (API.md 3.1) ------------------------------------------------------------- */

START_TEST(dataset_names)
{
    const char *name = uniq("points");
    const char *body = fmt("{\"name\":\"%s\",\"x\":[[0,1],[1,0],[1,1],[0,0],[2,2],[3,1]],"
                           "\"y\":[0,1,1,0,1,0]}", name);
    resp *r = upload_json(body);
    ASSERT_STATUS(r, 201);
    const char *id = fmt("%s", jstr(r->json, "id"));
    /* A taken name is a 409, as JSON and as CSV; the first dataset is untouched. */
    ASSERT_ERR_FIELD(upload_json(body), 409, "conflict", "name");
    ASSERT_ERR_FIELD(upload_csv(fmt("?name=%s", name), "a,b\n1,0\n2,1\n"), 409, "conflict",
                     "name");
    r = http_get(S, "/v1/datasets");
    size_t i, n_named = 0;
    json_t *e;
    json_array_foreach(jpath(r->json, "datasets"), i, e)
        n_named += jstr(e, "name") && strcmp(jstr(e, "name"), name) == 0;
    ck_assert_uint_eq(n_named, 1);
    /* Without a name, any number of uploads. */
    ASSERT_STATUS(upload_json("{\"x\":[[1],[2]],\"y\":[1,2]}"), 201);
    ASSERT_STATUS(upload_json("{\"name\":\"\",\"x\":[[1],[2]],\"y\":[1,2]}"), 201);
    /* A name that has the form of an id would be shadowed by the id: a 400. */
    ASSERT_ERR_FIELD(upload_json("{\"name\":\"d_0123456789abcdef\",\"x\":[[1]],\"y\":[1]}"), 400,
                     "invalid_argument", "name");

    /* GET by name or by id. */
    r = http_getf(S, "/v1/datasets/%s", name);
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "id"), id);
    ck_assert_str_eq(jstr(r->json, "name"), name);
    r = http_getf(S, "/v1/datasets/%s?include=data", name);
    ASSERT_STATUS(r, 200);
    ck_assert_uint_eq(json_array_size(jpath(r->json, "x")), 6);

    /* A job runs on {"dataset": name}; its stored request names the id. */
    json_t *job = job_run(S, fmt("{\"kind\":\"train\",\"data\":{\"dataset\":\"%s\"},"
                                 "\"params\":{\"epochs\":1,\"hidden\":[2]}}", name),
                          "succeeded", 60);
    ck_assert_str_eq(jstr(job, "request.data.dataset"), id);
    ck_assert_ptr_nonnull(jstr(job, "result.model"));
    r = dry_job(fmt("{\"kind\":\"train\",\"data\":{\"dataset\":\"%s\"}}", name));
    ASSERT_STATUS(r, 200);
    ck_assert_str_eq(jstr(r->json, "request.data.dataset"), id);
    r = dry_job("{\"kind\":\"train\",\"data\":{\"dataset\":\"no such name\"}}");
    ASSERT_ERR_FIELD(r, 400, "invalid_argument", "data.dataset");

    /* DELETE by name; then the name is free again. */
    ASSERT_STATUS(http_delete(S, fmt("/v1/datasets/%s", name)), 204);
    ASSERT_ERR(http_getf(S, "/v1/datasets/%s", name), 404, "not_found");
    ASSERT_ERR(http_getf(S, "/v1/datasets/%s", id), 404, "not_found");
    ASSERT_ERR(http_delete(S, fmt("/v1/datasets/%s", name)), 404, "not_found");
    r = upload_json(body);
    ASSERT_STATUS(r, 201);
    ck_assert_str_ne(jstr(r->json, "id"), id);
    ASSERT_STATUS(http_delete(S, fmt("/v1/datasets/%s", jstr(r->json, "id"))), 204);
}
END_TEST

START_TEST(builtins_list)
{
    resp *r = http_get(S, "/v1/builtins");
    ASSERT_STATUS(r, 200);
    static const struct {
        const char *name;
        double n, d, k;
    } want[] = {{"iris", 150, 4, 3}, {"wine", 178, 13, 3}, {"breast_cancer", 569, 30, 2},
                {"digits", 1797, 64, 10}};
    json_t *sets = jpath(r->json, "datasets");
    ck_assert_uint_eq(json_array_size(sets), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(sets, i);
        ck_assert_str_eq(jstr(e, "name"), want[i].name);
        ck_assert_str_eq(jstr(e, "task"), "classification");
        ck_assert_double_eq(jnum(e, "n"), want[i].n);
        ck_assert_double_eq(jnum(e, "d"), want[i].d);
        ck_assert_double_eq(jnum(e, "n_classes"), want[i].k);
        ck_assert_msg(jstr(e, "description") && strlen(jstr(e, "description")) > 10,
                      "%s: no description", want[i].name);
    }
    static const char *const gens[] = {"two_moons", "xor", "blobs", "linear", "teacher",
                                       "sphere"};
    json_t *g = jpath(r->json, "generators");
    ck_assert_uint_eq(json_array_size(g), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *e = json_array_get(g, i);
        ck_assert_str_eq(jstr(e, "name"), gens[i]);
        ck_assert_msg(jstr(e, "description") != NULL, "%s: no description", gens[i]);
        ck_assert_double_eq(jnum(e, "params.n"), 1000);
        ck_assert_double_eq(jnum(e, "params.seed"), 0);
    }
    ck_assert_double_eq(jnum(r->json, "generators[0].params.noise"), 0.1);
    ck_assert_double_eq(jnum(r->json, "generators[2].params.centers"), 3);
    ck_assert_double_eq(jnum(r->json, "generators[2].params.spread"), 1.0);
    ck_assert_str_eq(jstr(r->json, "generators[4].params.activation"), "relu");
    ck_assert_double_eq(jnum(r->json, "generators[5].params.width"), 64);
    /* Every name listed is one a job's data accepts, with those parameters. */
    for (size_t i = 0; i < 6; i++) {
        json_t *e = json_array_get(g, i);
        char *params = json_dumps(jpath(e, "params"), JSON_COMPACT);
        r = dry_job(fmt("{\"kind\":\"train\",\"data\":{\"builtin\":\"%s\",%s}", gens[i],
                        params + 1));
        free(params);
        ASSERT_STATUS(r, 200);
    }
}
END_TEST

Suite *e2e_data_suite(void)
{
    Suite *s = suite_create("e2e_data");
    TCase *tc = FIXTURE_CASE(s, "datasets", 60, S);
    tcase_add_test(tc, json_upload_get_list_delete);
    tcase_add_test(tc, labels_and_task_inference);
    tcase_add_test(tc, json_bad_data);
    tcase_add_test(tc, json_request_errors);
    tcase_add_test(tc, csv_upload);
    tcase_add_test(tc, csv_bad_data);
    tcase_add_test(tc, job_data_field);
    tcase_add_test(tc, output_numbers_shortest);
    tcase_add_test(tc, dataset_names);
    tcase_add_test(tc, builtins_list);
    TCase *own = tcase_create("datasets_in_use");
    tcase_set_timeout(own, 60);
    tcase_add_test(own, delete_dataset_in_use);
    suite_add_tcase(s, own);
    return s;
}
