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

/* The image volume of container `name`: slot 0 "ct-HEX.img", slot 1 "ct-HEX.b.img". A change of
 * what is inside it (disk size, hostname, keys) writes the other slot, so that the image in use
 * is whole at every moment. */
static void image_name(char out[24], const struct kvz_host *h, const char *name, int slot)
{
    struct kvz_buf id = KVZ_BUF_INIT;
    char hex[KVZ_SHA256_HEX];
    kvz_buf_printf(&id, "%s/%s", h->stack, name);
    kvz_sha256_hex(hex, kvz_buf_cstr(&id), id.len);
    kvz_buf_release(&id);
    snprintf(out, 24, "ct-%.12s%s.img", hex, slot ? ".b" : "");
}

static char *image_path(const struct kvz_host *h, const char *name, int slot)
{
    char pool[32], img[24];
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_pool_name(pool, h->state_dir);
    image_name(img, h, name, slot);
    kvz_buf_printf(&b, "%s/%s/%s", KVZ_REMOTE_POOL_ROOT, pool, img);
    return kvz_buf_detach(&b);
}

char *kvz_ct_remote_image_path(const struct kvz_host *h, const char *name)
{
    return image_path(h, name, 0);
}

/* Deletes the image at `path` on the host, its mark first (an image without its mark is never
 * taken for whole). Missing is success. */
static int remove_image(struct kvz_host *h, const char *path, struct kvz_error **err)
{
    struct kvz_buf mark = KVZ_BUF_INIT;
    kvz_buf_printf(&mark, "%s.ok", path);
    int rc = mark.oom ? kvz_error_set(err, "out of memory")
             : kvz_volume_remove(h->conn, NULL, mark.ptr, err) < 0 ||
                     kvz_volume_remove(h->conn, NULL, path, err) < 0
                 ? -1
                 : 0;
    kvz_buf_release(&mark);
    return rc;
}

/* A private temporary directory of the state dir (the image is made or changed there). */
static char *work_dir(struct kvz_host *h, const char *prefix, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/tmp", h->state_dir);
    if (b.oom || kvz_mkdir_p(b.ptr, 0700, err) < 0) {
        kvz_buf_release(&b);
        return NULL;
    }
    kvz_buf_printf(&b, "/%s-XXXXXX", prefix);
    if (b.oom || !mkdtemp(b.ptr)) {
        kvz_error_set_errno(err, "make a temporary directory in '%s/tmp'", h->state_dir);
        kvz_buf_release(&b);
        return NULL;
    }
    return kvz_buf_detach(&b);
}

/* Uploads the local image `img` as volume `vname` of the pool, then its mark `vname`.ok. */
static int upload_image(virStoragePoolPtr pool, const char *vname, const char *img,
                        struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
{
    struct kvz_buf mark = KVZ_BUF_INIT;
    unsigned long long sent = 0;
    static const char ok[] = "whole\n";
    kvz_buf_printf(&mark, "%s.ok", vname);
    kvz_host_log(h, want->name, "uploading rootfs image to the host");
    int rc = mark.oom ? kvz_error_set(err, "out of memory")
             : kvz_volume_upload_file(pool, vname, img, h, want->name, "uploading rootfs image",
                                      &sent, err) < 0 ||
                     kvz_volume_put_bytes(pool, mark.ptr, (const unsigned char *)ok, sizeof(ok) - 1,
                                          err) < 0
                 ? -1
                 : 0;
    kvz_buf_release(&mark);
    if (rc == 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "rootfs image uploaded (%llu MiB of data, holes skipped)",
                 sent >> 20);
        kvz_host_log(h, want->name, msg);
    }
    return rc;
}

/* Makes the image here in a private temporary directory of the state dir and uploads it as
 * volume `vname` with its mark; the local copy goes whatever happens. */
