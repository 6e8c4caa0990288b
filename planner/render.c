#include "planner/plan.h"

#include "parser/units.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

static void value_human(struct kvz_buf *out, const struct kvz_field_delta *f, bool after)
{
    uint64_t v = after ? f->after : f->before;
    switch (f->type) {
    case KVZ_FIELD_BYTES:
        kvz_size_human(out, v);
        break;
    case KVZ_FIELD_CPUS:
        kvz_cpus_human(out, v);
        break;
    case KVZ_FIELD_COUNT:
        kvz_buf_printf(out, "%" PRIu64, v);
        break;
    case KVZ_FIELD_BOOL:
        kvz_buf_puts(out, v ? "true" : "false");
        break;
    case KVZ_FIELD_STRING: {
        const char *s = after ? f->safter : f->sbefore;
        kvz_buf_puts(out, s ? s : "(none)");
        break;
    }
    }
}

static const char *symbol(enum kvz_action a)
{
    switch (a) {
    case KVZ_ACTION_CREATE:
        return "+";
    case KVZ_ACTION_UPDATE:
        return "~";
    case KVZ_ACTION_REPLACE:
        return "-/+";
    case KVZ_ACTION_DELETE:
        return "-";
    case KVZ_ACTION_START:
        return ">";
    case KVZ_ACTION_STOP:
        return "<";
    case KVZ_ACTION_NOOP:
        break;
    }
    return " ";
}

static const char *colour(enum kvz_action a)
{
    switch (a) {
    case KVZ_ACTION_CREATE:
    case KVZ_ACTION_START:
        return "\033[32m";
    case KVZ_ACTION_UPDATE:
    case KVZ_ACTION_STOP:
        return "\033[33m";
    default:
        return "\033[31m";
    }
}

int kvz_plan_render_summary(struct kvz_buf *out, const struct kvz_plan *p)
{
    kvz_buf_printf(
        out,
        "Plan: %zu to create, %zu to update (%zu live, %zu restart), %zu to replace, %zu to delete",
        p->counts[KVZ_ACTION_CREATE], p->counts[KVZ_ACTION_UPDATE], p->n_live, p->n_restart,
        p->counts[KVZ_ACTION_REPLACE], p->counts[KVZ_ACTION_DELETE]);
    if (p->counts[KVZ_ACTION_START])
        kvz_buf_printf(out, ", %zu to start", p->counts[KVZ_ACTION_START]);
    if (p->counts[KVZ_ACTION_STOP])
        kvz_buf_printf(out, ", %zu to stop", p->counts[KVZ_ACTION_STOP]);
    return kvz_buf_puts(out, ".\n");
}

static void render_warnings(struct kvz_buf *out, const struct kvz_plan *p, bool color)
{
    for (size_t i = 0; i < p->n_warnings; i++)
        kvz_buf_printf(out, "  %s!%s %s\n", color ? "\033[33m" : "", color ? "\033[0m" : "",
                       p->warnings[i]);
}

int kvz_plan_render_text(struct kvz_buf *out, const struct kvz_plan *p, bool color)
{
    if (!kvz_plan_n_changes(p)) {
        render_warnings(out, p, color);
        return kvz_buf_printf(out, "No changes: stack '%s' matches the manifests (%zu %s).\n",
                              p->stack, p->n_changes, p->n_changes == 1 ? "resource" : "resources");
    }
    kvz_plan_render_changes(out, p, color);
    kvz_buf_putc(out, '\n');
    return kvz_plan_render_summary(out, p);
}

