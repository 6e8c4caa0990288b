#include "parser/manifest.h"

#include "base/buf.h"
#include "parser/manifest_catalogs.h"
#include "parser/manifest_files.h"
#include "parser/manifest_hosts.h"
#include "parser/manifest_networks.h"
#include "parser/manifest_rules.h"
#include "parser/manifest_vm.h"
#include "parser/names.h"
#include "parser/schema.h"
#include "parser/show.h"
#include "parser/suggest.h"
#include "parser/template_url.h"
#include "parser/units.h"
#include "parser/yaml_tree.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public model plus name indexes for the lookups. */
struct manifest_impl {
    struct kvz_manifest pub;
    size_t *tmpl_by_name; /* indexes into pub.templates, sorted by name */
    size_t *res_by_name;  /* indexes into pub.resources, sorted by name */
};

/* A resource while loading: where its references stand, for messages. */
struct pending {
    struct kvz_resource r;
    struct kvz_loc tmpl_at, cdrom_at, drivers_at;
    struct kvz_net_locs net_at;
    size_t seq; /* load order across kinds, so "first defined" is the first read */
};

/* The order of kinds in the model: networks before the guests that use them. */
static const enum kvz_kind model_order[KVZ_N_KINDS] = {KVZ_KIND_NETWORK, KVZ_KIND_CONTAINER,
                                                       KVZ_KIND_VM};

struct setting {
    char *value;
    struct kvz_loc at;
};

struct loader {
    struct kvz_diags *d;
    struct manifest_impl *m;
    struct pending *pend[KVZ_N_KINDS]; /* by kind */
    size_t npend[KVZ_N_KINDS], cappend[KVZ_N_KINDS], seq;
    size_t capt; /* allocated templates */
    struct setting stack, containers_uri, vms_uri;
    struct kvz_hosts_acc hosts;
    struct kvz_loc connection_at; /* the first `connection:` (file NULL: none) */
    EVP_MD_CTX *digest; /* over every file: its length, then its bytes (kvz_manifest.digest) */
    bool oom;
};

const char *kvz_manifest_uri(const struct kvz_manifest *m, enum kvz_kind k)
{
    if (k == KVZ_KIND_VM || k == KVZ_KIND_NETWORK)
        return m && m->vms_uri ? m->vms_uri : KVZ_DEFAULT_VMS_URI;
    return m && m->containers_uri ? m->containers_uri : KVZ_DEFAULT_CONTAINERS_URI;
}

static void oom(struct loader *L, const char *file)
{
    if (!L->oom)
        kvz_diags_add(L->d, KVZ_SEV_ERROR, file, 0, 0, "out-of-memory",
                      "out of memory loading the manifest; free memory and retry");
    L->oom = true;
}

static void resource_release(struct kvz_resource *r)
{
    free(r->name);
    /* also the defaults filled in (hostname, network name): they sit in the same slots */
    kvz_schema_release(kvz_schema_of(r->kind), r);
    kvz_net_spec_release(&r->netspec); /* the leases the networks were given */
}

static void template_release(struct kvz_template *t)
{
    free(t->name);
    free(t->url);
    free(t->digest);
    free(t->checksums_url);
    free(t->signature_url);
    free(t->keyring);
    free(t->catalog);
    free(t->entry);
    free(t->version);
    free(t->locked_checksums);
}

void kvz_manifest_free(struct kvz_manifest *pub)
{
    if (!pub)
        return;
    struct manifest_impl *m = (struct manifest_impl *)pub;
    for (size_t i = 0; i < pub->n_templates; i++)
        template_release(&pub->templates[i]);
    for (size_t i = 0; i < pub->n_resources; i++)
        resource_release(&pub->resources[i]);
    for (size_t i = 0; i < pub->n_catalogs; i++)
        kvz_catalog_release(&pub->catalogs[i]);
    free(pub->catalogs);
    for (size_t i = 0; i < pub->n_files; i++)
        free(pub->files[i]);
    free(pub->templates);
    free(pub->resources);
    free(pub->files);
    free(pub->stack);
    free(pub->containers_uri);
    free(pub->vms_uri);
    kvz_host_defs_free(pub->hosts, pub->n_hosts);
    free(m->tmpl_by_name);
    free(m->res_by_name);
    free(m);
}

