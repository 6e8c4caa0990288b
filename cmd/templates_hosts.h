#ifndef KVZ_CMD_TEMPLATES_HOSTS_H
#define KVZ_CMD_TEMPLATES_HOSTS_H

/* The hosts whose guests `kvz templates list|prune` asks what they were made from: without
 * hosts:, the one of --containers-uri/--vms-uri or the manifests; with hosts:, every host of
 * hosts: observed at once (docs/hosts.md). */

#include "cmd/cli.h"
#include "parser/manifest.h"
#include "providers/fleet.h"
#include "providers/host_lock.h"
#include "providers/hosts.h"

#include <stdbool.h>
#include <stddef.h>

struct kvz_tmpl_scope {
    struct kvz_hosts one; /* without hosts: */
    bool one_open;
    struct kvz_fleet f; /* with hosts: */
    struct kvz_host_lock *locks;
    struct kvz_hosts **v; /* the hosts observed, every kind each has */
    size_t n;
    size_t n_failed; /* hosts of hosts: that could not be reached, locked or observed */
};

/* Connects every kind and observes it. Without hosts: -1 when that fails (*err says why).
 * With hosts: a host that fails is left out of v, counted in n_failed, and its reason is in
 * f.v[i].err; with `lock` each host's lock (providers/host_lock.h) is taken and the host
 * observed again under it. -1 (*err) too for --containers-uri/--vms-uri with hosts:, or out of
 * memory. Close with kvz_tmpl_scope_close, also after a failure. */
int kvz_tmpl_scope_open(struct kvz_tmpl_scope *s, struct kvz_cli *cli, const struct kvz_manifest *m,
                        bool lock, struct kvz_error **err) __attribute__((warn_unused_result));

/* The name of v[i]'s host: "local" without hosts:. */
const char *kvz_tmpl_scope_host(const struct kvz_tmpl_scope *s, size_t i);

void kvz_tmpl_scope_close(struct kvz_tmpl_scope *s);

#endif
