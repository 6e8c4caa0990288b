#include "store/unpack.h"

#include "base/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (1u << 20)

struct reader {
    const struct kvz_source *src;
    char *buf;
};

static la_ssize_t on_read(struct archive *a, void *arg, const void **out)
{
    struct reader *r = arg;
    ssize_t n = r->src->read(r->src->arg, r->buf, READ_BLOCK);
    if (n < 0) {
        archive_set_error(a, errno ? errno : EIO, "reading the download failed");
        return -1;
    }
    *out = r->buf;
    return n;
}

/* Only the formats a template may hold: fewer parsers, less attack surface. */
static struct archive *open_reader(struct reader *r, bool raw, struct kvz_error **err)
{
    struct archive *a = archive_read_new();
    r->buf = malloc(READ_BLOCK);
    if (!a || !r->buf) {
        archive_read_free(a);
        kvz_error_set(err, "unpack: out of memory");
        return NULL;
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    if (raw)
        archive_read_support_format_raw(a);
    else
        archive_read_support_format_tar(a);
    if (archive_read_open(a, r, NULL, on_read, NULL) != ARCHIVE_OK) {
        kvz_error_set(err, "archive: %s; the archive is damaged or of an unsupported kind",
                      archive_error_string(a));
        archive_read_free(a);
        free(r->buf);
        r->buf = NULL;
        return NULL;
    }
    return a;
}

static void close_reader(struct archive *a, struct reader *r)
{
    archive_read_free(a);
    free(r->buf);
    r->buf = NULL;
}

/*
 * Counts what content puts on disk against its budget; fails (marking the budget `over`) once
 * unverified content grows past what its downloaded bytes may give.
 */
static int charge(const struct kvz_unpack_limits *lim, uint64_t bytes, struct kvz_error **err)
{
    struct kvz_unpack_budget *b = lim->budget;
    if (!b)
        return 0;
    b->out += bytes;
    if (!b->ratio)
        return 0;
    uint64_t in = atomic_load(&b->in);
    uint64_t cap = in > (UINT64_MAX - b->slack) / b->ratio ? UINT64_MAX : b->slack + b->ratio * in;
    if (b->out <= cap)
        return 0;
    b->over = true;
    return kvz_error_set(
        err,
        "unpack: %llu bytes written from %llu bytes read, more than %llu times as much before the checksum was verified; stopped",
        (unsigned long long)b->out, (unsigned long long)in, (unsigned long long)b->ratio);
}

/*
 * A failure of libarchive's disk writer, with the system's reason when it has one ("Write
 * failed" alone hides a full disk), and that errno kept as the error's code.
 */
static int write_error(struct kvz_error **err, struct archive *out, const char *path,
                       const char *what)
{
    int code = archive_errno(out);
    const char *msg = archive_error_string(out);
    msg = msg ? msg : "failed";
    if (code > 0 && !strstr(msg, strerror(code)))
        return kvz_error_set_code(err, code, "archive entry '%s': %s%s", path, what, msg);
    return kvz_error_set(err, "archive entry '%s': %s%s; refusing the whole archive", path, what,
                         msg);
}

/*
 * Setting trusted.* and security.* xattrs (SELinux labels, overlayfs marks) takes CAP_SYS_ADMIN,
 * which the unpacker gets only for verified content; security.capability takes CAP_SETFCAP.
 */
static int check_xattrs(struct archive_entry *e, const struct kvz_unpack_limits *lim,
                        const char *path, struct kvz_error **err)
{
    const char *name;
    const void *value;
    size_t len;
    if (lim->admin_xattrs)
        return 0;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
        if ((strncmp(name, "trusted.", 8) && strncmp(name, "security.", 9)) ||
            !strcmp(name, "security.capability"))
            continue;
        if (lim->budget)
            lim->budget->needs_admin = true;
        return kvz_error_set(
            err,
            "archive entry '%s' has the extended attribute '%s', which only a verified archive may set; stopped",
            path, name);
    }
    return 0;
}

