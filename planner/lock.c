#include "planner/lock.h"

#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mkdir -p for the state dir; existing directories are fine. */
static int make_dirs(const char *path, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    int ret = -1;
    kvz_buf_puts(&b, path);
    if (b.oom) {
        kvz_error_set(err, "lock: out of memory");
        goto cleanup;
    }
    for (char *p = b.ptr + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(b.ptr, 0755) < 0 && errno != EEXIST) {
            kvz_error_set_errno(err, "state dir '%s': cannot create '%s'", path, b.ptr);
            goto cleanup;
        }
        *p = c;
        if (!c)
            break;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&b);
    return ret;
}

int kvz_lock_acquire(struct kvz_lock *l, const char *state_dir, struct kvz_error **err)
{
    char path[4096], holder[256];
    l->fd = -1;
    if (make_dirs(state_dir, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kvz_error_set_errno(err, "lock '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            close(fd);
            errno = e;
            return kvz_error_set_errno(err, "lock '%s'", path);
        }
        ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
        close(fd);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        return kvz_error_set(
            err,
            "state dir '%s' is locked by another kvz (%s); wait for it to finish, or use another --state-dir",
            state_dir, *holder ? holder : "holder unknown");
    }
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int len = snprintf(holder, sizeof(holder), "pid %ld since %s\n", (long)getpid(), when);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, (size_t)len, 0) != len) {
        kvz_error_set_errno(err, "lock '%s': cannot record the holder", path);
        close(fd);
        return -1;
    }
    l->fd = fd;
    return 0;
}

void kvz_lock_release(struct kvz_lock *l)
{
    if (l->fd < 0)
        return;
    /* the file stays: removing it would race a process that just opened it */
    close(l->fd);
    l->fd = -1;
}
