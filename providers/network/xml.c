/* libvirt network XML, written and read with libxml2. */
#include "providers/network/network.h"

#include "parser/netaddr.h"
#include "providers/domain.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
    return parent ? xmlNewChild(parent, NULL, BAD_CAST name, NULL) : NULL;
}

static bool attr(xmlNodePtr n, const char *name, const char *value)
{
    return n && xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

static bool add_host(xmlNodePtr dhcp, const char *mac, const char *name, const char *ip)
{
    xmlNodePtr h = child(dhcp, "host");
    return attr(h, "mac", mac) && (!name || attr(h, "name", name)) && (!ip || attr(h, "ip", ip));
}

static bool add_range(xmlNodePtr dhcp, const struct kvz_subnet *sn)
{
    uint32_t lo, hi;
    char a[KVZ_IPV4_STR], b[KVZ_IPV4_STR];
    kvz_subnet_range(sn, &lo, &hi);
    kvz_ipv4_format(a, lo);
    kvz_ipv4_format(b, hi);
    xmlNodePtr r = child(dhcp, "range");
    return attr(r, "start", a) && attr(r, "end", b);
}

/* <ip address=GATEWAY prefix=N><dhcp>[<range/>]<host/>...</dhcp></ip> */
static bool add_ip(xmlNodePtr net, const struct kvz_net_spec *s, const char *stack)
{
    struct kvz_subnet sn;
    char why[256], gw[KVZ_IPV4_STR], prefix[4];
    if (kvz_subnet_parse(&sn, s->subnet, why, sizeof(why)) < 0)
        return false;
    kvz_ipv4_format(gw, kvz_subnet_gateway(&sn));
    snprintf(prefix, sizeof(prefix), "%u", sn.prefix);
    xmlNodePtr ip = child(net, "ip");
    bool ok = attr(ip, "address", gw) && attr(ip, "prefix", prefix);
    if (!s->dhcp && !s->n_leases)
        return ok;
    /* without dhcp, the static leases alone: libvirt runs dnsmasq in static mode */
    xmlNodePtr dhcp = child(ip, "dhcp");
    if (s->dhcp)
        ok &= add_range(dhcp, &sn);
    for (size_t i = 0; i < s->n_leases; i++) {
        const struct kvz_lease *l = &s->leases[i];
        char mac[18];
        if (!l->mac)
            kvz_identity_mac(mac, stack, l->guest);
        ok &= add_host(dhcp, l->mac ? l->mac : mac, l->guest, l->ip);
    }
    return ok;
}

int kvz_net_xml_build(char **out, const char *name, const char *uuid, const struct kvz_net_spec *s,
                      const char *stack, const char *metadata_xml, struct kvz_error **err)
{
    int ret = -1;
    *out = NULL;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr net = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "network", NULL) : NULL;
    if (!net)
        goto oom;
    xmlDocSetRootElement(doc, net);
    bool ok = xmlNewTextChild(net, NULL, BAD_CAST "name", BAD_CAST name) != NULL;
    if (uuid)
        ok &= xmlNewTextChild(net, NULL, BAD_CAST "uuid", BAD_CAST uuid) != NULL;
    if (metadata_xml && kvz_xml_append_metadata(child(net, "metadata"), metadata_xml, err) < 0)
        goto cleanup;
    static const char *const forward[] = {[KVZ_NET_MODE_NAT] = "nat",
                                          [KVZ_NET_MODE_ROUTED] = "route",
                                          [KVZ_NET_MODE_BRIDGE] = "bridge"};
    if (s->mode == KVZ_NET_MODE_NAT || s->mode == KVZ_NET_MODE_ROUTED ||
        s->mode == KVZ_NET_MODE_BRIDGE)
        ok &= attr(child(net, "forward"), "mode", forward[s->mode]);
    else if (s->mode != KVZ_NET_MODE_ISOLATED) {
        ret = kvz_error_set(err, "network '%s': mode '%s' cannot be made", name,
                            kvz_net_mode_str(s->mode));
        goto cleanup;
    }
    xmlNodePtr br = child(net, "bridge");
    if (s->mode == KVZ_NET_MODE_BRIDGE) {
        /* an existing host bridge: libvirt creates nothing, runs no DHCP or DNS */
        ok &= attr(br, "name", s->bridge ? s->bridge : "");
    } else {
        /* a name of its own, stable across a replace; STP on, no forward delay, as for
         * 'default' */
        char dev[16];
        kvz_identity_bridge(dev, stack, name);
        ok &= attr(br, "name", dev) && attr(br, "stp", "on") && attr(br, "delay", "0");
        if (!s->dns)
            ok &= attr(child(net, "dns"), "enable", "no");
        if (!s->subnet || !add_ip(net, s, stack)) {
            ret = kvz_error_set(err, "network '%s': subnet '%s' is not valid", name,
                                s->subnet ? s->subnet : "");
            goto cleanup;
        }
    }
    if (!ok)
        goto oom;
    ret = kvz_xml_dump(out, net, err);
    goto cleanup;
oom:
    ret = kvz_error_set(err, "network '%s': XML: out of memory", name);
cleanup:
    xmlFreeDoc(doc);
    return ret;
}

static int one_element(char **out, const char *name, const char *const *attrs, size_t n,
                       struct kvz_error **err)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr e = doc ? xmlNewDocNode(doc, NULL, BAD_CAST name, NULL) : NULL;
    bool ok = e != NULL;
    if (e)
        xmlDocSetRootElement(doc, e);
    for (size_t i = 0; ok && i < n; i += 2)
        if (attrs[i + 1])
            ok = attr(e, attrs[i], attrs[i + 1]);
    int ret = ok ? kvz_xml_dump(out, e, err) : kvz_error_set(err, "XML: out of memory");
    xmlFreeDoc(doc);
    return ret;
}

