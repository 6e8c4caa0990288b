#include "providers/container.h"

#include "base/buf.h"
#include "planner/spec_digest.h"
#include "providers/image_store.h"
#include "providers/ownership.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"

static void say(struct kvz_host *h, const char *name, const char *msg)
{
    if (h->log)
        h->log(h->log_ctx, name, msg);
}

int kvz_ct_dir(char **out, const struct kvz_host *h, const char *name, struct kvz_error **err)
{
    *out = NULL;
    /* These become path components: refuse anything that could climb or nest. */
    if (!kvz_name_valid(h->stack))
        return kvz_error_set(err, "stack name '%s' is invalid; use [a-z0-9-]", h->stack);
    if (!kvz_name_valid(name))
        return kvz_error_set(err, "container name '%s' is invalid; use [a-z0-9-]", name);
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/containers/%s/%s", h->state_dir, h->stack, name);
    if (!(*out = kvz_buf_detach(&b)))
        return kvz_error_set(err, "out of memory");
    return 0;
}

static char *path_join(const char *dir, const char *name)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/%s", dir, name);
    return kvz_buf_detach(&b);
}

static int mkdir_p(const char *path, struct kvz_error **err)
{
    char *p = strdup(path);
    if (!p)
        return kvz_error_set(err, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            kvz_error_set_errno(err, "mkdir '%s'", p);
            free(p);
            return -1;
        }
        *s = '/';
    }
    int ret = 0;
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        ret = kvz_error_set_errno(err, "mkdir '%s'", p);
    free(p);
    return ret;
}

