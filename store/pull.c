#include "base/buf.h"
#include "base/error.h"
#include "base/fs.h"
#include "parser/template_url.h"
#include "store/cache.h"
#include "store/detect.h"
#include "store/fetch.h"
#include "store/pipe.h"
#include "store/unpack.h"
#include "store/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * One pull: the downloader (this thread) appends to the partial file and
 * hashes; the consumer thread follows it through the file, recognises the
 * content and unpacks or decompresses it into a staging directory, which is
 * moved into the cache only once the digest matched.
 */
struct pull {
    struct kvz_store *s;
    const struct kvz_template *t;
    enum kvz_content_kind expect; /* the use, else the URL's hint */
    char id[KVZ_HEX256];
    char *url;
    char *shown;  /* the url as messages and meta.json name it: no credentials */
    char *part;   /* partial/<id>.part */
    char *tmpdir; /* tmp/obj.<id>.XXXXXX */
    int fd;
    struct kvz_pipe pipe;
    struct kvz_hasher hasher;
    uint64_t size; /* bytes in the partial file */
    /* consumer results */
    struct kvz_pipe_reader reader;
    bool restarted; /* the consumer's source started over */
    enum kvz_content_kind kind;
    char format[32];
    const char *file;  /* name inside the object */
    bool use_download; /* the object file is the download itself */
    uint64_t content_size;
    struct kvz_error *cerr;
};

static const char *use_words(enum kvz_content_kind k)
{
    switch (k) {
    case KVZ_CONTENT_ROOTFS:
        return "a container template (needs a rootfs archive)";
    case KVZ_CONTENT_DISK:
        return "a vm image (needs a disk image)";
    case KVZ_CONTENT_ISO:
        return "a vm cdrom (needs an ISO image)";
    default:
        return "anything";
    }
}

static ssize_t source_read(void *arg, void *buf, size_t len)
{
    struct pull *p = arg;
    ssize_t n = kvz_pipe_read(&p->reader, buf, len);
    if (n == KVZ_PIPE_RESTARTED) {
        p->restarted = true;
        errno = EAGAIN;
        return -1;
    }
    return n < 0 ? -1 : n;
}

static int read_head(size_t *out, char *head, size_t cap, struct pull *p, struct kvz_error **err)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = source_read(p, head + len, cap - len);
        if (n < 0)
            return kvz_error_set_errno(err, "read the download");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = len;
    return 0;
}

static int stage_path(char **out, struct pull *p, const char *file, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/%s", p->tmpdir, file);
    *out = kvz_buf_detach(&b);
    return *out ? 0 : kvz_error_set(err, "out of memory");
}

static int consume_once(struct pull *p, struct kvz_error **err)
{
    char *head = malloc(KVZ_MAGIC_PEEK), *dst = NULL;
    size_t len = 0;
    int ret = -1;
    struct kvz_source src = {.read = source_read, .arg = p};
    struct kvz_unpack_limits lim = {.max_bytes = p->s->opts.max_unpack_bytes,
                                    .max_entries = p->s->opts.max_entries};
    if (!head) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    if (read_head(&len, head, KVZ_MAGIC_PEEK, p, err) < 0)
        goto cleanup;
    enum kvz_magic m = kvz_magic_detect(head, len), inner = m;
    p->reader.pos = 0;
    if (kvz_magic_is_compression(m)) {
        if (kvz_unpack_peek(&len, head, KVZ_MAGIC_PEEK, &src, err) < 0)
            goto cleanup;
        inner = kvz_magic_detect(head, len);
        p->reader.pos = 0;
    }
    p->use_download = !kvz_magic_is_compression(m) && m != KVZ_MAGIC_TAR;
    switch (inner) {
    case KVZ_MAGIC_TAR:
        p->kind = KVZ_CONTENT_ROOTFS;
        p->file = "rootfs";
        snprintf(p->format, sizeof(p->format), m == inner ? "tar" : "tar+%s", kvz_magic_str(m));
        if (stage_path(&dst, p, p->file, err) < 0)
            goto cleanup;
        if (mkdir(dst, 0755) < 0) {
            kvz_error_set_errno(err, "create '%s'", dst);
            goto cleanup;
        }
        ret = kvz_unpack_tar(&p->content_size, dst, &src, m != inner, &lim, err);
        goto cleanup;
    case KVZ_MAGIC_QCOW2:
        p->kind = KVZ_CONTENT_DISK;
        p->file = "disk.qcow2";
        snprintf(p->format, sizeof(p->format), "qcow2");
        break;
    case KVZ_MAGIC_ISO:
        p->kind = KVZ_CONTENT_ISO;
        p->file = "image.iso";
        snprintf(p->format, sizeof(p->format), "iso");
        break;
    default:
        if (p->expect == KVZ_CONTENT_ROOTFS) {
            kvz_error_set(
                err,
                "content is not a rootfs archive (no tar, gzip, xz, zstd or bzip2 signature%s); check the url",
                m == inner ? "" : " inside the compression");
            goto cleanup;
        }
        p->kind = KVZ_CONTENT_DISK;
        p->file = "disk.raw";
        snprintf(p->format, sizeof(p->format), "raw");
        break;
    }
    if (p->use_download) {
        ret = 0; /* stored as downloaded; nothing more to read */
        goto cleanup;
    }
    if (stage_path(&dst, p, p->file, err) < 0)
        goto cleanup;
    ret = kvz_unpack_decompress(&p->content_size, dst, &src, lim.max_bytes, err);
cleanup:
    free(head);
    free(dst);
    return ret;
}

