#ifndef KVZ_PROVIDERS_VM_VM_H
#define KVZ_PROVIDERS_VM_VM_H

/*
 * Internals of the VM provider (libvirt QEMU/KVM), shared by its files and
 * their tests. The planner never includes this: it sees kvz_vm_ops only.
 *   vm.c       the ops table: create, remove, power; the definition
 *   observe.c  every domain's definition, state and disks
 *   update.c   live changes within the maxima, else a restart
 *   xml.c      domain XML written and read with libxml2
 *   storage.c  kvz's storage pool: base volumes and overlays
 *   seed.c     the cloud-init NoCloud seed ISO
 *   host.c     whether KVM can run stock guests on the host
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/provider.h"

#include <stdbool.h>
#include <stdint.h>

struct _virConnect;
struct _virStoragePool;

/* Where the firmware of `firmware: uefi` lives (Debian's ovmf package). */
#define KVZ_VM_OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define KVZ_VM_OVMF_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"
/* secure_boot: the secure-boot build and a variable store with Microsoft's keys enrolled */
#define KVZ_VM_OVMF_SB_CODE "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
#define KVZ_VM_OVMF_SB_VARS "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"

/* User aliases (libvirt keeps "ua-" aliases in the definition) that tell kvz's cdroms apart. */
#define KVZ_VM_ALIAS_CDROM    "ua-kvz-cdrom"
#define KVZ_VM_ALIAS_DRIVERS  "ua-kvz-drivers"
#define KVZ_VM_ALIAS_UNATTEND "ua-kvz-unattend"

struct kvz_buf;

/* ---- host.c: what the host's accelerator offers, and the profile chosen from it ---- */

/* Hyper-V enlightenments, bit i is kvz_vm_hyperv_name(i). */
enum {
    KVZ_VM_HV_RELAXED = 1 << 0,
    KVZ_VM_HV_VAPIC = 1 << 1,
    KVZ_VM_HV_SPINLOCKS = 1 << 2,
    KVZ_VM_HV_VPINDEX = 1 << 3,
    KVZ_VM_HV_SYNIC = 1 << 4,
    KVZ_VM_HV_STIMER = 1 << 5,
};
#define KVZ_VM_HV_ALL 0x3fu

/* libvirt's name of Hyper-V bit `bit` ("relaxed", ...), NULL past the last. */
const char *kvz_vm_hyperv_name(unsigned bit);

/* What libvirt's domain capabilities report for one accelerator (virConnectGetDomainCapabilities).
 */
struct kvz_vm_caps {
    bool kvm;              /* the accelerator kvz uses: kvm, else qemu (TCG) */
    bool host_passthrough; /* cpu modes offered */
    bool maximum;
    unsigned hyperv; /* KVZ_VM_HV_* offered */
    bool tpm_emulator, tpm_crb;
    bool secure_boot; /* KVZ_VM_OVMF_SB_CODE listed and loader secure='yes' offered */
};

