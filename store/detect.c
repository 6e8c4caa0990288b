#include "store/detect.h"

#include <string.h>

static int at(const unsigned char *h, size_t len, size_t off, const char *magic, size_t mlen)
{
    return len >= off + mlen && !memcmp(h + off, magic, mlen);
}

enum kvz_magic kvz_magic_detect(const void *head, size_t len)
{
    const unsigned char *h = head;
    if (at(h, len, 0, "\x1f\x8b", 2))
        return KVZ_MAGIC_GZIP;
    if (at(h, len, 0,
           "\xfd"
           "7zXZ\0", /* two literals: \xfd7 would be one escape */
           6))
        return KVZ_MAGIC_XZ;
    if (at(h, len, 0, "\x28\xb5\x2f\xfd", 4))
        return KVZ_MAGIC_ZSTD;
    if (at(h, len, 0, "BZh", 3) && len > 3 && h[3] >= '1' && h[3] <= '9')
        return KVZ_MAGIC_BZIP2;
    if (at(h, len, 0, "QFI\xfb", 4))
        return KVZ_MAGIC_QCOW2;
    /* POSIX ustar and GNU tar both put "ustar" at offset 257 of the first header. */
    if (at(h, len, 257, "ustar", 5))
        return KVZ_MAGIC_TAR;
    /* ISO9660: the primary volume descriptor at sector 16 (0x8000) reads "\1CD001". */
    if (at(h, len, 0x8001, "CD001", 5))
        return KVZ_MAGIC_ISO;
    return KVZ_MAGIC_UNKNOWN;
}

const char *kvz_magic_str(enum kvz_magic m)
{
    static const char *const names[] = {"unknown", "tar",   "gzip",  "xz",
                                        "zstd",    "bzip2", "qcow2", "iso"};
    return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "unknown";
}
