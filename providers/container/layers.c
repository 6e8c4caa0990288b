/*
 * Shared layers (docs/containers.md): which way this host keeps a container's rootfs, the
 * libvirt hook that mounts an overlay container's layers whenever libvirt starts it, and the
 * container's own layer prepared from the template's tree.
 */
#include "providers/container/container.h"
#include "providers/container/lxc_hook.h"
#include "providers/layers.h"

#include "base/buf.h"
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *kvz_layers_str(enum kvz_layers l)
{
    return l == KVZ_LAYERS_OVERLAY ? "overlay" : l == KVZ_LAYERS_REFLINK ? "reflink" : "copy";
}

/* The hook's binary: in the build tree for a kvz run from it, else where the install put it. */
static const char *hook_source(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    size_t bl = strlen(KVZ_BUILD_DIR);
    if (n > 0 && (size_t)n > bl && !strncmp(self, KVZ_BUILD_DIR, bl) && self[bl] == '/')
        return KVZ_LXC_HOOK_BUILD;
    return KVZ_LXC_HOOK;
}

/* Mounts an overlay on a scratch dir under state_dir in a private mount namespace of a child:
 * the real test of the kernel and of the state dir's filesystem as an upper layer. */
static bool overlay_works(const char *state_dir)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/.layers-probe.%ld", state_dir, (long)getpid());
    if (b.oom || kvz_mkdir_p(state_dir, 0700, NULL) < 0) {
        kvz_buf_release(&b);
        return false;
    }
    const char *base = b.ptr;
    char l[PATH_MAX], u[PATH_MAX], w[PATH_MAX], m[PATH_MAX], opts[4 * PATH_MAX];
    snprintf(l, sizeof(l), "%s/l", base);
    snprintf(u, sizeof(u), "%s/u", base);
    snprintf(w, sizeof(w), "%s/w", base);
    snprintf(m, sizeof(m), "%s/m", base);
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", l, u, w);
    bool ok = false;
    if (mkdir(base, 0700) == 0 && mkdir(l, 0700) == 0 && mkdir(u, 0700) == 0 &&
        mkdir(w, 0700) == 0 && mkdir(m, 0700) == 0 && kvz_lxc_hook_path_ok(base)) {
        pid_t pid = fork();
        if (pid == 0) {
            /* nothing of kvz's held here: a kill of kvz must free its locks at once */
            close_range(3, ~0U, 0);
            if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                mount("overlay", m, "overlay", 0, opts) < 0)
                _exit(1);
            _exit(0);
        }
        int st = 0;
        ok = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    kvz_tree_discard(base);
    kvz_buf_release(&b);
    return ok;
}

