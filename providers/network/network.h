#ifndef KVZ_PROVIDERS_NETWORK_NETWORK_H
#define KVZ_PROVIDERS_NETWORK_NETWORK_H

/*
 * Internals of the network provider (libvirt's network API, on the vms'
 * connection: docs/networks.md), shared by its files:
 *   network.c  the ops table: observe, create, update, remove, start and stop
 *   lease.c    DHCP host entries and the dynamic range changed live (virNetworkUpdate)
 *   xml.c      network XML written and read with libxml2
 * kvz's ownership is recorded in the <metadata> of the network's persistent
 * definition (libvirt 9.0 keeps it there; virNetworkSetMetadata only exists
 * from 9.7, so kvz rewrites it by redefining). The planner never includes
 * this header.
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/ownership.h"
#include "providers/provider.h"

#include <libvirt/libvirt.h>

#include <stdbool.h>

/* --- xml.c --- */

/* The network XML of `name` with settings `s` (its leases bound to the MACs of the guests of
 * `stack` they name), kvz's metadata element `metadata_xml` (kvz_ownership_to_xml; may be NULL)
 * and `uuid` (NULL: libvirt picks one; a redefinition must keep the network's). Caller frees
 * *out. */
int kvz_net_xml_build(char **out, const char *name, const char *uuid, const struct kvz_net_spec *s,
                      const char *stack, const char *metadata_xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What a network XML says, into r->netspec (mode, subnet, dhcp, dns, bridge, and the DHCP host
 * entries as leases) and, when `own` is not NULL, kvz's metadata (*own NULL when it has none;
 * kvz_ownership_free). */
int kvz_net_xml_parse(struct kvz_observed_resource *r, struct kvz_ownership **own, const char *xml,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* One <host mac name ip/> (name and ip may be NULL) or <range start end/>, for
 * virNetworkUpdate. Caller frees *out. */
int kvz_net_host_xml(char **out, const char *mac, const char *name, const char *ip,
                     struct kvz_error **err) __attribute__((warn_unused_result));
int kvz_net_range_xml(char **out, const char *subnet, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- lease.c --- */

/* Applies the "lease" and "dhcp" fields of `chg` to the running network (when it is active)
 * and to its persistent definition, each as it is now: entries are added, changed or deleted
 * by the guest's MAC, never with a restart of the network or its guests. */
int kvz_net_apply_dhcp(struct kvz_host *h, virNetworkPtr net, const struct kvz_change *chg,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/* --- network.c --- */

/* The network `name` if stack h->stack owns it: *out NULL (and 0) when there is none; one
 * without kvz's metadata, or another stack's, is an error and never touched. */
int kvz_net_lookup(virNetworkPtr *out, struct kvz_host *h, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
