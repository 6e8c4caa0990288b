/* The plan object: its changes, how disruptive they are, and its release. */
#include "planner/plan.h"

#include "providers/hosts.h"

#include <stdlib.h>
#include <string.h>

const char *kvz_action_str(enum kvz_action a)
{
    static const char *const names[] = {"noop",   "create", "update", "replace",
                                        "delete", "start",  "stop"};
    return (unsigned)a < KVZ_N_ACTIONS ? names[a] : "noop";
}

const char *kvz_disruption_str(enum kvz_disruption d)
{
    static const char *const names[] = {"none", "live", "restart", "destroy"};
    return (unsigned)d <= KVZ_DISRUPT_DESTROY ? names[d] : "destroy";
}

int kvz_disruption_parse(enum kvz_disruption *out, const char *s)
{
    for (int d = KVZ_DISRUPT_LIVE; d <= KVZ_DISRUPT_DESTROY; d++)
        if (!strcmp(s, kvz_disruption_str(d))) {
            *out = d;
            return 0;
        }
    return -1;
}

enum kvz_disruption kvz_change_disruption(const struct kvz_change *c)
{
    switch (c->action) {
    case KVZ_ACTION_NOOP:
        return KVZ_DISRUPT_NONE;
    case KVZ_ACTION_CREATE:
    case KVZ_ACTION_START:
        return KVZ_DISRUPT_LIVE;
    case KVZ_ACTION_STOP:
        return KVZ_DISRUPT_RESTART;
    case KVZ_ACTION_REPLACE:
    case KVZ_ACTION_DELETE:
        return KVZ_DISRUPT_DESTROY;
    case KVZ_ACTION_UPDATE:
        break;
    }
    enum kvz_disruption d = KVZ_DISRUPT_LIVE;
    /* a guest that is not running restarts nothing: its definition just changes */
    if (!c->live && c->have && c->have->running)
        d = KVZ_DISRUPT_RESTART;
    if (c->want && c->want->state == KVZ_POWER_STOPPED && c->have && c->have->running)
        d = KVZ_DISRUPT_RESTART;
    return d;
}

enum kvz_phase kvz_change_phase(const struct kvz_change *c)
{
    if (c->kind != KVZ_KIND_NETWORK)
        return KVZ_PHASE_GUESTS;
    return c->action == KVZ_ACTION_DELETE ? KVZ_PHASE_NETWORK_DELETES : KVZ_PHASE_NETWORKS;
}

enum kvz_disruption kvz_plan_disruption(const struct kvz_plan *p, const struct kvz_change **worst)
{
    enum kvz_disruption max = KVZ_DISRUPT_NONE;
    if (worst)
        *worst = NULL;
    for (size_t i = 0; i < p->n_changes; i++) {
        enum kvz_disruption d = kvz_change_disruption(&p->changes[i]);
        if (d > max) {
            max = d;
            if (worst)
                *worst = &p->changes[i];
        }
    }
    return max;
}

size_t kvz_plan_n_changes(const struct kvz_plan *p)
{
    return p->n_changes - p->counts[KVZ_ACTION_NOOP];
}

const struct kvz_change *kvz_plan_change_of(const struct kvz_plan *p, enum kvz_kind k,
                                            const char *name)
{
    for (size_t i = 0; p && i < p->n_changes; i++)
        if (p->changes[i].kind == k && !strcmp(p->changes[i].name, name))
            return &p->changes[i];
    return NULL;
}

static void change_release(struct kvz_change *c)
{
    free(c->name);
    for (size_t i = 0; i < c->n_fields; i++) {
        free(c->fields[i].key);
        free(c->fields[i].sbefore);
        free(c->fields[i].safter);
    }
    free(c->fields);
    free(c->reason);
}

void kvz_plan_free(struct kvz_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_changes; i++)
        change_release(&p->changes[i]);
    free(p->changes);
    for (size_t i = 0; i < p->n_warnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    free(p->stack);
    free(p);
}

void kvz_plan_input_set_hosts(struct kvz_plan_input *in, struct kvz_hosts *hs)
{
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        in->observed[k] = hs->ops[k] ? &hs->observed[k] : NULL;
        in->ops[k] = hs->ops[k];
        in->hosts[k] = hs->ops[k] ? &hs->h[k] : NULL;
        if (hs->ops[k])
            in->state_dir = hs->h[k].state_dir;
    }
}
