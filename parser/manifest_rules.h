#ifndef KVZ_PARSER_MANIFEST_RULES_H
#define KVZ_PARSER_MANIFEST_RULES_H

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/schema.h"
#include "parser/yaml_tree.h"

/* Where node `n` of `file` stands (line and column 0 without a node). */
struct kvz_loc kvz_manifest_loc(const char *file, const struct kvz_ynode *n);

/* A diagnostic at `at`, its message formatted from `fmt`. */
void kvz_manifest_diag(struct kvz_diags *d, enum kvz_severity sev, struct kvz_loc at,
                       const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* An error at node `at` of `file` (its name's place in messages: line and column 0 without). */
void kvz_manifest_error(struct kvz_diags *d, const char *file, const struct kvz_ynode *at,
                        const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * The rules between the keys of one template (`k` its name, `v` its settings in `file`,
 * `raw` what the schema decoded): at most one of sha256, sha512 and checksums; a checksum or
 * `insecure:`; http(s) only with a checksum (or a catalog). Reported to `d`.
 */
void kvz_manifest_template_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                 const struct kvz_ynode *v, const struct kvz_template_raw *raw);

/*
 * The rules between the fields of one container or vm `r` (`k` its name, `v` its settings):
 * sizes the host would round (4 KiB pages for a container's limit, MiB for a vm's memory) are
 * refused with the two nearest that work; a windows container is refused; then the vm rules
 * (kvz_manifest_vm_check). Reported to `d`.
 */
void kvz_manifest_resource_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                 const struct kvz_ynode *v, struct kvz_resource *r);

#endif
