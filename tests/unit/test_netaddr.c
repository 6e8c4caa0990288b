#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/netaddr.h"

#include <string.h>

/* IPv4 addresses and subnets: what the manifest may say, and what a subnet gives out. */

static void test_ipv4(void **state)
{
    uint32_t a;
    char s[KVZ_IPV4_STR];
    assert_int_equal(kvz_ipv4_parse(&a, "10.77.0.10"), 0);
    assert_int_equal(a, 0x0a4d000a);
    kvz_ipv4_format(s, a);
    assert_string_equal(s, "10.77.0.10");
    kvz_ipv4_format(s, 0xffffffff);
    assert_string_equal(s, "255.255.255.255");
    static const char *const bad[] = {"10.77.0",    "10.77.0.256", "010.77.0.1",
                                      "10.77.0.1 ", "0x0a.1.1.1",  "",
                                      "10..0.1",    "fd00::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kvz_ipv4_parse(&a, bad[i]), -1);
    assert_true(kvz_ip_is_v6("fd00::1"));
    assert_false(kvz_ip_is_v6("10.0.0.1"));
}

static void test_subnet(void **state)
{
    struct kvz_subnet sn;
    char why[256], s[KVZ_SUBNET_STR];
    assert_int_equal(kvz_subnet_parse(&sn, "10.77.0.0/24", why, sizeof(why)), 0);
    assert_int_equal(sn.addr, 0x0a4d0000);
    assert_int_equal(sn.prefix, 24);
    kvz_subnet_format(s, &sn);
    assert_string_equal(s, "10.77.0.0/24");
    assert_int_equal(kvz_subnet_netmask(&sn), 0xffffff00);
    assert_int_equal(kvz_subnet_gateway(&sn), 0x0a4d0001);
    assert_int_equal(kvz_subnet_broadcast(&sn), 0x0a4d00ff);
    uint32_t lo, hi;
    kvz_subnet_range(&sn, &lo, &hi);
    assert_int_equal(lo, 0x0a4d0002);
    assert_int_equal(hi, 0x0a4d00fe);
    assert_true(kvz_subnet_contains(&sn, 0x0a4d0080));
    assert_false(kvz_subnet_contains(&sn, 0x0a4e0001));

    /* the smallest: gateway and one guest */
    assert_int_equal(kvz_subnet_parse(&sn, "10.77.0.4/30", why, sizeof(why)), 0);
    kvz_subnet_range(&sn, &lo, &hi);
    assert_int_equal(lo, hi);
    assert_int_equal(lo, 0x0a4d0006);

    assert_int_equal(kvz_subnet_parse(&sn, "10.77.0.5/24", why, sizeof(why)), -1);
    assert_string_equal(why, "is not a network address (host bits are set); write 10.77.0.0/24");
    assert_int_equal(kvz_subnet_parse(&sn, "10.77.0.0/31", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "has prefix /31; use /8 to /30"));
    assert_int_equal(kvz_subnet_parse(&sn, "10.0.0.0/7", why, sizeof(why)), -1);
    static const char *const bad[] = {"10.77.0.0",    "10.77.0.0/", "10.77.0.0/033", "10.77.0.0/33",
                                      "10.77.0.0/2x", "/24",        "10.77.0/24"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kvz_subnet_parse(&sn, bad[i], why, sizeof(why)), -1);
}

static void test_overlap(void **state)
{
    struct kvz_subnet a = {0x0a4d0000, 24}, b = {0x0a4d0080, 25}, c = {0x0a4e0000, 24},
                      wide = {0x0a000000, 8};
    assert_true(kvz_subnet_overlap(&a, &b));
    assert_true(kvz_subnet_overlap(&b, &a));
    assert_false(kvz_subnet_overlap(&a, &c));
    assert_true(kvz_subnet_overlap(&wide, &c));
    assert_true(kvz_subnet_overlap(&c, &wide));
}

static void test_cidr(void **state)
{
    uint32_t a;
    unsigned p;
    /* libvirt's definitions hold the gateway with its prefix */
    assert_int_equal(kvz_cidr_parse(&a, &p, "192.168.122.1/24"), 0);
    assert_int_equal(a, 0xc0a87a01);
    assert_int_equal(p, 24);
    assert_int_equal(kvz_cidr_parse(&a, &p, "10.0.0.1/0"), 0);
    assert_int_equal(p, 0);
    assert_int_equal(kvz_cidr_parse(&a, &p, "10.0.0.1"), -1);
    struct kvz_subnet sn = kvz_subnet_of(0xc0a87a01, 24);
    assert_int_equal(sn.addr, 0xc0a87a00);
    assert_int_equal(kvz_subnet_gateway(&sn), 0xc0a87a01);
    sn = kvz_subnet_of(0x0a000001, 0);
    assert_int_equal(sn.addr, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_subnet),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
