/* kvz status: the templates the guests were made from, beside what is locked now. */
#include "cmd/status_templates.h"

#include "parser/spec_digest.h"
#include "planner/templates_resolve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tmpl_state {
    const struct kvz_template *t; /* what the manifests use now, or NULL */
    const char *now;              /* its content digest as known, or NULL */
    bool newer_locked;            /* kvz.lock holds another template than the guest's */
};

static struct tmpl_state state_of(const struct kvz_observed_resource *h,
                                  const struct kvz_stack_run *r)
{
    struct tmpl_state s = {0};
    const struct kvz_resource *w = kvz_manifest_resource(r->m, h->name);
    if (!w || !w->tmpl)
        return s;
    s.t = w->tmpl;
    for (size_t i = 0; r->template_digests && i < r->n_template_digests; i++)
        if (&r->m->templates[i] == s.t)
            s.now = r->template_digests[i];
    if (s.t->locked && h->template_digest) {
        bool version_moved =
            h->template_version && s.t->version && strcmp(h->template_version, s.t->version);
        s.newer_locked = version_moved || !kvz_template_digest_matches(
                                              h->template_digest, h->template_source, s.t, s.now);
    }
    return s;
}

void kvz_status_template_json(json_t *row, const struct kvz_observed_resource *h,
                              const struct kvz_stack_run *r)
{
    if (!h->template_digest || h->kind == KVZ_KIND_NETWORK)
        return;
    struct tmpl_state s = state_of(h, r);
    char *locked = s.t && s.t->locked ? kvz_template_digest_str(s.t) : NULL;
    json_object_set_new(row, "template",
                        json_pack("{s:s?, s:s?, s:s, s:s?, s:s?, s:b}", "name",
                                  s.t ? s.t->name : NULL, "version", h->template_version, "digest",
                                  h->template_digest, "locked_version",
                                  s.t && s.t->locked ? s.t->version : NULL, "locked_digest", locked,
                                  "newer_locked", s.newer_locked));
    free(locked);
}

void kvz_status_templates_print(const struct kvz_stack_run *r)
{
    bool header = false;
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_observed *seen = &r->hs.observed[k];
        for (size_t i = 0; r->hs.ops[k] && k != KVZ_KIND_NETWORK && i < seen->n; i++) {
            const struct kvz_observed_resource *h = &seen->v[i];
            if (!h->managed || !h->stack || strcmp(h->stack, r->m->stack) || !h->template_digest)
                continue;
            struct tmpl_state s = state_of(h, r);
            if (!header)
                printf("\n%-20s %-20s %-16s %-24s %s\n", "GUEST", "TEMPLATE", "VERSION", "DIGEST",
                       "LOCKED");
            header = true;
            char locked[96] = "-";
            if (s.newer_locked) {
                char *d = kvz_template_digest_str(s.t);
                snprintf(locked, sizeof(locked), "newer: %s%s%.23s",
                         s.t->version ? s.t->version : "", s.t->version ? " " : "", d ? d : "");
                free(d);
            } else if (s.t && s.t->locked)
                snprintf(locked, sizeof(locked), "this one");
            printf("%-20s %-20s %-16s %-24.23s %s\n", h->name, s.t ? s.t->name : "-",
                   h->template_version ? h->template_version : "-", h->template_digest, locked);
        }
    }
}
