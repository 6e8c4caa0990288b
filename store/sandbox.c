#include "store/sandbox.h"

#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What libarchive's disk writer needs to restore owners, modes, times, xattrs, ACLs, devices. */
static const int kept_caps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,
                                CAP_FSETID, CAP_MKNOD,        CAP_SETFCAP};

static bool kept(int cap, bool admin)
{
    for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
        if (kept_caps[i] == cap)
            return true;
    return admin && cap == CAP_SYS_ADMIN;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Namespaces of its own; without root, a user namespace where it keeps its own uid and gid. */
static int new_namespaces(struct kvz_error **err)
{
    const int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    if (geteuid() == 0) {
        if (unshare(flags) < 0)
            return kvz_error_set_errno(
                err,
                "unshare the mount and network namespaces (kvz needs CAP_SYS_ADMIN: run it as root, not in a container without it)");
        return 0;
    }
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];
    if (unshare(flags | CLONE_NEWUSER) < 0)
        return kvz_error_set_errno(
            err, "unshare a user namespace (kvz needs root, or unprivileged user namespaces)");
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) < 0)
        return kvz_error_set_errno(err, "write the uid map");
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/setgroups", "deny") < 0 || write_file("/proc/self/gid_map", map) < 0)
        return kvz_error_set_errno(err, "write the gid map");
    return 0;
}

/* A bind remount may only add flags: the ones the mount has (locked in a user namespace) stay. */
static unsigned long mount_flags(const char *dir)
{
    struct statvfs v;
    unsigned long f = 0;
    if (statvfs(dir, &v) < 0)
        return 0;
    if (v.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    if (v.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (v.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (v.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

static int enter_dir(const char *dir, struct kvz_error **err)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return kvz_error_set_errno(err, "make the mounts private");
    if (mount(dir, dir, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, dir, NULL,
              MS_BIND | MS_REMOUNT | MS_NODEV | MS_NOSUID | MS_NOEXEC | mount_flags(dir), NULL) < 0)
        return kvz_error_set_errno(err, "bind-mount '%s' nodev, nosuid, noexec", dir);
    if (chdir(dir) < 0 || chroot(".") < 0 || chdir("/") < 0)
        return kvz_error_set_errno(err, "chroot into '%s'", dir);
    return 0;
}

static int limit(int resource, uint64_t value, struct kvz_error **err)
{
    struct rlimit r = {.rlim_cur = value, .rlim_max = value};
    if (setrlimit(resource, &r) < 0)
        return kvz_error_set_errno(err, "setrlimit %d", resource);
    return 0;
}

static int drop_caps(bool admin, struct kvz_error **err)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2] = {{0}};
    for (int c = 0; c < 64; c++) {
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
            break; /* past the kernel's last capability */
        if (!kept(c, admin) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return kvz_error_set_errno(err, "drop capability %d from the bounding set", c);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return kvz_error_set_errno(err, "clear the ambient capabilities");
    /* uid 0 gains nothing from being uid 0 any more, now and after anything it might run. */
    if (prctl(PR_SET_SECUREBITS,
              SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                  SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0) < 0)
        return kvz_error_set_errno(err, "set the securebits");
    for (int c = 0; c < 64; c++)
        if (kept(c, admin)) {
            d[c / 32].effective |= 1u << (c % 32);
            d[c / 32].permitted |= 1u << (c % 32);
        }
    if (syscall(SYS_capset, &h, d) < 0)
        return kvz_error_set_errno(err, "capset");
    return 0;
}

/* Nothing that extraction calls, everything that reaches past the staging directory. */
static const char *const refused[] = {
    "execve",
    "execveat",
    "fork",
    "vfork",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "vhangup",
    "personality",
    "uselib",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    "fanotify_init",
};

static int load_filter(struct kvz_error **err)
{
    /* Anything not listed is allowed: the engine's needs (libc, libarchive, threads, sanitizers)
     * are wide, the ways out are few. Other architectures' system calls kill the process. */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = ctx ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < sizeof(refused) / sizeof(refused[0]); i++) {
        int nr = seccomp_syscall_resolve_name(refused[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone: threads only (glibc's pthread_create falls back to it when clone3 is refused). */
    static const unsigned long new_ns[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
                                           CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
                                           CLONE_NEWNET};
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    for (size_t i = 0; rc == 0 && i < sizeof(new_ns) / sizeof(new_ns[0]); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, new_ns[i], new_ns[i]));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Typing into a terminal it might hold (the kernel compares the command's low 32 bits). */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
    if (rc == 0)
        rc = seccomp_load(ctx); /* sets no_new_privs first */
    seccomp_release(ctx);
    if (rc < 0)
        return kvz_error_set_code(err, -rc, "load the seccomp filter");
    return 0;
}

int kvz_sandbox_enter(const char *dir, uint64_t max_file, bool admin, struct kvz_error **err)
{
    if (syscall(SYS_close_range, 5u, ~0u, 0u) < 0)
        return kvz_error_set_errno(err, "close inherited descriptors");
    if (new_namespaces(err) < 0 || enter_dir(dir, err) < 0)
        return -1;
    if ((max_file && limit(RLIMIT_FSIZE, max_file, err) < 0) || limit(RLIMIT_CORE, 0, err) < 0 ||
        limit(RLIMIT_NOFILE, 64, err) < 0)
        return -1;
    if (drop_caps(admin, err) < 0)
        return -1;
    /* Not dumpable: no ptrace and no /proc/PID access by others of the same uid. The parent's
     * death signal is set again: entering a user namespace cleared it. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return kvz_error_set_errno(err, "prctl");
    return load_filter(err);
}
