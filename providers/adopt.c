#include "providers/adopt.h"

#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

void kvz_adoption_release(struct kvz_adoption *a)
{
    free(a->storage);
    free(a->mac);
    a->storage = a->mac = NULL;
}

int kvz_adopt_find(virDomainPtr *dom, char **xml, struct kvz_adoption *out, struct kvz_host *h,
                   enum kvz_kind kind, const char *name, struct kvz_error **err)
{
    struct kvz_ownership *own = NULL;
    const char *what = kvz_kind_str(kind);
    int ret = -1;

    memset(out, 0, sizeof(*out));
    out->id = -1;
    *xml = NULL;
    if (!(*dom = virDomainLookupByName(h->conn, name))) {
        if (kvz_virt_code() == VIR_ERR_NO_DOMAIN)
            return kvz_error_set(
                err, "%s '%s': no such domain on '%s' to import; 'kvz apply' would create it", what,
                name, h->uri);
        return kvz_error_set(err, "look up domain '%s' on '%s': %s", name, h->uri, kvz_virt_msg());
    }
    if (!(*xml = virDomainGetXMLDesc(*dom, VIR_DOMAIN_XML_INACTIVE))) {
        kvz_error_set(err, "read domain '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_ownership_from_domain_xml(&own, *xml, err) < 0)
        goto cleanup;
    if (own && own->stack && strcmp(own->stack, h->stack)) {
        kvz_error_set(err,
                      "%s '%s' belongs to stack '%s': kvz imports only domains kvz did not make; "
                      "manage it from that stack's manifests",
                      what, name, own->stack);
        goto cleanup;
    }
    if (own && own->kind != kind) {
        kvz_error_set(err, "'%s' is stack '%s''s %s, not a %s; fix its kind in the manifest", name,
                      h->stack, kvz_kind_str(own->kind), what);
        goto cleanup;
    }
    out->already = own != NULL;
    out->running = virDomainIsActive(*dom) == 1;
    if (out->running)
        out->id = (int)virDomainGetID(*dom);
    ret = 0;
cleanup:
    kvz_ownership_free(own);
    if (ret < 0) {
        virDomainFree(*dom);
        *dom = NULL;
        free(*xml);
        *xml = NULL;
    }
    return ret;
}

int kvz_adopt_record(struct kvz_host *h, virDomainPtr dom, enum kvz_kind kind,
                     const struct kvz_resource *want, bool running, struct kvz_error **err)
{
    struct kvz_domain_meta m;
    char *xml = NULL;
    int ret = -1;
    if (kvz_domain_meta_init(&m, h, kind, want, NULL, err) < 0)
        goto cleanup;
    /* unknown: the planner then compares fields (the spec) and keeps the guest (the template);
     * the injected config (hostname, keys, cloud-init) is kvz's to write from the next change */
    m.o.spec_digest = NULL;
    m.o.config_digest = NULL;
    m.o.template_source = NULL;
    if (kvz_ownership_to_metadata_xml(&xml, &m.o, err) < 0)
        goto cleanup;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG | (running ? VIR_DOMAIN_AFFECT_LIVE : 0);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, KVZ_XMLNS_PREFIX, KVZ_XMLNS,
                             flags) < 0) {
        kvz_error_set(err, "%s '%s': record kvz metadata: %s", kvz_kind_str(kind), want->name,
                      kvz_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    kvz_domain_meta_release(&m);
    free(xml);
    return ret;
}
