#include "cmd/cli.h"

#include "cmd/options.h"
#include "cmd/plan_hosts.h"
#include "cmd/stack.h"
#include "planner/planfile.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_plan(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    int rc = KVZ_EXIT_ERROR;

    kvz_out_json_begin(cli, argc, argv);
    char fp[65];

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    int opened = kvz_stack_open(cli, &r, &o, KVZ_STACK_PLAN | KVZ_STACK_HOSTS);
    if (opened < 0) {
        rc = kvz_stack_fail_rc(&r);
        goto cleanup;
    }
    if (opened == 1) {
        rc = kvz_cmd_plan_hosts(cli, &o, &r);
        goto cleanup;
    }
    if (o.markdown)
        kvz_stack_print_markdown(cli, &r);
    else
        kvz_stack_print_plan(cli, &r, r.plan, o.json);
    if (o.out) {
        struct kvz_error *err = NULL;
        if (kvz_stack_fingerprint(cli, &r, fp) < 0)
            goto cleanup;
        const char *uri[KVZ_N_KINDS] = {r.hs.uri[0], r.hs.uri[1]};
        bool oom;
        const char **pins = kvz_stack_commits(&r, &oom);
        int w = oom ? kvz_error_set(&err, "plan: out of memory")
                    : kvz_planfile_write(o.out, r.plan, r.m, o.files.v, pins, o.files.n,
                                         o.targets.v, o.targets.n, uri, fp, &err);
        free(pins);
        if (w < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            goto cleanup;
        }
        if (!o.json && !o.markdown && cli->verbosity >= 0)
            printf("\nSaved the plan to '%s'; apply exactly it with 'kvz apply %s'.\n", o.out,
                   o.out);
    }
    rc = o.detailed && kvz_plan_n_changes(r.plan) ? KVZ_EXIT_CHANGES : KVZ_EXIT_OK;
cleanup:
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return kvz_out_json_end(cli, rc);
}
