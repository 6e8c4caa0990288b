/* Fetching, verifying and choosing from a template catalog (store/catalog.h). */
#include "store/catalog.h"

#include "base/buf.h"
#include "base/error.h"
#include "parser/template_url.h"
#include "store/fetch.h"
#include "store/openpgp.h"
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAX (64u << 20) /* an index larger than this is not one */

static void entry_release(struct kvz_catalog_entry *e)
{
    free(e->name);
    free(e->aliases);
    free(e->version);
    free(e->arch);
    free(e->url);
    free(e->digest);
    free(e->description);
}

void kvz_catalog_index_release(struct kvz_catalog_index *idx)
{
    for (size_t i = 0; idx && i < idx->n; i++)
        entry_release(&idx->v[i]);
    if (idx) {
        free(idx->v);
        memset(idx, 0, sizeof(*idx));
    }
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

int kvz_catalog_index_add(struct kvz_catalog_index *idx, const struct kvz_catalog_entry *e)
{
    if (idx->n == idx->cap) {
        size_t cap = idx->cap ? idx->cap * 2 : 16;
        struct kvz_catalog_entry *v = realloc(idx->v, cap * sizeof(*v));
        if (!v)
            return -1;
        idx->v = v;
        idx->cap = cap;
    }
    bool oom = false;
    struct kvz_catalog_entry c = *e;
    c.name = dup_or_null(e->name, &oom);
    c.aliases = dup_or_null(e->aliases, &oom);
    c.version = dup_or_null(e->version, &oom);
    c.arch = dup_or_null(e->arch, &oom);
    c.url = dup_or_null(e->url, &oom);
    c.digest = dup_or_null(e->digest, &oom);
    c.description = dup_or_null(e->description, &oom);
    if (oom) {
        entry_release(&c);
        return -1;
    }
    idx->v[idx->n++] = c;
    return 0;
}

/* dpkg's order of the non-digit characters: '~' before everything, even the end */
static int order(int c)
{
    if (isdigit(c))
        return 0;
    if (isalpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c)
        return c + 256;
    return 0;
}

int kvz_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        int first_diff = 0;
        while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
            int ac = order((unsigned char)*a), bc = order((unsigned char)*b);
            if (ac != bc)
                return ac - bc;
            a++;
            b++;
        }
        while (*a == '0')
            a++;
        while (*b == '0')
            b++;
        while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            if (!first_diff)
                first_diff = *a - *b;
            a++;
            b++;
        }
        if (isdigit((unsigned char)*a))
            return 1;
        if (isdigit((unsigned char)*b))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
}

static bool has_alias(const char *aliases, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = aliases; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p += len + (c ? 1 : 0);
    }
    return false;
}

int kvz_catalog_pick(const struct kvz_catalog_entry **out, const struct kvz_catalog_index *idx,
                     const char *catalog, const char *name, enum kvz_content_kind want,
                     const char *arch, struct kvz_error **err)
{
    const struct kvz_catalog_entry *best = NULL;
    struct kvz_buf other = KVZ_BUF_INIT;
    size_t named = 0;
    for (size_t i = 0; i < idx->n; i++) {
        const struct kvz_catalog_entry *e = &idx->v[i];
        if (strcmp(e->name, name) && !has_alias(e->aliases, name))
            continue;
        named++;
        if ((want != KVZ_CONTENT_UNKNOWN && e->kind != want) || strcmp(e->arch, arch)) {
            if (other.len < 200 && !strstr(kvz_buf_cstr(&other), e->arch))
                kvz_buf_printf(&other, "%s%s %s", other.len ? ", " : "",
                               kvz_content_kind_str(e->kind), e->arch);
            continue;
        }
        if (!best || kvz_version_cmp(e->version, best->version) >= 0)
            best = e;
    }
    int ret = 0;
    if (!named)
        ret = kvz_error_set(
            err, "catalog '%s' has no entry '%s'; list its entries with 'kvz templates search'",
            catalog, name);
    else if (!best)
        ret = kvz_error_set(
            err, "catalog '%s': '%s' has no %s for %s (only %s); pick another entry", catalog, name,
            want == KVZ_CONTENT_UNKNOWN ? "entry" : kvz_content_kind_str(want), arch,
            kvz_buf_cstr(&other));
    else if (best->algo == KVZ_DIGEST_NONE || !best->digest)
        ret = kvz_error_set(err, "catalog '%s': '%s' %s has no sha512sum or sha256 to verify it by",
                            catalog, name, best->version);
    kvz_buf_release(&other);
    *out = ret ? NULL : best;
    return ret;
}

/* Fetches `url` (at most INDEX_MAX) and, with a keyring, checks it against the detached
 * signature at sig_url. */
