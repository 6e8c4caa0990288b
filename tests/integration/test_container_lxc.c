#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ct_fixture.h"

#include "parser/spec_digest.h"
#include "providers/container/container.h"
#include "providers/ownership.h"

#include <libvirt/libvirt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

static char *ct_path(const char *name, const char *rel)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/containers/kvzt/%s/%s", fx.state_dir, name, rel) > 0);
    return p;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *s = calloc(1, 65536);
    size_t n = fread(s, 1, 65535, f);
    s[n] = 0;
    fclose(f);
    return s;
}

/* Where the container's own copy of `rel` is: its own layer on shared layers (the overlay is
 * mounted in libvirtd's namespace only), else its private rootfs. Caller frees. */
static char *own_file(const char *name, const char *rel)
{
    char up[512];
    snprintf(up, sizeof(up), "upper/%s", rel);
    char *p = ct_path(name, up);
    struct stat st;
    if (p && stat(p, &st) == 0)
        return p;
    free(p);
    snprintf(up, sizeof(up), "rootfs/%s", rel);
    return ct_path(name, up);
}

static void observe(struct kvz_observed *o)
{
    struct kvz_error *err = NULL;
    int r = kvz_container_ops.observe(o, &fx.host, &err);
    if (r < 0)
        fail_msg("observe: %s", kvz_error_msg(err));
}

static void must(int r, struct kvz_error *err, const char *what)
{
    if (r < 0)
        fail_msg("%s: %s", what, kvz_error_msg(err));
}

/* observe reports exactly what the container's cgroup files hold, and that is `mem`/`cpus` */
static void assert_observed_is_kernel(const char *name, uint64_t mem, uint32_t cpus_milli)
{
    long long limit = ct_cgroup_value(name, "memory", "memory.limit_in_bytes");
    long long quota = ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us");
    long long period = ct_cgroup_value(name, "cpu", "cpu.cfs_period_us");
    assert_true(limit > 0 && quota > 0 && period > 0);
    assert_int_equal(limit, mem);
    assert_int_equal(quota * 1000 / period, cpus_milli);
    struct kvz_observed o = {0};
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_non_null(r);
    assert_true(r->running);
    assert_int_equal(r->memory, limit);
    assert_int_equal(r->cpus_milli, quota * 1000 / period);
    kvz_observed_free(&o);
}

