#include "cmd/cli.h"

#include "base/buf.h"
#include "parser/manifest.h"

#include <getopt.h>
#include <stdio.h>


static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int cmd_validate(struct kvz_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0};
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    struct kvz_buf what = KVZ_BUF_INIT;
    int rc = KVZ_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (kvz_paths_add(&paths, optarg) < 0) {
                kvz_out_error(cli, "out of memory");
                goto cleanup;
            }
            break;
        default:
            if (optopt == 'f')
                kvz_out_error(cli, "option '-f' needs a path; run 'kvz help validate'");
            else
                kvz_out_error(cli, "unknown option '%s'; run 'kvz help validate'",
                              argv[optind - 1]);
            goto cleanup;
        }
    }
    if (optind < argc) {
        kvz_out_error(cli, "unexpected argument '%s'; give manifests with -f PATH", argv[optind]);
        goto cleanup;
    }
    int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
    kvz_out_diags(cli, &diags);
    if (loaded < 0)
        goto cleanup;
    if (cli->verbosity >= 0) {
        if (!paths.n)
            kvz_buf_puts(&what, "kvz.yaml");
        for (size_t i = 0; i < paths.n; i++)
            kvz_buf_printf(&what, "%s%s", i ? ", " : "", paths.v[i]);
        size_t nc = 0, nv = 0;
        for (size_t i = 0; i < m->n_resources; i++)
            m->resources[i].kind == KVZ_KIND_VM ? nv++ : nc++;
        printf("%s: %svalid%s (%zu %s, %zu %s, %zu %s)\n", kvz_buf_cstr(&what),
               kvz_color(cli->color, KVZ_GREEN), kvz_color(cli->color, KVZ_RESET), nc,
               plural(nc, "container", "containers"), nv, plural(nv, "vm", "vms"), m->n_templates,
               plural(m->n_templates, "template", "templates"));
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_manifest_free(m);
    kvz_diags_release(&diags);
    kvz_paths_release(&paths);
    kvz_buf_release(&what);
    return rc;
}