/* Keeps `stack:` and `connection:` equal across the files of one run. */
static void merge_setting(struct loader *L, struct setting *s, const char *what, char **value,
                          struct kvz_loc at)
{
    if (!*value)
        return;
    if (!s->value) {
        s->value = *value;
        *value = NULL;
        s->at = at;
        return;
    }
    if (strcmp(s->value, *value))
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, at, "conflict",
                          "%s '%s' differs from '%s' at %s:%u:%u; the files of one run must agree",
                          what, kvz_show(*value), kvz_show(s->value), s->at.file, s->at.line,
                          s->at.col);
}

static void load_head(struct loader *L, const char *file, const struct kvz_ynode *root)
{
    struct kvz_file_head h = {0};
    const struct kvz_ynode *conn = kvz_ymap_get(root, "connection");
    kvz_schema_decode(&kvz_schema_file, root, &h, "the manifest", root, file, L->d);
    if (conn && !L->connection_at.file)
        L->connection_at = kvz_manifest_loc(file, conn);
    merge_setting(L, &L->stack, "stack", &h.stack,
                  kvz_manifest_loc(file, kvz_ymap_get(root, "stack")));
    merge_setting(L, &L->containers_uri, "connection containers", &h.containers_uri,
                  kvz_manifest_loc(file, kvz_ymap_get(conn, "containers")));
    merge_setting(L, &L->vms_uri, "connection vms", &h.vms_uri,
                  kvz_manifest_loc(file, kvz_ymap_get(conn, "vms")));
    free(h.stack);
    free(h.containers_uri);
    free(h.vms_uri);
}

/* Whether a section key is a valid resource name; reports why when it is not. */
static bool check_name(struct loader *L, const char *file, const struct kvz_ynode *k,
                       const char *what)
{
    if (kvz_name_valid(k->str))
        return true;
    char fix[64];
    const char *problem = kvz_name_problem(k->str, fix, sizeof(fix));
    if (fix[0])
        kvz_manifest_diag(
            L->d, KVZ_SEV_ERROR, kvz_manifest_loc(file, k), "bad-name",
            "%s name '%s' %s (did you mean '%s'?); names are 1-63 lowercase letters, digits and '-'",
            what, kvz_show(k->str), problem, fix);
    else
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, kvz_manifest_loc(file, k), "bad-name",
                          "%s name '%s' %s; names are 1-63 lowercase letters, digits and '-'", what,
                          kvz_show(k->str), problem);
    return false;
}

/* True when v is a mapping to decode; else reports what it is. */
static bool body_ok(struct loader *L, const char *file, const struct kvz_ynode *k,
                    const struct kvz_ynode *v, const char *what, const char *needs)
{
    if (v->type == KVZ_YMAP)
        return true;
    if (v->type == KVZ_YINVALID)
        return false;
    if (kvz_ynode_is_null(v))
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, kvz_manifest_loc(file, k), "bad-type",
                          "%s '%s' has no settings; give at least %s", what, kvz_show(k->str),
                          needs);
    else
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, kvz_manifest_loc(file, v), "bad-type",
                          "%s '%s' must be a mapping of settings, not %s; give at least %s", what,
                          kvz_show(k->str), kvz_ynode_describe(v), needs);
    return false;
}

