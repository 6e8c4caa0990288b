/*
 * kvz doctor: can this host run the manifests? One line per check: ok, or the
 * problem and what to do. Exit 1 when a problem blocks the manifests given
 * (without manifests: any problem).
 */
#include "cmd/cli.h"

#include "base/buf.h"
#include "parser/manifest.h"
#include "providers/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/banned.h"

enum status { ST_OK, ST_WARN, ST_FAIL };

struct doctor {
    struct kvz_cli *cli;
    bool blocked;
};

static void report(struct doctor *d, enum status st, bool blocks, const char *check,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct doctor *d, enum status st, bool blocks, const char *check,
                   const char *fmt, ...)
{
    static const char *const label[] = {"ok", "warn", "FAIL"};
    static const char *const color[] = {KVZ_GREEN, KVZ_YELLOW, KVZ_RED};
    /* A problem that the manifests do not need is only a warning. */
    if (st == ST_FAIL && !blocks)
        st = ST_WARN;
    if (st == ST_FAIL)
        d->blocked = true;
    printf("%s%-4s%s %s: ", kvz_color(d->cli->color, color[st]), label[st],
           kvz_color(d->cli->color, KVZ_RESET), check);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void quiet(void *ctx, virErrorPtr e)
{
}

/* What the manifests need of the host; everything when there are none. */
struct needs {
    bool containers, vms, uefi;
    const char **networks; /* libvirt network names */
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
        n->containers = n->vms = true;
        add_unique(&n->networks, &n->n_networks, "default");
        return;
    }
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (r->kind == KVZ_KIND_VM) {
            n->vms = true;
            n->uefi |= r->firmware == KVZ_FW_UEFI;
        } else {
            n->containers = true;
        }
        if (r->network.type == KVZ_NET_NETWORK && r->network.name)
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
    report(d, ST_WARN, false, "kvm",
           "%s: VMs run under TCG emulation, much slower; on a host with VT-x/AMD-V load "
           "kvm_intel or kvm_amd",
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
    report(d, ST_WARN, false, "kvm device",
           "/dev/kvm is mode %04o owned by gid %u: libvirt's qemu user cannot open it and "
           "libvirt re-probes qemu on every call; run 'chgrp kvm /dev/kvm && chmod 660 /dev/kvm'",
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
        report(d, ST_FAIL, needed, "cgroups",
               "%s%s%s controller missing (%s): containers cannot get memory/CPU limits; "
               "enable it (systemd.unified_cgroup_hierarchy, cgroup_enable=memory)",
               mem ? "" : "memory", !mem && !cpu ? " and " : "", cpu ? "" : "cpu", mode);
}

static void check_state_dir(struct doctor *d, const char *dir)
{
    struct kvz_buf probe = KVZ_BUF_INIT;
    kvz_buf_printf(&probe, "%s/.doctor.%ld", dir, (long)getpid());
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        report(d, ST_FAIL, true, "state dir", "cannot create '%s': %s; pick another --state-dir",
               dir, strerror(errno));
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
        report(d, ST_WARN, false, "state dir",
               "'%s' is writable but mode %04o: libvirt's qemu user cannot reach VM disks "
               "below it; chmod o+x it",
               dir, (unsigned)(st.st_mode & 07777));
    else
        report(d, ST_OK, true, "state dir", "'%s' writable", dir);
cleanup:
    kvz_buf_release(&probe);
}

static void check_ovmf(struct doctor *d, bool needed)
{
    if (access(KVZ_VM_OVMF_CODE, R_OK) == 0 && access(KVZ_VM_OVMF_VARS, R_OK) == 0)
        report(d, ST_OK, needed, "ovmf", "UEFI firmware at %s", KVZ_VM_OVMF_CODE);
    else
        report(d, ST_FAIL, needed, "ovmf",
               "%s missing: VMs with firmware: uefi cannot start; apt-get install ovmf",
               KVZ_VM_OVMF_CODE);
}

static void check_network(struct doctor *d, virConnectPtr conn, const char *name)
{
    virNetworkPtr net = virNetworkLookupByName(conn, name);
    if (!net) {
        report(d, ST_FAIL, true, "network",
               "'%s' is not defined; define it (virsh net-define) or change network: in the "
               "manifest",
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
        report(d, ST_FAIL, true, "bridge",
               "'%s' is not a bridge on this host; create it (ip link add %s type bridge) or "
               "change network: in the manifest",
               name, name);
    kvz_buf_release(&p);
}

int cmd_doctor(struct kvz_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0};
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    struct needs needs = {0};
    struct doctor d = {.cli = cli};
    virConnectPtr lxc = NULL, qemu = NULL;
    int rc = KVZ_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
        if (c == 'f' && kvz_paths_add(&paths, optarg) == 0)
            continue;
        if (c == 'f')
            kvz_out_error(cli, "out of memory");
        else if (optopt == 'f')
            kvz_out_error(cli, "option '-f' needs a path; run 'kvz help doctor'");
        else
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help doctor'", argv[optind - 1]);
        goto cleanup;
    }
    if (optind < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; give manifests with -f PATH", argv[optind]);
        goto cleanup;
    }
    /* Without -f, ./kvz.yaml when there is one; else check for everything kvz can do. */
    if (paths.n || access("kvz.yaml", F_OK) == 0) {
        int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
        kvz_out_diags(cli, &diags);
        if (loaded < 0)
            goto cleanup;
    }
    needs_of(&needs, m);
    virSetErrorFunc(NULL, quiet);

    const char *lxc_uri = cli->containers_uri ? cli->containers_uri
                          : m                 ? m->containers_uri
                                              : "lxc:///system";
    const char *qemu_uri = cli->vms_uri ? cli->vms_uri : m ? m->vms_uri : "qemu:///system";
    lxc = check_libvirt(&d, lxc_uri, needs.containers);
    qemu = check_libvirt(&d, qemu_uri, needs.vms);
    check_kvm(&d, qemu_uri, qemu);
    if (!strncmp(qemu_uri, "qemu:///", 8))
        check_kvm_device(&d); /* a local device: says nothing of a remote host */
    check_cgroups(&d, needs.containers);
    check_state_dir(&d, cli->state_dir);
    check_ovmf(&d, needs.uefi || !m);
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
    rc = d.blocked ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
cleanup:
    if (lxc)
        virConnectClose(lxc);
    if (qemu)
        virConnectClose(qemu);
    free(needs.networks);
    free(needs.bridges);
    kvz_manifest_free(m);
    kvz_diags_release(&diags);
    kvz_paths_release(&paths);
    return rc;
}
