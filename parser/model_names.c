/* What the desired model's enums are called in manifests, plans and messages. */
#include "parser/manifest.h"

const char *kvz_kind_str(enum kvz_kind k)
{
    switch (k) {
    case KVZ_KIND_VM:
        return "vm";
    case KVZ_KIND_NETWORK:
        return "network";
    default:
        return "container";
    }
}

bool kvz_kind_is_guest(enum kvz_kind k)
{
    return k == KVZ_KIND_CONTAINER || k == KVZ_KIND_VM;
}

const char *kvz_content_kind_str(enum kvz_content_kind k)
{
    switch (k) {
    case KVZ_CONTENT_ROOTFS:
        return "rootfs";
    case KVZ_CONTENT_DISK:
        return "disk";
    case KVZ_CONTENT_ISO:
        return "iso";
    default:
        return "unknown";
    }
}

const char *kvz_content_kind_phrase(enum kvz_content_kind k)
{
    switch (k) {
    case KVZ_CONTENT_ROOTFS:
        return "a rootfs archive";
    case KVZ_CONTENT_DISK:
        return "a disk image";
    case KVZ_CONTENT_ISO:
        return "an ISO image";
    default:
        return "unknown content";
    }
}

const char *kvz_digest_algo_str(enum kvz_digest_algo a)
{
    switch (a) {
    case KVZ_DIGEST_SHA256:
        return "sha256";
    case KVZ_DIGEST_SHA512:
        return "sha512";
    default:
        return NULL;
    }
}

const char *kvz_os_str(enum kvz_os os)
{
    return os == KVZ_OS_WINDOWS ? "windows" : "linux";
}

const char *kvz_firmware_str(enum kvz_firmware fw)
{
    return fw == KVZ_FW_UEFI ? "uefi" : "bios";
}

const char *kvz_power_str(enum kvz_power p)
{
    return p == KVZ_POWER_STOPPED ? "stopped" : "running";
}

const char *kvz_net_type_str(enum kvz_net_type t)
{
    switch (t) {
    case KVZ_NET_BRIDGE:
        return "bridge";
    case KVZ_NET_NONE:
        return "none";
    default:
        return "network";
    }
}

const char *kvz_net_mode_str(enum kvz_net_mode m)
{
    switch (m) {
    case KVZ_NET_MODE_NAT:
        return "nat";
    case KVZ_NET_MODE_ISOLATED:
        return "isolated";
    case KVZ_NET_MODE_ROUTED:
        return "routed";
    case KVZ_NET_MODE_BRIDGE:
        return "bridge";
    default:
        return "other";
    }
}
