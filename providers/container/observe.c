/* Observing containers: every domain's definition, live state and the limits the kernel
 * enforces, read from libvirt and the cgroup files, never from a record. */
#include "providers/container/container.h"

#include "base/buf.h"
#include "base/fs.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <libxml/parser.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
        *gone = active == 0 || kvz_virt_changed();
        /* The message first: virDomainGetName resets libvirt's last error. */
        const char *why = active == 0 ? "stopped while read" : kvz_virt_msg();
        return kvz_error_set(err, "observe domain '%s': %s", virDomainGetName(dom), why);
    }
    if (kvz_ct_get_memory(mem, dom, err) < 0 || kvz_ct_get_cpus(cpus_milli, dom, err) < 0) {
        *gone = kvz_virt_changed();
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
    char *xml = NULL, *rootfs = NULL, *img = NULL, *upper = NULL;
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
        r->kind = o->kind; /* another kind's metadata on an LXC domain: planned as that kind */
        kvz_domain_meta_observed(r, o);
        r->layer_lower = o->layer_lower;
        upper = o->layer_upper;
        o->layer_lower = o->layer_upper = NULL;
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
    if (img && !local) {
        /* on another host: its image volume and mark, seen through libvirt */
        struct kvz_buf mark = KVZ_BUF_INIT;
        unsigned long long cap = 0;
        struct kvz_error *bad = NULL;
        virConnectPtr conn = virDomainGetConnect(dom);
        kvz_buf_printf(&mark, "%s.ok", img);
        r->storage_ok = !mark.oom && kvz_volume_exists(conn, NULL, mark.ptr) &&
                        kvz_volume_capacity(&cap, conn, img, &bad) == 0;
        r->disk = cap;
        kvz_buf_release(&mark);
        kvz_error_free(bad);
        if (!r->storage_ok && !(r->problem = strdup("rootfs image missing on the host")))
            goto oom;
    } else if (img) {
        struct kvz_error *bad = NULL;
        struct stat st; /* the domain's path is a symlink to the image */
        r->storage_ok =
            stat(img, &st) == 0 && S_ISREG(st.st_mode) && kvz_disk_size(&r->disk, img, &bad) == 0;
        if (!r->storage_ok &&
            !(r->problem = strdup(bad ? kvz_error_msg(bad) : "disk image missing"))) {
            kvz_error_free(bad);
            goto oom;
        }
        kvz_error_free(bad);
        r->storage_kind = "disk";
        if (!(r->own_path = strdup(img)))
            goto oom;
    } else if (rootfs && upper) {
        /* on shared layers: the mount point, the template's tree and its own layer; the mount
         * itself is libvirtd's (the hook's), not necessarily visible here */
        r->storage_kind = "overlay";
        const char *missing = !kvz_path_is(rootfs, true) ? "rootfs missing"
                              : !r->layer_lower || !kvz_path_is(r->layer_lower, true)
                                  ? "template layer missing"
                              : !kvz_path_is(upper, true) ? "container layer missing"
                                                          : NULL;
        r->storage_ok = !missing;
        if (missing && !(r->problem = strdup(missing)))
            goto oom;
        if (r->storage_ok && r->managed &&
            (kvz_rootfs_read_hostname(&r->hostname, upper, err) < 0 ||
             (!r->hostname && kvz_rootfs_read_hostname(&r->hostname, r->layer_lower, err) < 0)))
            goto cleanup;
        r->own_path = upper;
        upper = NULL;
    } else if (rootfs) {
        r->storage_ok = kvz_path_is(rootfs, true);
        if (!r->storage_ok && !(r->problem = strdup("rootfs missing")))
            goto oom;
        if (r->storage_ok && r->managed && kvz_rootfs_read_hostname(&r->hostname, rootfs, err) < 0)
            goto cleanup;
        r->storage_kind = "copy";
        if (!(r->own_path = strdup(rootfs)))
            goto oom;
    }
    ret = 0;
    goto cleanup;
virt:
    *gone = kvz_virt_changed();
    ret = kvz_error_set(err, "observe domain '%s': %s", r->name, kvz_virt_msg());
    goto cleanup;
oom:
    ret = kvz_error_set(err, "observe: out of memory");
cleanup:
    kvz_ownership_free(o);
    free(xml);
    free(rootfs);
    free(img);
    free(upper);
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
        kvz_observed_resource_release(&j->slots[i]); /* the half-filled entry */
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

int kvz_ct_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
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
    if (n < 0) {
        kvz_error_set(err, "list containers on '%s': %s; is libvirtd running?", h->uri,
                      kvz_virt_msg());
        n = 0; /* nothing listed: only the autostart list to free */
        goto cleanup;
    }
    j.doms = doms;
    j.n = n;
    j.na = na;
    j.local = kvz_uri_is_local(h->uri);
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
    for (int i = 0; i < n; i++)
        if (j.errs[i]) {
            kvz_error_move(err, &j.errs[i]);
            goto cleanup;
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
            kvz_observed_resource_release(&j.slots[i]);
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
