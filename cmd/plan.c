#include "cmd/cli.h"

#include "cmd/stack.h"
#include "planner/planfile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>


int cmd_plan(struct kvz_cli *cli, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_DETAILED, OPT_TARGET };
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        {"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
        {"target", required_argument, NULL, OPT_TARGET},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0}, targets = {0};
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    const char *out = NULL;
    bool json = false, detailed = false;
    int rc = KVZ_EXIT_ERROR, c;
    char fp[65];

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (kvz_paths_add(&paths, optarg) < 0)
                goto oom;
            break;
        case 'o':
            out = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_DETAILED:
            detailed = true;
            break;
        case OPT_TARGET:
            if (kvz_paths_add(&targets, optarg) < 0)
                goto oom;
            break;
        case ':':
            kvz_out_error(cli, "option '%s' needs a value; run 'kvz help plan'", argv[optind - 1]);
            goto cleanup;
        default:
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help plan'", argv[optind - 1]);
            goto cleanup;
        }
    }
    if (optind < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; give manifests with -f PATH", argv[optind]);
        goto cleanup;
    }
    if (kvz_stack_load(cli, &r, paths.v, paths.n) < 0 || kvz_stack_observe(cli, &r, NULL) < 0 ||
        kvz_stack_plan(cli, &r, targets.v, targets.n, false) < 0)
        goto cleanup;
    kvz_stack_print_plan(cli, r.plan, json);
    if (out) {
        struct kvz_error *err = NULL;
        if (kvz_stack_fingerprint(cli, &r, fp) < 0)
            goto cleanup;
        const char *uri[KVZ_N_KINDS] = {r.hs.uri[0], r.hs.uri[1]};
        if (kvz_planfile_write(out, r.plan, r.m, paths.v, paths.n, targets.v, targets.n, uri, fp,
                               &err) < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_free(err);
            goto cleanup;
        }
        if (!json && cli->verbosity >= 0)
            printf("\nSaved the plan to '%s'; apply exactly it with 'kvz apply %s'.\n", out, out);
    }
    rc = detailed && kvz_plan_n_changes(r.plan) ? KVZ_EXIT_CHANGES : KVZ_EXIT_OK;
    goto cleanup;
oom:
    kvz_out_error(cli, "out of memory");
cleanup:
    kvz_stack_release(&r);
    kvz_paths_release(&paths);
    kvz_paths_release(&targets);
    return rc;
}
