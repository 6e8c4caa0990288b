/*
 * The template store against a real HTTP server on 127.0.0.1
 * (httpd_faults.py) that cuts, stalls, lies and redirects on request.
 */
#include "base/error.h"
#include "store/sandbox.h"
#include "store/store.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char g_work[PATH_MAX], g_www[PATH_MAX];
static pid_t g_srv = -1;
static int g_port;
static unsigned g_seq;

/* ---- helpers ---------------------------------------------------------------------------- */

static void run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static char *pathf(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX];
    static unsigned n;
    char *b = bufs[n++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, PATH_MAX, fmt, ap);
    va_end(ap);
    return b;
}

static void wfile(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *rfile(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void sha_hex(char *out, const EVP_MD *md, const void *data, size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n;
    EVP_Digest(data, len, d, &n, md, NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static char *random_bytes(size_t len)
{
    char *b = malloc(len);
    assert_non_null(b);
    unsigned x = 2463534242u ^ (unsigned)len;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (char)x;
    }
    return b;
}

static const char *url(const char *name)
{
    return pathf("http://127.0.0.1:%d/%s", g_port, name);
}

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
    struct {
        char *b;
        size_t len;
    } *c = arg;
    c->b = realloc(c->b, c->len + size * n + 1);
    memcpy(c->b + c->len, ptr, size * n);
    c->len += size * n;
    c->b[c->len] = '\0';
    return size * n;
}

static json_t *ctl(const char *path, const char *post)
{
    struct {
        char *b;
        size_t len;
    } c = {0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url(path));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    if (post)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    json_t *j = json_loads(c.b, 0, NULL);
    free(c.b);
    assert_non_null(j);
    return j;
}

static void script(const char *path, const char *faults_json)
{
    char body[4096];
    snprintf(body, sizeof(body), "{\"path\": \"/%s\", \"faults\": %s}", path, faults_json);
    json_decref(ctl("_ctl/script", body));
}

static int requests(const char *path)
{
    json_t *j = ctl("_ctl/count", NULL);
    int n = path ? (int)json_integer_value(json_object_get(json_object_get(j, "paths"), path))
                 : (int)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

/* The Range header of the last request to path ("" when none). */
static char *last_range(const char *path)
{
    static char r[64];
    json_t *j = ctl("_ctl/count", NULL);
    json_t *a = json_object_get(json_object_get(j, "ranges"), path);
    snprintf(r, sizeof(r), "%s",
             json_array_size(a) ? json_string_value(json_array_get(a, json_array_size(a) - 1))
                                : "none");
    json_decref(j);
    return r;
}

struct progress_log {
    unsigned calls, retries, done;
    uint64_t last_done;
};

static void on_progress(void *arg, const struct kvz_progress *p)
{
    struct progress_log *l = arg;
    l->calls++;
    if (p->phase == KVZ_PROGRESS_RETRY)
        l->retries++;
    if (p->phase == KVZ_PROGRESS_DOWNLOAD)
        l->last_done = p->done;
    if (p->phase == KVZ_PROGRESS_DONE)
        l->done++;
}

static char g_state[PATH_MAX];
static struct progress_log g_log;

/* A fresh state dir (unless keep) and a store with short timeouts. */
static struct kvz_store *store_at(const char *state, unsigned stall_s)
{
    struct kvz_store_opts o;
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    kvz_store_opts_init(&o);
    o.retries = 4;
    o.backoff_ms = 20;
    o.backoff_max_ms = 3000;
    o.stall_seconds = stall_s;
    o.stall_bytes = 100;
    o.progress = on_progress;
    o.progress_arg = &g_log;
    memset(&g_log, 0, sizeof(g_log));
    if (kvz_store_open(&s, state, &o, &err) < 0)
        fail_msg("%s", kvz_error_msg(err));
    return s;
}

/* A fresh state dir and a store with the options `o` (made with kvz_store_opts_init). */
static struct kvz_store *store_opts(const struct kvz_store_opts *o)
{
    struct kvz_store *s = NULL;
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    assert_int_equal(kvz_store_open(&s, g_state, o, NULL), 0);
    return s;
}

static struct kvz_store *store_new(void)
{
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    return store_at(g_state, 5);
}

static unsigned entries(const char *state, const char *sub)
{
    DIR *d = opendir(pathf("%s/cache/%s", state, sub));
    unsigned n = 0;
    struct dirent *de;
    if (!d)
        return 0;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Nothing staged or half-downloaded remains, and no object was stored. */
static void assert_nothing_cached(const char *state)
{
    assert_int_equal(entries(state, "objects"), 0);
    assert_int_equal(entries(state, "index"), 0);
    assert_int_equal(entries(state, "tmp"), 0);
    assert_int_equal(entries(state, "partial"), 0);
}

static struct kvz_template tmpl(const char *name, const char *u, const char *sha256)
{
    struct kvz_template t = {.name = (char *)name, .url = (char *)u};
    if (sha256) {
        t.algo = KVZ_DIGEST_SHA256;
        t.digest = (char *)sha256;
    } else {
        t.insecure = true;
    }
    return t;
}

/* Pulls and expects failure; returns the message (static). */
static const char *pull_fails(struct kvz_store *s, const struct kvz_template *t,
                              enum kvz_content_kind want)
{
    static char msg[2048];
    struct kvz_image img = {0};
    struct kvz_error *err = NULL;
    int r = kvz_store_pull(&img, s, t, want, &err);
    if (r == 0)
        fail_msg("pull of '%s' succeeded; expected a failure", t->url);
    snprintf(msg, sizeof(msg), "%s", kvz_error_msg(err));
    kvz_error_free(err);
    return msg;
}

static void pull_ok(struct kvz_image *img, struct kvz_store *s, const struct kvz_template *t,
                    enum kvz_content_kind want)
{
    struct kvz_error *err = NULL;
    *img = (struct kvz_image){0};
    if (kvz_store_pull(img, s, t, want, &err) < 0)
        fail_msg("pull '%s': %s", t->url, kvz_error_msg(err));
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                               \
    } while (0)

/* ---- archives built by the tests -------------------------------------------------------- */

struct ent {
    const char *path;
    mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO; 0 = hardlink */
    mode_t perm;
    const char *data;   /* regular files */
    const char *target; /* symlink target or hardlink target */
    unsigned uid, gid;
    unsigned major, minor;
    const char *xattr; /* "name=value" */
    size_t xattr_len;  /* of the value, when it holds NUL bytes */
    bool acl;          /* add an access ACL entry for user 4242 */
};

/* Writes a tar (pax) with the given filter ("gzip", "xz", "zstd", "bzip2" or NULL). */
static void make_tar(const char *file, const char *filter, const struct ent *e, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter)
        assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_uid(ae, e[i].uid);
        archive_entry_set_gid(ae, e[i].gid);
        archive_entry_set_mtime(ae, 1700000000, 0);
        if (e[i].type == 0) {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e[i].target);
        } else {
            archive_entry_set_filetype(ae, e[i].type);
            archive_entry_set_perm(ae, e[i].perm ? e[i].perm : 0644);
            if (e[i].type == AE_IFLNK)
                archive_entry_set_symlink(ae, e[i].target);
            if (e[i].type == AE_IFCHR)
                archive_entry_set_rdev(ae, makedev(e[i].major, e[i].minor));
            if (e[i].type == AE_IFREG)
                archive_entry_set_size(ae, e[i].data ? (la_int64_t)strlen(e[i].data) : 0);
        }
        if (e[i].xattr) {
            const char *eq = strchr(e[i].xattr, '=');
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - e[i].xattr), e[i].xattr);
            archive_entry_xattr_add_entry(ae, name, eq + 1,
                                          e[i].xattr_len ? e[i].xattr_len : strlen(eq + 1));
        }
        if (e[i].acl) {
            archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
                                        ARCHIVE_ENTRY_ACL_READ | ARCHIVE_ENTRY_ACL_WRITE,
                                        ARCHIVE_ENTRY_ACL_USER, 4242, "u4242");
            archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
                                        ARCHIVE_ENTRY_ACL_READ | ARCHIVE_ENTRY_ACL_WRITE,
                                        ARCHIVE_ENTRY_ACL_USER_OBJ, -1, NULL);
            archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_READ,
                                        ARCHIVE_ENTRY_ACL_GROUP_OBJ, -1, NULL);
            archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
                                        ARCHIVE_ENTRY_ACL_READ | ARCHIVE_ENTRY_ACL_WRITE,
                                        ARCHIVE_ENTRY_ACL_MASK, -1, NULL);
            archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 0,
                                        ARCHIVE_ENTRY_ACL_OTHER, -1, NULL);
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (e[i].type == AE_IFREG && e[i].data)
            archive_write_data(a, e[i].data, strlen(e[i].data));
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Compresses `data` with `filter` through libarchive's raw writer into `file`. */
static void make_compressed(const char *file, const char *filter, const void *data, size_t len)
{
    struct archive *a = archive_write_new();
    struct archive_entry *ae = archive_entry_new();
    archive_write_set_format_raw(a);
    assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_pathname(ae, "data");
    archive_entry_set_size(ae, (la_int64_t)len);
    assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(ae);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* File digest, for templates. */
static char *file_sha(const char *path)
{
    static char hex[8][65];
    static unsigned n;
    size_t len;
    char *b = rfile(path, &len);
    assert_non_null(b);
    char *h = hex[n++ % 8];
    sha_hex(h, EVP_sha256(), b, len);
    free(b);
    return h;
}

/* ---- tests -------------------------------------------------------------------------------- */

static const struct ent rootfs_ents[] = {
    {.path = "./", .type = AE_IFDIR, .perm = 0755},
    {.path = "./etc", .type = AE_IFDIR, .perm = 0755},
    {.path = "./etc/hostname", .type = AE_IFREG, .data = "kvz\n"},
    {.path = "./usr", .type = AE_IFDIR, .perm = 0755},
    {.path = "./usr/bin", .type = AE_IFDIR, .perm = 0755},
    {.path = "./usr/bin/su", .type = AE_IFREG, .perm = 04755, .data = "#!/bin/true\n"},
    {.path = "./usr/bin/ping",
     .type = AE_IFREG,
     .perm = 0755,
     .data = "ping\n",
     /* VFS_CAP_REVISION_2, effective, cap_net_raw permitted */
     .xattr = "security.capability=\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00"
              "\x00\x00\x00\x00\x00",
     .xattr_len = 20},
    {.path = "./usr/bin/su-hard", .type = 0, .target = "./usr/bin/su"},
    {.path = "./bin", .type = AE_IFLNK, .target = "usr/bin"},
    {.path = "./home", .type = AE_IFDIR, .perm = 0755},
    {.path = "./home/user", .type = AE_IFDIR, .perm = 0700, .uid = 1000, .gid = 1000},
    {.path = "./home/user/notes",
     .type = AE_IFREG,
     .perm = 0600,
     .data = "x",
     .uid = 1000,
     .gid = 1000,
     .xattr = "user.kvz=hello",
     .acl = true},
    {.path = "./dev", .type = AE_IFDIR, .perm = 0755},
    {.path = "./dev/null", .type = AE_IFCHR, .perm = 0666, .major = 1, .minor = 3},
    {.path = "./run", .type = AE_IFDIR, .perm = 0755},
    {.path = "./run/initctl", .type = AE_IFIFO, .perm = 0600},
    {.path = "./tmp", .type = AE_IFDIR, .perm = 01777},
};

static void test_rootfs_kept_intact(void **state)
{
    const char *f = pathf("%s/rootfs.tar.gz", g_www);
    make_tar(f, "gzip", rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]));
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("rootfs", url("rootfs.tar.gz"), file_sha(f));
    struct kvz_image img;
    struct stat st;
    char buf[64];
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    assert_int_equal(img.kind, KVZ_CONTENT_ROOTFS);
    assert_string_equal(img.format, "tar+gzip");
    /* setuid binaries of a rootfs are out of local users' reach */
    assert_int_equal(stat(pathf("%s/..", img.path), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_string_equal(img.digest + 7, t.digest);
    assert_true(g_log.done == 1 && g_log.last_done > 0);

    assert_int_equal(lstat(pathf("%s/usr/bin/su", img.path), &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(lstat(pathf("%s/usr/bin/su-hard", img.path), &st), 0);
    assert_int_equal(st.st_nlink, 2);
    assert_int_equal(lstat(pathf("%s/home/user/notes", img.path), &st), 0);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1000);
    assert_int_equal(st.st_mtime, 1700000000);
    assert_int_equal(lgetxattr(pathf("%s/home/user/notes", img.path), "user.kvz", buf, sizeof(buf)),
                     5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(lgetxattr(pathf("%s/home/user/notes", img.path), "system.posix_acl_access", buf,
                          sizeof(buf)) > 0);
    assert_true(
        lgetxattr(pathf("%s/usr/bin/ping", img.path), "security.capability", buf, sizeof(buf)) > 0);
    assert_int_equal(lstat(pathf("%s/home/user", img.path), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(lstat(pathf("%s/tmp", img.path), &st), 0);
    assert_int_equal(st.st_mode & 07777, 01777);
    assert_int_equal(lstat(pathf("%s/dev/null", img.path), &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 3);
    assert_int_equal(lstat(pathf("%s/run/initctl", img.path), &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(lstat(pathf("%s/bin", img.path), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    ssize_t l = readlink(pathf("%s/bin", img.path), buf, sizeof(buf));
    assert_int_equal(l, 7);
    assert_memory_equal(buf, "usr/bin", 7);
    assert_int_equal(entries(g_state, "tmp"), 0);
    assert_int_equal(entries(g_state, "partial"), 0);
    kvz_image_release(&img);
    kvz_store_free(s);
}

static void test_cache_hit_makes_no_request(void **state)
{
    const char *f = pathf("%s/hit.tar.zst", g_www);
    make_tar(f, "zstd", rootfs_ents, 4);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("hit", url("hit.tar.zst"), file_sha(f));
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    kvz_image_release(&img);
    kvz_store_free(s);
    int before = requests(NULL);
    /* A new process would open a new store: same state dir, nothing in memory. */
    s = store_at(g_state, 5);
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    assert_int_equal(requests(NULL), before);
    kvz_image_release(&img);
    assert_int_equal(kvz_store_lookup(&img, s, &t, NULL), 1);
    kvz_image_release(&img);
    /* insecure templates and checksums: templates are found by identity, also without network */
    struct kvz_template ins = tmpl("ins", url("hit.tar.zst"), NULL);
    pull_ok(&img, s, &ins, KVZ_CONTENT_ROOTFS);
    kvz_image_release(&img);
    before = requests(NULL);
    pull_ok(&img, s, &ins, KVZ_CONTENT_ROOTFS);
    assert_int_equal(requests(NULL), before);
    kvz_image_release(&img);
    kvz_store_free(s);
}

static void test_same_bytes_two_urls_stored_once(void **state)
{
    size_t len = 300000;
    char *data = random_bytes(len);
    char sha512[129];
    wfile(pathf("%s/one.img", g_www), data, len);
    wfile(pathf("%s/two.img", g_www), data, len);
    sha_hex(sha512, EVP_sha512(), data, len);
    struct kvz_store *s = store_new();
    struct kvz_template a = tmpl("one", url("one.img"), file_sha(pathf("%s/one.img", g_www)));
    struct kvz_template b = {.name = "two",
                             .url = (char *)url("two.img"),
                             .algo = KVZ_DIGEST_SHA512,
                             .digest = sha512,
                             .hint = KVZ_CONTENT_DISK};
    struct kvz_template c = tmpl("three", url("two.img"), a.digest);
    struct kvz_image ia, ib, ic;
    pull_ok(&ia, s, &a, KVZ_CONTENT_DISK);
    pull_ok(&ib, s, &b, KVZ_CONTENT_DISK);
    int before = requests(NULL);
    pull_ok(&ic, s, &c, KVZ_CONTENT_DISK); /* its sha256 is known: no download at all */
    assert_int_equal(requests(NULL), before);
    assert_string_equal(ia.digest, ib.digest);
    assert_string_equal(ia.path, ic.path);
    assert_int_equal(entries(g_state, "objects"), 1);
    assert_string_equal(ia.format, "raw");
    size_t got_len;
    char *got = rfile(ia.path, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    free(got);
    free(data);
    kvz_image_release(&ia);
    kvz_image_release(&ib);
    kvz_image_release(&ic);
    kvz_store_free(s);
}

static void test_cut_transfer_resumes(void **state)
{
    size_t len = 2000000;
    char *data = random_bytes(len);
    wfile(pathf("%s/cut.img", g_www), data, len);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("cut", url("cut.img"), file_sha(pathf("%s/cut.img", g_www)));
    struct kvz_image img;
    script("cut.img", "[\"cut:700000\", \"cut:500000\"]");
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(requests("/cut.img"), 3);
    /* The third request continued where the second stopped. */
    assert_string_equal(last_range("/cut.img"), "bytes=1200000-");
    assert_true(g_log.retries >= 2);
    size_t got_len;
    char *got = rfile(img.path, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    free(got);
    free(data);
    kvz_image_release(&img);
    kvz_store_free(s);
}

static void test_server_ignoring_range_restarts(void **state)
{
    size_t len = 1000000;
    char *data = random_bytes(len);
    wfile(pathf("%s/norange.img", g_www), data, len);
    struct kvz_store *s = store_new();
    struct kvz_template t =
        tmpl("norange", url("norange.img"), file_sha(pathf("%s/norange.img", g_www)));
    struct kvz_image img;
    script("norange.img", "[\"cut:300000\", \"ignore_range\"]");
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(requests("/norange.img"), 2);
    assert_int_equal(img.size, len);
    free(data);
    kvz_image_release(&img);
    kvz_store_free(s);
}

static void test_503_then_200_and_429_retry_after(void **state)
{
    size_t len = 50000;
    char *data = random_bytes(len);
    wfile(pathf("%s/busy.img", g_www), data, len);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("busy", url("busy.img"), file_sha(pathf("%s/busy.img", g_www)));
    struct kvz_image img;
    script("busy.img", "[\"status:503\", \"status:502\"]");
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(requests("/busy.img"), 3);
    kvz_image_release(&img);
    kvz_store_free(s);

    s = store_new();
    script("busy.img", "[\"status:429:retry=2\"]");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* backoff_ms is 20: only Retry-After explains a wait of about two seconds */
    assert_true(b.tv_sec - a.tv_sec + (b.tv_nsec - a.tv_nsec) / 1e9 >= 1.9);
    kvz_image_release(&img);
    kvz_store_free(s);
    free(data);
}

static void test_redirects(void **state)
{
    size_t len = 40000;
    char *data = random_bytes(len);
    wfile(pathf("%s/moved.img", g_www), data, len);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("moved", url("old.img"), file_sha(pathf("%s/moved.img", g_www)));
    struct kvz_image img;
    script("old.img", "[\"redirect:/moved.img\"]");
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    kvz_image_release(&img);
    kvz_store_free(s);

    s = store_new();
    script("loop.img", "[\"redirect:/loop.img\", \"redirect:/loop.img\", \"redirect:/loop.img\", "
                       "\"redirect:/loop.img\", \"redirect:/loop.img\", \"redirect:/loop.img\", "
                       "\"redirect:/loop.img\", \"redirect:/loop.img\", \"redirect:/loop.img\", "
                       "\"redirect:/loop.img\", \"redirect:/loop.img\", \"redirect:/loop.img\"]");
    struct kvz_template l = tmpl("loop", url("loop.img"), t.digest);
    const char *msg = pull_fails(s, &l, KVZ_CONTENT_DISK);
    assert_contains(msg, "more than 10 redirects");
    assert_contains(msg, "loop.img");
    assert_nothing_cached(g_state);
    kvz_store_free(s);
    free(data);
}

static void test_404_names_url_and_status(void **state)
{
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("gone", url("gone.tar.xz"),
                                 "0000000000000000000000000000000000"
                                 "000000000000000000000000000000");
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, "template 'gone'");
    assert_contains(msg, url("gone.tar.xz"));
    assert_contains(msg, "HTTP 404");
    assert_int_equal(requests("/gone.tar.xz"), 1); /* 404 is not retried */
    assert_nothing_cached(g_state);
    kvz_store_free(s);
}

static void test_content_length_lies(void **state)
{
    size_t len = 200000;
    char *data = random_bytes(len);
    wfile(pathf("%s/lie.img", g_www), data, len);
    const char *sha = file_sha(pathf("%s/lie.img", g_www));
    /*
     * Claims more than it sends, every time: the rest is asked for, and the server's 416 says
     * the file ends where the bytes received end. Taken only because they match the digest.
     */
    char u[256];
    snprintf(u, sizeof(u), "%s", url("lie.img"));
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("lie", u, sha);
    script("lie.img", "[\"lie_long:5000\", \"lie_long:5000\", \"lie_long:5000\", "
                      "\"lie_long:5000\", \"lie_long:5000\", \"lie_long:5000\"]");
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(img.size, len);
    assert_string_equal(last_range("/lie.img"), "bytes=200000-");
    kvz_image_release(&img);
    struct kvz_template wrong =
        tmpl("lie-wrong", u, "4444444444444444444444444444444444444444444444444444444444444444");
    script("lie.img", "[\"lie_long:5000\", \"lie_long:5000\"]");
    const char *msg = pull_fails(s, &wrong, KVZ_CONTENT_DISK);
    assert_contains(msg, "checksum mismatch");
    kvz_store_free(s);
    /* Cut short every time: never accepted. */
    s = store_new();
    script("lie.img", "[\"cut:1000\", \"cut:1000\", \"cut:1000\", \"cut:1000\", "
                      "\"cut:1000\", \"cut:1000\"]");
    msg = pull_fails(s, &t, KVZ_CONTENT_DISK);
    assert_contains(msg, "shorter than its Content-Length");
    assert_contains(msg, "gave up after 5 attempts");
    assert_int_equal(entries(g_state, "objects"), 0);
    assert_int_equal(entries(g_state, "tmp"), 0);
    kvz_store_free(s);
    json_decref(ctl("_ctl/reset", "{}"));

    /* Claims less than it sends: the bytes cut off fail the digest. */
    s = store_new();
    script("lie.img", "[\"lie_short:1000\"]");
    msg = pull_fails(s, &t, KVZ_CONTENT_DISK);
    assert_contains(msg, "checksum mismatch");
    assert_contains(msg, sha);
    assert_nothing_cached(g_state);
    kvz_store_free(s);
    free(data);
}

static void test_stall_fails(void **state)
{
    size_t len = 100000;
    char *data = random_bytes(len);
    wfile(pathf("%s/slow.img", g_www), data, len);
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    struct kvz_store *s = store_at(g_state, 1);
    struct kvz_template t = tmpl("slow", url("slow.img"), file_sha(pathf("%s/slow.img", g_www)));
    script("slow.img", "[\"trickle:1000:0.2\", \"trickle:1000:0.2\", \"trickle:1000:0.2\", "
                       "\"trickle:1000:0.2\", \"trickle:1000:0.2\", \"trickle:1000:0.2\"]");
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_DISK);
    assert_contains(msg, "stalled");
    assert_int_equal(entries(g_state, "objects"), 0);
    kvz_store_free(s);
    json_decref(ctl("_ctl/reset", "{}"));
    free(data);
}

static void test_http_without_checksum_refused(void **state)
{
    wfile(pathf("%s/nosum.img", g_www), "data", 4);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("nosum", url("nosum.img"), NULL);
    t.insecure = false;
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_DISK);
    assert_contains(msg, "no checksum for");
    assert_contains(msg, "insecure: true");
    assert_int_equal(requests(NULL), 0);
    assert_nothing_cached(g_state);
    kvz_store_free(s);
}

static void test_checksum_mismatch_deletes_and_names_both(void **state)
{
    size_t len = 70000;
    char *data = random_bytes(len);
    char actual[65];
    sha_hex(actual, EVP_sha256(), data, len);
    wfile(pathf("%s/bad.tar", g_www), data, len);
    struct kvz_store *s = store_new();
    const char *wrong = "1111111111111111111111111111111111111111111111111111111111111111";
    struct kvz_template t = tmpl("bad", url("bad.tar"), wrong);
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_UNKNOWN);
    assert_contains(msg, pathf("expected sha256:%s", wrong));
    assert_contains(msg, pathf("got sha256:%s", actual));
    assert_contains(msg, "deleted");
    assert_nothing_cached(g_state);
    kvz_store_free(s);
    free(data);
}

static void test_sums_file(void **state)
{
    size_t len = 90000;
    char *data = random_bytes(len);
    char sha512[129], sums[1024];
    sha_hex(sha512, EVP_sha512(), data, len);
    wfile(pathf("%s/cloud.qcow2", g_www), "QFI\xfb\0\0\0\3", 8);
    run("cat /dev/null >> %s/cloud.qcow2", g_www);
    wfile(pathf("%s/other.raw", g_www), data, len);
    snprintf(sums, sizeof(sums),
             "# comment line\n"
             "%s *other.raw\n"
             "%s  ./unrelated.iso\n",
             sha512, sha512);
    wfile(pathf("%s/SHA512SUMS", g_www), sums, strlen(sums));
    struct kvz_store *s = store_new();
    struct kvz_template t = {.name = "sums",
                             .url = (char *)url("other.raw"),
                             .checksums_url = (char *)url("SHA512SUMS"),
                             .hint = KVZ_CONTENT_DISK};
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(img.size, len);
    kvz_image_release(&img);
    /* A second pull reads neither the SUMS file nor the image. */
    int before = requests(NULL);
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_int_equal(requests(NULL), before);
    kvz_image_release(&img);

    /* The SUMS file says something else: refused. */
    data[10] ^= 1;
    wfile(pathf("%s/other2.raw", g_www), data, len);
    data[11] ^= 1;
    sha_hex(sha512, EVP_sha512(), data, len);
    snprintf(sums, sizeof(sums), "%s  other2.raw\n", sha512);
    wfile(pathf("%s/SUMS2", g_www), sums, strlen(sums));
    struct kvz_template t2 = {
        .name = "sums2", .url = (char *)url("other2.raw"), .checksums_url = (char *)url("SUMS2")};
    const char *msg = pull_fails(s, &t2, KVZ_CONTENT_DISK);
    assert_contains(msg, "checksum mismatch");
    assert_contains(msg, pathf("expected sha512:%s", sha512));

    /* Not listed. */
    struct kvz_template t3 = {
        .name = "sums3", .url = (char *)url("cloud.qcow2"), .checksums_url = (char *)url("SUMS2")};
    msg = pull_fails(s, &t3, KVZ_CONTENT_DISK);
    assert_contains(msg, "no line for 'cloud.qcow2'");
    kvz_store_free(s);
    free(data);
}

static void test_crash_left_partial_resumed(void **state)
{
    size_t len = 1500000;
    char *data = random_bytes(len);
    wfile(pathf("%s/crash.img", g_www), data, len);
    struct kvz_template t = tmpl("crash", url("crash.img"), file_sha(pathf("%s/crash.img", g_www)));
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    script("crash.img", "[\"trickle:400000:0.01\"]");
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct kvz_store *cs = store_at(g_state, 30);
        struct kvz_image img;
        struct kvz_error *err = NULL;
        _exit(kvz_store_pull(&img, cs, &t, KVZ_CONTENT_DISK, &err) == 0 ? 0 : 1);
    }
    /* Wait for the first 400000 bytes to land in the partial file, then kill -9. */
    struct stat st = {0};
    for (int i = 0; i < 500; i++) {
        DIR *d = opendir(pathf("%s/cache/partial", g_state));
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (de->d_name[0] != '.')
                stat(pathf("%s/cache/partial/%s", g_state, de->d_name), &st);
        if (d)
            closedir(d);
        if (st.st_size >= 400000)
            break;
        usleep(20000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_true(st.st_size >= 400000);
    struct kvz_store *s = store_at(g_state, 5);
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    long from = 0;
    assert_int_equal(sscanf(last_range("/crash.img"), "bytes=%ld-", &from), 1);
    assert_true(from >= 400000);
    size_t got_len;
    char *got = rfile(img.path, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    assert_int_equal(entries(g_state, "partial"), 0);
    assert_int_equal(entries(g_state, "tmp"), 0);
    free(got);
    kvz_image_release(&img);

    /* A partial with wrong bytes fails the digest once resumed, and is fetched afresh. */
    struct kvz_template t2 = tmpl("crash2", url("crash.img"), NULL);
    t2.insecure = false;
    t2.algo = KVZ_DIGEST_SHA512;
    char sha512[129];
    sha_hex(sha512, EVP_sha512(), data, len);
    t2.digest = sha512;
    kvz_store_free(s);
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    s = store_at(g_state, 5);
    script("crash.img", "[\"cut:500000\", \"status:404\"]");
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_store_pull(&img, s, &t2, KVZ_CONTENT_DISK, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "HTTP 404"));
    kvz_error_free(err);
    assert_int_equal(entries(g_state, "partial"), 1);
    DIR *d = opendir(pathf("%s/cache/partial", g_state));
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            int fd = open(pathf("%s/cache/partial/%s", g_state, de->d_name), O_WRONLY);
            assert_int_equal(pwrite(fd, "XXXX", 4, 100), 4);
            close(fd);
        }
    closedir(d);
    pull_ok(&img, s, &t2, KVZ_CONTENT_DISK);
    assert_string_equal(last_range("/crash.img"), "");
    kvz_image_release(&img);

    /* Without a digest nothing could catch a stale partial: it is never resumed. */
    struct kvz_template t3 = tmpl("crash3", url("crash.img"), NULL);
    script("crash.img", "[\"cut:500000\", \"status:404\"]");
    err = NULL;
    assert_int_equal(kvz_store_pull(&img, s, &t3, KVZ_CONTENT_DISK, &err), -1);
    kvz_error_free(err);
    assert_int_equal(entries(g_state, "partial"), 1);
    pull_ok(&img, s, &t3, KVZ_CONTENT_DISK);
    assert_string_equal(last_range("/crash.img"), "");
    kvz_image_release(&img);
    kvz_store_free(s);
    free(data);
}

/* Kills the pulling process once the last byte of the download arrived. */
static void die_when_downloaded(void *arg, const struct kvz_progress *p)
{
    if (p->phase == KVZ_PROGRESS_DOWNLOAD && p->total && p->done == p->total)
        raise(SIGKILL);
}

/*
 * A pull killed right after its download completed leaves a complete partial file; the next
 * pull resumes it (the server answers 416: nothing past the end) and must use it, every time.
 */
static void test_killed_after_download_then_repull(void **state)
{
    static char data[3][400000];
    static char names[3][16];
    struct ent e[4] = {{.path = "./", .type = AE_IFDIR, .perm = 0755}};
    for (int i = 0; i < 3; i++) {
        char *r = random_bytes(sizeof(data[i]) - 1 - (size_t)i);
        for (size_t j = 0; j < sizeof(data[i]) - 1 - (size_t)i; j++)
            data[i][j] = (char)('!' + ((unsigned char)r[j] % 90));
        free(r);
        snprintf(names[i], sizeof(names[i]), "./f%d", i);
        e[i + 1] = (struct ent){.path = names[i], .type = AE_IFREG, .data = data[i]};
    }
    const char *f = pathf("%s/killed.tar.gz", g_www);
    make_tar(f, "gzip", e, 4);
    static char u[PATH_MAX], sha[65];
    snprintf(u, sizeof(u), "%s", url("killed.tar.gz"));
    snprintf(sha, sizeof(sha), "%s", file_sha(f));
    struct kvz_template t = tmpl("killed", u, sha);
    for (int round = 0; round < 20; round++) {
        snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            struct kvz_store_opts o;
            struct kvz_store *cs = NULL;
            struct kvz_image img;
            kvz_store_opts_init(&o);
            o.progress = die_when_downloaded;
            if (kvz_store_open(&cs, g_state, &o, NULL) < 0)
                _exit(2);
            _exit(kvz_store_pull(&img, cs, &t, KVZ_CONTENT_ROOTFS, NULL) == 0 ? 0 : 1);
        }
        int st;
        assert_int_equal(waitpid(child, &st, 0), child);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        assert_int_equal(entries(g_state, "partial"), 1);
        struct kvz_store *s = store_at(g_state, 5);
        struct kvz_image img;
        int before = requests("/killed.tar.gz");
        pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
        /* one request, answered 416: the file was all there, nothing is downloaded again */
        assert_int_equal(requests("/killed.tar.gz"), before + 1);
        for (int i = 0; i < 3; i++) {
            size_t len;
            char *got = rfile(pathf("%s/f%d", img.path, i), &len);
            assert_non_null(got);
            assert_int_equal(len, strlen(data[i]));
            assert_memory_equal(got, data[i], len);
            free(got);
        }
        assert_int_equal(entries(g_state, "partial"), 0);
        assert_int_equal(entries(g_state, "tmp"), 0);
        kvz_image_release(&img);
        kvz_store_free(s);
    }
}

static void test_concurrent_pulls_two_processes(void **state)
{
    const char *f = pathf("%s/conc.tar.xz", g_www);
    make_tar(f, "xz", rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]));
    struct kvz_template t = tmpl("conc", url("conc.tar.xz"), file_sha(f));
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    script("conc.tar.xz", "[\"slow:0.5\"]");
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            struct kvz_store *cs = store_at(g_state, 30);
            struct kvz_image img;
            struct kvz_error *err = NULL;
            int r = kvz_store_pull(&img, cs, &t, KVZ_CONTENT_ROOTFS, &err);
            if (r < 0)
                fprintf(stderr, "child: %s\n", kvz_error_msg(err));
            _exit(r == 0 && access(pathf("%s/etc/hostname", img.path), F_OK) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(requests("/conc.tar.xz"), 1);
    assert_int_equal(entries(g_state, "objects"), 1);
    assert_int_equal(entries(g_state, "tmp"), 0);
}

static void test_parallel_distinct_downloads(void **state)
{
    struct kvz_template t[3];
    const struct kvz_template *tp[3];
    struct kvz_image img[3] = {{0}};
    struct kvz_error *errs[3] = {0};
    static char names[3][32], urls[3][128], shas[3][65];
    json_decref(ctl("_ctl/reset", "{}"));
    for (int i = 0; i < 3; i++) {
        size_t len = 100000 + (size_t)i;
        char *data = random_bytes(len);
        snprintf(names[i], 32, "par%d.img", i);
        wfile(pathf("%s/%s", g_www, names[i]), data, len);
        sha_hex(shas[i], EVP_sha256(), data, len);
        snprintf(urls[i], 128, "%s", url(names[i]));
        t[i] = tmpl(names[i], urls[i], shas[i]);
        tp[i] = &t[i];
        char f[64];
        snprintf(f, sizeof(f), "[\"slow:0.7\"]");
        script(names[i], f);
        free(data);
    }
    struct kvz_store *s = store_new();
    assert_int_equal(kvz_store_pull_many(img, s, tp, NULL, 3, 4, errs), 0);
    json_t *j = ctl("_ctl/count", NULL);
    assert_true(json_integer_value(json_object_get(j, "max_inflight")) >= 2);
    json_decref(j);
    for (int i = 0; i < 3; i++) {
        assert_null(errs[i]);
        assert_int_equal(img[i].size, 100000 + i);
        kvz_image_release(&img[i]);
    }
    kvz_store_free(s);
}

struct text_log {
    char text[8192];
};

static void log_text(void *arg, const struct kvz_progress *p)
{
    struct text_log *l = arg;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s %d %s\n", p->name, (int)p->phase,
             p->message ? p->message : "");
}

/* A URL's user, password and query values appear in no message, no progress and no file. */
static void test_url_credentials_redacted(void **state)
{
    const char *f = pathf("%s/cred.tar", g_www);
    make_tar(f, NULL, rootfs_ents, 4);
    char sha[65], u[512], shown[512], sums[256];
    snprintf(sha, sizeof(sha), "%s", file_sha(f));
    snprintf(u, sizeof(u), "http://kvzuser:s3cr3t@127.0.0.1:%d/cred.tar?token=t0k3n&v=1", g_port);
    snprintf(shown, sizeof(shown), "http://***@127.0.0.1:%d/cred.tar?token=***&v=***", g_port);
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    struct text_log log = {{0}};
    struct kvz_store_opts o;
    kvz_store_opts_init(&o);
    o.backoff_ms = 10;
    o.progress = log_text;
    o.progress_arg = &log;
    struct kvz_store *s = NULL;
    assert_int_equal(kvz_store_open(&s, g_state, &o, NULL), 0);
    script("cred.tar", "[\"status:503\"]");
    struct kvz_template t = tmpl("cred", u, sha);
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    assert_string_equal(img.source, shown);
    kvz_image_release(&img);
    assert_true(strstr(log.text, "HTTP 503") != NULL); /* the retry was reported */

    /* failures name the url without its secrets */
    char missing[512];
    snprintf(missing, sizeof(missing), "http://kvzuser:s3cr3t@127.0.0.1:%d/none.tar?token=t0k3n",
             g_port);
    struct kvz_template gone =
        tmpl("gone", missing, "2222222222222222222222222222222222222222222222222222222222222222");
    const char *msg = pull_fails(s, &gone, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, pathf("'http://***@127.0.0.1:%d/none.tar?token=***'", g_port));
    assert_null(strstr(msg, "s3cr3t"));
    assert_null(strstr(msg, "t0k3n"));
    struct kvz_template bad =
        tmpl("bad", u, "1111111111111111111111111111111111111111111111111111111111111111");
    msg = pull_fails(s, &bad, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, "checksum mismatch");
    assert_contains(msg, shown);
    snprintf(sums, sizeof(sums), "http://kvzuser:s3cr3t@127.0.0.1:%d/NOSUMS?sig=t0k3n", g_port);
    struct kvz_template viasums = {.name = "sums", .url = u, .checksums_url = sums};
    msg = pull_fails(s, &viasums, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, pathf("checksums 'http://***@127.0.0.1:%d/NOSUMS?sig=***'", g_port));
    assert_null(strstr(msg, "s3cr3t"));
    assert_null(strstr(log.text, "s3cr3t"));
    assert_null(strstr(log.text, "t0k3n"));
    kvz_store_free(s);

    /* nothing under the state dir holds them, and only the objects are reachable by others */
    run("! grep -r -a -e s3cr3t -e t0k3n -e kvzuser %s", g_state);
    static const char *const own[] = {"index", "alias", "partial", "tmp", "locks"};
    struct stat st;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        assert_int_equal(stat(pathf("%s/cache/%s", g_state, own[i]), &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
    }
    assert_int_equal(stat(pathf("%s/cache/objects", g_state), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0711);
}

/* ---- hostile and odd content ---------------------------------------------------------------- */

/* Pulls `file` (in www) as a rootfs and expects a refusal mentioning `needle`. */
static void hostile(const char *file, const char *needle)
{
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("evil", url(file), file_sha(pathf("%s/%s", g_www, file)));
    t.hint = KVZ_CONTENT_ROOTFS;
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, needle);
    assert_nothing_cached(g_state);
    kvz_store_free(s);
}

static void assert_outside_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, "..")))
            if (strcmp(de->d_name, "secret"))
                fail_msg("'%s/%s' was written outside the target", dir, de->d_name);
    closedir(d);
}

static void test_hostile_archives(void **state)
{
    const char *out = pathf("%s/outside", g_work);
    char outside[PATH_MAX];
    snprintf(outside, sizeof(outside), "%s", out);
    run("mkdir -p %s && chmod 755 %s && echo secret > %s/secret", outside, outside, outside);

    struct ent dotdot[] = {{.path = "ok", .type = AE_IFREG, .data = "a"},
                           {.path = "a/../../../outside/dotdot", .type = AE_IFREG, .data = "x"}};
    make_tar(pathf("%s/dotdot.tar", g_www), NULL, dotdot, 2);
    hostile("dotdot.tar", "would land outside the target");

    char abs[PATH_MAX];
    snprintf(abs, sizeof(abs), "%s/abs", outside);
    struct ent absolute[] = {{.path = abs, .type = AE_IFREG, .data = "x"}};
    make_tar(pathf("%s/abs.tar.gz", g_www), "gzip", absolute, 1);
    hostile("abs.tar.gz", "would land outside the target");

    struct ent through[] = {{.path = "link", .type = AE_IFLNK, .target = outside},
                            {.path = "link/through", .type = AE_IFREG, .data = "x"}};
    make_tar(pathf("%s/through.tar", g_www), NULL, through, 2);
    hostile("through.tar", "refusing the whole archive");

    struct ent through_rel[] = {{.path = "d", .type = AE_IFDIR, .perm = 0755},
                                {.path = "d/up", .type = AE_IFLNK, .target = "../../../outside"},
                                {.path = "d/up/rel", .type = AE_IFREG, .data = "x"}};
    make_tar(pathf("%s/through-rel.tar.bz2", g_www), "bzip2", through_rel, 3);
    hostile("through-rel.tar.bz2", "refusing the whole archive");

    struct ent hard_abs[] = {{.path = "passwd", .type = 0, .target = "/etc/passwd"}};
    make_tar(pathf("%s/hard-abs.tar", g_www), NULL, hard_abs, 1);
    hostile("hard-abs.tar", "hard link to '/etc/passwd' outside the target");

    struct ent hard_up[] = {{.path = "s", .type = 0, .target = "../outside/secret"}};
    make_tar(pathf("%s/hard-up.tar", g_www), NULL, hard_up, 1);
    hostile("hard-up.tar", "outside the target");

    char secret[PATH_MAX];
    snprintf(secret, sizeof(secret), "%s/secret", outside);
    struct ent hard_sym[] = {{.path = "l", .type = AE_IFLNK, .target = outside},
                             {.path = "h", .type = 0, .target = "l/secret"}};
    make_tar(pathf("%s/hard-sym.tar", g_www), NULL, hard_sym, 2);
    hostile("hard-sym.tar", "refusing the whole archive");
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_nlink, 1); /* nobody linked to it */

    /* A symlink replaced by a file of the same name must not write through the link. */
    struct ent replace[] = {{.path = "f", .type = AE_IFLNK, .target = secret},
                            {.path = "f", .type = AE_IFREG, .data = "overwritten"}};
    make_tar(pathf("%s/replace.tar", g_www), NULL, replace, 2);
    struct kvz_store *s = store_new();
    struct kvz_template t =
        tmpl("replace", url("replace.tar"), file_sha(pathf("%s/replace.tar", g_www)));
    struct kvz_image img;
    struct kvz_error *err = NULL;
    if (kvz_store_pull(&img, s, &t, KVZ_CONTENT_ROOTFS, &err) == 0)
        kvz_image_release(&img);
    kvz_error_free(err);
    kvz_store_free(s);
    size_t l;
    char *c = rfile(secret, &l);
    assert_int_equal(l, 7);
    assert_memory_equal(c, "secret\n", 7);
    free(c);

    /* A directory entry over a symlink must not chmod/chown what the link points at. */
    struct ent dir_over[] = {{.path = "x", .type = AE_IFLNK, .target = outside},
                             {.path = "x", .type = AE_IFDIR, .perm = 0777, .uid = 4242}};
    make_tar(pathf("%s/dir-over.tar", g_www), NULL, dir_over, 2);
    s = store_new();
    t = tmpl("dirover", url("dir-over.tar"), file_sha(pathf("%s/dir-over.tar", g_www)));
    err = NULL;
    if (kvz_store_pull(&img, s, &t, KVZ_CONTENT_ROOTFS, &err) == 0)
        kvz_image_release(&img);
    kvz_error_free(err);
    kvz_store_free(s);
    assert_int_equal(stat(outside, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, 0);

    /* A directory replaced by a symlink: its deferred mode and times must not follow the link. */
    struct ent sym_over[] = {{.path = "d", .type = AE_IFDIR, .perm = 0700, .uid = 4242},
                             {.path = "d", .type = AE_IFLNK, .target = outside}};
    make_tar(pathf("%s/sym-over.tar", g_www), NULL, sym_over, 2);
    s = store_new();
    t = tmpl("symover", url("sym-over.tar"), file_sha(pathf("%s/sym-over.tar", g_www)));
    err = NULL;
    if (kvz_store_pull(&img, s, &t, KVZ_CONTENT_ROOTFS, &err) == 0)
        kvz_image_release(&img);
    kvz_error_free(err);
    kvz_store_free(s);
    assert_int_equal(stat(outside, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, 0);

    assert_outside_empty(outside);
    assert_int_equal(access(pathf("%s/dotdot", g_work), F_OK), -1);
}

static void test_truncated_and_garbage(void **state)
{
    /* A member whose data ends early. */
    char *big = random_bytes(200000);
    for (int i = 0; i < 200000; i++)
        big[i] = (char)('a' + (big[i] & 15));
    big[199999] = '\0';
    struct ent e[] = {{.path = "small", .type = AE_IFREG, .data = "x"},
                      {.path = "big", .type = AE_IFREG, .data = big}};
    make_tar(pathf("%s/full.tar", g_www), NULL, e, 2);
    size_t len;
    char *tar = rfile(pathf("%s/full.tar", g_www), &len);
    wfile(pathf("%s/trunc.tar", g_www), tar, 60000);
    free(tar);
    free(big);
    hostile("trunc.tar", "damaged");
    make_compressed(pathf("%s/trunc.tar.gz", g_www), "gzip", "", 0);
    tar = rfile(pathf("%s/full.tar", g_www), &len);
    make_compressed(pathf("%s/full.tar.zst", g_www), "zstd", tar, len);
    free(tar);
    tar = rfile(pathf("%s/full.tar.zst", g_www), &len);
    wfile(pathf("%s/trunc.tar.zst", g_www), tar, len / 2);
    free(tar);
    hostile("trunc.tar.zst", "damaged");

    /* Garbage, plain and inside a valid compression. */
    char *junk = random_bytes(50000);
    junk[0] = 'J';
    wfile(pathf("%s/junk.tar", g_www), junk, 50000);
    hostile("junk.tar", "not a rootfs archive");
    make_compressed(pathf("%s/junk.tar.xz", g_www), "xz", junk, 50000);
    hostile("junk.tar.xz", "not a rootfs archive");
    /* A gzip signature followed by garbage. */
    junk[0] = 0x1f;
    junk[1] = (char)0x8b;
    wfile(pathf("%s/junk.tgz", g_www), junk, 50000);
    hostile("junk.tgz", "not a rootfs archive");
    free(junk);
}

/* A ustar header for a 100 TB member (GNU base-256 size), then a few bytes and the end. */
static void test_member_claiming_100tb(void **state)
{
    unsigned char h[512] = {0};
    uint64_t size = 100ull << 40;
    memcpy(h, "huge", 4);
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    h[124] = 0x80;
    for (int i = 0; i < 8; i++)
        h[135 - i] = (unsigned char)(size >> (8 * i));
    memcpy(h + 136, "14547760400", 11);
    h[156] = '0';
    memcpy(h + 257, "ustar  ", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    char file[4096] = {0};
    memcpy(file, h, 512);
    wfile(pathf("%s/huge.tar", g_www), file, sizeof(file));
    hostile("huge.tar", "claims");
}

static void test_too_many_entries(void **state)
{
    struct ent e[6];
    static char names[6][8];
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], 8, "f%d", i);
        e[i] = (struct ent){.path = names[i], .type = AE_IFREG, .data = "x"};
    }
    make_tar(pathf("%s/many.tar", g_www), NULL, e, 6);
    struct kvz_store_opts o;
    kvz_store_opts_init(&o);
    o.max_entries = 5;
    struct kvz_store *s = store_opts(&o);
    struct kvz_template t = tmpl("many", url("many.tar"), file_sha(pathf("%s/many.tar", g_www)));
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, "more than 5 entries");
    assert_nothing_cached(g_state);
    kvz_store_free(s);
}