/* Relative, and no ".." component: the entry stays below the target. */
static bool path_inside(const char *p)
{
    if (!p || !*p || p[0] == '/')
        return false;
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += l;
        while (*c == '/')
            c++;
    }
    return true;
}

static int check_entry(struct archive_entry *e, uint64_t *claimed, uint64_t entries,
                       const struct kvz_unpack_limits *lim, struct kvz_error **err)
{
    const char *path = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    if (!path_inside(path))
        return kvz_error_set(
            err,
            "archive entry '%s' would land outside the target (absolute or '..'); refusing the whole archive",
            path ? path : "");
    if (link && !path_inside(link))
        return kvz_error_set(
            err,
            "archive entry '%s' is a hard link to '%s' outside the target; refusing the whole archive",
            path, link);
    if (entries > lim->max_entries)
        return kvz_error_set(
            err,
            "archive has more than %llu entries; refusing it (raise the entry limit if it is genuine)",
            (unsigned long long)lim->max_entries);
    int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (sz < 0 || (uint64_t)sz > lim->max_bytes || *claimed + (uint64_t)sz > lim->max_bytes)
        return kvz_error_set(
            err,
            "archive entry '%s' claims %lld bytes, beyond the unpack limit of %llu bytes in total; refusing the archive",
            path, (long long)sz, (unsigned long long)lim->max_bytes);
    *claimed += (uint64_t)sz;
    return 0;
}

static int copy_data(uint64_t *bytes, struct archive *in, struct archive *out, const char *path,
                     const struct kvz_unpack_limits *lim, struct kvz_error **err)
{
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(in, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK)
            return kvz_error_set(err, "archive entry '%s': %s; the archive is damaged", path,
                                 archive_error_string(in));
        if (charge(lim, len, err) < 0)
            return -1;
        if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
            return write_error(err, out, path, "write: ");
        *bytes += len;
    }
}

/* True for the archive's own top directory ("." or "./"). */
static bool is_top(const char *p)
{
    while (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
        p += p[1] ? 2 : 1;
        while (*p == '/')
            p++;
    }
    return *p == '\0';
}

/*
 * libarchive leaves the directory it extracts into alone; the archive's "./"
 * entry describes the rootfs's "/" and is applied here.
 */
static int apply_top(const struct stat *st, struct kvz_error **err)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (chown(".", st->st_uid, st->st_gid) < 0 || chmod(".", st->st_mode & 07777) < 0 ||
        utimensat(AT_FDCWD, ".", ts, 0) < 0)
        return kvz_error_set_errno(err, "unpack: set owner, mode and times of the top directory");
    return 0;
}

static int extract(uint64_t *out_bytes, struct archive *in, const struct kvz_unpack_limits *lim,
                   struct kvz_error **err)
{
    struct stat top;
    bool have_top = false;
    /* Numeric owners (no lookup): a rootfs's names mean nothing on the host. */
    const int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                      ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                      ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
    struct archive *out = archive_write_disk_new();
    uint64_t claimed = 0, entries = 0, bytes = 0;
    int ret = -1;
    if (!out || archive_write_disk_set_options(out, flags) != ARCHIVE_OK) {
        kvz_error_set(err, "unpack: out of memory");
        goto cleanup;
    }
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(in, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            kvz_error_set(
                err, "archive: %s after %llu entries; the archive is damaged or not a tar archive",
                archive_error_string(in), (unsigned long long)entries);
            goto cleanup;
        }
        entries++;
        if (check_entry(e, &claimed, entries, lim, err) < 0)
            goto cleanup;
        const char *path = archive_entry_pathname(e);
        if (archive_entry_filetype(e) == AE_IFDIR && is_top(path)) {
            top = *archive_entry_stat(e);
            have_top = true;
        }
        bool dir = archive_entry_filetype(e) == AE_IFDIR;
        if (charge(lim, dir ? 512 + 4096 : 512, err) < 0 || check_xattrs(e, lim, path, err) < 0)
            goto cleanup;
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            write_error(err, out, path, "");
            goto cleanup;
        }
        uint64_t before = bytes;
        if (archive_entry_size(e) > 0 && copy_data(&bytes, in, out, path, lim, err) < 0)
            goto cleanup;
        /* A file's last block is taken whole. */
        if (charge(lim, (4096 - (bytes - before) % 4096) % 4096, err) < 0)
            goto cleanup;
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            write_error(err, out, path, "");
            goto cleanup;
        }
    }
    /* Directory modes and times are set here, after their contents. */
    if (archive_write_close(out) != ARCHIVE_OK) {
        write_error(err, out, ".", "");
        goto cleanup;
    }
    if (have_top && apply_top(&top, err) < 0)
        goto cleanup;
    *out_bytes = bytes;
    ret = 0;
