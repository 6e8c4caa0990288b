/* The libvirt domain definition of a VM, written and read with libxml2. */
#include "providers/vm/vm.h"

#include "providers/domain.h"

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define X(s) ((const xmlChar *)(s))

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, X(name), text ? X(text) : NULL);
}

static void prop(xmlNodePtr node, const char *name, const char *value)
{
    xmlNewProp(node, X(name), X(value));
}

static void prop_u(xmlNodePtr node, const char *name, uint64_t value)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, value);
    prop(node, name, s);
}

static xmlNodePtr child_u(xmlNodePtr parent, const char *name, uint64_t value)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, value);
    return child(parent, name, s);
}

/* <disk type='file' device=DEVICE><driver/><source file/><target dev bus/>[<readonly/>]</disk> */
static xmlNodePtr add_disk(xmlNodePtr devices, const char *device, const char *format,
                           const char *path, const char *dev, const char *bus, bool readonly)
{
    xmlNodePtr d = child(devices, "disk", NULL);
    prop(d, "type", "file");
    prop(d, "device", device);
    xmlNodePtr drv = child(d, "driver", NULL);
    prop(drv, "name", "qemu");
    prop(drv, "type", format);
    if (!readonly)
        prop(drv, "discard", "unmap");
    if (path)
        prop(child(d, "source", NULL), "file", path); /* none: an empty drive */
    xmlNodePtr t = child(d, "target", NULL);
    prop(t, "dev", dev);
    prop(t, "bus", bus);
    if (readonly)
        child(d, "readonly", NULL);
    return d;
}

/* A cdrom kvz tells apart by its alias: the install medium, the drivers, the answer file. */
static xmlNodePtr add_cdrom(xmlNodePtr devices, const char *path, const char *dev, const char *bus,
                            const char *alias)
{
    xmlNodePtr d = add_disk(devices, "cdrom", "raw", path, dev, bus, true);
    prop(child(d, "alias", NULL), "name", alias);
    return d;
}

int kvz_vm_cdrom_xml(char **out, const char *alias, const char *path, const char *dev,
                     const char *bus, struct kvz_error **err)
{
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr holder = xmlNewNode(NULL, X("devices"));
    xmlDocSetRootElement(doc, holder);
    int rc = kvz_xml_dump(out, add_cdrom(holder, path, dev, bus, alias), err);
    xmlFreeDoc(doc);
    return rc;
}

static void add_interface(xmlNodePtr parent, const struct kvz_vm_domain_spec *s)
{
    const struct kvz_network *net = s->network;
    xmlNodePtr i = child(parent, "interface", NULL);
    prop(i, "type", net->type == KVZ_NET_BRIDGE ? "bridge" : "network");
    prop(child(i, "mac", NULL), "address", s->mac);
    prop(child(i, "source", NULL), net->type == KVZ_NET_BRIDGE ? "bridge" : "network", net->name);
    /* A stock Windows installer has no virtio drivers; e1000e it knows. */
    prop(child(i, "model", NULL), "type", s->os == KVZ_OS_WINDOWS ? "e1000e" : "virtio");
}

static void add_os(xmlNodePtr dom, const struct kvz_vm_domain_spec *s)
{
    xmlNodePtr os = child(dom, "os", NULL);
    xmlNodePtr type = child(os, "type", "hvm");
    prop(type, "arch", "x86_64");
    prop(type, "machine", "q35");
    if (s->firmware == KVZ_FW_UEFI) {
        bool sb = s->profile.secure_boot;
        xmlNodePtr loader = child(os, "loader", sb ? KVZ_VM_OVMF_SB_CODE : s->ovmf_code);
        prop(loader, "readonly", "yes");
        if (sb)
            prop(loader, "secure", "yes");
        prop(loader, "type", "pflash");
        xmlNodePtr nv = child(os, "nvram", s->nvram_path);
        prop(nv, "template", sb ? KVZ_VM_OVMF_SB_VARS : s->nvram_template);
    }
    prop(child(os, "boot", NULL), "dev", "hd");
    /* An empty disk falls through to the install medium. */
    if (s->cdrom_path || s->cdrom_drive)
        prop(child(os, "boot", NULL), "dev", "cdrom");
}

