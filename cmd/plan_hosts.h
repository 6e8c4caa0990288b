#ifndef KVZ_CMD_PLAN_HOSTS_H
#define KVZ_CMD_PLAN_HOSTS_H

/* `kvz plan` of a manifest with hosts:, or with --host (docs/hosts.md). */

#include "cmd/cli.h"
#include "cmd/options.h"
#include "parser/manifest.h"

/* Whether this run goes through the many-hosts path: the manifests have hosts:, or --host. */
bool kvz_cmd_many_hosts(const struct kvz_manifest *m, const struct kvz_opts *o);

/* Observes every host in scope at once, plans each, prints the plan; the exit code: 1 when a
 * host could not be planned (named in the summary), else 0, or 2 with --detailed-exitcode and
 * changes. */
int kvz_cmd_plan_hosts(struct kvz_cli *cli, const struct kvz_opts *o, const struct kvz_manifest *m);

#endif
