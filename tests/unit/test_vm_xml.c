#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "base/buf.h"
#include "providers/domain.h"
#include "providers/vm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Domain XML golden files: tests/data/vm/<case>.xml; KVZ_REGEN=1 rewrites them. */

static const char metadata[] =
    "<kvz:resource xmlns:kvz=\"https://kvz.dev/xmlns/domain/1\"><kvz:stack>web</kvz:stack>"
    "<kvz:kind>vm</kvz:kind></kvz:resource>";

static void check_golden(const char *name, const char *got)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof(rel), "vm/%s.xml", name);
    kvz_test_data_path(path, sizeof(path), rel);
    kvz_test_golden(path, got);
}

static struct kvz_network net_default = {KVZ_NET_NETWORK, "default"};

static struct kvz_vm_domain_spec linux_spec(void)
{
    struct kvz_vm_domain_spec s = {
        .name = "db1",
        .uuid = "6f1c1b4e-0d7e-5a3c-9d1e-2b7c3c1a9f00",
        .mac = "52:54:00:12:34:56",
        .kvm = false,
        .os = KVZ_OS_LINUX,
        .firmware = KVZ_FW_BIOS,
        .memory = 2ull << 30,
        .max_memory = 8ull << 30,
        .cpus = 2,
        .max_cpus = 4,
        .disk_path = "/var/lib/kvz/pool/db1.qcow2",
        .seed_path = "/var/lib/kvz/pool/db1-seed.iso",
        .network = &net_default,
        .metadata_xml = metadata,
    };
    return s;
}

static void test_linux(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    check_golden("linux", xml);
    /* what a user checks in `virsh dumpxml` */
    assert_non_null(strstr(xml, "<domain type=\"qemu\">"));
    assert_non_null(strstr(xml, "<memory unit=\"KiB\">8388608</memory>"));
    assert_non_null(strstr(xml, "<currentMemory unit=\"KiB\">2097152</currentMemory>"));
    assert_non_null(strstr(xml, "current=\"2\">4</vcpu>"));
    assert_non_null(strstr(xml, "org.qemu.guest_agent.0"));
    assert_non_null(strstr(xml, "model=\"virtio-scsi\""));
    assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"scsi\"/>"));
    assert_null(strstr(xml, "sata"));

    struct kvz_vm_domain_info info;
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_int_equal(info.memory, 2ull << 30);
    assert_int_equal(info.max_memory, 8ull << 30);
    assert_int_equal(info.cpus, 2);
    assert_int_equal(info.max_cpus, 4);
    assert_string_equal(info.disk_path, s.disk_path);
    assert_string_equal(info.disk_target, "vda");
    assert_string_equal(info.seed_path, s.seed_path);
    assert_int_equal(info.network.type, KVZ_NET_NETWORK);
    assert_string_equal(info.network.name, "default");
    assert_string_equal(info.mac, s.mac);
    kvz_vm_domain_info_release(&info);
    free(xml);
}

static void test_windows(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    struct kvz_network br = {KVZ_NET_BRIDGE, "br0"};
    s.name = "win1";
    s.os = KVZ_OS_WINDOWS;
    s.kvm = true;
    s.seed_path = NULL;
    s.cdrom_path = "/var/lib/kvz/cache/iso/abc.iso";
    s.network = &br;
    /* what a KVM host offers: every enlightenment, the Hyper-V clock, host-passthrough */
    s.profile = (struct kvz_vm_profile){
        .cpu_mode = "host-passthrough", .hyperv = KVZ_VM_HV_ALL, .hypervclock = true};
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    check_golden("windows", xml);
    assert_non_null(strstr(xml, "<domain type=\"kvm\">"));
    assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"sata\"/>"));
    assert_non_null(strstr(xml, "<model type=\"e1000e\"/>"));
    assert_non_null(strstr(xml, "<hyperv mode=\"custom\">"));
    assert_non_null(strstr(xml, "offset=\"localtime\""));
    assert_null(strstr(xml, "virtio-scsi"));
    assert_null(strstr(xml, "seed"));

    struct kvz_vm_domain_info info;
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_int_equal(info.network.type, KVZ_NET_BRIDGE);
    assert_string_equal(info.network.name, "br0");
    assert_null(info.seed_path);
    kvz_vm_domain_info_release(&info);
    free(xml);
}

