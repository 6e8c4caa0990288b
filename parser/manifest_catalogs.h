#ifndef KVZ_PARSER_MANIFEST_CATALOGS_H
#define KVZ_PARSER_MANIFEST_CATALOGS_H

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/schema.h"
#include "parser/yaml_tree.h"

/*
 * `catalogs:` and the keys of a template that name where its digest comes from (a signed SUMS
 * file, or a catalog entry): docs/templates.md.
 */

/* `rel` beside the manifest `file` (an absolute path as it is). Caller frees; NULL on OOM. */
char *kvz_manifest_beside(const char *file, const char *rel);

/* Loads catalog `k` (settings `v`) of `file` into m->catalogs. Returns -1 on OOM. */
int kvz_manifest_catalog_load(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                              const struct kvz_ynode *v, struct kvz_manifest *m);

/*
 * How template `k`'s url, catalog, name, signature and keyring combine (diagnostics to d); moves
 * them from `raw` into `t` (the keyring made a path beside `file`). Returns -1 on OOM.
 */
int kvz_manifest_template_sources(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                  const struct kvz_ynode *v, struct kvz_template_raw *raw,
                                  struct kvz_template *t);

/* Once every file is loaded: catalogs defined twice, templates naming a catalog not defined. */
void kvz_manifest_catalogs_check(struct kvz_diags *d, const struct kvz_manifest *m);

void kvz_catalog_release(struct kvz_catalog *c);

#endif
