#include "parser/yaml_tree.h"

#include "base/buf.h"
#include "parser/manifest.h"
#include "parser/show.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct ctx {
    yaml_parser_t p;
    const char *file;
    const char *data;
    size_t len;
    struct kvz_diags *d;
    size_t nodes;
    /* anchors and aliases are reported once per name: a billion-laughs file stays readable */
    char *reported[64];
    size_t n_reported;
};

/* True the first time `name` is seen; after 64 names, always false. */
static bool first_report(struct ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_reported; i++)
        if (!strcmp(c->reported[i], name))
            return false;
    if (c->n_reported == sizeof(c->reported) / sizeof(c->reported[0]))
        return false;
    char *dup = strdup(name);
    if (dup)
        c->reported[c->n_reported++] = dup;
    return true;
}

/* Offset of the first byte that is not valid UTF-8 (overlong, surrogate, > U+10FFFF), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

/* 1-based line and column (in characters) of byte offset `off`. */
static void locate(const char *data, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void report_parser_error(struct ctx *c)
{
    const yaml_parser_t *p = &c->p;
    unsigned line, col;
    if (p->error == YAML_MEMORY_ERROR) {
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, 0, 0, "yaml-syntax",
                      "out of memory while reading YAML; free memory or split the file");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        locate(c->data, p->problem_offset < c->len ? p->problem_offset : c->len, &line, &col);
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, line, col, "yaml-syntax",
                      "invalid YAML: %s; remove the character or quote the text",
                      p->problem ? p->problem : "unreadable input");
        return;
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    if (p->problem_mark.index < c->len && c->data[p->problem_mark.index] == '\t') {
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, line, col, "yaml-syntax",
                      "invalid YAML: a tab character; YAML indents with spaces only");
        return;
    }
    kvz_diags_add(
        c->d, KVZ_SEV_ERROR, c->file, line, col, "yaml-syntax",
        "invalid YAML: %s%s%s; check the indentation, the ': ' after each key and the quoting",
        p->problem ? p->problem : "syntax error", p->context ? " " : "",
        p->context ? p->context : "");
}

static int next(struct ctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->p, ev)) {
        report_parser_error(c);
        return -1;
    }
    return 0;
}

static void free_children(struct kvz_ynode *n)
{
    size_t count = n->type == KVZ_YMAP ? 2 * n->n : n->n;
    for (size_t i = 0; n->kids && i < count; i++)
        free_children(&n->kids[i]);
    free(n->kids);
    free(n->str);
    n->kids = NULL;
    n->str = NULL;
    n->n = 0;
}

void kvz_ynode_free(struct kvz_ynode *n)
{
    if (!n)
        return;
    free_children(n);
    free(n);
}

static bool all_in(const char *s, size_t len, const char *set)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]))
            return false;
    return true;
}

