/*
 * A container's files under <state_dir>/containers/<stack>/<name>/: the rootfs directory or the
 * ext4 image, made under a temporary name and renamed into place, then storage.json written
 * last. Only storage with storage.json is ever used: a tree a killed copy (or a killed remove)
 * left is redone, never started. storage.json also says whether a domain was defined on it,
 * so the files of a guest deleted outside kvz are set aside, not brought back.
 */
#include "providers/container/container.h"

#include "base/buf.h"
#include "base/fs.h"
#include "parser/spec_digest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER "storage.json"

static const char *state_name(enum kvz_ct_storage s)
{
    return s == KVZ_CT_STORAGE_DEFINED ? "defined" : "complete";
}

#define KIND_OVERLAY "overlay"

/* storage.json of `dir`, or NULL when missing or unreadable. */
static json_t *marker_load(const char *dir)
{
    char *marker = NULL;
    if (!dir || kvz_path_join(&marker, dir, MARKER, NULL) < 0) /* no dir: no local layers */
        return NULL;
    json_t *j = json_load_file(marker, 0, NULL);
    free(marker);
    return j;
}

int kvz_ct_storage_state(enum kvz_ct_storage *out, const char *dir, bool disk,
                         struct kvz_error **err)
{
    char *final = NULL, *mnt = NULL;
    json_t *j = marker_load(dir);
    int ret = -1;
    *out = KVZ_CT_STORAGE_NONE;
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *kind = json_string_value(json_object_get(j, "storage"));
    /* without `disk:` the storage is a private tree or the container's own layer */
    bool overlay = !disk && kind && !strcmp(kind, KIND_OVERLAY);
    const char *want = disk ? KVZ_CT_DISK_IMG : overlay ? KIND_OVERLAY : KVZ_CT_ROOTFS_DIR;
    if (kvz_path_join(&final, dir,
                      disk      ? KVZ_CT_DISK_IMG
                      : overlay ? KVZ_CT_UPPER_DIR
                                : KVZ_CT_ROOTFS_DIR,
                      err) < 0 ||
        kvz_path_join(&mnt, dir, KVZ_CT_ROOTFS_DIR, err) < 0)
        goto cleanup;
    ret = 0;
    if (!j || !state || !kind || strcmp(kind, want) || !kvz_path_is(final, !disk) ||
        (overlay && !kvz_path_is(mnt, true)))
        goto cleanup;
    if (!strcmp(state, "defined"))
        *out = KVZ_CT_STORAGE_DEFINED;
    else if (!strcmp(state, "complete"))
        *out = KVZ_CT_STORAGE_COMPLETE;
cleanup:
    json_decref(j);
    free(final);
    free(mnt);
    return ret;
}

int kvz_ct_storage_layers(char **lower, char **upper, char **work, const char *dir,
                          struct kvz_error **err)
{
    json_t *j = marker_load(dir);
    const char *kind = json_string_value(json_object_get(j, "storage"));
    const char *l = json_string_value(json_object_get(j, "lower"));
    int ret = 0;
    *lower = *upper = *work = NULL;
    if (kind && !strcmp(kind, KIND_OVERLAY) && l &&
        (!(*lower = strdup(l)) || kvz_path_join(upper, dir, KVZ_CT_UPPER_DIR, err) < 0 ||
         kvz_path_join(work, dir, KVZ_CT_WORK_DIR, err) < 0)) {
        free(*lower);
        free(*upper);
        *lower = *upper = NULL;
        ret = kvz_error_set(err, "'%s': out of memory", dir);
    }
    json_decref(j);
    return ret;
}

/* storage.json says: the storage of `kind` (over the template tree `lower`) is in `state`. */
static int mark_kind(const char *dir, const char *kind, const char *lower,
                     enum kvz_ct_storage state, struct kvz_error **err)
{
    struct kvz_buf tmp = KVZ_BUF_INIT, final = KVZ_BUF_INIT;
    char when[32];
    int fd = -1, ret = -1;
    kvz_utc_now(when);
    kvz_buf_printf(&tmp, "%s/.%s.tmp", dir, MARKER);
    kvz_buf_printf(&final, "%s/%s", dir, MARKER);
    json_t *j =
        json_pack("{s:s, s:s, s:s}", "storage", kind, "state", state_name(state), "at", when);
    if (j && lower)
        json_object_set_new(j, "lower", json_string(lower));
    char *text = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
    if (!text || tmp.oom || final.oom) {
        kvz_error_set(err, "'%s/%s': out of memory", dir, MARKER);
        goto cleanup;
    }
    /* Written after the storage is complete and renamed into place: against a kill the
     * kernel's order is enough (a power loss may make the next create redo the copy). */
    size_t len = strlen(text);
    if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 || rename(tmp.ptr, final.ptr) < 0) {
        kvz_error_set_errno(err, "write '%s'", final.ptr);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (ret < 0)
        unlink(kvz_buf_cstr(&tmp));
    json_decref(j);
    free(text);
    kvz_buf_release(&tmp);
    kvz_buf_release(&final);
    return ret;
}

