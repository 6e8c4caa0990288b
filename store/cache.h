#ifndef KVZ_STORE_CACHE_H
#define KVZ_STORE_CACHE_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Internal to the store: the cache layout described in image_store.h. */

struct kvz_store {
    char *root; /* <state_dir>/cache, absolute */
    struct kvz_store_opts opts;
};

#define KVZ_HEX256 65 /* sha256 hex + NUL */

/*
 * The identity of a template: sha256 of its URL and its checksum (or its
 * checksums: URL, or "insecure"), so a different digest is another template.
 */
int kvz_cache_identity(char out[KVZ_HEX256], const struct kvz_template *t, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* "<root>/<a>/<b>"; caller frees. NULL on out of memory. */
char *kvz_cache_path(const struct kvz_store *s, const char *a, const char *b);

/*
 * Takes the exclusive flock(2) lock `name` under locks/; sets *out_fd (close
 * it to unlock). wait=false: returns 1 when another holder has it. Returns 0 or -1.
 */
int kvz_cache_lock(int *out_fd, const struct kvz_store *s, const char *name, bool wait,
                   struct kvz_error **err) __attribute__((warn_unused_result));

/* The object with this sha256 hex: 1 and *out filled, 0 when absent, -1 on error. */
int kvz_cache_object(struct kvz_image *out, const struct kvz_store *s, const char *hex,
                     struct kvz_error **err) __attribute__((warn_unused_result));

/* The sha256 hex of the bytes with this sha512 hex: 1 and out filled, 0 unknown. */
int kvz_cache_alias(char out[KVZ_HEX256], const struct kvz_store *s, const char *sha512_hex);

/* The same, for an entry of alias/ by its file name ("sha512-<hex>"). */
int kvz_cache_alias_entry(char out[KVZ_HEX256], const struct kvz_store *s, const char *name);

/* The object a template identity resolved to: 1 and out filled, 0 unknown. */
int kvz_cache_index(char out[KVZ_HEX256], const struct kvz_store *s, const char *id);

/* Records identity -> sha256 (and sha512 -> sha256 when sha512_hex). Atomic. Returns 0 or -1. */
int kvz_cache_record(const struct kvz_store *s, const char *id, const char *hex,
                     const char *sha512_hex, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Moves the staged directory `tmpdir` (holding `file`, the rootfs/ tree or the
 * image) into objects/<hex>, writing its meta.json; when the object already
 * exists (the same bytes came under another URL) removes tmpdir instead.
 * Holds the object's lock meanwhile. Returns 0 or -1.
 */
int kvz_cache_install(const struct kvz_store *s, const char *tmpdir, const char *hex,
                      enum kvz_content_kind kind, const char *format, const char *file,
                      uint64_t size, const char *source, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
