/*
 * kvz's libvirt storage pool: a directory pool under the state dir holding one
 * read-only base volume per image digest and, per VM, a qcow2 overlay on it,
 * its cloud-init seed and its UEFI variables.
 */
#include "providers/vm/vm.h"

#include "base/buf.h"
#include "base/fs.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define X(s) ((const xmlChar *)(s))

void kvz_vm_pool_name(char out[32], const char *state_dir)
{
    kvz_pool_name(out, state_dir);
}

char *kvz_vm_pool_path(struct kvz_host *h, const char *name, const char *suffix)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    if (kvz_host_is_remote(h)) {
        /* on the host, in libvirt's own tree: nothing of it lives where kvz runs */
        char pool[32];
        kvz_vm_pool_name(pool, h->state_dir);
        kvz_buf_printf(&b, "%s/%s/%s%s", KVZ_REMOTE_POOL_ROOT, pool, name, suffix);
    } else {
        kvz_buf_printf(&b, "%s/pool/%s%s", h->state_dir, name, suffix);
    }
    return kvz_buf_detach(&b);
}

/* Whether the pool is on a host kvz reaches only through libvirt. */
static bool pool_is_remote(virStoragePoolPtr pool)
{
    char *uri = virConnectGetURI(virStoragePoolGetConnect(pool));
    bool remote = uri && !kvz_uri_is_local(uri);
    free(uri);
    return remote;
}

static char *pool_xml(const char *name, const char *path)
{
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr pool = xmlNewNode(NULL, X("pool"));
    xmlDocSetRootElement(doc, pool);
    xmlNewProp(pool, X("type"), X("dir"));
    xmlNewTextChild(pool, NULL, X("name"), X(name));
    xmlNodePtr target = xmlNewChild(pool, NULL, X("target"), NULL);
    xmlNewTextChild(target, NULL, X("path"), X(path));
    /* qemu runs as its own user: it must reach the disks below. */
    xmlNodePtr perms = xmlNewChild(target, NULL, X("permissions"), NULL);
    xmlNewTextChild(perms, NULL, X("mode"), X("0755"));
    char *r = NULL;
    if (kvz_xml_dump(&r, pool, NULL) < 0)
        r = NULL;
    xmlFreeDoc(doc);
    return r;
}

/* libvirt refuses to refresh a pool while it builds a volume in it ("has
 * asynchronous jobs running"): a parallel create's overlay does that. Such a
 * build takes a moment, so wait for it, up to a minute, and refresh then. */
static int pool_refresh(virStoragePoolPtr pool)
{
    for (int i = 0;; i++) {
        if (virStoragePoolRefresh(pool, 0) == 0)
            return 0;
        virErrorPtr e = virGetLastError();
        bool busy = e && e->domain == VIR_FROM_STORAGE && e->code == VIR_ERR_INTERNAL_ERROR &&
                    e->message && strstr(e->message, "asynchronous jobs");
        if (!busy || i >= 600)
            return -1;
        usleep(100 * 1000);
    }
}

int kvz_vm_pool_ensure(virStoragePoolPtr *out, struct kvz_host *h, struct kvz_error **err)
{
    char name[32];
    char *path = NULL, *xml = NULL;
    virStoragePoolPtr pool = NULL;
    int rc = -1;
    *out = NULL;
    kvz_vm_pool_name(name, h->state_dir);
    path = kvz_vm_pool_path(h, "", "");
    if (!path) {
        kvz_error_set(err, "storage pool: out of memory");
        goto cleanup;
    }
    path[strlen(path) - 1] = '\0'; /* no trailing slash */
    bool remote = kvz_host_is_remote(h);
    if (!remote && kvz_mkdir_p(path, 0755, err) < 0)
        goto cleanup;
    pool = virStoragePoolLookupByName(h->conn, name);
    if (!pool) {
        xml = pool_xml(name, path);
        if (!xml) {
            kvz_error_set(err, "storage pool: out of memory");
            goto cleanup;
        }
        pool = virStoragePoolDefineXML(h->conn, xml, 0);
        /* Another thread or kvz may have defined it in between: use theirs. */
        if (!pool)
            pool = virStoragePoolLookupByName(h->conn, name);
        if (!pool) {
            kvz_error_set(err, "define storage pool '%s' at '%s': %s", name, path, kvz_virt_msg());
            goto cleanup;
        }
        virStoragePoolSetAutostart(pool, 1);
        /* a remote host's directory is made by libvirt there (it may exist: not a failure) */
        if (remote)
            virStoragePoolBuild(pool, 0);
    }
    /* Another kvz (or thread) may start it at the same moment: only a pool still inactive is a
     * failure. A remote host's directory may still be in the making by the one that defined
     * it: built again (a no-op then) and retried for a moment. */
    for (int i = 0;
         remote && i < 20 && virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0;
         i++) {
        virStoragePoolBuild(pool, 0);
        usleep(100 * 1000);
    }
    if (virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0 &&
        virStoragePoolIsActive(pool) != 1) {
        kvz_error_set(err, "start storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    if (pool_refresh(pool) < 0) {
        kvz_error_set(err, "refresh storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    *out = pool;
    pool = NULL;
    rc = 0;
cleanup:
    if (pool)
        virStoragePoolFree(pool);
    free(path);
    free(xml);
    return rc;
}

static char *pool_dir(virStoragePoolPtr pool)
{
    char *xml = virStoragePoolGetXMLDesc(pool, 0);
    char *dir = NULL;
    if (!xml)
        return NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "pool.xml", NULL, XML_PARSE_NONET);
    free(xml);
    xmlNodePtr n = doc ? xmlDocGetRootElement(doc)->children : NULL;
    for (; n && !dir; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, X("target")))
            continue;
        for (xmlNodePtr p = n->children; p; p = p->next)
            if (p->type == XML_ELEMENT_NODE && !xmlStrcmp(p->name, X("path"))) {
                xmlChar *c = xmlNodeGetContent(p);
                dir = c ? strdup((const char *)c) : NULL;
                xmlFree(c);
                break;
            }
    }
    xmlFreeDoc(doc);
    return dir;
}

