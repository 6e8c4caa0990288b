#include "store/cache.h"

#include "base/buf.h"
#include "base/error.h"
#include "base/fs.h"
#include "parser/template_url.h"
#include "store/fetch.h"
#include "store/store.h"
#include "store/verify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Only objects/ must be reachable by others (qemu reads disk images unprivileged), and it need not
 * be listed. The rest is kvz's own: index and lock names are digests of template URLs, partial
 * downloads are unverified bytes.
 */
static const struct {
    const char *name;
    mode_t mode;
} subdirs[] = {{"objects", 0711}, {"index", 0700}, {"alias", 0700},
               {"partial", 0700}, {"tmp", 0700},   {"locks", 0700}};

void kvz_store_opts_init(struct kvz_store_opts *o)
{
    *o = (struct kvz_store_opts){
        .max_unpack_bytes = 64ull << 30,
        .max_entries = 4u << 20,
        .unverified_ratio = 8,
        .unverified_slack = 32u << 20,
        .retries = 5,
        .backoff_ms = 500,
        .backoff_max_ms = 30000,
        .stall_seconds = 30,
        .stall_bytes = 1024,
        .connect_timeout_s = 30,
        .max_redirects = 10,
    };
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int kvz_store_open(struct kvz_store **out, const char *state_dir, const struct kvz_store_opts *opts,
                   struct kvz_error **err)
{
    struct kvz_store *s = NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    char real[PATH_MAX];
    int ret = -1;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return kvz_error_set(err, "libcurl failed to initialise: %s",
                             curl_easy_strerror(curl_init_rc));
    if (kvz_mkdir_p(state_dir, 0755, err) < 0)
        return kvz_error_wrap(err, "state directory");
    /* Absolute and free of symlinks: libarchive's symlink checks walk the whole path. */
    if (!realpath(state_dir, real))
        return kvz_error_set_errno(err, "state directory '%s'", state_dir);
    s = calloc(1, sizeof(*s));
    if (!s) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (opts)
        s->opts = *opts;
    else
        kvz_store_opts_init(&s->opts);
    kvz_buf_printf(&b, "%s/cache", real);
    s->root = kvz_buf_detach(&b);
    if (!s->root) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        char *d = kvz_cache_path(s, subdirs[i].name, NULL);
        int r = d ? kvz_mkdir_p(d, subdirs[i].mode, err) : kvz_error_set(err, "out of memory");
        struct stat st;
        /* A cache made by an older kvz had them all 0755. */
        if (r == 0 && stat(d, &st) == 0 && (st.st_mode & 07777) != subdirs[i].mode &&
            chmod(d, subdirs[i].mode) < 0)
            r = kvz_error_set_errno(err, "chmod '%s'", d);
        free(d);
        if (r < 0)
            goto cleanup;
    }
    *out = s;
    s = NULL;
    ret = 0;
cleanup:
    kvz_store_free(s);
    kvz_buf_release(&b);
    return ret;
}

void kvz_store_free(struct kvz_store *s)
{
    if (!s)
        return;
    free(s->root);
    free(s);
}

void kvz_image_release(struct kvz_image *img)
{
    if (!img)
        return;
    free(img->digest);
    free(img->format);
    free(img->path);
    free(img->source);
    if (img->hold > 0)
        close(img->hold - 1);
    *img = (struct kvz_image){0};
}

char *kvz_cache_path(const struct kvz_store *s, const char *a, const char *b)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "%s/%s", s->root, a);
    if (b)
        kvz_buf_printf(&p, "/%s", b);
    return kvz_buf_detach(&p);
}

int kvz_cache_identity(char out[KVZ_HEX256], const struct kvz_template *t, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    kvz_buf_printf(&b, "%s\n", t->url);
    if (t->checksums_url)
        kvz_buf_printf(&b, "checksums:%s", t->checksums_url);
    else if (t->algo != KVZ_DIGEST_NONE && t->digest)
        kvz_buf_printf(&b, "%s:%s", kvz_digest_algo_str(t->algo), t->digest);
    else
        kvz_buf_puts(&b, "insecure");
    /* a signed SUMS file is another source than the same file unsigned: verified again */
    if (t->checksums_url && t->signature_url)
        kvz_buf_printf(&b, "\nsignature:%s\nkeyring:%s", t->signature_url,
                       t->keyring ? t->keyring : "");
    if (b.oom || EVP_Digest(b.ptr, b.len, md, &n, EVP_sha256(), NULL) != 1) {
        kvz_buf_release(&b);
        return kvz_error_set(err, "template '%s': cannot compute its identity", t->name);
    }
    kvz_buf_release(&b);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int kvz_cache_lock(int *out_fd, const struct kvz_store *s, const char *name, bool wait,
                   struct kvz_error **err)
{
    char *p = kvz_cache_path(s, "locks", name);
    int fd = -1, ret = -1;
    if (!p)
        return kvz_error_set(err, "out of memory");
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        kvz_error_set_errno(err, "lock '%s'", p);
        goto cleanup;
    }
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR)
            continue;
        if (!wait && errno == EWOULDBLOCK) {
            ret = 1;
            goto cleanup;
        }
        kvz_error_set_errno(err, "lock '%s'", p);
        goto cleanup;
    }
    *out_fd = fd;
    fd = -1;
    ret = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    free(p);
    return ret;
}

