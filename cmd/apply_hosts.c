#include "cmd/apply_hosts.h"

#include "base/buf.h"
#include "cmd/plan_hosts.h"
#include "planner/executor.h"
#include "planner/fingerprint.h"
#include "planner/provenance.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The reports of every host's executor: one line at a time, each naming its host. */
struct out {
    struct kvz_cli *cli;
    pthread_mutex_t lock;
    struct timespec t0;
    bool json;
    json_t *results;
};

struct one {
    struct out *out;
    const char *host;
    struct kvz_hosts *hs;
    const struct kvz_plan *plan;
    const struct kvz_opts *o;
    const char *state_dir;
    struct kvz_exec_result res;
    char *error; /* why the host's apply did not complete, or NULL */
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void report(void *ctx, const struct kvz_exec_event *ev)
{
    struct one *w = ctx;
    struct out *out = w->out;
    const struct kvz_change *c = ev->change;
    const char *kind = c ? kvz_kind_str(c->kind) : "template";
    pthread_mutex_lock(&out->lock);
    double t = since(&out->t0);
    if (out->json) {
        if (ev->what == KVZ_EXEC_DONE || ev->what == KVZ_EXEC_FAILED)
            json_array_append_new(
                out->results,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "host", w->host, "kind", kind, "name",
                          ev->name, "action", c ? kvz_action_str(c->action) : "pull", "status",
                          ev->what == KVZ_EXEC_DONE ? "ok" : "failed", "error",
                          ev->msg && ev->what == KVZ_EXEC_FAILED ? json_string(ev->msg)
                                                                 : json_null()));
    } else if (ev->what == KVZ_EXEC_FAILED) {
        fflush(stdout);
        kvz_out_error(out->cli, "host '%s': %s (%s): %s failed: %s", w->host, ev->name, kind,
                      c ? kvz_action_str(c->action) : "pull", ev->msg ? ev->msg : "");
    } else if (ev->what != KVZ_EXEC_PROGRESS || out->cli->verbosity >= 0) {
        const char *what = ev->what == KVZ_EXEC_DONE ? "done" : ev->msg ? ev->msg : "";
        if (ev->what == KVZ_EXEC_DONE)
            printf("[%6.1fs] %s: %s (%s): %s done\n", t, w->host, ev->name, kind,
                   kvz_action_str(c->action));
        else if (c || ev->what == KVZ_EXEC_PULL)
            printf("[%6.1fs] %s: %s (%s): %s\n", t, w->host, ev->name, kind, what);
        else
            printf("[%6.1fs] %s: %s: %s\n", t, w->host, ev->name, what);
    }
    fflush(stdout);
    pthread_mutex_unlock(&out->lock);
}

static void *apply_one(void *arg)
{
    struct one *w = arg;
    struct kvz_store *store = NULL;
    struct kvz_error *err = NULL;
    struct kvz_exec_opts eo = {
        .parallel = w->o->parallel, .report = report, .report_ctx = w, .force = w->o->force};
    /* one store per host: each pulls the templates its changes use (the cache is shared) */
    if (kvz_store_open(&store, w->state_dir, NULL, &err) == 0) {
        eo.store = store;
        kvz_plan_execute(&w->res, w->plan, w->hs, &eo, &err);
    }
    if (err) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "host '%s': %s", w->host, kvz_error_msg(err));
        w->error = kvz_buf_detach(&b);
    }
    kvz_error_free(err);
    kvz_store_free(store);
    return NULL;
}

/* A guest deleted on one host because the manifests put it on another is a move: it goes only
 * when its new host is in scope and will be applied, else it would only be deleted. */
static int check_moves(struct kvz_cli *cli, const struct kvz_hosts_run *run,
                       const struct kvz_manifest *m, char *const *why)
{
    size_t n = run->f.n;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; run->v[i].plan && k < run->v[i].plan->n_changes; k++) {
            const struct kvz_change *c = &run->v[i].plan->changes[k];
            const struct kvz_resource *w = kvz_manifest_resource(m, c->name);
            if (c->action != KVZ_ACTION_DELETE || !w || w->kind != c->kind || !w->host ||
                !strcmp(w->host, run->v[i].host))
                continue;
            size_t to = 0;
            while (to < n && strcmp(run->v[to].host, w->host))
                to++;
            if (to == n) {
                kvz_out_error(
                    cli,
                    "%s '%s' moves from host '%s' to '%s', which is not in scope; add --host %s, or leave out --host %s; nothing was changed",
                    kvz_kind_str(c->kind), c->name, run->v[i].host, w->host, w->host,
                    run->v[i].host);
                return -1;
            }
            if (why[to]) {
                kvz_out_error(
                    cli,
                    "%s '%s' moves from host '%s' to '%s', which cannot be applied (%s); nothing was changed",
                    kvz_kind_str(c->kind), c->name, run->v[i].host, w->host, why[to]);
                return -1;
            }
        }
    return 0;
}

