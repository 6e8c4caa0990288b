#include "store/unpack.h"

#include "base/error.h"
#include "store/detect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Recognising a compressed stream may take a few of libarchive's 1 MiB reads, never this many. */
#define KEEP_MAX (16u << 20)

/*
 * The download as the engine reads it: from a descriptor that cannot seek (the unpacker's
 * socket), with the bytes read while recognising the content kept and read again from the start.
 */
struct instream {
    int fd;
    struct kvz_unpack_budget *budget;
    char *keep;
    size_t kept, cap, pos;
    bool keeping;
};

static int keep_bytes(struct instream *s, const void *data, size_t len)
{
    if (s->kept + len > KEEP_MAX) {
        errno = EFBIG;
        return -1;
    }
    if (s->kept + len > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 20;
        while (cap < s->kept + len)
            cap *= 2;
        char *k = realloc(s->keep, cap);
        if (!k)
            return -1;
        s->keep = k;
        s->cap = cap;
    }
    memcpy(s->keep + s->kept, data, len);
    s->kept += len;
    s->pos = s->kept;
    return 0;
}

static ssize_t in_read(void *arg, void *buf, size_t len)
{
    struct instream *s = arg;
    if (s->pos < s->kept) {
        size_t n = s->kept - s->pos < len ? s->kept - s->pos : len;
        memcpy(buf, s->keep + s->pos, n);
        s->pos += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = read(s->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n > 0 && s->budget)
        atomic_fetch_add(&s->budget->in, (uint64_t)n);
    if (n > 0 && s->keeping && keep_bytes(s, buf, (size_t)n) < 0)
        return -1;
    return n;
}

static int read_head(size_t *out, char *head, size_t cap, struct instream *s,
                     struct kvz_error **err)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = in_read(s, head + len, cap - len);
        if (n < 0)
            return kvz_error_set_errno(err, "read the download");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = len;
    return 0;
}

const char *kvz_unpack_file(const struct kvz_unpack_result *r)
{
    switch (r->kind) {
    case KVZ_CONTENT_ROOTFS:
        return !r->use_download && !strncmp(r->format, "tar", 3) ? "rootfs" : NULL;
    case KVZ_CONTENT_DISK:
        return !strcmp(r->format, "qcow2") ? "disk.qcow2"
               : !strcmp(r->format, "raw") ? "disk.raw"
                                           : NULL;
    case KVZ_CONTENT_ISO:
        return !strcmp(r->format, "iso") ? "image.iso" : NULL;
    default:
        return NULL;
    }
}

static int recognise(struct kvz_unpack_result *out, enum kvz_magic *outer, struct instream *in,
                     enum kvz_content_kind expect, struct kvz_error **err)
{
    struct kvz_source src = {.read = in_read, .arg = in};
    char *head = malloc(KVZ_MAGIC_PEEK);
    size_t len = 0;
    int ret = -1;
    if (!head)
        return kvz_error_set(err, "out of memory");
    in->keeping = true;
    if (read_head(&len, head, KVZ_MAGIC_PEEK, in, err) < 0)
        goto cleanup;
    enum kvz_magic m = kvz_magic_detect(head, len), inner = m;
    in->pos = 0;
    if (kvz_magic_is_compression(m)) {
        if (kvz_unpack_peek(&len, head, KVZ_MAGIC_PEEK, &src, err) < 0)
            goto cleanup;
        inner = kvz_magic_detect(head, len);
        in->pos = 0;
    }
    in->keeping = false;
    *outer = m;
    out->use_download = !kvz_magic_is_compression(m) && m != KVZ_MAGIC_TAR;
    switch (inner) {
    case KVZ_MAGIC_TAR:
        out->kind = KVZ_CONTENT_ROOTFS;
        snprintf(out->format, sizeof(out->format), m == inner ? "tar" : "tar+%s", kvz_magic_str(m));
        break;
    case KVZ_MAGIC_QCOW2:
        out->kind = KVZ_CONTENT_DISK;
        snprintf(out->format, sizeof(out->format), "qcow2");
        break;
    case KVZ_MAGIC_ISO:
        out->kind = KVZ_CONTENT_ISO;
        snprintf(out->format, sizeof(out->format), "iso");
        break;
    default:
        if (expect == KVZ_CONTENT_ROOTFS) {
            kvz_error_set(
                err,
                "content is not a rootfs archive (no tar, gzip, xz, zstd or bzip2 signature%s); check the url",
                m == inner ? "" : " inside the compression");
            goto cleanup;
        }
        out->kind = KVZ_CONTENT_DISK;
        snprintf(out->format, sizeof(out->format), "raw");
        break;
    }
    ret = 0;
cleanup:
    free(head);
    return ret;
}

int kvz_unpack_stream(struct kvz_unpack_result *out, int fd, enum kvz_content_kind expect,
                      const struct kvz_unpack_limits *lim, struct kvz_error **err)
{
    struct instream in = {.fd = fd, .budget = lim->budget};
    struct kvz_source src = {.read = in_read, .arg = &in};
    struct kvz_unpack_result r = {0};
    enum kvz_magic m = KVZ_MAGIC_UNKNOWN;
    int ret = -1;
    if (recognise(&r, &m, &in, expect, err) < 0)
        goto cleanup;
    const char *file = kvz_unpack_file(&r);
    if (r.use_download) {
        ret = 0; /* stored as downloaded; nothing more to read */
    } else if (r.kind == KVZ_CONTENT_ROOTFS) {
        if (mkdir(file, 0755) < 0 || chdir(file) < 0)
            kvz_error_set_errno(err, "create '%s'", file);
        else
            ret = kvz_unpack_tar(&r.content_size, &src, kvz_magic_is_compression(m), lim, err);
    } else {
        ret = kvz_unpack_decompress(&r.content_size, file, &src, lim, err);
    }
    if (ret == 0)
        *out = r;
cleanup:
    free(in.keep);
    return ret;
}
