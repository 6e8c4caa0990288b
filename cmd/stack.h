#ifndef KVZ_CMD_STACK_H
#define KVZ_CMD_STACK_H

/*
 * What plan, apply, destroy and status share: load the manifests, connect to
 * the host, observe it, compute a plan; each step prints its own failure.
 */

#include "cmd/cli.h"
#include "cmd/options.h"
#include "parser/manifest.h"
#include "planner/lock.h"
#include "planner/plan.h"
#include "providers/hosts.h"
#include "store/git.h"

struct kvz_stack_run {
    struct kvz_manifest *m;
    struct kvz_hosts hs;
    bool connected;
    struct kvz_plan *plan;
    struct kvz_lock lock;
    char *source;
    char **template_digests; /* per manifest template: its content digest, or NULL (unknown) */
    size_t n_template_digests;
    /* git sources (cmd/stack_git.c), set before kvz_stack_load */
    bool offline;
    const char *require_signed;
    const char *const *pins;     /* per path: the commit a saved plan pinned, or NULL */
    struct kvz_git_tree **trees; /* per path: its checkout, NULL for a local path */
    size_t n_trees;
    bool signature_refused; /* the load failed on --require-signed: exit KVZ_EXIT_SIGNATURE */
};

#define KVZ_STACK_RUN_INIT                                                                         \
    {                                                                                              \
        .lock = KVZ_LOCK_INIT                                                                      \
    }

/* What kvz_stack_open() does beyond loading and observing. */
enum {
    KVZ_STACK_LOCK = 1 << 0,    /* take the state-dir lock (apply, destroy) */
    KVZ_STACK_PLAN = 1 << 1,    /* compute r->plan for o->targets */
    KVZ_STACK_DESTROY = 1 << 2, /* the plan deletes every managed resource in scope */
    KVZ_STACK_HOSTS = 1 << 3,   /* many hosts (hosts: or --host): stop after loading, return 1 */
};

/* The prologue of plan, apply, destroy and status: loads the manifests of o->files, takes the
 * lock, connects and observes, computes the plan, as `flags` say. Each step prints its own
 * failure; -1 at the first. With KVZ_STACK_HOSTS and manifests over many hosts
 * (kvz_cmd_many_hosts), 1 once loaded and the templates resolved: the caller takes the hosts
 * path (cmd/apply_hosts.c, cmd/plan_hosts.c, cmd/status_hosts.c). */
int kvz_stack_open(struct kvz_cli *cli, struct kvz_stack_run *r, const struct kvz_opts *o,
                   unsigned flags);

/* Loads the manifests (prints diagnostics); -1 when invalid. */
int kvz_stack_load(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *paths,
                   size_t n);

/* kvz_stack_load for paths of which some are git sources (cmd/stack_git.c): fetches each into
 * its mirror, prints each resolved commit's note, and loads every file from memory. */
int kvz_stack_load_git(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *paths,
                       size_t n);

/* Whether any of paths is a git source. */
bool kvz_stack_has_git(const char *const *paths, size_t n);

/* "Source git+URL//PATH: commit C of REF" lines of the git sources to stdout (nothing without
 * any); the same as a JSON array (NULL without any) and as Markdown. */
void kvz_stack_print_sources(struct kvz_cli *cli, const struct kvz_stack_run *r);
struct json_t *kvz_stack_sources_json(const struct kvz_stack_run *r);

/* After an apply of r that succeeded (or had nothing to do): records each git source's commit
 * as applied under the state dir; with nothing to do, says whether that commit was applied
 * before (pull mode's skip). `paths` are those r was loaded from. */
void kvz_stack_git_applied(struct kvz_cli *cli, const struct kvz_stack_run *r,
                           const char *const *paths, bool nothing_to_do);

/* Per path r was loaded from: the commit of its git source, or NULL for a local path (for a
 * saved plan's pins); NULL without git sources, or with *oom set. Free the array only. */
const char **kvz_stack_commits(const struct kvz_stack_run *r, bool *oom);

/* The "git+URL//PATH: commit C of REF" line of each git source of r, for Markdown (*n of them;
 * NULL without any). Free with kvz_stack_from_lines_free. */
char **kvz_stack_from_lines(const struct kvz_stack_run *r, size_t *n);
void kvz_stack_from_lines_free(char **from, size_t n);

/* Prints r->plan as Markdown (kvz plan --format markdown), naming the git sources' commits. */
void kvz_stack_print_markdown(struct kvz_cli *cli, const struct kvz_stack_run *r);

/* The exit status of a failed load or plan: KVZ_EXIT_SIGNATURE or KVZ_EXIT_ERROR. */
int kvz_stack_fail_rc(const struct kvz_stack_run *r);

/* Takes the state-dir lock (apply, destroy); -1 with the holder printed. */
int kvz_stack_lock(struct kvz_cli *cli, struct kvz_stack_run *r);

/* Connects (uri overrides may be NULL: the cli's, then the manifest's) and observes. */
int kvz_stack_observe(struct kvz_cli *cli, struct kvz_stack_run *r,
                      const char *const uri[KVZ_N_KINDS]);

/* Computes r->plan; prints why it cannot be made. */
int kvz_stack_plan(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *targets,
                   size_t n_targets, bool destroy);

/* The observed fingerprint of r (after kvz_stack_observe). */
int kvz_stack_fingerprint(struct kvz_cli *cli, struct kvz_stack_run *r, char out[65]);

/* Prints the plan as text or JSON on stdout. */
void kvz_stack_print_plan(struct kvz_cli *cli, const struct kvz_stack_run *r,
                          const struct kvz_plan *p, bool json);

/* Asks for "yes" on a terminal; without one, refuses unless auto_approve. 0: go ahead. */
int kvz_stack_approve(struct kvz_cli *cli, bool auto_approve, const char *what, const char *these);

/* Runs the plan, reporting each step; prints the summary ("Apply complete: ...", with `what`
 * "Apply" or "Destroy"). 0 when every change succeeded. */
int kvz_stack_execute(struct kvz_cli *cli, struct kvz_stack_run *r, const char *what,
                      unsigned parallel, bool force, bool json);

/* Removes the storage no guest on the connected hosts uses any more (providers' prune), saying
 * what went; the caller holds the state-dir lock. 0 when every provider succeeded. */
int kvz_stack_prune_storage(struct kvz_cli *cli, struct kvz_hosts *hs);

void kvz_stack_release(struct kvz_stack_run *r);

#endif
