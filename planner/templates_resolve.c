/* Catalog entries and kvz.lock into the manifest's templates (planner/templates_resolve.h). */
#include "planner/templates_resolve.h"

#include "base/buf.h"
#include "base/error.h"
#include "parser/template_url.h"
#include "store/catalog.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

char *kvz_template_digest_str(const struct kvz_template *t)
{
    const char *a = kvz_digest_algo_str(t->algo);
    if (!a || !t->digest)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s:%s", a, t->digest);
    return kvz_buf_detach(&b);
}

/* The kind of content t's users want: a container's rootfs or a vm's disk. */
static int wanted_kind(enum kvz_content_kind *out, const struct kvz_manifest *m,
                       const struct kvz_template *t, struct kvz_error **err)
{
    *out = KVZ_CONTENT_UNKNOWN;
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (r->tmpl != t || r->kind == KVZ_KIND_NETWORK)
            continue;
        enum kvz_content_kind k = r->kind == KVZ_KIND_VM ? KVZ_CONTENT_DISK : KVZ_CONTENT_ROOTFS;
        if (*out != KVZ_CONTENT_UNKNOWN && *out != k)
            return kvz_error_set(
                err,
                "template '%s' is a container's template and a vm's image; a catalog entry is one or the other, use two templates",
                t->name);
        *out = k;
    }
    return 0;
}

/* The base URL a catalog's entries are under, for putting credentials back (never stored). */
static char *catalog_base(const struct kvz_catalog *c)
{
    char *b = strdup(c->url);
    if (b && c->kind == KVZ_CATALOG_APLINFO) {
        char *slash = strrchr(b, '/');
        if (slash)
            *slash = '\0';
    }
    return b;
}

/* The lock's redacted URL with the catalog's real base again. */
static int unredact(char **out, const char *url, const struct kvz_catalog *c, const char *tname,
                    struct kvz_error **err)
{
    char *base = catalog_base(c), *shown = base ? kvz_url_redact(base) : NULL;
    int ret = 0;
    *out = NULL;
    if (!base || !shown)
        ret = kvz_error_set(err, "out of memory");
    else if (strcmp(base, shown) && !strncmp(url, shown, strlen(shown))) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "%s%s", base, url + strlen(shown));
        if (!(*out = kvz_buf_detach(&b)))
            ret = kvz_error_set(err, "out of memory");
    } else if (strstr(url, "***")) {
        ret = kvz_error_set(
            err,
            "kvz.lock: template '%s': its url had credentials removed and is not under catalog '%s'; run 'kvz lock --upgrade %s'",
            tname, c->name, tname);
    } else if (!(*out = strdup(url))) {
        ret = kvz_error_set(err, "out of memory");
    }
    free(base);
    free(shown);
    return ret;
}

static int set_digest(struct kvz_template *t, const char *digest, struct kvz_error **err)
{
    const char *colon = strchr(digest, ':');
    free(t->digest);
    t->algo = !strncmp(digest, "sha512:", 7) ? KVZ_DIGEST_SHA512 : KVZ_DIGEST_SHA256;
    t->digest = strdup(colon ? colon + 1 : digest);
    return t->digest ? 0 : kvz_error_set(err, "out of memory");
}

static int set_str(char **field, const char *v, struct kvz_error **err)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
    return v && !*field ? kvz_error_set(err, "out of memory") : 0;
}

static int apply_lock(struct kvz_template *t, const struct kvz_manifest *m,
                      const struct kvz_lock_entry *e, struct kvz_error **err)
{
    if (t->catalog) {
        char *url = NULL;
        if (unredact(&url, e->url, kvz_manifest_catalog(m, t->catalog), t->name, err) < 0)
            return -1;
        free(t->url);
        t->url = url;
        t->hint = kvz_url_content_kind(url);
    }
    /* the digest is pinned: the SUMS file and its signature were checked when it was locked */
    if (t->checksums_url) {
        free(t->locked_checksums);
        t->locked_checksums = t->checksums_url;
    }
    free(t->signature_url);
    t->checksums_url = t->signature_url = NULL;
    t->size = e->size;
    t->locked = true;
    return set_digest(t, e->digest, err) < 0 || set_str(&t->version, e->version, err) < 0 ? -1 : 0;
}

struct catalogs {
    const struct kvz_catalog *c[64];
    struct kvz_catalog_index idx[64];
    size_t n;
};

static int catalog_index(const struct kvz_catalog_index **out, struct catalogs *cs,
                         const struct kvz_catalog *c, const struct kvz_store_opts *so,
                         struct kvz_error **err)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i] == c) {
            *out = &cs->idx[i];
            return 0;
        }
    if (cs->n == 64)
        return kvz_error_set(err, "more than 64 catalogs in use; merge some");
    if (kvz_catalog_fetch(&cs->idx[cs->n], c, so, err) < 0)
        return -1;
    cs->c[cs->n] = c;
    *out = &cs->idx[cs->n++];
    return 0;
}

