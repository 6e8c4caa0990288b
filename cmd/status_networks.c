/* kvz status: the stack's networks with their addresses and the leases of its guests. */
#include "cmd/status_networks.h"

#include "parser/netaddr.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool ours(const struct kvz_observed_resource *h, const struct kvz_stack_run *r)
{
    return h->managed && h->stack && !strcmp(h->stack, r->m->stack);
}

/* The host's address on the network: the first of its subnet (NULL in mode bridge). */
static const char *gateway(char out[KVZ_IPV4_STR], const struct kvz_observed_resource *net)
{
    uint32_t a;
    unsigned prefix;
    if (!net->netspec.subnet || kvz_cidr_parse(&a, &prefix, net->netspec.subnet) < 0 ||
        prefix >= 32)
        return NULL;
    struct kvz_subnet sn = kvz_subnet_of(a, prefix);
    kvz_ipv4_format(out, a == sn.addr ? kvz_subnet_gateway(&sn) : a);
    return out;
}

static const char *ip_of(const struct kvz_lease *v, size_t n, const char *mac)
{
    for (size_t i = 0; mac && i < n; i++)
        if (v[i].mac && !strcasecmp(v[i].mac, mac))
            return v[i].ip;
    return NULL;
}

/* Calls fn for each guest of the stack attached to `net`. */
typedef void guest_fn(void *ctx, const struct kvz_observed_resource *g, const char *fixed,
                      const char *leased);

static void each_guest(const struct kvz_stack_run *r, const struct kvz_observed_resource *net,
                       guest_fn *fn, void *ctx)
{
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_observed *o = &r->hs.observed[k];
        for (size_t i = 0; kvz_kind_is_guest(k) && r->hs.ops[k] && i < o->n; i++) {
            const struct kvz_observed_resource *g = &o->v[i];
            if (!ours(g, r) || g->network.type != KVZ_NET_NETWORK || !g->network.name ||
                strcmp(g->network.name, net->name))
                continue;
            fn(ctx, g, ip_of(net->netspec.leases, net->netspec.n_leases, g->mac),
               ip_of(net->dhcp_leases, net->n_dhcp_leases, g->mac));
        }
    }
}

static json_t *sn(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void lease_json(void *ctx, const struct kvz_observed_resource *g, const char *fixed,
                       const char *leased)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:o, s:o, s:o}", "guest", g->name, "kind",
                                         kvz_kind_str(g->kind), "mac", sn(g->mac), "ip", sn(fixed),
                                         "leased", sn(leased)));
}

void kvz_status_network_json(json_t *row, const struct kvz_observed_resource *net,
                             const struct kvz_stack_run *r)
{
    char gw[KVZ_IPV4_STR];
    json_t *leases = json_array();
    if (!row || !leases) {
        json_decref(leases);
        return;
    }
    each_guest(r, net, lease_json, leases);
    json_object_del(row, "memory");
    json_object_del(row, "cpus");
    json_object_del(row, "disk");
    json_object_set_new(row, "mode", json_string(kvz_net_mode_str(net->netspec.mode)));
    json_object_set_new(row, "subnet", sn(net->netspec.subnet));
    json_object_set_new(row, "gateway", sn(gateway(gw, net)));
    json_object_set_new(row, "bridge", sn(net->netspec.bridge));
    json_object_set_new(row, "dhcp", json_boolean(net->netspec.dhcp));
    json_object_set_new(row, "dns", json_boolean(net->netspec.dns));
    json_object_set_new(row, "autostart", json_boolean(net->autostart));
    json_object_set_new(row, "leases", leases);
}

static void lease_line(void *ctx, const struct kvz_observed_resource *g, const char *fixed,
                       const char *leased)
{
    char addr[80];
    if (fixed && leased && !strcmp(fixed, leased))
        snprintf(addr, sizeof(addr), "%s (static, leased)", fixed);
    else if (fixed && leased)
        snprintf(addr, sizeof(addr), "%s (static; leased %s until it renews)", fixed, leased);
    else if (fixed)
        snprintf(addr, sizeof(addr), "%s (static, not leased yet)", fixed);
    else
        snprintf(addr, sizeof(addr), "%s", leased ? leased : "- (no lease)");
    printf("  %-18s %-9s %-17s  %s\n", g->name, kvz_kind_str(g->kind), g->mac ? g->mac : "-", addr);
}

void kvz_status_networks_print(const struct kvz_stack_run *r)
{
    const struct kvz_observed *o = &r->hs.observed[KVZ_KIND_NETWORK];
    bool header = false;
    for (size_t i = 0; r->hs.ops[KVZ_KIND_NETWORK] && i < o->n; i++) {
        const struct kvz_observed_resource *net = &o->v[i];
        char gw[KVZ_IPV4_STR];
        if (!ours(net, r))
            continue;
        if (!header)
            printf("\n%-20s %-9s %-18s %-15s %s\n", "NETWORK", "MODE", "SUBNET", "GATEWAY",
                   "BRIDGE");
        header = true;
        const char *g = gateway(gw, net);
        printf("%-20s %-9s %-18s %-15s %s\n", net->name, kvz_net_mode_str(net->netspec.mode),
               net->netspec.subnet ? net->netspec.subnet : "-", g ? g : "-",
               net->netspec.bridge ? net->netspec.bridge : "-");
        each_guest(r, net, lease_line, NULL);
    }
}
