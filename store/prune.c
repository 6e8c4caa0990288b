#include "base/buf.h"
#include "base/error.h"
#include "base/fs.h"
#include "store/cache.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * kvz templates prune: everything in the cache that no kept template refers
 * to goes, each object under its lock and out of objects/ in one rename.
 */

/* Hex names (object digests or template identities) that prune keeps. */
struct keep_set {
    char (*v)[KVZ_HEX256];
    size_t n;
};

static int keep_add(struct keep_set *k, const char *hex)
{
    void *v = realloc(k->v, (k->n + 1) * sizeof(*k->v));
    if (!v)
        return -1;
    k->v = v;
    memcpy(k->v[k->n++], hex, KVZ_HEX256);
    return 0;
}

static bool keep_has(const struct keep_set *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strncmp(k->v[i], name, 64))
            return true;
    return false;
}

/* Calls fn for each entry of <root>/<dir>; stops at the first failure. */
static int each_entry(const struct kvz_store *s, const char *dir,
                      int (*fn)(const struct kvz_store *s, const char *dir, const char *name,
                                void *arg, struct kvz_error **err),
                      void *arg, struct kvz_error **err)
{
    char *p = kvz_cache_path(s, dir, NULL);
    DIR *d = p ? opendir(p) : NULL;
    int ret = 0;
    if (!d) {
        ret = kvz_error_set_errno(err, "read '%s'", p ? p : dir);
        free(p);
        return ret;
    }
    struct dirent *de;
    while (ret == 0 && (de = readdir(d)))
        if (de->d_name[0] != '.')
            ret = fn(s, dir, de->d_name, arg, err);
    closedir(d);
    free(p);
    return ret;
}

struct prune_ctx {
    struct keep_set objects, ids;
    uint64_t freed;
    size_t removed, busy;
};

static int prune_object(const struct kvz_store *s, const char *dir, const char *name, void *arg,
                        struct kvz_error **err)
{
    struct prune_ctx *c = arg;
    struct kvz_buf lock = KVZ_BUF_INIT, from = KVZ_BUF_INIT, to = KVZ_BUF_INIT;
    int lfd = -1, ret = -1;
    if (keep_has(&c->objects, name))
        return 0;
    kvz_buf_printf(&lock, "obj-%s", name);
    kvz_buf_printf(&from, "%s/objects/%s", s->root, name);
    kvz_buf_printf(&to, "%s/tmp/del.%s.%ld", s->root, name, (long)getpid());
    if (lock.oom || from.oom || to.oom) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    /* An apply or pull that holds the object (shared) is using it now: left alone. */
    int r = kvz_cache_lock(&lfd, s, lock.ptr, false, err);
    if (r != 0) {
        c->busy += r > 0;
        ret = r > 0 ? 0 : -1;
        goto cleanup;
    }
    /* Gone from objects/ in one step, then removed at leisure. */
    if (rename(from.ptr, to.ptr) < 0) {
        ret = errno == ENOENT ? 0 : kvz_error_set_errno(err, "remove '%s'", from.ptr);
        goto cleanup;
    }
    if (kvz_tree_remove(&c->freed, to.ptr, err) < 0)
        goto cleanup;
    c->removed++;
    ret = 0;
cleanup:
    if (lfd >= 0)
        close(lfd);
    kvz_buf_release(&lock);
    kvz_buf_release(&from);
    kvz_buf_release(&to);
    return ret;
}

static int unlink_counted(struct prune_ctx *c, const struct kvz_store *s, const char *dir,
                          const char *name, struct kvz_error **err)
{
    char *p = kvz_cache_path(s, dir, name);
    struct stat st;
    int ret = 0;
    if (!p)
        return kvz_error_set(err, "out of memory");
    if (lstat(p, &st) == 0)
        c->freed += (uint64_t)st.st_blocks * 512;
    if (unlink(p) < 0 && errno != ENOENT)
        ret = kvz_error_set_errno(err, "remove '%s'", p);
    free(p);
    return ret;
}

