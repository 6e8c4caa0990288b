#ifndef KVZ_PLANNER_EXECUTOR_H
#define KVZ_PLANNER_EXECUTOR_H

/*
 * Walks a plan (docs/plan.md, "Apply order"): the templates the plan needs
 * first, pulled through the store, then the resources, up to `parallel` at
 * once. A failed resource does not stop the others. Every step is reported as
 * it happens.
 */

#include "base/error.h"
#include "planner/plan.h"
#include "providers/hosts.h"
#include "store/store.h"

enum kvz_exec_what {
    KVZ_EXEC_PULL,     /* a template is being made available */
    KVZ_EXEC_BEGIN,    /* a change starts */
    KVZ_EXEC_PROGRESS, /* a provider step of a change ("creating rootfs") */
    KVZ_EXEC_DONE,     /* a change succeeded */
    KVZ_EXEC_FAILED,   /* a change (or a template pull) failed; msg says why */
};

struct kvz_exec_event {
    enum kvz_exec_what what;
    const struct kvz_change *change; /* NULL for PULL and for a failed pull */
    const char *name;                /* resource, or template for pulls */
    const char *msg;                 /* may be NULL */
};

/* Called from worker threads, one call at a time (the executor serialises them). */
typedef void (*kvz_exec_report_fn)(void *ctx, const struct kvz_exec_event *ev);

struct kvz_exec_opts {
    unsigned parallel; /* resources at once, and templates downloading at once; 0 means 4 */
    kvz_exec_report_fn report;
    void *report_ctx;
    /* Where the templates of creates, replaces and cdrom changes are pulled before any change
     * runs; NULL: none are (a change that needs one fails). Its progress callback reports the
     * downloads. */
    struct kvz_store *store;
    /* --force: guests whose data goes anyway (deletes, replaces) are forced off, no grace */
    bool force;
};

struct kvz_exec_result {
    size_t done, failed; /* changes (noops not counted) */
};

/*
 * Applies every change of `p` on `hs`. Returns 0 when all succeeded, else -1 with an error
 * saying how many failed (each failure was reported with its message).
 */
int kvz_plan_execute(struct kvz_exec_result *out, const struct kvz_plan *p, struct kvz_hosts *hs,
                     const struct kvz_exec_opts *o, struct kvz_error **err);

#endif
