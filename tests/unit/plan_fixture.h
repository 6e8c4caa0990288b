#ifndef KVZ_TESTS_PLAN_FIXTURE_H
#define KVZ_TESTS_PLAN_FIXTURE_H

/*
 * Test-only: the desired model from tests/data/plan/<case>.yaml (the real loader) and an
 * observed host from <case>.json, so planner tests need no libvirt:
 *
 *   {"targets": ["web1"], "destroy": false,
 *    "observed": [{"kind", "name", "managed", "stack", "memory", "cpus", "state",
 *                  "spec_digest": "=desired", "cdrom": "HEX", "tpm": true, ...}]}
 *
 * "=desired" as a digest means "what the desired resource of that name digests to"; sizes are
 * bytes, defaults are those of a 512MiB, 1 cpu, running guest on network "default".
 * A network ("kind": "network") has "state" active or inactive (default active), "autostart"
 * (default true), "mode" (nat), "subnet", "dhcp" and "dns" (true), "bridge" and "leases":
 * [{"guest", "ip", "mac"}] where a missing mac is the stable MAC of that guest of the stack.
 */

#include "parser/manifest.h"
#include "providers/provider.h"

#include <stdbool.h>

struct plan_fixture {
    struct kvz_manifest *m;
    struct kvz_observed observed[KVZ_N_KINDS];
    char **targets;
    size_t n_targets;
    bool destroy;
    char **resolved; /* "resolved": {TEMPLATE: DIGEST}, indexed like m->templates */
    size_t n_resolved;
    char *state_dir; /* "state_dir": the run's, or NULL */
};

/* Loads `path`; returns 0, -1 with a message on stderr. */
int plan_fixture_load(struct plan_fixture *f, const char *dir, const char *name);
void plan_fixture_release(struct plan_fixture *f);

/* The plan input of the fixture: its manifest, observed kinds, targets and destroy flag. */
struct kvz_plan_input;
void plan_fixture_input(struct kvz_plan_input *in, struct plan_fixture *f);

#endif