static int prune_index(const struct kvz_store *s, const char *dir, const char *name, void *arg,
                       struct kvz_error **err)
{
    struct prune_ctx *c = arg;
    char hex[KVZ_HEX256];
    size_t len = strlen(name);
    if (len == 64 && keep_has(&c->ids, name))
        return 0;
    if (len > 4 && !strcmp(name + len - 4, ".tmp"))
        return 0; /* a pull is writing it right now */
    if (!strcmp(dir, "alias") && kvz_cache_alias_entry(hex, s, name) == 1 &&
        keep_has(&c->objects, hex))
        return 0;
    return unlink_counted(c, s, dir, name, err);
}

/* Partial downloads and staging trees of pulls that are not running (their id lock is free). */
static int prune_stale(const struct kvz_store *s, const char *dir, const char *name, void *arg,
                       struct kvz_error **err)
{
    struct prune_ctx *c = arg;
    char id[KVZ_HEX256] = "";
    if (!strncmp(name, "del.", 4)) {
        /* an object a prune moved out of objects/ but did not finish removing */
        char *path = kvz_cache_path(s, dir, name);
        int r = path ? kvz_tree_remove(&c->freed, path, err) : kvz_error_set(err, "out of memory");
        free(path);
        return r;
    }
    const char *p = !strncmp(name, "obj.", 4) ? name + 4 : name;
    if (strlen(p) < 64)
        return unlink_counted(c, s, dir, name, err);
    memcpy(id, p, 64);
    id[64] = '\0';
    if (!strcmp(dir, "partial") && keep_has(&c->ids, id))
        return 0; /* resumable, and still wanted */
    char lname[80];
    int lfd = -1;
    snprintf(lname, sizeof(lname), "id-%s", id);
    int r = kvz_cache_lock(&lfd, s, lname, false, err);
    if (r != 0)
        return r < 0 ? -1 : 0; /* a pull is running */
    char *path = kvz_cache_path(s, dir, name);
    int ret = path ? kvz_tree_remove(&c->freed, path, err) : kvz_error_set(err, "out of memory");
    free(path);
    close(lfd);
    return ret;
}

int kvz_store_prune(uint64_t *out_freed, size_t *out_removed, size_t *out_busy, struct kvz_store *s,
                    const struct kvz_template *const *keep, size_t n, const char *const *used,
                    size_t n_used, struct kvz_error **err)
{
    struct prune_ctx c = {0};
    int ret = -1;
    size_t rl = strlen(s->root);
    for (size_t i = 0; i < n_used; i++) {
        const char *hex = used[i] && !strncmp(used[i], "sha256:", 7) ? used[i] + 7 : NULL;
        /* a path into an object (the tree a container's overlay mounts): that object */
        if (used[i] && !strncmp(used[i], s->root, rl) && !strncmp(used[i] + rl, "/objects/", 9)) {
            char obj[KVZ_HEX256];
            snprintf(obj, sizeof(obj), "%.64s", used[i] + rl + 9);
            if (strlen(obj) == 64 && keep_add(&c.objects, obj) < 0) {
                kvz_error_set(err, "out of memory");
                goto cleanup;
            }
            continue;
        }
        if (hex && strlen(hex) == 64 && keep_add(&c.objects, hex) < 0) {
            kvz_error_set(err, "out of memory");
            goto cleanup;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct kvz_image img = {0};
        char id[KVZ_HEX256];
        int r = kvz_store_lookup(&img, s, keep[i], err);
        if (r < 0 || kvz_cache_identity(id, keep[i], err) < 0)
            goto cleanup;
        if ((r == 1 && keep_add(&c.objects, img.digest + strlen("sha256:")) < 0) ||
            keep_add(&c.ids, id) < 0) {
            kvz_image_release(&img);
            kvz_error_set(err, "out of memory");
            goto cleanup;
        }
        kvz_image_release(&img);
    }
    if (each_entry(s, "objects", prune_object, &c, err) < 0 ||
        each_entry(s, "index", prune_index, &c, err) < 0 ||
        each_entry(s, "alias", prune_index, &c, err) < 0 ||
        each_entry(s, "partial", prune_stale, &c, err) < 0 ||
        each_entry(s, "tmp", prune_stale, &c, err) < 0)
        goto cleanup;
    *out_freed = c.freed;
    *out_removed = c.removed;
    *out_busy = c.busy;
    ret = 0;
cleanup:
    free(c.objects.v);
    free(c.ids.v);
    return ret;
}
