/* apidoc.c: reads the OpenAPI document as JSON (build/gen/openapi.json, made from
 * api/openapi.yaml by tools/yaml2json) on stdin and writes the Markdown API reference
 * (docs/api.md) on stdout. `make docs` regenerates docs/api.md with it; `make docs-check`
 * (part of `make test`) fails when the committed file differs from its output.
 *
 * The words are the document's own: every description is copied as written, and the
 * generator adds only headings, table headers and the facts of the schema keywords
 * (type, enum, default, bounds, ...). Layout:
 *   - the title, version and info.description (whose `##` headings stay top-level);
 *   - "Endpoints": an index, then per path its description and per operation its
 *     summary, description, parameters, request body, responses and callbacks;
 *   - "Shared responses" and "Headers": components.responses and components.headers,
 *     which the operations link to;
 *   - "Schemas": every component schema with its description, its facts and a table of
 *     its properties (nested inline objects flattened as `a.b`, array items as `a[].b`).
 * A `$ref` to a schema is a link to its section; a property whose schema is a `$ref` to
 * a scalar or array schema also shows that schema's type, default, bounds and
 * description. Table cells escape `|` and turn newlines into spaces or `<br>`.
 *
 * Deterministic: document order throughout (jansson keeps the order of object keys).
 * Anchors are GitHub's heading slugs; a generated heading whose slug another heading
 * already has (which would break its links) is an error.
 *
 * Errors (unreadable JSON, a `$ref` that resolves to nothing, a slug collision, out of
 * memory, a write error): one line on stderr and exit 1; usage error: exit 2. A build
 * tool, single-threaded: it exits on the first error rather than unwinding.
 *
 * Usage: apidoc < openapi.json > api.md
 */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REF_HOPS 16 /* a chain of $ref longer than this is taken for a cycle */
#define MAX_NEST 6      /* nesting of inline objects flattened into one table */
#define EXAMPLE_COLUMNS 88 /* JSON examples: a value that fits stays on one line */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

typedef struct gen {
    json_t *root;    /* borrowed: the whole document */
    json_t *anchors; /* slug -> true when a generated heading has it, false otherwise */
    FILE *out;
} gen;

