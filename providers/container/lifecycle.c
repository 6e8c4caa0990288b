/* Creating, updating and removing containers: the ops table of the container provider. */
#include "providers/container/container.h"

#include "base/buf.h"
#include "base/fs.h"
#include "providers/container/lxc_hook.h"
#include "providers/domain.h"
#include "providers/volume.h"
#include "providers/layers.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kvz_ct_dir(char **out, const struct kvz_host *h, const char *name, struct kvz_error **err)
{
    *out = NULL;
    /* These become path components: refuse anything that could climb or nest. */
    if (!kvz_name_valid(h->stack))
        return kvz_error_set(err, "stack name '%s' is invalid; use [a-z0-9-]", h->stack);
    if (!kvz_name_valid(name))
        return kvz_error_set(err, "container name '%s' is invalid; use [a-z0-9-]", name);
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "%s/containers/%s/%s", h->state_dir, h->stack, name);
    if (!(*out = kvz_buf_detach(&b)))
        return kvz_error_set(err, "out of memory");
    return 0;
}

/* kvz's metadata for `want`, with the layers of its storage in `dir` (what the hook mounts). */
struct ct_meta {
    struct kvz_domain_meta m;
    char *lower, *upper, *work;
};

static int ct_meta_init(struct ct_meta *cm, struct kvz_host *h, const struct kvz_resource *want,
                        const char *template_digest, const char *dir, struct kvz_error **err)
{
    memset(cm, 0, sizeof(*cm));
    if (kvz_domain_meta_init(&cm->m, h, KVZ_KIND_CONTAINER, want, template_digest, err) < 0 ||
        kvz_ct_storage_layers(&cm->lower, &cm->upper, &cm->work, dir, err) < 0)
        return -1;
    cm->m.o.layer_lower = cm->lower;
    cm->m.o.layer_upper = cm->upper;
    cm->m.o.layer_work = cm->work;
    /* a remote container's image cannot be read from here: record the hostname written in it */
    if (kvz_host_is_remote(h))
        cm->m.o.hostname = (char *)(want->hostname ? want->hostname : want->name);
    return 0;
}

static void ct_meta_release(struct ct_meta *cm)
{
    kvz_domain_meta_release(&cm->m);
    free(cm->lower);
    free(cm->upper);
    free(cm->work);
}

