/*
 * Proxmox's appliance index, aplinfo.dat, read as pve-manager's PVE/APLInfo.pm reads it:
 * records of "Key: value" lines separated by blank lines; Description's continuation lines
 * start with white space; Package, Type (lxc or openvz), OS, Version and Infopage are
 * required; Location is relative to the index's directory unless it has a scheme, and
 * without one the template is <section>/<os>-<package>_<version>_<arch>.tar.gz.
 */
#include "base/buf.h"
#include "base/error.h"
#include "store/catalog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    F_PACKAGE,
    F_VERSION,
    F_TYPE,
    F_OS,
    F_SECTION,
    F_ARCH,
    F_LOCATION,
    F_SHA512,
    F_INFOPAGE,
    F_DESCRIPTION,
    F_N
};
static const char *const field_names[F_N] = {"package",  "version",      "type",     "os",
                                             "section",  "architecture", "location", "sha512sum",
                                             "infopage", "description"};

struct record {
    const char *val[F_N];
    size_t len[F_N];
    unsigned line;
};

/* pveam's /^(\d[a-zA-Z0-9\.\+\-\:\~]*)(-(\d+))?$/ */
static bool version_ok(const char *v, size_t n)
{
    if (!n || !isdigit((unsigned char)v[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr(".+-:~", v[i]))
            return false;
    return true;
}

static bool hex_ok(const char *v, size_t n, size_t want)
{
    if (n != want)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)v[i]))
            return false;
    return true;
}

static char *dup_lower(const char *s, size_t n)
{
    char *d = strndup(s, n);
    for (size_t i = 0; d && d[i]; i++)
        d[i] = (char)tolower((unsigned char)d[i]);
    return d;
}

static int record_done(struct kvz_catalog_index *out, struct record *r, const char *base,
                       struct kvz_error **err)
{
    struct kvz_catalog_entry e = {.kind = KVZ_CONTENT_ROOTFS};
    struct kvz_buf url = KVZ_BUF_INIT;
    int ret = -1;
    if (r->val[F_PACKAGE] && r->len[F_PACKAGE] == 12 &&
        !strncmp(r->val[F_PACKAGE], "pve-web-news", 12))
        return 0; /* the news item pveam shows, not a template */
    static const int required[] = {F_PACKAGE, F_TYPE, F_OS, F_VERSION, F_INFOPAGE};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!r->val[required[i]])
            return kvz_error_set(err, "aplinfo: line %u: incomplete record, it has no %s:", r->line,
                                 field_names[required[i]]);
    if (!version_ok(r->val[F_VERSION], r->len[F_VERSION]))
        return kvz_error_set(err, "aplinfo: line %u: version '%.*s' is not valid", r->line,
                             (int)r->len[F_VERSION], r->val[F_VERSION]);
    if (!((r->len[F_TYPE] == 3 && !strncmp(r->val[F_TYPE], "lxc", 3)) ||
          (r->len[F_TYPE] == 6 && !strncmp(r->val[F_TYPE], "openvz", 6))))
        return kvz_error_set(err, "aplinfo: line %u: unknown type '%.*s'", r->line,
                             (int)r->len[F_TYPE], r->val[F_TYPE]);
    const char *arch = r->val[F_ARCH] ? r->val[F_ARCH] : "i386";
    size_t arch_len = r->val[F_ARCH] ? r->len[F_ARCH] : 4;
    if (r->val[F_LOCATION]) {
        const char *loc = r->val[F_LOCATION];
        size_t n = r->len[F_LOCATION], s = 0;
        while (s < n && isalpha((unsigned char)loc[s]))
            s++;
        if (s > 0 && s + 3 <= n && !strncmp(loc + s, "://", 3))
            kvz_buf_printf(&url, "%.*s", (int)n, loc);
        else
            kvz_buf_printf(&url, "%s/%.*s", base, (int)n, loc);
    } else {
        const char *os = r->val[F_OS], *pkg = r->val[F_PACKAGE];
        size_t osn = r->len[F_OS], pn = r->len[F_PACKAGE];
        const char *section = r->val[F_SECTION] ? r->val[F_SECTION] : "unknown";
        int secn = r->val[F_SECTION] ? (int)r->len[F_SECTION] : 7;
        /* "$os-$package", and "$os-$os-" collapsed as pveam does */
        bool prefixed = pn > osn && !strncmp(pkg, os, osn) && pkg[osn] == '-';
        kvz_buf_printf(&url, "%s/%.*s/", base, secn, section);
        if (!prefixed)
            kvz_buf_printf(&url, "%.*s-", (int)osn, os);
        kvz_buf_printf(&url, "%.*s_%.*s_%.*s.tar.gz", (int)pn, pkg, (int)r->len[F_VERSION],
                       r->val[F_VERSION], (int)arch_len, arch);
    }
    if (r->val[F_SHA512]) {
        if (!hex_ok(r->val[F_SHA512], r->len[F_SHA512], 128)) {
            kvz_error_set(err, "aplinfo: line %u: sha512sum is not 128 hex digits", r->line);
            goto cleanup;
        }
        e.algo = KVZ_DIGEST_SHA512;
        e.digest = dup_lower(r->val[F_SHA512], r->len[F_SHA512]);
    }
    e.name = strndup(r->val[F_PACKAGE], r->len[F_PACKAGE]);
    e.version = strndup(r->val[F_VERSION], r->len[F_VERSION]);
    e.arch = strndup(arch, arch_len);
    e.url = kvz_buf_detach(&url);
    if (r->val[F_DESCRIPTION])
        e.description = strndup(r->val[F_DESCRIPTION], r->len[F_DESCRIPTION]);
    if (!e.name || !e.version || !e.arch || !e.url || (r->val[F_SHA512] && !e.digest) ||
        (r->val[F_DESCRIPTION] && !e.description) || kvz_catalog_index_add(out, &e) < 0) {
        kvz_error_set(err, "aplinfo: out of memory");
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&url);
    free(e.name);
    free(e.version);
    free(e.arch);
    free(e.url);
    free(e.digest);
    free(e.description);
    return ret;
}

