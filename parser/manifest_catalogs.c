/* `catalogs:` and a template's catalog, signature and keyring keys (parser/manifest_catalogs.h). */
#include "parser/manifest_rules.h"
#include "parser/manifest_catalogs.h"

#include "base/buf.h"
#include "parser/names.h"
#include "parser/show.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

char *kvz_manifest_beside(const char *file, const char *rel)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    const char *slash = strrchr(file, '/');
    if (rel[0] == '/' || !slash)
        kvz_buf_puts(&b, rel);
    else
        kvz_buf_printf(&b, "%.*s/%s", (int)(slash - file), file, rel);
    return kvz_buf_detach(&b);
}

void kvz_catalog_release(struct kvz_catalog *c)
{
    free(c->name);
    free(c->url);
    free(c->signature);
    free(c->keyring);
}

int kvz_manifest_catalog_load(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                              const struct kvz_ynode *v, struct kvz_manifest *m)
{
    struct kvz_catalog_raw raw = {0};
    struct kvz_buf owner = KVZ_BUF_INIT;
    int ret = 0;
    if (!kvz_name_valid(k->str)) {
        kvz_manifest_error(
            d, file, k, "bad-name",
            "catalog name '%s' is not valid; use lowercase letters, digits and '-' (at most 63)",
            kvz_show(k->str));
        return 0;
    }
    if (v->type != KVZ_YMAP) {
        kvz_manifest_error(
            d, file, k, "bad-type",
            "catalog '%s' must be a mapping of settings; give at least 'kind:' and 'url:'",
            kvz_show(k->str));
        return 0;
    }
    kvz_buf_printf(&owner, "catalog '%s'", kvz_show(k->str));
    kvz_schema_decode(&kvz_schema_catalog, v, &raw, kvz_buf_cstr(&owner), k, file, d);
    if (raw.signature && raw.kind != KVZ_CATALOG_APLINFO)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "signature"), "catalog-signature",
            "catalog '%s': 'signature:' is for aplinfo; a simplestreams index is verified from its .json.gpg beside it when 'keyring:' is given",
            kvz_show(k->str));
    if (raw.signature && !raw.keyring)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "signature"), "keyring-missing",
            "catalog '%s' has a signature but no 'keyring:' to check it with; add 'keyring: FILE' (relative to the manifest)",
            kvz_show(k->str));
    struct kvz_catalog *arr = realloc(m->catalogs, (m->n_catalogs + 1) * sizeof(*arr));
    if (!arr) {
        ret = -1;
        goto cleanup;
    }
    m->catalogs = arr;
    struct kvz_catalog *c = &arr[m->n_catalogs];
    memset(c, 0, sizeof(*c));
    c->name = strdup(k->str);
    c->kind = (enum kvz_catalog_kind)raw.kind;
    c->loc = (struct kvz_loc){file, k->line, k->col};
    c->url = raw.url;
    raw.url = NULL;
    c->signature = raw.signature;
    raw.signature = NULL;
    if (raw.keyring)
        c->keyring = kvz_manifest_beside(file, raw.keyring);
    m->n_catalogs++;
    if (!c->name || (raw.keyring && !c->keyring))
        ret = -1;
cleanup:
    kvz_schema_release(&kvz_schema_catalog, &raw);
    kvz_buf_release(&owner);
    return ret;
}

int kvz_manifest_template_sources(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                  const struct kvz_ynode *v, struct kvz_template_raw *raw,
                                  struct kvz_template *t)
{
    const char *name = kvz_show(k->str);
    if (raw->catalog && (raw->url || t->url))
        kvz_manifest_error(d, file, kvz_ymap_get(v, "catalog"), "template-source",
                           "template '%s' has both 'url:' and 'catalog:'; keep one", name);
    else if (!raw->catalog && !raw->url && !t->url && !kvz_ymap_get(v, "url"))
        kvz_manifest_error(
            d, file, k, "missing-key",
            "template '%s' needs 'url:' (or 'catalog:' and 'name:' of a catalog entry)", name);
    if (raw->catalog && !raw->entry)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "catalog"), "missing-key",
            "template '%s' names a catalog but no entry; add 'name: ENTRY' (see 'kvz templates search')",
            name);
    if (raw->entry && !raw->catalog)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "name"), "template-source",
            "template '%s': 'name:' picks a catalog entry; add 'catalog: NAME' or remove it", name);
    if (raw->catalog &&
        (t->digest || raw->sha256 || raw->sha512 || raw->checksums || raw->insecure))
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "catalog"), "checksum-conflict",
            "template '%s' takes its digest from catalog '%s'; remove its sha256, sha512, checksums or insecure",
            name, kvz_show(raw->catalog));
    if (raw->signature && !raw->checksums)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "signature"), "signature-without-checksums",
            "template '%s': 'signature:' signs a checksums file; add 'checksums: URL' of the signed SUMS file",
            name);
    if (raw->signature && !raw->keyring)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "signature"), "keyring-missing",
            "template '%s' has a signature but no 'keyring:' to check it with; add 'keyring: FILE' (relative to the manifest)",
            name);
    if (raw->keyring && !raw->signature)
        kvz_manifest_error(
            d, file, kvz_ymap_get(v, "keyring"), "signature-missing",
            "template '%s' has a keyring but no 'signature:'; add 'signature: URL' of the SUMS file's detached signature",
            name);
    t->signature_url = raw->signature;
    raw->signature = NULL;
    t->catalog = raw->catalog;
    raw->catalog = NULL;
    t->entry = raw->entry;
    raw->entry = NULL;
    if (raw->keyring && !(t->keyring = kvz_manifest_beside(file, raw->keyring)))
        return -1;
    return 0;
}

void kvz_manifest_catalogs_check(struct kvz_diags *d, const struct kvz_manifest *m)
{
    for (size_t i = 0; i < m->n_catalogs; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->catalogs[i].name, m->catalogs[j].name)) {
                const struct kvz_loc *a = &m->catalogs[j].loc, *b = &m->catalogs[i].loc;
                kvz_diags_add(
                    d, KVZ_SEV_ERROR, b->file, b->line, b->col, "duplicate-name",
                    "catalog '%s' is defined twice (first at %s:%u:%u); rename or remove one",
                    m->catalogs[i].name, a->file, a->line, a->col);
                break;
            }

    for (size_t i = 0; i < m->n_templates; i++) {
        const struct kvz_template *t = &m->templates[i];
        if (t->catalog && !kvz_manifest_catalog(m, t->catalog))
            kvz_diags_add(
                d, KVZ_SEV_ERROR, t->loc.file, t->loc.line, t->loc.col, "undefined-catalog",
                "template '%s' names catalog '%s', which is not defined; add it under 'catalogs:'",
                t->name, t->catalog);
    }
}

const struct kvz_catalog *kvz_manifest_catalog(const struct kvz_manifest *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_catalogs; i++)
        if (!strcmp(m->catalogs[i].name, name))
            return &m->catalogs[i];
    return NULL;
}

const char *kvz_catalog_kind_str(enum kvz_catalog_kind k)
{
    return k == KVZ_CATALOG_SIMPLESTREAMS ? "simplestreams" : "aplinfo";
}
