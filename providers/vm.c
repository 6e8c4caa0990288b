/* The VM provider over libvirt QEMU/KVM: observe, create, remove, power. */
#include "providers/vm.h"

#include "base/buf.h"
#include "planner/spec_digest.h"
#include "providers/image_store.h"
#include "providers/ownership.h"

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

#include "base/banned.h"

static const char *virt_msg(void)
{
    const char *m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}

static void log_step(struct kvz_host *h, const char *name, const char *msg)
{
    if (h->log)
        h->log(h->log_ctx, name, msg);
}

int kvz_vm_fail(struct kvz_error **err, virDomainPtr dom, const char *what)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", virt_msg());
    return kvz_error_set(err, "%s vm '%s': %s", what, virDomainGetName(dom), msg);
}

int kvz_vm_stop_timeout(void)
{
    const char *s = getenv("KVZ_VM_STOP_TIMEOUT");
    int t = s ? atoi(s) : 0;
    return t > 0 ? t : 60;
}

int kvz_vm_lookup(virDomainPtr *out, struct kvz_ownership **own_out, struct kvz_host *h,
                  const char *name, struct kvz_error **err)
{
    int rc = -1;
    struct kvz_ownership *own = NULL;
    char *xml = NULL;
    *out = NULL;
    if (own_out)
        *own_out = NULL;
    virDomainPtr dom = virDomainLookupByName(h->conn, name);
    if (!dom) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_DOMAIN)
            return 0;
        return kvz_error_set(err, "look up vm '%s' on '%s': %s", name, h->uri, virt_msg());
    }
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    if (!xml) {
        kvz_error_set(err, "read definition of vm '%s': %s", name, virt_msg());
        goto cleanup;
    }
    if (kvz_ownership_from_domain_xml(&own, xml, err) < 0) {
        kvz_error_wrap(err, "vm '%s'", name);
        goto cleanup;
    }
    if (!own) {
        kvz_error_set(err,
                      "vm '%s' exists on '%s' but kvz did not make it; rename the resource or "
                      "remove the domain by hand",
                      name, h->uri);
        goto cleanup;
    }
    if (own->kind != KVZ_KIND_VM || !own->stack || strcmp(own->stack, h->stack)) {
        kvz_error_set(err, "vm '%s' belongs to kvz stack '%s', not '%s'; rename the resource", name,
                      own->stack ? own->stack : "?", h->stack);
        goto cleanup;
    }
    *out = dom;
    dom = NULL;
    if (own_out) {
        *own_out = own;
        own = NULL;
    }
    rc = 0;
cleanup:
    if (dom)
        virDomainFree(dom);
    kvz_ownership_free(own);
    free(xml);
    return rc;
}

int kvz_vm_stop(virDomainPtr dom, struct kvz_error **err)
{
    if (virDomainIsActive(dom) != 1)
        return 0;
    /* Graceful first (the guest agent, else the ACPI power button): the guest flushes its
     * disks. A guest that ignores both is forced off. */
    virDomainShutdownFlags(dom,
                           VIR_DOMAIN_SHUTDOWN_GUEST_AGENT | VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (virDomainIsActive(dom) != 1)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= kvz_vm_stop_timeout())
            break;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return kvz_vm_fail(err, dom, "force off");
    return 0;
}

/* ---- digests and metadata ---- */

