#ifndef KVZ_PARSER_MANIFEST_FILES_H
#define KVZ_PARSER_MANIFEST_FILES_H

#include "parser/diag.h"

#include <stddef.h>

/* Receives one manifest file's bytes; `name` is the path as the user gave it (joined for dirs). */
typedef void kvz_manifest_file_fn(void *ctx, const char *name, const char *data, size_t len);

/*
 * Reads every manifest file named by `paths`: files as given, directories as
 * their *.yaml and *.yml (sorted, hidden ones skipped). Each is read at most
 * once and only up to KVZ_MANIFEST_MAX_FILE_SIZE; larger, unreadable or
 * missing ones become diagnostics. Calls fn for each file in order.
 */
void kvz_manifest_read_paths(const char *const *paths, size_t n, struct kvz_diags *d,
                             kvz_manifest_file_fn *fn, void *ctx);

#endif
