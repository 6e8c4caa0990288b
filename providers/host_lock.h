#ifndef KVZ_PROVIDERS_HOST_LOCK_H
#define KVZ_PROVIDERS_HOST_LOCK_H

/*
 * The lock of a remote host (docs/hosts.md), held on that host so that two runners on two
 * machines never apply to it at once: the volume "host.lock" of the host's pool "kvz-locks",
 * which libvirt creates only when it does not exist, holding who took it, from where, since
 * when, for which stack. The state-dir lock stays for the runner's own files.
 */

#include "base/error.h"

#include <libvirt/libvirt.h>
#include <stdbool.h>

struct kvz_host_lock {
    virStorageVolPtr vol; /* NULL: not held */
};

/*
 * Takes the lock of the host behind `conn` for `stack` (state_dir says which runner's files).
 * A lock another kvz holds fails at once naming its holder; one whose holder was a kvz process
 * of this machine that is gone is stale and taken over. Release with kvz_host_lock_release.
 */
int kvz_host_lock_acquire(struct kvz_host_lock *l, virConnectPtr conn, const char *host,
                          const char *stack, const char *state_dir, struct kvz_error **err)
    __attribute__((warn_unused_result));

void kvz_host_lock_release(struct kvz_host_lock *l);

/* Removes the lock of the host behind `conn` whoever holds it (kvz unlock). *out_holder (caller
 * frees) says who held it, NULL when no lock was there. */
int kvz_host_unlock(char **out_holder, virConnectPtr conn, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
