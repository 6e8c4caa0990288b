/* kvz.lock: reading, writing and matching it to the manifest (planner/lockfile.h). */
#include "planner/lockfile.h"

#include "base/buf.h"
#include "base/fs.h"
#include "base/error.h"
#include "parser/template_url.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCK_MAX (16u << 20)

char *kvz_lockfile_path(const struct kvz_manifest *m)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    const char *first = m->n_files ? m->files[0] : "kvz.yaml";
    const char *slash = strrchr(first, '/');
    if (slash)
        kvz_buf_printf(&b, "%.*s/kvz.lock", (int)(slash - first), first);
    else
        kvz_buf_puts(&b, "kvz.lock");
    return kvz_buf_detach(&b);
}

void kvz_lock_entry_release(struct kvz_lock_entry *e)
{
    free(e->name);
    free(e->catalog);
    free(e->entry);
    free(e->checksums);
    free(e->url);
    free(e->digest);
    free(e->version);
    memset(e, 0, sizeof(*e));
}

void kvz_lockfile_release(struct kvz_lockfile *lf)
{
    for (size_t i = 0; lf && i < lf->n; i++)
        kvz_lock_entry_release(&lf->v[i]);
    if (lf) {
        free(lf->v);
        lf->v = NULL;
        lf->n = 0;
    }
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

int kvz_lockfile_set(struct kvz_lockfile *lf, const struct kvz_lock_entry *e)
{
    bool oom = false;
    struct kvz_lock_entry c = {
        .name = dup_or_null(e->name, &oom),
        .catalog = dup_or_null(e->catalog, &oom),
        .entry = dup_or_null(e->entry, &oom),
        .checksums = dup_or_null(e->checksums, &oom),
        .url = dup_or_null(e->url, &oom),
        .digest = dup_or_null(e->digest, &oom),
        .version = dup_or_null(e->version, &oom),
        .size = e->size,
    };
    if (oom) {
        kvz_lock_entry_release(&c);
        return -1;
    }
    size_t i = 0;
    while (i < lf->n && strcmp(lf->v[i].name, e->name) < 0)
        i++;
    if (i < lf->n && !strcmp(lf->v[i].name, e->name)) {
        kvz_lock_entry_release(&lf->v[i]);
        lf->v[i] = c;
        return 0;
    }
    struct kvz_lock_entry *v = realloc(lf->v, (lf->n + 1) * sizeof(*v));
    if (!v) {
        kvz_lock_entry_release(&c);
        return -1;
    }
    lf->v = v;
    memmove(&v[i + 1], &v[i], (lf->n - i) * sizeof(*v));
    v[i] = c;
    lf->n++;
    return 0;
}

const struct kvz_lock_entry *kvz_lockfile_get(const struct kvz_lockfile *lf, const char *name)
{
    for (size_t i = 0; lf && i < lf->n; i++)
        if (!strcmp(lf->v[i].name, name))
            return &lf->v[i];
    return NULL;
}

bool kvz_lockfile_wants(const struct kvz_template *t)
{
    return t->catalog || t->checksums_url || t->locked_checksums;
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

bool kvz_lockfile_fits(const struct kvz_lock_entry *e, const struct kvz_template *t)
{
    if (t->catalog)
        return same(e->catalog, t->catalog) && same(e->entry, t->entry);
    const char *sums = t->checksums_url ? t->checksums_url : t->locked_checksums;
    if (!sums || e->catalog)
        return false;
    char *u = kvz_url_redact(t->url), *c = kvz_url_redact(sums);
    bool fits = same(e->url, u) && same(e->checksums, c);
    free(u);
    free(c);
    return fits;
}

static bool digest_ok(const char *d)
{
    size_t n = 0;
    if (!strncmp(d, "sha256:", 7))
        n = 64;
    else if (!strncmp(d, "sha512:", 7))
        n = 128;
    if (!n || strlen(d + 7) != n)
        return false;
    return strspn(d + 7, "0123456789abcdef") == n;
}

int kvz_lockfile_parse(struct kvz_lockfile *out, const char *data, size_t len, const char *path,
                       struct kvz_error **err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    memset(out, 0, sizeof(*out));
    if (!root)
        return kvz_error_set(err,
                             "lockfile '%s': line %d: %s; fix it or write it again with 'kvz lock'",
                             path, je.line, je.text);
    int ret = kvz_lockfile_from_json(out, root, path, err);
    json_decref(root);
    return ret;
}

int kvz_lockfile_from_json(struct kvz_lockfile *out, const json_t *root, const char *path,
                           struct kvz_error **err)
{
    json_t *tmpls, *v;
    const char *name;
    int ret = -1;
    memset(out, 0, sizeof(*out));
    if (json_integer_value(json_object_get(root, "kvz_lock")) != 1 ||
        !json_is_object(tmpls = json_object_get(root, "templates"))) {
        kvz_error_set(err,
                      "lockfile '%s' is not a kvz.lock of format 1; write it again with 'kvz lock'",
                      path);
        goto cleanup;
    }
    json_object_foreach(tmpls, name, v)
    {
        struct kvz_lock_entry e = {
            .name = (char *)name,
            .catalog = (char *)json_string_value(json_object_get(v, "catalog")),
            .entry = (char *)json_string_value(json_object_get(v, "entry")),
            .checksums = (char *)json_string_value(json_object_get(v, "checksums")),
            .url = (char *)json_string_value(json_object_get(v, "url")),
            .digest = (char *)json_string_value(json_object_get(v, "digest")),
            .version = (char *)json_string_value(json_object_get(v, "version")),
        };
        json_t *size = json_object_get(v, "size");
        if (!e.url || !e.digest || !digest_ok(e.digest) || (!e.catalog == !e.checksums) ||
            (e.catalog && !e.entry) || (size && json_integer_value(size) < 0)) {
            kvz_error_set(
                err,
                "lockfile '%s': template '%s' needs url, digest (sha256:HEX or sha512:HEX) and catalog+entry or checksums; write it again with 'kvz lock'",
                path, name);
            goto cleanup;
        }
        e.size = size ? (uint64_t)json_integer_value(size) : 0;
        if (kvz_lockfile_set(out, &e) < 0) {
            kvz_error_set(err, "lockfile '%s': out of memory", path);
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_lockfile_release(out);
    return ret;
}

int kvz_lockfile_read(struct kvz_lockfile *out, const char *path, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    char chunk[65536];
    size_t n;
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT)
        return 0;
    if (!f)
        return kvz_error_set_errno(err, "lockfile '%s'", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= LOCK_MAX)
        kvz_buf_add(&b, chunk, n);
    bool bad = ferror(f) || b.oom || b.len > LOCK_MAX;
    fclose(f);
    if (bad) {
        kvz_buf_release(&b);
        return kvz_error_set(err, "lockfile '%s' cannot be read whole; check it", path);
    }
    int r = kvz_lockfile_parse(out, b.ptr ? b.ptr : "", b.len, path, err);
    kvz_buf_release(&b);
    return r < 0 ? -1 : 1;
}

json_t *kvz_lockfile_to_json(const struct kvz_lockfile *lf)
{
    json_t *tmpls = json_object();
    json_t *root = json_pack("{s:i, s:o}", "kvz_lock", 1, "templates", tmpls);
    for (size_t i = 0; root && i < lf->n; i++) {
        const struct kvz_lock_entry *e = &lf->v[i];
        json_t *o = json_pack("{s:s, s:s}", "url", e->url, "digest", e->digest);
        if (!o)
            goto oom;
        if (e->catalog) {
            json_object_set_new(o, "catalog", json_string(e->catalog));
            json_object_set_new(o, "entry", json_string(e->entry));
        }
        if (e->checksums)
            json_object_set_new(o, "checksums", json_string(e->checksums));
        if (e->version)
            json_object_set_new(o, "version", json_string(e->version));
        if (e->size)
            json_object_set_new(o, "size", json_integer((json_int_t)e->size));
        json_object_set_new(tmpls, e->name, o);
    }
    return root;
oom:
    json_decref(root);
    return NULL;
}

char *kvz_lockfile_format(const struct kvz_lockfile *lf)
{
    json_t *root = kvz_lockfile_to_json(lf);
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!s)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s\n", s);
    free(s);
    return kvz_buf_detach(&b);
}

int kvz_lockfile_write(const char *path, const struct kvz_lockfile *lf, struct kvz_error **err)
{
    char *text = kvz_lockfile_format(lf);
    if (!text)
        return kvz_error_set(err, "lockfile '%s': out of memory", path);
    int ret = kvz_write_file_atomic(path, text, strlen(text), 0644, err);
    if (ret < 0)
        kvz_error_wrap(err, "lockfile '%s'", path);
    free(text);
    return ret;
}
