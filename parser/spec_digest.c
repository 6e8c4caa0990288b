#include "parser/spec_digest.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kvz_sha256_hex(char out[KVZ_SHA256_HEX], const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL))
        n = 0;
    for (unsigned i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * (n < 32 ? n : 32)] = '\0';
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *template_json(const struct kvz_template *t)
{
    if (!t)
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "name", str_or_null(t->name), "url",
                     str_or_null(t->url), "algo", str_or_null(kvz_digest_algo_str(t->algo)),
                     "digest", str_or_null(t->digest), "checksums_url",
                     str_or_null(t->checksums_url), "insecure", t->insecure);
}

static json_t *keys_json(const struct kvz_resource *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_ssh_keys; i++)
        if (json_array_append_new(a, json_string(r->ssh_keys[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Digests the canonical form of `j` (consumed). */
static int digest_json(char out[KVZ_SHA256_HEX], json_t *j, struct kvz_error **err)
{
    char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!s)
        return kvz_error_set(err, "spec digest: out of memory");
    kvz_sha256_hex(out, s, strlen(s));
    free(s);
    return 0;
}

int kvz_config_digest(char out[KVZ_SHA256_HEX], const struct kvz_resource *r,
                      struct kvz_error **err)
{
    json_t *j = json_pack("{s:o, s:o, s:o}", "hostname", str_or_null(r->hostname), "ssh_keys",
                          keys_json(r), "user_data", str_or_null(r->user_data));
    return digest_json(out, j, err);
}

static json_t *leases_json(const struct kvz_net_spec *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n_leases; i++)
        if (json_array_append_new(a,
                                  json_pack("{s:o, s:o}", "guest", str_or_null(s->leases[i].guest),
                                            "ip", str_or_null(s->leases[i].ip))) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* A network: its settings and the leases of its guests (a guest's ip: is its network's). */
static int network_digest(char out[KVZ_SHA256_HEX], const struct kvz_resource *r,
                          struct kvz_error **err)
{
    const struct kvz_net_spec *s = &r->netspec;
    json_t *j = json_pack("{s:s, s:o, s:s, s:o, s:b, s:b, s:o, s:b, s:b, s:o}", "kind",
                          kvz_kind_str(r->kind), "name", str_or_null(r->name), "mode",
                          kvz_net_mode_str(s->mode), "subnet", str_or_null(s->subnet), "dhcp",
                          s->dhcp, "dns", s->dns, "bridge", str_or_null(s->bridge), "autostart",
                          r->autostart, "protect", r->protect, "leases", leases_json(s));
    return digest_json(out, j, err);
}

int kvz_spec_digest(char out[KVZ_SHA256_HEX], const struct kvz_resource *r, struct kvz_error **err)
{
    if (r->kind == KVZ_KIND_NETWORK)
        return network_digest(out, r, err);
    /* a guest's ip: is part of its network's spec, not of the guest's: it changes live there */
    /* Enums by their manifest names, so reordering an enum never changes a digest. */
    json_t *net = json_pack("{s:s, s:o}", "type", kvz_net_type_str(r->network.type), "name",
                            str_or_null(r->network.name));
    json_t *j = json_pack(
        "{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:b, s:b, s:o, s:o, s:s, s:s, s:o, s:b, s:o}",
        "kind", kvz_kind_str(r->kind), "name", str_or_null(r->name), "template",
        template_json(r->tmpl), "memory", (json_int_t)r->memory, "max_memory",
        (json_int_t)r->max_memory, "cpus_milli", (json_int_t)r->cpus_milli, "max_cpus",
        (json_int_t)r->max_cpus, "disk", (json_int_t)r->disk, "hostname", str_or_null(r->hostname),
        "state", kvz_power_str(r->state), "autostart", r->autostart, "protect", r->protect,
        "network", net, "ssh_keys", keys_json(r), "os", kvz_os_str(r->os), "firmware",
        kvz_firmware_str(r->firmware), "cdrom", template_json(r->cdrom), "cloud_init",
        r->has_cloud_init, "user_data", str_or_null(r->user_data));
    /* Only when used, so the digests of guests made before these keys existed stay. */
    if (j && r->drivers)
        json_object_set_new(j, "drivers", template_json(r->drivers));
    if (j && r->tpm)
        json_object_set_new(j, "tpm", json_true());
    if (j && r->secure_boot)
        json_object_set_new(j, "secure_boot", json_true());
    if (j && r->unattend)
        json_object_set_new(j, "unattend", json_string(r->unattend));
    return digest_json(out, j, err);
}

/* "url:" and the sha256 of a url and a SUMS url: a template declared without a checksum. */
static int url_identity_of(char **out, const char *url, const char *checksums,
                           struct kvz_error **err)
{
    char hex[KVZ_SHA256_HEX];
    json_t *j =
        json_pack("{s:o, s:o}", "url", str_or_null(url), "checksums_url", str_or_null(checksums));
    if (digest_json(hex, j, err) < 0)
        return -1;
    size_t n = sizeof(hex) + 4;
    *out = malloc(n);
    if (!*out)
        return kvz_error_set(err, "template identity: out of memory");
    snprintf(*out, n, "url:%s", hex);
    return 0;
}

static int url_identity(char **out, const struct kvz_template *t, struct kvz_error **err)
{
    return url_identity_of(out, t->url, t->checksums_url, err);
}

int kvz_template_identity(char **out, const struct kvz_template *t, struct kvz_error **err)
{
    *out = NULL;
    const char *algo = kvz_digest_algo_str(t->algo);
    if (!algo || !t->digest)
        return url_identity(out, t, err);
    size_t n = strlen(algo) + strlen(t->digest) + 2;
    *out = malloc(n);
    if (!*out)
        return kvz_error_set(err, "template identity: out of memory");
    snprintf(*out, n, "%s:%s", algo, t->digest);
    return 0;
}

/* The hex of "ALGO:HEX" (or of a bare HEX); NULL for another algorithm. */
static const char *hex_of(const char *digest, const char *algo)
{
    const char *colon = strchr(digest, ':');
    if (!colon)
        return digest;
    size_t n = strlen(algo);
    return (size_t)(colon - digest) == n && !strncmp(digest, algo, n) ? colon + 1 : NULL;
}

/* Whether `recorded_source` is t's source as declared before kvz.lock pinned its SUMS file:
 * a guest made from this very url and SUMS url before `kvz lock`. */
static bool pinned_from(const char *recorded_source, const struct kvz_template *t)
{
    char *id = NULL;
    if (!recorded_source || !t->locked || t->catalog || !t->locked_checksums ||
        url_identity_of(&id, t->url, t->locked_checksums, NULL) < 0)
        return false;
    bool same = !strcmp(recorded_source, id);
    free(id);
    return same;
}

enum kvz_template_match kvz_template_compare(const char *recorded, const char *recorded_source,
                                             const struct kvz_template *t, const char *now)
{
    if (!recorded || !*recorded || !t)
        return KVZ_TEMPLATE_SAME;
    if (!strncmp(recorded, "url:", 4)) {
        /* kvz 0.1, a template without a checksum: same source, same template */
        char *id = NULL;
        if (url_identity(&id, t, NULL) < 0)
            return KVZ_TEMPLATE_SAME;
        bool same = !strcmp(recorded, id);
        free(id);
        return same ? KVZ_TEMPLATE_SAME : KVZ_TEMPLATE_CHANGED;
    }
    const char *rec512 = hex_of(recorded, "sha512");
    if (rec512 && strchr(recorded, ':'))
        /* kvz 0.1 with a declared sha512: only that can be compared with it */
        return t->algo != KVZ_DIGEST_SHA512 || !t->digest || !strcasecmp(rec512, t->digest)
                   ? KVZ_TEMPLATE_SAME
                   : KVZ_TEMPLATE_CHANGED;
    const char *rec = hex_of(recorded, "sha256");
    const char *cur = now ? hex_of(now, "sha256") : t->algo == KVZ_DIGEST_SHA256 ? t->digest : NULL;
    if (rec && cur)
        return !strcasecmp(rec, cur) ? KVZ_TEMPLATE_SAME : KVZ_TEMPLATE_CHANGED;
    if (!recorded_source)
        return KVZ_TEMPLATE_SAME; /* nothing to compare with */
    if (pinned_from(recorded_source, t))
        /* kvz lock pinned the SUMS file this guest was made from, in another algorithm than
         * the content digest the guest records: the same source, no evidence of other bytes */
        return KVZ_TEMPLATE_PIN_UNKNOWN;
    char *id = NULL;
    if (kvz_template_identity(&id, t, NULL) < 0)
        return KVZ_TEMPLATE_SAME;
    bool same = !strcmp(recorded_source, id);
    free(id);
    return same ? KVZ_TEMPLATE_SAME : KVZ_TEMPLATE_CHANGED;
}

bool kvz_template_digest_matches(const char *recorded, const char *recorded_source,
                                 const struct kvz_template *t, const char *now)
{
    return kvz_template_compare(recorded, recorded_source, t, now) != KVZ_TEMPLATE_CHANGED;
}
