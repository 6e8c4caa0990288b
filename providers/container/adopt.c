#include "providers/container/container.h"

#include "base/fs.h"
#include "providers/adopt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* kvz import of a container: its root filesystem must be a directory or a disk image file,
 * which kvz then keeps where it is (and never deletes: it is not in kvz's layout). */
int kvz_ct_adopt(struct kvz_adoption *out, struct kvz_host *h, const struct kvz_resource *want,
                 bool dry_run, struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    char *xml = NULL, *rootfs = NULL, *img = NULL;
    struct kvz_observed_resource r = {0};
    struct stat st;
    int ret = -1;

    if (kvz_adopt_find(&dom, &xml, out, h, KVZ_KIND_CONTAINER, want->name, err) < 0)
        return -1;
    if (kvz_ct_xml_parse(&r, &rootfs, &img, xml, err) < 0)
        goto cleanup;
    if (!rootfs && !img) {
        kvz_error_set(err,
                      "container '%s': its root is no directory or image file kvz can take over "
                      "(a block device, a volume, or the host's own root); recreate it with "
                      "'kvz apply' instead",
                      want->name);
        goto cleanup;
    }
    if (rootfs && (!strcmp(rootfs, "/") || !kvz_path_is(rootfs, true))) {
        kvz_error_set(err,
                      "container '%s': its rootfs '%s' is %s; kvz can take over only a "
                      "rootfs of its own",
                      want->name, rootfs,
                      strcmp(rootfs, "/") ? "not a directory" : "the host's root");
        goto cleanup;
    }
    if (img && (stat(img, &st) < 0 || !S_ISREG(st.st_mode))) {
        kvz_error_set(err,
                      "container '%s': its disk '%s' is not a regular file; kvz can take over "
                      "only image files",
                      want->name, img);
        goto cleanup;
    }
    if (!(out->storage = strdup(rootfs ? rootfs : img))) {
        kvz_error_set(err, "import: out of memory");
        goto cleanup;
    }
    out->mac = r.mac;
    r.mac = NULL;
    out->memory = r.memory;
    out->cpus_milli = r.cpus_milli;
    if (!dry_run && !out->already &&
        kvz_adopt_record(h, dom, KVZ_KIND_CONTAINER, want, out->running, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    kvz_observed_resource_release(&r);
    if (ret < 0)
        kvz_adoption_release(out);
    virDomainFree(dom);
    free(xml);
    free(rootfs);
    free(img);
    return ret;
}
