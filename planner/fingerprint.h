#ifndef KVZ_PLANNER_FINGERPRINT_H
#define KVZ_PLANNER_FINGERPRINT_H

/* What the planner derives from the observed model (struct kvz_observed, providers/provider.h). */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/provider.h"

#include <stddef.h>

/* The sha256 (hex) of what was observed of stack `stack` and of the names in `m`: a plan made
 * from it is stale once it changes. Domain ids and other stacks' guests do not count. */
int kvz_observed_fingerprint(char out[65], const struct kvz_observed *observed, size_t n_kinds,
                             const char *stack, const struct kvz_manifest *m,
                             struct kvz_error **err);

#endif
