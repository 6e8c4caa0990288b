/* The rules between the keys of one template and of one container or vm (manifest_rules.h). */
#include "parser/manifest_rules.h"

#include "base/buf.h"
#include "parser/manifest_vm.h"
#include "parser/names.h"
#include "parser/show.h"
#include "parser/template_url.h"
#include "parser/units.h"

#include <stdarg.h>
#include <stdint.h>

struct kvz_loc kvz_manifest_loc(const char *file, const struct kvz_ynode *n)
{
    struct kvz_loc l = {file, n ? n->line : 0, n ? n->col : 0};
    return l;
}

static void vdiag(struct kvz_diags *d, enum kvz_severity sev, struct kvz_loc at, const char *code,
                  const char *fmt, va_list ap)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_vprintf(&b, fmt, ap);
    kvz_diags_add(d, sev, at.file, at.line, at.col, code, "%s", kvz_buf_cstr(&b));
    kvz_buf_release(&b);
}

void kvz_manifest_diag(struct kvz_diags *d, enum kvz_severity sev, struct kvz_loc at,
                       const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(d, sev, at, code, fmt, ap);
    va_end(ap);
}

void kvz_manifest_error(struct kvz_diags *d, const char *file, const struct kvz_ynode *at,
                        const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(d, KVZ_SEV_ERROR, kvz_manifest_loc(file, at), code, fmt, ap);
    va_end(ap);
}

void kvz_manifest_template_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                 const struct kvz_ynode *v, const struct kvz_template_raw *raw)
{
    const char *sums[] = {"sha256", "sha512", "checksums"};
    size_t count = 0;
    for (size_t i = 0; i < 3; i++) {
        const struct kvz_ynode *at = kvz_ymap_get(v, sums[i]);
        if (!at || at->type == KVZ_YINVALID)
            continue;
        if (count++)
            kvz_manifest_diag(
                d, KVZ_SEV_ERROR, kvz_manifest_loc(file, at), "checksum-conflict",
                "template '%s' has more than one of sha256, sha512 and checksums; keep one",
                kvz_show(k->str));
    }
    const struct kvz_ynode *insecure_at = kvz_ymap_get(v, "insecure");
    if (raw->insecure && count)
        kvz_manifest_diag(d, KVZ_SEV_ERROR, kvz_manifest_loc(file, insecure_at),
                          "checksum-conflict",
                          "template '%s' has a checksum and 'insecure: true'; remove 'insecure'",
                          kvz_show(k->str));
    enum kvz_url_scheme scheme = raw->url ? kvz_url_scheme(raw->url) : KVZ_URL_BAD;
    if ((scheme == KVZ_URL_HTTP || scheme == KVZ_URL_HTTPS) && !count && !raw->insecure &&
        !raw->catalog)
        kvz_manifest_diag(
            d, KVZ_SEV_ERROR, kvz_manifest_loc(file, k), "checksum-missing",
            "template '%s' downloads over http(s) without a checksum; add 'sha256: HEX', 'sha512: HEX' or 'checksums: URL' of a SHA256SUMS file (or 'insecure: true' to skip verification)",
            kvz_show(k->str));
    if (raw->insecure && !count)
        kvz_manifest_diag(
            d, KVZ_SEV_WARNING, kvz_manifest_loc(file, insecure_at), "insecure-template",
            "template '%s' is not verified (insecure: true); anyone on the network path can change what it installs; add a sha256",
            kvz_show(k->str));
}

/* A size the host applies in units of `unit` bytes (the kernel's pages for a container's
 * limit, QEMU's MiB for a vm's memory): anything else would be rounded there and never match
 * the manifest again, so it is refused with the two nearest sizes that work. */
static void check_granularity(struct kvz_diags *d, const char *file, const struct kvz_ynode *v,
                              const struct kvz_resource *r, const char *key, uint64_t bytes,
                              uint64_t unit, const char *why)
{
    if (!bytes || bytes % unit == 0)
        return;
    struct kvz_buf lo = KVZ_BUF_INIT, hi = KVZ_BUF_INIT;
    if (bytes >= unit)
        kvz_size_human(&lo, bytes - bytes % unit);
    kvz_size_human(&hi, bytes - bytes % unit + unit);
    kvz_manifest_diag(d, KVZ_SEV_ERROR, kvz_manifest_loc(file, kvz_ymap_get(v, key)),
                      "size-granularity",
                      "%s '%s': %s %s is not a whole number of %s, %s; use %s%s%s",
                      kvz_kind_str(r->kind), kvz_show(r->name), key,
                      kvz_show(kvz_ymap_get(v, key)->str), unit == 4096 ? "4KiB pages" : "MiB", why,
                      lo.len ? kvz_buf_cstr(&lo) : "", lo.len ? " or " : "", kvz_buf_cstr(&hi));
    kvz_buf_release(&lo);
    kvz_buf_release(&hi);
}

void kvz_manifest_resource_check(struct kvz_diags *d, const char *file, const struct kvz_ynode *k,
                                 const struct kvz_ynode *v, struct kvz_resource *r)
{
    const struct kvz_ynode *os = kvz_ymap_get(v, "os");
    if (r->kind == KVZ_KIND_CONTAINER)
        check_granularity(d, file, v, r, "memory", r->memory, 4096,
                          "the unit the kernel applies memory limits in");
    else {
        check_granularity(d, file, v, r, "memory", r->memory, 1 << 20,
                          "the unit QEMU sizes guest memory in");
        check_granularity(d, file, v, r, "max_memory", r->max_memory, 1 << 20,
                          "the unit QEMU sizes guest memory in");
    }
    if (r->kind == KVZ_KIND_CONTAINER) {
        if (r->os == KVZ_OS_WINDOWS)
            kvz_manifest_diag(
                d, KVZ_SEV_ERROR, kvz_manifest_loc(file, os), "container-windows",
                "container '%s' cannot run windows: a container shares the host's Linux kernel; declare it under 'vms:' instead",
                kvz_show(r->name));
        return;
    }
    kvz_manifest_vm_check(d, file, k, v, r);
}