int kvz_vm_image_is_qcow2(bool *out, const char *path, struct kvz_error **err)
{
    unsigned char m[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvz_error_set_errno(err, "open image '%s'", path);
    ssize_t n = read(fd, m, sizeof(m));
    close(fd);
    if (n < 0)
        return kvz_error_set_errno(err, "read image '%s'", path);
    *out = n == 4 && !memcmp(m, "QFI\xfb", 4);
    return 0;
}

static int copy_file(const char *from, const char *to, struct kvz_error **err)
{
    int rc = -1;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
        kvz_error_set_errno(err, "copy image '%s' to '%s'", from, to);
        goto cleanup;
    }
    /* copy_file_range keeps holes and reflinks where the file system can. */
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kvz_error_set_errno(err, "copy image '%s' to '%s'", from, to);
            goto cleanup;
        }
        if (n == 0)
            break;
    }
    if (fsync(out) < 0) {
        kvz_error_set_errno(err, "sync '%s'", to);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0 && rc == 0)
        rc = kvz_error_set_errno(err, "close '%s'", to);
    return rc;
}

int kvz_vm_volume_capacity(uint64_t *out, virStoragePoolPtr pool, const char *path,
                           struct kvz_error **err)
{
    virConnectPtr conn = virStoragePoolGetConnect(pool);
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    if (!vol && pool_refresh(pool) == 0)
        vol = virStorageVolLookupByPath(conn, path);
    if (!vol)
        return kvz_error_set(err, "volume '%s': %s", path, kvz_virt_msg());
    virStorageVolInfo info;
    int rc = virStorageVolGetInfo(vol, &info);
    virStorageVolFree(vol);
    if (rc < 0)
        return kvz_error_set(err, "volume '%s': %s", path, kvz_virt_msg());
    *out = info.capacity;
    return 0;
}

