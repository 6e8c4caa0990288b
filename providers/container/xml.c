#include "providers/container/container.h"

#include "providers/domain.h"
#include "providers/ownership.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
    /* xmlNewTextChild escapes text; NULL parent propagates failure to the final check. */
    return parent ? xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text) : NULL;
}

static xmlNodePtr childf(xmlNodePtr parent, const char *name, unsigned long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    return child(parent, name, buf);
}

static bool attr(xmlNodePtr n, const char *name, const char *value)
{
    return n && xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

int kvz_ct_xml_build(char **out, const struct kvz_ct_def *def, struct kvz_error **err)
{
    xmlDocPtr doc = NULL, meta = NULL;
    int ret = -1;
    bool ok = true;

    *out = NULL;
    doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr dom = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "domain", NULL) : NULL;
    if (!dom)
        goto oom;
    xmlDocSetRootElement(doc, dom);
    ok &= attr(dom, "type", "lxc");
    ok &= child(dom, "name", def->name) != NULL;
    ok &= child(dom, "uuid", def->uuid) != NULL;
    if (def->metadata_xml) {
        meta = xmlReadMemory(
            def->metadata_xml, (int)strlen(def->metadata_xml), "metadata.xml", NULL,
            XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!meta || !xmlDocGetRootElement(meta)) {
            ret = kvz_error_set(err, "container '%s': kvz metadata is not well-formed XML",
                                def->name);
            goto cleanup;
        }
        xmlNodePtr m = child(dom, "metadata", NULL);
        xmlNodePtr copy = xmlDocCopyNode(xmlDocGetRootElement(meta), doc, 1);
        ok &= m && copy && xmlAddChild(m, copy);
    }
    unsigned long long kib = def->memory / 1024;
    unsigned long long ceiling =
        (def->max_memory > def->memory ? def->max_memory : def->memory) / 1024;
    /* The cgroup's hard limit is what the kernel enforces, and LXC's current memory is the
     * same limit. <memory> is only the ceiling of live changes (libvirt cannot raise it on a
     * running container): the host's memory, so a live change never leaves it behind. */
    ok &= attr(childf(dom, "memory", ceiling), "unit", "KiB");
    ok &= attr(childf(dom, "currentMemory", kib), "unit", "KiB");
    xmlNodePtr memtune = child(dom, "memtune", NULL);
    ok &= attr(childf(memtune, "hard_limit", kib), "unit", "KiB");
    ok &= childf(dom, "vcpu", (def->cpus_milli + 999) / 1000) != NULL;
    xmlNodePtr cputune = child(dom, "cputune", NULL);
    ok &= childf(cputune, "period", KVZ_CT_CPU_PERIOD) != NULL;
    ok &= childf(cputune, "quota",
                 (unsigned long long)def->cpus_milli * KVZ_CT_CPU_PERIOD / 1000) != NULL;
    xmlNodePtr os = child(dom, "os", NULL);
    ok &= child(os, "type", "exe") != NULL;
    ok &= child(os, "init", "/sbin/init") != NULL;
    if (def->network->type == KVZ_NET_NONE) {
        /* Without <privnet/> a container with no interface would share the host's network. */
        ok &= child(child(dom, "features", NULL), "privnet", NULL) != NULL;
    }
    ok &= child(dom, "on_poweroff", "destroy") != NULL;
    ok &= child(dom, "on_reboot", "restart") != NULL;
    ok &= child(dom, "on_crash", "destroy") != NULL;

    xmlNodePtr devs = child(dom, "devices", NULL);
    xmlNodePtr fs = child(devs, "filesystem", NULL);
    ok &= attr(fs, "accessmode", "passthrough");
    if (def->disk_img) {
        ok &= attr(fs, "type", "file");
        xmlNodePtr drv = child(fs, "driver", NULL);
        ok &= attr(drv, "type", "loop") && attr(drv, "format", "raw");
        ok &= attr(child(fs, "source", NULL), "file", def->disk_img);
    } else {
        ok &= attr(fs, "type", "mount");
        ok &= attr(child(fs, "source", NULL), "dir", def->rootfs_dir);
    }
    ok &= attr(child(fs, "target", NULL), "dir", "/");
    if (def->network->type != KVZ_NET_NONE) {
        bool net = def->network->type == KVZ_NET_NETWORK;
        xmlNodePtr ifc = child(devs, "interface", NULL);
        ok &= attr(ifc, "type", net ? "network" : "bridge");
        ok &= attr(child(ifc, "mac", NULL), "address", def->mac);
        ok &= attr(child(ifc, "source", NULL), net ? "network" : "bridge", def->network->name);
    }
    xmlNodePtr con = child(devs, "console", NULL);
    ok &= attr(con, "type", "pty");
    xmlNodePtr tgt = child(con, "target", NULL);
    ok &= attr(tgt, "type", "lxc") && attr(tgt, "port", "0");
    if (!ok)
        goto oom;

    ret = kvz_xml_dump(out, dom, err);
    goto cleanup;
oom:
    ret = kvz_error_set(err, "container '%s': domain XML: out of memory", def->name);
cleanup:
    xmlFreeDoc(meta);
    xmlFreeDoc(doc);
    return ret;
}

static xmlNodePtr first(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !n->ns && !strcmp((const char *)n->name, name))
            return n;
    return NULL;
}

static int dup_prop(char **out, xmlNodePtr n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
    *out = NULL;
    if (!v)
        return 0;
    *out = strdup((const char *)v);
    xmlFree(v);
    return *out ? 0 : -1;
}

static int node_ull(unsigned long long *out, xmlNodePtr n)
{
    xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
    char *end = NULL;
    *out = 0;
    if (!v)
        return 0;
    *out = strtoull((const char *)v, &end, 10);
    xmlFree(v);
    return 0;
}

