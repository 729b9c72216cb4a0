/* yaml2json.c: reads one YAML document on stdin and writes the equivalent JSON on stdout.
 * The build uses it to turn api/openapi.yaml into the build/gen/openapi.json that the
 * server embeds and serves at GET /v1/openapi.json.
 *
 * Mapping (YAML 1.2, core schema):
 *   - mappings -> objects (key order kept), sequences -> arrays;
 *   - untagged plain scalars are typed by the core schema: null (`null`, `Null`, `NULL`,
 *     `~`, empty), booleans (`true`/`True`/`TRUE`, `false`/...), integers (decimal
 *     `[-+]?[0-9]+`, octal `0o17`, hex `0x1F`), floats
 *     (`[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`); anything else is a string;
 *   - quoted and block (`|`, `>`) scalars are always strings;
 *   - explicit tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`
 *     and the non-specific `!` are honoured; any other tag is an error;
 *   - anchors and aliases are expanded (an alias names the latest earlier definition);
 *   - a mapping key must be a scalar; non-string keys are written as their JSON text
 *     (`200` -> "200", `true` -> "true", `~` -> "null"); a duplicate key is an error.
 * Errors (exit 1, one line on stderr with line:column): a YAML syntax error, an
 * undefined alias, a non-finite float (`.inf`, `.nan`, or an overflow such as 1e400:
 * JSON cannot represent them), an integer outside int64, more than one document,
 * nesting deeper than MAX_DEPTH, or alias expansion beyond MAX_NODES nodes (the
 * "billion laughs" document). An empty stream gives `null`.
 *
 * Output: pretty-printed with 2-space indents (`-c`: compact), floats in the shortest
 * form that reads back to the same double (always with a `.` or an exponent, so 1.0
 * stays a float), strings with the minimal JSON escapes (UTF-8 passes through).
 *
 * Usage: yaml2json [-c] < in.yaml > out.json. Exit 0 on success, 1 on a conversion
 * error, 2 on a usage error.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 1000
#define MAX_NODES ((size_t)50000000)

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_SEQ "tag:yaml.org,2002:seq"
#define TAG_MAP "tag:yaml.org,2002:map"

typedef struct anchor {
    char *name;
    json_t *value;  /* owned reference */
    size_t n_nodes; /* nodes in the expanded value */
    struct anchor *next;
} anchor;

typedef struct composer {
    yaml_parser_t parser;
    anchor *anchors;
    char msg[512];
} composer;

/* ---- errors ------------------------------------------------------------------------- */

static int fail_at(composer *c, yaml_mark_t mark, const char *what, const char *detail)
{
    snprintf(c->msg, sizeof c->msg, "line %lu, column %lu: %s%s%s",
             (unsigned long)mark.line + 1, (unsigned long)mark.column + 1, what,
             detail ? ": " : "", detail ? detail : "");
    return -1;
}

static int fail_parser(composer *c)
{
    const yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return -1;
    }
    if (p->error == YAML_READER_ERROR) {
        snprintf(c->msg, sizeof c->msg, "byte offset %lu: %s", (unsigned long)p->problem_offset,
                 problem);
        return -1;
    }
    if (p->context)
        snprintf(c->msg, sizeof c->msg, "line %lu, column %lu: %s (%s at line %lu, column %lu)",
                 (unsigned long)p->problem_mark.line + 1,
                 (unsigned long)p->problem_mark.column + 1, problem, p->context,
                 (unsigned long)p->context_mark.line + 1,
                 (unsigned long)p->context_mark.column + 1);
    else
        snprintf(c->msg, sizeof c->msg, "line %lu, column %lu: %s",
                 (unsigned long)p->problem_mark.line + 1,
                 (unsigned long)p->problem_mark.column + 1, problem);
    return -1;
}

static int next_event(composer *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev))
        return fail_parser(c);
    return 0;
}

/* ---- scalars ------------------------------------------------------------------------ */

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int all_in(const char *s, size_t len, const char *set)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return 0;
    return 1;
}

static int eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static int is_null(const char *s, size_t len)
{
    return len == 0 || eq(s, len, "~") || eq(s, len, "null") || eq(s, len, "Null") ||
           eq(s, len, "NULL");
}

