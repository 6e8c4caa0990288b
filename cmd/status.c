#include "cmd/cli.h"

#include "base/buf.h"
#include "cmd/options.h"
#include "cmd/plan_hosts.h"
#include "cmd/stack.h"
#include "cmd/status_hosts.h"
#include "cmd/status_networks.h"
#include "cmd/status_storage.h"
#include "cmd/status_table.h"
#include "cmd/status_templates.h"
#include "parser/units.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void drift_str(struct kvz_buf *b, const struct kvz_change *c, bool planned)
{
    if (!planned)
        kvz_buf_puts(b, "unknown (no plan)");
    else if (!c || c->action == KVZ_ACTION_NOOP)
        kvz_buf_puts(b, "none");
    else
        kvz_buf_printf(b, "%s: %s", kvz_action_str(c->action), c->reason ? c->reason : "");
}

int cmd_status(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv)
{
    struct kvz_opts o;
    struct kvz_stack_run r = KVZ_STACK_RUN_INIT;
    int rc = KVZ_EXIT_ERROR;
    json_t *rows = NULL;

    if (kvz_opts_parse(&o, cli, c, argc, argv) < 0)
        goto cleanup;
    if (o.all) {
        rc = kvz_status_all(cli, &o);
        goto cleanup;
    }
    int opened = kvz_stack_open(cli, &r, &o, KVZ_STACK_HOSTS);
    if (opened == 1) {
        rc = kvz_cmd_status_hosts(cli, &o, r.m);
        goto cleanup;
    }
    if (opened < 0)
        goto cleanup;
    bool json = o.json;
    /* a plan that cannot be made (an unmanaged same-named domain...) still leaves a status */
    bool planned = kvz_stack_plan(cli, &r, NULL, 0, false) == 0;
    rows = json_array();
    struct kvz_status_table table = {0};
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_observed *seen = &r.hs.observed[k];
        for (size_t i = 0; r.hs.ops[k] && i < seen->n; i++) {
            const struct kvz_observed_resource *h = &seen->v[i];
            if (!h->managed || !h->stack || strcmp(h->stack, r.m->stack))
                continue;
            struct kvz_buf drift = KVZ_BUF_INIT;
            drift_str(&drift, kvz_plan_change_of(r.plan, h->kind, h->name), planned);
            if (json) {
                json_t *row = kvz_status_json(h, kvz_buf_cstr(&drift));
                if (row && h->kind == KVZ_KIND_NETWORK)
                    kvz_status_network_json(row, h, &r);
                else if (row)
                    kvz_status_template_json(row, h, &r);
                if (row)
                    kvz_status_storage_json(row, h);
                json_array_append_new(rows, row);
            } else {
                kvz_status_table_add_observed(&table, h, kvz_buf_cstr(&drift));
            }
            kvz_buf_release(&drift);
        }
    }
    /* resources of the manifests that do not exist yet */
    for (size_t i = 0; planned && i < r.plan->n_changes; i++) {
        const struct kvz_change *ch = &r.plan->changes[i];
        if (ch->action != KVZ_ACTION_CREATE)
            continue;
        if (json)
            json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s}", "kind",
                                                  kvz_kind_str(ch->kind), "name", ch->name, "state",
                                                  "absent", "drift", "create: not on the host"));
        else
            kvz_status_table_add(&table, NULL, ch->name, kvz_kind_str(ch->kind), "absent", NULL,
                                 NULL, NULL, "create: not on the host", NULL);
    }
    if (!json && kvz_status_table_print(&table) < 0)
        kvz_out_error(cli, "status: out of memory");
    kvz_status_table_release(&table);
    if (!json) {
        kvz_status_networks_print(&r);
        kvz_status_templates_print(&r);
        kvz_status_storage_print(&r, cli->state_dir);
    }
    if (json) {
        json_t *j = json_pack("{s:i, s:s, s:O}", "format_version", 1, "stack", r.m->stack,
                              "resources", rows);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    rc = planned ? KVZ_EXIT_OK : KVZ_EXIT_ERROR;
cleanup:
    json_decref(rows);
    kvz_stack_release(&r);
    kvz_opts_release(&o);
    return rc;
}
