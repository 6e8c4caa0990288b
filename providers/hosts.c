#include "providers/hosts.h"

#include "base/buf.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

/* libvirt prints every error to stderr by default; the library never prints (errors travel in
 * struct kvz_error), so its handler is silenced. */
static void silent(void *ctx, virErrorPtr e)
{
}

void kvz_hosts_close(struct kvz_hosts *hs)
{
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        kvz_observed_free(&hs->observed[k]);
        if (hs->h[k].conn)
            virConnectClose(hs->h[k].conn);
        hs->h[k].conn = NULL;
        hs->ops[k] = NULL;
        free(hs->uri[k]);
        hs->uri[k] = NULL;
        free(hs->skipped[k]);
        hs->skipped[k] = NULL;
    }
}

/* Networks go through the vms' connection: libvirt serves its network API from the daemon of
 * any hypervisor URI, and qemu:///system is where 'virsh net-*' and other tools look. */
static const char *uri_of(const struct kvz_hosts_config *cfg, enum kvz_kind k)
{
    if (cfg->uri[k])
        return cfg->uri[k];
    if (k == KVZ_KIND_NETWORK && cfg->uri[KVZ_KIND_VM])
        return cfg->uri[KVZ_KIND_VM];
    return kvz_manifest_uri(cfg->m, k);
}

int kvz_hosts_open(struct kvz_hosts *out, const struct kvz_hosts_config *cfg,
                   struct kvz_error **err)
{
    const struct kvz_manifest *m = cfg->m;
    bool *used = out->used;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; m && i < m->n_resources; i++)
        if (!cfg->host || !m->resources[i].host || !strcmp(cfg->host, m->resources[i].host))
            used[m->resources[i].kind] = true;
    for (int k = 0; cfg->all_kinds && k < KVZ_N_KINDS; k++)
        used[k] = true;
    virSetErrorFunc(NULL, silent);
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const char *uri = uri_of(cfg, k);
        if (cfg->host && !cfg->uri[k] && !(k == KVZ_KIND_NETWORK && cfg->uri[KVZ_KIND_VM]))
            continue; /* the host offers no such kind: nothing of it is seen */
        out->uri[k] = strdup(uri);
        if (!out->uri[k]) {
            kvz_error_set(err, "out of memory");
            goto fail;
        }
        virConnectPtr conn = virConnectOpen(uri);
        if (!conn) {
            const char *why = virGetLastErrorMessage();
            if (used[k] && cfg->host) {
                kvz_error_set(
                    err,
                    "cannot connect to '%s' for the %ss: %s; check that the host is reachable and runs libvirtd, or fix its URI under hosts:",
                    uri, kvz_kind_str(k), why);
                goto fail;
            }
            if (used[k]) {
                kvz_error_set(
                    err,
                    "cannot connect to '%s' for the %ss: %s; check that libvirtd runs, or pass --%s-uri",
                    uri, kvz_kind_str(k), why, k == KVZ_KIND_CONTAINER ? "containers" : "vms");
                goto fail;
            }
            struct kvz_buf b = KVZ_BUF_INIT;
            kvz_buf_printf(&b, "'%s' unreachable (%s): %ss of the stack are not seen", uri, why,
                           kvz_kind_str(k));
            out->skipped[k] = kvz_buf_detach(&b);
            continue;
        }
        out->ops[k] = kvz_provider_of(k);
        out->h[k] = (struct kvz_host){
            .uri = out->uri[k],
            .conn = conn,
            .state_dir = cfg->state_dir,
            .stack = m ? m->stack : "default",
            .source = cfg->source,
        };
    }
    return 0;
fail:
    kvz_hosts_close(out);
    return -1;
}

int kvz_hosts_observe(struct kvz_hosts *hs, struct kvz_error **err)
{
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        struct kvz_error *e = NULL;
        if (!hs->ops[k])
            continue;
        kvz_observed_free(&hs->observed[k]);
        if (hs->ops[k]->observe(&hs->observed[k], &hs->h[k], &e) == 0)
            continue;
        if (hs->used[k]) {
            kvz_error_move(err, &e);
            return kvz_error_wrap(err, "observe %ss on '%s'", kvz_kind_str(k), hs->uri[k]);
        }
        /* a kind the manifests do not use must not stop them: leave it out, say so */
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "observing %ss on '%s' failed (%s): %ss of the stack are not seen",
                       kvz_kind_str(k), hs->uri[k], kvz_error_msg(e), kvz_kind_str(k));
        kvz_error_free(e);
        free(hs->skipped[k]);
        hs->skipped[k] = kvz_buf_detach(&b);
        kvz_observed_free(&hs->observed[k]);
        hs->ops[k] = NULL;
    }
    return 0;
}
