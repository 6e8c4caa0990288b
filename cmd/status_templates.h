#ifndef KVZ_CMD_STATUS_TEMPLATES_H
#define KVZ_CMD_STATUS_TEMPLATES_H

/*
 * What `kvz status` shows of the templates the stack's guests were made from: the version (a
 * catalog entry's) and content digest recorded when each was made, and whether kvz.lock now
 * holds another one, which the next apply makes the guest from.
 */

#include "cmd/stack.h"
#include "providers/provider.h"

struct json_t;

/* Adds "template": {name, version, digest, locked_version, locked_digest, newer_locked} to a
 * guest's row of `status --json`. */
void kvz_status_template_json(struct json_t *row, const struct kvz_observed_resource *h,
                              const struct kvz_stack_run *r);

/* The text section after the table: one line a guest made from a template. */
void kvz_status_templates_print(const struct kvz_stack_run *r);

#endif
