#ifndef KVZ_PROVIDERS_PROVIDER_H
#define KVZ_PROVIDERS_PROVIDER_H

/*
 * The one interface between the planner and the providers. The planner sees
 * nothing of a provider but this header. A provider is a constant ops table;
 * each slot says whether it is mandatory.
 */

#include "base/error.h"
#include "parser/manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvz_image;   /* store/store.h: a verified template in the cache */
struct kvz_buf;     /* base/buf.h */
struct _virConnect; /* libvirt's virConnectPtr */

/* Reports progress of one resource ("creating rootfs", ...); may be called from worker threads. */
typedef void (*kvz_log_fn)(void *ctx, const char *resource, const char *msg);

/* What a provider works with: one libvirt connection of its kind, the stack, the state dir. */
struct kvz_host {
    const char *uri;          /* libvirt URI of this provider's connection */
    struct _virConnect *conn; /* opened by the caller (kvz_host_connect), shared by threads */
    const char *state_dir;    /* root of kvz's files: <state_dir>/containers/<stack>/<name>/ ... */
    const char *stack;
    const char *source; /* provenance recorded on apply: manifest path or git URL@commit */
    kvz_log_fn log;     /* may be NULL */
    void *log_ctx;
};

/* Whether a libvirt URI names the machine kvz runs on (no host part): only then are /proc, the
 * cgroup files and /dev/kvm the guests'. */
bool kvz_uri_is_local(const char *uri);

/* Reports a step of `resource` through h->log, when there is one. */
void kvz_host_log(const struct kvz_host *h, const char *resource, const char *msg);

/* The digests that identify what a resource was made from (hex, NUL-terminated). */
#define KVZ_DIGEST_HEX_MAX 129

/*
 * What is observed on the host for one domain or network, read from libvirt
 * (definition, live state, cgroup parameters) and from kvz's <metadata> on it.
 * Never from a record of what kvz did.
 */
struct kvz_observed_resource {
    enum kvz_kind kind;
    char *name;
    bool managed; /* carries kvz's metadata */
    /* from the metadata (NULL/0 when unmanaged) */
    char *stack;
    char *spec_digest;     /* digest of the applied resource spec */
    char *template_digest; /* content digest of the template/image it was made from */
    char *config_digest;   /* digest of injected config: hostname, ssh keys, cloud-init */
    char *applied_at;      /* RFC 3339 UTC */
    char *kvz_version;
    char *source;
    bool protect;
    char *state_dir;       /* the state dir holding its files (NULL: made by kvz 0.1) */
    char *template_source; /* the template's declared identity when it was made */
    unsigned stop_timeout; /* seconds a graceful stop may take; 0: the kind's default */
    /* the catalog entry's version it was made from, or NULL */
    char *template_version;
    /* observed for real */
    bool running; /* a network: active */
    int id;       /* libvirt domain id; -1 when not running, and for networks */
    bool autostart;
    uint64_t memory;     /* bytes: container memory hard limit; vm current memory */
    uint64_t max_memory; /* bytes: vm <memory>; container = memory */
    uint32_t cpus_milli; /* container: CPU quota / period * 1000; vm: current vCPUs * 1000 */
    uint32_t max_cpus;   /* vm: maximum vCPUs; container: 0 */
    uint64_t disk;       /* bytes: container ext4 image size / vm disk virtual size; 0 = none */
    struct kvz_network network;
    char *mac;      /* guests: the MAC address of the interface, NULL without one */
    char *hostname; /* as configured (metadata), NULL when unknown */
    /* vm: the media in its cdrom drives: the install medium's and the drivers ISO's content
     * digest (hex; a file outside kvz's cache: its path; NULL: empty or no drive), the sha256
     * of autounattend.xml on the answer-file medium (NULL: none) */
    char *cdrom, *drivers, *unattend;
    bool cdrom_drive, drivers_drive;       /* vm: the drives exist (a medium swaps live) */
    bool tpm, secure_boot;                 /* vm: what the definition has */
    bool tpm_offered, secure_boot_offered; /* vm: what this host's accelerator can give */
    uint64_t memory_actual; /* vm: what the running guest has (balloon); 0 when not running */
    bool balloon_driver;    /* vm: the running guest's balloon driver reports */
    bool storage_ok;        /* rootfs / disk image present and complete */
    bool seed_missing;      /* vm: its cloud-init seed is gone (rebuilt from the manifest, live) */
    char *problem;          /* drift that has no field: "rootfs missing", or NULL */
    /* container: how its files are kept ("overlay": the template's tree shared read-only plus
     * its own layer; "copy": a private tree; "disk": an ext4 image; static strings, NULL when
     * unknown), the template tree its overlay uses, and where its own files are (the overlay's
     * upper dir, the private tree or the image: status adds up their disk use) */
    const char *storage_kind;
    char *layer_lower;
    char *own_path;
    /* networks: the settings of the running network (of the definition when it is not active),
     * its DHCP host entries as netspec.leases, and the leases its DHCP server handed out (for
     * status only: they change by themselves, so plans never compare them) */
    struct kvz_net_spec netspec;
    struct kvz_lease *dhcp_leases;
    size_t n_dhcp_leases;
};

