/* The plan of many hosts as a Markdown comment for a pull request (kvz plan --format markdown
 * with hosts:, docs/hosts.md): the summary of every host first, then a section per host made of
 * what one host's Markdown plan (planner/render_markdown.c) shows. */
#include "planner/plan_hosts.h"
#include "planner/render_markdown.h"

#include <string.h>

/* The summary line of p without "Plan: " and its line end. */
static void counts_of(struct kvz_buf *out, const struct kvz_plan *p)
{
    struct kvz_buf one = KVZ_BUF_INIT;
    kvz_plan_render_summary(&one, p);
    const char *s = kvz_buf_cstr(&one);
    size_t skip = !strncmp(s, "Plan: ", 6) ? 6 : 0;
    kvz_buf_add(out, s + skip, one.len > skip ? one.len - skip - 1 : 0);
    kvz_buf_release(&one);
}

static void summary(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n)
{
    struct kvz_plan all;
    enum kvz_disruption worst = KVZ_DISRUPT_NONE;
    size_t failed = kvz_host_plans_n_failed(v, n);
    for (size_t i = 0; i < n; i++) {
        enum kvz_disruption d = v[i].plan ? kvz_plan_disruption(v[i].plan, NULL) : worst;
        worst = d > worst ? d : worst;
    }
    kvz_host_plans_totals(&all, v, n);
    if (!kvz_host_plans_n_changes(v, n)) {
        kvz_buf_printf(out, "**No changes** on the %zu planned %s.\n", n - failed,
                       n - failed == 1 ? "host" : "hosts");
    } else {
        kvz_buf_puts(out, "**Plan: ");
        counts_of(out, &all);
        kvz_buf_printf(out, "** Disruption: %s.\n", kvz_md_disruption_words(worst));
    }
    if (failed) {
        kvz_buf_printf(out, "\n**%zu of %zu %s could not be planned:** ", failed, n,
                       n == 1 ? "host" : "hosts");
        for (size_t i = 0, k = 0; i < n; i++) {
            if (v[i].plan)
                continue;
            kvz_buf_puts(out, k++ ? ", `" : "`");
            kvz_md_text(out, v[i].host);
            kvz_buf_putc(out, '`');
        }
        kvz_buf_puts(out, ": fix them, or leave them out with --host.\n");
    }
}

/* One row per host: its counts, no changes, or not planned. */
static void host_table(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n)
{
    kvz_buf_puts(out, "\n| host | plan |\n| --- | --- |\n");
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = v[i].plan;
        kvz_buf_puts(out, "| `");
        kvz_md_text(out, v[i].host);
        kvz_buf_puts(out, "` | ");
        if (!p)
            kvz_buf_puts(out, "**not planned** (see below)");
        else if (!kvz_plan_n_changes(p))
            kvz_buf_printf(out, "no changes (%zu %s)", p->n_changes,
                           p->n_changes == 1 ? "resource" : "resources");
        else
            counts_of(out, p);
        kvz_buf_puts(out, " |\n");
    }
}

int kvz_host_plans_render_markdown(struct kvz_buf *out, const struct kvz_host_plan *v, size_t n,
                                   const char *stack, const char *const *sources, size_t n_sources)
{
    kvz_buf_puts(out, "### kvz plan: stack `");
    kvz_md_text(out, stack);
    kvz_buf_printf(out, "` on %zu %s\n\n", n, n == 1 ? "host" : "hosts");
    summary(out, v, n);
    kvz_md_sources(out, sources, n_sources);
    host_table(out, v, n);
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = v[i].plan;
        kvz_buf_puts(out, "\n#### Host `");
        kvz_md_text(out, v[i].host);
        kvz_buf_puts(out, "`\n\n");
        if (!p) {
            kvz_buf_puts(out, "**Not planned:** ");
            kvz_md_text(out, v[i].error);
            kvz_buf_puts(out, "\n");
            continue;
        }
        kvz_md_summary(out, p);
        kvz_md_warnings(out, p);
        if (kvz_plan_n_changes(p))
            kvz_md_changes(out, p, v[i].host, 5);
    }
    return out->oom ? -1 : 0;
}
