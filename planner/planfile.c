#include "planner/planfile.h"

#include "parser/git_source.h"
#include "parser/spec_digest.h"
#include "planner/templates_resolve.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLANFILE_TYPE "kvz-plan"

int kvz_manifest_digest(char out[65], const struct kvz_manifest *m, struct kvz_error **err)
{
    /* the loader digests the bytes it parsed: files on disk and a commit's blobs alike */
    if (strlen(m->digest) != 64)
        return kvz_error_set(err, "manifest digest: out of memory");
    memcpy(out, m->digest, 65);
    return 0;
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *abs_paths(const char *const *paths, size_t n)
{
    static const char *const dflt[] = {"kvz.yaml"};
    if (!n) {
        paths = dflt;
        n = 1;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        bool git = kvz_git_source_is(paths[i]);
        char *abs = git ? kvz_git_source_redact(paths[i]) : realpath(paths[i], NULL);
        int r = json_array_append_new(a, json_string(abs ? abs : paths[i]));
        free(abs);
        if (r < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The sha256 of the plan file's canonical form without its own "plan_digest": every byte that
 * apply relies on (paths, targets, URIs, digests, the plan) is covered. */
static int file_digest(char out[65], json_t *j)
{
    json_t *copy = json_deep_copy(j);
    char *s = NULL;
    if (copy)
        json_object_del(copy, "plan_digest");
    if (!copy || !(s = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT))) {
        json_decref(copy);
        return -1;
    }
    kvz_sha256_hex(out, s, strlen(s));
    free(s);
    json_decref(copy);
    return 0;
}

/* The record of the manifests (format `version`), with "stack" and what apply reloads. */
static json_t *header(int version, const char *stack, const struct kvz_planfile_source *src,
                      struct kvz_error **err)
{
    char digest[65];
    if (kvz_manifest_digest(digest, src->m, err) < 0)
        return NULL;
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:o, s:s, s:o}", "format_version", version, "type",
                  PLANFILE_TYPE, "stack", stack, "manifests", abs_paths(src->paths, src->n_paths),
                  "manifest_digest", digest, "targets", str_array(src->targets, src->n_targets));
    if (!j)
        kvz_error_set(err, "plan file: out of memory");
    return j;
}

/* Adds what every format ends with (the resolved templates, the pinned commits, its own digest)
 * and writes it atomically: a temporary file renamed into place. Takes j. */
static int finish(const char *file, json_t *j, const struct kvz_planfile_source *src,
                  struct kvz_error **err)
{
    char tmp[PATH_MAX], self[65];
    int ret = -1;
    /* the resolved templates, so that applying it uses exactly them (absent without any) */
    struct kvz_lockfile resolved;
    if (kvz_templates_resolved(&resolved, src->m, err) < 0)
        goto cleanup;
    if (resolved.n)
        json_object_set_new(j, "templates", kvz_lockfile_to_json(&resolved));
    kvz_lockfile_release(&resolved);
    json_t *pins = json_array();
    for (size_t i = 0; src->commits && pins && i < src->n_paths; i++)
        json_array_append_new(pins, src->commits[i] ? json_string(src->commits[i]) : json_null());
    if (!pins || json_object_set_new(j, "commits", pins) < 0 || file_digest(self, j) < 0 ||
        json_object_set_new(j, "plan_digest", json_string(self))) {
        kvz_error_set(err, "plan file '%s': out of memory", file);
        goto cleanup;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", file, (long)getpid());
    if (json_dump_file(j, tmp, JSON_INDENT(2)) < 0) {
        kvz_error_set_errno(err, "plan file '%s': cannot write", tmp);
        unlink(tmp);
        goto cleanup;
    }
    if (rename(tmp, file) < 0) {
        kvz_error_set_errno(err, "plan file '%s'", file);
        unlink(tmp);
        goto cleanup;
    }
    ret = 0;
cleanup:
    json_decref(j);
    return ret;
}

static json_t *uris_json(const char *const uri[KVZ_N_KINDS])
{
    return json_pack("{s:s?, s:s?}", "containers", uri[KVZ_KIND_CONTAINER], "vms",
                     uri[KVZ_KIND_VM]);
}

int kvz_planfile_write(const char *file, const struct kvz_plan *p, const struct kvz_manifest *m,
                       const char *const *paths, const char *const *commits, size_t n_paths,
                       const char *const *targets, size_t n_targets,
                       const char *const uri[KVZ_N_KINDS], const char *fingerprint,
                       struct kvz_error **err)
{
    const struct kvz_planfile_source src = {m, paths, commits, n_paths, targets, n_targets};
    json_t *j = header(1, p->stack, &src, err);
    if (!j)
        return -1;
    if (json_object_set_new(j, "uris", uris_json(uri)) < 0 ||
        json_object_set_new(j, "observed_fingerprint", json_string(fingerprint)) < 0 ||
        json_object_set_new(j, "plan", kvz_plan_to_json(p)) < 0) {
        json_decref(j);
        return kvz_error_set(err, "plan file '%s': out of memory", file);
    }
    return finish(file, j, &src, err);
}

int kvz_planfile_write_hosts(const char *file, const struct kvz_planfile_source *src,
                             const char *const *only, size_t n_only,
                             const struct kvz_planfile_host *hosts, size_t n_hosts,
                             struct kvz_error **err)
{
    json_t *j = header(2, src->m->stack, src, err);
    if (!j)
        return -1;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n_hosts; i++) {
        const struct kvz_planfile_host *h = &hosts[i];
        if (json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:O}", "name", h->name, "uris",
                                               uris_json((const char *const *)h->uri),
                                               "observed_fingerprint", h->fingerprint, "plan",
                                               h->plan)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    if (!a || json_object_set_new(j, "hosts", a) < 0 ||
        json_object_set_new(j, "host_selection", str_array(only, n_only)) < 0) {
        json_decref(j);
        return kvz_error_set(err, "plan file '%s': out of memory", file);
    }
    return finish(file, j, src, err);
}

static char **strings(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    char **v = calloc(*n + 1, sizeof(*v));
    for (size_t i = 0; v && i < *n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || !(v[i] = strdup(s))) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static char *dup_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

/* The hosts of format 2; -1 when any part is missing. */
static int read_hosts(struct kvz_planfile *pf, json_t *j)
{
    json_t *a = json_object_get(j, "hosts");
    pf->many = true;
    if (!(pf->only = strings(json_object_get(j, "host_selection"), &pf->n_only)) ||
        !json_array_size(a) || !(pf->hosts = calloc(json_array_size(a), sizeof(*pf->hosts))))
        return -1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i), *uris = json_object_get(o, "uris");
        struct kvz_planfile_host *h = &pf->hosts[pf->n_hosts++];
        h->name = dup_str(o, "name");
        h->fingerprint = dup_str(o, "observed_fingerprint");
        h->uri[KVZ_KIND_CONTAINER] = dup_str(uris, "containers");
        h->uri[KVZ_KIND_VM] = dup_str(uris, "vms");
        h->plan = json_incref(json_object_get(o, "plan"));
        if (!h->name || !h->fingerprint || !json_is_object(h->plan) || !json_is_object(uris))
            return -1;
    }
    return 0;
}