int kvz_ct_storage_mark(const char *dir, bool disk, enum kvz_ct_storage state,
                        struct kvz_error **err)
{
    char *lower = NULL, *upper = NULL, *work = NULL;
    if (!disk && kvz_ct_storage_layers(&lower, &upper, &work, dir, err) < 0)
        return -1;
    int ret = mark_kind(dir,
                        disk    ? KVZ_CT_DISK_IMG
                        : lower ? KIND_OVERLAY
                                : KVZ_CT_ROOTFS_DIR,
                        lower, state, err);
    free(lower);
    free(upper);
    free(work);
    return ret;
}

/* The container's own layer over the template tree `src`, made at `tmp` (renamed to upper/ by
 * the caller); the mount point rootfs/ and overlayfs's work dir beside it. */
static int make_upper(const char *tmp, const char *src, const char *dir,
                      const struct kvz_resource *want, struct kvz_error **err)
{
    char *work = NULL, *mnt = NULL;
    int ret = -1;
    if (kvz_path_join(&work, dir, KVZ_CT_WORK_DIR, err) < 0 ||
        kvz_path_join(&mnt, dir, KVZ_CT_ROOTFS_DIR, err) < 0)
        goto cleanup;
    if (mkdir(tmp, 0700) < 0 || mkdir(work, 0700) < 0 || mkdir(mnt, 0755) < 0) {
        kvz_error_set_errno(err, "mkdir in '%s'", dir);
        goto cleanup;
    }
    if (kvz_ct_upper_prepare(tmp, src, err) < 0 || kvz_rootfs_inject(tmp, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    free(work);
    free(mnt);
    return ret;
}

/* Deletes what a killed create left: unfinished copies, images, markers, injection dirs. */
static int remove_leftovers(const char *dir, struct kvz_error **err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ret = 0;
    if (!d)
        return errno == ENOENT ? 0 : kvz_error_set_errno(err, "read '%s'", dir);
    while (ret == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = NULL;
        ret = kvz_path_join(&p, dir, e->d_name, err) < 0 ? -1 : kvz_tree_remove(NULL, p, err);
        free(p);
    }
    closedir(d);
    return ret;
}

/* The files of a guest deleted outside kvz: kept, beside the container's dir, never reused. */
static int set_aside(struct kvz_host *h, const char *name, const char *dir, struct kvz_error **err)
{
    struct kvz_buf to = KVZ_BUF_INIT, msg = KVZ_BUF_INIT;
    char when[32];
    kvz_utc_now(when);
    kvz_buf_printf(&to, "%s.orphan-%s", dir, when);
    kvz_buf_printf(&msg, "its domain was deleted outside kvz: its old files are kept at '%s'",
                   kvz_buf_cstr(&to));
    int ret = 0;
    if (to.oom || msg.oom)
        ret = kvz_error_set(err, "container '%s': out of memory", name);
    else if (rename(dir, to.ptr) < 0)
        ret = kvz_error_set_errno(err, "keep the old files of '%s' at '%s'", name, to.ptr);
    else if (mkdir(dir, 0700) < 0)
        ret = kvz_error_set_errno(err, "create '%s'", dir);
    else
        kvz_host_log(h, name, kvz_buf_cstr(&msg));
    kvz_buf_release(&to);
    kvz_buf_release(&msg);
    return ret;
}

/*
 * libvirt 9.0 copies the image's path into the loop device's 64-byte name and refuses a longer
 * one ("Unable to set backing file"): the domain gets <state_dir>/i/<12 hex of stack/name>.img,
 * a symlink to the image, instead of the image's own, longer path.
 */
int kvz_ct_storage_loop_path(char **out, const struct kvz_host *h, const char *name,
                             struct kvz_error **err)
{
    struct kvz_buf id = KVZ_BUF_INIT, b = KVZ_BUF_INIT;
    char hex[KVZ_SHA256_HEX];
    *out = NULL;
    kvz_buf_printf(&id, "%s/%s", h->stack, name);
    kvz_sha256_hex(hex, kvz_buf_cstr(&id), id.len);
    kvz_buf_release(&id);
    kvz_buf_printf(&b, "%s/i/%.12s.img", h->state_dir, hex);
    if (b.oom) {
        kvz_buf_release(&b);
        return kvz_error_set(err, "container '%s': out of memory", name);
    }
    if (b.len > 63) {
        int ret = kvz_error_set(
            err,
            "container '%s': its image would be attached as '%s', %zu characters, but libvirt allows a loop device 63; use a --state-dir of at most %zu characters for containers with disk:",
            name, b.ptr, b.len, 63 - (b.len - strlen(h->state_dir)));
        kvz_buf_release(&b);
        return ret;
    }
    *out = kvz_buf_detach(&b);
    return 0;
}

/* Points the short path at the image (replacing what it pointed at, in one rename). */
static int link_image(const char *link, const char *img, struct kvz_error **err)
{
    struct kvz_buf tmp = KVZ_BUF_INIT;
    char *dir = strdup(link), *slash = dir ? strrchr(dir, '/') : NULL;
    int ret = -1;
    if (!slash) {
        kvz_error_set(err, "out of memory");
        goto cleanup;
    }
    *slash = '\0';
    kvz_buf_printf(&tmp, "%s.%ld.tmp", link, (long)getpid());
    if (tmp.oom || kvz_mkdir_p(dir, 0700, err) < 0)
        goto cleanup;
    unlink(tmp.ptr);
    if (symlink(img, tmp.ptr) < 0 || rename(tmp.ptr, link) < 0) {
        kvz_error_set_errno(err, "link '%s' to '%s'", link, img);
        unlink(tmp.ptr);
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(dir);
    kvz_buf_release(&tmp);
    return ret;
}

int kvz_ct_storage_make(char **rootfs_out, char **img_out, struct kvz_host *h,
                        const struct kvz_resource *want, const char *src, const char *dir,
                        bool have_domain, bool in_use, bool overlay, struct kvz_error **err)
{
    char *rootfs = NULL, *img = NULL, *tmp = NULL, *upper = NULL, *lower = NULL, *work = NULL;
    bool disk = want->disk != 0;
    enum kvz_ct_storage state;
    int ret = -1;

    if (kvz_path_join(&rootfs, dir, KVZ_CT_ROOTFS_DIR, err) < 0 ||
        kvz_path_join(&img, dir, KVZ_CT_DISK_IMG, err) < 0 ||
        kvz_ct_storage_state(&state, dir, disk, err) < 0)
        goto cleanup;
    const char *final = disk ? img : rootfs;
    if (state == KVZ_CT_STORAGE_DEFINED && !have_domain) {
        if (set_aside(h, want->name, dir, err) < 0)
            goto cleanup;
        state = KVZ_CT_STORAGE_NONE;
    }
    if (state != KVZ_CT_STORAGE_NONE) {
        /* finished by an earlier create that died before defining the domain: keep it, but
         * make sure the injected files are the wanted ones (never into a mounted image) */
        kvz_host_log(h, want->name, "reusing complete storage from an earlier run");
        if (!disk && kvz_ct_storage_layers(&lower, &upper, &work, dir, err) < 0)
            goto cleanup;
        if (!in_use && (disk ? kvz_disk_inject(img, want, err)
                             : kvz_rootfs_inject(upper ? upper : rootfs, want, err)) < 0)
            goto cleanup;
    } else {
        if (!src) {
            kvz_error_set(err, "container '%s': no template store to take the rootfs from",
                          want->name);
            goto cleanup;
        }
        /* anything here is unfinished: a partial copy, a tree a remove did not finish */
        overlay = overlay && !disk;
        if (remove_leftovers(dir, err) < 0 ||
            kvz_path_join(&tmp, dir,
                          disk      ? KVZ_CT_DISK_IMG ".tmp"
                          : overlay ? KVZ_CT_UPPER_DIR ".tmp"
                                    : KVZ_CT_ROOTFS_DIR ".tmp",
                          err) < 0 ||
            kvz_path_join(&upper, dir, KVZ_CT_UPPER_DIR, err) < 0 ||
            kvz_rootfs_check_arch(src, want->template_name ? want->template_name : src, err) < 0)
            goto cleanup;
        if (disk) {
            kvz_host_log(h, want->name, "making ext4 disk image");
            if (kvz_disk_make(tmp, want->disk, src, err) < 0 || kvz_disk_inject(tmp, want, err) < 0)
                goto cleanup;
        } else if (overlay) {
            kvz_host_log(h, want->name, "sharing the template's tree (overlay)");
            if (make_upper(tmp, src, dir, want, err) < 0)
                goto cleanup;
        } else {
            kvz_host_log(h, want->name, "copying rootfs");
            if (kvz_rootfs_copy(src, tmp, err) < 0 || kvz_rootfs_inject(tmp, want, err) < 0)
                goto cleanup;
        }
        if (rename(tmp, overlay ? upper : final) < 0) {
            kvz_error_set_errno(err, "rename '%s' to '%s'", tmp, overlay ? upper : final);
            goto cleanup;
        }
        if (mark_kind(dir,
                      disk      ? KVZ_CT_DISK_IMG
                      : overlay ? KIND_OVERLAY
                                : KVZ_CT_ROOTFS_DIR,
                      overlay ? src : NULL, KVZ_CT_STORAGE_COMPLETE, err) < 0)
            goto cleanup;
    }
    if (disk && !in_use) {
        struct stat st;
        if (stat(img, &st) == 0 && (uint64_t)st.st_size < want->disk &&
            kvz_disk_grow_offline(img, want->disk, err) < 0)
            goto cleanup;
    }
    if (disk) {
        char *link = NULL;
        if (kvz_ct_storage_loop_path(&link, h, want->name, err) < 0 ||
            link_image(link, img, err) < 0) {
            free(link);
            goto cleanup;
        }
        free(img);
        img = link;
    }
    *rootfs_out = disk ? NULL : rootfs;
    *img_out = disk ? img : NULL;
    if (disk)
        img = NULL;
    else
        rootfs = NULL;
    ret = 0;
cleanup:
    if (ret < 0 && tmp)
        kvz_tree_discard(tmp);
    free(tmp);
    free(upper);
    free(lower);
    free(work);
    free(rootfs);
    free(img);
    return ret;
}

int kvz_ct_storage_remove(struct kvz_host *h, const char *name, const char *dir,
                          struct kvz_error **err)
{
    struct kvz_buf trash = KVZ_BUF_INIT;
    int ret = -1;
    /* Out of its place in one step (storage.json with it), then deleted at leisure: a remove
     * killed half-way never leaves a tree that looks complete. */
    kvz_buf_printf(&trash, "%s.trash-%ld", dir, (long)getpid());
    if (trash.oom) {
        kvz_error_set(err, "container '%s': out of memory", name);
        goto cleanup;
    }
    if (rename(dir, trash.ptr) < 0 && errno != ENOENT) {
        kvz_error_set_errno(err, "remove '%s'", dir);
        goto cleanup;
    }
    kvz_host_log(h, name, "deleting files");
    char *link = NULL;
    if (kvz_ct_storage_loop_path(&link, h, name, NULL) == 0)
        unlink(link);
    free(link);
    ret = kvz_tree_remove(NULL, trash.ptr, err);
cleanup:
    kvz_buf_release(&trash);
    return ret;
}

int kvz_ct_storage_sweep(const char *dir, struct kvz_error **err)
{
    /* <stack dir>/<name>.trash-PID of removes that were killed: nobody's files any more */
    char *parent = strdup(dir), *slash = parent ? strrchr(parent, '/') : NULL;
    int ret = 0;
    if (!slash) {
        free(parent);
        return parent ? 0 : kvz_error_set(err, "out of memory");
    }
    const char *name = slash + 1;
    *slash = '\0';
    size_t nl = strlen(name);
    DIR *d = opendir(parent);
    struct dirent *e;
    while (d && ret == 0 && (e = readdir(d))) {
        if (strncmp(e->d_name, name, nl) || strncmp(e->d_name + nl, ".trash-", 7))
            continue;
        char *p = NULL;
        ret = kvz_path_join(&p, parent, e->d_name, err) < 0 ? -1 : kvz_tree_remove(NULL, p, err);
        free(p);
    }
    if (d)
        closedir(d);
    free(parent);
    return ret;
}