/* 1 true, 0 false, -1 not a boolean. */
static int as_bool(const char *s, size_t len)
{
    if (eq(s, len, "true") || eq(s, len, "True") || eq(s, len, "TRUE"))
        return 1;
    if (eq(s, len, "false") || eq(s, len, "False") || eq(s, len, "FALSE"))
        return 0;
    return -1;
}

/* Base of an integer literal of the core schema (10, 8 or 16) and the offset of its
 * digits, or 0 when s is not one. */
static int int_base(const char *s, size_t len, size_t *digits)
{
    if (len > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, len - 2, "01234567")) {
        *digits = 2;
        return 8;
    }
    if (len > 2 && s[0] == '0' && s[1] == 'x' &&
        all_in(s + 2, len - 2, "0123456789abcdefABCDEF")) {
        *digits = 2;
        return 16;
    }
    size_t i = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (all_in(s + i, len - i, "0123456789")) {
        *digits = 0;
        return 10;
    }
    return 0;
}

/* 1 when s matches [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float(const char *s, size_t len)
{
    size_t i = 0, n_int = 0, n_frac = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && is_digit(s[i]))
        i++, n_int++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i]))
            i++, n_frac++;
        if (n_int == 0 && n_frac == 0)
            return 0;
    } else if (n_int == 0) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t n_exp = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && is_digit(s[i]))
            i++, n_exp++;
        if (n_exp == 0)
            return 0;
    }
    return i == len;
}

static int is_special_float(const char *s, size_t len)
{
    const char *t = s;
    size_t n = len;
    if (n > 0 && (t[0] == '-' || t[0] == '+'))
        t++, n--;
    return eq(t, n, ".inf") || eq(t, n, ".Inf") || eq(t, n, ".INF") ||
           eq(s, len, ".nan") || eq(s, len, ".NaN") || eq(s, len, ".NAN");
}

/* Integer literal -> json integer; NULL with c->msg set when out of range. */
static json_t *make_int(composer *c, yaml_mark_t mark, const char *s, size_t len)
{
    size_t off = 0;
    int base = int_base(s, len, &off);
    char buf[80];
    if (len - off >= sizeof buf) {
        fail_at(c, mark, "integer out of range (int64)", NULL);
        return NULL;
    }
    memcpy(buf, s + off, len - off);
    buf[len - off] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, base);
    if (errno == ERANGE || *end != '\0') {
        fail_at(c, mark, "integer out of range (int64)", NULL);
        return NULL;
    }
    return json_integer((json_int_t)v);
}