int kvz_planfile_read(struct kvz_planfile **out, const char *file, struct kvz_error **err)
{
    json_error_t je;
    struct kvz_planfile *pf = NULL;
    int ret = -1;
    *out = NULL;
    json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line < 0 || errno == ENOENT)
            return kvz_error_set(err, "plan file '%s': %s", file, je.text);
        return kvz_error_set(err, "plan file '%s':%d: %s; make it again with 'kvz plan -o'", file,
                             je.line, je.text);
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    json_int_t version = json_integer_value(json_object_get(j, "format_version"));
    if (!type || strcmp(type, PLANFILE_TYPE) || (version != 1 && version != 2)) {
        kvz_error_set(
            err, "'%s' is not a kvz plan file of format 1 or 2; make one with 'kvz plan -o FILE'",
            file);
        goto cleanup;
    }
    const char *recorded = json_string_value(json_object_get(j, "plan_digest"));
    char self[65];
    if (file_digest(self, j) < 0)
        goto oom;
    if (!recorded || strcmp(recorded, self)) {
        kvz_error_set(
            err,
            "plan file '%s' was changed after kvz wrote it (its digest does not match); nothing was applied: make the plan again with 'kvz plan -o' and review it",
            file);
        goto cleanup;
    }
    pf = calloc(1, sizeof(*pf));
    if (!pf)
        goto oom;
    json_t *uris = json_object_get(j, "uris");
    pf->paths = strings(json_object_get(j, "manifests"), &pf->n_paths);
    pf->targets = strings(json_object_get(j, "targets"), &pf->n_targets);
    pf->manifest_digest = dup_str(j, "manifest_digest");
    if (version == 2) {
        if (read_hosts(pf, j) < 0) {
            kvz_error_set(err, "plan file '%s' is incomplete; make it again with 'kvz plan -o'",
                          file);
            goto cleanup;
        }
    } else {
        pf->fingerprint = dup_str(j, "observed_fingerprint");
        pf->uri[KVZ_KIND_CONTAINER] = dup_str(uris, "containers");
        pf->uri[KVZ_KIND_VM] = dup_str(uris, "vms");
        pf->plan = json_incref(json_object_get(j, "plan"));
    }
    json_t *tmpls = json_object_get(j, "templates");
    if (tmpls && kvz_lockfile_from_json(&pf->templates, tmpls, file, err) < 0)
        goto cleanup;
    json_t *pins = json_object_get(j, "commits");
    if (json_array_size(pins)) {
        if (json_array_size(pins) != pf->n_paths) {
            kvz_error_set(err, "plan file '%s' is incomplete; make it again with 'kvz plan -o'",
                          file);
            goto cleanup;
        }
        if (!(pf->commits = calloc(pf->n_paths + 1, sizeof(char *))))
            goto oom;
        for (size_t i = 0; i < pf->n_paths; i++) {
            const char *c = json_string_value(json_array_get(pins, i));
            if (c && !(pf->commits[i] = strdup(c)))
                goto oom;
        }
    }
    if (!pf->paths || !pf->targets || !pf->manifest_digest ||
        (!pf->many && (!pf->fingerprint || !json_is_object(pf->plan)))) {
        kvz_error_set(err, "plan file '%s' is incomplete; make it again with 'kvz plan -o'", file);
        goto cleanup;
    }
    *out = pf;
    pf = NULL;
    ret = 0;
    goto cleanup;