static const char *const methods[] = {"get", "put", "post", "delete", "options",
                                      "head", "patch", "trace"};

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("apidoc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- growable strings ---------------------------------------------------------------- */

/* Room for n more bytes and the terminating NUL. */
static void sb_reserve(sbuf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
}

static void sb_addn(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        die("formatting failed");
    sb_reserve(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

static void sb_reset(sbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static const char *sb_str(sbuf *b)
{
    return b->p ? b->p : "";
}

/* v as compact JSON; reals with 15 significant digits, as yaml2json writes them. */
static void sb_json(sbuf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!s)
        die("out of memory");
    sb_puts(b, s);
    free(s);
}

/* A value as a code span: a non-empty string as it is, anything else (and "") as JSON.
 * A value with a backtick gets a double-backtick span. */
static void sb_code(sbuf *b, const json_t *v)
{
    sbuf t = {0};
    if (json_string_length(v))
        sb_puts(&t, json_string_value(v));
    else
        sb_json(&t, v);
    if (strchr(sb_str(&t), '`'))
        sb_printf(b, "`` %s ``", sb_str(&t));
    else
        sb_printf(b, "`%s`", sb_str(&t));
    free(t.p);
}

/* ---- the document -------------------------------------------------------------------- */

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The object a `$ref` names (following chains), or v itself when v has no `$ref`
 * (borrowed). *name_out (may be NULL) gets the last component name, or NULL. Only local
 * references, and without JSON Pointer escapes (`~0`, `~1`): the document's names have
 * neither `~` nor `/`. */
static json_t *deref(const gen *g, json_t *v, const char **name_out)
{
    const char *ref;
    int hops = 0;

    if (name_out)
        *name_out = NULL;
    while ((ref = str(v, "$ref"))) {
        if (++hops > MAX_REF_HOPS)
            die("$ref chain too long at %s", ref);
        if (strncmp(ref, "#/", 2))
            die("unsupported $ref %s (only local references)", ref);
        json_t *t = g->root;
        const char *p = ref + 1, *seg = NULL;
        while (*p == '/') {
            seg = p + 1;
            p = strchr(seg, '/');
            if (!p)
                p = seg + strlen(seg);
            t = json_object_getn(t, seg, (size_t)(p - seg));
        }
        if (!t)
            die("unresolved $ref %s", ref);
        v = t;
        if (name_out)
            *name_out = seg;
    }
    return v;
}

/* GitHub's heading slug: lowercase letters and digits, `-` and `_` kept, spaces to `-`,
 * everything else dropped (non-ASCII bytes kept). */
static void sb_slug(sbuf *b, const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        char c = (char)*s;
        if (isalnum(*s))
            c = (char)tolower(*s);
        else if (*s == ' ')
            c = '-';
        else if (!(*s == '-' || *s == '_' || *s >= 0x80))
            continue;
        sb_addn(b, &c, 1);
    }
}

/* Records the slug of a heading; generated headings must not share one (their links
 * would lead to the other heading). */
static void anchor_add(gen *g, const char *text, int generated)
{
    sbuf s = {0};
    sb_slug(&s, text);
    json_t *old = json_object_get(g->anchors, sb_str(&s));
    if (old && (generated || json_is_true(old)))
        die("two headings have the anchor #%s (one is \"%s\"); rename one", sb_str(&s), text);
    if (!old && json_object_set_new(g->anchors, sb_str(&s), json_boolean(generated)))
        die("out of memory");
    free(s.p);
}

static void heading(gen *g, int level, const char *fmt, ...)
{
    sbuf t = {0};
    va_list ap;

    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    anchor_add(g, sb_str(&t), 1);
    fprintf(g->out, "%.*s %s\n\n", level, "######", sb_str(&t));
    free(t.p);
}

/* `[Name](#slug)` */
static void sb_link(sbuf *b, const char *name)
{
    sb_printf(b, "[%s](#", name);
    sb_slug(b, name);
    sb_puts(b, ")");
}

/* ---- Markdown output ----------------------------------------------------------------- */

/* A description as a block: as written, followed by one blank line. Its headings are
 * recorded (outside code fences) so that no generated heading takes their anchors. */
static void put_block(gen *g, const char *s)
{
    const char *nl;
    size_t n;
    int fence = 0;

    if (!s)
        return;
    for (const char *l = s; l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        if (!strncmp(l + strspn(l, " "), "```", 3)) {
            fence = !fence;
        } else if (!fence && *l == '#') {
            const char *t = l + strspn(l, "#");
            sbuf text = {0};
            if (*t == ' ') {
                sb_addn(&text, t + 1, strcspn(t + 1, "\n"));
                anchor_add(g, sb_str(&text), 0);
            }
            free(text.p);
        }
    }
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    fprintf(g->out, "%.*s\n\n", (int)n, s);
}

/* Whether the line after a newline at s starts a list item (`- `, `* `, `1. `). */
static int list_item(const char *s)
{
    s += strspn(s, " ");
    if ((*s == '-' || *s == '*') && s[1] == ' ')
        return 1;
    if (isdigit((unsigned char)*s)) {
        s += strspn(s, "0123456789");
        return *s == '.' && s[1] == ' ';
    }
    return 0;
}

/* One table cell: `|` escaped (GitHub reads `\|` as `|` in code spans too); a blank
 * line becomes `<br><br>`, a newline before a list item `<br>`, any other a space. */
static void put_cell(gen *g, const char *s)
{
    size_t n;

    fputs("| ", g->out);
    if (!s)
        s = "";
    s += strspn(s, " \n\r\t");
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '|') {
            fputs("\\|", g->out);
        } else if (s[i] == '\n') {
            if (s[i + 1] == '\n') {
                fputs("<br><br>", g->out);
                while (i + 1 < n && isspace((unsigned char)s[i + 1]))
                    i++;
            } else if (list_item(s + i + 1)) {
                fputs("<br>", g->out);
            } else {
                fputc(' ', g->out);
            }
        } else if (s[i] != '\r') {
            fputc(s[i], g->out);
        }
    }
    fputc(' ', g->out);
}

static void end_row(gen *g)
{
    fputs("|\n", g->out);
}

static void table_head(gen *g, const char *const *cols, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(g->out, "| %s ", cols[i]);
    end_row(g);
    for (int i = 0; i < n; i++)
        fputs("|---", g->out);
    end_row(g);
}

/* ---- schemas ------------------------------------------------------------------------- */

/* Whether s accepts only null (the `NullValue` pattern: `enum: [null]`). */
static int null_only(const json_t *s)
{
    const json_t *e = json_object_get(s, "enum");
    return json_array_size(e) == 1 && json_is_null(json_array_get(e, 0));
}

static int composite(const json_t *s)
{
    return json_object_get(s, "oneOf") || json_object_get(s, "anyOf") ||
           json_object_get(s, "allOf");
}

/* A schema whose facts a property row shows in place (a scalar or array type). */
static int inlinable(const json_t *s)
{
    const char *type = str(s, "type");
    return type && strcmp(type, "object") && !composite(s) && !null_only(s);
}

static void sb_type(const gen *g, sbuf *b, json_t *s);

static void sb_members(const gen *g, sbuf *b, json_t *arr, const char *sep)
{
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m) {
        if (i)
            sb_puts(b, sep);
        sb_type(g, b, m);
    }
}

/* The type of a schema in one line: `$ref`s as links, `array of ...`, enum values,
 * `or null`. */
