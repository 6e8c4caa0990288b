#ifndef KVZ_STORE_STORE_H
#define KVZ_STORE_STORE_H

#include "parser/manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvz_error;

/*
 * The template store (docs/templates.md): downloads templates, verifies
 * them, keeps them in a content-addressed cache under <state_dir>/cache/
 * and unpacks rootfs archives in a confined process of its own (store/unpacker.h). Never
 * prints: progress goes to a callback.
 *
 * Cache layout (one filesystem, so every install is an atomic rename):
 *   objects/<sha256>/meta.json      what the object is (kind, format, size, source)
 *   objects/<sha256>/rootfs/        an unpacked rootfs archive (object dir 0700), or
 *   objects/<sha256>/disk.qcow2|disk.raw   a decompressed disk image, or
 *   objects/<sha256>/image.iso      an ISO, stored as is (disk and ISO objects: 0755)
 *   index/<id>                      template identity (url + checksum) -> sha256
 *   alias/sha512-<hex>              declared sha512 -> sha256 of the same bytes
 *   partial/<id>.part               a download in progress or left by a crash
 *   tmp/, locks/                    staging trees and flock(2) files
 * The content digest of a template is always the sha256 of the bytes as
 * downloaded (before any decompression), whatever checksum the manifest gives.
 */

enum kvz_progress_phase {
    KVZ_PROGRESS_CHECKSUMS = 0, /* fetching the SUMS file */
    KVZ_PROGRESS_DOWNLOAD, /* bytes of the template arriving (hashed and unpacked as they come) */
    KVZ_PROGRESS_RETRY,    /* a transient failure; `message` says which, a retry follows */
    KVZ_PROGRESS_DONE,     /* verified and stored */
};

struct kvz_progress {
    const char *name; /* template name */
    enum kvz_progress_phase phase;
    uint64_t done;       /* bytes so far (includes bytes resumed from a partial download) */
    uint64_t total;      /* expected bytes, 0 when unknown */
    uint64_t resumed;    /* bytes a partial download already held when this transfer began */
    const char *message; /* RETRY: why; otherwise NULL */
};

/*
 * Called from the pulling thread; with kvz_store_pull_many() from several
 * threads at once, so it must be thread-safe. Must not call back into the store.
 */
typedef void (*kvz_progress_fn)(void *arg, const struct kvz_progress *p);

struct kvz_store_opts {
    uint64_t max_unpack_bytes; /* total bytes a rootfs archive may claim; default 64 GiB */
    uint64_t max_entries;      /* entries a rootfs archive may hold; default 4 million */
    /*
     * Before its digest matched, content may put no more on disk than unverified_ratio times
     * the bytes downloaded so far plus unverified_slack (defaults 8 and 32 MiB); past that its
     * unpacking stops, and content that proves genuine is unpacked again from the verified file.
     */
    uint64_t unverified_ratio;
    uint64_t unverified_slack;
    unsigned retries;           /* retries after a transient failure; default 5 */
    unsigned backoff_ms;        /* first retry delay, doubled each time; default 500 */
    unsigned backoff_max_ms;    /* cap on the delay and on Retry-After; default 30000 */
    unsigned stall_seconds;     /* fail a transfer below stall_bytes/s for this long; default 30 */
    unsigned stall_bytes;       /* default 1024 */
    unsigned connect_timeout_s; /* default 30 */
    unsigned max_redirects;     /* default 10 */
    kvz_progress_fn progress;   /* may be NULL */
    void *progress_arg;
};

/* Fills `o` with the defaults above. */
void kvz_store_opts_init(struct kvz_store_opts *o);

struct kvz_store;

/*
 * Opens (creating when missing) the cache under `state_dir`/cache. `opts`
 * may be NULL for the defaults; it is copied. Returns 0 and sets *out (free
 * with kvz_store_free), or -1.
 */
int kvz_store_open(struct kvz_store **out, const char *state_dir, const struct kvz_store_opts *opts,
                   struct kvz_error **err) __attribute__((warn_unused_result));
