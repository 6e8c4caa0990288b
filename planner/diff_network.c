/*
 * Planning networks (docs/networks.md): create, replace (mode, subnet or
 * bridge changed), live updates (static leases, the DHCP range, autostart,
 * protect), a restart (dns), a start (stopped by hand), delete; and what a
 * replace, restart or start does to the running guests attached: libvirt
 * does not move their interfaces to the new bridge, so they restart.
 */
#include "planner/diff.h"

#include "parser/netaddr.h"
#include "parser/spec_digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool on_network(const struct kvz_network *n, const char *name)
{
    return n->type == KVZ_NET_NETWORK && n->name && !strcmp(n->name, name);
}

bool kvz_diff_network_in_scope(const struct kvz_plan_input *in, const struct kvz_resource *w)
{
    if (kvz_diff_in_targets(in, w->name))
        return true;
    for (size_t i = 0; in->m && i < in->m->n_resources; i++) {
        const struct kvz_resource *g = &in->m->resources[i];
        if (kvz_kind_is_guest(g->kind) && on_network(&g->network, w->name) &&
            kvz_diff_in_targets(in, g->name))
            return true;
    }
    return false;
}

static bool ours(const struct diff *d, const struct kvz_observed_resource *h)
{
    return h->managed && h->stack && !strcmp(h->stack, d->in->stack);
}

/* A new subnet must not overlap a network on the host other than the manifests' own (which the
 * loader checked against each other). */
static void check_host_overlap(struct diff *d, const struct kvz_resource *w)
{
    const struct kvz_observed *o = d->in->observed[KVZ_KIND_NETWORK];
    struct kvz_subnet a, b;
    uint32_t addr;
    unsigned prefix;
    char why[256];
    if (!w->netspec.subnet || kvz_subnet_parse(&a, w->netspec.subnet, why, sizeof(why)) < 0)
        return;
    for (size_t i = 0; o && i < o->n; i++) {
        const struct kvz_observed_resource *h = &o->v[i];
        if (!strcmp(h->name, w->name) || !h->netspec.subnet ||
            (ours(d, h) && kvz_manifest_resource(d->in->m, h->name)) ||
            kvz_cidr_parse(&addr, &prefix, h->netspec.subnet) < 0)
            continue;
        b = kvz_subnet_of(addr, prefix);
        if (kvz_subnet_overlap(&a, &b))
            kvz_diff_problem(
                d,
                "network '%s': subnet %s overlaps %s of network '%s' on the host; pick a subnet that does not overlap it",
                w->name, w->netspec.subnet, h->netspec.subnet, h->name);
    }
}

/* The lease of the guest whose MAC is `mac`, among the desired leases of `w`. */
static const struct kvz_lease *desired_lease(const struct diff *d, const struct kvz_resource *w,
                                             const char *mac)
{
    for (size_t i = 0; i < w->netspec.n_leases; i++) {
        char m[18];
        kvz_guest_mac(m, d->in->stack, w->netspec.leases[i].guest);
        if (!strcasecmp(m, mac))
            return &w->netspec.leases[i];
    }
    return NULL;
}

static const struct kvz_lease *observed_entry(const struct kvz_observed_resource *h,
                                              const char *mac)
{
    for (size_t i = 0; i < h->netspec.n_leases; i++)
        if (h->netspec.leases[i].mac && !strcasecmp(h->netspec.leases[i].mac, mac))
            return &h->netspec.leases[i];
    return NULL;
}

static void add_lease(struct diff *d, struct kvz_change *c, const char *key, const char *before,
                      const char *after)
{
    kvz_diff_add_str(d, c, "lease", before, after,
                     !c->want || !c->have || kvz_diff_field_live(d, c->want, c->have, "lease"));
    struct kvz_field_delta *f = c->n_fields ? &c->fields[c->n_fields - 1] : NULL;
    if (f && !d->oom && !(f->key = strdup(key)))
        d->oom = true;
}

/* The static leases: the manifests' ip: by the guests' MACs against the host entries (`h` NULL:
 * none yet). An entry for no guest of the manifests is removed. */
static void diff_leases(struct diff *d, struct kvz_change *c, const struct kvz_resource *w,
                        const struct kvz_observed_resource *h)
{
    for (size_t i = 0; i < w->netspec.n_leases; i++) {
        const struct kvz_lease *l = &w->netspec.leases[i];
        char mac[18];
        kvz_guest_mac(mac, d->in->stack, l->guest);
        const struct kvz_lease *e = h ? observed_entry(h, mac) : NULL;
        if (!e || !e->ip || strcmp(e->ip, l->ip))
            add_lease(d, c, l->guest, e ? e->ip : NULL, l->ip);
    }
    for (size_t i = 0; h && i < h->netspec.n_leases; i++) {
        const struct kvz_lease *e = &h->netspec.leases[i];
        if (!e->mac || desired_lease(d, w, e->mac))
            continue;
        /* an entry kvz made for a guest that no longer has ip: here is named by that guest */
        char mac[18] = "";
        if (e->guest)
            kvz_guest_mac(mac, d->in->stack, e->guest);
        add_lease(d, c, e->guest && !strcasecmp(mac, e->mac) ? e->guest : e->mac, e->ip, NULL);
    }
}

