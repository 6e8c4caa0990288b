#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ct_fixture.h"

#include "planner/spec_digest.h"
#include "providers/container.h"
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

    must(kvz_container_ops.create(&fx.host, &want, &err), err, "create");

    /* the kernel enforces what the manifest says */
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 64 * MiB);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_period_us"), 100000);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us"), 50000);

    /* the files injected into its private rootfs */
    char *p = ct_path(name, "rootfs/etc/hostname");
    char *s = read_text(p);
    assert_non_null(s);
    char expect[128];
    snprintf(expect, sizeof(expect), "%s\n", name);
    assert_string_equal(s, expect);
    free(s);
    free(p);
    p = ct_path(name, "rootfs/root/.ssh/authorized_keys");
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
    };
    want.memory = want.max_memory = 128 * MiB;
    want.cpus_milli = 1500;
    want.autostart = false;
    struct kvz_change chg = {.kind = KVZ_KIND_CONTAINER,
                             .name = (char *)name,
                             .action = KVZ_ACTION_UPDATE,
                             .live = true,
                             .fields = fields,
                             .n_fields = 3,
                             .want = &want};
    must(kvz_container_ops.update(&fx.host, &chg, &err), err, "update");
    assert_int_equal(ct_cgroup_value(name, "memory", "memory.limit_in_bytes"), 128 * MiB);
    assert_int_equal(ct_cgroup_value(name, "cpu", "cpu.cfs_quota_us"), 150000);
    /* persisted in the definition too, so a restart keeps it */
    xml = ct_domain_xml(name, VIR_DOMAIN_XML_INACTIVE);
    assert_non_null(strstr(xml, "<hard_limit unit='KiB'>131072</hard_limit>"));
    assert_non_null(strstr(xml, "<quota>150000</quota>"));
    free(xml);
    observe(&o);
    r = ct_find(&o, name);
    assert_int_equal(r->id, id);
    assert_int_equal(r->memory, 128 * MiB);
    assert_int_equal(r->cpus_milli, 1500);
    assert_false(r->autostart);
    assert_int_equal(kvz_spec_digest(spec, &want, &err), 0);
    assert_string_equal(r->spec_digest, spec);
    kvz_observed_free(&o);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_live_changes_remove),
    };
    return cmocka_run_group_tests(tests, ct_fixture_setup, ct_fixture_teardown);
}
