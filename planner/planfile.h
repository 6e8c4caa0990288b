#ifndef KVZ_PLANNER_PLANFILE_H
#define KVZ_PLANNER_PLANFILE_H

/*
 * Saved plans (kvz plan -o FILE, kvz apply FILE): the manifests a plan was
 * made from (paths and content digests), the targets, the URIs, the plan
 * itself and a fingerprint of the observed host. Applying re-reads the
 * manifests and re-observes; any difference makes the plan stale.
 *
 * Format 1 is the plan of one host (a manifest without hosts:). Format 2 is
 * the plan of many hosts (docs/hosts.md): the --host selection and, per host
 * in scope, its name, URIs, fingerprint and plan; applying it refuses a
 * changed inventory (a host added, gone or moved to other URIs) before it
 * connects anywhere.
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "planner/lockfile.h"
#include "planner/plan.h"

#include <stddef.h>

/* One host of a plan file of many hosts. */
struct kvz_planfile_host {
    char *name;
    char *uri[KVZ_N_KINDS]; /* NULL: the host has no URI for that kind */
    char *fingerprint;      /* kvz_observed_fingerprint() of the host when planned */
    struct json_t *plan;    /* kvz_plan_to_json() of the host's plan */
};

struct kvz_planfile {
    char **paths; /* the -f paths, absolute */
    size_t n_paths;
    char *manifest_digest; /* kvz_manifest_digest() when planned */
    char **targets;
    size_t n_targets;
    char *uri[KVZ_N_KINDS];
    char *fingerprint;             /* kvz_observed_fingerprint() when planned */
    struct json_t *plan;           /* kvz_plan_to_json() when planned */
    struct kvz_lockfile templates; /* what the catalog and locked templates resolved to */
    char **commits; /* per path: the commit of a git source, pinned; NULL for a local one */
    /* format 2 (many hosts); uri, fingerprint and plan above are then unset */
    bool many;
    char **only; /* the --host selection; n_only == 0: every host of the manifests */
    size_t n_only;
    struct kvz_planfile_host *hosts; /* the hosts in scope, in manifest order */
    size_t n_hosts;
};

/* What a plan file records of where its manifests came from. */
struct kvz_planfile_source {
    const struct kvz_manifest *m;
    const char *const *paths;   /* the -f paths as given (n_paths == 0: ./kvz.yaml) */
    const char *const *commits; /* NULL, or one per path: the commit of a git source */
    size_t n_paths;
    const char *const *targets;
    size_t n_targets;
};

/* sha256 over the contents of the files of `m`, in load order (as they were loaded). */
int kvz_manifest_digest(char out[65], const struct kvz_manifest *m, struct kvz_error **err);

/*
 * Writes a plan file (atomically: a temporary file renamed into place). `paths` are the -f
 * paths as given (n == 0: ./kvz.yaml); they are stored absolute, git sources without their
 * credentials. `commits` (NULL, or one per path) pins the commit of each git source.
 */
int kvz_planfile_write(const char *file, const struct kvz_plan *p, const struct kvz_manifest *m,
                       const char *const *paths, const char *const *commits, size_t n_paths,
                       const char *const *targets, size_t n_targets,
                       const char *const uri[KVZ_N_KINDS], const char *fingerprint,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/* Writes the plan file of many hosts (format 2): the hosts in scope (`hosts`, each with its
 * plan as JSON and its fingerprint) and the --host selection `only`. */
int kvz_planfile_write_hosts(const char *file, const struct kvz_planfile_source *src,
                             const char *const *only, size_t n_only,
                             const struct kvz_planfile_host *hosts, size_t n_hosts,
                             struct kvz_error **err) __attribute__((warn_unused_result));

/* Reads one; fails on anything that is not a kvz plan file of this format. */
int kvz_planfile_read(struct kvz_planfile **out, const char *file, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Whether applying the saved plan still does what it showed: the manifests have the recorded
 * digest, the host the recorded fingerprint, and the recomputed plan `p` equals the saved one.
 * Fails with a "stale plan" message saying what changed and what to do.
 */
int kvz_planfile_check(const struct kvz_planfile *pf, const struct kvz_manifest *m,
                       const char *fingerprint, const struct kvz_plan *p, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Format 2, before anything is contacted: the hosts the manifests `m` put in scope (pf->only, or
 * all) are those recorded, with the same URIs. Fails with "stale plan: ..." naming the host
 * added, gone or changed.
 */
int kvz_planfile_check_inventory(const struct kvz_planfile *pf, const struct kvz_manifest *m,
                                 struct kvz_error **err) __attribute__((warn_unused_result));

/* Format 2, per host after it is observed again: the manifests have the recorded digest, the
 * host `h` its recorded fingerprint, and its recomputed plan `p` equals the saved one. Fails with
 * "stale plan: ..." naming the host. */
int kvz_planfile_check_host(const struct kvz_planfile *pf, const struct kvz_planfile_host *h,
                            const struct kvz_manifest *m, const char *fingerprint,
                            const struct kvz_plan *p, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The recorded host `name` of a plan file of many hosts, or NULL. */
const struct kvz_planfile_host *kvz_planfile_host(const struct kvz_planfile *pf, const char *name);

void kvz_planfile_free(struct kvz_planfile *pf);

#endif
