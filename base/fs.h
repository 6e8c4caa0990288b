#ifndef KVZ_BASE_FS_H
#define KVZ_BASE_FS_H

/*
 * File-system helpers every module needs: paths joined without truncation,
 * directories made with their parents, trees removed without following
 * symlinks. Each sets *err and returns -1 on failure.
 */

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "<dir>/<name>" in a new string (*out, caller frees). Returns 0, or -1 when out of memory. */
int kvz_path_join(char **out, const char *dir, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Makes `path` and its missing parents: parents with mode 0755, `path` itself with `mode` when it
 * is created. Existing directories are fine and keep their modes. Returns 0 or -1. */
int kvz_mkdir_p(const char *path, mode_t mode, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Removes the file or tree at `path` without following symlinks and without crossing into other
 * file systems (a mount below `path` makes this fail rather than empty it). Adds the bytes the
 * tree used on disk to *freed (may be NULL). A missing path is success. Returns 0 or -1.
 */
int kvz_tree_remove(uint64_t *freed, const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* kvz_tree_remove() on a failure path: best effort, its own errors are dropped (the caller
 * reports the failure that brought it here; a later run removes what is left). */
void kvz_tree_discard(const char *path);

/* Whether `path` exists as a directory (dir) or a regular file (!dir), without following a
 * final symlink. */
bool kvz_path_is(const char *path, bool dir);

/*
 * Writes `len` bytes to `path` atomically: a temporary file beside it (`<path>.<pid>.tmp`, which
 * the store's prune knows as being written; mode `mode`, whatever the umask; never through a
 * symlink), written whole and fsync'd, then renamed over `path`. A failure leaves `path` as it
 * was and no temporary file. Returns 0 or -1 (the errno kept).
 */
int kvz_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct kvz_error **err) __attribute__((warn_unused_result));

/* The current time as RFC 3339 UTC ("2026-12-02T10:00:00Z") in out. */
void kvz_utc_now(char out[32]);

#endif
