/*
 * libFuzzer target: the SUMS file parser. The first line of the input is the
 * file name to look up, the rest the SUMS file (fetched from a server kvz does
 * not control). Also run by fuzz_sums_replay.
 */
#include "base/error.h"
#include "store/verify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    char *name = strndup((const char *)data, (size_t)(nl - (const char *)data));
    if (!name)
        return 0;
    const char *sums = nl + 1;
    size_t len = size - (size_t)(sums - (const char *)data);
    enum kvz_digest_algo algo = KVZ_DIGEST_NONE;
    char *hex = NULL;
    struct kvz_error *err = NULL;
    int rc = kvz_sums_find(&algo, &hex, sums, len, name, &err);
    /* The contract: a found digest is lowercase hex of the algorithm's length; a miss says why. */
    if (rc == 0) {
        size_t want = algo == KVZ_DIGEST_SHA256 ? 64 : algo == KVZ_DIGEST_SHA512 ? 128 : 0;
        if (!hex || strlen(hex) != want || strspn(hex, "0123456789abcdef") != want || err)
            abort();
    } else if (hex || !err || !kvz_error_msg(err)[0]) {
        abort();
    }
    free(hex);
    kvz_error_free(err);
    free(name);
    return 0;
}
