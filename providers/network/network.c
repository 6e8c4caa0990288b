/* Networks as resources: the ops table of the network provider (libvirt's network API). */
#include "providers/network/network.h"

#include "providers/domain.h"

#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

int kvz_net_lookup(virNetworkPtr *out, struct kvz_host *h, const char *name, struct kvz_error **err)
{
    char *xml = NULL;
    int ret = -1;
    *out = NULL;
    virNetworkPtr net = virNetworkLookupByName(h->conn, name);
    if (!net) {
        if (kvz_virt_code() == VIR_ERR_NO_NETWORK)
            return 0;
        return kvz_error_set(err, "look up network '%s' on '%s': %s", name, h->uri, kvz_virt_msg());
    }
    /* The persistent definition: where kvz records its metadata. */
    if (!(xml = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE))) {
        kvz_error_set(err, "read network '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_owned_check(NULL, h, "network", name, KVZ_KIND_NETWORK, xml, err) < 0)
        goto cleanup;
    *out = net;
    net = NULL;
    ret = 0;
cleanup:
    if (net)
        virNetworkFree(net);
    free(xml);
    return ret;
}

/* kvz's <metadata> element for `want`, stamped now. Caller frees *out. */
static int metadata_xml(char **out, struct kvz_host *h, const struct kvz_resource *want,
                        struct kvz_error **err)
{
    struct kvz_domain_meta m;
    int rc = kvz_domain_meta_init(&m, h, KVZ_KIND_NETWORK, want, NULL, err);
    if (rc == 0) {
        m.o.config_digest = NULL; /* nothing is injected into a network */
        rc = kvz_ownership_to_xml(out, &m.o, err);
    }
    kvz_domain_meta_release(&m);
    return rc;
}

/* Records the applied spec in the persistent definition (libvirt 9.0 has no
 * virNetworkSetMetadata): the definition as it is, with kvz's element replaced. A running
 * network keeps running; only its next start reads the new definition. */
static int set_metadata(struct kvz_host *h, virNetworkPtr net, const struct kvz_resource *want,
                        struct kvz_error **err)
{
    char *md = NULL, *xml = NULL, *next = NULL;
    int rc = -1;
    if (metadata_xml(&md, h, want, err) < 0)
        goto cleanup;
    if (!(xml = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE))) {
        kvz_error_set(err, "read network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_xml_replace_metadata(&next, xml, "network", md, err) < 0)
        goto cleanup;
    virNetworkPtr redefined = virNetworkDefineXML(h->conn, next);
    if (!redefined) {
        kvz_error_set(err, "record kvz metadata on network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    virNetworkFree(redefined);
    rc = 0;
cleanup:
    free(md);
    free(xml);
    free(next);
    return rc;
}

/* Defines `want` from its spec, replacing the persistent definition of `net` (one kvz made;
 * NULL: none yet). A running network keeps running as it was. */
static int define(virNetworkPtr *out, struct kvz_host *h, virNetworkPtr net,
                  const struct kvz_resource *want, struct kvz_error **err)
{
    char *md = NULL, *xml = NULL, uuid[VIR_UUID_STRING_BUFLEN];
    int rc = -1;
    if (net && virNetworkGetUUIDString(net, uuid) < 0) {
        kvz_error_set(err, "read network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (metadata_xml(&md, h, want, err) < 0 ||
        kvz_net_xml_build(&xml, want->name, net ? uuid : NULL, &want->netspec, h->stack, md, err) <
            0)
        goto cleanup;
    kvz_host_log(h, want->name, "defining network");
    if (!(*out = virNetworkDefineXML(h->conn, xml))) {
        kvz_error_set(err, "define network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(md);
    free(xml);
    return rc;
}

/* Starts `net` (when it is not running) with want's autostart. */
static int start(struct kvz_host *h, virNetworkPtr net, const struct kvz_resource *want,
                 struct kvz_error **err)
{
    if (virNetworkSetAutostart(net, want->autostart) < 0)
        return kvz_error_set(err, "autostart of network '%s': %s", want->name, kvz_virt_msg());
    if (virNetworkIsActive(net) == 1)
        return 0;
    kvz_host_log(h, want->name, "starting network");
    if (virNetworkCreate(net) < 0)
        return kvz_error_set(err, "start network '%s': %s", want->name, kvz_virt_msg());
    return 0;
}

static int network_create(struct kvz_host *h, const struct kvz_resource *want,
                          const struct kvz_media *media, struct kvz_error **err)
{
    virNetworkPtr net = NULL, made = NULL;
    int rc = -1;
    /* an earlier create that died half-way left a network of ours: defining again finishes it;
     * anyone else's network of that name fails here, untouched */
    if (kvz_net_lookup(&net, h, want->name, err) < 0 || define(&made, h, net, want, err) < 0 ||
        start(h, made, want, err) < 0)
        kvz_error_wrap(err, "create network '%s'", want->name);
    else
        rc = 0;
    if (net)
        virNetworkFree(net);
    if (made)
        virNetworkFree(made);
    return rc;
}

static bool has_field(const struct kvz_change *chg, const char *name)
{
    for (size_t i = 0; i < chg->n_fields; i++)
        if (!strcmp(chg->fields[i].field, name))
            return true;
    return false;
}

/* What libvirt cannot change on a running network (dns): the definition is replaced, then the
 * network restarted; the planner restarts the guests attached to it afterwards. */
static int restart(struct kvz_host *h, virNetworkPtr net, const struct kvz_resource *want,
                   struct kvz_error **err)
{
    virNetworkPtr made = NULL;
    int rc = -1;
    if (define(&made, h, net, want, err) < 0)
        return -1;
    if (virNetworkIsActive(made) == 1) {
        kvz_host_log(h, want->name, "stopping network");
        if (virNetworkDestroy(made) < 0) {
            kvz_error_set(err, "stop network '%s': %s", want->name, kvz_virt_msg());
            goto cleanup;
        }
    }
    rc = start(h, made, want, err);
cleanup:
    virNetworkFree(made);
    return rc;
}

static int network_update(struct kvz_host *h, const struct kvz_change *chg,
                          const struct kvz_media *media, struct kvz_error **err)
{
    const struct kvz_resource *want = chg->want;
    virNetworkPtr net = NULL;
    int rc = -1;
    if (!want)
        return kvz_error_set(err, "update network '%s': no desired spec", chg->name);
    if (kvz_net_lookup(&net, h, want->name, err) < 0)
        goto cleanup;
    if (!net) {
        kvz_error_set(err, "network '%s' does not exist; plan again", want->name);
        goto cleanup;
    }
    if (has_field(chg, "dns")) {
        rc = restart(h, net, want, err);
        goto cleanup;
    }
    if ((has_field(chg, "lease") || has_field(chg, "dhcp")) &&
        kvz_net_apply_dhcp(h, net, chg, err) < 0)
        goto cleanup;
    if (has_field(chg, "autostart") && virNetworkSetAutostart(net, want->autostart) < 0) {
        kvz_error_set(err, "autostart of network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (set_metadata(h, net, want, err) < 0)
        goto cleanup;
    /* a network stopped by hand whose fields also changed: started after them */
    if (virNetworkIsActive(net) != 1 && virNetworkCreate(net) < 0) {
        kvz_error_set(err, "start network '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc < 0)
        kvz_error_wrap(err, "update network '%s'", chg->name);
    if (net)
        virNetworkFree(net);
    return rc;
}

static int network_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    virNetworkPtr net = NULL;
    int rc = -1;
    if (kvz_net_lookup(&net, h, name, err) < 0)
        goto cleanup;
    if (!net)
        return 0;
    if (virNetworkIsActive(net) == 1) {
        kvz_host_log(h, name, "stopping network");
        if (virNetworkDestroy(net) < 0) {
            kvz_error_set(err, "stop network '%s': %s", name, kvz_virt_msg());
            goto cleanup;
        }
    }
    if (virNetworkUndefine(net) < 0) {
        kvz_error_set(err, "undefine network '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc < 0)
        kvz_error_wrap(err, "remove network '%s'", name);
    if (net)
        virNetworkFree(net);
    return rc;
}

static int network_set_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
{
    virNetworkPtr net = NULL;
    if (kvz_net_lookup(&net, h, name, err) < 0)
        return -1;
    if (!net)
        return kvz_error_set(err, "network '%s' does not exist; plan again", name);
    int rc = 0;
    bool active = virNetworkIsActive(net) == 1;
    if (on != active)
        kvz_host_log(h, name, on ? "starting network" : "stopping network");
    if (on && !active && virNetworkCreate(net) < 0)
        rc = kvz_error_set(err, "start network '%s': %s", name, kvz_virt_msg());
    else if (!on && active && virNetworkDestroy(net) < 0)
        rc = kvz_error_set(err, "stop network '%s': %s", name, kvz_virt_msg());
    virNetworkFree(net);
    return rc;
}

/* Everything but dns changes on the running network (libvirt's network update, autostart,
 * kvz's metadata); dns needs a restart of the network. */
static bool network_field_is_live(struct kvz_host *h, const struct kvz_resource *want,
                                  const struct kvz_observed_resource *have, const char *field)
{
    return strcmp(field, "dns") != 0;
}

/* One network: its definition, state and, when running, its leases. */
static int observe_one(struct kvz_observed_resource *r, virNetworkPtr net, struct kvz_error **err)
{
    struct kvz_ownership *own = NULL;
    char *inactive = NULL, *live = NULL;
    int ret = -1;
    const char *name = virNetworkGetName(net);
    r->kind = KVZ_KIND_NETWORK;
    r->id = -1;
    if (!name || !(r->name = strdup(name)))
        goto fail;
    r->running = virNetworkIsActive(net) == 1;
    int autostart = 0;
    r->autostart = virNetworkGetAutostart(net, &autostart) == 0 && autostart;
    if (!(inactive = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE)) ||
        (r->running && !(live = virNetworkGetXMLDesc(net, 0))))
        goto fail;
    /* ownership from the persistent definition, the settings from what runs */
    if (kvz_net_xml_parse(r, &own, inactive, err) < 0 ||
        (live && kvz_net_xml_parse(r, NULL, live, err) < 0))
        goto cleanup;
    if (own)
        kvz_domain_meta_observed(r, own);
    r->storage_ok = true;
    virNetworkDHCPLeasePtr *leases = NULL;
    int n = r->running ? virNetworkGetDHCPLeases(net, NULL, &leases, 0) : 0;
    for (int i = 0; i < n; i++) {
        struct kvz_lease *v = realloc(r->dhcp_leases, (r->n_dhcp_leases + 1) * sizeof(*v));
        if (v) {
            r->dhcp_leases = v;
            v[r->n_dhcp_leases++] =
                (struct kvz_lease){leases[i]->hostname ? strdup(leases[i]->hostname) : NULL,
                                   leases[i]->mac ? strdup(leases[i]->mac) : NULL,
                                   leases[i]->ipaddr ? strdup(leases[i]->ipaddr) : NULL};
        }
        virNetworkDHCPLeaseFree(leases[i]);
    }
    free(leases);
    ret = 0;
    goto cleanup;
fail:
    kvz_error_set(err, "read network '%s': %s", name ? name : "?", kvz_virt_msg());
cleanup:
    kvz_ownership_free(own);
    free(inactive);
    free(live);
    return ret;
}

static int network_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    virNetworkPtr *nets = NULL;
    memset(out, 0, sizeof(*out));
    int n = virConnectListAllNetworks(h->conn, &nets, 0);
    if (n < 0)
        return kvz_error_set(err, "list networks on '%s': %s", h->uri, kvz_virt_msg());
    int ret = 0;
    if (n && !(out->v = calloc((size_t)n, sizeof(*out->v))))
        ret = kvz_error_set(err, "observe networks: out of memory");
    for (int i = 0; i < n; i++) {
        struct kvz_error *e = NULL;
        if (ret == 0 && observe_one(&out->v[out->n], nets[i], &e) == 0) {
            out->n++;
        } else if (ret == 0) {
            kvz_observed_resource_release(&out->v[out->n]);
            /* gone between the list and the read: not there */
            if (kvz_virt_code() != VIR_ERR_NO_NETWORK) {
                kvz_error_move(err, &e);
                ret = -1;
            }
        }
        kvz_error_free(e);
        virNetworkFree(nets[i]);
    }
    free(nets);
    if (ret < 0)
        kvz_observed_free(out);
    return ret;
}

const struct kvz_provider_ops kvz_network_ops = {
    .kind = "network",
    .observe = network_observe,
    .create = network_create,
    .update = network_update,
    .remove = network_remove,
    .set_power = network_set_power,
    .field_is_live = network_field_is_live,
};
