#include "store/openpgp.h"

#include "base/fs.h"

#include <gpgme.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *gpgme_version;

static void init(void)
{
    gpgme_version = gpgme_check_version(NULL);
    gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
}

/* Imports the keyring into the context's (temporary) home; fails when it holds no key. */
static int import_keyring(gpgme_ctx_t ctx, const char *keyring, struct kvz_error **err)
{
    gpgme_data_t keys = NULL;
    gpgme_error_t e = gpgme_data_new_from_file(&keys, keyring, 1);
    if (e)
        return kvz_error_set(err, "keyring '%s': %s; give a file of public keys (gpg --export)",
                             keyring, gpgme_strerror(e));
    e = gpgme_op_import(ctx, keys);
    gpgme_data_release(keys);
    gpgme_import_result_t r = e ? NULL : gpgme_op_import_result(ctx);
    if (e || !r || r->considered == 0 || r->imported + r->unchanged == 0)
        return kvz_error_set(
            err,
            "keyring '%s' holds no OpenPGP public key%s%s; export one with 'gpg --export KEYID > FILE'",
            keyring, e ? ": " : "", e ? gpgme_strerror(e) : "");
    return 0;
}

static void describe(struct kvz_openpgp_signer *s, gpgme_ctx_t ctx, const char *fpr)
{
    gpgme_key_t key = NULL;
    snprintf(s->fpr, sizeof(s->fpr), "%s", fpr ? fpr : "");
    s->uid[0] = '\0';
    if (fpr && gpgme_get_key(ctx, fpr, &key, 0) == 0 && key) {
        if (key->subkeys && key->subkeys->fpr)
            snprintf(s->fpr, sizeof(s->fpr), "%s", key->subkeys->fpr);
        if (key->uids && key->uids->uid)
            snprintf(s->uid, sizeof(s->uid), "%s", key->uids->uid);
        gpgme_key_unref(key);
    }
}

/* "key FPR (UID)" for messages. */
static const char *who(char *buf, size_t n, const struct kvz_openpgp_signer *s)
{
    if (s->uid[0])
        snprintf(buf, n, "key %s (%s)", s->fpr, s->uid);
    else
        snprintf(buf, n, "key %s", s->fpr);
    return buf;
}

static int check(struct kvz_openpgp_signer *out, gpgme_ctx_t ctx, const char *keyring,
                 const char *what, struct kvz_error **err)
{
    gpgme_verify_result_t r = gpgme_op_verify_result(ctx);
    char name[400];
    if (!r || !r->signatures)
        return kvz_error_set(
            err, "%s: the signature file holds no signature; check the signature URL", what);
    /* Every signature must be good: one good signature beside a bad one proves nothing. */
    for (gpgme_signature_t s = r->signatures; s; s = s->next) {
        struct kvz_openpgp_signer signer;
        describe(&signer, ctx, s->fpr);
        who(name, sizeof(name), &signer);
        switch (gpg_err_code(s->status)) {
        case GPG_ERR_NO_ERROR:
            break;
        case GPG_ERR_NO_PUBKEY:
            return kvz_error_set(
                err,
                "%s is signed by %s, which is not in keyring '%s'; add that key to the keyring if you trust it",
                what, name, keyring);
        case GPG_ERR_BAD_SIGNATURE:
            return kvz_error_set(
                err,
                "%s: BAD signature by %s: the signed file changed after it was signed; do not use it",
                what, name);
        case GPG_ERR_SIG_EXPIRED:
            return kvz_error_set(err, "%s: the signature by %s has expired", what, name);
        case GPG_ERR_KEY_EXPIRED:
            return kvz_error_set(
                err, "%s: signed by %s, which has expired; get the signer's current key", what,
                name);
        case GPG_ERR_CERT_REVOKED:
            return kvz_error_set(err, "%s: signed by %s, which is revoked; do not use it", what,
                                 name);
        default:
            return kvz_error_set(err, "%s: signature by %s not valid: %s", what, name,
                                 gpgme_strerror(s->status));
        }
        if (s->summary &
            (GPGME_SIGSUM_KEY_REVOKED | GPGME_SIGSUM_KEY_EXPIRED | GPGME_SIGSUM_SIG_EXPIRED))
            return kvz_error_set(err, "%s: signed by %s, which is expired or revoked", what, name);
        if (out && s == r->signatures)
            *out = signer;
    }
    return 0;
}

int kvz_openpgp_verify(struct kvz_openpgp_signer *out, const void *data, size_t len,
                       const void *sig, size_t sig_len, const char *keyring, const char *what,
                       struct kvz_error **err)
{
    char home[] = "/tmp/kvz-gnupg-XXXXXX";
    gpgme_ctx_t ctx = NULL;
    gpgme_data_t dsig = NULL, dtext = NULL;
    gpgme_error_t e;
    int ret = -1;

    pthread_once(&once, init);
    if (!gpgme_version)
        return kvz_error_set(err, "%s: GPGME cannot be used here; install gnupg", what);
    if (!mkdtemp(home))
        return kvz_error_set_errno(err, "%s: temporary GnuPG home", what);
    if ((e = gpgme_new(&ctx)) ||
        (e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home))) {
        kvz_error_set(err, "%s: GnuPG: %s; install gnupg", what, gpgme_strerror(e));
        goto cleanup;
    }
    if (import_keyring(ctx, keyring, err) < 0)
        goto cleanup;
    if ((e = gpgme_data_new_from_mem(&dsig, sig, sig_len, 0)) ||
        (e = gpgme_data_new_from_mem(&dtext, data, len, 0))) {
        kvz_error_set(err, "%s: %s", what, gpgme_strerror(e));
        goto cleanup;
    }
    if ((e = gpgme_op_verify(ctx, dsig, dtext, NULL))) {
        kvz_error_set(err, "%s: the signature cannot be read: %s; check the signature URL", what,
                      gpgme_strerror(e));
        goto cleanup;
    }
    ret = check(out, ctx, keyring, what, err);
cleanup:
    gpgme_data_release(dsig);
    gpgme_data_release(dtext);
    gpgme_release(ctx);
    kvz_tree_discard(home);
    return ret;
}
