#include "cmd/cli.h"

#include "cmd/stack.h"
#include "planner/planfile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* --max-disruption: refuse before touching anything (SPEC.md section 2). */
static int check_disruption(struct kvz_cli *cli, const struct kvz_plan *p, enum kvz_disruption max)
{
    const struct kvz_change *worst = NULL;
    enum kvz_disruption d = kvz_plan_disruption(p, &worst);
    if (d <= max)
        return 0;
    kvz_out_error(cli,
                  "%s '%s' would %s (disruption '%s'), beyond --max-disruption %s; nothing was "
                  "changed",
                  kvz_kind_str(worst->kind), worst->name, kvz_action_str(worst->action),
                  kvz_disruption_str(kvz_change_disruption(worst)), kvz_disruption_str(max));
    return -1;
}

/* kvz apply PLANFILE: the saved manifests and targets, re-observed; stale plans refused. */
static int load_planfile(struct kvz_cli *cli, struct kvz_stack_run *r, const char *file,
                         struct kvz_planfile **pf)
{
    struct kvz_error *err = NULL;
    char fp[65];
    if (kvz_planfile_read(pf, file, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return -1;
    }
    const char *uri[KVZ_N_KINDS] = {(*pf)->uri[0], (*pf)->uri[1]};
    if (kvz_stack_load(cli, r, (const char *const *)(*pf)->paths, (*pf)->n_paths) < 0 ||
        kvz_stack_lock(cli, r) < 0 || kvz_stack_observe(cli, r, uri) < 0 ||
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

int cmd_apply(struct kvz_cli *cli, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_AUTO, OPT_PARALLEL, OPT_TARGET, OPT_MAXD };
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, OPT_JSON},
        {"auto-approve", no_argument, NULL, OPT_AUTO},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"target", required_argument, NULL, OPT_TARGET},
        {"max-disruption", required_argument, NULL, OPT_MAXD},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0}, targets = {0};
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_planfile *pf = NULL;
    enum kvz_disruption max = KVZ_DISRUPT_DESTROY;
    bool json = false, auto_approve = false;
    unsigned parallel = 4;
    int rc = KVZ_EXIT_ERROR, c;
    char *end;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (kvz_paths_add(&paths, optarg) < 0)
                goto oom;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_AUTO:
            auto_approve = true;
            break;
        case OPT_PARALLEL: {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || v < 1 || v > 64) {
                kvz_out_error(cli, "--parallel '%s': give a number from 1 to 64", optarg);
                goto cleanup;
            }
            parallel = (unsigned)v;
            break;
        }
        case OPT_TARGET:
            if (kvz_paths_add(&targets, optarg) < 0)
                goto oom;
            break;
        case OPT_MAXD:
            if (kvz_disruption_parse(&max, optarg) < 0) {
                kvz_out_error(cli, "--max-disruption '%s': use live, restart or destroy", optarg);
                goto cleanup;
            }
            break;
        case ':':
            kvz_out_error(cli, "option '%s' needs a value; run 'kvz help apply'", argv[optind - 1]);
            goto cleanup;
        default:
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help apply'", argv[optind - 1]);
            goto cleanup;
        }
    }
    if (optind + 1 < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; 'kvz apply' takes one plan file",
                      argv[optind + 1]);
        goto cleanup;
    }
    if (json && !auto_approve && optind == argc) {
        kvz_out_error(cli, "--json leaves no room for a question: pass --auto-approve too, or "
                           "apply a plan file");
        goto cleanup;
    }
    if (optind < argc) {
        if (paths.n || targets.n) {
            kvz_out_error(cli, "a plan file holds its manifests and targets; drop -f and "
                               "--target, or drop the plan file");
            goto cleanup;
        }
        if (load_planfile(cli, &r, argv[optind], &pf) < 0)
            goto cleanup;
        /* the saved plan was reviewed when it was made: it is the approval */
        auto_approve = true;
    } else if (kvz_stack_load(cli, &r, paths.v, paths.n) < 0 || kvz_stack_lock(cli, &r) < 0 ||
               kvz_stack_observe(cli, &r, NULL) < 0 ||
               kvz_stack_plan(cli, &r, targets.v, targets.n, false) < 0) {
        goto cleanup;
    }
    if (!json)
        kvz_stack_print_plan(cli, r.plan, false);
    if (!kvz_plan_n_changes(r.plan)) {
        if (json)
            kvz_stack_print_plan(cli, r.plan, true);
        rc = KVZ_EXIT_OK;
        goto cleanup;
    }
    if (check_disruption(cli, r.plan, max) < 0 || kvz_stack_approve(cli, auto_approve, "apply") < 0)
        goto cleanup;
    if (!json)
        putchar('\n');
    rc = kvz_stack_execute(cli, &r, "Apply", parallel, json) < 0 ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
    goto cleanup;
oom:
    kvz_out_error(cli, "out of memory");
cleanup:
    kvz_planfile_free(pf);
    kvz_stack_release(&r);
    kvz_paths_release(&paths);
    kvz_paths_release(&targets);
    return rc;
}