static void *consume(void *arg)
{
    struct pull *p = arg;
    for (;;) {
        kvz_pipe_rewind(&p->reader);
        p->restarted = false;
        kvz_error_clear(&p->cerr);
        if (consume_once(p, &p->cerr) == 0 || !p->restarted)
            break;
        /* The download started over: throw away what was staged and follow it again. */
        char *staged = NULL;
        struct kvz_error *e = NULL;
        if (p->file && stage_path(&staged, p, p->file, &e) == 0)
            kvz_tree_discard(staged);
        kvz_error_free(e);
        free(staged);
    }
    return NULL;
}

static int sink_write(void *arg, const void *data, size_t len, struct kvz_error **err)
{
    struct pull *p = arg;
    const char *c = data;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(p->fd, c + done, len - done, (off_t)(p->size + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kvz_error_set_errno(err, "write '%s'", p->part);
        }
        done += (size_t)n;
    }
    if (kvz_hasher_update(&p->hasher, data, len, err) < 0)
        return -1;
    p->size += len;
    kvz_pipe_grow(&p->pipe, p->size);
    return 0;
}

static int sink_restart(void *arg, struct kvz_error **err)
{
    struct pull *p = arg;
    if (ftruncate(p->fd, 0) < 0)
        return kvz_error_set_errno(err, "truncate '%s'", p->part);
    p->size = 0;
    kvz_pipe_restart(&p->pipe);
    return kvz_hasher_reset(&p->hasher, err);
}

/* Feeds the bytes a crashed or failed earlier pull left to the hasher. */
static int hash_existing(struct pull *p, struct kvz_error **err)
{
    char *buf = malloc(1 << 20);
    uint64_t off = 0;
    int ret = -1;
    if (!buf)
        return kvz_error_set(err, "out of memory");
    while (off < p->size) {
        ssize_t n = pread(p->fd, buf, 1 << 20, (off_t)off);
        if (n <= 0) {
            kvz_error_set_errno(err, "read '%s'", p->part);
            goto cleanup;
        }
        if (kvz_hasher_update(&p->hasher, buf, (size_t)n, err) < 0)
            goto cleanup;
        off += (uint64_t)n;
    }
    ret = 0;
cleanup:
    free(buf);
    return ret;
}

/* Removes staging trees a crashed pull of this template left; we hold its lock. */
static void remove_stale_staging(struct pull *p)
{
    char *dir = kvz_cache_path(p->s, "tmp", NULL);
    char prefix[80];
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;
    snprintf(prefix, sizeof(prefix), "obj.%s.", p->id);
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        char *path = kvz_cache_path(p->s, "tmp", de->d_name);
        if (path)
            kvz_tree_discard(path);
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
}

static void report(const struct pull *p, enum kvz_progress_phase phase, uint64_t done)
{
    if (!p->s->opts.progress)
        return;
    struct kvz_progress pr = {.name = p->t->name, .phase = phase, .done = done, .total = done};
    p->s->opts.progress(p->s->opts.progress_arg, &pr);
}