/* Whether two files in state_dir can share extents. */
static bool reflink_works(const char *state_dir)
{
    char a[PATH_MAX], c[PATH_MAX];
    snprintf(a, sizeof(a), "%s/.reflink-probe-a.%ld", state_dir, (long)getpid());
    snprintf(c, sizeof(c), "%s/.reflink-probe-b.%ld", state_dir, (long)getpid());
    int fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int fc = open(c, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fa >= 0 && fc >= 0 && write(fa, "kvz", 3) == 3 && ioctl(fc, FICLONE, fa) == 0;
    if (fa >= 0)
        close(fa);
    if (fc >= 0)
        close(fc);
    unlink(a);
    unlink(c);
    return ok;
}

int kvz_layers_choose(enum kvz_layers *out, const char **why, const char *uri,
                      const char *state_dir, struct kvz_error **err)
{
    /* what the host can do, found once; KVZ_CONTAINER_LAYERS is read on every call */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int overlay = -1, reflink = -1;
    static const char *no_overlay;
    const char *want = getenv("KVZ_CONTAINER_LAYERS");
    if (want && !*want)
        want = NULL;
    if (want && strcmp(want, "auto") && strcmp(want, "overlay") && strcmp(want, "reflink") &&
        strcmp(want, "copy"))
        return kvz_error_set(
            err,
            "KVZ_CONTAINER_LAYERS='%s' is not one of auto, overlay, reflink, copy; unset it to let kvz choose",
            want);
    pthread_mutex_lock(&mu);
    if (overlay < 0) {
        no_overlay = NULL;
        if (!uri || !kvz_uri_is_local(uri))
            no_overlay = "libvirtd is on another host: kvz cannot install its hook there";
        else if (geteuid() != 0)
            no_overlay =
                "kvz is not root: it can neither install its libvirt hook nor test overlayfs";
        else if (access(hook_source(), X_OK) < 0)
            no_overlay = "kvz-lxc-hook is not installed beside kvz; reinstall kvz";
        else if (!overlay_works(state_dir))
            no_overlay =
                "overlayfs cannot mount on the state dir's filesystem here (no overlay module, or a filesystem it cannot write to)";
        overlay = !no_overlay;
        reflink = reflink_works(state_dir);
    }
    pthread_mutex_unlock(&mu);
    bool copy = want && !strcmp(want, "copy"), ask_reflink = want && !strcmp(want, "reflink");
    if (copy || ask_reflink) {
        *out = copy ? KVZ_LAYERS_COPY : KVZ_LAYERS_REFLINK;
        *why = "KVZ_CONTAINER_LAYERS asks for private trees";
        if (ask_reflink && !reflink)
            return kvz_error_set(
                err,
                "KVZ_CONTAINER_LAYERS=reflink, but the state dir's filesystem cannot clone files (FICLONE); use copy or auto");
        return 0;
    }
    *out = overlay ? KVZ_LAYERS_OVERLAY : reflink ? KVZ_LAYERS_REFLINK : KVZ_LAYERS_COPY;
    *why = no_overlay;
    if (want && !strcmp(want, "overlay") && !overlay)
        return kvz_error_set(err, "KVZ_CONTAINER_LAYERS=overlay, but this host cannot: %s",
                             no_overlay);
    return 0;
}

/* ---- the hook ---- */

static bool hook_current(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = false;
    char *data = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) && st.st_size > 0 &&
        (data = malloc((size_t)st.st_size))) {
        ssize_t n = read(fd, data, (size_t)st.st_size);
        ok = n > 0 && memmem(data, (size_t)n, KVZ_LXC_HOOK_ID, strlen(KVZ_LXC_HOOK_ID));
    }
    free(data);
    close(fd);
    return ok;
}

bool kvz_layers_hook_installed(const char **path)
{
    *path = KVZ_LXC_HOOKS_DIR "/" KVZ_LXC_HOOK_NAME;
    return hook_current(*path);
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct kvz_error **err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, ret = -1;
    if (in < 0)
        return kvz_error_set_errno(err, "open '%s'", src);
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0) {
        kvz_error_set_errno(err, "create '%s'", dst);
        goto cleanup;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            kvz_error_set_errno(err, "write '%s'", dst);
            goto cleanup;
        }
    if (n < 0 || fchmod(out, mode) < 0 || fsync(out) < 0) {
        kvz_error_set_errno(err, "write '%s'", dst);
        goto cleanup;
    }
    ret = 0;
cleanup:
    close(in);
    if (out >= 0)
        close(out);
    return ret;
}

/* libvirtd reads its hooks dir when it starts and when it reloads (SIGHUP, what `systemctl
 * reload libvirtd` sends): a hook installed while it runs needs a reload to be run. */
