#ifndef KVZ_TESTS_PLAN_FIXTURE_H
#define KVZ_TESTS_PLAN_FIXTURE_H

/*
 * Test-only: a desired model and an observed host read from a JSON fixture
 * (tests/data/plan/<case>.json), so planner tests need neither YAML nor libvirt.
 *
 *   {"stack": "web", "templates": [{"name", "url", "sha256"}],
 *    "desired": [{"kind", "name", "template", "memory", "cpus", ...}],
 *    "observed": [{"kind", "name", "managed", "stack", "spec_digest": "=desired", ...}],
 *    "targets": ["web1"], "destroy": false}
 *
 * "=desired" as a digest means "what the desired resource of that name digests to".
 */

#include "parser/manifest.h"
#include "providers/provider.h"

#include <stdbool.h>

struct plan_fixture {
    struct kvz_manifest m;
    struct kvz_observed observed[2];
    char **targets;
    size_t n_targets;
    bool destroy;
};

/* Loads `path`; returns 0, -1 with a message on stderr. */
int plan_fixture_load(struct plan_fixture *f, const char *path);
void plan_fixture_release(struct plan_fixture *f);

#endif
