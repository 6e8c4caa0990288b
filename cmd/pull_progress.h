#ifndef KVZ_CMD_PULL_PROGRESS_H
#define KVZ_CMD_PULL_PROGRESS_H

#include "cmd/cli.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/*
 * What a person sees while templates download: on a terminal one status line
 * (template, bar, bytes, rate, ETA) redrawn at most 10 times a second; otherwise
 * plain lines (start, each quarter, retries, done). Nothing with -q. Safe for
 * the store's worker threads. Used by `kvz templates pull` and by apply.
 */
struct kvz_pull_progress;

/*
 * Creates the display and installs it as opts->progress / progress_arg (open
 * the store with these opts afterwards). Returns NULL when out of memory.
 */
struct kvz_pull_progress *kvz_pull_progress_new(struct kvz_cli *cli, struct kvz_store_opts *opts);

/* Removes a status line from the terminal, before other output. */
void kvz_pull_progress_clear(struct kvz_pull_progress *ui);

/* Clears the line and frees; call after the store is done. Accepts NULL. */
void kvz_pull_progress_free(struct kvz_pull_progress *ui);

/* "512 B", "1.5 KiB", "228.5 MiB"... */
void kvz_out_size(char *out, size_t cap, uint64_t bytes);

#endif
