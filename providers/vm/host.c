/*
 * What the host offers VMs: whether KVM can run stock guests there, and what libvirt's domain
 * capabilities report for the accelerator kvz uses (CPU modes, Hyper-V enlightenments, TPM
 * backends, firmware), from which a guest's profile is chosen.
 */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "providers/domain.h"

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define X(s) ((const xmlChar *)(s))

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

/* The Hyper-V enlightenments a Windows guest gets when the accelerator offers them, in
 * libvirt's names (enum kvz_vm_hyperv bit order). */
static const char *const hyperv_names[] = {"relaxed", "vapic", "spinlocks",
                                           "vpindex", "synic", "stimer"};

const char *kvz_vm_hyperv_name(unsigned bit)
{
    return bit < sizeof(hyperv_names) / sizeof(hyperv_names[0]) ? hyperv_names[bit] : NULL;
}

int kvz_vm_caps_parse(struct kvz_vm_caps *out, const char *xml, struct kvz_error **err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domcaps.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    if (!ctx) {
        xmlFreeDoc(doc);
        return kvz_error_set(err, "domain capabilities: not well-formed XML");
    }
    out->kvm = kvz_vm_xpath_bool(ctx, "string(/domainCapabilities/domain) = 'kvm'");
    out->host_passthrough =
        kvz_vm_xpath_bool(ctx, "boolean(/domainCapabilities/cpu/mode[@name='host-passthrough' and "
                               "@supported='yes'])");
    out->maximum = kvz_vm_xpath_bool(
        ctx, "boolean(/domainCapabilities/cpu/mode[@name='maximum' and @supported='yes'])");
    for (unsigned i = 0; i < sizeof(hyperv_names) / sizeof(hyperv_names[0]); i++) {
        char expr[192];
        snprintf(expr, sizeof(expr),
                 "boolean(/domainCapabilities/features/hyperv[@supported='yes']/"
                 "enum[@name='features']/value[. = '%s'])",
                 hyperv_names[i]);
        if (kvz_vm_xpath_bool(ctx, expr))
            out->hyperv |= 1u << i;
    }
    out->tpm_emulator =
        kvz_vm_xpath_bool(ctx, "boolean(/domainCapabilities/devices/tpm[@supported='yes']"
                               "/enum[@name='backendModel']/value[. = 'emulator'])");
    out->tpm_crb =
        kvz_vm_xpath_bool(ctx, "boolean(/domainCapabilities/devices/tpm[@supported='yes']"
                               "/enum[@name='model']/value[. = 'tpm-crb'])");
    out->secure_boot =
        kvz_vm_xpath_bool(ctx, "boolean(/domainCapabilities/os/loader[@supported='yes']/"
                               "value[. = '" KVZ_VM_OVMF_SB_CODE "'])") &&
        kvz_vm_xpath_bool(ctx, "boolean(/domainCapabilities/os/loader/enum[@name='secure']/"
                               "value[. = 'yes'])");
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

int kvz_vm_host_caps(struct kvz_vm_caps *out, struct kvz_host *h, struct kvz_error **err)
{
    const char *why = NULL;
    bool kvm = kvz_vm_kvm_usable(&why, h->uri, h->conn);
    char *xml =
        virConnectGetDomainCapabilities(h->conn, NULL, "x86_64", "q35", kvm ? "kvm" : "qemu", 0);
    if (!xml)
        return kvz_error_set(err, "domain capabilities of '%s' (%s): %s", h->uri,
                             kvm ? "kvm" : "qemu", kvz_virt_msg());
    int rc = kvz_vm_caps_parse(out, xml, err);
    free(xml);
    out->kvm = kvm;
    return rc;
}

/* "a", "a and b", "a, b and c" */
static void list_add(struct kvz_buf *b, const char *item, size_t i, size_t n)
{
    if (i)
        kvz_buf_puts(b, i + 1 == n ? " and " : ", ");
    kvz_buf_puts(b, item);
}

void kvz_vm_profile_choose(struct kvz_vm_profile *out, struct kvz_buf *left_out,
                           const struct kvz_resource *want, const struct kvz_vm_caps *caps)
{
    bool win = want->os == KVZ_OS_WINDOWS;
    const char *accel = caps->kvm ? "kvm" : "qemu (TCG)";
    memset(out, 0, sizeof(*out));
    if (caps->kvm && caps->host_passthrough)
        out->cpu_mode = "host-passthrough";
    else if (win && caps->maximum)
        out->cpu_mode = "maximum"; /* every feature TCG emulates: Windows 11 needs SSE4.2 */
    const char *missing[8];
    size_t n = 0;
    if (win) {
        for (unsigned i = 0; i < sizeof(hyperv_names) / sizeof(hyperv_names[0]); i++) {
            if (caps->hyperv & (1u << i))
                out->hyperv |= 1u << i;
            else
                missing[n++] = hyperv_names[i];
        }
        /* stimer needs synic, synic vpindex (QEMU refuses them alone) */
        if (!(out->hyperv & KVZ_VM_HV_VPINDEX))
            out->hyperv &= ~(KVZ_VM_HV_SYNIC | KVZ_VM_HV_STIMER);
        if (!(out->hyperv & KVZ_VM_HV_SYNIC))
            out->hyperv &= ~KVZ_VM_HV_STIMER;
        /* the Hyper-V clock is KVM's */
        out->hypervclock = caps->kvm && (out->hyperv & KVZ_VM_HV_STIMER);
        if (!out->hypervclock)
            missing[n++] = "the hypervclock timer";
    }
    out->tpm = want->tpm && caps->tpm_emulator;
    out->tpm_crb = caps->tpm_crb;
    out->secure_boot = want->secure_boot && want->firmware == KVZ_FW_UEFI && caps->secure_boot;
    if (!left_out)
        return;
    if (n) {
        kvz_buf_puts(left_out, "Hyper-V enlightenments ");
        for (size_t i = 0; i < n; i++)
            list_add(left_out, missing[i], i, n);
        kvz_buf_printf(left_out, " left out: the %s accelerator here does not offer %s", accel,
                       n == 1 ? "it" : "them");
    }
    if (want->tpm && !out->tpm)
        kvz_buf_printf(
            left_out,
            "%sTPM left out: libvirt offers no swtpm emulator here; install swtpm and swtpm-tools (apt-get install swtpm swtpm-tools)",
            left_out->len ? "; " : "");
    if (want->secure_boot && !out->secure_boot)
        kvz_buf_printf(
            left_out,
            "%sSecure Boot left out: libvirt lists no %s with secure boot here; install ovmf (apt-get install ovmf)",
            left_out->len ? "; " : "", KVZ_VM_OVMF_SB_CODE);
}
