#include "cmd/cli.h"
#include "cmd/lock.h"
#include "cmd/options.h"
#include "cmd/pull_progress.h"
#include "cmd/stack.h"
#include "cmd/templates_hosts.h"
#include "cmd/templates_search.h"

#include "base/error.h"
#include "parser/manifest.h"
#include "planner/lock.h"
#include "providers/hosts.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many templates download at once. */
#define PULL_PARALLEL 4

/* What the manifests use a template for: the kind its content must have. */
static enum kvz_content_kind use_of(const struct kvz_manifest *m, const struct kvz_template *t)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (r->tmpl == t)
            return r->kind == KVZ_KIND_CONTAINER ? KVZ_CONTENT_ROOTFS : KVZ_CONTENT_DISK;
        if (r->cdrom == t || r->drivers == t)
            return KVZ_CONTENT_ISO;
    }
    return KVZ_CONTENT_UNKNOWN;
}

static const char *short_digest(char *out, size_t cap, const char *d, bool full)
{
    const char *colon = strchr(d, ':');
    size_t pre = colon ? (size_t)(colon - d) + 1 : 0;
    if (full || strlen(d) <= pre + 16)
        snprintf(out, cap, "%s", d);
    else
        snprintf(out, cap, "%.*s%.16s", (int)pre, d, d + pre);
    return out;
}

static int do_pull(struct kvz_cli *cli, struct kvz_manifest *m)
{
    size_t n = m->n_templates;
    const struct kvz_template **t = calloc(n ? n : 1, sizeof(*t));
    enum kvz_content_kind *wants = calloc(n ? n : 1, sizeof(*wants));
    struct kvz_image *img = calloc(n ? n : 1, sizeof(*img));
    struct kvz_error **errs = calloc(n ? n : 1, sizeof(*errs));
    struct kvz_pull_progress *ui = NULL;
    struct kvz_store_opts o;
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;

    kvz_store_opts_init(&o);
    ui = kvz_pull_progress_new(cli, &o);
    if (!t || !wants || !img || !errs || !ui) {
        kvz_out_error(cli, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = &m->templates[i];
        wants[i] = use_of(m, t[i]);
    }
    if (kvz_store_open(&s, cli->state_dir, &o, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    int r = kvz_store_pull_many(img, s, t, wants, n, PULL_PARALLEL, errs);
    kvz_pull_progress_clear(ui);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i]) {
            kvz_out_kvz_error(cli, errs[i]);
            failed++;
            continue;
        }
        if (cli->verbosity >= 0) {
            char size[32], dg[80];
            kvz_out_size(size, sizeof(size), img[i].size);
            printf("%-24s %-7s %10s  %s  %s\n", t[i]->name, kvz_content_kind_str(img[i].kind), size,
                   short_digest(dg, sizeof(dg), img[i].digest, cli->verbosity > 0),
                   cli->verbosity > 0 ? img[i].path : "ready");
        }
    }
    if (r < 0 || failed) {
        kvz_out_error(cli, "%zu of %zu templates failed to pull", failed, n);
        goto cleanup;
    }
    rc = KVZ_EXIT_OK;
cleanup:
    for (size_t i = 0; img && errs && i < n; i++) {
        kvz_image_release(&img[i]);
        kvz_error_free(errs[i]);
    }
    kvz_store_free(s);
    kvz_pull_progress_free(ui);
    kvz_error_free(err);
    free(t);
    free(wants);
    free(img);
    free(errs);
    return rc;
}

/* How many guests on the hosts were made from the content `digest`; -1 when unknown. */
static long guests_using(const struct kvz_tmpl_scope *sc, bool seen, const char *digest)
{
    long n = 0;
    if (!seen)
        return -1;
    for (size_t h = 0; h < sc->n; h++)
        for (int k = 0; k < KVZ_N_KINDS; k++)
            for (size_t i = 0; i < sc->v[h]->observed[k].n; i++) {
                const struct kvz_observed_resource *r = &sc->v[h]->observed[k].v[i];
                n += r->managed && r->template_digest && !strcmp(r->template_digest, digest);
            }
    return n;
}

