#include "providers/ownership.h"

#include "providers/domain.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Child elements of <kvz:resource>, in the order they are written. */
#define EL_STACK    "stack"
#define EL_KIND     "kind"
#define EL_SPEC     "spec-digest"
#define EL_TEMPLATE "template-digest"
#define EL_CONFIG   "config-digest"
#define EL_APPLIED  "applied-at"
#define EL_VERSION  "kvz-version"
#define EL_SOURCE   "source"
#define EL_PROTECT  "protect"
#define EL_STATEDIR "state-dir"
#define EL_TSOURCE  "template-source"
#define EL_STOP     "stop-timeout"
#define EL_TVERSION "template-version"
#define EL_HOSTNAME "hostname"

static int add_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *value)
{
    if (!value)
        return 0;
    /* xmlNewTextChild escapes the content; xmlNewChild would take it as markup. */
    return xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST value) ? 0 : -1;
}

static int to_xml(char **out, const struct kvz_ownership *o, bool with_ns, struct kvz_error **err)
{
    xmlDocPtr doc = NULL;
    int ret = -1;

    *out = NULL;
    if (!(doc = xmlNewDoc(BAD_CAST "1.0")))
        goto oom;
    xmlNodePtr root = xmlNewDocNode(doc, NULL, BAD_CAST "resource", NULL);
    if (!root)
        goto oom;
    xmlDocSetRootElement(doc, root);
    xmlNsPtr ns = NULL;
    if (with_ns) {
        if (!(ns = xmlNewNs(root, BAD_CAST KVZ_XMLNS, BAD_CAST KVZ_XMLNS_PREFIX)))
            goto oom;
        xmlSetNs(root, ns);
    }
    if (add_child(root, ns, EL_STACK, o->stack) < 0 ||
        add_child(root, ns, EL_KIND, kvz_kind_str(o->kind)) < 0 ||
        add_child(root, ns, EL_SPEC, o->spec_digest) < 0 ||
        add_child(root, ns, EL_TEMPLATE, o->template_digest) < 0 ||
        add_child(root, ns, EL_CONFIG, o->config_digest) < 0 ||
        add_child(root, ns, EL_APPLIED, o->applied_at) < 0 ||
        add_child(root, ns, EL_VERSION, o->kvz_version) < 0 ||
        add_child(root, ns, EL_SOURCE, o->source) < 0 ||
        add_child(root, ns, EL_PROTECT, o->protect ? "true" : "false") < 0 ||
        add_child(root, ns, EL_STATEDIR, o->state_dir) < 0 ||
        add_child(root, ns, EL_TSOURCE, o->template_source) < 0 ||
        add_child(root, ns, EL_STOP, o->stop_timeout) < 0 ||
        add_child(root, ns, EL_TVERSION, o->template_version) < 0 ||
        add_child(root, ns, EL_HOSTNAME, o->hostname) < 0 ||
        add_child(root, ns, KVZ_OWN_LAYER_LOWER, o->layer_lower) < 0 ||
        add_child(root, ns, KVZ_OWN_LAYER_UPPER, o->layer_upper) < 0 ||
        add_child(root, ns, KVZ_OWN_LAYER_WORK, o->layer_work) < 0)
        goto oom;

    /* The element alone, without the <?xml?> declaration: it goes inside <metadata>. */
    ret = kvz_xml_dump(out, root, err);
    goto cleanup;
oom:
    ret = kvz_error_set(err, "kvz metadata: out of memory");
cleanup:
    xmlFreeDoc(doc);
    return ret;
}

int kvz_ownership_to_xml(char **out, const struct kvz_ownership *o, struct kvz_error **err)
{
    return to_xml(out, o, true, err);
}

int kvz_ownership_to_metadata_xml(char **out, const struct kvz_ownership *o, struct kvz_error **err)
{
    return to_xml(out, o, false, err);
}

static bool is_kvz_ns(const xmlNode *n)
{
    return n->ns && n->ns->href && strcmp((const char *)n->ns->href, KVZ_XMLNS) == 0;
}

/* <metadata> children of the domain (or network) root. */
static xmlNodePtr find_resource(xmlNodePtr root)
{
    for (xmlNodePtr m = root->children; m; m = m->next) {
        if (m->type != XML_ELEMENT_NODE || strcmp((const char *)m->name, "metadata") != 0 || m->ns)
            continue;
        for (xmlNodePtr r = m->children; r; r = r->next)
            if (r->type == XML_ELEMENT_NODE && is_kvz_ns(r) &&
                strcmp((const char *)r->name, "resource") == 0)
                return r;
    }
    return NULL;
}

/* Children are ours by position; libvirt may re-serialise them with or without the prefix. */
static int read_child(char **out, xmlNodePtr node)
{
    xmlChar *s = xmlNodeGetContent(node);
    if (!s)
        return -1;
    free(*out);
    *out = strdup((const char *)s);
    xmlFree(s);
    return *out ? 0 : -1;
}

int kvz_ownership_from_domain_xml(struct kvz_ownership **out, const char *domain_xml,
                                  struct kvz_error **err)
{
    *out = NULL;
    xmlDocPtr doc = xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int ret = kvz_ownership_from_domain_node(out, doc ? xmlDocGetRootElement(doc) : NULL, err);
    xmlFreeDoc(doc);
    return ret;
}

int kvz_ownership_from_domain_node(struct kvz_ownership **out, struct _xmlNode *root,
                                   struct kvz_error **err)
{
    struct kvz_ownership *o = NULL;
    char *kind = NULL, *protect = NULL;
    int ret = -1;

