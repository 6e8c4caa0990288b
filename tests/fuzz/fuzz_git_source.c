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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size);
    struct kvz_git_source src;
    struct kvz_error *err = NULL;
    if (!s)
        return 0;
    if (kvz_git_source_parse(&src, s, &err) == 0) {
        /* the contract: a URL, a PATH without outer slashes or '..', a ref only when given */
        if (!src.url || !*src.url || !src.path || (*src.path && src.path[0] == '/') ||
            strstr(src.path, "..") == src.path || (src.ref && !*src.ref))
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
