#include "store/git.h"

#include "base/buf.h"
#include "base/fs.h"
#include "parser/manifest.h"
#include "parser/spec_digest.h"
#include "parser/template_url.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* libgit2's last message on one line (some, like mbedTLS's certificate reasons, have several) */
static const char *git_msg(void)
{
    static _Thread_local char line[512];
    const git_error *e = git_error_last();
    size_t n = 0;
    for (const char *c = e && e->message ? e->message : "unknown libgit2 error";
         *c && n + 3 < sizeof(line); c++) {
        if (*c != '\n' && *c != '\r') {
            line[n++] = *c;
        } else if (c[1] && c[1] != '\n' && n) {
            line[n++] = ';';
            line[n++] = ' ';
        }
    }
    line[n] = '\0';
    return line;
}

static char *hashed(const char *state_dir, const char *sub, const char *s)
{
    char *shown = kvz_url_redact(s), hex[KVZ_SHA256_HEX];
    struct kvz_buf b = KVZ_BUF_INIT;
    if (!shown)
        return NULL;
    kvz_sha256_hex(hex, shown, strlen(shown));
    free(shown);
    kvz_buf_printf(&b, "%s/git/%s%.32s", state_dir, sub, hex);
    return kvz_buf_detach(&b);
}

char *kvz_git_mirror_dir(const char *state_dir, const char *url)
{
    return hashed(state_dir, "", url);
}

struct mirror {
    const struct kvz_git_source *src;
    const struct kvz_git_opts *o;
    char *dir, *shown;
    git_repository *repo;
    int lock_fd;
};

/* Fetches every branch and tag of the remote into m->repo (the mirror, or the new one being
 * made), and points the mirror's HEAD where the remote's does. */
