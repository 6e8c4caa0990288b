/* A template's digest from its SUMS file, signed or not (kvz_store_checksum, store/store.h). */
#include "base/buf.h"
#include "base/error.h"
#include "parser/template_url.h"
#include "store/fetch.h"
#include "store/openpgp.h"
#include "store/store.h"
#include "store/verify.h"

#include <stdlib.h>
#include <string.h>

/* A signed SUMS file: its detached signature by a key of the template's keyring, checked
 * before any digest in it is trusted (store/openpgp.h). */
static int verify_sums(const struct kvz_template *t, const struct kvz_buf *sums,
                       const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct kvz_buf sig = KVZ_BUF_INIT, what = KVZ_BUF_INIT;
    char *sig_url = NULL, *shown = NULL;
    int ret = -1;
    if (!t->signature_url)
        return 0;
    shown = kvz_url_redact(t->signature_url);
    if (kvz_fetch_url(&sig_url, t->signature_url, err) < 0 ||
        kvz_fetch_small(&sig, sig_url, 1u << 20, t->name, opts, err) < 0) {
        kvz_error_wrap(err, "signature '%s' (nothing was downloaded; check 'signature:')",
                       shown ? shown : "?");
        goto cleanup;
    }
    kvz_buf_printf(&what, "signature '%s'", shown ? shown : "?");
    if (what.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    ret = kvz_openpgp_verify(NULL, sums->ptr, sums->len, sig.ptr, sig.len, t->keyring,
                             kvz_buf_cstr(&what), err);
cleanup:
    kvz_buf_release(&sig);
    kvz_buf_release(&what);
    free(sig_url);
    free(shown);
    return ret;
}

int kvz_store_checksum(enum kvz_digest_algo *algo, char **hex, const struct kvz_template *t,
                       const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct kvz_buf sums = KVZ_BUF_INIT;
    struct kvz_store_opts dflt;
    char *sums_url = NULL, *name = NULL, *sums_shown = NULL;
    int ret = -1;
    *algo = KVZ_DIGEST_NONE;
    *hex = NULL;
    if (!opts) {
        kvz_store_opts_init(&dflt);
        opts = &dflt;
    }
    if (kvz_fetch_url(&sums_url, t->checksums_url, err) < 0 ||
        kvz_fetch_small(&sums, sums_url, 4u << 20, t->name, opts, err) < 0 ||
        verify_sums(t, &sums, opts, err) < 0 || kvz_fetch_url_basename(&name, t->url, err) < 0 ||
        kvz_sums_find(algo, hex, sums.ptr, sums.len, name, err) < 0) {
        sums_shown = kvz_url_redact(t->checksums_url);
        kvz_error_wrap(err, "checksums '%s'", sums_shown ? sums_shown : "?");
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&sums);
    free(sums_url);
    free(sums_shown);
    free(name);
    return ret;
}
