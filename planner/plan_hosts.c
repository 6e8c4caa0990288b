#include "planner/plan_hosts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

size_t kvz_host_plans_n_changes(const struct kvz_host_plan *v, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += v[i].plan ? kvz_plan_n_changes(v[i].plan) : 0;
    return c;
}

size_t kvz_host_plans_n_failed(const struct kvz_host_plan *v, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += !v[i].plan;
    return c;
}

static struct kvz_change *created_elsewhere(struct kvz_host_plan *v, size_t n, size_t self,
                                            const struct kvz_change *del, size_t *out_host)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; i != self && v[i].plan && j < v[i].plan->n_changes; j++) {
            struct kvz_change *c = &v[i].plan->changes[j];
            if (c->action == KVZ_ACTION_CREATE && c->kind == del->kind &&
                !strcmp(c->name, del->name)) {
                *out_host = i;
                return c;
            }
        }
    }
    return NULL;
}

static int set_reason(struct kvz_change *c, const char *from, const char *to, bool here_new)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    if (here_new)
        kvz_buf_printf(&b, "host: %s -> %s (no migration: made anew here, removed from %s)", from,
                       to, from);
    else
        kvz_buf_printf(&b, "host: %s -> %s (no migration: removed here, made anew on %s)", from, to,
                       to);
    char *r = kvz_buf_detach(&b);
    if (!r)
        return -1;
    free(c->reason);
    c->reason = r;
    return 0;
}

int kvz_host_plans_link_moves(struct kvz_host_plan *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct kvz_plan *p = v[i].plan;
        for (size_t j = 0; p && j < p->n_changes; j++) {
            struct kvz_change *del = &p->changes[j];
            size_t to = 0;
            if (del->action != KVZ_ACTION_DELETE || !kvz_kind_is_guest(del->kind))
                continue;
            struct kvz_change *mk = created_elsewhere(v, n, i, del, &to);
            if (!mk)
                continue;
            if (set_reason(del, v[i].host, v[to].host, false) < 0 ||
                set_reason(mk, v[i].host, v[to].host, true) < 0)
                return -1;
            /* what it is made of is shown by the create's fields, which a replace would show
             * as changes from nothing: the reason says it all */
            for (size_t f = 0; f < mk->n_fields; f++) {
                free(mk->fields[f].key);
                free(mk->fields[f].sbefore);
                free(mk->fields[f].safter);
            }
            free(mk->fields);
            mk->fields = NULL;
            mk->n_fields = 0;
            mk->action = KVZ_ACTION_REPLACE;
            v[to].plan->counts[KVZ_ACTION_CREATE]--;
            v[to].plan->counts[KVZ_ACTION_REPLACE]++;
        }
    }
    return 0;
}

void kvz_host_plans_totals(struct kvz_plan *out, const struct kvz_host_plan *v, size_t n)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = v[i].plan;
        for (size_t a = 0; p && a < KVZ_N_ACTIONS; a++)
            out->counts[a] += p->counts[a];
        out->n_live += p ? p->n_live : 0;
        out->n_restart += p ? p->n_restart : 0;
        out->n_changes += p ? p->n_changes : 0;
    }
}

int kvz_host_plans_render_text(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n,
                               bool color)
{
    struct kvz_plan all;
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = v[i].plan;
        kvz_buf_printf(out, "%sHost %s:\n", i ? "\n" : "", v[i].host);
        if (!p)
            kvz_buf_printf(out, "  %s!%s not planned: %s\n", color ? "\033[31m" : "",
                           color ? "\033[0m" : "", v[i].error);
        else if (!kvz_plan_n_changes(p))
            kvz_buf_printf(out, "  no changes (%zu %s)\n", p->n_changes,
                           p->n_changes == 1 ? "resource" : "resources");
        else
            kvz_plan_render_changes(out, p, color);
    }
    kvz_host_plans_totals(&all, v, n);
    kvz_buf_putc(out, '\n');
    kvz_plan_render_summary(out, &all);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].plan) {
            kvz_buf_printf(out, "  %s: not planned (unreachable or refused, see above)\n",
                           v[i].host);
            continue;
        }
        struct kvz_buf one = KVZ_BUF_INIT;
        kvz_plan_render_summary(&one, v[i].plan);
        const char *s = kvz_buf_cstr(&one);
        kvz_buf_printf(out, "  %s: %s", v[i].host, !strncmp(s, "Plan: ", 6) ? s + 6 : s);
        kvz_buf_release(&one);
    }
    return out->oom ? -1 : 0;
}

static json_t *counts_json(const struct kvz_plan *p)
{
    const size_t *n = p->counts;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "create", (json_int_t)n[KVZ_ACTION_CREATE], "update",
        (json_int_t)n[KVZ_ACTION_UPDATE], "replace", (json_int_t)n[KVZ_ACTION_REPLACE], "delete",
        (json_int_t)n[KVZ_ACTION_DELETE], "start", (json_int_t)n[KVZ_ACTION_START], "stop",
        (json_int_t)n[KVZ_ACTION_STOP], "noop", (json_int_t)n[KVZ_ACTION_NOOP]);
}

json_t *kvz_host_plans_to_json(const struct kvz_host_plan *v, size_t n, const char *stack)
{
    struct kvz_plan all;
    json_t *changes = json_array(), *hosts = json_object(), *warnings = json_array();
    if (!changes || !hosts || !warnings)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = v[i].plan;
        if (!p) {
            json_object_set_new(hosts, v[i].host, json_pack("{s:s}", "error", v[i].error));
            continue;
        }
        json_t *c = kvz_plan_changes_json(p);
        if (!c || json_array_extend(changes, c) < 0) {
            json_decref(c);
            goto oom;
        }
        json_decref(c);
        json_object_set_new(hosts, v[i].host, json_pack("{s:o}", "summary", counts_json(p)));
        for (size_t w = 0; w < p->n_warnings; w++)
            json_array_append_new(
                warnings, json_pack("{s:s, s:s}", "host", v[i].host, "warning", p->warnings[w]));
    }
    kvz_host_plans_totals(&all, v, n);
    json_t *j = json_pack("{s:i, s:s, s:o, s:o, s:o}", "format_version", 1, "stack", stack,
                          "changes", changes, "summary", counts_json(&all), "hosts", hosts);
    if (j && json_array_size(warnings))
        json_object_set(j, "warnings", warnings);
    json_decref(warnings);
    return j;
oom:
    json_decref(changes);
    json_decref(hosts);
    json_decref(warnings);
    return NULL;
}

void kvz_host_plans_release(struct kvz_host_plan *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        kvz_plan_free(v[i].plan);
        free(v[i].error);
        v[i].plan = NULL;
        v[i].error = NULL;
    }
}
