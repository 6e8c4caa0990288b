#ifndef KVZ_STORE_UNPACK_H
#define KVZ_STORE_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kvz_error;

/* A byte stream to unpack: read() returns bytes read, 0 at the end, -1 on failure. */
struct kvz_source {
    ssize_t (*read)(void *arg, void *buf, size_t len);
    void *arg;
};

struct kvz_unpack_limits {
    uint64_t max_bytes;   /* total size the entries may claim */
    uint64_t max_entries; /* entries in the archive */
};

/*
 * Extracts the tar archive (plain, gz, xz, zstd or bzip2) read from `src`
 * into the existing, empty directory `dir`, keeping owners (numeric), modes
 * including setuid, times, xattrs, ACLs, hard links, symlinks and device
 * nodes. Refuses the whole archive when an entry is absolute, holds "..",
 * would be written through a symlink, hard-links outside, or the limits are
 * exceeded, and when a member's data ends early. On failure `dir` holds a
 * partial tree that the caller removes. The calling thread's working
 * directory is made private (unshare CLONE_FS) and restored, so other threads
 * are unaffected. `compressed`: decompress in a second thread, overlapping
 * with extraction. Sets *out_bytes to the bytes of file data written. Returns 0 or -1.
 */
int kvz_unpack_tar(uint64_t *out_bytes, const char *dir, const struct kvz_source *src,
                   bool compressed, const struct kvz_unpack_limits *lim, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Reads the first up-to-`cap` bytes of the decompressed stream of `src`
 * (gz, xz, zstd or bzip2) into `head`; sets *out_len. Returns 0 or -1.
 */
int kvz_unpack_peek(size_t *out_len, void *head, size_t cap, const struct kvz_source *src,
                    struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Decompresses `src` into a new file `path` (runs of zeros become holes),
 * refusing more than `max` bytes. Sets *out_size to its length. Returns 0 or
 * -1 (the file may remain).
 */
int kvz_unpack_decompress(uint64_t *out_size, const char *path, const struct kvz_source *src,
                          uint64_t max, struct kvz_error **err) __attribute__((warn_unused_result));

#endif
