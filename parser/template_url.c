#include "parser/template_url.h"

#include "base/buf.h"

#include <string.h>
#include <strings.h>

enum kvz_url_scheme kvz_url_scheme(const char *url)
{
    if (!strncasecmp(url, "http://", 7))
        return url[7] && url[7] != '/' ? KVZ_URL_HTTP : KVZ_URL_BAD;
    if (!strncasecmp(url, "https://", 8))
        return url[8] && url[8] != '/' ? KVZ_URL_HTTPS : KVZ_URL_BAD;
    if (!strncasecmp(url, "file://", 7))
        return url[7] == '/' && url[8] ? KVZ_URL_FILE : KVZ_URL_BAD;
    if (strstr(url, "://") || !*url)
        return KVZ_URL_BAD;
    return KVZ_URL_PATH;
}

/* The last path component without query or fragment, lowercased into buf. */
static const char *file_name(const char *url, char *buf, size_t n)
{
    size_t end = strcspn(url, "?#");
    size_t start = end;
    while (start && url[start - 1] != '/')
        start--;
    size_t len = end - start;
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++) {
        char c = url[start + i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[len] = '\0';
    return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls > lx && !strcmp(s + ls - lx, suffix);
}

enum kvz_content_kind kvz_url_content_kind(const char *url)
{
    char name[256];
    file_name(url, name, sizeof(name));
    static const char *const rootfs[] = {".tar",     ".tar.gz", ".tgz",     ".tar.xz", ".txz",
                                         ".tar.zst", ".tzst",   ".tar.bz2", ".tbz2"};
    static const char *const disks[] = {".qcow2", ".img", ".raw"};
    static const char *const comp[] = {"", ".xz", ".gz", ".zst", ".bz2"};
    for (size_t i = 0; i < sizeof(rootfs) / sizeof(rootfs[0]); i++)
        if (ends_with(name, rootfs[i]))
            return KVZ_CONTENT_ROOTFS;
    for (size_t i = 0; i < sizeof(disks) / sizeof(disks[0]); i++)
        for (size_t j = 0; j < sizeof(comp) / sizeof(comp[0]); j++) {
            char suffix[16];
            size_t a = strlen(disks[i]), b = strlen(comp[j]);
            memcpy(suffix, disks[i], a);
            memcpy(suffix + a, comp[j], b + 1);
            if (ends_with(name, suffix))
                return KVZ_CONTENT_DISK;
        }
    if (ends_with(name, ".iso"))
        return KVZ_CONTENT_ISO;
    return KVZ_CONTENT_UNKNOWN;
}

static const struct {
    const char *word;
    const char *arch;
} arch_words[] = {
    {"amd64", "amd64"},     {"x86_64", "amd64"},      {"x86-64", "amd64"},  {"arm64", "arm64"},
    {"aarch64", "arm64"},   {"armhf", "armhf"},       {"armel", "armel"},   {"armv7l", "armhf"},
    {"armv7", "armhf"},     {"armv6l", "armel"},      {"i386", "i386"},     {"i686", "i386"},
    {"ppc64el", "ppc64el"}, {"ppc64le", "ppc64el"},   {"ppc64", "ppc64"},   {"s390x", "s390x"},
    {"riscv64", "riscv64"}, {"mips64el", "mips64el"}, {"mipsel", "mipsel"}, {"loong64", "loong64"},
};

const char *kvz_host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#else
    return NULL;
#endif
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

const char *kvz_url_foreign_arch(const char *url)
{
    char name[256];
    const char *host = kvz_host_arch();
    if (!host)
        return NULL;
    file_name(url, name, sizeof(name));
    for (size_t i = 0; i < sizeof(arch_words) / sizeof(arch_words[0]); i++) {
        size_t wl = strlen(arch_words[i].word);
        for (const char *p = strstr(name, arch_words[i].word); p;
             p = strstr(p + 1, arch_words[i].word)) {
            bool start = p == name || !word_char(p[-1]);
            bool end = !word_char(p[wl]);
            if (start && end)
                return strcmp(arch_words[i].arch, host) ? arch_words[i].word : NULL;
        }
    }
    return NULL;
}

bool kvz_hex_digest_normalize(char *s, size_t digits)
{
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            s[i] = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return i == digits;
}

/* Where the scheme's "://" ends, or NULL when `url` has no scheme (a plain path). */
static const char *after_scheme(const char *url)
{
    const char *p = url;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    return p > url && !strncmp(p, "://", 3) ? p + 3 : NULL;
}

char *kvz_url_redact(const char *url)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    const char *auth = after_scheme(url);
    if (!auth) {
        kvz_buf_puts(&b, url);
        return kvz_buf_detach(&b);
    }
    /* RFC 3986: the authority ends at the path, query or fragment; userinfo at its last '@'. */
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen; c++)
        if (*c == '@')
            at = c;
    kvz_buf_add(&b, url, (size_t)(auth - url));
    if (at)
        kvz_buf_puts(&b, "***");
    const char *host = at ? at : auth;
    const char *q = host + strcspn(host, "?#");
    kvz_buf_add(&b, host, (size_t)(q - host));
    if (*q == '?') {
        /* Signed URLs carry their secret in the query (X-Amz-Signature=, token=, sig=). */
        const char *end = q + 1 + strcspn(q + 1, "#");
        kvz_buf_putc(&b, '?');
        for (const char *p = q + 1; p < end;) {
            size_t plen = strcspn(p, "&;");
            if (p + plen > end)
                plen = (size_t)(end - p);
            const char *eq = memchr(p, '=', plen);
            if (eq) {
                kvz_buf_add(&b, p, (size_t)(eq - p) + 1);
                if (eq + 1 < p + plen)
                    kvz_buf_puts(&b, "***");
            } else if (plen) {
                kvz_buf_puts(&b, "***"); /* a bare value may be the token itself */
            }
            p += plen;
            if (p < end)
                kvz_buf_putc(&b, *p++);
        }
        q = end;
    }
    kvz_buf_puts(&b, q); /* the fragment, never sent to the server */
    return kvz_buf_detach(&b);
}