/* The digest the bytes must have: the manifest's, or the SUMS file's line for our file. */
static int resolve_expected(enum kvz_digest_algo *algo, char **hex, struct pull *p,
                            struct kvz_error **err)
{
    const struct kvz_template *t = p->t;
    struct kvz_buf sums = KVZ_BUF_INIT;
    char *sums_url = NULL, *name = NULL, *sums_shown = NULL;
    int ret = -1;
    *algo = KVZ_DIGEST_NONE;
    *hex = NULL;
    if (!t->checksums_url) {
        if (t->algo != KVZ_DIGEST_NONE && t->digest) {
            *algo = t->algo;
            *hex = strdup(t->digest);
            return *hex ? 0 : kvz_error_set(err, "out of memory");
        }
        if (!t->insecure && (!strncmp(p->url, "http://", 7) || !strncmp(p->url, "https://", 8)))
            return kvz_error_set(
                err,
                "no checksum for '%s'; add 'sha256:', 'sha512:' or 'checksums:' (or 'insecure: true' to accept unverified bytes)",
                p->shown);
        return 0; /* insecure, or a local file without a checksum */
    }
    if (p->s->opts.progress) {
        struct kvz_progress pr = {.name = t->name, .phase = KVZ_PROGRESS_CHECKSUMS};
        p->s->opts.progress(p->s->opts.progress_arg, &pr);
    }
    if (kvz_fetch_url(&sums_url, t->checksums_url, err) < 0 ||
        kvz_fetch_small(&sums, sums_url, 4u << 20, t->name, &p->s->opts, err) < 0 ||
        kvz_fetch_url_basename(&name, p->url, err) < 0 ||
        kvz_sums_find(algo, hex, sums.ptr, sums.len, name, err) < 0) {
        sums_shown = kvz_url_redact(t->checksums_url);
        kvz_error_wrap(err, "checksums '%s'", sums_shown ? sums_shown : "?");
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&sums);
    free(sums_url);
    free(sums_shown);
    free(name);
    return ret;
}

/*
 * Downloads into the partial file while the consumer unpacks, then verifies.
 * Returns 0 (verified and staged), -1 on error; sets *retry_fresh when a
 * resumed download failed its digest (the old part was bad: start over).
 */
static int download(bool *retry_fresh, char *out_hex, char *out_sha512, struct pull *p,
                    enum kvz_digest_algo algo, const char *expect, struct kvz_error **err)
{
    struct stat st;
    pthread_t th;
    bool started = false, pipe_ok = false, hasher_ok = false;
    uint64_t total = 0, resumed;
    int ret = -1;
    struct kvz_fetch_sink sink = {.write = sink_write, .restart = sink_restart, .arg = p};