static void sb_type(const gen *g, sbuf *b, json_t *s)
{
    const char *name, *type, *format;
    json_t *t = deref(g, s, &name), *e, *v, *add;
    size_t i;

    if (null_only(t)) {
        sb_puts(b, "null");
        return;
    }
    if (name) {
        sb_link(b, name);
        return;
    }
    if ((v = json_object_get(s, "oneOf")) || (v = json_object_get(s, "anyOf"))) {
        sb_members(g, b, v, " or ");
        return;
    }
    if ((v = json_object_get(s, "allOf"))) {
        sb_members(g, b, v, " and ");
        return;
    }
    type = str(s, "type");
    if (!type) {
        sb_puts(b, "any");
    } else if (!strcmp(type, "array")) {
        sb_puts(b, "array of ");
        if (json_object_get(s, "items"))
            sb_type(g, b, json_object_get(s, "items"));
        else
            sb_puts(b, "any");
    } else if (!strcmp(type, "object") && !json_object_get(s, "properties") &&
               json_is_object(add = json_object_get(s, "additionalProperties"))) {
        sb_puts(b, "object of ");
        sb_type(g, b, add);
    } else {
        sb_puts(b, type);
        if ((format = str(s, "format")))
            sb_printf(b, " (%s)", format);
    }
    if ((e = json_object_get(s, "enum"))) {
        sb_puts(b, json_array_size(e) == 1 ? ": " : ", one of ");
        json_array_foreach(e, i, v) {
            if (i)
                sb_puts(b, ", ");
            sb_code(b, v);
        }
    }
    if (json_is_true(json_object_get(s, "nullable")) && !null_only(s)) {
        int has_null = 0;
        json_array_foreach(e, i, v) {
            has_null |= json_is_null(v);
        }
        if (!has_null)
            sb_puts(b, " or null");
    }
}

static void sb_sep(sbuf *b, const char *sep)
{
    if (b->len)
        sb_puts(b, sep);
}

static void sb_bound(sbuf *b, const json_t *s, const char *key, const char *op, const char *sep)
{
    const json_t *v = json_object_get(s, key);
    char ex[32];
    const json_t *x;

    if (!v)
        return;
    snprintf(ex, sizeof ex, "exclusive%c%s", (char)toupper((unsigned char)key[0]), key + 1);
    x = json_object_get(s, ex);
    sb_sep(b, sep);
    sb_printf(b, "%c%s ", op[0], json_is_true(x) ? "" : "=");
    sb_json(b, v);
}

/* The bounds of a schema, joined by sep: minimum/maximum (exclusive or not), lengths
 * (of arrays: minItems/maxItems; of strings: minLength/maxLength), pattern, uniqueness;
 * those of inline array items after `every item:`. */
