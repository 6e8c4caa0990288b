/* Starting and stopping containers: graceful stops for every kind of init, forced after a
 * timeout. */
#include "providers/container/container.h"
#include "providers/ownership.h"

#include "providers/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The init process of a running container on this host: the only child of libvirt's
 * controller, whose pid is the domain id for LXC. -1 when not running, or when the id is not a
 * libvirt_lxc here (a remote connection). */
int kvz_ct_init_pid(virDomainPtr dom)
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

/* Whether the container's init listens on an initctl pipe (systemd, sysvinit): 1 yes, 0 no,
 * -1 unknown (the container runs on another host). */
static int has_initctl(virDomainPtr dom)
{
    static const char *const fifos[] = {"run/initctl", "dev/initctl"};
    int pid = kvz_ct_init_pid(dom);
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

/* How far one container's stop got (kvz_domains_stop keeps it between ticks). */
struct ct_stop {
    int initctl;      /* has_initctl() */
    bool signals;     /* SIGTERM it, every KVZ_CT_SIGTERM_EVERY_MS */
    long last_signal; /* ms */
};

/*
 * Graceful, then forced. Inits differ: systemd and sysvinit power off on an initctl request
 * (and systemd treats SIGTERM as "re-execute"), simple inits exit on SIGTERM. libvirt 9.0's
 * default shutdown reports initctl success even without a pipe and then skips SIGTERM, so the
 * two are sent here one after the other, each when it can work. SIGTERM is repeated: one that
 * lands before init set its handler is dropped by the kernel.
 */
static void ask(struct kvz_host *h, virDomainPtr dom, void **state, long el)
{
    struct ct_stop *st = *state;
    if (!st) {
        if (!(st = *state = calloc(1, sizeof(*st))))
            return; /* forced at the timeout */
        st->initctl = has_initctl(dom);
        st->signals =
            st->initctl == 0 || virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_INITCTL) < 0;
        st->last_signal = -KVZ_CT_SIGTERM_EVERY_MS;
    }
    /* init unknown (another host): SIGTERM too once initctl had its grace */
    if (st->initctl < 0 && el >= KVZ_CT_INITCTL_GRACE_MS)
        st->signals = true;
    if (st->signals && el - st->last_signal >= KVZ_CT_SIGTERM_EVERY_MS) {
        virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_SIGNAL);
        st->last_signal = el;
    }
}

const struct kvz_stop_ops kvz_ct_stop_ops = {
    .ask = ask,
    .default_timeout_s = KVZ_CT_STOP_TIMEOUT_S,
};

int kvz_ct_stop(struct kvz_host *h, virDomainPtr dom, unsigned timeout_s, struct kvz_error **err)
{
    struct kvz_stop_req r = {.dom = dom, .timeout_s = timeout_s};
    if (kvz_domains_stop(h, &kvz_ct_stop_ops, &r, 1, false) < 0)
        return kvz_error_move(err, &r.err);
    return 0;
}

int kvz_ct_stop_many(struct kvz_host *h, const char *const *names, const unsigned *timeouts,
                     size_t n, bool force, struct kvz_error **errs)
{
    return kvz_domain_stop_many(h, KVZ_KIND_CONTAINER, &kvz_ct_stop_ops, names, timeouts, n, force,
                                errs);
}

int kvz_ct_start(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    if (virDomainIsActive(dom) == 1)
        return 0;
    /* on shared layers, libvirt's hook mounts the container's root: made sure it is there (a
     * hook deleted since is installed again) */
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    struct kvz_ownership *own = NULL;
    if (xml && kvz_ownership_from_domain_xml(&own, xml, NULL) == 0 && own && own->layer_upper &&
        kvz_ct_hook_install(h, name, err) < 0) {
        kvz_ownership_free(own);
        free(xml);
        return -1;
    }
    kvz_ownership_free(own);
    free(xml);
    kvz_host_log(h, name, "starting");
    /* libvirt 9.0's LXC driver picks a free loop device and then attaches it: two containers
     * starting at once can pick the same one, and the second fails with EBUSY. Tried again. */
    for (int attempt = 0;; attempt++) {
        if (virDomainCreate(dom) == 0)
            return 0;
        const char *msg = kvz_virt_msg();
        if (attempt >= 4 || !strstr(msg, "to loop device: Device or resource busy"))
            return kvz_error_set(err, "start container '%s': %s; see /var/log/libvirt/lxc/%s.log",
                                 name, msg, name);
        struct timespec pause = {0, (attempt + 1) * 100 * 1000 * 1000L};
        nanosleep(&pause, NULL);
    }
}

int kvz_ct_set_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    if (kvz_domain_lookup(&dom, &own, h, KVZ_KIND_CONTAINER, name, err) < 0)
        return -1;
    int ret = -1;
    if (!dom)
        ret = kvz_error_set(err, "container '%s' does not exist; apply to create it", name);
    else
        ret = on ? kvz_ct_start(h, dom, err)
                 : kvz_ct_stop(h, dom, kvz_ownership_stop_timeout(own), err);
    if (dom)
        virDomainFree(dom);
    kvz_ownership_free(own);
    return ret;
}
