/*
 * libFuzzer target: the catalog indexes kvz reads from servers it does not control, and
 * kvz.lock. The first byte picks the parser: 'a' aplinfo.dat, 'i' a simplestreams index.json,
 * 'p' its products file, 'l' a kvz.lock; the rest is the file. Also run by
 * fuzz_catalog_replay.
 */
#include "base/error.h"
#include "planner/lockfile.h"
#include "store/catalog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool hex_of_len(const char *s, size_t n)
{
    return s && strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* The contract of a parsed index: every entry complete, its digest well formed, and the
 * newest of each name found again by kvz_catalog_pick. */
static void check_index(const struct kvz_catalog_index *idx)
{
    for (size_t i = 0; i < idx->n; i++) {
        const struct kvz_catalog_entry *e = &idx->v[i];
        if (!e->name || !e->version || !e->arch || !e->url ||
            (e->kind != KVZ_CONTENT_ROOTFS && e->kind != KVZ_CONTENT_DISK))
            abort();
        if (e->algo == KVZ_DIGEST_SHA512 && !hex_of_len(e->digest, 128))
            abort();
        if (e->algo == KVZ_DIGEST_SHA256 && !hex_of_len(e->digest, 64))
            abort();
        const struct kvz_catalog_entry *got = NULL;
        struct kvz_error *err = NULL;
        int r = kvz_catalog_pick(&got, idx, "fuzz", e->name, e->kind, e->arch, &err);
        if (r == 0 && (!got || kvz_version_cmp(got->version, e->version) < 0))
            abort();
        /* refused only with a message; an entry with a digest is never refused outright, but a
         * newer one of the same name without a digest may be what makes the pick fail */
        if (r < 0 && (got || !err))
            abort();
        kvz_error_free(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    struct kvz_catalog_index idx = {0};
    struct kvz_error *err = NULL;
    int rc = 0;
    switch (data[0]) {
    case 'a':
        rc = kvz_aplinfo_parse(&idx, s, n, "http://x/images", &err);
        break;
    case 'i': {
        char *path = NULL;
        rc = kvz_sstreams_parse_index(&path, s, n, &err);
        if (rc == 0 && (!path || path[0] == '/' || strstr(path, "..")))
            abort();
        free(path);
        break;
    }
    case 'p':
        rc = kvz_sstreams_parse_products(&idx, s, n, "http://x", &err);
        break;
    case 'l': {
        struct kvz_lockfile lf = {0}, back = {0};
        rc = kvz_lockfile_parse(&lf, s, n, "kvz.lock", &err);
        if (rc == 0) {
            /* what is read is written back, and that reads back the same */
            char *a = kvz_lockfile_format(&lf), *b = NULL;
            if (!a || kvz_lockfile_parse(&back, a, strlen(a), "again", NULL) < 0 ||
                !(b = kvz_lockfile_format(&back)) || strcmp(a, b))
                abort();
            free(a);
            free(b);
        }
        kvz_lockfile_release(&lf);
        kvz_lockfile_release(&back);
        break;
    }
    default:
        return 0;
    }
    if (rc == 0 && err)
        abort();
    if (rc < 0 && (!err || !kvz_error_msg(err)[0]))
        abort();
    if (rc == 0)
        check_index(&idx);
    kvz_catalog_index_release(&idx);
    kvz_error_free(err);
    return 0;
}
