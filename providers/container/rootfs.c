#include "providers/container/container.h"

#include "base/buf.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- copy ---- */

struct link_seen {
    dev_t dev;
    ino_t ino;
    char *relpath; /* where the first link landed, relative to the destination root */
};

struct copy {
    int dst_root;
    void *links; /* tsearch tree of struct link_seen: hard links stay hard links */
    struct kvz_buf rel;
    bool no_clone, no_copy_range; /* the filesystem refused once: do not ask per file */
    struct kvz_error **err;
};

static int link_cmp(const void *a, const void *b)
{
    const struct link_seen *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

static void link_free(void *p)
{
    struct link_seen *l = p;
    free(l->relpath);
    free(l);
}

static int copy_xattrs(int sfd, int dfd, const char *path, struct kvz_error **err)
{
    char list[4096], *big = NULL;
    char *names = list;
    ssize_t n = flistxattr(sfd, list, sizeof(list));
    int ret = -1;
    if (n < 0 && errno == ERANGE) {
        n = flistxattr(sfd, NULL, 0);
        if (n > 0 && (big = malloc((size_t)n)))
            n = flistxattr(sfd, names = big, (size_t)n);
    }
    if (n < 0) {
        if (errno == ENOTSUP)
            return 0;
        return kvz_error_set_errno(err, "list xattrs of '%s'", path);
    }
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
        const char *name = names + off;
        char val[65536];
        ssize_t vl = fgetxattr(sfd, name, val, sizeof(val));
        if (vl < 0) {
            kvz_error_set_errno(err, "read xattr '%s' of '%s'", name, path);
            goto cleanup;
        }
        if (fsetxattr(dfd, name, val, (size_t)vl, 0) < 0 && errno != ENOTSUP) {
            kvz_error_set_errno(err, "write xattr '%s' of '%s'", name, path);
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    free(big);
    return ret;
}

/* Owner, then mode (chown clears set-id bits), then xattrs (chown clears file capabilities),
 * then times. */
static int copy_meta_fd(int sfd, int dfd, const struct stat *st, const char *path,
                        struct kvz_error **err)
{
    if (fchown(dfd, st->st_uid, st->st_gid) < 0)
        return kvz_error_set_errno(err, "chown '%s'", path);
    if (fchmod(dfd, st->st_mode & 07777) < 0)
        return kvz_error_set_errno(err, "chmod '%s'", path);
    if (copy_xattrs(sfd, dfd, path, err) < 0)
        return -1;
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (futimens(dfd, ts) < 0)
        return kvz_error_set_errno(err, "set times of '%s'", path);
    return 0;
}

static int copy_data(struct copy *c, int sfd, int dfd, off_t size, const char *path)
{
    if (size == 0)
        return 0;
    /* A reflink shares extents (btrfs, xfs): instant and still private on write. Once the
     * filesystem said no, it says no for the rest of the tree. */
    if (!c->no_clone) {
        if (ioctl(dfd, FICLONE, sfd) == 0)
            return 0;
        c->no_clone = true;
    }
    off_t done = 0;
    while (!c->no_copy_range && done < size) {
        ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)(size - done), 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP)) {
            c->no_copy_range = true;
            break;
        }
        if (n < 0)
            return kvz_error_set_errno(c->err, "copy '%s'", path);
        if (n == 0)
            return 0; /* the source shrank under us: what is there is copied */
        done += n;
    }
    if (done == size)
        return 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(sfd, buf, sizeof(buf))) > 0)
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(dfd, buf + w, (size_t)(n - w));
            if (k < 0)
                return kvz_error_set_errno(c->err, "write '%s'", path);
            w += k;
        }
    if (n < 0)
        return kvz_error_set_errno(c->err, "read '%s'", path);
    return 0;
}

static int copy_dir(struct copy *c, int sdir, int ddir);

