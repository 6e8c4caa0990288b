/* kvz templates search [WORDS]: the entries of the manifests' catalogs. */
#include "cmd/templates_search.h"

#include "base/error.h"
#include "cmd/pull_progress.h"
#include "parser/template_url.h"
#include "store/catalog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool matches(const struct kvz_catalog_entry *e, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strstr(e->name, words[i]) && !(e->aliases && strstr(e->aliases, words[i])) &&
            !(e->description && strcasestr(e->description, words[i])) &&
            !strstr(e->version, words[i]) && strcmp(e->arch, words[i]))
            return false;
    return true;
}

struct row {
    const char *catalog;
    const struct kvz_catalog_entry *e;
};

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->catalog, y->catalog);
    if (!c)
        c = strcmp(x->e->name, y->e->name);
    if (!c)
        c = strcmp(x->e->arch, y->e->arch);
    if (!c)
        c = x->e->kind - y->e->kind;
    if (!c)
        c = -kvz_version_cmp(x->e->version, y->e->version); /* newest first */
    return c;
}

int kvz_templates_search(struct kvz_cli *cli, const struct kvz_manifest *m,
                         const char *const *words, size_t n_words, bool json)
{
    struct kvz_catalog_index *idx = calloc(m->n_catalogs ? m->n_catalogs : 1, sizeof(*idx));
    struct row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = KVZ_EXIT_ERROR;
    if (!idx)
        goto oom;
    if (!m->n_catalogs) {
        kvz_out_error(cli, "the manifests define no catalogs; add one under 'catalogs:'");
        goto cleanup;
    }
    for (size_t i = 0; i < m->n_catalogs; i++) {
        struct kvz_error *err = NULL;
        if (kvz_catalog_fetch(&idx[i], &m->catalogs[i], NULL, &err) < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            goto cleanup;
        }
        if (!m->catalogs[i].keyring && cli->verbosity >= 0)
            kvz_out_warn(cli, "catalog '%s' is not verified (no keyring:); add 'keyring: FILE'",
                         m->catalogs[i].name);
        for (size_t j = 0; j < idx[i].n; j++) {
            if (!matches(&idx[i].v[j], words, n_words))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                struct row *r = realloc(rows, cap * sizeof(*r));
                if (!r)
                    goto oom;
                rows = r;
            }
            rows[n++] = (struct row){m->catalogs[i].name, &idx[i].v[j]};
        }
    }
    qsort(rows, n, sizeof(*rows), cmp_row);
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
            const struct kvz_catalog_entry *e = rows[i].e;
            char *url = kvz_url_redact(e->url);
            json_array_append_new(a,
                                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s+++, s:s?, s:s?}",
                                            "catalog", rows[i].catalog, "name", e->name, "version",
                                            e->version, "type", kvz_content_kind_str(e->kind),
                                            "arch", e->arch, "size", (json_int_t)e->size, "digest",
                                            e->digest ? kvz_digest_algo_str(e->algo) : "",
                                            e->digest ? ":" : "", e->digest ? e->digest : "", "",
                                            "url", url, "description", e->description));
            free(url);
        }
        char *s = a ? json_dumps(a, 0) : NULL;
        json_decref(a);
        if (!s)
            goto oom;
        printf("%s\n", s);
        free(s);
    } else {
        printf("%-10s %-32s %-16s %-6s %-7s %10s  %s\n", "CATALOG", "NAME", "VERSION", "TYPE",
               "ARCH", "SIZE", "DIGEST");
        for (size_t i = 0; i < n; i++) {
            const struct kvz_catalog_entry *e = rows[i].e;
            char size[32] = "-";
            if (e->size)
                kvz_out_size(size, sizeof(size), e->size);
            printf("%-10s %-32s %-16s %-6s %-7s %10s  %s:%.16s\n", rows[i].catalog, e->name,
                   e->version, kvz_content_kind_str(e->kind), e->arch, size,
                   e->digest ? kvz_digest_algo_str(e->algo) : "-", e->digest ? e->digest : "");
        }
    }
    rc = KVZ_EXIT_OK;
    goto cleanup;
oom:
    kvz_out_error(cli, "templates search: out of memory");
cleanup:
    for (size_t i = 0; idx && i < m->n_catalogs; i++)
        kvz_catalog_index_release(&idx[i]);
    free(idx);
    free(rows);
    return rc;
}
