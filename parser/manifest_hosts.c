#include "parser/manifest_hosts.h"

#include "base/buf.h"
#include "parser/names.h"
#include "parser/schema.h"
#include "parser/show.h"
#include "parser/suggest.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HD(field) offsetof(struct kvz_host_def, field)

static const struct kvz_field host_fields[] = {
    {"containers", KVZ_F_URI, HD(uri[KVZ_KIND_CONTAINER]), 0, false,
     "lxc+ssh://root@h1.example.org/system", NULL, NULL},
    {"vms", KVZ_F_URI, HD(uri[KVZ_KIND_VM]), 0, false, "qemu+ssh://root@h1.example.org/system",
     NULL, NULL},
};
static const struct kvz_schema host_schema = {"host", host_fields, 2, NULL};

static void host_release(struct kvz_host_def *h)
{
    free(h->name);
    free(h->uri[KVZ_KIND_CONTAINER]);
    free(h->uri[KVZ_KIND_VM]);
    memset(h, 0, sizeof(*h));
}

void kvz_host_defs_free(struct kvz_host_def *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        host_release(&v[i]);
    free(v);
}

void kvz_hosts_acc_release(struct kvz_hosts_acc *acc)
{
    kvz_host_defs_free(acc->v, acc->n);
    memset(acc, 0, sizeof(*acc));
}

static struct kvz_loc loc_of(const char *file, const struct kvz_ynode *n)
{
    struct kvz_loc l = {file, n ? n->line : 0, n ? n->col : 0};
    return l;
}

static struct kvz_host_def *find(struct kvz_host_def *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int one_host(struct kvz_hosts_acc *acc, struct kvz_diags *d, const char *file,
                    const struct kvz_ynode *k, const struct kvz_ynode *v)
{
    struct kvz_host_def h = {0};
    struct kvz_buf owner = KVZ_BUF_INIT;
    if (!kvz_name_valid(k->str)) {
        kvz_diags_add(
            d, KVZ_SEV_ERROR, file, k->line, k->col, "bad-name",
            "host name '%s' is not valid; names are 1-63 lowercase letters, digits and '-'",
            kvz_show(k->str));
        return 0;
    }
    if (v->type != KVZ_YMAP) {
        if (v->type != KVZ_YINVALID)
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, k->line, k->col, "bad-type",
                "host '%s' must be a mapping of libvirt URIs; give 'containers:' or 'vms:', e.g. 'vms: qemu+ssh://root@%s/system'",
                k->str, k->str);
        return 0;
    }
    kvz_buf_printf(&owner, "host '%s'", k->str);
    kvz_schema_decode(&host_schema, v, &h, kvz_buf_cstr(&owner), k, file, d);
    kvz_buf_release(&owner);
    h.loc = loc_of(file, k);
    if (!h.uri[KVZ_KIND_CONTAINER] && !h.uri[KVZ_KIND_VM] && v->n == 0)
        kvz_diags_add(
            d, KVZ_SEV_ERROR, file, k->line, k->col, "host-no-uri",
            "host '%s' has no URI; give 'containers:' or 'vms:', e.g. 'vms: qemu+ssh://root@%s/system'",
            k->str, k->str);
    struct kvz_host_def *was = find(acc->v, acc->n, k->str);
    if (was) {
        if (!same(was->uri[0], h.uri[0]) || !same(was->uri[1], h.uri[1]))
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, k->line, k->col, "conflict",
                "host '%s' differs from its definition at %s:%u:%u; the files of one run must agree",
                k->str, was->loc.file, was->loc.line, was->loc.col);
        host_release(&h);
        return 0;
    }
    if (!(h.name = strdup(k->str)))
        goto oom;
    if (acc->n == acc->cap) {
        size_t ncap = acc->cap ? 2 * acc->cap : 8;
        struct kvz_host_def *a = realloc(acc->v, ncap * sizeof(*a));
        if (!a)
            goto oom;
        acc->v = a;
        acc->cap = ncap;
    }
    acc->v[acc->n++] = h;
    return 0;
oom:
    host_release(&h);
    return -1;
}

int kvz_hosts_section(struct kvz_hosts_acc *acc, struct kvz_diags *d, const char *file,
                      const struct kvz_ynode *root)
{
    const struct kvz_ynode *sec = kvz_ymap_get(root, "hosts");
    if (!sec)
        return 0;
    if (!acc->first.file)
        acc->first = loc_of(file, sec);
    if (sec->type != KVZ_YMAP) {
        if (sec->type != KVZ_YINVALID)
            kvz_diags_add(
                d, KVZ_SEV_ERROR, file, sec->line, sec->col, "bad-type",
                "'hosts' must be a mapping of host names to their URIs, not %s; write 'hosts: {h1: {vms: qemu+ssh://root@h1/system}}'",
                kvz_ynode_describe(sec));
        return 0;
    }
    for (size_t i = 0; i < sec->n; i++)
        if (one_host(acc, d, file, &sec->kids[2 * i], &sec->kids[2 * i + 1]) < 0)
            return -1;
    return 0;
}

static void diag(struct kvz_diags *d, struct kvz_loc at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void diag(struct kvz_diags *d, struct kvz_loc at, const char *code, const char *fmt, ...)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    kvz_diags_add(d, KVZ_SEV_ERROR, at.file, at.line, at.col, code, "%s", kvz_buf_cstr(&b));
    kvz_buf_release(&b);
}

