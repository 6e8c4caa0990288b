#ifndef KVZ_PARSER_MANIFEST_NETWORKS_H
#define KVZ_PARSER_MANIFEST_NETWORKS_H

/*
 * The loader's rules for networks (docs/networks.md): between the keys of
 * one network, and between the guests' `ip:` and the networks they name.
 * Used by manifest.c only.
 */

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/yaml_tree.h"

#include <stdbool.h>
#include <stddef.h>

/* The defaults a network has before its keys are decoded: dhcp, dns and autostart on. */
void kvz_network_defaults(struct kvz_resource *r);

/* Rules between the keys of network `r` (decoded from mapping `v` under key `k` of `file`). */
void kvz_network_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                       const struct kvz_ynode *v, const struct kvz_resource *r);

/* Where the values the rules across resources talk about stand. */
struct kvz_net_locs {
    struct kvz_loc ip;     /* a guest's ip: */
    struct kvz_loc subnet; /* a network's subnet: */
};

/*
 * Checks every guest's ip: against the network it names (a network of the manifests, not of
 * mode bridge, inside its subnet, not its gateway, network or broadcast address, once per
 * network) and that the networks' subnets do not overlap; then gives each network its leases,
 * sorted by guest name. `at[i]` locates res[i]. Returns -1 when out of memory.
 */
int kvz_networks_link(struct kvz_diags *d, struct kvz_resource *res, const struct kvz_net_locs *at,
                      size_t n) __attribute__((warn_unused_result));

#endif
