#include "parser/schema.h"

#include "base/buf.h"
#include "parser/names.h"
#include "parser/netaddr.h"
#include "parser/show.h"
#include "parser/suggest.h"
#include "parser/template_url.h"
#include "parser/units.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(enum kvz_os) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum kvz_firmware) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum kvz_power) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum kvz_net_mode) == sizeof(int), "enums are stored as int");

#define R(field) offsetof(struct kvz_resource, field)
#define T(field) offsetof(struct kvz_template_raw, field)
#define H(field) offsetof(struct kvz_file_head, field)
#define C(field) offsetof(struct kvz_catalog_raw, field)

static const char *const os_names[] = {"linux", "windows", NULL};
static const char *const fw_names[] = {"bios", "uefi", NULL};
static const char *const power_names[] = {"running", "stopped", NULL};
static const char *const mode_names[] = {"nat", "isolated", "routed", "bridge", NULL};

static const struct kvz_field connection_fields[] = {
    {"containers", KVZ_F_URI, H(containers_uri), 0, false, KVZ_DEFAULT_CONTAINERS_URI, NULL, NULL},
    {"vms", KVZ_F_URI, H(vms_uri), 0, false, KVZ_DEFAULT_VMS_URI, NULL, NULL},
};
static const struct kvz_schema connection_schema = {"connection", connection_fields, 2, NULL};

static const struct kvz_field file_fields[] = {
    {"kvz", KVZ_F_VERSION, H(version), 0, true, "1", NULL, NULL},
    {"stack", KVZ_F_NAME, H(stack), 0, false, "web", NULL, NULL},
    {"connection", KVZ_F_MAP, KVZ_NO_OFF, 0, false, NULL, NULL, &connection_schema},
    {"templates", KVZ_F_SECTION, KVZ_NO_OFF, 0, false, NULL, NULL, NULL},
    {"catalogs", KVZ_F_SECTION, KVZ_NO_OFF, 0, false, NULL, NULL, NULL},
    {"networks", KVZ_F_SECTION, KVZ_NO_OFF, 0, false, NULL, NULL, NULL},
    {"containers", KVZ_F_SECTION, KVZ_NO_OFF, 0, false, NULL, NULL, NULL},
    {"vms", KVZ_F_SECTION, KVZ_NO_OFF, 0, false, NULL, NULL, NULL},
};
const struct kvz_schema kvz_schema_file = {"the manifest", file_fields,
                                           sizeof(file_fields) / sizeof(file_fields[0]), NULL};

static const struct kvz_field template_fields[] = {
    {"url", KVZ_F_URL, T(url), 0, false, "https://example.org/debian-12.tar.xz", NULL, NULL},
    {"sha256", KVZ_F_SHA256, T(sha256), 0, false, NULL, NULL, NULL},
    {"sha512", KVZ_F_SHA512, T(sha512), 0, false, NULL, NULL, NULL},
    {"checksums", KVZ_F_URL, T(checksums), 0, false, "https://example.org/SHA256SUMS", NULL, NULL},
    {"insecure", KVZ_F_BOOL, T(insecure), 0, false, "true", NULL, NULL},
    {"signature", KVZ_F_URL, T(signature), 0, false, "https://example.org/SHA256SUMS.gpg", NULL,
     NULL},
    {"keyring", KVZ_F_STRING, T(keyring), 0, false, "keys/release.asc", NULL, NULL},
    {"catalog", KVZ_F_NAME, T(catalog), 0, false, "proxmox", NULL, NULL},
    {"name", KVZ_F_STRING, T(entry), 0, false, "debian-12-standard", NULL, NULL},
};
const struct kvz_schema kvz_schema_template = {
    "template", template_fields, sizeof(template_fields) / sizeof(template_fields[0]), NULL};

static const char *const catalog_kinds[] = {"aplinfo", "simplestreams", NULL};
static const struct kvz_field catalog_fields[] = {
    {"kind", KVZ_F_ENUM, C(kind), 0, true, "aplinfo", catalog_kinds, NULL},
    {"url", KVZ_F_URL, C(url), 0, true, "http://download.proxmox.com/images/aplinfo-pve-8.dat",
     NULL, NULL},
    {"signature", KVZ_F_URL, C(signature), 0, false,
     "http://download.proxmox.com/images/aplinfo-pve-8.dat.asc", NULL, NULL},
    {"keyring", KVZ_F_STRING, C(keyring), 0, false, "keys/proxmox-release.asc", NULL, NULL},
};
const struct kvz_schema kvz_schema_catalog = {
    "catalog", catalog_fields, sizeof(catalog_fields) / sizeof(catalog_fields[0]), NULL};