int kvz_net_host_xml(char **out, const char *mac, const char *name, const char *ip,
                     struct kvz_error **err)
{
    const char *attrs[] = {"mac", mac, "name", name, "ip", ip};
    return one_element(out, "host", attrs, 6, err);
}

int kvz_net_range_xml(char **out, const char *subnet, struct kvz_error **err)
{
    struct kvz_subnet sn;
    char why[256], a[KVZ_IPV4_STR], b[KVZ_IPV4_STR];
    uint32_t lo, hi;
    *out = NULL;
    if (kvz_subnet_parse(&sn, subnet, why, sizeof(why)) < 0)
        return kvz_error_set(err, "subnet '%s' %s", subnet, why);
    kvz_subnet_range(&sn, &lo, &hi);
    kvz_ipv4_format(a, lo);
    kvz_ipv4_format(b, hi);
    const char *attrs[] = {"start", a, "end", b};
    return one_element(out, "range", attrs, 4, err);
}

/* ---- reading ---- */

static xmlNodePtr first(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !n->ns && !strcmp((const char *)n->name, name))
            return n;
    return NULL;
}

static char *prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static bool prop_is(xmlNodePtr n, const char *name, const char *value)
{
    char *v = prop(n, name);
    bool is = v && !strcmp(v, value);
    free(v);
    return is;
}

static enum kvz_net_mode mode_of(xmlNodePtr net)
{
    xmlNodePtr fwd = first(net, "forward");
    if (!fwd)
        return KVZ_NET_MODE_ISOLATED;
    char *m = prop(fwd, "mode");
    enum kvz_net_mode mode = !m || !strcmp(m, "nat") ? KVZ_NET_MODE_NAT
                             : !strcmp(m, "route")   ? KVZ_NET_MODE_ROUTED
                             : !strcmp(m, "bridge")  ? KVZ_NET_MODE_BRIDGE
                                                     : KVZ_NET_MODE_OTHER;
    free(m);
    return mode;
}

/* The first IPv4 <ip> element: "NETWORK/PREFIX" when its address is the first of the subnet
 * (as kvz makes it), else the address as written, so a moved gateway shows as a change. */
static int read_ip(struct kvz_net_spec *s, xmlNodePtr net)
{
    for (xmlNodePtr ip = net->children; ip; ip = ip->next) {
        if (ip->type != XML_ELEMENT_NODE || strcmp((const char *)ip->name, "ip"))
            continue;
        char *family = prop(ip, "family"), *addr = prop(ip, "address");
        char *prefix = prop(ip, "prefix"), *mask = prop(ip, "netmask");
        uint32_t a, m = 0;
        unsigned p = 0;
        bool v4 = (!family || !strcmp(family, "ipv4")) && addr && kvz_ipv4_parse(&a, addr) == 0;
        if (v4 && prefix)
            v4 = strlen(prefix) <= 2 && (p = (unsigned)atoi(prefix)) <= 32;
        else if (v4 && mask && kvz_ipv4_parse(&m, mask) == 0)
            for (p = 0; p < 32 && (m & (0x80000000u >> p)); p++)
                ;
        else if (v4)
            p = 24; /* libvirt's default for a class C address without a mask */
        free(family);
        free(prefix);
        free(mask);
        if (!v4) {
            free(addr);
            continue;
        }
        struct kvz_subnet sn = kvz_subnet_of(a, p);
        char text[KVZ_SUBNET_STR + KVZ_IPV4_STR];
        if (a == kvz_subnet_gateway(&sn))
            kvz_subnet_format(text, &sn);
        else
            snprintf(text, sizeof(text), "%s/%u", addr, p);
        free(addr);
        if (!(s->subnet = strdup(text)))
            return -1;
        xmlNodePtr dhcp = first(ip, "dhcp");
        s->dhcp = first(dhcp, "range") != NULL;
        for (xmlNodePtr h = dhcp ? dhcp->children : NULL; h; h = h->next) {
            if (h->type != XML_ELEMENT_NODE || strcmp((const char *)h->name, "host"))
                continue;
            struct kvz_lease *v = realloc(s->leases, (s->n_leases + 1) * sizeof(*v));
            if (!v)
                return -1;
            s->leases = v;
            struct kvz_lease *l = &v[s->n_leases++];
            *l = (struct kvz_lease){prop(h, "name"), prop(h, "mac"), prop(h, "ip")};
        }
        return 0;
    }
    return 0;
}

int kvz_net_xml_parse(struct kvz_observed_resource *r, struct kvz_ownership **own, const char *xml,
                      struct kvz_error **err)
{
    int ret = -1;
    if (own)
        *own = NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "network.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr net = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!net || strcmp((const char *)net->name, "network")) {
        kvz_error_set(err, "network XML: not a libvirt <network> document");
        goto cleanup;
    }
    if (own && kvz_ownership_from_domain_node(own, net, err) < 0)
        goto cleanup;
    struct kvz_net_spec *s = &r->netspec;
    kvz_net_spec_release(s);
    s->mode = mode_of(net);
    s->bridge = prop(first(net, "bridge"), "name");
    s->dns = !prop_is(first(net, "dns"), "enable", "no");
    if (read_ip(s, net) < 0) {
        kvz_error_set(err, "network XML: out of memory");
        goto cleanup;
    }
    ret = 0;
cleanup:
    xmlFreeDoc(doc);
    return ret;
}
