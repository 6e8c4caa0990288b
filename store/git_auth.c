/* Credentials and host keys for fetching git mirrors (store/git.h). */
#include "store/git.h"

#include "base/buf.h"

#include <git2.h>
#include <libssh2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct auth {
    char *host, *user, *pass; /* from the URL */
    int port;                 /* ssh: 22 unless the URL says */
    int ssh_step;             /* 0: agent, 1..: ~/.ssh keys, then exhausted */
    bool userpass_tried;
    char failure[512];
};

/* host, port, user and password of scheme://[user[:pass]@]host[:port]/... (or user@host:path) */
static int parse_url(struct auth *a, const char *url)
{
    const char *p = strstr(url, "://");
    bool ssh = !strncmp(url, "ssh://", 6);
    a->port = ssh ? 22 : 0;
    if (!p)
        return 0; /* a local path */
    p += 3;
    const char *end = p + strcspn(p, "/");
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        a->user = strndup(p, (size_t)((colon ? colon : at) - p));
        if (colon)
            a->pass = strndup(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    a->host = strndup(p, (size_t)((colon ? colon : end) - p));
    if (colon && ssh)
        a->port = atoi(colon + 1);
    return a->host ? 0 : -1;
}

static void failed(struct auth *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failed(struct auth *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->failure, sizeof(a->failure), fmt, ap);
    va_end(ap);
}

/* login and password of `host` in ~/.netrc, the place curl and git look */
static int netrc(char **user, char **pass, const char *host)
{
    const char *home = getenv("HOME");
    struct kvz_buf p = KVZ_BUF_INIT;
    char tok[512], mach[512] = "";
    bool ours = false;
    kvz_buf_printf(&p, "%s/.netrc", home ? home : "/");
    FILE *f = fopen(kvz_buf_cstr(&p), "r");
    kvz_buf_release(&p);
    if (!f)
        return -1;
    while (fscanf(f, "%511s", tok) == 1) {
        if (!strcmp(tok, "machine") && fscanf(f, "%511s", mach) == 1)
            ours = !strcmp(mach, host);
        else if (!strcmp(tok, "default"))
            ours = true;
        else if (ours && !strcmp(tok, "login") && fscanf(f, "%511s", tok) == 1)
            free(*user), *user = strdup(tok);
        else if (ours && !strcmp(tok, "password") && fscanf(f, "%511s", tok) == 1)
            free(*pass), *pass = strdup(tok);
    }
    fclose(f);
    return *pass ? 0 : -1;
}

static int credentials(git_credential **out, const char *url, const char *user_from_url,
                       unsigned int allowed, void *payload)
{
    struct auth *a = payload;
    const char *user = user_from_url ? user_from_url : getenv("USER");
    if (!user)
        user = "git";
    if (allowed & GIT_CREDENTIAL_USERNAME)
        return git_credential_username_new(out, user);
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        static const char *const keys[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
        const char *home = getenv("HOME");
        if (a->ssh_step == 0) {
            a->ssh_step++;
            if (getenv("SSH_AUTH_SOCK"))
                return git_credential_ssh_key_from_agent(out, user);
        }
        while (a->ssh_step <= 3) {
            struct kvz_buf k = KVZ_BUF_INIT;
            kvz_buf_printf(&k, "%s/.ssh/%s", home ? home : "/", keys[a->ssh_step++ - 1]);
            int r = 1;
            if (!k.oom && access(kvz_buf_cstr(&k), R_OK) == 0)
                r = git_credential_ssh_key_new(out, user, NULL, kvz_buf_cstr(&k), NULL);
            kvz_buf_release(&k);
            if (r <= 0)
                return r;
        }
        failed(
            a,
            "ssh refused every key (ssh-agent, ~/.ssh/id_ed25519, id_ecdsa, id_rsa) of '%s' on '%s'; load your key into ssh-agent or authorize it on the server",
            user, a->host ? a->host : "");
        return -1;
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !a->userpass_tried) {
        char *u = a->user ? strdup(a->user) : NULL, *p = a->pass ? strdup(a->pass) : NULL;
        a->userpass_tried = true;
        if (p || (a->host && netrc(&u, &p, a->host) == 0)) {
            int r = git_credential_userpass_plaintext_new(out, u ? u : user, p);
            free(u);
            free(p);
            return r;
        }
        free(u);
        free(p);
        failed(
            a,
            "'%s' asks for credentials: put a token in ~/.netrc (machine HOST login USER password TOKEN)",
            a->host ? a->host : "");
        return -1;
    }
    if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
        failed(a, "'%s' refused the credentials of ~/.netrc or the URL; check the token",
               a->host ? a->host : "");
    else
        failed(a, "'%s' asks for a kind of authentication kvz does not do; use ssh keys or a token",
               a->host ? a->host : "");
    return -1;
}

static int key_type(git_cert_ssh_raw_type_t t)
{
    switch (t) {
    case GIT_CERT_SSH_RAW_TYPE_RSA:
        return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case GIT_CERT_SSH_RAW_TYPE_DSS:
        return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
        return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
        return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
        return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
        return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default:
        return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
    }
}

/* The server's ssh host key must be in ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts, as
 * ssh's StrictHostKeyChecking has it: libgit2 1.5 accepts any key when nobody checks. */
static int check_host(git_cert *cert, int valid, const char *host, void *payload)
{
    struct auth *a = payload;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return valid ? 0 : GIT_PASSTHROUGH; /* https: libgit2 checks the certificate chain */
    const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
    const char *home = getenv("HOME");
    char name[300];
    snprintf(name, sizeof(name), a->port && a->port != 22 ? "[%s]:%d" : "%s", host, a->port);
    if (!(hk->type & GIT_CERT_SSH_RAW)) {
        failed(a, "the host key of '%s' cannot be checked; nothing was fetched", name);
        return -1;
    }
    LIBSSH2_SESSION *s = libssh2_session_init();
    LIBSSH2_KNOWNHOSTS *kh = s ? libssh2_knownhost_init(s) : NULL;
    int r = LIBSSH2_KNOWNHOST_CHECK_FAILURE;
    if (kh) {
        struct kvz_buf p = KVZ_BUF_INIT;
        kvz_buf_printf(&p, "%s/.ssh/known_hosts", home ? home : "/");
        libssh2_knownhost_readfile(kh, kvz_buf_cstr(&p), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
        libssh2_knownhost_readfile(kh, "/etc/ssh/ssh_known_hosts", LIBSSH2_KNOWNHOST_FILE_OPENSSH);
        kvz_buf_release(&p);
        struct libssh2_knownhost *found = NULL;
        r = libssh2_knownhost_checkp(kh, host, a->port ? a->port : 22, hk->hostkey, hk->hostkey_len,
                                     LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                         key_type(hk->raw_type),
                                     &found);
        libssh2_knownhost_free(kh);
    }
    if (s)
        libssh2_session_free(s);
    if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
        return 0;
    if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
        snprintf(
            a->failure, sizeof(a->failure),
            "the ssh host key of '%s' does not match ~/.ssh/known_hosts (someone may be intercepting); nothing was fetched: if the key changed on purpose, replace its line there",
            name);
    else if (r == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND)
        snprintf(
            a->failure, sizeof(a->failure),
            "the ssh host key of '%s' is not in ~/.ssh/known_hosts; check its fingerprint and add it (ssh-keyscan), then run again",
            name);
    else
        snprintf(a->failure, sizeof(a->failure),
                 "cannot check the ssh host key of '%s' against ~/.ssh/known_hosts", name);
    return -1;
}

int kvz_git_auth_init(struct git_remote_callbacks *cb, void **payload, const char *url,
                      struct kvz_error **err)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a || parse_url(a, url) < 0) {
        kvz_git_auth_free(a);
        return kvz_error_set(err, "git: out of memory");
    }
    cb->credentials = credentials;
    cb->certificate_check = check_host;
    cb->payload = a;
    *payload = a;
    return 0;
}

const char *kvz_git_auth_failure(void *payload)
{
    struct auth *a = payload;
    return a && a->failure[0] ? a->failure : NULL;
}

void kvz_git_auth_free(void *payload)
{
    struct auth *a = payload;
    if (!a)
        return;
    free(a->host);
    free(a->user);
    if (a->pass)
        explicit_bzero(a->pass, strlen(a->pass));
    free(a->pass);
    free(a);
}