struct kvz_observed {
    struct kvz_observed_resource *v;
    size_t n;
};

/* Frees the strings of one entry and zeroes it; accepts NULL. */
void kvz_observed_resource_release(struct kvz_observed_resource *r);

/* Frees every entry and the array (the struct itself is the caller's); accepts NULL. */
void kvz_observed_free(struct kvz_observed *o);

enum kvz_action {
    KVZ_ACTION_NOOP = 0,
    KVZ_ACTION_CREATE,
    KVZ_ACTION_UPDATE,
    KVZ_ACTION_REPLACE,
    KVZ_ACTION_DELETE,
    KVZ_ACTION_START,
    KVZ_ACTION_STOP,
};

/* Ordered: a change's disruption is the most disruptive of its steps. */
enum kvz_disruption {
    KVZ_DISRUPT_NONE = 0, /* noop */
    KVZ_DISRUPT_LIVE,     /* create, live update, start */
    KVZ_DISRUPT_RESTART,  /* restart, stop */
    KVZ_DISRUPT_DESTROY,  /* replace, delete */
};

enum kvz_field_type {
    KVZ_FIELD_BYTES,
    KVZ_FIELD_CPUS,
    KVZ_FIELD_COUNT,
    KVZ_FIELD_BOOL,
    KVZ_FIELD_STRING
};

struct kvz_field_delta {
    const char *field; /* manifest key: "memory", "cpus", "disk", "network", ... */
    char *key;         /* "lease": the guest whose ip: it is (or the MAC of an entry kvz did not
                          make); NULL for other fields */
    enum kvz_field_type type;
    uint64_t before, after; /* BYTES, COUNT, BOOL; CPUS in milli */
    char *sbefore, *safter; /* STRING (user_data: its sha256, never the contents) */
    bool live;              /* this field changes without a restart */
};

struct kvz_change {
    enum kvz_kind kind;
    char *name;
    enum kvz_action action;
    bool live; /* update only: every field is live */
    struct kvz_field_delta *fields;
    size_t n_fields;
    char *reason;                    /* "memory changed", "stopped by hand", "rootfs missing" */
    const struct kvz_resource *want; /* NULL for delete */
    const struct kvz_observed_resource *have; /* NULL for create */
    const char *host; /* the host of the plan input (NULL: none named); not owned */
};

/* The verified templates a change uses, pulled by the executor before the change runs and kept
 * in the cache until it ends. */
struct kvz_media {
    const struct kvz_image *image; /* container template or vm image; NULL: none (blank vm disk) */
    const struct kvz_image *cdrom; /* vm install medium, or NULL */
    const struct kvz_image *drivers; /* vm drivers ISO (virtio-win), or NULL */
};

/* What `kvz import` read from a domain kvz adopts (or would, with dry_run). */
struct kvz_adoption {
    int id; /* domain id, -1 when not running: it stays the same */
    bool running;
    bool already;  /* it carries this stack's metadata already: nothing was recorded */
    char *storage; /* its rootfs directory or disk image (container), its disk (vm) */
    char *mac;     /* NULL without an interface */
    uint64_t memory;
    uint32_t cpus_milli;
};
void kvz_adoption_release(struct kvz_adoption *a);

struct kvz_provider_ops {
    const char *kind; /* "container", "vm", "network" */

