/*
 * kvz-lxc-hook: libvirt's LXC hook (docs/containers.md, "Shared layers"). kvz installs it as
 * /etc/libvirt/hooks/lxc.d/kvz; libvirtd runs it in its own mount namespace with
 *   DOMAIN prepare begin -   before a container starts (the domain XML on stdin)
 *   DOMAIN release end -     after it stopped
 * For a domain whose kvz metadata names layers, prepare mounts the overlay (the template's tree
 * read-only below, the container's own layer above) on the domain's root filesystem source, and
 * release unmounts it. So the container starts with its files however it is started: by kvz,
 * by `virsh start`, by autostart after a reboot. Every other domain and operation is left alone.
 * Only libxml2 is linked: the hook starts in a few milliseconds.
 */
#include "providers/container/lxc_hook.h"
#include "providers/ownership.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define OVERLAYFS_MAGIC 0x794c7630

struct layers {
    char *lower, *upper, *work, *target;
};

static char *read_all(FILE *f)
{
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = 0;
    return buf;
}

static bool named(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static char *prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static void set_text(char **dst, xmlNodePtr n)
{
    xmlChar *v = xmlNodeGetContent(n);
    free(*dst);
    *dst = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
}

/* kvz's layer elements and the source of the filesystem mounted at "/". */
static void find_layers(struct layers *l, xmlNodePtr root)
{
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (named(c, "metadata")) {
            for (xmlNodePtr r = c->children; r; r = r->next) {
                if (!named(r, "resource") || !r->ns || !r->ns->href ||
                    strcmp((const char *)r->ns->href, KVZ_XMLNS))
                    continue;
                for (xmlNodePtr e = r->children; e; e = e->next) {
                    if (named(e, KVZ_OWN_LAYER_LOWER))
                        set_text(&l->lower, e);
                    else if (named(e, KVZ_OWN_LAYER_UPPER))
                        set_text(&l->upper, e);
                    else if (named(e, KVZ_OWN_LAYER_WORK))
                        set_text(&l->work, e);
                }
            }
        } else if (named(c, "devices")) {
            for (xmlNodePtr fs = c->children; fs; fs = fs->next) {
                if (!named(fs, "filesystem"))
                    continue;
                char *src = NULL, *dst = NULL;
                for (xmlNodePtr e = fs->children; e; e = e->next) {
                    if (named(e, "source") && !src)
                        src = prop(e, "dir");
                    else if (named(e, "target") && !dst)
                        dst = prop(e, "dir");
                }
                if (src && dst && !strcmp(dst, "/") && !l->target) {
                    l->target = src;
                    src = NULL;
                }
                free(src);
                free(dst);
            }
        }
    }
}

static bool is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_overlay(const char *p)
{
    struct statfs sf;
    return statfs(p, &sf) == 0 && (unsigned long)sf.f_type == OVERLAYFS_MAGIC;
}

static int prepare(const char *domain, const struct layers *l)
{
    if (!l->target || !kvz_lxc_hook_path_ok(l->lower) || !kvz_lxc_hook_path_ok(l->upper) ||
        !kvz_lxc_hook_path_ok(l->work)) {
        fprintf(
            stderr,
            "kvz: container '%s': its layers in kvz's metadata are not usable paths; run kvz apply to make it again\n",
            domain);
        return 1;
    }
    if (!is_dir(l->lower)) {
        fprintf(
            stderr,
            "kvz: container '%s': its template layer '%s' is missing (pruned or deleted); run kvz apply to make the container again\n",
            domain, l->lower);
        return 1;
    }
    if (!is_dir(l->upper) || !is_dir(l->work) || !is_dir(l->target)) {
        fprintf(
            stderr,
            "kvz: container '%s': its own layer '%s' is missing; run kvz apply to make the container again\n",
            domain, l->upper);
        return 1;
    }
    /* a mount left by a libvirtd that died before the release hook: made again */
    while (is_overlay(l->target) && umount2(l->target, MNT_DETACH) == 0)
        ;
    size_t n = strlen(l->lower) + strlen(l->upper) + strlen(l->work) + 64;
    char *opts = malloc(n);
    if (!opts)
        return 1;
    snprintf(opts, n, "lowerdir=%s,upperdir=%s,workdir=%s", l->lower, l->upper, l->work);
    int rc = mount("overlay", l->target, "overlay", 0, opts);
    free(opts);
    if (rc < 0) {
        fprintf(stderr, "kvz: container '%s': mount its layers on '%s': %s\n", domain, l->target,
                strerror(errno));
        return 1;
    }
    return 0;
}

static int release(const char *domain, const struct layers *l)
{
    while (l->target && is_overlay(l->target)) {
        if (umount2(l->target, MNT_DETACH) < 0) {
            fprintf(stderr, "kvz: container '%s': unmount '%s': %s\n", domain, l->target,
                    strerror(errno));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        puts(KVZ_LXC_HOOK_ID);
        return 0;
    }
    /* libvirt writes the XML to every hook: read it all, whatever the operation */
    char *xml = read_all(stdin);
    if (argc < 4 || !xml) {
        free(xml);
        return 0;
    }
    bool up = !strcmp(argv[2], "prepare") && !strcmp(argv[3], "begin");
    bool down = !strcmp(argv[2], "release") && !strcmp(argv[3], "end");
    int rc = 0;
    if (up || down) {
        struct layers l = {0};
        xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
        if (root && named(root, "domain"))
            find_layers(&l, root);
        if (l.lower || l.upper || l.work) /* not kvz's layers: none of this hook's business */
            rc = up ? prepare(argv[1], &l) : release(argv[1], &l);
        free(l.lower);
        free(l.upper);
        free(l.work);
        free(l.target);
        xmlFreeDoc(doc);
    }
    free(xml);
    xmlCleanupParser();
    return rc;
}
