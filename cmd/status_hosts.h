#ifndef KVZ_CMD_STATUS_HOSTS_H
#define KVZ_CMD_STATUS_HOSTS_H

/* `kvz status` of a manifest with hosts:, or with --host (docs/hosts.md). */

#include "cmd/cli.h"
#include "cmd/options.h"
#include "parser/manifest.h"

/* Prints each host's managed resources (state, memory, cpus, drift) under its heading, or one
 * JSON object whose rows name their host. 1 when a host could not be seen or planned. */
int kvz_cmd_status_hosts(struct kvz_cli *cli, const struct kvz_opts *o,
                         const struct kvz_manifest *m);

#endif
