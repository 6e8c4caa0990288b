/* What a template holds, known without a download (kvz_store_resolve, store/store.h). */
#include "base/error.h"
#include "store/cache.h"
#include "store/fetch.h"
#include "store/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The sha256 of a local file, read through. */
static int hash_file(char hex[KVZ_HEX256], const char *path, struct kvz_error **err)
{
    struct kvz_hasher h;
    char *buf = malloc(1 << 20);
    int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
    bool hashing = false;
    if (!buf)
        goto oom;
    if (fd < 0) {
        kvz_error_set_errno(err, "template file '%s'", path);
        goto cleanup;
    }
    if (kvz_hasher_init(&h, KVZ_DIGEST_NONE, err) < 0)
        goto cleanup;
    hashing = true;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kvz_error_set_errno(err, "read template file '%s'", path);
            goto cleanup;
        }
        if (n == 0)
            break;
        if (kvz_hasher_update(&h, buf, (size_t)n, err) < 0)
            goto cleanup;
    }
    ret = kvz_hasher_final(hex, NULL, &h, err);
    goto cleanup;
oom:
    kvz_error_set(err, "out of memory");
cleanup:
    if (hashing)
        kvz_hasher_release(&h);
    if (fd >= 0)
        close(fd);
    free(buf);
    return ret;
}

int kvz_store_resolve(char out[72], struct kvz_store *s, const struct kvz_template *t,
                      struct kvz_error **err)
{
    char hex[KVZ_HEX256], id[KVZ_HEX256];
    char *path = NULL;
    int ret = 0;
    if (t->algo == KVZ_DIGEST_SHA256 && t->digest && strlen(t->digest) == 64) {
        snprintf(out, 72, "sha256:%s", t->digest);
        return 1;
    }
    if (t->algo == KVZ_DIGEST_SHA512 && t->digest && kvz_cache_alias(hex, s, t->digest) == 1) {
        snprintf(out, 72, "sha256:%s", hex);
        return 1;
    }
    /* a local file is read (it may have changed since it was pulled); else what its source
     * gave when it was pulled */
    int local = kvz_fetch_local_path(&path, t->url, err);
    if (local < 0)
        return -1;
    if (local) {
        ret = hash_file(hex, path, err) < 0 ? -1 : 1;
    } else if (kvz_cache_identity(id, t, err) < 0) {
        ret = -1;
    } else {
        ret = kvz_cache_index(hex, s, id) == 1 ? 1 : 0;
    }
    if (ret == 1)
        snprintf(out, 72, "sha256:%s", hex);
    free(path);
    return ret;
}
