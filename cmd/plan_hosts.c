#include "cmd/plan_hosts.h"

#include "base/buf.h"
#include "cmd/template_digests.h"
#include "planner/fingerprint.h"
#include "planner/planfile.h"
#include "planner/plan_hosts.h"
#include "providers/fleet.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kvz_cmd_many_hosts(const struct kvz_manifest *m, const struct kvz_opts *o)
{
    return m->hosts_declared || o->hosts.n;
}

/* The plan of one observed host; on failure v->error says why. */
static void plan_one(struct kvz_host_plan *v, struct kvz_fleet_host *fh, const struct kvz_opts *o,
                     const struct kvz_manifest *m, const char *state_dir, bool destroy,
                     char *const *template_digests)
{
    struct kvz_error *e = NULL;
    v->host = fh->def->name;
    if (fh->err) {
        v->error = strdup(kvz_error_msg(fh->err));
        return;
    }
    struct kvz_plan_input in = {
        .m = m,
        .stack = m->stack,
        .targets = (const char *const *)o->targets.v,
        .n_targets = o->targets.n,
        .host = fh->def->name,
        .destroy = destroy,
    };
    kvz_plan_input_set_hosts(&in, &fh->hs);
    in.state_dir = state_dir;
    in.template_digests = (const char *const *)template_digests;
    if (kvz_plan_compute(&v->plan, &in, &e) < 0) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "host '%s': %s", fh->def->name, kvz_error_msg(e));
        v->error = kvz_buf_detach(&b);
        kvz_error_free(e);
    }
}

/* What a host's providers say every plan on it should show (vms without KVM, ...). */
static void host_warnings(struct kvz_cli *cli, struct kvz_fleet_host *fh)
{
    for (int k = 0; !fh->err && k < KVZ_N_KINDS; k++) {
        const struct kvz_provider_ops *ops = fh->hs.ops[k];
        struct kvz_buf w = KVZ_BUF_INIT;
        if (ops && ops->host_warning && fh->hs.used[k])
            ops->host_warning(&w, &fh->hs.h[k]);
        if (w.len && cli->verbosity >= 0)
            kvz_out_warn(cli, "host '%s': %s", fh->def->name, kvz_buf_cstr(&w));
        kvz_buf_release(&w);
        if (fh->hs.skipped[k] && fh->hs.used[k] && cli->verbosity >= 0)
            kvz_out_warn(cli, "host '%s': %s", fh->def->name, fh->hs.skipped[k]);
    }
}

/* Takes the lock of every host in scope, local ones included, then observes it again under the
 * lock. */
static void lock_hosts(struct kvz_hosts_run *run, const struct kvz_manifest *m,
                       const char *state_dir)
{
    for (size_t i = 0; i < run->f.n; i++)
        kvz_fleet_host_lock(&run->locks[i], &run->f.v[i], m->stack, state_dir);
}

