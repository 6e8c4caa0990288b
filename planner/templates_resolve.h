#ifndef KVZ_PLANNER_TEMPLATES_RESOLVE_H
#define KVZ_PLANNER_TEMPLATES_RESOLVE_H

/*
 * What a manifest's templates resolve to before anything is planned: a catalog entry (the
 * newest of its kind for the host's architecture) or, when kvz.lock holds the template as it
 * is declared now, exactly what the lock says. The manifest's templates are filled in place
 * (url, algo and digest, version, size, locked).
 */

#include "parser/manifest.h"
#include "planner/lockfile.h"

struct kvz_error;
struct kvz_store_opts;

struct kvz_resolve_opts {
    const struct kvz_lockfile *lock; /* may be NULL (no kvz.lock) */
    bool readonly;                   /* every template the lock wants must be in it, as declared */
    bool offline;                    /* nothing fetched: only the lock resolves (status) */
    bool all_fresh;                  /* resolve every template anew (kvz lock --upgrade) */
    const char *const *fresh;        /* or these (kvz lock --upgrade NAME...) */
    size_t n_fresh;
    const struct kvz_store_opts *store; /* fetch options, may be NULL */
};

/*
 * Resolves m's templates as `o` says. With `out` (kvz lock), also asks each SUMS file not
 * locked for its digest, and fills *out with an entry per template kvz_lockfile_wants (release
 * with kvz_lockfile_release). Returns 0, or -1 at the first template that cannot be resolved.
 */
int kvz_templates_resolve(struct kvz_lockfile *out, struct kvz_manifest *m,
                          const struct kvz_resolve_opts *o, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What m's templates were resolved to (those kvz_lockfile_wants with a url and digest), for a
 * plan file. 0, or -1 on OOM. */
int kvz_templates_resolved(struct kvz_lockfile *out, const struct kvz_manifest *m,
                           struct kvz_error **err) __attribute__((warn_unused_result));

/* Resolves m's templates to what a plan file recorded (kvz apply PLANFILE): a catalog template
 * it does not hold as declared fails. 0 or -1. */
int kvz_templates_apply_recorded(struct kvz_manifest *m, const struct kvz_lockfile *recorded,
                                 struct kvz_error **err) __attribute__((warn_unused_result));

/* "sha512:HEX" of t's algo and digest (caller frees), or NULL when t has none. */
char *kvz_template_digest_str(const struct kvz_template *t);

#endif
