#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/units.h"

#include <string.h>

static void size_ok(const char *s, uint64_t want)
{
    uint64_t got = 1;
    char why[256] = "";
    if (kvz_size_parse(&got, s, why, sizeof(why)) != 0)
        fail_msg("'%s' refused: %s", s, why);
    if (got != want)
        fail_msg("'%s' = %llu, want %llu", s, (unsigned long long)got, (unsigned long long)want);
}

static void size_bad(const char *s, const char *msg)
{
    uint64_t got = 1;
    char why[256] = "";
    if (kvz_size_parse(&got, s, why, sizeof(why)) == 0)
        fail_msg("'%s' accepted as %llu", s, (unsigned long long)got);
    assert_int_equal(got, 0);
    if (strcmp(why, msg))
        fail_msg("'%s': got \"%s\", want \"%s\"", s, why, msg);
}

static void test_size_units(void **state)
{
    size_ok("1B", 1);
    size_ok("1KiB", 1024);
    size_ok("512MiB", 512ull << 20);
    size_ok("2GiB", 2ull << 30);
    size_ok("3TiB", 3ull << 40);
    size_ok("1K", 1024);
    size_ok("1M", 1ull << 20);
    size_ok("1G", 1ull << 30);
    size_ok("1T", 1ull << 40);
    size_ok("64 MiB", 64ull << 20);
    size_ok("+8GiB", 8ull << 30);
    size_ok("0512MiB", 512ull << 20);
}

static void test_size_fractions(void **state)
{
    size_ok("1.5GiB", 3ull << 29);
    size_ok("0.5KiB", 512);
    size_ok("2.000MiB", 2ull << 20);
    size_ok(".25GiB", 1ull << 28);
    size_bad("0.5B", "size '0.5B' is not a whole number of bytes; use a smaller unit or fewer "
                     "decimals");
    size_bad("1.3KiB", "size '1.3KiB' is not a whole number of bytes; use a smaller unit or "
                       "fewer decimals");
}

static void test_size_limits(void **state)
{
    size_ok("8388607TiB", 8388607ull << 40);
    size_ok("9223372036854775807B", 9223372036854775807ull);
    size_bad("9223372036854775808B",
             "size '9223372036854775808B' is too large; the largest size is 8388607TiB");
    size_bad("8388608TiB", "size '8388608TiB' is too large; the largest size is 8388607TiB");
    size_bad("99999999999999999999999B",
             "size '99999999999999999999999B' is too large; the largest size is 8388607TiB");
}

static void test_size_errors(void **state)
{
    size_bad("512", "size '512' has no unit (did you mean 512MiB?)");
    size_bad("20", "size '20' has no unit (did you mean 20GiB?)");
    size_bad("536870912", "size '536870912' has no unit (did you mean 536870912B?)");
    size_bad("0", "size '0' is zero; give a positive size like 512MiB");
    size_bad("0GiB", "size '0GiB' is zero; give a positive size like 512MiB");
    size_bad("-1GiB", "size '-1GiB' is negative; write a positive size like 512MiB");
    size_bad("2GB", "unknown size unit 'GB' in '2GB' (did you mean 'GiB'?); units are B, KiB, "
                    "MiB, GiB, TiB");
    size_bad("2mib", "unknown size unit 'mib' in '2mib' (did you mean 'MiB'?); units are B, KiB, "
                     "MiB, GiB, TiB");
    size_bad("lots", "'lots' is not a size; write a number and a unit like 512MiB or 20GiB");
    size_bad("", "'' is not a size; write a number and a unit like 512MiB or 20GiB");
    size_bad("1e3MiB", "unknown size unit 'e3MiB' in '1e3MiB'; units are B, KiB, MiB, GiB, TiB");
}

static void cpus_ok(const char *s, bool whole, uint32_t want)
{
    uint32_t got = 0;
    char why[256] = "";
    if (kvz_cpus_parse(&got, s, "cpus", whole, why, sizeof(why)) != 0)
        fail_msg("'%s' refused: %s", s, why);
    assert_int_equal(got, want);
}

static void cpus_bad(const char *s, bool whole, const char *msg)
{
    uint32_t got = 7;
    char why[256] = "";
    if (kvz_cpus_parse(&got, s, "cpus", whole, why, sizeof(why)) == 0)
        fail_msg("'%s' accepted as %u", s, got);
    if (strcmp(why, msg))
        fail_msg("'%s': got \"%s\", want \"%s\"", s, why, msg);
}

static void test_cpus(void **state)
{
    cpus_ok("1", false, 1000);
    cpus_ok("1.5", false, 1500);
    cpus_ok("0.25", false, 250);
    cpus_ok("0.001", false, 1);
    cpus_ok("2.500", false, 2500);
    cpus_ok("03", false, 3000);
}

static void test_cpus_whole_and_errors(void **state)
{
    cpus_ok("8", true, 8000);
    cpus_ok("2.0", true, 2000);
    cpus_ok("1024", true, 1024000);
    cpus_bad("1.5", true,
             "cpus '1.5' is not a whole number; a vm has whole vCPUs (a container can have a "
             "fraction)");
    cpus_bad("0", false, "cpus '0' is zero; give at least 0.001");
    cpus_bad("0", true, "cpus '0' is zero; give at least 1");
    cpus_bad("-2", false, "cpus '-2' is negative; write a positive count like 2");
    cpus_bad("1.2345", false, "cpus '1.2345' has more than 3 decimals; round it, e.g. to 1.25");
    cpus_bad("1025", false, "cpus '1025' is more than 1024; give a smaller count");
    cpus_bad("99999999999999999999", false,
             "cpus '99999999999999999999' is more than 1024; give a smaller count");
    cpus_bad("two", false, "cpus 'two' is not a number; write a count like 2 or 1.5");
    cpus_bad("2 ", true, "cpus '2 ' is not a number; write a count like 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_units),  cmocka_unit_test(test_size_fractions),
        cmocka_unit_test(test_size_limits), cmocka_unit_test(test_size_errors),
        cmocka_unit_test(test_cpus),        cmocka_unit_test(test_cpus_whole_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