int kvz_hosts_run_plan(struct kvz_hosts_run *out, struct kvz_cli *cli, const struct kvz_opts *o,
                       const struct kvz_manifest *m, bool destroy, bool lock)
{
    struct kvz_error *err = NULL;
    struct kvz_fleet_config cfg = {
        .m = m,
        .only = (const char *const *)o->hosts.v,
        .n_only = o->hosts.n,
        .state_dir = cli->state_dir,
    };
    memset(out, 0, sizeof(*out));
    if (cli->containers_uri || cli->vms_uri) {
        kvz_out_error(
            cli,
            "--containers-uri and --vms-uri do not go with hosts:; change the host's URIs under hosts: instead");
        return -1;
    }
    if (kvz_fleet_observe(&out->f, &cfg, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    if (!(out->v = calloc(out->f.n + 1, sizeof(*out->v))) ||
        !(out->locks = calloc(out->f.n + 1, sizeof(*out->locks)))) {
        kvz_out_error(cli, "plan: out of memory");
        return -1;
    }
    if (lock)
        lock_hosts(out, m, cli->state_dir);
    const struct kvz_hosts **hs = calloc(out->f.n + 1, sizeof(*hs));
    for (size_t i = 0; hs && i < out->f.n; i++)
        hs[i] = out->f.v[i].err ? NULL : &out->f.v[i].hs;
    int resolved = hs ? kvz_template_digests(&out->template_digests, cli, m, hs, out->f.n) : -1;
    free(hs);
    if (resolved < 0)
        return -1;
    out->n_template_digests = m->n_templates;
    for (size_t i = 0; i < out->f.n; i++) {
        plan_one(&out->v[i], &out->f.v[i], o, m, cli->state_dir, destroy, out->template_digests);
        if (!destroy)
            host_warnings(cli, &out->f.v[i]);
    }
    if (kvz_host_plans_link_moves(out->v, out->f.n) < 0) {
        kvz_out_error(cli, "plan: out of memory");
        return -1;
    }
    return 0;
}

void kvz_hosts_run_print(struct kvz_cli *cli, const struct kvz_hosts_run *run,
                         const struct kvz_stack_run *r, bool json)
{
    if (json) {
        json_t *j = kvz_host_plans_to_json(run->v, run->f.n, r->m->stack);
        json_t *src = kvz_stack_sources_json(r);
        if (j && src)
            json_object_set_new(j, "sources", src);
        else
            json_decref(src);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        else
            kvz_out_error(cli, "plan: out of memory");
        free(s);
        json_decref(j);
        return;
    }
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_stack_print_sources(cli, r);
    kvz_host_plans_render_text(&b, run->v, run->f.n, cli->color);
    fputs(kvz_buf_cstr(&b), stdout);
    kvz_buf_release(&b);
}

void kvz_hosts_run_release(struct kvz_hosts_run *run)
{
    kvz_host_plans_release(run->v, run->f.n);
    for (size_t i = 0; run->locks && i < run->f.n; i++)
        kvz_host_lock_release(&run->locks[i]);
    free(run->locks);
    free(run->v);
    kvz_template_digests_free(run->template_digests, run->n_template_digests);
    kvz_fleet_close(&run->f);
    memset(run, 0, sizeof(*run));
}

/* --format markdown (docs/hosts.md), with the commits of the git sources */
static void print_markdown(struct kvz_cli *cli, const struct kvz_hosts_run *run,
                           const struct kvz_stack_run *r)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    size_t n = 0;
    char **from = kvz_stack_from_lines(r, &n);
    if (kvz_host_plans_render_markdown(&b, run->v, run->f.n, r->m->stack, (const char *const *)from,
                                       n) < 0)
        kvz_out_error(cli, "plan: out of memory");
    else
        fputs(kvz_buf_cstr(&b), stdout);
    kvz_stack_from_lines_free(from, n);
    kvz_buf_release(&b);
}

/* plan -o: every host in scope with its plan and fingerprint (planner/planfile.h). */
static int save_plan(struct kvz_cli *cli, const struct kvz_opts *o, const struct kvz_stack_run *r,
                     const struct kvz_hosts_run *run)
{
    struct kvz_error *err = NULL;
    struct kvz_planfile_host *h = calloc(run->f.n + 1, sizeof(*h));
    char(*fp)[65] = calloc(run->f.n + 1, sizeof(*fp));
    bool oom = !h || !fp;
    const char **pins = kvz_stack_commits(r, &oom);
    int ret = -1;
    for (size_t i = 0; !oom && i < run->f.n; i++) {
        const struct kvz_fleet_host *fh = &run->f.v[i];
        if (!run->v[i].plan) {
            kvz_out_error(
                cli,
                "plan -o: host '%s' could not be planned, so no plan file was saved (a saved plan holds every host in scope); fix it, or leave it out with --host",
                run->v[i].host);
            goto cleanup;
        }
        if (kvz_observed_fingerprint(fp[i], fh->hs.observed, KVZ_N_KINDS, r->m->stack, r->m, &err) <
            0)
            goto cleanup;
        h[i].name = fh->def->name;
        for (int k = 0; k < KVZ_N_KINDS; k++)
            h[i].uri[k] = k < 2 ? fh->def->uri[k] : NULL;
        h[i].fingerprint = fp[i];
        oom = !(h[i].plan = kvz_plan_to_json(run->v[i].plan));
    }
    const struct kvz_planfile_source src = {
        .m = r->m,
        .paths = o->files.v,
        .commits = pins,
        .n_paths = o->files.n,
        .targets = o->targets.v,
        .n_targets = o->targets.n,
    };
    if (oom)
        kvz_error_set(&err, "plan: out of memory");
    else if (kvz_planfile_write_hosts(o->out, &src, o->hosts.v, o->hosts.n, h, run->f.n, &err) == 0)
        ret = 0;
cleanup:
    if (err)
        kvz_out_kvz_error(cli, err);
    kvz_error_free(err);
    for (size_t i = 0; h && i < run->f.n; i++)
        json_decref(h[i].plan);
    free(h);
    free(fp);
    free(pins);
    return ret;
}

int kvz_cmd_plan_hosts(struct kvz_cli *cli, const struct kvz_opts *o, const struct kvz_stack_run *r)
{
    const struct kvz_manifest *m = r->m;
    struct kvz_hosts_run run;
    int rc = KVZ_EXIT_ERROR;
    if (kvz_hosts_run_plan(&run, cli, o, m, false, false) < 0)
        goto cleanup;
    if (o->markdown)
        print_markdown(cli, &run, r);
    else
        kvz_hosts_run_print(cli, &run, r, o->json);
    size_t failed = kvz_host_plans_n_failed(run.v, run.f.n);
    for (size_t i = 0; i < run.f.n; i++)
        if (!run.v[i].plan)
            kvz_out_error(cli, "%s", run.v[i].error);
    if (failed) {
        kvz_out_error(
            cli,
            "plan: %zu of %zu hosts could not be planned; fix them, or leave them out with --host",
            failed, run.f.n);
        if (o->out)
            kvz_out_error(
                cli, "plan -o: no plan file was saved (a saved plan holds every host in scope)");
        goto cleanup;
    }
    if (o->out) {
        if (save_plan(cli, o, r, &run) < 0)
            goto cleanup;
        if (!o->json && !o->markdown && cli->verbosity >= 0)
            printf("\nSaved the plan of %zu %s to '%s'; apply exactly it with 'kvz apply %s'.\n",
                   run.f.n, run.f.n == 1 ? "host" : "hosts", o->out, o->out);
    }
    rc = o->detailed && kvz_host_plans_n_changes(run.v, run.f.n) ? KVZ_EXIT_CHANGES : KVZ_EXIT_OK;
cleanup:
    kvz_hosts_run_release(&run);
    return rc;
}
