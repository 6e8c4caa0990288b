/* What the host offers VMs: whether KVM can run stock guests there. */
#include "providers/vm/vm.h"

#include <libvirt/libvirt.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

bool kvz_vm_kvm_usable(const char **why, const char *uri, struct _virConnect *conn)
{
    struct stat st;
    *why = NULL;
    if (!uri || kvz_uri_is_local(uri)) {
        if (stat("/dev/kvm", &st) < 0) {
            *why = "/dev/kvm is missing (no hardware virtualization or kvm module not loaded)";
            return false;
        }
        if (access("/sys/module/kvm_pvm", F_OK) == 0) {
            *why = "/dev/kvm belongs to kvm_pvm, which cannot run stock guest kernels";
            return false;
        }
        return true;
    }
    if (!conn)
        return true;
    char *caps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", "q35", "kvm", 0);
    if (!caps) {
        *why = "the remote host offers no kvm domain type";
        return false;
    }
    free(caps);
    return true;
}
