#include "store/unpacker.h"

#include "base/buf.h"
#include "base/error.h"
#include "store/unpack_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Why a helper program and not fork(): kvz is multithreaded (parallel pulls, libvirt's event
 * loop, libcurl), and after fork() only async-signal-safe calls are allowed in the child. glibc
 * does reset malloc's locks, but not those of iconv and the dynamic loader (libarchive converts
 * path names with iconv, which may dlopen a converter), OpenSSL or libvirt, which other threads
 * may hold at that moment; and the child would carry a copy of everything kvz holds in memory
 * (URL credentials, cloud-init passwords, libvirt connections) and kvz's address space layout.
 * posix_spawn() of kvz-unpack (store/unpack_main.c, linked with libarchive and libseccomp only)
 * starts from nothing: no secrets, no locks, a fresh layout, and a few milliseconds of start-up
 * (loading kvz's own 70 libraries again would cost 17 ms of CPU per pull).
 */

/*
 * Where kvz-unpack is: in the build tree for a program run from the build tree (tests,
 * benchmarks, an uninstalled kvz), else where the install put it.
 */
static const char *helper_path(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    size_t bl = strlen(KVZ_BUILD_DIR);
    if (n > 0 && (size_t)n > bl && !strncmp(self, KVZ_BUILD_DIR, bl) && self[bl] == '/')
        return KVZ_UNPACK_HELPER_BUILD;
    return KVZ_UNPACK_HELPER;
}

/* ---- kvz's side ------------------------------------------------------------------------------ */

/* A copy of fd at 10 or above, so the dup2()s to 3 and 4 in the child cannot clobber it. */
static int high_fd(int fd)
{
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return h;
}

static int spawn(pid_t *pid, int ctl, int data, int errw)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    char *argv[] = {"kvz-unpack", NULL};
    /* A clean environment: no proxy passwords, nothing kvz was given. Sanitizer options pass. */
    char *envp[3] = {NULL, NULL, NULL};
    size_t n = 0;
    extern char **environ;
    for (char **e = environ; e && *e && n < 2; e++)
        if (!strncmp(*e, "ASAN_OPTIONS=", 13) || !strncmp(*e, "UBSAN_OPTIONS=", 14))
            envp[n++] = *e;
    sigemptyset(&none);
    sigfillset(&all);
    if (posix_spawn_file_actions_init(&fa))
        return ENOMEM;
    if (posix_spawnattr_init(&at)) {
        posix_spawn_file_actions_destroy(&fa);
        return ENOMEM;
    }
    /* Nothing of the host: not even /dev/null or kvz's terminal (CAP_FOWNER could chmod them). */
    int rc = posix_spawn_file_actions_addclose(&fa, 0);
    rc = rc ? rc : posix_spawn_file_actions_addclose(&fa, 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, errw, 2);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, ctl, KVZ_WIRE_CTL_FD);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, data, KVZ_WIRE_DATA_FD);
    rc = rc ? rc : posix_spawnattr_setsigmask(&at, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&at, &all);
    rc = rc ? rc : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = rc ? rc : posix_spawn(pid, helper_path(), &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int kvz_unpacker_start(struct kvz_unpacker *u, const char *dir,
                       const struct kvz_unpack_request *req, unsigned stall_s,
                       struct kvz_error **err)
{
    int ctl[2] = {-1, -1}, data[2] = {-1, -1}, errp[2] = {-1, -1};
    struct kvz_wire_request q = {.magic = KVZ_WIRE_REQUEST,
                                 .expect = (uint32_t)req->expect,
                                 .max_bytes = req->max_bytes,
                                 .max_entries = req->max_entries,
                                 .ratio = req->ratio,
                                 .slack = req->slack,
                                 .admin = req->admin,
                                 .parent = (int32_t)getpid()};
    int ret = -1;
    *u = (struct kvz_unpacker){.pid = -1, .ctl = -1, .data = -1, .errfd = -1, .stall_s = stall_s};
    if (strlen(dir) >= sizeof(q.dir))
        return kvz_error_set(err, "unpack: staging path '%s' is too long", dir);
    memcpy(q.dir, dir, strlen(dir) + 1);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        kvz_error_set_errno(err, "unpack: socketpair");
        goto cleanup;
    }
    /* Room for a burst of the download while the unpacker is busy (SO_SNDBUFFORCE: root). */
    int sz = 4 << 20;
    if (setsockopt(data[0], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
        setsockopt(data[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    fcntl(errp[0], F_SETPIPE_SZ, 1 << 20); /* a sanitizer's report fits without a reader */
    ctl[1] = high_fd(ctl[1]);
    data[1] = high_fd(data[1]);
    errp[1] = high_fd(errp[1]);
    if (ctl[1] < 0 || data[1] < 0 || errp[1] < 0) {
        kvz_error_set_errno(err, "unpack: dup");
        goto cleanup;
    }
    int rc = spawn(&u->pid, ctl[1], data[1], errp[1]);
    if (rc) {
        u->pid = -1;
        kvz_error_set_code(err, rc, "unpack: cannot start the unpacker '%s' (reinstall kvz)",
                           helper_path());
        goto cleanup;
    }
    if (send(ctl[0], &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q)) {
        kvz_error_set_errno(err, "unpack: cannot reach the unpacker");
        goto cleanup;
    }
    u->ctl = ctl[0];
    u->data = data[0];
    u->errfd = errp[0];
    ctl[0] = data[0] = errp[0] = -1;
    ret = 0;
cleanup:
    for (int i = 0; i < 2; i++) {
        if (ctl[i] >= 0)
            close(ctl[i]);
        if (data[i] >= 0)
            close(data[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (ret < 0 && u->pid > 0) {
        kill(u->pid, SIGKILL);
        waitpid(u->pid, NULL, 0);
        u->pid = -1;
    }
    return ret;
}

int kvz_unpacker_feed(struct kvz_unpacker *u, const void *data, size_t len, struct kvz_error **err)
{
    const char *p = data;
    while (u->data >= 0 && len > 0) {
        ssize_t n = send(u->data, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = u->data, .events = POLLOUT};
            int r = poll(&pf, 1, (int)u->stall_s * 1000);
            if (r > 0 || (r < 0 && errno == EINTR))
                continue;
            kill(u->pid, SIGKILL);
            close(u->data);
            u->data = -1;
            return kvz_error_set(
                err,
                "unpack: the unpacker took no bytes for %u s; it was stopped (run the pull again)",
                u->stall_s);
        }
        /* EPIPE, ECONNRESET: it stopped reading; its report says why. */
        close(u->data);
        u->data = -1;
    }
    return 0;
}

/* The unpacker's words, made fit for a terminal and one line. */
static void clean_text(char *s)
{
    for (unsigned char *c = (unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = *c == '\n' ? ' ' : '?';
}

/* Why an unpacker without a report ended, with the end of what it wrote on stderr. */
static void died(struct kvz_unpack_report *out, int status, int errfd)
{
    char tail[1024] = "";
    char buf[4096];
    ssize_t n;
    size_t len = 0;
    while ((n = read(errfd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (len == sizeof(tail) - 1) {
                memmove(tail, tail + 1, len - 1);
                len--;
            }
            tail[len++] = buf[i];
        }
    }
    tail[len] = '\0';
    clean_text(tail);
    struct kvz_buf why = KVZ_BUF_INIT;
    if (WIFSIGNALED(status))
        kvz_buf_printf(&why, "was killed by signal %d (%s)", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
    else
        kvz_buf_printf(&why, "exited with status %d", WEXITSTATUS(status));
    kvz_error_set(
        &out->err,
        "unpack: the unpacker %s without an answer%s%s; the content may be hostile (report it if the checksum is right)",
        kvz_buf_cstr(&why), len ? ": " : "", tail);
    kvz_buf_release(&why);
}

int kvz_unpacker_finish(struct kvz_unpack_report *out, struct kvz_unpacker *u, bool kill_it)
{
    struct kvz_wire_report rep;
    int status = 0;
    *out = (struct kvz_unpack_report){0};
    if (kill_it)
        kill(u->pid, SIGKILL);
    if (u->data >= 0)
        close(u->data); /* the end of the download */
    u->data = -1;
    ssize_t n;
    do
        n = recv(u->ctl, &rep, sizeof(rep), 0);
    while (n < 0 && errno == EINTR);
    while (waitpid(u->pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool answered = n == (ssize_t)sizeof(rep) && rep.magic == KVZ_WIRE_REPORT;
    if (answered) {
        /* What it says is checked like any input: it read hostile bytes. */
        rep.format[sizeof(rep.format) - 1] = '\0';
        rep.msg[sizeof(rep.msg) - 1] = '\0';
        clean_text(rep.msg);
        out->r.kind = (enum kvz_content_kind)rep.kind;
        memcpy(out->r.format, rep.format, sizeof(out->r.format));
        out->r.use_download = rep.use_download;
        out->r.content_size = rep.content_size;
        out->over_budget = rep.over_budget;
        out->needs_admin = rep.needs_admin;
        out->bytes_in = rep.bytes_in;
        out->bytes_out = rep.bytes_out;
        if (rep.status != 0) {
            /* Its message ends with its errno's text, which kvz_error_set_code() adds again. */
            const char *reason = rep.code > 0 ? strerror(rep.code) : "";
            size_t ml = strlen(rep.msg), rl = strlen(reason);
            if (rep.code > 0 && ml > rl + 2 && !strcmp(rep.msg + ml - rl, reason))
                rep.msg[ml - rl - 2] = '\0';
            kvz_error_set_code(&out->err, rep.code > 0 ? rep.code : 0, "%s",
                               rep.msg[0] ? rep.msg : "unpack: failed");
        } else if (!kvz_unpack_file(&out->r)) {
            kvz_error_set(&out->err,
                          "unpack: the unpacker gave a nonsensical answer (kind %u, format '%s')",
                          rep.kind, out->r.format);
        }
    } else if (!kill_it) {
        died(out, status, u->errfd);
    } else {
        kvz_error_set(&out->err, "unpack: stopped");
    }
    close(u->ctl);
    close(u->errfd);
    *u = (struct kvz_unpacker){.pid = -1, .ctl = -1, .data = -1, .errfd = -1};
    return out->err ? -1 : 0;
}

void kvz_unpack_report_release(struct kvz_unpack_report *r)
{
    kvz_error_free(r->err);
    r->err = NULL;
}
