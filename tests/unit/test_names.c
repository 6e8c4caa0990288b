#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/manifest.h"
#include "parser/names.h"
#include "parser/template_url.h"

#include <stdlib.h>
#include <string.h>

static void test_name_valid(void **state)
{
    assert_true(kvz_name_valid("web1"));
    assert_true(kvz_name_valid("0"));
    assert_true(kvz_name_valid("a-b-c"));
    assert_true(kvz_name_valid("web-"));
    char max[64];
    memset(max, 'a', 63);
    max[63] = '\0';
    assert_true(kvz_name_valid(max));
}

static void test_name_escapes_refused(void **state)
{
    static const char *const bad[] = {
        "",     "..",  "../etc", "a/b", "/",      ".hidden", "-web", "Web",   "web_1",
        "web.", "a b", "web\n",  "wéb", "web\t1", "~root",   "a\\b", "$(id)", "web;rm",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kvz_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    char long_name[65];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_false(kvz_name_valid(long_name));
    assert_false(kvz_name_valid(NULL));
}

static void problem(const char *s, const char *why, const char *fix)
{
    char got_fix[64];
    const char *got = kvz_name_problem(s, got_fix, sizeof(got_fix));
    assert_string_equal(got, why);
    assert_string_equal(got_fix, fix);
}

static void test_name_problem_and_fix(void **state)
{
    problem("../etc", "must not contain '..'", "etc");
    problem("a/b", "must not contain '/'", "a-b");
    problem("Web_1", "has characters other than lowercase letters, digits and '-'", "web-1");
    problem("-web", "must start with a lowercase letter or a digit", "web");
    problem("", "is empty", "");
    problem("wéb", "has characters other than lowercase letters, digits and '-'", "");
    problem("___", "must start with a lowercase letter or a digit", "");
}

static void test_hostname(void **state)
{
    assert_true(kvz_hostname_valid("web1"));
    assert_true(kvz_hostname_valid("Web1.Example.org"));
    assert_false(kvz_hostname_valid(""));
    assert_false(kvz_hostname_valid("-web"));
    assert_false(kvz_hostname_valid("web-"));
    assert_false(kvz_hostname_valid("a..b"));
    assert_false(kvz_hostname_valid("web_1"));
    assert_false(kvz_hostname_valid("web.example."));
}

static void test_network_and_bridge_names(void **state)
{
    assert_true(kvz_netname_valid("default"));
    assert_true(kvz_netname_valid("lan_2.int"));
    assert_false(kvz_netname_valid(".hidden"));
    assert_false(kvz_netname_valid("a/b"));
    assert_false(kvz_netname_valid("bad name"));
    assert_true(kvz_bridge_valid("br0"));
    assert_true(kvz_bridge_valid("virbr0-nic"));
    assert_false(kvz_bridge_valid("averyveryverylongbridge"));
    assert_false(kvz_bridge_valid(".."));
    assert_false(kvz_bridge_valid("br0/x"));
}

static void test_url_content_kind(void **state)
{
    static const struct {
        const char *url;
        enum kvz_content_kind kind;
    } cases[] = {
        {"https://h/debian.tar", KVZ_CONTENT_ROOTFS},
        {"https://h/debian.tar.gz", KVZ_CONTENT_ROOTFS},
        {"https://h/debian.TGZ", KVZ_CONTENT_ROOTFS},
        {"https://h/debian.tar.xz?sig=1", KVZ_CONTENT_ROOTFS},
        {"https://h/debian.tar.zst#frag", KVZ_CONTENT_ROOTFS},
        {"/srv/debian.tar.bz2", KVZ_CONTENT_ROOTFS},
        {"https://h/d.qcow2", KVZ_CONTENT_DISK},
        {"https://h/d.img", KVZ_CONTENT_DISK},
        {"https://h/d.raw.xz", KVZ_CONTENT_DISK},
        {"https://h/d.qcow2.zst", KVZ_CONTENT_DISK},
        {"https://h/d.img.gz", KVZ_CONTENT_DISK},
        {"https://h/d.raw.bz2", KVZ_CONTENT_DISK},
        {"file:///srv/win.iso", KVZ_CONTENT_ISO},
        {"https://h/download?id=3", KVZ_CONTENT_UNKNOWN},
        {"https://h/tar", KVZ_CONTENT_UNKNOWN},
        {"https://h/x.iso.gz", KVZ_CONTENT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (kvz_url_content_kind(cases[i].url) != cases[i].kind)
            fail_msg("%s: got %s", cases[i].url,
                     kvz_content_kind_str(kvz_url_content_kind(cases[i].url)));
    assert_string_equal(kvz_content_kind_str(KVZ_CONTENT_ROOTFS), "rootfs");
    assert_string_equal(kvz_content_kind_str(KVZ_CONTENT_UNKNOWN), "unknown");
}

static void test_url_arch_and_scheme(void **state)
{
    if (!kvz_host_arch() || strcmp(kvz_host_arch(), "amd64"))
        skip();
    assert_string_equal(kvz_url_foreign_arch("https://h/debian-12-standard_12.7-1_arm64.tar.zst"),
                        "arm64");
    assert_string_equal(kvz_url_foreign_arch("https://h/alpine-3.20-aarch64.tar.gz"), "aarch64");
    assert_string_equal(kvz_url_foreign_arch("https://h/x-armhf.tar"), "armhf");
    assert_string_equal(kvz_url_foreign_arch("https://h/x_i386.tar"), "i386");
    assert_string_equal(kvz_url_foreign_arch("https://h/x-s390x.tar"), "s390x");
    assert_string_equal(kvz_url_foreign_arch("https://h/x-riscv64.tar"), "riscv64");
    assert_null(kvz_url_foreign_arch("https://h/x_amd64.tar"));
    assert_null(kvz_url_foreign_arch("https://h/x-x86_64.tar"));
    assert_null(kvz_url_foreign_arch("https://h/arm64/rootfs.tar")); /* only the file name */
    assert_null(kvz_url_foreign_arch("https://h/farm64.tar"));
    assert_int_equal(kvz_url_scheme("https://h/x"), KVZ_URL_HTTPS);
    assert_int_equal(kvz_url_scheme("HTTP://h/x"), KVZ_URL_HTTP);
    assert_int_equal(kvz_url_scheme("file:///x"), KVZ_URL_FILE);
    assert_int_equal(kvz_url_scheme("rel/x.tar"), KVZ_URL_PATH);
    assert_int_equal(kvz_url_scheme("file://x"), KVZ_URL_BAD);
    assert_int_equal(kvz_url_scheme("ftp://h/x"), KVZ_URL_BAD);
    assert_int_equal(kvz_url_scheme("https:///x"), KVZ_URL_BAD);
}

static void test_url_redact(void **state)
{
    static const char *const cases[][2] = {
        {"https://me:s3cret@h.example/x.tar?token=abc", "https://***@h.example/x.tar?token=***"},
        {"https://TOKEN@h/x", "https://***@h/x"},
        {"http://u:p@127.0.0.1:8080", "http://***@127.0.0.1:8080"},
        {"https://h/x?a=1&b=&c;d=2#frag", "https://h/x?a=***&b=&***;d=***#frag"},
        {"https://h/a@b/x.tar", "https://h/a@b/x.tar"}, /* '@' in the path is no userinfo */
        {"https://u:p%40x@h/x?X-Amz-Signature=ff", "https://***@h/x?X-Amz-Signature=***"},
        {"https://u:p@h?q=1", "https://***@h?q=***"},
        {"https://h/x.tar", "https://h/x.tar"},
        {"file:///srv/x.tar", "file:///srv/x.tar"},
        {"/srv/a@b/x.tar", "/srv/a@b/x.tar"},
        {"git+https://u:tok@git.example/infra.git", "git+https://***@git.example/infra.git"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = kvz_url_redact(cases[i][0]);
        assert_non_null(got);
        if (strcmp(got, cases[i][1]))
            fail_msg("'%s' redacted as '%s', want '%s'", cases[i][0], got, cases[i][1]);
        free(got);
    }
}

static void test_hex_digest(void **state)
{
    char d[] = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789";
    assert_true(kvz_hex_digest_normalize(d, 64));
    assert_string_equal(d, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    char shortd[] = "abc";
    assert_false(kvz_hex_digest_normalize(shortd, 64));
    char nothex[] = "zz";
    assert_false(kvz_hex_digest_normalize(nothex, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_name_escapes_refused),
        cmocka_unit_test(test_name_problem_and_fix),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_network_and_bridge_names),
        cmocka_unit_test(test_url_content_kind),
        cmocka_unit_test(test_url_arch_and_scheme),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_hex_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
