/*
 * Changing an existing VM: live within the declared maxima (balloon, vCPU
 * hotplug, block resize, interface hot-swap), else by redefining it and
 * restarting.
 */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "parser/units.h"
#include "providers/domain.h"
#include "store/store.h"

#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t want_cpus(const struct kvz_resource *w)
{
    return w->cpus_milli / 1000 ? w->cpus_milli / 1000 : 1;
}

static uint32_t want_max_cpus(const struct kvz_resource *w)
{
    return w->max_cpus > want_cpus(w) ? w->max_cpus : want_cpus(w);
}

static uint64_t want_max_memory(const struct kvz_resource *w)
{
    return w->max_memory > w->memory ? w->max_memory : w->memory;
}

bool kvz_vm_field_is_live(struct kvz_host *h, const struct kvz_resource *want,
                          const struct kvz_observed_resource *have, const char *field)
{
    if (!strcmp(field, "memory"))
        return want_max_memory(want) == have->max_memory && want->memory <= have->max_memory;
    if (!strcmp(field, "cpus")) {
        if (want_max_cpus(want) != have->max_cpus || want_cpus(want) > have->max_cpus)
            return false;
        /* An unplug needs the guest to give the vCPU back. Under TCG a guest takes longer than
         * libvirt's 5 s for that, and libvirt 9 then loses the late removal (its live
         * definition keeps a vCPU qemu no longer has): only KVM unplugs live. */
        const char *why = NULL;
        bool unplug = have->running && want_cpus(want) * 1000 < have->cpus_milli;
        return !unplug || kvz_vm_kvm_usable(&why, h->uri, h->conn);
    }
    if (!strcmp(field, "disk"))
        return want->disk >= have->disk; /* a shrink is refused, never restarted */
    if (!strcmp(field, "network") || !strcmp(field, "autostart") || !strcmp(field, "protect") ||
        !strcmp(field, "state") || !strcmp(field, "seed"))
        return true;
    /* media swap in a drive the VM has (libvirt cannot plug a SATA cdrom drive) */
    if (!strcmp(field, "cdrom"))
        return have->cdrom_drive;
    if (!strcmp(field, "drivers"))
        return have->drivers_drive;
    if (!strcmp(field, "unattend"))
        return have->unattend != NULL && want->unattend != NULL;
    /* max_memory, max_cpus, hostname, ssh keys, cloud_init, os, firmware, tpm, secure_boot */
    return false;
}

static bool has_field(const struct kvz_change *chg, const char *name)
{
    for (size_t i = 0; i < chg->n_fields; i++)
        if (!strcmp(chg->fields[i].field, name))
            return true;
    return false;
}

static int disk_target(char **out, char **path, virDomainPtr dom, struct kvz_error **err)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    struct kvz_vm_domain_info info;
    if (!xml)
        return kvz_vm_fail(err, dom, "read");
    int rc = kvz_vm_domain_info_parse(&info, xml, err);
    free(xml);
    if (rc < 0)
        return -1;
    if (!info.disk_target || !info.disk_path) {
        kvz_vm_domain_info_release(&info);
        return kvz_error_set(err, "vm '%s' has no disk", virDomainGetName(dom));
    }
    *out = info.disk_target;
    *path = info.disk_path;
    info.disk_target = info.disk_path = NULL;
    kvz_vm_domain_info_release(&info);
    return 0;
}