static json_t *make_float(composer *c, yaml_mark_t mark, const char *s, size_t len)
{
    char *buf = malloc(len + 1);
    if (!buf) {
        fail_at(c, mark, "out of memory", NULL);
        return NULL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    free(buf);
    if (!isfinite(v)) {
        fail_at(c, mark, "float out of range: JSON has no infinity", NULL);
        return NULL;
    }
    return json_real(v);
}

static json_t *make_string(composer *c, yaml_mark_t mark, const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (!v)
        fail_at(c, mark, "string is not valid UTF-8 or memory is short", NULL);
    return v;
}

/* Resolves a scalar event to a JSON value (new reference) or NULL with c->msg set. */
static json_t *resolve_scalar(composer *c, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    yaml_mark_t mark = ev->start_mark;
    size_t off;
    int b;

    if (tag && strcmp(tag, "!") != 0) {
        if (strcmp(tag, TAG_STR) == 0)
            return make_string(c, mark, s, len);
        if (strcmp(tag, TAG_NULL) == 0) {
            if (is_null(s, len))
                return json_null();
            fail_at(c, mark, "!!null scalar is not null", NULL);
            return NULL;
        }
        if (strcmp(tag, TAG_BOOL) == 0) {
            if ((b = as_bool(s, len)) >= 0)
                return json_boolean(b);
            fail_at(c, mark, "!!bool scalar is not true or false", NULL);
            return NULL;
        }
        if (strcmp(tag, TAG_INT) == 0) {
            if (int_base(s, len, &off))
                return make_int(c, mark, s, len);
            fail_at(c, mark, "!!int scalar is not an integer", NULL);
            return NULL;
        }
        if (strcmp(tag, TAG_FLOAT) == 0) {
            if (is_special_float(s, len)) {
                fail_at(c, mark, "non-finite float: JSON cannot represent it", NULL);
                return NULL;
            }
            if (is_float(s, len))
                return make_float(c, mark, s, len);
            fail_at(c, mark, "!!float scalar is not a number", NULL);
            return NULL;
        }
        fail_at(c, mark, "unsupported tag", tag);
        return NULL;
    }
    if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return make_string(c, mark, s, len);

    /* Untagged plain scalar: the core schema. */
    if (is_null(s, len))
        return json_null();
    if ((b = as_bool(s, len)) >= 0)
        return json_boolean(b);
    if (int_base(s, len, &off))
        return make_int(c, mark, s, len);
    if (is_float(s, len))
        return make_float(c, mark, s, len);
    if (is_special_float(s, len)) {
        fail_at(c, mark, "non-finite float: JSON cannot represent it", NULL);
        return NULL;
    }
    return make_string(c, mark, s, len);
}

/* ---- number formatting ----------------------------------------------------------------- */

/* The shortest decimal form of v that reads back to v, laid out like Python's repr:
 * fixed notation for decimal exponents -4..15, else d.ddde+XX; always with a '.' or an
 * exponent, so a float stays a float. */
static void format_real(double v, char *buf, size_t n)
{
    int prec = 0, exp10;
    char *e;
    for (prec = 0; prec < 17; prec++) {
        snprintf(buf, n, "%.*e", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    e = strchr(buf, 'e');
    exp10 = e ? atoi(e + 1) : 0;
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - exp10;
        snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(buf, '.')) {
            size_t l = strlen(buf);
            if (l + 3 <= n)
                memcpy(buf + l, ".0", 3);
        }
    }
}

/* strdup is POSIX, not C11. */
static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- anchors -------------------------------------------------------------------------- */

static const anchor *anchor_find(const composer *c, const char *name)
{
    for (const anchor *a = c->anchors; a; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a; /* newest first */
    return NULL;
}

static int anchor_add(composer *c, yaml_mark_t mark, const char *name, json_t *value,
                      size_t n_nodes)
{
    anchor *a = malloc(sizeof *a);
    char *nm = dup_str(name);
    if (!a || !nm) {
        free(a);
        free(nm);
        return fail_at(c, mark, "out of memory", NULL);
    }
    a->name = nm;
    a->value = json_incref(value);
    a->n_nodes = n_nodes;
    a->next = c->anchors;
    c->anchors = a;
    return 0;
}

static void anchors_free(composer *c)
{
    anchor *a = c->anchors, *next;
    for (; a; a = next) {
        next = a->next;
        json_decref(a->value);
        free(a->name);
        free(a);
    }
    c->anchors = NULL;
}

/* ---- composition --------------------------------------------------------------------- */

static int compose(composer *c, yaml_event_t *ev, int depth, json_t **out, size_t *n_nodes);

static size_t add_nodes(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* The JSON object key for a composed key value (new string in *key_out). */
static int key_text(composer *c, yaml_mark_t mark, const json_t *k, char **key_out)
{
    char buf[64];
    const char *s = NULL;
    size_t len = 0;
    switch (json_typeof(k)) {
    case JSON_STRING:
        s = json_string_value(k);
        len = json_string_length(k);
        if (memchr(s, '\0', len))
            return fail_at(c, mark, "a mapping key contains a NUL character", NULL);
        break;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        s = buf;
        break;
    case JSON_REAL:
        format_real(json_real_value(k), buf, sizeof buf);
        s = buf;
        break;
    case JSON_TRUE:
        s = "true";
        break;
    case JSON_FALSE:
        s = "false";
        break;
    case JSON_NULL:
        s = "null";
        break;
    default:
        return fail_at(c, mark, "a mapping key must be a scalar (JSON keys are strings)",
                       NULL);
    }
    if (!(*key_out = dup_str(s)))
        return fail_at(c, mark, "out of memory", NULL);
    return 0;
}

static int compose_sequence(composer *c, int depth, json_t *arr, size_t *n_nodes)
{
    for (;;) {
        yaml_event_t ev;
        json_t *item = NULL;
        size_t n = 0;
        if (next_event(c, &ev))
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        int rc = compose(c, &ev, depth + 1, &item, &n);
        yaml_event_delete(&ev);
        if (rc)
            return -1;
        json_array_append_new(arr, item);
        *n_nodes = add_nodes(*n_nodes, n);
        if (*n_nodes > MAX_NODES)
            return fail_at(c, c->parser.mark, "alias expansion too large", NULL);
    }
}

static int compose_mapping(composer *c, int depth, json_t *obj, size_t *n_nodes)
{
    for (;;) {
        yaml_event_t ev;
        json_t *k = NULL, *v = NULL;
        char *key = NULL;
        size_t nk = 0, nv = 0;
        if (next_event(c, &ev))
            return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        yaml_mark_t kmark = ev.start_mark;
        int rc = compose(c, &ev, depth + 1, &k, &nk);
        yaml_event_delete(&ev);
        if (rc)
            return -1;
        rc = key_text(c, kmark, k, &key);
        json_decref(k);
        if (rc)
            return -1;
        if (json_object_get(obj, key)) {
            fail_at(c, kmark, "duplicate mapping key", key);
            free(key);
            return -1;
        }
        if (next_event(c, &ev)) {
            free(key);
            return -1;
        }
        rc = compose(c, &ev, depth + 1, &v, &nv);
        yaml_event_delete(&ev);
        if (rc) {
            free(key);
            return -1;
        }
        rc = json_object_set_new(obj, key, v);
        free(key);
        if (rc)
            return fail_at(c, kmark, "out of memory", NULL);
        *n_nodes = add_nodes(*n_nodes, nv);
        if (*n_nodes > MAX_NODES)
            return fail_at(c, c->parser.mark, "alias expansion too large", NULL);
    }
}

/* Composes the node that starts with *ev (owned by the caller) into *out (new ref). */
static int compose(composer *c, yaml_event_t *ev, int depth, json_t **out, size_t *n_nodes)
{
    const char *anchor_name = NULL, *tag = NULL;
    json_t *v = NULL;
    size_t n = 1;
    int rc = 0;

    if (depth > MAX_DEPTH)
        return fail_at(c, ev->start_mark, "nesting too deep", NULL);
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const anchor *a = anchor_find(c, (const char *)ev->data.alias.anchor);
        if (!a)
            return fail_at(c, ev->start_mark, "undefined alias",
                           (const char *)ev->data.alias.anchor);
        *out = json_incref(a->value);
        *n_nodes = a->n_nodes;
        return 0;
    }
    case YAML_SCALAR_EVENT:
        anchor_name = (const char *)ev->data.scalar.anchor;
        if (!(v = resolve_scalar(c, ev)))
            return -1;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor_name = (const char *)ev->data.sequence_start.anchor;
        tag = (const char *)ev->data.sequence_start.tag;
        if (tag && strcmp(tag, "!") != 0 && strcmp(tag, TAG_SEQ) != 0)
            return fail_at(c, ev->start_mark, "unsupported tag", tag);
        if (!(v = json_array()))
            return fail_at(c, ev->start_mark, "out of memory", NULL);
        rc = compose_sequence(c, depth, v, &n);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor_name = (const char *)ev->data.mapping_start.anchor;
        tag = (const char *)ev->data.mapping_start.tag;
        if (tag && strcmp(tag, "!") != 0 && strcmp(tag, TAG_MAP) != 0)
            return fail_at(c, ev->start_mark, "unsupported tag", tag);
        if (!(v = json_object()))
            return fail_at(c, ev->start_mark, "out of memory", NULL);
        rc = compose_mapping(c, depth, v, &n);
        break;
    default:
        return fail_at(c, ev->start_mark, "unexpected YAML event", NULL);
    }
    if (rc == 0 && anchor_name)
        rc = anchor_add(c, ev->start_mark, anchor_name, v, n);
    if (rc) {
        json_decref(v);
        return -1;
    }
    *out = v;
    *n_nodes = n;
    return 0;
}

/* Reads the next event into *ev and checks its type (the previous content of *ev is
 * released first; a failed parse leaves *ev empty, which is safe to delete). */
static int expect(composer *c, yaml_event_t *ev, yaml_event_type_t type, const char *what)
{
    yaml_event_delete(ev);
    if (next_event(c, ev))
        return -1;
    if (ev->type != type)
        return fail_at(c, ev->start_mark, what, NULL);
    return 0;
}

/* The whole stream: at most one document. *out = null for an empty stream. */
static int compose_stream(composer *c, json_t **out)
{
    yaml_event_t ev;
    json_t *doc = NULL;
    size_t n = 0;
    int rc = -1;

    memset(&ev, 0, sizeof ev);
    if (expect(c, &ev, YAML_STREAM_START_EVENT, "expected the start of a stream"))
        goto out;
    yaml_event_delete(&ev);
    if (next_event(c, &ev))
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        *out = json_null();
        rc = 0;
        goto out;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        fail_at(c, ev.start_mark, "expected a document", NULL);
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(c, &ev) || compose(c, &ev, 0, &doc, &n))
        goto out;
    if (expect(c, &ev, YAML_DOCUMENT_END_EVENT, "expected the end of the document") ||
        expect(c, &ev, YAML_STREAM_END_EVENT,
               "more than one YAML document (JSON holds one value)"))
        goto out;
    *out = doc;
    doc = NULL;
    rc = 0;
out:
    json_decref(doc);
    yaml_event_delete(&ev);
    return rc;
}