static void sb_constraints(const gen *g, sbuf *b, json_t *s, const char *sep)
{
    const json_t *v, *lo = json_object_get(s, "minItems"), *hi = json_object_get(s, "maxItems");
    json_t *items = json_object_get(s, "items");

    sb_bound(b, s, "minimum", ">", sep);
    sb_bound(b, s, "maximum", "<", sep);
    /* OpenAPI 3.1 writes exclusive bounds as numbers */
    if (json_is_number(v = json_object_get(s, "exclusiveMinimum"))) {
        sb_sep(b, sep);
        sb_puts(b, "> ");
        sb_json(b, v);
    }
    if (json_is_number(v = json_object_get(s, "exclusiveMaximum"))) {
        sb_sep(b, sep);
        sb_puts(b, "< ");
        sb_json(b, v);
    }
    if (lo && json_equal(lo, hi)) {
        sb_sep(b, sep);
        sb_printf(b, "length %" JSON_INTEGER_FORMAT, json_integer_value(lo));
        lo = hi = NULL;
    }
    if (lo) {
        sb_sep(b, sep);
        sb_printf(b, "length >= %" JSON_INTEGER_FORMAT, json_integer_value(lo));
    }
    if ((v = hi)) {
        sb_sep(b, sep);
        sb_printf(b, "length <= %" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    if (json_is_true(json_object_get(s, "uniqueItems"))) {
        sb_sep(b, sep);
        sb_puts(b, "unique items");
    }
    if ((v = json_object_get(s, "minLength"))) {
        sb_sep(b, sep);
        sb_printf(b, "length >= %" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    if ((v = json_object_get(s, "maxLength"))) {
        sb_sep(b, sep);
        sb_printf(b, "length <= %" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    if ((v = json_object_get(s, "pattern"))) {
        sb_sep(b, sep);
        sb_puts(b, "pattern ");
        sb_code(b, v);
    }
    if (items && !str(items, "$ref")) {
        sbuf ib = {0};
        sb_constraints(g, &ib, items, " and ");
        if (ib.len) {
            sb_sep(b, sep);
            sb_printf(b, "every item: %s", sb_str(&ib));
        }
        free(ib.p);
    }
}

/* The facts of one property or parameter schema, as the cells of its row. A `$ref` (or
 * an `allOf` of one `$ref`) to an inlinable schema contributes that schema's type,
 * default, bounds and description where the property has none of its own. */
typedef struct facts {
    sbuf type, def, bounds;
    const char *desc;
} facts;

static void facts_get(const gen *g, facts *f, json_t *p)
{
    json_t *all = json_object_get(p, "allOf"), *t, *v;
    json_t *base = p;
    const char *name;

    if (json_array_size(all) == 1 && str(json_array_get(all, 0), "$ref"))
        base = json_array_get(all, 0);
    t = deref(g, base, &name);
    if (name && inlinable(t)) {
        sb_link(&f->type, name);
        sb_puts(&f->type, ": ");
        sb_type(g, &f->type, t);
    } else {
        sb_type(g, &f->type, base);
    }
    if (!t || !name || !inlinable(t))
        t = NULL;
    if ((v = json_object_get(p, "default")) || (t && (v = json_object_get(t, "default"))))
        sb_code(&f->def, v);
    sb_constraints(g, &f->bounds, p, ", ");
    if (!f->bounds.len && t)
        sb_constraints(g, &f->bounds, t, ", ");
    f->desc = str(p, "description");
    if (!f->desc && t)
        f->desc = str(t, "description");
}

static void facts_free(facts *f)
{
    free(f->type.p);
    free(f->def.p);
    free(f->bounds.p);
}

static int in_required(const json_t *s, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s, "required"), i, v) {
        if (json_is_string(v) && !strcmp(json_string_value(v), name))
            return 1;
    }
    return 0;
}

/* The rows of the properties of s, named prefix + name; nested inline objects and the
 * inline object items of arrays get their own rows after their parent's. */
static void prop_rows(gen *g, json_t *s, const char *prefix, int depth)
{
    const char *key;
    json_t *p, *items;
    sbuf name = {0}, cell = {0};

    json_object_foreach(json_object_get(s, "properties"), key, p) {
        facts f = {0};
        sb_reset(&name);
        sb_printf(&name, "%s%s", prefix, key);
        facts_get(g, &f, p);
        sb_reset(&cell);
        sb_printf(&cell, "`%s`", sb_str(&name));
        put_cell(g, sb_str(&cell));
        put_cell(g, sb_str(&f.type));
        put_cell(g, in_required(s, key) ? "yes" : "");
        put_cell(g, sb_str(&f.def));
        put_cell(g, sb_str(&f.bounds));
        put_cell(g, f.desc);
        end_row(g);
        facts_free(&f);
        if (depth >= MAX_NEST)
            continue;
        if (json_object_get(p, "properties") && !str(p, "$ref")) {
            sb_puts(&name, ".");
            prop_rows(g, p, sb_str(&name), depth + 1);
        } else if ((items = json_object_get(p, "items")) && json_object_get(items, "properties") &&
                   !str(items, "$ref")) {
            sb_puts(&name, "[].");
            prop_rows(g, items, sb_str(&name), depth + 1);
        }
    }
    free(name.p);
    free(cell.p);
}

static void prop_table(gen *g, json_t *s)
{
    static const char *const cols[] = {"property", "type", "required", "default",
                                       "bounds",   "description"};
    if (!json_object_size(json_object_get(s, "properties")))
        return;
    table_head(g, cols, 6);
    prop_rows(g, s, "", 0);
    fputc('\n', g->out);
}

/* A fenced example: a string as text, anything else as indented JSON. */
/* v as JSON laid out for reading: on one line when it fits in EXAMPLE_COLUMNS from column
 * `col` on, else one member per line, indented by 2 more than the line it starts on
 * (indented by `indent`). */
static void sb_json_pretty(sbuf *b, const json_t *v, size_t indent, size_t col)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    const char *key;
    json_t *m;
    size_t i, n;

    if (!s)
        die("out of memory");
    n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    if (col + strlen(s) <= EXAMPLE_COLUMNS || !n) {
        sb_puts(b, s);
        free(s);
        return;
    }
    free(s);
    sb_puts(b, json_is_object(v) ? "{\n" : "[\n");
    i = 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m) {
            json_t *k = json_string(key);
            size_t at = b->len;
            if (!k)
                die("out of memory");
            sb_printf(b, "%*s", (int)(indent + 2), "");
            sb_json(b, k);
            sb_puts(b, ": ");
            json_decref(k);
            sb_json_pretty(b, m, indent + 2, b->len - at);
            sb_puts(b, ++i < n ? ",\n" : "\n");
        }
    } else {
        json_array_foreach(v, i, m) {
            sb_printf(b, "%*s", (int)(indent + 2), "");
            sb_json_pretty(b, m, indent + 2, indent + 2);
            sb_puts(b, i + 1 < n ? ",\n" : "\n");
        }
    }
    sb_printf(b, "%*s%s", (int)indent, "", json_is_object(v) ? "}" : "]");
}

/* A fenced example: a string as text, anything else as JSON. */
static void put_example(gen *g, const json_t *v)
{
    sbuf b = {0};
    const char *lang = "json";
    size_t n;

    if (json_is_string(v)) {
        sb_puts(&b, json_string_value(v));
        lang = "";
    } else {
        sb_json_pretty(&b, v, 0, 0);
    }
    n = b.len;
    while (n && b.p[n - 1] == '\n')
        n--;
    /* a longer fence when the text holds one */
    fprintf(g->out, "%s%s\n%.*s\n%s\n\n", strstr(sb_str(&b), "```") ? "````" : "```", lang,
            (int)n, sb_str(&b), strstr(sb_str(&b), "```") ? "````" : "```");
    free(b.p);
}

/* The `example` and `examples` of a schema or media type object. */
static void put_examples(gen *g, json_t *m, const char *what)
{
    const char *key;
    json_t *ex;

    if ((ex = json_object_get(m, "example"))) {
        fprintf(g->out, "Example%s:\n\n", what);
        put_example(g, ex);
    }
    json_object_foreach(json_object_get(m, "examples"), key, ex) {
        const char *summary = str(ex, "summary");
        fprintf(g->out, "Example%s `%s`%s%s:\n\n", what, key, summary ? ", " : "",
                summary ? summary : "");
        put_example(g, json_object_get(ex, "value"));
    }
}

static void put_fact(gen *g, const char *label, const char *text)
{
    if (text && *text)
        fprintf(g->out, "- **%s:** %s\n", label, text);
}

/* One component schema: description, facts, property tables, examples. */
static void schema_section(gen *g, const char *name, json_t *s)
{
    sbuf b = {0};
    json_t *v, *m;
    const char *key;
    size_t i;
    int facts_out = 0;

    heading(g, 3, "%s", name);
    put_block(g, str(s, "description"));
    for (i = 0; i < 3; i++) {
        static const char *const keys[] = {"oneOf", "anyOf", "allOf"};
        static const char *const labels[] = {"One of", "Any of", "All of"};
        if ((v = json_object_get(s, keys[i]))) {
            sb_reset(&b);
            sb_members(g, &b, v, ", ");
            put_fact(g, labels[i], sb_str(&b));
            facts_out = 1;
        }
    }
    if (json_object_get(s, "type") || str(s, "$ref")) {
        sb_reset(&b);
        sb_type(g, &b, s);
        if (json_is_false(json_object_get(s, "additionalProperties")))
            sb_puts(&b, " (`additionalProperties: false`)");
        put_fact(g, "Type", sb_str(&b));
        facts_out = 1;
    }
    if ((v = json_object_get(s, "discriminator"))) {
        sb_reset(&b);
        sb_printf(&b, "`%s`", str(v, "propertyName") ? str(v, "propertyName") : "?");
        i = 0;
        json_object_foreach(json_object_get(v, "mapping"), key, m) {
            const char *target = json_string_value(m);
            const char *slash = target ? strrchr(target, '/') : NULL;
            sb_printf(&b, "%s`%s` -> ", i++ ? ", " : ": ", key);
            if (slash)
                sb_link(&b, slash + 1);
            else
                sb_code(&b, m);
        }
        put_fact(g, "Discriminator", sb_str(&b));
        facts_out = 1;
    }
    if ((v = json_object_get(s, "default"))) {
        sb_reset(&b);
        sb_code(&b, v);
        put_fact(g, "Default", sb_str(&b));
        facts_out = 1;
    }
    sb_reset(&b);
    sb_constraints(g, &b, s, ", ");
    if (b.len) {
        put_fact(g, "Bounds", sb_str(&b));
        facts_out = 1;
    }
    if ((v = json_object_get(s, "not"))) {
        sb_reset(&b);
        sb_code(&b, v);
        put_fact(g, "Not", sb_str(&b));
        facts_out = 1;
    }
    if (facts_out)
        fputc('\n', g->out);
    prop_table(g, s);
    json_array_foreach(json_object_get(s, "allOf"), i, m) {
        prop_table(g, m);
    }
    put_examples(g, s, "");
    free(b.p);
}

/* ---- operations ---------------------------------------------------------------------- */

/* The body column of a response, or a request body's list: per media type its schema. */
static void sb_content(const gen *g, sbuf *b, json_t *content, const char *sep)
{
    const char *mt;
    json_t *m;
    int first = 1;

    json_object_foreach(content, mt, m) {
        sb_printf(b, "%s`%s`", first ? "" : sep, mt);
        if (json_object_get(m, "schema")) {
            sb_puts(b, ": ");
            sb_type(g, b, json_object_get(m, "schema"));
        }
        first = 0;
    }
}

static void sb_headers(const gen *g, sbuf *b, json_t *headers)
{
    const char *name;
    json_t *h;
    int first = 1;

    json_object_foreach(headers, name, h) {
        sb_printf(b, "%s`%s`", first ? "" : ", ", name);
        first = 0;
    }
}

static void sb_security(sbuf *b, json_t *sec)
{
    size_t i;
    json_t *req, *v;
    const char *name;

    if (!json_array_size(sec)) {
        sb_puts(b, "none");
        return;
    }
    json_array_foreach(sec, i, req) {
        int first = 1;
        if (i)
            sb_puts(b, ", or ");
        if (!json_object_size(req))
            sb_puts(b, "none");
        json_object_foreach(req, name, v) {
            sb_printf(b, "%s`%s`", first ? "" : " and ", name);
            first = 0;
        }
    }
}

/* The path-level parameters not overridden by the operation's, then the operation's. */
static void param_table(gen *g, json_t *path_params, json_t *op_params)
{
    static const char *const cols[] = {"name", "in", "required", "type", "default", "bounds",
                                       "description"};
    json_t *lists[2] = {path_params, op_params}, *p, *q;
    size_t i, j;

    if (!json_array_size(path_params) && !json_array_size(op_params))
        return;
    fputs("**Parameters**\n\n", g->out);
    table_head(g, cols, 7);
    for (int l = 0; l < 2; l++) {
        json_array_foreach(lists[l], i, p) {
            int overridden = 0;
            facts f = {0};
            sbuf c = {0};
            json_t *schema;

            p = deref(g, p, NULL);
            if (l == 0) {
                json_array_foreach(op_params, j, q) {
                    q = deref(g, q, NULL);
                    overridden |=
                        json_equal(json_object_get(p, "name"), json_object_get(q, "name")) &&
                        json_equal(json_object_get(p, "in"), json_object_get(q, "in"));
                }
                if (overridden)
                    continue;
            }
            sb_printf(&c, "`%s`", str(p, "name") ? str(p, "name") : "?");
            put_cell(g, sb_str(&c));
            put_cell(g, str(p, "in"));
            put_cell(g, json_is_true(json_object_get(p, "required")) ? "yes" : "");
            if ((schema = json_object_get(p, "schema")))
                facts_get(g, &f, schema);
            put_cell(g, sb_str(&f.type));
            put_cell(g, sb_str(&f.def));
            put_cell(g, sb_str(&f.bounds));
            put_cell(g, str(p, "description") ? str(p, "description") : f.desc);
            end_row(g);
            facts_free(&f);
            free(c.p);
        }
    }
    fputc('\n', g->out);
}

/* The request body: per media type its schema, inline property tables, examples. */
static void request_body(gen *g, json_t *rb)
{
    const char *mt;
    json_t *m, *schema;

    if (!rb)
        return;
    rb = deref(g, rb, NULL);
    fprintf(g->out, "**Request body**%s\n\n",
            json_is_true(json_object_get(rb, "required")) ? " (required)" : " (optional)");
    if (str(rb, "description"))
        put_block(g, str(rb, "description"));
    json_object_foreach(json_object_get(rb, "content"), mt, m) {
        sbuf b = {0};
        schema = json_object_get(m, "schema");
        sb_printf(&b, "- `%s`", mt);
        if (schema) {
            sb_puts(&b, ": ");
            sb_type(g, &b, schema);
        }
        fprintf(g->out, "%s\n", sb_str(&b));
        free(b.p);
        if (schema && !str(schema, "$ref") && str(schema, "description")) {
            /* an inline schema's description, as an indented paragraph of the item */
            const char *d = str(schema, "description");
            size_t n = strlen(d);
            while (n && isspace((unsigned char)d[n - 1]))
                n--;
            fputs("\n  ", g->out);
            for (size_t k = 0; k < n; k++) {
                fputc(d[k], g->out);
                if (d[k] == '\n' && d[k + 1] != '\n')
                    fputs("  ", g->out);
            }
            fputc('\n', g->out);
        }
    }
    fputc('\n', g->out);
    json_object_foreach(json_object_get(rb, "content"), mt, m) {
        schema = json_object_get(m, "schema");
        if (schema && !str(schema, "$ref"))
            prop_table(g, schema);
    }
    json_object_foreach(json_object_get(rb, "content"), mt, m) {
        sbuf b = {0};
        if (json_object_size(json_object_get(rb, "content")) > 1)
            sb_printf(&b, " of `%s`", mt);
        put_examples(g, m, sb_str(&b));
        free(b.p);
    }
}

/* The responses table, then inline body descriptions and examples. */
static void responses(gen *g, json_t *rs)
{
    static const char *const cols[] = {"status", "description", "headers", "body"};
    const char *status, *name, *mt;
    json_t *r, *m;
    sbuf b = {0};

    if (!json_object_size(rs))
        return;
    fputs("**Responses**\n\n", g->out);
    table_head(g, cols, 4);
    json_object_foreach(rs, status, r) {
        json_t *t = deref(g, r, &name);
        put_cell(g, status);
        sb_reset(&b);
        if (name) {
            sb_link(&b, name);
            if (str(r, "description")) /* OpenAPI 3.1: a description beside the $ref */
                sb_printf(&b, ": %s", str(r, "description"));
            put_cell(g, sb_str(&b));
        } else {
            put_cell(g, str(t, "description"));
        }
        sb_reset(&b);
        sb_headers(g, &b, json_object_get(t, "headers"));
        put_cell(g, sb_str(&b));
        sb_reset(&b);
        sb_content(g, &b, json_object_get(t, "content"), "<br>");
        put_cell(g, b.len ? sb_str(&b) : "none");
        end_row(g);
    }
    fputc('\n', g->out);
    json_object_foreach(rs, status, r) {
        if (str(r, "$ref"))
            continue;
        json_object_foreach(json_object_get(r, "content"), mt, m) {
            json_t *schema = json_object_get(m, "schema");
            if (schema && !str(schema, "$ref") && str(schema, "description")) {
                sb_reset(&b);
                sb_printf(&b, "Body of %s `%s`: %s", status, mt, str(schema, "description"));
                put_block(g, sb_str(&b));
            }
            sb_reset(&b);
            sb_printf(&b, " of %s `%s`", status, mt);
            put_examples(g, m, sb_str(&b));
        }
    }
    free(b.p);
}

/* `POST /v1/jobs`: the heading of an operation, and the text of links to it. */
static void sb_op_title(sbuf *b, const char *method, const char *path)
{
    for (const char *m = method; *m; m++) {
        char c = (char)toupper((unsigned char)*m);
        sb_addn(b, &c, 1);
    }
    sb_printf(b, " %s", path);
}

/* One operation (or callback operation) under a heading of the given level. */
static void operation(gen *g, int level, const char *method, const char *path,
                      json_t *path_item, json_t *op)
{
    const char *key, *expr, *cmethod;
    json_t *cb, *item, *cop;
    sbuf b = {0};

    sb_op_title(&b, method, path);
    heading(g, level, "%s", sb_str(&b));
    sb_reset(&b);
    if (str(op, "summary"))
        fprintf(g->out, "*%s*\n\n", str(op, "summary"));
    if (str(op, "operationId"))
        fprintf(g->out, "Operation id: `%s`.", str(op, "operationId"));
    if (json_object_get(op, "security")) {
        sb_security(&b, json_object_get(op, "security"));
        fprintf(g->out, "%sSecurity: %s.", str(op, "operationId") ? " " : "", sb_str(&b));
    }
    if (str(op, "operationId") || json_object_get(op, "security"))
        fputs("\n\n", g->out);
    if (json_is_true(json_object_get(op, "deprecated")))
        fputs("**Deprecated.**\n\n", g->out);
    put_block(g, str(op, "description"));
    param_table(g, json_object_get(path_item, "parameters"), json_object_get(op, "parameters"));
    request_body(g, json_object_get(op, "requestBody"));
    responses(g, json_object_get(op, "responses"));
    json_object_foreach(json_object_get(op, "callbacks"), key, cb) {
        json_object_foreach(deref(g, cb, NULL), expr, item) {
            for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
                cmethod = methods[k];
                if (!(cop = json_object_get(item, cmethod)))
                    continue;
                fprintf(g->out, "**Callback `%s`**\n\n", key);
                operation(g, level + 1 > 6 ? 6 : level + 1, cmethod, expr, item, cop);
            }
        }
    }
    free(b.p);
}

