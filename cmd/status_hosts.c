/*
 * kvz status of a manifest with hosts: (docs/hosts.md): every host observed at once, a heading
 * per host in text, "host" on every row in JSON; a host that cannot be reached is named.
 */
#include "cmd/status_hosts.h"

#include "base/buf.h"
#include "cmd/plan_hosts.h"
#include "parser/units.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void row(json_t *rows, bool json, const char *host, const char *kind, const char *name,
                const char *state, uint64_t memory, uint32_t cpus_milli, const char *drift)
{
    struct kvz_buf mem = KVZ_BUF_INIT, cpus = KVZ_BUF_INIT;
    kvz_size_human(&mem, memory);
    kvz_cpus_human(&cpus, cpus_milli);
    if (json)
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:s}", "host", host,
                                              "kind", kind, "name", name, "state", state, "memory",
                                              (json_int_t)memory, "cpus", cpus_milli / 1000.0,
                                              "drift", drift));
    else
        printf("  %-20s %-9s %-8s %8s %5s  %s\n", name, kind, state,
               memory ? kvz_buf_cstr(&mem) : "-", cpus_milli ? kvz_buf_cstr(&cpus) : "-", drift);
    kvz_buf_release(&mem);
    kvz_buf_release(&cpus);
}

int kvz_cmd_status_hosts(struct kvz_cli *cli, const struct kvz_opts *o,
                         const struct kvz_manifest *m)
{
    struct kvz_hosts_run run;
    json_t *rows = json_array(), *failed = json_object();
    int rc = KVZ_EXIT_ERROR;
    size_t n_failed = 0;
    if (!rows || !failed || kvz_hosts_run_plan(&run, cli, o, m, false, false) < 0)
        goto cleanup;
    for (size_t i = 0; i < run.f.n; i++) {
        const struct kvz_fleet_host *fh = &run.f.v[i];
        const struct kvz_plan *p = run.v[i].plan;
        const char *host = fh->def->name;
        if (!o->json)
            printf("%sHost %s:\n", i ? "\n" : "", host);
        if (fh->err) {
            n_failed++;
            if (o->json)
                json_object_set_new(failed, host, json_string(kvz_error_msg(fh->err)));
            else
                printf("  ! not seen: %s\n", kvz_error_msg(fh->err));
            continue;
        }
        if (!o->json)
            printf("  %-20s %-9s %-8s %8s %5s  %s\n", "NAME", "KIND", "STATE", "MEMORY", "CPUS",
                   "DRIFT");
        for (int k = 0; k < KVZ_N_KINDS; k++)
            for (size_t j = 0; fh->hs.ops[k] && j < fh->hs.observed[k].n; j++) {
                const struct kvz_observed_resource *h = &fh->hs.observed[k].v[j];
                if (!h->managed || !h->stack || strcmp(h->stack, m->stack))
                    continue;
                const struct kvz_change *c = kvz_plan_change_of(p, h->kind, h->name);
                struct kvz_buf drift = KVZ_BUF_INIT;
                if (!p)
                    kvz_buf_puts(&drift, "unknown (no plan)");
                else if (!c || c->action == KVZ_ACTION_NOOP)
                    kvz_buf_puts(&drift, "none");
                else
                    kvz_buf_printf(&drift, "%s: %s", kvz_action_str(c->action),
                                   c->reason ? c->reason : "");
                bool net = h->kind == KVZ_KIND_NETWORK;
                row(rows, o->json, host, kvz_kind_str(h->kind), h->name,
                    net ? (h->running ? "active" : "inactive")
                        : (h->running ? "running" : "stopped"),
                    net ? 0 : h->memory, net ? 0 : h->cpus_milli, kvz_buf_cstr(&drift));
                kvz_buf_release(&drift);
            }
        for (size_t j = 0; p && j < p->n_changes; j++)
            if (p->changes[j].action == KVZ_ACTION_CREATE)
                row(rows, o->json, host, kvz_kind_str(p->changes[j].kind), p->changes[j].name,
                    "absent", 0, 0, "create: not on the host");
        if (!p) {
            n_failed++;
            if (o->json)
                json_object_set_new(failed, host, json_string(run.v[i].error));
            else
                printf("  ! not planned: %s\n", run.v[i].error);
        }
    }
    if (o->json) {
        json_t *j = json_pack("{s:i, s:s, s:O, s:O}", "format_version", 1, "stack", m->stack,
                              "resources", rows, "failed_hosts", failed);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    if (n_failed)
        kvz_out_error(cli, "status: %zu of %zu hosts could not be seen or planned", n_failed,
                      run.f.n);
    else
        rc = KVZ_EXIT_OK;
    kvz_hosts_run_release(&run);
cleanup:
    json_decref(rows);
    json_decref(failed);
    return rc;
}