bool kvz_ynode_is_null(const struct kvz_ynode *n)
{
    if (!n || n->type != KVZ_YSCALAR || !n->plain)
        return false;
    return !strcmp(n->str, "") || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

/* What YAML 1.2 (core schema) makes of a plain scalar other than a string, or NULL. */
static const char *plain_type(const struct kvz_ynode *n)
{
    const char *s = n->str;
    size_t len = n->len;
    if (kvz_ynode_is_null(n))
        return "null";
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
        if (!strcmp(s, bools[i]))
            return "a boolean";
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o'))
        return all_in(s + 2, len - 2, s[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567")
                   ? "a number"
                   : NULL;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (!strcmp(s + i, ".inf") || !strcmp(s + i, ".Inf") || !strcmp(s + i, ".INF") ||
        !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
        return "a number";
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return NULL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        if (i == len)
            return NULL;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == len ? "a number" : NULL;
}

const char *kvz_ynode_describe(const struct kvz_ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case KVZ_YMAP:
        return "a mapping";
    case KVZ_YSEQ:
        return "a list";
    case KVZ_YINVALID:
        return "an invalid value";
    case KVZ_YSCALAR:
        break;
    }
    if (n->plain) {
        const char *t = plain_type(n);
        if (t)
            return !strcmp(t, "null") ? "nothing" : t;
    }
    return "a string";
}

const struct kvz_ynode *kvz_ymap_get(const struct kvz_ynode *m, const char *key)
{
    if (!m || m->type != KVZ_YMAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->kids[2 * i].str, key))
            return &m->kids[2 * i + 1];
    return NULL;
}

const struct kvz_ynode *kvz_ymap_key(const struct kvz_ynode *m, const char *key)
{
    const struct kvz_ynode *v = kvz_ymap_get(m, key);
    return v ? v - 1 : NULL;
}

/* Tags would give values a type of their own; kvz reads text only. */
static bool tag_allowed(const yaml_char_t *tag, const char *plain)
{
    if (!tag)
        return true;
    const char *t = (const char *)tag;
    if (!strcmp(t, "!"))
        return true;
    static const char pfx[] = "tag:yaml.org,2002:";
    return !strncmp(t, pfx, sizeof(pfx) - 1) && !strcmp(t + sizeof(pfx) - 1, plain);
}

static void report_tag(struct ctx *c, const struct kvz_ynode *at, const yaml_char_t *tag)
{
    static const char pfx[] = "tag:yaml.org,2002:";
    const char *t = (const char *)tag;
    bool core = !strncmp(t, pfx, sizeof(pfx) - 1);
    kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, at->line, at->col, "yaml-tag",
                  "YAML tag '%s%s' is not supported; remove it (kvz reads values as text)",
                  core ? "!!" : "", kvz_show(core ? t + sizeof(pfx) - 1 : t));
}

static void report_anchor(struct ctx *c, const struct kvz_ynode *at, const yaml_char_t *anchor)
{
    struct kvz_buf key = KVZ_BUF_INIT;
    kvz_buf_printf(&key, "&%s", (const char *)anchor);
    bool first = first_report(c, kvz_buf_cstr(&key));
    kvz_buf_release(&key);
    if (!first)
        return;
    kvz_diags_add(
        c->d, KVZ_SEV_ERROR, c->file, at->line, at->col, "yaml-anchor",
        "YAML anchor '&%s' is not allowed; remove it and write the value out where it is needed",
        kvz_show((const char *)anchor));
}

static int push(struct kvz_ynode *parent, size_t *cap, size_t used, const struct kvz_ynode *kid)
{
    if (used == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct kvz_ynode *k = realloc(parent->kids, ncap * sizeof(*k));
        if (!k)
            return -1;
        parent->kids = k;
        *cap = ncap;
    }
    parent->kids[used] = *kid;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    const struct kvz_ynode *const *x = a, *const *y = b;
    int c = strcmp((*x)->str, (*y)->str);
    if (c)
        return c;
    return *x < *y ? -1 : (*x > *y);
}

/* Reports every repeated key (naming the first one's line) and drops the repeats. */
static int drop_duplicate_keys(struct ctx *c, struct kvz_ynode *m)
{
    if (m->n < 2)
        return 0;
    const struct kvz_ynode **keys = malloc(m->n * sizeof(*keys));
    bool *drop = calloc(m->n, sizeof(*drop));
    if (!keys || !drop) {
        free(keys);
        free(drop);
        return -1;
    }
    for (size_t i = 0; i < m->n; i++)
        keys[i] = &m->kids[2 * i];
    qsort(keys, m->n, sizeof(*keys), cmp_key);
    bool any = false;
    for (size_t i = 1, first = 0; i < m->n; i++) {
        if (strcmp(keys[i]->str, keys[first]->str)) {
            first = i;
            continue;
        }
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, keys[i]->line, keys[i]->col, "duplicate-key",
                      "duplicate key '%s' (first at line %u); remove one of them",
                      kvz_show(keys[i]->str), keys[first]->line);
        drop[(size_t)(keys[i] - m->kids) / 2] = true;
        any = true;
    }
    if (any) {
        size_t w = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (drop[i]) {
                free_children(&m->kids[2 * i]);
                free_children(&m->kids[2 * i + 1]);
                continue;
            }
            m->kids[2 * w] = m->kids[2 * i];
            m->kids[2 * w + 1] = m->kids[2 * i + 1];
            w++;
        }
        m->n = w;
    }
    free(keys);
    free(drop);
    return 0;
}