static int from_catalog(struct kvz_template *t, const struct kvz_manifest *m, struct catalogs *cs,
                        const struct kvz_store_opts *so, struct kvz_error **err)
{
    const struct kvz_catalog *c = kvz_manifest_catalog(m, t->catalog);
    const struct kvz_catalog_index *idx = NULL;
    const struct kvz_catalog_entry *e = NULL;
    enum kvz_content_kind want;
    if (wanted_kind(&want, m, t, err) < 0 || catalog_index(&idx, cs, c, so, err) < 0 ||
        kvz_catalog_pick(&e, idx, c->name, t->entry, want,
                         kvz_host_arch() ? kvz_host_arch() : "unknown", err) < 0)
        return kvz_error_wrap(err, "template '%s'", t->name);
    if (set_str(&t->url, e->url, err) < 0 || set_str(&t->version, e->version, err) < 0 ||
        set_str(&t->digest, e->digest, err) < 0)
        return -1;
    t->algo = e->algo;
    t->size = e->size;
    t->hint = e->kind;
    return 0;
}

static bool is_fresh(const struct kvz_resolve_opts *o, const char *name)
{
    if (o->all_fresh)
        return true;
    for (size_t i = 0; i < o->n_fresh; i++)
        if (!strcmp(o->fresh[i], name))
            return true;
    return false;
}

static int lock_entry(struct kvz_lockfile *out, const struct kvz_template *t, const char *checksums,
                      struct kvz_error **err)
{
    char *url = kvz_url_redact(t->url), *digest = kvz_template_digest_str(t);
    char *sums = checksums ? kvz_url_redact(checksums) : NULL;
    struct kvz_lock_entry e = {
        .name = t->name,
        .catalog = t->catalog,
        .entry = t->entry,
        .checksums = sums,
        .url = url,
        .digest = digest,
        .version = t->version,
        .size = t->size,
    };
    int ret = 0;
    if (!url || !digest || (checksums && !sums) || kvz_lockfile_set(out, &e) < 0)
        ret = kvz_error_set(err, "out of memory");
    free(url);
    free(digest);
    free(sums);
    return ret;
}

int kvz_templates_resolve(struct kvz_lockfile *out, struct kvz_manifest *m,
                          const struct kvz_resolve_opts *o, struct kvz_error **err)
{
    struct catalogs *cs = calloc(1, sizeof(*cs));
    char *sums = NULL;
    int ret = -1;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!cs)
        return kvz_error_set(err, "out of memory");
    for (size_t i = 0; i < m->n_templates; i++) {
        struct kvz_template *t = &m->templates[i];
        if (!kvz_lockfile_wants(t))
            continue;
        const struct kvz_lock_entry *e = kvz_lockfile_get(o->lock, t->name);
        bool fits = e && kvz_lockfile_fits(e, t);
        free(sums);
        sums = t->checksums_url ? strdup(t->checksums_url) : NULL;
        if (t->checksums_url && !sums)
            goto oom;
        if (fits && !is_fresh(o, t->name)) {
            if (apply_lock(t, m, e, err) < 0)
                goto cleanup;
        } else if (o->readonly) {
            kvz_error_set(
                err,
                "template '%s' is %s kvz.lock and --lockfile readonly changes nothing; run 'kvz lock' and commit kvz.lock",
                t->name, e ? "declared otherwise than in" : "not in");
            goto cleanup;
        } else if (o->offline) {
            continue;
        } else if (t->catalog) {
            if (from_catalog(t, m, cs, o->store, err) < 0)
                goto cleanup;
        } else if (out) {
            enum kvz_digest_algo algo;
            char *hex = NULL;
            if (kvz_store_checksum(&algo, &hex, t, o->store, err) < 0) {
                kvz_error_wrap(err, "template '%s'", t->name);
                goto cleanup;
            }
            free(t->digest);
            t->digest = hex;
            t->algo = algo;
        } else {
            continue; /* a SUMS file without a lock: asked at pull, as always */
        }
        if (out && lock_entry(out, t, sums, err) < 0)
            goto cleanup;
    }
    ret = 0;
    goto cleanup;
oom:
    kvz_error_set(err, "out of memory");
cleanup:
    for (size_t i = 0; i < cs->n; i++)
        kvz_catalog_index_release(&cs->idx[i]);
    free(cs);
    free(sums);
    if (ret < 0 && out)
        kvz_lockfile_release(out);
    return ret;
}

int kvz_templates_resolved(struct kvz_lockfile *out, const struct kvz_manifest *m,
                           struct kvz_error **err)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < m->n_templates; i++) {
        const struct kvz_template *t = &m->templates[i];
        if (!kvz_lockfile_wants(t) || !t->url || !t->digest)
            continue;
        if (lock_entry(out, t, t->checksums_url ? t->checksums_url : t->locked_checksums, err) <
            0) {
            kvz_lockfile_release(out);
            return -1;
        }
    }
    return 0;
}

int kvz_templates_apply_recorded(struct kvz_manifest *m, const struct kvz_lockfile *recorded,
                                 struct kvz_error **err)
{
    for (size_t i = 0; i < m->n_templates; i++) {
        struct kvz_template *t = &m->templates[i];
        const struct kvz_lock_entry *e = kvz_lockfile_get(recorded, t->name);
        if (e && kvz_lockfile_fits(e, t)) {
            if (apply_lock(t, m, e, err) < 0)
                return -1;
        } else if (t->catalog) {
            return kvz_error_set(
                err,
                "the plan file records no resolution of template '%s'; make the plan again with 'kvz plan -o'",
                t->name);
        }
    }
    return 0;
}
