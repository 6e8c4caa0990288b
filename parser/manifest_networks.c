/* The loader's rules for networks and for the guests' ip: (docs/networks.md). */
#include "parser/manifest_networks.h"

#include "parser/names.h"
#include "parser/netaddr.h"
#include "parser/show.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kvz_leases_free(struct kvz_lease *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].guest);
        free(v[i].mac);
        free(v[i].ip);
    }
    free(v);
}

void kvz_net_spec_release(struct kvz_net_spec *s)
{
    if (!s)
        return;
    free(s->subnet);
    free(s->bridge);
    kvz_leases_free(s->leases, s->n_leases);
    memset(s, 0, sizeof(*s));
}

void kvz_network_defaults(struct kvz_resource *r)
{
    r->netspec.mode = KVZ_NET_MODE_NAT;
    r->netspec.dhcp = true;
    r->netspec.dns = true;
    r->autostart = true;
    r->state = KVZ_POWER_RUNNING;
    r->network.type = KVZ_NET_NONE;
}

static void at_node(struct kvz_diags *d, const char *file, const struct kvz_ynode *n,
                    const char *code, const char *msg)
{
    kvz_diags_add(d, KVZ_SEV_ERROR, file, n ? n->line : 0, n ? n->col : 0, code, "%s", msg);
}

void kvz_network_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                       const struct kvz_ynode *v, const struct kvz_resource *r)
{
    const struct kvz_net_spec *s = &r->netspec;
    const struct kvz_ynode *subnet = kvz_ymap_key(v, "subnet"), *bridge = kvz_ymap_key(v, "bridge");
    const char *name = kvz_show(r->name);
    if (s->mode != KVZ_NET_MODE_BRIDGE) {
        if (bridge)
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, bridge->line, bridge->col, "network-bridge",
                "'bridge' applies to networks of mode bridge only: libvirt makes the bridge of a %s network; remove it, or write 'mode: bridge' to use an existing host bridge",
                kvz_net_mode_str(s->mode));
        if (!kvz_ymap_get(v, "subnet"))
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, k->line, k->col, "network-subnet",
                "network '%s' has no 'subnet'; add e.g. 'subnet: 10.77.0.0/24' (the host takes 10.77.0.1, guests the rest)",
                name);
        return;
    }
    if (subnet)
        at_node(
            d, file, subnet, "network-bridge",
            "a network of mode bridge takes no 'subnet': its addresses come from the network the host bridge is on; remove it");
    static const char *const unused[] = {"dhcp", "dns"};
    for (size_t i = 0; i < 2; i++) {
        const struct kvz_ynode *key = kvz_ymap_key(v, unused[i]);
        if (key)
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, key->line, key->col, "network-bridge",
                "'%s' does nothing on a network of mode bridge: kvz runs no DHCP or DNS there; remove it",
                unused[i]);
    }
    const struct kvz_ynode *bv = kvz_ymap_get(v, "bridge");
    if (!bv)
        kvz_diags_add(
            d, KVZ_SEV_ERROR, file, k->line, k->col, "network-bridge",
            "network '%s' of mode bridge needs 'bridge: NAME', an existing host bridge such as br0",
            name);
    else if (s->bridge && !kvz_bridge_valid(s->bridge))
        kvz_diags_add(
            d, KVZ_SEV_ERROR, file, bv->line, bv->col, "bad-network",
            "bridge '%s' is not a valid interface name; use 1-15 letters, digits, '-', '_' or '.', like br0",
            kvz_show(s->bridge));
}

static void at_loc(struct kvz_diags *d, struct kvz_loc at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void at_loc(struct kvz_diags *d, struct kvz_loc at, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kvz_diags_add(d, KVZ_SEV_ERROR, at.file, at.line, at.col, code, "%s", msg);
}

static struct kvz_resource *find_network(struct kvz_resource *res, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].kind == KVZ_KIND_NETWORK && !strcmp(res[i].name, name))
            return &res[i];
    return NULL;
}

/* Whether guest g's ip fits network net; reports why not. */
static bool ip_fits(struct kvz_diags *d, const struct kvz_resource *g, struct kvz_loc at,
                    const struct kvz_resource *net)
{
    const char *what = kvz_kind_str(g->kind);
    struct kvz_subnet sn;
    uint32_t a;
    char why[256], gw[KVZ_IPV4_STR], first[KVZ_IPV4_STR], last[KVZ_IPV4_STR];
    if (net->netspec.mode == KVZ_NET_MODE_BRIDGE) {
        at_loc(
            d, at, "ip-network",
            "ip on network '%s' of mode bridge: kvz does not run the DHCP of a host bridge; remove ip and reserve the address on that network's own DHCP server",
            net->name);
        return false;
    }
    if (!net->netspec.subnet || kvz_subnet_parse(&sn, net->netspec.subnet, why, sizeof(why)) < 0 ||
        kvz_ipv4_parse(&a, g->ip) < 0)
        return false; /* reported where the subnet or the address is */
    uint32_t lo, hi;
    kvz_subnet_range(&sn, &lo, &hi);
    kvz_ipv4_format(gw, kvz_subnet_gateway(&sn));
    kvz_ipv4_format(first, lo);
    kvz_ipv4_format(last, hi);
    if (!kvz_subnet_contains(&sn, a)) {
        at_loc(
            d, at, "ip-subnet",
            "ip %s of %s '%s' is outside subnet %s of network '%s'; use an address from %s to %s",
            g->ip, what, g->name, net->netspec.subnet, net->name, first, last);
        return false;
    }
    const char *taken = a == kvz_subnet_gateway(&sn)     ? "the gateway (the host's address)"
                        : a == sn.addr                   ? "the network address"
                        : a == kvz_subnet_broadcast(&sn) ? "the broadcast address"
                                                         : NULL;
    if (taken) {
        at_loc(d, at, "ip-subnet",
               "ip %s of %s '%s' is %s of network '%s'; use an address from %s to %s", g->ip, what,
               g->name, taken, net->name, first, last);
        return false;
    }
    return true;
}

