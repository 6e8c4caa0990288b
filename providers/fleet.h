#ifndef KVZ_PROVIDERS_FLEET_H
#define KVZ_PROVIDERS_FLEET_H

/*
 * Many hosts (docs/hosts.md): the manifest's hosts, each with its connections (struct
 * kvz_hosts, one per kind), all connected and observed at once, one thread per host. A host
 * that cannot be reached is kept with the reason: it fails alone.
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/host_lock.h"
#include "providers/hosts.h"

#include <stdbool.h>
#include <stddef.h>

struct kvz_fleet_host {
    const struct kvz_host_def *def; /* points into the manifest */
    struct kvz_hosts hs;            /* valid when !err */
    struct kvz_error *err;          /* why it was not connected or observed; NULL: observed */
};

struct kvz_fleet {
    struct kvz_fleet_host *v; /* the hosts in scope, in manifest order */
    size_t n;
};

struct kvz_fleet_config {
    const struct kvz_manifest *m;
    const char *const *only; /* --host names; n_only == 0: every host of m */
    size_t n_only;
    const char *state_dir;
    const char *source;
    bool all_kinds; /* every kind a host has a URI for must connect (kvz templates) */
};

/*
 * Connects to and observes every host in scope at once. Fails (-1, nothing held) only when a
 * name of `only` is not a host of the manifest, or out of memory; a host that fails has its
 * reason in its err. Close with kvz_fleet_close.
 */
int kvz_fleet_observe(struct kvz_fleet *out, const struct kvz_fleet_config *cfg,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* Takes the host lock of an observed host (providers/host_lock.h) through any of its
 * connections, local hosts too, then observes it again under the lock. On failure fh->err says
 * why (a lock held elsewhere names its holder) and fh's connections are closed. */
void kvz_fleet_host_lock(struct kvz_host_lock *l, struct kvz_fleet_host *fh, const char *stack,
                         const char *state_dir);

void kvz_fleet_close(struct kvz_fleet *f);

#endif
