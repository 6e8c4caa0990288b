#ifndef KVZ_STORE_FETCH_H
#define KVZ_STORE_FETCH_H

#include "store/store.h"

#include <stdint.h>

struct kvz_buf;
struct kvz_error;

/* Where fetched bytes go. Both callbacks return 0, or -1 with *err set to stop the transfer. */
struct kvz_fetch_sink {
    /* The next bytes of the body, in order. */
    int (*write)(void *arg, const void *data, size_t len, struct kvz_error **err);
    /* The server sends the body from byte 0 again (it ignored Range): drop what you have. */
    int (*restart)(void *arg, struct kvz_error **err);
    void *arg;
};

/*
 * Fetches `url` (http, https or file; plain paths are turned into file URLs
 * by the caller) into `sink`, starting at byte `offset` (bytes the sink
 * already holds from an earlier attempt). Transient failures (connection
 * reset or cut short, stall, HTTP 408/429/5xx) are retried from where the
 * data stopped, with exponential backoff bounded by opts, honouring
 * Retry-After. Redirects are followed up to opts->max_redirects. Progress
 * goes to opts->progress under `name`. Returns 0 and sets *out_size to the
 * total bytes the sink holds, or -1 with an error naming the URL (and the
 * HTTP status when there is one).
 */
int kvz_fetch(uint64_t *out_size, const char *url, uint64_t offset, const char *name,
              const struct kvz_store_opts *opts, const struct kvz_fetch_sink *sink,
              struct kvz_error **err) __attribute__((warn_unused_result));

/* Fetches a small document (at most `max` bytes) into `out`, reporting no progress (a SUMS file
 * is not the template's download). Returns 0 or -1. */
int kvz_fetch_small(struct kvz_buf *out, const char *url, size_t max, const char *name,
                    const struct kvz_store_opts *opts, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Turns a template source (URL or plain path) into a URL curl accepts; caller frees. */
int kvz_fetch_url(char **out, const char *source, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The local file a template source names (a file:// URL, decoded, or a plain path): 1 and *out
 * (caller frees); 0 for http and https. */
int kvz_fetch_local_path(char **out, const char *source, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The file name at the end of a URL's path (for SUMS lookups); caller frees. */
int kvz_fetch_url_basename(char **out, const char *url, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