static void oom(struct ctx *c)
{
    kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, 0, 0, "yaml-syntax",
                  "out of memory while reading YAML; free memory or split the file");
}

static int build(struct ctx *c, yaml_event_t *ev, struct kvz_ynode *out, unsigned depth);

/* Reads the items of a collection until its end event. */
static int build_children(struct ctx *c, struct kvz_ynode *out, unsigned depth)
{
    size_t cap = 0;
    yaml_event_type_t end =
        out->type == KVZ_YMAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    for (;;) {
        yaml_event_t ev;
        struct kvz_ynode key = {0}, val = {0};
        if (next(c, &ev) < 0)
            return -1;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }
        if (build(c, &ev, out->type == KVZ_YMAP ? &key : &val, depth + 1) < 0)
            return -1;
        if (out->type == KVZ_YSEQ) {
            if (push(out, &cap, out->n, &val) < 0) {
                free_children(&val);
                oom(c);
                return -1;
            }
            out->n++;
            continue;
        }
        if (next(c, &ev) < 0 || build(c, &ev, &val, depth + 1) < 0) {
            free_children(&key);
            return -1;
        }
        const char *what = NULL;
        if (key.type == KVZ_YMAP || key.type == KVZ_YSEQ)
            what = kvz_ynode_describe(&key);
        else if (key.type == KVZ_YSCALAR && key.plain)
            what = plain_type(&key);
        if (what)
            kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, key.line, key.col, "non-string-key",
                          "a key must be a string, not %s; write a name%s",
                          !strcmp(what, "null") ? "empty (null)" : what,
                          key.type == KVZ_YSCALAR && !kvz_ynode_is_null(&key)
                              ? " (quote it if the text is meant as a name)"
                              : "");
        if (what || key.type == KVZ_YINVALID) {
            free_children(&key);
            free_children(&val);
            continue;
        }
        if (push(out, &cap, 2 * out->n, &key) < 0 || push(out, &cap, 2 * out->n + 1, &val) < 0) {
            free_children(&key);
            free_children(&val);
            oom(c);
            return -1;
        }
        out->n++;
    }
    if (out->type == KVZ_YMAP && drop_duplicate_keys(c, out) < 0) {
        oom(c);
        return -1;
    }
    return 0;
}

