#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *kvz_test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kvz_buf_add(&b, chunk, n);
    fclose(f);
    return kvz_buf_detach(&b);
}

void kvz_test_data_path(char *out, size_t size, const char *rel)
{
    const char *src = getenv("KVZ_SOURCE_DIR");
    if (!src)
        fail_msg("KVZ_SOURCE_DIR is not set: run the test through ctest");
    int n = snprintf(out, size, "%s/tests/data/%s", src, rel);
    if (n < 0 || (size_t)n >= size)
        fail_msg("path of 'tests/data/%s' is too long", rel);
}

void kvz_test_golden(const char *path, const char *got)
{
    const char *regen = getenv("KVZ_REGEN");
    if (regen && *regen) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    char *want = kvz_test_slurp(path);
    if (!want)
        fail_msg("golden file '%s' missing: run with KVZ_REGEN=1 and review the diff", path);
    if (strcmp(want, got))
        fprintf(stderr, "--- %s (expected)\n%s\n+++ generated\n%s\n", path, want, got);
    assert_string_equal(want, got);
    free(want);
}
