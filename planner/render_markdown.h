#ifndef KVZ_PLANNER_RENDER_MARKDOWN_H
#define KVZ_PLANNER_RENDER_MARKDOWN_H

/* The parts of the Markdown plan (planner/render_markdown.c) that the plan of many hosts
 * (planner/render_markdown_hosts.c) shows for each host. */

#include "planner/plan.h"

/* Inline text or a table cell: what could start markup escaped, line ends made spaces. */
void kvz_md_text(struct kvz_buf *out, const char *s);

/* The worst disruption of a plan in words ("nothing changes", ...). */
const char *kvz_md_disruption_words(enum kvz_disruption d);

/* "**No changes**: ..." or the summary in bold and the worst disruption in words; one line. */
void kvz_md_summary(struct kvz_buf *out, const struct kvz_plan *p);

/* One "From ..." line per source, after an empty line; nothing when n is 0. */
void kvz_md_sources(struct kvz_buf *out, const char *const *sources, size_t n);

/* p's warnings as quoted lines after an empty line; nothing when it has none. */
void kvz_md_warnings(struct kvz_buf *out, const struct kvz_plan *p);

/* The table of p's changes (noops left out; the host column says the change's host, else
 * `host`), then each change's field deltas under a heading of `level` '#' (1 to 6). */
void kvz_md_changes(struct kvz_buf *out, const struct kvz_plan *p, const char *host, int level);

#endif