int kvz_vm_metadata_xml(char **out, struct kvz_host *h, const struct kvz_resource *want,
                        const char *template_digest, struct kvz_error **err)
{
    char spec[KVZ_SHA256_HEX], config[KVZ_SHA256_HEX], now[32];
    char *identity = NULL;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* The digests the planner compares with the manifests (planner/spec_digest.h). */
    if (kvz_spec_digest(spec, want, err) < 0 || kvz_config_digest(config, want, err) < 0)
        return -1;
    if (!template_digest && want->tmpl && kvz_template_identity(&identity, want->tmpl, err) < 0)
        return -1;
    struct kvz_ownership o = {
        .stack = (char *)h->stack,
        .kind = KVZ_KIND_VM,
        .spec_digest = spec,
        .template_digest = (char *)(template_digest ? template_digest
                                    : identity      ? identity
                                                    : ""),
        .config_digest = config,
        .applied_at = now,
        .kvz_version = KVZ_VERSION,
        .source = (char *)(h->source ? h->source : ""),
        .protect = want->protect,
    };
    int rc = kvz_ownership_to_xml(out, &o, err);
    free(identity);
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

int kvz_vm_seed_refresh(struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
{
    if (want->os == KVZ_OS_WINDOWS)
        return 0;
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
                      const char *cdrom_path, const char *template_digest, struct kvz_error **err)
{
    int rc = -1;
    char mac[18], uuid[37];
    const char *why = NULL;
    char *disk = kvz_vm_pool_path(h, want->name, ".qcow2");
    char *seed = kvz_vm_pool_path(h, want->name, "-seed.iso");
    char *nvram = kvz_vm_pool_path(h, want->name, "-VARS.fd");
    char *metadata = NULL;
    *out = NULL;
    if (!disk || !seed || !nvram) {
        kvz_error_set(err, "vm '%s': out of memory", want->name);
        goto cleanup;
    }
    if (kvz_vm_metadata_xml(&metadata, h, want, template_digest, err) < 0)
        goto cleanup;
    kvz_identity_mac(mac, h->stack, want->name);
    kvz_identity_uuid(uuid, h->stack, want->name);
    struct kvz_vm_domain_spec s = {
        .name = want->name,
        .uuid = uuid,
        .mac = mac,
        .kvm = kvz_vm_kvm_usable(&why, h->uri, h->conn),
        .os = want->os,
        .firmware = want->firmware,
        .memory = want->memory,
        .max_memory = want->max_memory > want->memory ? want->max_memory : want->memory,
        .cpus = want->cpus_milli / 1000 ? want->cpus_milli / 1000 : 1,
        .max_cpus = want->max_cpus,
        .disk_path = disk,
        .seed_path = want->os == KVZ_OS_WINDOWS ? NULL : seed,
        .cdrom_path = cdrom_path,
        .ovmf_code = KVZ_VM_OVMF_CODE,
        .nvram_path = nvram,
        .nvram_template = KVZ_VM_OVMF_VARS,
        .network = &want->network,
        .metadata_xml = metadata,
    };
    if (s.max_cpus < s.cpus)
        s.max_cpus = s.cpus;
    rc = kvz_vm_domain_xml(out, &s, err);
cleanup:
    free(disk);
    free(seed);
    free(nvram);
    free(metadata);
    return rc;
}

/* ---- observe ---- */

static void observed_release(struct kvz_observed_resource *r)
{
    free(r->name);
    free(r->stack);
    free(r->spec_digest);
    free(r->template_digest);
    free(r->config_digest);
    free(r->applied_at);
    free(r->kvz_version);
    free(r->source);
    free(r->network.name);
    free(r->hostname);
    free(r->problem);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* The guest reports balloon statistics only when its virtio-balloon driver runs. */
static bool balloon_driver_active(virDomainPtr dom)
{
    virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
    int n = virDomainMemoryStats(dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    for (int i = 0; i < n; i++)
        if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_AVAILABLE ||
            (st[i].tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE && st[i].val > 0))
            return true;
    return false;
}

/* 0: *r filled; 1: the domain went away meanwhile; -1: error. */
static int observe_one(struct kvz_observed_resource *r, virDomainPtr dom, struct kvz_error **err)
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
        virErrorPtr e = virGetLastError();
        /* A domain undefined between list and read is simply gone. */
        if (e && e->code == VIR_ERR_NO_DOMAIN) {
            rc = 1;
            goto cleanup;
        }
        kvz_error_set(err, "read vm '%s': %s", r->name, virt_msg());
        goto cleanup;
    }
    if (kvz_ownership_from_domain_xml(&own, inactive, err) < 0 ||
        kvz_vm_domain_info_parse(&info, xml, err) < 0) {
        kvz_error_wrap(err, "vm '%s'", r->name);
        goto cleanup;
    }
    if (own) {
        r->managed = own->kind == KVZ_KIND_VM;
        r->stack = dup_or_null(own->stack);
        r->spec_digest = dup_or_null(own->spec_digest);
        r->template_digest = dup_or_null(own->template_digest);
        r->config_digest = dup_or_null(own->config_digest);
        r->applied_at = dup_or_null(own->applied_at);
        r->kvz_version = dup_or_null(own->kvz_version);
        r->source = dup_or_null(own->source);
        r->protect = own->protect;
    }
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
    if (r->running && !balloon_driver_active(dom)) {
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
    struct stat st;
    r->storage_ok = info.disk_path && stat(info.disk_path, &st) == 0;
    if (r->storage_ok) {
        virDomainBlockInfo bi;
        if (virDomainGetBlockInfo(dom, info.disk_path, &bi, 0) == 0)
            r->disk = bi.capacity;
    }
    if (r->managed && !r->storage_ok) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "disk '%s' missing", info.disk_path ? info.disk_path : "?");
        r->problem = kvz_buf_detach(&b);
    } else if (r->managed && info.seed_path && access(info.seed_path, F_OK) != 0) {
        r->storage_ok = false;
        r->problem = strdup("cloud-init seed missing");
    }
    rc = 0;
cleanup:
    kvz_ownership_free(own);
    kvz_vm_domain_info_release(&info);
    free(xml);
    free(inactive);
    return rc;
}

