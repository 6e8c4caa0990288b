#include "store/verify.h"

#include "base/error.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const EVP_MD *algo_md(enum kvz_digest_algo a)
{
    return a == KVZ_DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

int kvz_hasher_init(struct kvz_hasher *h, enum kvz_digest_algo extra, struct kvz_error **err)
{
    h->sha256 = EVP_MD_CTX_new();
    h->extra = extra == KVZ_DIGEST_SHA512 ? EVP_MD_CTX_new() : NULL;
    if (!h->sha256 || (extra == KVZ_DIGEST_SHA512 && !h->extra)) {
        kvz_hasher_release(h);
        return kvz_error_set(err, "digest: out of memory");
    }
    return kvz_hasher_reset(h, err);
}

int kvz_hasher_reset(struct kvz_hasher *h, struct kvz_error **err)
{
    if (EVP_DigestInit_ex(h->sha256, EVP_sha256(), NULL) != 1 ||
        (h->extra && EVP_DigestInit_ex(h->extra, algo_md(KVZ_DIGEST_SHA512), NULL) != 1))
        return kvz_error_set(err, "digest: OpenSSL failed to initialise sha256/sha512");
    return 0;
}

int kvz_hasher_update(struct kvz_hasher *h, const void *data, size_t len, struct kvz_error **err)
{
    if (EVP_DigestUpdate(h->sha256, data, len) != 1 ||
        (h->extra && EVP_DigestUpdate(h->extra, data, len) != 1))
        return kvz_error_set(err, "digest: OpenSSL update failed");
    return 0;
}

static void to_hex(char *out, const unsigned char *md, unsigned n)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

int kvz_hasher_final(char *sha256_hex, char *extra_hex, struct kvz_hasher *h,
                     struct kvz_error **err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(h->sha256, md, &n) != 1)
        return kvz_error_set(err, "digest: OpenSSL final failed");
    to_hex(sha256_hex, md, n);
    if (h->extra) {
        if (EVP_DigestFinal_ex(h->extra, md, &n) != 1)
            return kvz_error_set(err, "digest: OpenSSL final failed");
        if (extra_hex)
            to_hex(extra_hex, md, n);
    }
    return 0;
}

void kvz_hasher_release(struct kvz_hasher *h)
{
    EVP_MD_CTX_free(h->sha256);
    EVP_MD_CTX_free(h->extra);
    h->sha256 = h->extra = NULL;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

int kvz_sums_find(enum kvz_digest_algo *out_algo, char **out_hex, const char *sums, size_t len,
                  const char *name, struct kvz_error **err)
{
    const char *p = sums, *end = sums + len;
    char *found = NULL;
    size_t found_len = 0;
    unsigned lineno = 0;

    for (; p < end; p++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        lineno++;
        const char *q = p, *lend = eol;
        if (lend > q && lend[-1] == '\r')
            lend--;
        p = eol;
        while (q < lend && (*q == ' ' || *q == '\t'))
            q++;
        if (q == lend || *q == '#')
            continue;
        const char *hex = q;
        while (q < lend && isxdigit((unsigned char)*q))
            q++;
        size_t hlen = (size_t)(q - hex);
        /* "HEX  NAME" (text mode) or "HEX *NAME" (binary mode); also tolerate one space. */
        if (q == lend || *q != ' ')
            continue; /* BSD-style or other lines: not ours */
        q++;
        if (q < lend && (*q == ' ' || *q == '*'))
            q++;
        if (lend - q >= 2 && q[0] == '.' && q[1] == '/')
            q += 2;
        size_t nlen = (size_t)(lend - q);
        if (nlen != strlen(name) || memcmp(q, name, nlen))
            continue;
        if ((hlen != 64 && hlen != 128) || !all_hex(hex, hlen)) {
            free(found);
            return kvz_error_set(
                err,
                "checksums file: line %u: digest for '%s' is not 64 or 128 hex digits; check the file",
                lineno, name);
        }
        if (found && (found_len != hlen || strncasecmp(found, hex, hlen))) {
            free(found);
            return kvz_error_set(
                err, "checksums file: '%s' is listed twice with different digests; fix the file",
                name);
        }
        if (!found) {
            found = strndup(hex, hlen);
            if (!found)
                return kvz_error_set(err, "checksums file: out of memory");
            for (char *c = found; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            found_len = hlen;
        }
    }
    if (!found)
        return kvz_error_set(err, "checksums file: no line for '%s'; check the checksums: URL",
                             name);
    *out_algo = found_len == 64 ? KVZ_DIGEST_SHA256 : KVZ_DIGEST_SHA512;
    *out_hex = found;
    return 0;
}
