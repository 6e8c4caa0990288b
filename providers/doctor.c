/*
 * kvz doctor's checks (providers/doctor.h): one result per check, ok or the
 * problem and what to do.
 */
#include "providers/doctor.h"
#include "providers/layers.h"

#include "base/buf.h"
#include "base/fs.h"
#include "providers/provider.h"
#include "providers/vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define ST_OK   KVZ_CHECK_OK
#define ST_WARN KVZ_CHECK_WARN
#define ST_FAIL KVZ_CHECK_FAIL

struct doctor {
    struct kvz_checks *out;
    bool oom;
};

static void report(struct doctor *d, enum kvz_check_status st, bool blocks, const char *check,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

bool kvz_checks_vadd(struct kvz_checks *c, enum kvz_check_status st, const char *name,
                     const char *fmt, va_list ap)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_vprintf(&b, fmt, ap);
    char *msg = kvz_buf_detach(&b);
    struct kvz_check *v = msg ? realloc(c->v, (c->n + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(msg);
        return false;
    }
    c->v = v;
    v[c->n++] = (struct kvz_check){.status = st, .name = name, .msg = msg};
    if (st == KVZ_CHECK_FAIL)
        c->blocked = true;
    return true;
}

bool kvz_checks_add(struct kvz_checks *c, enum kvz_check_status st, const char *name,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = kvz_checks_vadd(c, st, name, fmt, ap);
    va_end(ap);
    return ok;
}

static void report(struct doctor *d, enum kvz_check_status st, bool blocks, const char *check,
                   const char *fmt, ...)
{
    /* A problem that the manifests do not need is only a warning. */
    if (st == ST_FAIL && !blocks)
        st = ST_WARN;
    va_list ap;
    va_start(ap, fmt);
    if (!kvz_checks_vadd(d->out, st, check, fmt, ap))
        d->oom = true;
    va_end(ap);
}

/* What the manifests need of the host; everything when there are none. */
struct needs {
    bool containers, vms, uefi, tpm, secure_boot;
    bool dnsmasq, nat, forward; /* networks of the manifests: DHCP/DNS, masquerade, routing */
    const char **networks;      /* libvirt network names */
    size_t n_networks;
    const char **bridges;
    size_t n_bridges;
};

static void add_unique(const char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], s))
            return;
    const char **grown = realloc(*v, (*n + 1) * sizeof(**v));
    if (!grown)
        return;
    *v = grown;
    (*v)[(*n)++] = s;
}

static void needs_of(struct needs *n, const struct kvz_manifest *m)
{
    memset(n, 0, sizeof(*n));
    if (!m) {
        n->containers = n->vms = n->dnsmasq = n->nat = n->forward = true;
        add_unique(&n->networks, &n->n_networks, "default");
        return;
    }
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (r->kind == KVZ_KIND_NETWORK) {
            enum kvz_net_mode mode = r->netspec.mode;
            n->dnsmasq |= mode != KVZ_NET_MODE_BRIDGE;
            n->nat |= mode == KVZ_NET_MODE_NAT;
            n->forward |= mode == KVZ_NET_MODE_NAT || mode == KVZ_NET_MODE_ROUTED;
            if (mode == KVZ_NET_MODE_BRIDGE && r->netspec.bridge)
                add_unique(&n->bridges, &n->n_bridges, r->netspec.bridge);
            continue;
        }
        const struct kvz_resource *own = r->network.type == KVZ_NET_NETWORK && r->network.name
                                             ? kvz_manifest_resource(m, r->network.name)
                                             : NULL;
        if (r->kind == KVZ_KIND_VM) {
            n->vms = true;
            n->uefi |= r->firmware == KVZ_FW_UEFI;
            n->tpm |= r->tpm;
            n->secure_boot |= r->secure_boot;
        } else {
            n->containers = true;
        }
        /* a network of the manifests is kvz's to make: what it needs is checked below */
        if (r->network.type == KVZ_NET_NETWORK && r->network.name &&
            !(own && own->kind == KVZ_KIND_NETWORK))
            add_unique(&n->networks, &n->n_networks, r->network.name);
        else if (r->network.type == KVZ_NET_BRIDGE && r->network.name)
            add_unique(&n->bridges, &n->n_bridges, r->network.name);
    }
}

static virConnectPtr check_libvirt(struct doctor *d, const char *uri, bool needed)
{
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        const char *msg = virGetLastErrorMessage();
        report(d, ST_FAIL, needed, "libvirt", "'%s' unreachable (%s); start libvirtd", uri,
               msg ? msg : "unknown error");
        return NULL;
    }
    unsigned long ver = 0;
    virConnectGetLibVersion(conn, &ver);
    report(d, ST_OK, needed, "libvirt", "'%s' reachable (libvirt %lu.%lu.%lu)", uri, ver / 1000000,
           ver / 1000 % 1000, ver % 1000);
    return conn;
}

