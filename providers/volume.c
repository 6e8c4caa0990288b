#include "providers/volume.h"

#include "base/buf.h"
#include "providers/domain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libvirt/virterror.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define X(s) ((const xmlChar *)(s))

bool kvz_host_is_remote(const struct kvz_host *h)
{
    return h && h->uri && !kvz_uri_is_local(h->uri);
}

void kvz_pool_name(char out[32], const char *state_dir)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(state_dir, strlen(state_dir), d, &n, EVP_sha256(), NULL);
    int len = snprintf(out, 32, "kvz-");
    for (unsigned int i = 0; i < 6 && i < n; i++)
        len += snprintf(out + len, (size_t)(32 - len), "%02x", d[i]);
}

int kvz_remote_pool_ensure(virStoragePoolPtr *out, struct kvz_host *h, struct kvz_error **err)
{
    char name[32];
    struct kvz_buf path = KVZ_BUF_INIT;
    kvz_pool_name(name, h->state_dir);
    kvz_buf_printf(&path, "%s/%s", KVZ_REMOTE_POOL_ROOT, name);
    int rc = path.oom ? kvz_error_set(err, "storage pool: out of memory")
                      : kvz_remote_pool_ensure_named(out, h->conn, name, path.ptr, err);
    kvz_buf_release(&path);
    return rc;
}