    *retry_fresh = false;
    p->fd = open(p->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (p->fd < 0 || fstat(p->fd, &st) < 0) {
        kvz_error_set_errno(err, "open '%s'", p->part);
        goto cleanup;
    }
    /*
     * Without a digest nothing would notice a file that changed on the server
     * since the crash: an unverified template is never stitched together.
     */
    if (!expect && st.st_size > 0 && ftruncate(p->fd, 0) == 0)
        st.st_size = 0;
    p->size = resumed = (uint64_t)st.st_size;
    if (kvz_hasher_init(&p->hasher, algo, err) < 0)
        goto cleanup;
    hasher_ok = true;
    if (hash_existing(p, err) < 0)
        goto cleanup;
    struct kvz_buf tmpl = KVZ_BUF_INIT;
    kvz_buf_printf(&tmpl, "%s/tmp/obj.%s.XXXXXX", p->s->root, p->id);
    p->tmpdir = kvz_buf_detach(&tmpl);
    if (!p->tmpdir || !mkdtemp(p->tmpdir)) {
        kvz_error_set_errno(err, "create a staging directory in '%s/tmp'", p->s->root);
        free(p->tmpdir);
        p->tmpdir = NULL;
        goto cleanup;
    }
    if (kvz_pipe_init(&p->pipe, p->fd, p->size) != 0) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    pipe_ok = true;
    p->reader.p = &p->pipe;
    if (pthread_create(&th, NULL, consume, p) != 0) {
        kvz_error_set(err, "cannot start the unpack thread");
        goto cleanup;
    }
    started = true;
    if (kvz_fetch(&total, p->url, p->size, p->t->name, &p->s->opts, &sink, err) < 0)
        goto cleanup;
    if (kvz_hasher_final(out_hex, out_sha512, &p->hasher, err) < 0)
        goto cleanup;
    const char *got = algo == KVZ_DIGEST_SHA512 ? out_sha512 : out_hex;
    if (expect && strcmp(got, expect)) {
        if (resumed > 0) {
            *retry_fresh = true;
        } else {
            kvz_error_set(
                err,
                "checksum mismatch for '%s': expected %s:%s, got %s:%s; the download was deleted (fix the checksum or the url)",
                p->shown, kvz_digest_algo_str(algo), expect, kvz_digest_algo_str(algo), got);
        }
        unlink(p->part);
        goto cleanup;
    }
    kvz_pipe_finish(&p->pipe, true);
    pthread_join(th, NULL);
    started = false;
    if (p->cerr) {
        /* Verified bytes that cannot be used as they are: keep nothing of them. */
        kvz_error_move(err, &p->cerr);
        unlink(p->part);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (started) {
        kvz_pipe_finish(&p->pipe, false);
        pthread_join(th, NULL);
    }
    if (pipe_ok)
        kvz_pipe_release(&p->pipe);
    if (hasher_ok)
        kvz_hasher_release(&p->hasher);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    /* Keep a partial download only when there is something to resume. */
    if (ret < 0 && p->size == 0)
        unlink(p->part);
    kvz_error_clear(&p->cerr);
    if (ret < 0 && p->tmpdir) {
        kvz_tree_discard(p->tmpdir);
    }
    return ret;
}

static int check_use(const struct kvz_template *t, const struct kvz_image *img,
                     enum kvz_content_kind want, struct kvz_error **err)
{
    if (want == KVZ_CONTENT_UNKNOWN || img->kind == want)
        return 0;
    return kvz_error_set(
        err,
        "template '%s' holds %s (%s) but is used as %s; point the template at the right file or use it where %s fits",
        t->name, kvz_content_kind_phrase(img->kind), img->format, use_words(want),
        kvz_content_kind_phrase(img->kind));
}

static int pull_locked(struct kvz_image *out, struct pull *p, struct kvz_error **err)
{
    enum kvz_digest_algo algo = KVZ_DIGEST_NONE;
    char *expect = NULL;
    char hex[KVZ_HEX256] = "", sha512[130] = "";
    bool again = false;
    int ret = -1, r;

    remove_stale_staging(p);
    if (resolve_expected(&algo, &expect, p, err) < 0)
        goto cleanup;
    /* Bytes with this digest may already be here under another URL: no download. */
    if (expect && algo == KVZ_DIGEST_SHA256)
        memcpy(hex, expect, strlen(expect) == 64 ? KVZ_HEX256 : 1);
    else if (expect && algo == KVZ_DIGEST_SHA512 && kvz_cache_alias(hex, p->s, expect) != 1)
        hex[0] = '\0';
    if (hex[0] && (r = kvz_cache_object(out, p->s, hex, err)) != 0) {
        if (r > 0 && kvz_cache_record(p->s, p->id, hex, NULL, err) < 0)
            r = -1;
        ret = r > 0 ? 0 : -1;
        goto cleanup;
    }
    for (int attempt = 0;; attempt++) {
        if (download(&again, hex, sha512, p, algo, expect, err) == 0)
            break;
        if (!again || attempt > 0)
            goto cleanup;
        free(p->tmpdir);
        p->tmpdir = NULL;
    }
    if (p->use_download) {
        char *dst = NULL;
        if (stage_path(&dst, p, p->file, err) < 0)
            goto cleanup;
        p->content_size = p->size;
        if (rename(p->part, dst) < 0) {
            kvz_error_set_errno(err, "move '%s' to '%s'", p->part, dst);
            free(dst);
            goto cleanup;
        }
        free(dst);
    }
    /*
     * mkdtemp made the object 0700: right for a rootfs (its setuid binaries
     * must not be reachable by local users), but qemu runs unprivileged and
     * must read disk images and ISOs.
     */
    if (p->kind != KVZ_CONTENT_ROOTFS && chmod(p->tmpdir, 0755) < 0) {
        kvz_error_set_errno(err, "chmod '%s'", p->tmpdir);
        goto cleanup;
    }
    if (kvz_cache_install(p->s, p->tmpdir, hex, p->kind, p->format, p->file, p->content_size,
                          p->shown, err) < 0 ||
        kvz_cache_record(p->s, p->id, hex, algo == KVZ_DIGEST_SHA512 ? sha512 : NULL, err) < 0)
        goto cleanup;
    free(p->tmpdir);
    p->tmpdir = NULL;
    unlink(p->part);
    r = kvz_cache_object(out, p->s, hex, err);
    if (r == 0)
        kvz_error_set(err, "cache object '%s' vanished while being installed; run the pull again",
                      hex);
    ret = r > 0 ? 0 : -1;
cleanup:
    if (p->tmpdir) {
        kvz_tree_discard(p->tmpdir);
    }
    free(expect);
    return ret;
}

int kvz_store_pull(struct kvz_image *out, struct kvz_store *s, const struct kvz_template *t,
                   enum kvz_content_kind want, struct kvz_error **err)
{
    struct pull p = {.s = s, .t = t, .fd = -1};
    struct kvz_image img = {0};
    struct kvz_buf lock = KVZ_BUF_INIT;
    int lfd = -1, ret = -1, r;

    p.expect = want != KVZ_CONTENT_UNKNOWN ? want : t->hint;
    r = kvz_store_lookup(&img, s, t, err);
    if (r < 0)
        goto cleanup;
    if (r == 0) {
        if (kvz_cache_identity(p.id, t, err) < 0 || kvz_fetch_url(&p.url, t->url, err) < 0)
            goto cleanup;
        p.shown = kvz_url_redact(p.url);
        p.part = kvz_cache_path(s, "partial", NULL);
        kvz_buf_printf(&lock, "id-%s", p.id);
        struct kvz_buf part = KVZ_BUF_INIT;
        kvz_buf_printf(&part, "%s/%s.part", p.part ? p.part : "", p.id);
        free(p.part);
        p.part = kvz_buf_detach(&part);
        if (!p.part || !p.shown || lock.oom) {
            kvz_error_set(err, "out of memory");
            goto cleanup;
        }
        /* One pull per template at a time; the others wait and then find it cached. */
        if (kvz_cache_lock(&lfd, s, lock.ptr, true, err) < 0)
            goto cleanup;
        r = kvz_store_lookup(&img, s, t, err);
        if (r < 0 || (r == 0 && pull_locked(&img, &p, err) < 0))
            goto cleanup;
    }
    if (check_use(t, &img, want, err) < 0)
        goto cleanup;
    report(&p, KVZ_PROGRESS_DONE, img.size);
    *out = img;
    img = (struct kvz_image){0};
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "template '%s'", t->name);
    if (lfd >= 0)
        close(lfd);
    kvz_image_release(&img);
    kvz_buf_release(&lock);
    free(p.url);
    free(p.shown);
    free(p.part);
    free(p.tmpdir);
    return ret;
}

struct pool {
    struct kvz_store *s;
    const struct kvz_template *const *t;
    const enum kvz_content_kind *wants;
    struct kvz_image *out;
    struct kvz_error **errs;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
};

static void *pool_worker(void *arg)
{
    struct pool *pl = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&pl->next, 1);
        if (i >= pl->n)
            return NULL;
        enum kvz_content_kind want = pl->wants ? pl->wants[i] : KVZ_CONTENT_UNKNOWN;
        if (kvz_store_pull(&pl->out[i], pl->s, pl->t[i], want, &pl->errs[i]) < 0)
            atomic_store(&pl->failed, 1);
    }
}

int kvz_store_pull_many(struct kvz_image *out, struct kvz_store *s,
                        const struct kvz_template *const *t, const enum kvz_content_kind *wants,
                        size_t n, unsigned parallel, struct kvz_error **errs)
{
    struct pool pl = {.s = s, .t = t, .wants = wants, .out = out, .errs = errs, .n = n};
    pthread_t th[16];
    unsigned nth = parallel ? parallel : 1;
    if (nth > 16)
        nth = 16;
    if (nth > n)
        nth = (unsigned)n;
    unsigned started = 0;
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, pool_worker, &pl) != 0)
            break;
    if (started == 0)
        pool_worker(&pl);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&pl.failed) ? -1 : 0;
}
