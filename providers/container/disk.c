#include "providers/container/container.h"

#include "base/fs.h"

#include "base/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif

extern char **environ;

/* Runs argv (no shell) in `cwd` (or here), stdout discarded, stderr kept for the message.
 * *status gets the exit code; a signal or spawn failure is an error. */
static int run(int *status, char *const argv[], const char *cwd, struct kvz_error **err)
{
    char errpath[] = "/tmp/kvz-run-XXXXXX";
    int efd = mkstemp(errpath);
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int ret = -1, ws;

    if (efd < 0)
        return kvz_error_set_errno(err, "%s: temp file", argv[0]);
    unlink(errpath);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        errno = e;
        kvz_error_set_errno(err, "run '%s' (install e2fsprogs)", argv[0]);
        goto cleanup;
    }
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            kvz_error_set_errno(err, "wait for '%s'", argv[0]);
            goto cleanup;
        }
    if (!WIFEXITED(ws)) {
        kvz_error_set(err, "'%s' killed by signal %d", argv[0], WTERMSIG(ws));
        goto cleanup;
    }
    *status = WEXITSTATUS(ws);
    if (*status) {
        /* Keep the tool's last line of complaint for the caller's message. */
        char buf[1024];
        ssize_t n = pread(efd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = 0;
        char *last = strrchr(buf, '\n');
        kvz_error_set(err, "'%s' exited with %d: %s", argv[0], *status, last ? last + 1 : buf);
    }
    ret = 0;
cleanup:
    close(efd);
    return ret;
}

/* Runs argv and fails unless it exits with one of the `ok` codes (bits). */
static int run_ok(char *const argv[], const char *cwd, unsigned ok, struct kvz_error **err)
{
    int status = 0;
    struct kvz_error *tool = NULL;
    /* run() describes the tool's failure (its output) in `tool` even when it ran */
    if (run(&status, argv, cwd, &tool) == 0 && status < 32 && (ok & (1u << status))) {
        kvz_error_free(tool);
        return 0;
    }
    return kvz_error_move(err, &tool);
}

int kvz_disk_make(const char *img, uint64_t size, const char *src, struct kvz_error **err)
{
    int fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return kvz_error_set_errno(err, "create disk image '%s'", img);
    if (ftruncate(fd, (off_t)size) < 0) {
        kvz_error_set_errno(err, "size disk image '%s'", img);
        close(fd);
        return -1;
    }
    close(fd);
    /* -d copies owners, modes, xattrs, links and device nodes without mounting anything. */
    char *argv[] = {"mkfs.ext4", "-q",        "-F",        "-L", "kvz-rootfs",
                    "-d",        (char *)src, (char *)img, NULL};
    if (run_ok(argv, NULL, 1u, err) < 0)
        return kvz_error_wrap(err, "make ext4 image '%s' from '%s'", img, src);
    return 0;
}

static int write_file(const char *dir, const char *name, const char *data, mode_t mode,
                      struct kvz_error **err)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "%s/%s", dir, name);
    int fd = p.oom ? -1 : open(kvz_buf_cstr(&p), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    int ret = 0;
    size_t len = strlen(data);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0)
        ret = kvz_error_set_errno(err, "write '%s'", kvz_buf_cstr(&p));
    if (fd >= 0)
        close(fd);
    kvz_buf_release(&p);
    return ret;
}

int kvz_disk_read_file(char **out, const char *img, const char *path, struct kvz_error **err)
{
    char tmp[] = "/tmp/kvz-dump-XXXXXX";
    int fd = mkstemp(tmp);
    struct kvz_buf cmd = KVZ_BUF_INIT;
    int ret = -1;

    *out = NULL;
    if (fd < 0)
        return kvz_error_set_errno(err, "read '%s' of '%s': temp file", path, img);
    /* debugfs never follows the image's contents anywhere but into the image itself. */
    kvz_buf_printf(&cmd, "dump -p %s %s", path, tmp);
    char *argv[] = {"debugfs", "-R", (char *)kvz_buf_cstr(&cmd), (char *)img, NULL};
    if (run_ok(argv, NULL, 1u, err) < 0)
        goto cleanup;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        kvz_error_set_errno(err, "read '%s'", tmp);
        goto cleanup;
    }
    if (st.st_size == 0) { /* debugfs leaves the file empty when the path is missing */
        ret = 0;
        goto cleanup;
    }
    char *s = calloc(1, (size_t)st.st_size + 1);
    if (!s || pread(fd, s, (size_t)st.st_size, 0) != st.st_size) {
        free(s);
        kvz_error_set(err, "read '%s' of '%s': short read", path, img);
        goto cleanup;
    }
    *out = s;
    ret = 0;
