/*
 * Containers on a remote host (docs/hosts.md): the rootfs is an ext4 image volume of the host's
 * kvz pool, made here from the verified tree and uploaded through libvirt; nothing of the guest
 * stays on the machine kvz runs on.
 */
#include "providers/container/container.h"

#include "base/buf.h"
#include "base/fs.h"
#include "parser/spec_digest.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void image_name(char out[24], const struct kvz_host *h, const char *name)
{
    struct kvz_buf id = KVZ_BUF_INIT;
    char hex[KVZ_SHA256_HEX];
    kvz_buf_printf(&id, "%s/%s", h->stack, name);
    kvz_sha256_hex(hex, kvz_buf_cstr(&id), id.len);
    kvz_buf_release(&id);
    snprintf(out, 24, "ct-%.12s.img", hex);
}

char *kvz_ct_remote_image_path(const struct kvz_host *h, const char *name)
{
    char pool[32], img[24];
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_pool_name(pool, h->state_dir);
    image_name(img, h, name);
    kvz_buf_printf(&b, "%s/%s/%s", KVZ_REMOTE_POOL_ROOT, pool, img);
    return kvz_buf_detach(&b);
}

/* Makes the image here in a private temporary directory of the state dir, uploads it as
 * volume `vname`, then its mark; the local copy goes whatever happens. */
static int make_and_upload(virStoragePoolPtr pool, const char *vname, const char *mark,
                           struct kvz_host *h, const struct kvz_resource *want, const char *src,
                           struct kvz_error **err)
{
    struct kvz_buf tmpl = KVZ_BUF_INIT, img = KVZ_BUF_INIT;
    char *tmpdir = NULL;
    unsigned long long sent = 0;
    int rc = -1;
    kvz_buf_printf(&tmpl, "%s/tmp", h->state_dir);
    if (tmpl.oom || kvz_mkdir_p(tmpl.ptr, 0700, err) < 0)
        goto cleanup;
    kvz_buf_puts(&tmpl, "/upload-XXXXXX");
    if (tmpl.oom || !(tmpdir = mkdtemp(tmpl.ptr))) {
        kvz_error_set_errno(err, "make a temporary directory in '%s/tmp'", h->state_dir);
        goto cleanup;
    }
    kvz_buf_printf(&img, "%s/rootfs.img", tmpdir);
    if (img.oom ||
        kvz_rootfs_check_arch(src, want->template_name ? want->template_name : src, err) < 0)
        goto cleanup;
    kvz_host_log(h, want->name, "making ext4 rootfs image");
    if (kvz_disk_make(img.ptr, want->disk, src, err) < 0 || kvz_disk_inject(img.ptr, want, err) < 0)
        goto cleanup;
    kvz_host_log(h, want->name, "uploading rootfs image to the host");
    if (kvz_volume_upload_file(pool, vname, img.ptr, h, want->name, "uploading rootfs image", &sent,
                               err) < 0)
        goto cleanup;
    static const char ok[] = "whole\n";
    if (kvz_volume_put_bytes(pool, mark, (const unsigned char *)ok, sizeof(ok) - 1, err) < 0)
        goto cleanup;
    char msg[96];
    snprintf(msg, sizeof(msg), "rootfs image uploaded (%llu MiB of data, holes skipped)",
             sent >> 20);
    kvz_host_log(h, want->name, msg);
    rc = 0;
cleanup:
    if (tmpdir)
        kvz_tree_discard(tmpdir);
    kvz_buf_release(&tmpl);
    kvz_buf_release(&img);
    return rc;
}

