#include "parser/manifest_files.h"

#include "base/buf.h"
#include "parser/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
    dev_t *dev;
    ino_t *ino;
    size_t n, cap;
};

/* True when the file was read before (the same file given twice, or in a dir and by name). */
static bool seen_before(struct seen *s, const struct stat *st)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->dev[i] == st->st_dev && s->ino[i] == st->st_ino)
            return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        dev_t *dev = realloc(s->dev, cap * sizeof(*dev));
        if (!dev)
            return false;
        s->dev = dev;
        ino_t *ino = realloc(s->ino, cap * sizeof(*ino));
        if (!ino)
            return false;
        s->ino = ino;
        s->cap = cap;
    }
    s->dev[s->n] = st->st_dev;
    s->ino[s->n] = st->st_ino;
    s->n++;
    return false;
}

static void read_file(const char *name, struct seen *seen, struct kvz_diags *d,
                      kvz_manifest_file_fn *fn, void *ctx)
{
    int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    char *data = NULL;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        kvz_diags_add(d, KVZ_SEV_ERROR, name, 0, 0, "file-read",
                      "cannot read the manifest: %s; check the path given with -f",
                      strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        kvz_diags_add(d, KVZ_SEV_ERROR, name, 0, 0, "file-read",
                      "not a regular file; give a manifest file or a directory of them");
        goto cleanup;
    }
    if (seen_before(seen, &st)) {
        kvz_diags_add(d, KVZ_SEV_WARNING, name, 0, 0, "duplicate-file",
                      "this file is given more than once; it is read once");
        goto cleanup;
    }
    if ((uint64_t)st.st_size > KVZ_MANIFEST_MAX_FILE_SIZE)
        goto too_large;
    /* Read one byte more than the limit: st_size can lie (a growing file). */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    data = malloc(cap + 1);
    if (!data) {
        kvz_diags_add(d, KVZ_SEV_ERROR, name, 0, 0, "file-read",
                      "out of memory reading the manifest; free memory and retry");
        goto cleanup;
    }
    for (;;) {
        if (len == cap) {
            if (cap > KVZ_MANIFEST_MAX_FILE_SIZE)
                goto too_large;
            size_t ncap =
                cap * 2 > KVZ_MANIFEST_MAX_FILE_SIZE + 1 ? KVZ_MANIFEST_MAX_FILE_SIZE + 1 : cap * 2;
            char *p = realloc(data, ncap + 1);
            if (!p) {
                kvz_diags_add(d, KVZ_SEV_ERROR, name, 0, 0, "file-read",
                              "out of memory reading the manifest; free memory and retry");
                goto cleanup;
            }
            data = p;
            cap = ncap;
        }
        ssize_t r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            kvz_diags_add(d, KVZ_SEV_ERROR, name, 0, 0, "file-read", "cannot read the manifest: %s",
                          strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > KVZ_MANIFEST_MAX_FILE_SIZE)
        goto too_large;
    data[len] = '\0';
    fn(ctx, name, data, len);
    goto cleanup;
too_large:
    kvz_diags_add(
        d, KVZ_SEV_ERROR, name, 0, 0, "file-too-large",
        "the manifest is larger than %u MiB; split it into several files in one directory",
        KVZ_MANIFEST_MAX_FILE_SIZE >> 20);
cleanup:
    free(data);
    if (fd >= 0)
        close(fd);
}

static bool manifest_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.')
        return false;
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_dir(const char *dir, struct seen *seen, struct kvz_diags *d,
                     kvz_manifest_file_fn *fn, void *ctx)
{
    DIR *dh = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!dh) {
        kvz_diags_add(d, KVZ_SEV_ERROR, dir, 0, 0, "file-read", "cannot read the directory: %s",
                      strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!manifest_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(names, cap * sizeof(*v));
            if (!v)
                break;
            names = v;
        }
        struct kvz_buf path = KVZ_BUF_INIT;
        size_t dl = strlen(dir);
        kvz_buf_printf(&path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        char *p = kvz_buf_detach(&path);
        if (!p)
            break;
        names[n++] = p;
    }
    closedir(dh);
    if (!n)
        kvz_diags_add(
            d, KVZ_SEV_ERROR, dir, 0, 0, "no-manifests",
            "the directory holds no *.yaml or *.yml file; add one or give a file with -f");
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        read_file(names[i], seen, d, fn, ctx);
        free(names[i]);
    }
    free(names);
}

void kvz_manifest_read_paths(const char *const *paths, size_t n, struct kvz_diags *d,
                             kvz_manifest_file_fn *fn, void *ctx)
{
    struct seen seen = {0};
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
            read_dir(paths[i], &seen, d, fn, ctx);
        else
            read_file(paths[i], &seen, d, fn, ctx);
    }
    free(seen.dev);
    free(seen.ino);
}
