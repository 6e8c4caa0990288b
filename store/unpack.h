#ifndef KVZ_STORE_UNPACK_H
#define KVZ_STORE_UNPACK_H

#include "parser/manifest.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kvz_error;

/*
 * The unpack engine: libarchive turning a downloaded stream into a rootfs tree or an image file.
 * It runs inside the confined unpacker process (store/unpacker.c) and in the fuzzer, never in
 * kvz itself, and writes into the working directory, which belongs to its caller.
 */

/* A byte stream to unpack: read() returns bytes read, 0 at the end, -1 on failure. */
struct kvz_source {
    ssize_t (*read)(void *arg, void *buf, size_t len);
    void *arg;
};

/*
 * What content that is not verified yet may cost: the bytes it puts on disk (`out`: file data
 * in 4 KiB blocks, holes excluded, and 512 bytes per entry, 4 KiB per directory) may not pass
 * `ratio` times the bytes read so far (`in`, advanced by the reader from any thread) plus
 * `slack`. ratio 0: no such limit (`out` is still counted). `over` tells that stop from the
 * other failures.
 */
struct kvz_unpack_budget {
    uint64_t ratio, slack;
    _Atomic uint64_t in;
    uint64_t out;
    bool over;
    bool needs_admin; /* stopped at an xattr only CAP_SYS_ADMIN may set (admin_xattrs false) */
};

struct kvz_unpack_limits {
    uint64_t max_bytes;               /* total size the entries may claim */
    uint64_t max_entries;             /* entries in the archive */
    struct kvz_unpack_budget *budget; /* may be NULL */
    /* trusted.* and security.* xattrs (but security.capability) may be set: the caller holds
     * CAP_SYS_ADMIN for verified content. Else an entry with them stops the extraction. */
    bool admin_xattrs;
};

/*
 * Extracts the tar archive (plain, gz, xz, zstd or bzip2) read from `src` into the working
 * directory, keeping owners (numeric), modes including setuid, times, xattrs, ACLs, hard links,
 * symlinks and device nodes. Refuses the whole archive when an entry is absolute, holds "..",
 * would be written through a symlink, hard-links outside, or the limits are exceeded, and when
 * a member's data ends early. On failure the directory holds a partial tree that the caller
 * removes. `compressed`: decompress in a second thread, overlapping with extraction. Sets
 * *out_bytes to the bytes of file data written. Returns 0 or -1.
 */
int kvz_unpack_tar(uint64_t *out_bytes, const struct kvz_source *src, bool compressed,
                   const struct kvz_unpack_limits *lim, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Reads the first up-to-`cap` bytes of the decompressed stream of `src`
 * (gz, xz, zstd or bzip2) into `head`; sets *out_len. Returns 0 or -1.
 */
int kvz_unpack_peek(size_t *out_len, void *head, size_t cap, const struct kvz_source *src,
                    struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Decompresses `src` into a new file `path` (runs of zeros become holes), refusing more than
 * lim->max_bytes bytes. Sets *out_size to its length. Returns 0 or -1 (the file may remain).
 */
int kvz_unpack_decompress(uint64_t *out_size, const char *path, const struct kvz_source *src,
                          const struct kvz_unpack_limits *lim, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What a stream turned out to be (store/unpack_stream.c). */
struct kvz_unpack_result {
    enum kvz_content_kind kind; /* ROOTFS, DISK or ISO */
    char format[16];            /* "tar", "tar+gzip"...; "qcow2" or "raw"; "iso" */
    bool use_download;          /* stored as downloaded: nothing was written */
    uint64_t content_size;      /* bytes of file data, or the image's length */
};

/*
 * Recognises the content read from `fd` by its first bytes and unpacks it into the working
 * directory: a tar archive (optionally compressed) into rootfs/, a compressed disk image or ISO
 * into its image file; an uncompressed image is left to the download itself (use_download, and
 * the rest of the stream is not read). `expect` ROOTFS refuses anything but a rootfs archive.
 * Returns 0 and fills *out, or -1.
 */
int kvz_unpack_stream(struct kvz_unpack_result *out, int fd, enum kvz_content_kind expect,
                      const struct kvz_unpack_limits *lim, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The name of the object's file for a result: "rootfs", "disk.qcow2", "disk.raw", "image.iso";
 * NULL for a result no unpacker can give (a kind and format that do not belong together). */
const char *kvz_unpack_file(const struct kvz_unpack_result *r);

#endif