static int fetch(struct mirror *m, struct kvz_error **err)
{
    static char *specs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    git_remote *remote = NULL;
    git_fetch_options fo;
    git_buf head = GIT_BUF_INIT;
    void *auth = NULL;
    int ret = -1;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    /* https: the CA certificates OpenSSL and curl users point to (a file rather than a folder,
     * which would be parsed whole), else the system's; only then, it costs milliseconds */
    const char *ca_file = getenv("SSL_CERT_FILE"), *ca_dir = getenv("SSL_CERT_DIR");
    if (!strncmp(m->src->url, "https://", 8) && ((ca_file && *ca_file) || (ca_dir && *ca_dir)))
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca_file && *ca_file ? ca_file : NULL,
                         ca_file && *ca_file ? NULL : ca_dir);
    if (kvz_git_auth_init(&fo.callbacks, &auth, m->src->url, err) < 0)
        return -1;
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.update_fetchhead = 0;
    if (git_remote_create_anonymous(&remote, m->repo, m->src->url) < 0 ||
        git_remote_fetch(remote, &refspecs, &fo, NULL) < 0) {
        const char *why = kvz_git_auth_failure(auth);
        kvz_error_set(
            err,
            "cannot fetch '%s': %s; check the URL, that the repository exists and that you may read it",
            m->shown, why ? why : git_msg());
        goto cleanup;
    }
    if (git_remote_default_branch(&head, remote) == 0 &&
        git_repository_set_head(m->repo, head.ptr) < 0) {
        kvz_error_set(err, "git mirror '%s': cannot set HEAD: %s", m->dir, git_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    git_buf_dispose(&head);
    git_remote_free(remote);
    kvz_git_auth_free(auth);
    return ret;
}

/* The first fetch: into a new bare repository beside the mirror's place, renamed into it only
 * when complete, so a failure leaves nothing. */
static int clone_mirror(struct mirror *m, struct kvz_error **err)
{
    struct kvz_buf tmp = KVZ_BUF_INIT;
    int ret = -1;
    kvz_buf_printf(&tmp, "%s.tmp.%ld", m->dir, (long)getpid());
    if (tmp.oom) {
        kvz_error_set(err, "git mirror: out of memory");
        goto cleanup;
    }
    /* under the mirror's lock nobody else is cloning it: what a killed run left goes */
    struct kvz_buf pattern = KVZ_BUF_INIT;
    glob_t g = {0};
    kvz_buf_printf(&pattern, "%s.tmp.*", m->dir);
    if (!pattern.oom && glob(kvz_buf_cstr(&pattern), GLOB_NOSORT, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            kvz_tree_discard(g.gl_pathv[i]);
    globfree(&g);
    kvz_buf_release(&pattern);
    if (git_repository_init(&m->repo, kvz_buf_cstr(&tmp), 1) < 0) {
        kvz_error_set(err, "git mirror '%s': %s", kvz_buf_cstr(&tmp), git_msg());
        goto cleanup;
    }
    if (fetch(m, err) < 0)
        goto cleanup;
    git_repository_free(m->repo);
    m->repo = NULL;
    if (rename(kvz_buf_cstr(&tmp), m->dir) < 0) {
        kvz_error_set_errno(err, "git mirror '%s'", m->dir);
        goto cleanup;
    }
    if (git_repository_open_bare(&m->repo, m->dir) < 0) {
        kvz_error_set(err, "git mirror '%s': %s", m->dir, git_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (ret < 0) {
        git_repository_free(m->repo);
        m->repo = NULL;
        kvz_tree_discard(kvz_buf_cstr(&tmp));
    }
    kvz_buf_release(&tmp);
    return ret;
}

/* Opens the existing mirror; a damaged one is named with what to do. */
static int open_mirror(struct mirror *m, struct kvz_error **err)
{
    git_odb *odb = NULL;
    if (git_repository_open_bare(&m->repo, m->dir) < 0)
        return kvz_error_set(
            err, "git mirror '%s' of '%s' is corrupt (%s); remove that directory and run again",
            m->dir, m->shown, git_msg());
    if (git_repository_is_shallow(m->repo))
        return kvz_error_set(
            err,
            "git mirror '%s' of '%s' is shallow: kvz needs whole history; remove that directory and run again",
            m->dir, m->shown);
    git_reference *head = NULL;
    int bad = git_reference_lookup(&head, m->repo, "HEAD");
    git_reference_free(head);
    if (bad < 0 || git_repository_odb(&odb, m->repo) < 0)
        return kvz_error_set(
            err, "git mirror '%s' of '%s' is corrupt (%s); remove that directory and run again",
            m->dir, m->shown, git_msg());
    git_odb_free(odb);
    return 0;
}

/* The commit REF names in the mirror: a full ref, a branch, a tag, a commit id (or its
 * prefix), or NULL for HEAD. 0 and *oid (*branch set to the branch's full ref name when it is
 * one), 1 when not found, -1 on a corrupt object. */
static int resolve(git_oid *oid, char **branch, char **shown, git_repository *repo, const char *ref,
                   struct kvz_error **err)
{
    git_reference *r = NULL;
    git_object *obj = NULL;
    struct kvz_buf name = KVZ_BUF_INIT;
    int found = 1;
    *branch = *shown = NULL;
    if (!ref) {
        if (git_reference_lookup(&r, repo, "HEAD") == 0 &&
            git_reference_type(r) == GIT_REFERENCE_SYMBOLIC) {
            const char *t = git_reference_symbolic_target(r);
            *branch = strdup(t);
            *shown = strdup(!strncmp(t, "refs/heads/", 11) ? t + 11 : t);
        }
        git_reference_free(r);
        r = NULL;
        if (!*branch)
            return 1;
        if (git_reference_lookup(&r, repo, *branch) < 0)
            goto cleanup;
    } else {
        const char *tries[] = {"", "refs/heads/", "refs/tags/"};
        for (size_t i = 0; i < 3 && !r; i++) {
            if (i == 0 && strncmp(ref, "refs/", 5))
                continue;
            kvz_buf_clear(&name);
            kvz_buf_printf(&name, "%s%s", tries[i], ref);
            if (git_reference_lookup(&r, repo, kvz_buf_cstr(&name)) < 0)
                r = NULL;
        }
        *shown = strdup(ref);
        if (r && !strncmp(git_reference_name(r), "refs/heads/", 11))
            *branch = strdup(git_reference_name(r));
    }
    if (r) {
        if (git_reference_peel(&obj, r, GIT_OBJECT_COMMIT) < 0) {
            found = kvz_error_set(err, "ref '%s' does not name a commit: %s", *shown, git_msg());
            goto cleanup;
        }
    } else {
        size_t len = strlen(ref);
        git_oid prefix;
        if (len < 4 || len > GIT_OID_HEXSZ || strspn(ref, "0123456789abcdefABCDEF") != len ||
            git_oid_fromstrn(&prefix, ref, len) < 0 ||
            git_object_lookup_prefix(&obj, repo, &prefix, len, GIT_OBJECT_COMMIT) < 0)
            goto cleanup;
    }
    git_oid_cpy(oid, git_object_id(obj));
    found = 0;
cleanup:
    git_object_free(obj);
    git_reference_free(r);
    kvz_buf_release(&name);
    return found;
}

static bool manifest_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.')
        return false;
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

/* Reads blob `id` (at `path` in the commit) into *f; `max` bytes at most, `hint` says what to do
 * when it is larger. */
static int read_blob(struct kvz_git_file *f, const struct kvz_git_tree *t, git_repository *repo,
                     const git_oid *id, const char *path, size_t max, const char *hint,
                     struct kvz_error **err)
{
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, repo, id) < 0)
        return kvz_error_set(
            err,
            "'%s' in commit %s of '%s' cannot be read (%s); the mirror is corrupt: remove it and run again",
            path, t->commit, t->url, git_msg());
    size_t len = (size_t)git_blob_rawsize(blob);
    if (len > max) {
        git_blob_free(blob);
        return kvz_error_set(err, "'%s' in commit %s of '%s' is larger than %zu MiB; %s", path,
                             t->commit, t->url, max >> 20, hint);
    }
    struct kvz_buf name = KVZ_BUF_INIT;
    kvz_buf_printf(&name, "%s@%s:%s", t->url, t->commit, path);
    f->name = kvz_buf_detach(&name);
    f->data = malloc(len + 1);
    f->len = len;
    if (!f->name || !f->data) {
        free(f->name);
        free(f->data);
        f->name = f->data = NULL;
        git_blob_free(blob);
        return kvz_error_set(err, "git: out of memory");
    }
    memcpy(f->data, git_blob_rawcontent(blob), len);
    f->data[len] = '\0';
    git_blob_free(blob);
    return 0;
}

static int add_blob(struct kvz_git_tree *t, git_repository *repo, const git_oid *id,
                    const char *path, struct kvz_error **err)
{
    struct kvz_git_file *v = realloc(t->files, (t->n_files + 1) * sizeof(*v));
    if (!v)
        return kvz_error_set(err, "git: out of memory");
    t->files = v;
    if (read_blob(&v[t->n_files], t, repo, id, path, KVZ_MANIFEST_MAX_FILE_SIZE,
                  "split it into several files in one folder", err) < 0)
        return -1;
    t->n_files++;
    return 0;
}

/* kvz.lock beside the first manifest: in the folder t->path names, or beside the file it names;
 * t->lock stays NULL when the commit has none there. */
static int read_lock(struct kvz_git_tree *t, git_repository *repo, const git_tree *root,
                     bool path_is_file, struct kvz_error **err)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    git_tree_entry *e = NULL;
    size_t dl = strlen(t->path);
    int ret = 0;
    if (path_is_file) {
        const char *slash = strrchr(t->path, '/');
        dl = slash ? (size_t)(slash - t->path) : 0;
    }
    kvz_buf_printf(&p, "%.*s%skvz.lock", (int)dl, t->path, dl ? "/" : "");
    if (p.oom) {
        ret = kvz_error_set(err, "git: out of memory");
    } else if (git_tree_entry_bypath(&e, root, kvz_buf_cstr(&p)) == 0) {
        git_filemode_t mode = git_tree_entry_filemode(e);
        if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
            ret = kvz_error_set(
                err,
                "'%s' in commit %s of '%s' is not a file; commit the kvz.lock that 'kvz lock' writes there",
                kvz_buf_cstr(&p), t->commit, t->url);
        else if (!(t->lock = calloc(1, sizeof(*t->lock))))
            ret = kvz_error_set(err, "git: out of memory");
        else if ((ret = read_blob(t->lock, t, repo, git_tree_entry_id(e), kvz_buf_cstr(&p),
                                  KVZ_GIT_LOCK_MAX, "write it again with 'kvz lock'", err)) < 0) {
            free(t->lock);
            t->lock = NULL;
        }
    }
    git_tree_entry_free(e);
    kvz_buf_release(&p);
    return ret;
}

/* The manifest files at t->path of commit `id`. */
static int read_tree(struct kvz_git_tree *t, git_repository *repo, const git_oid *id,
                     struct kvz_error **err)
{
    git_commit *c = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *e = NULL;
    int ret = -1;
    if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&root, c) < 0) {
        kvz_error_set(
            err,
            "commit %s of '%s' cannot be read (%s); the mirror is corrupt: remove it and run again",
            t->commit, t->url, git_msg());
        goto cleanup;
    }
    const git_tree *dir = root;
    if (*t->path) {
        if (git_tree_entry_bypath(&e, root, t->path) < 0) {
            kvz_error_set(err, "'%s' is not in commit %s of '%s'; check the PATH after '//'",
                          t->path, t->commit, t->url);
            goto cleanup;
        }
        git_filemode_t mode = git_tree_entry_filemode(e);
        if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
            ret = add_blob(t, repo, git_tree_entry_id(e), t->path, err) < 0
                      ? -1
                      : read_lock(t, repo, root, true, err);
            goto cleanup;
        }
        if (mode != GIT_FILEMODE_TREE) {
            kvz_error_set(
                err,
                "'%s' in commit %s of '%s' is a symbolic link or submodule; give a manifest file or a folder of them",
                t->path, t->commit, t->url);
            goto cleanup;
        }
        if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)) < 0) {
            kvz_error_set(
                err,
                "'%s' in commit %s of '%s' cannot be read (%s); the mirror is corrupt: remove it and run again",
                t->path, t->commit, t->url, git_msg());
            goto cleanup;
        }
        dir = sub;
    }
    /* tree entries are sorted by name: the order a folder on disk is read in */
    for (size_t i = 0; i < git_tree_entrycount(dir); i++) {
        const git_tree_entry *te = git_tree_entry_byindex(dir, i);
        git_filemode_t mode = git_tree_entry_filemode(te);
        if ((mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
            !manifest_name(git_tree_entry_name(te)))
            continue;
        struct kvz_buf p = KVZ_BUF_INIT;
        kvz_buf_printf(&p, "%s%s%s", t->path, *t->path ? "/" : "", git_tree_entry_name(te));
        int r = p.oom ? kvz_error_set(err, "git: out of memory")
                      : add_blob(t, repo, git_tree_entry_id(te), kvz_buf_cstr(&p), err);
        kvz_buf_release(&p);
        if (r < 0)
            goto cleanup;
    }
    if (!t->n_files) {
        kvz_error_set(
            err,
            "folder '%s' of commit %s of '%s' holds no *.yaml or *.yml file; check the PATH after '//'",
            *t->path ? t->path : "/", t->commit, t->url);
        goto cleanup;
    }
    ret = read_lock(t, repo, root, false, err);
cleanup:
    git_tree_entry_free(e);
    git_tree_free(sub);
    git_tree_free(root);
    git_commit_free(c);
    return ret;
}