/* Builds the node that starts with `ev` (consumed). On -1, out holds nothing to free. */
static int build(struct ctx *c, yaml_event_t *ev, struct kvz_ynode *out, unsigned depth)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->line = (unsigned)ev->start_mark.line + 1;
    out->col = (unsigned)ev->start_mark.column + 1;
    if (++c->nodes > KVZ_YAML_MAX_NODES) {
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-too-many-nodes",
                      "more than %u values in one file; split the manifest into several files",
                      KVZ_YAML_MAX_NODES);
        rc = -1;
        goto cleanup;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        out->type = KVZ_YINVALID;
        if (first_report(c, (const char *)ev->data.alias.anchor))
            kvz_diags_add(
                c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-alias",
                "YAML alias '*%s' is not allowed (aliases can multiply a small file into a huge one); write the value out instead",
                kvz_show((const char *)ev->data.alias.anchor));
        break;
    case YAML_SCALAR_EVENT: {
        size_t len = ev->data.scalar.length;
        out->type = KVZ_YSCALAR;
        out->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (ev->data.scalar.anchor)
            report_anchor(c, out, ev->data.scalar.anchor);
        if (!tag_allowed(ev->data.scalar.tag, "str")) {
            report_tag(c, out, ev->data.scalar.tag);
            out->type = KVZ_YINVALID;
            break;
        }
        if (len > KVZ_MANIFEST_MAX_SCALAR) {
            kvz_diags_add(
                c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-scalar-too-long",
                "value is %zu bytes long, more than the limit of %u; keep long texts such as user_data under %u KiB",
                len, KVZ_MANIFEST_MAX_SCALAR, KVZ_MANIFEST_MAX_SCALAR >> 10);
            out->type = KVZ_YINVALID;
            break;
        }
        if (memchr(ev->data.scalar.value, '\0', len)) {
            kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-nul",
                          "value contains a NUL character (\\0); remove it");
            out->type = KVZ_YINVALID;
            break;
        }
        out->str = malloc(len + 1);
        if (!out->str) {
            oom(c);
            rc = -1;
            goto cleanup;
        }
        memcpy(out->str, ev->data.scalar.value, len);
        out->str[len] = '\0';
        out->len = len;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *anchor =
            map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        const yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
        out->type = map ? KVZ_YMAP : KVZ_YSEQ;
        if (depth > KVZ_MANIFEST_MAX_DEPTH) {
            kvz_diags_add(
                c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-depth",
                "values are nested more than %u levels deep; a manifest needs at most 5, flatten this value",
                KVZ_MANIFEST_MAX_DEPTH);
            rc = -1;
            goto cleanup;
        }
        if (anchor)
            report_anchor(c, out, anchor);
        bool bad_tag = !tag_allowed(tag, map ? "map" : "seq");
        if (bad_tag)
            report_tag(c, out, tag);
        yaml_event_delete(ev);
        if (build_children(c, out, depth) < 0) {
            free_children(out);
            return -1;
        }
        if (bad_tag) {
            free_children(out);
            out->type = KVZ_YINVALID;
        }
        return 0;
    }
    default:
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, out->line, out->col, "yaml-syntax",
                      "invalid YAML: unexpected event; check the structure of the file");
        rc = -1;
        break;
    }
cleanup:
    yaml_event_delete(ev);
    return rc;
}

int kvz_yaml_parse(struct kvz_ynode **out, const char *file, const char *data, size_t len,
                   struct kvz_diags *d)
{
    struct ctx c = {.file = file, .data = data, .len = len, .d = d};
    struct kvz_ynode *root = NULL;
    yaml_event_t ev;
    int rc = -1;
    bool parser_ready = false;

    *out = NULL;
    size_t bad = utf8_invalid_at((const unsigned char *)data, len);
    if (bad < len) {
        unsigned line, col;
        locate(data, bad, &line, &col);
        kvz_diags_add(d, KVZ_SEV_ERROR, file, line, col, "yaml-utf8",
                      "invalid UTF-8 (byte 0x%02x); save the file as UTF-8",
                      (unsigned char)data[bad]);
        goto cleanup;
    }
    if (!yaml_parser_initialize(&c.p)) {
        oom(&c);
        goto cleanup;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&c.p, (const unsigned char *)data, len);
    yaml_parser_set_encoding(&c.p, YAML_UTF8_ENCODING);

    if (next(&c, &ev) < 0) /* stream start */
        goto cleanup;
    yaml_event_delete(&ev);
    if (next(&c, &ev) < 0)
        goto cleanup;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        rc = 0;
        goto cleanup;
    }
    yaml_event_delete(&ev); /* document start */
    root = calloc(1, sizeof(*root));
    if (!root) {
        oom(&c);
        goto cleanup;
    }
    if (next(&c, &ev) < 0 || build(&c, &ev, root, 1) < 0)
        goto cleanup;
    if (next(&c, &ev) < 0) /* document end */
        goto cleanup;
    yaml_event_delete(&ev);
    if (next(&c, &ev) < 0)
        goto cleanup;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        kvz_diags_add(
            d, KVZ_SEV_ERROR, file, (unsigned)ev.start_mark.line + 1,
            (unsigned)ev.start_mark.column + 1, "yaml-multi-doc",
            "a second YAML document ('---') in one file; put it in its own file and pass both with -f");
    yaml_event_delete(&ev);
    *out = root;
    root = NULL;
    rc = 0;
cleanup:
    for (size_t i = 0; i < c.n_reported; i++)
        free(c.reported[i]);
    if (root)
        kvz_ynode_free(root);
    if (parser_ready)
        yaml_parser_delete(&c.p);
    return rc;
}
