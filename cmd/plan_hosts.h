#ifndef KVZ_CMD_PLAN_HOSTS_H
#define KVZ_CMD_PLAN_HOSTS_H

/* `kvz plan` of a manifest with hosts:, or with --host (docs/hosts.md). */

#include "cmd/cli.h"
#include "cmd/options.h"
#include "cmd/stack.h"
#include "parser/manifest.h"
#include "planner/plan_hosts.h"
#include "providers/fleet.h"
#include "providers/host_lock.h"

/* Every host in scope observed and planned: f.v[i] and v[i] are the same host. */
struct kvz_hosts_run {
    struct kvz_fleet f;
    struct kvz_host_plan *v;
    struct kvz_host_lock *locks; /* per host: held for an apply or destroy */
    char **template_digests;     /* per manifest template (cmd/template_digests.h) */
    size_t n_template_digests;
};

/* Observes the hosts of m in scope (--host) at once and plans each; with `lock`, each host's
 * lock (local hosts too) is taken first (providers/host_lock.h) and the host observed again under
 * it (a host whose lock is held elsewhere fails alone, naming the holder) (destroy: deletes every
 * managed resource of the stack in scope); a host that fails has its reason in v[i].error.
 * -1 (printed) only when nothing can be planned. Release with kvz_hosts_run_release. */
int kvz_hosts_run_plan(struct kvz_hosts_run *out, struct kvz_cli *cli, const struct kvz_opts *o,
                       const struct kvz_manifest *m, bool destroy, bool lock);

/* Prints the plans (text or JSON) on stdout, with the commits of r's git sources. */
void kvz_hosts_run_print(struct kvz_cli *cli, const struct kvz_hosts_run *run,
                         const struct kvz_stack_run *r, bool json);

void kvz_hosts_run_release(struct kvz_hosts_run *run);

/* Whether this run goes through the many-hosts path: the manifests have hosts:, or --host. */
bool kvz_cmd_many_hosts(const struct kvz_manifest *m, const struct kvz_opts *o);

/* Observes every host in scope at once, plans each, prints the plan, and with -o saves it (only
 * when every host was planned); the exit code: 1 when a host could not be planned (named in the
 * summary), else 0, or 2 with --detailed-exitcode and changes. */
int kvz_cmd_plan_hosts(struct kvz_cli *cli, const struct kvz_opts *o,
                       const struct kvz_stack_run *r);

#endif
