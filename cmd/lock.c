/* kvz lock [--upgrade [NAME]...], and the templates' resolution the other commands share. */
#include "cmd/lock.h"

#include "base/buf.h"
#include "base/error.h"
#include "cmd/options.h"
#include "cmd/plan_hosts.h"
#include "cmd/stack.h"
#include "parser/git_source.h"
#include "planner/lockfile.h"
#include "planner/templates_resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void warn_unverified(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    for (size_t i = 0; i < m->n_catalogs && cli->verbosity >= 0; i++) {
        const struct kvz_catalog *c = &m->catalogs[i];
        bool fetched = false;
        for (size_t j = 0; j < m->n_templates; j++)
            fetched |= m->templates[j].catalog && !strcmp(m->templates[j].catalog, c->name) &&
                       !m->templates[j].locked;
        if (fetched && !c->keyring)
            kvz_out_warn(
                cli,
                "catalog '%s' is not verified (no keyring:); anyone on the network path can change its digests; add 'keyring: FILE'",
                c->name);
    }
}

/* kvz.lock from the commit of the git source the first manifest came from (`tree`). */
static int read_git_lock(struct kvz_cli *cli, struct kvz_lockfile *lf, char **path,
                         const struct kvz_git_tree *tree, bool readonly)
{
    struct kvz_error *err = NULL;
    if (!tree->lock) {
        if (!readonly)
            return 0;
        kvz_out_error(
            cli,
            "commit %s of '%s' has no kvz.lock beside its manifests and --lockfile readonly writes none; run 'kvz lock' in a clone of the repository and commit it",
            tree->commit, tree->url);
        return -1;
    }
    if (!(*path = strdup(tree->lock->name))) {
        kvz_out_error(cli, "out of memory");
        return -1;
    }
    if (kvz_lockfile_parse(lf, tree->lock->data, tree->lock->len, *path, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    return 1;
}

static int read_lock(struct kvz_cli *cli, struct kvz_lockfile *lf, char **path,
                     const struct kvz_manifest *m, const struct kvz_git_tree *tree, bool readonly)
{
    struct kvz_error *err = NULL;
    if (tree)
        return read_git_lock(cli, lf, path, tree, readonly);
    if (!(*path = kvz_lockfile_path(m))) {
        kvz_out_error(cli, "out of memory");
        return -1;
    }
    int r = kvz_lockfile_read(lf, *path, &err);
    if (r < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    if (r == 0 && readonly) {
        kvz_out_error(
            cli,
            "lockfile '%s' is missing and --lockfile readonly writes none; run 'kvz lock' and commit it",
            *path);
        return -1;
    }
    return r;
}

int kvz_cli_resolve_templates(struct kvz_cli *cli, struct kvz_manifest *m,
                              const struct kvz_git_tree *tree, bool readonly, bool offline)
{
    struct kvz_lockfile lf = {0};
    struct kvz_error *err = NULL;
    char *path = NULL;
    int ret = -1;
    bool wanted = false;
    for (size_t i = 0; i < m->n_templates; i++)
        wanted |= kvz_lockfile_wants(&m->templates[i]);
    if (!wanted)
        return 0; /* nothing a lock could hold */
    if (read_lock(cli, &lf, &path, m, tree, readonly) < 0)
        goto cleanup;
    struct kvz_resolve_opts o = {.lock = &lf, .readonly = readonly, .offline = offline};
    if (kvz_templates_resolve(NULL, m, &o, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    if (!offline)
        warn_unverified(cli, m);
    ret = 0;
cleanup:
    kvz_error_free(err);
    kvz_lockfile_release(&lf);
    free(path);
    return ret;
}

static void short_digest(char out[32], const char *d)
{
    snprintf(out, 32, "%.19s", d ? d : "-");
}

/* Prints old -> new for each template; returns how many changed. */
static size_t print_changes(const struct kvz_lockfile *old, const struct kvz_lockfile *now,
                            const char *path)
{
    size_t changed = 0;
    for (size_t i = 0; i < now->n; i++) {
        const struct kvz_lock_entry *n = &now->v[i], *o = kvz_lockfile_get(old, n->name);
        char a[32], b[32];
        short_digest(b, n->digest);
        if (!o) {
            printf("%s: locked %s%s%s (%s)\n", n->name, n->version ? n->version : "",
                   n->version ? " " : "", b, n->url);
            changed++;
        } else if (strcmp(o->digest, n->digest) || strcmp(o->url, n->url)) {
            short_digest(a, o->digest);
            printf("%s: %s%s%s -> %s%s%s\n", n->name, o->version ? o->version : "",
                   o->version ? " " : "", a, n->version ? n->version : "", n->version ? " " : "",
                   b);
            changed++;
        }
    }
    for (size_t i = 0; i < old->n; i++)
        if (!kvz_lockfile_get(now, old->v[i].name)) {
            printf("%s: no longer in the manifests, removed from the lock\n", old->v[i].name);
            changed++;
        }
    if (!changed)
        printf("'%s' is up to date: %zu template%s locked\n", path, now->n, now->n == 1 ? "" : "s");
    return changed;
}

/* The guests a later apply replaces because their template changed in the lock. */
/* The replaces in p due to a template whose digest the lock changed; printed, counted. */
static size_t replaced_in(const struct kvz_plan *p, const char *host,
                          const struct kvz_lockfile *old, const struct kvz_lockfile *now)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        if (c->action != KVZ_ACTION_REPLACE || !c->want || !c->want->tmpl)
            continue;
        const struct kvz_lock_entry *a = kvz_lockfile_get(old, c->want->tmpl->name),
                                    *b = kvz_lockfile_get(now, c->want->tmpl->name);
        if (!b || (a && !strcmp(a->digest, b->digest)))
            continue;
        printf("a later 'kvz apply' replaces %s '%s'%s%s%s (template '%s')\n",
               kvz_kind_str(c->kind), c->name, host ? " on host '" : "", host ? host : "",
               host ? "'" : "", c->want->tmpl->name);
        n++;
    }
    return n;
}

/* The same over the hosts of a manifest with hosts: (each observed at once); a host that cannot
 * be seen is named, and its guests are unknown. */
static int replaced_on_hosts(struct kvz_cli *cli, struct kvz_manifest *m,
                             const struct kvz_lockfile *old, const struct kvz_lockfile *now,
                             size_t *n)
{
    struct kvz_hosts_run run;
    struct kvz_opts every = {0}; /* every host, every guest */
    int ret = 0;
    if (kvz_hosts_run_plan(&run, cli, &every, m, false, false) < 0)
        ret = -1;
    for (size_t i = 0; ret == 0 && i < run.f.n; i++) {
        if (run.v[i].plan) {
            *n += replaced_in(run.v[i].plan, run.v[i].host, old, now);
            continue;
        }
        kvz_out_error(cli, "%s", run.v[i].error);
        ret = -1;
    }
    kvz_hosts_run_release(&run);
    return ret;
}

/* kvz lock --upgrade: which guests on the hosts a later apply replaces because of it. */
static int print_replaced(struct kvz_cli *cli, struct kvz_manifest *m,
                          const struct kvz_lockfile *old, const struct kvz_lockfile *now)
{
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    int ret = -1;
    size_t n = 0;
    r.m = m;
    if (m->hosts_declared
            ? replaced_on_hosts(cli, m, old, now, &n) < 0
            : kvz_stack_observe(cli, &r, NULL) < 0 || kvz_stack_plan(cli, &r, NULL, 0, false) < 0) {
        kvz_out_error(cli,
                      "the lock was written, but which guests a later apply replaces is unknown");
        goto cleanup;
    }
    if (r.plan)
        n += replaced_in(r.plan, NULL, old, now);
    if (!n)
        printf("no guest on the host%s is replaced by it\n", m->hosts_declared ? "s" : "");
    ret = 0;
cleanup:
    r.m = NULL; /* the caller's */
    kvz_stack_release(&r);
    return ret;
}

int cmd_lock(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_lockfile old = {0}, now = {0};
    struct kvz_error *err = NULL;
    char *path = NULL;
    int rc = KVZ_EXIT_ERROR;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    if (o.files.n && kvz_git_source_is(o.files.v[0])) {
        kvz_out_error(
            cli,
            "kvz lock writes kvz.lock beside the first manifest, which a git source cannot take; run 'kvz lock' in a clone of the repository and commit kvz.lock");
        goto cleanup;
    }
    if (kvz_stack_load(cli, &r, o.files.v, o.files.n) < 0)
        goto cleanup;
    if (o.args.n && !o.upgrade) {
        kvz_out_error(cli, "template names go with --upgrade; run 'kvz lock --upgrade %s'",
                      o.args.v[0]);
        goto cleanup;
    }
    for (size_t i = 0; i < o.args.n; i++) {
        const struct kvz_template *t = kvz_manifest_template(r.m, o.args.v[i]);
        if (!t || !kvz_lockfile_wants(t)) {
            kvz_out_error(
                cli, "'%s' is %s; name templates that have a catalog: or checksums:", o.args.v[i],
                t ? "pinned by its own digest" : "not a template of the manifests");
            goto cleanup;
        }
    }
    if (read_lock(cli, &old, &path, r.m, NULL, false) < 0)
        goto cleanup;
    struct kvz_resolve_opts ro = {
        .lock = &old,
        .all_fresh = o.upgrade && !o.args.n,
        .fresh = o.args.v,
        .n_fresh = o.args.n,
    };
    if (kvz_templates_resolve(&now, r.m, &ro, &err) < 0 ||
        kvz_lockfile_write(path, &now, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    warn_unverified(cli, r.m);
    size_t changed = print_changes(&old, &now, path);
    rc = KVZ_EXIT_OK;
    if (o.upgrade && changed && print_replaced(cli, r.m, &old, &now) < 0)
        rc = KVZ_EXIT_ERROR;
cleanup:
    kvz_error_free(err);
    kvz_lockfile_release(&old);
    kvz_lockfile_release(&now);
    free(path);
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