/* Reads a small file holding one sha256 hex (index and alias entries). */
static int read_hex(char out[KVZ_HEX256], const struct kvz_store *s, const char *dir,
                    const char *name)
{
    char *p = kvz_cache_path(s, dir, name);
    char buf[KVZ_HEX256] = "";
    int ret = 0;
    FILE *f = p ? fopen(p, "re") : NULL;
    if (f && fread(buf, 1, 64, f) == 64) {
        buf[64] = '\0';
        if (strspn(buf, "0123456789abcdef") == 64) {
            memcpy(out, buf, KVZ_HEX256);
            ret = 1;
        }
    }
    if (f)
        fclose(f);
    free(p);
    return ret;
}

int kvz_cache_alias_entry(char out[KVZ_HEX256], const struct kvz_store *s, const char *name)
{
    return read_hex(out, s, "alias", name);
}

int kvz_cache_alias(char out[KVZ_HEX256], const struct kvz_store *s, const char *sha512_hex)
{
    char name[140];
    snprintf(name, sizeof(name), "sha512-%s", sha512_hex);
    return read_hex(out, s, "alias", name);
}

int kvz_cache_index(char out[KVZ_HEX256], const struct kvz_store *s, const char *id)
{
    return read_hex(out, s, "index", id);
}

/* Writes `data` to <dir>/<name> through a temporary file and rename(2). */
static int write_atomic(const struct kvz_store *s, const char *dir, const char *name,
                        const char *data, struct kvz_error **err)
{
    char *p = kvz_cache_path(s, dir, name);
    int ret = p ? kvz_write_file_atomic(p, data, strlen(data), 0644, err)
                : kvz_error_set(err, "out of memory");
    free(p);
    return ret;
}

int kvz_cache_record(const struct kvz_store *s, const char *id, const char *hex,
                     const char *sha512_hex, struct kvz_error **err)
{
    char name[140];
    if (sha512_hex) {
        snprintf(name, sizeof(name), "sha512-%s", sha512_hex);
        if (write_atomic(s, "alias", name, hex, err) < 0)
            return -1;
    }
    return write_atomic(s, "index", id, hex, err);
}

static enum kvz_content_kind kind_from_str(const char *k)
{
    if (!k)
        return KVZ_CONTENT_UNKNOWN;
    if (!strcmp(k, "rootfs"))
        return KVZ_CONTENT_ROOTFS;
    if (!strcmp(k, "disk"))
        return KVZ_CONTENT_DISK;
    if (!strcmp(k, "iso"))
        return KVZ_CONTENT_ISO;
    return KVZ_CONTENT_UNKNOWN;
}

static const char *kind_str(enum kvz_content_kind k)
{
    static const char *const n[] = {"unknown", "rootfs", "disk", "iso"};
    return (unsigned)k < 4 ? n[k] : "unknown";
}