    *out = NULL;
    if (!root || (strcmp((const char *)root->name, "domain") != 0 &&
                  strcmp((const char *)root->name, "network") != 0)) {
        ret = kvz_error_set(err, "libvirt XML: not a <domain> or <network> document");
        goto cleanup;
    }
    xmlNodePtr res = find_resource(root);
    if (!res) {
        ret = 0;
        goto cleanup;
    }
    if (!(o = calloc(1, sizeof(*o))))
        goto oom;
    for (xmlNodePtr c = res->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || (c->ns && !is_kvz_ns(c)))
            continue;
        const char *n = (const char *)c->name;
        char **dst = strcmp(n, EL_STACK) == 0              ? &o->stack
                     : strcmp(n, EL_KIND) == 0             ? &kind
                     : strcmp(n, EL_SPEC) == 0             ? &o->spec_digest
                     : strcmp(n, EL_TEMPLATE) == 0         ? &o->template_digest
                     : strcmp(n, EL_CONFIG) == 0           ? &o->config_digest
                     : strcmp(n, EL_APPLIED) == 0          ? &o->applied_at
                     : strcmp(n, EL_VERSION) == 0          ? &o->kvz_version
                     : strcmp(n, EL_SOURCE) == 0           ? &o->source
                     : strcmp(n, EL_PROTECT) == 0          ? &protect
                     : strcmp(n, EL_STATEDIR) == 0         ? &o->state_dir
                     : strcmp(n, EL_TSOURCE) == 0          ? &o->template_source
                     : strcmp(n, EL_STOP) == 0             ? &o->stop_timeout
                     : strcmp(n, EL_TVERSION) == 0         ? &o->template_version
                     : strcmp(n, EL_HOSTNAME) == 0         ? &o->hostname
                     : strcmp(n, KVZ_OWN_LAYER_LOWER) == 0 ? &o->layer_lower
                     : strcmp(n, KVZ_OWN_LAYER_UPPER) == 0 ? &o->layer_upper
                     : strcmp(n, KVZ_OWN_LAYER_WORK) == 0  ? &o->layer_work
                                                           : NULL;
        if (dst && read_child(dst, c) < 0)
            goto oom;
    }
    if (!o->stack || !kind) {
        ret = kvz_error_set(
            err,
            "kvz metadata: <%s> or <%s> missing; the domain's metadata was edited by hand, restore it or remove the domain",
            EL_STACK, EL_KIND);
        goto cleanup;
    }
    if (strcmp(kind, "container") == 0)
        o->kind = KVZ_KIND_CONTAINER;
    else if (strcmp(kind, "vm") == 0)
        o->kind = KVZ_KIND_VM;
    else if (strcmp(kind, "network") == 0)
        o->kind = KVZ_KIND_NETWORK;
    else {
        ret = kvz_error_set(
            err, "kvz metadata: unknown kind '%s'; expected container, vm or network", kind);
        goto cleanup;
    }
    o->protect = protect && strcmp(protect, "true") == 0;
    *out = o;
    o = NULL;
    ret = 0;
    goto cleanup;
oom:
    ret = kvz_error_set(err, "kvz metadata: out of memory");
cleanup:
    kvz_ownership_free(o);
    free(kind);
    free(protect);
    return ret;
}

void kvz_ownership_free(struct kvz_ownership *o)
{
    if (!o)
        return;
    free(o->stack);
    free(o->spec_digest);
    free(o->template_digest);
    free(o->config_digest);
    free(o->applied_at);
    free(o->kvz_version);
    free(o->source);
    free(o->state_dir);
    free(o->template_source);
    free(o->stop_timeout);
    free(o->template_version);
    free(o->hostname);
    free(o->layer_lower);
    free(o->layer_upper);
    free(o->layer_work);
    free(o);
}

/* sha256 over "kvz-<purpose>\0<stack>\0<name>": the NULs keep ("a-b","c") apart from ("a","b-c").
 * The void API has no error path; OpenSSL fails here only when out of memory, and then the
 * digest stays all zeros rather than random. */
static void identity_digest(unsigned char md[32], const char *purpose, const char *stack,
                            const char *name)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    memset(md, 0, 32);
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, "kvz-", 4) == 1 &&
        EVP_DigestUpdate(ctx, purpose, strlen(purpose) + 1) == 1 &&
        EVP_DigestUpdate(ctx, stack, strlen(stack) + 1) == 1 &&
        EVP_DigestUpdate(ctx, name, strlen(name)) == 1)
        EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
}

void kvz_identity_mac(char out[18], const char *stack, const char *name)
{
    unsigned char md[32];
    identity_digest(md, "mac", stack, name);
    /* 52:54:00 is the prefix libvirt and QEMU use for locally administered guest MACs. */
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", md[0], md[1], md[2]);
}

void kvz_identity_uuid(char out[37], const char *stack, const char *name)
{
    unsigned char md[32];
    identity_digest(md, "uuid", stack, name);
    /* Name-based like RFC 4122 version 5, with sha256 truncated instead of sha1. */
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

void kvz_identity_bridge(char out[16], const char *stack, const char *name)
{
    unsigned char md[32];
    identity_digest(md, "bridge", stack, name);
    /* 15 characters, the kernel's limit for an interface name */
    snprintf(out, 16, "kvz-%02x%02x%02x%02x%02x%x", md[0], md[1], md[2], md[3], md[4], md[5] >> 4);
}