oom:
    kvz_error_set(err, "plan file '%s': out of memory", file);
cleanup:
    kvz_planfile_free(pf);
    json_decref(j);
    return ret;
}

/* The saved plan still does what it showed, on one host (`host` NULL: a plan file of one host):
 * the manifests' digest, the host's fingerprint and the recomputed plan are those recorded. */
static int check(const struct kvz_planfile *pf, const char *host, const char *saved_fingerprint,
                 json_t *saved_plan, const struct kvz_manifest *m, const char *fingerprint,
                 const struct kvz_plan *p, struct kvz_error **err)
{
    static const char again[] = "run 'kvz plan -o' again and review the new plan";
    char digest[65];
    if (kvz_manifest_digest(digest, m, err) < 0)
        return -1;
    if (strcmp(digest, pf->manifest_digest))
        return kvz_error_set(err, "stale plan: the manifests changed since it was made; %s", again);
    if (strcmp(fingerprint, saved_fingerprint))
        return kvz_error_set(
            err,
            "stale plan: %s%s%s changed since it was made (guests of the stack were created, changed or removed); %s",
            host ? "host '" : "the host", host ? host : "", host ? "'" : "", again);
    json_t *now = kvz_plan_to_json(p);
    bool same = now && json_equal(now, saved_plan);
    json_decref(now);
    if (!same)
        return kvz_error_set(err,
                             "stale plan: %s%s%sit no longer matches what kvz would do now; %s",
                             host ? "on host '" : "", host ? host : "", host ? "' " : "", again);
    return 0;
}