static void add_features(xmlNodePtr dom, const struct kvz_vm_domain_spec *s)
{
    xmlNodePtr f = child(dom, "features", NULL);
    child(f, "acpi", NULL);
    child(f, "apic", NULL);
    if (s->os == KVZ_OS_WINDOWS && s->profile.hyperv) {
        /* The enlightenments Windows guests use to run well under a hypervisor, as far as the
         * accelerator offers them (kvz_vm_profile_choose). */
        xmlNodePtr hv = child(f, "hyperv", NULL);
        prop(hv, "mode", "custom");
        const char *name;
        for (unsigned i = 0; (name = kvz_vm_hyperv_name(i)); i++) {
            if (!(s->profile.hyperv & (1u << i)))
                continue;
            xmlNodePtr e = child(hv, name, NULL);
            prop(e, "state", "on");
            if (1u << i == KVZ_VM_HV_SPINLOCKS)
                prop(e, "retries", "8191");
        }
    }
    /* Secure Boot's firmware keeps its variables out of the guest's reach in SMM. */
    if (s->profile.secure_boot)
        prop(child(f, "smm", NULL), "state", "on");
}

static void add_clock(xmlNodePtr dom, const struct kvz_vm_domain_spec *s)
{
    xmlNodePtr c = child(dom, "clock", NULL);
    /* Windows keeps the RTC in local time. */
    prop(c, "offset", s->os == KVZ_OS_WINDOWS ? "localtime" : "utc");
    if (s->os == KVZ_OS_WINDOWS && s->profile.hypervclock) {
        xmlNodePtr t = child(c, "timer", NULL);
        prop(t, "name", "hypervclock");
        prop(t, "present", "yes");
    }
}

static void add_vcpus(xmlNodePtr dom, const struct kvz_vm_domain_spec *s)
{
    xmlNodePtr v = child_u(dom, "vcpu", s->max_cpus);
    prop(v, "placement", "static");
    prop_u(v, "current", s->cpus);
    /* Every vCPU but the boot one is hotpluggable, so cpus can go up and down live. */
    xmlNodePtr vs = child(dom, "vcpus", NULL);
    for (uint32_t i = 0; i < s->max_cpus; i++) {
        xmlNodePtr c = child(vs, "vcpu", NULL);
        prop_u(c, "id", i);
        prop(c, "enabled", i < s->cpus ? "yes" : "no");
        prop(c, "hotpluggable", i == 0 ? "no" : "yes");
        if (i < s->cpus)
            prop_u(c, "order", i + 1);
    }
}

