#include "cmd/cli.h"

#include "cmd/stack.h"

#include <getopt.h>
#include <stdio.h>


int cmd_destroy(struct kvz_cli *cli, int argc, char **argv)
{
    enum { OPT_AUTO = 256, OPT_TARGET };
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"auto-approve", no_argument, NULL, OPT_AUTO},
        {"target", required_argument, NULL, OPT_TARGET},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0}, targets = {0};
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    bool auto_approve = false;
    int rc = KVZ_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (kvz_paths_add(&paths, optarg) < 0)
                goto oom;
            break;
        case OPT_AUTO:
            auto_approve = true;
            break;
        case OPT_TARGET:
            if (kvz_paths_add(&targets, optarg) < 0)
                goto oom;
            break;
        case ':':
            kvz_out_error(cli, "option '%s' needs a value; run 'kvz help destroy'",
                          argv[optind - 1]);
            goto cleanup;
        default:
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help destroy'", argv[optind - 1]);
            goto cleanup;
        }
    }
    if (optind < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; give manifests with -f PATH", argv[optind]);
        goto cleanup;
    }
    if (kvz_stack_load(cli, &r, paths.v, paths.n) < 0 || kvz_stack_lock(cli, &r) < 0 ||
        kvz_stack_observe(cli, &r, NULL) < 0 ||
        kvz_stack_plan(cli, &r, targets.v, targets.n, true) < 0)
        goto cleanup;
    kvz_stack_print_plan(cli, r.plan, false);
    if (!kvz_plan_n_changes(r.plan)) {
        rc = KVZ_EXIT_OK;
        goto cleanup;
    }
    if (kvz_stack_approve(cli, auto_approve, "destroy") < 0)
        goto cleanup;
    putchar('\n');
    rc = kvz_stack_execute(cli, &r, "Destroy", 4, false) < 0 ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
    goto cleanup;
oom:
    kvz_out_error(cli, "out of memory");
cleanup:
    kvz_stack_release(&r);
    kvz_paths_release(&paths);
    kvz_paths_release(&targets);
    return rc;
}