/* A small download that inflates past the limit: refused, nothing kept. */
static void test_decompression_bomb(void **state)
{
    size_t len = 8u << 20;
    char *zeros = calloc(1, len);
    make_compressed(pathf("%s/bomb.raw.xz", g_www), "xz", zeros, len);
    free(zeros);
    struct kvz_store_opts o;
    kvz_store_opts_init(&o);
    o.max_unpack_bytes = 1u << 20;
    struct kvz_store *s = store_opts(&o);
    struct kvz_template t =
        tmpl("bomb", url("bomb.raw.xz"), file_sha(pathf("%s/bomb.raw.xz", g_www)));
    const char *msg = pull_fails(s, &t, KVZ_CONTENT_DISK);
    assert_contains(msg, "more than 1048576 bytes");
    assert_nothing_cached(g_state);
    kvz_store_free(s);
}

static void test_disk_images_and_iso(void **state)
{
    /* A raw disk, xz-compressed: stored decompressed, zeros as holes. */
    size_t len = 4u << 20;
    char *disk = calloc(1, len);
    memcpy(disk, "\xeb\x63\x90 bootsector", 14);
    memcpy(disk + len - 4096, "the end", 7);
    make_compressed(pathf("%s/disk.raw.xz", g_www), "xz", disk, len);
    struct kvz_store *s = store_new();
    struct kvz_template t =
        tmpl("raw", url("disk.raw.xz"), file_sha(pathf("%s/disk.raw.xz", g_www)));
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_DISK);
    assert_string_equal(img.format, "raw");
    assert_int_equal(img.size, len);
    size_t got_len;
    char *got = rfile(img.path, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, disk, len);
    struct stat st;
    assert_int_equal(stat(img.path, &st), 0);
    assert_true((uint64_t)st.st_blocks * 512 < len / 2);
    free(got);
    kvz_image_release(&img);

    /* qcow2 inside zstd, and a plain qcow2. */
    memcpy(disk, "QFI\xfb\0\0\0\3", 8);
    make_compressed(pathf("%s/cloud.qcow2.zst", g_www), "zstd", disk, 65536);
    wfile(pathf("%s/cloud.img", g_www), disk, 65536);
    struct kvz_template q =
        tmpl("qz", url("cloud.qcow2.zst"), file_sha(pathf("%s/cloud.qcow2.zst", g_www)));
    struct kvz_template q2 = tmpl("q", url("cloud.img"), file_sha(pathf("%s/cloud.img", g_www)));
    pull_ok(&img, s, &q, KVZ_CONTENT_DISK);
    assert_string_equal(img.format, "qcow2");
    assert_non_null(strstr(img.path, "disk.qcow2"));
    kvz_image_release(&img);
    pull_ok(&img, s, &q2, KVZ_CONTENT_DISK);
    assert_string_equal(img.format, "qcow2");
    assert_int_equal(img.size, 65536);
    /* Same decompressed bytes, but different downloads: two objects, each its own digest. */
    assert_int_equal(entries(g_state, "objects"), 3);
    kvz_image_release(&img);

    /* An ISO (libarchive-made ISO9660), used as a container template: an error naming both. */
    memset(disk, 0, 0x9000);
    memcpy(disk + 0x8000,
           "\x01"
           "CD001",
           6);
    wfile(pathf("%s/install.iso", g_www), disk, 0x9000);
    struct kvz_template iso =
        tmpl("install", url("install.iso"), file_sha(pathf("%s/install.iso", g_www)));
    const char *msg = pull_fails(s, &iso, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, "template 'install' holds an ISO image");
    assert_contains(msg, "container template");
    int before = requests(NULL);
    pull_ok(&img, s, &iso, KVZ_CONTENT_ISO);
    assert_int_equal(requests(NULL), before); /* verified and kept the first time */
    assert_string_equal(img.format, "iso");
    assert_int_equal(stat(pathf("%.*s", (int)(strrchr(img.path, '/') - img.path), img.path), &st),
                     0);
    assert_int_equal(st.st_mode & 0777, 0755); /* qemu reads it unprivileged */
    assert_non_null(strstr(img.path, "image.iso"));
    kvz_image_release(&img);
    /* A disk image is no rootfs either. */
    msg = pull_fails(s, &q2, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, "holds a disk image (qcow2)");
    free(disk);
    kvz_store_free(s);
}

