/* The VM provider over libvirt QEMU/KVM: its ops table, create, remove, power. */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "parser/units.h"
#include "parser/spec_digest.h"
#include "providers/domain.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kvz_vm_fail(struct kvz_error **err, virDomainPtr dom, const char *what)
{
    /* kvz_virt_msg() copies the message before virDomainGetName resets it. */
    const char *msg = kvz_virt_msg();
    return kvz_error_set(err, "%s vm '%s': %s", what, virDomainGetName(dom), msg);
}

int kvz_vm_stop_timeout(void)
{
    const char *s = getenv("KVZ_VM_STOP_TIMEOUT");
    int t = s ? atoi(s) : 0;
    return t > 0 ? t : 60;
}

/* Graceful first (the guest agent, else the ACPI power button): the guest flushes its disks.
 * Asked once; a guest that ignores both is forced off at its timeout. */
static void ask(struct kvz_host *h, virDomainPtr dom, void **state, long elapsed_ms)
{
    if (elapsed_ms == 0)
        virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_GUEST_AGENT |
                                        VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
}

static struct kvz_stop_ops stop_ops(void)
{
    return (struct kvz_stop_ops){.ask = ask, .default_timeout_s = (unsigned)kvz_vm_stop_timeout()};
}

int kvz_vm_stop(struct kvz_host *h, virDomainPtr dom, unsigned timeout_s, struct kvz_error **err)
{
    struct kvz_stop_ops ops = stop_ops();
    struct kvz_stop_req r = {.dom = dom, .timeout_s = timeout_s};
    if (kvz_domains_stop(h, &ops, &r, 1, false) < 0)
        return kvz_error_move(err, &r.err);
    return 0;
}

static int vm_stop_many(struct kvz_host *h, const char *const *names, const unsigned *timeouts,
                        size_t n, bool force, struct kvz_error **errs)
{
    struct kvz_stop_ops ops = stop_ops();
    return kvz_domain_stop_many(h, KVZ_KIND_VM, &ops, names, timeouts, n, force, errs);
}

/* ---- metadata ---- */

int kvz_vm_metadata_xml(char **out, struct kvz_host *h, const struct kvz_resource *want,
                        const char *template_digest, struct kvz_error **err)
{
    struct kvz_domain_meta m;
    int rc = kvz_domain_meta_init(&m, h, KVZ_KIND_VM, want, template_digest, err);
    if (rc == 0)
        rc = kvz_ownership_to_xml(out, &m.o, err);
    kvz_domain_meta_release(&m);
    return rc;
}

/* ---- definition ---- */

/* Named after what is injected: new inputs, new instance, and cloud-init runs again. */
static char *instance_id(const struct kvz_resource *want)
{
    char config[KVZ_SHA256_HEX];
    if (kvz_config_digest(config, want, NULL) < 0)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "kvz-%.32s", config);
    return kvz_buf_detach(&b);
}

/* Windows: the answer-file medium when the manifest has one, else none. */
static int unattend_refresh(struct kvz_host *h, const struct kvz_resource *want,
                            struct kvz_error **err)
{
    char *path = kvz_vm_pool_path(h, want->name, "-unattend.iso");
    int rc;
    if (!path)
        rc = kvz_error_set(err, "unattend medium of vm '%s': out of memory", want->name);
    else if (want->unattend)
        rc = kvz_vm_unattend_write(path, want->unattend, err);
    else
        rc =
            unlink(path) < 0 && errno != ENOENT ? kvz_error_set_errno(err, "remove '%s'", path) : 0;
    free(path);
    return rc;
}

