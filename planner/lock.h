#ifndef KVZ_PLANNER_LOCK_H
#define KVZ_PLANNER_LOCK_H

/*
 * The state-dir lock that serialises applies (docs/plan.md): flock on
 * <state_dir>/lock, which names the holder ("pid 123 since 2026-...Z"). The
 * kernel drops it when the holder dies, even by SIGKILL.
 */

#include "base/error.h"

struct kvz_lock {
    int fd; /* -1 when not held */
};

#define KVZ_LOCK_INIT                                                                              \
    {                                                                                              \
        -1                                                                                         \
    }

/*
 * Takes the lock without waiting, creating the state dir when missing. When another process
 * holds it, fails at once naming its pid and start time.
 */
int kvz_lock_acquire(struct kvz_lock *l, const char *state_dir, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Releases; accepts a lock that is not held. */
void kvz_lock_release(struct kvz_lock *l);

#endif