/* Rewrites kvz's metadata after an update, live and in the definition. */
static int refresh_metadata(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                            const char *template_digest, const char *dir, bool running,
                            struct kvz_error **err)
{
    struct ct_meta cm;
    char *xml = NULL;
    int ret = -1;
    if (ct_meta_init(&cm, h, want, template_digest, dir, err) < 0 ||
        kvz_ownership_to_metadata_xml(&xml, &cm.m.o, err) < 0)
        goto cleanup;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG | (running ? VIR_DOMAIN_AFFECT_LIVE : 0);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, KVZ_XMLNS_PREFIX, KVZ_XMLNS,
                             flags) < 0) {
        kvz_error_set(err, "container '%s': record kvz metadata: %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    ct_meta_release(&cm);
    free(xml);
    return ret;
}

/* Defines (or redefines) the domain of `want` on storage at rootfs/img (in `dir`).
 * keep_uuid, keep_mac: a redefinition keeps the domain's own (an imported container has no
 * stack-derived ones); NULL: derived from stack and name. */
static int define_domain(virDomainPtr *out, struct kvz_host *h, const struct kvz_resource *want,
                         const char *template_digest, const char *dir, const char *rootfs,
                         const char *img, const char *keep_uuid, const char *keep_mac,
                         struct kvz_error **err)
{
    struct ct_meta cm;
    char uuid[37], mac[18];
    char *meta = NULL, *xml = NULL;
    int ret = -1;

    *out = NULL;
    if (ct_meta_init(&cm, h, want, template_digest, dir, err) < 0 ||
        kvz_ownership_to_xml(&meta, &cm.m.o, err) < 0)
        goto cleanup;
    kvz_identity_uuid(uuid, h->stack, want->name);
    kvz_identity_mac(mac, h->stack, want->name);
    virNodeInfo node;
    struct kvz_ct_def def = {
        .name = want->name,
        .uuid = keep_uuid ? keep_uuid : uuid,
        .mac = keep_mac ? keep_mac : mac,
        .memory = want->memory,
        .max_memory = virNodeGetInfo(h->conn, &node) == 0 ? (uint64_t)node.memory * 1024 : 0,
        .cpus_milli = want->cpus_milli,
        .rootfs_dir = rootfs,
        .disk_img = img,
        .network = &want->network,
        .metadata_xml = meta,
    };
    if (kvz_ct_xml_build(&xml, &def, err) < 0)
        goto cleanup;
    kvz_host_log(h, want->name, "defining domain");
    if (!(*out = virDomainDefineXML(h->conn, xml))) {
        kvz_error_set(err, "define container '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    ct_meta_release(&cm);
    free(meta);
    free(xml);
    return ret;
}

int kvz_ct_define(virDomainPtr *out, struct kvz_host *h, const struct kvz_resource *want,
                  const char *template_digest, const char *rootfs, const char *img,
                  struct kvz_error **err)
{
    return define_domain(out, h, want, template_digest, NULL, rootfs, img, NULL, NULL, err);
}

int kvz_ct_converge_power(struct kvz_host *h, virDomainPtr dom, const struct kvz_resource *want,
                          struct kvz_error **err)
{
    int autostart = -1;
    if (virDomainGetAutostart(dom, &autostart) < 0 ||
        (autostart != (int)want->autostart && virDomainSetAutostart(dom, want->autostart) < 0))
        return kvz_error_set(err, "container '%s': set autostart: %s", want->name, kvz_virt_msg());
    if (want->state == KVZ_POWER_RUNNING)
        return kvz_ct_start(h, dom, err);
    return kvz_ct_stop(h, dom, want->stop_timeout, err);
}

int kvz_ct_create_from(struct kvz_host *h, const struct kvz_resource *want, const char *src,
                       const char *digest, struct kvz_error **err)
{
    char *dir = NULL, *rootfs = NULL, *img = NULL;
    virDomainPtr dom = NULL;
    int ret = -1;

    if (kvz_ct_dir(&dir, h, want->name, err) < 0)
        goto cleanup;
    /* A same-named domain must be this stack's (a half-made create); never someone else's.
     * Running on complete storage, it keeps running: only the definition is redone. */
    bool in_use = false, have_domain = false;
    enum kvz_ct_storage state;
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_CONTAINER, want->name, err) < 0 ||
        kvz_ct_storage_state(&state, dir, want->disk != 0, err) < 0 ||
        kvz_ct_storage_sweep(dir, err) < 0)
        goto cleanup;
    if (dom) {
        have_domain = true;
        in_use = state != KVZ_CT_STORAGE_NONE && virDomainIsActive(dom) == 1;
        if (!in_use && kvz_ct_stop(h, dom, want->stop_timeout, err) < 0)
            goto cleanup;
        virDomainFree(dom);
        dom = NULL;
    }
    /* Without disk:, the template's tree is shared when the host can (providers/layers.h) */
    bool overlay = false;
    if (!want->disk) {
        enum kvz_layers layers;
        const char *why;
        if (kvz_layers_choose(&layers, &why, h->uri, h->state_dir, err) < 0)
            goto cleanup;
        overlay = layers == KVZ_LAYERS_OVERLAY && src && kvz_lxc_hook_path_ok(src) &&
                  kvz_lxc_hook_path_ok(dir);
        if (overlay && kvz_ct_hook_install(h, want->name, err) < 0)
            goto cleanup;
    }
    if (kvz_mkdir_p(dir, 0700, err) < 0 ||
        kvz_ct_storage_make(&rootfs, &img, h, want, src, dir, have_domain, in_use, overlay, err) <
            0)
        goto cleanup;
    if (define_domain(&dom, h, want, digest, dir, rootfs, img, NULL, NULL, err) < 0 ||
        kvz_ct_storage_mark(dir, want->disk != 0, KVZ_CT_STORAGE_DEFINED, err) < 0 ||
        kvz_ct_converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "create container '%s'", want->name);
    if (dom)
        virDomainFree(dom);
    free(dir);
    free(rootfs);
    free(img);
    return ret;
}

static int container_create(struct kvz_host *h, const struct kvz_resource *want,
                            const struct kvz_media *media, struct kvz_error **err)
{
    if (!media || !media->image)
        return kvz_error_set(err, "create container '%s': template '%s' was not pulled", want->name,
                             want->template_name ? want->template_name : "");
    if (kvz_host_is_remote(h))
        return kvz_ct_create_remote(h, want, media->image->path, media->image->digest, err);
    return kvz_ct_create_from(h, want, media->image->path, media->image->digest, err);
}

static bool has_field(const struct kvz_change *chg, const char *field)
{
    for (size_t i = 0; i < chg->n_fields; i++)
        if (!strcmp(chg->fields[i].field, field))
            return true;
    return false;
}

/* A remote container stopped for a change that failed runs again on its old, whole image. */
static void restart_after_failure(struct kvz_host *h, const char *name)
{
    struct kvz_error *ignored = NULL;
    virDomainPtr dom = virDomainLookupByName(h->conn, name);
    if (dom && virDomainIsActive(dom) != 1) {
        kvz_host_log(h, name, "starting it again on its image as it was");
        if (kvz_ct_start(h, dom, &ignored) < 0)
            kvz_error_free(ignored);
    }
    if (dom)
        virDomainFree(dom);
}

static int container_update(struct kvz_host *h, const struct kvz_change *chg,
                            const struct kvz_media *media, struct kvz_error **err)
{
    const struct kvz_resource *want = chg->want;
    char *dir = NULL, *rootfs = NULL, *img = NULL, *xml = NULL;
    struct kvz_observed_resource tmp = {0};
    virDomainPtr dom = NULL;
    int ret = -1;

    if (!want)
        return kvz_error_set(err, "update container '%s': no desired spec", chg->name);
    /* on a remote host these live in its image: changed here, uploaded to its other slot */
    bool rewrite = kvz_host_is_remote(h) && (has_field(chg, "disk") || has_field(chg, "hostname") ||
                                             has_field(chg, "ssh_authorized_keys"));
    char *new_img = NULL;
    bool restart_on_failure = false;
    /* an update keeps what the guest was made from */
    const char *made_from = chg->have ? chg->have->template_digest : NULL;
    if (kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_CONTAINER, want->name, err) < 0)
        goto cleanup;
    if (!dom) {
        kvz_error_set(err, "container '%s' does not exist; plan again", want->name);
        goto cleanup;
    }
    if (kvz_ct_dir(&dir, h, want->name, err) < 0)
        goto cleanup;
    bool running = virDomainIsActive(dom) == 1;
    if (!(xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE))) {
        kvz_error_set(err, "read container '%s': %s", want->name, kvz_virt_msg());
        goto cleanup;
    }
    if (kvz_ct_xml_parse(&tmp, &rootfs, &img, xml, err) < 0)
        goto cleanup;

    /* Live first: these never need a restart on LXC. A stopped container gets them with the
     * redefinition below. */
    bool redefine = has_field(chg, "network") || !running;
    if (running && has_field(chg, "memory")) {
        kvz_host_log(h, want->name, "setting memory live");
        if (kvz_ct_set_memory(dom, want->memory, err) < 0)
            goto cleanup;
    }
    if (running && has_field(chg, "cpus")) {
        kvz_host_log(h, want->name, "setting cpus live");
        if (kvz_ct_set_cpus(dom, want->cpus_milli, err) < 0)
            goto cleanup;
    }
    if (has_field(chg, "disk") && !rewrite) {
        if (!img) {
            kvz_error_set(err, "container '%s' has no disk image to grow", want->name);
            goto cleanup;
        }
        bool offline = true;
        int pid = running ? kvz_ct_init_pid(dom) : -1;
        /* Always tried on a running container: the kernel's answer is the detection
         * (field_is_live only predicts it from CAP_SYS_RESOURCE). */
        if (pid > 0) {
            struct kvz_error *online = NULL;
            kvz_host_log(h, want->name, "growing disk online");
            if (kvz_disk_grow_online(img, want->disk, pid, &online) == 0) {
                offline = false;
            } else if (!kvz_disk_refused_online(online)) {
                kvz_error_move(err, &online);
                goto cleanup;
            }
            kvz_error_free(online);
        }
        if (offline && running) {
            /* The kernel refused online resize here (EPERM): offline, around a restart. */
            kvz_host_log(h, want->name,
                         "online resize not permitted here; growing offline (restart)");
            if (kvz_ct_stop(h, dom, want->stop_timeout, err) < 0)
                goto cleanup;
            running = false;
        } else if (offline) {
            kvz_host_log(h, want->name, "growing disk");
        }
        if (offline && kvz_disk_grow_offline(img, want->disk, err) < 0)
            goto cleanup;
    }
    /* Network, hostname and ssh keys go into the definition and the rootfs: restart. */
    bool inject = has_field(chg, "hostname") || has_field(chg, "ssh_authorized_keys");
    if (inject || redefine || rewrite) {
        if (rewrite && !img) {
            kvz_error_set(err, "container '%s' has no rootfs image on the host", want->name);
            goto cleanup;
        }
        restart_on_failure = rewrite && running && want->state == KVZ_POWER_RUNNING;
        if (kvz_ct_stop(h, dom, want->stop_timeout, err) < 0)
            goto cleanup;
        running = false;
        if (rewrite &&
            kvz_ct_rewrite_remote(&new_img, h, want, img, has_field(chg, "disk"), inject, err) < 0)
            goto cleanup;
        /* a container on shared layers gets them in its own layer (the hook unmounted it) */
        char *lower = NULL, *upper = NULL, *work = NULL;
        int injected = !inject || rewrite ? 0
                       : img              ? kvz_disk_inject(img, want, err)
                       : kvz_ct_storage_layers(&lower, &upper, &work, dir, err) < 0
                           ? -1
                           : kvz_rootfs_inject(upper ? upper : rootfs, want, err);
        free(lower);
        free(upper);
        free(work);
        if (injected < 0)
            goto cleanup;
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(dom, uuid) < 0) {
            kvz_error_set(err, "read container '%s': %s", want->name, kvz_virt_msg());
            goto cleanup;
        }
        virDomainFree(dom);
        dom = NULL;
        if (define_domain(&dom, h, want, made_from, dir, rootfs, new_img ? new_img : img, uuid,
                          tmp.mac, err) < 0)
            goto cleanup;
        /* the domain is on the new image: the old one goes */
        if (new_img) {
            char *old_img = img;
            img = new_img;
            new_img = NULL;
            if (kvz_ct_retire_remote(h, old_img, err) < 0) {
                free(old_img);
                goto cleanup;
            }
            free(old_img);
        }
    }
    if (refresh_metadata(h, dom, want, made_from, dir, running, err) < 0)
        goto cleanup;
    /* Restarted or not, the final power state is what want->state says. */
    if (kvz_ct_converge_power(h, dom, want, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0 && new_img) {
        /* the domain was not moved onto it: the image it uses is still the old, whole one */
        struct kvz_error *ignored = NULL;
        if (kvz_ct_retire_remote(h, new_img, &ignored) < 0)
            kvz_error_free(ignored);
    }
    if (ret < 0 && restart_on_failure)
        restart_after_failure(h, want->name);
    if (ret < 0)
        kvz_error_wrap(err, "update container '%s'", chg->name);
    if (dom)
        virDomainFree(dom);
    free(new_img);
    free(dir);
    kvz_observed_resource_release(&tmp);
    free(rootfs);
    free(img);
    free(xml);
    return ret;
}

