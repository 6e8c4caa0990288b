#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parser/spec_digest.h"
#include "providers/vm/vm.h"
#include "tests/unit/golden.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The NoCloud seed read back with libarchive, as cloud-init would see it. */

struct files {
    char *meta, *user;
    int n;
};

static void read_iso(struct files *f, const unsigned char *iso, size_t len)
{
    memset(f, 0, sizeof(*f));
    struct archive *a = archive_read_new();
    archive_read_support_format_iso9660(a);
    assert_int_equal(archive_read_open_memory(a, iso, len), ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        f->n++;
        size_t size = (size_t)archive_entry_size(e);
        char *data = calloc(1, size + 1);
        assert_int_equal(archive_read_data(a, data, size), (la_ssize_t)size);
        if (!strcmp(name, "meta-data"))
            f->meta = data;
        else if (!strcmp(name, "user-data"))
            f->user = data;
        else
            fail_msg("unexpected file '%s' in the seed", name);
    }
    archive_read_free(a);
}

static void test_generated_user_data(void **state)
{
    const char *keys[] = {"ssh-ed25519 AAAAC3 ops@example", "ssh-rsa AAAAB3 \"quoted\": x"};
    struct kvz_vm_seed s = {
        .instance_id = "kvz-0123", .hostname = "db1", .ssh_keys = keys, .n_ssh_keys = 2};
    unsigned char *iso = NULL;
    size_t len = 0;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_seed_iso(&iso, &len, &s, &err), 0);
    assert_true(len >= 17 * 2048);
    /* cloud-init finds the seed by this label: primary volume descriptor, volume identifier */
    assert_memory_equal(iso + 16 * 2048 + 1, "CD001", 5);
    assert_memory_equal(iso + 16 * 2048 + 40, "CIDATA  ", 8);

    struct files f;
    read_iso(&f, iso, len);
    assert_int_equal(f.n, 2);
    assert_non_null(f.meta);
    assert_non_null(f.user);
    assert_non_null(strstr(f.meta, "\"instance-id\": \"kvz-0123\""));
    assert_non_null(strstr(f.meta, "\"local-hostname\": \"db1\""));
    assert_true(!strncmp(f.user, "#cloud-config\n", 14));
    assert_non_null(strstr(f.user, "\"hostname\": \"db1\""));
    assert_non_null(strstr(f.user, "\"ssh-ed25519 AAAAC3 ops@example\""));
    assert_non_null(strstr(f.user, "\"ssh-rsa AAAAB3 \\\"quoted\\\": x\""));
    free(f.meta);
    free(f.user);
    free(iso);
}

static void test_verbatim_user_data(void **state)
{
    const char *ud = "#cloud-config\npackages: [postgresql]\n";
    struct kvz_vm_seed s = {.instance_id = "i-1", .hostname = "db2", .user_data = ud};
    unsigned char *iso = NULL;
    size_t len = 0;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_seed_iso(&iso, &len, &s, &err), 0);
    struct files f;
    read_iso(&f, iso, len);
    assert_string_equal(f.user, ud);
    free(f.meta);
    free(f.user);
    free(iso);
}

static void test_deterministic(void **state)
{
    struct kvz_vm_seed s = {.instance_id = "kvz-a", .hostname = "h"};
    unsigned char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_seed_iso(&a, &la, &s, &err), 0);
    /* The bytes' digest recorded when the golden file was written, any number of seconds ago:
     * a timestamp taken from the clock would differ. libarchive's Rock Ridge root entry records
     * the writer's uid, so the golden digest is root's (kvz runs as root). */
    if (getuid() == 0) {
        char hex[KVZ_SHA256_HEX + 1], path[512];
        kvz_sha256_hex(hex, a, la);
        hex[64] = '\n';
        hex[65] = '\0';
        kvz_test_data_path(path, sizeof(path), "vm/seed-deterministic.sha256");
        kvz_test_golden(path, hex);
    }
    /* ISO9660 dates are local time: another time zone must still give the same bytes */
    const char *tz = getenv("TZ");
    char *saved = tz ? strdup(tz) : NULL;
    setenv("TZ", "Asia/Kolkata", 1);
    tzset();
    assert_int_equal(kvz_vm_seed_iso(&b, &lb, &s, &err), 0);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(b);
    s.hostname = "h2";
    assert_int_equal(kvz_vm_seed_iso(&b, &lb, &s, &err), 0);
    assert_true(la != lb || memcmp(a, b, la) != 0);
    free(a);
    free(b);
}

static void test_write_file(void **state)
{
    char dir[] = "/tmp/kvzt-seed-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/x-seed.iso", dir);
    struct kvz_vm_seed s = {.instance_id = "kvz-a", .hostname = "h"};
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_seed_write(path, &s, &err), 0);
    assert_int_equal(access(path, R_OK), 0);
    unlink(path);
    rmdir(dir);
    /* a directory that does not exist: an error naming the file, nothing left */
    assert_int_equal(kvz_vm_seed_write("/nonexistent-kvz/x-seed.iso", &s, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "/nonexistent-kvz/x-seed.iso"));
    kvz_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_user_data),
        cmocka_unit_test(test_verbatim_user_data),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