static bool path_exists(const char *p, bool dir)
{
    struct stat st;
    return lstat(p, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

/* ---- ownership ---- */

/* The domain's kvz metadata, for a domain about to be changed: one without it, or of another
 * stack, is an error (kvz never touches what is not its own). */
static int domain_ownership(struct kvz_ownership **out, struct kvz_host *h, virDomainPtr dom,
                            struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    char *xml = virDomainGetXMLDesc(dom, 0);
    *out = NULL;
    if (!xml)
        return kvz_error_set(err, "read domain '%s': %s", name, kvz_ct_virt_msg());
    int r = kvz_ownership_from_domain_xml(out, xml, err);
    free(xml);
    if (r < 0)
        return kvz_error_wrap(err, "domain '%s'", name);
    if (!*out)
        return kvz_error_set(err,
                             "domain '%s' exists and is not managed by kvz; rename the resource "
                             "or remove the domain yourself",
                             name);
    if ((*out)->kind != KVZ_KIND_CONTAINER || strcmp((*out)->stack, h->stack) != 0) {
        int ret = kvz_error_set(err,
                                "domain '%s' belongs to stack '%s' (%s), not to '%s'; "
                                "kvz leaves it alone",
                                name, (*out)->stack, kvz_kind_str((*out)->kind), h->stack);
        kvz_ownership_free(*out);
        *out = NULL;
        return ret;
    }
    return 0;
}

static int make_ownership(struct kvz_ownership *o, char spec[KVZ_SHA256_HEX],
                          char config[KVZ_SHA256_HEX], char applied[32], struct kvz_host *h,
                          const struct kvz_resource *want, struct kvz_error **err)
{
    memset(o, 0, sizeof(*o));
    if (kvz_spec_digest(spec, want, err) < 0 || kvz_config_digest(config, want, err) < 0)
        return -1;
    if (want->tmpl && kvz_template_identity(&o->template_digest, want->tmpl, err) < 0)
        return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(applied, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    o->stack = (char *)h->stack;
    o->kind = KVZ_KIND_CONTAINER;
    o->spec_digest = spec;
    o->config_digest = config;
    o->applied_at = applied;
    o->kvz_version = KVZ_VERSION;
    o->source = (char *)h->source;
    o->protect = want->protect;
    return 0;
}

/* Rewrites kvz's metadata after an update, live and in the definition. */
static int refresh_metadata(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                            bool running, struct kvz_error **err)
{
    struct kvz_ownership o;
    char spec[KVZ_SHA256_HEX], config[KVZ_SHA256_HEX], applied[32];
    char *xml = NULL;
    int ret = -1;
    if (make_ownership(&o, spec, config, applied, h, want, err) < 0 ||
        kvz_ownership_to_metadata_xml(&xml, &o, err) < 0)
        goto cleanup;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG | (running ? VIR_DOMAIN_AFFECT_LIVE : 0);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, KVZ_XMLNS_PREFIX, KVZ_XMLNS,
                             flags) < 0) {
        kvz_error_set(err, "container '%s': record kvz metadata: %s", want->name,
                      kvz_ct_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(o.template_digest);
    free(xml);
    return ret;
}

/* ---- power ---- */

static int wait_inactive(virDomainPtr dom, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        int a = virDomainIsActive(dom);
        if (a == 0)
            return 0;
        if (a < 0)
            return -1;
        usleep(100 * 1000);
    }
    return virDomainIsActive(dom) == 0 ? 0 : -1;
}

static int container_init_pid(virDomainPtr dom);

/* Whether the container's init listens on an initctl pipe (systemd, sysvinit): 1 yes, 0 no,
 * -1 unknown (the container runs on another host). */
static int has_initctl(virDomainPtr dom)
{
    static const char *const fifos[] = {"run/initctl", "dev/initctl"};
    int pid = container_init_pid(dom);
    char p[64];
    if (pid < 0)
        return -1;
    for (size_t i = 0; i < sizeof(fifos) / sizeof(*fifos); i++) {
        struct stat st;
        snprintf(p, sizeof(p), "/proc/%d/root/%s", pid, fifos[i]);
        if (stat(p, &st) == 0 && S_ISFIFO(st.st_mode))
            return 1;
    }
    return 0;
}

/*
 * Graceful, then forced. Inits differ: systemd and sysvinit power off on an initctl request
 * (and systemd treats SIGTERM as "re-execute"), simple inits exit on SIGTERM. libvirt 9.0's
 * default shutdown reports initctl success even without a pipe and then skips SIGTERM, so the
 * two are sent here one after the other, each when it can work.
 */
static int stop_domain(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    if (virDomainIsActive(dom) != 1)
        return 0;
    say(h, name, "stopping");
    int initctl = has_initctl(dom), left = KVZ_CT_STOP_TIMEOUT_MS;
    if (initctl != 0) {
        int grace = initctl == 1 ? left : KVZ_CT_INITCTL_GRACE_MS;
        if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_INITCTL) == 0 &&
            wait_inactive(dom, grace) == 0)
            return 0;
        left -= grace;
    }
    /* Repeated: a SIGTERM that lands before init set its handler is dropped by the kernel. */
    for (; left > 0; left -= KVZ_CT_SIGTERM_EVERY_MS) {
        virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_SIGNAL);
        if (wait_inactive(dom, KVZ_CT_SIGTERM_EVERY_MS) == 0)
            return 0;
    }
    say(h, name, "did not stop in time; forcing");
    if (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return kvz_error_set(err, "stop container '%s': %s", name, kvz_ct_virt_msg());
    return 0;
}

static int start_domain(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    if (virDomainIsActive(dom) == 1)
        return 0;
    say(h, name, "starting");
    if (virDomainCreate(dom) < 0)
        return kvz_error_set(err, "start container '%s': %s; see /var/log/libvirt/lxc/%s.log", name,
                             kvz_ct_virt_msg(), name);
    return 0;
}

static int container_set_power(struct kvz_host *h, const char *name, bool on,
                               struct kvz_error **err)
{
    virDomainPtr dom = virDomainLookupByName(h->conn, name);
    struct kvz_ownership *o = NULL;
    int ret = -1;
    if (!dom)
        return kvz_error_set(err, "container '%s' does not exist: %s", name, kvz_ct_virt_msg());
    if (domain_ownership(&o, h, dom, err) < 0)
        goto cleanup;
    ret = on ? start_domain(h, dom, err) : stop_domain(h, dom, err);
cleanup:
    kvz_ownership_free(o);
    virDomainFree(dom);
    return ret;
}

