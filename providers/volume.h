#ifndef KVZ_PROVIDERS_VOLUME_H
#define KVZ_PROVIDERS_VOLUME_H

/*
 * Storage on a host kvz reaches only through libvirt (docs/hosts.md): volumes of a pool found by
 * their path on that host, made from bytes kvz holds here through libvirt's volume upload
 * (sparse: holes are sent as holes), with progress, and copied back here by download (a
 * remote container's image, changed here and uploaded again).
 */

#include "base/error.h"
#include "providers/provider.h"

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>

/* Where kvz's pools live on a remote host: <root>/<pool name>. */
#define KVZ_REMOTE_POOL_ROOT "/var/lib/libvirt/kvz"

/* Whether h's connection is to another machine: its files are not ours to touch. */
bool kvz_host_is_remote(const struct kvz_host *h);

/* The kvz pool of a remote host for this state dir ("kvz-" + 12 hex of sha256(state_dir), the
 * vms' pool too) at KVZ_REMOTE_POOL_ROOT/<name>: defined, built and started when needed. */
void kvz_pool_name(char out[32], const char *state_dir);
int kvz_remote_pool_ensure(virStoragePoolPtr *out, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));
/* The same for a pool of any name and directory (kvz's own constants: not escaped). */
int kvz_remote_pool_ensure_named(virStoragePoolPtr *out, virConnectPtr conn, const char *name,
                                 const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* How far a volume upload or download is: h's log gets "`what`: N% (M MiB of data `verb`)"
 * under `resource` every 10% (h may be NULL: no log). */
struct kvz_transfer {
    unsigned long long size, done, data; /* bytes in all, so far, and of them data (not holes) */
    int last_pct;                        /* start at -10 */
    struct kvz_host *h;
    const char *resource, *what, *verb;
};

/* n more bytes moved (data: real bytes; else a hole skipped). */
void kvz_transfer_step(struct kvz_transfer *t, unsigned long long n, bool data);

/* The capacity of the volume at `path`, in bytes. */
int kvz_volume_capacity(unsigned long long *out, virConnectPtr conn, const char *path,
                        struct kvz_error **err) __attribute__((warn_unused_result));

/* Whether a volume with this path exists on conn's host (the pool is refreshed first when
 * given, so files another client made are seen). */
bool kvz_volume_exists(virConnectPtr conn, virStoragePoolPtr pool, const char *path);

/* Deletes the volume at `path`; a missing one is success. */
int kvz_volume_remove(virConnectPtr conn, virStoragePoolPtr pool, const char *path,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* Makes volume `name` of `pool` hold exactly data[0..len) (a volume of that name is replaced),
 * mode 0600. */
int kvz_volume_put_bytes(virStoragePoolPtr pool, const char *name, const unsigned char *data,
                         size_t len, struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Makes volume `name` of `pool` a copy of local file `file` (a volume of that name is replaced),
 * sending its holes as holes (virStreamSparseSendAll), mode 0644. Progress goes to h's log as
 * "`what`: N%" under `resource`. *out_sent (may be NULL) receives the data bytes sent.
 */
int kvz_volume_upload_file(virStoragePoolPtr pool, const char *name, const char *file,
                           struct kvz_host *h, const char *resource, const char *what,
                           unsigned long long *out_sent, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Copies the volume at `path` on conn's host into the new local file `file` (mode 0600; it must
 * not exist), its holes as holes (virStorageVolDownload with a sparse stream). Progress goes to
 * h's log (h may be NULL) as "`what`: N%" under `resource`; *out_recv (may be NULL) receives the
 * data bytes received. On failure the file is removed.
 */
int kvz_volume_download_file(virConnectPtr conn, const char *path, const char *file,
                             struct kvz_host *h, const char *resource, const char *what,
                             unsigned long long *out_recv, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