/* Grows the disk: through qemu while running (the guest sees it at once), else the volume. */
static int grow_disk(struct kvz_host *h, virDomainPtr dom, uint64_t size, struct kvz_error **err)
{
    char *target = NULL, *path = NULL;
    virStoragePoolPtr pool = NULL;
    int rc = -1;
    if (disk_target(&target, &path, dom, err) < 0)
        return -1;
    if (kvz_vm_pool_ensure(&pool, h, err) < 0)
        goto cleanup;
    uint64_t cap = 0;
    if (kvz_vm_volume_capacity(&cap, pool, path, err) < 0)
        goto cleanup;
    if (size < cap) {
        kvz_error_set(err,
                      "vm '%s': disk is %" PRIu64 " bytes, shrinking it to %" PRIu64
                      " would lose data; keep disk: at least as large",
                      virDomainGetName(dom), cap, size);
        goto cleanup;
    }
    if (virDomainIsActive(dom) == 1) {
        if (size > cap &&
            virDomainBlockResize(dom, target, size, VIR_DOMAIN_BLOCK_RESIZE_BYTES) < 0) {
            kvz_vm_fail(err, dom, "grow disk of");
            goto cleanup;
        }
    } else if (kvz_vm_volume_grow(pool, path, size, err) < 0) {
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (pool)
        virStoragePoolFree(pool);
    free(target);
    free(path);
    return rc;
}

static int swap_network(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                        const struct kvz_observed_resource *have, unsigned int flags,
                        struct kvz_error **err)
{
    char mac[18];
    char *xml = NULL;
    kvz_identity_mac(mac, h->stack, want->name);
    struct kvz_vm_domain_spec s = {.name = want->name, .mac = mac, .os = want->os};
    const struct kvz_network *net =
        want->network.type == KVZ_NET_NONE ? &have->network : &want->network;
    s.network = net;
    if (net->type == KVZ_NET_NONE)
        return 0; /* none before and after */
    if (kvz_vm_interface_xml(&xml, &s, err) < 0)
        return -1;
    int rc;
    if (want->network.type == KVZ_NET_NONE)
        rc = virDomainDetachDeviceFlags(dom, xml, flags);
    else if (have->network.type == KVZ_NET_NONE)
        rc = virDomainAttachDeviceFlags(dom, xml, flags);
    else
        rc = virDomainUpdateDeviceFlags(dom, xml, flags);
    free(xml);
    if (rc < 0)
        return kvz_error_set(err, "change network of vm '%s': %s", want->name, kvz_virt_msg());
    return 0;
}

/* Where kvz puts each cdrom (xml.c): the seed is sda on linux. */
static void cdrom_target(const char **dev, const char **bus, const struct kvz_resource *w,
                         const char *alias)
{
    *bus = w->os == KVZ_OS_WINDOWS ? "sata" : "scsi";
    *dev = !strcmp(alias, KVZ_VM_ALIAS_CDROM)     ? "sdb"
           : !strcmp(alias, KVZ_VM_ALIAS_DRIVERS) ? "sdc"
                                                  : "sdd";
}

/* Inserts `path` (NULL: ejects) into the cdrom drive `alias`, live and in the definition. */
static int swap_medium(virDomainPtr dom, const struct kvz_resource *want, const char *alias,
                       const char *path, unsigned int flags, struct kvz_error **err)
{
    const char *dev, *bus;
    char *xml = NULL;
    cdrom_target(&dev, &bus, want, alias);
    if (kvz_vm_cdrom_xml(&xml, alias, path, dev, bus, err) < 0)
        return -1;
    int rc = virDomainUpdateDeviceFlags(dom, xml, flags | VIR_DOMAIN_DEVICE_MODIFY_FORCE);
    free(xml);
    if (rc < 0)
        return kvz_error_set(err, "%s %s of vm '%s': %s", path ? "change the medium in" : "eject",
                             dev, want->name, kvz_virt_msg());
    return 0;
}

/* The answer file rewritten; the drive gets the new medium (eject first: libvirt sees the same
 * path as no change). */
static int refresh_unattend(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                            unsigned int flags, struct kvz_error **err)
{
    char *path = kvz_vm_pool_path(h, want->name, "-unattend.iso");
    int rc = path ? 0 : kvz_error_set(err, "vm '%s': out of memory", want->name);
    if (rc == 0)
        rc = kvz_vm_seed_refresh(h, want, err);
    if (rc == 0)
        rc = swap_medium(dom, want, KVZ_VM_ALIAS_UNATTEND, NULL, flags, err);
    if (rc == 0)
        rc = swap_medium(dom, want, KVZ_VM_ALIAS_UNATTEND, path, flags, err);
    free(path);
    return rc;
}

int kvz_vm_balloon_timeout(void)
{
    const char *s = getenv("KVZ_VM_BALLOON_TIMEOUT");
    int t = s ? atoi(s) : 0;
    return t > 0 ? t : 30;
}

/* Whether the guest has had kvz_vm_balloon_timeout() seconds since `start`; else a pause. */
static bool waited_enough(const struct timespec *start)
{
    struct timespec now, ts = {0, 250 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start->tv_sec >= kvz_vm_balloon_timeout())
        return true;
    nanosleep(&ts, NULL);
    return false;
}

/* vCPUs live and in the definition. An unplug needs the guest to give the vCPU back; libvirt
 * waits 5 s for that, which a guest under TCG may take longer than: then kvz waits (bounded,
 * as for a balloon) for the live count, and records the definition itself. */
static int set_vcpus(virDomainPtr dom, const struct kvz_resource *want, unsigned int flags,
                     struct kvz_error **err)
{
    uint32_t n = want_cpus(want);
    if (virDomainSetVcpusFlags(dom, n, flags) == 0)
        return 0;
    if (kvz_virt_code() != VIR_ERR_OPERATION_TIMEOUT || !(flags & VIR_DOMAIN_AFFECT_LIVE))
        return kvz_error_set(err, "set vcpus of vm '%s': %s", want->name, kvz_virt_msg());
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE) != (int)n) {
        if (waited_enough(&start))
            return kvz_error_set(
                err,
                "set vcpus of vm '%s': the guest did not give back its vCPUs within %d s; check it runs an OS that handles ACPI CPU hot-unplug, or lower cpus with a restart",
                want->name, kvz_vm_balloon_timeout());
    }
    if (virDomainSetVcpusFlags(dom, n, VIR_DOMAIN_AFFECT_CONFIG) < 0)
        return kvz_error_set(err, "record vcpus of vm '%s': %s", want->name, kvz_virt_msg());
    return 0;
}

