/*
 * A volume of a host kvz reaches only through libvirt, copied into a local file: the way kvz
 * changes what is inside a remote container's image (docs/hosts.md) without any file access to
 * that host. Sparse: the volume's holes arrive as holes and stay holes here.
 */
#include "providers/volume.h"

#include "providers/domain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct down {
    int fd;
    struct kvz_transfer t;
};

static int sink(virStreamPtr st, const char *data, size_t nbytes, void *opaque)
{
    struct down *d = opaque;
    size_t off = 0;
    while (off < nbytes) {
        ssize_t n = write(d->fd, data + off, nbytes - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    kvz_transfer_step(&d->t, nbytes, true);
    return (int)nbytes;
}

static int hole(virStreamPtr st, long long length, void *opaque)
{
    struct down *d = opaque;
    if (lseek(d->fd, (off_t)length, SEEK_CUR) < 0)
        return -1;
    kvz_transfer_step(&d->t, (unsigned long long)length, false);
    return 0;
}

int kvz_volume_download_file(virConnectPtr conn, const char *path, const char *file,
                             struct kvz_host *h, const char *resource, const char *what,
                             unsigned long long *out_recv, struct kvz_error **err)
{
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    virStreamPtr st = NULL;
    virStorageVolInfo info;
    struct down d = {
        .fd = -1,
        .t = {.last_pct = -10, .h = h, .resource = resource, .what = what, .verb = "received"}};
    int rc = -1;
    if (!vol || virStorageVolGetInfo(vol, &info) < 0) {
        kvz_error_set(err, "volume '%s' on the host: %s", path, kvz_virt_msg());
        goto cleanup;
    }
    d.t.size = info.capacity;
    if ((d.fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        kvz_error_set_errno(err, "create '%s'", file);
        goto cleanup;
    }
    if (!(st = virStreamNew(conn, 0)) ||
        virStorageVolDownload(vol, st, 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) < 0 ||
        virStreamSparseRecvAll(st, sink, hole, &d) < 0 || virStreamFinish(st) < 0) {
        kvz_error_set(err, "download volume '%s' to '%s': %s", path, file, kvz_virt_msg());
        if (st)
            virStreamAbort(st);
        goto cleanup;
    }
    /* a volume that ends in a hole: the file gets its length all the same */
    off_t end = lseek(d.fd, 0, SEEK_CUR);
    if (end < 0 || ftruncate(d.fd, end) < 0 || fsync(d.fd) < 0) {
        kvz_error_set_errno(err, "write '%s'", file);
        goto cleanup;
    }
    if ((unsigned long long)end != d.t.size) {
        kvz_error_set(err, "download volume '%s': %lld bytes received of %llu; try again", path,
                      (long long)end, d.t.size);
        goto cleanup;
    }
    if (out_recv)
        *out_recv = d.t.data;
    rc = 0;
cleanup:
    if (d.fd >= 0)
        close(d.fd);
    if (rc < 0 && d.fd >= 0)
        unlink(file); /* half a copy is never left to be taken for whole */
    if (st)
        virStreamFree(st);
    if (vol)
        virStorageVolFree(vol);
    return rc;
}
