#ifndef KVZ_STORE_UNPACKER_H
#define KVZ_STORE_UNPACKER_H

#include "store/unpack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kvz_error;

/*
 * The unpacker: kvz_unpack_stream() in a process of its own, confined to a staging directory
 * (store/sandbox.h). kvz writes the download to it through a socket as the bytes arrive, and
 * keeps downloading, hashing and deciding; the unpacker only unpacks, and answers with what the
 * content is, its size, or why it failed. It holds no descriptor of any file of the host.
 */

/* What the unpacker is asked. */
struct kvz_unpack_request {
    enum kvz_content_kind expect; /* ROOTFS refuses anything but a rootfs archive */
    uint64_t max_bytes, max_entries;
    uint64_t ratio, slack; /* the budget of unverified content (struct kvz_unpack_budget) */
    bool admin;            /* verified content that sets trusted.* or security.* xattrs */
};

struct kvz_unpacker {
    pid_t pid;
    int ctl;          /* SOCK_SEQPACKET: the request out, the report in */
    int data;         /* the download out; -1 once the unpacker stopped reading or it ended */
    int errfd;        /* the unpacker's stderr (sanitizer reports), read when it is gone */
    unsigned stall_s; /* fail when it takes no bytes for this long */
};

/* Its answer. */
struct kvz_unpack_report {
    struct kvz_unpack_result r;
    bool over_budget;             /* stopped: more on disk than the budget allows */
    bool needs_admin;             /* stopped: an xattr that only verified content may set */
    uint64_t bytes_in, bytes_out; /* bytes it read, and put on disk (as the budget counts) */
    struct kvz_error *err;        /* why it failed; NULL when it succeeded. Owned. */
};

/*
 * Starts an unpacker (the program kvz-unpack) confined to the existing, empty directory `dir`
 * (absolute). Returns 0 (finish it with kvz_unpacker_finish) or -1.
 */
int kvz_unpacker_start(struct kvz_unpacker *u, const char *dir,
                       const struct kvz_unpack_request *req, unsigned stall_s,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Hands the next bytes of the download to the unpacker, waiting while it is busy. Once it
 * stopped reading (it has its answer, or failed) the bytes are dropped. Returns 0, or -1 when it
 * took nothing for stall_s seconds (it is killed then).
 */
int kvz_unpacker_feed(struct kvz_unpacker *u, const void *data, size_t len, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Ends the download (`kill`: kills the unpacker first, for an answer no longer wanted), waits for
 * the unpacker and fills *out with its answer (release with kvz_unpack_report_release); a crash
 * is a failure naming the signal. Returns 0 when it succeeded, else -1 (out->err says why).
 */
int kvz_unpacker_finish(struct kvz_unpack_report *out, struct kvz_unpacker *u, bool kill);

void kvz_unpack_report_release(struct kvz_unpack_report *r);

#endif
