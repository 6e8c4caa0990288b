/*
 * kvz doctor --host NAME: what a host of hosts: offers, seen through libvirt only (docs/hosts.md):
 * reachable, libvirt's version and drivers, KVM there, the space of kvz's pool there.
 */
#include "providers/doctor_host.h"

#include "base/buf.h"
#include "providers/volume.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void version_str(char out[32], unsigned long v)
{
    snprintf(out, 32, "%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static void silent(void *ctx, virErrorPtr e)
{
}

static void check_kvm(struct kvz_checks *c, virConnectPtr conn)
{
    char *caps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", NULL, "kvm", 0);
    if (caps) {
        kvz_checks_add(
            c, KVZ_CHECK_OK, "kvm",
            "libvirt offers KVM there (whether it is kvm_pvm, which cannot run stock guests, cannot be seen through libvirt: run kvz doctor on the host to check)");
        free(caps);
        return;
    }
    kvz_checks_add(
        c, KVZ_CHECK_WARN, "kvm",
        "no KVM there: vms run under TCG emulation, many times slower; enable virtualization on that host for production vms");
}

static void check_pool(struct kvz_checks *c, virConnectPtr conn, const char *state_dir)
{
    char name[32];
    kvz_pool_name(name, state_dir);
    virStoragePoolPtr pool = virStoragePoolLookupByName(conn, name);
    virStoragePoolInfo info;
    if (!pool) {
        kvz_checks_add(c, KVZ_CHECK_OK, "pool",
                       "no kvz pool '%s' yet: the first apply makes it in " KVZ_REMOTE_POOL_ROOT
                       "/%s",
                       name, name);
        return;
    }
    if (virStoragePoolGetInfo(pool, &info) < 0) {
        kvz_checks_add(c, KVZ_CHECK_FAIL, "pool",
                       "pool '%s': %s; check libvirt's storage driver there", name,
                       virGetLastErrorMessage());
    } else if (info.state != VIR_STORAGE_POOL_RUNNING) {
        kvz_checks_add(c, KVZ_CHECK_WARN, "pool",
                       "pool '%s' is not active; the next apply starts it", name);
    } else {
        unsigned long long gib = info.available >> 30;
        kvz_checks_add(c, gib < 2 ? KVZ_CHECK_WARN : KVZ_CHECK_OK, "pool",
                       "pool '%s': %llu GiB free of %llu GiB%s", name, gib, info.capacity >> 30,
                       gib < 2 ? "; free space there before making guests" : "");
    }
    virStoragePoolFree(pool);
}

int kvz_doctor_host(struct kvz_checks *out, const struct kvz_host_def *def, const char *state_dir,
                    struct kvz_error **err)
{
    static const char *const key[] = {"containers", "vms"};
    virConnectPtr any = NULL;
    memset(out, 0, sizeof(*out));
    virSetErrorFunc(NULL, silent);
    for (int k = 0; k < 2; k++) {
        const char *uri = def->uri[k];
        if (!uri)
            continue;
        virConnectPtr conn = virConnectOpen(uri);
        if (!conn) {
            kvz_checks_add(
                out, KVZ_CHECK_FAIL, "reachable",
                "%s '%s': %s; check that the host is reachable (ssh keys, known_hosts) and runs libvirtd",
                key[k], uri, virGetLastErrorMessage());
            continue;
        }
        unsigned long lib = 0, hv = 0;
        char lv[32] = "?", hvs[32] = "?";
        const char *type = virConnectGetType(conn);
        if (virConnectGetLibVersion(conn, &lib) == 0)
            version_str(lv, lib);
        if (virConnectGetVersion(conn, &hv) == 0 && hv)
            version_str(hvs, hv);
        kvz_checks_add(out, KVZ_CHECK_OK, "libvirt", "%s '%s': libvirt %s, driver %s %s", key[k],
                       uri, lv, type ? type : "?", hvs);
        if (k == KVZ_KIND_VM)
            check_kvm(out, conn);
        if (any)
            virConnectClose(conn);
        else
            any = conn;
    }
    if (any) {
        check_pool(out, any, state_dir);
        virConnectClose(any);
    }
    return 0;
}