static const struct kvz_field cloud_init_fields[] = {
    {"user_data", KVZ_F_STRING, R(user_data), 0, true, "|", NULL, NULL},
};
static const struct kvz_schema cloud_init_schema = {"cloud_init", cloud_init_fields, 1, NULL};

static const struct kvz_field container_fields[] = {
    {"template", KVZ_F_NAME, R(template_name), 0, true, "debian12-rootfs", NULL, NULL},
    {"memory", KVZ_F_SIZE, R(memory), 0, true, "512MiB", NULL, NULL},
    {"cpus", KVZ_F_CPUS, R(cpus_milli), 0, false, "1.5", NULL, NULL},
    {"disk", KVZ_F_SIZE, R(disk), 0, false, "8GiB", NULL, NULL},
    {"hostname", KVZ_F_HOSTNAME, R(hostname), 0, false, "web1", NULL, NULL},
    {"os", KVZ_F_ENUM, R(os), 0, false, "linux", os_names, NULL},
    {"state", KVZ_F_ENUM, R(state), 0, false, "running", power_names, NULL},
    {"autostart", KVZ_F_BOOL, R(autostart), 0, false, "true", NULL, NULL},
    {"network", KVZ_F_NETWORK, R(network), 0, false, "default", NULL, NULL},
    {"ip", KVZ_F_IPV4, R(ip), 0, false, "10.77.0.10", NULL, NULL},
    {"ssh_authorized_keys", KVZ_F_SSH_KEYS, R(ssh_keys), R(n_ssh_keys), false, NULL, NULL, NULL},
    {"protect", KVZ_F_BOOL, R(protect), 0, false, "true", NULL, NULL},
    {"stop_timeout", KVZ_F_DURATION, R(stop_timeout), 0, false, "30s", NULL, NULL},
};

static const struct kvz_field vm_fields[] = {
    {"image", KVZ_F_NAME, R(template_name), 0, false, "debian12-cloud", NULL, NULL},
    {"memory", KVZ_F_SIZE, R(memory), 0, true, "2GiB", NULL, NULL},
    {"max_memory", KVZ_F_SIZE, R(max_memory), 0, false, "8GiB", NULL, NULL},
    {"cpus", KVZ_F_VCPUS, R(cpus_milli), 0, false, "2", NULL, NULL},
    {"max_cpus", KVZ_F_COUNT, R(max_cpus), 0, false, "8", NULL, NULL},
    {"disk", KVZ_F_SIZE, R(disk), 0, false, "20GiB", NULL, NULL},
    {"os", KVZ_F_ENUM, R(os), 0, false, "linux", os_names, NULL},
    {"firmware", KVZ_F_ENUM, R(firmware), 0, false, "uefi", fw_names, NULL},
    {"cdrom", KVZ_F_NAME, R(cdrom_name), 0, false, "win-iso", NULL, NULL},
    {"drivers", KVZ_F_NAME, R(drivers_name), 0, false, "virtio-win", NULL, NULL},
    {"tpm", KVZ_F_BOOL, R(tpm), 0, false, "true", NULL, NULL},
    {"secure_boot", KVZ_F_BOOL, R(secure_boot), 0, false, "true", NULL, NULL},
    {"unattend", KVZ_F_STRING, R(unattend), 0, false, "autounattend.xml", NULL, NULL},
    {"network", KVZ_F_NETWORK, R(network), 0, false, "default", NULL, NULL},
    {"ip", KVZ_F_IPV4, R(ip), 0, false, "10.77.0.20", NULL, NULL},
    {"hostname", KVZ_F_HOSTNAME, R(hostname), 0, false, "db1", NULL, NULL},
    {"ssh_authorized_keys", KVZ_F_SSH_KEYS, R(ssh_keys), R(n_ssh_keys), false, NULL, NULL, NULL},
    {"cloud_init", KVZ_F_MAP, R(has_cloud_init), 0, false, NULL, NULL, &cloud_init_schema},
    {"state", KVZ_F_ENUM, R(state), 0, false, "running", power_names, NULL},
    {"autostart", KVZ_F_BOOL, R(autostart), 0, false, "true", NULL, NULL},
    {"protect", KVZ_F_BOOL, R(protect), 0, false, "true", NULL, NULL},
    {"stop_timeout", KVZ_F_DURATION, R(stop_timeout), 0, false, "60s", NULL, NULL},
};

