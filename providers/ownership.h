#ifndef KVZ_PROVIDERS_OWNERSHIP_H
#define KVZ_PROVIDERS_OWNERSHIP_H

/*
 * kvz's <metadata> on libvirt domains and networks (docs/plan.md, "Ownership"): which
 * stack owns the domain or network and what it was made from. Written by the providers
 * at create and update, read back by observe. A domain or network without it is not kvz's.
 */

#include "base/error.h"
#include "parser/manifest.h"

#include <stdbool.h>

#define KVZ_XMLNS        "https://kvz.dev/xmlns/domain/1"
#define KVZ_XMLNS_PREFIX "kvz"

struct kvz_ownership {
    char *stack;
    enum kvz_kind kind;
    char *spec_digest;
    char *template_digest;
    char *config_digest;
    char *applied_at; /* RFC 3339 UTC */
    char *kvz_version;
    char *source;
    bool protect;
    char *state_dir;       /* the state dir that holds the guest's files (absolute) */
    char *template_source; /* the template's identity as declared: url and checksum */
    char *stop_timeout;    /* seconds a graceful stop may take (decimal), or NULL: default */
    /* the catalog entry's version it was made from, or NULL */
    char *template_version;
    /* a container on shared layers (docs/containers.md): the template's read-only tree and its
     * own writable layer; the libvirt hook mounts them on the domain's filesystem source */
    char *layer_lower, *layer_upper, *layer_work;
    /* a container whose rootfs is an image on a remote host (docs/hosts.md): the hostname kvz
     * wrote into it, which cannot be read back through libvirt */
    char *hostname;
};

/* The elements of the layers, read by the libvirt hook (kvz-lxc-hook) too. */
#define KVZ_OWN_LAYER_LOWER "layer-lower"
#define KVZ_OWN_LAYER_UPPER "layer-upper"
#define KVZ_OWN_LAYER_WORK  "layer-work"

/* The <kvz:resource xmlns:kvz=...> element as a string, escaped by libxml2; caller frees *out. */
int kvz_ownership_to_xml(char **out, const struct kvz_ownership *o, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* The same element without a namespace, for virDomainSetMetadata(..., KVZ_XMLNS_PREFIX, KVZ_XMLNS,
 * ...): libvirt puts it and its children in the namespace itself and refuses an element that
 * already declares the prefix ("failed to create a new XML namespace"). Caller frees *out. */
int kvz_ownership_to_metadata_xml(char **out, const struct kvz_ownership *o, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Reads kvz's metadata from a whole domain (or network) XML document. *out is NULL (and 0 is
 * returned) when it has none. Caller frees with kvz_ownership_free. */
int kvz_ownership_from_domain_xml(struct kvz_ownership **out, const char *domain_xml,
                                  struct kvz_error **err) __attribute__((warn_unused_result));

/* The same from an already parsed document's root element (an xmlNodePtr). */
struct _xmlNode;
int kvz_ownership_from_domain_node(struct kvz_ownership **out, struct _xmlNode *root,
                                   struct kvz_error **err) __attribute__((warn_unused_result));

void kvz_ownership_free(struct kvz_ownership *o);

/* MAC address (52:54:00:xx:xx:xx) and UUID derived from stack and name, stable across replace. */
void kvz_identity_mac(char out[18], const char *stack, const char *name);
void kvz_identity_uuid(char out[37], const char *stack, const char *name);
/* The bridge device of a network kvz makes ("kvz-" and 11 hex digits), from stack and network
 * name: libvirt's own virbrN naming can collide with a bridge left behind by a daemon crash. */
void kvz_identity_bridge(char out[16], const char *stack, const char *name);

#endif
