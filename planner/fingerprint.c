/* The fingerprint of what was observed: what makes a saved plan stale. */
#include "planner/fingerprint.h"

#include "parser/spec_digest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *sn(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A network's settings and static leases (never its dynamic leases: they renew by themselves). */
static json_t *netspec_json(const struct kvz_observed_resource *r)
{
    if (r->kind != KVZ_KIND_NETWORK)
        return json_null();
    const struct kvz_net_spec *s = &r->netspec;
    json_t *leases = json_array();
    for (size_t i = 0; leases && i < s->n_leases; i++)
        if (json_array_append_new(
                leases, json_pack("{s:o, s:o, s:o}", "guest", sn(s->leases[i].guest), "mac",
                                  sn(s->leases[i].mac), "ip", sn(s->leases[i].ip))) < 0) {
            json_decref(leases);
            return NULL;
        }
    return json_pack("{s:s, s:o, s:b, s:b, s:o, s:o}", "mode", kvz_net_mode_str(s->mode), "subnet",
                     sn(s->subnet), "dhcp", s->dhcp, "dns", s->dns, "bridge", sn(s->bridge),
                     "leases", leases);
}

static bool relevant(const struct kvz_observed_resource *r, const char *stack,
                     const struct kvz_manifest *m)
{
    if (r->managed && r->stack && !strcmp(r->stack, stack))
        return true;
    for (size_t i = 0; m && i < m->n_resources; i++)
        if (!strcmp(m->resources[i].name, r->name))
            return true;
    return false;
}

static int cmp_json_name(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(x, "kind")),
                   json_string_value(json_object_get(y, "kind")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "name")),
                      json_string_value(json_object_get(y, "name")));
}

int kvz_observed_fingerprint(char out[65], const struct kvz_observed *observed, size_t n_kinds,
                             const char *stack, const struct kvz_manifest *m,
                             struct kvz_error **err)
{
    int ret = -1;
    size_t n = 0, cap = 0;
    json_t **v = NULL, *all = NULL;
    char *s = NULL;
    for (size_t k = 0; k < n_kinds; k++)
        cap += observed[k].n;
    v = calloc(cap + 1, sizeof(*v));
    if (!v)
        goto oom;
    for (size_t k = 0; k < n_kinds; k++)
        for (size_t i = 0; i < observed[k].n; i++) {
            const struct kvz_observed_resource *r = &observed[k].v[i];
            if (!relevant(r, stack, m))
                continue;
            v[n] = json_pack(
                "{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:o, s:b, s:o, s:o}",
                "kind", kvz_kind_str(r->kind), "name", r->name, "managed", r->managed, "stack",
                sn(r->stack), "spec", sn(r->spec_digest), "template", sn(r->template_digest),
                "config", sn(r->config_digest), "applied_at", sn(r->applied_at), "protect",
                r->protect, "running", r->running, "autostart", r->autostart, "memory",
                (json_int_t)r->memory, "max_memory", (json_int_t)r->max_memory, "cpus_milli",
                (json_int_t)r->cpus_milli, "max_cpus", (json_int_t)r->max_cpus, "disk",
                (json_int_t)r->disk, "net_type", (int)r->network.type, "net", sn(r->network.name),
                "hostname", sn(r->hostname), "storage_ok", r->storage_ok, "problem", sn(r->problem),
                "net", netspec_json(r));
            if (!v[n++])
                goto oom;
        }
    qsort(v, n, sizeof(*v), cmp_json_name);
    all = json_array();
    for (size_t i = 0; all && i < n; i++) {
        if (json_array_append_new(all, v[i]) < 0)
            goto oom;
        v[i] = NULL;
    }
    if (!all || !(s = json_dumps(all, JSON_COMPACT)))
        goto oom;
    kvz_sha256_hex(out, s, strlen(s));
    ret = 0;
    goto cleanup;
oom:
    kvz_error_set(err, "observed fingerprint: out of memory");
cleanup:
    for (size_t i = 0; v && i < n; i++)
        json_decref(v[i]);
    free(v);
    json_decref(all);
    free(s);
    return ret;
}
