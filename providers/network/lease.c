/*
 * Static DHCP leases and the dynamic range, changed live with libvirt's
 * network update: libvirt rewrites dnsmasq's host file and signals it, so
 * neither the network nor its guests restart. The running network and the
 * persistent definition are each changed from what they hold now, so one
 * edited by hand (virsh net-update --config) still converges.
 */
#include "providers/network/network.h"

#include "providers/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_mac(const char *s)
{
    return s && strlen(s) == 17 && s[2] == ':' && s[5] == ':';
}

/* The entry of `mac` in the host entries of one definition, or NULL. */
static const struct kvz_lease *entry_of(const struct kvz_net_spec *s, const char *mac)
{
    for (size_t i = 0; i < s->n_leases; i++)
        if (s->leases[i].mac && !strcasecmp(s->leases[i].mac, mac))
            return &s->leases[i];
    return NULL;
}

static int update(virNetworkPtr net, unsigned int cmd, unsigned int section, const char *xml,
                  unsigned int flags, struct kvz_error **err)
{
    if (virNetworkUpdate(net, cmd, section, -1, xml, flags) == 0)
        return 0;
    return kvz_error_set(err, "update network '%s': %s", virNetworkGetName(net), kvz_virt_msg());
}

/* One lease field on one definition (`flags`: AFFECT_LIVE or AFFECT_CONFIG), as `have` is. */
static int apply_lease(virNetworkPtr net, const struct kvz_net_spec *have,
                       const struct kvz_field_delta *f, const char *stack, unsigned int flags,
                       struct kvz_error **err)
{
    char mac[18];
    char *xml = NULL;
    int rc = 0;
    if (is_mac(f->key))
        snprintf(mac, sizeof(mac), "%s", f->key);
    else
        kvz_identity_mac(mac, stack, f->key);
    const char *guest = is_mac(f->key) ? NULL : f->key;
    const struct kvz_lease *cur = entry_of(have, mac);
    if (!f->safter) {
        if (cur && (rc = kvz_net_host_xml(&xml, mac, NULL, NULL, err)) == 0)
            rc = update(net, VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_IP_DHCP_HOST,
                        xml, flags, err);
        free(xml);
        return rc;
    }
    if (cur && cur->ip && !strcmp(cur->ip, f->safter) && cur->guest && guest &&
        !strcmp(cur->guest, guest))
        return 0;
    if (kvz_net_host_xml(&xml, mac, guest, f->safter, err) < 0)
        return -1;
    rc = update(net, cur ? VIR_NETWORK_UPDATE_COMMAND_MODIFY : VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                VIR_NETWORK_SECTION_IP_DHCP_HOST, xml, flags, err);
    free(xml);
    return rc;
}

static int apply_range(virNetworkPtr net, const struct kvz_net_spec *have, bool want,
                       const char *subnet, unsigned int flags, struct kvz_error **err)
{
    char *xml = NULL;
    if (have->dhcp == want)
        return 0;
    if (kvz_net_range_xml(&xml, subnet, err) < 0)
        return -1;
    /* a range libvirt does not know (changed by hand) fails to delete: its message says so */
    int rc =
        update(net, want ? VIR_NETWORK_UPDATE_COMMAND_ADD_LAST : VIR_NETWORK_UPDATE_COMMAND_DELETE,
               VIR_NETWORK_SECTION_IP_DHCP_RANGE, xml, flags, err);
    free(xml);
    return rc;
}

/* The fields on one definition, as it is now: removals first, so an address can move from one
 * guest to another in one apply. */
static int apply_to(struct kvz_host *h, virNetworkPtr net, const struct kvz_change *chg, bool live,
                    struct kvz_error **err)
{
    struct kvz_observed_resource have = {0};
    unsigned int flags = live ? VIR_NETWORK_UPDATE_AFFECT_LIVE : VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    char *xml = virNetworkGetXMLDesc(net, live ? 0 : VIR_NETWORK_XML_INACTIVE);
    int rc = -1;
    if (!xml) {
        kvz_error_set(err, "read network '%s': %s", chg->name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_net_xml_parse(&have, NULL, xml, err) < 0)
        goto cleanup;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < chg->n_fields; i++) {
            const struct kvz_field_delta *f = &chg->fields[i];
            if (strcmp(f->field, "lease") || !f->key || (pass == 0) != !f->safter)
                continue;
            if (apply_lease(net, &have.netspec, f, h->stack, flags, err) < 0)
                goto cleanup;
        }
    for (size_t i = 0; i < chg->n_fields; i++)
        if (!strcmp(chg->fields[i].field, "dhcp") && chg->want &&
            apply_range(net, &have.netspec, chg->want->netspec.dhcp, chg->want->netspec.subnet,
                        flags, err) < 0)
            goto cleanup;
    rc = 0;
cleanup:
    kvz_observed_resource_release(&have);
    free(xml);
    return rc;
}

int kvz_net_apply_dhcp(struct kvz_host *h, virNetworkPtr net, const struct kvz_change *chg,
                       struct kvz_error **err)
{
    if (virNetworkIsActive(net) == 1 && apply_to(h, net, chg, true, err) < 0)
        return -1;
    return apply_to(h, net, chg, false, err);
}