static void load_template(struct loader *L, const char *file, const struct kvz_ynode *k,
                          const struct kvz_ynode *v)
{
    struct kvz_template_raw raw = {0};
    struct kvz_buf owner = KVZ_BUF_INIT;
    bool name_ok = check_name(L, file, k, "template");
    if (!body_ok(L, file, k, v, "template", "'url:' and 'sha256:' (or 'catalog:' and 'name:')"))
        goto cleanup;
    kvz_buf_printf(&owner, "template '%s'", kvz_show(k->str));
    kvz_schema_decode(&kvz_schema_template, v, &raw, kvz_buf_cstr(&owner), k, file, L->d);

    kvz_manifest_template_check(L->d, file, k, v, &raw);
    /* Kept even when broken, so references to it do not add "not defined" errors. */
    if (!name_ok)
        goto cleanup;

    struct kvz_manifest *pub = &L->m->pub;
    if (pub->n_templates == L->capt) {
        size_t cap = L->capt ? L->capt * 2 : 8;
        struct kvz_template *t = realloc(pub->templates, cap * sizeof(*t));
        if (!t) {
            oom(L, file);
            goto cleanup;
        }
        pub->templates = t;
        L->capt = cap;
    }
    struct kvz_template *t = &pub->templates[pub->n_templates];
    memset(t, 0, sizeof(*t));
    t->name = strdup(k->str);
    if (!t->name) {
        oom(L, file);
        goto cleanup;
    }
    t->url = raw.url;
    raw.url = NULL;
    if (raw.sha256 || raw.sha512) {
        t->algo = raw.sha256 ? KVZ_DIGEST_SHA256 : KVZ_DIGEST_SHA512;
        char **taken = raw.sha256 ? &raw.sha256 : &raw.sha512;
        t->digest = *taken;
        *taken = NULL;
    }
    if (kvz_manifest_template_sources(L->d, file, k, v, &raw, t) < 0)
        oom(L, file);
    t->checksums_url = raw.checksums;
    raw.checksums = NULL;
    t->insecure = raw.insecure;
    t->hint = t->url ? kvz_url_content_kind(t->url) : KVZ_CONTENT_UNKNOWN;
    t->loc = kvz_manifest_loc(file, k);
    pub->n_templates++;
cleanup:
    kvz_schema_release(&kvz_schema_template, &raw);
    kvz_buf_release(&owner);
}

static void load_resource(struct loader *L, const char *file, enum kvz_kind kind,
                          const struct kvz_ynode *k, const struct kvz_ynode *v)
{
    struct pending p = {0};
    struct kvz_buf owner = KVZ_BUF_INIT;
    const char *what = kvz_kind_str(kind);
    bool name_ok = check_name(L, file, k, what);
    const char *needs = kind == KVZ_KIND_VM        ? "'image:' and 'memory:'"
                        : kind == KVZ_KIND_NETWORK ? "'subnet:'"
                                                   : "'template:' and 'memory:'";
    if (!body_ok(L, file, k, v, what, needs))
        goto cleanup;
    p.r.kind = kind;
    p.r.name = strdup(k->str);
    if (!p.r.name) {
        oom(L, file);
        goto cleanup;
    }
    if (kind == KVZ_KIND_NETWORK)
        kvz_network_defaults(&p.r);
    kvz_buf_printf(&owner, "%s '%s'", what, kvz_show(k->str));
    kvz_schema_decode(kvz_schema_of(kind), v, &p.r, kvz_buf_cstr(&owner), k, file, L->d);
    if (kind == KVZ_KIND_NETWORK)
        kvz_network_check(L->d, file, k, v, &p.r);
    else
        kvz_manifest_resource_check(L->d, file, k, v, &p.r);
    /* Kept even when broken: duplicate names and references are still checked. */
    if (!name_ok)
        goto cleanup;

    /* Defaults (docs/manifest.md). */
    if (kind != KVZ_KIND_NETWORK) {
        if (!p.r.cpus_milli)
            p.r.cpus_milli = 1000;
        if (!p.r.max_memory)
            p.r.max_memory = p.r.memory;
        if (kind == KVZ_KIND_VM && !p.r.max_cpus)
            p.r.max_cpus = p.r.cpus_milli / 1000;
        if (!p.r.hostname && !(p.r.hostname = strdup(p.r.name))) {
            oom(L, file);
            goto cleanup;
        }
        if (p.r.network.type == KVZ_NET_NETWORK && !p.r.network.name &&
            !(p.r.network.name = strdup("default"))) {
            oom(L, file);
            goto cleanup;
        }
    }
    p.r.loc = kvz_manifest_loc(file, k);
    p.r.host_loc = kvz_manifest_loc(file, kvz_ymap_get(v, "host"));
    p.tmpl_at = kvz_manifest_loc(file, kvz_ymap_get(v, kind == KVZ_KIND_VM ? "image" : "template"));
    p.cdrom_at = kvz_manifest_loc(file, kvz_ymap_get(v, "cdrom"));
    p.drivers_at = kvz_manifest_loc(file, kvz_ymap_get(v, "drivers"));
    p.net_at.ip = kvz_manifest_loc(file, kvz_ymap_get(v, "ip"));
    p.net_at.subnet = kvz_manifest_loc(file, kvz_ymap_get(v, "subnet"));
    p.seq = L->seq++;

    if (L->npend[kind] == L->cappend[kind]) {
        size_t ncap = L->cappend[kind] ? L->cappend[kind] * 2 : 16;
        struct pending *a = realloc(L->pend[kind], ncap * sizeof(*a));
        if (!a) {
            oom(L, file);
            goto cleanup;
        }
        L->pend[kind] = a;
        L->cappend[kind] = ncap;
    }
    L->pend[kind][L->npend[kind]++] = p;
    memset(&p, 0, sizeof(p));
cleanup:
    resource_release(&p.r);
    kvz_buf_release(&owner);
}