    /* mandatory: every domain (network) on the connection, managed or not, of this kind */
    int (*observe)(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err);

    /* mandatory: make `want` exist from nothing, from the templates in `media`, and running if
     * want->state says so. Idempotent: finishes or redoes a half-made resource. */
    int (*create)(struct kvz_host *h, const struct kvz_resource *want,
                  const struct kvz_media *media, struct kvz_error **err);

    /* mandatory: apply chg->fields to an existing resource, live where chg->live / field->live,
     * else with a restart. Persists every change in the definition too. `media` holds the
     * templates the new spec names that the executor pulled (a vm's cdrom). */
    int (*update)(struct kvz_host *h, const struct kvz_change *chg, const struct kvz_media *media,
                  struct kvz_error **err);

    /* mandatory: stop (forced after the graceful timeout) and remove the domain and every file
     * kvz made for it. Idempotent: a missing resource is success. */
    int (*remove)(struct kvz_host *h, const char *name, struct kvz_error **err);

    /* optional: NULL means the kind cannot do it. Graceful stop, forced after a timeout. */
    int (*set_power)(struct kvz_host *h, const char *name, bool on, struct kvz_error **err);

    /* optional: stops the stack's running guests names[0..n) at once: each is asked to shut down
     * gracefully, all are waited for together, and each still running after its timeout
     * (timeouts[i] seconds, 0: the kind's default; timeouts may be NULL) is forced off; with
     * `force` at once. errs[i] (starting NULL) receives each failure; a guest that is gone or
     * stopped is fine. Waiting is not work: N stops take one timeout, not N. */
    int (*stop_many)(struct kvz_host *h, const char *const *names, const unsigned *timeouts,
                     size_t n, bool force, struct kvz_error **errs);

    /* optional: records chg->want as the spec applied to the existing guest (kvz's metadata),
     * after a start or stop that changed nothing else: a later plan then knows that the state
     * is kvz's doing, not drift. */
    int (*record)(struct kvz_host *h, const struct kvz_change *chg, struct kvz_error **err);

    /* optional: whether `field` of `want` can change from `have` without a restart on this host
     * (e.g. container disk grow needs online resize support; vm memory up to max_memory).
     * NULL means the table of docs/plan.md applies as is. */
    bool (*field_is_live)(struct kvz_host *h, const struct kvz_resource *want,
                          const struct kvz_observed_resource *have, const char *field);

    /* optional: appends to `out` a caveat about this host, one whole sentence that says what to
     * do, that every plan using this kind should show (e.g. vms running without KVM); appends
     * nothing when there is none. */
    void (*host_warning)(struct kvz_buf *out, struct kvz_host *h);

    /* optional: removes storage kvz made on the host that no guest uses any more (found from
     * the host's domains), e.g. a destroyed stack's base volumes and pool; *out_removed counts
     * what went. The caller holds the state dir's lock. */
    int (*prune)(size_t *out_removed, struct kvz_host *h, struct kvz_error **err);

    /* optional: what the plan should say about `want` on this host that is no change (a part
     * of the profile the host cannot give, a live change the guest did not take); *out NULL
     * when nothing, else the caller frees it. `have` is NULL before a create. */
    int (*caveat)(char **out, struct kvz_host *h, const struct kvz_resource *want,
                  const struct kvz_observed_resource *have, struct kvz_error **err);

    /* optional: adopts the existing domain want->name that kvz did not make (kvz import),
     * without restarting it: reads what kvz needs from it into *out, checks kvz can take its
     * storage over, and records kvz's metadata on it (not with dry_run). -1 with the reason for
     * a domain of another stack or kind, or storage kvz cannot manage; nothing changed then. */
    int (*adopt)(struct kvz_adoption *out, struct kvz_host *h, const struct kvz_resource *want,
                 bool dry_run, struct kvz_error **err);
};

extern const struct kvz_provider_ops kvz_container_ops, kvz_vm_ops, kvz_network_ops;

/* The registry of kinds: the provider of resources of kind k. */
const struct kvz_provider_ops *kvz_provider_of(enum kvz_kind k);

/* The MAC address the guest `name` of `stack` has on its network, stable across replace
 * (52:54:00:xx:xx:xx): what its static DHCP lease is bound to. */
void kvz_guest_mac(char out[18], const char *stack, const char *name);

#endif
