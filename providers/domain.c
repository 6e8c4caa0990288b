#include "providers/domain.h"

#include "base/fs.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kvz_virt_msg(void)
{
    static _Thread_local char msg[1024];
    virErrorPtr e = virGetLastError();
    snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "unknown libvirt error");
    return msg;
}

int kvz_virt_code(void)
{
    virErrorPtr e = virGetLastError();
    return e ? e->code : 0;
}

bool kvz_virt_changed(void)
{
    int code = kvz_virt_code();
    return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
}

int kvz_owned_check(struct kvz_ownership **own_out, const struct kvz_host *h, const char *what,
                    const char *name, enum kvz_kind kind, const char *xml, struct kvz_error **err)
{
    struct kvz_ownership *own = NULL;
    int ret = -1;
    if (own_out)
        *own_out = NULL;
    if (kvz_ownership_from_domain_xml(&own, xml, err) < 0) {
        kvz_error_wrap(err, "%s '%s'", what, name);
        goto cleanup;
    }
    if (!own) {
        kvz_error_set(
            err,
            "%s '%s' exists and is not managed by kvz; rename the resource or remove the %s yourself",
            what, name, what);
        goto cleanup;
    }
    if (own->kind != kind || !own->stack || strcmp(own->stack, h->stack)) {
        kvz_error_set(err, "%s '%s' belongs to stack '%s' (%s), not to '%s'; kvz leaves it alone",
                      what, name, own->stack ? own->stack : "?", kvz_kind_str(own->kind), h->stack);
        goto cleanup;
    }
    if (own_out) {
        *own_out = own;
        own = NULL;
    }
    ret = 0;
cleanup:
    kvz_ownership_free(own);
    return ret;
}

int kvz_domain_lookup(virDomainPtr *out, struct kvz_ownership **own_out, struct kvz_host *h,
                      enum kvz_kind kind, const char *name, struct kvz_error **err)
{
    char *xml = NULL;
    int ret = -1;
    *out = NULL;
    if (own_out)
        *own_out = NULL;
    virDomainPtr dom = virDomainLookupByName(h->conn, name);
    if (!dom) {
        if (kvz_virt_code() == VIR_ERR_NO_DOMAIN)
            return 0;
        return kvz_error_set(err, "look up domain '%s' on '%s': %s", name, h->uri, kvz_virt_msg());
    }
    /* The persistent definition: where kvz records its metadata. */
    if (!(xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE))) {
        kvz_error_set(err, "read domain '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_owned_check(own_out, h, "domain", name, kind, xml, err) < 0)
        goto cleanup;
    *out = dom;
    dom = NULL;
    ret = 0;
cleanup:
    if (dom)
        virDomainFree(dom);
    free(xml);
    return ret;
}

int kvz_domain_meta_init(struct kvz_domain_meta *m, const struct kvz_host *h, enum kvz_kind kind,
                         const struct kvz_resource *want, const char *template_digest,
                         struct kvz_error **err)
{
    memset(m, 0, sizeof(*m));
    /* The digests the planner compares with the manifests (parser/spec_digest.h). */
    if (kvz_spec_digest(m->spec, want, err) < 0 || kvz_config_digest(m->config, want, err) < 0)
        return -1;
    if (template_digest && !(m->template_digest = strdup(template_digest)))
        return kvz_error_set(err, "kvz metadata: out of memory");
    if (!template_digest && want->tmpl &&
        kvz_template_identity(&m->template_digest, want->tmpl, err) < 0)
        return -1;
    kvz_utc_now(m->applied);
    m->o = (struct kvz_ownership){
        .stack = (char *)h->stack,
        .kind = kind,
        .spec_digest = m->spec,
        .template_digest = m->template_digest,
        .config_digest = m->config,
        .applied_at = m->applied,
        .kvz_version = KVZ_VERSION,
        .source = (char *)h->source,
        .protect = want->protect,
    };
    return 0;
}

void kvz_domain_meta_release(struct kvz_domain_meta *m)
{
    free(m->template_digest);
    m->template_digest = NULL;
}

int kvz_xml_dump(char **out, xmlNodePtr node, struct kvz_error **err)
{
    xmlBufferPtr xbuf = xmlBufferCreate();
    xmlSaveCtxtPtr save =
        xbuf ? xmlSaveToBuffer(xbuf, "UTF-8", XML_SAVE_NO_DECL | XML_SAVE_FORMAT) : NULL;
    int ret = -1;
    *out = NULL;
    if (!save || xmlSaveTree(save, node) < 0)
        goto cleanup;
    xmlSaveClose(save);
    save = NULL;
    const char *s = (const char *)xmlBufferContent(xbuf);
    size_t len = strlen(s);
    while (len && s[len - 1] == '\n')
        len--;
    if (!(*out = malloc(len + 2)))
        goto cleanup;
    memcpy(*out, s, len);
    (*out)[len] = '\n';
    (*out)[len + 1] = '\0';
    ret = 0;
cleanup:
    if (save)
        xmlSaveClose(save);
    xmlBufferFree(xbuf);
    return ret < 0 ? kvz_error_set(err, "XML '%s': cannot serialise (out of memory)",
                                   node ? (const char *)node->name : "?")
                   : 0;
}

int kvz_xml_append_metadata(xmlNodePtr md, const char *metadata_xml, struct kvz_error **err)
{
    if (!metadata_xml)
        return 0;
    xmlDocPtr mdoc = xmlReadMemory(metadata_xml, (int)strlen(metadata_xml), "metadata.xml", NULL,
                                   XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!mdoc || !xmlDocGetRootElement(mdoc)) {
        xmlFreeDoc(mdoc);
        return kvz_error_set(err, "kvz metadata is not well-formed XML");
    }
    xmlNodePtr copy = xmlDocCopyNode(xmlDocGetRootElement(mdoc), md->doc, 1);
    xmlFreeDoc(mdoc);
    if (!copy)
        return kvz_error_set(err, "copy kvz metadata: out of memory");
    xmlAddChild(md, copy);
    return 0;
}

int kvz_xml_replace_metadata(char **out, const char *xml, const char *root,
                             const char *metadata_xml, struct kvz_error **err)
{
    int rc = -1;
    *out = NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr top = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!top || xmlStrcmp(top->name, BAD_CAST root)) {
        kvz_error_set(err, "%s xml: not well-formed", root);
        goto cleanup;
    }
    xmlNodePtr md = NULL;
    for (xmlNodePtr n = top->children; n && !md; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST "metadata"))
            md = n;
    if (!md && !(md = xmlNewChild(top, NULL, BAD_CAST "metadata", NULL))) {
        kvz_error_set(err, "%s xml: out of memory", root);
        goto cleanup;
    }
    /* Drop kvz's old element; other tools' metadata stays. */
    for (xmlNodePtr n = md->children, next; n; n = next) {
        next = n->next;
        if (n->type == XML_ELEMENT_NODE && n->ns && !xmlStrcmp(n->ns->href, BAD_CAST KVZ_XMLNS)) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
    }
    if (kvz_xml_append_metadata(md, metadata_xml, err) < 0)
        goto cleanup;
    rc = kvz_xml_dump(out, top, err);
cleanup:
    xmlFreeDoc(doc);
    return rc;
}
