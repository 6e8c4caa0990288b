#ifndef KVZ_PARSER_MANIFEST_HOSTS_H
#define KVZ_PARSER_MANIFEST_HOSTS_H

/*
 * The loader's rules for `hosts:` and the guests' `host:` (SPEC section 7, docs/hosts.md).
 * Used by manifest.c only.
 */

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/yaml_tree.h"

#include <stdbool.h>
#include <stddef.h>

/* The hosts read so far, across the files of one run. */
struct kvz_hosts_acc {
    struct kvz_host_def *v;
    size_t n, cap;
    struct kvz_loc first; /* where `hosts:` first stands (file NULL: no file has one) */
};

/* Reads the `hosts:` section of one file (absent: nothing). A host defined again must be
 * defined the same; else a conflict is reported. Returns -1 when out of memory. */
int kvz_hosts_section(struct kvz_hosts_acc *acc, struct kvz_diags *d, const char *file,
                      const struct kvz_ynode *root) __attribute__((warn_unused_result));

/*
 * Gives `m` its hosts (taken from acc; without `hosts:` the one host "local" made of
 * m->containers_uri and m->vms_uri) and checks every resource's host: named when there is more
 * than one host (else the only host), defined, with a URI for its kind; a guest on a network of
 * the manifests is on that network's host. `connection` locates a `connection:` (file NULL:
 * none), which `hosts:` excludes. Returns -1 when out of memory.
 */
int kvz_hosts_finish(struct kvz_manifest *m, struct kvz_hosts_acc *acc, struct kvz_diags *d,
                     struct kvz_loc connection) __attribute__((warn_unused_result));

/* Frees what acc still holds. */
void kvz_hosts_acc_release(struct kvz_hosts_acc *acc);

/* Frees the strings of hosts v[0..n) and the array. */
void kvz_host_defs_free(struct kvz_host_def *v, size_t n);

#endif
