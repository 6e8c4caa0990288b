#include "cmd/stack.h"

#include "base/buf.h"
#include "base/error.h"
#include "planner/executor.h"
#include "planner/fingerprint.h"
#include "cmd/lock.h"
#include "cmd/plan_hosts.h"
#include "cmd/pull_progress.h"
#include "cmd/template_digests.h"
#include "planner/provenance.h"
#include "store/git.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int kvz_stack_load(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *paths, size_t n)
{
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    if (kvz_stack_has_git(paths, n))
        return kvz_stack_load_git(cli, r, paths, n);
    int loaded = kvz_manifest_load(&r->m, paths, n, &diags);
    kvz_out_diags(cli, &diags);
    kvz_diags_release(&diags);
    return loaded < 0 ? -1 : 0;
}

int kvz_stack_lock(struct kvz_cli *cli, struct kvz_stack_run *r)
{
    struct kvz_error *err = NULL;
    if (kvz_lock_acquire(&r->lock, cli->state_dir, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    return 0;
}

int kvz_stack_observe(struct kvz_cli *cli, struct kvz_stack_run *r,
                      const char *const uri[KVZ_N_KINDS])
{
    struct kvz_error *err = NULL;
    if (r->m->hosts_declared) { /* the callers take the hosts' path first (cmd/plan_hosts.h) */
        kvz_out_error(cli,
                      "the manifests have hosts:; this command does not take them (docs/hosts.md)");
        return -1;
    }
    struct kvz_hosts_config cfg = {
        .m = r->m,
        .uri = {uri && uri[0] ? uri[0] : cli->containers_uri,
                uri && uri[1] ? uri[1] : cli->vms_uri},
        .state_dir = cli->state_dir,
    };
    if (kvz_hosts_open(&r->hs, &cfg, &err) < 0)
        goto fail;
    r->connected = true;
    if (kvz_hosts_observe(&r->hs, &err) < 0)
        goto fail;
    for (int k = 0; k < KVZ_N_KINDS; k++)
        if (r->hs.skipped[k] && cli->verbosity >= 0)
            kvz_out_warn(cli, "%s", r->hs.skipped[k]);
    return 0;
fail:
    kvz_out_kvz_error(cli, err);
    kvz_error_free(err);
    return -1;
}

/* What the templates of this host's existing guests hold (cmd/template_digests.h). */
static int resolve_templates(struct kvz_cli *cli, struct kvz_stack_run *r)
{
    const struct kvz_hosts *hs = &r->hs;
    if (r->template_digests)
        return 0;
    if (kvz_template_digests(&r->template_digests, cli, r->m, &hs, 1) < 0)
        return -1;
    r->n_template_digests = r->m->n_templates;
    return 0;
}

int kvz_stack_plan(struct kvz_cli *cli, struct kvz_stack_run *r, const char *const *targets,
                   size_t n_targets, bool destroy)
{
    struct kvz_error *err = NULL;
    struct kvz_plan_input in = {
        .m = r->m,
        .stack = r->m->stack,
        .targets = targets,
        .n_targets = n_targets,
        .destroy = destroy,
    };
    kvz_plan_input_set_hosts(&in, &r->hs);
    if (resolve_templates(cli, r) < 0)
        return -1;
    in.template_digests = (const char *const *)r->template_digests;
    if (kvz_plan_compute(&r->plan, &in, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    for (int k = 0; k < KVZ_N_KINDS && !destroy; k++) {
        const struct kvz_provider_ops *ops = r->hs.ops[k];
        struct kvz_buf w = KVZ_BUF_INIT;
        if (ops && ops->host_warning && r->hs.used[k])
            ops->host_warning(&w, &r->hs.h[k]);
        if (w.len && cli->verbosity >= 0)
            kvz_out_warn(cli, "%s", kvz_buf_cstr(&w));
        kvz_buf_release(&w);
    }
    return 0;
}

int kvz_stack_open(struct kvz_cli *cli, struct kvz_stack_run *r, const struct kvz_opts *o,
                   unsigned flags)
{
    r->offline = o->offline;
    r->require_signed = o->require_signed;
    if (kvz_stack_load(cli, r, o->files.v, o->files.n) < 0 ||
        /* status and destroy pull nothing: only the lock resolves for them, no catalog is read */
        kvz_cli_resolve_templates(cli, r->m, r->n_trees ? r->trees[0] : NULL, o->lock_readonly,
                                  !(flags & KVZ_STACK_PLAN) || (flags & KVZ_STACK_DESTROY)) < 0)
        return -1;
    if ((flags & KVZ_STACK_HOSTS) && kvz_cmd_many_hosts(r->m, o))
        return 1;
    if (((flags & KVZ_STACK_LOCK) && kvz_stack_lock(cli, r) < 0) ||
        kvz_stack_observe(cli, r, NULL) < 0)
        return -1;
    if (flags & KVZ_STACK_PLAN)
        return kvz_stack_plan(cli, r, o->targets.v, o->targets.n, flags & KVZ_STACK_DESTROY);
    return 0;
}

int kvz_stack_fingerprint(struct kvz_cli *cli, struct kvz_stack_run *r, char out[65])
{
    struct kvz_error *err = NULL;
    if (kvz_observed_fingerprint(out, r->hs.observed, KVZ_N_KINDS, r->m->stack, r->m, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    return 0;
}

void kvz_stack_print_plan(struct kvz_cli *cli, const struct kvz_stack_run *r,
                          const struct kvz_plan *p, bool json)
{
    if (json) {
        json_t *j = kvz_plan_to_json(p), *src = r ? kvz_stack_sources_json(r) : NULL;
        if (j && src)
            json_object_set_new(j, "sources", src);
        else
            json_decref(src);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        else
            kvz_out_error(cli, "plan: out of memory");
        cli->json_printed = s != NULL;
        free(s);
        json_decref(j);
        return;
    }
    struct kvz_buf b = KVZ_BUF_INIT;
    if (r)
        kvz_stack_print_sources(cli, r);
    /* -q: only the summary line (or "No changes") */
    if (cli->verbosity < 0 && kvz_plan_n_changes(p))
        kvz_plan_render_summary(&b, p);
    else
        kvz_plan_render_text(&b, p, cli->color);
    fputs(kvz_buf_cstr(&b), stdout);
    kvz_buf_release(&b);
}

int kvz_stack_approve(struct kvz_cli *cli, bool auto_approve, const char *what, const char *these)
{
    char line[64];
    if (auto_approve)
        return 0;
    if (!isatty(STDIN_FILENO)) {
        kvz_out_error(
            cli,
            "no terminal to ask for approval; review the plan and pass --auto-approve to %s without asking",
            what);
        return -1;
    }
    printf("\nDo you want to %s these %s? Only 'yes' is accepted: ", what, these);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n")) {
        kvz_out_error(cli, "%s cancelled: nothing was changed", what);
        return -1;
    }
    return 0;
}

/* The step a resource is in, for -v's timings. */
struct open_step {
    char *name, *step;
    double start;
};

/* Progress printing for one apply; each call comes under the executor's report lock. */
struct reporter {
    struct kvz_cli *cli;
    struct kvz_pull_progress *ui; /* download display, NULL with --json */
    bool json;
    json_t *results;
    struct timespec t0;
    struct open_step *steps; /* -v: one per resource with a step under way */
    size_t n_steps;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* -v: the step `name` was in ends at t; prints it with the time it took. */
static void close_step(struct reporter *rp, const char *name, double t)
{
    for (size_t i = 0; i < rp->n_steps; i++) {
        struct open_step *s = &rp->steps[i];
        if (strcmp(s->name, name))
            continue;
        printf("[%6.1fs] %s: %s took %.3fs\n", t, name, s->step, t - s->start);
        free(s->name);
        free(s->step);
        *s = rp->steps[--rp->n_steps];
        return;
    }
}

/* -v: `name` starts `step` at t (a step it cannot remember is simply not timed). */
static void open_step(struct reporter *rp, const char *name, const char *step, double t)
{
    struct open_step *v = realloc(rp->steps, (rp->n_steps + 1) * sizeof(*v));
    if (!v)
        return;
    rp->steps = v;
    struct open_step s = {strdup(name), strdup(step), t};
    if (!s.name || !s.step) {
        free(s.name);
        free(s.step);
        return;
    }
    rp->steps[rp->n_steps++] = s;
}

static void report(void *ctx, const struct kvz_exec_event *ev)
{
    struct reporter *rp = ctx;
    const struct kvz_change *c = ev->change;
    const char *kind = c ? kvz_kind_str(c->kind) : "template";
    if (rp->json) {
        if (ev->what == KVZ_EXEC_DONE || ev->what == KVZ_EXEC_FAILED)
            json_array_append_new(
                rp->results, json_pack("{s:s, s:s, s:s, s:s, s:o}", "kind", kind, "name", ev->name,
                                       "action", c ? kvz_action_str(c->action) : "pull", "status",
                                       ev->what == KVZ_EXEC_DONE ? "ok" : "failed", "error",
                                       ev->msg && ev->what == KVZ_EXEC_FAILED ? json_string(ev->msg)
                                                                              : json_null()));
        return;
    }
    struct kvz_cli *cli = rp->cli;
    double t = since(&rp->t0);
    kvz_pull_progress_clear(rp->ui);
    if (cli->verbosity > 0 && ev->what != KVZ_EXEC_PULL)
        close_step(rp, ev->name, t);
    /* -q: errors only; the summary follows the run */
    if (cli->verbosity < 0 && ev->what != KVZ_EXEC_FAILED)
        return;
    switch (ev->what) {
    case KVZ_EXEC_PULL:
        printf("[%6.1fs] template %s: pulling %s\n", t, ev->name, ev->msg ? ev->msg : "");
        break;
    case KVZ_EXEC_BEGIN:
        printf("[%6.1fs] %s (%s): %s\n", t, ev->name, kind, ev->msg);
        break;
    case KVZ_EXEC_PROGRESS:
        printf("[%6.1fs] %s: %s\n", t, ev->name, ev->msg);
        if (cli->verbosity > 0)
            open_step(rp, ev->name, ev->msg, t);
        break;
    case KVZ_EXEC_DONE:
        printf("[%6.1fs] %s (%s): %s%s done%s\n", t, ev->name, kind,
               kvz_color(cli->color, KVZ_GREEN), kvz_action_str(c->action),
               kvz_color(cli->color, KVZ_RESET));
        break;
    case KVZ_EXEC_FAILED:
        fflush(stdout);
        if (c)
            kvz_out_error(cli, "%s (%s): %s failed: %s", ev->name, kind, kvz_action_str(c->action),
                          ev->msg);
        else
            kvz_out_error(cli, "template '%s': %s", ev->name, ev->msg);
        break;
    }
    fflush(stdout);
}

int kvz_stack_execute(struct kvz_cli *cli, struct kvz_stack_run *r, const char *what,
                      unsigned parallel, bool force, bool json)
{
    struct reporter rp = {.cli = cli, .json = json, .results = json_array()};
    struct kvz_exec_opts o = {
        .parallel = parallel, .report = report, .report_ctx = &rp, .force = force};
    struct kvz_exec_result res = {0};
    struct kvz_error *err = NULL;
    struct kvz_store *store = NULL;
    struct kvz_store_opts sopts;
    int ret = -1;
    clock_gettime(CLOCK_MONOTONIC, &rp.t0);
    /* provenance only when something is recorded: libgit2 costs a plan its start-up */
    if (!r->source && kvz_provenance(&r->source, r->m, &err) < 0)
        goto done;
    for (int k = 0; k < KVZ_N_KINDS; k++)
        r->hs.h[k].source = r->source;
    bool pulls = r->plan->counts[KVZ_ACTION_CREATE] || r->plan->counts[KVZ_ACTION_REPLACE];
    for (size_t i = 0; !pulls && i < r->plan->n_changes; i++) {
        const struct kvz_change *c = &r->plan->changes[i];
        /* an update that attaches a vm's media pulls them */
        pulls = c->action == KVZ_ACTION_UPDATE && c->want && (c->want->cdrom || c->want->drivers);
    }
    if (pulls) {
        kvz_store_opts_init(&sopts);
        if (!json && !(rp.ui = kvz_pull_progress_new(cli, &sopts))) {
            kvz_error_set(&err, "apply: out of memory");
            goto done;
        }
        if (kvz_store_open(&store, cli->state_dir, &sopts, &err) < 0)
            goto done;
        o.store = store;
    }
    ret = kvz_plan_execute(&res, r->plan, &r->hs, &o, &err);
done:
    kvz_pull_progress_clear(rp.ui);
    if (json) {
        json_t *j = kvz_plan_to_json(r->plan);
        json_object_set(j, "results", rp.results);
        json_object_set_new(j, "result",
                            json_pack("{s:I, s:I}", "done", (json_int_t)res.done, "failed",
                                      (json_int_t)res.failed));
        char *s = json_dumps(j, 0);
        if (s)
            printf("%s\n", s);
        cli->json_printed = s != NULL;
        free(s);
        json_decref(j);
    } else if (ret == 0) {
        printf("%s%s complete: %zu %s done in %.1fs.\n", cli->verbosity < 0 ? "" : "\n", what,
               res.done, res.done == 1 ? "change" : "changes", since(&rp.t0));
    } else {
        printf("%s%s finished with errors: %zu done, %zu failed.\n", cli->verbosity < 0 ? "" : "\n",
               what, res.done, res.failed);
    }
    if (ret < 0)
        kvz_out_kvz_error(cli, err);
    kvz_error_free(err);
    json_decref(rp.results);
    for (size_t i = 0; i < rp.n_steps; i++) {
        free(rp.steps[i].name);
        free(rp.steps[i].step);
    }
    free(rp.steps);
    kvz_store_free(store);
    kvz_pull_progress_free(rp.ui);
    return ret;
}

int kvz_stack_prune_storage(struct kvz_cli *cli, struct kvz_hosts *hs)
{
    int ret = 0;
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_provider_ops *ops = hs->ops[k];
        struct kvz_error *err = NULL;
        size_t removed = 0;
        if (!ops || !ops->prune)
            continue;
        if (ops->prune(&removed, &hs->h[k], &err) < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            ret = -1;
        } else if (removed && cli->verbosity >= 0) {
            printf("removed %zu unused %s storage item%s (base volumes, pool) on '%s'\n", removed,
                   ops->kind, removed == 1 ? "" : "s", hs->uri[k]);
        }
    }
    return ret;
}

void kvz_stack_release(struct kvz_stack_run *r)
{
    kvz_plan_free(r->plan);
    r->plan = NULL;
    if (r->connected)
        kvz_hosts_close(&r->hs);
    r->connected = false;
    kvz_manifest_free(r->m);
    r->m = NULL;
    free(r->source);
    r->source = NULL;
    for (size_t i = 0; r->trees && i < r->n_trees; i++)
        kvz_git_tree_free(r->trees[i]);
    free(r->trees);
    r->trees = NULL;
    kvz_template_digests_free(r->template_digests, r->n_template_digests);
    r->template_digests = NULL;
    kvz_lock_release(&r->lock);
}
