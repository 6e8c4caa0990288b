/*
 * What only a vm's settings need when loaded: how its keys combine, the Windows defaults (TPM
 * and Secure Boot with UEFI) and the unattended-install answer file read from beside the
 * manifest.
 */
#include "parser/manifest_catalogs.h"
#include "parser/manifest_rules.h"
#include "parser/manifest_vm.h"

#include "base/buf.h"
#include "parser/show.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An autounattend.xml larger than this is not an answer file. */
#define UNATTEND_MAX (1u << 20)

/* unattend: an XML body as is, else a file relative to the manifest, read now. */
static void load_unattend(struct kvz_diags *d, const char *file, const struct kvz_ynode *at,
                          struct kvz_resource *r)
{
    const char *s = r->unattend + strspn(r->unattend, " \t\r\n");
    if (*s == '<')
        return;
    char *path = kvz_manifest_beside(file, r->unattend);
    FILE *f = path ? fopen(path, "rb") : NULL;
    struct kvz_buf body = KVZ_BUF_INIT;
    if (!f) {
        kvz_manifest_error(
            d, file, at, "unattend-file",
            "unattend file '%s' cannot be read (%s); give an autounattend.xml path relative to the manifest, or the XML itself",
            kvz_show(path ? path : r->unattend), strerror(path ? errno : ENOMEM));
        goto cleanup;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && body.len <= UNATTEND_MAX)
        kvz_buf_add(&body, chunk, n);
    if (ferror(f) || body.oom) {
        kvz_manifest_error(d, file, at, "unattend-file",
                           "unattend file '%s' cannot be read; check it", kvz_show(path));
        goto cleanup;
    }
    if (body.len > UNATTEND_MAX) {
        kvz_manifest_error(
            d, file, at, "unattend-file",
            "unattend file '%s' is larger than %u KiB; an autounattend.xml is a few KiB",
            kvz_show(path), UNATTEND_MAX >> 10);
        goto cleanup;
    }
    const char *text = kvz_buf_cstr(&body);
    if (strlen(text) != body.len || text[strspn(text, " \t\r\n\xef\xbb\xbf")] != '<') {
        kvz_manifest_error(
            d, file, at, "unattend-file",
            "unattend file '%s' is not XML; it must hold an autounattend.xml (<unattend ...>)",
            kvz_show(path));
        goto cleanup;
    }
    free(r->unattend);
    r->unattend = kvz_buf_detach(&body);
cleanup:
    if (f)
        fclose(f);
    free(path);
    kvz_buf_release(&body);
}

void kvz_manifest_vm_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                           const struct kvz_ynode *v, struct kvz_resource *r)
{
    const struct kvz_ynode *maxm = kvz_ymap_get(v, "max_memory");
    const struct kvz_ynode *maxc = kvz_ymap_get(v, "max_cpus");
    const struct kvz_ynode *mem = kvz_ymap_get(v, "memory");
    const struct kvz_ynode *cpus = kvz_ymap_get(v, "cpus");
    const struct kvz_ynode *sb = kvz_ymap_get(v, "secure_boot");
    const struct kvz_ynode *tpm = kvz_ymap_get(v, "tpm");
    const struct kvz_ynode *unattend = kvz_ymap_get(v, "unattend");
    if (r->memory && r->max_memory && r->max_memory < r->memory)
        kvz_manifest_error(d, file, maxm, "max-memory",
                           "max_memory %s is less than memory %s; raise max_memory or remove it",
                           kvz_show(maxm->str), kvz_show(mem->str));
    if (r->max_cpus && r->cpus_milli && (uint64_t)r->max_cpus * 1000 < r->cpus_milli)
        kvz_manifest_error(d, file, maxc, "max-cpus",
                           "max_cpus %s is less than cpus %s; raise max_cpus or remove it",
                           kvz_show(maxc->str), kvz_show(cpus->str));
    if (r->has_cloud_init && r->os != KVZ_OS_LINUX)
        kvz_manifest_error(
            d, file, kvz_ymap_key(v, "cloud_init"), "cloud-init-os",
            "vm '%s' is windows but has cloud_init, which only linux guests read; remove cloud_init (use 'unattend:' for an unattended install)",
            kvz_show(r->name));
    if (r->unattend && r->os != KVZ_OS_WINDOWS)
        kvz_manifest_error(
            d, file, kvz_ymap_key(v, "unattend"), "unattend-os",
            "vm '%s' is linux but has unattend, which only Windows Setup reads; use cloud_init instead, or set os: windows",
            kvz_show(r->name));
    else if (r->unattend)
        load_unattend(d, file, unattend, r);
    /* Windows 11 needs both; a manifest says false to go without. */
    bool win_uefi = r->os == KVZ_OS_WINDOWS && r->firmware == KVZ_FW_UEFI;
    if (!tpm && win_uefi)
        r->tpm = true;
    if (!sb && win_uefi)
        r->secure_boot = true;
    if (r->secure_boot && r->firmware != KVZ_FW_UEFI)
        kvz_manifest_error(
            d, file, sb, "secure-boot-bios",
            "vm '%s' has secure_boot but firmware bios; Secure Boot is UEFI's: add 'firmware: uefi' or remove secure_boot",
            kvz_show(r->name));
    bool has_image = kvz_ymap_get(v, "image") != NULL;
    if (!has_image && !kvz_ymap_get(v, "cdrom"))
        kvz_manifest_error(
            d, file, k, "vm-no-boot",
            "vm '%s' has nothing to boot; add 'image: TEMPLATE' (a disk image) or 'cdrom: TEMPLATE' (an install ISO)",
            kvz_show(r->name));
    else if (!has_image && !kvz_ymap_get(v, "disk"))
        kvz_manifest_error(
            d, file, k, "vm-no-disk",
            "vm '%s' has no image, so it needs 'disk:' for its blank disk; add e.g. 'disk: 64GiB'",
            kvz_show(r->name));
}
