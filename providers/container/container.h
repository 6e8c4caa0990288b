#ifndef KVZ_PROVIDERS_CONTAINER_CONTAINER_H
#define KVZ_PROVIDERS_CONTAINER_CONTAINER_H

/*
 * Internals of the container provider (libvirt LXC), shared by its files:
 *   lifecycle.c  the ops table: create, update, remove
 *   storage.c    the container's files: made whole, used only when complete, removed at once
 *   observe.c    every domain's definition, state and enforced limits
 *   power.c      start, and graceful stop for every kind of init
 *   xml.c        domain XML written and read with libxml2
 *   layers.c     shared layers: the host's choice, the libvirt hook, the container's own layer
 *   rootfs.c     private rootfs copy, architecture check, injected files
 *   disk.c       the ext4 image of `disk:` (mkfs.ext4 -d, debugfs, resize)
 *   tune.c       memory and CPU limits through libvirt's cgroup parameters
 *   cgroup.c     the limits read from the cgroup files on a local host
 * The planner never includes this header.
 *
 * Files of one container live under <state_dir>/containers/<stack>/<name>/:
 *   rootfs/       the private rootfs copy (no `disk:`), renamed into place when complete; for
 *                 a container on shared layers, the empty dir the hook mounts the overlay on
 *   upper/ work/  a container on shared layers: its own writable layer (renamed into place
 *                 when complete) and overlayfs's work dir; the lower layer is the template's
 *                 tree in the store, named in storage.json and in the domain's metadata
 *   disk.img      the ext4 image (with `disk:`), renamed into place when complete
 *   storage.json  written last: the storage is complete (and whether a domain was defined on it)
 *   anything else unfinished work a killed create left; the next create deletes it
 * and beside it <name>.trash-PID (a remove under way) and <name>.orphan-TIME (the files of a
 * guest whose domain was deleted outside kvz, kept).
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/provider.h"

#include <libvirt/libvirt.h>

#include <stdbool.h>
#include <stdint.h>

#define KVZ_CT_ROOTFS_DIR       "rootfs"
#define KVZ_CT_DISK_IMG         "disk.img"
#define KVZ_CT_UPPER_DIR        "upper"
#define KVZ_CT_WORK_DIR         "work"
#define KVZ_CT_CPU_PERIOD       100000 /* µs; cpus 1.5 = quota 150000 per this period */
#define KVZ_CT_STOP_TIMEOUT_S   30     /* a graceful stop, unless the container says stop_timeout */
#define KVZ_CT_INITCTL_GRACE_MS 5000   /* initctl unknown (remote host): then SIGTERM */
#define KVZ_CT_SIGTERM_EVERY_MS 1000

