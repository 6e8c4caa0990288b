#ifndef KVZ_PROVIDERS_DOMAIN_H
#define KVZ_PROVIDERS_DOMAIN_H

/*
 * What the libvirt providers (container/, vm/, network/) share: libvirt's
 * error messages, the lookup of a domain kvz owns, the metadata kvz records on
 * a domain or network, and XML serialisation. The planner never includes this
 * header.
 */

#include "base/error.h"
#include "parser/manifest.h"
#include "parser/spec_digest.h"
#include "providers/ownership.h"
#include "providers/provider.h"

#include <libvirt/libvirt.h>
#include <libxml/tree.h>

/* libvirt's last error message, or "unknown libvirt error": a per-thread copy valid until the
 * next call (every libvirt call, virDomainGetName in the same argument list too, resets the
 * last error and frees the string it pointed to). */
const char *kvz_virt_msg(void);

/* libvirt's last error code (VIR_ERR_*), 0 when none. */
int kvz_virt_code(void);

/* Whether libvirt's last error says the domain changed under us: undefined, or no longer
 * running. */
bool kvz_virt_changed(void);

/*
 * Whether the persistent definition `xml` of the domain or network `name` (`what`: "domain",
 * "network") carries kvz's metadata of stack h->stack and `kind`: 0, with the metadata in
 * *own (may be NULL; kvz_ownership_free), or -1 with an error saying kvz leaves it alone.
 */
int kvz_owned_check(struct kvz_ownership **own, const struct kvz_host *h, const char *what,
                    const char *name, enum kvz_kind kind, const char *xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/*
 * The domain `name` if stack h->stack owns it as a guest of `kind`: *out is NULL (and 0 is
 * returned) when no domain has that name; a domain without kvz's metadata, or another stack's
 * or kind's, is an error and never touched. *own (may be NULL) receives the metadata; caller
 * frees it with kvz_ownership_free and *out with virDomainFree.
 */
int kvz_domain_lookup(virDomainPtr *out, struct kvz_ownership **own, struct kvz_host *h,
                      enum kvz_kind kind, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* kvz's metadata for `want` made now: its digests, the time, this kvz, h's provenance and state
 * dir. The strings of `o` point into this struct, `h` and `want`. */
struct kvz_domain_meta {
    struct kvz_ownership o;
    char spec[KVZ_SHA256_HEX], config[KVZ_SHA256_HEX], applied[32], stop[16];
    char *template_digest, *template_source; /* owned */
};

/* `template_digest` is the content digest ("sha256:HEX") of what the guest was made from, or
 * NULL when it was made from none. The template's declared identity is recorded beside it. */
int kvz_domain_meta_init(struct kvz_domain_meta *m, const struct kvz_host *h, enum kvz_kind kind,
                         const struct kvz_resource *want, const char *template_digest,
                         struct kvz_error **err) __attribute__((warn_unused_result));
void kvz_domain_meta_release(struct kvz_domain_meta *m);

/* Hands the strings of kvz's metadata `o` over to the observed entry `r` (o keeps none). */
void kvz_domain_meta_observed(struct kvz_observed_resource *r, struct kvz_ownership *o);

/*
 * Stopping guests, many at once: waiting is not work. Each guest is asked to shut down, then
 * all of them are watched together (one libvirt call a tick for all), asked again as their
 * kind needs, and each one still running when its own timeout ends is forced off.
 */
struct kvz_stop_ops {
    /* Asks `dom` to shut down: at elapsed_ms 0 the first time, then on every tick while it
     * runs (the provider decides whether to ask again, e.g. a SIGTERM its init dropped).
     * *state is the provider's, NULL at first and freed with free() at the end. */
    void (*ask)(struct kvz_host *h, virDomainPtr dom, void **state, long elapsed_ms);
    unsigned default_timeout_s; /* for a guest with no timeout of its own */
};

struct kvz_stop_req {
    virDomainPtr dom;      /* borrowed */
    unsigned timeout_s;    /* 0: the ops' default */
    struct kvz_error *err; /* set when it could not be stopped */
    void *state;           /* the provider's */
};

/* Stops the n guests (running or not) of `v`; `force`: no grace, forced off at once. Returns 0
 * when all are stopped, else -1 (each failure is in v[i].err). */
int kvz_domains_stop(struct kvz_host *h, const struct kvz_stop_ops *ops, struct kvz_stop_req *v,
                     size_t n, bool force);

/* The ops table's stop_many for a provider of `kind`: the stack's guests `names` looked up
 * (owned ones only) and stopped together with kvz_domains_stop. */
int kvz_domain_stop_many(struct kvz_host *h, enum kvz_kind kind, const struct kvz_stop_ops *ops,
                         const char *const *names, const unsigned *timeouts, size_t n, bool force,
                         struct kvz_error **errs);

/* The stop timeout kvz recorded on a domain (seconds), 0 when none. */
unsigned kvz_ownership_stop_timeout(const struct kvz_ownership *o);

/* `node` (of its document) as indented XML without the <?xml?> declaration, ending in one
 * newline. Caller frees *out. */
int kvz_xml_dump(char **out, xmlNodePtr node, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Appends a copy of the element `metadata_xml` (kvz_ownership_to_xml; NULL: nothing) to the
 * <metadata> node `md`. */
int kvz_xml_append_metadata(xmlNodePtr md, const char *metadata_xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* `xml` (a libvirt document whose root element is `root`: "domain", "network") with kvz's
 * element in <metadata> replaced by `metadata_xml` (other tools' metadata kept), for redefining
 * it. Caller frees *out. */
int kvz_xml_replace_metadata(char **out, const char *xml, const char *root,
                             const char *metadata_xml, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