cleanup:
    archive_write_free(out);
    return ret;
}

/*
 * Calls sink(arg, block, len, offset) for each block of the decompressed stream of `src` (gz, xz,
 * zstd or bzip2, read as libarchive's "raw" format). A sink returning -1 stops the stream (with
 * *err set, or not when the reason is reported elsewhere). `what` names the input in messages.
 */
typedef int (*block_sink)(void *arg, const char *block, size_t len, uint64_t off,
                          struct kvz_error **err);

static int inflate_each(const struct kvz_source *src, block_sink sink, void *arg, const char *what,
                        struct kvz_error **err)
{
    struct reader r = {.src = src};
    struct archive_entry *e;
    int ret = -1;
    struct archive *a = open_reader(&r, true, err);
    if (!a)
        return -1;
    if (archive_read_next_header(a, &e) != ARCHIVE_OK) {
        kvz_error_set(err, "decompress: %s; the %s is damaged", archive_error_string(a), what);
        goto cleanup;
    }
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int rc = archive_read_data_block(a, &buf, &len, &off);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc != ARCHIVE_OK) {
            kvz_error_set(err, "decompress: %s; the %s is damaged", archive_error_string(a), what);
            goto cleanup;
        }
        if (sink(arg, buf, len, (uint64_t)off, err) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    close_reader(a, &r);
    return ret;
}

/*
 * Decompression runs in its own thread and hands plain tar bytes through a
 * pipe to the extractor, as `tar` does with an external zstd or xz: on two
 * cores the two halves overlap instead of taking turns.
 */
struct inflater {
    const struct kvz_source *src;
    int wfd;
    struct kvz_error *err;
};

