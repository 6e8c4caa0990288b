/*
 * The simplestreams indexes LXC and Incus image servers publish (images.linuxcontainers.org):
 * streams/v1/index.json names the products file ("datatype": "image-downloads", "format":
 * "products:1.0"); that file's products hold versions, whose items give a path (relative to
 * the server's root), a size, an sha256 and an ftype: "root.tar.xz" for a container's rootfs,
 * "disk-kvm.img" for a VM's qcow2 disk.
 */
#include "base/buf.h"
#include "base/error.h"
#include "store/catalog.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int kvz_sstreams_parse_index(char **out, const char *data, size_t len, struct kvz_error **err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je), *index, *v;
    const char *key;
    int ret = -1;
    *out = NULL;
    if (!root)
        return kvz_error_set(err, "simplestreams index: line %d: %s", je.line, je.text);
    index = json_object_get(root, "index");
    if (!json_is_object(index)) {
        kvz_error_set(err,
                      "simplestreams index: no \"index\" object; is this streams/v1/index.json?");
        goto cleanup;
    }
    json_object_foreach(index, key, v)
    {
        const char *dt = json_string_value(json_object_get(v, "datatype"));
        const char *fmt = json_string_value(json_object_get(v, "format"));
        const char *path = json_string_value(json_object_get(v, "path"));
        if (!dt || strcmp(dt, "image-downloads") || !fmt || strcmp(fmt, "products:1.0") || !path)
            continue;
        if (path[0] == '/' || strstr(path, "..") || strchr(path, '?')) {
            kvz_error_set(err, "simplestreams index: products path '%s' is not relative", path);
            goto cleanup;
        }
        if (!(*out = strdup(path)))
            kvz_error_set(err, "simplestreams index: out of memory");
        ret = *out ? 0 : -1;
        goto cleanup;
    }
    kvz_error_set(err, "simplestreams index: no image-downloads products:1.0 entry");
cleanup:
    json_decref(root);
    return ret;
}

static bool sha256_ok(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* "debian:bookworm:amd64:default" without its arch: "debian:bookworm:default". */
static char *name_without_arch(const char *product, const char *arch)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    size_t an = strlen(arch);
    const char *p = product;
    bool dropped = false;
    while (*p) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (!dropped && n == an && !strncmp(p, arch, an)) {
            dropped = true;
        } else {
            if (b.len)
                kvz_buf_puts(&b, ":");
            kvz_buf_printf(&b, "%.*s", (int)n, p);
        }
        p += n + (c ? 1 : 0);
    }
    return kvz_buf_detach(&b);
}

static int add_item(struct kvz_catalog_index *out, const char *product, json_t *prod,
                    const char *version, json_t *item, const char *base, struct kvz_error **err)
{
    const char *ftype = json_string_value(json_object_get(item, "ftype"));
    const char *path = json_string_value(json_object_get(item, "path"));
    const char *sha = json_string_value(json_object_get(item, "sha256"));
    const char *arch = json_string_value(json_object_get(prod, "arch"));
    json_t *size = json_object_get(item, "size");
    struct kvz_catalog_entry e = {0};
    int ret = -1;
    if (!ftype)
        return 0;
    if (!strcmp(ftype, "root.tar.xz"))
        e.kind = KVZ_CONTENT_ROOTFS;
    else if (!strcmp(ftype, "disk-kvm.img"))
        e.kind = KVZ_CONTENT_DISK;
    else
        return 0; /* squashfs, incus.tar.xz metadata, deltas: not what kvz unpacks */
    if (!path || !arch || path[0] == '/' || strstr(path, "..") || strchr(path, '?'))
        return kvz_error_set(
            err,
            "simplestreams: product '%s' version '%s': an item without a relative path or an arch",
            product, version);
    if (!sha256_ok(sha))
        return kvz_error_set(
            err, "simplestreams: product '%s' version '%s': item '%s' has no valid sha256", product,
            version, path);
    if (size && (!json_is_integer(size) || json_integer_value(size) < 0))
        return kvz_error_set(err,
                             "simplestreams: product '%s' version '%s': item '%s' has a bad size",
                             product, version, path);
    struct kvz_buf url = KVZ_BUF_INIT;
    kvz_buf_printf(&url, "%s/%s", base, path);
    e.url = kvz_buf_detach(&url);
    e.name = name_without_arch(product, arch);
    e.arch = strdup(arch);
    e.version = strdup(version);
    e.algo = KVZ_DIGEST_SHA256;
    e.digest = strdup(sha);
    for (char *c = e.digest; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    e.size = size ? (uint64_t)json_integer_value(size) : 0;
    const char *aliases = json_string_value(json_object_get(prod, "aliases"));
    const char *title = json_string_value(json_object_get(prod, "release_title"));
    const char *os = json_string_value(json_object_get(prod, "os"));
    if (aliases)
        e.aliases = strdup(aliases);
    if (os) {
        struct kvz_buf d = KVZ_BUF_INIT;
        kvz_buf_printf(&d, "%s %s", os, title ? title : "");
        e.description = kvz_buf_detach(&d);
    }
    if (!e.url || !e.name || !e.arch || !e.version || !e.digest || (aliases && !e.aliases) ||
        (os && !e.description) || kvz_catalog_index_add(out, &e) < 0) {
        kvz_error_set(err, "simplestreams: out of memory");
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(e.url);
    free(e.name);
    free(e.arch);
    free(e.version);
    free(e.digest);
    free(e.aliases);
    free(e.description);
    return ret;
}

int kvz_sstreams_parse_products(struct kvz_catalog_index *out, const char *data, size_t len,
                                const char *base, struct kvz_error **err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je), *products, *prod;
    const char *pkey;
    int ret = -1;
    if (!root)
        return kvz_error_set(err, "simplestreams products: line %d: %s", je.line, je.text);
    const char *fmt = json_string_value(json_object_get(root, "format"));
    products = json_object_get(root, "products");
    if (!fmt || strcmp(fmt, "products:1.0") || !json_is_object(products)) {
        kvz_error_set(err, "simplestreams products: not a products:1.0 file with \"products\"");
        goto cleanup;
    }
    json_object_foreach(products, pkey, prod)
    {
        json_t *versions = json_object_get(prod, "versions"), *ver;
        const char *vkey;
        if (!json_is_object(versions))
            continue;
        json_object_foreach(versions, vkey, ver)
        {
            json_t *items = json_object_get(ver, "items"), *item;
            const char *ikey;
            if (!json_is_object(items))
                continue;
            json_object_foreach(items, ikey, item)
            {
                if (json_is_object(item) && add_item(out, pkey, prod, vkey, item, base, err) < 0)
                    goto cleanup;
            }
        }
    }
    ret = 0;
cleanup:
    json_decref(root);
    return ret;
}