static int copy_entry(struct copy *c, int sdir, int ddir, const char *name)
{
    struct stat st;
    int sfd = -1, dfd = -1, ret = -1;
    const char *path = kvz_buf_cstr(&c->rel);
    struct kvz_error **err = c->err;

    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kvz_error_set_errno(err, "stat '%s'", path);

    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        struct link_seen key = {st.st_dev, st.st_ino, NULL};
        struct link_seen **found = tfind(&key, &c->links, link_cmp);
        if (found) {
            if (linkat(c->dst_root, (*found)->relpath, ddir, name, 0) < 0)
                return kvz_error_set_errno(err, "link '%s'", path);
            return 0;
        }
        struct link_seen *l = calloc(1, sizeof(*l));
        if (!l || !(l->relpath = strdup(path)) || !tsearch(l, &c->links, link_cmp)) {
            if (l)
                link_free(l);
            return kvz_error_set(err, "copy '%s': out of memory", path);
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }

    switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
        if (mkdirat(ddir, name, 0700) < 0)
            return kvz_error_set_errno(err, "mkdir '%s'", path);
        if ((sfd = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            (dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            kvz_error_set_errno(err, "open '%s'", path);
            goto cleanup;
        }
        if (copy_dir(c, sfd, dfd) < 0)
            goto cleanup;
        path = kvz_buf_cstr(&c->rel); /* the recursion may have moved the buffer */
        ret = copy_meta_fd(sfd, dfd, &st, path, err);
        break;
    case S_IFREG:
        if ((sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            kvz_error_set_errno(err, "open '%s'", path);
            goto cleanup;
        }
        if ((dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) <
            0) {
            kvz_error_set_errno(err, "create '%s'", path);
            goto cleanup;
        }
        if (copy_data(c, sfd, dfd, st.st_size, path) < 0)
            goto cleanup;
        ret = copy_meta_fd(sfd, dfd, &st, path, err);
        break;
    case S_IFLNK: {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(sdir, name, target, PATH_MAX);
        if (n < 0) {
            kvz_error_set_errno(err, "readlink '%s'", path);
            goto cleanup;
        }
        target[n] = 0;
        if (symlinkat(target, ddir, name) < 0 ||
            fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
            kvz_error_set_errno(err, "symlink '%s'", path);
            goto cleanup;
        }
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
        ret = 0;
        break;
    }
    default: /* device nodes, fifos, sockets */
        if (mknodat(ddir, name, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0 ||
            fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(ddir, name, st.st_mode & 07777, 0) < 0) {
            kvz_error_set_errno(err, "mknod '%s'", path);
            goto cleanup;
        }
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
        ret = 0;
        break;
    }
cleanup:
    if (sfd >= 0)
        close(sfd);
    if (dfd >= 0)
        close(dfd);
    return ret;
}

static int copy_dir(struct copy *c, int sdir, int ddir)
{
    int fd = dup(sdir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    int ret = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return kvz_error_set_errno(c->err, "read directory '%s'", kvz_buf_cstr(&c->rel));
    }
    struct dirent *e;
    size_t base = c->rel.len;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        c->rel.len = base;
        if (base)
            kvz_buf_putc(&c->rel, '/');
        kvz_buf_puts(&c->rel, e->d_name);
        if (c->rel.oom) {
            ret = kvz_error_set(c->err, "copy: out of memory");
            break;
        }
        if ((ret = copy_entry(c, sdir, ddir, e->d_name)) < 0)
            break;
    }
    if (c->rel.ptr) {
        c->rel.len = base;
        c->rel.ptr[base] = 0;
    }
    closedir(d);
    return ret;
}

int kvz_rootfs_copy(const char *src, const char *dst, struct kvz_error **err)
{
    struct copy c = {.dst_root = -1, .rel = KVZ_BUF_INIT, .err = err};
    int sfd = -1, ret = -1;
    struct stat st;

    if ((sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(sfd, &st) < 0) {
        kvz_error_set_errno(err, "open template rootfs '%s'", src);
        goto cleanup;
    }
    if (mkdir(dst, 0700) < 0) {
        kvz_error_set_errno(err, "mkdir '%s'", dst);
        goto cleanup;
    }
    if ((c.dst_root = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        kvz_error_set_errno(err, "open '%s'", dst);
        goto cleanup;
    }
    if (copy_dir(&c, sfd, c.dst_root) < 0 || copy_meta_fd(sfd, c.dst_root, &st, "/", err) < 0) {
        kvz_error_wrap(err, "copy rootfs '%s' to '%s'", src, dst);
        goto cleanup;
    }
    ret = 0;
cleanup:
    tdestroy(c.links, link_free);
    kvz_buf_release(&c.rel);
    if (sfd >= 0)
        close(sfd);
    if (c.dst_root >= 0)
        close(c.dst_root);
    return ret;
}

/* ---- paths inside the rootfs ---- */

/* openat2 with RESOLVE_IN_ROOT: "/", ".." and absolute symlinks resolve against `root`. */
static int open_in_root(int root, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

/* ---- architecture ---- */

static uint16_t host_machine(bool *compat32)
{
    struct utsname u;
    *compat32 = false;
    if (uname(&u) < 0)
        return EM_NONE;
    if (!strcmp(u.machine, "x86_64")) {
        *compat32 = true; /* i386 binaries run on x86_64 kernels */
        return EM_X86_64;
    }
    if (!strcmp(u.machine, "aarch64"))
        return EM_AARCH64;
    if (!strcmp(u.machine, "ppc64le"))
        return EM_PPC64;
    if (!strcmp(u.machine, "s390x"))
        return EM_S390;
    if (!strcmp(u.machine, "riscv64"))
        return EM_RISCV;
    return EM_NONE;
}

static const char *machine_name(uint16_t m)
{
    switch (m) {
    case EM_X86_64:
        return "x86_64";
    case EM_386:
        return "i386";
    case EM_AARCH64:
        return "aarch64";
    case EM_ARM:
        return "arm";
    case EM_PPC64:
        return "ppc64";
    case EM_S390:
        return "s390x";
    case EM_RISCV:
        return "riscv";
    case EM_MIPS:
        return "mips";
    default:
        return "an unknown architecture";
    }
}

int kvz_rootfs_check_arch(const char *root, const char *what, struct kvz_error **err)
{
    /* /sbin/init may be a script (#!) or missing in a minimal rootfs: the shell decides then. */
    static const char *const candidates[] = {"/sbin/init", "/bin/sh", "/usr/bin/sh",
                                             "/bin/busybox"};
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return kvz_error_set_errno(err, "open rootfs '%s'", root);
    int ret = -1;
    bool found_init = false, compat32;
    uint16_t host = host_machine(&compat32);
    for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++) {
        int fd = open_in_root(rfd, candidates[i], O_RDONLY, 0);
        if (fd < 0)
            continue;
        if (i == 0)
            found_init = true;
        unsigned char h[64] = {0};
        ssize_t n = pread(fd, h, sizeof(h), 0);
        close(fd);
        if (n >= 2 && h[0] == '#' && h[1] == '!')
            continue;
        if (n < 20 || memcmp(h, ELFMAG, SELFMAG) != 0) {
            ret = kvz_error_set(
                err,
                "template '%s': '%s' is not a Linux executable; containers share the host's Linux kernel, use a vm for other systems",
                what, candidates[i]);
            goto cleanup;
        }
        uint16_t machine = h[EI_DATA] == ELFDATA2MSB ? (uint16_t)(h[18] << 8 | h[19])
                                                     : (uint16_t)(h[19] << 8 | h[18]);
        if (machine != host && !(compat32 && machine == EM_386)) {
            ret = kvz_error_set(
                err,
                "template '%s' is built for %s but this host runs %s; containers share the host's kernel, use a vm (or a %s template)",
                what, machine_name(machine), machine_name(host), machine_name(host));
            goto cleanup;
        }
        if (!found_init) {
            ret = kvz_error_set(err, "template '%s' has no /sbin/init; the container cannot boot",
                                what);
            goto cleanup;
        }
        ret = 0;
        goto cleanup;
    }
    ret = kvz_error_set(
        err,
        "template '%s' has no /sbin/init or /bin/sh: not a Linux rootfs; use a vm for other systems",
        what);
cleanup:
    close(rfd);
    return ret;
}

/* ---- injected files ---- */

int kvz_rootfs_render(char **hostname, char **hosts, char **keys, const struct kvz_resource *want,
                      struct kvz_error **err)
{
    struct kvz_buf a = KVZ_BUF_INIT, b = KVZ_BUF_INIT, k = KVZ_BUF_INIT;
    const char *hn = want->hostname ? want->hostname : want->name;
    kvz_buf_printf(&a, "%s\n", hn);
    kvz_buf_printf(
        &b,
        "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        hn);
    kvz_buf_puts(&k, "");
    for (size_t i = 0; i < want->n_ssh_keys; i++)
        kvz_buf_printf(&k, "%s\n", want->ssh_keys[i]);
    *hostname = kvz_buf_detach(&a);
    *hosts = kvz_buf_detach(&b);
    *keys = kvz_buf_detach(&k);
    if (!*hostname || !*hosts || !*keys) {
        free(*hostname);
        free(*hosts);
        free(*keys);
        *hostname = *hosts = *keys = NULL;
        return kvz_error_set(err, "render container files: out of memory");
    }
    return 0;
}

/* Replaces dir/name atomically: a temp file then rename, which replaces a symlink at `name`
 * instead of writing through it. */
static int write_at(int dir, const char *name, const char *data, mode_t mode, const char *shown,
                    struct kvz_error **err)
{
    char tmp[128];
    snprintf(tmp, sizeof(tmp), ".%s.kvz-tmp", name);
    unlinkat(dir, tmp, 0);
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return kvz_error_set_errno(err, "write '%s'", shown);
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    if (n != (ssize_t)len || fchown(fd, 0, 0) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        kvz_error_set_errno(err, "write '%s'", shown);
        close(fd);
        unlinkat(dir, tmp, 0);
        return -1;
    }
    close(fd);
    if (renameat(dir, tmp, dir, name) < 0) {
        kvz_error_set_errno(err, "write '%s'", shown);
        unlinkat(dir, tmp, 0);
        return -1;
    }
    return 0;
}

/* Opens (making it when missing) directory `path` inside the rootfs; a symlink to a directory
 * inside the rootfs is fine, one pointing out of it resolves inside. */
static int dir_in_root(int rfd, const char *path, mode_t mode, struct kvz_error **err)
{
    int fd = open_in_root(rfd, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : kvz_error_set_errno(err, "open '%s' in the rootfs", path);
    const char *slash = strrchr(path, '/');
    char parent[64];
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    int pfd = dir_in_root(rfd, parent[0] ? parent : "/", 0755, err);
    if (pfd < 0)
        return -1;
    if (mkdirat(pfd, slash + 1, mode) < 0 && errno != EEXIST) {
        close(pfd);
        return kvz_error_set_errno(err, "mkdir '%s' in the rootfs", path);
    }
    fd = openat(pfd, slash + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(pfd);
    if (fd < 0)
        return kvz_error_set_errno(err, "open '%s' in the rootfs", path);
    return fd;
}

int kvz_rootfs_inject(const char *root, const struct kvz_resource *want, struct kvz_error **err)
{
    char *hostname = NULL, *hosts = NULL, *keys = NULL;
    int rfd = -1, etc = -1, ssh = -1, ret = -1;

    if (kvz_rootfs_render(&hostname, &hosts, &keys, want, err) < 0)
        return -1;
    if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        kvz_error_set_errno(err, "open rootfs '%s'", root);
        goto cleanup;
    }
    if ((etc = dir_in_root(rfd, "/etc", 0755, err)) < 0)
        goto cleanup;
    if (write_at(etc, "hostname", hostname, 0644, "/etc/hostname", err) < 0 ||
        write_at(etc, "hosts", hosts, 0644, "/etc/hosts", err) < 0)
        goto cleanup;
    if (want->n_ssh_keys) {
        if ((ssh = dir_in_root(rfd, "/root/.ssh", 0700, err)) < 0)
            goto cleanup;
        if (fchown(ssh, 0, 0) < 0 || fchmod(ssh, 0700) < 0) {
            kvz_error_set_errno(err, "chmod '/root/.ssh'");
            goto cleanup;
        }
        if (write_at(ssh, "authorized_keys", keys, 0600, "/root/.ssh/authorized_keys", err) < 0)
            goto cleanup;
    } else if ((ssh = open_in_root(rfd, "/root/.ssh", O_RDONLY | O_DIRECTORY, 0)) >= 0) {
        if (unlinkat(ssh, "authorized_keys", 0) < 0 && errno != ENOENT) {
            kvz_error_set_errno(err, "remove '/root/.ssh/authorized_keys'");
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "rootfs '%s'", root);
    free(hostname);
    free(hosts);
    free(keys);
    if (ssh >= 0)
        close(ssh);
    if (etc >= 0)
        close(etc);
    if (rfd >= 0)
        close(rfd);
    return ret;
}

int kvz_rootfs_read_hostname(char **out, const char *root, struct kvz_error **err)
{
    *out = NULL;
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return errno == ENOENT ? 0 : kvz_error_set_errno(err, "open rootfs '%s'", root);
    int fd = open_in_root(rfd, "/etc/hostname", O_RDONLY, 0);
    close(rfd);
    if (fd < 0)
        return 0;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    if (!(*out = strdup(buf)))
        return kvz_error_set(err, "read hostname: out of memory");
    return 0;
}