cleanup:
    close(fd);
    unlink(tmp);
    kvz_buf_release(&cmd);
    return ret;
}

int kvz_disk_inject(const char *img, const struct kvz_resource *want, struct kvz_error **err)
{
    char *hostname = NULL, *hosts = NULL, *keys = NULL, *check = NULL;
    struct kvz_buf dir = KVZ_BUF_INIT, script = KVZ_BUF_INIT;
    bool made = false;
    int ret = -1;

    if (kvz_rootfs_render(&hostname, &hosts, &keys, want, err) < 0)
        return -1;
    kvz_buf_printf(&dir, "%s.inject-XXXXXX", img);
    if (dir.oom || !mkdtemp(dir.ptr)) {
        kvz_error_set_errno(err, "temp dir beside '%s'", img);
        goto cleanup;
    }
    made = true;
    /* Local names are relative (debugfs runs in the temp dir), so the state dir path never goes
     * through debugfs's argument parsing. Errors of "rm"/"mkdir" on missing/existing entries are
     * expected; the read-back below is what proves the result. */
    kvz_buf_puts(&script, "mkdir /etc\n"
                          "rm /etc/hostname\nwrite hostname /etc/hostname\n"
                          "rm /etc/hosts\nwrite hosts /etc/hosts\n"
                          "rm /root/.ssh/authorized_keys\n");
    if (want->n_ssh_keys)
        kvz_buf_puts(&script, "mkdir /root\nmkdir /root/.ssh\nsif /root/.ssh mode 040700\n"
                              "sif /root/.ssh uid 0\nsif /root/.ssh gid 0\n"
                              "write authorized_keys /root/.ssh/authorized_keys\n");
    if (write_file(dir.ptr, "hostname", hostname, 0644, err) < 0 ||
        write_file(dir.ptr, "hosts", hosts, 0644, err) < 0 ||
        write_file(dir.ptr, "authorized_keys", keys, 0600, err) < 0 ||
        write_file(dir.ptr, "script", kvz_buf_cstr(&script), 0600, err) < 0)
        goto cleanup;
    char *argv[] = {"debugfs", "-w", "-f", "script", (char *)img, NULL};
    if (run_ok(argv, dir.ptr, 1u, err) < 0)
        goto cleanup;
    if (kvz_disk_read_file(&check, img, "/etc/hostname", err) < 0)
        goto cleanup;
    if (!check || strcmp(check, hostname) != 0) {
        kvz_error_set(err, "/etc/hostname did not land in the image; run 'e2fsck -f' on it");
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "write files into '%s'", img);
    if (made) {
        kvz_tree_discard(dir.ptr);
    }
    kvz_buf_release(&dir);
    kvz_buf_release(&script);
    free(hostname);
    free(hosts);
    free(keys);
    free(check);
    return ret;
}

static int grow_file(const char *img, uint64_t size, struct kvz_error **err)
{
    struct stat st;
    if (stat(img, &st) < 0)
        return kvz_error_set_errno(err, "grow '%s'", img);
    if ((uint64_t)st.st_size > size)
        return kvz_error_set(err, "disk image '%s' is larger than %llu bytes; disks never shrink",
                             img, (unsigned long long)size);
    if ((uint64_t)st.st_size < size && truncate(img, (off_t)size) < 0)
        return kvz_error_set_errno(err, "grow '%s'", img);
    return 0;
}

int kvz_disk_grow_offline(const char *img, uint64_t size, struct kvz_error **err)
{
    if (grow_file(img, size, err) < 0)
        return -1;
    /* resize2fs wants a freshly checked fs; e2fsck -p exits 1 when it fixed something. */
    char *fsck[] = {"e2fsck", "-f", "-p", (char *)img, NULL};
    char *resize[] = {"resize2fs", (char *)img, NULL};
    if (run_ok(fsck, NULL, 1u | 2u, err) < 0 || run_ok(resize, NULL, 1u, err) < 0)
        return kvz_error_wrap(err, "resize '%s'", img);
    return 0;
}