static int to_pipe(void *arg, const char *p, size_t len, uint64_t off, struct kvz_error **err)
{
    const struct inflater *in = arg;
    while (len > 0) {
        ssize_t w = write(in->wfd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1; /* the extractor stopped and reports why */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void *inflate_thread(void *arg)
{
    struct inflater *in = arg;
    sigset_t set;
    /* A write to a pipe the extractor closed gives EPIPE here, not a process-wide SIGPIPE. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A failed write leaves in->err unset: the extractor stopped and says why. */
    inflate_each(in->src, to_pipe, in, "archive", &in->err);
    close(in->wfd);
    return NULL;
}

static ssize_t fd_read(void *arg, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(*(int *)arg, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

int kvz_unpack_tar(uint64_t *out_bytes, const struct kvz_source *src, bool compressed,
                   const struct kvz_unpack_limits *lim, struct kvz_error **err)
{
    struct inflater in = {.src = src, .wfd = -1};
    int fds[2] = {-1, -1};
    struct kvz_source piped = {.read = fd_read, .arg = &fds[0]};
    struct reader r = {.src = src};
    struct archive *a = NULL;
    pthread_t th;
    bool started = false;
    int ret = -1;
    if (compressed) {
        if (pipe2(fds, O_CLOEXEC) < 0) {
            kvz_error_set_errno(err, "unpack: pipe");
            goto cleanup;
        }
        fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; the default still works */
        in.wfd = fds[1];
        fds[1] = -1;
        if (pthread_create(&th, NULL, inflate_thread, &in) != 0) {
            close(in.wfd);
            kvz_error_set(err, "unpack: cannot start the decompression thread");
            goto cleanup;
        }
        started = true;
        r.src = &piped;
    }
    a = open_reader(&r, false, err);
    if (!a)
        goto cleanup;
    ret = extract(out_bytes, a, lim, err);
cleanup:
    if (a)
        close_reader(a, &r);
    if (fds[0] >= 0)
        close(fds[0]); /* unblocks the inflater when extraction stopped early */
    if (started) {
        pthread_join(th, NULL);
        /* A damaged compressed stream is the cause of whatever the extractor saw. */
        if (in.err) {
            kvz_error_clear(err);
            ret = kvz_error_move(err, &in.err);
        }
    }
    return ret;
}

int kvz_unpack_peek(size_t *out_len, void *head, size_t cap, const struct kvz_source *src,
                    struct kvz_error **err)
{
    struct reader r = {.src = src};
    struct archive_entry *e;
    size_t len = 0;
    int ret = -1;
    struct archive *a = open_reader(&r, true, err);
    if (!a)
        return -1;
    if (archive_read_next_header(a, &e) != ARCHIVE_OK) {
        kvz_error_set(err, "decompress: %s; the file is damaged", archive_error_string(a));
        goto cleanup;
    }
    while (len < cap) {
        la_ssize_t n = archive_read_data(a, (char *)head + len, cap - len);
        if (n < 0) {
            kvz_error_set(err, "decompress: %s; the file is damaged", archive_error_string(a));
            goto cleanup;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out_len = len;
    ret = 0;
cleanup:
    close_reader(a, &r);
    return ret;
}

static bool all_zero(const char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* Writes a decompressed disk image to a file, leaving holes for runs of zeros. */
struct sparse_file {
    const char *path;
    int fd;
    uint64_t size;
    const struct kvz_unpack_limits *lim;
};

static int to_sparse_file(void *arg, const char *p, size_t len, uint64_t off,
                          struct kvz_error **err)
{
    struct sparse_file *f = arg;
    if (f->size + len > f->lim->max_bytes)
        return kvz_error_set(
            err,
            "decompress: more than %llu bytes; refusing it (raise the unpack limit if the image is genuine)",
            (unsigned long long)f->lim->max_bytes);
    /* Disk images are mostly zeros: leave holes, as qemu-img would. */
    for (size_t done = 0; done < len;) {
        size_t chunk = len - done < 65536 ? len - done : 65536;
        if (!all_zero(p + done, chunk)) {
            if (charge(f->lim, chunk, err) < 0)
                return -1;
            ssize_t w = pwrite(f->fd, p + done, chunk, (off_t)(f->size + done));
            if (w != (ssize_t)chunk) {
                if (w >= 0)
                    errno = ENOSPC; /* a short write: the file system is full */
                return kvz_error_set_errno(err, "write '%s'", f->path);
            }
        }
        done += chunk;
    }
    f->size += len;
    return 0;
}

int kvz_unpack_decompress(uint64_t *out_size, const char *path, const struct kvz_source *src,
                          const struct kvz_unpack_limits *lim, struct kvz_error **err)
{
    struct sparse_file f = {.path = path, .lim = lim};
    int ret = -1;
    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f.fd < 0)
        return kvz_error_set_errno(err, "create '%s'", path);
    if (inflate_each(src, to_sparse_file, &f, "file", err) < 0)
        goto cleanup;
    if (ftruncate(f.fd, (off_t)f.size) < 0) {
        kvz_error_set_errno(err, "truncate '%s'", path);
        goto cleanup;
    }
    *out_size = f.size;
    ret = 0;
cleanup:
    if (close(f.fd) < 0 && ret == 0)
        ret = kvz_error_set_errno(err, "close '%s'", path);
    return ret;
}