/* A live memory change is done when the guest has the new size: its balloon driver reports
 * it. Waits (bounded) and says plainly when that did not happen. */
static void wait_balloon(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want)
{
    struct timespec start;
    uint64_t actual = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        bool driver = kvz_vm_balloon(&actual, dom);
        if (!driver) {
            kvz_host_log(h, want->name,
                         "guest has no balloon driver: the new memory applies at the next restart");
            return;
        }
        uint64_t diff = actual > want->memory ? actual - want->memory : want->memory - actual;
        if (diff < 1024 * 1024)
            return;
        if (waited_enough(&start))
            break;
    }
    struct kvz_buf m = KVZ_BUF_INIT;
    kvz_buf_puts(&m, "guest has ");
    kvz_size_human(&m, actual);
    kvz_buf_printf(&m, " after %d s, not the ", kvz_vm_balloon_timeout());
    kvz_size_human(&m, want->memory);
    kvz_buf_puts(
        &m,
        " asked for: its balloon driver is slow or the guest cannot give the memory back; the next plan shows it");
    kvz_host_log(h, want->name, kvz_buf_cstr(&m));
    kvz_buf_release(&m);
}

/* Records the applied spec in kvz's metadata of the persistent definition. libvirt's
 * virDomainSetMetadata would need the element without its namespace declaration; a
 * redefinition keeps the element exactly as kvz_ownership_to_xml wrote it. */