static void add_devices(xmlNodePtr dom, const struct kvz_vm_domain_spec *s)
{
    bool win = s->os == KVZ_OS_WINDOWS;
    xmlNodePtr dev = child(dom, "devices", NULL);
    add_disk(dev, "disk", "qcow2", s->disk_path, win ? "sda" : "vda", win ? "sata" : "virtio",
             false);
    bool cdrom = s->cdrom_path || s->cdrom_drive;
    if (win) {
        /* Setup finds the install medium, then the drivers and the answer file on sdc, sdd. */
        if (cdrom)
            add_cdrom(dev, s->cdrom_path, "sdb", "sata", KVZ_VM_ALIAS_CDROM);
        if (s->drivers_path)
            add_cdrom(dev, s->drivers_path, "sdc", "sata", KVZ_VM_ALIAS_DRIVERS);
        if (s->unattend_path)
            add_cdrom(dev, s->unattend_path, "sdd", "sata", KVZ_VM_ALIAS_UNATTEND);
    } else if (s->seed_path || cdrom || s->drivers_path) {
        /* Debian's cloud kernel has no AHCI driver: a SATA cdrom is invisible to it. */
        xmlNodePtr c = child(dev, "controller", NULL);
        prop(c, "type", "scsi");
        prop(c, "index", "0");
        prop(c, "model", "virtio-scsi");
        if (s->seed_path)
            add_disk(dev, "cdrom", "raw", s->seed_path, "sda", "scsi", true);
        if (cdrom)
            add_cdrom(dev, s->cdrom_path, s->seed_path ? "sdb" : "sda", "scsi", KVZ_VM_ALIAS_CDROM);
        if (s->drivers_path)
            add_cdrom(dev, s->drivers_path, "sdc", "scsi", KVZ_VM_ALIAS_DRIVERS);
    }
    if (s->network && s->network->type != KVZ_NET_NONE)
        add_interface(dev, s);
    xmlNodePtr serial = child(dev, "serial", NULL);
    prop(serial, "type", "pty");
    prop(child(serial, "target", NULL), "port", "0");
    xmlNodePtr console = child(dev, "console", NULL);
    prop(console, "type", "pty");
    xmlNodePtr ct = child(console, "target", NULL);
    prop(ct, "type", "serial");
    prop(ct, "port", "0");
    xmlNodePtr ga = child(dev, "channel", NULL);
    prop(ga, "type", "unix");
    xmlNodePtr gat = child(ga, "target", NULL);
    prop(gat, "type", "virtio");
    prop(gat, "name", "org.qemu.guest_agent.0");
    if (win) {
        /* The installer is graphical: a local VNC display, and a tablet for the pointer. */
        xmlNodePtr input = child(dev, "input", NULL);
        prop(input, "type", "tablet");
        prop(input, "bus", "usb");
        xmlNodePtr g = child(dev, "graphics", NULL);
        prop(g, "type", "vnc");
        prop(g, "autoport", "yes");
        prop(g, "listen", "127.0.0.1");
        prop(child(child(dev, "video", NULL), "model", NULL), "type", "vga");
    }
    if (s->profile.tpm) {
        /* TPM 2.0 emulated by swtpm; libvirt keeps its state with the domain. */
        xmlNodePtr tpm = child(dev, "tpm", NULL);
        prop(tpm, "model", s->profile.tpm_crb ? "tpm-crb" : "tpm-tis");
        xmlNodePtr be = child(tpm, "backend", NULL);
        prop(be, "type", "emulator");
        prop(be, "version", "2.0");
    }
    xmlNodePtr bal = child(dev, "memballoon", NULL);
    prop(bal, "model", "virtio");
    prop(child(bal, "stats", NULL), "period", "5");
    /* A fresh guest blocks on entropy at boot without one, under TCG above all. */
    xmlNodePtr rng = child(dev, "rng", NULL);
    prop(rng, "model", "virtio");
    xmlNodePtr be = child(rng, "backend", "/dev/urandom");
    prop(be, "model", "random");
}

static int check_spec(const struct kvz_vm_domain_spec *s, struct kvz_error **err)
{
    if (!s->name || !s->uuid || !s->mac || !s->disk_path)
        return kvz_error_set(err, "vm definition: name, uuid, mac and disk are required");
    if (s->max_memory < s->memory || s->max_cpus < s->cpus || s->cpus == 0)
        return kvz_error_set(err, "vm '%s': maxima below the current values", s->name);
    if (s->firmware == KVZ_FW_UEFI && (!s->ovmf_code || !s->nvram_path || !s->nvram_template))
        return kvz_error_set(err, "vm '%s': uefi needs the OVMF firmware and an NVRAM path",
                             s->name);
    if (s->network && s->network->type != KVZ_NET_NONE && !s->network->name)
        return kvz_error_set(err, "vm '%s': network without a name", s->name);
    return 0;
}

