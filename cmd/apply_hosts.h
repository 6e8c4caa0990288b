#ifndef KVZ_CMD_APPLY_HOSTS_H
#define KVZ_CMD_APPLY_HOSTS_H

/* `kvz apply` and `kvz destroy` of a manifest with hosts:, or with --host (docs/hosts.md). */

#include "cmd/cli.h"
#include "cmd/options.h"
#include "cmd/stack.h"
#include "planner/planfile.h"

/* Takes the state-dir lock, observes and plans every host in scope at once, asks, then applies
 * the hosts in parallel (each --parallel at a time). A host that cannot be reached, planned or
 * applied fails alone; the exit code is 1 when any did (named in the summary). `destroy`:
 * deletes every managed resource of the stack on those hosts. */
int kvz_cmd_apply_hosts(struct kvz_cli *cli, const struct kvz_opts *o, struct kvz_stack_run *r,
                        bool destroy);

/* kvz apply PLANFILE of many hosts, its manifests loaded (at their pinned commits, with the
 * recorded templates): refuses a changed inventory before it connects anywhere, then takes the
 * state-dir lock and each host's lock, observes and plans each host again, and refuses the
 * whole plan ("stale plan", naming the host) unless every host matches what was saved; then
 * applies as kvz_cmd_apply_hosts does, without asking. */
int kvz_cmd_apply_planfile_hosts(struct kvz_cli *cli, const struct kvz_opts *o,
                                 struct kvz_stack_run *r, const struct kvz_planfile *pf);

#endif
