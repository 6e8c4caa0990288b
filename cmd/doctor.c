/*
 * kvz doctor: can this host run the manifests? One line per check: ok, or the
 * problem and what to do (the checks are providers/doctor.c's). Exit 1 when a
 * problem blocks the manifests given (without manifests: any problem).
 */
#include "cmd/cli.h"

#include "cmd/options.h"
#include "parser/manifest.h"
#include "providers/doctor.h"
#include "providers/doctor_host.h"

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

int cmd_doctor(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    struct kvz_checks checks = {0};
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    const struct kvz_paths paths = o.files;
    /* Without -f, ./kvz.yaml when there is one; else check for everything kvz can do. */
    if (paths.n || access("kvz.yaml", F_OK) == 0) {
        int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
        kvz_out_diags(cli, &diags);
        if (loaded < 0)
            goto cleanup;
    }
    if (o.hosts.n) {
        /* kvz doctor --host NAME...: those hosts of hosts:, each through libvirt */
        rc = KVZ_EXIT_OK;
        for (size_t i = 0; i < o.hosts.n; i++) {
            const struct kvz_host_def *def = m ? kvz_manifest_host(m, o.hosts.v[i]) : NULL;
            if (!def) {
                kvz_out_error(cli,
                              "--host '%s' is not a host of the manifests; give -f with its hosts:",
                              o.hosts.v[i]);
                rc = KVZ_EXIT_ERROR;
                continue;
            }
            printf("%sHost %s:\n", i ? "\n" : "", def->name);
            if (kvz_doctor_host(&checks, def, cli->state_dir, &err) < 0) {
                kvz_out_kvz_error(cli, err);
                kvz_error_free(err);
                err = NULL;
                rc = KVZ_EXIT_ERROR;
                continue;
            }
            print_checks(cli, &checks);
            if (checks.blocked)
                rc = KVZ_EXIT_ERROR;
            kvz_checks_release(&checks);
        }
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
    kvz_opts_release(&o);
    return rc;
}
