#include "plan_fixture.h"

#include "parser/spec_digest.h"
#include "planner/plan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static uint64_t u64(json_t *o, const char *key, uint64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : dflt;
}

static bool boolean(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_boolean_value(v) : dflt;
}

static uint32_t milli(json_t *o, const char *key, uint32_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (uint32_t)(json_number_value(v) * 1000 + 0.5) : dflt;
}

static void network(struct kvz_network *n, json_t *o)
{
    json_t *v = json_object_get(o, "network");
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "none")) {
        n->type = KVZ_NET_NONE;
    } else if (json_is_object(v)) {
        n->type = KVZ_NET_BRIDGE;
        n->name = dup_or_null(v, "bridge");
    } else {
        n->type = KVZ_NET_NETWORK;
        n->name = strdup(s ? s : "default");
    }
}

static enum kvz_kind kind(json_t *o)
{
    const char *s = json_string_value(json_object_get(o, "kind"));
    return s && !strcmp(s, "vm")        ? KVZ_KIND_VM
           : s && !strcmp(s, "network") ? KVZ_KIND_NETWORK
                                        : KVZ_KIND_CONTAINER;
}

static void load_network(const struct kvz_manifest *m, struct kvz_observed_resource *h, json_t *o)
{
    static const char *const modes[] = {"nat", "isolated", "routed", "bridge"};
    const char *st = json_string_value(json_object_get(o, "state"));
    const char *mode = json_string_value(json_object_get(o, "mode"));
    h->running = !st || !strcmp(st, "active");
    h->id = -1;
    h->autostart = boolean(o, "autostart", true);
    h->storage_ok = true;
    h->network.type = KVZ_NET_NONE;
    struct kvz_net_spec *s = &h->netspec;
    for (int i = 0; mode && i < 4; i++)
        if (!strcmp(mode, modes[i]))
            s->mode = (enum kvz_net_mode)i;
    s->subnet = dup_or_null(o, "subnet");
    s->dhcp = boolean(o, "dhcp", s->mode != KVZ_NET_MODE_BRIDGE);
    s->dns = boolean(o, "dns", true);
    s->bridge = dup_or_null(o, "bridge");
    json_t *leases = json_object_get(o, "leases");
    s->n_leases = json_array_size(leases);
    s->leases = calloc(s->n_leases + 1, sizeof(*s->leases));
    for (size_t i = 0; i < s->n_leases; i++) {
        json_t *l = json_array_get(leases, i);
        struct kvz_lease *e = &s->leases[i];
        e->guest = dup_or_null(l, "guest");
        e->ip = dup_or_null(l, "ip");
        e->mac = dup_or_null(l, "mac");
        if (!e->mac && e->guest) {
            char mac[18];
            kvz_guest_mac(mac, m->stack, e->guest);
            e->mac = strdup(mac);
        }
    }
}

/* "=desired" digests are computed from the desired resource of the same kind and name. */
static char *digest(const struct kvz_manifest *m, json_t *o, const char *key, enum kvz_kind k,
                    const char *name)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strcmp(s, "=desired"))
        return s ? strdup(s) : NULL;
    const struct kvz_resource *r = kvz_manifest_resource(m, name);
    if (!r || r->kind != k)
        return NULL;
    char hex[KVZ_SHA256_HEX];
    char *id = NULL;
    if (!strcmp(key, "spec_digest"))
        return kvz_spec_digest(hex, r, NULL) == 0 ? strdup(hex) : NULL;
    if (!strcmp(key, "config_digest"))
        return kvz_config_digest(hex, r, NULL) == 0 ? strdup(hex) : NULL;
    return kvz_template_identity(&id, r->tmpl, NULL) == 0 ? id : NULL;
}