const struct kvz_schema kvz_schema_container = {
    "container", container_fields, sizeof(container_fields) / sizeof(container_fields[0]),
    &kvz_schema_vm};
const struct kvz_schema kvz_schema_vm = {"vm", vm_fields, sizeof(vm_fields) / sizeof(vm_fields[0]),
                                         &kvz_schema_container};

static const struct kvz_field network_fields[] = {
    {"mode", KVZ_F_ENUM, R(netspec.mode), 0, false, "nat", mode_names, NULL},
    {"subnet", KVZ_F_SUBNET, R(netspec.subnet), 0, false, "10.77.0.0/24", NULL, NULL},
    {"dhcp", KVZ_F_BOOL, R(netspec.dhcp), 0, false, "true", NULL, NULL},
    {"dns", KVZ_F_BOOL, R(netspec.dns), 0, false, "true", NULL, NULL},
    {"bridge", KVZ_F_STRING, R(netspec.bridge), 0, false, "br0", NULL, NULL},
    {"autostart", KVZ_F_BOOL, R(autostart), 0, false, "true", NULL, NULL},
    {"protect", KVZ_F_BOOL, R(protect), 0, false, "true", NULL, NULL},
};
const struct kvz_schema kvz_schema_network = {
    "network", network_fields, sizeof(network_fields) / sizeof(network_fields[0]), NULL};

const struct kvz_schema *kvz_schema_of(enum kvz_kind k)
{
    switch (k) {
    case KVZ_KIND_VM:
        return &kvz_schema_vm;
    case KVZ_KIND_NETWORK:
        return &kvz_schema_network;
    default:
        return &kvz_schema_container;
    }
}

/* Keys users carry over from the other kind, answered with the right one. */
static const char *const key_aliases[][3] = {
    {"container", "image", "template"},
    {"vm", "template", "image"},
    {"vm", "iso", "cdrom"},
    {"template", "checksum", "sha256"},
    {"template", "sha256sum", "sha256"},
    {"template", "sha512sum", "sha512"},
};

struct dctx {
    const char *file;
    struct kvz_diags *d;
    size_t errors;
};

static void err(struct dctx *c, const struct kvz_ynode *at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err(struct dctx *c, const struct kvz_ynode *at, const char *code, const char *fmt, ...)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, at->line, at->col, code, "%s", kvz_buf_cstr(&b));
    kvz_buf_release(&b);
    c->errors++;
}

static const char *type_hint(const struct kvz_field *f)
{
    switch (f->type) {
    case KVZ_F_SIZE:
        return "a size";
    case KVZ_F_DURATION:
        return "a duration";
    case KVZ_F_CPUS:
    case KVZ_F_VCPUS:
    case KVZ_F_COUNT:
        return "a number";
    case KVZ_F_BOOL:
        return "true or false";
    case KVZ_F_VERSION:
        return "the format version";
    case KVZ_F_ENUM:
        return "one of the words";
    case KVZ_F_SSH_KEYS:
        return "a list of public keys";
    case KVZ_F_NETWORK:
        return "a network name, {bridge: NAME} or none";
    case KVZ_F_SUBNET:
        return "a subnet";
    case KVZ_F_IPV4:
        return "an IPv4 address";
    case KVZ_F_MAP:
    case KVZ_F_SECTION:
        return "a mapping";
    case KVZ_F_URL:
    case KVZ_F_URI:
        return "a URL";
    case KVZ_F_NAME:
        return "a name";
    default:
        return "a string";
    }
}

static void bad_type(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v)
{
    if (f->type == KVZ_F_SSH_KEYS)
        err(c, v, "bad-type",
            "'%s' must be a list of public keys, not %s; write [\"ssh-ed25519 AAAA... you@host\"]",
            f->key, kvz_ynode_describe(v));
    else if (f->example)
        err(c, v, "bad-type", "'%s' must be %s, not %s; write e.g. '%s: %s'", f->key, type_hint(f),
            kvz_ynode_describe(v), f->key, f->example);
    else
        err(c, v, "bad-type", "'%s' must be %s, not %s", f->key, type_hint(f),
            kvz_ynode_describe(v));
}