static bool has_commit(git_repository *repo, const git_oid *id)
{
    git_commit *c = NULL;
    bool have = git_commit_lookup(&c, repo, id) == 0;
    git_commit_free(c);
    return have;
}

static int lock_mirror(struct mirror *m, struct kvz_error **err)
{
    struct kvz_buf p = KVZ_BUF_INIT;
    kvz_buf_printf(&p, "%s.lock", m->dir);
    m->lock_fd = p.oom ? -1 : open(kvz_buf_cstr(&p), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int r = 0;
    if (m->lock_fd < 0 || flock(m->lock_fd, LOCK_EX) < 0)
        r = kvz_error_set_errno(err, "git mirror lock '%s'", kvz_buf_cstr(&p));
    kvz_buf_release(&p);
    return r;
}

/* Fetches (or first clones) unless offline; notes a branch whose history was rewritten. */
static int update(struct mirror *m, struct kvz_git_tree *t, bool exists, struct kvz_error **err)
{
    if (!exists)
        return clone_mirror(m, err);
    git_oid before, after;
    char *branch = NULL, *shown = NULL, *branch2 = NULL, *shown2 = NULL;
    int had = resolve(&before, &branch, &shown, m->repo, m->src->ref, NULL);
    int ret = fetch(m, err);
    if (ret == 0 && had == 0 && branch &&
        resolve(&after, &branch2, &shown2, m->repo, m->src->ref, NULL) == 0 &&
        !git_oid_equal(&before, &after) && git_graph_descendant_of(m->repo, &after, &before) != 1) {
        char old[GIT_OID_HEXSZ + 1], now[GIT_OID_HEXSZ + 1];
        git_oid_tostr(old, sizeof(old), &before);
        git_oid_tostr(now, sizeof(now), &after);
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(
            &b,
            "history of '%s' in '%s' was rewritten (force push): %.12s is no longer in it; going on with %.12s",
            shown, t->url, old, now);
        t->note = kvz_buf_detach(&b);
    }
    free(branch);
    free(shown);
    free(branch2);
    free(shown2);
    return ret;
}

int kvz_git_checkout(struct kvz_git_tree **out, const struct kvz_git_source *src,
                     const struct kvz_git_opts *o, struct kvz_error **err)
{
    struct mirror m = {.src = src, .o = o, .lock_fd = -1};
    struct kvz_git_tree *t = calloc(1, sizeof(*t));
    char *branch = NULL, *base = NULL;
    git_oid id;
    int ret = -1;
    *out = NULL;
    git_libgit2_init();
    if (!t || !(t->url = kvz_url_redact(src->url)) || !(t->path = strdup(src->path)) ||
        !(m.dir = kvz_git_mirror_dir(o->state_dir, src->url)) || !(base = strdup(m.dir))) {
        kvz_error_set(err, "git: out of memory");
        goto cleanup;
    }
    m.shown = t->url;
    *strrchr(base, '/') = '\0';
    if (o->offline && !kvz_path_is(m.dir, true)) { /* and nothing made in the state dir */
        kvz_error_set(
            err, "--offline: there is no mirror of '%s' in '%s' yet; run once without --offline",
            t->url, o->state_dir);
        goto cleanup;
    }
    if (kvz_mkdir_p(base, 0700, err) < 0 || lock_mirror(&m, err) < 0)
        goto cleanup;
    bool exists = kvz_path_is(m.dir, true);
    if (exists && open_mirror(&m, err) < 0)
        goto cleanup;
    if (o->pin) {
        if (git_oid_fromstr(&id, o->pin) < 0) {
            kvz_error_set(err, "'%s' is not a commit id; make the plan again", o->pin);
            goto cleanup;
        }
        bool have = exists && has_commit(m.repo, &id);
        if (!have && o->offline) {
            kvz_error_set(
                err,
                "the mirror of '%s' lacks commit %s of the saved plan; run without --offline to fetch it",
                t->url, o->pin);
            goto cleanup;
        }
        if (!have && (update(&m, t, exists, err) < 0 || !has_commit(m.repo, &id))) {
            if (!*err)
                kvz_error_set(
                    err,
                    "commit %s of the saved plan is no longer in '%s' (history rewritten?); nothing was applied: make the plan again",
                    o->pin, t->url);
            goto cleanup;
        }
        git_oid at;
        if (resolve(&at, &branch, &t->ref, m.repo, src->ref, NULL) != 0 || !t->ref) {
            free(t->ref);
            t->ref = strdup(src->ref ? src->ref : "HEAD");
        }
    } else {
        if (!o->offline && update(&m, t, exists, err) < 0)
            goto cleanup;
        int r = resolve(&id, &branch, &t->ref, m.repo, src->ref, err);
        if (r < 0)
            goto cleanup;
        if (r > 0) {
            if (src->ref)
                kvz_error_set(err, "ref '%s' is not a branch, tag or commit of '%s'%s; check ?ref=",
                              src->ref, t->url, o->offline ? " (as mirrored: --offline)" : "");
            else
                kvz_error_set(
                    err,
                    "'%s' has no HEAD branch (an empty repository?); push a commit or give ?ref=",
                    t->url);
            goto cleanup;
        }
    }
    git_oid_tostr(t->commit, sizeof(t->commit), &id);
    if (o->offline && !t->note) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "offline: using the mirror of '%s' as it is, commit %s of %s", t->url,
                       t->commit, t->ref ? t->ref : "HEAD");
        t->note = kvz_buf_detach(&b);
    }
    if (o->require_signed) {
        int r =
            kvz_git_verify_commit(&t->signer, m.repo, t->commit, o->require_signed, t->url, err);
        if (r < 0) {
            ret = r;
            goto cleanup;
        }
    }
    if (read_tree(t, m.repo, &id, err) < 0)
        goto cleanup;
    *out = t;
    t = NULL;
    ret = 0;
