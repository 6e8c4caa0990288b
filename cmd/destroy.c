#include "cmd/cli.h"

#include "cmd/options.h"
#include "cmd/stack.h"

#include <stdio.h>

int cmd_destroy(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    int rc = KVZ_EXIT_ERROR;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0 ||
        kvz_stack_open(cli, &r, &o, KVZ_STACK_LOCK | KVZ_STACK_PLAN | KVZ_STACK_DESTROY) < 0)
        goto cleanup;
    /* -q with nothing to ask: only the run's summary (and errors) */
    bool show_plan = cli->verbosity >= 0 || !o.auto_approve;
    if (show_plan || !kvz_plan_n_changes(r.plan))
        kvz_stack_print_plan(cli, &r, r.plan, false);
    if (!kvz_plan_n_changes(r.plan)) {
        /* a destroy that died before its storage went finishes it now */
        rc = kvz_stack_prune_storage(cli, &r.hs) < 0 ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
        goto cleanup;
    }
    if (kvz_stack_approve(cli, o.auto_approve, "destroy", "resources") < 0)
        goto cleanup;
    if (show_plan)
        putchar('\n');
    rc = kvz_stack_execute(cli, &r, "Destroy", o.parallel, o.force, false) < 0 ? KVZ_EXIT_ERROR
                                                                               : KVZ_EXIT_OK;
    /* what the destroyed guests used and no other guest does: base volumes, the pool */
    if (rc == KVZ_EXIT_OK && kvz_stack_prune_storage(cli, &r.hs) < 0)
        rc = KVZ_EXIT_ERROR;
cleanup:
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