/* create through the ops table (template pulled from the store), then what a user checks */
static void test_create_live_changes_remove(void **state)
{
    const char *name = ct_name(0, "live");
    struct kvz_resource want;
    struct kvz_error *err = NULL;
    static char *keys[] = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvz test@kvz"};
    ct_want(&want, name, 64 * MiB, 500);
    want.ssh_keys = keys;
    want.n_ssh_keys = 1;
    want.network.type = KVZ_NET_NETWORK;
    want.network.name = "default";
    want.autostart = true;

    must(ct_create(&want, &err), err, "create");

    /* the kernel enforces what the manifest says */
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 64 * MiB);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_period_us"), 100000);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us"), 50000);

    /* the files injected into its private rootfs (or its own layer) */
    char *p = own_file(name, "etc/hostname");
    char *s = read_text(p);
    assert_non_null(s);
    char expect[128];
    snprintf(expect, sizeof(expect), "%s\n", name);
    assert_string_equal(s, expect);
    free(s);
    free(p);
    p = own_file(name, "root/.ssh/authorized_keys");
    s = read_text(p);
    assert_non_null(s);
    assert_string_equal(s, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvz test@kvz\n");
    free(s);
    free(p);

    /* identity and ownership in the definition */
    char uuid[37], mac[18], spec[KVZ_SHA256_HEX];
    kvz_identity_uuid(uuid, "kvzt", name);
    kvz_identity_mac(mac, "kvzt", name);
    char *xml = ct_domain_xml(name, 0);
    assert_non_null(xml);
    assert_non_null(strstr(xml, uuid));
    assert_non_null(strstr(xml, mac));
    assert_non_null(strstr(xml, "<source network='default'"));
    free(xml);

    struct kvz_observed o = {0};
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_non_null(r);
    assert_true(r->managed);
    assert_string_equal(r->stack, "kvzt");
    assert_int_equal(kvz_spec_digest(spec, &want, &err), 0);
    assert_string_equal(r->spec_digest, spec);
    assert_true(r->running);
    assert_true(r->autostart);
    assert_true(r->storage_ok);
    assert_null(r->problem);
    assert_int_equal(r->memory, 64 * MiB);
    assert_int_equal(r->cpus_milli, 500);
    assert_int_equal(r->disk, 0);
    assert_int_equal(r->network.type, KVZ_NET_NETWORK);
    assert_string_equal(r->network.name, "default");
    assert_string_equal(r->hostname, name);
    int id = r->id;
    assert_true(id > 0);
    kvz_observed_free(&o);

    /* live change: memory and CPU, no restart */
    struct kvz_field_delta fields[] = {
        {.field = "memory", .type = KVZ_FIELD_BYTES, .live = true},
        {.field = "cpus", .type = KVZ_FIELD_CPUS, .live = true},
        {.field = "autostart", .type = KVZ_FIELD_BOOL, .live = true},
        {.field = "protect", .type = KVZ_FIELD_BOOL, .live = true},
    };
    want.memory = want.max_memory = 128 * MiB;
    want.cpus_milli = 1500;
    want.autostart = false;
    want.protect = true;
    struct kvz_change chg = {.kind = KVZ_KIND_CONTAINER,
                             .name = (char *)name,
                             .action = KVZ_ACTION_UPDATE,
                             .live = true,
                             .fields = fields,
                             .n_fields = 4,
                             .want = &want};
    must(kvz_container_ops.update(&fx.host, &chg, NULL, &err), err, "update");
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 128 * MiB);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us"), 150000);
    /* persisted in the definition too, so a restart keeps it */
    xml = ct_domain_xml(name, VIR_DOMAIN_XML_INACTIVE);
    assert_non_null(strstr(xml, "<hard_limit unit='KiB'>131072</hard_limit>"));
    assert_non_null(strstr(xml, "<quota>150000</quota>"));
    assert_non_null(strstr(xml, "<kvz:protect>true</kvz:protect>"));
    free(xml);
    observe(&o);
    r = ct_find(&o, name);
    assert_int_equal(r->id, id);
    assert_int_equal(r->memory, 128 * MiB);
    assert_int_equal(r->cpus_milli, 1500);
    assert_false(r->autostart);
    assert_true(r->protect); /* recorded on the host, live and in the definition */
    assert_int_equal(kvz_spec_digest(spec, &want, &err), 0);
    assert_string_equal(r->spec_digest, spec);
    kvz_observed_free(&o);
    assert_observed_is_kernel(name, 128 * MiB, 1500);

    /* changed out of band through libvirt, live only: observe shows the drift */
    assert_int_equal(ct_sh("virsh -q -c '%s' memtune '%s' --hard-limit 81920 --live >/dev/null",
                           fx.host.uri, name),
                     0);
    assert_int_equal(ct_sh("virsh -q -c '%s' schedinfo '%s' --live vcpu_quota=70000 >/dev/null",
                           fx.host.uri, name),
                     0);
    assert_observed_is_kernel(name, 80 * MiB, 700);
    /* and behind libvirt's back, in the kernel's files: observe reads what is enforced */
    assert_int_equal(ct_sh("echo 40000 >/sys/fs/cgroup/cpu$(awk -F: '$2 == \"cpu\" {print $3}' "
                           "/proc/%d/cgroup)/cpu.cfs_quota_us",
                           ct_init_pid(name)),
                     0);
    assert_int_equal(ct_sh("echo 50331648 >/sys/fs/cgroup/memory$(awk -F: '$2 == \"memory\" "
                           "{print $3}' /proc/%d/cgroup)/memory.limit_in_bytes",
                           ct_init_pid(name)),
                     0);
    assert_observed_is_kernel(name, 48 * MiB, 400);

    /* graceful stop through set_power, then remove deletes domain and files; twice is fine */
    must(kvz_container_ops.set_power(&fx.host, name, false, &err), err, "stop");
    assert_int_equal(ct_init_pid(name), -1);
    must(kvz_container_ops.remove(&fx.host, name, &err), err, "remove");
    assert_false(ct_domain_exists(name));
    p = ct_path(name, "");
    struct stat st;
    assert_int_equal(stat(p, &st), -1);
    free(p);
    must(kvz_container_ops.remove(&fx.host, name, &err), err, "remove again");
}

static int domain_id(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(fx.host.conn, name);
    assert_non_null(dom);
    int id = (int)virDomainGetID(dom);
    virDomainFree(dom);
    return id;
}

/* disk: an ext4 image made without mounting; grow online where the kernel lets us, else the
 * fallback (restart + offline resize2fs) that this sandbox needs */