static void check_kvm(struct doctor *d, const char *uri, virConnectPtr conn)
{
    const char *why = NULL;
    if (kvz_vm_kvm_usable(&why, uri, conn)) {
        report(d, ST_OK, false, "kvm", "hardware virtualization available to VMs");
        return;
    }
    report(
        d, ST_WARN, false, "kvm",
        "%s: VMs run under TCG emulation, much slower; on a host with VT-x/AMD-V load kvm_intel or kvm_amd",
        why);
}

/* libvirt runs qemu as its own user; a /dev/kvm that user cannot open makes libvirt
 * probe qemu again on every call (seconds each). */
static void check_kvm_device(struct doctor *d)
{
    struct stat st;
    if (stat("/dev/kvm", &st) < 0)
        return;
    if ((st.st_mode & 0006) == 0006 || ((st.st_mode & 0060) == 0060 && st.st_gid != 0)) {
        report(d, ST_OK, false, "kvm device", "/dev/kvm is open to libvirt's qemu user");
        return;
    }
    report(
        d, ST_WARN, false, "kvm device",
        "/dev/kvm is mode %04o owned by gid %u: libvirt's qemu user cannot open it and libvirt re-probes qemu on every call (VM operations take seconds to minutes); set it up as Debian's udev rule would: 'chgrp kvm /dev/kvm && chmod 0660 /dev/kvm' (scripts/bootstrap does it)",
        (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void check_cgroups(struct doctor *d, bool needed)
{
    char buf[512] = "";
    FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "r");
    bool mem, cpu;
    const char *mode;
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
        mem = has_word(buf, "memory");
        cpu = has_word(buf, "cpu");
        mode = "cgroup v2";
    } else {
        mem = access("/sys/fs/cgroup/memory", F_OK) == 0;
        cpu = access("/sys/fs/cgroup/cpu", F_OK) == 0;
        mode = "cgroup v1";
    }
    if (mem && cpu)
        report(d, ST_OK, needed, "cgroups", "memory and cpu controllers available (%s)", mode);
    else
        report(
            d, ST_FAIL, needed, "cgroups",
            "%s%s%s controller missing (%s): containers cannot get memory/CPU limits; enable it (systemd.unified_cgroup_hierarchy, cgroup_enable=memory)",
            mem ? "" : "memory", !mem && !cpu ? " and " : "", cpu ? "" : "cpu", mode);
}

static void check_state_dir(struct doctor *d, const char *dir)
{
    struct kvz_buf probe = KVZ_BUF_INIT;
    kvz_buf_printf(&probe, "%s/.doctor.%ld", dir, (long)getpid());
    struct kvz_error *e = NULL;
    if (kvz_mkdir_p(dir, 0755, &e) < 0) {
        report(d, ST_FAIL, true, "state dir", "cannot create '%s': %s; pick another --state-dir",
               dir, strerror(kvz_error_code(e)));
        kvz_error_free(e);
        goto cleanup;
    }
    int fd = open(kvz_buf_cstr(&probe), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        report(d, ST_FAIL, true, "state dir", "'%s' is not writable: %s; pick another --state-dir",
               dir, strerror(errno));
        goto cleanup;
    }
    close(fd);
    unlink(kvz_buf_cstr(&probe));
    struct stat st;
    if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
        report(
            d, ST_WARN, false, "state dir",
            "'%s' is writable but mode %04o: libvirt's qemu user cannot reach VM disks below it; chmod o+x it",
            dir, (unsigned)(st.st_mode & 07777));
    else
        report(d, ST_OK, true, "state dir", "'%s' writable", dir);
cleanup:
    kvz_buf_release(&probe);
}

static void check_ovmf(struct doctor *d, bool needed, bool secure_boot)
{
    if (access(KVZ_VM_OVMF_CODE, R_OK) == 0 && access(KVZ_VM_OVMF_VARS, R_OK) == 0)
        report(d, ST_OK, needed, "ovmf", "UEFI firmware at %s", KVZ_VM_OVMF_CODE);
    else
        report(d, ST_FAIL, needed, "ovmf",
               "%s missing: VMs with firmware: uefi cannot start; apt-get install ovmf",
               KVZ_VM_OVMF_CODE);
    if (access(KVZ_VM_OVMF_SB_CODE, R_OK) == 0 && access(KVZ_VM_OVMF_SB_VARS, R_OK) == 0)
        report(d, ST_OK, secure_boot, "secure boot",
               "OVMF's secure-boot build with Microsoft keys at %s", KVZ_VM_OVMF_SB_CODE);
    else
        report(
            d, ST_WARN, secure_boot, "secure boot",
            "%s or %s missing: VMs with secure_boot (windows with uefi by default) start without it; apt-get install ovmf",
            KVZ_VM_OVMF_SB_CODE, KVZ_VM_OVMF_SB_VARS);
}

/* libvirt's TPM emulator is swtpm; swtpm_setup (swtpm-tools) makes its state. */
static void check_swtpm(struct doctor *d, virConnectPtr conn, const char *uri, bool needed)
{
    if (conn) {
        struct kvz_host h = {.uri = uri, .conn = conn};
        struct kvz_vm_caps caps;
        if (kvz_vm_host_caps(&caps, &h, NULL) == 0 && caps.tpm_emulator) {
            report(d, ST_OK, needed, "tpm", "libvirt offers a TPM 2.0 emulator (swtpm)");
            return;
        }
    }
    report(
        d, ST_WARN, needed, "tpm",
        "libvirt offers no swtpm TPM emulator%s: VMs with tpm (windows with uefi by default) start without a TPM, and Windows 11 refuses to install; apt-get install swtpm swtpm-tools",
        conn ? "" : " (libvirt unreachable)");
}

static void check_network(struct doctor *d, virConnectPtr conn, const char *name)
{
    virNetworkPtr net = virNetworkLookupByName(conn, name);
    if (!net) {
        report(
            d, ST_FAIL, true, "network",
            "'%s' is not defined; define it (virsh net-define) or change network: in the manifest",
            name);
        return;
    }
    if (virNetworkIsActive(net) == 1)
        report(d, ST_OK, true, "network", "'%s' defined and active", name);
    else
        report(d, ST_FAIL, true, "network",
               "'%s' is defined but not active; run 'virsh net-start %s' (and net-autostart)", name,
               name);
    virNetworkFree(net);
}

static void check_bridge(struct doctor *d, const char *name)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "/sys/class/net/%s/bridge", name);
    if (access(kvz_buf_cstr(&p), F_OK) == 0)
        report(d, ST_OK, true, "bridge", "'%s' exists", name);
    else
        report(
            d, ST_FAIL, true, "bridge",
            "'%s' is not a bridge on this host; create it (ip link add %s type bridge) or change network: in the manifest",
            name, name);
    kvz_buf_release(&p);
}