int kvz_vm_base_import(char **out_path, bool *out_qcow2, uint64_t *out_size, virStoragePoolPtr pool,
                       const char *image_path, const char *digest, struct kvz_error **err)
{
    int rc = -1;
    char *dir = pool_dir(pool);
    struct kvz_buf base = KVZ_BUF_INIT, tmp = KVZ_BUF_INIT;
    bool qcow2 = false;
    *out_path = NULL;
    if (!dir) {
        kvz_error_set(err, "storage pool: cannot read its directory: %s", kvz_virt_msg());
        goto cleanup;
    }
    for (const char *c = digest; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) {
            kvz_error_set(err, "image digest '%s' is not lowercase hex", digest);
            goto cleanup;
        }
    if (kvz_vm_image_is_qcow2(&qcow2, image_path, err) < 0)
        goto cleanup;
    kvz_buf_printf(&base, "%s/base-%.64s.%s", dir, digest, qcow2 ? "qcow2" : "raw");
    /* Unique per call: parallel creates from one image each stage their own. */
    static atomic_uint seq;
    kvz_buf_printf(&tmp, "%s/.base-%.64s.tmp.%ld.%u", dir, digest, (long)getpid(),
                   atomic_fetch_add(&seq, 1));
    if (base.oom || tmp.oom) {
        kvz_error_set(err, "storage pool: out of memory");
        goto cleanup;
    }
    /* Complete bases only ever appear by rename: one that exists is whole. */
    if (access(base.ptr, F_OK) != 0) {
        if (link(image_path, tmp.ptr) < 0 && copy_file(image_path, tmp.ptr, err) < 0) {
            unlink(tmp.ptr);
            kvz_error_wrap(err, "import image into storage pool");
            goto cleanup;
        }
        /* rename replaces a base another call installed meanwhile: same digest, same bytes.
         * When both are links to one file rename does nothing, so tmp is unlinked after. */
        if (chmod(tmp.ptr, 0444) < 0 || rename(tmp.ptr, base.ptr) < 0) {
            kvz_error_set_errno(err, "import image as '%s'", base.ptr);
            unlink(tmp.ptr);
            goto cleanup;
        }
        unlink(tmp.ptr);
    }
    if (pool_refresh(pool) < 0) {
        kvz_error_set(err, "refresh storage pool: %s", kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_vm_volume_capacity(out_size, pool, base.ptr, err) < 0)
        goto cleanup;
    *out_qcow2 = qcow2;
    *out_path = kvz_buf_detach(&base);
    rc = 0;
cleanup:
    free(dir);
    kvz_buf_release(&base);
    kvz_buf_release(&tmp);
    return rc;
}

static char *overlay_xml(const char *name, const char *base_path, bool base_qcow2, uint64_t size)
{
    char cap[24];
    snprintf(cap, sizeof(cap), "%" PRIu64, size);
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr vol = xmlNewNode(NULL, X("volume"));
    xmlDocSetRootElement(doc, vol);
    xmlNewTextChild(vol, NULL, X("name"), X(name));
    xmlNewProp(xmlNewTextChild(vol, NULL, X("capacity"), X(cap)), X("unit"), X("bytes"));
    xmlNodePtr target = xmlNewChild(vol, NULL, X("target"), NULL);
    xmlNewProp(xmlNewChild(target, NULL, X("format"), NULL), X("type"), X("qcow2"));
    xmlNodePtr perms = xmlNewChild(target, NULL, X("permissions"), NULL);
    xmlNewTextChild(perms, NULL, X("mode"), X("0600"));
    if (base_path) {
        xmlNodePtr backing = xmlNewChild(vol, NULL, X("backingStore"), NULL);
        xmlNewTextChild(backing, NULL, X("path"), X(base_path));
        xmlNewProp(xmlNewChild(backing, NULL, X("format"), NULL), X("type"),
                   X(base_qcow2 ? "qcow2" : "raw"));
    }
    char *r = NULL;
    if (kvz_xml_dump(&r, vol, NULL) < 0)
        r = NULL;
    xmlFreeDoc(doc);
    return r;
}

int kvz_vm_overlay_create(virStoragePoolPtr pool, const char *name, const char *base_path,
                          bool base_qcow2, uint64_t size, struct kvz_error **err)
{
    struct kvz_buf vname = KVZ_BUF_INIT;
    kvz_buf_printf(&vname, "%s.qcow2", name);
    char *xml = vname.oom ? NULL : overlay_xml(vname.ptr, base_path, base_qcow2, size);
    int rc = 0;
    if (!xml) {
        rc = kvz_error_set(err, "overlay '%s': out of memory", name);
    } else {
        virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);
        if (!vol)
            rc = kvz_error_set(err, "create disk '%s' on '%s': %s", kvz_buf_cstr(&vname), base_path,
                               kvz_virt_msg());
        else
            virStorageVolFree(vol);
    }
    free(xml);
    kvz_buf_release(&vname);
    return rc;
}

int kvz_vm_volume_delete(virStoragePoolPtr pool, const char *path, struct kvz_error **err)
{
    if (pool_is_remote(pool))
        return kvz_volume_remove(virStoragePoolGetConnect(pool), pool, path, err);
    if (access(path, F_OK) != 0)
        return 0;
    virConnectPtr conn = virStoragePoolGetConnect(pool);
    pool_refresh(pool);
    virStorageVolPtr vol = virStorageVolLookupByPath(conn, path);
    if (vol) {
        int rc = virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
        if (rc < 0)
            return kvz_error_set(err, "delete volume '%s': %s", path, kvz_virt_msg());
        return 0;
    }
    /* Not a volume libvirt lists (a file the pool skipped): remove it directly. */
    if (unlink(path) < 0 && errno != ENOENT)
        return kvz_error_set_errno(err, "delete '%s'", path);
    return 0;
}

int kvz_vm_volume_grow(virStoragePoolPtr pool, const char *path, uint64_t size,
                       struct kvz_error **err)
{
    uint64_t cap = 0;
    if (kvz_vm_volume_capacity(&cap, pool, path, err) < 0)
        return -1;
    if (size < cap)
        return kvz_error_set(err,
                             "disk '%s' is %" PRIu64 " bytes: shrinking it to %" PRIu64
                             " would lose data; keep disk at least as large",
                             path, cap, size);
    if (size == cap)
        return 0;
    virStorageVolPtr vol = virStorageVolLookupByPath(virStoragePoolGetConnect(pool), path);
    int rc = vol ? virStorageVolResize(vol, size, 0) : -1;
    if (vol)
        virStorageVolFree(vol);
    if (rc < 0)
        return kvz_error_set(err, "grow disk '%s': %s", path, kvz_virt_msg());
    return 0;
}

