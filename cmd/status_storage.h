#ifndef KVZ_CMD_STATUS_STORAGE_H
#define KVZ_CMD_STATUS_STORAGE_H

/*
 * What `kvz status` shows of the stack's containers' storage: how each keeps its rootfs
 * (overlay on the shared template tree, a private copy, a disk image) and the disk its own
 * files take (an overlay's own layer only: the shared tree is counted once, in the store).
 */

#include "cmd/stack.h"
#include "providers/provider.h"

struct json_t;

/* Adds "storage", "own_disk" (bytes) and, for an overlay, "template_tree" to a container's row
 * of `status --json`. */
void kvz_status_storage_json(struct json_t *row, const struct kvz_observed_resource *ct);

/* The text section after the table: the host's choice for new containers, then one line a
 * container of the stack. Nothing when the stack has no container. */
void kvz_status_storage_print(const struct kvz_stack_run *r, const char *state_dir);

#endif