static void test_disk_image_and_grow(void **state)
{
    const char *name = ct_name(1, "disk");
    struct kvz_resource want;
    struct kvz_error *err = NULL;
    ct_want(&want, name, 64 * MiB, 1000);
    want.disk = 64 * MiB;
    must(ct_create(&want, &err), err, "create");

    char *img = ct_path(name, "disk.img");
    struct stat st;
    assert_int_equal(stat(img, &st), 0);
    assert_int_equal(st.st_size, 64 * MiB);
    assert_int_equal(ct_sh("test \"$(blkid -o value -s TYPE '%s')\" = ext4", img), 0);
    char *hn = NULL;
    must(kvz_disk_read_file(&hn, img, "/etc/hostname", &err), err, "read hostname");
    char expect[128];
    snprintf(expect, sizeof(expect), "%s\n", name);
    assert_string_equal(hn, expect);
    free(hn);
    /* the container runs on it: its root is the image's ext4 */
    char root[64];
    struct statfs sf;
    snprintf(root, sizeof(root), "/proc/%d/root", ct_init_pid(name));
    assert_int_equal(statfs(root, &sf), 0);
    assert_int_equal(sf.f_type, 0xEF53);
    assert_true((uint64_t)sf.f_blocks * sf.f_bsize <= 64 * MiB);

    struct kvz_observed o = {0};
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_non_null(r);
    assert_int_equal(r->disk, 64 * MiB);
    assert_true(r->storage_ok);
    int id = r->id;
    want.disk = 96 * MiB;
    bool live = kvz_container_ops.field_is_live(&fx.host, &want, r, "disk");
    /* detected, not assumed: live exactly when this process may resize a mounted ext4 */
    assert_int_equal(live, kvz_disk_online_resize_possible());
    kvz_observed_free(&o);

    struct kvz_field_delta fields[] = {{.field = "disk", .type = KVZ_FIELD_BYTES, .live = live}};
    struct kvz_change chg = {.kind = KVZ_KIND_CONTAINER,
                             .name = (char *)name,
                             .action = KVZ_ACTION_UPDATE,
                             .live = live,
                             .fields = fields,
                             .n_fields = 1,
                             .want = &want};
    must(kvz_container_ops.update(&fx.host, &chg, NULL, &err), err, "grow");
    assert_int_equal(stat(img, &st), 0);
    assert_int_equal(st.st_size, 96 * MiB);
    snprintf(root, sizeof(root), "/proc/%d/root", ct_init_pid(name));
    assert_int_equal(statfs(root, &sf), 0);
    assert_true((uint64_t)sf.f_blocks * sf.f_bsize > 80 * MiB);
    if (live)
        assert_int_equal(domain_id(name), id);
    else
        assert_int_not_equal(domain_id(name), id);
    observe(&o);
    assert_int_equal(ct_find(&o, name)->disk, 96 * MiB);
    assert_true(ct_find(&o, name)->running);
    kvz_observed_free(&o);

    /* a grow killed after the file grew but before resize2fs: observe tells, update finishes */
    must(kvz_container_ops.set_power(&fx.host, name, false, &err), err, "stop");
    assert_int_equal(truncate(img, 128 * MiB), 0);
    observe(&o);
    assert_int_equal(ct_find(&o, name)->disk, 96 * MiB);
    kvz_observed_free(&o);
    want.disk = 128 * MiB;
    must(kvz_container_ops.update(&fx.host, &chg, NULL, &err), err, "grow again");
    observe(&o);
    assert_int_equal(ct_find(&o, name)->disk, 128 * MiB);
    assert_true(ct_find(&o, name)->running);
    kvz_observed_free(&o);

    must(kvz_container_ops.remove(&fx.host, name, &err), err, "remove");
    assert_int_equal(stat(img, &st), -1);
    free(img);
}