/* ---- remove ---- */

/* The container dir the domain really uses (its rootfs or image's directory), in place of *dir.
 * kvz only ever removes a dir of its own layout: one named containers/<stack>/<name>. */
static int domain_dir(char **dir, struct kvz_host *h, virDomainPtr dom, const char *name,
                      struct kvz_error **err)
{
    struct kvz_observed_resource tmp = {0};
    char *rootfs = NULL, *img = NULL;
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    if (!xml)
        return kvz_error_set(err, "read container '%s': %s", name, kvz_virt_msg());
    int ret = kvz_ct_xml_parse(&tmp, &rootfs, &img, xml, err);
    kvz_observed_resource_release(&tmp);
    free(xml);
    /* an image's path in the definition is a symlink to it (kvz_ct_storage_loop_path) */
    char *real = img ? realpath(img, NULL) : NULL;
    const char *used = rootfs ? rootfs : real;
    char *slash = used ? strrchr(used, '/') : NULL;
    if (ret == 0 && slash) {
        struct kvz_buf tail = KVZ_BUF_INIT;
        kvz_buf_printf(&tail, "/containers/%s/%s/", h->stack, name);
        size_t n = (size_t)(slash - used) + 1, tl = tail.len;
        if (!tail.oom && n >= tl && !memcmp(used + n - tl, tail.ptr, tl)) {
            free(*dir);
            *dir = strndup(used, n - 1);
            if (!*dir)
                ret = kvz_error_set(err, "out of memory");
        }
        kvz_buf_release(&tail);
    }
    free(rootfs);
    free(img);
    free(real);
    return ret;
}