static void *at_off(void *target, size_t off)
{
    return (char *)target + off;
}

/* The scalar text of v, or NULL after reporting why there is none. */
static const char *scalar(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v)
{
    if (v->type != KVZ_YSCALAR || kvz_ynode_is_null(v)) {
        if (kvz_ynode_is_null(v))
            err(c, v, "missing-value", "'%s' has no value; write e.g. '%s: %s'", f->key, f->key,
                f->example ? f->example : "...");
        else
            bad_type(c, f, v);
        return NULL;
    }
    return v->str;
}

static int set_string(struct dctx *c, void *target, size_t off, const char *s)
{
    char **slot = at_off(target, off);
    char *dup = strdup(s);
    if (!dup) {
        kvz_diags_add(c->d, KVZ_SEV_ERROR, c->file, 0, 0, "out-of-memory",
                      "out of memory; free memory and retry");
        c->errors++;
        return -1;
    }
    free(*slot);
    *slot = dup;
    return 0;
}

static bool uri_valid(const char *s)
{
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3))
        return false;
    for (p += 3; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return true;
}

static bool base64_word(const char *s, size_t n)
{
    if (n < 16)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/' || ch == '='))
            return false;
    }
    return true;
}

/* One line of authorized_keys: [options] TYPE BASE64 [comment]. */
static bool ssh_key_valid(const char *s)
{
    static const char *const types[] = {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    };
    if (strpbrk(s, "\r\n"))
        return false;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (n != strlen(types[i]) || strncmp(p, types[i], n))
                continue;
            const char *k = p + n;
            while (*k == ' ' || *k == '\t')
                k++;
            return base64_word(k, strcspn(k, " \t"));
        }
        p += n;
    }
    return false;
}

static void decode_enum(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v,
                        void *target)
{
    const char *s = scalar(c, f, v);
    if (!s)
        return;
    size_t n = 0;
    for (; f->choices[n]; n++)
        if (!strcmp(f->choices[n], s)) {
            int val = (int)n;
            memcpy(at_off(target, f->off), &val, sizeof(val));
            return;
        }
    struct kvz_buf list = KVZ_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kvz_buf_printf(&list, "%s%s", i ? (i + 1 == n ? " or " : ", ") : "", f->choices[i]);
    const char *sugg = kvz_suggest(s, f->choices, n);
    if (sugg)
        err(c, v, "bad-enum", "'%s' must be %s, not '%s' (did you mean '%s'?)", f->key,
            kvz_buf_cstr(&list), kvz_show(s), sugg);
    else
        err(c, v, "bad-enum", "'%s' must be %s, not '%s'", f->key, kvz_buf_cstr(&list),
            kvz_show(s));
    kvz_buf_release(&list);
}

static void decode_ssh_keys(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v,
                            void *target)
{
    if (v->type != KVZ_YSEQ) {
        if (v->type != KVZ_YINVALID)
            bad_type(c, f, v);
        return;
    }
    char **keys = calloc(v->n ? v->n : 1, sizeof(*keys));
    size_t n = 0;
    if (!keys) {
        err(c, v, "out-of-memory", "out of memory; free memory and retry");
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const struct kvz_ynode *k = &v->kids[i];
        if (k->type == KVZ_YINVALID)
            continue;
        if (k->type != KVZ_YSCALAR || kvz_ynode_is_null(k)) {
            err(c, k, "bad-type",
                "each ssh key must be a string, not %s; write \"ssh-ed25519 AAAA... you@host\"",
                kvz_ynode_describe(k));
            continue;
        }
        if (!ssh_key_valid(k->str)) {
            err(c, k, "bad-ssh-key",
                "this is not an ssh public key; paste one line of a .pub file, like \"ssh-ed25519 AAAA... you@host\"");
            continue;
        }
        keys[n] = strdup(k->str);
        if (keys[n])
            n++;
    }
    *(char ***)at_off(target, f->off) = keys;
    *(size_t *)at_off(target, f->off2) = n;
}

