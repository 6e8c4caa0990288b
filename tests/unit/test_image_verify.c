#include "base/error.h"
#include "store/verify.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define H64A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H64B "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

static void test_hasher_known_vectors(void **state)
{
    struct kvz_hasher h;
    char a[65], b[129];
    assert_int_equal(kvz_hasher_init(&h, KVZ_DIGEST_SHA512, NULL), 0);
    /* streamed in pieces, as a download arrives */
    assert_int_equal(kvz_hasher_update(&h, "te", 2, NULL), 0);
    assert_int_equal(kvz_hasher_update(&h, "st", 2, NULL), 0);
    assert_int_equal(kvz_hasher_final(a, b, &h, NULL), 0);
    assert_string_equal(a, H64A);
    assert_string_equal(b, "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac1"
                           "85f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff");
    /* a restart forgets what came before */
    assert_int_equal(kvz_hasher_reset(&h, NULL), 0);
    assert_int_equal(kvz_hasher_update(&h, "foo", 3, NULL), 0);
    assert_int_equal(kvz_hasher_final(a, b, &h, NULL), 0);
    assert_string_equal(a, H64B);
    kvz_hasher_release(&h);
}

static void find(const char *sums, const char *name, enum kvz_digest_algo algo, const char *hex)
{
    enum kvz_digest_algo got_algo;
    char *got = NULL;
    struct kvz_error *err = NULL;
    if (kvz_sums_find(&got_algo, &got, sums, strlen(sums), name, &err) < 0)
        fail_msg("%s", kvz_error_msg(err));
    assert_int_equal(got_algo, algo);
    assert_string_equal(got, hex);
    free(got);
}

static void find_fails(const char *sums, const char *name, const char *needle)
{
    enum kvz_digest_algo algo;
    char *got = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_sums_find(&algo, &got, sums, strlen(sums), name, &err), -1);
    assert_null(got);
    if (!strstr(kvz_error_msg(err), needle))
        fail_msg("'%s' lacks '%s'", kvz_error_msg(err), needle);
    kvz_error_free(err);
}

static void test_sums_gnu_format(void **state)
{
    const char *sums =
        "# Debian cloud images\r\n"
        "\n" H64A "  debian-12-generic-amd64.qcow2\r\n" H64B " *debian-12-generic-amd64.raw\n"
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08  ./up.iso\n"
        "SHA256 (bsd-style.img) = " H64A "\n";
    find(sums, "debian-12-generic-amd64.qcow2", KVZ_DIGEST_SHA256, H64A);
    find(sums, "debian-12-generic-amd64.raw", KVZ_DIGEST_SHA256, H64B);
    find(sums, "up.iso", KVZ_DIGEST_SHA256, H64A); /* lowercased */
    find_fails(sums, "debian-12-generic-amd64", "no line for 'debian-12-generic-amd64'");
    find_fails(sums, "bsd-style.img", "no line");
    find(H64A H64A "  big.img\n", "big.img", KVZ_DIGEST_SHA512, H64A H64A);
}

static void test_sums_conflicts_and_junk(void **state)
{
    find_fails(H64A "  a.img\n" H64B "  a.img\n", "a.img", "listed twice");
    find(H64A "  a.img\n" H64A " *a.img\n", "a.img", KVZ_DIGEST_SHA256, H64A);
    find_fails("abcd  a.img\n", "a.img", "not 64 or 128 hex digits");
    find_fails("", "a.img", "no line");
    /* a name that only shares a prefix or suffix is another file */
    find_fails(H64A "  a.img.sig\n" H64A "  xa.img\n", "a.img", "no line");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hasher_known_vectors),
        cmocka_unit_test(test_sums_gnu_format),
        cmocka_unit_test(test_sums_conflicts_and_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
