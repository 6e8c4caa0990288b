#ifndef KVZ_PARSER_SPEC_DIGEST_H
#define KVZ_PARSER_SPEC_DIGEST_H

/*
 * The digests a provider records in kvz's <metadata> (providers/ownership.h)
 * and the planner compares with the manifests. Each is the sha256 (lowercase
 * hex) of a canonical JSON serialization (sorted keys, compact), so the same
 * spec gives the same digest on every host and in every kvz version that keeps
 * the serialization.
 */

#include "base/error.h"
#include "parser/manifest.h"

#include <stdbool.h>
#include <stddef.h>

#define KVZ_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* Everything the manifest says about `r`: record it as spec_digest. Returns 0, -1 on OOM. */
int kvz_spec_digest(char out[KVZ_SHA256_HEX], const struct kvz_resource *r, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What is injected into the guest (hostname, ssh keys, cloud-init user_data): record it as
 * config_digest. Returns 0, -1 on OOM. */
int kvz_config_digest(char out[KVZ_SHA256_HEX], const struct kvz_resource *r,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * The identity of a template as the manifest declares it: "sha256:HEX" / "sha512:HEX" when the
 * manifest gives the checksum, else "url:" and the sha256 of its url and checksums url.
 * Providers record it as template_digest (a bare content hex digest is accepted too). Caller
 * frees *out. Returns 0, -1 on OOM.
 */
int kvz_template_identity(char **out, const struct kvz_template *t, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Whether a recorded template_digest still names template `t`. Unknown formats, and content
 * digests the manifest gives no checksum to compare with, count as a match: the planner only
 * replaces a guest on evidence. */
bool kvz_template_digest_matches(const char *recorded, const struct kvz_template *t);

/* sha256 of `len` bytes as lowercase hex. */
void kvz_sha256_hex(char out[KVZ_SHA256_HEX], const void *data, size_t len);

#endif
