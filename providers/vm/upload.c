/*
 * A vm's base image on a remote host: uploaded into the host's kvz pool through libvirt, once
 * per content digest (docs/hosts.md).
 */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parallel creates from one image would each replace the other's half-sent volume: uploads of
 * this process go one at a time (a second finds the first's base whole). */
static pthread_mutex_t upload_lock = PTHREAD_MUTEX_INITIALIZER;

int kvz_vm_base_upload(char **out_path, bool *out_qcow2, uint64_t *out_size, virStoragePoolPtr pool,
                       struct kvz_host *h, const char *resource, const char *image_path,
                       const char *digest, struct kvz_error **err)
{
    virConnectPtr conn = virStoragePoolGetConnect(pool);
    struct kvz_buf name = KVZ_BUF_INIT, mark = KVZ_BUF_INIT;
    char *path = NULL, *mark_path = NULL;
    bool qcow2 = false;
    int rc = -1;
    *out_path = NULL;
    for (const char *c = digest; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return kvz_error_set(err, "image digest '%s' is not lowercase hex", digest);
    if (kvz_vm_image_is_qcow2(&qcow2, image_path, err) < 0)
        return -1;
    kvz_buf_printf(&name, "base-%.64s.%s", digest, qcow2 ? "qcow2" : "raw");
    kvz_buf_printf(&mark, "%s.ok", kvz_buf_cstr(&name));
    path = kvz_vm_pool_path(h, kvz_buf_cstr(&name), "");
    mark_path = kvz_vm_pool_path(h, kvz_buf_cstr(&mark), "");
    if (name.oom || mark.oom || !path || !mark_path) {
        kvz_error_set(err, "storage pool: out of memory");
        goto cleanup;
    }
    pthread_mutex_lock(&upload_lock);
    bool whole = kvz_volume_exists(conn, pool, mark_path) && kvz_volume_exists(conn, NULL, path);
    if (whole) {
        kvz_host_log(h, resource, "base image already on the host: nothing to upload");
    } else {
        unsigned long long sent = 0;
        char msg[96];
        kvz_host_log(h, resource, "uploading base image to the host");
        int up = kvz_volume_upload_file(pool, kvz_buf_cstr(&name), image_path, h, resource,
                                        "uploading base image", &sent, err);
        static const char ok[] = "whole\n";
        if (up == 0)
            up = kvz_volume_put_bytes(pool, kvz_buf_cstr(&mark), (const unsigned char *)ok,
                                      sizeof(ok) - 1, err);
        if (up < 0) {
            pthread_mutex_unlock(&upload_lock);
            kvz_error_wrap(err, "upload the base image to the host");
            goto cleanup;
        }
        snprintf(msg, sizeof(msg), "base image uploaded (%llu MiB of data, holes skipped)",
                 sent >> 20);
        kvz_host_log(h, resource, msg);
    }
    pthread_mutex_unlock(&upload_lock);
    /* the pool's refresh probes the file: a qcow2 base has its virtual size */
    if (virStoragePoolRefresh(pool, 0) < 0) {
        kvz_error_set(err, "refresh storage pool: %s", kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_vm_volume_capacity(out_size, pool, path, err) < 0)
        goto cleanup;
    *out_qcow2 = qcow2;
    *out_path = path;
    path = NULL;
    rc = 0;
cleanup:
    kvz_buf_release(&name);
    kvz_buf_release(&mark);
    free(path);
    free(mark_path);
    return rc;
}