static void test_uefi(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    struct kvz_network none = {KVZ_NET_NONE, NULL};
    s.name = "efi1";
    s.firmware = KVZ_FW_UEFI;
    s.ovmf_code = KVZ_VM_OVMF_CODE;
    s.nvram_path = "/var/lib/kvz/pool/efi1-VARS.fd";
    s.nvram_template = KVZ_VM_OVMF_VARS;
    s.network = &none;
    s.max_memory = s.memory;
    s.max_cpus = s.cpus = 1;
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    check_golden("uefi", xml);
    assert_non_null(strstr(xml, KVZ_VM_OVMF_CODE));
    assert_null(strstr(xml, "<interface"));

    struct kvz_vm_domain_info info;
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_string_equal(info.nvram_path, s.nvram_path);
    assert_int_equal(info.network.type, KVZ_NET_NONE);
    kvz_vm_domain_info_release(&info);
    free(xml);
}

static char *read_data(const char *rel)
{
    char path[4096];
    kvz_test_data_path(path, sizeof(path), rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The domain capabilities of qemu (TCG) here: Hyper-V only spinlocks and vendor_id, swtpm,
 * OVMF's secure-boot build. A Windows 11 guest gets what they offer, and the plan's words
 * name what was left out. */
static void test_profile_from_tcg_caps(void **state)
{
    struct kvz_vm_caps caps;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_caps_parse(&caps, read_data("vm/domcaps-tcg.xml"), &err), 0);
    assert_false(caps.kvm);
    assert_false(caps.host_passthrough);
    assert_true(caps.maximum);
    assert_int_equal(caps.hyperv, KVZ_VM_HV_SPINLOCKS);
    assert_true(caps.tpm_emulator);
    assert_true(caps.tpm_crb);
    assert_true(caps.secure_boot);

    struct kvz_resource want = {.kind = KVZ_KIND_VM,
                                .name = "w11",
                                .os = KVZ_OS_WINDOWS,
                                .firmware = KVZ_FW_UEFI,
                                .tpm = true,
                                .secure_boot = true};
    struct kvz_vm_profile p;
    struct kvz_buf why = KVZ_BUF_INIT;
    kvz_vm_profile_choose(&p, &why, &want, &caps);
    assert_string_equal(p.cpu_mode, "maximum");
    assert_int_equal(p.hyperv, KVZ_VM_HV_SPINLOCKS);
    assert_false(p.hypervclock);
    assert_true(p.tpm);
    assert_true(p.secure_boot);
    assert_string_equal(
        kvz_buf_cstr(&why),
        "Hyper-V enlightenments relaxed, vapic, vpindex, synic, stimer and the hypervclock timer left out: the qemu (TCG) accelerator here does not offer them");
    kvz_buf_release(&why);

    /* no swtpm, no secure-boot firmware: both left out, and said so */
    caps.tpm_emulator = caps.secure_boot = false;
    kvz_vm_profile_choose(&p, &why, &want, &caps);
    assert_false(p.tpm);
    assert_false(p.secure_boot);
    assert_non_null(strstr(kvz_buf_cstr(&why), "TPM left out: libvirt offers no swtpm emulator"));
    assert_non_null(strstr(kvz_buf_cstr(&why), "Secure Boot left out"));
    kvz_buf_release(&why);

    /* a linux guest asks for nothing the host lacks */
    want.os = KVZ_OS_LINUX;
    want.tpm = want.secure_boot = false;
    kvz_vm_profile_choose(&p, &why, &want, &caps);
    assert_null(p.cpu_mode);
    assert_int_equal(why.len, 0);
    kvz_buf_release(&why);
}

/* Windows 11 under TCG: TPM 2.0 (swtpm), Secure Boot with Microsoft's keys and SMM, the
 * drivers and the answer file as cdroms kvz tells apart by alias. */
static void test_windows11_tcg(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    s.name = "w11";
    s.os = KVZ_OS_WINDOWS;
    s.firmware = KVZ_FW_UEFI;
    s.seed_path = NULL;
    s.cdrom_path = "/var/lib/kvz/cache/objects/aa/image.iso";
    s.drivers_path = "/var/lib/kvz/cache/objects/bb/image.iso";
    s.unattend_path = "/var/lib/kvz/pool/w11-unattend.iso";
    s.ovmf_code = KVZ_VM_OVMF_CODE;
    s.nvram_path = "/var/lib/kvz/pool/w11-VARS.fd";
    s.nvram_template = KVZ_VM_OVMF_VARS;
    s.profile = (struct kvz_vm_profile){.cpu_mode = "maximum",
                                        .hyperv = KVZ_VM_HV_SPINLOCKS,
                                        .tpm = true,
                                        .tpm_crb = true,
                                        .secure_boot = true};
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    check_golden("windows11-tcg", xml);
    assert_non_null(strstr(xml, "secure=\"yes\""));
    assert_non_null(strstr(xml, KVZ_VM_OVMF_SB_CODE));
    assert_non_null(strstr(xml, KVZ_VM_OVMF_SB_VARS));
    assert_non_null(strstr(xml, "<smm state=\"on\"/>"));
    assert_non_null(strstr(xml, "<backend type=\"emulator\" version=\"2.0\"/>"));
    assert_null(strstr(xml, "vpindex"));
    assert_null(strstr(xml, "hypervclock"));

    struct kvz_vm_domain_info info;
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_string_equal(info.cdrom_path, s.cdrom_path);
    assert_string_equal(info.drivers_path, s.drivers_path);
    assert_string_equal(info.unattend_path, s.unattend_path);
    assert_true(info.cdrom_drive);
    assert_true(info.drivers_drive);
    assert_true(info.tpm);
    assert_true(info.secure_boot);
    kvz_vm_domain_info_release(&info);
    free(xml);

    /* an ejected install medium leaves its drive, so the next one goes in live */
    s.cdrom_path = NULL;
    s.cdrom_drive = true;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_null(info.cdrom_path);
    assert_true(info.cdrom_drive);
    kvz_vm_domain_info_release(&info);
    free(xml);
}

static void test_escaping_and_bad_input(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    s.disk_path = "/tmp/a&b<c>'\".qcow2";
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), 0);
    struct kvz_vm_domain_info info;
    assert_int_equal(kvz_vm_domain_info_parse(&info, xml, &err), 0);
    assert_string_equal(info.disk_path, s.disk_path);
    kvz_vm_domain_info_release(&info);
    free(xml);

    s = linux_spec();
    s.cpus = 5; /* above max_cpus */
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), -1);
    assert_null(xml);
    assert_non_null(strstr(kvz_error_msg(err), "'db1'"));
    kvz_error_clear(&err);

    s = linux_spec();
    s.metadata_xml = "<kvz:resource";
    assert_int_equal(kvz_vm_domain_xml(&xml, &s, &err), -1);
    kvz_error_clear(&err);

    assert_int_equal(kvz_vm_domain_info_parse(&info, "<domain>", &err), -1);
    kvz_error_clear(&err);
}