/* ---- output --------------------------------------------------------------------------- */

static void put_string(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                fputs("\\u00", f);
                fputc(hex[ch >> 4], f);
                fputc(hex[ch & 15], f);
            } else {
                fputc(ch, f);
            }
        }
    }
    fputc('"', f);
}

static void newline(FILE *f, int indent, int level)
{
    if (indent < 0)
        return;
    fputc('\n', f);
    for (int i = 0; i < indent * level; i++)
        fputc(' ', f);
}

/* indent < 0: compact. */
static void emit(FILE *f, const json_t *v, int indent, int level)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        int first = 1;
        if (json_object_size(v) == 0) {
            fputs("{}", f);
            return;
        }
        fputc('{', f);
        json_object_foreach((json_t *)v, key, item) {
            if (!first)
                fputc(',', f);
            first = 0;
            newline(f, indent, level + 1);
            put_string(f, key, strlen(key));
            fputs(indent < 0 ? ":" : ": ", f);
            emit(f, item, indent, level + 1);
        }
        newline(f, indent, level);
        fputc('}', f);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        if (json_array_size(v) == 0) {
            fputs("[]", f);
            return;
        }
        fputc('[', f);
        json_array_foreach(v, i, item) {
            if (i)
                fputc(',', f);
            newline(f, indent, level + 1);
            emit(f, item, indent, level + 1);
        }
        newline(f, indent, level);
        fputc(']', f);
        return;
    }
    case JSON_STRING:
        put_string(f, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        format_real(json_real_value(v), buf, sizeof buf);
        fputs(buf, f);
        return;
    case JSON_TRUE:
        fputs("true", f);
        return;
    case JSON_FALSE:
        fputs("false", f);
        return;
    case JSON_NULL:
        fputs("null", f);
        return;
    }
}

static void usage(FILE *f)
{
    fputs("usage: yaml2json [-c] < in.yaml > out.json\n"
          "Converts one YAML 1.2 document (core schema) to JSON; -c writes compact JSON.\n",
          f);
}

int main(int argc, char **argv)
{
    int indent = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            indent = -1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "yaml2json: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    composer c;
    memset(&c, 0, sizeof c);
    if (!yaml_parser_initialize(&c.parser)) {
        fputs("yaml2json: cannot initialize the YAML parser\n", stderr);
        return 1;
    }
    yaml_parser_set_input_file(&c.parser, stdin);
    json_t *doc = NULL;
    int rc = compose_stream(&c, &doc);
    anchors_free(&c);
    yaml_parser_delete(&c.parser);
    if (rc) {
        fprintf(stderr, "yaml2json: %s\n", c.msg[0] ? c.msg : "conversion failed");
        return 1;
    }
    emit(stdout, doc, indent, 0);
    fputc('\n', stdout);
    json_decref(doc);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("yaml2json: write error\n", stderr);
        return 1;
    }
    return 0;
}
