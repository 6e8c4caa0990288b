#ifndef KVZ_PROVIDERS_LAYERS_H
#define KVZ_PROVIDERS_LAYERS_H

/*
 * How this host keeps a container's rootfs (docs/containers.md, "Shared layers"), for doctor
 * and status: an overlay on the template's shared tree, reflink clones, or a copy. Chosen at
 * run time; KVZ_CONTAINER_LAYERS=copy|reflink|overlay|auto (default auto) overrides the choice.
 */

#include "base/error.h"

#include <stdbool.h>
#include <stdint.h>

enum kvz_layers {
    KVZ_LAYERS_COPY = 0, /* a private copy of the template's tree */
    KVZ_LAYERS_REFLINK,  /* a private tree whose file data shares extents (FICLONE) */
    KVZ_LAYERS_OVERLAY,  /* the template's tree read-only below, the container's layer above */
};

const char *kvz_layers_str(enum kvz_layers l);

/*
 * What a new container without `disk:` gets on the host at `uri` with its files under
 * `state_dir`. *why: when not overlay, why not (static text, with what to do). Decided once
 * per process. Returns 0, or -1 when KVZ_CONTAINER_LAYERS asks for what the host cannot do.
 */
int kvz_layers_choose(enum kvz_layers *out, const char **why, const char *uri,
                      const char *state_dir, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Whether the current kvz-lxc-hook is installed as libvirt's LXC hook; *path: where. */
bool kvz_layers_hook_installed(const char **path);

/* Bytes the tree at `path` takes on disk (its blocks), not following symlinks or other
 * filesystems; 0 when missing. */
uint64_t kvz_layers_usage(const char *path);

#endif