int kvz_ct_create_remote(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                         const char *digest, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    virStoragePoolPtr pool = NULL;
    char vname[24];
    struct kvz_buf mark = KVZ_BUF_INIT, mark_path = KVZ_BUF_INIT;
    char *path = kvz_ct_remote_image_path(h, want->name);
    int ret = -1;
    image_name(vname, h, want->name);
    kvz_buf_printf(&mark, "%s.ok", vname);
    kvz_buf_printf(&mark_path, "%s.ok", path ? path : "");
    if (!path || mark.oom || mark_path.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (!want->disk) {
        kvz_error_set(
            err,
            "container '%s' is on a remote host, where its rootfs is an ext4 image: give it 'disk:', e.g. 'disk: 2GiB'",
            want->name);
        goto cleanup;
    }
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_CONTAINER, want->name, err) < 0 ||
        kvz_remote_pool_ensure(&pool, h, err) < 0)
        goto cleanup;
    bool whole =
        kvz_volume_exists(h->conn, pool, mark_path.ptr) && kvz_volume_exists(h->conn, NULL, path);
    if (!whole) {
        if (!src) {
            kvz_error_set(err, "container '%s': no template store to take the rootfs from",
                          want->name);
            goto cleanup;
        }
        /* an image being replaced is never mounted: a domain on it stops first */
        if (dom && virDomainIsActive(dom) == 1 && kvz_ct_stop(h, dom, want->stop_timeout, err) < 0)
            goto cleanup;
        if (kvz_volume_remove(h->conn, pool, mark_path.ptr, err) < 0 ||
            make_and_upload(pool, vname, kvz_buf_cstr(&mark), h, want, src, err) < 0)
            goto cleanup;
    } else {
        kvz_host_log(h, want->name, "reusing the complete rootfs image on the host");
    }
    if (dom)
        virDomainFree(dom);
    dom = NULL;
    if (kvz_ct_define(&dom, h, want, digest, NULL, path, err) < 0 ||
        kvz_ct_converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "create container '%s'", want->name);
    if (dom)
        virDomainFree(dom);
    if (pool)
        virStoragePoolFree(pool);
    kvz_buf_release(&mark);
    kvz_buf_release(&mark_path);
    free(path);
    return ret;
}

int kvz_ct_remove_remote(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    struct kvz_buf mark = KVZ_BUF_INIT;
    char *path = kvz_ct_remote_image_path(h, name);
    int ret = -1;
    kvz_buf_printf(&mark, "%s.ok", path ? path : "");
    if (!path || mark.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (kvz_domain_lookup(&dom, &own, h, KVZ_KIND_CONTAINER, name, err) < 0)
        goto cleanup;
    /* the mark goes first: a remove killed midway leaves an image that is not whole */
    if ((dom && kvz_ct_stop(h, dom, kvz_ownership_stop_timeout(own), err) < 0) ||
        kvz_volume_remove(h->conn, NULL, mark.ptr, err) < 0 ||
        kvz_volume_remove(h->conn, NULL, path, err) < 0)
        goto cleanup;
    if (dom && virDomainUndefine(dom) < 0) {
        kvz_error_set(err, "undefine '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "remove container '%s'", name);
    if (dom)
        virDomainFree(dom);
    kvz_ownership_free(own);
    kvz_buf_release(&mark);
    free(path);
    return ret;
}

int kvz_ct_prune_remote(size_t *out_removed, struct kvz_host *h, struct kvz_error **err)
{
    char name[32];
    *out_removed = 0;
    if (!kvz_host_is_remote(h))
        return 0; /* a local container's files go with it */
    kvz_pool_name(name, h->state_dir);
    virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, name);
    if (!pool)
        return 0;
    int rc = 0;
    /* the pool goes when nothing is left in it (the vms' prune keeps it for their files) */
    if (virStoragePoolIsActive(pool) == 1 && virStoragePoolRefresh(pool, 0) == 0 &&
        virStoragePoolNumOfVolumes(pool) == 0) {
        if (virStoragePoolDestroy(pool) < 0) {
            rc = kvz_error_set(err, "remove storage pool '%s': %s", name, kvz_virt_msg());
        } else {
            virStoragePoolDelete(pool, 0); /* its directory there; harmless if not empty */
            if (virStoragePoolUndefine(pool) < 0)
                rc = kvz_error_set(err, "remove storage pool '%s': %s", name, kvz_virt_msg());
            else
                (*out_removed)++;
        }
    }
    virStoragePoolFree(pool);
    return rc;
}
