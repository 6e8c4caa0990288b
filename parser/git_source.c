#include "parser/git_source.h"

#include "parser/template_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kvz_git_source_is(const char *s)
{
    return s && !strncmp(s, "git+", 4);
}

void kvz_git_source_release(struct kvz_git_source *s)
{
    free(s->url);
    free(s->path);
    free(s->ref);
    s->url = s->path = s->ref = NULL;
}

/* PATH without its outer slashes; -1 for a ".." or "." component or an empty one inside. */
static int clean_path(char **out, const char *p, size_t len)
{
    while (len && *p == '/')
        p++, len--;
    while (len && p[len - 1] == '/')
        len--;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t n = j - i;
        if (!n || (n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
            return -1;
        i = j + 1;
    }
    *out = strndup(p, len);
    return *out ? 0 : -2;
}

char *kvz_git_source_redact(const char *s)
{
    if (!kvz_git_source_is(s))
        return kvz_url_redact(s);
    const char *q = strchr(s, '?');
    char *head = strndup(s, q ? (size_t)(q - s) : strlen(s));
    char *shown = head ? kvz_url_redact(head) : NULL;
    char *out = NULL;
    if (shown && asprintf(&out, "%s%s", shown, q ? q : "") < 0)
        out = NULL;
    free(head);
    free(shown);
    return out;
}

static int fail(struct kvz_error **err, const char *s, const char *why)
{
    char *shown = kvz_git_source_redact(s);
    for (char *c = shown; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?'; /* one line, whatever was given */
    int r = kvz_error_set(err, "source '%s': %s", shown ? shown : "git+...", why);
    free(shown);
    return r;
}

int kvz_git_source_parse(struct kvz_git_source *out, const char *s, struct kvz_error **err)
{
    static const char *const schemes[] = {"https://", "ssh://", "file://"};
    static const char grammar[] = "write git+URL//PATH?ref=REF (https, ssh or file URL)";
    memset(out, 0, sizeof(*out));
    if (!kvz_git_source_is(s))
        return fail(err, s, grammar);
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f)
            return fail(err, s,
                        "a git source holds no spaces or control characters; quote it whole");
    const char *u = s + 4, *q = strchr(u, '?');
    size_t ulen = q ? (size_t)(q - u) : strlen(u);
    const char *rest = u; /* where the repository's path begins */
    const char *colon = memmem(u, ulen, "://", 3);
    if (colon) {
        bool known = false;
        for (size_t i = 0; i < sizeof(schemes) / sizeof(*schemes); i++)
            known |= !strncmp(u, schemes[i], strlen(schemes[i]));
        if (!known)
            return fail(err, s,
                        "unsupported scheme; kvz fetches git over https, ssh and file URLs");
        rest = colon + 3;
        if (!strncmp(u, "file://", 7) && *rest != '/')
            return fail(err, s, "a file URL needs an absolute path: git+file:///srv/infra.git");
        if (strncmp(u, "file://", 7)) { /* past the host: a "//" in the authority is no PATH */
            const char *slash = memchr(rest, '/', ulen - (size_t)(rest - u));
            if (!slash || slash == rest)
                return fail(
                    err, s,
                    "the URL names no host or no repository; write git+https://HOST/REPO.git//PATH");
            rest = slash;
        }
    } else if (!ulen) {
        return fail(err, s, grammar);
    }
    /* the first "//" after the repository's path begins splits URL from PATH */
    const char *sep = NULL;
    for (const char *p = rest + (*rest == '/'); p + 1 < u + ulen; p++)
        if (p[0] == '/' && p[1] == '/') {
            sep = p;
            break;
        }
    size_t url_len = sep ? (size_t)(sep - u) : ulen;
    while (url_len > 1 && u[url_len - 1] == '/' && u + url_len - 1 > rest)
        url_len--;
    if (u + url_len <= rest + (*rest == '/'))
        return fail(err, s, "the URL names no repository; write git+URL//PATH?ref=REF");
    if (!(out->url = strndup(u, url_len)))
        return kvz_error_set(err, "source: out of memory");
    const char *p = sep ? sep + 2 : u + ulen;
    int r = clean_path(&out->path, p, (size_t)(u + ulen - p));
    if (r == -2)
        return kvz_error_set(err, "source: out of memory");
    if (r < 0)
        return fail(
            err, s,
            "PATH must name a file or folder inside the repository, without '.', '..' or empty parts");
    if (q) {
        const char *v = q + 1;
        if (strncmp(v, "ref=", 4))
            return fail(err, s, "the only query parameter is ref: ?ref=BRANCH, TAG or COMMIT");
        v += 4;
        if (!*v || strpbrk(v, "?& ~^:\\*[") || strstr(v, "..") || v[strlen(v) - 1] == '/')
            return fail(err, s,
                        "ref is empty or not a valid git ref; give a branch, tag or commit");
        if (strcmp(v, "HEAD") && !(out->ref = strdup(v))) /* HEAD: the remote's, the default */
            return kvz_error_set(err, "source: out of memory");
    }
    return 0;
}
