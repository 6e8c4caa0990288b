#include "base/buf.h"
#include "base/error.h"
#include "base/fs.h"
#include "parser/template_url.h"
#include "store/cache.h"
#include "store/detect.h"
#include "store/fetch.h"
#include "store/unpacker.h"
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
 * One pull: this thread downloads into the partial file and hashes; the confined unpacker
 * (store/unpacker.h) gets every byte through a socket as it arrives and unpacks it into
 * <tmpdir>/unpack, its only writable place. The staging directory becomes the object only once
 * the digest matched. Before that, the unpacker may not put more on disk than a few times what
 * was downloaded (struct kvz_unpack_budget): past it, it stops, and content that then proves
 * genuine is unpacked a second time from the verified file.
 */
struct pull {
    struct kvz_store *s;
    const struct kvz_template *t;
    enum kvz_content_kind expect; /* the use, else the URL's hint */
    char id[KVZ_HEX256];
    char *url;
    char *shown;  /* the url as messages and meta.json name it: no credentials */
    char *part;   /* partial/<id>.part */
    char *tmpdir; /* tmp/obj.<id>.XXXXXX: becomes the object */
    char *jail;   /* <tmpdir>/unpack: the unpacker's root */
    int fd;
    struct kvz_hasher hasher;
    uint64_t size;                /* bytes in the partial file */
    struct kvz_unpacker un;       /* un.pid > 0 while one runs */
    struct kvz_unpack_result res; /* the unpacker's verified answer */
    uint64_t content_size;
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

static int stage_path(char **out, const char *dir, const char *file, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/%s", dir, file);
    *out = kvz_buf_detach(&b);
    return *out ? 0 : kvz_error_set(err, "out of memory");
}

/*
 * Starts an unpacker in an empty jail. `verified`: the content's digest matched, no budget;
 * `admin`: and it sets xattrs that take CAP_SYS_ADMIN.
 */
static int unpack_start(struct pull *p, bool verified, bool admin, struct kvz_error **err)
{
    const struct kvz_store_opts *o = &p->s->opts;
    struct kvz_unpack_request q = {.expect = p->expect,
                                   .max_bytes = o->max_unpack_bytes,
                                   .max_entries = o->max_entries,
                                   .ratio = verified ? 0 : o->unverified_ratio,
                                   .slack = o->unverified_slack,
                                   .admin = admin};
    if (mkdir(p->jail, 0700) < 0)
        return kvz_error_set_errno(err, "create '%s'", p->jail);
    return kvz_unpacker_start(&p->un, p->jail, &q, o->stall_seconds, err);
}

/* Stops the running unpacker, if any, and throws away what it made. */
static void unpack_abandon(struct pull *p)
{
    if (p->un.pid > 0) {
        struct kvz_unpack_report r;
        kvz_unpacker_finish(&r, &p->un, true);
        kvz_unpack_report_release(&r);
    }
    kvz_tree_discard(p->jail);
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
    return kvz_unpacker_feed(&p->un, data, len, err);
}

/* The server sends everything again: so do we, to a new unpacker in an empty jail. */
static int sink_restart(void *arg, struct kvz_error **err)
{
    struct pull *p = arg;
    unpack_abandon(p);
    if (ftruncate(p->fd, 0) < 0)
        return kvz_error_set_errno(err, "truncate '%s'", p->part);
    p->size = 0;
    if (kvz_hasher_reset(&p->hasher, err) < 0)
        return -1;
    return unpack_start(p, false, false, err);
}

/* Hands the partial file's bytes to the unpacker, and to the hasher when `hash`. */
static int replay(struct pull *p, bool hash, struct kvz_error **err)
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
        if ((hash && kvz_hasher_update(&p->hasher, buf, (size_t)n, err) < 0) ||
            kvz_unpacker_feed(&p->un, buf, (size_t)n, err) < 0)
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
    return kvz_store_checksum(algo, hex, t, &p->s->opts, err);
}

static void mib(char out[32], uint64_t bytes)
{
    snprintf(out, 32, "%.1f MiB", (double)bytes / 1048576.0);
}

