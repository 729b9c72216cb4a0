/* yaml2json.c: reads one YAML document on stdin and writes it as JSON on stdout. The build
 * uses it to turn api/openapi.yaml into build/gen/openapi.json, which the server embeds
 * and serves at GET /v1/openapi.json. libyaml parses, jansson holds and writes the value.
 *
 * Supported subset (what api/openapi.yaml uses, plus what tests/reference/check_openapi.py
 * asks of this tool):
 *   - one document of block and flow mappings and sequences; mapping order is kept;
 *   - plain scalars typed by the YAML 1.2 core schema (table `core` below): null (`~`,
 *     `null`, `Null`, `NULL`, empty), booleans (`true`, `True`, `TRUE`, `false`, ...),
 *     integers (`[-+]?[0-9]+`, `0o17`, `0x1F`; int64), floats
 *     (`[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`), anything else a string;
 *   - quoted and block (`|`, `>`) scalars are strings;
 *   - the tags `!!str`, `!!int` and `!!float` on scalars;
 *   - anchors and aliases (an alias names the latest earlier anchor of that name; its
 *     expansion is not bounded: the input is the repository's own document);
 *   - mapping keys are scalars; a non-string key is written as its JSON text
 *     (`200` -> "200", `true` -> "true").
 * Anything else fails loudly: exit 1 and one line on stderr with the line and column,
 * for a YAML syntax error, any other tag, a collection as a key, a duplicate key, an
 * undefined alias, `.inf`/`.nan` or a float overflowing to infinity (JSON has neither),
 * an integer outside int64, a second document, nesting deeper than MAX_DEPTH. An empty
 * stream gives `null`.
 *
 * Output: jansson's json_dumpf, 2-space indents (`-c`: compact). Reals are written with
 * 15 significant digits, which gives back every literal of up to 15 digits as written
 * (0.1 stays 0.1), or with 17 when some literal needs more, so that every value reads
 * back to the same double.
 *
 * Usage: yaml2json [-c] < in.yaml > out.json. Exit 0 on success, 1 on a conversion
 * error, 2 on a usage error.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 1000

enum { T_NULL, T_BOOL, T_INT, T_FLOAT, T_NONFINITE, N_TYPES, T_STR = N_TYPES };

/* The core schema's resolution of untagged plain scalars (YAML 1.2.2, section 10.3.2). */
static const char *const core[N_TYPES] = {
    [T_NULL] = "^(~|null|Null|NULL)?$",
    [T_BOOL] = "^(true|True|TRUE|false|False|FALSE)$",
    [T_INT] = "^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
    [T_FLOAT] = "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$",
    [T_NONFINITE] = "^([-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
};

typedef struct conv {
    yaml_parser_t parser;
    regex_t re[N_TYPES];
    json_t *anchors; /* anchor name -> value */
    int precision;   /* of reals in the output: 15, or 17 when a literal needs it */
    char msg[512];
} conv;

