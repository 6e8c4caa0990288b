/*
 * The media kvz writes for a guest's first boot, ISO9660 with libarchive: the cloud-init NoCloud
 * seed (volume cidata) and Windows Setup's answer file (autounattend.xml). Both can hold
 * secrets, so they are readable by their owner only; libvirt gives them to qemu's user.
 */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "base/fs.h"
#include "parser/spec_digest.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Every timestamp in the image: the same inputs must give the same bytes. */
#define SEED_EPOCH 946684800 /* 2000-01-01T00:00:00Z */

#define ISO_SECTOR 2048
#define ISO_PVD    (16 * ISO_SECTOR)

/* YAML is a superset of JSON: jansson gives us correct quoting of any key or name. */
static json_t *keys_json(const struct kvz_vm_seed *s)
{
    json_t *keys = json_array();
    for (size_t i = 0; keys && i < s->n_ssh_keys; i++)
        json_array_append_new(keys, json_string(s->ssh_keys[i]));
    return keys;
}

static char *meta_data(const struct kvz_vm_seed *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "instance-id", json_string(s->instance_id));
    json_object_set_new(o, "local-hostname", json_string(s->hostname));
    if (s->n_ssh_keys)
        json_object_set_new(o, "public-keys", keys_json(s));
    char *r = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    return r;
}

static char *user_data(const struct kvz_vm_seed *s)
{
    if (s->user_data)
        return strdup(s->user_data);
    json_t *o = json_object();
    json_object_set_new(o, "hostname", json_string(s->hostname));
    json_object_set_new(o, "preserve_hostname", json_false());
    json_object_set_new(o, "ssh_authorized_keys", keys_json(s));
    char *j = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!j)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "#cloud-config\n%s\n", j);
    free(j);
    return kvz_buf_detach(&b);
}

static la_ssize_t to_buf(struct archive *a, void *ctx, const void *data, size_t len)
{
    struct kvz_buf *b = ctx;
    if (kvz_buf_add(b, data, len) < 0) {
        archive_set_error(a, ENOMEM, "out of memory");
        return -1;
    }
    return (la_ssize_t)len;
}

static int add_file(struct archive *a, const char *name, const char *data, struct kvz_error **err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return kvz_error_set(err, "seed: out of memory");
    size_t len = strlen(data);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, SEED_EPOCH, 0);
    archive_entry_set_atime(e, SEED_EPOCH, 0);
    archive_entry_set_ctime(e, SEED_EPOCH, 0);
    archive_entry_set_birthtime(e, SEED_EPOCH, 0);
    int rc = 0;
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data, len) != (la_ssize_t)len)
        rc = kvz_error_set(err, "seed: write '%s': %s", name, archive_error_string(a));
    archive_entry_free(e);
    return rc;
}

static void replace_all(unsigned char *p, size_t len, const unsigned char *from,
                        const unsigned char *to, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(p + i, from, n)) {
            memcpy(p + i, to, n);
            i += n - 1;
        }
}

/*
 * libarchive's ISO9660 writer stamps the volume with the time of
 * archive_write_close() and offers no option to fix it (only its DEBUG builds
 * do). That one instant appears in two encodings: the 17-byte volume
 * descriptor dates and the 7-byte directory record / Rock Ridge dates. Both
 * are read from the primary volume descriptor (creation date at 813, root
 * directory record date at 156 + 18) and replaced everywhere by SEED_EPOCH in
 * UTC, so the same inputs give the same bytes in any time zone. Its
 * information block ("INFO " and ctime(3) of the instant, at a sector start)
 * is fixed the same way.
 */
static int fix_timestamps(unsigned char *iso, size_t len)
{
    static const unsigned char vd_fixed[17] = "2000010100000000"; /* last byte: UTC */
    static const unsigned char dr_fixed[7] = {100, 1, 1, 0, 0, 0, 0};
    unsigned char vd_date[17], dr_date[7];
    if (len < ISO_PVD + ISO_SECTOR || memcmp(iso + ISO_PVD + 1, "CD001", 5) != 0)
        return -1;
    memcpy(vd_date, iso + ISO_PVD + 813, sizeof(vd_date));
    memcpy(dr_date, iso + ISO_PVD + 156 + 18, sizeof(dr_date));
    replace_all(iso, len, vd_date, vd_fixed, sizeof(vd_date));
    replace_all(iso, len, dr_date, dr_fixed, sizeof(dr_date));
    /* The files' own dates (SEED_EPOCH) were encoded in local time, as ISO9660 does. */
    struct tm tm;
    time_t epoch = SEED_EPOCH;
    if (localtime_r(&epoch, &tm)) {
        unsigned char local[7] = {
            (unsigned char)tm.tm_year,          (unsigned char)(tm.tm_mon + 1),
            (unsigned char)tm.tm_mday,          (unsigned char)tm.tm_hour,
            (unsigned char)tm.tm_min,           (unsigned char)tm.tm_sec,
            (unsigned char)(tm.tm_gmtoff / 900)};
        replace_all(iso, len, local, dr_fixed, sizeof(local));
    }
    for (size_t off = ISO_PVD; off + ISO_SECTOR <= len; off += ISO_SECTOR)
        if (!memcmp(iso + off, "INFO ", 5)) {
            memcpy(iso + off + 5, "Sat Jan  1 00:00:00 2000", 24);
            break;
        }
    return 0;
}

/* An ISO9660 image (Rock Ridge + Joliet, volume `label`) of the n files, in memory; the same
 * input gives the same bytes. */