static void load_section(struct loader *L, const char *file, const struct kvz_ynode *root,
                         const char *key)
{
    const struct kvz_ynode *sec = kvz_ymap_get(root, key);
    if (!sec || sec->type != KVZ_YMAP)
        return; /* absent, empty, or already reported by the schema */
    for (size_t i = 0; i < sec->n; i++) {
        const struct kvz_ynode *k = &sec->kids[2 * i], *v = &sec->kids[2 * i + 1];
        if (!strcmp(key, "templates"))
            load_template(L, file, k, v);
        else if (!strcmp(key, "catalogs")) {
            if (kvz_manifest_catalog_load(L->d, file, k, v, &L->m->pub) < 0)
                oom(L, file);
        } else
            load_resource(L, file,
                          !strcmp(key, "vms")        ? KVZ_KIND_VM
                          : !strcmp(key, "networks") ? KVZ_KIND_NETWORK
                                                     : KVZ_KIND_CONTAINER,
                          k, v);
    }
}

static void load_data(void *ctx, const char *name, const char *data, size_t len)
{
    struct loader *L = ctx;
    struct kvz_manifest *pub = &L->m->pub;
    struct kvz_ynode *root = NULL;
    char **files = realloc(pub->files, (pub->n_files + 1) * sizeof(*files));
    if (!files) {
        oom(L, name);
        return;
    }
    pub->files = files;
    if (!(files[pub->n_files] = strdup(name))) {
        oom(L, name);
        return;
    }
    const char *file = files[pub->n_files++];
    uint64_t n64 = len;
    if (L->digest && (!EVP_DigestUpdate(L->digest, &n64, sizeof(n64)) ||
                      !EVP_DigestUpdate(L->digest, data, len))) {
        EVP_MD_CTX_free(L->digest);
        L->digest = NULL;
    }
    if (len > KVZ_MANIFEST_MAX_FILE_SIZE) {
        kvz_diags_add(
            L->d, KVZ_SEV_ERROR, file, 0, 0, "file-too-large",
            "the manifest is larger than %u MiB; split it into several files in one directory",
            KVZ_MANIFEST_MAX_FILE_SIZE >> 20);
        return;
    }
    if (kvz_yaml_parse(&root, file, data, len, L->d) < 0)
        return;
    if (!root || kvz_ynode_is_null(root)) {
        kvz_diags_add(L->d, KVZ_SEV_ERROR, file, 1, 1, "empty-file",
                      "the manifest is empty; start it with 'kvz: 1'");
    } else if (root->type != KVZ_YMAP) {
        if (root->type != KVZ_YINVALID)
            kvz_diags_add(L->d, KVZ_SEV_ERROR, file, root->line, root->col, "bad-type",
                          "a manifest must be a mapping starting with 'kvz: 1', not %s",
                          kvz_ynode_describe(root));
    } else {
        load_head(L, file, root);
        if (kvz_hosts_section(&L->hosts, L->d, file, root) < 0)
            oom(L, file);
        load_section(L, file, root, "templates");
        load_section(L, file, root, "catalogs");
        load_section(L, file, root, "networks");
        load_section(L, file, root, "containers");
        load_section(L, file, root, "vms");
    }
    kvz_ynode_free(root);
}

struct res_key {
    const char *name;
    size_t seq, idx;
};