static int make_and_upload(virStoragePoolPtr pool, const char *vname, struct kvz_host *h,
                           const struct kvz_resource *want, const char *src, struct kvz_error **err)
{
    struct kvz_buf img = KVZ_BUF_INIT;
    char *tmpdir = work_dir(h, "upload", err);
    int rc = -1;
    if (!tmpdir)
        goto cleanup;
    kvz_buf_printf(&img, "%s/rootfs.img", tmpdir);
    if (img.oom ||
        kvz_rootfs_check_arch(src, want->template_name ? want->template_name : src, err) < 0)
        goto cleanup;
    kvz_host_log(h, want->name, "making ext4 rootfs image");
    if (kvz_disk_make(img.ptr, want->disk, src, err) < 0 ||
        kvz_disk_inject(img.ptr, want, err) < 0 ||
        upload_image(pool, vname, img.ptr, h, want, err) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (tmpdir)
        kvz_tree_discard(tmpdir);
    free(tmpdir);
    kvz_buf_release(&img);
    return rc;
}

int kvz_ct_rewrite_remote(char **out_path, struct kvz_host *h, const struct kvz_resource *want,
                          const char *in_use, bool grow, bool inject, struct kvz_error **err)
{
    char *b = image_path(h, want->name, 1);
    int slot = b && !strcmp(in_use, b) ? 0 : 1; /* the slot not in use */
    char vname[24];
    char *path = image_path(h, want->name, slot), *tmpdir = NULL;
    struct kvz_buf img = KVZ_BUF_INIT;
    virStoragePoolPtr pool = NULL;
    unsigned long long recv = 0;
    int rc = -1;
    *out_path = NULL;
    image_name(vname, h, want->name, slot);
    if (!b || !path) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (kvz_remote_pool_ensure(&pool, h, err) < 0 || !(tmpdir = work_dir(h, "rewrite", err)))
        goto cleanup;
    kvz_buf_printf(&img, "%s/rootfs.img", tmpdir);
    kvz_host_log(h, want->name, "downloading rootfs image from the host");
    /* what a failed earlier attempt left in the other slot is not the guest's */
    if (img.oom || remove_image(h, path, err) < 0 ||
        kvz_volume_download_file(h->conn, in_use, img.ptr, h, want->name,
                                 "downloading rootfs image", &recv, err) < 0)
        goto cleanup;
    char msg[96];
    snprintf(msg, sizeof(msg), "rootfs image downloaded (%llu MiB of data, holes skipped)",
             recv >> 20);
    kvz_host_log(h, want->name, msg);
    if (grow) {
        kvz_host_log(h, want->name, "growing disk");
        if (kvz_disk_grow_offline(img.ptr, want->disk, err) < 0)
            goto cleanup;
    }
    if (inject && kvz_disk_inject(img.ptr, want, err) < 0)
        goto cleanup;
    if (upload_image(pool, vname, img.ptr, h, want, err) < 0)
        goto cleanup;
    *out_path = path;
    path = NULL;
    rc = 0;
cleanup:
    if (tmpdir)
        kvz_tree_discard(tmpdir);
    free(tmpdir);
    kvz_buf_release(&img);
    if (pool)
        virStoragePoolFree(pool);
    free(path);
    free(b);
    return rc;
}

int kvz_ct_retire_remote(struct kvz_host *h, const char *path, struct kvz_error **err)
{
    return remove_image(h, path, err);
}

int kvz_ct_create_remote(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                         const char *digest, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    virStoragePoolPtr pool = NULL;
    char vname[24];
    struct kvz_buf mark_path = KVZ_BUF_INIT;
    char *path = kvz_ct_remote_image_path(h, want->name);
    int ret = -1;
    image_name(vname, h, want->name, 0);
    kvz_buf_printf(&mark_path, "%s.ok", path ? path : "");
    if (!path || mark_path.oom) {
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
            make_and_upload(pool, vname, h, want, src, err) < 0)
            goto cleanup;
    } else {
        kvz_host_log(h, want->name, "reusing the complete rootfs image on the host");
    }
    if (dom)
        virDomainFree(dom);
    dom = NULL;
    if (kvz_ct_define(&dom, h, want, digest, NULL, path, err) < 0)
        goto cleanup;
    /* the domain is on slot 0 now: an image a rewrite left in the other slot goes */
    char *other = image_path(h, want->name, 1);
    int gone = other ? remove_image(h, other, err) : kvz_error_set(err, "out of memory");
    free(other);
    if (gone < 0 || kvz_ct_converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "create container '%s'", want->name);
    if (dom)
        virDomainFree(dom);
    if (pool)
        virStoragePoolFree(pool);
    kvz_buf_release(&mark_path);
    free(path);
    return ret;
}

int kvz_ct_remove_remote(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    char *a = image_path(h, name, 0), *b = image_path(h, name, 1);
    int ret = -1;
    if (!a || !b) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (kvz_domain_lookup(&dom, &own, h, KVZ_KIND_CONTAINER, name, err) < 0)
        goto cleanup;
    /* each mark goes before its image: a remove killed midway leaves no image taken for whole */
    if ((dom && kvz_ct_stop(h, dom, kvz_ownership_stop_timeout(own), err) < 0) ||
        remove_image(h, a, err) < 0 || remove_image(h, b, err) < 0)
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
    free(a);
    free(b);
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