static int vm_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    virDomainPtr *doms = NULL;
    int rc = -1;
    out->v = NULL;
    out->n = 0;
    int n = virConnectListAllDomains(h->conn, &doms, 0);
    if (n < 0)
        return kvz_error_set(err, "list vms on '%s': %s", h->uri, virt_msg());
    out->v = calloc((size_t)n + 1, sizeof(*out->v));
    if (!out->v) {
        kvz_error_set(err, "observe vms: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        int one = observe_one(&out->v[out->n], doms[i], err);
        if (one != 0)
            observed_release(&out->v[out->n]);
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
    if (rc < 0) {
        for (size_t i = 0; i < out->n; i++)
            observed_release(&out->v[i]);
        free(out->v);
        out->v = NULL;
        out->n = 0;
    }
    return rc;
}

/* ---- create ---- */

static int set_running(virDomainPtr dom, bool on, struct kvz_error **err)
{
    int active = virDomainIsActive(dom);
    if (on && active != 1 && virDomainCreate(dom) < 0)
        return kvz_vm_fail(err, dom, "start");
    if (!on && active == 1)
        return kvz_vm_stop(dom, err);
    return 0;
}

/* Removes the files of vm `name` in the pool: overlay, seed, NVRAM. Never the base. */
static int delete_files(struct kvz_host *h, virStoragePoolPtr pool, const char *name,
                        struct kvz_error **err)
{
    static const char *const suffixes[] = {".qcow2", "-seed.iso", "-VARS.fd"};
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
                       const char *image_digest, const char *cdrom_path, struct kvz_error **err)
{
    int rc = -1;
    virDomainPtr dom = NULL;
    virStoragePoolPtr pool = NULL;
    char *base = NULL, *disk = NULL, *xml = NULL;
    bool base_qcow2 = false, made = false;
    uint64_t base_size = 0;

    if (kvz_vm_lookup(&dom, NULL, h, want->name, err) < 0)
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
        rc = set_running(dom, want->state == KVZ_POWER_RUNNING, err);
        goto cleanup;
    }
    if (dom) {
        /* Half made (or its disk lost): start over from the image. */
        log_step(h, want->name, "redefining: its disk is missing");
        if (virDomainIsActive(dom) == 1)
            virDomainDestroy(dom);
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0) {
            kvz_error_set(err, "undefine half-made vm '%s': %s", want->name, virt_msg());
            goto cleanup;
        }
        virDomainFree(dom);
        dom = NULL;
    }
    uint64_t size = want->disk;
    if (image_path) {
        log_step(h, want->name, "importing base image");
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
    log_step(h, want->name, "creating disk overlay");
    if (kvz_vm_overlay_create(pool, want->name, base, base_qcow2, size, err) < 0)
        goto cleanup;
    if (kvz_vm_seed_refresh(h, want, err) < 0)
        goto cleanup;
    /* Without a manifest template (tests), the content digest identifies the image. */
    if (kvz_vm_definition(&xml, h, want, cdrom_path, want->tmpl ? NULL : image_digest, err) < 0)
        goto cleanup;
    dom = virDomainDefineXML(h->conn, xml);
    if (!dom) {
        kvz_error_set(err, "define vm '%s': %s", want->name, virt_msg());
        goto cleanup;
    }
    if (virDomainSetAutostart(dom, want->autostart) < 0) {
        kvz_error_set(err, "autostart of vm '%s': %s", want->name, virt_msg());
        goto cleanup;
    }
    if (want->state == KVZ_POWER_RUNNING) {
        log_step(h, want->name, "starting");
        if (set_running(dom, true, err) < 0)
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
            virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM);
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

static int vm_create(struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
{
    struct kvz_image img = {0}, iso = {0};
    int rc = -1;
    if (!h->store && (want->tmpl || want->cdrom))
        return kvz_error_set(err, "vm '%s': no template store to pull its image from", want->name);
    log_step(h, want->name, "pulling image");
    if (want->tmpl && kvz_store_pull(&img, h->store, want->tmpl, KVZ_CONTENT_DISK, err) < 0) {
        kvz_error_wrap(err, "vm '%s'", want->name);
        goto cleanup;
    }
    if (want->cdrom && kvz_store_pull(&iso, h->store, want->cdrom, KVZ_CONTENT_ISO, err) < 0) {
        kvz_error_wrap(err, "vm '%s': cdrom", want->name);
        goto cleanup;
    }
    /* The store names content "sha256:<hex>"; the base volume is named by the hex. A VM
     * without an image gets a blank disk (an install from its cdrom). */
    const char *hex = !img.digest               ? NULL
                      : strchr(img.digest, ':') ? strchr(img.digest, ':') + 1
                                                : img.digest;
    rc = kvz_vm_create_from(h, want, img.path, hex, want->cdrom ? iso.path : NULL, err);
cleanup:
    kvz_image_release(&img);
    kvz_image_release(&iso);
    return rc;
}

/* ---- remove and power ---- */

static int vm_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    int rc = -1;
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    char pool_name[32];
    if (kvz_vm_lookup(&dom, &own, h, name, err) < 0)
        return -1;
    if (own && own->protect) {
        kvz_error_set(err, "vm '%s' is protected; set protect: false and apply first", name);
        goto cleanup;
    }
    if (dom) {
        if (kvz_vm_stop(dom, err) < 0)
            goto cleanup;
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0) {
            kvz_error_set(err, "undefine vm '%s': %s", name, virt_msg());
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
    if (kvz_vm_lookup(&dom, NULL, h, name, err) < 0)
        return -1;
    if (!dom)
        return kvz_error_set(err, "vm '%s' does not exist; apply to create it", name);
    int rc = set_running(dom, on, err);
    virDomainFree(dom);
    return rc;
}

static const char *vm_host_warning(struct kvz_host *h)
{
    const char *why = NULL;
    if (kvz_vm_kvm_usable(&why, h->uri, h->conn))
        return NULL;
    return why ? why : "KVM is not usable on this host";
}

const struct kvz_provider_ops kvz_vm_ops = {
    .kind = "vm",
    .observe = vm_observe,
    .create = vm_create,
    .update = kvz_vm_update,
    .remove = vm_remove,
    .set_power = vm_set_power,
    .field_is_live = kvz_vm_field_is_live,
    .host_warning = vm_host_warning,
};