/* Whether a key of a path item names an operation (an HTTP method). */
static int is_method(const char *key)
{
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
        if (!strcmp(key, methods[k]))
            return 1;
    return 0;
}

/* The security schemes and the default security requirement, before the endpoints. */
static void security(gen *g)
{
    json_t *sch;
    const char *name;
    sbuf b = {0};

    json_object_foreach(json_object_get(json_object_get(g->root, "components"), "securitySchemes"),
                        name, sch) {
        sb_reset(&b);
        sb_printf(&b, "Security scheme `%s`: %s", name, str(sch, "type") ? str(sch, "type") : "?");
        if (str(sch, "scheme"))
            sb_printf(&b, " `%s`", str(sch, "scheme"));
        if (str(sch, "description"))
            sb_printf(&b, ". %s", str(sch, "description"));
        put_block(g, sb_str(&b));
    }
    if (json_object_get(g->root, "security")) {
        sb_reset(&b);
        sb_security(&b, json_object_get(g->root, "security"));
        fprintf(g->out, "Security of every operation unless it says otherwise: %s.\n\n",
                sb_str(&b));
    }
    free(b.p);
}

/* "Endpoints": an index of the operations, then per path its operations. */
static void endpoints(gen *g)
{
    json_t *paths = json_object_get(g->root, "paths"), *item, *op;
    const char *path, *method;
    sbuf b = {0}, slug = {0};

    heading(g, 2, "Endpoints");
    security(g);
    json_object_foreach(paths, path, item) {
        json_object_foreach(item, method, op) {
            if (!is_method(method))
                continue;
            sb_reset(&b);
            sb_reset(&slug);
            sb_op_title(&b, method, path);
            sb_slug(&slug, sb_str(&b));
            fprintf(g->out, "- [`%s`](#%s)", sb_str(&b), sb_str(&slug));
            if (str(op, "summary"))
                fprintf(g->out, ": %s", str(op, "summary"));
            fputc('\n', g->out);
        }
    }
    fputc('\n', g->out);
    json_object_foreach(paths, path, item) {
        heading(g, 3, "Path `%s`", path);
        put_block(g, str(item, "description"));
        json_object_foreach(item, method, op) {
            if (is_method(method))
                operation(g, 4, method, path, item, op);
        }
    }
    free(b.p);
    free(slug.p);
}

