#ifndef KVZ_PARSER_MANIFEST_H
#define KVZ_PARSER_MANIFEST_H

#include "parser/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The desired model: what the manifests ask for, validated, with every
 * default filled in. Produced by kvz_manifest_load(); read-only afterwards.
 */

enum kvz_content_kind {
    KVZ_CONTENT_UNKNOWN = 0, /* URL says nothing; checked from the bytes at pull */
    KVZ_CONTENT_ROOTFS,      /* tar archive, maybe compressed */
    KVZ_CONTENT_DISK,        /* qcow2 or raw, maybe compressed */
    KVZ_CONTENT_ISO,         /* ISO9660 */
};

enum kvz_digest_algo { KVZ_DIGEST_NONE = 0, KVZ_DIGEST_SHA256, KVZ_DIGEST_SHA512 };

struct kvz_loc {
    const char *file; /* owned by the manifest (files[]) */
    unsigned line, col;
};

struct kvz_template {
    char *name;
    char *url;                  /* http://, https://, file:// or a plain path */
    enum kvz_digest_algo algo;  /* NONE when checksums_url or insecure */
    char *digest;               /* lowercase hex, or NULL */
    char *checksums_url;        /* SUMS file, or NULL */
    char *signature_url;        /* detached OpenPGP signature of the SUMS file, or NULL */
    char *keyring;              /* its keyring file (the path beside the manifest), or NULL */
    char *catalog;              /* `catalog:` name (then url is NULL until resolved), or NULL */
    char *entry;                /* `name:`: the catalog entry wanted */
    bool insecure;              /* no checksum; warn on every use */
    enum kvz_content_kind hint; /* guessed from the URL's file name */
    struct kvz_loc loc;
    /* Filled when resolved from a catalog or the lockfile (planner/templates_resolve.h). */
    char *version;          /* the catalog entry's version, or NULL */
    uint64_t size;          /* bytes the catalog or lock gives, 0 when unknown */
    bool locked;            /* url and digest come from kvz.lock */
    char *locked_checksums; /* the SUMS url a locked template declares (no longer fetched) */
};

enum kvz_catalog_kind { KVZ_CATALOG_APLINFO = 0, KVZ_CATALOG_SIMPLESTREAMS };

/* A template index (`catalogs:`, docs/templates.md). */
struct kvz_catalog {
    char *name;
    enum kvz_catalog_kind kind;
    char *url;       /* aplinfo: the index file; simplestreams: the server root */
    char *signature; /* aplinfo: its detached signature (default url + ".asc"), or NULL */
    char *keyring;   /* the path beside the manifest, or NULL (index not verified) */
    struct kvz_loc loc;
};

/* Guests (containers, vms) and the networks they attach to. */
enum kvz_kind { KVZ_KIND_CONTAINER = 0, KVZ_KIND_VM, KVZ_KIND_NETWORK };
#define KVZ_N_KINDS 3 /* arrays indexed by enum kvz_kind */
enum kvz_os { KVZ_OS_LINUX = 0, KVZ_OS_WINDOWS };
enum kvz_firmware { KVZ_FW_BIOS = 0, KVZ_FW_UEFI };
enum kvz_power { KVZ_POWER_RUNNING = 0, KVZ_POWER_STOPPED };
enum kvz_net_type { KVZ_NET_NETWORK = 0, KVZ_NET_BRIDGE, KVZ_NET_NONE };

/* What a guest is attached to (`network:`). */
struct kvz_network {
    enum kvz_net_type type;
    char *name; /* libvirt network or bridge name; NULL for NONE */
};

/* A network's mode (`mode:`); OTHER only in what is observed: a libvirt forward mode kvz does
 * not make (open, passthrough, ...). */
enum kvz_net_mode {
    KVZ_NET_MODE_NAT = 0,
    KVZ_NET_MODE_ISOLATED,
    KVZ_NET_MODE_ROUTED,
    KVZ_NET_MODE_BRIDGE,
    KVZ_NET_MODE_OTHER,
};

/* A static DHCP lease: a guest's `ip:` on its network. Desired: guest and ip (the MAC is the
 * guest's stable one); observed: a DHCP host entry (guest is the entry's name, may be NULL). */
struct kvz_lease {
    char *guest;
    char *mac; /* observed only */
    char *ip;  /* dotted IPv4 */
};

/* The settings of a network resource (docs/networks.md). */
struct kvz_net_spec {
    enum kvz_net_mode mode; /* default nat */
    char *subnet;           /* "10.77.0.0/24" (parser/netaddr.h); NULL in mode bridge */
    bool dhcp;              /* default true: a dynamic range over the addresses after the gateway */
    bool dns;               /* default true */
    char *bridge; /* mode bridge: the existing host bridge; observed: the bridge of any mode */
    struct kvz_lease *leases; /* desired: the ip: of the manifest's guests on it, by guest name */
    size_t n_leases;
};

/* Frees the leases and strings of `s` and zeroes them; accepts NULL. */
void kvz_net_spec_release(struct kvz_net_spec *s);
void kvz_leases_free(struct kvz_lease *v, size_t n);