/* Parses domain capabilities XML. */
int kvz_vm_caps_parse(struct kvz_vm_caps *out, const char *xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The capabilities of the accelerator kvz uses on h (kvz_vm_kvm_usable decides which). */
int kvz_vm_host_caps(struct kvz_vm_caps *out, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* What a guest gets on a host: the parts of kvz's profile its accelerator offers. */
struct kvz_vm_profile {
    const char *cpu_mode; /* "host-passthrough", "maximum", or NULL: QEMU's default model */
    unsigned hyperv;      /* windows: KVZ_VM_HV_* */
    bool hypervclock;     /* windows: the Hyper-V reference clock */
    bool tpm, tpm_crb;    /* TPM 2.0 through swtpm; CRB interface (else TIS) */
    bool secure_boot;     /* KVZ_VM_OVMF_SB_CODE, SMM, Microsoft keys */
};

/* Chooses the profile of `want` from `caps`; what it wanted and the host cannot give is
 * described in `left_out` (may be NULL), in words for a plan warning ("" when nothing). */
void kvz_vm_profile_choose(struct kvz_vm_profile *out, struct kvz_buf *left_out,
                           const struct kvz_resource *want, const struct kvz_vm_caps *caps);

/* ---- xml.c: the domain definition ---- */

/* Everything a domain definition is made from, already resolved to paths. */
struct kvz_vm_domain_spec {
    const char *name;
    const char *uuid; /* kvz_identity_uuid */
    const char *mac;  /* kvz_identity_mac */
    bool kvm;         /* virt type kvm, else qemu (TCG) */
    enum kvz_os os;
    enum kvz_firmware firmware;
    uint64_t memory, max_memory; /* bytes */
    uint32_t cpus, max_cpus;     /* whole vCPUs */
    const char *disk_path;       /* the VM's qcow2 overlay */
    const char *seed_path;       /* cloud-init seed ISO, or NULL */
    const char *cdrom_path;      /* install medium ISO, or NULL */
    bool cdrom_drive;            /* an install cdrom drive even without a medium (for a swap) */
    const char *drivers_path;    /* drivers ISO (virtio-win), or NULL */
    const char *unattend_path;   /* windows: the autounattend.xml medium, or NULL */
    struct kvz_vm_profile profile;
    const char *ovmf_code;      /* uefi: firmware code */
    const char *nvram_path;     /* uefi: this VM's variable store */
    const char *nvram_template; /* uefi: copied to nvram_path by libvirt when missing */
    const struct kvz_network *network;
    const char *metadata_xml; /* kvz:resource element (kvz_ownership_to_xml), or NULL */
};

/* The libvirt domain XML for `s`, written with libxml2. Caller frees *out. */
int kvz_vm_domain_xml(char **out, const struct kvz_vm_domain_spec *s, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* A cdrom <disk> alone (path NULL: an empty drive), for swapping or ejecting its medium. */
int kvz_vm_cdrom_xml(char **out, const char *alias, const char *path, const char *dev,
                     const char *bus, struct kvz_error **err) __attribute__((warn_unused_result));

/* The <interface> element alone, for hot-swapping the network of a running VM. */
int kvz_vm_interface_xml(char **out, const struct kvz_vm_domain_spec *s, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * Whether KVM can run stock guests on the host behind `uri`. On a local URI it
 * is false when /dev/kvm is missing or belongs to kvm_pvm (whose /dev/kvm hangs
 * stock guest kernels); *why then says which, else is NULL. A remote URI is
 * asked for its domain capabilities through `conn` (may be NULL: then true).
 */
bool kvz_vm_kvm_usable(const char **why, const char *uri, struct _virConnect *conn);

/* The boolean XPath `expr` (false when it is not one) in libxml2's context `ctx`. */
struct _xmlXPathContext;
bool kvz_vm_xpath_bool(struct _xmlXPathContext *ctx, const char *expr);

/* What observe reads from a domain definition (libvirt's XML, parsed with libxml2). */
struct kvz_vm_domain_info {
    uint64_t memory, max_memory; /* bytes */
    uint32_t cpus, max_cpus;
    char *disk_path;    /* first disk of device='disk', or NULL */
    char *disk_target;  /* its target dev ("vda"), or NULL */
    char *seed_path;    /* cdrom whose file is <name>-seed.iso in the pool, or NULL */
    char *cdrom_path;   /* the install medium (alias KVZ_VM_ALIAS_CDROM, else the other cdrom) */
    bool cdrom_drive;   /* an install cdrom drive exists (maybe empty) */
    char *drivers_path; /* or NULL */
    bool drivers_drive;
    char *unattend_path; /* or NULL */
    bool tpm, secure_boot;
    char *nvram_path; /* or NULL */
    struct kvz_network network;
    char *mac;
};

int kvz_vm_domain_info_parse(struct kvz_vm_domain_info *out, const char *xml,
                             struct kvz_error **err) __attribute__((warn_unused_result));
void kvz_vm_domain_info_release(struct kvz_vm_domain_info *i);

/* ---- seed.c: the cloud-init NoCloud seed ---- */

struct kvz_vm_seed {
    const char *instance_id;
    const char *hostname;
    const char *user_data; /* verbatim, or NULL: generated #cloud-config */
    const char *const *ssh_keys;
    size_t n_ssh_keys;
};

/* The seed as ISO9660 (label cidata, Rock Ridge + Joliet) in memory; the same input gives
 * the same bytes. Caller frees *out. */
int kvz_vm_seed_iso(unsigned char **out, size_t *out_len, const struct kvz_vm_seed *s,
                    struct kvz_error **err) __attribute__((warn_unused_result));

/* Writes the seed to `path` atomically (a temporary file renamed into place), mode 0600:
 * user_data often holds passwords; libvirt hands the file to qemu's user at start. */
int kvz_vm_seed_write(const char *path, const struct kvz_vm_seed *s, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The file Windows Setup looks for at the root of every drive. */
#define KVZ_VM_UNATTEND_FILE "autounattend.xml"

/* Windows Setup's answer-file medium: ISO9660 (label UNATTEND) holding `xml` as
 * KVZ_VM_UNATTEND_FILE, deterministic like the seed. Caller frees *out. */
int kvz_vm_unattend_iso(unsigned char **out, size_t *out_len, const char *xml,
                        struct kvz_error **err) __attribute__((warn_unused_result));

/* Writes it to `path` as kvz_vm_seed_write does (atomic, mode 0600). */
int kvz_vm_unattend_write(const char *path, const char *xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* sha256 (hex) of file `name` (case-insensitive) inside the ISO at `iso_path`, read back with
 * libarchive. -1 when the ISO or the file cannot be read. */
int kvz_vm_iso_file_digest(char out[65], const char *iso_path, const char *name,
                           struct kvz_error **err) __attribute__((warn_unused_result));

/* ---- storage.c: kvz's storage pool, base volumes, overlays ---- */

/* The pool's name for this state dir: "kvz-" + 12 hex of sha256(state_dir). */
void kvz_vm_pool_name(char out[32], const char *state_dir);

/* Defines, builds and starts the pool <state_dir>/pool when needed; refreshes it. */
int kvz_vm_pool_ensure(struct _virStoragePool **out, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* <pool dir>/<name><suffix>; caller frees. Suffixes: ".qcow2", "-seed.iso", "-VARS.fd". */
char *kvz_vm_pool_path(struct kvz_host *h, const char *name, const char *suffix);

/*
 * Imports the verified image `image_path` (content digest `digest`) as the
 * read-only base volume of that digest, once: a second call finds it. A hard
 * link when the cache is on the same file system, else a copy. *out_path is the
 * base's path (caller frees), *out_qcow2 its format, *out_size its virtual size.
 */
int kvz_vm_base_import(char **out_path, bool *out_qcow2, uint64_t *out_size,
                       struct _virStoragePool *pool, const char *image_path, const char *digest,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/* Creates the qcow2 overlay `name`.qcow2 backed by `base_path`, of virtual size `size`;
 * base_path NULL: a blank disk. */
int kvz_vm_overlay_create(struct _virStoragePool *pool, const char *name, const char *base_path,
                          bool base_qcow2, uint64_t size, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Deletes the volume at `path` if it exists (refreshing the pool first). */
int kvz_vm_volume_delete(struct _virStoragePool *pool, const char *path, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Virtual size of the image at `path` (qcow2 or raw), from libvirt. */
int kvz_vm_volume_capacity(uint64_t *out, struct _virStoragePool *pool, const char *path,
                           struct kvz_error **err) __attribute__((warn_unused_result));

/* Grows the stopped VM's volume at `path` to `size`; refuses a shrink. */
int kvz_vm_volume_grow(struct _virStoragePool *pool, const char *path, uint64_t size,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/*
 * Removes from h's pool what no domain on the connection uses any more, found from the
 * domains' disks and their backing files (not from a record): unused base volumes, then the
 * pool itself (definition, autostart, directory) when nothing else is in it. *out_removed
 * counts the volumes and pools removed. The caller holds the state dir's lock.
 */
int kvz_vm_storage_prune(size_t *out_removed, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* ---- vm.c, observe.c, update.c, host.c ---- */

struct _virDomain;

/* Sets *err to "WHAT vm 'NAME': libvirt's message" and returns -1. Reads the message
 * first: virDomainGetName() resets libvirt's last error. */
int kvz_vm_fail(struct kvz_error **err, struct _virDomain *dom, const char *what);

/* Graceful shutdown (guest agent, else ACPI), forced off after timeout_s seconds (0:
 * kvz_vm_stop_timeout()). */
int kvz_vm_stop(struct kvz_host *h, struct _virDomain *dom, unsigned timeout_s,
                struct kvz_error **err) __attribute__((warn_unused_result));

/* The ISO paths a definition attaches (each NULL: none). */
struct kvz_vm_media {
    const char *cdrom;   /* the install medium */
    const char *drivers; /* the drivers ISO */
    /* a redefinition keeps the domain's own disk, UUID and MAC (an imported vm's are not in
     * kvz's pool, nor derived from its stack); NULL: kvz's */
    const char *disk_path, *uuid, *mac;
};

/*
 * The whole definition of `want` (paths in h's pool, identity from stack and
 * name, kvz's metadata with the digests, the profile h's accelerator offers),
 * ready for virDomainDefineXML. `media` may be NULL.
 */
int kvz_vm_definition(char **out, struct kvz_host *h, const struct kvz_resource *want,
                      const struct kvz_vm_media *media, const char *template_digest,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* Rewrites the cloud-init seed of `want` (linux), or its answer-file medium (windows). */
int kvz_vm_seed_refresh(struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* kvz's <metadata> element for `want`, stamped now. Caller frees. */
int kvz_vm_metadata_xml(char **out, struct kvz_host *h, const struct kvz_resource *want,
                        const char *template_digest, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Whether the running guest's balloon driver reports; *actual the balloon's size in bytes
 * (the guest's memory; 0 when libvirt does not say). */
bool kvz_vm_balloon(uint64_t *actual, struct _virDomain *dom);

/* The ops table's observe: every domain on h's connection. */
int kvz_vm_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
    __attribute__((warn_unused_result));

int kvz_vm_update(struct kvz_host *h, const struct kvz_change *chg, const struct kvz_media *media,
                  struct kvz_error **err) __attribute__((warn_unused_result));
/* The ops table's record: chg->want recorded in the domain's metadata. */
int kvz_vm_record(struct kvz_host *h, const struct kvz_change *chg, struct kvz_error **err)
    __attribute__((warn_unused_result));
bool kvz_vm_field_is_live(struct kvz_host *h, const struct kvz_resource *want,
                          const struct kvz_observed_resource *have, const char *field);

/* Seconds apply waits for a guest to take a live change: a balloon to reach a new memory
 * size, a vCPU to be given back (default 30; env KVZ_VM_BALLOON_TIMEOUT overrides it). */
int kvz_vm_balloon_timeout(void);

/* Seconds a graceful ACPI shutdown may take before the VM is forced off (default 60;
 * env KVZ_VM_STOP_TIMEOUT overrides it, for tests of guests that ignore ACPI). */
int kvz_vm_stop_timeout(void);

/*
 * create() once the image is known: `image_path` is the verified, decompressed
 * disk image with content digest `image_digest` (both NULL: a blank disk of
 * want->disk), `media` the ISOs (may be NULL). kvz_vm_ops.create resolves
 * these through h->store.
 */
int kvz_vm_create_from(struct kvz_host *h, const struct kvz_resource *want, const char *image_path,
                       const char *image_digest, const struct kvz_vm_media *media,
                       struct kvz_error **err) __attribute__((warn_unused_result));

/* ---- adopt.c: kvz import ---- */

struct kvz_adoption;
/* The provider's adopt (providers/provider.h). */
int kvz_vm_adopt(struct kvz_adoption *out, struct kvz_host *h, const struct kvz_resource *want,
                 bool dry_run, struct kvz_error **err) __attribute__((warn_unused_result));

#endif
