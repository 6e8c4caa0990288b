/* Catalog parsers (store/catalog_aplinfo.c, store/catalog_sstreams.c), the choice of an entry,
 * and kvz.lock's format (planner/lockfile.c), against golden files under tests/data/. */
#include "base/buf.h"
#include "base/error.h"
#include "golden.h"
#include "planner/lockfile.h"
#include "store/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *dump(const struct kvz_catalog_index *idx)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    for (size_t i = 0; i < idx->n; i++) {
        const struct kvz_catalog_entry *e = &idx->v[i];
        kvz_buf_printf(&b, "%s %s %s %s %s:%s %llu %s aliases=%s description=%s\n", e->name,
                       e->version, e->arch, kvz_content_kind_str(e->kind),
                       e->digest ? kvz_digest_algo_str(e->algo) : "-", e->digest ? e->digest : "-",
                       (unsigned long long)e->size, e->url, e->aliases ? e->aliases : "-",
                       e->description ? e->description : "-");
    }
    return kvz_buf_detach(&b);
}

static char *data(const char *rel, size_t *len)
{
    char path[4096];
    kvz_test_data_path(path, sizeof(path), rel);
    char *s = kvz_test_slurp(path);
    assert_non_null(s);
    *len = strlen(s);
    return s;
}

static void golden(const char *rel, const char *got)
{
    char path[4096];
    kvz_test_data_path(path, sizeof(path), rel);
    kvz_test_golden(path, got);
}

static void test_aplinfo(void **state)
{
    struct kvz_catalog_index idx = {0};
    struct kvz_error *err = NULL;
    size_t len;
    char *s = data("catalog/aplinfo-pve.dat", &len);
    assert_int_equal(kvz_aplinfo_parse(&idx, s, len, "http://download.proxmox.com/images", &err),
                     0);
    char *got = dump(&idx);
    golden("catalog/aplinfo-pve.expected", got);
    /* the newest amd64 rootfs: 12.7-1, not 12.10-1 (arm64) */
    const struct kvz_catalog_entry *e;
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "pve", "debian-12-standard", KVZ_CONTENT_ROOTFS, "amd64", &err),
        0);
    assert_string_equal(e->version, "12.7-1");
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "pve", "debian-12-standard", KVZ_CONTENT_ROOTFS, "arm64", &err),
        0);
    assert_string_equal(e->version, "12.10-1");
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "pve", "debian-12-standard", KVZ_CONTENT_DISK, "amd64", &err),
        -1);
    assert_string_equal(kvz_error_msg(err),
                        "catalog 'pve': 'debian-12-standard' has no disk for amd64 (only rootfs "
                        "amd64, rootfs arm64); pick another entry");
    kvz_error_clear(&err);
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "pve", "debian-13", KVZ_CONTENT_ROOTFS, "amd64", &err), -1);
    assert_string_equal(
        kvz_error_msg(err),
        "catalog 'pve' has no entry 'debian-13'; list its entries with 'kvz templates search'");
    kvz_error_free(err);
    free(got);
    free(s);
    kvz_catalog_index_release(&idx);
}

