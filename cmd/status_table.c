#include "cmd/status_table.h"

#include "base/buf.h"
#include "parser/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const heads[9] = {"STACK", "NAME",    "KIND",  "STATE", "MEMORY",
                                     "CPUS",  "APPLIED", "DRIFT", "SOURCE"};

void kvz_status_table_add(struct kvz_status_table *t, const char *stack, const char *name,
                          const char *kind, const char *state, const char *memory, const char *cpus,
                          const char *applied, const char *drift, const char *source)
{
    const char *in[9] = {stack, name, kind, state, memory, cpus, applied, drift, source};
    struct kvz_status_row *v = realloc(t->v, (t->n + 1) * sizeof(*v));
    if (!v) {
        t->oom = true;
        return;
    }
    t->v = v;
    struct kvz_status_row *r = &t->v[t->n++];
    for (int i = 0; i < 9; i++) {
        /* the time to the second: "2026-12-02T05:25:57" */
        size_t len = in[i] ? strlen(in[i]) : 1;
        if (i == 6 && len > 19)
            len = 19;
        if (!(r->cell[i] = strndup(in[i] ? in[i] : "-", len)))
            t->oom = true;
    }
}

const char *kvz_status_state(const struct kvz_observed_resource *h)
{
    if (h->kind == KVZ_KIND_NETWORK)
        return h->running ? "active" : "inactive";
    return h->running ? "running" : "stopped";
}

void kvz_status_table_add_observed(struct kvz_status_table *t,
                                   const struct kvz_observed_resource *h, const char *drift)
{
    struct kvz_buf mem = KVZ_BUF_INIT, cpus = KVZ_BUF_INIT;
    bool net = h->kind == KVZ_KIND_NETWORK;
    if (!net) {
        kvz_size_human(&mem, h->memory);
        kvz_cpus_human(&cpus, h->cpus_milli);
    }
    kvz_status_table_add(t, h->stack, h->name, kvz_kind_str(h->kind), kvz_status_state(h),
                         net ? NULL : kvz_buf_cstr(&mem), net ? NULL : kvz_buf_cstr(&cpus),
                         h->applied_at, drift, h->source);
    kvz_buf_release(&mem);
    kvz_buf_release(&cpus);
}

int kvz_status_table_print(const struct kvz_status_table *t)
{
    size_t w[9];
    for (int i = 0; i < 9; i++) {
        w[i] = strlen(heads[i]);
        for (size_t j = 0; j < t->n; j++)
            if (t->v[j].cell[i] && strlen(t->v[j].cell[i]) > w[i])
                w[i] = strlen(t->v[j].cell[i]);
    }
    for (size_t j = 0; j <= t->n; j++) {
        const char *const *c = j ? (const char *const *)t->v[j - 1].cell : heads;
        struct kvz_buf line = KVZ_BUF_INIT;
        for (int i = t->with_stack ? 0 : 1; i < 9; i++) {
            const char *s = c[i] ? c[i] : "-";
            /* memory and cpus are numbers: right-aligned; the last column is not padded */
            if (i == 8)
                kvz_buf_puts(&line, s);
            else if (i == 4 || i == 5)
                kvz_buf_printf(&line, "%*s  ", (int)w[i], s);
            else
                kvz_buf_printf(&line, "%-*s  ", (int)w[i], s);
        }
        puts(kvz_buf_cstr(&line));
        kvz_buf_release(&line);
    }
    return t->oom ? -1 : 0;
}

void kvz_status_table_release(struct kvz_status_table *t)
{
    for (size_t j = 0; j < t->n; j++)
        for (int i = 0; i < 9; i++)
            free(t->v[j].cell[i]);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static json_t *sn(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *kvz_status_json(const struct kvz_observed_resource *h, const char *drift)
{
    /* as plan --json: a whole number of CPUs is an integer */
    json_t *cpus = h->cpus_milli % 1000 ? json_real(h->cpus_milli / 1000.0)
                                        : json_integer(h->cpus_milli / 1000);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:I, s:s, s:o, s:o, s:o, s:b}", "kind", kvz_kind_str(h->kind),
        "name", h->name, "state", kvz_status_state(h), "memory", (json_int_t)h->memory, "cpus",
        cpus, "disk", (json_int_t)h->disk, "drift", drift, "applied_at", sn(h->applied_at),
        "source", sn(h->source), "kvz_version", sn(h->kvz_version), "protect", h->protect);
    /* what a running vm's guest really has beside its target (balloon) */
    if (j && h->memory_actual)
        json_object_set_new(j, "memory_actual", json_integer((json_int_t)h->memory_actual));
    return j;
}
