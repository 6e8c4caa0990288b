#include "cmd/status_table.h"

#include "base/buf.h"
#include "cmd/cli.h"
#include "cmd/options.h"
#include "providers/hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * kvz status --all: every guest and network carrying kvz's metadata on the connections (the
 * default URIs, or --containers-uri/--vms-uri), whatever its stack, without a manifest. Drift
 * is what the host alone shows (missing storage, a live change the guest did not take); the
 * rest needs the stack's manifests (kvz status -f).
 */

static void host_drift(struct kvz_buf *b, const struct kvz_observed_resource *h)
{
    if (h->problem)
        kvz_buf_printf(b, "replace: %s", h->problem);
    else if (h->kind != KVZ_KIND_NETWORK && !h->storage_ok && h->kind == KVZ_KIND_CONTAINER)
        kvz_buf_puts(b, "replace: rootfs missing");
    else if (h->seed_missing)
        kvz_buf_puts(b, "update: seed missing");
    else if (h->kind == KVZ_KIND_VM && h->running && h->memory_actual &&
             h->memory_actual != h->memory)
        kvz_buf_puts(b, "memory not taken by the guest (no balloon driver)");
    else
        kvz_buf_puts(b, "unknown without the manifest");
}

static int cmp_row(const void *a, const void *b)
{
    const struct kvz_observed_resource *x = *(const struct kvz_observed_resource *const *)a,
                                       *y = *(const struct kvz_observed_resource *const *)b;
    int c = strcmp(x->stack, y->stack);
    return c ? c : x->kind != y->kind ? (int)x->kind - (int)y->kind : strcmp(x->name, y->name);
}

int kvz_status_all(struct kvz_cli *cli, const struct kvz_opts *o)
{
    struct kvz_hosts hs;
    struct kvz_error *err = NULL;
    struct kvz_status_table table = {.with_stack = true};
    const struct kvz_observed_resource **v = NULL;
    size_t n = 0, cap = 0;
    json_t *rows = NULL;
    int rc = KVZ_EXIT_ERROR;

    if (o->files.n) {
        kvz_out_error(cli, "--all reads no manifest: drop -f, or drop --all for one stack");
        return KVZ_EXIT_ERROR;
    }
    struct kvz_hosts_config cfg = {
        .uri = {cli->containers_uri, cli->vms_uri},
        .state_dir = cli->state_dir,
    };
    if (kvz_hosts_open(&hs, &cfg, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        return KVZ_EXIT_ERROR;
    }
    if (kvz_hosts_observe(&hs, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    for (int k = 0; k < KVZ_N_KINDS; k++)
        if (hs.skipped[k] && cli->verbosity >= 0)
            kvz_out_warn(cli, "%s", hs.skipped[k]);
    for (int k = 0; k < KVZ_N_KINDS; k++)
        for (size_t i = 0; hs.ops[k] && i < hs.observed[k].n; i++) {
            const struct kvz_observed_resource *h = &hs.observed[k].v[i];
            if (!h->managed || !h->stack)
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                const struct kvz_observed_resource **nv = realloc(v, cap * sizeof(*v));
                if (!nv) {
                    kvz_out_error(cli, "status: out of memory");
                    goto cleanup;
                }
                v = nv;
            }
            v[n++] = h;
        }
    if (n)
        qsort(v, n, sizeof(*v), cmp_row);
    rows = json_array();
    for (size_t i = 0; i < n; i++) {
        struct kvz_buf drift = KVZ_BUF_INIT;
        host_drift(&drift, v[i]);
        if (o->json) {
            json_t *row = kvz_status_json(v[i], kvz_buf_cstr(&drift));
            json_object_set_new(row, "stack", json_string(v[i]->stack));
            json_array_append_new(rows, row);
        } else {
            kvz_status_table_add_observed(&table, v[i], kvz_buf_cstr(&drift));
        }
        kvz_buf_release(&drift);
    }
    if (o->json) {
        json_t *j = json_pack("{s:i, s:O}", "format_version", 1, "resources", rows);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (kvz_status_table_print(&table) < 0) {
        kvz_out_error(cli, "status: out of memory");
        goto cleanup;
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_error_free(err);
    json_decref(rows);
    kvz_status_table_release(&table);
    free(v);
    kvz_hosts_close(&hs);
    return rc;
}