/* ---- observe ---- */

/* The limits through libvirt, when the cgroup files are not ours to read (another host) or not
 * there. libvirt 9.0's LXC driver touches the cgroup before checking that the domain runs and
 * crashes libvirtd on a stopped one, so the calls go only after a fresh IsActive. A stop in the
 * tiny window between the two is a race left open: only remote hosts and unreadable cgroups
 * take this path. */
static int limits_by_api(uint64_t *mem, uint32_t *cpus_milli, bool *gone, virDomainPtr dom,
                         struct kvz_error **err)
{
    int active = virDomainIsActive(dom);
    if (active != 1) {
        *gone = active == 0 || kvz_ct_virt_changed();
        /* The message first: virDomainGetName resets libvirt's last error. */
        const char *why = active == 0 ? "stopped while read" : kvz_ct_virt_msg();
        return kvz_error_set(err, "observe domain '%s': %s", virDomainGetName(dom), why);
    }
    if (kvz_ct_get_memory(mem, dom, err) < 0 || kvz_ct_get_cpus(cpus_milli, dom, err) < 0) {
        *gone = kvz_ct_virt_changed();
        return -1;
    }
    return 0;
}

/* *gone: the domain vanished or changed state while being read; the caller retries or skips. */
/* One domain: its XML (state and id from it too) and, when running, the limits in force. The
 * round trips to libvirtd are what a plan costs, so nothing else is asked per domain. */
static int observe_one(struct kvz_observed_resource *r, bool *gone, bool autostart, bool local,
                       virDomainPtr dom, struct kvz_error **err)
{
    struct kvz_ownership *o = NULL;
    char *xml = NULL, *rootfs = NULL, *img = NULL;
    int ret = -1;

    memset(r, 0, sizeof(*r));
    *gone = false;
    r->kind = KVZ_KIND_CONTAINER;
    r->id = -1;
    r->autostart = autostart;
    if (!(r->name = strdup(virDomainGetName(dom))))
        goto oom;
    if (!(xml = virDomainGetXMLDesc(dom, 0)))
        goto virt;
    if (kvz_ct_xml_observe(&o, r, &rootfs, &img, xml, err) < 0)
        goto cleanup;
    if (o) {
        r->managed = true;
        r->stack = o->stack;
        r->spec_digest = o->spec_digest;
        r->template_digest = o->template_digest;
        r->config_digest = o->config_digest;
        r->applied_at = o->applied_at;
        r->kvz_version = o->kvz_version;
        r->source = o->source;
        r->protect = o->protect;
        o->stack = o->spec_digest = o->template_digest = o->config_digest = NULL;
        o->applied_at = o->kvz_version = o->source = NULL;
        r->kind = o->kind;
    }
    if (r->running) { /* what the kernel enforces now; the definition is read above */
        uint64_t mem = 0;
        int got = local ? kvz_ct_cgroup_limits(&mem, &r->cpus_milli, "/proc", "/sys/fs/cgroup",
                                               r->id, err)
                        : 1;
        if (got < 0 || (got == 1 && limits_by_api(&mem, &r->cpus_milli, gone, dom, err) < 0))
            goto cleanup;
        if (mem)
            r->memory = mem;
    }
    r->max_memory = r->memory;
    /* The files themselves, not a record: a rootfs deleted by hand shows as missing. */
    if (img) {
        struct kvz_error *bad = NULL;
        r->storage_ok = path_exists(img, false) && kvz_disk_size(&r->disk, img, &bad) == 0;
        if (!r->storage_ok &&
            !(r->problem = strdup(bad ? kvz_error_msg(bad) : "disk image missing"))) {
            kvz_error_free(bad);
            goto oom;
        }
        kvz_error_free(bad);
    } else if (rootfs) {
        r->storage_ok = path_exists(rootfs, true);
        if (!r->storage_ok && !(r->problem = strdup("rootfs missing")))
            goto oom;
        if (r->storage_ok && r->managed && kvz_rootfs_read_hostname(&r->hostname, rootfs, err) < 0)
            goto cleanup;
    }
    ret = 0;
    goto cleanup;
virt:
    *gone = kvz_ct_virt_changed();
    ret = kvz_error_set(err, "observe domain '%s': %s", r->name, kvz_ct_virt_msg());
    goto cleanup;
oom:
    ret = kvz_error_set(err, "observe: out of memory");
cleanup:
    kvz_ownership_free(o);
    free(xml);
    free(rootfs);
    free(img);
    return ret;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One observe pass over a domain list, shared by the worker threads. */
struct observe_job {
    virDomainPtr *doms;
    int n;
    const char **auto_names; /* sorted */
    int na;
    bool local;
    struct kvz_observed_resource *slots; /* one per domain, in list order */
    bool *present;                       /* slot filled (false: undefined while we looked) */
    struct kvz_error **errs;             /* a real failure of that domain */
    pthread_mutex_t mu;
    int next;
};

/* Frees one entry's contents through the planner's kvz_observed_free and zeroes it. */
static void free_entry(struct kvz_observed_resource *r)
{
    struct kvz_observed one = {calloc(1, sizeof(*r)), 1};
    if (one.v)
        one.v[0] = *r;
    kvz_observed_free(&one);
    memset(r, 0, sizeof(*r));
}

static void observe_slot(struct observe_job *j, int i)
{
    struct kvz_error *e = NULL;
    bool gone = false;
    /* A domain that changed state while read (stopped, undefined) is read again once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        kvz_error_clear(&e);
        const char *name = virDomainGetName(j->doms[i]);
        bool autostart =
            j->na && bsearch(&name, j->auto_names, (size_t)j->na, sizeof(*j->auto_names), cmp_str);
        if (observe_one(&j->slots[i], &gone, autostart, j->local, j->doms[i], &e) == 0)
            break;
        free_entry(&j->slots[i]); /* the half-filled entry */
        if (!gone)
            break;
    }
    if (!e)
        j->present[i] = true;
    else if (!gone)
        j->errs[i] = e;
    else
        kvz_error_free(e); /* undefined while we looked: simply gone */
}