static int do_list(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    struct kvz_tmpl_scope sc;
    int rc = KVZ_EXIT_ERROR;
    memset(&sc, 0, sizeof(sc));
    if (kvz_store_open(&s, cli->state_dir, NULL, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    /* the guests that use each template, from the hosts' domains (every host of hosts:); a
     * list without a reachable libvirtd still lists the cache (GUESTS "?") */
    struct kvz_error *herr = NULL;
    bool seen = kvz_tmpl_scope_open(&sc, cli, m, false, &herr) == 0 && !sc.n_failed;
    if (herr && m->hosts_declared)
        kvz_out_kvz_error(cli, herr);
    kvz_error_free(herr);
    for (size_t i = 0; i < sc.f.n && cli->verbosity >= 0; i++)
        if (sc.f.v[i].err)
            kvz_out_warn(cli, "%s: its guests are not counted (GUESTS ?)",
                         kvz_error_msg(sc.f.v[i].err));
    printf("%-24s %-7s %10s  %-24s %6s %s\n", "NAME", "KIND", "SIZE", "DIGEST", "GUESTS", "CACHED");
    for (size_t i = 0; i < m->n_templates; i++) {
        const struct kvz_template *t = &m->templates[i];
        struct kvz_image img = {0};
        char size[32] = "-", dg[200] = "-";
        int r = kvz_store_lookup(&img, s, t, &err);
        if (r < 0) {
            kvz_out_kvz_error(cli, err);
            goto cleanup;
        }
        const char *kind = kvz_content_kind_str(r ? img.kind : t->hint);
        if (r) {
            kvz_out_size(size, sizeof(size), img.size);
            short_digest(dg, sizeof(dg), img.digest, cli->verbosity > 0);
        } else if (t->digest) {
            char full[160];
            snprintf(full, sizeof(full), "%s:%s",
                     t->algo == KVZ_DIGEST_SHA512 ? "sha512" : "sha256", t->digest);
            short_digest(dg, sizeof(dg), full, cli->verbosity > 0);
        } else if (t->checksums_url) {
            snprintf(dg, sizeof(dg), "(checksums file)");
        } else {
            snprintf(dg, sizeof(dg), "(insecure)");
        }
        long guests = r ? guests_using(&sc, seen, img.digest) : 0;
        char gs[24] = "?";
        if (guests >= 0)
            snprintf(gs, sizeof(gs), "%ld", guests);
        printf("%-24s %-7s %10s  %-24s %6s %s\n", t->name, kind, size, dg, gs, r ? "yes" : "no");
        kvz_image_release(&img);
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_tmpl_scope_close(&sc);
    kvz_store_free(s);
    kvz_error_free(err);
    return rc;
}

/* The host's side: base volumes no VM uses, a pool no guest needs. Under the state-dir lock,
 * so no apply is between importing a base and defining its VM. */
static int prune_storage(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    r.m = (struct kvz_manifest *)m; /* borrowed: released below before kvz_stack_release */
    int rc = KVZ_EXIT_ERROR;
    if (kvz_stack_lock(cli, &r) < 0 || kvz_stack_observe(cli, &r, NULL) < 0)
        goto cleanup;
    rc = kvz_stack_prune_storage(cli, &r.hs) < 0 ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
cleanup:
    r.m = NULL;
    kvz_stack_release(&r);
    return rc;
}

/* What the guests on the hosts (of every stack; with hosts:, on every host) were made from:
 * prune keeps it. A kind or a host that cannot be observed makes prune refuse: it would not
 * know what those guests use. */
static int used_by_guests(struct kvz_cli *cli, const struct kvz_manifest *m,
                          struct kvz_tmpl_scope *sc, bool lock, const char ***out, size_t *n)
{
    struct kvz_error *err = NULL;
    if (kvz_tmpl_scope_open(sc, cli, m, lock, &err) < 0) {
        kvz_error_wrap(&err, "prune needs to see which templates the guests use");
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    if (sc->n_failed) {
        for (size_t i = 0; i < sc->f.n; i++)
            if (sc->f.v[i].err)
                kvz_out_kvz_error(cli, sc->f.v[i].err);
        kvz_out_error(
            cli,
            "prune needs to see which templates the guests use: %zu of %zu hosts could not be seen; nothing was removed",
            sc->n_failed, sc->f.n);
        return -1;
    }
    size_t cap = 0;
    for (size_t h = 0; h < sc->n; h++)
        for (int k = 0; k < KVZ_N_KINDS; k++)
            cap += 2 * sc->v[h]->observed[k].n;
    if (!(*out = calloc(cap + 1, sizeof(**out)))) {
        kvz_out_error(cli, "out of memory");
        return -1;
    }
    *n = 0;
    for (size_t h = 0; h < sc->n; h++)
        for (int k = 0; k < KVZ_N_KINDS; k++)
            for (size_t i = 0; i < sc->v[h]->observed[k].n; i++) {
                const struct kvz_observed_resource *r = &sc->v[h]->observed[k].v[i];
                if (r->managed && r->template_digest)
                    (*out)[(*n)++] = r->template_digest;
                /* and the tree a container's overlay mounts: the domain's own word for it */
                if (r->layer_lower)
                    (*out)[(*n)++] = r->layer_lower;
            }
    return 0;
}

static int do_prune(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    struct kvz_tmpl_scope sc;
    struct kvz_lock lock = KVZ_LOCK_INIT;
    const struct kvz_template **keep = calloc(m->n_templates ? m->n_templates : 1, sizeof(*keep));
    const char **used = NULL;
    uint64_t freed = 0;
    size_t removed = 0, busy = 0, n_used = 0;
    int rc = KVZ_EXIT_ERROR;
    memset(&sc, 0, sizeof(sc));
    if (!keep) {
        kvz_out_error(cli, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < m->n_templates; i++)
        keep[i] = &m->templates[i];
    /* with hosts: everything under the state-dir lock and each remote host's lock, seen once */
    if (m->hosts_declared && kvz_lock_acquire(&lock, cli->state_dir, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    if (used_by_guests(cli, m, &sc, m->hosts_declared, &used, &n_used) < 0)
        goto cleanup;
    if (kvz_store_open(&s, cli->state_dir, NULL, &err) < 0 ||
        kvz_store_prune(&freed, &removed, &busy, s, keep, m->n_templates, used, n_used, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    if (cli->verbosity >= 0) {
        char size[32];
        kvz_out_size(size, sizeof(size), freed);
        printf("removed %zu cache entr%s, freed %s", removed, removed == 1 ? "y" : "ies", size);
        if (busy)
            printf("; %zu in use by a running apply or pull, kept", busy);
        putchar('\n');
    }
    if (!m->hosts_declared) {
        rc = prune_storage(cli, m);
        goto cleanup;
    }
    rc = KVZ_EXIT_OK;
    for (size_t i = 0; i < sc.n; i++)
        if (kvz_stack_prune_storage(cli, sc.v[i]) < 0)
            rc = KVZ_EXIT_ERROR;
cleanup:
    kvz_tmpl_scope_close(&sc);
    kvz_lock_release(&lock);
    kvz_store_free(s);
    kvz_error_free(err);
    free(keep);
    free(used);
    return rc;
}

int cmd_templates(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_manifest *m = NULL;
    int rc = KVZ_EXIT_ERROR;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    const char *action = o.args.n ? o.args.v[0] : NULL;
    bool search = action && !strcmp(action, "search");
    if (!action ||
        (strcmp(action, "pull") && strcmp(action, "list") && strcmp(action, "prune") && !search)) {
        kvz_out_error(cli, "%s%s%s; use 'kvz templates pull|list|prune|search [-f PATH]...'",
                      action ? "unknown action '" : "missing action", action ? action : "",
                      action ? "'" : "");
        goto cleanup;
    }
    if (!search && o.args.n > 1) {
        kvz_out_error(cli, "unexpected argument '%s'; only 'search' takes words", o.args.v[1]);
        goto cleanup;
    }
    /* Warnings (an insecure template, among others) show on every use; git sources too. */
    r.offline = o.offline;
    r.require_signed = o.require_signed;
    if (kvz_stack_load(cli, &r, o.files.v, o.files.n) < 0)
        goto cleanup;
    m = r.m;
    if (search) {
        rc = kvz_templates_search(cli, m, o.args.v + 1, o.args.n - 1, o.json);
        goto cleanup;
    }
    /* catalog entries and kvz.lock resolved first: every action sees what apply would use */
    if (kvz_cli_resolve_templates(cli, m, r.n_trees ? r.trees[0] : NULL, o.lock_readonly, false) <
        0)
        goto cleanup;
    if (!strcmp(action, "pull"))
        rc = do_pull(cli, m);
    else if (!strcmp(action, "list"))
        rc = do_list(cli, m);
    else
        rc = do_prune(cli, m);
cleanup:
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