static int cmp_res_key(const void *a, const void *b)
{
    const struct res_key *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorted index of templates; reports names defined twice. */
static int index_templates(struct loader *L)
{
    struct kvz_manifest *pub = &L->m->pub;
    size_t n = pub->n_templates;
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    struct res_key *keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!idx || !keys) {
        free(idx);
        free(keys);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct res_key){pub->templates[i].name, i, i};
    qsort(keys, n, sizeof(*keys), cmp_res_key);
    for (size_t i = 0; i < n; i++)
        idx[i] = keys[i].idx;
    free(keys);
    for (size_t i = 1, first = 0; i < n; i++) {
        const struct kvz_template *a = &pub->templates[idx[first]], *b = &pub->templates[idx[i]];
        if (strcmp(a->name, b->name)) {
            first = i;
            continue;
        }
        kvz_manifest_diag(
            L->d, KVZ_SEV_ERROR, b->loc, "duplicate-name",
            "template '%s' is defined twice (first at %s:%u:%u); rename or remove one", b->name,
            a->loc.file, a->loc.line, a->loc.col);
    }
    L->m->tmpl_by_name = idx;
    return 0;
}

/* Sorted index of networks, containers and vms (one name space); reports names defined twice. */
static int index_resources(struct loader *L, struct res_key *keys)
{
    struct kvz_manifest *pub = &L->m->pub;
    size_t n = pub->n_resources;
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!idx)
        return -1;
    qsort(keys, n, sizeof(*keys), cmp_res_key);
    for (size_t i = 0, first = 0; i < n; i++) {
        idx[i] = keys[i].idx;
        if (!i || strcmp(keys[i].name, keys[first].name)) {
            first = i;
            continue;
        }
        const struct kvz_resource *a = &pub->resources[keys[first].idx];
        const struct kvz_resource *b = &pub->resources[keys[i].idx];
        kvz_manifest_diag(
            L->d, KVZ_SEV_ERROR, b->loc, "duplicate-name",
            "%s name '%s' is already used by the %s at %s:%u:%u; names are unique across networks, containers and vms, rename one",
            kvz_kind_str(b->kind), b->name, kvz_kind_str(a->kind), a->loc.file, a->loc.line,
            a->loc.col);
    }
    L->m->res_by_name = idx;
    return 0;
}

static const struct kvz_template *find_template(const struct manifest_impl *m, const char *name)
{
    size_t lo = 0, hi = m->pub.n_templates;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct kvz_template *t = &m->pub.templates[m->tmpl_by_name[mid]];
        int c = strcmp(name, t->name);
        if (!c)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const struct kvz_template *resolve(struct loader *L, const char *name, struct kvz_loc at,
                                          const char *role)
{
    const struct kvz_manifest *pub = &L->m->pub;
    const struct kvz_template *t = find_template(L->m, name);
    if (t)
        return t;
    /* Suggestions cost an edit distance per template: skip them for huge manifests. */
    bool suggest = pub->n_templates <= 1000;
    const char **cands = suggest ? malloc((pub->n_templates + 1) * sizeof(*cands)) : NULL;
    const char *sugg = NULL;
    if (cands) {
        for (size_t i = 0; i < pub->n_templates; i++)
            cands[i] = pub->templates[i].name;
        sugg = kvz_suggest(name, cands, pub->n_templates);
    }
    if (sugg)
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, at, "unknown-template",
                          "%s '%s' is not a defined template (did you mean '%s'?)", role, name,
                          sugg);
    else
        kvz_manifest_diag(
            L->d, KVZ_SEV_ERROR, at, "unknown-template",
            "%s '%s' is not a defined template; define it under 'templates:' in one of the files",
            role, name);
    free(cands);
    return NULL;
}

/* A cdrom's template (`role` the key naming it), which must hold an ISO. */
static const struct kvz_template *resolve_iso(struct loader *L, const char *name, struct kvz_loc at,
                                              const char *role)
{
    const struct kvz_template *t = name ? resolve(L, name, at, role) : NULL;
    if (t && t->hint != KVZ_CONTENT_ISO && t->hint != KVZ_CONTENT_UNKNOWN)
        kvz_manifest_diag(L->d, KVZ_SEV_ERROR, at, "content-kind",
                          "template '%s' is %s (by its URL), but '%s:' takes an ISO (.iso)",
                          t->name, kvz_content_kind_phrase(t->hint), role);
    return t;
}

