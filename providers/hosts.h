#ifndef KVZ_PROVIDERS_HOSTS_H
#define KVZ_PROVIDERS_HOSTS_H

/*
 * The connections: the host as the planner and executor see it, one libvirt
 * connection and provider per kind, and what each observed.
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/provider.h"

#include <stdbool.h>

struct kvz_hosts {
    struct kvz_host h[KVZ_N_KINDS];
    const struct kvz_provider_ops *ops[KVZ_N_KINDS]; /* NULL when the kind is not connected */
    struct kvz_observed observed[KVZ_N_KINDS];
    char *uri[KVZ_N_KINDS];
    /* why a kind the manifests do not use was left out (its guests are not seen) */
    char *skipped[KVZ_N_KINDS];
    bool used[KVZ_N_KINDS]; /* the manifests have resources of this kind */
};

struct kvz_hosts_config {
    const struct kvz_manifest *m;
    /* --containers-uri / --vms-uri, or NULL: the manifest's; networks: the vms' unless set */
    const char *uri[KVZ_N_KINDS];
    const char *state_dir;
    const char *source; /* provenance for what apply records */
    bool all_kinds;     /* every kind must connect and be observed, used by the manifests or not */
    /* a host of the manifest's hosts: (docs/hosts.md): only its resources count as used, and
     * a kind without a URI in uri[] is not connected (no fallback to the manifest's); NULL:
     * every resource, with the fallbacks above */
    const char *host;
};

/*
 * Connects each kind. A kind the manifests use must connect, else this fails naming the URI;
 * another kind that cannot connect is left out (skipped[] says why), so a container-only
 * manifest works without a reachable qemu. On failure everything opened is closed.
 */
int kvz_hosts_open(struct kvz_hosts *out, const struct kvz_hosts_config *cfg,
                   struct kvz_error **err) __attribute__((warn_unused_result));

/* Asks every connected provider for its domains, into out->observed. A kind the manifests do
 * not use is left out (skipped[] says why) when its observe fails; a used one fails this. */
int kvz_hosts_observe(struct kvz_hosts *hs, struct kvz_error **err)
    __attribute__((warn_unused_result));

void kvz_hosts_close(struct kvz_hosts *hs);

#endif