/* hostname, ssh keys and network: a restart with the files written again */
static void test_restart_changes(void **state)
{
    const char *name = ct_name(2, "cfg");
    struct kvz_resource want;
    struct kvz_error *err = NULL;
    ct_want(&want, name, 32 * MiB, 250);
    must(ct_create(&want, &err), err, "create");
    int id = domain_id(name);
    char *xml = ct_domain_xml(name, 0);
    assert_null(strstr(xml, "<interface"));
    assert_non_null(strstr(xml, "<privnet/>"));
    free(xml);

    static char *keys[] = {"ssh-ed25519 AAAAnew new@kvz"};
    want.hostname = "renamed";
    want.ssh_keys = keys;
    want.n_ssh_keys = 1;
    want.network.type = KVZ_NET_NETWORK;
    want.network.name = "default";
    struct kvz_field_delta fields[] = {
        {.field = "hostname", .type = KVZ_FIELD_STRING},
        {.field = "ssh_authorized_keys", .type = KVZ_FIELD_STRING},
        {.field = "network", .type = KVZ_FIELD_STRING},
    };
    struct kvz_change chg = {.kind = KVZ_KIND_CONTAINER,
                             .name = (char *)name,
                             .action = KVZ_ACTION_UPDATE,
                             .fields = fields,
                             .n_fields = 3,
                             .want = &want};
    assert_false(kvz_container_ops.field_is_live(&fx.host, &want, NULL, "hostname"));
    assert_false(kvz_container_ops.field_is_live(&fx.host, &want, NULL, "network"));
    must(kvz_container_ops.update(&fx.host, &chg, NULL, &err), err, "update");
    assert_int_not_equal(domain_id(name), id);
    char *p = own_file(name, "etc/hostname");
    char *s = read_text(p);
    assert_string_equal(s, "renamed\n");
    free(s);
    free(p);
    p = own_file(name, "root/.ssh/authorized_keys");
    s = read_text(p);
    assert_string_equal(s, "ssh-ed25519 AAAAnew new@kvz\n");
    free(s);
    free(p);
    char mac[18];
    kvz_identity_mac(mac, "kvzt", name);
    xml = ct_domain_xml(name, 0);
    assert_non_null(strstr(xml, mac));
    free(xml);
    /* the limits survived the redefinition */
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 32 * MiB);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us"), 25000);

    /* stopped: observe reads the definition; a live change becomes a definition change */
    must(kvz_container_ops.set_power(&fx.host, name, false, &err), err, "stop");
    want.state = KVZ_POWER_STOPPED;
    want.memory = want.max_memory = 48 * MiB;
    struct kvz_field_delta mem[] = {{.field = "memory", .type = KVZ_FIELD_BYTES, .live = true}};
    struct kvz_change chg2 = {.kind = KVZ_KIND_CONTAINER,
                              .name = (char *)name,
                              .action = KVZ_ACTION_UPDATE,
                              .live = true,
                              .fields = mem,
                              .n_fields = 1,
                              .want = &want};
    must(kvz_container_ops.update(&fx.host, &chg2, NULL, &err), err, "update stopped");
    struct kvz_observed o = {0};
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_false(r->running);
    assert_int_equal(r->id, -1);
    assert_int_equal(r->memory, 48 * MiB);
    assert_int_equal(r->cpus_milli, 250);
    assert_string_equal(r->hostname, "renamed");
    kvz_observed_free(&o);
    must(kvz_container_ops.set_power(&fx.host, name, true, &err), err, "start");
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 48 * MiB);
    must(kvz_container_ops.remove(&fx.host, name, &err), err, "remove");
}

/* a same-named domain kvz did not make is never touched; nor one of another stack */
static void test_unmanaged_and_foreign(void **state)
{
    const char *name = ct_name(3, "foreign");
    struct kvz_error *err = NULL;
    char xml[1024];
    snprintf(xml, sizeof(xml),
             "<domain type='lxc'><name>%s</name><memory unit='KiB'>65536</memory>"
             "<os><type>exe</type><init>/sbin/init</init></os><features><privnet/></features>"
             "<devices><filesystem type='mount'><source dir='%s/busybox'/>"
             "<target dir='/'/></filesystem><console type='pty'/></devices></domain>",
             name, fx.tmp);
    virDomainPtr dom = virDomainDefineXML(fx.host.conn, xml);
    assert_non_null(dom);
    virDomainFree(dom);

    struct kvz_observed o = {0};
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_non_null(r);
    assert_false(r->managed);
    assert_null(r->stack);
    assert_int_equal(r->memory, 64 * MiB);
    assert_false(r->running);
    kvz_observed_free(&o);

    struct kvz_resource want;
    ct_want(&want, name, 32 * MiB, 1000);
    assert_int_equal(ct_create(&want, &err), -1);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "create container '%s': domain '%s' exists and is not managed by kvz; rename the "
             "resource or remove the domain yourself",
             name, name);
    assert_string_equal(kvz_error_msg(err), expect);
    kvz_error_clear(&err);
    assert_int_equal(kvz_container_ops.remove(&fx.host, name, &err), -1);
    kvz_error_clear(&err);
    assert_int_equal(kvz_container_ops.set_power(&fx.host, name, true, &err), -1);
    kvz_error_clear(&err);
    assert_true(ct_domain_exists(name));
    xml[0] = 0;
    char *now = ct_domain_xml(name, 0);
    assert_null(strstr(now, KVZ_XMLNS));
    free(now);

    /* another stack's container */
    const char *mine = ct_name(4, "mine");
    ct_want(&want, mine, 32 * MiB, 1000);
    want.state = KVZ_POWER_STOPPED;
    must(ct_create(&want, &err), err, "create");
    struct kvz_host other = fx.host;
    other.stack = "other";
    assert_int_equal(kvz_container_ops.remove(&other, mine, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "belongs to stack 'kvzt'"));
    kvz_error_clear(&err);
    assert_true(ct_domain_exists(mine));
    must(kvz_container_ops.remove(&fx.host, mine, &err), err, "remove");
}