int kvz_vm_domain_xml(char **out, const struct kvz_vm_domain_spec *s, struct kvz_error **err)
{
    int rc = -1;
    xmlDocPtr doc = NULL;
    *out = NULL;
    if (check_spec(s, err) < 0)
        goto cleanup;
    doc = xmlNewDoc(X("1.0"));
    xmlNodePtr dom = xmlNewNode(NULL, X("domain"));
    xmlDocSetRootElement(doc, dom);
    prop(dom, "type", s->kvm ? "kvm" : "qemu");
    child(dom, "name", s->name);
    child(dom, "uuid", s->uuid);
    if (kvz_xml_append_metadata(child(dom, "metadata", NULL), s->metadata_xml, err) < 0)
        goto cleanup;
    prop(child_u(dom, "memory", s->max_memory / 1024), "unit", "KiB");
    prop(child_u(dom, "currentMemory", s->memory / 1024), "unit", "KiB");
    add_vcpus(dom, s);
    add_os(dom, s);
    add_features(dom, s);
    if (s->profile.cpu_mode)
        prop(child(dom, "cpu", NULL), "mode", s->profile.cpu_mode);
    add_clock(dom, s);
    child(dom, "on_poweroff", "destroy");
    child(dom, "on_reboot", "restart");
    child(dom, "on_crash", "destroy");
    add_devices(dom, s);
    rc = kvz_xml_dump(out, dom, err);
cleanup:
    xmlFreeDoc(doc);
    return rc;
}

int kvz_vm_interface_xml(char **out, const struct kvz_vm_domain_spec *s, struct kvz_error **err)
{
    *out = NULL;
    if (!s->network || s->network->type == KVZ_NET_NONE || !s->network->name)
        return kvz_error_set(err, "vm '%s': no network interface to describe", s->name);
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr holder = xmlNewNode(NULL, X("devices"));
    xmlDocSetRootElement(doc, holder);
    add_interface(holder, s);
    int rc = kvz_xml_dump(out, holder->children, err);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- reading a definition ---- */

static char *xpath_str(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(X(expr), ctx);
    char *r = NULL;
    if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0])
        r = strdup((const char *)o->stringval);
    else if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0) {
        xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
        if (c && c[0])
            r = strdup((const char *)c);
        xmlFree(c);
    }
    xmlXPathFreeObject(o);
    return r;
}

bool kvz_vm_xpath_bool(struct _xmlXPathContext *ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(X(expr), ctx);
    bool r = o && o->type == XPATH_BOOLEAN && o->boolval;
    xmlXPathFreeObject(o);
    return r;
}

static uint64_t unit_factor(const char *unit)
{
    static const struct {
        const char *name;
        uint64_t factor;
    } units[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", 1000},
        {"k", 1024},
        {"KiB", 1024},
        {"MB", 1000000},
        {"M", 1024 * 1024},
        {"MiB", 1024 * 1024},
        {"GB", 1000000000},
        {"G", 1ull << 30},
        {"GiB", 1ull << 30},
        {"T", 1ull << 40},
        {"TiB", 1ull << 40},
    };
    if (!unit)
        return 1024; /* libvirt's default unit is KiB */
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(units[i].name, unit))
            return units[i].factor;
    return 0;
}

static int xpath_size(uint64_t *out, xmlXPathContextPtr ctx, const char *elem,
                      struct kvz_error **err)
{
    char expr[64], uexpr[80];
    snprintf(expr, sizeof(expr), "string(/domain/%s)", elem);
    snprintf(uexpr, sizeof(uexpr), "string(/domain/%s/@unit)", elem);
    char *v = xpath_str(ctx, expr), *u = xpath_str(ctx, uexpr);
    int rc = 0;
    uint64_t f = unit_factor(u);
    char *end = NULL;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (!v || *end || f == 0)
        rc = kvz_error_set(err, "domain xml: <%s> is missing or has an unknown unit", elem);
    else
        *out = n * f;
    free(v);
    free(u);
    return rc;
}

