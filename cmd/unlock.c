/*
 * kvz unlock --host NAME: removes the lock held on a remote host (docs/hosts.md), whoever holds
 * it: for a holder that crashed on another machine, which kvz cannot see is gone.
 */
#include "cmd/cli.h"

#include "cmd/options.h"
#include "cmd/stack.h"
#include "providers/host_lock.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_unlock(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    int rc = KVZ_EXIT_ERROR;
    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    if (o.hosts.n != 1) {
        kvz_out_error(cli, "unlock: name the host with --host NAME, once");
        goto cleanup;
    }
    if (kvz_stack_load(cli, &r, o.files.v, o.files.n) < 0)
        goto cleanup;
    const struct kvz_host_def *def = kvz_manifest_host(r.m, o.hosts.v[0]);
    if (!def) {
        kvz_out_error(
            cli, "--host '%s' is not a host of the manifests; name one of hosts:", o.hosts.v[0]);
        goto cleanup;
    }
    struct kvz_error *err = NULL;
    struct kvz_hosts hs;
    struct kvz_hosts_config cfg = {
        .m = r.m,
        .uri = {def->uri[KVZ_KIND_CONTAINER], def->uri[KVZ_KIND_VM]},
        .state_dir = cli->state_dir,
        .host = def->name,
    };
    if (kvz_hosts_open(&hs, &cfg, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        goto cleanup;
    }
    struct _virConnect *conn = NULL;
    for (int k = 0; k < KVZ_N_KINDS && !conn; k++)
        conn = hs.h[k].conn;
    char *holder = NULL;
    if (!conn) {
        kvz_out_error(cli, "host '%s': no connection to it", def->name);
    } else if (kvz_host_unlock(&holder, conn, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
    } else {
        if (holder)
            printf("Removed the lock of host '%s', held by %s.\n", def->name, holder);
        else
            printf("Host '%s' has no lock.\n", def->name);
        rc = KVZ_EXIT_OK;
    }
    free(holder);
    kvz_hosts_close(&hs);
cleanup:
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
