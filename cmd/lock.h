#ifndef KVZ_CMD_LOCK_H
#define KVZ_CMD_LOCK_H

#include "cmd/cli.h"
#include "parser/manifest.h"
#include "store/git.h"

/*
 * Resolves m's templates before anything uses them (planner/templates_resolve.h): from kvz.lock
 * beside the first manifest when it holds them, else from their catalogs (unless `offline`).
 * `tree`: the checkout of the git source the first manifest came from, whose commit's kvz.lock
 * is used; NULL when the first manifest is a local file.
 * `readonly`: the lock must exist and hold every template as declared. Prints what is wrong;
 * -1 then.
 */
int kvz_cli_resolve_templates(struct kvz_cli *cli, struct kvz_manifest *m,
                              const struct kvz_git_tree *tree, bool readonly, bool offline);

#endif
