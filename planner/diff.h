#ifndef KVZ_PLANNER_DIFF_H
#define KVZ_PLANNER_DIFF_H

/*
 * What the two halves of the diff share (planner only): diff.c plans guests
 * and drives the whole computation, diff_network.c plans networks and what
 * their changes do to the guests attached to them.
 */

#include "base/buf.h"
#include "planner/plan.h"

#include <stdbool.h>
#include <stdint.h>

/* Problems that make the whole plan fail are collected, so one run names them all. */
struct diff {
    const struct kvz_plan_input *in;
    struct kvz_plan *p;
    size_t cap;
    struct kvz_buf problems;
    size_t n_problems;
    bool oom;
};

void kvz_diff_problem(struct diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A new change at the end of the plan (NULL and d->oom when out of memory). It may move the
 * plan's changes: hold indexes, not pointers, across calls. */
struct kvz_change *kvz_diff_add_change(struct diff *d, enum kvz_kind kind, const char *name,
                                       enum kvz_action action);
struct kvz_field_delta *kvz_diff_add_field(struct diff *d, struct kvz_change *c, const char *field,
                                           enum kvz_field_type type, bool live);
void kvz_diff_add_num(struct diff *d, struct kvz_change *c, const char *field,
                      enum kvz_field_type type, uint64_t before, uint64_t after, bool live);
void kvz_diff_add_str(struct diff *d, struct kvz_change *c, const char *field, const char *before,
                      const char *after, bool live);
void kvz_diff_set_reason(struct diff *d, struct kvz_change *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether desired resource w is on the host of the plan input (any, when it names none). */
bool kvz_diff_on_host(const struct kvz_plan_input *in, const struct kvz_resource *w);

bool kvz_diff_in_targets(const struct kvz_plan_input *in, const char *name);
const struct kvz_observed_resource *kvz_diff_find_observed(const struct kvz_plan_input *in,
                                                           enum kvz_kind kind, const char *name);
/* Whether `field` of `w` changes without a restart: the table of docs/plan.md and
 * docs/networks.md, unless the provider knows better about this host. */
bool kvz_diff_field_live(const struct diff *d, const struct kvz_resource *w,
                         const struct kvz_observed_resource *h, const char *field);

/* Whether `h` was made with another state dir than this run's; then a problem says to plan it
 * from there. A guest's files are there; a network's lock (applies to it are serialised by
 * that state dir's lock). Such a resource is never changed or deleted from here. */
bool kvz_diff_foreign_state_dir(struct diff *d, const struct kvz_observed_resource *h);

/* The change planned for (kind, name), or NULL. */
struct kvz_change *kvz_diff_change_of(struct diff *d, enum kvz_kind kind, const char *name);

/* --- diff_network.c --- */

/* Whether network `w` of the manifests is in the plan's scope: targeted itself, or used by a
 * targeted guest (a target brings in the network it needs). */
bool kvz_diff_network_in_scope(const struct kvz_plan_input *in, const struct kvz_resource *w);

/* Plans network `w` of the manifests against what is observed. */
void kvz_diff_network(struct diff *d, const struct kvz_resource *w);

/* Whether network `h` (managed, no longer wanted) may be deleted: no guest that stays uses it;
 * else a problem naming them. Call after the guests' deletions are planned. */
bool kvz_diff_network_deletable(struct diff *d, const struct kvz_observed_resource *h);

/* After every resource is planned: each network that is replaced, restarted or started again
 * restarts the running guests attached to it (libvirt does not move their interfaces to the new
 * bridge), added to those guests' changes and named in the network's reason. */
void kvz_diff_reattach(struct diff *d);

#endif