/* The loop device libvirt attached `img` to, by its backing file; -1 when none. */
static int find_loop(char *out, size_t size, const char *img)
{
    char real[PATH_MAX];
    if (!realpath(img, real))
        return -1;
    DIR *d = opendir("/sys/block");
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    while (found < 0 && (e = readdir(d))) {
        if (strncmp(e->d_name, "loop", 4) != 0)
            continue;
        char p[PATH_MAX], back[PATH_MAX];
        snprintf(p, sizeof(p), "/sys/block/%.64s/loop/backing_file", e->d_name);
        FILE *f = fopen(p, "re");
        if (!f)
            continue;
        if (fgets(back, sizeof(back), f)) {
            back[strcspn(back, "\n")] = 0;
            if (!strcmp(back, real)) {
                snprintf(out, size, "/dev/%.32s", e->d_name);
                found = 0;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

int kvz_disk_grow_online(const char *img, uint64_t size, int init_pid, struct kvz_error **err)
{
    char loop[64], root[64];
    int lfd = -1, rfd = -1, ret = -1;

    if (find_loop(loop, sizeof(loop), img) < 0)
        return kvz_error_set(err, "grow '%s' online: no loop device backs it", img);
    if (grow_file(img, size, err) < 0)
        return -1;
    if ((lfd = open(loop, O_RDONLY | O_CLOEXEC)) < 0 || ioctl(lfd, LOOP_SET_CAPACITY, 0) < 0) {
        kvz_error_set_errno(err, "grow '%s' online: loop capacity of '%s'", img, loop);
        goto cleanup;
    }
    /* The container's root as its init sees it: the mounted ext4 itself. */
    snprintf(root, sizeof(root), "/proc/%d/root", init_pid);
    struct statfs sf;
    if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fstatfs(rfd, &sf) < 0) {
        kvz_error_set_errno(err, "grow '%s' online: open '%s'", img, root);
        goto cleanup;
    }
    uint64_t blocks = size / (uint64_t)sf.f_bsize;
    if (ioctl(rfd, EXT4_IOC_RESIZE_FS, &blocks) < 0) {
        kvz_error_set_errno(err, "grow '%s' online", img);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (lfd >= 0)
        close(lfd);
    if (rfd >= 0)
        close(rfd);
    return ret;
}

bool kvz_disk_refused_online(const struct kvz_error *e)
{
    return kvz_error_code(e) == EPERM || kvz_error_code(e) == EACCES;
}

bool kvz_disk_online_resize_possible(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long eff = 0;
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    fclose(f);
    return (eff >> 24) & 1; /* CAP_SYS_RESOURCE: ext4 refuses online resize without it */
}

int kvz_disk_size(uint64_t *out, const char *img, struct kvz_error **err)
{
    unsigned char sb[1024];
    struct stat st;
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    *out = 0;
    if (fd < 0)
        return kvz_error_set_errno(err, "open disk image '%s'", img);
    ssize_t n = pread(fd, sb, sizeof(sb), 1024); /* the ext4 superblock */
    int r = fstat(fd, &st);
    close(fd);
    if (r < 0 || n != (ssize_t)sizeof(sb) || sb[0x38] != 0x53 || sb[0x39] != 0xEF)
        return kvz_error_set(err, "disk image '%s' holds no ext4 filesystem", img);
    uint64_t blocks =
        (uint64_t)sb[4] | (uint64_t)sb[5] << 8 | (uint64_t)sb[6] << 16 | (uint64_t)sb[7] << 24;
    uint32_t incompat = (uint32_t)sb[0x60] | (uint32_t)sb[0x61] << 8 | (uint32_t)sb[0x62] << 16 |
                        (uint32_t)sb[0x63] << 24;
    if (incompat & 0x80) /* INCOMPAT_64BIT: s_blocks_count_hi */
        blocks |= ((uint64_t)sb[0x150] | (uint64_t)sb[0x151] << 8 | (uint64_t)sb[0x152] << 16 |
                   (uint64_t)sb[0x153] << 24)
                  << 32;
    uint64_t bsize = 1024ull << (sb[24] | sb[25] << 8 | sb[26] << 16 | (uint32_t)sb[27] << 24);
    uint64_t fs = blocks * bsize;
    /* The file is the disk when the filesystem fills it (to the last whole block); a file grown
     * by a grow that died before resize2fs is not. */
    *out = fs + bsize > (uint64_t)st.st_size ? (uint64_t)st.st_size : fs;
    return 0;
}
