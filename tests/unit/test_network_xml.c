#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "providers/network/network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * libvirt network XML: what kvz defines for each mode (golden files
 * tests/data/network/<case>.xml, KVZ_REGEN=1 rewrites them), and what observe reads back,
 * also from a running network's XML as libvirt shows it.
 */

static const char metadata[] =
    "<kvz:resource xmlns:kvz=\"https://kvz.dev/xmlns/domain/1\"><kvz:stack>web</kvz:stack>"
    "<kvz:kind>network</kvz:kind><kvz:protect>true</kvz:protect></kvz:resource>";

static void golden(const char *name, const char *got)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof(rel), "network/%s.xml", name);
    kvz_test_data_path(path, sizeof(path), rel);
    kvz_test_golden(path, got);
}

/* Builds `s`, compares with the golden file, reads it back and checks it says `s` again. */
static void roundtrip(const char *name, const char *uuid, const struct kvz_net_spec *s)
{
    char *xml = NULL;
    struct kvz_error *err = NULL;
    struct kvz_ownership *own = NULL;
    assert_int_equal(kvz_net_xml_build(&xml, "lan", uuid, s, "web", metadata, &err), 0);
    golden(name, xml);
    struct kvz_observed_resource r = {0};
    assert_int_equal(kvz_net_xml_parse(&r, &own, xml, &err), 0);
    assert_non_null(own);
    assert_int_equal(own->kind, KVZ_KIND_NETWORK);
    assert_string_equal(own->stack, "web");
    assert_true(own->protect);
    assert_int_equal(r.netspec.mode, s->mode);
    if (s->mode == KVZ_NET_MODE_BRIDGE) {
        assert_string_equal(r.netspec.bridge, s->bridge);
        assert_null(r.netspec.subnet);
    } else {
        assert_string_equal(r.netspec.subnet, s->subnet);
        assert_int_equal(r.netspec.dhcp, s->dhcp);
        assert_int_equal(r.netspec.dns, s->dns);
    }
    assert_int_equal(r.netspec.n_leases, s->n_leases);
    for (size_t i = 0; i < s->n_leases; i++) {
        char mac[18];
        kvz_identity_mac(mac, "web", s->leases[i].guest);
        assert_string_equal(r.netspec.leases[i].guest, s->leases[i].guest);
        assert_string_equal(r.netspec.leases[i].ip, s->leases[i].ip);
        assert_string_equal(r.netspec.leases[i].mac, mac);
    }
    kvz_ownership_free(own);
    kvz_observed_resource_release(&r);
    free(xml);
}

static struct kvz_lease leases[] = {{"db1", NULL, "10.77.0.20"}, {"web1", NULL, "10.77.0.10"}};

static void test_nat(void **state)
{
    struct kvz_net_spec s = {KVZ_NET_MODE_NAT, "10.77.0.0/24", true, true, NULL, leases, 2};
    roundtrip("nat", NULL, &s);
}

static void test_isolated_static_only(void **state)
{
    /* dhcp: false keeps the static leases: libvirt runs dnsmasq for them alone */
    struct kvz_lease one = {"cache", NULL, "10.78.0.14"};
    struct kvz_net_spec s = {KVZ_NET_MODE_ISOLATED, "10.78.0.0/28", false, false, NULL, &one, 1};
    roundtrip("isolated", "8154d9bd-a2c6-4183-9c29-54b8588e7881", &s);
}

static void test_routed_without_leases(void **state)
{
    struct kvz_net_spec s = {KVZ_NET_MODE_ROUTED, "10.79.0.0/16", true, true, NULL, NULL, 0};
    roundtrip("routed", NULL, &s);
}

static void test_bridge(void **state)
{
    struct kvz_net_spec s = {KVZ_NET_MODE_BRIDGE, NULL, true, true, "br0", NULL, 0};
    roundtrip("bridge", NULL, &s);
}

