#include "providers/domain.h"

#include "base/fs.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    if (want->tmpl && kvz_template_identity(&m->template_source, want->tmpl, err) < 0)
        return -1;
    kvz_utc_now(m->applied);
    if (want->stop_timeout)
        snprintf(m->stop, sizeof(m->stop), "%u", (unsigned)want->stop_timeout);
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
        .state_dir = (char *)h->state_dir,
        .template_source = m->template_source,
        .stop_timeout = m->stop[0] ? m->stop : NULL,
        .template_version = want->tmpl ? want->tmpl->version : NULL,
    };
    return 0;
}

void kvz_domain_meta_release(struct kvz_domain_meta *m)
{
    free(m->template_digest);
    free(m->template_source);
    m->template_digest = m->template_source = NULL;
}

void kvz_domain_meta_observed(struct kvz_observed_resource *r, struct kvz_ownership *o)
{
    r->managed = o->kind == r->kind;
    r->stack = o->stack;
    r->spec_digest = o->spec_digest;
    r->template_digest = o->template_digest;
    r->config_digest = o->config_digest;
    r->applied_at = o->applied_at;
    r->kvz_version = o->kvz_version;
    r->source = o->source;
    r->state_dir = o->state_dir;
    r->template_source = o->template_source;
    r->template_version = o->template_version;
    o->template_version = NULL;
    if (!r->hostname) { /* a remote container's image: what kvz wrote into it */
        r->hostname = o->hostname;
        o->hostname = NULL;
    }
    r->protect = o->protect;
    r->stop_timeout = o->stop_timeout ? (unsigned)strtoul(o->stop_timeout, NULL, 10) : 0;
    o->stack = o->spec_digest = o->template_digest = o->config_digest = NULL;
    o->applied_at = o->kvz_version = o->source = o->state_dir = o->template_source = NULL;
    /* kvz 0.1 wrote empty elements for what it did not know */
    char **strs[] = {&r->template_digest, &r->source, &r->template_source};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] && !**strs[i]) {
            free(*strs[i]);
            *strs[i] = NULL;
        }
}