static void decode_network(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v,
                           void *target)
{
    struct kvz_network *net = at_off(target, f->off);
    if (v->type == KVZ_YMAP) {
        const struct kvz_ynode *br = NULL;
        for (size_t i = 0; i < v->n; i++) {
            const struct kvz_ynode *k = &v->kids[2 * i];
            if (!strcmp(k->str, "bridge")) {
                br = &v->kids[2 * i + 1];
                continue;
            }
            err(c, k, "unknown-key",
                "unknown key '%s' in network; write 'network: {bridge: br0}' for a host bridge or 'network: NAME' for a libvirt network",
                kvz_show(k->str));
        }
        if (!br) {
            if (!v->n)
                err(c, v, "bad-network",
                    "network mapping has no 'bridge'; write 'network: {bridge: br0}'");
            return;
        }
        static const struct kvz_field bridge = {"bridge", KVZ_F_STRING, 0,    0,
                                                false,    "br0",        NULL, NULL};
        const char *s = scalar(c, &bridge, br);
        if (!s)
            return;
        if (!kvz_bridge_valid(s)) {
            err(c, br, "bad-network",
                "bridge '%s' is not a valid interface name; use 1-15 letters, digits, '-', '_' or '.', like br0",
                kvz_show(s));
            return;
        }
        if (set_string(c, net, offsetof(struct kvz_network, name), s) == 0)
            net->type = KVZ_NET_BRIDGE;
        return;
    }
    const char *s = scalar(c, f, v);
    if (!s)
        return;
    if (!strcmp(s, "none")) {
        net->type = KVZ_NET_NONE;
        return;
    }
    if (!kvz_netname_valid(s)) {
        err(c, v, "bad-network",
            "network '%s' is not a valid libvirt network name; use letters, digits, '-', '_' and '.', like 'default' (or {bridge: br0}, or none)",
            kvz_show(s));
        return;
    }
    if (set_string(c, net, offsetof(struct kvz_network, name), s) == 0)
        net->type = KVZ_NET_NETWORK;
}

static void decode_map(struct dctx *c, const struct kvz_schema *s, const struct kvz_ynode *map,
                       void *target, const char *owner, const struct kvz_ynode *at);

