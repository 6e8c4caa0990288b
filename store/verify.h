#ifndef KVZ_STORE_VERIFY_H
#define KVZ_STORE_VERIFY_H

#include "parser/manifest.h"

#include <stddef.h>

struct kvz_error;
struct evp_md_ctx_st;

/*
 * Streaming digests of a download: sha256 always (the cache key) and the
 * manifest's algorithm when it is another one, fed while the bytes arrive.
 */
struct kvz_hasher {
    struct evp_md_ctx_st *sha256;
    struct evp_md_ctx_st *extra; /* sha512, or NULL */
};

/* Returns 0 or -1. `extra` is the second algorithm (NONE or SHA256: none). */
int kvz_hasher_init(struct kvz_hasher *h, enum kvz_digest_algo extra, struct kvz_error **err)
    __attribute__((warn_unused_result));
/* Starts over (the download restarted from byte 0). Returns 0 or -1. */
int kvz_hasher_reset(struct kvz_hasher *h, struct kvz_error **err)
    __attribute__((warn_unused_result));
int kvz_hasher_update(struct kvz_hasher *h, const void *data, size_t len, struct kvz_error **err)
    __attribute__((warn_unused_result));
/*
 * Finishes; writes lowercase hex into sha256_hex (65 bytes) and, when there is
 * an extra algorithm, extra_hex (129 bytes; may be NULL otherwise). Returns 0 or -1.
 */
int kvz_hasher_final(char *sha256_hex, char *extra_hex, struct kvz_hasher *h,
                     struct kvz_error **err) __attribute__((warn_unused_result));
void kvz_hasher_release(struct kvz_hasher *h);

/*
 * Finds `name` (a file name, without directories) in a SUMS file (GNU
 * coreutils format: "HEX  NAME" or "HEX *NAME", '#' comments, "./" prefixes
 * ignored). The algorithm follows from the hex length (64: sha256, 128:
 * sha512). Returns 0 and sets *out_algo and *out_hex (lowercase, caller
 * frees), or -1 when the name is missing, listed twice with different
 * digests, or a matching line is malformed.
 */
int kvz_sums_find(enum kvz_digest_algo *out_algo, char **out_hex, const char *sums, size_t len,
                  const char *name, struct kvz_error **err) __attribute__((warn_unused_result));

#endif