/* The first of `paths` that exists, or NULL. */
static const char *found(const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static void check_dnsmasq(struct doctor *d, bool needed)
{
    static const char *const paths[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"};
    const char *p = found(paths, 3);
    if (p)
        report(d, ST_OK, needed, "dnsmasq", "%s: libvirt runs one per network for its DHCP and DNS",
               p);
    else
        report(
            d, ST_FAIL, needed, "dnsmasq",
            "dnsmasq missing: libvirt cannot start nat, isolated or routed networks (their DHCP and DNS); apt-get install dnsmasq-base");
}

static void check_bridge_module(struct doctor *d, bool needed)
{
    struct utsname u;
    struct kvz_buf mod = KVZ_BUF_INIT;
    if (access("/sys/module/bridge", F_OK) == 0) {
        report(d, ST_OK, needed, "bridge module", "loaded (libvirt's networks are Linux bridges)");
        return;
    }
    if (uname(&u) == 0)
        kvz_buf_printf(&mod, "/lib/modules/%s/kernel/net/bridge", u.release);
    if (mod.len && access(kvz_buf_cstr(&mod), F_OK) == 0)
        report(d, ST_WARN, needed, "bridge module",
               "not loaded yet: libvirt loads it with the first bridge; or run 'modprobe bridge'");
    else
        report(
            d, ST_FAIL, needed, "bridge module",
            "the kernel has no bridge support (no /sys/module/bridge, no bridge module): networks cannot be made; use a kernel with CONFIG_BRIDGE");
    kvz_buf_release(&mod);
}

static void check_firewall(struct doctor *d, bool needed)
{
    static const char *const paths[] = {"/usr/sbin/iptables", "/sbin/iptables",
                                        "/usr/bin/iptables"};
    const char *p = found(paths, 3);
    if (!p) {
        report(
            d, ST_FAIL, needed, "nat",
            "iptables missing: libvirt cannot add the masquerade rules of nat networks; apt-get install iptables");
        return;
    }
    /* libvirt 9.0 runs iptables; on Debian 12 that is iptables-nft, which writes nftables */
    char *real = realpath(p, NULL);
    const char *backend = real && strstr(real, "nft")      ? " (the nftables backend)"
                          : real && strstr(real, "legacy") ? " (the legacy xtables backend)"
                                                           : "";
    report(d, ST_OK, needed, "nat",
           "%s%s: libvirt adds the masquerade rules of nat networks with it", p, backend);
    free(real);
}

static void check_forwarding(struct doctor *d, bool needed)
{
    char buf[8] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
    }
    if (buf[0] == '1')
        report(d, ST_OK, needed, "ip forwarding", "net.ipv4.ip_forward is on");
    else
        report(
            d, ST_WARN, needed, "ip forwarding",
            "net.ipv4.ip_forward is %s: libvirt turns it on when it starts a nat or routed network; if something turns it off again, set net.ipv4.ip_forward=1 in /etc/sysctl.d/",
            f ? "off" : "unreadable");
}

/* What networks of the manifests need of the host kvz runs on (libvirt's network driver uses
 * the local kernel and tools); a remote host is not looked at. */
static void check_networking(struct doctor *d, const struct needs *n, const char *uri, bool all)
{
    if (!n->dnsmasq && !n->nat && !n->forward)
        return;
    if (!kvz_uri_is_local(uri)) {
        report(d, ST_WARN, false, "networking",
               "not checked: '%s' is another host; run kvz doctor there", uri);
        return;
    }
    check_bridge_module(d, all || n->dnsmasq);
    if (n->dnsmasq)
        check_dnsmasq(d, true);
    if (n->nat)
        check_firewall(d, true);
    if (n->forward)
        check_forwarding(d, true);
}

/* How containers without disk: keep their rootfs here (providers/layers.h). */
static void check_layers(struct doctor *d, const char *uri, const char *state_dir, bool needed)
{
    enum kvz_layers l;
    const char *why = NULL, *hook;
    struct kvz_error *e = NULL;
    if (kvz_layers_choose(&l, &why, uri, state_dir, &e) < 0) {
        report(d, ST_FAIL, needed, "layers", "%s", kvz_error_msg(e));
        kvz_error_free(e);
    } else if (l == KVZ_LAYERS_OVERLAY) {
        bool have = kvz_layers_hook_installed(&hook);
        report(
            d, ST_OK, false, "layers",
            "overlay: containers share their template's tree, each with its own layer; libvirt hook '%s' %s",
            hook, have ? "installed" : "installed by the first apply (which reloads libvirtd)");
    } else {
        report(d, ST_WARN, false, "layers", "%s: each container gets a private tree (%s)",
               kvz_layers_str(l), why);
    }
}

static void silent(void *ctx, virErrorPtr e)
{
}

int kvz_doctor_run(struct kvz_checks *out, const struct kvz_doctor_input *in,
                   struct kvz_error **err)
{
    const struct kvz_manifest *m = in->m;
    struct needs needs = {0};
    struct doctor d = {.out = out};
    virConnectPtr lxc = NULL, qemu = NULL;

    memset(out, 0, sizeof(*out));
    needs_of(&needs, m);
    /* libvirt would print its errors to stderr; the library never prints. */
    virSetErrorFunc(NULL, silent);
    const char *lxc_uri = in->uri[KVZ_KIND_CONTAINER] ? in->uri[KVZ_KIND_CONTAINER]
                                                      : kvz_manifest_uri(m, KVZ_KIND_CONTAINER);
    const char *qemu_uri =
        in->uri[KVZ_KIND_VM] ? in->uri[KVZ_KIND_VM] : kvz_manifest_uri(m, KVZ_KIND_VM);
    lxc = check_libvirt(&d, lxc_uri, needs.containers);
    qemu = check_libvirt(&d, qemu_uri, needs.vms);
    check_kvm(&d, qemu_uri, qemu);
    if (kvz_uri_is_local(qemu_uri))
        check_kvm_device(&d); /* a local device: says nothing of a remote host */
    check_cgroups(&d, needs.containers);
    check_state_dir(&d, in->state_dir);
    check_layers(&d, lxc_uri, in->state_dir, needs.containers);
    check_ovmf(&d, needs.uefi || !m, needs.secure_boot);
    check_swtpm(&d, qemu, qemu_uri, needs.tpm);
    check_networking(&d, &needs, qemu_uri, !m);
    virConnectPtr net_conn = qemu ? qemu : lxc;
    for (size_t i = 0; i < needs.n_networks; i++) {
        if (net_conn)
            check_network(&d, net_conn, needs.networks[i]);
        else
            report(&d, ST_FAIL, true, "network", "'%s' not checked: libvirt is unreachable",
                   needs.networks[i]);
    }
    for (size_t i = 0; i < needs.n_bridges; i++)
        check_bridge(&d, needs.bridges[i]);
    if (lxc)
        virConnectClose(lxc);
    if (qemu)
        virConnectClose(qemu);
    free(needs.networks);
    free(needs.bridges);
    if (d.oom) {
        kvz_checks_release(out);
        return kvz_error_set(err, "doctor: out of memory");
    }
    return 0;
}

void kvz_checks_release(struct kvz_checks *c)
{
    for (size_t i = 0; c && i < c->n; i++)
        free(c->v[i].msg);
    if (c) {
        free(c->v);
        memset(c, 0, sizeof(*c));
    }
}
