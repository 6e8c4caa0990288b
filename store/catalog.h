#ifndef KVZ_STORE_CATALOG_H
#define KVZ_STORE_CATALOG_H

/*
 * Template catalogs (`catalogs:`, docs/templates.md): Proxmox's aplinfo index and the
 * simplestreams products index of LXC and Incus image servers. An index is fetched whole,
 * its signature checked against the catalog's keyring when one is given (store/openpgp.h),
 * and parsed into entries; a template's `name:` picks the newest entry of its kind for the
 * host's architecture.
 */

#include "parser/manifest.h"

#include <stddef.h>
#include <stdint.h>

struct kvz_error;
struct kvz_store_opts;

struct kvz_catalog_entry {
    char *name;                 /* aplinfo: Package; simplestreams: the product without arch */
    char *aliases;              /* simplestreams: its aliases, comma-separated; else NULL */
    char *version;              /* aplinfo: Version; simplestreams: the version key */
    char *arch;                 /* Debian's names: "amd64", "arm64", ... */
    enum kvz_content_kind kind; /* ROOTFS or DISK */
    char *url;                  /* absolute */
    enum kvz_digest_algo algo;  /* SHA512 (aplinfo), SHA256 (simplestreams); NONE: no digest */
    char *digest;               /* lowercase hex, or NULL */
    uint64_t size;              /* bytes, 0 when the index does not say */
    char *description;          /* one line, or NULL */
};

struct kvz_catalog_index {
    struct kvz_catalog_entry *v;
    size_t n, cap;
    bool verified; /* its signature was checked against the catalog's keyring */
};

void kvz_catalog_index_release(struct kvz_catalog_index *idx);

/* Appends a copy of e's strings (e's own pointers are not taken). 0, or -1 on OOM. */
int kvz_catalog_index_add(struct kvz_catalog_index *idx, const struct kvz_catalog_entry *e)
    __attribute__((warn_unused_result));

/*
 * Parses an aplinfo.dat (records of "Key: value" lines separated by blank lines, as
 * pve-manager's PVE/APLInfo.pm reads them); a relative Location is taken relative to `base`
 * (the index's directory URL). An invalid or incomplete record fails the whole index, as
 * `pveam update` does. Returns 0 or -1.
 */
int kvz_aplinfo_parse(struct kvz_catalog_index *out, const char *data, size_t len, const char *base,
                      struct kvz_error **err) __attribute__((warn_unused_result));

/* The products file of a simplestreams streams/v1/index.json ("image-downloads", format
 * "products:1.0"). Sets *out (caller frees). Returns 0 or -1. */
int kvz_sstreams_parse_index(char **out, const char *data, size_t len, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The rootfs (ftype root.tar.xz) and VM disk (disk-kvm.img) items of a products:1.0 file;
 * paths are relative to `base` (the server's root). Returns 0 or -1. */
int kvz_sstreams_parse_products(struct kvz_catalog_index *out, const char *data, size_t len,
                                const char *base, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Fetches, verifies (with a keyring) and parses catalog c. Returns 0 or -1. */
int kvz_catalog_fetch(struct kvz_catalog_index *out, const struct kvz_catalog *c,
                      const struct kvz_store_opts *opts, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * The newest entry called `name` (or with it among its aliases) of kind `want` (UNKNOWN: any)
 * for architecture `arch`. Sets *out (points into idx). Returns 0, or -1 saying what the
 * catalog has instead; `catalog` names it in messages.
 */
int kvz_catalog_pick(const struct kvz_catalog_entry **out, const struct kvz_catalog_index *idx,
                     const char *catalog, const char *name, enum kvz_content_kind want,
                     const char *arch, struct kvz_error **err) __attribute__((warn_unused_result));

/* Debian's version order (dpkg's): <0, 0, >0. */
int kvz_version_cmp(const char *a, const char *b);

#endif