/* ---- what no guest uses any more ---- */

struct paths {
    char **v;
    size_t n;
};

static void paths_add(struct paths *p, const char *s)
{
    char **v = s ? realloc(p->v, (p->n + 1) * sizeof(*v)) : NULL;
    char *dup = v ? strdup(s) : NULL;
    if (v)
        p->v = v;
    if (dup)
        p->v[p->n++] = dup;
}

static bool paths_has(const struct paths *p, const char *s)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i], s))
            return true;
    return false;
}

static void paths_release(struct paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

/* The text of every node XPath `expr` selects in `xml` (disk sources, backing paths). */
static void collect(struct paths *out, const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "x.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(X(expr), ctx) : NULL;
    for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        if (c)
            paths_add(out, (const char *)c);
        xmlFree(c);
    }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
}

/* The files every domain on the connection uses, with their backing files. */
static int used_files(struct paths *out, virConnectPtr conn, struct kvz_error **err)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0)
        return kvz_error_set(err, "list vms: %s", kvz_virt_msg());
    for (int i = 0; i < n; i++) {
        for (int live = 0; live < 2; live++) {
            char *xml = virDomainGetXMLDesc(doms[i], live ? 0 : VIR_DOMAIN_XML_INACTIVE);
            if (xml)
                collect(out, xml, "//disk/source/@file | //disk//backingStore/source/@file");
            free(xml);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    /* an overlay's backing file, as the pool reads it from the qcow2 header */
    for (size_t i = 0; i < out->n; i++) {
        virStorageVolPtr vol = virStorageVolLookupByPath(conn, out->v[i]);
        char *xml = vol ? virStorageVolGetXMLDesc(vol, 0) : NULL;
        if (xml)
            collect(out, xml, "/volume/backingStore/path");
        free(xml);
        if (vol)
            virStorageVolFree(vol);
    }
    return 0;
}

int kvz_vm_storage_prune(size_t *out_removed, struct kvz_host *h, struct kvz_error **err)
{
    char name[32];
    struct paths used = {0};
    virStorageVolPtr *vols = NULL;
    int nv = 0, rc = -1;
    char *dir = NULL;
    *out_removed = 0;
    kvz_vm_pool_name(name, h->state_dir);
    virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, name);
    if (!pool)
        return 0;
    if (virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0) {
        kvz_error_set(err, "start storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    if (pool_refresh(pool) < 0 || !(dir = pool_dir(pool)) || used_files(&used, h->conn, err) < 0) {
        if (!dir || !used.n)
            kvz_error_set(err, "storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    nv = virStoragePoolListAllVolumes(pool, &vols, 0);
    if (nv < 0) {
        kvz_error_set(err, "list volumes of storage pool '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    size_t left = 0;
    for (int i = 0; i < nv; i++) {
        const char *vname = virStorageVolGetName(vols[i]);
        char *path = virStorageVolGetPath(vols[i]);
        bool base = vname && !strncmp(vname, "base-", 5);
        /* a base's mark of completeness (remote hosts) goes with the base */
        size_t plen = path ? strlen(path) : 0;
        bool mark = base && plen > 3 && !strcmp(path + plen - 3, ".ok");
        if (mark)
            path[plen - 3] = '\0';
        if (path && base && !paths_has(&used, path)) {
            if (virStorageVolDelete(vols[i], 0) < 0) {
                kvz_error_set(err, "delete unused base volume '%s': %s", path, kvz_virt_msg());
                free(path);
                goto cleanup;
            }
            (*out_removed)++;
        } else {
            left++; /* a guest's file, or one kvz did not make: the pool stays */
        }
        free(path);
    }
    if (!left) {
        /* nothing of any guest is left in it: the pool goes, with its autostart */
        bool remote = kvz_host_is_remote(h);
        bool stopped = virStoragePoolDestroy(pool) == 0;
        /* a remote host's directory goes through libvirt (fails harmlessly if not empty) */
        if (stopped && remote)
            virStoragePoolDelete(pool, 0);
        if (!stopped || virStoragePoolUndefine(pool) < 0) {
            kvz_error_set(err, "remove storage pool '%s': %s", name, kvz_virt_msg());
            goto cleanup;
        }
        if (!remote)
            rmdir(dir); /* fails harmlessly if something not a volume is still in it */
        (*out_removed)++;
    }
    rc = 0;
cleanup:
    for (int i = 0; i < nv; i++)
        virStorageVolFree(vols[i]);
    free(vols);
    paths_release(&used);
    free(dir);
    virStoragePoolFree(pool);
    return rc;
}