static int reload_libvirtd(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    static const char *const pidfiles[] = {"/run/libvirtd.pid", "/run/virtlxcd.pid"};
    int sent = 0;
    for (size_t i = 0; i < sizeof(pidfiles) / sizeof(*pidfiles); i++) {
        FILE *f = fopen(pidfiles[i], "re");
        long pid = 0;
        if (!f)
            continue;
        if (fscanf(f, "%ld", &pid) == 1 && pid > 1 && kill((pid_t)pid, SIGHUP) == 0)
            sent++;
        fclose(f);
    }
    if (!sent)
        return kvz_error_set(
            err,
            "installed libvirt hook '%s/%s' but found no libvirtd to reload; reload libvirtd (systemctl reload libvirtd) and apply again",
            KVZ_LXC_HOOKS_DIR, KVZ_LXC_HOOK_NAME);
    kvz_host_log(h, name, "installed kvz's libvirt hook; reloaded libvirtd so it runs it");
    /* the reload runs in libvirtd's own thread: let it read the hooks dir before a start */
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    return 0;
}

int kvz_ct_hook_install(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static bool done;
    struct kvz_buf dst = KVZ_BUF_INIT, tmp = KVZ_BUF_INIT;
    int ret = -1;
    pthread_mutex_lock(&mu); /* parallel creates: one installs, the others wait for it */
    if (done) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    kvz_buf_printf(&dst, "%s/%s", KVZ_LXC_HOOKS_DIR, KVZ_LXC_HOOK_NAME);
    kvz_buf_printf(&tmp, "%s/.%s.%ld.tmp", KVZ_LXC_HOOKS_DIR, KVZ_LXC_HOOK_NAME, (long)getpid());
    if (dst.oom || tmp.oom) {
        kvz_error_set(err, "install libvirt hook: out of memory");
        goto cleanup;
    }
    if (!hook_current(dst.ptr)) {
        if (kvz_mkdir_p(KVZ_LXC_HOOKS_DIR, 0755, err) < 0 ||
            copy_file(hook_source(), tmp.ptr, 0755, err) < 0)
            goto cleanup;
        if (rename(tmp.ptr, dst.ptr) < 0) {
            kvz_error_set_errno(err, "install '%s'", dst.ptr);
            goto cleanup;
        }
        if (reload_libvirtd(h, name, err) < 0)
            goto cleanup;
    }
    done = true;
    ret = 0;
cleanup:
    if (ret < 0) {
        unlink(kvz_buf_cstr(&tmp));
        kvz_error_wrap(err, "install kvz's libvirt hook");
    }
    kvz_buf_release(&dst);
    kvz_buf_release(&tmp);
    pthread_mutex_unlock(&mu);
    return ret;
}

/* ---- the container's own layer ---- */

int kvz_ct_upper_prepare(const char *upper, const char *lower, struct kvz_error **err)
{
    /* The upper's directories win over the lower's: the root and the dirs the injected files
     * go into get the template's owner and mode (root's home stays 0700). */
    static const char *const dirs[] = {"", "/etc", "/root", "/root/.ssh"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        char src[PATH_MAX], dst[PATH_MAX];
        struct stat st;
        snprintf(src, sizeof(src), "%s%s", lower, dirs[i]);
        snprintf(dst, sizeof(dst), "%s%s", upper, dirs[i]);
        if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
            continue; /* missing or a symlink: the injection resolves it inside the rootfs */
        if (i && mkdir(dst, 0700) < 0 && errno != EEXIST)
            return kvz_error_set_errno(err, "mkdir '%s'", dst);
        if (lchown(dst, st.st_uid, st.st_gid) < 0 || chmod(dst, st.st_mode & 07777) < 0)
            return kvz_error_set_errno(err, "set owner of '%s'", dst);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW);
    }
    return 0;
}

/* ---- accounting ---- */

static uint64_t usage_sum;

static int usage_add(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    (void)flag;
    (void)f;
    usage_sum += (uint64_t)st->st_blocks * 512;
    return 0;
}

uint64_t kvz_layers_usage(const char *path)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    usage_sum = 0;
    nftw(path, usage_add, 32, FTW_PHYS | FTW_MOUNT);
    uint64_t n = usage_sum;
    pthread_mutex_unlock(&mu);
    return n;
}