/* "Shared responses" (components.responses) and "Headers" (components.headers). */
static void shared_responses(gen *g)
{
    static const char *const cols[] = {"header", "type", "description"};
    json_t *comp = json_object_get(g->root, "components"), *r, *h;
    const char *name;
    sbuf b = {0};

    if (json_object_size(json_object_get(comp, "responses"))) {
        heading(g, 2, "Shared responses");
        json_object_foreach(json_object_get(comp, "responses"), name, r) {
            heading(g, 3, "%s", name);
            put_block(g, str(r, "description"));
            sb_reset(&b);
            sb_headers(g, &b, json_object_get(r, "headers"));
            put_fact(g, "Headers", sb_str(&b));
            sb_reset(&b);
            sb_content(g, &b, json_object_get(r, "content"), ", ");
            put_fact(g, "Body", b.len ? sb_str(&b) : "none");
            fputc('\n', g->out);
        }
    }
    if (json_object_size(json_object_get(comp, "headers"))) {
        heading(g, 2, "Headers");
        table_head(g, cols, 3);
        json_object_foreach(json_object_get(comp, "headers"), name, h) {
            facts f = {0};
            h = deref(g, h, NULL);
            sb_reset(&b);
            sb_printf(&b, "`%s`", name);
            put_cell(g, sb_str(&b));
            if (json_object_get(h, "schema"))
                facts_get(g, &f, json_object_get(h, "schema"));
            put_cell(g, sb_str(&f.type));
            put_cell(g, str(h, "description"));
            end_row(g);
            facts_free(&f);
        }
        fputc('\n', g->out);
    }
    free(b.p);
}

