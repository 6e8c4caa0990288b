#ifndef KVZ_STORE_DETECT_H
#define KVZ_STORE_DETECT_H

#include <stddef.h>

/* What the first bytes of a file say it is. */
enum kvz_magic {
    KVZ_MAGIC_UNKNOWN = 0, /* none of the below: a raw disk when a disk is expected */
    KVZ_MAGIC_TAR,
    KVZ_MAGIC_GZIP,
    KVZ_MAGIC_XZ,
    KVZ_MAGIC_ZSTD,
    KVZ_MAGIC_BZIP2,
    KVZ_MAGIC_QCOW2,
    KVZ_MAGIC_ISO,
};

/* Bytes kvz_magic_detect() wants to see to recognise everything (ISO9660 sits at 0x8001). */
#define KVZ_MAGIC_PEEK 0x8800

/* Classifies the first `len` bytes of a file (len may be short for a short file). */
enum kvz_magic kvz_magic_detect(const void *head, size_t len);

/* "tar", "gzip", "xz", "zstd", "bzip2", "qcow2", "iso", "unknown". */
const char *kvz_magic_str(enum kvz_magic m);

static inline int kvz_magic_is_compression(enum kvz_magic m)
{
    return m == KVZ_MAGIC_GZIP || m == KVZ_MAGIC_XZ || m == KVZ_MAGIC_ZSTD || m == KVZ_MAGIC_BZIP2;
}

#endif