static void test_interface_xml(void **state)
{
    struct kvz_vm_domain_spec s = linux_spec();
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_vm_interface_xml(&xml, &s, &err), 0);
    assert_string_equal(xml, "<interface type=\"network\">\n"
                             "  <mac address=\"52:54:00:12:34:56\"/>\n"
                             "  <source network=\"default\"/>\n"
                             "  <model type=\"virtio\"/>\n"
                             "</interface>\n");
    free(xml);
}

static void test_replace_metadata(void **state)
{
    const char *dom = "<domain type='qemu'><name>x</name><metadata>"
                      "<other:x xmlns:other='https://example.org/other'>keep</other:x>"
                      "<kvz:resource xmlns:kvz='https://kvz.dev/xmlns/domain/1'>"
                      "<kvz:stack>old</kvz:stack></kvz:resource></metadata></domain>";
    const char *md = "<kvz:resource xmlns:kvz=\"https://kvz.dev/xmlns/domain/1\">"
                     "<kvz:stack>new</kvz:stack></kvz:resource>";
    char *out = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_xml_replace_metadata(&out, dom, "domain", md, &err), 0);
    assert_non_null(strstr(out, ">keep</other:x>"));
    assert_non_null(strstr(out, "<kvz:stack>new</kvz:stack>"));
    assert_null(strstr(out, "old"));
    free(out);
    /* a domain without <metadata> gets one */
    assert_int_equal(
        kvz_xml_replace_metadata(&out, "<domain><name>y</name></domain>", "domain", md, &err), 0);
    assert_non_null(strstr(out, "<metadata>"));
    assert_non_null(strstr(out, "<kvz:stack>new</kvz:stack>"));
    free(out);
    assert_int_equal(kvz_xml_replace_metadata(&out, "<pool/>", "domain", md, &err), -1);
    kvz_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linux),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_uefi),
        cmocka_unit_test(test_escaping_and_bad_input),
        cmocka_unit_test(test_interface_xml),
        cmocka_unit_test(test_replace_metadata),
        cmocka_unit_test(test_profile_from_tcg_caps),
        cmocka_unit_test(test_windows11_tcg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
