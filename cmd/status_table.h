#ifndef KVZ_CMD_STATUS_TABLE_H
#define KVZ_CMD_STATUS_TABLE_H

/*
 * The table of kvz status: rows collected first, then printed with each column as wide as its
 * widest cell, so a long drift reason or source never shifts the columns after it. With a
 * stack column for `status --all`.
 */

#include "providers/provider.h"

#include <jansson.h>
#include <stdbool.h>

struct kvz_status_row {
    char *cell[9]; /* STACK NAME KIND STATE MEMORY CPUS APPLIED DRIFT SOURCE */
};

struct kvz_status_table {
    struct kvz_status_row *v;
    size_t n;
    bool with_stack; /* print the STACK column (status --all) */
    bool oom;
};

/* Adds a row; any cell may be NULL ("-"). Copies the strings. */
void kvz_status_table_add(struct kvz_status_table *t, const char *stack, const char *name,
                          const char *kind, const char *state, const char *memory, const char *cpus,
                          const char *applied, const char *drift, const char *source);

/* Adds the row of an observed resource, with `drift` as the plan (or the host) tells it. */
void kvz_status_table_add_observed(struct kvz_status_table *t,
                                   const struct kvz_observed_resource *h, const char *drift);

/* Prints the header and the rows to stdout; 0, or -1 when a row could not be kept (memory). */
int kvz_status_table_print(const struct kvz_status_table *t);

void kvz_status_table_release(struct kvz_status_table *t);

/* The state word of an observed resource: running/stopped, a network's active/inactive. */
const char *kvz_status_state(const struct kvz_observed_resource *h);

/* The JSON object of an observed resource (kind, name, state, memory, cpus as in plan JSON: an
 * integer when whole, disk, drift, applied_at, source, kvz_version, protect). */
json_t *kvz_status_json(const struct kvz_observed_resource *h, const char *drift);

#endif