/* Shows the planned run, asks (unless o->auto_approve), applies its hosts in parallel and prints
 * the summary; the exit code. */
static int execute(struct kvz_cli *cli, const struct kvz_opts *o, struct kvz_stack_run *r,
                   struct kvz_hosts_run *run, bool destroy)
{
    struct one *w = NULL;
    pthread_t *th = NULL;
    bool *started = NULL;
    struct kvz_error *err = NULL;
    struct out out = {.cli = cli, .json = o->json};
    const char *what = destroy ? "Destroy" : "Apply";
    int rc = KVZ_EXIT_ERROR;
    size_t failed = 0, done = 0, n_failed_changes = 0;
    pthread_mutex_init(&out.lock, NULL);
    /* -q with nothing to ask: only the run's summary (and errors) */
    bool show_plan = !o->json && (cli->verbosity >= 0 || !o->auto_approve);
    if (show_plan)
        kvz_hosts_run_print(cli, run, r, false);
    size_t n = run->f.n;
    if (!(w = calloc(n + 1, sizeof(*w))) || !(th = calloc(n + 1, sizeof(*th))) ||
        !(started = calloc(n + 1, sizeof(*started))) || !(out.results = json_array())) {
        kvz_out_error(cli, "%s: out of memory", destroy ? "destroy" : "apply");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        const struct kvz_plan *p = run->v[i].plan;
        if (p && o->max_disruption < kvz_plan_disruption(p, NULL)) {
            kvz_out_error(
                cli, "host '%s': the plan goes beyond --max-disruption %s; nothing was changed",
                run->v[i].host, kvz_disruption_str(o->max_disruption));
            rc = KVZ_EXIT_DISRUPTION;
            goto cleanup;
        }
    }
    if (kvz_host_plans_n_changes(run->v, n) &&
        kvz_stack_approve(cli, o->auto_approve, destroy ? "destroy" : "apply",
                          destroy ? "resources" : "changes") < 0)
        goto cleanup;
    if (!r->source && kvz_provenance(&r->source, r->m, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        w[i] = (struct one){.out = &out,
                            .host = run->v[i].host,
                            .hs = &run->f.v[i].hs,
                            .plan = run->v[i].plan,
                            .o = o,
                            .state_dir = cli->state_dir};
        w[i].error = run->v[i].plan ? NULL : strdup(run->v[i].error);
    }
    char **why = calloc(n + 1, sizeof(*why));
    for (size_t i = 0; why && i < n; i++)
        why[i] = w[i].error;
    int moves_ok = why ? check_moves(cli, run, r->m, why) : -1;
    free(why);
    if (moves_ok < 0)
        goto cleanup;
    if (show_plan)
        putchar('\n');
    clock_gettime(CLOCK_MONOTONIC, &out.t0);
    for (size_t i = 0; i < n; i++) {
        struct kvz_fleet_host *fh = &run->f.v[i];
        if (w[i].error || !kvz_plan_n_changes(run->v[i].plan))
            continue;
        for (int k = 0; k < KVZ_N_KINDS; k++)
            fh->hs.h[k].source = r->source;
        started[i] = pthread_create(&th[i], NULL, apply_one, &w[i]) == 0;
        if (!started[i])
            apply_one(&w[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    /* what the destroyed guests used and no other guest of that host does */
    for (size_t i = 0; destroy && i < n; i++)
        if (run->v[i].plan && !w[i].error && kvz_stack_prune_storage(cli, &run->f.v[i].hs) < 0)
            w[i].error = strdup("its unused storage could not be removed (see above)");
    for (size_t i = 0; i < n; i++) {
        done += w[i].res.done;
        n_failed_changes += w[i].res.failed;
        failed += w[i].error != NULL;
    }
    if (o->json) {
        json_t *j = kvz_host_plans_to_json(run->v, n, r->m->stack);
        json_t *hosts = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(hosts, w[i].host,
                                json_pack("{s:I, s:I, s:o}", "done", (json_int_t)w[i].res.done,
                                          "failed", (json_int_t)w[i].res.failed, "error",
                                          w[i].error ? json_string(w[i].error) : json_null()));
        json_t *src = kvz_stack_sources_json(r);
        if (src)
            json_object_set_new(j, "sources", src);
        json_object_set(j, "results", out.results);
        json_object_set_new(j, "result",
                            json_pack("{s:I, s:I, s:o}", "done", (json_int_t)done, "failed",
                                      (json_int_t)n_failed_changes, "hosts", hosts));
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("\n%s %s: %zu %s done on %zu %s.\n", what,
               failed ? "finished with errors" : "complete", done, done == 1 ? "change" : "changes",
               n - failed, n - failed == 1 ? "host" : "hosts");
        for (size_t i = 0; i < n; i++)
            printf("  %s: %s\n", w[i].host, w[i].error ? "failed (see the errors)" : "ok");
    }
    for (size_t i = 0; i < n; i++)
        if (w[i].error)
            kvz_out_error(cli, "%s", w[i].error);
    if (failed)
        kvz_out_error(cli, "%s: %zu of %zu hosts failed; the others were applied",
                      destroy ? "destroy" : "apply", failed, n);
    else
        rc = KVZ_EXIT_OK;
cleanup:
    for (size_t i = 0; w && i < run->f.n; i++)
        free(w[i].error);
    free(w);
    free(th);
    free(started);
    json_decref(out.results);
    pthread_mutex_destroy(&out.lock);
    return rc;
}

int kvz_cmd_apply_hosts(struct kvz_cli *cli, const struct kvz_opts *o, struct kvz_stack_run *r,
                        bool destroy)
{
    struct kvz_hosts_run run;
    int rc = KVZ_EXIT_ERROR;
    memset(&run, 0, sizeof(run));
    if (o->json && !o->auto_approve)
        kvz_out_error(cli, "--json leaves no room for a question: pass --auto-approve too");
    else if (kvz_stack_lock(cli, r) == 0 &&
             kvz_hosts_run_plan(&run, cli, o, r->m, destroy, true) == 0)
        rc = execute(cli, o, r, &run, destroy);
    kvz_hosts_run_release(&run);
    return rc;
}

/* Every host of the saved plan observed again under its lock: each must have its recorded
 * fingerprint and plan. A host that cannot be reached or is stale refuses the whole plan. */
static int check_planfile_hosts(struct kvz_cli *cli, const struct kvz_planfile *pf,
                                const struct kvz_manifest *m, const struct kvz_hosts_run *run)
{
    int ret = 0;
    for (size_t i = 0; i < run->f.n; i++) {
        const struct kvz_fleet_host *fh = &run->f.v[i];
        const struct kvz_planfile_host *h = kvz_planfile_host(pf, run->v[i].host);
        struct kvz_error *err = NULL;
        char fp[65];
        if (!run->v[i].plan)
            kvz_out_error(cli, "%s", run->v[i].error);
        else if (!h)
            kvz_out_error(cli, "stale plan: host '%s' is not in it; run 'kvz plan -o' again",
                          run->v[i].host);
        else if (kvz_observed_fingerprint(fp, fh->hs.observed, KVZ_N_KINDS, m->stack, m, &err) <
                     0 ||
                 kvz_planfile_check_host(pf, h, m, fp, run->v[i].plan, &err) < 0)
            kvz_out_kvz_error(cli, err);
        else
            continue;
        kvz_error_free(err);
        ret = -1;
    }
    if (ret < 0)
        kvz_out_error(
            cli,
            "apply: a saved plan is applied whole or not at all, and not every host matches it; nothing was changed");
    return ret;
}

int kvz_cmd_apply_planfile_hosts(struct kvz_cli *cli, const struct kvz_opts *o,
                                 struct kvz_stack_run *r, const struct kvz_planfile *pf)
{
    struct kvz_hosts_run run;
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;
    /* the targets and hosts it was made for; it was reviewed when it was made: no question */
    struct kvz_opts po = *o;
    po.targets = (struct kvz_paths){.v = (const char **)pf->targets, .n = pf->n_targets};
    po.hosts = (struct kvz_paths){.v = (const char **)pf->only, .n = pf->n_only};
    po.auto_approve = true;
    memset(&run, 0, sizeof(run));
    if (kvz_planfile_check_inventory(pf, r->m, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
    } else if (kvz_stack_lock(cli, r) == 0 &&
               kvz_hosts_run_plan(&run, cli, &po, r->m, false, true) == 0 &&
               check_planfile_hosts(cli, pf, r->m, &run) == 0) {
        rc = execute(cli, &po, r, &run, false);
    }
    kvz_hosts_run_release(&run);
    return rc;
}