static int fail(conv *c, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->msg, sizeof c->msg, "line %lu, column %lu: ",
                     (unsigned long)mark.line + 1, (unsigned long)mark.column + 1);
    va_start(ap, fmt);
    vsnprintf(c->msg + n, sizeof c->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads the next event into *ev; on a parse error *ev is empty (safe to delete). */
static int next(conv *c, yaml_event_t *ev)
{
    const yaml_parser_t *p = &c->parser;
    if (yaml_parser_parse(&c->parser, ev))
        return 0;
    memset(ev, 0, sizeof *ev);
    if (p->error == YAML_READER_ERROR) {
        snprintf(c->msg, sizeof c->msg, "byte offset %lu: %s",
                 (unsigned long)p->problem_offset, p->problem);
        return -1;
    }
    if (!p->problem)
        return fail(c, p->mark, "out of memory or invalid YAML");
    if (p->context)
        return fail(c, p->problem_mark, "%s (%s at line %lu, column %lu)", p->problem,
                    p->context, (unsigned long)p->context_mark.line + 1,
                    (unsigned long)p->context_mark.column + 1);
    return fail(c, p->problem_mark, "%s", p->problem);
}

/* The type of a scalar under the core schema. */
static int scalar_type(const conv *c, const char *s)
{
    for (int t = 0; t < N_TYPES; t++)
        if (regexec(&c->re[t], s, 0, NULL, 0) == 0)
            return t;
    return T_STR;
}

/* A scalar event as a JSON value (new reference), or NULL with c->msg set. */
static json_t *scalar(conv *c, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value, *tag = (const char *)ev->data.scalar.tag;
    size_t len = ev->data.scalar.length;
    yaml_mark_t mark = ev->start_mark;
    int type = T_STR;
    char *end;
    json_t *v;

    if (tag) {
        if (!strcmp(tag, YAML_INT_TAG) || !strcmp(tag, YAML_FLOAT_TAG)) {
            int want = strcmp(tag, YAML_INT_TAG) ? T_FLOAT : T_INT;
            type = scalar_type(c, s);
            if (type != want && !(want == T_FLOAT && type == T_INT)) {
                fail(c, mark, "%s scalar '%s' is not of that type", tag, s);
                return NULL;
            }
            type = want;
        } else if (strcmp(tag, YAML_STR_TAG)) {
            fail(c, mark, "unsupported tag %s", tag);
            return NULL;
        }
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        type = scalar_type(c, s);
    }

    errno = 0;
    switch (type) {
    case T_NULL:
        return json_null();
    case T_BOOL:
        return json_boolean(s[0] == 't' || s[0] == 'T');
    case T_INT: {
        int o = s[0] == '0' && s[1] == 'o', x = s[0] == '0' && s[1] == 'x';
        long long n = strtoll(s + 2 * (o || x), &end, o ? 8 : x ? 16 : 10);
        if (errno == ERANGE || end != s + len) {
            fail(c, mark, "integer %s out of range (int64)", s);
            return NULL;
        }
        return json_integer((json_int_t)n);
    }
    case T_FLOAT: {
        double d = strtod(s, &end);
        char buf[32];
        if (!isfinite(d) || end != s + len) {
            fail(c, mark, "float %s out of range: JSON has no infinity", s);
            return NULL;
        }
        snprintf(buf, sizeof buf, "%.15g", d);
        if (strtod(buf, NULL) != d)
            c->precision = 17;
        return json_real(d);
    }
    case T_NONFINITE:
        fail(c, mark, "non-finite float %s: JSON cannot represent it", s);
        return NULL;
    }
    if (!(v = json_stringn(s, len)))
        fail(c, mark, "out of memory");
    return v;
}

static int node(conv *c, const yaml_event_t *ev, int depth, json_t **out);

/* The members of a collection after its start event, up to its end event. */
static int members(conv *c, json_t *coll, int depth)
{
    yaml_event_t ev;
    json_t *k = NULL, *v = NULL;
    char *text = NULL;
    const char *key;
    size_t key_len;
    yaml_mark_t kmark;
    int rc;

    for (;;) {
        if (next(c, &ev))
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        kmark = ev.start_mark;
        rc = node(c, &ev, depth + 1, json_is_object(coll) ? &k : &v);
        yaml_event_delete(&ev);
        if (rc)
            goto out;
        if (json_is_array(coll)) {
            rc = json_array_append_new(coll, v) ? fail(c, kmark, "out of memory") : 0;
            v = NULL;
            if (rc)
                goto out;
            continue;
        }
        rc = -1;
        if (json_is_string(k)) {
            key = json_string_value(k);
            key_len = json_string_length(k);
        } else if (json_is_object(k) || json_is_array(k)) {
            fail(c, kmark, "a mapping key must be a scalar (JSON keys are strings)");
            goto out;
        } else if (!(key = text = json_dumps(k, JSON_ENCODE_ANY))) {
            fail(c, kmark, "out of memory");
            goto out;
        } else {
            key_len = strlen(key);
        }
        if (json_object_getn(coll, key, key_len)) {
            fail(c, kmark, "duplicate mapping key '%s'", key);
            goto out;
        }
        if (next(c, &ev))
            goto out;
        rc = node(c, &ev, depth + 1, &v);
        yaml_event_delete(&ev);
        if (rc)
            goto out;
        rc = json_object_setn_new(coll, key, key_len, v) ? fail(c, kmark, "out of memory") : 0;
        v = NULL;
        if (rc)
            goto out;
        json_decref(k);
        k = NULL;
        free(text);
        text = NULL;
    }
out:
    json_decref(k);
    json_decref(v);
    free(text);
    return -1;
}

/* The node that starts with *ev (borrowed) as a JSON value in *out (new reference). */
static int node(conv *c, const yaml_event_t *ev, int depth, json_t **out)
{
    const char *anchor = NULL, *tag = NULL;
    json_t *v = NULL;

    if (depth > MAX_DEPTH)
        return fail(c, ev->start_mark, "nesting deeper than %d", MAX_DEPTH);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        anchor = (const char *)ev->data.alias.anchor;
        if (!(*out = json_incref(json_object_get(c->anchors, anchor))))
            return fail(c, ev->start_mark, "undefined alias %s", anchor);
        return 0;
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        if (!(v = scalar(c, ev)))
            return -1;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            anchor = (const char *)ev->data.sequence_start.anchor;
            tag = (const char *)ev->data.sequence_start.tag;
            v = json_array();
        } else {
            anchor = (const char *)ev->data.mapping_start.anchor;
            tag = (const char *)ev->data.mapping_start.tag;
            v = json_object();
        }
        if (tag) {
            json_decref(v);
            return fail(c, ev->start_mark, "unsupported tag %s", tag);
        }
        if (!v)
            return fail(c, ev->start_mark, "out of memory");
        if (members(c, v, depth)) {
            json_decref(v);
            return -1;
        }
        break;
    default:
        return fail(c, ev->start_mark, "unexpected YAML event");
    }
    if (anchor && json_object_set(c->anchors, anchor, v)) {
        json_decref(v);
        return fail(c, ev->start_mark, "out of memory");
    }
    *out = v;
    return 0;
}

