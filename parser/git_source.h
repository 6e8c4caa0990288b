#ifndef KVZ_PARSER_GIT_SOURCE_H
#define KVZ_PARSER_GIT_SOURCE_H

/*
 * Git sources of manifests (docs/git.md): `git+URL//PATH?ref=REF`, the repository at URL
 * (https, ssh or file URL, or a local path), the manifest file or folder PATH inside it
 * (default the root) and the branch, tag or commit REF (default the remote's HEAD).
 */

#include "base/error.h"

#include <stdbool.h>

struct kvz_git_source {
    char *url;  /* as given, with its credentials if any: never show it, show kvz_url_redact's */
    char *path; /* in the repository, no leading or trailing '/', "" for the root */
    char *ref;  /* as given, or NULL: the remote's HEAD */
};

/* Whether s is meant as a git source (starts with "git+"). */
bool kvz_git_source_is(const char *s);

/*
 * Parses s into *out (release with kvz_git_source_release, also on failure). -1 with a message
 * naming the redacted source and what to do when s is not of the grammar above.
 */
int kvz_git_source_parse(struct kvz_git_source *out, const char *s, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* s to show: a git source with its URL's credentials replaced by *** (its ref kept), anything
 * else as kvz_url_redact does. Caller frees; NULL on out of memory. */
char *kvz_git_source_redact(const char *s) __attribute__((warn_unused_result));

void kvz_git_source_release(struct kvz_git_source *s);

#endif