static void create_fields(struct diff *d, struct kvz_change *c, const struct kvz_resource *w)
{
    const struct kvz_net_spec *s = &w->netspec;
    kvz_diff_add_str(d, c, "mode", NULL, kvz_net_mode_str(s->mode), true);
    if (s->mode == KVZ_NET_MODE_BRIDGE) {
        kvz_diff_add_str(d, c, "bridge", NULL, s->bridge, true);
    } else {
        kvz_diff_add_str(d, c, "subnet", NULL, s->subnet, true);
        if (!s->dhcp)
            kvz_diff_add_num(d, c, "dhcp", KVZ_FIELD_BOOL, 0, false, true);
        if (!s->dns)
            kvz_diff_add_num(d, c, "dns", KVZ_FIELD_BOOL, 0, false, true);
    }
    if (!w->autostart)
        kvz_diff_add_num(d, c, "autostart", KVZ_FIELD_BOOL, 0, false, true);
    diff_leases(d, c, w, NULL);
}

/* Why the network must be made again, or NULL; the fields that say so go into *c later. */
static const char *replace_reason(const struct kvz_resource *w,
                                  const struct kvz_observed_resource *h)
{
    const struct kvz_net_spec *ws = &w->netspec, *hs = &h->netspec;
    if (ws->mode != hs->mode)
        return "mode changed";
    if (ws->mode == KVZ_NET_MODE_BRIDGE)
        return hs->bridge && ws->bridge && !strcmp(hs->bridge, ws->bridge) ? NULL
                                                                           : "bridge changed";
    return hs->subnet && ws->subnet && !strcmp(hs->subnet, ws->subnet) ? NULL : "subnet changed";
}

static void plan_replace(struct diff *d, const struct kvz_resource *w,
                         const struct kvz_observed_resource *h, const char *why)
{
    const struct kvz_net_spec *ws = &w->netspec, *hs = &h->netspec;
    if (w->protect || h->protect) {
        kvz_diff_problem(
            d,
            "network '%s' is protected and would be replaced (%s); set protect: false to allow it",
            w->name, why);
        return;
    }
    check_host_overlap(d, w);
    struct kvz_change *c = kvz_diff_add_change(d, KVZ_KIND_NETWORK, w->name, KVZ_ACTION_REPLACE);
    if (!c)
        return;
    c->want = w;
    c->have = h;
    if (ws->mode != hs->mode)
        kvz_diff_add_str(d, c, "mode", kvz_net_mode_str(hs->mode), kvz_net_mode_str(ws->mode),
                         false);
    if (ws->mode == KVZ_NET_MODE_BRIDGE &&
        (!hs->bridge || !ws->bridge || strcmp(hs->bridge, ws->bridge)))
        kvz_diff_add_str(d, c, "bridge", hs->bridge, ws->bridge, false);
    if (ws->mode != KVZ_NET_MODE_BRIDGE &&
        (!hs->subnet || !ws->subnet || strcmp(hs->subnet, ws->subnet)))
        kvz_diff_add_str(d, c, "subnet", hs->subnet, ws->subnet, false);
    if (ws->mode != KVZ_NET_MODE_BRIDGE)
        diff_leases(d, c, w, hs->mode == KVZ_NET_MODE_BRIDGE ? NULL : h);
    kvz_diff_set_reason(d, c, "%s: the network is made again", why);
}

/* A boolean field of change c when it differs, live as the provider says. */
static void add_bool(struct diff *d, struct kvz_change *c, const char *field, bool before,
                     bool after)
{
    if (before != after)
        kvz_diff_add_num(d, c, field, KVZ_FIELD_BOOL, before, after,
                         kvz_diff_field_live(d, c->want, c->have, field));
}

