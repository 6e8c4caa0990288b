#ifndef KVZ_PLANNER_PLAN_H
#define KVZ_PLANNER_PLAN_H

/*
 * The plan: the manifests (desired) diffed against what providers observe on
 * the host, one change per resource (docs/plan.md).
 */

#include "base/buf.h"
#include "base/error.h"
#include "parser/manifest.h"
#include "providers/provider.h"

#include <stdbool.h>
#include <stddef.h>

#define KVZ_N_ACTIONS 7 /* indexed by enum kvz_action */

struct kvz_plan {
    char *stack;
    struct kvz_change *changes; /* every resource in scope, noops included: manifest order, then
                                   deletions by kind and name */
    size_t n_changes;
    size_t counts[KVZ_N_ACTIONS]; /* by enum kvz_action */
    size_t n_live, n_restart;     /* updates, split */
    char **warnings; /* what the host cannot give or a guest did not take: no change, but true */
    size_t n_warnings;
};

struct kvz_plan_input {
    const struct kvz_manifest *m;
    const char *stack; /* m->stack when m is set */
    /* observed domains by kind; NULL when the kind's connection is not open (nothing seen) */
    const struct kvz_observed *observed[KVZ_N_KINDS];
    /* for field_is_live; either may be NULL */
    const struct kvz_provider_ops *ops[KVZ_N_KINDS];
    struct kvz_host *hosts[KVZ_N_KINDS];
    /* the state dir of this run: guests whose files another state dir holds are refused;
     * NULL: not checked */
    const char *state_dir;
    /* per m->templates[i]: its content digest ("sha256:HEX") as known without a download, or
     * NULL; the array may be NULL (nothing known) */
    const char *const *template_digests;
    const char *const *targets; /* --target names; n_targets == 0 means everything */
    size_t n_targets;
    bool destroy; /* kvz destroy: delete every managed resource of the stack in scope */
    /* the host observed (docs/hosts.md): only the resources of m on it are desired there, and
     * each change names it; NULL: every resource of m */
    const char *host;
};

/*
 * Computes the plan. Fails (-1, nothing in *out) when a resource cannot be planned safely: a
 * same-named domain kvz does not own, one owned by another stack, a protected resource that
 * would be deleted or replaced, a disk shrink, an unknown target. The message names every such
 * resource. The plan points into in->m and in->observed, which must outlive it.
 */
int kvz_plan_compute(struct kvz_plan **out, const struct kvz_plan_input *in, struct kvz_error **err)
    __attribute__((warn_unused_result));

void kvz_plan_free(struct kvz_plan *p);

/* Fills the observed/ops/hosts slots of a plan input from the connections (providers/hosts.h). */
struct kvz_hosts;
void kvz_plan_input_set_hosts(struct kvz_plan_input *in, struct kvz_hosts *hs);

/* Changes other than noop. */
size_t kvz_plan_n_changes(const struct kvz_plan *p);

/* The plan's change of resource `name` of kind `k` (a noop when it matches the manifests), or
 * NULL when the plan has none (p may be NULL). Owned by the plan. */
const struct kvz_change *kvz_plan_change_of(const struct kvz_plan *p, enum kvz_kind k,
                                            const char *name);

enum kvz_disruption kvz_change_disruption(const struct kvz_change *c);

/* When the executor runs a change (docs/plan.md, "Apply order"): networks made, changed or
 * started; then guests (those that stop for good first, together); then networks deleted, after
 * the guests that used them. */
enum kvz_phase {
    KVZ_PHASE_NETWORKS = 0,
    KVZ_PHASE_GUESTS,
    KVZ_PHASE_NETWORK_DELETES,
    KVZ_N_PHASES
};
enum kvz_phase kvz_change_phase(const struct kvz_change *c);
/* The most disruptive change of the plan, and that change (NULL when none). */
enum kvz_disruption kvz_plan_disruption(const struct kvz_plan *p, const struct kvz_change **worst);

const char *kvz_action_str(enum kvz_action a);         /* "create", ... */
const char *kvz_disruption_str(enum kvz_disruption d); /* "none", "live", "restart", "destroy" */
int kvz_disruption_parse(enum kvz_disruption *out, const char *s); /* live|restart|destroy */

/* Human rendering (docs/cli.md): one change a line, deltas below, the summary line. */
int kvz_plan_render_text(struct kvz_buf *out, const struct kvz_plan *p, bool color);
/* Just the changes (noops left out) and the warnings, without the summary. */
int kvz_plan_render_changes(struct kvz_buf *out, const struct kvz_plan *p, bool color);
/* The plan as a Markdown comment for a pull request (docs/git.md): a heading, the summary and
 * the worst disruption in words, one "From ..." line per entry of `sources` (may be NULL),
 * warnings, a table of the changes (host, kind, name, action, disruption in words), then each
 * change's field deltas; user_data and cloud_init never shown. -1 on out of memory. */
int kvz_plan_render_markdown(struct kvz_buf *out, const struct kvz_plan *p,
                             const char *const *sources, size_t n_sources);
/* "Plan: 1 to create, 2 to update (1 live, 1 restart), 0 to replace, 1 to delete." */
int kvz_plan_render_summary(struct kvz_buf *out, const struct kvz_plan *p);

/* The JSON object of docs/cli.md; caller json_decref()s it. NULL on OOM. */
struct json_t;
struct json_t *kvz_plan_to_json(const struct kvz_plan *p);
/* Just the "changes" array (noops left out). */
struct json_t *kvz_plan_changes_json(const struct kvz_plan *p);

#endif
