/*
 * kvz-bench-upload URI FILE VOLUME: one upload of FILE into VOLUME of the pool "kvzb11-bench"
 * on the host of URI, the way kvz uploads a template image to a remote host (providers/
 * volume.c: sparse, zero blocks as holes). For bench/hosts/upload, against virsh vol-upload.
 */
#include "providers/volume.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>

static void silent(void *ctx, virErrorPtr e)
{
}

int main(int argc, char **argv)
{
    struct kvz_error *err = NULL;
    virStoragePoolPtr pool = NULL;
    unsigned long long sent = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: kvz-bench-upload URI FILE VOLUME\n");
        return 2;
    }
    virSetErrorFunc(NULL, silent);
    virConnectPtr conn = virConnectOpen(argv[1]);
    struct kvz_host h = {.uri = argv[1], .conn = conn};
    if (!conn ||
        kvz_remote_pool_ensure_named(&pool, conn, "kvzb11-bench", KVZ_REMOTE_POOL_ROOT "/bench",
                                     &err) < 0 ||
        kvz_volume_upload_file(pool, argv[3], argv[2], &h, "bench", "upload", &sent, &err) < 0) {
        fprintf(stderr, "kvz-bench-upload: %s\n", err ? kvz_error_msg(err) : "cannot connect");
        return 1;
    }
    printf("%llu bytes of data sent\n", sent);
    virStoragePoolFree(pool);
    virConnectClose(conn);
    return 0;
}