static void decode_field(struct dctx *c, const struct kvz_field *f, const struct kvz_ynode *v,
                         void *target, const char *owner)
{
    char why[256];
    const char *s;
    if (v->type == KVZ_YINVALID)
        return;
    switch (f->type) {
    case KVZ_F_SECTION:
        if (v->type != KVZ_YMAP && !kvz_ynode_is_null(v))
            err(c, v, "bad-type", "'%s' must be a mapping of names to settings, not %s", f->key,
                kvz_ynode_describe(v));
        return;
    case KVZ_F_MAP: {
        if (v->type != KVZ_YMAP) {
            bad_type(c, f, v);
            return;
        }
        if (f->off != KVZ_NO_OFF)
            *(bool *)at_off(target, f->off) = true;
        struct kvz_buf o = KVZ_BUF_INIT;
        kvz_buf_printf(&o, "'%s' of %s", f->key, owner);
        decode_map(c, f->sub, v, target, kvz_buf_cstr(&o), v);
        kvz_buf_release(&o);
        return;
    }
    case KVZ_F_SSH_KEYS:
        decode_ssh_keys(c, f, v, target);
        return;
    case KVZ_F_NETWORK:
        decode_network(c, f, v, target);
        return;
    case KVZ_F_ENUM:
        decode_enum(c, f, v, target);
        return;
    default:
        break;
    }
    if (!(s = scalar(c, f, v)))
        return;
    switch (f->type) {
    case KVZ_F_STRING:
        set_string(c, target, f->off, s);
        break;
    case KVZ_F_NAME:
        if (!kvz_name_valid(s)) {
            char fix[64];
            const char *problem = kvz_name_problem(s, fix, sizeof(fix));
            if (fix[0])
                err(c, v, "bad-name",
                    "%s '%s' %s (did you mean '%s'?); names are 1-63 lowercase letters, digits and '-'",
                    f->key, kvz_show(s), problem, fix);
            else
                err(c, v, "bad-name",
                    "%s '%s' %s; names are 1-63 lowercase letters, digits and '-'", f->key,
                    kvz_show(s), problem);
            break;
        }
        set_string(c, target, f->off, s);
        break;
    case KVZ_F_HOSTNAME:
        if (!kvz_hostname_valid(s)) {
            err(c, v, "bad-hostname",
                "hostname '%s' is not valid; use letters, digits and '-' in dot-separated parts of at most 63 characters",
                kvz_show(s));
            break;
        }
        set_string(c, target, f->off, s);
        break;
    case KVZ_F_URL:
        if (kvz_url_scheme(s) == KVZ_URL_BAD) {
            char *shown = kvz_url_redact(s);
            err(c, v, "bad-url",
                "'%s' is not a URL kvz can fetch; use http://, https://, file:///PATH or a path",
                kvz_show(shown ? shown : ""));
            free(shown);
            break;
        }
        set_string(c, target, f->off, s);
        break;
    case KVZ_F_SUBNET: {
        struct kvz_subnet sn;
        if (kvz_ip_is_v6(s)) {
            err(c, v, "bad-subnet",
                "subnet '%s' is IPv6, which kvz does not manage yet; use an IPv4 subnet like 10.77.0.0/24 (docs/networks.md)",
                kvz_show(s));
            break;
        }
        if (kvz_subnet_parse(&sn, s, why, sizeof(why)) < 0) {
            err(c, v, "bad-subnet", "subnet '%s' %s", kvz_show(s), why);
            break;
        }
        set_string(c, target, f->off, s);
        break;
    }
    case KVZ_F_IPV4: {
        uint32_t a;
        if (kvz_ip_is_v6(s)) {
            err(c, v, "bad-ip",
                "ip '%s' is IPv6, which kvz does not reserve yet; give an IPv4 address like %s (docs/networks.md)",
                kvz_show(s), f->example);
            break;
        }
        if (kvz_ipv4_parse(&a, s) < 0) {
            err(c, v, "bad-ip", "ip '%s' is not an IPv4 address; write four numbers like %s",
                kvz_show(s), f->example);
            break;
        }
        set_string(c, target, f->off, s);
        break;
    }
    case KVZ_F_URI:
        if (!uri_valid(s)) {
            err(c, v, "bad-uri",
                "'%s' is not a libvirt connection URI; write e.g. '%s' or 'qemu+ssh://host/system'",
                kvz_show(s), f->example);
            break;
        }
        set_string(c, target, f->off, s);
        break;
    case KVZ_F_SHA256:
    case KVZ_F_SHA512: {
        size_t digits = f->type == KVZ_F_SHA256 ? 64 : 128;
        char *hex = strdup(s);
        if (hex && strlen(hex) == digits && !kvz_hex_digest_normalize(hex, digits)) {
            err(c, v, "bad-checksum",
                "%s must be hexadecimal digits (0-9, a-f) only; copy it from the %s output", f->key,
                f->type == KVZ_F_SHA256 ? "sha256sum" : "sha512sum");
            free(hex);
            break;
        }
        if (!hex || !kvz_hex_digest_normalize(hex, digits)) {
            err(c, v, "bad-checksum",
                "%s must be %zu hexadecimal digits (%zu given); copy it from the %s output", f->key,
                digits, strlen(s), f->type == KVZ_F_SHA256 ? "sha256sum" : "sha512sum");
            free(hex);
            break;
        }
        set_string(c, target, f->off, hex);
        free(hex);
        break;
    }
    case KVZ_F_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            *(bool *)at_off(target, f->off) = true;
        else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            *(bool *)at_off(target, f->off) = false;
        else
            err(c, v, "bad-bool", "'%s' must be true or false, not '%s'", f->key, kvz_show(s));
        break;
    case KVZ_F_SIZE:
        if (kvz_size_parse(at_off(target, f->off), s, why, sizeof(why)) < 0)
            err(c, v, "bad-size", "%s", why);
        break;
    case KVZ_F_CPUS:
    case KVZ_F_VCPUS:
        if (kvz_cpus_parse(at_off(target, f->off), s, f->key, f->type == KVZ_F_VCPUS, why,
                           sizeof(why)) < 0)
            err(c, v, "bad-cpus", "%s", why);
        break;
    case KVZ_F_DURATION:
        if (kvz_duration_parse(at_off(target, f->off), s, why, sizeof(why)) < 0)
            err(c, v, "bad-duration", "%s", why);
        break;
    case KVZ_F_COUNT: {
        uint32_t milli;
        if (kvz_cpus_parse(&milli, s, f->key, true, why, sizeof(why)) < 0)
            err(c, v, "bad-cpus", "%s", why);
        else
            *(uint32_t *)at_off(target, f->off) = milli / 1000;
        break;
    }
    case KVZ_F_VERSION:
        if (strcmp(s, "1"))
            err(c, v, "bad-version",
                "manifest format version '%s' is not supported; this kvz reads 'kvz: 1'",
                kvz_show(s));
        else
            *(int *)at_off(target, f->off) = 1;
        break;
    default:
        break;
    }
}