static void test_local_file_and_prune(void **state)
{
    const char *f = pathf("%s/local.tar", g_work);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", f);
    make_tar(path, NULL, rootfs_ents, 4);
    struct kvz_store *s = store_new();
    struct kvz_template plain = tmpl("plain", path, file_sha(path));
    char furl[PATH_MAX + 8];
    snprintf(furl, sizeof(furl), "file://%s", path);
    struct kvz_template fileurl = tmpl("fileurl", furl, NULL);
    struct kvz_image a, b;
    pull_ok(&a, s, &plain, KVZ_CONTENT_ROOTFS);
    pull_ok(&b, s, &fileurl, KVZ_CONTENT_ROOTFS);
    assert_string_equal(a.path, b.path);
    kvz_image_release(&b);

    size_t len = 300000;
    char *data = random_bytes(len);
    wfile(pathf("%s/prune.img", g_www), data, len);
    free(data);
    struct kvz_template other =
        tmpl("other", url("prune.img"), file_sha(pathf("%s/prune.img", g_www)));
    pull_ok(&b, s, &other, KVZ_CONTENT_DISK);
    kvz_image_release(&b);
    assert_int_equal(entries(g_state, "objects"), 2);

    uint64_t freed = 0;
    size_t removed = 0, busy = 0;
    const struct kvz_template *keep[] = {&plain};
    /* issue 8 item 6: what an apply holds, and what a guest was made from, stay */
    pull_ok(&b, s, &other, KVZ_CONTENT_DISK);
    assert_int_equal(kvz_store_prune(&freed, &removed, &busy, s, keep, 1, NULL, 0, NULL), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(busy, 1);
    char used_digest[80];
    snprintf(used_digest, sizeof(used_digest), "%s", b.digest);
    kvz_image_release(&b);
    const char *used[] = {used_digest};
    assert_int_equal(kvz_store_prune(&freed, &removed, &busy, s, keep, 1, used, 1, NULL), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(busy, 0);
    assert_int_equal(entries(g_state, "objects"), 2);
    assert_int_equal(kvz_store_prune(&freed, &removed, &busy, s, keep, 1, NULL, 0, NULL), 0);
    assert_int_equal(removed, 1);
    assert_true(freed >= 300000);
    assert_int_equal(entries(g_state, "objects"), 1);
    assert_int_equal(access(pathf("%s/etc", a.path), F_OK), 0);
    assert_int_equal(kvz_store_lookup(&b, s, &other, NULL), 0);
    assert_int_equal(kvz_store_lookup(&b, s, &plain, NULL), 1);
    kvz_image_release(&b);
    /* Nothing left to free the second time. */
    assert_int_equal(kvz_store_prune(&freed, &removed, &busy, s, keep, 1, NULL, 0, NULL), 0);
    assert_int_equal(removed, 0);
    kvz_image_release(&a);
    kvz_store_free(s);
}

/* ---- the confined unpacker ------------------------------------------------------------------ */

/* The value of `key:` in /proc/PID/status ("" when absent). */
static char *proc_status(pid_t pid, const char *key)
{
    static char val[128];
    char line[256];
    FILE *f = fopen(pathf("/proc/%d/status", (int)pid), "r");
    val[0] = '\0';
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
            snprintf(val, sizeof(val), "%s",
                     line + strlen(key) + 1 + strspn(line + strlen(key) + 1, " \t"));
            val[strcspn(val, "\n")] = '\0';
        }
    if (f)
        fclose(f);
    return val;
}

/* The kvz-unpack child of `parent`, once it runs its seccomp filter; -1 when none shows up. */
static pid_t find_unpacker(pid_t parent)
{
    for (int i = 0; i < 1000; i++) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = -1;
        while (d && (de = readdir(d)) && found < 0) {
            pid_t pid = (pid_t)atoi(de->d_name);
            if (pid <= 0 || atoi(proc_status(pid, "PPid")) != parent)
                continue;
            char cmd[64] = "";
            int fd = open(pathf("/proc/%d/cmdline", (int)pid), O_RDONLY);
            if (fd >= 0 && read(fd, cmd, sizeof(cmd) - 1) > 0 && !strcmp(cmd, "kvz-unpack") &&
                !strcmp(proc_status(pid, "Seccomp"), "2"))
                found = pid;
            if (fd >= 0)
                close(fd);
        }
        if (d)
            closedir(d);
        if (found > 0)
            return found;
        usleep(10000);
    }
    return -1;
}