static int container_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    if (kvz_host_is_remote(h))
        return kvz_ct_remove_remote(h, name, err);
    char *dir = NULL;
    virDomainPtr dom = NULL;
    struct kvz_ownership *own = NULL;
    int ret = -1;

    if (kvz_ct_dir(&dir, h, name, err) < 0 ||
        kvz_domain_lookup(&dom, &own, h, KVZ_KIND_CONTAINER, name, err) < 0)
        goto cleanup;
    /* The files go before the definition: a remove killed in between leaves a domain whose
     * storage is missing (planned again), never complete-looking files without a domain. */
    if (dom && (kvz_ct_stop(h, dom, kvz_ownership_stop_timeout(own), err) < 0 ||
                domain_dir(&dir, h, dom, name, err) < 0))
        goto cleanup;
    if (kvz_ct_storage_remove(h, name, dir, err) < 0 || kvz_ct_storage_sweep(dir, err) < 0)
        goto cleanup;
    if (dom)
        kvz_host_log(h, name, "undefining domain");
    if (dom && virDomainUndefine(dom) < 0) {
        kvz_error_set(err, "undefine '%s': %s", name, kvz_virt_msg());
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (ret < 0)
        kvz_error_wrap(err, "remove container '%s'", name);
    if (dom)
        virDomainFree(dom);
    free(dir);
    kvz_ownership_free(own);
    return ret;
}