/* "Schemas": an index, then one section per component schema. */
static void schemas(gen *g)
{
    json_t *all = json_object_get(json_object_get(g->root, "components"), "schemas"), *s;
    const char *name;
    sbuf b = {0};
    int first = 1;

    if (!json_object_size(all))
        return;
    heading(g, 2, "Schemas");
    json_object_foreach(all, name, s) {
        sb_puts(&b, first ? "" : ", ");
        sb_link(&b, name);
        first = 0;
    }
    fprintf(g->out, "%s\n\n", sb_str(&b));
    json_object_foreach(all, name, s) {
        schema_section(g, name, s);
    }
    free(b.p);
}

/* The title, the version and info.description. */
static void front(gen *g)
{
    json_t *info = json_object_get(g->root, "info");
    const char *title = str(info, "title");
    sbuf b = {0};

    heading(g, 1, "%s API reference", title ? title : "API");
    sb_printf(&b, "Version %s (OpenAPI %s). Generated from `api/openapi.yaml` by `tools/apidoc.c`: "
              "do not edit, run `make docs`.",
              str(info, "version") ? str(info, "version") : "?",
              str(g->root, "openapi") ? str(g->root, "openapi") : "?");
    put_block(g, sb_str(&b));
    put_block(g, str(info, "description"));
    free(b.p);
}

int main(int argc, char **argv)
{
    json_error_t jerr;
    gen g = {.out = stdout};

    if (argc != 1) {
        fprintf(stderr, "usage: apidoc < openapi.json > api.md\n");
        return 2;
    }
    if (!(g.root = json_loadf(stdin, 0, &jerr)))
        die("stdin, line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(g.root) || !json_is_object(json_object_get(g.root, "paths")))
        die("stdin is not an OpenAPI document (no `paths` object)");
    if (!(g.anchors = json_object()))
        die("out of memory");
    front(&g);
    endpoints(&g);
    shared_responses(&g);
    schemas(&g);
    if (fflush(stdout) || ferror(stdout))
        die("write error");
    json_decref(g.anchors);
    json_decref(g.root);
    return 0;
}
