#ifndef KVZ_STORE_SANDBOX_H
#define KVZ_STORE_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

struct kvz_error;

/*
 * Confines the calling process for good to the directory `dir` (absolute), with what extracting
 * an archive there needs and nothing more (docs/templates.md, "What an unverified download can
 * do"): its own mount, network, IPC and UTS namespaces (and a user namespace when not root), so
 * no network at all; `dir` bind-mounted nodev, nosuid and noexec (a device node it makes cannot
 * be opened) and made its root with chroot(2); the capabilities cut to CAP_CHOWN,
 * CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_MKNOD and CAP_SETFCAP, and CAP_SYS_ADMIN when
 * `admin` (verified content with trusted.* or security.* xattrs; bounding set, ambient set and
 * securebits included); no file above `max_file` bytes, no core dumps; no new
 * privileges; and a seccomp filter that refuses execve, fork, sockets, signals to others,
 * ptrace, mounts, namespaces, chroot, module and kexec loading, bpf, perf, keyrings, io_uring,
 * file handles and clock, host name, swap and reboot changes. Descriptors above 4 are closed
 * first. The process must be single-threaded (threads it starts later inherit the filter).
 * Returns 0, or -1 with the step that failed (the process must not go on then).
 */
int kvz_sandbox_enter(const char *dir, uint64_t max_file, bool admin, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