static bool over_network(const char *url)
{
    return !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8);
}

static void mismatch(struct kvz_error **err, const struct pull *p, enum kvz_digest_algo algo,
                     const char *expect, const char *got, const struct kvz_unpack_report *rep)
{
    kvz_error_set(
        err,
        "checksum mismatch for '%s': expected %s:%s, got %s:%s; the download was deleted (fix the checksum or the url)",
        p->shown, kvz_digest_algo_str(algo), expect, kvz_digest_algo_str(algo), got);
    if (rep->over_budget) {
        char on_disk[32], in[32];
        mib(on_disk, rep->bytes_out);
        mib(in, rep->bytes_in);
        kvz_error_advise(
            err,
            "its content had grown to %s on disk from %s downloaded, past %llu times as much, and was not unpacked further",
            on_disk, in, (unsigned long long)p->s->opts.unverified_ratio);
    }
}

/* Content without a checksum that only a verified pass could unpack. */
static void unverified_refused(struct kvz_error **err, const struct pull *p,
                               const struct kvz_unpack_report *rep)
{
    char on_disk[32], in[32];
    mib(on_disk, rep->bytes_out);
    mib(in, rep->bytes_in);
    if (rep->over_budget)
        kvz_error_set(
            err,
            "'%s' unpacks to more than %llu times its size (%s on disk from %s downloaded) and has no checksum to verify it first; add 'sha256:' or 'checksums:' to the template",
            p->shown, (unsigned long long)p->s->opts.unverified_ratio, on_disk, in);
    else
        kvz_error_set(
            err,
            "'%s' has trusted.* or security.* extended attributes, which kvz sets only for verified content, and no checksum; add 'sha256:' or 'checksums:' to the template (%s)",
            p->shown, kvz_error_msg(rep->err));
}

/*
 * Downloads into the partial file while the unpacker unpacks, then verifies; when the unpacker
 * stopped at its budget and the content proves genuine, unpacks the verified file again.
 * Returns 0 (verified, the unpacker's answer in p->res, its output in the jail), -1 on error;
 * sets *retry_fresh when a resumed download failed its digest (the old part was bad: start over).
 */
static int download(bool *retry_fresh, char *out_hex, char *out_sha512, struct pull *p,
                    enum kvz_digest_algo algo, const char *expect, struct kvz_error **err)
{
    struct stat st;
    struct kvz_unpack_report rep = {0};
    bool hasher_ok = false;
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
    struct kvz_buf tmpl = KVZ_BUF_INIT;
    kvz_buf_printf(&tmpl, "%s/tmp/obj.%s.XXXXXX", p->s->root, p->id);
    p->tmpdir = kvz_buf_detach(&tmpl);
    if (!p->tmpdir || !mkdtemp(p->tmpdir)) {
        kvz_error_set_errno(err, "create a staging directory in '%s/tmp'", p->s->root);
        free(p->tmpdir);
        p->tmpdir = NULL;
        goto cleanup;
    }
    free(p->jail);
    p->jail = NULL;
    if (stage_path(&p->jail, p->tmpdir, "unpack", err) < 0 ||
        unpack_start(p, false, false, err) < 0 || replay(p, true, err) < 0 ||
        kvz_fetch(&total, p->url, p->size, p->t->name, &p->s->opts, &sink, err) < 0 ||
        kvz_hasher_final(out_hex, out_sha512, &p->hasher, err) < 0)
        goto cleanup;
    const char *got = algo == KVZ_DIGEST_SHA512 ? out_sha512 : out_hex;
    bool match = !expect || !strcmp(got, expect);
    /* A mismatch wants no answer, only whether unpacking had already stopped at its budget. */
    int r = kvz_unpacker_finish(&rep, &p->un, !match);
    if (!match) {
        if (resumed > 0)
            *retry_fresh = true;
        else
            mismatch(err, p, algo, expect, got, &rep);
        unlink(p->part);
        goto cleanup;
    }
    /*
     * Genuine content that expands this much, or that sets xattrs only CAP_SYS_ADMIN may set:
     * unpacked once more from the verified file (at most twice: the budget stop cannot recur).
     */
    bool admin = false;
    while (r < 0 && (rep.over_budget || (rep.needs_admin && !admin))) {
        if (!expect && over_network(p->url)) {
            unverified_refused(err, p, &rep);
            unlink(p->part);
            goto cleanup;
        }
        admin = admin || rep.needs_admin;
        kvz_unpack_report_release(&rep);
        kvz_tree_discard(p->jail);
        if (unpack_start(p, true, admin, err) < 0 || replay(p, false, err) < 0)
            goto cleanup;
        r = kvz_unpacker_finish(&rep, &p->un, false);
    }
    if (r < 0) {
        /* Verified bytes that cannot be used as they are: keep nothing of them. */
        kvz_error_move(err, &rep.err);
        unlink(p->part);
        goto cleanup;
    }
    p->res = rep.r;
    ret = 0;
cleanup:
    if (p->un.pid > 0)
        unpack_abandon(p);
    kvz_unpack_report_release(&rep);
    if (hasher_ok)
        kvz_hasher_release(&p->hasher);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    /* Keep a partial download only when there is something to resume. */
    if (ret < 0 && p->size == 0)
        unlink(p->part);
    if (ret < 0 && p->tmpdir)
        kvz_tree_discard(p->tmpdir);
    return ret;
}

