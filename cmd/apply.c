#include "cmd/cli.h"

#include "cmd/apply_hosts.h"
#include "cmd/options.h"
#include "cmd/plan_hosts.h"
#include "cmd/stack.h"
#include "planner/planfile.h"
#include "planner/templates_resolve.h"

#include <stdio.h>

/* --max-disruption: refuse before touching anything (docs/cli.md). */
static int check_disruption(struct kvz_cli *cli, const struct kvz_plan *p, enum kvz_disruption max)
{
    const struct kvz_change *worst = NULL;
    enum kvz_disruption d = kvz_plan_disruption(p, &worst);
    if (d <= max)
        return 0;
    kvz_out_error(
        cli, "%s '%s' would %s (disruption '%s'), beyond --max-disruption %s; nothing was changed",
        kvz_kind_str(worst->kind), worst->name, kvz_action_str(worst->action),
        kvz_disruption_str(kvz_change_disruption(worst)), kvz_disruption_str(max));
    return -1;
}

/* kvz apply PLANFILE: the saved manifests and targets, re-observed; stale plans refused. 1: a
 * plan of many hosts, loaded but not yet checked. */
static int load_planfile(struct kvz_cli *cli, struct kvz_stack_run *r, const char *file,
                         const struct kvz_opts *o, struct kvz_planfile **pf)
{
    struct kvz_error *err = NULL;
    char fp[65];
    if (kvz_planfile_read(pf, file, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    const char *uri[KVZ_N_KINDS] = {(*pf)->uri[0], (*pf)->uri[1]};
    /* git sources: exactly the commits planned, even after their branch moved */
    r->pins = (const char *const *)(*pf)->commits;
    r->offline = o->offline;
    r->require_signed = o->require_signed;
    if (kvz_stack_load(cli, r, (const char *const *)(*pf)->paths, (*pf)->n_paths) < 0)
        return -1;
    /* the templates as planned, not as the catalogs or kvz.lock say now */
    if (kvz_templates_apply_recorded(r->m, &(*pf)->templates, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    if ((*pf)->many)
        return 1; /* the hosts' path checks it (cmd/apply_hosts.c) */
    if (r->m->hosts_declared) {
        kvz_out_error(
            cli,
            "stale plan: it was made of manifests without hosts:, which have hosts: now; run 'kvz plan -o' again and review the new plan");
        return -1;
    }
    if (kvz_stack_lock(cli, r) < 0 || kvz_stack_observe(cli, r, uri) < 0 ||
        kvz_stack_plan(cli, r, (const char *const *)(*pf)->targets, (*pf)->n_targets, false) < 0 ||
        kvz_stack_fingerprint(cli, r, fp) < 0)
        return -1;
    if (kvz_planfile_check(*pf, r->m, fp, r->plan, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    return 0;
}

int cmd_apply(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_planfile *pf = NULL;
    int rc = KVZ_EXIT_ERROR;
    int opened = 0;

    kvz_out_json_begin(cli, argc, argv);

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    bool auto_approve = o.auto_approve;
    if (o.json && !auto_approve && !o.args.n) {
        kvz_out_error(
            cli,
            "--json leaves no room for a question: pass --auto-approve too, or apply a plan file");
        goto cleanup;
    }
    if (o.args.n) {
        if (o.files.n || o.targets.n || o.hosts.n) {
            kvz_out_error(
                cli,
                "a plan file holds its manifests, targets and hosts; drop -f, --target and --host, or drop the plan file");
            goto cleanup;
        }
        int many = load_planfile(cli, &r, o.args.v[0], &o, &pf);
        if (many < 0) {
            rc = kvz_stack_fail_rc(&r);
            goto cleanup;
        }
        if (many) {
            rc = kvz_cmd_apply_planfile_hosts(cli, &o, &r, pf);
            if (rc == KVZ_EXIT_OK && !o.json)
                kvz_stack_git_applied(cli, &r, (const char *const *)pf->paths, false);
            goto cleanup;
        }
        /* the saved plan was reviewed when it was made: it is the approval */
        auto_approve = true;
    } else if ((opened = kvz_stack_open(cli, &r, &o,
                                        KVZ_STACK_LOCK | KVZ_STACK_PLAN | KVZ_STACK_HOSTS)) < 0) {
        rc = kvz_stack_fail_rc(&r);
        goto cleanup;
    } else if (opened == 1) {
        rc = kvz_cmd_apply_hosts(cli, &o, &r, false);
        if (rc == KVZ_EXIT_OK && !o.json)
            kvz_stack_git_applied(cli, &r, o.files.v, false);
        goto cleanup;
    }
    /* -q with nothing to ask: only the run's summary (and errors) */
    bool show_plan = !o.json && (cli->verbosity >= 0 || !auto_approve);
    if (show_plan || (!o.json && !kvz_plan_n_changes(r.plan)))
        kvz_stack_print_plan(cli, &r, r.plan, false);
    const char *const *paths = pf ? (const char *const *)pf->paths : o.files.v;
    if (!kvz_plan_n_changes(r.plan)) {
        if (!o.json)
            kvz_stack_git_applied(cli, &r, paths, true);
        if (o.json)
            kvz_stack_print_plan(cli, &r, r.plan, true);
        rc = KVZ_EXIT_OK;
        goto cleanup;
    }
    if (check_disruption(cli, r.plan, o.max_disruption) < 0) {
        rc = KVZ_EXIT_DISRUPTION;
        goto cleanup;
    }
    if (kvz_stack_approve(cli, auto_approve, "apply", "changes") < 0)
        goto cleanup;
    if (show_plan)
        putchar('\n');
    rc = kvz_stack_execute(cli, &r, "Apply", o.parallel, o.force, o.json) < 0 ? KVZ_EXIT_ERROR
                                                                              : KVZ_EXIT_OK;
    if (rc == KVZ_EXIT_OK)
        kvz_stack_git_applied(cli, &r, paths, false);
cleanup:
    kvz_planfile_free(pf);
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return kvz_out_json_end(cli, rc);
}
