#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/schema.h"
#include "parser/suggest.h"
#include "parser/yaml_tree.h"

#include <stdlib.h>
#include <string.h>

static void test_edit_distance_and_suggest(void **state)
{
    assert_int_equal(kvz_edit_distance("memory", "memory"), 0);
    assert_int_equal(kvz_edit_distance("memroy", "memory"), 1); /* a swap is one edit */
    assert_int_equal(kvz_edit_distance("", "abc"), 3);
    assert_int_equal(kvz_edit_distance("cpu", "cpus"), 1);
    static const char *const keys[] = {"template", "memory", "max_memory", "cpus", "state"};
    assert_string_equal(kvz_suggest("memroy", keys, 5), "memory");
    assert_string_equal(kvz_suggest("tempalte", keys, 5), "template");
    assert_string_equal(kvz_suggest("max_memroy", keys, 5), "max_memory");
    assert_string_equal(kvz_suggest("cpu", keys, 5), "cpus");
    assert_null(kvz_suggest("wibble", keys, 5));
    assert_null(kvz_suggest("x", keys, 5));
}

/* Decodes `yaml` (a mapping) with schema s into r; returns the messages joined by '|'. */
static char *decode(const struct kvz_schema *s, const char *yaml, struct kvz_resource *r)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_ynode *root = NULL;
    assert_int_equal(kvz_yaml_parse(&root, "s.yaml", yaml, strlen(yaml), &d), 0);
    assert_non_null(root);
    memset(r, 0, sizeof(*r));
    size_t errors = kvz_schema_decode(s, root, r, "container 'c'", root, "s.yaml", &d);
    assert_int_equal(errors, d.errors);
    kvz_diags_sort(&d);
    size_t len = 1;
    for (size_t i = 0; i < d.n; i++)
        len += strlen(d.v[i].msg) + 1;
    char *out = calloc(1, len);
    assert_non_null(out);
    for (size_t i = 0; i < d.n; i++) {
        if (i)
            memcpy(out + strlen(out), "|", 2);
        memcpy(out + strlen(out), d.v[i].msg, strlen(d.v[i].msg) + 1);
    }
    kvz_ynode_free(root);
    kvz_diags_release(&d);
    return out;
}

static void expect(const struct kvz_schema *s, const char *yaml, const char *want)
{
    struct kvz_resource r;
    char *got = decode(s, yaml, &r);
    if (strcmp(got, want))
        fail_msg("for %s\n got: %s\nwant: %s", yaml, got, want);
    free(got);
    kvz_schema_release(s, &r);
}

static void test_decode_typed_values(void **state)
{
    struct kvz_resource r;
    char *msgs = decode(&kvz_schema_vm,
                        "{image: img, memory: 1GiB, max_memory: 2GiB, cpus: 2, max_cpus: 4, disk: "
                        "10GiB, os: windows, firmware: uefi, state: stopped, autostart: true, "
                        "protect: TRUE, network: none, cloud_init: {user_data: hi}}",
                        &r);
    assert_string_equal(msgs, "");
    free(msgs);
    assert_string_equal(r.template_name, "img");
    assert_int_equal(r.memory, 1ull << 30);
    assert_int_equal(r.max_memory, 2ull << 30);
    assert_int_equal(r.cpus_milli, 2000);
    assert_int_equal(r.max_cpus, 4);
    assert_int_equal(r.disk, 10ull << 30);
    assert_int_equal(r.os, KVZ_OS_WINDOWS);
    assert_int_equal(r.firmware, KVZ_FW_UEFI);
    assert_int_equal(r.state, KVZ_POWER_STOPPED);
    assert_true(r.autostart);
    assert_true(r.protect);
    assert_int_equal(r.network.type, KVZ_NET_NONE);
    assert_true(r.has_cloud_init);
    assert_string_equal(r.user_data, "hi");
    kvz_schema_release(&kvz_schema_vm, &r);
    assert_null(r.user_data);
    assert_null(r.template_name);
}

static void test_unknown_keys(void **state)
{
    expect(&kvz_schema_container, "{template: t, memory: 1G, memroy: 1G}",
           "unknown key 'memroy' in container 'c' (did you mean 'memory'?)");
    expect(&kvz_schema_container, "{template: t, memory: 1G, max_cpus: 2}",
           "unknown key 'max_cpus' in container 'c'; it applies to vms only");
    expect(&kvz_schema_container, "{template: t, memory: 1G, image: x}",
           "unknown key 'image' in container 'c' (did you mean 'template'?)");
    expect(&kvz_schema_vm, "{image: t, memory: 1G, template: x}",
           "unknown key 'template' in container 'c' (did you mean 'image'?)");
    expect(&kvz_schema_template, "{url: 'file:///x', sha256sum: x}",
           "unknown key 'sha256sum' in container 'c' (did you mean 'sha256'?)");
    expect(
        &kvz_schema_container, "{template: t, memory: 1G, zzz: 1}",
        "unknown key 'zzz' in container 'c'; valid keys are template, memory, cpus, disk, "
        "hostname, os, state, autostart, network, ip, ssh_authorized_keys, protect, stop_timeout, host");
}

static void test_required_and_types(void **state)
{
    expect(&kvz_schema_container, "{cpus: 1}",
           "container 'c' has no 'template'; add e.g. 'template: debian12-rootfs'|container 'c' "
           "has no 'memory'; add e.g. 'memory: 512MiB'");
    expect(&kvz_schema_container, "{template: [t], memory: 1G}",
           "'template' must be a name, not a list; write e.g. 'template: debian12-rootfs'");
    expect(&kvz_schema_container, "{template: t, memory: 1G, disk: }",
           "'disk' has no value; write e.g. 'disk: 8GiB'");
    expect(&kvz_schema_container, "{template: t, memory: 1G, state: Running}",
           "'state' must be running or stopped, not 'Running' (did you mean 'running'?)");
    expect(&kvz_schema_container, "{template: t, memory: 1G, network: {bridge: br0, mode: x}}",
           "unknown key 'mode' in network; write 'network: {bridge: br0}' for a host bridge or "
           "'network: NAME' for a libvirt network");
    expect(&kvz_schema_vm, "{image: t, memory: 1G, cloud_init: {user_data: x, meta: y}}",
           "unknown key 'meta' in 'cloud_init' of container 'c'; valid keys are user_data");
    expect(&kvz_schema_template, "{url: 'file:///x', sha256: 'g'}",
           "sha256 must be 64 hexadecimal digits (1 given); copy it from the sha256sum output");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_distance_and_suggest),
        cmocka_unit_test(test_decode_typed_values),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_required_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