static int set_metadata(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                        const char *template_digest, struct kvz_error **err)
{
    char *md = NULL, *xml = NULL, *next = NULL;
    int rc = -1;
    if (kvz_vm_metadata_xml(&md, h, want, template_digest, err) < 0)
        goto cleanup;
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    if (!xml) {
        kvz_error_set(err, "read vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_xml_replace_metadata(&next, xml, "domain", md, err) < 0)
        goto cleanup;
    virDomainPtr redefined = virDomainDefineXML(h->conn, next);
    if (!redefined) {
        kvz_error_set(err, "record kvz metadata on vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    virDomainFree(redefined);
    rc = 0;
cleanup:
    free(md);
    free(xml);
    free(next);
    return rc;
}

static int update_live(struct kvz_host *h, virDomainPtr dom, const struct kvz_change *chg,
                       const struct kvz_media *media, struct kvz_error **err)
{
    const struct kvz_resource *want = chg->want;
    bool running = virDomainIsActive(dom) == 1;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG | (running ? VIR_DOMAIN_AFFECT_LIVE : 0);
    for (size_t i = 0; i < chg->n_fields; i++) {
        const char *f = chg->fields[i].field;
        int rc = 0;
        if (!strcmp(f, "memory")) {
            rc = virDomainSetMemoryFlags(dom, want->memory / 1024, flags);
            if (rc < 0)
                return kvz_error_set(err, "set memory of vm '%s': %s", want->name, kvz_virt_msg());
            if (running)
                wait_balloon(h, dom, want);
        } else if (!strcmp(f, "cpus")) {
            if (set_vcpus(dom, want, flags, err) < 0)
                return -1;
            /* A plugged vCPU is offline in a guest without a udev rule to online it; the guest
             * agent, where there is one, brings it up (best effort: no agent, no harm). */
            if (running)
                virDomainSetVcpusFlags(dom, want_cpus(want), VIR_DOMAIN_VCPU_GUEST);
        } else if (!strcmp(f, "disk")) {
            if (grow_disk(h, dom, want->disk, err) < 0)
                return -1;
        } else if (!strcmp(f, "network")) {
            if (swap_network(h, dom, want, chg->have, flags, err) < 0)
                return -1;
        } else if (!strcmp(f, "seed")) {
            /* cloud-init reads it at boot: the file is what matters, the guest runs on */
            if (kvz_vm_seed_refresh(h, want, err) < 0)
                return -1;
        } else if (!strcmp(f, "autostart")) {
            if (virDomainSetAutostart(dom, want->autostart) < 0)
                return kvz_error_set(err, "autostart of vm '%s': %s", want->name, kvz_virt_msg());
        } else if (!strcmp(f, "state")) {
            if (want->state == KVZ_POWER_RUNNING && !running && virDomainCreate(dom) < 0)
                return kvz_error_set(err, "start vm '%s': %s", want->name, kvz_virt_msg());
            if (want->state == KVZ_POWER_STOPPED && running &&
                kvz_vm_stop(h, dom, want->stop_timeout, err) < 0)
                return -1;
        } else if (!strcmp(f, "cdrom") || !strcmp(f, "drivers")) {
            bool cd = !strcmp(f, "cdrom");
            const struct kvz_image *img = media ? (cd ? media->cdrom : media->drivers) : NULL;
            if ((cd ? want->cdrom : want->drivers) && !img)
                return kvz_error_set(err, "vm '%s': its %s was not pulled", want->name, f);
            if (swap_medium(dom, want, cd ? KVZ_VM_ALIAS_CDROM : KVZ_VM_ALIAS_DRIVERS,
                            img ? img->path : NULL, flags, err) < 0)
                return -1;
        } else if (!strcmp(f, "unattend")) {
            if (refresh_unattend(h, dom, want, flags, err) < 0)
                return -1;
        } else if (strcmp(f, "protect") != 0) {
            return kvz_error_set(err, "vm '%s': '%s' cannot change live", want->name, f);
        }
    }
    return set_metadata(h, dom, want, chg->have ? chg->have->template_digest : NULL, err);
}

/* The media the VM has now, kept across a redefinition: *cdrom and *drivers (caller frees). */
static void current_media(char **cdrom, char **drivers, virDomainPtr dom)
{
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    struct kvz_vm_domain_info info;
    *cdrom = *drivers = NULL;
    if (xml && kvz_vm_domain_info_parse(&info, xml, NULL) == 0) {
        *cdrom = info.cdrom_path;
        *drivers = info.drivers_path;
        info.cdrom_path = info.drivers_path = NULL;
        kvz_vm_domain_info_release(&info);
    }
    free(xml);
}

/* A medium of the redefinition: the one the executor pulled for the manifest, else the one
 * attached now when the manifest still names one. */
static int keep_medium(char **out, char *now, const struct kvz_image *pulled, bool wanted,
                       struct kvz_error **err)
{
    *out = NULL;
    if (pulled && !(*out = strdup(pulled->path)))
        return kvz_error_set(err, "out of memory");
    if (!pulled && wanted) {
        *out = now;
        return 0;
    }
    free(now);
    return 0;
}

static int update_restart(struct kvz_host *h, virDomainPtr dom, const struct kvz_change *chg,
                          const struct kvz_media *media, struct kvz_error **err)
{
    const struct kvz_resource *want = chg->want;
    const char *tdigest = chg->have ? chg->have->template_digest : NULL;
    char *xml = NULL, *cdrom = NULL, *drivers = NULL, *cdrom_now = NULL, *drivers_now = NULL;
    char *target_now = NULL, *disk_now = NULL;
    int rc = -1;
    bool was_running = virDomainIsActive(dom) == 1;

    /* Refuse what cannot be done before stopping anything. */
    if (has_field(chg, "disk") && chg->have && want->disk < chg->have->disk) {
        kvz_error_set(err,
                      "vm '%s': disk is %" PRIu64 " bytes, shrinking it to %" PRIu64
                      " would lose data; keep disk: at least as large",
                      want->name, chg->have->disk, want->disk);
        goto cleanup;
    }
    current_media(&cdrom_now, &drivers_now, dom);
    int kept = keep_medium(&cdrom, cdrom_now, media ? media->cdrom : NULL, want->cdrom, err);
    if (kept == 0)
        kept =
            keep_medium(&drivers, drivers_now, media ? media->drivers : NULL, want->drivers, err);
    else
        free(drivers_now);
    if (kept < 0)
        goto cleanup;
    if (kvz_vm_stop(h, dom, want->stop_timeout, err) < 0)
        goto cleanup;
    if (has_field(chg, "secure_boot")) {
        /* other firmware, other variables: libvirt copies the new template at start */
        char *nvram = kvz_vm_pool_path(h, want->name, "-VARS.fd");
        if (nvram)
            unlink(nvram);
        free(nvram);
    }
    if (has_field(chg, "disk") && grow_disk(h, dom, want->disk, err) < 0)
        goto cleanup;
    if (kvz_vm_seed_refresh(h, want, err) < 0)
        goto cleanup;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0) {
        kvz_vm_fail(err, dom, "read");
        goto cleanup;
    }
    if (disk_target(&target_now, &disk_now, dom, err) < 0)
        goto cleanup;
    struct kvz_vm_media paths = {cdrom, drivers, disk_now, uuid, chg->have ? chg->have->mac : NULL};
    if (kvz_vm_definition(&xml, h, want, &paths, tdigest, err) < 0)
        goto cleanup;
    virDomainPtr redefined = virDomainDefineXML(h->conn, xml);
    if (!redefined) {
        kvz_error_set(err, "redefine vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    virDomainFree(redefined);
    if (virDomainSetAutostart(dom, want->autostart) < 0) {
        kvz_error_set(err, "autostart of vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    bool run = has_field(chg, "state") ? want->state == KVZ_POWER_RUNNING : was_running;
    if (run && virDomainCreate(dom) < 0) {
        kvz_error_set(err, "start vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(xml);
    free(cdrom);
    free(drivers);
    free(target_now);
    free(disk_now);
    return rc;
}

int kvz_vm_update(struct kvz_host *h, const struct kvz_change *chg, const struct kvz_media *media,
                  struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    const struct kvz_resource *want = chg->want;
    if (!want)
        return kvz_error_set(err, "vm '%s': update without a desired spec", chg->name);
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_VM, want->name, err) < 0)
        return -1;
    if (!dom)
        return kvz_error_set(err, "vm '%s' does not exist; plan again", want->name);
    bool live = true;
    for (size_t i = 0; i < chg->n_fields; i++) {
        const struct kvz_field_delta *f = &chg->fields[i];
        bool field_live = chg->have ? kvz_vm_field_is_live(h, want, chg->have, f->field) : false;
        if (!f->live || !field_live)
            live = false;
    }
    int rc = live ? update_live(h, dom, chg, media, err) : update_restart(h, dom, chg, media, err);
    virDomainFree(dom);
    return rc;
}

int kvz_vm_record(struct kvz_host *h, const struct kvz_change *chg, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_VM, chg->name, err) < 0)
        return -1;
    if (!dom)
        return kvz_error_set(err, "vm '%s' does not exist; plan again", chg->name);
    int rc = set_metadata(h, dom, chg->want, chg->have ? chg->have->template_digest : NULL, err);
    virDomainFree(dom);
    return rc;
}
