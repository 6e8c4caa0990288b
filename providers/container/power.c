/* Starting and stopping containers: graceful stops for every kind of init, forced after a
 * timeout. */
#include "providers/container/container.h"

#include "providers/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * Graceful, then forced. Inits differ: systemd and sysvinit power off on an initctl request
 * (and systemd treats SIGTERM as "re-execute"), simple inits exit on SIGTERM. libvirt 9.0's
 * default shutdown reports initctl success even without a pipe and then skips SIGTERM, so the
 * two are sent here one after the other, each when it can work.
 */
int kvz_ct_stop(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    if (virDomainIsActive(dom) != 1)
        return 0;
    kvz_host_log(h, name, "stopping");
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
    kvz_host_log(h, name, "did not stop in time; forcing");
    if (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return kvz_error_set(err, "stop container '%s': %s", name, kvz_virt_msg());
    return 0;
}

int kvz_ct_start(struct kvz_host *h, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    if (virDomainIsActive(dom) == 1)
        return 0;
    kvz_host_log(h, name, "starting");
    if (virDomainCreate(dom) < 0)
        return kvz_error_set(err, "start container '%s': %s; see /var/log/libvirt/lxc/%s.log", name,
                             kvz_virt_msg(), name);
    return 0;
}

int kvz_ct_set_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_CONTAINER, name, err) < 0)
        return -1;
    if (!dom)
        return kvz_error_set(err, "container '%s' does not exist; apply to create it", name);
    int ret = on ? kvz_ct_start(h, dom, err) : kvz_ct_stop(h, dom, err);
    virDomainFree(dom);
    return ret;
}
