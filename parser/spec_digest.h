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

/*
 * Whether a guest recorded as made from `recorded` is still made from template `t`. Identity is
 * the content: `recorded` is the content digest of what the guest was made from ("sha256:HEX";
 * kvz 0.1 recorded the declared identity instead: the manifest's "sha256:"/"sha512:" checksum,
 * or "url:..." without one). `now` is t's content digest as far as it is known without a
 * download (NULL: unknown; t's declared sha256 counts), `recorded_source` the template's
 * declared identity (kvz_template_identity) when the guest was made, NULL for kvz 0.1. So a
 * checksum added to the same bytes, or a URL moved to a byte-identical copy, is the same
 * template; without content to compare, a changed source is a change. A digest in an unknown
 * format counts as a match: the planner replaces a guest only on evidence.
 */
bool kvz_template_digest_matches(const char *recorded, const char *recorded_source,
                                 const struct kvz_template *t, const char *now);

/*
 * kvz_template_digest_matches, telling one match apart: KVZ_TEMPLATE_PIN_UNKNOWN when `t` is a
 * SUMS template pinned by kvz.lock in another algorithm (sha512) than the guest's content digest,
 * the guest was made from the same url and SUMS url before the lock, and the pinned bytes are
 * not in the cache to resolve `now`. No evidence of other bytes: not a change (a replace would
 * lose the guest's data), but unverified until the pinned template is pulled.
 */
enum kvz_template_match {
    KVZ_TEMPLATE_SAME,
    KVZ_TEMPLATE_CHANGED,
    KVZ_TEMPLATE_PIN_UNKNOWN,
};
enum kvz_template_match kvz_template_compare(const char *recorded, const char *recorded_source,
                                             const struct kvz_template *t, const char *now);

/* sha256 of `len` bytes as lowercase hex. */
void kvz_sha256_hex(char out[KVZ_SHA256_HEX], const void *data, size_t len);

#endif
