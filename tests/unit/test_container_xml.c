#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "providers/container/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LXC domain XML golden files: tests/data/container/<case>.xml; KVZ_REGEN=1 rewrites them. */

static const char metadata[] =
    "<kvz:resource xmlns:kvz=\"https://kvz.dev/xmlns/domain/1\"><kvz:stack>web</kvz:stack>"
    "<kvz:kind>container</kvz:kind></kvz:resource>";

static void check_golden(const char *name, const char *got)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof(rel), "container/%s.xml", name);
    kvz_test_data_path(path, sizeof(path), rel);
    kvz_test_golden(path, got);
}

/* Builds, compares with the golden file, reads it back as observe would. */
static void build_and_read(const char *golden, const struct kvz_ct_def *def)
{
    char *xml = NULL, *rootfs = NULL, *img = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ct_xml_build(&xml, def, &err), 0);
    check_golden(golden, xml);
    struct kvz_observed_resource r = {.name = "web1"};
    assert_int_equal(kvz_ct_xml_parse(&r, &rootfs, &img, xml, &err), 0);
    assert_int_equal(r.memory, def->memory);
    assert_int_equal(r.cpus_milli, def->cpus_milli);
    assert_int_equal(r.network.type, def->network->type);
    if (def->network->name)
        assert_string_equal(r.network.name, def->network->name);
    else
        assert_null(r.network.name);
    if (def->disk_img) {
        assert_string_equal(img, def->disk_img);
        assert_null(rootfs);
    } else {
        assert_string_equal(rootfs, def->rootfs_dir);
        assert_null(img);
    }
    if (def->network->type != KVZ_NET_NONE)
        assert_string_equal(r.mac, def->mac); /* what a static lease is matched by */
    free(r.network.name);
    free(r.mac);
    free(rootfs);
    free(img);
    free(xml);
}

static void test_rootfs_dir_on_network(void **state)
{
    struct kvz_network net = {KVZ_NET_NETWORK, "default"};
    struct kvz_ct_def def = {
        .name = "web1",
        .uuid = "0e1f3c52-9a4b-5c6d-8e7f-0a1b2c3d4e5f",
        .mac = "52:54:00:ab:cd:ef",
        .memory = 512ull << 20,
        .cpus_milli = 1500,
        .rootfs_dir = "/var/lib/kvz/containers/web/web1/rootfs",
        .network = &net,
        .metadata_xml = metadata,
    };
    build_and_read("dir-network", &def);
}

static void test_disk_on_bridge(void **state)
{
    struct kvz_network net = {KVZ_NET_BRIDGE, "br0"};
    struct kvz_ct_def def = {
        .name = "web1",
        .uuid = "0e1f3c52-9a4b-5c6d-8e7f-0a1b2c3d4e5f",
        .mac = "52:54:00:ab:cd:ef",
        .memory = 1ull << 30,
        .cpus_milli = 250,
        .disk_img = "/var/lib/kvz/containers/web/web1/disk.img",
        .network = &net,
        .metadata_xml = metadata,
    };
    build_and_read("disk-bridge", &def);
}

/* network: none must not mean "the host's network" */
static void test_no_network_is_private(void **state)
{
    struct kvz_network net = {KVZ_NET_NONE, NULL};
    struct kvz_ct_def def = {
        .name = "web1",
        .uuid = "0e1f3c52-9a4b-5c6d-8e7f-0a1b2c3d4e5f",
        .mac = "52:54:00:ab:cd:ef",
        .memory = 64ull << 20,
        .cpus_milli = 1000,
        .rootfs_dir = "/srv/a&b <odd>/rootfs",
        .network = &net,
        .metadata_xml = metadata,
    };
    build_and_read("no-network", &def);
}

static void test_bad_metadata(void **state)
{
    struct kvz_network net = {KVZ_NET_NONE, NULL};
    struct kvz_ct_def def = {.name = "web1",
                             .uuid = "0e1f3c52-9a4b-5c6d-8e7f-0a1b2c3d4e5f",
                             .mac = "52:54:00:ab:cd:ef",
                             .memory = 64ull << 20,
                             .cpus_milli = 1000,
                             .rootfs_dir = "/x",
                             .network = &net,
                             .metadata_xml = "<kvz:resource"};
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ct_xml_build(&xml, &def, &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "container 'web1': kvz metadata is not well-formed XML");
    assert_null(xml);
    kvz_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rootfs_dir_on_network),
        cmocka_unit_test(test_disk_on_bridge),
        cmocka_unit_test(test_no_network_is_private),
        cmocka_unit_test(test_bad_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
