#ifndef KVZ_CMD_STATUS_NETWORKS_H
#define KVZ_CMD_STATUS_NETWORKS_H

/*
 * What `kvz status` shows of the stack's networks beyond the common columns:
 * mode, subnet, gateway, bridge, and for each guest of the stack on it its
 * MAC, its static lease (ip:) and the lease its DHCP server handed out.
 */

#include "cmd/stack.h"
#include "providers/provider.h"

struct json_t;

/* Adds the network's addresses and leases to its row of `status --json` (and drops the
 * guests' memory, cpus and disk from it). */
void kvz_status_network_json(struct json_t *row, const struct kvz_observed_resource *net,
                             const struct kvz_stack_run *r);

/* The text section after the table: one line a network of the stack, one line a guest on it.
 * Nothing when the stack has no network. */
void kvz_status_networks_print(const struct kvz_stack_run *r);

#endif