static void unknown_key(struct dctx *c, const struct kvz_schema *s, const struct kvz_ynode *k,
                        const char *owner)
{
    const char *cands[32];
    size_t n = 0;
    for (size_t i = 0; i < s->n && n < 32; i++)
        cands[n++] = s->fields[i].key;
    const char *sugg = kvz_suggest(k->str, cands, n);
    for (size_t i = 0; !sugg && i < sizeof(key_aliases) / sizeof(key_aliases[0]); i++)
        if (!strcmp(key_aliases[i][0], s->what) && !strcmp(key_aliases[i][1], k->str))
            sugg = key_aliases[i][2];
    if (sugg) {
        err(c, k, "unknown-key", "unknown key '%s' in %s (did you mean '%s'?)", kvz_show(k->str),
            owner, sugg);
        return;
    }
    if (s->sibling)
        for (size_t i = 0; i < s->sibling->n; i++)
            if (!strcmp(s->sibling->fields[i].key, k->str)) {
                err(c, k, "unknown-key", "unknown key '%s' in %s; it applies to %ss only",
                    kvz_show(k->str), owner, s->sibling->what);
                return;
            }
    struct kvz_buf list = KVZ_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kvz_buf_printf(&list, "%s%s", i ? ", " : "", cands[i]);
    err(c, k, "unknown-key", "unknown key '%s' in %s; valid keys are %s", kvz_show(k->str), owner,
        kvz_buf_cstr(&list));
    kvz_buf_release(&list);
}

static void decode_map(struct dctx *c, const struct kvz_schema *s, const struct kvz_ynode *map,
                       void *target, const char *owner, const struct kvz_ynode *at)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct kvz_ynode *k = &map->kids[2 * i];
        const struct kvz_field *f = NULL;
        for (size_t j = 0; j < s->n && !f; j++)
            if (!strcmp(s->fields[j].key, k->str))
                f = &s->fields[j];
        if (!f)
            unknown_key(c, s, k, owner);
        else
            decode_field(c, f, &map->kids[2 * i + 1], target, owner);
    }
    for (size_t j = 0; j < s->n; j++) {
        const struct kvz_field *f = &s->fields[j];
        if (f->required && !kvz_ymap_get(map, f->key))
            err(c, at, "missing-key", "%s has no '%s'; add e.g. '%s: %s'", owner, f->key, f->key,
                f->example);
    }
}

size_t kvz_schema_decode(const struct kvz_schema *s, const struct kvz_ynode *map, void *target,
                         const char *owner, const struct kvz_ynode *at, const char *file,
                         struct kvz_diags *d)
{
    struct dctx c = {.file = file, .d = d};
    decode_map(&c, s, map, target, owner, at);
    return c.errors;
}

static void release(const struct kvz_schema *s, void *target)
{
    for (size_t j = 0; j < s->n; j++) {
        const struct kvz_field *f = &s->fields[j];
        switch (f->type) {
        case KVZ_F_STRING:
        case KVZ_F_NAME:
        case KVZ_F_HOSTNAME:
        case KVZ_F_URL:
        case KVZ_F_URI:
        case KVZ_F_SUBNET:
        case KVZ_F_IPV4:
        case KVZ_F_SHA256:
        case KVZ_F_SHA512: {
            char **slot = at_off(target, f->off);
            free(*slot);
            *slot = NULL;
            break;
        }
        case KVZ_F_SSH_KEYS: {
            char ***keys = at_off(target, f->off);
            size_t *n = at_off(target, f->off2);
            for (size_t i = 0; *keys && i < *n; i++)
                free((*keys)[i]);
            free(*keys);
            *keys = NULL;
            *n = 0;
            break;
        }
        case KVZ_F_NETWORK: {
            struct kvz_network *net = at_off(target, f->off);
            free(net->name);
            net->name = NULL;
            break;
        }
        case KVZ_F_MAP:
            release(f->sub, target);
            break;
        default:
            break;
        }
    }
}

void kvz_schema_release(const struct kvz_schema *s, void *target)
{
    release(s, target);
}
