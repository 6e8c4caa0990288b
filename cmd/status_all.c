#include "cmd/status_table.h"

#include "base/buf.h"
#include "cmd/cli.h"
#include "cmd/options.h"
#include "cmd/stack.h"
#include "providers/fleet.h"
#include "providers/hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * kvz status --all: every guest and network carrying kvz's metadata on the connections (the
 * default URIs, or --containers-uri/--vms-uri), whatever its stack, without a manifest. Drift
 * is what the host alone shows (missing storage, a live change the guest did not take); the
 * rest needs the stack's manifests (kvz status -f). With --host, the hosts of the manifests'
 * hosts: instead, a table per host (docs/hosts.md).
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

/* The guests and networks of hs that carry kvz's metadata, by stack, kind and name. */
static int managed_of(const struct kvz_hosts *hs, const struct kvz_observed_resource ***out,
                      size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (int k = 0; k < KVZ_N_KINDS; k++)
        cap += hs->ops[k] ? hs->observed[k].n : 0;
    if (!(*out = calloc(cap + 1, sizeof(**out))))
        return -1;
    for (int k = 0; k < KVZ_N_KINDS; k++)
        for (size_t i = 0; hs->ops[k] && i < hs->observed[k].n; i++) {
            const struct kvz_observed_resource *h = &hs->observed[k].v[i];
            if (h->managed && h->stack)
                (*out)[(*n)++] = h;
        }
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_row);
    return 0;
}

/* One host's rows: into `rows` (JSON; "host" on each when `host` is set), or printed as a
 * table. -1 when out of memory. */
static int show(const struct kvz_hosts *hs, const char *host, json_t *rows)
{
    struct kvz_status_table table = {.with_stack = true};
    const struct kvz_observed_resource **v = NULL;
    size_t n = 0;
    int rc = managed_of(hs, &v, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        struct kvz_buf drift = KVZ_BUF_INIT;
        host_drift(&drift, v[i]);
        if (rows) {
            json_t *row = kvz_status_json(v[i], kvz_buf_cstr(&drift));
            json_object_set_new(row, "stack", json_string(v[i]->stack));
            if (host)
                json_object_set_new(row, "host", json_string(host));
            json_array_append_new(rows, row);
        } else {
            kvz_status_table_add_observed(&table, v[i], kvz_buf_cstr(&drift));
        }
        kvz_buf_release(&drift);
    }
    if (!rc && !rows)
        rc = kvz_status_table_print(&table);
    kvz_status_table_release(&table);
    free(v);
    return rc;
}

static void print_json(json_t *j)
{
    char *s = j ? json_dumps(j, 0) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* --all --host NAME...: every managed guest of those hosts of the manifests' hosts:. */
static int all_of_hosts(struct kvz_cli *cli, const struct kvz_opts *o)
{
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    struct kvz_fleet f = {0};
    struct kvz_error *err = NULL;
    json_t *rows = o->json ? json_array() : NULL, *failed = json_object();
    size_t n_failed = 0;
    int rc = KVZ_EXIT_ERROR;
    if (cli->containers_uri || cli->vms_uri) {
        kvz_out_error(cli, "--containers-uri and --vms-uri do not go with --host: the manifests' "
                           "hosts: name the host's URIs");
        goto cleanup;
    }
    r.offline = o->offline;
    r.require_signed = o->require_signed;
    if (kvz_stack_load(cli, &r, (const char *const *)o->files.v, o->files.n) < 0)
        goto cleanup;
    struct kvz_fleet_config cfg = {
        .m = r.m,
        .only = (const char *const *)o->hosts.v,
        .n_only = o->hosts.n,
        .state_dir = cli->state_dir,
        .all_kinds = true, /* a kind not seen would hide its guests */
    };
    if (kvz_fleet_observe(&f, &cfg, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    for (size_t i = 0; i < f.n; i++) {
        const struct kvz_fleet_host *fh = &f.v[i];
        if (!o->json)
            printf("%sHost %s:\n", i ? "\n" : "", fh->def->name);
        if (fh->err) {
            n_failed++;
            if (o->json)
                json_object_set_new(failed, fh->def->name, json_string(kvz_error_msg(fh->err)));
            else
                printf("  ! not seen: %s\n", kvz_error_msg(fh->err));
            continue;
        }
        for (int k = 0; k < KVZ_N_KINDS; k++)
            if (fh->hs.skipped[k] && cli->verbosity >= 0)
                kvz_out_warn(cli, "host '%s': %s", fh->def->name, fh->hs.skipped[k]);
        if (show(&fh->hs, fh->def->name, rows) < 0) {
            kvz_out_error(cli, "status: out of memory");
            goto cleanup;
        }
    }
    if (o->json)
        print_json(json_pack("{s:i, s:O, s:O}", "format_version", 1, "resources", rows,
                             "failed_hosts", failed));
    if (n_failed)
        kvz_out_error(cli, "status: %zu of %zu hosts could not be seen", n_failed, f.n);
    else
        rc = KVZ_EXIT_OK;
cleanup:
    kvz_error_free(err);
    kvz_fleet_close(&f);
    json_decref(rows);
    json_decref(failed);
    kvz_stack_release(&r);
    return rc;
}

int kvz_status_all(struct kvz_cli *cli, const struct kvz_opts *o)
{
    struct kvz_hosts hs;
    struct kvz_error *err = NULL;
    json_t *rows = NULL;
    int rc = KVZ_EXIT_ERROR;

    if (o->hosts.n)
        return all_of_hosts(cli, o);
    if (o->files.n) {
        kvz_out_error(cli, "--all reads no manifest: drop -f, or drop --all for one stack (or "
                           "name hosts of its hosts: with --host)");
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
    rows = o->json ? json_array() : NULL;
    if (show(&hs, NULL, rows) < 0) {
        kvz_out_error(cli, "status: out of memory");
        goto cleanup;
    }
    if (o->json)
        print_json(json_pack("{s:i, s:O}", "format_version", 1, "resources", rows));
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_error_free(err);
    json_decref(rows);
    kvz_hosts_close(&hs);
    return rc;
}