/* References to templates, and whether what they hold fits their use. */
static void check_refs(struct loader *L, struct pending *p)
{
    struct kvz_resource *r = &p->r;
    if (r->template_name) {
        const char *role = r->kind == KVZ_KIND_VM ? "image" : "template";
        const struct kvz_template *t = resolve(L, r->template_name, p->tmpl_at, role);
        r->tmpl = t;
        if (t && r->kind == KVZ_KIND_CONTAINER) {
            const char *arch = t->url ? kvz_url_foreign_arch(t->url) : NULL;
            if (t->hint == KVZ_CONTENT_DISK || t->hint == KVZ_CONTENT_ISO)
                kvz_manifest_diag(
                    L->d, KVZ_SEV_ERROR, p->tmpl_at, "content-kind",
                    "template '%s' is %s (by its URL), but a container needs a rootfs archive (.tar, .tar.xz, ...); use it in a vm, or pick a rootfs template",
                    t->name, kvz_content_kind_phrase(t->hint));
            else if (arch)
                kvz_manifest_diag(
                    L->d, KVZ_SEV_ERROR, p->tmpl_at, "foreign-arch",
                    "template '%s' is built for %s, but a container runs on this host's kernel and CPU (%s); use a template built for %s, or a vm for other architectures",
                    t->name, arch, kvz_host_arch(), kvz_host_arch());
        } else if (t && t->hint == KVZ_CONTENT_ROOTFS) {
            kvz_manifest_diag(
                L->d, KVZ_SEV_ERROR, p->tmpl_at, "content-kind",
                "template '%s' is a rootfs archive (by its URL), but a vm's image must be a disk image (.qcow2, .img, .raw); run it as a container instead",
                t->name);
        } else if (t && t->hint == KVZ_CONTENT_ISO) {
            kvz_manifest_diag(
                L->d, KVZ_SEV_ERROR, p->tmpl_at, "content-kind",
                "template '%s' is an ISO image, not a disk image; use it as 'cdrom: %s' and give 'disk:' for a blank disk",
                t->name, t->name);
        }
    }
    r->cdrom = resolve_iso(L, r->cdrom_name, p->cdrom_at, "cdrom");
    r->drivers = resolve_iso(L, r->drivers_name, p->drivers_at, "drivers");
}

static char *dup_or(char **taken, const char *dflt)
{
    if (*taken) {
        char *s = *taken;
        *taken = NULL;
        return s;
    }
    return strdup(dflt);
}

/* Everything after all files are read: indexes, references, defaults of the whole run. */
static void finish(struct loader *L)
{
    struct kvz_manifest *pub = &L->m->pub;
    struct res_key *keys = NULL;
    struct kvz_net_locs *at = NULL;
    size_t n = 0;
    if (index_templates(L) < 0)
        goto oom;
    kvz_manifest_catalogs_check(L->d, pub);
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        n += L->npend[k];
        for (size_t i = 0; i < L->npend[k]; i++)
            check_refs(L, &L->pend[k][i]);
    }
    pub->resources = malloc((n ? n : 1) * sizeof(*pub->resources));
    keys = malloc((n ? n : 1) * sizeof(*keys));
    at = malloc((n ? n : 1) * sizeof(*at));
    if (!pub->resources || !keys || !at)
        goto oom;
    size_t i = 0;
    for (int o = 0; o < KVZ_N_KINDS; o++) {
        enum kvz_kind k = model_order[o];
        for (size_t j = 0; j < L->npend[k]; j++, i++) {
            struct pending *p = &L->pend[k][j];
            pub->resources[i] = p->r;
            memset(&p->r, 0, sizeof(p->r));
            keys[i] = (struct res_key){pub->resources[i].name, p->seq, i};
            at[i] = p->net_at;
        }
        L->npend[k] = 0;
    }
    pub->n_resources = n;
    if (index_resources(L, keys) < 0 || kvz_networks_link(L->d, pub->resources, at, n) < 0)
        goto oom;
    pub->stack = dup_or(&L->stack.value, "default");
    pub->containers_uri = dup_or(&L->containers_uri.value, KVZ_DEFAULT_CONTAINERS_URI);
    pub->vms_uri = dup_or(&L->vms_uri.value, KVZ_DEFAULT_VMS_URI);
    if (!pub->stack || !pub->containers_uri || !pub->vms_uri ||
        kvz_hosts_finish(pub, &L->hosts, L->d, L->connection_at) < 0)
        goto oom;
    free(keys);
    free(at);
    return;
