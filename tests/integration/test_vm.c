/*
 * The VM provider against the real libvirtd (qemu:///system). The base image
 * is a tiny blank qcow2 made with qemu-img: the domains run (under TCG here)
 * without a guest OS, which is enough for everything qemu does on its own:
 * overlays, vCPU hotplug, block resize, interface hot-swap, definitions.
 * Every domain, volume, pool, network and file is named kvzt-<pid>-... and
 * removed in teardown, also after a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/spec_digest.h"
#include "providers/ownership.h"
#include "store/store.h"
#include "providers/vm/vm.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

static char prefix[64], state_dir[128], stack[64], base_image[192], net_name[64];
static char digest[65];
static virConnectPtr conn;
static struct kvz_host host;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void file_sha256(char out[65], const char *path)
{
    unsigned char buf[65536], d[32];
    unsigned int n = 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    size_t r;
    while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(md, buf, r);
    EVP_DigestFinal_ex(md, d, &n);
    EVP_MD_CTX_free(md);
    fclose(f);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void cleanup_all(void)
{
    /* The shared libvirtd may have restarted under us: clean up on a fresh connection. */
    if (conn && virConnectIsAlive(conn) != 1) {
        /* a restarting libvirtd takes a few seconds to answer again */
        virConnectClose(conn);
        conn = NULL;
        for (int i = 0; i < 50 && !conn; i++) {
            conn = virConnectOpen("qemu:///system");
            if (!conn)
                sleep(1);
        }
    }
    virDomainPtr *doms = NULL;
    int n = conn ? virConnectListAllDomains(conn, &doms, 0) : 0;
    for (int i = 0; i < n; i++) {
        if (!strncmp(virDomainGetName(doms[i]), prefix, strlen(prefix))) {
            virDomainDestroy(doms[i]);
            virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (conn) {
        char pool_name[32];
        kvz_vm_pool_name(pool_name, state_dir);
        virStoragePoolPtr p = virStoragePoolLookupByName(conn, pool_name);
        if (p) {
            virStoragePoolDestroy(p);
            virStoragePoolUndefine(p);
            virStoragePoolFree(p);
        }
        char dir[192];
        snprintf(dir, sizeof(dir), "%s/parallel", state_dir);
        kvz_vm_pool_name(pool_name, dir);
        p = virStoragePoolLookupByName(conn, pool_name);
        if (p) {
            virStoragePoolDestroy(p);
            virStoragePoolUndefine(p);
            virStoragePoolFree(p);
        }
        virNetworkPtr net = virNetworkLookupByName(conn, net_name);
        if (net) {
            virNetworkDestroy(net);
            virNetworkUndefine(net);
            virNetworkFree(net);
        }
    }
    sh("rm -rf '%s'", state_dir);
}

static void quiet(void *ctx, virErrorPtr e)
{
}

static int group_setup(void **state)
{
    virSetErrorFunc(NULL, quiet);
    snprintf(prefix, sizeof(prefix), "kvzt-%ld-", (long)getpid());
    snprintf(state_dir, sizeof(state_dir), "/tmp/kvzt-%ld-vmstate", (long)getpid());
    snprintf(stack, sizeof(stack), "kvzt-%ld", (long)getpid());
    snprintf(net_name, sizeof(net_name), "kvzt-%ld-net", (long)getpid());
    snprintf(base_image, sizeof(base_image), "%s/cache/blank.qcow2", state_dir);
    conn = virConnectOpen("qemu:///system");
    if (!conn) {
        fprintf(stderr, "qemu:///system unreachable: run tests/integration/libvirtd-start\n");
        return -1;
    }
    if (sh("mkdir -p '%s/cache' && chmod 755 '%s' && qemu-img create -q -f qcow2 '%s' 64M",
           state_dir, state_dir, base_image) != 0)
        return -1;
    file_sha256(digest, base_image);
    /* A second network for the hot-swap: an isolated bridge without addresses (no dnsmasq). */
    char xml[512];
    snprintf(xml, sizeof(xml), "<network><name>%s</name><bridge name='kvzt%ld'/></network>",
             net_name, (long)getpid() % 100000000);
    virNetworkPtr net = virNetworkDefineXML(conn, xml);
    if (!net || virNetworkCreate(net) < 0)
        return -1;
    virNetworkFree(net);
    host = (struct kvz_host){.uri = "qemu:///system",
                             .conn = conn,
                             .state_dir = state_dir,
                             .stack = stack,
                             .source = "tests/integration/test_vm.c"};
    setenv("KVZ_VM_STOP_TIMEOUT", "2", 1);
    return 0;
}

static int group_teardown(void **state)
{
    cleanup_all();
    if (conn)
        virConnectClose(conn);
    return 0;
}

static void spec(struct kvz_resource *r, const char *suffix)
{
    static char names[16][96];
    static int next;
    char *name = names[next++ % 16];
    snprintf(name, 96, "%s%s", prefix, suffix);
    memset(r, 0, sizeof(*r));
    r->kind = KVZ_KIND_VM;
    r->name = name;
    r->hostname = name;
    r->template_name = "blank";
    r->memory = 256 * MiB;
    r->max_memory = 512 * MiB;
    r->cpus_milli = 1000;
    r->max_cpus = 2;
    r->disk = 128 * MiB;
    r->state = KVZ_POWER_RUNNING;
    r->network.type = KVZ_NET_NETWORK;
    r->network.name = "default";
}

/* observe(), keeping only `name`: what `kvz status` would show for it. */
static bool observe(struct kvz_observed_resource *out, const char *name)
{
    struct kvz_observed o = {0};
    struct kvz_error *err = NULL;
    if (kvz_vm_ops.observe(&o, &host, &err) < 0)
        fail_msg("observe: %s", kvz_error_msg(err));
    bool found = false;
    for (size_t i = 0; i < o.n; i++) {
        if (!found && !strcmp(o.v[i].name, name)) {
            *out = o.v[i];
            found = true;
        } else {
            kvz_observed_resource_release(&o.v[i]);
        }
    }
    free(o.v);
    return found;
}

static void create(const struct kvz_resource *r)
{
    struct kvz_error *err = NULL;
    if (kvz_vm_create_from(&host, r, base_image, digest, NULL, &err) < 0)
        fail_msg("create '%s': %s", r->name, kvz_error_msg(err));
}

static void remove_vm(const char *name)
{
    struct kvz_error *err = NULL;
    if (kvz_vm_ops.remove(&host, name, &err) < 0)
        fail_msg("remove '%s': %s", name, kvz_error_msg(err));
}

static char *pool_file(const char *name, const char *suffix)
{
    return kvz_vm_pool_path(&host, name, suffix);
}

/* qemu-img info of `path` as JSON; -U: the running qemu holds the lock. */
static json_t *qemu_img_info(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "qemu-img info -U --output=json '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t e;
    json_t *j = json_loadf(p, 0, &e);
    pclose(p);
    if (!j)
        fail_msg("qemu-img info '%s': %s", path, e.text);
    return j;
}

static int update(const struct kvz_resource *want, const struct kvz_observed_resource *have,
                  const char *field, uint64_t before, uint64_t after, struct kvz_error **err)
{
    struct kvz_field_delta f = {.field = field,
                                .type = KVZ_FIELD_BYTES,
                                .before = before,
                                .after = after,
                                .live = kvz_vm_ops.field_is_live(&host, want, have, field)};
    struct kvz_change chg = {.kind = KVZ_KIND_VM,
                             .name = want->name,
                             .action = KVZ_ACTION_UPDATE,
                             .live = f.live,
                             .fields = &f,
                             .n_fields = 1,
                             .want = want,
                             .have = have};
    return kvz_vm_ops.update(&host, &chg, NULL, err);
}

static void test_overlay_not_copy(void **state)
{
    struct kvz_resource r;
    spec(&r, "overlay");
    r.state = KVZ_POWER_STOPPED;
    create(&r);
    char *disk = pool_file(r.name, ".qcow2");
    json_t *info = qemu_img_info(disk);
    assert_non_null(json_string_value(json_object_get(info, "backing-filename")));
    char *backing = strdup(json_string_value(json_object_get(info, "backing-filename")));
    assert_non_null(strstr(backing, "/pool/base-"));
    assert_non_null(strstr(backing, digest));
    assert_int_equal(json_integer_value(json_object_get(info, "virtual-size")), 128 * MiB);
    assert_string_equal(json_string_value(json_object_get(info, "format")), "qcow2");
    /* the overlay holds no copy of the image */
    assert_true(json_integer_value(json_object_get(info, "actual-size")) < (json_int_t)MiB);
    json_decref(info);

    /* the seed holds user_data: readable by its owner only, whatever the umask */
    char *seed0 = pool_file(r.name, "-seed.iso");
    struct stat st;
    assert_int_equal(stat(seed0, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    free(seed0);

    /* a second VM from the same image shares the one base volume */
    struct kvz_resource r2;
    spec(&r2, "overlay2");
    r2.state = KVZ_POWER_STOPPED;
    create(&r2);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test $(ls '%s/pool' | grep -c '^base-') -eq 1", state_dir);
    assert_int_equal(sh("%s", cmd), 0);

    /* the seed is attached and readable as cidata */
    struct kvz_observed_resource o;
    assert_true(observe(&o, r.name));
    assert_true(o.managed);
    assert_string_equal(o.stack, stack);
    assert_false(o.running);
    assert_int_equal(o.id, -1);
    assert_true(o.storage_ok);
    assert_int_equal(o.disk, 128 * MiB);
    assert_int_equal(o.memory, 256 * MiB);
    assert_int_equal(o.max_memory, 512 * MiB);
    assert_int_equal(o.cpus_milli, 1000);
    assert_int_equal(o.max_cpus, 2);
    assert_string_equal(o.network.name, "default");
    kvz_observed_resource_release(&o);

    /* destroy: overlay, seed and domain go, the base stays */
    remove_vm(r.name);
    remove_vm(r2.name);
    assert_int_not_equal(access(disk, F_OK), 0);
    char *seed = pool_file(r.name, "-seed.iso");
    assert_int_not_equal(access(seed, F_OK), 0);
    assert_false(observe(&o, r.name));
    assert_int_equal(access(backing, F_OK), 0);
    /* removing what is gone is success */
    remove_vm(r.name);
    free(backing);
    free(seed);
    free(disk);
}

struct parallel_job {
    struct kvz_host *h;
    struct kvz_resource r;
    int rc;
    struct kvz_error *err;
};

static void *parallel_create(void *arg)
{
    struct parallel_job *j = arg;
    j->rc = kvz_vm_create_from(j->h, &j->r, base_image, digest, NULL, &j->err);
    return NULL;
}

/* The executor creates resources in parallel: two VMs from one image into a state dir
 * whose pool does not exist yet both succeed, over one base volume. */
static void test_parallel_create(void **state)
{
    char dir[192], cmd[512];
    snprintf(dir, sizeof(dir), "%s/parallel", state_dir);
    struct kvz_host h2 = host;
    h2.state_dir = dir;
    struct parallel_job jobs[2] = {{.h = &h2}, {.h = &h2}};
    spec(&jobs[0].r, "par1");
    spec(&jobs[1].r, "par2");
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].r.state = KVZ_POWER_STOPPED;
        assert_int_equal(pthread_create(&t[i], NULL, parallel_create, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        if (jobs[i].rc < 0)
            fail_msg("parallel create %d: %s", i, kvz_error_msg(jobs[i].err));
    snprintf(cmd, sizeof(cmd),
             "test \"$(ls -A '%s/pool' | grep -c base-)\" = 1 && "
             "! ls -A '%s/pool' | grep -q tmp",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    struct kvz_error *err = NULL;
    for (int i = 0; i < 2; i++)
        if (kvz_vm_ops.remove(&h2, jobs[i].r.name, &err) < 0)
            fail_msg("remove: %s", kvz_error_msg(err));
    char pool_name[32];
    kvz_vm_pool_name(pool_name, dir);
    virStoragePoolPtr p = virStoragePoolLookupByName(conn, pool_name);
    assert_non_null(p);
    virStoragePoolDestroy(p);
    virStoragePoolUndefine(p);
    virStoragePoolFree(p);
}

static void test_disk_smaller_than_image_refused(void **state)
{
    struct kvz_resource r;
    spec(&r, "small");
    r.disk = 32 * MiB; /* the image is 64 MiB */
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_create_from(&host, &r, base_image, digest, NULL, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "smaller than its image"));
    kvz_error_clear(&err);
    struct kvz_observed_resource o;
    assert_false(observe(&o, r.name)); /* nothing half made */
    char *disk = pool_file(r.name, ".qcow2");
    assert_int_not_equal(access(disk, F_OK), 0);
    free(disk);
}

static void test_live_changes_same_domain(void **state)
{
    struct kvz_resource r;
    spec(&r, "live");
    create(&r);
    struct kvz_observed_resource o;
    assert_true(observe(&o, r.name));
    assert_true(o.running);
    int id = o.id;
    assert_true(id > 0);
    struct kvz_error *err = NULL;

    /* vCPU hotplug 1 -> 2 (max 2): qemu plugs the vCPU without the guest's help */
    struct kvz_resource w = r;
    w.cpus_milli = 2000;
    assert_true(kvz_vm_ops.field_is_live(&host, &w, &o, "cpus"));
    if (update(&w, &o, "cpus", 1000, 2000, &err) < 0)
        fail_msg("cpus: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_int_equal(o.cpus_milli, 2000);
    assert_int_equal(o.id, id);

    /* disk grow, live: the running qemu resizes the overlay */
    w.disk = 192 * MiB;
    assert_true(kvz_vm_ops.field_is_live(&host, &w, &o, "disk"));
    if (update(&w, &o, "disk", 128 * MiB, 192 * MiB, &err) < 0)
        fail_msg("disk: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_int_equal(o.disk, 192 * MiB);
    assert_int_equal(o.id, id);
    char *disk = pool_file(r.name, ".qcow2");
    json_t *info = qemu_img_info(disk);
    assert_int_equal(json_integer_value(json_object_get(info, "virtual-size")), 192 * MiB);
    json_decref(info);

    /* shrink refused, nothing changed */
    w.disk = 64 * MiB;
    assert_int_equal(update(&w, &o, "disk", 192 * MiB, 64 * MiB, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "would lose data"));
    kvz_error_clear(&err);
    w.disk = 192 * MiB;

    /* network hot-swap: the same interface (MAC) moves to another network */
    w.network.name = net_name;
    assert_true(kvz_vm_ops.field_is_live(&host, &w, &o, "network"));
    if (update(&w, &o, "network", 0, 0, &err) < 0)
        fail_msg("network: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_string_equal(o.network.name, net_name);
    assert_int_equal(o.id, id);

    /* memory within max_memory: the balloon target, live and in the definition */
    w.memory = 384 * MiB;
    assert_true(kvz_vm_ops.field_is_live(&host, &w, &o, "memory"));
    if (update(&w, &o, "memory", 256 * MiB, 384 * MiB, &err) < 0)
        fail_msg("memory: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_int_equal(o.id, id);
    virDomainPtr dom = virDomainLookupByName(conn, r.name);
    char *inactive = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    assert_non_null(strstr(inactive, "<currentMemory unit='KiB'>393216</currentMemory>"));
    free(inactive);
    virDomainFree(dom);

    /* above max_memory: not live; a restart (new domain id) with the new maximum. Without a
     * guest balloon driver the live size is the maximum: observe reports the definition's. */
    w.memory = 768 * MiB;
    w.max_memory = 1024 * MiB;
    assert_false(kvz_vm_ops.field_is_live(&host, &w, &o, "memory"));
    if (update(&w, &o, "memory", 384 * MiB, 768 * MiB, &err) < 0)
        fail_msg("memory above max: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_true(o.running);
    assert_int_not_equal(o.id, id);
    assert_int_equal(o.max_memory, 1024 * MiB);
    assert_int_equal(o.memory, 768 * MiB);
    assert_int_equal(o.disk, 192 * MiB);
    assert_string_equal(o.network.name, net_name);

    /* above max_cpus: a restart too */
    id = o.id;
    w.cpus_milli = 3000;
    w.max_cpus = 4;
    assert_false(kvz_vm_ops.field_is_live(&host, &w, &o, "cpus"));
    if (update(&w, &o, "cpus", 2000, 3000, &err) < 0)
        fail_msg("cpus above max: %s", kvz_error_msg(err));
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_int_not_equal(o.id, id);
    assert_int_equal(o.cpus_milli, 3000);
    assert_int_equal(o.max_cpus, 4);
    kvz_observed_resource_release(&o);
    free(disk);
    remove_vm(r.name);
}

static void test_drift(void **state)
{
    struct kvz_resource r;
    spec(&r, "drift");
    create(&r);
    virDomainPtr dom = virDomainLookupByName(conn, r.name);
    assert_non_null(dom);

    /* memory changed by hand (virsh setmem --config) */
    assert_int_equal(virDomainSetMemoryFlags(dom, 300 * 1024, VIR_DOMAIN_AFFECT_CONFIG), 0);
    /* shut down by hand (virsh destroy) */
    assert_int_equal(virDomainDestroy(dom), 0);
    struct kvz_observed_resource o;
    assert_true(observe(&o, r.name));
    assert_false(o.running);
    assert_int_equal(o.memory, 300 * MiB);
    assert_true(o.storage_ok);
    assert_null(o.problem);
    kvz_observed_resource_release(&o);

    /* overlay deleted by hand */
    char *disk = pool_file(r.name, ".qcow2");
    assert_int_equal(unlink(disk), 0);
    assert_true(observe(&o, r.name));
    assert_false(o.storage_ok);
    assert_non_null(o.problem);
    assert_non_null(strstr(o.problem, "missing"));
    kvz_observed_resource_release(&o);

    /* create finishes the half-made VM: a new overlay, running again */
    create(&r);
    assert_true(observe(&o, r.name));
    assert_true(o.storage_ok);
    assert_true(o.running);
    kvz_observed_resource_release(&o);
    virDomainFree(dom);
    free(disk);
    remove_vm(r.name);
}

static void test_unmanaged_untouched(void **state)
{
    char name[96], xml[1024];
    snprintf(name, sizeof(name), "%sforeign", prefix);
    snprintf(xml, sizeof(xml),
             "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
             "<vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os></domain>",
             name);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    struct kvz_observed_resource o;
    assert_true(observe(&o, name));
    assert_false(o.managed);
    assert_int_equal(o.max_memory, 64 * MiB);
    kvz_observed_resource_release(&o);

    struct kvz_resource r;
    spec(&r, "foreign");
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_create_from(&host, &r, base_image, digest, NULL, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "is not managed by kvz"));
    kvz_error_clear(&err);
    assert_int_equal(kvz_vm_ops.remove(&host, name, &err), -1);
    kvz_error_clear(&err);
    assert_int_equal(virDomainIsPersistent(dom), 1); /* still there */
    virDomainUndefine(dom);
    virDomainFree(dom);
}

static void test_uefi_and_power(void **state)
{
    struct kvz_resource r;
    spec(&r, "uefi");
    r.firmware = KVZ_FW_UEFI;
    r.network.type = KVZ_NET_NONE;
    r.network.name = NULL;
    create(&r);
    struct kvz_observed_resource o;
    assert_true(observe(&o, r.name));
    assert_true(o.running);
    assert_int_equal(o.network.type, KVZ_NET_NONE);
    kvz_observed_resource_release(&o);
    char *nvram = pool_file(r.name, "-VARS.fd");
    assert_int_equal(access(nvram, F_OK), 0); /* libvirt made it from OVMF's template */

    /* graceful stop; a guest that ignores ACPI is forced off after the timeout */
    struct kvz_error *err = NULL;
    if (kvz_vm_ops.set_power(&host, r.name, false, &err) < 0)
        fail_msg("stop: %s", kvz_error_msg(err));
    assert_true(observe(&o, r.name));
    assert_false(o.running);
    kvz_observed_resource_release(&o);
    if (kvz_vm_ops.set_power(&host, r.name, true, &err) < 0)
        fail_msg("start: %s", kvz_error_msg(err));
    assert_true(observe(&o, r.name));
    assert_true(o.running);
    kvz_observed_resource_release(&o);

    remove_vm(r.name);
    assert_int_not_equal(access(nvram, F_OK), 0);
    free(nvram);
}

/* The text of `name` in the ISO at `path`, read back with libarchive (caller frees). */
static char *iso_file(const char *path, const char *name)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char *r = NULL;
    archive_read_support_format_iso9660(a);
    assert_int_equal(archive_read_open_filename(a, path, 16384), ARCHIVE_OK);
    while (!r && archive_read_next_header(a, &e) == ARCHIVE_OK)
        if (!strcmp(archive_entry_pathname(e), name)) {
            size_t n = (size_t)archive_entry_size(e);
            r = calloc(1, n + 1);
            assert_int_equal(archive_read_data(a, r, n), (la_ssize_t)n);
        }
    archive_read_free(a);
    return r;
}

static const char unattend_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><!-- kvz test --></unattend>\n";

static char *log_seen;
static void keep_log(void *ctx, const char *resource, const char *msg)
{
    free(log_seen);
    log_seen = strdup(msg);
}

/* A Windows 11 profile (uefi: TPM 2.0 and Secure Boot by default) starts here from a blank disk
 * and an install ISO: the firmware runs and boots to the ISO. The definition holds what the
 * accelerator offers and no more; the answer file is on its medium, private. */
static void test_windows_starts(void **state)
{
    char iso[256], iso2[256], dir[256];
    snprintf(dir, sizeof(dir), "%s/isodir", state_dir);
    snprintf(iso, sizeof(iso), "%s/cache/win-install.iso", state_dir);
    snprintf(iso2, sizeof(iso2), "%s/cache/win-install2.iso", state_dir);
    assert_int_equal(sh("mkdir -p '%s' && echo setup > '%s/setup.txt' && "
                        "xorriso -as mkisofs -quiet -V WININSTALL -o '%s' '%s' 2>/dev/null && "
                        "echo two > '%s/setup.txt' && "
                        "xorriso -as mkisofs -quiet -V WININSTALL2 -o '%s' '%s' 2>/dev/null",
                        dir, dir, iso, dir, dir, iso2, dir),
                     0);
    struct kvz_resource r;
    spec(&r, "win");
    r.template_name = NULL;
    r.os = KVZ_OS_WINDOWS;
    r.firmware = KVZ_FW_UEFI;
    r.tpm = r.secure_boot = true; /* the manifest's defaults for windows with uefi */
    r.unattend = (char *)unattend_xml;
    r.memory = r.max_memory = 512 * MiB;
    struct kvz_template iso_t = {.name = "win-iso"};
    r.cdrom = &iso_t;
    r.cdrom_name = "win-iso";
    struct kvz_vm_media media = {.cdrom = iso};
    struct kvz_error *err = NULL;
    if (kvz_vm_create_from(&host, &r, NULL, NULL, &media, &err) < 0)
        fail_msg("create windows vm: %s", kvz_error_msg(err));
    virDomainPtr dom = virDomainLookupByName(conn, r.name);
    assert_non_null(dom);
    assert_int_equal(virDomainIsActive(dom), 1);
    int id = virDomainGetID(dom);

    struct kvz_vm_caps caps;
    if (kvz_vm_host_caps(&caps, &host, &err) < 0)
        fail_msg("caps: %s", kvz_error_msg(err));
    char *xml = virDomainGetXMLDesc(dom, 0);
    assert_non_null(strstr(xml, "bus='sata'"));
    assert_non_null(strstr(xml, "<model type='e1000e'/>"));
    assert_non_null(strstr(xml, "offset='localtime'"));
    /* only the enlightenments this accelerator offers: qemu refuses the rest at start */
    const char *name;
    for (unsigned i = 0; (name = kvz_vm_hyperv_name(i)); i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "<%s state='on'", name);
        if (!(caps.hyperv & (1u << i)) && strstr(xml, tag))
            fail_msg("hyperv %s defined, but the accelerator does not offer it", name);
    }
    if (caps.tpm_emulator) {
        assert_non_null(strstr(xml, "<tpm model="));
        assert_non_null(strstr(xml, "<backend type='emulator' version='2.0'"));
    }
    if (caps.secure_boot) {
        assert_non_null(strstr(xml, "secure='yes'"));
        assert_non_null(strstr(xml, KVZ_VM_OVMF_SB_CODE));
        assert_non_null(strstr(xml, "<smm state='on'/>"));
    }
    assert_non_null(strstr(xml, iso));
    fprintf(stderr, "windows-profile vm started under %s: domain id %d, %s, %s, hyperv:%s%s%s\n",
            caps.kvm ? "kvm" : "qemu (TCG)", id,
            strstr(xml, "<tpm model='tpm-crb'") ? "tpm-crb (swtpm, TPM 2.0)" : "no tpm",
            strstr(xml, "secure='yes'") ? "secure boot (OVMF_CODE_4M.ms.fd)" : "no secure boot",
            strstr(xml, "<spinlocks") ? " spinlocks" : "",
            strstr(xml, "<vpindex") ? " vpindex" : "", strstr(xml, "<stimer") ? " stimer" : "");
    free(xml);
    /* the TPM's state lives with the domain */
    char uuid[37], tpmdir[128];
    kvz_identity_uuid(uuid, stack, r.name);
    snprintf(tpmdir, sizeof(tpmdir), "/var/lib/libvirt/swtpm/%s", uuid);
    if (caps.tpm_emulator)
        assert_int_equal(access(tpmdir, F_OK), 0);

    /* the answer file: on its medium, read back, and readable by its owner only */
    char *medium = pool_file(r.name, "-unattend.iso");
    char *got = iso_file(medium, "autounattend.xml");
    assert_non_null(got);
    assert_string_equal(got, unattend_xml);
    free(got);
    struct stat st;
    assert_int_equal(stat(medium, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    struct kvz_observed_resource o;
    assert_true(observe(&o, r.name));
    assert_true(o.tpm == caps.tpm_emulator);
    assert_true(o.secure_boot == caps.secure_boot);
    assert_true(o.cdrom_drive);
    assert_non_null(o.unattend);
    char hex[65];
    kvz_sha256_hex(hex, unattend_xml, strlen(unattend_xml));
    assert_string_equal(o.unattend, hex);

    /* a swap of the install medium: live, the same domain */
    struct kvz_image img2 = {.path = iso2};
    struct kvz_media m2 = {.cdrom = &img2};
    struct kvz_field_delta f = {.field = "cdrom", .type = KVZ_FIELD_STRING, .live = true};
    assert_true(kvz_vm_ops.field_is_live(&host, &r, &o, "cdrom"));
    struct kvz_change chg = {.kind = KVZ_KIND_VM,
                             .name = r.name,
                             .action = KVZ_ACTION_UPDATE,
                             .live = true,
                             .fields = &f,
                             .n_fields = 1,
                             .want = &r,
                             .have = &o};
    if (kvz_vm_ops.update(&host, &chg, &m2, &err) < 0)
        fail_msg("cdrom swap: %s", kvz_error_msg(err));
    assert_int_equal(virDomainGetID(dom), id);
    xml = virDomainGetXMLDesc(dom, 0);
    assert_non_null(strstr(xml, iso2));
    free(xml);
    kvz_observed_resource_release(&o);

    /* a new answer file: rewritten and swapped in live (Setup reads it at install time) */
    assert_true(observe(&o, r.name));
    struct kvz_resource w = r;
    w.unattend = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>\n";
    f.field = "unattend";
    chg.want = &w;
    chg.have = &o;
    assert_true(kvz_vm_ops.field_is_live(&host, &w, &o, "unattend"));
    if (kvz_vm_ops.update(&host, &chg, &m2, &err) < 0)
        fail_msg("unattend: %s", kvz_error_msg(err));
    assert_int_equal(virDomainGetID(dom), id);
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    kvz_sha256_hex(hex, w.unattend, strlen(w.unattend));
    assert_string_equal(o.unattend, hex);
    kvz_observed_resource_release(&o);

    /* no balloon driver (no guest OS): apply says so instead of reporting success */
    assert_true(observe(&o, r.name));
    w.max_memory = 512 * MiB;
    w.memory = 384 * MiB;
    f.field = "memory";
    f.type = KVZ_FIELD_BYTES;
    host.log = keep_log;
    setenv("KVZ_VM_BALLOON_TIMEOUT", "3", 1);
    if (kvz_vm_ops.update(&host, &chg, &m2, &err) < 0)
        fail_msg("memory: %s", kvz_error_msg(err));
    host.log = NULL;
    assert_non_null(log_seen);
    assert_string_equal(log_seen,
                        "guest has no balloon driver: the new memory applies at the next restart");
    kvz_observed_resource_release(&o);
    assert_true(observe(&o, r.name));
    assert_int_equal(o.memory, 384 * MiB);        /* the target */
    assert_int_equal(o.memory_actual, 512 * MiB); /* what the guest has */
    assert_false(o.balloon_driver);
    char *caveat = NULL;
    assert_int_equal(kvz_vm_ops.caveat(&caveat, &host, &w, &o, &err), 0);
    assert_non_null(caveat);
    assert_non_null(strstr(caveat, "the guest has 512MiB, not its target 384MiB"));
    free(caveat);
    kvz_observed_resource_release(&o);

    virDomainFree(dom);
    remove_vm(r.name);
    assert_int_not_equal(access(medium, F_OK), 0);
    assert_int_not_equal(access(tpmdir, F_OK), 0); /* the TPM state went with it */
    free(medium);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlay_not_copy),
        cmocka_unit_test(test_disk_smaller_than_image_refused),
        cmocka_unit_test(test_parallel_create),
        cmocka_unit_test(test_live_changes_same_domain),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_unmanaged_untouched),
        cmocka_unit_test(test_uefi_and_power),
        cmocka_unit_test(test_windows_starts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