static char *link_of(const char *path)
{
    static char buf[4][PATH_MAX];
    static unsigned n;
    char *b = buf[n++ % 4];
    ssize_t l = readlink(path, b, PATH_MAX - 1);
    b[l > 0 ? l : 0] = '\0';
    return b;
}

/*
 * While a pull streams, the process that unpacks is not kvz: it has no network, its root is the
 * staging directory, it holds no file of the host and only the capabilities extraction needs,
 * no new privileges and a seccomp filter.
 */
static void test_unpacker_confined(void **state)
{
    const char *f = pathf("%s/confined.tar", g_www);
    make_tar(f, NULL, rootfs_ents, 4);
    char u[256], sha[65];
    snprintf(u, sizeof(u), "%s", url("confined.tar"));
    snprintf(sha, sizeof(sha), "%s", file_sha(f));
    snprintf(g_state, sizeof(g_state), "%s/state-%u", g_work, ++g_seq);
    script("confined.tar", "[\"slow:3\"]");
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct kvz_store *cs = store_at(g_state, 30);
        struct kvz_template t = tmpl("confined", u, sha);
        struct kvz_image img;
        _exit(kvz_store_pull(&img, cs, &t, KVZ_CONTENT_ROOTFS, NULL) == 0 ? 0 : 1);
    }
    pid_t un = find_unpacker(child);
    assert_true(un > 0);
    /* CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SETFCAP */
    assert_string_equal(proc_status(un, "CapEff"), "000000008800001b");
    assert_string_equal(proc_status(un, "CapPrm"), "000000008800001b");
    assert_string_equal(proc_status(un, "CapBnd"), "000000008800001b");
    assert_string_equal(proc_status(un, "CapInh"), "0000000000000000");
    assert_string_equal(proc_status(un, "CapAmb"), "0000000000000000");
    assert_string_equal(proc_status(un, "NoNewPrivs"), "1");
    assert_string_equal(proc_status(un, "Seccomp"), "2");
    const char *root = link_of(pathf("/proc/%d/root", (int)un));
    assert_memory_equal(root, pathf("%s/cache/tmp/obj.", g_state),
                        strlen(pathf("%s/cache/tmp/obj.", g_state)));
    assert_string_equal(root + strlen(root) - 7, "/unpack");
    assert_string_not_equal(link_of(pathf("/proc/%d/ns/net", (int)un)),
                            link_of("/proc/self/ns/net"));
    assert_string_not_equal(link_of(pathf("/proc/%d/ns/mnt", (int)un)),
                            link_of("/proc/self/ns/mnt"));
    /* its descriptors: stderr (a pipe), the control and the data sockets; nothing else */
    DIR *d = opendir(pathf("/proc/%d/fd", (int)un));
    struct dirent *de;
    unsigned fds = 0;
    assert_non_null(d);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        const char *what = link_of(pathf("/proc/%d/fd/%s", (int)un, de->d_name));
        if (strncmp(what, "socket:", 7) && strncmp(what, "pipe:", 5))
            fail_msg("the unpacker holds fd %s: '%s'", de->d_name, what);
        fds++;
    }
    closedir(d);
    assert_int_equal(fds, 3);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(kill(un, 0), -1); /* gone with its pull */
}

