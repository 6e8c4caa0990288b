/*
 * kvz doctor: can this host run the manifests? One line per check: ok, or the
 * problem and what to do (the checks are providers/doctor.c's). Exit 1 when a
 * problem blocks the manifests given (without manifests: any problem).
 */
#include "cmd/cli.h"

#include "parser/manifest.h"
#include "providers/doctor.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void print_checks(struct kvz_cli *cli, const struct kvz_checks *c)
{
    static const char *const label[] = {"ok", "warn", "FAIL"};
    static const char *const color[] = {KVZ_GREEN, KVZ_YELLOW, KVZ_RED};
    for (size_t i = 0; i < c->n; i++) {
        const struct kvz_check *k = &c->v[i];
        printf("%s%-4s%s %s: %s\n", kvz_color(cli->color, color[k->status]), label[k->status],
               kvz_color(cli->color, KVZ_RESET), k->name, k->msg);
    }
}

int cmd_doctor(struct kvz_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0};
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    struct kvz_checks checks = {0};
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
        if (c == 'f' && kvz_paths_add(&paths, optarg) == 0)
            continue;
        if (c == 'f')
            kvz_out_error(cli, "out of memory");
        else if (optopt == 'f')
            kvz_out_error(cli, "option '-f' needs a path; run 'kvz help doctor'");
        else
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help doctor'", argv[optind - 1]);
        goto cleanup;
    }
    if (optind < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; give manifests with -f PATH", argv[optind]);
        goto cleanup;
    }
    /* Without -f, ./kvz.yaml when there is one; else check for everything kvz can do. */
    if (paths.n || access("kvz.yaml", F_OK) == 0) {
        int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
        kvz_out_diags(cli, &diags);
        if (loaded < 0)
            goto cleanup;
    }
    struct kvz_doctor_input in = {
        .m = m,
        .uri = {cli->containers_uri, cli->vms_uri},
        .state_dir = cli->state_dir,
    };
    if (kvz_doctor_run(&checks, &in, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        goto cleanup;
    }
    print_checks(cli, &checks);
    rc = checks.blocked ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
cleanup:
    kvz_checks_release(&checks);
    kvz_manifest_free(m);
    kvz_diags_release(&diags);
    kvz_paths_release(&paths);
    return rc;
}
