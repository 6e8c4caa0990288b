#include "store/detect.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_magic(void **state)
{
    static unsigned char b[0x9000];
    assert_int_equal(kvz_magic_detect("\x1f\x8b\x08", 3), KVZ_MAGIC_GZIP);
    assert_int_equal(kvz_magic_detect("\xfd"
                                      "7zXZ\0\0",
                                      7),
                     KVZ_MAGIC_XZ);
    assert_int_equal(kvz_magic_detect("\x28\xb5\x2f\xfd\0", 5), KVZ_MAGIC_ZSTD);
    assert_int_equal(kvz_magic_detect("BZh9", 4), KVZ_MAGIC_BZIP2);
    assert_int_equal(kvz_magic_detect("BZhx", 4), KVZ_MAGIC_UNKNOWN);
    assert_int_equal(kvz_magic_detect("QFI\xfb\0\0\0\3", 8), KVZ_MAGIC_QCOW2);
    memset(b, 0, sizeof(b));
    memcpy(b + 257,
           "ustar\0"
           "00",
           8);
    assert_int_equal(kvz_magic_detect(b, 512), KVZ_MAGIC_TAR);
    assert_int_equal(kvz_magic_detect(b, 200), KVZ_MAGIC_UNKNOWN); /* too short to tell */
    memset(b, 0, sizeof(b));
    memcpy(b + 0x8000, "\1CD001\1", 7);
    assert_int_equal(kvz_magic_detect(b, sizeof(b)), KVZ_MAGIC_ISO);
    assert_int_equal(kvz_magic_detect(b, 0x8003), KVZ_MAGIC_UNKNOWN);
    assert_int_equal(kvz_magic_detect("", 0), KVZ_MAGIC_UNKNOWN);
    assert_string_equal(kvz_magic_str(KVZ_MAGIC_ZSTD), "zstd");
    assert_true(kvz_magic_is_compression(KVZ_MAGIC_BZIP2));
    assert_false(kvz_magic_is_compression(KVZ_MAGIC_QCOW2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_magic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