static int fetch_verified(struct kvz_buf *out, const char *url, const char *sig_url,
                          const struct kvz_catalog *c, const struct kvz_store_opts *opts,
                          struct kvz_error **err)
{
    struct kvz_buf sig = KVZ_BUF_INIT, what = KVZ_BUF_INIT;
    char *u = NULL, *su = NULL, *shown = kvz_url_redact(url), *sig_shown = NULL;
    int ret = -1;
    if (kvz_fetch_url(&u, url, err) < 0 ||
        kvz_fetch_small(out, u, INDEX_MAX, c->name, opts, err) < 0) {
        kvz_error_wrap(err, "catalog '%s': index '%s'", c->name, shown ? shown : "?");
        goto cleanup;
    }
    if (!c->keyring) {
        ret = 0;
        goto cleanup;
    }
    sig_shown = kvz_url_redact(sig_url);
    if (kvz_fetch_url(&su, sig_url, err) < 0 ||
        kvz_fetch_small(&sig, su, 1u << 20, c->name, opts, err) < 0) {
        kvz_error_wrap(err, "catalog '%s': signature '%s' (the index is not used unsigned)",
                       c->name, sig_shown ? sig_shown : "?");
        goto cleanup;
    }
    kvz_buf_printf(&what, "catalog '%s': index '%s'", c->name, shown ? shown : "?");
    ret = kvz_openpgp_verify(NULL, out->ptr, out->len, sig.ptr, sig.len, c->keyring,
                             kvz_buf_cstr(&what), err);
cleanup:
    kvz_buf_release(&sig);
    kvz_buf_release(&what);
    free(u);
    free(su);
    free(shown);
    free(sig_shown);
    return ret;
}

static char *join(const char *a, const char *b)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "%s%s", a, b);
    return kvz_buf_detach(&p);
}

static int fetch_aplinfo(struct kvz_catalog_index *out, const struct kvz_catalog *c,
                         const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct kvz_buf data = KVZ_BUF_INIT;
    char *sig = c->signature ? strdup(c->signature) : join(c->url, ".asc");
    char *base = strdup(c->url);
    int ret = -1;
    if (!sig || !base) {
        kvz_error_set(err, "catalog '%s': out of memory", c->name);
        goto cleanup;
    }
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = '\0';
    if (fetch_verified(&data, c->url, sig, c, opts, err) < 0)
        goto cleanup;
    if (kvz_aplinfo_parse(out, data.ptr, data.len, base, err) < 0) {
        kvz_error_wrap(err, "catalog '%s'", c->name);
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&data);
    free(sig);
    free(base);
    return ret;
}

static int fetch_sstreams(struct kvz_catalog_index *out, const struct kvz_catalog *c,
                          const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct kvz_buf data = KVZ_BUF_INIT;
    char *base = strdup(c->url), *index = NULL, *index_sig = NULL, *path = NULL, *prod = NULL,
         *prod_sig = NULL;
    int ret = -1;
    if (!base)
        goto oom;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    if (!(index = join(base, "/streams/v1/index.json")) || !(index_sig = join(index, ".gpg")))
        goto oom;
    if (fetch_verified(&data, index, index_sig, c, opts, err) < 0)
        goto cleanup;
    if (kvz_sstreams_parse_index(&path, data.ptr, data.len, err) < 0) {
        kvz_error_wrap(err, "catalog '%s'", c->name);
        goto cleanup;
    }
    kvz_buf_release(&data);
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "%s/%s", base, path);
    if (!(prod = kvz_buf_detach(&p)) || !(prod_sig = join(prod, ".gpg")))
        goto oom;
    if (fetch_verified(&data, prod, prod_sig, c, opts, err) < 0)
        goto cleanup;
    if (kvz_sstreams_parse_products(out, data.ptr, data.len, base, err) < 0) {
        kvz_error_wrap(err, "catalog '%s'", c->name);
        goto cleanup;
    }
    ret = 0;
    goto cleanup;
oom:
    kvz_error_set(err, "catalog '%s': out of memory", c->name);
cleanup:
    kvz_buf_release(&data);
    free(base);
    free(index);
    free(index_sig);
    free(path);
    free(prod);
    free(prod_sig);
    return ret;
}

int kvz_catalog_fetch(struct kvz_catalog_index *out, const struct kvz_catalog *c,
                      const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct kvz_store_opts dflt;
    if (!opts) {
        kvz_store_opts_init(&dflt);
        opts = &dflt;
    }
    memset(out, 0, sizeof(*out));
    int r = c->kind == KVZ_CATALOG_SIMPLESTREAMS ? fetch_sstreams(out, c, opts, err)
                                                 : fetch_aplinfo(out, c, opts, err);
    if (r < 0) {
        kvz_catalog_index_release(out);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->verified = c->keyring != NULL;
    return 0;
}
