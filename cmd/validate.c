#include "cmd/cli.h"

#include "base/buf.h"
#include "cmd/options.h"
#include "cmd/stack.h"
#include "parser/manifest.h"

#include "parser/git_source.h"

#include <stdio.h>
#include <stdlib.h>

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int cmd_validate(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    struct kvz_buf what = KVZ_BUF_INIT;
    struct kvz_stack_run run = KVZ_STACK_RUN_INIT;
    int rc = KVZ_EXIT_ERROR;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    const struct kvz_paths paths = o.files;
    if (kvz_stack_has_git(paths.v, paths.n)) {
        run.offline = o.offline;
        run.require_signed = o.require_signed;
        if (kvz_stack_load_git(cli, &run, paths.v, paths.n) < 0) {
            rc = kvz_stack_fail_rc(&run);
            goto cleanup;
        }
        m = run.m;
        run.m = NULL;
        if (cli->verbosity >= 0)
            kvz_stack_print_sources(cli, &run);
    } else {
        int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
        kvz_out_diags(cli, &diags);
        if (loaded < 0)
            goto cleanup;
    }
    if (cli->verbosity >= 0) {
        if (!paths.n)
            kvz_buf_puts(&what, "kvz.yaml");
        for (size_t i = 0; i < paths.n; i++) {
            char *shown = kvz_git_source_redact(paths.v[i]);
            kvz_buf_printf(&what, "%s%s", i ? ", " : "", shown ? shown : paths.v[i]);
            free(shown);
        }
        size_t n[KVZ_N_KINDS] = {0};
        for (size_t i = 0; i < m->n_resources; i++)
            n[m->resources[i].kind]++;
        struct kvz_buf nets = KVZ_BUF_INIT;
        size_t nn = n[KVZ_KIND_NETWORK], nc = n[KVZ_KIND_CONTAINER], nv = n[KVZ_KIND_VM];
        if (nn)
            kvz_buf_printf(&nets, "%zu %s, ", nn, plural(nn, "network", "networks"));
        printf("%s: %svalid%s (%s%zu %s, %zu %s, %zu %s)\n", kvz_buf_cstr(&what),
               kvz_color(cli->color, KVZ_GREEN), kvz_color(cli->color, KVZ_RESET),
               kvz_buf_cstr(&nets), nc, plural(nc, "container", "containers"), nv,
               plural(nv, "vm", "vms"), m->n_templates,
               plural(m->n_templates, "template", "templates"));
        kvz_buf_release(&nets);
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_manifest_free(m);
    kvz_stack_release(&run);
    kvz_diags_release(&diags);
    kvz_opts_release(&o);
    kvz_buf_release(&what);
    return rc;
}