static int iso_image(unsigned char **out, size_t *out_len, const char *label,
                     const char *const *names, const char *const *data, size_t n,
                     struct kvz_error **err)
{
    int rc = -1;
    struct kvz_buf b = KVZ_BUF_INIT;
    struct archive *a = archive_write_new();
    *out = NULL;
    *out_len = 0;
    if (!a) {
        kvz_error_set(err, "%s medium: out of memory", label);
        goto cleanup;
    }
    /* cloud-init finds the NoCloud seed by the volume label "cidata"; Rock Ridge keeps the
     * lowercase names meta-data and user-data, Joliet the case Windows sees; no 300 KiB of
     * padding for old CD drives. */
    if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "iso9660", "volume-id", label) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "iso9660", "rockridge", "useful") != ARCHIVE_OK ||
        archive_write_set_format_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
        archive_write_set_format_option(a, "iso9660", "pad", NULL) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open(a, &b, NULL, to_buf, NULL) != ARCHIVE_OK) {
        kvz_error_set(err, "%s medium: iso9660 writer: %s", label, archive_error_string(a));
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        if (add_file(a, names[i], data[i], err) < 0)
            goto cleanup;
    if (archive_write_close(a) != ARCHIVE_OK) {
        kvz_error_set(err, "%s medium: iso9660 writer: %s", label, archive_error_string(a));
        goto cleanup;
    }
    if (b.oom) {
        kvz_error_set(err, "%s medium: out of memory", label);
        goto cleanup;
    }
    if (fix_timestamps((unsigned char *)b.ptr, b.len) < 0) {
        kvz_error_set(err, "%s medium: iso9660 writer made no primary volume descriptor", label);
        goto cleanup;
    }
    *out_len = b.len;
    *out = (unsigned char *)kvz_buf_detach(&b);
    rc = 0;
cleanup:
    archive_write_free(a);
    kvz_buf_release(&b);
    return rc;
}

int kvz_vm_seed_iso(unsigned char **out, size_t *out_len, const struct kvz_vm_seed *s,
                    struct kvz_error **err)
{
    char *md = meta_data(s), *ud = user_data(s);
    int rc;
    *out = NULL;
    *out_len = 0;
    if (!md || !ud) {
        rc = kvz_error_set(err, "seed: out of memory");
    } else {
        const char *names[] = {"meta-data", "user-data"}, *data[] = {md, ud};
        rc = iso_image(out, out_len, "cidata", names, data, 2, err);
    }
    free(md);
    free(ud);
    return rc;
}

int kvz_vm_unattend_iso(unsigned char **out, size_t *out_len, const char *xml,
                        struct kvz_error **err)
{
    const char *names[] = {KVZ_VM_UNATTEND_FILE}, *data[] = {xml};
    return iso_image(out, out_len, "UNATTEND", names, data, 1, err);
}

/* user_data and answer files hold passwords: no one else may read them (whatever the umask);
 * libvirt's DAC labelling gives the file to qemu's user when the VM starts. */
static int write_private(const char *path, const unsigned char *data, size_t len,
                         struct kvz_error **err)
{
    return kvz_write_file_atomic(path, data, len, 0600, err);
}

int kvz_vm_seed_write(const char *path, const struct kvz_vm_seed *s, struct kvz_error **err)
{
    unsigned char *iso = NULL;
    size_t len = 0;
    if (kvz_vm_seed_iso(&iso, &len, s, err) < 0)
        return -1;
    int rc = write_private(path, iso, len, err);
    free(iso);
    return rc < 0 ? kvz_error_wrap(err, "seed") : 0;
}

int kvz_vm_unattend_write(const char *path, const char *xml, struct kvz_error **err)
{
    unsigned char *iso = NULL;
    size_t len = 0;
    if (kvz_vm_unattend_iso(&iso, &len, xml, err) < 0)
        return -1;
    int rc = write_private(path, iso, len, err);
    free(iso);
    return rc < 0 ? kvz_error_wrap(err, "unattend medium") : 0;
}

int kvz_vm_iso_file_digest(char out[65], const char *iso_path, const char *name,
                           struct kvz_error **err)
{
    int rc = -1;
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    struct kvz_buf body = KVZ_BUF_INIT;
    out[0] = '\0';
    if (!a || archive_read_support_format_iso9660(a) != ARCHIVE_OK ||
        archive_read_open_filename(a, iso_path, 16384) != ARCHIVE_OK) {
        kvz_error_set(err, "read '%s': %s", iso_path,
                      a ? archive_error_string(a) : "out of memory");
        goto cleanup;
    }
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (strcasecmp(archive_entry_pathname(e), name) != 0)
            continue;
        char chunk[8192];
        la_ssize_t n;
        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0 && body.len < (1u << 20))
            kvz_buf_add(&body, chunk, (size_t)n);
        if (n < 0 || body.oom) {
            kvz_error_set(err, "read '%s' in '%s': %s", name, iso_path, archive_error_string(a));
            goto cleanup;
        }
        kvz_sha256_hex(out, body.ptr ? body.ptr : "", body.len);
        rc = 0;
        goto cleanup;
    }
    if (r != ARCHIVE_EOF)
        kvz_error_set(err, "read '%s': %s", iso_path, archive_error_string(a));
    else
        kvz_error_set(err, "'%s' holds no '%s'", iso_path, name);
cleanup:
    archive_read_free(a);
    kvz_buf_release(&body);
    return rc;
}