int kvz_aplinfo_parse(struct kvz_catalog_index *out, const char *data, size_t len, const char *base,
                      struct kvz_error **err)
{
    struct record r = {0};
    bool in_record = false;
    int last = -1; /* the field a continuation line belongs to */
    unsigned line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n && s[n - 1] == '\r')
            n--;
        if (memchr(s, '\0', n))
            return kvz_error_set(err, "aplinfo: line %u: a NUL byte; this is not an aplinfo index",
                                 line);
        size_t blank = 0;
        while (blank < n && (s[blank] == ' ' || s[blank] == '\t'))
            blank++;
        if (blank == n) { /* a blank line ends the record */
            if (in_record && record_done(out, &r, base, err) < 0)
                return -1;
            memset(&r, 0, sizeof(r));
            in_record = false;
            last = -1;
            continue;
        }
        if (!in_record)
            r.line = line;
        in_record = true;
        if (blank > 0) { /* continuation: only Description's long text has them */
            if (last != F_DESCRIPTION)
                return kvz_error_set(err, "aplinfo: line %u: unable to parse appliance record",
                                     line);
            continue;
        }
        const char *colon = memchr(s, ':', n);
        if (!colon || colon == s)
            return kvz_error_set(
                err, "aplinfo: line %u: unable to parse appliance record (no 'Key: value')", line);
        size_t kn = (size_t)(colon - s);
        const char *v = colon + 1, *end = s + n;
        while (v < end && isspace((unsigned char)*v))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        last = -1;
        for (int f = 0; f < F_N; f++)
            if (strlen(field_names[f]) == kn && !strncasecmp(s, field_names[f], kn)) {
                last = f;
                break;
            }
        if (last < 0)
            continue; /* Maintainer, md5sum, ManageUrl...: kept by pveam, not needed here */
        if (end == v && last != F_DESCRIPTION)
            return kvz_error_set(err, "aplinfo: line %u: %.*s has no value", line, (int)kn, s);
        r.val[last] = v;
        r.len[last] = (size_t)(end - v);
    }
    if (in_record && record_done(out, &r, base, err) < 0)
        return -1;
    return 0;
}