static int add_lease(struct kvz_resource *net, const struct kvz_resource *g)
{
    struct kvz_net_spec *s = &net->netspec;
    struct kvz_lease *v = realloc(s->leases, (s->n_leases + 1) * sizeof(*v));
    if (!v)
        return -1;
    s->leases = v;
    struct kvz_lease *l = &v[s->n_leases];
    memset(l, 0, sizeof(*l));
    l->guest = strdup(g->name);
    l->ip = strdup(g->ip);
    s->n_leases++;
    return l->guest && l->ip ? 0 : -1;
}

static int cmp_lease(const void *a, const void *b)
{
    return strcmp(((const struct kvz_lease *)a)->guest, ((const struct kvz_lease *)b)->guest);
}

/* The guest of the earlier lease of `ip` on `net`, or NULL. */
static const struct kvz_resource *ip_taken(struct kvz_resource *res, size_t upto,
                                           const struct kvz_resource *net, const char *ip)
{
    uint32_t a, b;
    if (kvz_ipv4_parse(&a, ip) < 0)
        return NULL;
    for (size_t i = 0; i < upto; i++) {
        const struct kvz_resource *g = &res[i];
        if (kvz_kind_is_guest(g->kind) && g->ip && g->network.type == KVZ_NET_NETWORK &&
            g->network.name && !strcmp(g->network.name, net->name) &&
            kvz_ipv4_parse(&b, g->ip) == 0 && a == b)
            return g;
    }
    return NULL;
}

static void check_overlaps(struct kvz_diags *d, struct kvz_resource *res,
                           const struct kvz_net_locs *at, size_t n)
{
    char why[256];
    for (size_t j = 0; j < n; j++) {
        struct kvz_subnet b, a;
        if (res[j].kind != KVZ_KIND_NETWORK || !res[j].netspec.subnet ||
            kvz_subnet_parse(&b, res[j].netspec.subnet, why, sizeof(why)) < 0)
            continue;
        for (size_t i = 0; i < j; i++) {
            if (res[i].kind != KVZ_KIND_NETWORK || !res[i].netspec.subnet ||
                kvz_subnet_parse(&a, res[i].netspec.subnet, why, sizeof(why)) < 0 ||
                !kvz_subnet_overlap(&a, &b))
                continue;
            at_loc(
                d, at[j].subnet, "subnet-overlap",
                "subnet %s of network '%s' overlaps subnet %s of network '%s' at %s:%u:%u; the networks of one host need subnets that do not overlap",
                res[j].netspec.subnet, res[j].name, res[i].netspec.subnet, res[i].name,
                at[i].subnet.file, at[i].subnet.line, at[i].subnet.col);
            break;
        }
    }
}

int kvz_networks_link(struct kvz_diags *d, struct kvz_resource *res, const struct kvz_net_locs *at,
                      size_t n)
{
    check_overlaps(d, res, at, n);
    for (size_t i = 0; i < n; i++) {
        const struct kvz_resource *g = &res[i];
        if (!kvz_kind_is_guest(g->kind) || !g->ip)
            continue;
        const char *what = kvz_kind_str(g->kind);
        if (g->network.type != KVZ_NET_NETWORK || !g->network.name) {
            at_loc(
                d, at[i].ip, "ip-network",
                "ip needs a network of the manifests, but %s '%s' has network: %s; name a network under 'networks:' in 'network:'",
                what, g->name, g->network.type == KVZ_NET_NONE ? "none" : "{bridge: ...}");
            continue;
        }
        struct kvz_resource *net = find_network(res, n, g->network.name);
        if (!net) {
            at_loc(
                d, at[i].ip, "ip-network",
                "ip needs a network of the manifests, and '%s' is not one (kvz reserves addresses only on networks it manages); declare it under 'networks:' or remove ip",
                g->network.name);
            continue;
        }
        if (!ip_fits(d, g, at[i].ip, net))
            continue;
        const struct kvz_resource *first = ip_taken(res, i, net, g->ip);
        if (first) {
            size_t fi = (size_t)(first - res);
            at_loc(
                d, at[i].ip, "duplicate-ip",
                "ip %s on network '%s' is already reserved for %s '%s' at %s:%u:%u; give each guest its own address",
                g->ip, net->name, kvz_kind_str(first->kind), first->name, at[fi].ip.file,
                at[fi].ip.line, at[fi].ip.col);
            continue;
        }
        if (add_lease(net, g) < 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (res[i].kind == KVZ_KIND_NETWORK && res[i].netspec.n_leases > 1)
            qsort(res[i].netspec.leases, res[i].netspec.n_leases, sizeof(struct kvz_lease),
                  cmp_lease);
    return 0;
}