/* The URI of host h that resources of kind k use: networks are made through the vms' one. */
static const char *uri_for(const struct kvz_host_def *h, enum kvz_kind k)
{
    return h->uri[k == KVZ_KIND_CONTAINER ? KVZ_KIND_CONTAINER : KVZ_KIND_VM];
}

static void unknown_host(struct kvz_diags *d, const struct kvz_manifest *m,
                         const struct kvz_resource *r)
{
    const char **cands = malloc((m->n_hosts + 1) * sizeof(*cands));
    const char *sugg = NULL;
    for (size_t i = 0; cands && i < m->n_hosts; i++)
        cands[i] = m->hosts[i].name;
    if (cands)
        sugg = kvz_suggest(r->host, cands, m->n_hosts);
    free(cands);
    if (sugg)
        diag(d, r->host_loc, "unknown-host",
             "%s '%s' names host '%s', which is not defined (did you mean '%s'?)",
             kvz_kind_str(r->kind), r->name, kvz_show(r->host), sugg);
    else if (!m->hosts_declared)
        diag(
            d, r->host_loc, "unknown-host",
            "%s '%s' names host '%s', but the manifest has no 'hosts:'; define it under 'hosts:' with its URIs, or remove 'host:'",
            kvz_kind_str(r->kind), r->name, kvz_show(r->host));
    else
        diag(
            d, r->host_loc, "unknown-host",
            "%s '%s' names host '%s', which is not defined; define it under 'hosts:' with its URIs",
            kvz_kind_str(r->kind), r->name, kvz_show(r->host));
}

/* Each resource's host: named, known, with a URI for its kind. */
static int place(struct kvz_manifest *m, struct kvz_diags *d)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        struct kvz_resource *r = &m->resources[i];
        if (!r->host) {
            if (m->n_hosts > 1) {
                diag(
                    d, r->loc, "missing-host",
                    "%s '%s' has no 'host:'; the manifest has %zu hosts, so name one, e.g. 'host: %s'",
                    kvz_kind_str(r->kind), r->name, m->n_hosts, m->hosts[0].name);
                continue;
            }
            if (!m->n_hosts)
                continue;
            if (!(r->host = strdup(m->hosts[0].name)))
                return -1;
            r->host_loc = r->loc;
        }
        const struct kvz_host_def *h = kvz_manifest_host(m, r->host);
        if (!h) {
            unknown_host(d, m, r);
            continue;
        }
        if (!uri_for(h, r->kind)) {
            const char *key = r->kind == KVZ_KIND_CONTAINER ? "containers" : "vms";
            diag(
                d, r->host_loc, "host-no-uri",
                "%s '%s' is on host '%s', which has no '%s' URI (%s:%u:%u); add '%s: %s' to that host",
                kvz_kind_str(r->kind), r->name, h->name, key, h->loc.file ? h->loc.file : "",
                h->loc.line, h->loc.col, key,
                r->kind == KVZ_KIND_CONTAINER ? "lxc+ssh://root@HOST/system"
                                              : "qemu+ssh://root@HOST/system");
        }
    }
    return 0;
}

/* A guest on a network of the manifests must be on that network's host. */
static void same_host_as_network(struct kvz_manifest *m, struct kvz_diags *d)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *g = &m->resources[i];
        if (!kvz_kind_is_guest(g->kind) || g->network.type != KVZ_NET_NETWORK || !g->network.name ||
            !g->host)
            continue;
        const struct kvz_resource *n = kvz_manifest_resource(m, g->network.name);
        if (!n || n->kind != KVZ_KIND_NETWORK || !n->host || !strcmp(n->host, g->host))
            continue;
        diag(
            d, g->host_loc, "host-mismatch",
            "%s '%s' is on host '%s', but its network '%s' is on host '%s'; a guest attaches to a network of its own host",
            kvz_kind_str(g->kind), g->name, g->host, n->name, n->host);
    }
}

int kvz_hosts_finish(struct kvz_manifest *m, struct kvz_hosts_acc *acc, struct kvz_diags *d,
                     struct kvz_loc connection)
{
    if (acc->first.file) {
        m->hosts_declared = true;
        if (connection.file)
            diag(
                d, connection, "conflict",
                "'connection:' and 'hosts:' (%s:%u:%u) do not go together; move these URIs to a host under 'hosts:'",
                acc->first.file, acc->first.line, acc->first.col);
        if (!acc->n)
            diag(
                d, acc->first, "host-no-uri",
                "'hosts:' names no host; define at least one, e.g. 'h1: {vms: qemu+ssh://root@h1/system}'");
        m->hosts = acc->v;
        m->n_hosts = acc->n;
        memset(acc, 0, sizeof(*acc));
    } else {
        if (!(m->hosts = calloc(1, sizeof(*m->hosts))))
            return -1;
        m->n_hosts = 1;
        m->hosts[0].name = strdup(KVZ_LOCAL_HOST);
        m->hosts[0].uri[KVZ_KIND_CONTAINER] = strdup(m->containers_uri);
        m->hosts[0].uri[KVZ_KIND_VM] = strdup(m->vms_uri);
        if (!m->hosts[0].name || !m->hosts[0].uri[0] || !m->hosts[0].uri[1])
            return -1;
        /* `host: local` without hosts: is the one host */
    }
    if (place(m, d) < 0)
        return -1;
    same_host_as_network(m, d);
    return 0;
}

const struct kvz_host_def *kvz_manifest_host(const struct kvz_manifest *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_hosts; i++)
        if (!strcmp(m->hosts[i].name, name))
            return &m->hosts[i];
    return NULL;
}
