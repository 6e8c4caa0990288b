/* What every provider shares: the observed model's release and the registry of kinds. */
#include "providers/provider.h"

#include "providers/ownership.h"

#include <stdlib.h>
#include <string.h>

void kvz_observed_resource_release(struct kvz_observed_resource *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->stack);
    free(r->spec_digest);
    free(r->template_digest);
    free(r->config_digest);
    free(r->applied_at);
    free(r->kvz_version);
    free(r->source);
    free(r->state_dir);
    free(r->template_source);
    free(r->template_version);
    free(r->network.name);
    free(r->mac);
    free(r->hostname);
    free(r->problem);
    free(r->layer_lower);
    free(r->own_path);
    free(r->cdrom);
    free(r->drivers);
    free(r->unattend);
    kvz_net_spec_release(&r->netspec);
    kvz_leases_free(r->dhcp_leases, r->n_dhcp_leases);
    memset(r, 0, sizeof(*r));
}

void kvz_observed_free(struct kvz_observed *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        kvz_observed_resource_release(&o->v[i]);
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

void kvz_host_log(const struct kvz_host *h, const char *resource, const char *msg)
{
    if (h->log)
        h->log(h->log_ctx, resource, msg);
}

bool kvz_uri_is_local(const char *uri)
{
    const char *p = uri ? strstr(uri, "://") : NULL;
    /* "lxc:///system" has an empty host part; "lxc+ssh://host/system" names another host. */
    return uri && (!p || p[3] == '/' || p[3] == 0);
}

const struct kvz_provider_ops *kvz_provider_of(enum kvz_kind k)
{
    static const struct kvz_provider_ops *const providers[KVZ_N_KINDS] = {
        [KVZ_KIND_CONTAINER] = &kvz_container_ops,
        [KVZ_KIND_VM] = &kvz_vm_ops,
        [KVZ_KIND_NETWORK] = &kvz_network_ops,
    };
    return (unsigned)k < KVZ_N_KINDS ? providers[k] : NULL;
}

void kvz_guest_mac(char out[18], const char *stack, const char *name)
{
    kvz_identity_mac(out, stack, name);
}
