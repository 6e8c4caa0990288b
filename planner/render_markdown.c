/* The plan as a Markdown comment for a pull request (kvz plan --format markdown, docs/git.md):
 * the summary first, then a table of the changes with their disruption in words, then each
 * change's field deltas. user_data and cloud_init are never shown, not even their digests. */
#include "planner/render_markdown.h"

#include "parser/units.h"

#include <inttypes.h>
#include <string.h>

/* A table cell or inline text: what could start markup ('|', '`', '*', '[', '<', ...)
 * escaped (GitHub and GitLab leave an underscore inside a word alone); line ends become
 * spaces. */
void kvz_md_text(struct kvz_buf *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\n' || *s == '\r')
            kvz_buf_putc(out, ' ');
        else if (strchr("\\`*[]<>|~", *s))
            kvz_buf_printf(out, "\\%c", *s);
        else
            kvz_buf_putc(out, *s);
    }
}

static bool secret(const char *field)
{
    return !strcmp(field, "user_data") || !strcmp(field, "cloud_init");
}

static void value(struct kvz_buf *out, const struct kvz_field_delta *f, bool after)
{
    uint64_t v = after ? f->after : f->before;
    struct kvz_buf t = KVZ_BUF_INIT;
    switch (f->type) {
    case KVZ_FIELD_BYTES:
        kvz_size_human(&t, v);
        break;
    case KVZ_FIELD_CPUS:
        kvz_cpus_human(&t, v);
        break;
    case KVZ_FIELD_COUNT:
        kvz_buf_printf(&t, "%" PRIu64, v);
        break;
    case KVZ_FIELD_BOOL:
        kvz_buf_puts(&t, v ? "true" : "false");
        break;
    case KVZ_FIELD_STRING: {
        const char *s = after ? f->safter : f->sbefore;
        kvz_buf_puts(&t, s ? s : "(none)");
        break;
    }
    }
    kvz_md_text(out, kvz_buf_cstr(&t));
    kvz_buf_release(&t);
}

/* What a change does to the guest, in words. */
static const char *in_words(const struct kvz_change *c)
{
    switch (c->action) {
    case KVZ_ACTION_CREATE:
        return "none: a new resource";
    case KVZ_ACTION_UPDATE:
        return c->live ? "none: changed live" : "restart";
    case KVZ_ACTION_REPLACE:
        return c->kind == KVZ_KIND_NETWORK ? "replaced: its guests lose the network meanwhile"
                                           : "replaced: its data is lost";
    case KVZ_ACTION_DELETE:
        return c->kind == KVZ_KIND_NETWORK ? "deleted" : "deleted: its data is lost";
    case KVZ_ACTION_START:
        return "none: started";
    case KVZ_ACTION_STOP:
        return "stopped";
    case KVZ_ACTION_NOOP:
        break;
    }
    return "none";
}

const char *kvz_md_disruption_words(enum kvz_disruption d)
{
    switch (d) {
    case KVZ_DISRUPT_NONE:
        return "nothing changes";
    case KVZ_DISRUPT_LIVE:
        return "no guest restarts (--max-disruption live allows it)";
    case KVZ_DISRUPT_RESTART:
        return "guests restart or stop (needs --max-disruption restart)";
    case KVZ_DISRUPT_DESTROY:
        return "guests are replaced or deleted and lose their data (needs --max-disruption destroy)";
    }
    return "";
}

void kvz_md_summary(struct kvz_buf *out, const struct kvz_plan *p)
{
    if (!kvz_plan_n_changes(p)) {
        kvz_buf_printf(out, "**No changes**: the host matches the manifests (%zu %s).\n",
                       p->n_changes, p->n_changes == 1 ? "resource" : "resources");
        return;
    }
    struct kvz_buf sum = KVZ_BUF_INIT;
    const struct kvz_change *worst = NULL;
    kvz_plan_render_summary(&sum, p);
    kvz_buf_puts(out, "**");
    kvz_buf_add(out, sum.ptr, sum.len ? sum.len - 1 : 0); /* without its line end */
    kvz_buf_printf(out, "** Disruption: %s.\n",
                   kvz_md_disruption_words(kvz_plan_disruption(p, &worst)));
    kvz_buf_release(&sum);
}