cleanup:
    kvz_git_tree_free(t);
    free(branch);
    free(base);
    git_repository_free(m.repo);
    if (m.lock_fd >= 0)
        close(m.lock_fd);
    free(m.dir);
    git_libgit2_shutdown();
    return ret;
}

void kvz_git_tree_free(struct kvz_git_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_files; i++) {
        free(t->files[i].name);
        free(t->files[i].data);
    }
    free(t->files);
    if (t->lock) {
        free(t->lock->name);
        free(t->lock->data);
        free(t->lock);
    }
    free(t->url);
    free(t->ref);
    free(t->path);
    free(t->note);
    free(t->signer);
    free(t);
}

int kvz_git_last_applied(char out[41], const char *state_dir, const char *source,
                         struct kvz_error **err)
{
    char *p = hashed(state_dir, "applied-", source);
    out[0] = '\0';
    if (!p)
        return kvz_error_set(err, "git: out of memory");
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(out, 41, f) || strlen(out) != 40)
            out[0] = '\0';
        fclose(f);
    }
    free(p);
    return 0;
}

int kvz_git_record_applied(const char *state_dir, const char *source, const char *commit,
                           struct kvz_error **err)
{
    char *p = hashed(state_dir, "applied-", source);
    struct kvz_buf tmp = KVZ_BUF_INIT;
    int ret = -1;
    if (!p || kvz_buf_printf(&tmp, "%s.tmp.%ld", p, (long)getpid()) < 0) {
        kvz_error_set(err, "git: out of memory");
        goto cleanup;
    }
    FILE *f = fopen(kvz_buf_cstr(&tmp), "w");
    if (!f || fprintf(f, "%s\n", commit) < 0 || fclose(f) != 0) {
        kvz_error_set_errno(err, "'%s'", kvz_buf_cstr(&tmp));
        unlink(kvz_buf_cstr(&tmp));
        goto cleanup;
    }
    if (rename(kvz_buf_cstr(&tmp), p) < 0) {
        kvz_error_set_errno(err, "'%s'", p);
        unlink(kvz_buf_cstr(&tmp));
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_buf_release(&tmp);
    free(p);
    return ret;
}