static void plan_existing(struct diff *d, const struct kvz_resource *w,
                          const struct kvz_observed_resource *h)
{
    const struct kvz_net_spec *ws = &w->netspec, *hs = &h->netspec;
    char spec[KVZ_SHA256_HEX];
    if (kvz_spec_digest(spec, w, NULL) < 0) {
        d->oom = true;
        return;
    }
    bool drift = h->spec_digest && !strcmp(h->spec_digest, spec);
    const char *why = replace_reason(w, h);
    if (why) {
        plan_replace(d, w, h, why);
        return;
    }
    struct kvz_change *c = kvz_diff_add_change(d, KVZ_KIND_NETWORK, w->name, KVZ_ACTION_UPDATE);
    if (!c)
        return;
    c->want = w;
    c->have = h;
    if (ws->mode != KVZ_NET_MODE_BRIDGE) {
        add_bool(d, c, "dhcp", hs->dhcp, ws->dhcp);
        add_bool(d, c, "dns", hs->dns, ws->dns);
        diff_leases(d, c, w, h);
    }
    add_bool(d, c, "autostart", h->autostart, w->autostart);
    add_bool(d, c, "protect", h->protect, w->protect);
    if (d->oom)
        return;
    /* "dhcp and leases", "autostart, dns and leases": the leases of all guests as one word */
    const char *names[8];
    size_t n = 0;
    bool restart = false, leases = false;
    for (size_t i = 0; i < c->n_fields; i++) {
        restart |= !c->fields[i].live;
        if (!strcmp(c->fields[i].field, "lease"))
            leases = true;
        else if (n < 7)
            names[n++] = c->fields[i].field;
    }
    if (leases)
        names[n++] = "leases";
    struct kvz_buf r = KVZ_BUF_INIT;
    if (c->n_fields) {
        c->live = !restart;
        for (size_t i = 0; i < n; i++)
            kvz_buf_printf(&r, "%s%s", i ? (i + 1 == n ? " and " : ", ") : "", names[i]);
        kvz_buf_puts(&r, drift ? " changed outside kvz" : " changed");
        if (restart && h->running)
            kvz_buf_puts(&r, ": the network restarts");
        if (!h->running)
            kvz_buf_puts(&r, "; then start");
    } else if (!h->running) {
        c->action = KVZ_ACTION_START;
        kvz_buf_puts(&r, "stopped outside kvz");
    } else {
        c->action = KVZ_ACTION_NOOP;
    }
    if (r.len) {
        free(c->reason);
        if (!(c->reason = kvz_buf_detach(&r)))
            d->oom = true;
    }
    kvz_buf_release(&r);
}

void kvz_diff_network(struct diff *d, const struct kvz_resource *w)
{
    const struct kvz_observed_resource *h =
        kvz_diff_find_observed(d->in, KVZ_KIND_NETWORK, w->name);
    if (!h) {
        check_host_overlap(d, w);
        struct kvz_change *c = kvz_diff_add_change(d, KVZ_KIND_NETWORK, w->name, KVZ_ACTION_CREATE);
        if (!c)
            return;
        c->want = w;
        kvz_diff_set_reason(d, c, "not on the host");
        create_fields(d, c, w);
        return;
    }
    if (!h->managed) {
        kvz_diff_problem(
            d,
            "network '%s': a libvirt network of that name exists and is not managed by kvz, which never touches it; rename the network in the manifest, or remove it yourself (virsh net-destroy, net-undefine)",
            w->name);
        return;
    }
    if (!ours(d, h)) {
        kvz_diff_problem(
            d,
            "network '%s': a libvirt network of that name belongs to stack '%s'; rename the network or destroy it from that stack",
            w->name, h->stack ? h->stack : "?");
        return;
    }
    if (kvz_diff_foreign_state_dir(d, h))
        return;
    plan_existing(d, w, h);
}

static bool deleted(struct diff *d, const struct kvz_observed_resource *g)
{
    const struct kvz_change *c = kvz_diff_change_of(d, g->kind, g->name);
    return c && c->action == KVZ_ACTION_DELETE;
}

bool kvz_diff_network_deletable(struct diff *d, const struct kvz_observed_resource *h)
{
    const struct kvz_plan_input *in = d->in;
    bool ok = true;
    /* a guest of the manifests that names it stays (destroy: they go, or are out of scope and
     * then recreate the network with it) */
    for (size_t i = 0; !in->destroy && in->m && i < in->m->n_resources; i++) {
        const struct kvz_resource *g = &in->m->resources[i];
        if (!kvz_kind_is_guest(g->kind) || !on_network(&g->network, h->name) ||
            !kvz_diff_on_host(in, g))
            continue;
        kvz_diff_problem(
            d,
            "network '%s' is not in the manifests, but %s '%s' still has network: %s; move it to another network first, or keep the network",
            h->name, kvz_kind_str(g->kind), g->name, h->name);
        ok = false;
    }
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_observed *o = in->observed[k];
        for (size_t i = 0; kvz_kind_is_guest(k) && o && i < o->n; i++) {
            const struct kvz_observed_resource *g = &o->v[i];
            if (!on_network(&g->network, h->name) || deleted(d, g))
                continue;
            /* a guest of the stack in the manifests: its network: decides (checked above) */
            if (ours(d, g) && kvz_manifest_resource(in->m, g->name))
                continue;
            kvz_diff_problem(
                d,
                "network '%s' would be deleted, but %s '%s' (%s) uses it; move it to another network or remove it first",
                h->name, kvz_kind_str(g->kind), g->name,
                ours(d, g)   ? "not in the targets"
                : g->managed ? "another stack's"
                             : "not managed by kvz");
            ok = false;
        }
    }
    return ok;
}