/* The whole stream, at most one document, into *out; null for an empty stream. */
static int stream(conv *c, json_t **out)
{
    yaml_event_t ev;
    int rc = -1;

    *out = NULL;
    if (next(c, &ev)) /* the stream start */
        return -1;
    yaml_event_delete(&ev);
    if (next(c, &ev))
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        *out = json_null();
        rc = 0;
        goto out;
    }
    yaml_event_delete(&ev); /* the document start */
    if (next(c, &ev) || node(c, &ev, 0, out))
        goto out;
    yaml_event_delete(&ev);
    if (next(c, &ev)) /* the document end */
        goto out;
    yaml_event_delete(&ev);
    if (next(c, &ev))
        goto out;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail(c, ev.start_mark, "more than one YAML document (JSON holds one value)");
        goto out;
    }
    rc = 0;
out:
    yaml_event_delete(&ev);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int main(int argc, char **argv)
{
    size_t flags = JSON_ENCODE_ANY | JSON_INDENT(2);
    conv c = {.precision = 15};
    json_t *doc = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c")) {
            flags = JSON_ENCODE_ANY | JSON_COMPACT;
        } else {
            fprintf(stderr, "usage: yaml2json [-c] < in.yaml > out.json\n");
            return 2;
        }
    }
    for (int t = 0; t < N_TYPES; t++)
        if (regcomp(&c.re[t], core[t], REG_EXTENDED | REG_NOSUB))
            return fprintf(stderr, "yaml2json: bad pattern %s\n", core[t]), 1;
    if (!yaml_parser_initialize(&c.parser) || !(c.anchors = json_object())) {
        fputs("yaml2json: out of memory\n", stderr);
        return 1;
    }
    yaml_parser_set_input_file(&c.parser, stdin);
    if (stream(&c, &doc))
        fprintf(stderr, "yaml2json: %s\n", c.msg);
    else if (json_dumpf(doc, stdout, flags | JSON_REAL_PRECISION(c.precision)) ||
             fputc('\n', stdout) == EOF || fflush(stdout))
        fputs("yaml2json: write error\n", stderr);
    else
        rc = 0;
    json_decref(doc);
    json_decref(c.anchors);
    yaml_parser_delete(&c.parser);
    for (int t = 0; t < N_TYPES; t++)
        regfree(&c.re[t]);
    return rc;
}
