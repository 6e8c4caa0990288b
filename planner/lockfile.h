#ifndef KVZ_PLANNER_LOCKFILE_H
#define KVZ_PLANNER_LOCKFILE_H

/*
 * kvz.lock (docs/templates.md): what each template whose digest can move (a catalog entry, a
 * SUMS file) resolved to, so plan and apply use exactly that until `kvz lock --upgrade`.
 * JSON, keys sorted, two-space indent, one template per object under "templates": stable and
 * reviewable in a diff. URLs are stored redacted (parser/template_url.h): never credentials.
 */

#include "parser/manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvz_error;

struct kvz_lock_entry {
    char *name;    /* the template */
    char *catalog; /* catalog templates: the catalog and entry name; else NULL */
    char *entry;
    char *checksums; /* SUMS templates: the SUMS file's URL (redacted); else NULL */
    char *url;       /* the resolved URL (redacted) */
    char *digest;    /* "sha512:HEX" or "sha256:HEX": what the download must hash to */
    char *version;   /* the catalog entry's version, or NULL */
    uint64_t size;   /* 0 when unknown */
};

struct kvz_lockfile {
    struct kvz_lock_entry *v; /* sorted by name */
    size_t n;
};

/* The lockfile's path: kvz.lock beside the first manifest file. Caller frees; NULL on OOM. */
char *kvz_lockfile_path(const struct kvz_manifest *m);

/* Reads `path`. Returns 1 (read), 0 (no such file: *out empty) or -1 (unreadable, not a
 * lockfile: the message says what to do). */
int kvz_lockfile_read(struct kvz_lockfile *out, const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Parses a lockfile held in memory; `path` names it in messages. 0 or -1. */
int kvz_lockfile_parse(struct kvz_lockfile *out, const char *data, size_t len, const char *path,
                       struct kvz_error **err) __attribute__((warn_unused_result));

struct json_t;

/* The lockfile as JSON (a new reference), or NULL on OOM; and back (plan files embed it). */
struct json_t *kvz_lockfile_to_json(const struct kvz_lockfile *lf);
int kvz_lockfile_from_json(struct kvz_lockfile *out, const struct json_t *root, const char *path,
                           struct kvz_error **err) __attribute__((warn_unused_result));

/* The lockfile's text (caller frees), or NULL on OOM. */
char *kvz_lockfile_format(const struct kvz_lockfile *lf);

/* Writes it atomically (a temporary file renamed over `path`). 0 or -1. */
int kvz_lockfile_write(const char *path, const struct kvz_lockfile *lf, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Adds or replaces (by name) a copy of e, keeping the order. 0 or -1 (OOM). */
int kvz_lockfile_set(struct kvz_lockfile *lf, const struct kvz_lock_entry *e)
    __attribute__((warn_unused_result));

const struct kvz_lock_entry *kvz_lockfile_get(const struct kvz_lockfile *lf, const char *name);

/* Whether template t's digest can move, so the lock holds it (a catalog entry, a SUMS file). */
bool kvz_lockfile_wants(const struct kvz_template *t);

/* Whether e was made from t as the manifest declares it now (same catalog entry, or same URL
 * and SUMS file). */
bool kvz_lockfile_fits(const struct kvz_lock_entry *e, const struct kvz_template *t);

void kvz_lock_entry_release(struct kvz_lock_entry *e);
void kvz_lockfile_release(struct kvz_lockfile *lf);

#endif
