#ifndef KVZ_PARSER_SCHEMA_H
#define KVZ_PARSER_SCHEMA_H

#include "parser/diag.h"
#include "parser/manifest.h"
#include "parser/yaml_tree.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Field tables: for each section of a manifest, the keys it may hold, their
 * types and which are required. kvz_schema_decode() turns a mapping node into
 * a struct with them, reporting every bad value and unknown key.
 */
enum kvz_field_type {
    KVZ_F_STRING,   /* char * */
    KVZ_F_NAME,     /* char *, kvz_name_valid() */
    KVZ_F_HOSTNAME, /* char * */
    KVZ_F_URL,      /* char *, http(s)://, file:// or a path */
    KVZ_F_URI,      /* char *, a libvirt connection URI */
    KVZ_F_SHA256,   /* char *, 64 hex digits, lowercased */
    KVZ_F_SHA512,   /* char *, 128 hex digits, lowercased */
    KVZ_F_BOOL,     /* bool */
    KVZ_F_SIZE,     /* uint64_t bytes */
    KVZ_F_CPUS,     /* uint32_t thousandths; fractions allowed */
    KVZ_F_VCPUS,    /* uint32_t thousandths; whole numbers */
    KVZ_F_COUNT,    /* uint32_t whole vCPUs */
    KVZ_F_DURATION, /* uint32_t seconds: "30s", "2m", "1h" */
    KVZ_F_VERSION,  /* int, must be 1 */
    KVZ_F_ENUM,     /* int (an enum), index into choices */
    KVZ_F_SSH_KEYS, /* char ** at off, size_t count at off2 */
    KVZ_F_NETWORK,  /* struct kvz_network */
    KVZ_F_SUBNET,   /* char *, an IPv4 network address with its prefix (parser/netaddr.h) */
    KVZ_F_IPV4,     /* char *, a dotted IPv4 address */
    KVZ_F_MAP,      /* sub-schema decoded into the same struct; bool at off unless NO_OFF */
    KVZ_F_SECTION,  /* a mapping handled by the caller (templates:, networks:, containers:, ...) */
};

#define KVZ_NO_OFF ((size_t)-1)

struct kvz_schema;

struct kvz_field {
    const char *key;
    enum kvz_field_type type;
    size_t off, off2;
    bool required;
    const char *example;          /* a valid value, shown in messages */
    const char *const *choices;   /* KVZ_F_ENUM: NULL-terminated */
    const struct kvz_schema *sub; /* KVZ_F_MAP */
};

struct kvz_schema {
    const char *what; /* "container", "vm", "template", ... */
    const struct kvz_field *fields;
    size_t n;
    const struct kvz_schema *sibling; /* the other resource kind, to say "only for vms" */
};

/* A template as written, before kvz_manifest.c checks how its keys combine. */
struct kvz_template_raw {
    char *url, *sha256, *sha512, *checksums, *signature, *keyring, *catalog, *entry;
    bool insecure;
};

/* A catalog as written (`catalogs:`). */
struct kvz_catalog_raw {
    int kind; /* enum kvz_catalog_kind */
    char *url, *signature, *keyring;
};

/* The top of one file. */
struct kvz_file_head {
    int version;
    char *stack, *containers_uri, *vms_uri;
};

extern const struct kvz_schema kvz_schema_file, kvz_schema_template, kvz_schema_catalog,
    kvz_schema_container, kvz_schema_vm, kvz_schema_network;

/* The schema of resources of kind k. */
const struct kvz_schema *kvz_schema_of(enum kvz_kind k);

/*
 * Decodes mapping `map` into `target` by `s`. `owner` names the thing in
 * messages ("container 'web1'"); `at` locates missing-key errors. `target`
 * starts zeroed; values that fail keep their zero. Returns the number of
 * errors reported.
 */
size_t kvz_schema_decode(const struct kvz_schema *s, const struct kvz_ynode *map, void *target,
                         const char *owner, const struct kvz_ynode *at, const char *file,
                         struct kvz_diags *d);

/* Frees the strings a decode put into target. */
void kvz_schema_release(const struct kvz_schema *s, void *target);

#endif