int kvz_vm_seed_refresh(struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
{
    if (want->os == KVZ_OS_WINDOWS)
        return unattend_refresh(h, want, err);
    char *path = kvz_vm_pool_path(h, want->name, "-seed.iso");
    char *iid = instance_id(want);
    int rc = -1;
    if (!path || !iid) {
        kvz_error_set(err, "seed of vm '%s': out of memory", want->name);
        goto cleanup;
    }
    struct kvz_vm_seed seed = {
        .instance_id = iid,
        .hostname = want->hostname ? want->hostname : want->name,
        .user_data = want->user_data,
        .ssh_keys = (const char *const *)want->ssh_keys,
        .n_ssh_keys = want->n_ssh_keys,
    };
    rc = kvz_vm_seed_write(path, &seed, err);
cleanup:
    free(path);
    free(iid);
    return rc;
}

int kvz_vm_definition(char **out, struct kvz_host *h, const struct kvz_resource *want,
                      const struct kvz_vm_media *media, const char *template_digest,
                      struct kvz_error **err)
{
    int rc = -1;
    char mac[18], uuid[37];
    struct kvz_vm_caps caps;
    char *disk = kvz_vm_pool_path(h, want->name, ".qcow2");
    char *seed = kvz_vm_pool_path(h, want->name, "-seed.iso");
    char *nvram = kvz_vm_pool_path(h, want->name, "-VARS.fd");
    char *unattend = kvz_vm_pool_path(h, want->name, "-unattend.iso");
    char *metadata = NULL;
    bool win = want->os == KVZ_OS_WINDOWS;
    *out = NULL;
    if (!disk || !seed || !nvram || !unattend) {
        kvz_error_set(err, "vm '%s': out of memory", want->name);
        goto cleanup;
    }
    if (kvz_vm_metadata_xml(&metadata, h, want, template_digest, err) < 0 ||
        kvz_vm_host_caps(&caps, h, err) < 0)
        goto cleanup;
    kvz_identity_mac(mac, h->stack, want->name);
    kvz_identity_uuid(uuid, h->stack, want->name);
    struct kvz_vm_domain_spec s = {
        .name = want->name,
        .uuid = media && media->uuid ? media->uuid : uuid,
        .mac = media && media->mac ? media->mac : mac,
        .kvm = caps.kvm,
        .os = want->os,
        .firmware = want->firmware,
        .memory = want->memory,
        .max_memory = want->max_memory > want->memory ? want->max_memory : want->memory,
        .cpus = want->cpus_milli / 1000 ? want->cpus_milli / 1000 : 1,
        .max_cpus = want->max_cpus,
        .disk_path = media && media->disk_path ? media->disk_path : disk,
        .seed_path = win ? NULL : seed,
        .cdrom_path = media ? media->cdrom : NULL,
        .cdrom_drive = want->cdrom != NULL,
        .drivers_path = media ? media->drivers : NULL,
        .unattend_path = win && want->unattend ? unattend : NULL,
        .ovmf_code = KVZ_VM_OVMF_CODE,
        .nvram_path = nvram,
        .nvram_template = KVZ_VM_OVMF_VARS,
        .network = &want->network,
        .metadata_xml = metadata,
    };
    if (s.max_cpus < s.cpus)
        s.max_cpus = s.cpus;
    kvz_vm_profile_choose(&s.profile, NULL, want, &caps);
    rc = kvz_vm_domain_xml(out, &s, err);
cleanup:
    free(disk);
    free(seed);
    free(nvram);
    free(unattend);
    free(metadata);
    return rc;
}

/* ---- create ---- */

static int set_running(struct kvz_host *h, virDomainPtr dom, bool on, unsigned stop_timeout,
                       struct kvz_error **err)
{
    int active = virDomainIsActive(dom);
    if (on && active != 1 && virDomainCreate(dom) < 0)
        return kvz_vm_fail(err, dom, "start");
    if (!on && active == 1)
        return kvz_vm_stop(h, dom, stop_timeout, err);
    return 0;
}

/* Removes the files of vm `name` in the pool: overlay, seed, NVRAM, answer file. Never the
 * base. */
static int delete_files(struct kvz_host *h, virStoragePoolPtr pool, const char *name,
                        struct kvz_error **err)
{
    static const char *const suffixes[] = {".qcow2", "-seed.iso", "-VARS.fd", "-unattend.iso"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char *p = kvz_vm_pool_path(h, name, suffixes[i]);
        int rc = p ? kvz_vm_volume_delete(pool, p, err) : kvz_error_set(err, "out of memory");
        free(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int kvz_vm_create_from(struct kvz_host *h, const struct kvz_resource *want, const char *image_path,
                       const char *image_digest, const struct kvz_vm_media *media,
                       struct kvz_error **err)
{
    int rc = -1;
    virDomainPtr dom = NULL;
    virStoragePoolPtr pool = NULL;
    char *base = NULL, *disk = NULL, *xml = NULL;
    bool base_qcow2 = false, made = false;
    uint64_t base_size = 0;

    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_VM, want->name, err) < 0)
        goto cleanup;
    if (kvz_vm_pool_ensure(&pool, h, err) < 0)
        goto cleanup;
    disk = kvz_vm_pool_path(h, want->name, ".qcow2");
    if (!disk) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (dom && access(disk, F_OK) == 0) {
        /* Made before: only the power state may be left to do. */
        rc = set_running(h, dom, want->state == KVZ_POWER_RUNNING, want->stop_timeout, err);
        goto cleanup;
    }
    if (dom) {
        /* Half made (or its disk lost): start over from the image. */
        kvz_host_log(h, want->name, "redefining: its disk is missing");
        if (virDomainIsActive(dom) == 1)
            virDomainDestroy(dom);
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0) {
            kvz_error_set(err, "undefine half-made vm '%s': %s", want->name, kvz_virt_msg());
            goto cleanup;
        }
        virDomainFree(dom);
        dom = NULL;
    }
    uint64_t size = want->disk;
    if (image_path) {
        kvz_host_log(h, want->name, "importing base image");
        if (kvz_vm_base_import(&base, &base_qcow2, &base_size, pool, image_path, image_digest,
                               err) < 0) {
            kvz_error_wrap(err, "vm '%s'", want->name);
            goto cleanup;
        }
        if (!size)
            size = base_size;
    }
    if (size < base_size || size == 0) {
        kvz_error_set(err,
                      "vm '%s': disk %" PRIu64 " bytes is smaller than its image (%" PRIu64
                      " bytes); set disk: to at least the image size",
                      want->name, size, base_size);
        goto cleanup;
    }
    /* Leftovers of an attempt that died before defining the domain belong to nobody. */
    if (delete_files(h, pool, want->name, err) < 0)
        goto cleanup;
    made = true;
    kvz_host_log(h, want->name, "creating disk overlay");
    if (kvz_vm_overlay_create(pool, want->name, base, base_qcow2, size, err) < 0)
        goto cleanup;
    if (kvz_vm_seed_refresh(h, want, err) < 0)
        goto cleanup;
    /* What the guest is made from: the image's content digest, whatever URL it came under. */
    char made_from[80] = "";
    if (image_digest)
        snprintf(made_from, sizeof(made_from), "sha256:%.64s", image_digest);
    if (kvz_vm_definition(&xml, h, want, media, made_from[0] ? made_from : NULL, err) < 0)
        goto cleanup;
    kvz_host_log(h, want->name, "defining domain");
    dom = virDomainDefineXML(h->conn, xml);
    if (!dom) {
        kvz_error_set(err, "define vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (virDomainSetAutostart(dom, want->autostart) < 0) {
        kvz_error_set(err, "autostart of vm '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (want->state == KVZ_POWER_RUNNING) {
        kvz_host_log(h, want->name, "starting");
        if (set_running(h, dom, true, want->stop_timeout, err) < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc < 0 && made) {
        /* No half-made guest: what this call made goes again; the error stays the first. */
        struct kvz_error *ignored = NULL;
        if (dom) {
            if (virDomainIsActive(dom) == 1)
                virDomainDestroy(dom);
            virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM);
        }
        delete_files(h, pool, want->name, &ignored);
        kvz_error_free(ignored);
    }
    if (dom)
        virDomainFree(dom);
    if (pool)
        virStoragePoolFree(pool);
    free(base);
    free(disk);
    free(xml);
    return rc;
}

static int vm_create(struct kvz_host *h, const struct kvz_resource *want,
                     const struct kvz_media *media, struct kvz_error **err)
{
    const struct kvz_image *img = media ? media->image : NULL;
    const struct kvz_image *iso = media ? media->cdrom : NULL;
    const struct kvz_image *drv = media ? media->drivers : NULL;
    if ((want->tmpl && !img) || (want->cdrom && !iso) || (want->drivers && !drv))
        return kvz_error_set(err, "create vm '%s': its %s was not pulled", want->name,
                             want->tmpl && !img    ? "image"
                             : want->cdrom && !iso ? "cdrom"
                                                   : "drivers");
    /* The store names content "sha256:<hex>"; the base volume is named by the hex. A VM
     * without an image gets a blank disk (an install from its cdrom). */
    const char *hex = !img                       ? NULL
                      : strchr(img->digest, ':') ? strchr(img->digest, ':') + 1
                                                 : img->digest;
    struct kvz_vm_media paths = {.cdrom = iso ? iso->path : NULL,
                                 .drivers = drv ? drv->path : NULL};
    return kvz_vm_create_from(h, want, img ? img->path : NULL, hex, &paths, err);
}

/* ---- remove and power ---- */

static int vm_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    int rc = -1;
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    char pool_name[32];
    if (kvz_domain_lookup(&dom, &own, h, KVZ_KIND_VM, name, err) < 0)
        return -1;
    if (own && own->protect) {
        kvz_error_set(err, "vm '%s' is protected; set protect: false and apply first", name);
        goto cleanup;
    }
    if (dom) {
        if (kvz_vm_stop(h, dom, kvz_ownership_stop_timeout(own), err) < 0)
            goto cleanup;
        /* the TPM's state (swtpm's, kept by libvirt) goes with the guest */
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0) {
            kvz_error_set(err, "undefine vm '%s': %s", name, kvz_virt_msg());
            goto cleanup;
        }
    }
    /* The files are named after the VM in kvz's pool; without a pool there are none. */
    kvz_vm_pool_name(pool_name, h->state_dir);
    virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, pool_name);
    if (pool) {
        if (virStoragePoolIsActive(pool) == 1)
            rc = delete_files(h, pool, name, err);
        else
            rc = 0;
        virStoragePoolFree(pool);
        if (rc < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    if (dom)
        virDomainFree(dom);
    kvz_ownership_free(own);
    return rc;
}

static int vm_set_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    if (kvz_domain_lookup(&dom, &own, h, KVZ_KIND_VM, name, err) < 0)
        return -1;
    int rc = dom ? set_running(h, dom, on, kvz_ownership_stop_timeout(own), err)
                 : kvz_error_set(err, "vm '%s' does not exist; apply to create it", name);
    if (dom)
        virDomainFree(dom);
    kvz_ownership_free(own);
    return rc;
}

static void vm_host_warning(struct kvz_buf *out, struct kvz_host *h)
{
    const char *why = NULL;
    if (kvz_vm_kvm_usable(&why, h->uri, h->conn))
        return;
    kvz_buf_printf(
        out,
        "vms on '%s' will run under TCG emulation, far slower than KVM: %s; run 'kvz doctor' for details",
        h->uri, why ? why : "KVM is not usable on this host");
}

/* What the plan says about a vm beside its changes: what of the profile this host cannot give,
 * and a guest that has other memory than its target. */
static int vm_caveat(char **out, struct kvz_host *h, const struct kvz_resource *want,
                     const struct kvz_observed_resource *have, struct kvz_error **err)
{
    struct kvz_vm_caps caps;
    struct kvz_vm_profile profile;
    struct kvz_buf b = KVZ_BUF_INIT;
    *out = NULL;
    if (kvz_vm_host_caps(&caps, h, err) < 0)
        return -1;
    kvz_vm_profile_choose(&profile, &b, want, &caps);
    if (have && have->running && have->memory == want->memory && have->memory_actual &&
        (have->memory_actual > want->memory ? have->memory_actual - want->memory
                                            : want->memory - have->memory_actual) >= 1024 * 1024) {
        kvz_buf_puts(&b, b.len ? "; the guest has " : "the guest has ");
        kvz_size_human(&b, have->memory_actual);
        kvz_buf_puts(&b, ", not its target ");
        kvz_size_human(&b, want->memory);
        kvz_buf_puts(
            &b,
            have->balloon_driver
                ? ": its balloon driver has not reached it yet"
                : ": it has no balloon driver, so the target applies only when it runs one (at the next restart with the driver)");
    }
    if (b.oom) {
        kvz_buf_release(&b);
        return kvz_error_set(err, "vm '%s': out of memory", want->name);
    }
    *out = b.len ? kvz_buf_detach(&b) : NULL;
    kvz_buf_release(&b);
    return 0;
}

const struct kvz_provider_ops kvz_vm_ops = {
    .kind = "vm",
    .observe = kvz_vm_observe,
    .create = vm_create,
    .update = kvz_vm_update,
    .remove = vm_remove,
    .set_power = vm_set_power,
    .record = kvz_vm_record,
    .stop_many = vm_stop_many,
    .field_is_live = kvz_vm_field_is_live,
    .host_warning = vm_host_warning,
    .caveat = vm_caveat,
    .prune = kvz_vm_storage_prune,
    .adopt = kvz_vm_adopt,
};
