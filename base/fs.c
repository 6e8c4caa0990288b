#include "base/fs.h"

#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kvz_path_join(char **out, const char *dir, const char *name, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/%s", dir, name);
    *out = kvz_buf_detach(&b);
    return *out ? 0 : kvz_error_set(err, "path '%s/%s': out of memory", dir, name);
}

int kvz_mkdir_p(const char *path, mode_t mode, struct kvz_error **err)
{
    char *p = strdup(path);
    int ret = -1;
    if (!p)
        return kvz_error_set(err, "create directory '%s': out of memory", path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, saved ? 0755 : mode) < 0 && errno != EEXIST) {
            kvz_error_set_errno(err, "create directory '%s'", p);
            goto cleanup;
        }
        *c = saved;
        if (!saved)
            break;
    }
    ret = 0;
cleanup:
    free(p);
    return ret;
}

/* nftw offers no context pointer; each removal runs in one thread, so a thread-local is enough. */
static _Thread_local uint64_t remove_freed;
static _Thread_local int remove_errno;

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    remove_freed += (uint64_t)st->st_blocks * 512;
    int r = type == FTW_DP ? rmdir(path) : unlink(path);
    if (r < 0 && errno != ENOENT && !remove_errno)
        remove_errno = errno;
    return 0;
}

int kvz_tree_remove(uint64_t *freed, const char *path, struct kvz_error **err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : kvz_error_set_errno(err, "remove '%s'", path);
    remove_freed = 0;
    remove_errno = 0;
    /* FTW_PHYS: symlinks are removed, never followed; FTW_MOUNT: stay on this file system. */
    if (nftw(path, remove_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return kvz_error_set_errno(err, "remove '%s'", path);
    if (freed)
        *freed += remove_freed;
    if (remove_errno) {
        errno = remove_errno;
        return kvz_error_set_errno(err, "remove '%s'", path);
    }
    return 0;
}

void kvz_tree_discard(const char *path)
{
    struct kvz_error *ignored = NULL;
    if (kvz_tree_remove(NULL, path, &ignored) < 0)
        kvz_error_free(ignored);
}

bool kvz_path_is(const char *path, bool dir)
{
    struct stat st;
    return lstat(path, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

void kvz_utc_now(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kvz_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct kvz_error **err)
{
    struct kvz_buf tmp = KVZ_BUF_INIT;
    const unsigned char *p = data;
    int fd = -1, rc = -1;
    kvz_buf_printf(&tmp, "%s.%ld.tmp", path, (long)getpid());
    if (tmp.oom)
        return kvz_error_set(err, "write '%s': out of memory", path);
    fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 || fchmod(fd, mode) < 0) {
        kvz_error_set_errno(err, "create '%s'", tmp.ptr);
        goto cleanup;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kvz_error_set_errno(err, "write '%s'", tmp.ptr);
            goto cleanup;
        }
        off += (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        kvz_error_set_errno(err, "write '%s'", tmp.ptr);
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp.ptr, path) < 0) {
        kvz_error_set_errno(err, "rename '%s' to '%s'", tmp.ptr, path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp.ptr);
    kvz_buf_release(&tmp);
    return rc;
}