/*
 * Runs fn(arg, out) in a child process and returns its wait status; what it wrote to `out` is in
 * buf (cap bytes at most).
 */
static int in_child(char *buf, size_t cap, void (*fn)(const char *arg, int out), const char *arg)
{
    int p[2], st;
    size_t len = 0;
    ssize_t n;
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(p[0]);
        fn(arg, p[1]);
        _exit(0);
    }
    close(p[1]);
    while ((n = read(p[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(p[0]);
    assert_int_equal(waitpid(child, &st, 0), child);
    return st;
}

struct probe {
    const char *what;
    int expect; /* errno, or 0 for success */
};

/* In a fresh process: enters the sandbox in `jail` and tries its ways out, one line each. */
static void probe_sandbox(const char *jail, int out)
{
    struct kvz_error *err = NULL;
    char line[128];
#define SAY(what, ok) dprintf(4, "%s %d\n", what, (ok) ? 0 : errno)
    if (dup2(out, 4) < 0)
        _exit(2);
    signal(SIGXFSZ, SIG_IGN);
    if (kvz_sandbox_enter(jail, 1 << 20, false, &err) < 0) {
        dprintf(4, "enter %s\n", kvz_error_msg(err));
        _exit(1);
    }
    char *argv[] = {"sh", NULL};
    SAY("execve", execve("/bin/sh", argv, argv) == 0);
    SAY("socket-inet", socket(AF_INET, SOCK_STREAM, 0) >= 0);
    SAY("socket-unix", socket(AF_UNIX, SOCK_STREAM, 0) >= 0);
    SAY("open-host-file", open("/etc/passwd", O_RDONLY) >= 0);
    SAY("open-dotdot", open("../../../../etc/passwd", O_RDONLY) >= 0);
    SAY("mknod-char", mknod("null", S_IFCHR | 0666, makedev(1, 3)) == 0);
    SAY("open-char-device", open("null", O_RDWR) >= 0);
    SAY("mknod-block", mknod("disk", S_IFBLK | 0600, makedev(8, 0)) == 0);
    SAY("open-block-device", open("disk", O_RDONLY) >= 0);
    int fd = open("/escape", O_WRONLY | O_CREAT | O_EXCL, 0644);
    SAY("create-file", fd >= 0);
    SAY("chown-any-uid", fchown(fd, 4242, 4242) == 0);
    SAY("setuid-bit", fchmod(fd, 04755) == 0);
    SAY("xattr-trusted", fsetxattr(fd, "trusted.kvz", "x", 1, 0) == 0);
    SAY("write-past-limit", pwrite(fd, "x", 1, 1 << 20) == 1);
    SAY("kill-parent", kill(getppid(), 0) == 0);
    SAY("kill-init", kill(1, 0) == 0);
    pid_t k = fork();
    if (k == 0)
        _exit(0);
    SAY("fork", k >= 0);
    SAY("unshare", unshare(CLONE_NEWNS) == 0);
    SAY("mount", mount("none", "/", "tmpfs", 0, NULL) == 0);
    SAY("chroot", chroot("/") == 0);
    SAY("setuid", setuid(1000) == 0);
    SAY("tiocsti", ioctl(2, TIOCSTI, "x") == 0);
    FILE *f = fopen("/proc/self/status", "r");
    SAY("proc", f != NULL);
    snprintf(line, sizeof(line), "done");
    dprintf(4, "%s 0\n", line);
#undef SAY
    _exit(0);
}

static void test_sandbox_refuses_escapes(void **state)
{
    static const struct probe want[] = {
        {"execve", EPERM},
        {"socket-inet", EPERM},
        {"socket-unix", EPERM},
        {"open-host-file", ENOENT},
        {"open-dotdot", ENOENT},
        {"mknod-char", 0},
        {"open-char-device", EACCES},
        {"mknod-block", 0},
        {"open-block-device", EACCES},
        {"create-file", 0},
        {"chown-any-uid", 0},
        {"setuid-bit", 0},
        {"xattr-trusted", EPERM},
        {"write-past-limit", EFBIG},
        {"kill-parent", EPERM},
        {"kill-init", EPERM},
        {"fork", EPERM},
        {"unshare", EPERM},
        {"mount", EPERM},
        {"chroot", EPERM},
        {"setuid", EPERM},
        {"tiocsti", EPERM},
        {"proc", ENOENT},
        {"done", 0},
    };
    char jail[PATH_MAX];
    snprintf(jail, sizeof(jail), "%s/jail-%u", g_work, ++g_seq);
    assert_int_equal(mkdir(jail, 0700), 0);
    char buf[4096];
    in_child(buf, sizeof(buf), probe_sandbox, jail);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "%s %d\n", want[i].what, want[i].expect);
        if (!strstr(buf, key))
            fail_msg("sandbox probe: want '%s %d' (%s), got:\n%s", want[i].what, want[i].expect,
                     want[i].expect ? strerror(want[i].expect) : "success", buf);
    }
    /* what it made stayed in its jail */
    struct stat s;
    assert_int_equal(stat(pathf("%s/escape", jail), &s), 0);
    assert_int_equal(s.st_uid, 4242);
    assert_int_equal(access(pathf("%s/escape", g_work), F_OK), -1);
}

/* ---- unverified content's budget, and a full disk ------------------------------------------ */

/*
 * Runs fn(state, out) in a child with a mount namespace of its own, where `state` is a fresh
 * tmpfs of `mib` MiB (the host's mounts stay untouched); returns what fn wrote to `out`.
 */
typedef void (*small_fs_fn)(const char *state, int out);
static small_fs_fn g_small_fn;
static char g_small_opts[32];

static void small_fs_child(const char *dir, int out)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("kvzt", dir, "tmpfs", 0, g_small_opts) < 0) {
        dprintf(out, "setup: %s", strerror(errno));
        _exit(1);
    }
    g_small_fn(dir, out);
}

