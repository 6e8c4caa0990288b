/* Git sources in the commands' prologue (cmd/stack.h): each fetched into its mirror, its
 * commit's manifest files loaded from memory with the local ones. */
#include "cmd/stack.h"

#include "base/buf.h"
#include "parser/git_source.h"
#include "parser/manifest_files.h"
#include "parser/template_url.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kvz_stack_has_git(const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kvz_git_source_is(paths[i]))
            return true;
    return false;
}

struct files {
    struct kvz_manifest_file *v;
    char **owned;
    size_t n, cap;
    bool oom;
};

static void add_file(struct files *f, const char *name, const char *data, size_t len, bool copy)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        struct kvz_manifest_file *v = realloc(f->v, cap * sizeof(*v));
        char **o = v ? realloc(f->owned, 2 * cap * sizeof(*o)) : NULL;
        if (v)
            f->v = v;
        if (!o) {
            f->oom = true;
            return;
        }
        f->owned = o;
        f->cap = cap;
    }
    char *n = copy ? strdup(name) : NULL, *d = copy ? malloc(len + 1) : NULL;
    if (copy && (!n || !d)) {
        free(n);
        free(d);
        f->oom = true;
        return;
    }
    if (copy) {
        memcpy(d, data, len);
        d[len] = '\0';
    }
    f->owned[2 * f->n] = n;
    f->owned[2 * f->n + 1] = d;
    f->v[f->n++] = (struct kvz_manifest_file){copy ? n : name, copy ? d : data, len};
}

static void collect_local(void *ctx, const char *name, const char *data, size_t len)
{
    add_file(ctx, name, data, len, true);
}

static const char *shown_ref(const struct kvz_git_tree *t)
{
    return t->ref ? t->ref : "HEAD";
}

int kvz_stack_load_git(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *paths,
                       size_t n)
{
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct files files = {0};
    int ret = -1;
    if (!(r->trees = calloc(n, sizeof(*r->trees)))) {
        kvz_out_error(cli, "out of memory");
        return -1;
    }
    r->n_trees = n;
    for (size_t i = 0; i < n; i++) {
        if (!kvz_git_source_is(paths[i])) {
            kvz_manifest_read_paths(&paths[i], 1, &diags, collect_local, &files);
            continue;
        }
        struct kvz_git_source src;
        struct kvz_error *err = NULL;
        struct kvz_git_opts go = {
            .state_dir = cli->state_dir,
            .offline = r->offline,
            .require_signed = r->require_signed,
            .pin = r->pins ? r->pins[i] : NULL,
        };
        int got = kvz_git_source_parse(&src, paths[i], &err);
        if (got == 0)
            got = kvz_git_checkout(&r->trees[i], &src, &go, &err);
        kvz_git_source_release(&src);
        if (got < 0) {
            r->signature_refused = got == KVZ_GIT_SIGNATURE_REFUSED;
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            goto cleanup;
        }
        const struct kvz_git_tree *t = r->trees[i];
        if (t->note && cli->verbosity >= 0)
            kvz_out_warn(cli, "%s", t->note);
        for (size_t k = 0; k < t->n_files; k++)
            add_file(&files, t->files[k].name, t->files[k].data, t->files[k].len, false);
    }
    if (files.oom) {
        kvz_out_error(cli, "out of memory");
        goto cleanup;
    }
    if (kvz_diags_has_errors(&diags)) {
        kvz_diags_sort(&diags);
        kvz_out_diags(cli, &diags);
        goto cleanup;
    }
    int loaded = kvz_manifest_load_files(&r->m, files.v, files.n, &diags);
    kvz_out_diags(cli, &diags);
    ret = loaded < 0 ? -1 : 0;
cleanup:
    for (size_t i = 0; i < 2 * files.n; i++)
        free(files.owned[i]);
    free(files.owned);
    free(files.v);
    kvz_diags_release(&diags);
    return ret;
}

void kvz_stack_print_sources(struct kvz_cli *cli, const struct kvz_stack_run *r)
{
    for (size_t i = 0; i < r->n_trees; i++) {
        const struct kvz_git_tree *t = r->trees[i];
        if (!t)
            continue;
        printf("Source git+%s%s%s: commit %s", t->url, *t->path ? "//" : "", t->path, t->commit);
        if (strncmp(t->commit, shown_ref(t), strlen(shown_ref(t))))
            printf(" of %s", shown_ref(t));
        if (t->signer)
            printf(", signed by %s", t->signer);
        printf("\n\n");
    }
}

json_t *kvz_stack_sources_json(const struct kvz_stack_run *r)
{
    json_t *a = NULL;
    for (size_t i = 0; i < r->n_trees; i++) {
        const struct kvz_git_tree *t = r->trees[i];
        if (!t)
            continue;
        if (!a && !(a = json_array()))
            return NULL;
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "url", t->url, "path",
                                           t->path, "ref", shown_ref(t), "commit", t->commit,
                                           "signer", t->signer));
    }
    return a;
}

int kvz_stack_fail_rc(const struct kvz_stack_run *r)
{
    return r->signature_refused ? KVZ_EXIT_SIGNATURE : KVZ_EXIT_ERROR;
}

void kvz_stack_git_applied(struct kvz_cli *cli, const struct kvz_stack_run *r,
                           const char *const *paths, bool nothing_to_do)
{
    for (size_t i = 0; i < r->n_trees; i++) {
        const struct kvz_git_tree *t = r->trees[i];
        struct kvz_error *err = NULL;
        char last[41];
        if (!t)
            continue;
        if (nothing_to_do && cli->verbosity >= 0 &&
            kvz_git_last_applied(last, cli->state_dir, paths[i], &err) == 0)
            printf(!strcmp(last, t->commit)
                       ? "Commit %.12s of %s was applied before and nothing drifted: skipping.\n"
                       : "Commit %.12s of %s changes nothing on this host.\n",
                   t->commit, shown_ref(t));
        if (kvz_git_record_applied(cli->state_dir, paths[i], t->commit, &err) < 0)
            kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
    }
}

char **kvz_stack_from_lines(const struct kvz_stack_run *r, size_t *n)
{
    char **from = r->n_trees ? calloc(r->n_trees, sizeof(*from)) : NULL;
    *n = 0;
    for (size_t i = 0; from && i < r->n_trees; i++) {
        const struct kvz_git_tree *t = r->trees[i];
        if (t && asprintf(&from[*n], "git+%s%s%s: commit %s of %s", t->url, *t->path ? "//" : "",
                          t->path, t->commit, shown_ref(t)) >= 0)
            (*n)++;
    }
    return from;
}

void kvz_stack_from_lines_free(char **from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(from[i]);
    free(from);
}

void kvz_stack_print_markdown(struct kvz_cli *cli, const struct kvz_stack_run *r)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    size_t n = 0;
    char **from = kvz_stack_from_lines(r, &n);
    if (kvz_plan_render_markdown(&b, r->plan, (const char *const *)from, n) < 0)
        kvz_out_error(cli, "plan: out of memory");
    else
        fputs(kvz_buf_cstr(&b), stdout);
    kvz_stack_from_lines_free(from, n);
    kvz_buf_release(&b);
}

const char **kvz_stack_commits(const struct kvz_stack_run *r, bool *oom)
{
    const char **pins = r->n_trees ? calloc(r->n_trees, sizeof(*pins)) : NULL;
    *oom = r->n_trees && !pins;
    for (size_t i = 0; pins && i < r->n_trees; i++)
        pins[i] = r->trees[i] ? r->trees[i]->commit : NULL;
    return pins;
}