/* what a SIGKILL leaves: a half-copied rootfs (or image) with no domain, or a defined domain
 * that was never started; and a rootfs deleted by hand */
static void test_half_made_is_redone(void **state)
{
    const char *name = ct_name(5, "half");
    struct kvz_error *err = NULL;
    /* a private copy's leftovers (test_density.sh and test_trust.sh cut shared layers) */
    setenv("KVZ_CONTAINER_LAYERS", "copy", 1);
    char *tmp = ct_path(name, "rootfs.tmp");
    assert_int_equal(ct_sh("mkdir -p '%s/bin' && echo partial > '%s/bin/busybox'", tmp, tmp), 0);
    char *tmpimg = ct_path(name, "disk.img.tmp");
    assert_int_equal(ct_sh("echo partial > '%s'", tmpimg), 0);
    char *inject = ct_path(name, "disk.img.tmp.inject-Ab12Cd");
    assert_int_equal(ct_sh("mkdir -p '%s' && echo x > '%s/hostname'", inject, inject), 0);
    struct kvz_observed o = {0};
    observe(&o);
    assert_null(ct_find(&o, name)); /* nothing that counts as the container yet */
    kvz_observed_free(&o);

    struct kvz_resource want;
    ct_want(&want, name, 32 * MiB, 1000);
    want.state = KVZ_POWER_STOPPED;
    must(ct_create(&want, &err), err, "create");
    struct stat st;
    assert_int_equal(stat(tmp, &st), -1);
    assert_int_equal(stat(tmpimg, &st), -1);
    assert_int_equal(stat(inject, &st), -1);
    free(inject);
    char *bb = ct_path(name, "rootfs/bin/busybox");
    assert_int_equal(stat(bb, &st), 0);
    assert_true(st.st_size > 100000);
    free(bb);

    /* defined but never started: create again finishes the job */
    want.state = KVZ_POWER_RUNNING;
    must(ct_create(&want, &err), err, "create again");
    assert_true(ct_init_pid(name) > 0);

    /* create on a running, complete container (killed after start, before reporting):
     * nothing restarts */
    int id = domain_id(name);
    must(ct_create(&want, &err), err, "create once more");
    assert_int_equal(domain_id(name), id);

    /* the rootfs deleted by hand shows as missing */
    must(kvz_container_ops.set_power(&fx.host, name, false, &err), err, "stop");
    char *rootfs = ct_path(name, "rootfs");
    assert_int_equal(ct_sh("rm -rf '%s'", rootfs), 0);
    observe(&o);
    const struct kvz_observed_resource *r = ct_find(&o, name);
    assert_true(r->managed);
    assert_false(r->storage_ok);
    assert_string_equal(r->problem, "rootfs missing");
    kvz_observed_free(&o);
    must(kvz_container_ops.remove(&fx.host, name, &err), err, "remove");
    assert_false(ct_domain_exists(name));
    free(rootfs);
    free(tmp);
    free(tmpimg);
    unsetenv("KVZ_CONTAINER_LAYERS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_live_changes_remove),
        cmocka_unit_test(test_disk_image_and_grow),
        cmocka_unit_test(test_restart_changes),
        cmocka_unit_test(test_unmanaged_and_foreign),
        cmocka_unit_test(test_half_made_is_redone),
    };
    return cmocka_run_group_tests(tests, ct_fixture_setup, ct_fixture_teardown);
}