static void *observe_worker(void *arg)
{
    struct observe_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            return NULL;
        observe_slot(j, i);
    }
}

/* Domains per extra thread: below this, threads cost more than the round trips they overlap. */
#define OBSERVE_PER_THREAD  16
#define OBSERVE_MAX_THREADS 4

static int container_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    virDomainPtr *doms = NULL, *autos = NULL;
    struct observe_job j = {.mu = PTHREAD_MUTEX_INITIALIZER};
    pthread_t tids[OBSERVE_MAX_THREADS];
    int nt = 0;
    /* Autostart of every domain in one call instead of one per domain. */
    int na = virConnectListAllDomains(h->conn, &autos, VIR_CONNECT_LIST_DOMAINS_AUTOSTART);
    int n = na < 0 ? -1 : virConnectListAllDomains(h->conn, &doms, 0);
    int ret = -1;

    out->v = NULL;
    out->n = 0;
    if (n < 0)
        return kvz_error_set(err, "list containers on '%s': %s; is libvirtd running?", h->uri,
                             kvz_ct_virt_msg());
    j.doms = doms;
    j.n = n;
    j.na = na;
    j.local = kvz_ct_uri_is_local(h->uri);
    if ((n && (!(j.slots = calloc((size_t)n, sizeof(*j.slots))) ||
               !(j.present = calloc((size_t)n, sizeof(*j.present))) ||
               !(j.errs = calloc((size_t)n, sizeof(*j.errs))))) ||
        (na && !(j.auto_names = calloc((size_t)na, sizeof(*j.auto_names))))) {
        kvz_error_set(err, "observe: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < na; i++)
        j.auto_names[i] = virDomainGetName(autos[i]);
    if (na > 0)
        qsort(j.auto_names, (size_t)na, sizeof(*j.auto_names), cmp_str);
    /* One connection serves calls from several threads at once: overlap the round trips.
     * libxml2 must be initialised before threads parse. */
    xmlInitParser();
    for (; nt < OBSERVE_MAX_THREADS - 1 && (nt + 1) * OBSERVE_PER_THREAD < n; nt++)
        if (pthread_create(&tids[nt], NULL, observe_worker, &j) != 0)
            break;
    observe_worker(&j);
    for (int t = 0; t < nt; t++)
        pthread_join(tids[t], NULL);
    for (int i = 0; i < n; i++) {
        if (j.errs[i]) {
            kvz_error_set(err, "%s", kvz_error_msg(j.errs[i]));
            goto cleanup;
        }
    }
    if (n && !(out->v = calloc((size_t)n, sizeof(*out->v)))) {
        kvz_error_set(err, "observe: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        if (j.present[i]) {
            out->v[out->n++] = j.slots[i];
            j.present[i] = false; /* handed over */
        }
    }
    ret = 0;
cleanup:
    for (int i = 0; i < n; i++) {
        if (j.present && j.present[i])
            free_entry(&j.slots[i]);
        if (j.errs)
            kvz_error_free(j.errs[i]);
        virDomainFree(doms[i]);
    }
    free(doms);
    for (int i = 0; i < na; i++)
        virDomainFree(autos[i]);
    free(autos);
    free(j.auto_names);
    free(j.slots);
    free(j.present);
    free(j.errs);
    if (ret < 0)
        kvz_observed_free(out);
    return ret;
}

/* ---- create ---- */

/* Deletes what a killed create left: unfinished copies, images and injection dirs. */
static int remove_leftovers(const char *dir, struct kvz_error **err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ret = 0;
    if (!d)
        return errno == ENOENT ? 0 : kvz_error_set_errno(err, "read '%s'", dir);
    while (ret == 0 && (e = readdir(d))) {
        if (!strstr(e->d_name, ".tmp") && !strstr(e->d_name, ".inject-"))
            continue;
        char *p = path_join(dir, e->d_name);
        ret = p ? kvz_rootfs_remove(p, err) : kvz_error_set(err, "out of memory");
        free(p);
    }
    closedir(d);
    return ret;
}

/* The private rootfs (or disk image) of `want`, made when missing: copied to a temp name,
 * configured, renamed into place only when complete. */
static int make_storage(char **rootfs_out, char **img_out, struct kvz_host *h,
                        const struct kvz_resource *want, const char *src, const char *dir,
                        bool in_use, struct kvz_error **err)
{
    char *rootfs = path_join(dir, KVZ_CT_ROOTFS_DIR);
    char *img = path_join(dir, KVZ_CT_DISK_IMG);
    char *tmp = NULL;
    int ret = -1;

    if (!rootfs || !img) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    const char *final = want->disk ? img : rootfs;
    if (path_exists(final, !want->disk)) {
        /* finished by an earlier create that died before defining the domain: keep it, but
         * make sure the injected files are the wanted ones (never into a mounted image) */
        say(h, want->name, "reusing complete storage from an earlier run");
        if (!in_use && (want->disk ? kvz_disk_inject(img, want, err)
                                   : kvz_rootfs_inject(rootfs, want, err)) < 0)
            goto cleanup;
    } else {
        if (remove_leftovers(dir, err) < 0)
            goto cleanup;
        if (!(tmp = path_join(dir, want->disk ? KVZ_CT_DISK_IMG ".tmp" : KVZ_CT_ROOTFS_DIR ".tmp")))
            goto cleanup;
        if (!src) {
            kvz_error_set(err, "container '%s': no template store to take the rootfs from",
                          want->name);
            goto cleanup;
        }
        if (kvz_rootfs_check_arch(src, want->template_name ? want->template_name : src, err) < 0)
            goto cleanup;
        if (want->disk) {
            say(h, want->name, "making ext4 disk image");
            if (kvz_disk_make(tmp, want->disk, src, err) < 0 || kvz_disk_inject(tmp, want, err) < 0)
                goto cleanup;
        } else {
            say(h, want->name, "copying rootfs");
            if (kvz_rootfs_copy(src, tmp, err) < 0 || kvz_rootfs_inject(tmp, want, err) < 0)
                goto cleanup;
        }
        if (rename(tmp, final) < 0) {
            kvz_error_set_errno(err, "rename '%s' to '%s'", tmp, final);
            goto cleanup;
        }
    }
    if (want->disk && !in_use) {
        struct stat st;
        if (stat(img, &st) == 0 && (uint64_t)st.st_size < want->disk &&
            kvz_disk_grow_offline(img, want->disk, err) < 0)
            goto cleanup;
    }
    *rootfs_out = want->disk ? NULL : rootfs;
    *img_out = want->disk ? img : NULL;
    if (want->disk)
        img = NULL;
    else
        rootfs = NULL;
    ret = 0;
cleanup:
    if (ret < 0 && tmp) {
        struct kvz_error *ignored = NULL;
        kvz_rootfs_remove(tmp, &ignored);
        kvz_error_free(ignored);
    }
    free(tmp);
    free(rootfs);
    free(img);
    return ret;
}

/* Defines (or redefines) the domain of `want` on storage at rootfs/img. */
static int define_domain(virDomainPtr *out, struct kvz_host *h, const struct kvz_resource *want,
                         const char *rootfs, const char *img, struct kvz_error **err)
{
    struct kvz_ownership o;
    char spec[KVZ_SHA256_HEX], config[KVZ_SHA256_HEX], applied[32];
    char uuid[37], mac[18];
    char *meta = NULL, *xml = NULL;
    int ret = -1;

    *out = NULL;
    if (make_ownership(&o, spec, config, applied, h, want, err) < 0 ||
        kvz_ownership_to_xml(&meta, &o, err) < 0)
        goto cleanup;
    kvz_identity_uuid(uuid, h->stack, want->name);
    kvz_identity_mac(mac, h->stack, want->name);
    struct kvz_ct_def def = {
        .name = want->name,
        .uuid = uuid,
        .mac = mac,
        .memory = want->memory,
        .cpus_milli = want->cpus_milli,
        .rootfs_dir = rootfs,
        .disk_img = img,
        .network = &want->network,
        .metadata_xml = meta,
    };
    if (kvz_ct_xml_build(&xml, &def, err) < 0)
        goto cleanup;
    if (!(*out = virDomainDefineXML(h->conn, xml))) {
        kvz_error_set(err, "define container '%s': %s", want->name, kvz_ct_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(o.template_digest);
    free(meta);
    free(xml);
    return ret;
}

/* Autostart and power as `want` says. */
static int converge_power(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                          struct kvz_error **err)
{
    int autostart = -1;
    if (virDomainGetAutostart(dom, &autostart) < 0 ||
        (autostart != (int)want->autostart && virDomainSetAutostart(dom, want->autostart) < 0))
        return kvz_error_set(err, "container '%s': set autostart: %s", want->name,
                             kvz_ct_virt_msg());
    if (want->state == KVZ_POWER_RUNNING)
        return start_domain(h, dom, err);
    return stop_domain(h, dom, err);
}

int kvz_ct_create_from(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                       struct kvz_error **err)
{
    char *dir = NULL, *rootfs = NULL, *img = NULL;
    virDomainPtr dom = NULL;
    struct kvz_ownership *o = NULL;
    int ret = -1;

    if (kvz_ct_dir(&dir, h, want->name, err) < 0)
        goto cleanup;
    /* A same-named domain must be this stack's (a half-made create); never someone else's.
     * Running on complete storage, it keeps running: only the definition is redone. */
    bool in_use = false;
    if ((dom = virDomainLookupByName(h->conn, want->name))) {
        if (domain_ownership(&o, h, dom, err) < 0)
            goto cleanup;
        char *final = path_join(dir, want->disk ? KVZ_CT_DISK_IMG : KVZ_CT_ROOTFS_DIR);
        in_use = final && path_exists(final, !want->disk) && virDomainIsActive(dom) == 1;
        free(final);
        if (!in_use && stop_domain(h, dom, err) < 0)
            goto cleanup;
        virDomainFree(dom);
        dom = NULL;
    }
    if (mkdir_p(dir, err) < 0 || make_storage(&rootfs, &img, h, want, src, dir, in_use, err) < 0)
        goto cleanup;
    if (define_domain(&dom, h, want, rootfs, img, err) < 0 || converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "create container '%s'", want->name);
    kvz_ownership_free(o);
    if (dom)
        virDomainFree(dom);
    free(dir);
    free(rootfs);
    free(img);
    return ret;
}

static int container_create(struct kvz_host *h, const struct kvz_resource *want,
                            struct kvz_error **err)
{
    struct kvz_image img = {0};
    int ret;
    if (!h->store || !want->tmpl)
        return kvz_error_set(err, "create container '%s': template '%s' unavailable (no store)",
                             want->name, want->template_name ? want->template_name : "");
    say(h, want->name, "pulling template");
    if (kvz_store_pull(&img, h->store, want->tmpl, KVZ_CONTENT_ROOTFS, err) < 0)
        return kvz_error_wrap(err, "create container '%s'", want->name);
    ret = kvz_ct_create_from(h, want, img.path, err);
    kvz_image_release(&img);
    return ret;
}

/* ---- update ---- */

static bool has_field(const struct kvz_change *chg, const char *field)
{
    for (size_t i = 0; i < chg->n_fields; i++)
        if (!strcmp(chg->fields[i].field, field))
            return true;
    return false;
}

/* The init process of a running container on this host: the only child of libvirt's
 * controller, whose pid is the domain id for LXC. -1 when not running, or when the id is not a
 * libvirt_lxc here (a remote connection). */
static int container_init_pid(virDomainPtr dom)
{
    char path[64], buf[64];
    unsigned int id = virDomainGetID(dom);
    if (id == (unsigned int)-1)
        return -1;
    snprintf(path, sizeof(path), "/proc/%u/comm", id);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    bool controller = fgets(buf, sizeof(buf), f) && !strcmp(buf, "libvirt_lxc\n");
    fclose(f);
    if (!controller)
        return -1;
    snprintf(path, sizeof(path), "/proc/%u/task/%u/children", id, id);
    if (!(f = fopen(path, "re")))
        return -1;
    int pid = -1;
    if (fgets(buf, sizeof(buf), f))
        pid = atoi(buf);
    fclose(f);
    return pid > 0 ? pid : -1;
}

static int container_update(struct kvz_host *h, const struct kvz_change *chg,
                            struct kvz_error **err)
{
    const struct kvz_resource *want = chg->want;
    struct kvz_ownership *o = NULL;
    char *dir = NULL, *rootfs = NULL, *img = NULL, *xml = NULL;
    virDomainPtr dom = NULL;
    int ret = -1;

    if (!want)
        return kvz_error_set(err, "update container '%s': no desired spec", chg->name);
    if (!(dom = virDomainLookupByName(h->conn, want->name))) {
        kvz_error_set(err, "container '%s' does not exist: %s", want->name, kvz_ct_virt_msg());
        goto cleanup;
    }
    if (domain_ownership(&o, h, dom, err) < 0 || kvz_ct_dir(&dir, h, want->name, err) < 0)
        goto cleanup;
    bool running = virDomainIsActive(dom) == 1;
    if (!(xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE))) {
        kvz_error_set(err, "read container '%s': %s", want->name, kvz_ct_virt_msg());
        goto cleanup;
    }
    struct kvz_observed_resource tmp = {.name = want->name};
    if (kvz_ct_xml_parse(&tmp, &rootfs, &img, xml, err) < 0)
        goto cleanup;
    free(tmp.network.name);

    /* Live first: these never need a restart on LXC. A stopped container gets them with the
     * redefinition below. */
    bool redefine = has_field(chg, "network") || !running;
    if (running && has_field(chg, "memory") && kvz_ct_set_memory(dom, want->memory, err) < 0)
        goto cleanup;
    if (running && has_field(chg, "cpus") && kvz_ct_set_cpus(dom, want->cpus_milli, err) < 0)
        goto cleanup;
    if (has_field(chg, "disk")) {
        if (!img) {
            kvz_error_set(err, "container '%s' has no disk image to grow", want->name);
            goto cleanup;
        }
        int r = 1;
        int pid = running ? container_init_pid(dom) : -1;
        /* Always tried on a running container: the kernel's answer is the detection
         * (field_is_live only predicts it from CAP_SYS_RESOURCE). */
        if (pid > 0) {
            say(h, want->name, "growing disk online");
            if ((r = kvz_disk_grow_online(img, want->disk, pid, err)) < 0)
                goto cleanup;
        }
        if (r == 1) {
            /* The kernel refused online resize here (EPERM): offline, around a restart. */
            say(h, want->name, "online resize not permitted here; growing offline (restart)");
            if (stop_domain(h, dom, err) < 0 || kvz_disk_grow_offline(img, want->disk, err) < 0)
                goto cleanup;
            running = false;
        }
    }
    /* Network, hostname and ssh keys go into the definition and the rootfs: restart. */
    bool inject = has_field(chg, "hostname") || has_field(chg, "ssh_authorized_keys");
    if (inject || redefine) {
        if (stop_domain(h, dom, err) < 0)
            goto cleanup;
        running = false;
        if (inject &&
            (img ? kvz_disk_inject(img, want, err) : kvz_rootfs_inject(rootfs, want, err)) < 0)
            goto cleanup;
        virDomainFree(dom);
        dom = NULL;
        if (define_domain(&dom, h, want, rootfs, img, err) < 0)
            goto cleanup;
    }
    if (refresh_metadata(h, dom, want, running, err) < 0)
        goto cleanup;
    /* Restarted or not, the final power state is what want->state says. */
    if (converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "update container '%s'", chg->name);
    kvz_ownership_free(o);
    if (dom)
        virDomainFree(dom);
    free(dir);
    free(rootfs);
    free(img);
    free(xml);
    return ret;
}

/* ---- remove ---- */

static int container_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    struct kvz_ownership *o = NULL;
    char *dir = NULL;
    virDomainPtr dom = NULL;
    int ret = -1;

    if (kvz_ct_dir(&dir, h, name, err) < 0)
        goto cleanup;
    if ((dom = virDomainLookupByName(h->conn, name))) {
        if (domain_ownership(&o, h, dom, err) < 0 || stop_domain(h, dom, err) < 0)
            goto cleanup;
        if (virDomainUndefine(dom) < 0) {
            kvz_error_set(err, "undefine '%s': %s", name, kvz_ct_virt_msg());
            goto cleanup;
        }
    }
    say(h, name, "deleting files");
    if (kvz_rootfs_remove(dir, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "remove container '%s'", name);
    kvz_ownership_free(o);
    if (dom)
        virDomainFree(dom);
    free(dir);
    return ret;
}

static bool container_field_is_live(struct kvz_host *h, const struct kvz_resource *want,
                                    const struct kvz_observed_resource *have, const char *field)
{
    if (!strcmp(field, "memory") || !strcmp(field, "cpus") || !strcmp(field, "autostart") ||
        !strcmp(field, "protect"))
        return true;
    /* Online ext4 grow needs CAP_SYS_RESOURCE; a stopped container grows offline anyway. */
    if (!strcmp(field, "disk"))
        return !have->running || kvz_disk_online_resize_possible();
    return false; /* network, hostname, ssh keys: restart with re-injection */
}

const struct kvz_provider_ops kvz_container_ops = {
    .kind = "container",
    .observe = container_observe,
    .create = container_create,
    .update = container_update,
    .remove = container_remove,
    .set_power = container_set_power,
    .field_is_live = container_field_is_live,
};