int kvz_plan_render_changes(struct kvz_buf *out, const struct kvz_plan *p, bool color)
{
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        if (c->action == KVZ_ACTION_NOOP)
            continue;
        const char *on = color ? colour(c->action) : "", *off = color ? "\033[0m" : "";
        kvz_buf_printf(out, "  %s%s%s %s (%s)", on, symbol(c->action), off, c->name,
                       kvz_kind_str(c->kind));
        if (c->action == KVZ_ACTION_UPDATE)
            kvz_buf_puts(out, c->live ? " (live)" : " (restart)");
        else if (c->action == KVZ_ACTION_START || c->action == KVZ_ACTION_STOP)
            kvz_buf_printf(out, " (%s)", kvz_action_str(c->action));
        kvz_buf_putc(out, '\n');
        for (size_t j = 0; j < c->n_fields; j++) {
            const struct kvz_field_delta *f = &c->fields[j];
            kvz_buf_printf(out, "      %s%s%s: ", f->field, f->key ? " " : "",
                           f->key ? f->key : "");
            if (c->action != KVZ_ACTION_CREATE) {
                value_human(out, f, false);
                kvz_buf_puts(out, " -> ");
            }
            value_human(out, f, true);
            if (c->action == KVZ_ACTION_UPDATE && !c->live && f->live)
                kvz_buf_puts(out, " (live)");
            if (!strcmp(f->field, "unattend"))
                kvz_buf_puts(out, " (Windows Setup reads it at install time only)");
            kvz_buf_putc(out, '\n');
        }
        if (c->reason && c->action != KVZ_ACTION_CREATE)
            kvz_buf_printf(out, "      # %s\n", c->reason);
    }
    render_warnings(out, p, color);
    return out->oom ? -1 : 0;
}

static json_t *value_json(const struct kvz_field_delta *f, bool after)
{
    uint64_t v = after ? f->after : f->before;
    switch (f->type) {
    case KVZ_FIELD_BYTES:
    case KVZ_FIELD_COUNT:
        return json_integer((json_int_t)v);
    case KVZ_FIELD_CPUS:
        if (v % 1000 == 0)
            return json_integer((json_int_t)(v / 1000));
        return json_real((double)v / 1000.0);
    case KVZ_FIELD_BOOL:
        return json_boolean(v);
    case KVZ_FIELD_STRING: {
        const char *s = after ? f->safter : f->sbefore;
        return s ? json_string(s) : json_null();
    }
    }
    return json_null();
}

static json_t *change_json(const struct kvz_change *c)
{
    json_t *fields = json_array();
    for (size_t j = 0; fields && j < c->n_fields; j++) {
        const struct kvz_field_delta *f = &c->fields[j];
        /* "key" only on fields that have one (a lease: its guest) */
        json_t *fj = json_pack("{s:s, s:s*, s:o, s:o}", "field", f->field, "key", f->key, "before",
                               c->action == KVZ_ACTION_CREATE ? json_null() : value_json(f, false),
                               "after", value_json(f, true));
        if (json_array_append_new(fields, fj) < 0) {
            json_decref(fields);
            return NULL;
        }
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:b, s:o, s:o}", "kind", kvz_kind_str(c->kind), "name", c->name, "action",
        kvz_action_str(c->action), "live",
        c->action == KVZ_ACTION_UPDATE ? c->live : kvz_change_disruption(c) <= KVZ_DISRUPT_LIVE,
        "fields", fields, "reason", c->reason ? json_string(c->reason) : json_null());
    if (j && c->host)
        json_object_set_new(j, "host", json_string(c->host));
    return j;
}

json_t *kvz_plan_changes_json(const struct kvz_plan *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->n_changes; i++) {
        if (p->changes[i].action == KVZ_ACTION_NOOP)
            continue;
        if (json_array_append_new(a, change_json(&p->changes[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *kvz_plan_to_json(const struct kvz_plan *p)
{
    const size_t *n = p->counts;
    json_t *j =
        json_pack("{s:i, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "format_version", 1,
                  "stack", p->stack, "changes", kvz_plan_changes_json(p), "summary", "create",
                  (json_int_t)n[KVZ_ACTION_CREATE], "update", (json_int_t)n[KVZ_ACTION_UPDATE],
                  "replace", (json_int_t)n[KVZ_ACTION_REPLACE], "delete",
                  (json_int_t)n[KVZ_ACTION_DELETE], "start", (json_int_t)n[KVZ_ACTION_START],
                  "stop", (json_int_t)n[KVZ_ACTION_STOP], "noop", (json_int_t)n[KVZ_ACTION_NOOP]);
    if (j && p->n_warnings) {
        json_t *w = json_array();
        for (size_t i = 0; w && i < p->n_warnings; i++)
            json_array_append_new(w, json_string(p->warnings[i]));
        json_object_set_new(j, "warnings", w);
    }
    return j;
}