struct kvz_resource {
    enum kvz_kind kind;
    char *name;
    char *template_name;             /* container `template:` or vm `image:` */
    const struct kvz_template *tmpl; /* resolved; points into manifest->templates */
    uint64_t memory;                 /* bytes */
    uint64_t max_memory;             /* bytes; vm only, = memory by default; containers: = memory */
    uint32_t cpus_milli;             /* cpus * 1000; containers fractional, vms whole */
    uint32_t max_cpus;               /* vm: whole vCPUs, = cpus by default; containers: 0 */
    uint64_t disk;                   /* bytes; 0 = none (container: rootfs dir; vm: image size) */
    char *hostname;                  /* default: name */
    enum kvz_power state;
    bool autostart;
    bool protect;
    uint32_t stop_timeout;      /* seconds a graceful stop may take; 0: the kind's default */
    struct kvz_network network; /* default: network "default" */
    char *ip;                   /* a static DHCP lease on a network of the manifest, or NULL */
    char **ssh_keys;
    size_t n_ssh_keys;
    /* vm only */
    enum kvz_os os;
    enum kvz_firmware firmware;
    char *cdrom_name;                   /* template name, or NULL */
    const struct kvz_template *cdrom;   /* resolved */
    char *drivers_name;                 /* template of a drivers ISO (virtio-win), or NULL */
    const struct kvz_template *drivers; /* resolved; attached as a second cdrom */
    bool tpm;                           /* TPM 2.0 (swtpm); default on for windows with uefi */
    bool secure_boot;                   /* OVMF's secure-boot build, Microsoft keys; same default */
    char *unattend;                     /* autounattend.xml body (a file's contents), or NULL */
    bool has_cloud_init;
    char *user_data; /* cloud_init.user_data, or NULL */
    /* network only; state is always running (active), autostart defaults to true */
    struct kvz_net_spec netspec;
    struct kvz_loc loc;
};

/* The libvirt connections of a manifest without `connection:`. */
#define KVZ_DEFAULT_CONTAINERS_URI "lxc:///system"
#define KVZ_DEFAULT_VMS_URI        "qemu:///system"

struct kvz_manifest {
    char *stack;          /* default "default" */
    char *containers_uri; /* default KVZ_DEFAULT_CONTAINERS_URI */
    char *vms_uri;        /* default KVZ_DEFAULT_VMS_URI */
    char **files;         /* every file loaded, in load order */
    size_t n_files;
    struct kvz_template *templates;
    size_t n_templates;
    struct kvz_catalog *catalogs;
    size_t n_catalogs;
    struct kvz_resource *resources; /* networks, then containers, then vms; each in file order */
    size_t n_resources;
    char digest[65]; /* sha256 over the files' contents in load order (each length first); "" on
                        out of memory */
};

/* Limits that keep parsing bounded; see docs/manifest.md. */
#define KVZ_MANIFEST_MAX_FILE_SIZE (4u << 20) /* bytes per file */
#define KVZ_MANIFEST_MAX_DEPTH     16
#define KVZ_MANIFEST_MAX_SCALAR    (64u << 10) /* bytes */

/*
 * Loads and validates the manifests at `paths` (files, or directories meaning
 * their *.yaml / *.yml, sorted). n == 0 means "./kvz.yaml".
 * Every problem goes to `diags` (sorted). Returns 0 and sets *out (caller
 * frees with kvz_manifest_free) when there is no error diagnostic, else -1
 * and *out is NULL. Never prints, never exits.
 */
int kvz_manifest_load(struct kvz_manifest **out, const char *const *paths, size_t n,
                      struct kvz_diags *diags) __attribute__((warn_unused_result));

/* Same, from a string in memory (the fuzzer and unit tests); name is used in diagnostics. */
int kvz_manifest_load_string(struct kvz_manifest **out, const char *name, const char *data,
                             size_t len, struct kvz_diags *diags)
    __attribute__((warn_unused_result));

/* One manifest file in memory (a git commit's blob): `name` names it in diagnostics and in
 * manifest->files. */
struct kvz_manifest_file {
    const char *name;
    const char *data;
    size_t len;
};

/* Same as kvz_manifest_load, from files in memory, in the order given. */
int kvz_manifest_load_files(struct kvz_manifest **out, const struct kvz_manifest_file *files,
                            size_t n, struct kvz_diags *diags) __attribute__((warn_unused_result));

void kvz_manifest_free(struct kvz_manifest *m);

const struct kvz_template *kvz_manifest_template(const struct kvz_manifest *m, const char *name);
const struct kvz_catalog *kvz_manifest_catalog(const struct kvz_manifest *m, const char *name);
const char *kvz_catalog_kind_str(enum kvz_catalog_kind k); /* "aplinfo", "simplestreams" */
const struct kvz_resource *kvz_manifest_resource(const struct kvz_manifest *m, const char *name);

/* Names: [a-z0-9][a-z0-9-]{0,62}. */
bool kvz_name_valid(const char *s);

/* The names the manifest and the plan use for the enums above (static strings). */
const char *kvz_kind_str(enum kvz_kind k);                 /* "container", "vm", "network" */
const char *kvz_content_kind_str(enum kvz_content_kind k); /* "rootfs", "disk", "iso", "unknown" */
const char *kvz_digest_algo_str(enum kvz_digest_algo a);   /* "sha256", "sha512", or NULL */
const char *kvz_os_str(enum kvz_os os);                    /* "linux", "windows" */
const char *kvz_firmware_str(enum kvz_firmware fw);        /* "bios", "uefi" */
const char *kvz_power_str(enum kvz_power p);               /* "running", "stopped" */
const char *kvz_net_type_str(enum kvz_net_type t);         /* "network", "bridge", "none" */
const char *kvz_net_mode_str(enum kvz_net_mode m); /* "nat", "isolated", "routed", "bridge" */
/* How a message names content: "a rootfs archive", "a disk image", "an ISO image", "unknown
 * content". */
const char *kvz_content_kind_phrase(enum kvz_content_kind k);

/* Whether resources of kind k are guests (containers, vms), not networks. */
bool kvz_kind_is_guest(enum kvz_kind k);

/* The URI of the manifest's connection for resources of kind k. Networks are made through the
 * vms' connection (docs/networks.md). */
const char *kvz_manifest_uri(const struct kvz_manifest *m, enum kvz_kind k);

#endif
