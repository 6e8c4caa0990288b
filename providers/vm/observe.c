/* Observing VMs: every domain's definition, live state and disks, as libvirt reports them. */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool kvz_vm_balloon(uint64_t *actual, virDomainPtr dom)
{
    virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
    int n = virDomainMemoryStats(dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    bool driver = false;
    *actual = 0;
    for (int i = 0; i < n; i++) {
        /* the guest reports statistics only when its virtio-balloon driver runs */
        if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_AVAILABLE ||
            (st[i].tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE && st[i].val > 0))
            driver = true;
        if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON)
            *actual = (uint64_t)st[i].val * 1024;
    }
    return driver;
}

/* The content digest of a medium from kvz's cache (<cache>/objects/<sha256>/image.iso), else
 * its path. */
static char *medium_id(const char *path)
{
    if (!path)
        return NULL;
    const char *o = strstr(path, "/objects/");
    if (o && strlen(o) == strlen("/objects/") + 64 + strlen("/image.iso") &&
        !strcmp(o + strlen("/objects/") + 64, "/image.iso"))
        return strndup(o + strlen("/objects/"), 64);
    return strdup(path);
}

/* What the domain's media and devices are, for the plan's cdrom, drivers, unattend, tpm and
 * secure_boot. */
static void observe_media(struct kvz_observed_resource *r, const struct kvz_vm_domain_info *info,
                          const struct kvz_vm_caps *caps)
{
    r->cdrom = medium_id(info->cdrom_path);
    r->drivers = medium_id(info->drivers_path);
    r->cdrom_drive = info->cdrom_drive;
    r->drivers_drive = info->drivers_drive;
    char hex[65];
    if (info->unattend_path &&
        kvz_vm_iso_file_digest(hex, info->unattend_path, KVZ_VM_UNATTEND_FILE, NULL) == 0)
        r->unattend = strdup(hex);
    else if (info->unattend_path)
        r->unattend = strdup("unreadable"); /* no digest matches it: rewritten on apply */
    r->tpm = info->tpm;
    r->secure_boot = info->secure_boot;
    r->tpm_offered = caps->tpm_emulator;
    r->secure_boot_offered = caps->secure_boot;
}

/* 0: *r filled; 1: the domain went away meanwhile; -1: error. */
static int observe_one(struct kvz_observed_resource *r, virDomainPtr dom,
                       const struct kvz_vm_caps *caps, bool remote, struct kvz_error **err)
{
    int rc = -1;
    char *xml = NULL, *inactive = NULL;
    struct kvz_ownership *own = NULL;
    struct kvz_vm_domain_info info;
    memset(&info, 0, sizeof(info));
    memset(r, 0, sizeof(*r));
    r->kind = KVZ_KIND_VM;
    r->id = -1;
    r->name = strdup(virDomainGetName(dom));
    if (!r->name) {
        kvz_error_set(err, "observe vms: out of memory");
        goto cleanup;
    }
    /* The live definition when running: `virsh setmem` shows in its currentMemory. kvz's
     * metadata is read from the persistent one, where updates record it. */
    xml = virDomainGetXMLDesc(dom, 0);
    inactive = xml ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
    if (!xml || !inactive) {
        /* A domain undefined between list and read is simply gone. */
        if (kvz_virt_code() == VIR_ERR_NO_DOMAIN) {
            rc = 1;
            goto cleanup;
        }
        kvz_error_set(err, "read vm '%s': %s", r->name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_ownership_from_domain_xml(&own, inactive, err) < 0 ||
        kvz_vm_domain_info_parse(&info, xml, err) < 0) {
        kvz_error_wrap(err, "vm '%s'", r->name);
        goto cleanup;
    }
    if (own)
        kvz_domain_meta_observed(r, own);
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) == 0)
        r->running = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED ||
                     state == VIR_DOMAIN_BLOCKED || state == VIR_DOMAIN_PMSUSPENDED;
    if (r->running)
        r->id = (int)virDomainGetID(dom);
    int autostart = 0;
    if (virDomainGetAutostart(dom, &autostart) == 0)
        r->autostart = autostart != 0;
    r->memory = info.memory;
    if (r->running)
        r->balloon_driver = kvz_vm_balloon(&r->memory_actual, dom);
    if (r->running && !r->memory_actual)
        r->memory_actual = info.max_memory; /* no balloon device: the guest has it all */
    if (r->running && !r->balloon_driver) {
        /* Without the guest's balloon driver the live size stays at the maximum whatever
         * the target: the definition's currentMemory is then what was asked for. */
        struct kvz_vm_domain_info def;
        if (kvz_vm_domain_info_parse(&def, inactive, NULL) == 0) {
            r->memory = def.memory;
            kvz_vm_domain_info_release(&def);
        }
    }
    r->max_memory = info.max_memory;
    r->cpus_milli = info.cpus * 1000;
    r->max_cpus = info.max_cpus;
    r->network.type = info.network.type;
    r->network.name = info.network.name;
    info.network.name = NULL;
    r->mac = info.mac;
    info.mac = NULL;
    observe_media(r, &info, caps);
    struct stat st;
    /* a remote host's files are seen through libvirt only */
    virConnectPtr conn = virDomainGetConnect(dom);
    r->storage_ok = info.disk_path && (remote ? kvz_volume_exists(conn, NULL, info.disk_path)
                                              : stat(info.disk_path, &st) == 0);
    if (r->storage_ok) {
        virDomainBlockInfo bi;
        if (virDomainGetBlockInfo(dom, info.disk_path, &bi, 0) == 0)
            r->disk = bi.capacity;
    }
    if (r->managed && !r->storage_ok) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "disk '%s' missing", info.disk_path ? info.disk_path : "?");
        r->problem = kvz_buf_detach(&b);
    } else if (r->managed && info.seed_path &&
               (remote ? !kvz_volume_exists(conn, NULL, info.seed_path)
                       : access(info.seed_path, F_OK) != 0)) {
        r->seed_missing = true; /* derived from the manifest: rebuilt, never a reason to replace */
    }
    rc = 0;
cleanup:
    kvz_ownership_free(own);
    kvz_vm_domain_info_release(&info);
    free(xml);
    free(inactive);
    return rc;
}

int kvz_vm_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    virDomainPtr *doms = NULL;
    int rc = -1;
    out->v = NULL;
    out->n = 0;
    struct kvz_vm_caps caps;
    if (kvz_vm_host_caps(&caps, h, NULL) < 0) {
        /* a host that does not say: what the domains have is what they get */
        memset(&caps, 0, sizeof(caps));
        caps.tpm_emulator = caps.secure_boot = true;
    }
    int n = virConnectListAllDomains(h->conn, &doms, 0);
    if (n < 0)
        return kvz_error_set(err, "list vms on '%s': %s", h->uri, kvz_virt_msg());
    out->v = calloc((size_t)n + 1, sizeof(*out->v));
    if (!out->v) {
        kvz_error_set(err, "observe vms: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        int one = observe_one(&out->v[out->n], doms[i], &caps, kvz_host_is_remote(h), err);
        if (one != 0)
            kvz_observed_resource_release(&out->v[out->n]);
        if (one < 0)
            goto cleanup;
        if (one == 0)
            out->n++;
    }
    rc = 0;
cleanup:
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    if (rc < 0)
        kvz_observed_free(out);
    return rc;
}