void kvz_md_sources(struct kvz_buf *out, const char *const *sources, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kvz_buf_puts(out, i ? "From " : "\nFrom ");
        kvz_md_text(out, sources[i]);
        kvz_buf_puts(out, ".\n");
    }
}

void kvz_md_warnings(struct kvz_buf *out, const struct kvz_plan *p)
{
    for (size_t i = 0; i < p->n_warnings; i++) {
        kvz_buf_puts(out, i ? "" : "\n");
        kvz_buf_puts(out, "> **Warning:** ");
        kvz_md_text(out, p->warnings[i]);
        kvz_buf_puts(out, "\n");
    }
}

void kvz_md_changes(struct kvz_buf *out, const struct kvz_plan *p, const char *host, int level)
{
    kvz_buf_puts(out, "\n| host | kind | name | action | disruption |\n"
                      "| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        if (c->action == KVZ_ACTION_NOOP)
            continue;
        kvz_buf_puts(out, "| ");
        kvz_md_text(out, c->host ? c->host : host);
        kvz_buf_printf(out, " | %s | `", kvz_kind_str(c->kind));
        kvz_md_text(out, c->name);
        kvz_buf_printf(out, "` | %s | %s |\n", kvz_action_str(c->action), in_words(c));
    }
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        if (c->action == KVZ_ACTION_NOOP || (!c->n_fields && !c->reason))
            continue;
        kvz_buf_printf(out, "\n%.*s %s `", level, "######", kvz_action_str(c->action));
        kvz_md_text(out, c->name);
        kvz_buf_printf(out, "` (%s)\n", kvz_kind_str(c->kind));
        if (c->reason && c->action != KVZ_ACTION_CREATE) {
            kvz_buf_puts(out, "\n");
            kvz_md_text(out, c->reason);
            kvz_buf_puts(out, ".\n");
        }
        if (!c->n_fields)
            continue;
        bool create = c->action == KVZ_ACTION_CREATE;
        kvz_buf_puts(out, create ? "\n| field | value |\n| --- | --- |\n"
                                 : "\n| field | before | after |\n| --- | --- | --- |\n");
        for (size_t j = 0; j < c->n_fields; j++) {
            const struct kvz_field_delta *f = &c->fields[j];
            kvz_buf_puts(out, "| ");
            kvz_md_text(out, f->field);
            if (f->key) {
                kvz_buf_putc(out, ' ');
                kvz_md_text(out, f->key);
            }
            kvz_buf_puts(out, " | ");
            if (secret(f->field)) {
                kvz_buf_puts(out, create ? "(set, not shown) |\n"
                                         : "(not shown) | (changed, not shown) |\n");
                continue;
            }
            if (!create) {
                value(out, f, false);
                kvz_buf_puts(out, " | ");
            }
            value(out, f, true);
            kvz_buf_puts(out, c->action == KVZ_ACTION_UPDATE && !c->live && f->live ? " (live) |\n"
                                                                                    : " |\n");
        }
    }
}

int kvz_plan_render_markdown(struct kvz_buf *out, const struct kvz_plan *p,
                             const char *const *sources, size_t n_sources)
{
    kvz_buf_puts(out, "### kvz plan: stack `");
    kvz_md_text(out, p->stack);
    kvz_buf_puts(out, "`\n\n");
    kvz_md_summary(out, p);
    kvz_md_sources(out, sources, n_sources);
    kvz_md_warnings(out, p);
    if (kvz_plan_n_changes(p))
        kvz_md_changes(out, p, "local", 4);
    return out->oom ? -1 : 0;
}