int kvz_cache_object(struct kvz_image *out, const struct kvz_store *s, const char *hex,
                     struct kvz_error **err)
{
    struct kvz_buf p = KVZ_BUF_INIT, lock = KVZ_BUF_INIT;
    struct kvz_image img = {0};
    json_error_t jerr;
    json_t *meta = NULL;
    int ret = -1, fd = -1;
    kvz_buf_printf(&p, "%s/objects/%s/meta.json", s->root, hex);
    kvz_buf_printf(&lock, "%s/locks/obj-%s", s->root, hex);
    if (p.oom || lock.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    /* Held before the object is looked at: a prune that got there first has removed it. */
    if ((fd = open(lock.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        kvz_error_set_errno(err, "lock '%s'", lock.ptr);
        goto cleanup;
    }
    while (flock(fd, LOCK_SH) < 0)
        if (errno != EINTR) {
            kvz_error_set_errno(err, "lock '%s'", lock.ptr);
            goto cleanup;
        }
    if (access(p.ptr, F_OK) < 0) {
        ret = 0;
        goto cleanup;
    }
    meta = json_load_file(p.ptr, 0, &jerr);
    const char *kind = NULL, *format = NULL, *file = NULL, *source = NULL;
    json_int_t size = 0;
    if (!meta || json_unpack(meta, "{s:s, s:s, s:s, s:I, s:s}", "kind", &kind, "format", &format,
                             "file", &file, "size", &size, "source", &source) < 0) {
        kvz_error_set(err, "cache object '%s' has a damaged meta.json; run 'kvz templates prune'",
                      p.ptr);
        goto cleanup;
    }
    struct kvz_buf d = KVZ_BUF_INIT, path = KVZ_BUF_INIT;
    kvz_buf_printf(&d, "sha256:%s", hex);
    kvz_buf_printf(&path, "%s/objects/%s/%s", s->root, hex, file);
    img.digest = kvz_buf_detach(&d);
    img.path = kvz_buf_detach(&path);
    img.format = strdup(format);
    img.source = kvz_url_redact(source); /* meta.json of an older kvz may hold credentials */
    img.kind = kind_from_str(kind);
    img.size = (uint64_t)size;
    if (!img.digest || !img.path || !img.format || !img.source) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    img.hold = fd + 1;
    fd = -1;
    *out = img;
    img = (struct kvz_image){0};
    ret = 1;
cleanup:
    if (fd >= 0)
        close(fd);
    kvz_image_release(&img);
    json_decref(meta);
    kvz_buf_release(&p);
    kvz_buf_release(&lock);
    return ret;
}

int kvz_cache_install(const struct kvz_store *s, const char *tmpdir, const char *hex,
                      enum kvz_content_kind kind, const char *format, const char *file,
                      uint64_t size, const char *source, struct kvz_error **err)
{
    struct kvz_buf meta_path = KVZ_BUF_INIT, dst = KVZ_BUF_INIT, lock = KVZ_BUF_INIT;
    json_t *meta = NULL;
    int lfd = -1, ret = -1;
    kvz_buf_printf(&lock, "obj-%s", hex);
    kvz_buf_printf(&meta_path, "%s/meta.json", tmpdir);
    kvz_buf_printf(&dst, "%s/objects/%s", s->root, hex);
    if (lock.oom || meta_path.oom || dst.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    /* The same bytes already stored (another URL or name): keep one copy. Checked before the
     * lock too: users of an existing object hold it shared for as long as they use it. */
    bool exists = access(dst.ptr, F_OK) == 0;
    if (!exists) {
        if (kvz_cache_lock(&lfd, s, lock.ptr, true, err) < 0)
            goto cleanup;
        exists = access(dst.ptr, F_OK) == 0;
    }
    if (exists) {
        ret = kvz_tree_remove(NULL, tmpdir, err);
        goto cleanup;
    }
    meta = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "digest", hex, "kind", kind_str(kind),
                     "format", format, "file", file, "size", (json_int_t)size, "source", source);
    errno = ENOMEM;
    if (!meta || json_dump_file(meta, meta_path.ptr, JSON_INDENT(2)) < 0) {
        kvz_error_set_errno(err, "write '%s'", meta_path.ptr);
        goto cleanup;
    }
    if (rename(tmpdir, dst.ptr) < 0) {
        kvz_error_set_errno(err, "move '%s' into the cache as '%s'", tmpdir, dst.ptr);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (lfd >= 0)
        close(lfd);
    json_decref(meta);
    kvz_buf_release(&lock);
    kvz_buf_release(&meta_path);
    kvz_buf_release(&dst);
    return ret;
}

int kvz_store_lookup(struct kvz_image *out, struct kvz_store *s, const struct kvz_template *t,
                     struct kvz_error **err)
{
    char id[KVZ_HEX256], hex[KVZ_HEX256];
    char *path = NULL;
    int r;
    /* A local file without a checksum is what it holds now (kvz_store_resolve reads it too):
     * the entry its old bytes made under the same URL is another template's. */
    int local = !t->digest && !t->checksums_url ? kvz_fetch_local_path(&path, t->url, err) : 0;
    free(path);
    if (local < 0)
        return -1;
    if (local) {
        char now[72];
        if (kvz_store_resolve(now, s, t, err) < 0)
            return -1;
        return kvz_cache_object(out, s, now + strlen("sha256:"), err);
    }
    if (kvz_cache_identity(id, t, err) < 0)
        return -1;
    if (kvz_cache_index(hex, s, id) == 1 && (r = kvz_cache_object(out, s, hex, err)) != 0)
        return r;
    /* The declared digest finds bytes that came under another URL. */
    if (t->algo == KVZ_DIGEST_SHA256 && t->digest && strlen(t->digest) == 64)
        return kvz_cache_object(out, s, t->digest, err);
    if (t->algo == KVZ_DIGEST_SHA512 && t->digest && kvz_cache_alias(hex, s, t->digest) == 1)
        return kvz_cache_object(out, s, hex, err);
    return 0;
}