static void test_aplinfo_bad(void **state)
{
    static const char *const cases[][2] = {
        {"catalog/aplinfo-bad-version.dat", "aplinfo: line 1: version 'latest' is not valid"},
        {"catalog/aplinfo-bad-type.dat", "aplinfo: line 1: unknown type 'docker'"},
        {"catalog/aplinfo-incomplete.dat", "aplinfo: line 1: incomplete record, it has no os:"},
        {"catalog/aplinfo-bad-sha.dat", "aplinfo: line 1: sha512sum is not 128 hex digits"},
        {"catalog/aplinfo-garbage.dat", "aplinfo: line 2: unable to parse appliance record"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kvz_catalog_index idx = {0};
        struct kvz_error *err = NULL;
        size_t len;
        char *s = data(cases[i][0], &len);
        assert_int_equal(kvz_aplinfo_parse(&idx, s, len, "http://x", &err), -1);
        assert_string_equal(kvz_error_msg(err), cases[i][1]);
        kvz_error_free(err);
        kvz_catalog_index_release(&idx);
        free(s);
    }
}

static void test_simplestreams(void **state)
{
    struct kvz_catalog_index idx = {0};
    struct kvz_error *err = NULL;
    size_t len;
    char *path = NULL, *s = data("catalog/index.json", &len);
    assert_int_equal(kvz_sstreams_parse_index(&path, s, len, &err), 0);
    assert_string_equal(path, "streams/v1/images.json");
    free(s);
    s = data("catalog/images.json", &len);
    assert_int_equal(
        kvz_sstreams_parse_products(&idx, s, len, "https://images.linuxcontainers.org", &err), 0);
    char *got = dump(&idx);
    golden("catalog/images.expected", got);
    const struct kvz_catalog_entry *e;
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "lxc", "debian/bookworm", KVZ_CONTENT_ROOTFS, "amd64", &err), 0);
    assert_string_equal(e->version, "20240301_05:24");
    assert_string_equal(e->name, "debian:bookworm:default");
    assert_int_equal(
        kvz_catalog_pick(&e, &idx, "lxc", "debian/bookworm/cloud", KVZ_CONTENT_DISK, "amd64", &err),
        0);
    assert_int_equal(e->kind, KVZ_CONTENT_DISK);
    assert_int_equal(e->size, 358088704);
    free(got);
    free(s);
    free(path);
    kvz_catalog_index_release(&idx);
    /* an index without image-downloads, and a products file with a bad sha256 */
    assert_int_equal(kvz_sstreams_parse_index(&path, "{\"index\": {}}", 13, &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "simplestreams index: no image-downloads products:1.0 entry");
    kvz_error_clear(&err);
    const char *bad = "{\"format\": \"products:1.0\", \"products\": {\"a:b:amd64:c\": {\"arch\": "
                      "\"amd64\", \"versions\": {\"1\": {\"items\": {\"r\": {\"ftype\": "
                      "\"root.tar.xz\", \"path\": \"x/rootfs.tar.xz\", \"sha256\": \"zz\"}}}}}}}";
    assert_int_equal(kvz_sstreams_parse_products(&idx, bad, strlen(bad), "http://x", &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "simplestreams: product 'a:b:amd64:c' version '1': item "
                        "'x/rootfs.tar.xz' has no valid sha256");
    kvz_error_free(err);
    kvz_catalog_index_release(&idx);
}

static void test_version_cmp(void **state)
{
    assert_true(kvz_version_cmp("12.10-1", "12.7-1") > 0);
    assert_true(kvz_version_cmp("12.7-1", "12.7-2") < 0);
    assert_true(kvz_version_cmp("1.0~rc1", "1.0") < 0);
    assert_true(kvz_version_cmp("20240301_05:24", "20240101_05:24") > 0);
    assert_int_equal(kvz_version_cmp("1.01", "1.1"), 0);
    assert_true(kvz_version_cmp("1.0a", "1.0") > 0);
}

static void test_lockfile_golden(void **state)
{
    struct kvz_lockfile lf = {0}, back = {0};
    struct kvz_error *err = NULL;
    char sha512[136], sha256[72];
    snprintf(sha512, sizeof(sha512), "sha512:%0128d", 7);
    snprintf(sha256, sizeof(sha256), "sha256:%064d", 3);
    /* added out of order: written sorted */
    struct kvz_lock_entry cloud = {.name = "debian12-cloud",
                                   .checksums = "https://cloud.debian.org/images/cloud/bookworm/"
                                                "latest/SHA512SUMS",
                                   .url = "https://cloud.debian.org/images/cloud/bookworm/latest/"
                                          "debian-12-genericcloud-amd64.qcow2",
                                   .digest = sha512};
    struct kvz_lock_entry ct = {.name = "debian12-ct",
                                .catalog = "proxmox",
                                .entry = "debian-12-standard",
                                .url = "http://download.proxmox.com/images/system/"
                                       "debian-12-standard_12.7-1_amd64.tar.zst",
                                .digest = sha512,
                                .version = "12.7-1"};
    struct kvz_lock_entry lxc = {.name = "alpine",
                                 .catalog = "lxc",
                                 .entry = "alpine/3.20",
                                 .url = "https://***:***@images.example.org/images/alpine/3.20/"
                                        "amd64/default/20240601_13:00/rootfs.tar.xz",
                                 .digest = sha256,
                                 .version = "20240601_13:00",
                                 .size = 3080192};
    assert_int_equal(kvz_lockfile_set(&lf, &ct), 0);
    assert_int_equal(kvz_lockfile_set(&lf, &cloud), 0);
    assert_int_equal(kvz_lockfile_set(&lf, &lxc), 0);
    char *text = kvz_lockfile_format(&lf);
    golden("lock/three.lock", text);
    /* read back: the same text */
    assert_int_equal(kvz_lockfile_parse(&back, text, strlen(text), "kvz.lock", &err), 0);
    char *again = kvz_lockfile_format(&back);
    assert_string_equal(text, again);
    free(text);
    free(again);
    kvz_lockfile_release(&lf);
    kvz_lockfile_release(&back);
}

static void test_lockfile_bad(void **state)
{
    static const char *const cases[] = {"not-json", "wrong-format", "bad-digest", "both-sources"};
    struct kvz_buf got = KVZ_BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rel[128], path[4096];
        struct kvz_lockfile lf = {0};
        struct kvz_error *err = NULL;
        snprintf(rel, sizeof(rel), "lock/bad/%s.lock", cases[i]);
        kvz_test_data_path(path, sizeof(path), rel);
        assert_int_equal(kvz_lockfile_read(&lf, path, &err), -1);
        const char *msg = kvz_error_msg(err), *at = strstr(msg, cases[i]);
        kvz_buf_printf(&got, "%s: %s\n", cases[i], at ? at : msg);
        kvz_error_free(err);
    }
    golden("lock/bad/expected", kvz_buf_cstr(&got));
    kvz_buf_release(&got);
    /* a missing lockfile is no error: 0 */
    struct kvz_lockfile lf = {0};
    assert_int_equal(kvz_lockfile_read(&lf, "/nonexistent/kvz.lock", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aplinfo),         cmocka_unit_test(test_aplinfo_bad),
        cmocka_unit_test(test_simplestreams),   cmocka_unit_test(test_version_cmp),
        cmocka_unit_test(test_lockfile_golden), cmocka_unit_test(test_lockfile_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
