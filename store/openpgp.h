#ifndef KVZ_STORE_OPENPGP_H
#define KVZ_STORE_OPENPGP_H

/*
 * Detached OpenPGP signatures, verified with GPGME against a keyring file:
 * the one trust anchor is that file. Verification runs in a private, temporary
 * GnuPG home, never the user's, so nothing the user trusts or imported
 * counts, and nothing is left behind.
 */

#include "base/error.h"

#include <stddef.h>

struct kvz_openpgp_signer {
    char fpr[64];  /* the signing key's fingerprint (or key id when the key is unknown) */
    char uid[256]; /* its first user id, "" when unknown */
};

/*
 * Whether `sig` (a detached signature, armored or binary) is a good signature of the `len`
 * bytes at `data` by a key of the keyring file `keyring` (armored or binary public keys). An
 * expired or revoked key, or an expired signature, is refused. Returns 0 and fills *out (may
 * be NULL), or -1 with a message that names the signer found, if any, and what to do; `what`
 * names the signed thing in messages ("checksums 'https://...'").
 */
int kvz_openpgp_verify(struct kvz_openpgp_signer *out, const void *data, size_t len,
                       const void *sig, size_t sig_len, const char *keyring, const char *what,
                       struct kvz_error **err) __attribute__((warn_unused_result));

#endif
