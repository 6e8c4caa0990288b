#ifndef KVZ_PARSER_MANIFEST_VM_H
#define KVZ_PARSER_MANIFEST_VM_H

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/yaml_tree.h"

/*
 * The rules between one vm's keys (`k` its name, `v` its settings in `file`), reported to `d`;
 * fills the Windows defaults (tpm and secure_boot on for os: windows with firmware: uefi) and
 * replaces an `unattend:` file name by the file's contents (relative to the manifest).
 */
void kvz_manifest_vm_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                           const struct kvz_ynode *v, struct kvz_resource *r);

#endif