static void test_bad_spec(void **state)
{
    char *xml = NULL;
    struct kvz_error *err = NULL;
    struct kvz_net_spec s = {KVZ_NET_MODE_NAT, "10.77.0.5/24", true, true, NULL, NULL, 0};
    assert_int_equal(kvz_net_xml_build(&xml, "lan", NULL, &s, "web", NULL, &err), -1);
    assert_string_equal(kvz_error_msg(err), "network 'lan': subnet '10.77.0.5/24' is not valid");
    assert_null(xml);
    kvz_error_free(err);
}

/* A running network as `virsh net-dumpxml` shows it: libvirt's own additions, a netmask
 * instead of a prefix, an IPv6 address kvz leaves alone, no kvz metadata. */
static void test_parse_running(void **state)
{
    static const char xml[] =
        "<network connections='2'><name>default</name>"
        "<uuid>9f5cd2c6-aed9-4897-b9c7-b4973812fe3e</uuid>"
        "<forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>"
        "<bridge name='virbr0' stp='on' delay='0'/><mac address='52:54:00:76:24:8b'/>"
        "<ip family='ipv6' address='fd00::1' prefix='64'/>"
        "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
        "<range start='192.168.122.2' end='192.168.122.254'/>"
        "<host mac='52:54:00:aa:bb:01' name='c1' ip='192.168.122.10'/>"
        "<host mac='52:54:00:aa:bb:02' ip='192.168.122.11'/>"
        "</dhcp></ip></network>";
    struct kvz_observed_resource r = {0};
    struct kvz_ownership *own = (void *)1;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_net_xml_parse(&r, &own, xml, &err), 0);
    assert_null(own);
    assert_int_equal(r.netspec.mode, KVZ_NET_MODE_NAT);
    assert_string_equal(r.netspec.subnet, "192.168.122.0/24");
    assert_string_equal(r.netspec.bridge, "virbr0");
    assert_true(r.netspec.dhcp);
    assert_true(r.netspec.dns);
    assert_int_equal(r.netspec.n_leases, 2);
    assert_string_equal(r.netspec.leases[0].guest, "c1");
    assert_string_equal(r.netspec.leases[0].mac, "52:54:00:aa:bb:01");
    assert_null(r.netspec.leases[1].guest);
    assert_string_equal(r.netspec.leases[1].ip, "192.168.122.11");
    kvz_observed_resource_release(&r);

    /* a gateway moved by hand shows as written, so the plan sees a different subnet */
    static const char moved[] = "<network><name>x</name><dns enable='no'/>"
                                "<forward mode='open'/><ip address='10.77.0.254' prefix='24'/>"
                                "</network>";
    assert_int_equal(kvz_net_xml_parse(&r, NULL, moved, &err), 0);
    assert_string_equal(r.netspec.subnet, "10.77.0.254/24");
    assert_int_equal(r.netspec.mode, KVZ_NET_MODE_OTHER);
    assert_false(r.netspec.dns);
    assert_false(r.netspec.dhcp);
    kvz_observed_resource_release(&r);

    assert_int_equal(kvz_net_xml_parse(&r, NULL, "<domain/>", &err), -1);
    kvz_error_free(err);
    kvz_observed_resource_release(&r);
}

static void test_update_elements(void **state)
{
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_net_host_xml(&xml, "52:54:00:aa:bb:01", "web1", "10.77.0.10", &err), 0);
    assert_string_equal(xml, "<host mac=\"52:54:00:aa:bb:01\" name=\"web1\" ip=\"10.77.0.10\"/>\n");
    free(xml);
    assert_int_equal(kvz_net_host_xml(&xml, "52:54:00:aa:bb:01", NULL, NULL, &err), 0);
    assert_string_equal(xml, "<host mac=\"52:54:00:aa:bb:01\"/>\n");
    free(xml);
    assert_int_equal(kvz_net_range_xml(&xml, "10.77.0.0/24", &err), 0);
    assert_string_equal(xml, "<range start=\"10.77.0.2\" end=\"10.77.0.254\"/>\n");
    free(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nat),
        cmocka_unit_test(test_isolated_static_only),
        cmocka_unit_test(test_routed_without_leases),
        cmocka_unit_test(test_bridge),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_parse_running),
        cmocka_unit_test(test_update_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
