#include "providers/provider.h"

#include <stdlib.h>

#include "base/banned.h"

/* The observed model belongs to the planner (CONVENTIONS.md); providers only fill it. The
 * struct itself is the caller's (observe fills one in place). */
void kvz_observed_free(struct kvz_observed *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        struct kvz_observed_resource *r = &o->v[i];
        free(r->name);
        free(r->stack);
        free(r->spec_digest);
        free(r->template_digest);
        free(r->config_digest);
        free(r->applied_at);
        free(r->kvz_version);
        free(r->source);
        free(r->network.name);
        free(r->hostname);
        free(r->problem);
    }
    free(o->v);
    o->v = NULL;
    o->n = 0;
}