/* <state_dir>/containers/<stack>/<name>; stack and name are checked [a-z0-9-]. Caller frees. */
int kvz_ct_dir(char **out, const struct kvz_host *h, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* create, with the template's unpacked rootfs at `src` whose content digest is `digest`
 * ("sha256:HEX", recorded as what the guest was made from; the ops' create takes both from the
 * executor's media). Idempotent like create. */
/* Defines (or redefines) the domain of `want` on storage at rootfs/img (one of them NULL). */
int kvz_ct_define(virDomainPtr *out, struct kvz_host *h, const struct kvz_resource *want,
                  const char *template_digest, const char *rootfs, const char *img,
                  struct kvz_error **err) __attribute__((warn_unused_result));

/* Autostart and power as `want` says. */
int kvz_ct_converge_power(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                          struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * remote.c: a container on a host kvz reaches only through libvirt (docs/hosts.md). Its rootfs
 * is an ext4 image made here from the verified tree `src` (mkfs.ext4 -d, the injected files
 * written in), uploaded (sparse) as a volume of the host's kvz pool with its mark after the
 * last byte, then removed here; the domain mounts it with a loop device there. `want->disk`
 * is its size (required). Idempotent as kvz_ct_create_from.
 */
int kvz_ct_create_remote(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                         const char *digest, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The volume path (on the host) of the rootfs image of container `name`, "<pool>/ct-HEX.img"
 * (short: a loop device's backing file name is at most 63 characters); caller frees. */
char *kvz_ct_remote_image_path(const struct kvz_host *h, const char *name);

/*
 * A change of what is inside a stopped remote container's image (its disk grown: `grow`; its
 * hostname and ssh keys: `inject`): downloads the image at `in_use` (sparse) into the state
 * dir's tmp, changes it here, and uploads it with its mark into the container's other image
 * slot ("ct-HEX.img" / "ct-HEX.b.img"), whose path goes to *out_path (caller frees). The image
 * in use is not touched: the caller redefines the domain on the new one, then retires the old
 * one with kvz_ct_retire_remote (or the new one, when that fails). The local copy goes always.
 */
int kvz_ct_rewrite_remote(char **out_path, struct kvz_host *h, const struct kvz_resource *want,
                          const char *in_use, bool grow, bool inject, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Deletes the image volume at `path` on the host, its mark first. Missing is success. */
int kvz_ct_retire_remote(struct kvz_host *h, const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Stops and undefines the domain, and deletes its image volumes (both slots) and their marks.
 * Missing is success. */
int kvz_ct_remove_remote(struct kvz_host *h, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The provider's prune: a remote host's kvz pool once nothing is left in it; nothing locally. */
int kvz_ct_prune_remote(size_t *out_removed, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

int kvz_ct_create_from(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                       const char *digest, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- storage.c --- */

enum kvz_ct_storage {
    KVZ_CT_STORAGE_NONE = 0, /* missing or unfinished */
    KVZ_CT_STORAGE_COMPLETE, /* made, no domain defined on it yet */
    KVZ_CT_STORAGE_DEFINED,  /* made, and a domain was defined on it */
};

/* The state of the storage (rootfs dir, or the image when `disk`) in the container dir. */
int kvz_ct_storage_state(enum kvz_ct_storage *out, const char *dir, bool disk,
                         struct kvz_error **err) __attribute__((warn_unused_result));

/* Records the storage's state in storage.json (durably, after the storage's own data). */
int kvz_ct_storage_mark(const char *dir, bool disk, enum kvz_ct_storage state,
                        struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * The storage of `want` in `dir`, made from the template tree `src` unless complete storage is
 * there (then the injected files are refreshed, unless `in_use`). Storage marked defined while
 * no domain exists (`have_domain` false) belonged to a guest deleted outside kvz: it is set
 * aside as <dir>.orphan-TIME and made afresh. *rootfs / *img: the one in use (caller frees).
 * `overlay`: new storage without `disk:` is the container's own layer over `src` (the hook's
 * mount point is *rootfs); complete storage is kept whatever it is.
 */
int kvz_ct_storage_make(char **rootfs, char **img, struct kvz_host *h,
                        const struct kvz_resource *want, const char *src, const char *dir,
                        bool have_domain, bool in_use, bool overlay, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The path the domain gets for the image of container `name`: a short symlink, because libvirt
 * refuses image paths of 64 characters or more (an error says so). Caller frees. */
int kvz_ct_storage_loop_path(char **out, const struct kvz_host *h, const char *name,
                             struct kvz_error **err) __attribute__((warn_unused_result));

/* Removes the container dir `dir` (and the image's short path): renamed away in one step, then
 * deleted. */
int kvz_ct_storage_remove(struct kvz_host *h, const char *name, const char *dir,
                          struct kvz_error **err) __attribute__((warn_unused_result));

/* Deletes the <dir>.trash-* trees killed removes left. */
int kvz_ct_storage_sweep(const char *dir, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The layers of the container in `dir`: *lower the template's tree, *upper and *work its own
 * dirs (caller frees each); all NULL when its storage is not an overlay, or `dir` is NULL. */
int kvz_ct_storage_layers(char **lower, char **upper, char **work, const char *dir,
                          struct kvz_error **err) __attribute__((warn_unused_result));

/* --- layers.c --- */

/* Installs kvz-lxc-hook as libvirt's LXC hook unless the current one is there, and reloads the
 * local libvirtd so it runs it. Once per process; `name` is the container it is done for. */
int kvz_ct_hook_install(struct kvz_host *h, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Makes the container's own layer's root (the existing dir `upper`) and the dirs the injected
 * files go into with the owner and mode they have in the template's tree `lower`. */
int kvz_ct_upper_prepare(const char *upper, const char *lower, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- rootfs.c --- */

/* Copies the tree `src` to `dst` (which must not exist) keeping owners, modes, times, xattrs,
 * symlinks, device nodes and hard links inside the tree; file data by FICLONE where the
 * filesystem shares extents, else copy_file_range. */
int kvz_rootfs_copy(const char *src, const char *dst, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Fails unless the rootfs holds a Linux /sbin/init (or shell) for the host's CPU architecture;
 * the message says to use a vm. `what` names the template in the message. */
int kvz_rootfs_check_arch(const char *root, const char *what, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Writes /etc/hostname, /etc/hosts and root's authorized_keys into the rootfs directory,
 * resolving every path inside it (openat2 RESOLVE_IN_ROOT): a symlink in the rootfs never
 * leads a write out of it. No keys removes kvz's authorized_keys. */
int kvz_rootfs_inject(const char *root, const struct kvz_resource *want, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The contents of the three injected files; caller frees each. */
int kvz_rootfs_render(char **hostname, char **hosts, char **keys, const struct kvz_resource *want,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* /etc/hostname of the rootfs directory, first line; *out NULL when absent. */
int kvz_rootfs_read_hostname(char **out, const char *root, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- disk.c --- */

/* Makes an ext4 image of `size` bytes at `img` filled from the directory `src`, without
 * mounting (mkfs.ext4 -d). `img` must not exist. */
int kvz_disk_make(const char *img, uint64_t size, const char *src, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Writes the injected files into the (unmounted) image with debugfs; same contents as
 * kvz_rootfs_inject. */
int kvz_disk_inject(const char *img, const struct kvz_resource *want, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Offline grow: file to `size`, e2fsck -f, resize2fs. The image must not be in use. */
int kvz_disk_grow_offline(const char *img, uint64_t size, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Online grow of the image mounted as the root of the container whose init is `init_pid`:
 * file to `size`, loop device capacity, EXT4_IOC_RESIZE_FS. Returns 0 or -1; a failure that
 * kvz_disk_refused_online() recognises means "grow it offline instead". */
int kvz_disk_grow_online(const char *img, uint64_t size, int init_pid, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Whether a failed kvz_disk_grow_online() was the kernel refusing for lack of privilege
 * (EPERM/EACCES: no CAP_SYS_RESOURCE), not a real failure. */
bool kvz_disk_refused_online(const struct kvz_error *e);

/* The usable size of the image: its file size when the ext4 inside fills it, else the
 * filesystem's size (a grow killed between the file and resize2fs shows as not done). */
int kvz_disk_size(uint64_t *out, const char *img, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Whether this process may resize a mounted ext4 (CAP_SYS_RESOURCE in its effective set). */
bool kvz_disk_online_resize_possible(void);

/* /etc/hostname inside the image (debugfs); *out NULL when absent. */
int kvz_disk_read_file(char **out, const char *img, const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- xml.c --- */

struct kvz_ct_def {
    const char *name;
    const char *uuid;
    const char *mac;
    uint64_t memory;     /* bytes: the limit */
    uint64_t max_memory; /* bytes: the ceiling of live changes (the host's memory) */
    uint32_t cpus_milli;
    const char *rootfs_dir; /* one of the two */
    const char *disk_img;
    const struct kvz_network *network;
    const char *metadata_xml; /* kvz_ownership_to_xml */
};

/* The LXC domain XML of `def`. Caller frees. */
int kvz_ct_xml_build(char **out, const struct kvz_ct_def *def, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What the XML says: running and id (live XML), memory hard limit, CPU quota, network (into
 * r), and the rootfs dir or disk image (out strings, caller frees; NULL when absent). */
int kvz_ct_xml_parse(struct kvz_observed_resource *r, char **rootfs_dir, char **disk_img,
                     const char *xml, struct kvz_error **err) __attribute__((warn_unused_result));

/* Both of the above from one parse, for observe: kvz's metadata (*own, NULL when the domain
 * has none; kvz_ownership_free) and kvz_ct_xml_parse's fields. */
struct kvz_ownership;
int kvz_ct_xml_observe(struct kvz_ownership **own, struct kvz_observed_resource *r,
                       char **rootfs_dir, char **disk_img, const char *xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- tune.c --- */

/* Only on running containers: libvirt 9.0's LXC driver dereferences the missing cgroup of a
 * stopped domain in virDomainGetSchedulerParameters and kills libvirtd. A stopped container's
 * limits are read from, and written to, its definition instead (kvz_ct_xml_*). */

/* hard_limit and CPU quota, live and persisted in the definition (LIVE|CONFIG). */
int kvz_ct_set_memory(virDomainPtr dom, uint64_t bytes, struct kvz_error **err)
    __attribute__((warn_unused_result));
int kvz_ct_set_cpus(virDomainPtr dom, uint32_t cpus_milli, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The values the kernel enforces now; 0 when unlimited. */
int kvz_ct_get_memory(uint64_t *out, virDomainPtr dom, struct kvz_error **err)
    __attribute__((warn_unused_result));
int kvz_ct_get_cpus(uint32_t *out, virDomainPtr dom, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- cgroup.c --- */

#define KVZ_CT_CGROUP_PATH 512

/* Where a process sits, from /proc/<pid>/cgroup: v1 (hierarchy dir such as "memory" or
 * "cpu,cpuacct" and the path in it) when both memory and cpu are v1 controllers, else v2. */
struct kvz_ct_cgroup {
    bool v1;
    char mem_dir[KVZ_CT_CGROUP_PATH], mem_path[KVZ_CT_CGROUP_PATH];
    char cpu_dir[KVZ_CT_CGROUP_PATH], cpu_path[KVZ_CT_CGROUP_PATH];
    char v2_path[KVZ_CT_CGROUP_PATH];
};
int kvz_ct_cgroup_parse(struct kvz_ct_cgroup *out, const char *text, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* memory.max / memory.limit_in_bytes, cpu.max ("QUOTA PERIOD") or v1 cfs quota and period:
 * 0 when unlimited ("max", -1, or v1's huge page-aligned maximum), as the RPCs report it. */
int kvz_ct_cgroup_parse_bytes(uint64_t *out, const char *text, struct kvz_error **err)
    __attribute__((warn_unused_result));
int kvz_ct_cgroup_parse_cpu(uint32_t *out, const char *quota, const char *period,
                            struct kvz_error **err) __attribute__((warn_unused_result));
int kvz_ct_cgroup_parse_cpu_max(uint32_t *out, const char *text, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The memory hard limit and CPU quota in force for the LXC container whose libvirt_lxc
 * controller is `controller_pid` (the domain id), from <proc>/<pid>/cgroup and the files under
 * `sysfs` (normally "/proc" and "/sys/fs/cgroup"). 0 read; 1 not readable here (no such
 * controller: stopped, or on another host; cgroup gone; unknown layout); -1 bad content. */
int kvz_ct_cgroup_limits(uint64_t *mem, uint32_t *cpus_milli, const char *proc, const char *sysfs,
                         int controller_pid, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- observe.c --- */

/* The ops table's observe: every domain on h's connection. */
int kvz_ct_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* --- power.c --- */

/* The init process of a running container on this host (the only child of libvirt's
 * controller, whose pid is the LXC domain id); -1 when not running or not on this host. */
int kvz_ct_init_pid(virDomainPtr dom);

/* Starts `dom` unless it runs. */
int kvz_ct_start(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* How containers are asked to stop (providers/domain.h). */
extern const struct kvz_stop_ops kvz_ct_stop_ops;

/* Stops `dom` gracefully (initctl for systemd and sysvinit, SIGTERM for simple inits), forced
 * after timeout_s seconds (0: KVZ_CT_STOP_TIMEOUT_S); a stopped domain is success. */
int kvz_ct_stop(struct kvz_host *h, virDomainPtr dom, unsigned timeout_s, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The ops table's stop_many: the stack's containers `names` stopped all at once. */
int kvz_ct_stop_many(struct kvz_host *h, const char *const *names, const unsigned *timeouts,
                     size_t n, bool force, struct kvz_error **errs);

/* The ops table's set_power: the stack's container `name` started or stopped. */
int kvz_ct_set_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* ---- adopt.c: kvz import ---- */

struct kvz_adoption;
/* The provider's adopt (providers/provider.h). */
int kvz_ct_adopt(struct kvz_adoption *out, struct kvz_host *h, const struct kvz_resource *want,
                 bool dry_run, struct kvz_error **err) __attribute__((warn_unused_result));

#endif