void kvz_store_free(struct kvz_store *s);

/* A cached, verified template. Every string is owned by the struct. */
struct kvz_image {
    char *digest;               /* "sha256:<hex>" of the bytes as downloaded */
    enum kvz_content_kind kind; /* ROOTFS, DISK or ISO, from the content */
    char *format;               /* "tar", "tar+gz"...; "qcow2" or "raw" for disks; "iso" */
    char *path;                 /* rootfs directory, disk image file or ISO file */
    uint64_t size;              /* bytes of content (sum of file sizes, or image length) */
    char *source;               /* the URL it was first fetched from */
    int hold; /* a shared lock on the object while this struct lives (its fd + 1; 0: none): a
               * prune leaves an object alone while anyone holds it */
};

void kvz_image_release(struct kvz_image *img);

/*
 * Makes template `t` available: returns at once when cached (no network at
 * all), else downloads, verifies and stores it, resuming a partial download.
 * `want` is the use (ROOTFS for a container, DISK for a VM image, ISO for a
 * cdrom) or UNKNOWN for "whatever it is"; content of another kind is an error
 * naming both. Safe against other threads and processes pulling the same
 * template. Returns 0 and fills *out (release with kvz_image_release), or -1.
 */
int kvz_store_pull(struct kvz_image *out, struct kvz_store *s, const struct kvz_template *t,
                   enum kvz_content_kind want, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Pulls n templates, up to `parallel` at once (distinct templates download in
 * parallel). out[i] and errs[i] (both arrays of n, errs[i] starting NULL)
 * receive each one's result; wants may be NULL (all UNKNOWN). Returns 0 when
 * all succeeded, else -1 (the failures are in errs[]).
 */
int kvz_store_pull_many(struct kvz_image *out, struct kvz_store *s,
                        const struct kvz_template *const *t, const enum kvz_content_kind *wants,
                        size_t n, unsigned parallel, struct kvz_error **errs)
    __attribute__((warn_unused_result));

/*
 * What template `t` holds, as far as it is known without a download: its content digest
 * ("sha256:HEX", the cache's key) when the manifest declares a sha256, when a declared sha512
 * or t's source was pulled before, or by reading a local file. Returns 1 and fills out, 0 when
 * unknown, -1 on error (a local file that cannot be read).
 */
int kvz_store_resolve(char out[72], struct kvz_store *s, const struct kvz_template *t,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * The digest template `t`'s SUMS file (t->checksums_url) gives its file, after checking the
 * file's detached signature against t's keyring when t has a signature. opts may be NULL.
 * Sets *algo and *hex (caller frees). Returns 0, or -1 (nothing is trusted then).
 */
int kvz_store_checksum(enum kvz_digest_algo *algo, char **hex, const struct kvz_template *t,
                       const struct kvz_store_opts *opts, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * The cached object of `t`, without network and without waiting on locks.
 * Returns 1 and fills *out when cached, 0 when not (out untouched), -1 on error.
 */
int kvz_store_lookup(struct kvz_image *out, struct kvz_store *s, const struct kvz_template *t,
                     struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Removes every cache object, index entry and partial download that none of the n templates
 * `keep` refers to and whose content digest ("sha256:HEX") is not among the n_used `used` (what
 * the hosts' guests were made from; an entry may also be a path into an object, the tree a
 * container's overlay mounts). An object that a running pull or apply holds (struct
 * kvz_image's hold) is left alone too and counted in *out_busy. Sets *out_freed to the bytes
 * freed on disk and *out_removed to the objects removed. Returns 0 or -1.
 */
int kvz_store_prune(uint64_t *out_freed, size_t *out_removed, size_t *out_busy, struct kvz_store *s,
                    const struct kvz_template *const *keep, size_t n, const char *const *used,
                    size_t n_used, struct kvz_error **err) __attribute__((warn_unused_result));

#endif
