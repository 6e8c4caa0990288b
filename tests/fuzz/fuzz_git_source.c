/*
 * libFuzzer target: the git source grammar (git+URL//PATH?ref=REF), whose input comes from the
 * command line, the environment of a systemd unit or a saved plan. Also run by
 * fuzz_git_source_replay.
 */
#include "parser/git_source.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No component of PATH is empty, "." or ".." (a name like "..a" is one git allows). */
static int path_ok(const char *p)
{
    if (!*p)
        return 1;
    if (p[0] == '/' || p[strlen(p) - 1] == '/' || strstr(p, "//"))
        return 0;
    for (const char *c = p; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        size_t n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size);
    struct kvz_git_source src;
    struct kvz_error *err = NULL;
    if (!s)
        return 0;
    if (kvz_git_source_parse(&src, s, &err) == 0) {
        /* the contract: a URL, a PATH without outer slashes or '..', a ref only when given */
        if (!src.url || !*src.url || !src.path || !path_ok(src.path) || (src.ref && !*src.ref))
            abort();
    } else if (!err || strchr(kvz_error_msg(err), '\n')) {
        abort();
    }
    char *shown = kvz_git_source_redact(s);
    free(shown);
    kvz_error_free(err);
    kvz_git_source_release(&src);
    free(s);
    return 0;
}