/* What change c of a network does to the interfaces attached to it: NULL for nothing; *cut
 * says whether this apply cuts them off (a replace, a restart) or they were already (the
 * network was stopped or removed by hand, and is started or made again). */
static const char *reattach_reason(const struct kvz_change *c, bool *cut)
{
    *cut = false;
    if (c->kind != KVZ_KIND_NETWORK)
        return NULL;
    if (c->action == KVZ_ACTION_CREATE)
        return "made again";
    if (!c->have)
        return NULL;
    if (!c->have->running)
        return c->action == KVZ_ACTION_START || c->action == KVZ_ACTION_UPDATE ? "started again"
                                                                               : NULL;
    *cut = true;
    if (c->action == KVZ_ACTION_REPLACE)
        return "replaced";
    if (c->action == KVZ_ACTION_UPDATE && !c->live)
        return "restarted";
    return NULL;
}

/* Restarts guest g (running on network `net`) with its change, `what` happened to the network. */
static void restart_guest(struct diff *d, const struct kvz_observed_resource *g, const char *net,
                          const char *what, struct kvz_buf *names)
{
    struct kvz_change *c = kvz_diff_change_of(d, g->kind, g->name);
    const struct kvz_resource *w = kvz_manifest_resource(d->in->m, g->name);
    if (c && c->action != KVZ_ACTION_NOOP && c->action != KVZ_ACTION_UPDATE)
        return; /* replaced, deleted or stopped anyway */
    if (w && (w->kind != g->kind || !on_network(&w->network, net)))
        return; /* moves to another network: its own update attaches it there */
    if (!w) {
        kvz_diff_problem(
            d,
            "network '%s' would be %s, cutting off %s '%s' of the stack, which is not in the targets; target it too",
            net, what, kvz_kind_str(g->kind), g->name);
        return;
    }
    if (!c && !(c = kvz_diff_add_change(d, g->kind, g->name, KVZ_ACTION_NOOP)))
        return;
    c->want = w;
    c->have = g;
    char after[160];
    snprintf(after, sizeof(after), "%s (%s)", net, what);
    kvz_diff_add_str(d, c, "network", net, after, false);
    c->live = false;
    struct kvz_buf r = KVZ_BUF_INIT;
    if (c->action == KVZ_ACTION_UPDATE && c->reason)
        kvz_buf_printf(&r, "%s; ", c->reason);
    kvz_buf_printf(&r, "network '%s' is %s: a restart attaches %s to its new bridge", net, what,
                   g->name);
    c->action = KVZ_ACTION_UPDATE;
    free(c->reason);
    if (!(c->reason = kvz_buf_detach(&r)))
        d->oom = true;
    kvz_buf_printf(names, "%s%s", names->len ? ", " : "", g->name);
}

void kvz_diff_reattach(struct diff *d)
{
    const struct kvz_plan_input *in = d->in;
    size_t n = d->p->n_changes;
    for (size_t ci = 0; ci < n; ci++) {
        bool cut;
        const char *what = reattach_reason(&d->p->changes[ci], &cut);
        if (!what)
            continue;
        char *net = strdup(d->p->changes[ci].name);
        struct kvz_buf names = KVZ_BUF_INIT;
        if (!net) {
            d->oom = true;
            return;
        }
        for (int k = 0; k < KVZ_N_KINDS; k++) {
            const struct kvz_observed *o = in->observed[k];
            for (size_t i = 0; kvz_kind_is_guest(k) && o && i < o->n; i++) {
                const struct kvz_observed_resource *g = &o->v[i];
                if (!g->running || !on_network(&g->network, net))
                    continue;
                if (ours(d, g))
                    restart_guest(d, g, net, what, &names);
                else if (cut)
                    kvz_diff_problem(
                        d,
                        "network '%s' would be %s, cutting off %s '%s' (%s), which kvz cannot restart; stop it or move it to another network first",
                        net, what, kvz_kind_str(g->kind), g->name,
                        g->managed ? "another stack's" : "not managed by kvz");
            }
        }
        /* the changes may have moved: find the network's again */
        struct kvz_change *nc = &d->p->changes[ci];
        if (names.len && nc->reason) {
            struct kvz_buf r = KVZ_BUF_INIT;
            kvz_buf_printf(&r, "%s; attached guests restart: %s", nc->reason, kvz_buf_cstr(&names));
            free(nc->reason);
            if (!(nc->reason = kvz_buf_detach(&r)))
                d->oom = true;
        }
        kvz_buf_release(&names);
        free(net);
    }
}