/*
 * Moves what the unpacker made (or the download itself) to where the object wants it. The
 * unpacker read unverified bytes: its output is taken for what it must be and never followed, a
 * directory for a rootfs, a plain file for an image, and nothing may lie beside it.
 */
static int stage(struct pull *p, const char *file, struct kvz_error **err)
{
    char *from = NULL, *to = NULL;
    struct stat st;
    int fd = -1, ret = -1;
    if (stage_path(&to, p->tmpdir, file, err) < 0)
        goto cleanup;
    if (p->res.use_download) {
        p->content_size = p->size;
        if (rename(p->part, to) < 0) {
            kvz_error_set_errno(err, "move '%s' to '%s'", p->part, to);
            goto cleanup;
        }
    } else {
        bool dir = p->res.kind == KVZ_CONTENT_ROOTFS;
        if (stage_path(&from, p->jail, file, err) < 0)
            goto cleanup;
        fd = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
        if (fd < 0 || fstat(fd, &st) < 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
            kvz_error_set(err, "unpack: '%s' is not what the unpacker said it made; refusing it",
                          from);
            goto cleanup;
        }
        /* An image is data: no setuid bit or odd mode from whatever wrote it. */
        if (!dir && fchmod(fd, 0644) < 0) {
            kvz_error_set_errno(err, "chmod '%s'", from);
            goto cleanup;
        }
        p->content_size = p->res.content_size;
        if (rename(from, to) < 0) {
            kvz_error_set_errno(err, "move '%s' to '%s'", from, to);
            goto cleanup;
        }
    }
    if (rmdir(p->jail) < 0) {
        kvz_error_set_errno(err, "unpack: the unpacker left more than '%s' in '%s'", file, p->jail);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    free(from);
    free(to);
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
    const char *file = kvz_unpack_file(&p->res);
    if (stage(p, file, err) < 0)
        goto cleanup;
    /*
     * mkdtemp made the object 0700: right for a rootfs (its setuid binaries
     * must not be reachable by local users), but qemu runs unprivileged and
     * must read disk images and ISOs.
     */
    if (p->res.kind != KVZ_CONTENT_ROOTFS && chmod(p->tmpdir, 0755) < 0) {
        kvz_error_set_errno(err, "chmod '%s'", p->tmpdir);
        goto cleanup;
    }
    if (kvz_cache_install(p->s, p->tmpdir, hex, p->res.kind, p->res.format, file, p->content_size,
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

    p.un.pid = -1;
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
    if (ret < 0 && err && (kvz_error_code(*err) == ENOSPC || kvz_error_code(*err) == EDQUOT))
        kvz_error_advise(
            err,
            "free space on the file system of '%s' ('kvz templates prune' removes templates no manifest uses) or use a --state-dir on a larger one",
            s->root);
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
    free(p.jail);
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