unsigned kvz_ownership_stop_timeout(const struct kvz_ownership *o)
{
    return o && o->stop_timeout ? (unsigned)strtoul(o->stop_timeout, NULL, 10) : 0;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Whether the domain with this UUID is among the running ones. */
static bool listed(virDomainPtr *active, int n, const unsigned char uuid[VIR_UUID_BUFLEN])
{
    unsigned char u[VIR_UUID_BUFLEN];
    for (int i = 0; i < n; i++)
        if (virDomainGetUUID(active[i], u) == 0 && !memcmp(u, uuid, VIR_UUID_BUFLEN))
            return true;
    return false;
}

/* Forces one guest off; its error (unless it stopped meanwhile) goes into r->err. */
static void force_off(struct kvz_host *h, struct kvz_stop_req *r, const char *why)
{
    const char *name = virDomainGetName(r->dom);
    kvz_host_log(h, name, why);
    if (virDomainDestroy(r->dom) < 0 && virDomainIsActive(r->dom) == 1)
        kvz_error_set(&r->err, "stop '%s': %s", name, kvz_virt_msg());
}

/* Forcing off waits too (libvirt kills each guest and waits for it): several at once. */
#define FORCE_THREADS 8

struct forcing {
    struct kvz_host *h;
    struct kvz_stop_req *v;
    const size_t *which;
    size_t n;
    const char *why;
    atomic_size_t next;
};

static void *force_worker(void *arg)
{
    struct forcing *f = arg;
    for (size_t i; (i = atomic_fetch_add(&f->next, 1)) < f->n;)
        force_off(f->h, &f->v[f->which[i]], f->why);
    return NULL;
}

static void force_all(struct kvz_host *h, struct kvz_stop_req *v, const size_t *which, size_t n,
                      const char *why)
{
    struct forcing f = {.h = h, .v = v, .which = which, .n = n, .why = why};
    pthread_t th[FORCE_THREADS];
    size_t started = 0;
    while (started + 1 < FORCE_THREADS && started + 1 < n &&
           pthread_create(&th[started], NULL, force_worker, &f) == 0)
        started++;
    force_worker(&f);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

int kvz_domains_stop(struct kvz_host *h, const struct kvz_stop_ops *ops, struct kvz_stop_req *v,
                     size_t n, bool force)
{
    struct timespec t0;
    unsigned char(*uuid)[VIR_UUID_BUFLEN] = calloc(n + 1, sizeof(*uuid));
    bool *running = calloc(n + 1, sizeof(*running));
    size_t *due = calloc(n + 1, sizeof(*due));
    size_t left = 0, n_due = 0;
    int ret = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!uuid || !running || !due) {
        for (size_t i = 0; i < n; i++)
            kvz_error_set(&v[i].err, "stop: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (virDomainIsActive(v[i].dom) != 1 || virDomainGetUUID(v[i].dom, uuid[i]) < 0)
            continue;
        if (force) {
            due[n_due++] = i;
            continue;
        }
        running[i] = true;
        left++;
        kvz_host_log(h, virDomainGetName(v[i].dom), "stopping");
        ops->ask(h, v[i].dom, &v[i].state, 0);
    }
    if (force)
        force_all(h, v, due, n_due, "forcing off (--force)");
    /* one list call a tick for all of them */
    while (left) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
        virDomainPtr *active = NULL;
        int na = virConnectListAllDomains(h->conn, &active, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        long el = ms_since(&t0);
        n_due = 0;
        for (size_t i = 0; i < n; i++) {
            if (!running[i])
                continue;
            unsigned t = v[i].timeout_s ? v[i].timeout_s : ops->default_timeout_s;
            if (na >= 0 && !listed(active, na, uuid[i])) {
                running[i] = false;
                left--;
            } else if (el >= (long)t * 1000) {
                due[n_due++] = i;
                running[i] = false;
                left--;
            } else {
                ops->ask(h, v[i].dom, &v[i].state, el);
            }
        }
        for (int i = 0; i < na; i++)
            virDomainFree(active[i]);
        free(active);
        force_all(h, v, due, n_due, "did not stop in time; forcing");
    }
cleanup:
    for (size_t i = 0; i < n; i++) {
        free(v[i].state);
        v[i].state = NULL;
        if (v[i].err)
            ret = -1;
    }
    free(uuid);
    free(running);
    free(due);
    return ret;
}

int kvz_domain_stop_many(struct kvz_host *h, enum kvz_kind kind, const struct kvz_stop_ops *ops,
                         const char *const *names, const unsigned *timeouts, size_t n, bool force,
                         struct kvz_error **errs)
{
    struct kvz_stop_req *v = calloc(n + 1, sizeof(*v));
    size_t *slot = calloc(n + 1, sizeof(*slot));
    size_t m = 0;
    int ret = 0;
    if (!v || !slot) {
        for (size_t i = 0; i < n; i++)
            kvz_error_set(&errs[i], "stop '%s': out of memory", names[i]);
        ret = -1;
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        virDomainPtr dom = NULL;
        if (kvz_domain_lookup(&dom, NULL, h, kind, names[i], &errs[i]) < 0) {
            ret = -1;
            continue;
        }
        if (!dom)
            continue; /* gone already */
        v[m] = (struct kvz_stop_req){.dom = dom, .timeout_s = timeouts ? timeouts[i] : 0};
        slot[m++] = i;
    }
    if (kvz_domains_stop(h, ops, v, m, force) < 0)
        ret = -1;
    for (size_t j = 0; j < m; j++) {
        if (v[j].err)
            kvz_error_move(&errs[slot[j]], &v[j].err);
        virDomainFree(v[j].dom);
    }
cleanup:
    free(v);
    free(slot);
    return ret;
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
