#include "cmd/cli.h"

#include "base/buf.h"
#include "cmd/options.h"
#include "cmd/stack.h"
#include "parser/units.h"
#include "planner/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The manifests' guest `name`, or NULL (printed why). */
static const struct kvz_resource *wanted(struct kvz_cli *cli, const struct kvz_manifest *m,
                                         const char *name)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *w = &m->resources[i];
        if (strcmp(w->name, name))
            continue;
        if (w->kind == KVZ_KIND_NETWORK) {
            kvz_out_error(cli,
                          "'%s' is a network: kvz import adopts guests; let 'kvz apply' make the "
                          "network, or give it another name",
                          name);
            return NULL;
        }
        return w;
    }
    kvz_out_error(cli,
                  "'%s' is not in the manifests; add it as a container or vm (with its memory, "
                  "cpus and template) before importing it",
                  name);
    return NULL;
}

static void print_adoption(const struct kvz_resource *w, const struct kvz_adoption *a, bool dry)
{
    struct kvz_buf mem = KVZ_BUF_INIT, cpus = KVZ_BUF_INIT;
    kvz_size_human(&mem, a->memory);
    kvz_cpus_human(&cpus, a->cpus_milli);
    const char *kind = kvz_kind_str(w->kind);
    if (a->already)
        printf("%s '%s' is this stack's already: nothing to record\n", kind, w->name);
    else {
        char state[48];
        snprintf(state, sizeof(state), a->running ? "running, domain id %d" : "stopped", a->id);
        printf("%s %s '%s' (%s): %s %s, mac %s, memory %s, cpus %s\n",
               dry ? "would import" : "imported", kind, w->name, state,
               w->kind == KVZ_KIND_VM ? "disk" : "storage", a->storage, a->mac ? a->mac : "none",
               kvz_buf_cstr(&mem), kvz_buf_cstr(&cpus));
    }
    kvz_buf_release(&mem);
    kvz_buf_release(&cpus);
}

int cmd_import(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;
    size_t done = 0, failed = 0;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    if (!o.args.n) {
        kvz_out_error(cli,
                      "give the names of the guests to import: 'kvz import [-f PATH]... NAME...'");
        goto cleanup;
    }
    if (kvz_stack_open(cli, &r, &o, o.dry_run ? 0 : KVZ_STACK_LOCK) < 0)
        goto cleanup;
    if (!o.dry_run && kvz_provenance(&r.source, r.m, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    for (int k = 0; k < KVZ_N_KINDS; k++)
        r.hs.h[k].source = r.source;
    for (size_t i = 0; i < o.args.n; i++) {
        const struct kvz_resource *w = wanted(cli, r.m, o.args.v[i]);
        const struct kvz_provider_ops *ops = w ? r.hs.ops[w->kind] : NULL;
        struct kvz_adoption a;
        if (w && (!ops || !ops->adopt)) {
            kvz_out_error(cli, "%s '%s': this kind cannot be imported", kvz_kind_str(w->kind),
                          w->name);
        } else if (w && ops->adopt(&a, &r.hs.h[w->kind], w, o.dry_run, &err) < 0) {
            kvz_out_kvz_error(cli, err);
            kvz_error_clear(&err);
        } else if (w) {
            print_adoption(w, &a, o.dry_run);
            kvz_adoption_release(&a);
            done++;
            continue;
        }
        failed++;
    }
    if (done && !o.dry_run && cli->verbosity >= 0)
        printf("\nRun 'kvz plan' to see how %s from the manifests (live, restart or replace).\n",
               done == 1 ? "it differs" : "they differ");
    rc = failed ? KVZ_EXIT_ERROR : KVZ_EXIT_OK;
cleanup:
    kvz_error_free(err);
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