static void load_observed(const struct kvz_manifest *m, struct kvz_observed_resource *h, json_t *o)
{
    h->kind = kind(o);
    h->name = dup_or_null(o, "name");
    h->managed = boolean(o, "managed", true);
    if (h->managed) {
        h->stack = dup_or_null(o, "stack");
        if (!h->stack)
            h->stack = strdup(m->stack);
        h->spec_digest = digest(m, o, "spec_digest", h->kind, h->name);
        h->template_digest = digest(m, o, "template_digest", h->kind, h->name);
        h->config_digest = digest(m, o, "config_digest", h->kind, h->name);
        h->applied_at = dup_or_null(o, "applied_at");
        h->kvz_version = dup_or_null(o, "kvz_version");
        h->source = dup_or_null(o, "source");
        h->protect = boolean(o, "protect", false);
        h->template_source = dup_or_null(o, "template_source");
        h->state_dir = dup_or_null(o, "state_dir");
    }
    if (h->kind == KVZ_KIND_NETWORK) {
        load_network(m, h, o);
        return;
    }
    const char *st = json_string_value(json_object_get(o, "state"));
    h->running = !st || !strcmp(st, "running");
    h->id = h->running ? 1 : -1;
    h->autostart = boolean(o, "autostart", false);
    h->memory = u64(o, "memory", 512u << 20);
    h->max_memory = u64(o, "max_memory", h->memory);
    h->cpus_milli = milli(o, "cpus", 1000);
    h->max_cpus = h->kind == KVZ_KIND_VM ? (uint32_t)u64(o, "max_cpus", h->cpus_milli / 1000) : 0;
    h->disk = u64(o, "disk", 0);
    network(&h->network, o);
    if (h->network.type != KVZ_NET_NONE) {
        char mac[18];
        kvz_guest_mac(mac, h->stack ? h->stack : m->stack, h->name);
        h->mac = strdup(mac);
    }
    h->hostname = dup_or_null(o, "hostname");
    if (!h->hostname && h->managed)
        h->hostname = strdup(h->name);
    h->storage_ok = boolean(o, "storage_ok", true);
    h->problem = dup_or_null(o, "problem");
    h->cdrom = dup_or_null(o, "cdrom");
    h->drivers = dup_or_null(o, "drivers");
    h->unattend = dup_or_null(o, "unattend");
    h->cdrom_drive = boolean(o, "cdrom_drive", h->cdrom != NULL);
    h->drivers_drive = boolean(o, "drivers_drive", h->drivers != NULL);
    h->tpm = boolean(o, "tpm", false);
    h->secure_boot = boolean(o, "secure_boot", false);
    h->tpm_offered = boolean(o, "tpm_offered", true);
    h->secure_boot_offered = boolean(o, "secure_boot_offered", true);
}

int plan_fixture_load(struct plan_fixture *f, const char *dir, const char *name)
{
    char path[1024];
    json_error_t je;
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    memset(f, 0, sizeof(*f));
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
    const char *paths[] = {path};
    if (kvz_manifest_load(&f->m, paths, 1, &diags) < 0) {
        for (size_t i = 0; i < diags.n; i++) {
            char *s = kvz_diag_format(&diags.v[i]);
            fprintf(stderr, "%s\n", s);
            free(s);
        }
        kvz_diags_release(&diags);
        return -1;
    }
    kvz_diags_release(&diags);
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        fprintf(stderr, "%s:%d: %s\n", path, je.line, je.text);
        return -1;
    }
    struct kvz_manifest *m = f->m;
    json_t *have = json_object_get(root, "observed");
    for (size_t i = 0; i < json_array_size(have); i++) {
        json_t *o = json_array_get(have, i);
        struct kvz_observed *ob = &f->observed[kind(o)];
        ob->v = realloc(ob->v, (ob->n + 1) * sizeof(*ob->v));
        memset(&ob->v[ob->n], 0, sizeof(*ob->v));
        load_observed(m, &ob->v[ob->n++], o);
    }
    json_t *targets = json_object_get(root, "targets");
    f->n_targets = json_array_size(targets);
    f->targets = calloc(f->n_targets + 1, sizeof(char *));
    for (size_t i = 0; i < f->n_targets; i++)
        f->targets[i] = strdup(json_string_value(json_array_get(targets, i)));
    f->destroy = boolean(root, "destroy", false);
    f->state_dir = dup_or_null(root, "state_dir");
    json_t *resolved = json_object_get(root, "resolved");
    f->resolved = calloc(m->n_templates + 1, sizeof(char *));
    f->n_resolved = m->n_templates;
    for (size_t i = 0; i < m->n_templates; i++)
        f->resolved[i] = dup_or_null(resolved, m->templates[i].name);
    json_decref(root);
    return 0;
}

void plan_fixture_release(struct plan_fixture *f)
{
    kvz_manifest_free(f->m);
    for (int k = 0; k < KVZ_N_KINDS; k++)
        kvz_observed_free(&f->observed[k]);
    for (size_t i = 0; i < f->n_targets; i++)
        free(f->targets[i]);
    free(f->targets);
    for (size_t i = 0; f->resolved && i < f->n_resolved; i++)
        free(f->resolved[i]);
    free(f->resolved);
    free(f->state_dir);
}

void plan_fixture_input(struct kvz_plan_input *in, struct plan_fixture *f)
{
    memset(in, 0, sizeof(*in));
    in->m = f->m;
    in->stack = f->m->stack;
    for (int k = 0; k < KVZ_N_KINDS; k++)
        in->observed[k] = &f->observed[k];
    in->targets = (const char *const *)f->targets;
    in->n_targets = f->n_targets;
    in->destroy = f->destroy;
    in->template_digests = (const char *const *)f->resolved;
    in->state_dir = f->state_dir;
}