static const char *in_small_fs(unsigned mib, small_fs_fn fn)
{
    static char msg[4096];
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/small-%u", g_work, ++g_seq);
    snprintf(g_small_opts, sizeof(g_small_opts), "size=%um", mib);
    g_small_fn = fn;
    assert_int_equal(mkdir(dir, 0755), 0);
    int st = in_child(msg, sizeof(msg), small_fs_child, dir);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("small file system child: %s", msg);
    return msg;
}

/* The most ever used of a file system, sampled while a pull runs. */
struct usage {
    const char *path;
    atomic_int stop;
    uint64_t peak;
};

static void *sample_usage(void *arg)
{
    struct usage *u = arg;
    while (!atomic_load(&u->stop)) {
        struct statvfs v;
        if (statvfs(u->path, &v) == 0) {
            uint64_t used = (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
            if (used > u->peak)
                u->peak = used;
        }
        usleep(500);
    }
    return NULL;
}

static char g_fs_url[512], g_fs_sha[65];
static enum kvz_content_kind g_fs_want;
static uint64_t g_fs_slack;

/* Pulls g_fs_url (expecting g_fs_sha) into `state`, sampling the disk; writes "PEAK MSG". */
static void pull_in_small_fs(const char *state, int out)
{
    struct kvz_store_opts o;
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    struct kvz_image img;
    kvz_store_opts_init(&o);
    o.retries = 0;
    if (g_fs_slack)
        o.unverified_slack = g_fs_slack;
    if (kvz_store_open(&s, state, &o, &err) < 0) {
        dprintf(out, "0 open: %s", kvz_error_msg(err));
        return;
    }
    struct kvz_template t = tmpl("small", g_fs_url, g_fs_sha);
    struct usage u = {.path = state};
    pthread_t th;
    pthread_create(&th, NULL, sample_usage, &u);
    int r = kvz_store_pull(&img, s, &t, g_fs_want, &err);
    atomic_store(&u.stop, 1);
    pthread_join(th, NULL);
    dprintf(out, "%llu %s", (unsigned long long)u.peak, r == 0 ? "pulled" : kvz_error_msg(err));
}

/* <name>.tar.zst (a rootfs of one file, ./big, holding data) and <name>.img.zst (data itself). */
static void make_dense(const char *name, const char *data, size_t len)
{
    struct ent e[] = {{.path = "./", .type = AE_IFDIR, .perm = 0755},
                      {.path = "./big", .type = AE_IFREG, .data = data}};
    assert_int_equal(strlen(data), len);
    make_tar(pathf("%s/%s.tar.zst", g_www, name), "zstd", e, 2);
    make_compressed(pathf("%s/%s.img.zst", g_www, name), "zstd", data, len);
}

static char *filled(size_t len, char c)
{
    char *b = malloc(len + 1);
    assert_non_null(b);
    memset(b, c, len);
    b[len] = '\0';
    return b;
}

/*
 * A server that swaps the template for a bomb (a few KiB that unpack to 64 MiB): the unpacker
 * stops at its budget long before the disk is full, and the pull fails on the digest, saying so.
 */
static void test_unverified_bomb_stops_at_budget(void **state)
{
    /* 64 KiB that do not compress first, so the bomb is more than the few bytes kvz looks at
     * to tell what it is */
    char *a = filled(64u << 20, 'a'), *noise = random_bytes(65536);
    for (size_t i = 0; i < 65536; i++)
        a[i] = (char)('!' + ((unsigned char)noise[i] % 90));
    make_dense("bomb", a, 64u << 20);
    free(noise);
    free(a);
    static const char *const bombs[] = {"bomb.tar.zst", "bomb.img.zst"};
    const enum kvz_content_kind kinds[] = {KVZ_CONTENT_ROOTFS, KVZ_CONTENT_DISK};
    for (int i = 0; i < 2; i++) {
        snprintf(g_fs_url, sizeof(g_fs_url), "%s", url(bombs[i]));
        snprintf(g_fs_sha, sizeof(g_fs_sha), "%s",
                 "3333333333333333333333333333333333333333333333333333333333333333");
        g_fs_want = kinds[i];
        g_fs_slack = 1u << 20;
        /* The last bytes come late: the unpacker has all the time it needs to fill the disk. */
        script(bombs[i], "[\"pause:16:2\"]");
        const char *msg = in_small_fs(16, pull_in_small_fs);
        unsigned long long peak = strtoull(msg, NULL, 10);
        assert_contains(msg, "checksum mismatch");
        assert_contains(msg, "past 8 times as much, and was not unpacked further");
        if (peak > (4u << 20))
            fail_msg("%s: %llu bytes were used on disk before the digest failed", bombs[i], peak);
    }
    g_fs_slack = 0;
}

/* `file` (in www) pulled without a checksum is refused: only a verified pass could unpack it. */
static void refused_without_checksum(struct kvz_store *s, const char *file, const char *why)
{
    struct kvz_template ins = tmpl("insecure", url(file), NULL);
    const char *msg = pull_fails(s, &ins, KVZ_CONTENT_ROOTFS);
    assert_contains(msg, why);
    assert_contains(msg, "add 'sha256:' or 'checksums:'");
}

/* Genuine content that unpacks to more than the budget: unpacked from the verified file. */
static void test_genuine_content_past_budget_unpacked_after_verification(void **state)
{
    char *b = filled(16u << 20, 'b');
    make_dense("dense", b, 16u << 20);
    struct kvz_store_opts o;
    kvz_store_opts_init(&o);
    o.unverified_slack = 1u << 20;
    struct kvz_store *s = store_opts(&o);
    struct kvz_template t =
        tmpl("dense", url("dense.tar.zst"), file_sha(pathf("%s/dense.tar.zst", g_www)));
    struct kvz_image img;
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    size_t len;
    char *got = rfile(pathf("%s/big", img.path), &len);
    assert_int_equal(len, 16u << 20);
    assert_memory_equal(got, b, len);
    free(got);
    kvz_image_release(&img);
    struct kvz_template d =
        tmpl("dense-img", url("dense.img.zst"), file_sha(pathf("%s/dense.img.zst", g_www)));
    pull_ok(&img, s, &d, KVZ_CONTENT_DISK);
    assert_string_equal(img.format, "raw");
    assert_int_equal(img.size, 16u << 20);
    kvz_image_release(&img);
    assert_int_equal(entries(g_state, "tmp"), 0);
    assert_int_equal(entries(g_state, "partial"), 0);
    /* Without a checksum nothing can vouch for it: refused, not unpacked past the budget. */
    refused_without_checksum(s, "dense.tar.zst", "unpacks to more than 8 times its size");
    kvz_store_free(s);
    free(b);
}

/*
 * trusted.* and security.* xattrs take CAP_SYS_ADMIN, which the unpacker of unverified bytes does
 * not get: they are restored by a second pass once the digest matched, and refused without one.
 */
static void test_admin_xattrs_restored_after_verification(void **state)
{
    struct ent e[] = {
        {.path = "./", .type = AE_IFDIR, .perm = 0755},
        {.path = "./overlay", .type = AE_IFREG, .data = "o", .xattr = "trusted.overlay.opaque=y"},
        {.path = "./labelled",
         .type = AE_IFREG,
         .data = "l",
         .xattr = "security.selinux=system_u:object_r:etc_t:s0"},
    };
    const char *f = pathf("%s/xattrs.tar.gz", g_www);
    make_tar(f, "gzip", e, 3);
    struct kvz_store *s = store_new();
    struct kvz_template t = tmpl("xattrs", url("xattrs.tar.gz"), file_sha(f));
    struct kvz_image img;
    char buf[64];
    pull_ok(&img, s, &t, KVZ_CONTENT_ROOTFS);
    ssize_t n =
        lgetxattr(pathf("%s/overlay", img.path), "trusted.overlay.opaque", buf, sizeof(buf));
    assert_int_equal(n, 1);
    n = lgetxattr(pathf("%s/labelled", img.path), "security.selinux", buf, sizeof(buf));
    assert_true(n > 0);
    assert_memory_equal(buf, "system_u:object_r:etc_t:s0", 26);
    kvz_image_release(&img);
    assert_int_equal(entries(g_state, "tmp"), 0);
    refused_without_checksum(s, "xattrs.tar.gz", "has trusted.* or security.* extended attributes");
    kvz_store_free(s);
}

/* A full disk names the cause and what to do, whether the download or the unpacking hit it. */
static void test_full_disk_says_why_and_what_to_do(void **state)
{
    char *c = filled(8u << 20, 'c');
    make_dense("full", c, 8u << 20);
    free(c);
    char *r = random_bytes(6u << 20);
    wfile(pathf("%s/full.raw", g_www), r, 6u << 20);
    free(r);
    static const char *const files[] = {"full.tar.zst", "full.img.zst", "full.raw"};
    static const char *const where[] = {"archive entry './big': write", "write 'disk.raw'",
                                        ".part'"};
    const enum kvz_content_kind kinds[] = {KVZ_CONTENT_ROOTFS, KVZ_CONTENT_DISK, KVZ_CONTENT_DISK};
    for (int i = 0; i < 3; i++) {
        snprintf(g_fs_url, sizeof(g_fs_url), "%s", url(files[i]));
        snprintf(g_fs_sha, sizeof(g_fs_sha), "%s", file_sha(pathf("%s/%s", g_www, files[i])));
        g_fs_want = kinds[i];
        const char *msg = in_small_fs(4, pull_in_small_fs);
        assert_contains(msg, where[i]);
        assert_contains(msg, "No space left on device");
        assert_contains(msg, "free space on the file system of '");
        assert_contains(msg, "or use a --state-dir on a larger one");
    }
}

/* ---- setup -------------------------------------------------------------------------------- */

static int server_up(void **state)
{
    const char *src = getenv("KVZ_SOURCE_DIR");
    char port_file[PATH_MAX];
    if (!src)
        return -1;
    snprintf(g_work, sizeof(g_work), "/tmp/kvzt-%ld-store", (long)getpid());
    snprintf(g_www, sizeof(g_www), "%s/www", g_work);
    snprintf(port_file, sizeof(port_file), "%s/port", g_work);
    if (mkdir(g_work, 0755) < 0 || mkdir(g_www, 0755) < 0)
        return -1;
    g_srv = fork();
    if (g_srv == 0) {
        char script_path[PATH_MAX];
        snprintf(script_path, sizeof(script_path), "%s/tests/integration/httpd_faults.py", src);
        execlp("python3", "python3", script_path, "--root", g_www, "--port-file", port_file,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && g_port <= 0; i++) {
        size_t len;
        char *b = rfile(port_file, &len);
        if (b) {
            g_port = atoi(b);
            free(b);
        } else {
            usleep(20000);
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return g_port > 0 ? 0 : -1;
}

static int server_down(void **state)
{
    if (g_srv > 0) {
        kill(g_srv, SIGTERM);
        waitpid(g_srv, NULL, 0);
    }
    if (g_work[0] && !getenv("KVZ_KEEP_TEST_DIR")) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_work);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static int reset(void **state)
{
    json_decref(ctl("_ctl/reset", "{}"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_rootfs_kept_intact, reset),
        cmocka_unit_test_setup(test_cache_hit_makes_no_request, reset),
        cmocka_unit_test_setup(test_same_bytes_two_urls_stored_once, reset),
        cmocka_unit_test_setup(test_cut_transfer_resumes, reset),
        cmocka_unit_test_setup(test_server_ignoring_range_restarts, reset),
        cmocka_unit_test_setup(test_503_then_200_and_429_retry_after, reset),
        cmocka_unit_test_setup(test_redirects, reset),
        cmocka_unit_test_setup(test_404_names_url_and_status, reset),
        cmocka_unit_test_setup(test_content_length_lies, reset),
        cmocka_unit_test_setup(test_stall_fails, reset),
        cmocka_unit_test_setup(test_http_without_checksum_refused, reset),
        cmocka_unit_test_setup(test_checksum_mismatch_deletes_and_names_both, reset),
        cmocka_unit_test_setup(test_sums_file, reset),
        cmocka_unit_test_setup(test_crash_left_partial_resumed, reset),
        cmocka_unit_test_setup(test_killed_after_download_then_repull, reset),
        cmocka_unit_test_setup(test_concurrent_pulls_two_processes, reset),
        cmocka_unit_test_setup(test_parallel_distinct_downloads, reset),
        cmocka_unit_test_setup(test_url_credentials_redacted, reset),
        cmocka_unit_test_setup(test_hostile_archives, reset),
        cmocka_unit_test_setup(test_truncated_and_garbage, reset),
        cmocka_unit_test_setup(test_member_claiming_100tb, reset),
        cmocka_unit_test_setup(test_too_many_entries, reset),
        cmocka_unit_test_setup(test_decompression_bomb, reset),
        cmocka_unit_test_setup(test_disk_images_and_iso, reset),
        cmocka_unit_test_setup(test_local_file_and_prune, reset),
        cmocka_unit_test_setup(test_unpacker_confined, reset),
        cmocka_unit_test_setup(test_sandbox_refuses_escapes, reset),
        cmocka_unit_test_setup(test_unverified_bomb_stops_at_budget, reset),
        cmocka_unit_test_setup(test_genuine_content_past_budget_unpacked_after_verification, reset),
        cmocka_unit_test_setup(test_full_disk_says_why_and_what_to_do, reset),
        cmocka_unit_test_setup(test_admin_xattrs_restored_after_verification, reset),
    };
    if (getenv("KVZ_TEST_FILTER"))
        cmocka_set_test_filter(getenv("KVZ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, server_up, server_down);
}