int kvz_remote_pool_ensure_named(virStoragePoolPtr *out, virConnectPtr conn, const char *name,
                                 const char *path, struct kvz_error **err)
{
    struct kvz_buf xml = KVZ_BUF_INIT;
    virStoragePoolPtr pool = NULL;
    int rc = -1;
    *out = NULL;
    kvz_buf_printf(&xml,
                   "<pool type='dir'><name>%s</name><target><path>%s</path><permissions>"
                   "<mode>0755</mode></permissions></target></pool>",
                   name, path);
    if (xml.oom) {
        kvz_error_set(err, "storage pool: out of memory");
        goto cleanup;
    }
    if (!(pool = virStoragePoolLookupByName(conn, name))) {
        pool = virStoragePoolDefineXML(conn, kvz_buf_cstr(&xml), 0);
        if (!pool) /* another kvz defined it meanwhile */
            pool = virStoragePoolLookupByName(conn, name);
        if (!pool) {
            kvz_error_set(err, "define storage pool '%s' at '%s': %s", name, path, kvz_virt_msg());
            goto cleanup;
        }
        virStoragePoolSetAutostart(pool, 1);
        virStoragePoolBuild(pool, 0); /* the directory there; it may exist already */
    }
    /* another kvz or thread may be making its directory right now: built again (a no-op then)
     * and retried for a moment; only a pool still inactive is a failure */
    for (int i = 0;
         i < 20 && virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0; i++) {
        virStoragePoolBuild(pool, 0);
        usleep(100 * 1000);
    }
    if (virStoragePoolIsActive(pool) != 1) {
        kvz_error_set(err, "start storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    *out = pool;
    pool = NULL;
    rc = 0;
cleanup:
    if (pool)
        virStoragePoolFree(pool);
    kvz_buf_release(&xml);
    return rc;
}

int kvz_volume_capacity(unsigned long long *out, virConnectPtr conn, const char *path,
                        struct kvz_error **err)
{
    virStorageVolInfo info;
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    int rc = vol ? virStorageVolGetInfo(vol, &info) : -1;
    if (vol)
        virStorageVolFree(vol);
    if (rc < 0)
        return kvz_error_set(err, "volume '%s': %s", path, kvz_virt_msg());
    *out = info.capacity;
    return 0;
}

bool kvz_volume_exists(virConnectPtr conn, virStoragePoolPtr pool, const char *path)
{
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    if (!vol && pool && virStoragePoolRefresh(pool, 0) == 0)
        vol = virStorageVolLookupByPath(conn, path);
    if (!vol)
        return false;
    virStorageVolFree(vol);
    return true;
}

int kvz_volume_remove(virConnectPtr conn, virStoragePoolPtr pool, const char *path,
                      struct kvz_error **err)
{
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    if (!vol && pool && virStoragePoolRefresh(pool, 0) == 0)
        vol = virStorageVolLookupByPath(conn, path);
    if (!vol)
        return 0;
    int rc = virStorageVolDelete(vol, 0);
    virStorageVolFree(vol);
    if (rc < 0)
        return kvz_error_set(err, "delete volume '%s': %s", path, kvz_virt_msg());
    return 0;
}

static char *vol_xml(const char *name, unsigned long long capacity, const char *mode)
{
    char cap[24];
    snprintf(cap, sizeof(cap), "%llu", capacity);
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr v = xmlNewNode(NULL, X("volume"));
    xmlDocSetRootElement(doc, v);
    xmlNewTextChild(v, NULL, X("name"), X(name));
    xmlNodePtr c = xmlNewTextChild(v, NULL, X("capacity"), X(cap));
    xmlNewProp(c, X("unit"), X("bytes"));
    xmlNodePtr a = xmlNewTextChild(v, NULL, X("allocation"), X("0"));
    xmlNewProp(a, X("unit"), X("bytes"));
    xmlNodePtr t = xmlNewChild(v, NULL, X("target"), NULL);
    xmlNodePtr f = xmlNewChild(t, NULL, X("format"), NULL);
    xmlNewProp(f, X("type"), X("raw"));
    xmlNodePtr p = xmlNewChild(t, NULL, X("permissions"), NULL);
    xmlNewTextChild(p, NULL, X("mode"), X(mode));
    char *r = NULL;
    if (kvz_xml_dump(&r, v, NULL) < 0)
        r = NULL;
    xmlFreeDoc(doc);
    return r;
}

/* A new, empty volume `name` of `capacity` bytes; one of that name goes first. */
static virStorageVolPtr fresh_volume(virStoragePoolPtr pool, const char *name,
                                     unsigned long long capacity, const char *mode,
                                     struct kvz_error **err)
{
    virStorageVolPtr old = virStorageVolLookupByName(pool, name);
    if (!old && virStoragePoolRefresh(pool, 0) == 0)
        old = virStorageVolLookupByName(pool, name);
    if (old) {
        int rc = virStorageVolDelete(old, 0);
        virStorageVolFree(old);
        if (rc < 0) {
            kvz_error_set(err, "replace volume '%s': %s", name, kvz_virt_msg());
            return NULL;
        }
    }
    char *xml = vol_xml(name, capacity, mode);
    virStorageVolPtr vol = xml ? virStorageVolCreateXML(pool, xml, 0) : NULL;
    free(xml);
    if (!vol)
        kvz_error_set(err, "create volume '%s': %s", name, kvz_virt_msg());
    return vol;
}

/* ---- from memory ---- */

struct mem {
    const unsigned char *data;
    size_t len, off;
};

static int mem_source(virStreamPtr st, char *bytes, size_t nbytes, void *opaque)
{
    struct mem *m = opaque;
    size_t n = m->len - m->off < nbytes ? m->len - m->off : nbytes;
    memcpy(bytes, m->data + m->off, n);
    m->off += n;
    return (int)n;
}

int kvz_volume_put_bytes(virStoragePoolPtr pool, const char *name, const unsigned char *data,
                         size_t len, struct kvz_error **err)
{
    virConnectPtr conn = virStoragePoolGetConnect(pool);
    virStorageVolPtr vol = fresh_volume(pool, name, len, "0600", err);
    virStreamPtr st = NULL;
    struct mem m = {data, len, 0};
    int rc = -1;
    if (!vol)
        return -1;
    if (!(st = virStreamNew(conn, 0)) || virStorageVolUpload(vol, st, 0, len, 0) < 0 ||
        virStreamSendAll(st, mem_source, &m) < 0 || virStreamFinish(st) < 0) {
        kvz_error_set(err, "upload volume '%s': %s", name, kvz_virt_msg());
        if (st)
            virStreamAbort(st);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (st)
        virStreamFree(st);
    virStorageVolFree(vol);
    return rc;
}

/* ---- from a file, sparse ---- */

void kvz_transfer_step(struct kvz_transfer *t, unsigned long long n, bool data)
{
    t->done += n;
    if (data)
        t->data += n;
    int pct = t->size ? (int)(t->done * 100 / t->size) : 100;
    if (!t->h || pct / 10 == t->last_pct / 10)
        return;
    t->last_pct = pct;
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: %d%% (%llu MiB of data %s)", t->what, pct, t->data >> 20,
             t->verb);
    kvz_host_log(t->h, t->resource, msg);
}

struct up {
    int fd;
    struct kvz_transfer t;
};

static int file_source(virStreamPtr st, char *bytes, size_t nbytes, void *opaque)
{
    struct up *u = opaque;
    ssize_t n;
    do
        n = read(u->fd, bytes, nbytes);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        kvz_transfer_step(&u->t, (unsigned long long)n, true);
    return (int)n;
}

static bool all_zero(const unsigned char *b, size_t n)
{
    /* the first byte zero and every byte equal to the next: memcmp's speed, not a loop's */
    return n == 0 || (b[0] == 0 && !memcmp(b, b + 1, n - 1));
}

/* How far from `at` (inside data that ends at `end`) blocks are all zeros (zero: true) or not:
 * runs of zeros in a file that was written out whole are sent as holes too. */
static long long zero_run(struct up *u, off_t at, off_t end, bool zero)
{
    unsigned char b[64 << 10];
    off_t p = at;
    while (p < end && p - at < (64 << 20)) {
        size_t want = (size_t)(end - p) < sizeof(b) ? (size_t)(end - p) : sizeof(b);
        ssize_t n = pread(u->fd, b, want, p);
        if (n <= 0 || all_zero(b, (size_t)n) != zero)
            break;
        p += n;
    }
    return (long long)(p - at);
}

/* Whether the file is in data or a hole at its offset, and for how long: the file system's
 * holes (SEEK_DATA / SEEK_HOLE, as virsh does), and blocks of zeros inside its data. */
static int file_in_data(virStreamPtr st, int *in_data, long long *length, void *opaque)
{
    struct up *u = opaque;
    off_t cur = lseek(u->fd, 0, SEEK_CUR);
    if (cur < 0)
        return -1;
    if ((unsigned long long)cur >= u->t.size) {
        *in_data = 0;
        *length = 0;
        return 0;
    }
    off_t data = lseek(u->fd, cur, SEEK_DATA);
    if (data < 0 && errno != ENXIO)
        return -1;
    if (data < 0 || data > cur) {
        /* a hole up to the next data, or to the end */
        *in_data = 0;
        *length = (long long)((data < 0 ? (off_t)u->t.size : data) - cur);
    } else {
        off_t hole = lseek(u->fd, cur, SEEK_HOLE);
        if (hole < 0)
            return -1;
        long long zeros = zero_run(u, cur, hole, true);
        *in_data = zeros == 0;
        *length = zeros ? zeros : zero_run(u, cur, hole, false);
        if (!*length)
            *length = (long long)(hole - cur);
    }
    return lseek(u->fd, cur, SEEK_SET) < 0 ? -1 : 0;
}

static int file_skip(virStreamPtr st, long long length, void *opaque)
{
    struct up *u = opaque;
    if (lseek(u->fd, length, SEEK_CUR) < 0)
        return -1;
    kvz_transfer_step(&u->t, (unsigned long long)length, false);
    return 0;
}

int kvz_volume_upload_file(virStoragePoolPtr pool, const char *name, const char *file,
                           struct kvz_host *h, const char *resource, const char *what,
                           unsigned long long *out_sent, struct kvz_error **err)
{
    virConnectPtr conn = virStoragePoolGetConnect(pool);
    virStorageVolPtr vol = NULL;
    virStreamPtr st = NULL;
    struct stat sb;
    struct up u = {
        .fd = -1,
        .t = {.last_pct = -10, .h = h, .resource = resource, .what = what, .verb = "sent"}};
    int rc = -1;
    if ((u.fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(u.fd, &sb) < 0) {
        kvz_error_set_errno(err, "open '%s'", file);
        goto cleanup;
    }
    u.t.size = (unsigned long long)sb.st_size;
    if (!(vol = fresh_volume(pool, name, u.t.size, "0644", err)))
        goto cleanup;
    if (!(st = virStreamNew(conn, 0)) ||
        virStorageVolUpload(vol, st, 0, u.t.size, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) < 0 ||
        virStreamSparseSendAll(st, file_source, file_in_data, file_skip, &u) < 0 ||
        virStreamFinish(st) < 0) {
        kvz_error_set(err, "upload '%s' to volume '%s': %s", file, name, kvz_virt_msg());
        if (st)
            virStreamAbort(st);
        goto cleanup;
    }
    if (out_sent)
        *out_sent = u.t.data;
    rc = 0;
cleanup:
    if (rc < 0 && vol)
        virStorageVolDelete(vol, 0); /* half a copy is never left to be taken for whole */
    if (st)
        virStreamFree(st);
    if (vol)
        virStorageVolFree(vol);
    if (u.fd >= 0)
        close(u.fd);
    return rc;
}