static int container_record(struct kvz_host *h, const struct kvz_change *chg,
                            struct kvz_error **err)
{
    virDomainPtr dom = NULL;
    char *dir = NULL;
    if (kvz_ct_dir(&dir, h, chg->name, err) < 0 ||
        kvz_domain_lookup(&dom, NULL, h, KVZ_KIND_CONTAINER, chg->name, err) < 0) {
        free(dir);
        return -1;
    }
    if (!dom) {
        free(dir);
        return kvz_error_set(err, "container '%s' does not exist; plan again", chg->name);
    }
    int ret = refresh_metadata(h, dom, chg->want, chg->have ? chg->have->template_digest : NULL,
                               dir, virDomainIsActive(dom) == 1, err);
    virDomainFree(dom);
    free(dir);
    return ret;
}

static bool container_field_is_live(struct kvz_host *h, const struct kvz_resource *want,
                                    const struct kvz_observed_resource *have, const char *field)
{
    if (!strcmp(field, "memory") || !strcmp(field, "cpus") || !strcmp(field, "autostart") ||
        !strcmp(field, "protect"))
        return true;
    /* Online ext4 grow needs CAP_SYS_RESOURCE; a stopped container grows offline anyway. On a
     * remote host the image is grown here, between a stop and a start. */
    if (!strcmp(field, "disk"))
        return !have->running || (!kvz_host_is_remote(h) && kvz_disk_online_resize_possible());
    return false; /* network, hostname, ssh keys: restart with re-injection */
}

const struct kvz_provider_ops kvz_container_ops = {
    .kind = "container",
    .observe = kvz_ct_observe,
    .create = container_create,
    .update = container_update,
    .remove = container_remove,
    .set_power = kvz_ct_set_power,
    .record = container_record,
    .stop_many = kvz_ct_stop_many,
    .field_is_live = container_field_is_live,
    .prune = kvz_ct_prune_remote,
    .adopt = kvz_ct_adopt,
};
