#include "providers/vm/vm.h"

#include "providers/adopt.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

/* The number of nodes `expr` selects in `doc`, or -1. */
static int count(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(BAD_CAST expr, ctx) : NULL;
    int n = o && o->nodesetval ? o->nodesetval->nodeNr : o ? 0 : -1;
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return n;
}

/* Why kvz cannot take the vm's storage over, or NULL: kvz manages one disk, a file, and keeps
 * UEFI variables in its pool. */
static const char *storage_refusal(const char *xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    const char *why = NULL;
    if (!doc)
        return "its definition cannot be read";
    int disks = count(doc, "/domain/devices/disk[@device='disk']");
    if (disks != 1)
        why = disks ? "it has several disks (kvz manages one)" : "it has no disk";
    else if (count(doc, "/domain/devices/disk[@device='disk'][@type='file']") != 1)
        why = "its disk is not a file (a block device, a volume or a network disk)";
    else if (count(doc, "/domain/os/nvram") > 0)
        why = "its UEFI variables live outside kvz's pool";
    xmlFreeDoc(doc);
    return why;
}

int kvz_vm_adopt(struct kvz_adoption *out, struct kvz_host *h, const struct kvz_resource *want,
                 bool dry_run, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    char *xml = NULL;
    struct kvz_vm_domain_info info = {0};
    int ret = -1;

    if (kvz_adopt_find(&dom, &xml, out, h, KVZ_KIND_VM, want->name, err) < 0)
        return -1;
    const char *why = storage_refusal(xml);
    if (why) {
        kvz_error_set(err, "vm '%s': kvz cannot take its storage over: %s", want->name, why);
        goto cleanup;
    }
    if (kvz_vm_domain_info_parse(&info, xml, err) < 0)
        goto cleanup;
    out->storage = info.disk_path;
    out->mac = info.mac;
    info.disk_path = info.mac = NULL;
    out->memory = info.memory;
    out->cpus_milli = info.cpus * 1000;
    if (!dry_run && !out->already &&
        kvz_adopt_record(h, dom, KVZ_KIND_VM, want, out->running, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    kvz_vm_domain_info_release(&info);
    if (ret < 0)
        kvz_adoption_release(out);
    virDomainFree(dom);
    free(xml);
    return ret;
}