int kvz_vm_domain_info_parse(struct kvz_vm_domain_info *out, const char *xml,
                             struct kvz_error **err)
{
    int rc = -1;
    memset(out, 0, sizeof(*out));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    char *max = NULL, *cur = NULL, *itype = NULL;
    if (!ctx) {
        kvz_error_set(err, "domain xml: not well-formed");
        goto cleanup;
    }
    if (xpath_size(&out->max_memory, ctx, "memory", err) < 0)
        goto cleanup;
    /* <currentMemory> is optional: without it the guest has all of <memory>. */
    if (xpath_size(&out->memory, ctx, "currentMemory", NULL) < 0)
        out->memory = out->max_memory;
    max = xpath_str(ctx, "string(/domain/vcpu)");
    cur = xpath_str(ctx, "string(/domain/vcpu/@current)");
    out->max_cpus = max ? (uint32_t)strtoul(max, NULL, 10) : 1;
    out->cpus = cur ? (uint32_t)strtoul(cur, NULL, 10) : out->max_cpus;
    out->disk_path = xpath_str(ctx, "string(/domain/devices/disk[@device='disk'][1]/source/@file)");
    if (!out->disk_path)
        out->disk_path =
            xpath_str(ctx, "string(/domain/devices/disk[@device='disk'][1]/source/@dev)");
    out->disk_target =
        xpath_str(ctx, "string(/domain/devices/disk[@device='disk'][1]/target/@dev)");
    out->seed_path = xpath_str(
        ctx,
        "string(/domain/devices/disk[@device='cdrom']/source/@file[substring(., string-length(.) - 8) = '-seed.iso'])");
    out->cdrom_path = xpath_str(
        ctx, "string(/domain/devices/disk[@device='cdrom'][alias/@name='" KVZ_VM_ALIAS_CDROM
             "']/source/@file)");
    out->cdrom_drive = kvz_vm_xpath_bool(
        ctx,
        "boolean(/domain/devices/disk[@device='cdrom'][alias/@name='" KVZ_VM_ALIAS_CDROM "'])");
    if (!out->cdrom_drive) {
        /* defined before kvz named its cdroms: the one that is not the seed */
        out->cdrom_path = xpath_str(
            ctx,
            "string(/domain/devices/disk[@device='cdrom'][not(alias)]/source/@file[substring(., string-length(.) - 8) != '-seed.iso'])");
        out->cdrom_drive = out->cdrom_path != NULL;
    }
    out->drivers_path = xpath_str(
        ctx, "string(/domain/devices/disk[@device='cdrom'][alias/@name='" KVZ_VM_ALIAS_DRIVERS
             "']/source/@file)");
    out->drivers_drive = kvz_vm_xpath_bool(
        ctx,
        "boolean(/domain/devices/disk[@device='cdrom'][alias/@name='" KVZ_VM_ALIAS_DRIVERS "'])");
    out->unattend_path = xpath_str(
        ctx, "string(/domain/devices/disk[@device='cdrom'][alias/@name='" KVZ_VM_ALIAS_UNATTEND
             "']/source/@file)");
    out->tpm = kvz_vm_xpath_bool(ctx, "boolean(/domain/devices/tpm)");
    out->secure_boot = kvz_vm_xpath_bool(ctx, "boolean(/domain/os/loader[@secure='yes'])");
    out->nvram_path = xpath_str(ctx, "string(/domain/os/nvram)");
    itype = xpath_str(ctx, "string(/domain/devices/interface[1]/@type)");
    out->mac = xpath_str(ctx, "string(/domain/devices/interface[1]/mac/@address)");
    if (!itype) {
        out->network.type = KVZ_NET_NONE;
    } else if (!strcmp(itype, "bridge")) {
        out->network.type = KVZ_NET_BRIDGE;
        out->network.name = xpath_str(ctx, "string(/domain/devices/interface[1]/source/@bridge)");
    } else {
        out->network.type = KVZ_NET_NETWORK;
        out->network.name = xpath_str(ctx, "string(/domain/devices/interface[1]/source/@network)");
    }
    rc = 0;
cleanup:
    free(max);
    free(cur);
    free(itype);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (rc < 0)
        kvz_vm_domain_info_release(out);
    return rc;
}

void kvz_vm_domain_info_release(struct kvz_vm_domain_info *i)
{
    if (!i)
        return;
    free(i->disk_path);
    free(i->disk_target);
    free(i->seed_path);
    free(i->cdrom_path);
    free(i->drivers_path);
    free(i->unattend_path);
    free(i->nvram_path);
    free(i->network.name);
    free(i->mac);
    memset(i, 0, sizeof(*i));
}
