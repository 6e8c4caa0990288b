#ifndef KVZ_PLANNER_PROVENANCE_H
#define KVZ_PLANNER_PROVENANCE_H

#include "base/error.h"
#include "parser/manifest.h"

/*
 * Where the applied spec comes from, recorded on every guest (docs/plan.md): for a file of
 * a git source (docs/git.md) its name, already "URL@COMMIT:PATH" (the redacted URL, the
 * commit, the path in the repository); for a manifest in a git work tree the same from
 * origin's URL and HEAD ("-dirty" after the commit when the file has uncommitted changes);
 * else the manifest's absolute path. Several files are joined with ", ". Caller frees *out.
 */
int kvz_provenance(char **out, const struct kvz_manifest *m, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
