#include "planner/lock.h"

#include "base/buf.h"
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kvz_lock_acquire(struct kvz_lock *l, const char *state_dir, struct kvz_error **err)
{
    char path[4096], holder[256];
    l->fd = -1;
    if (kvz_mkdir_p(state_dir, 0755, err) < 0)
        return kvz_error_wrap(err, "state dir '%s'", state_dir);
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
