#ifndef KVZ_PLANNER_PLAN_HOSTS_H
#define KVZ_PLANNER_PLAN_HOSTS_H

/*
 * The plan of many hosts (docs/hosts.md): one plan per host, or why that host has none (it
 * could not be reached, or planned); rendered with a heading per host and counted per host.
 */

#include "base/buf.h"
#include "planner/plan.h"

#include <stdbool.h>
#include <stddef.h>

struct kvz_host_plan {
    const char *host;      /* the host's name; not owned */
    struct kvz_plan *plan; /* owned; NULL when error says why */
    char *error;           /* owned; NULL when planned */
};

/* A guest whose host: changed (docs/hosts.md): deleted on its old host and created on the new
 * one, which is a replace (no migration). The create becomes a replace, and both changes say
 * where the guest goes. Returns -1 when out of memory. */
int kvz_host_plans_link_moves(struct kvz_host_plan *v, size_t n)
    __attribute__((warn_unused_result));

/* Changes other than noop, over the hosts that were planned. */
size_t kvz_host_plans_n_changes(const struct kvz_host_plan *v, size_t n);

/* Hosts that have no plan. */
size_t kvz_host_plans_n_failed(const struct kvz_host_plan *v, size_t n);

/* The counts of every planned host together, in *out: a plan without changes or warnings
 * (counts, n_live, n_restart, n_changes only; nothing to free). */
void kvz_host_plans_totals(struct kvz_plan *out, const struct kvz_host_plan *v, size_t n);

/* Markdown for a pull request comment (docs/git.md, docs/hosts.md): the summary of every host
 * together, one line per host (its counts, no changes, or not planned), one "From ..." line per
 * source; then a section per host: its summary, warnings and changes as one host's Markdown plan
 * shows them, or why it has none. -1 on out of memory. */
int kvz_host_plans_render_markdown(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n,
                                   const char *stack, const char *const *sources, size_t n_sources);

/* Text (docs/hosts.md): "Host NAME:" and its changes, or why it has none; then the summary of
 * every host together and one line per host. */
int kvz_host_plans_render_text(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n,
                               bool color);

/* The JSON plan of docs/cli.md over every host: each change has "host"; "summary" counts them
 * all; "hosts" has each host's counts, or its "error". Caller json_decref()s; NULL on OOM. */
struct json_t;
struct json_t *kvz_host_plans_to_json(const struct kvz_host_plan *v, size_t n, const char *stack);

/* Frees the plans and errors of v[0..n) (not v). */
void kvz_host_plans_release(struct kvz_host_plan *v, size_t n);

#endif
