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
    char fp[65];

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0 ||
        kvz_stack_load(cli, &r, o.files.v, o.files.n) < 0)
        goto cleanup;
    if (kvz_cmd_many_hosts(r.m, &o)) {
        rc = kvz_cmd_plan_hosts(cli, &o, r.m);
        goto cleanup;
    }
    if (kvz_stack_observe(cli, &r, NULL) < 0 ||
        kvz_stack_plan(cli, &r, o.targets.v, o.targets.n, false) < 0)
        goto cleanup;
    kvz_stack_print_plan(cli, r.plan, o.json);
    if (o.out) {
        struct kvz_error *err = NULL;
        if (kvz_stack_fingerprint(cli, &r, fp) < 0)
            goto cleanup;
        const char *uri[KVZ_N_KINDS] = {r.hs.uri[0], r.hs.uri[1]};
        if (kvz_planfile_write(o.out, r.plan, r.m, o.files.v, o.files.n, o.targets.v, o.targets.n,
                               uri, fp, &err) < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            goto cleanup;
        }
        if (!o.json && cli->verbosity >= 0)
            printf("\nSaved the plan to '%s'; apply exactly it with 'kvz apply %s'.\n", o.out,
                   o.out);
    }
    rc = o.detailed && kvz_plan_n_changes(r.plan) ? KVZ_EXIT_CHANGES : KVZ_EXIT_OK;
cleanup:
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