/* Unit multipliers libvirt accepts on memory elements (it writes KiB itself). */
static unsigned long long unit_bytes(xmlNodePtr n)
{
    xmlChar *u = xmlGetProp(n, BAD_CAST "unit");
    unsigned long long m = 1024;
    if (u) {
        const char *s = (const char *)u;
        m = !strcmp(s, "b") || !strcmp(s, "bytes") ? 1
            : !strcmp(s, "M") || !strcmp(s, "MiB") ? 1024ull * 1024
            : !strcmp(s, "G") || !strcmp(s, "GiB") ? 1024ull * 1024 * 1024
                                                   : 1024;
        xmlFree(u);
    }
    return m;
}

/* The definition's limits: what a stopped container starts with. */
static int parse_limits(struct kvz_observed_resource *r, xmlNodePtr dom)
{
    unsigned long long v = 0, quota = 0, period = 0;
    xmlNodePtr hl = first(first(dom, "memtune"), "hard_limit");
    xmlNodePtr mem = first(dom, "memory");
    if (hl) {
        node_ull(&v, hl);
        r->memory = v * unit_bytes(hl);
    } else if (mem) {
        node_ull(&v, mem);
        r->memory = v * unit_bytes(mem);
    }
    xmlNodePtr ct = first(dom, "cputune");
    node_ull(&quota, first(ct, "quota"));
    node_ull(&period, first(ct, "period"));
    r->cpus_milli = quota && period ? (uint32_t)(quota * 1000 / period) : 0;
    return 0;
}

static xmlDocPtr read_xml(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static int parse_node(struct kvz_observed_resource *r, char **rootfs_dir, char **disk_img,
                      xmlNodePtr dom, struct kvz_error **err);

int kvz_ct_xml_parse(struct kvz_observed_resource *r, char **rootfs_dir, char **disk_img,
                     const char *xml, struct kvz_error **err)
{
    xmlDocPtr doc = read_xml(xml);
    int ret = parse_node(r, rootfs_dir, disk_img, doc ? xmlDocGetRootElement(doc) : NULL, err);
    xmlFreeDoc(doc);
    return ret;
}

int kvz_ct_xml_observe(struct kvz_ownership **own, struct kvz_observed_resource *r,
                       char **rootfs_dir, char **disk_img, const char *xml, struct kvz_error **err)
{
    xmlDocPtr doc = read_xml(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    *rootfs_dir = *disk_img = NULL;
    int ret = kvz_ownership_from_domain_node(own, root, err);
    if (ret == 0 && (ret = parse_node(r, rootfs_dir, disk_img, root, err)) < 0) {
        kvz_ownership_free(*own);
        *own = NULL;
    }
    xmlFreeDoc(doc);
    return ret;
}

static int parse_node(struct kvz_observed_resource *r, char **rootfs_dir, char **disk_img,
                      xmlNodePtr dom, struct kvz_error **err)
{
    char *type = NULL, *target = NULL;
    int ret = -1;

    *rootfs_dir = *disk_img = NULL;
    if (!dom || strcmp((const char *)dom->name, "domain") != 0) {
        ret = kvz_error_set(err, "domain '%s': XML from libvirt is not a <domain>", r->name);
        goto cleanup;
    }
    /* Live XML carries id='N' while the container runs; a definition has none or -1. */
    xmlChar *id = xmlGetProp(dom, BAD_CAST "id");
    r->id = id ? atoi((const char *)id) : -1;
    r->id = r->id > 0 ? r->id : -1;
    r->running = r->id > 0;
    xmlFree(id);
    if (parse_limits(r, dom) < 0)
        goto oom;
    xmlNodePtr devs = first(dom, "devices");
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "filesystem") != 0)
            continue;
        free(target);
        if (dup_prop(&target, first(n, "target"), "dir") < 0)
            goto oom;
        if (!target || strcmp(target, "/") != 0)
            continue;
        free(type);
        if (dup_prop(&type, n, "type") < 0)
            goto oom;
        xmlNodePtr src = first(n, "source");
        if (type && !strcmp(type, "file")) {
            if (dup_prop(disk_img, src, "file") < 0)
                goto oom;
        } else if (dup_prop(rootfs_dir, src, "dir") < 0)
            goto oom;
        break;
    }
    xmlNodePtr ifc = first(devs, "interface");
    free(type);
    type = NULL;
    r->network.type = KVZ_NET_NONE;
    if (ifc &&
        (dup_prop(&type, ifc, "type") < 0 || dup_prop(&r->mac, first(ifc, "mac"), "address") < 0))
        goto oom;
    if (type && !strcmp(type, "network")) {
        r->network.type = KVZ_NET_NETWORK;
        if (dup_prop(&r->network.name, first(ifc, "source"), "network") < 0)
            goto oom;
    } else if (type && !strcmp(type, "bridge")) {
        r->network.type = KVZ_NET_BRIDGE;
        if (dup_prop(&r->network.name, first(ifc, "source"), "bridge") < 0)
            goto oom;
    } else if (type) {
        /* An interface kvz does not make (ethernet, direct): show its type as drift. */
        r->network.type = KVZ_NET_NETWORK;
        r->network.name = type;
        type = NULL;
    }
    ret = 0;
    goto cleanup;
oom:
    ret = kvz_error_set(err, "domain '%s': out of memory", r->name);
cleanup:
    if (ret < 0) {
        free(*rootfs_dir);
        free(*disk_img);
        *rootfs_dir = *disk_img = NULL;
    }
    free(type);
    free(target);
    return ret;
}