int kvz_planfile_check(const struct kvz_planfile *pf, const struct kvz_manifest *m,
                       const char *fingerprint, const struct kvz_plan *p, struct kvz_error **err)
{
    return check(pf, NULL, pf->fingerprint, pf->plan, m, fingerprint, p, err);
}

const struct kvz_planfile_host *kvz_planfile_host(const struct kvz_planfile *pf, const char *name)
{
    for (size_t i = 0; i < pf->n_hosts; i++)
        if (!strcmp(pf->hosts[i].name, name))
            return &pf->hosts[i];
    return NULL;
}

static bool selected(const struct kvz_planfile *pf, const char *name)
{
    for (size_t i = 0; i < pf->n_only; i++)
        if (!strcmp(pf->only[i], name))
            return true;
    return !pf->n_only;
}

static bool same_uri(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

int kvz_planfile_check_inventory(const struct kvz_planfile *pf, const struct kvz_manifest *m,
                                 struct kvz_error **err)
{
    static const char *const again = "run 'kvz plan -o' again and review the new plan";
    for (size_t i = 0; i < pf->n_only; i++)
        if (!kvz_manifest_host(m, pf->only[i]))
            return kvz_error_set(
                err, "stale plan: host '%s' (of its --host) is no longer in the manifests; %s",
                pf->only[i], again);
    for (size_t i = 0; i < m->n_hosts; i++) {
        const struct kvz_host_def *d = &m->hosts[i];
        if (selected(pf, d->name) && !kvz_planfile_host(pf, d->name))
            return kvz_error_set(
                err, "stale plan: host '%s' was added to the manifests since it was made; %s",
                d->name, again);
    }
    for (size_t i = 0; i < pf->n_hosts; i++) {
        const struct kvz_planfile_host *h = &pf->hosts[i];
        const struct kvz_host_def *d = kvz_manifest_host(m, h->name);
        if (!d)
            return kvz_error_set(err, "stale plan: host '%s' is no longer in the manifests; %s",
                                 h->name, again);
        for (int k = KVZ_KIND_CONTAINER; k <= KVZ_KIND_VM; k++) /* the kinds a host has URIs of */
            if (!same_uri(d->uri[k], h->uri[k]))
                return kvz_error_set(
                    err, "stale plan: host '%s' has another URI for %s now (%s, planned on %s); %s",
                    h->name, k == KVZ_KIND_VM ? "vms" : "containers",
                    d->uri[k] ? d->uri[k] : "none", h->uri[k] ? h->uri[k] : "none", again);
    }
    return 0;
}

int kvz_planfile_check_host(const struct kvz_planfile *pf, const struct kvz_planfile_host *h,
                            const struct kvz_manifest *m, const char *fingerprint,
                            const struct kvz_plan *p, struct kvz_error **err)
{
    return check(pf, h->name, h->fingerprint, h->plan, m, fingerprint, p, err);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void kvz_planfile_free(struct kvz_planfile *pf)
{
    if (!pf)
        return;
    free_strings(pf->paths, pf->n_paths);
    free_strings(pf->targets, pf->n_targets);
    free_strings(pf->commits, pf->commits ? pf->n_paths : 0);
    free(pf->manifest_digest);
    free(pf->fingerprint);
    for (int k = 0; k < KVZ_N_KINDS; k++)
        free(pf->uri[k]);
    json_decref(pf->plan);
    free_strings(pf->only, pf->n_only);
    for (size_t i = 0; i < pf->n_hosts; i++) {
        struct kvz_planfile_host *h = &pf->hosts[i];
        free(h->name);
        free(h->fingerprint);
        for (int k = 0; k < KVZ_N_KINDS; k++)
            free(h->uri[k]);
        json_decref(h->plan);
    }
    free(pf->hosts);
    kvz_lockfile_release(&pf->templates);
    free(pf);
}