oom:
    free(keys);
    free(at);
    oom(L, pub->n_files ? pub->files[0] : "");
}

static void loader_release(struct loader *L)
{
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        for (size_t i = 0; i < L->npend[k]; i++)
            resource_release(&L->pend[k][i].r);
        free(L->pend[k]);
    }
    free(L->stack.value);
    free(L->containers_uri.value);
    free(L->vms_uri.value);
    kvz_hosts_acc_release(&L->hosts);
}

typedef void run_fn(struct loader *L, void *arg);

static int run(struct kvz_manifest **out, struct kvz_diags *diags, run_fn *read_all, void *arg)
{
    struct loader L = {.d = diags};
    *out = NULL;
    L.m = calloc(1, sizeof(*L.m));
    if (!L.m) {
        kvz_diags_add(diags, KVZ_SEV_ERROR, "", 0, 0, "out-of-memory",
                      "out of memory loading the manifest; free memory and retry");
        return -1;
    }
    if ((L.digest = EVP_MD_CTX_new()) && !EVP_DigestInit_ex(L.digest, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(L.digest);
        L.digest = NULL;
    }
    read_all(&L, arg);
    if (!L.oom)
        finish(&L);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (L.digest && EVP_DigestFinal_ex(L.digest, md, &mdlen))
        for (unsigned i = 0; i < mdlen && i < 32; i++)
            snprintf(L.m->pub.digest + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(L.digest);
    loader_release(&L);
    kvz_diags_sort(diags);
    if (kvz_diags_has_errors(diags)) {
        kvz_manifest_free(&L.m->pub);
        return -1;
    }
    *out = &L.m->pub;
    return 0;
}

struct paths_arg {
    const char *const *paths;
    size_t n;
};

static void read_paths(struct loader *L, void *arg)
{
    struct paths_arg *a = arg;
    kvz_manifest_read_paths(a->paths, a->n, L->d, load_data, L);
}

int kvz_manifest_load(struct kvz_manifest **out, const char *const *paths, size_t n,
                      struct kvz_diags *diags)
{
    static const char *const dflt[] = {"kvz.yaml"};
    struct paths_arg a = {n ? paths : dflt, n ? n : 1};
    return run(out, diags, read_paths, &a);
}

struct string_arg {
    const char *name, *data;
    size_t len;
};

static void read_string(struct loader *L, void *arg)
{
    struct string_arg *a = arg;
    load_data(L, a->name, a->data, a->len);
}

int kvz_manifest_load_string(struct kvz_manifest **out, const char *name, const char *data,
                             size_t len, struct kvz_diags *diags)
{
    struct string_arg a = {name ? name : "<string>", data, len};
    return run(out, diags, read_string, &a);
}

struct files_arg {
    const struct kvz_manifest_file *files;
    size_t n;
};

static void read_files(struct loader *L, void *arg)
{
    struct files_arg *a = arg;
    for (size_t i = 0; i < a->n; i++)
        load_data(L, a->files[i].name, a->files[i].data, a->files[i].len);
}

int kvz_manifest_load_files(struct kvz_manifest **out, const struct kvz_manifest_file *files,
                            size_t n, struct kvz_diags *diags)
{
    struct files_arg a = {files, n};
    return run(out, diags, read_files, &a);
}

const struct kvz_template *kvz_manifest_template(const struct kvz_manifest *m, const char *name)
{
    return m && name ? find_template((const struct manifest_impl *)m, name) : NULL;
}

const struct kvz_resource *kvz_manifest_resource(const struct kvz_manifest *pub, const char *name)
{
    if (!pub || !name)
        return NULL;
    const struct manifest_impl *m = (const struct manifest_impl *)pub;
    size_t lo = 0, hi = pub->n_resources;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct kvz_resource *r = &pub->resources[m->res_by_name[mid]];
        int c = strcmp(name, r->name);
        if (!c)
            return r;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
