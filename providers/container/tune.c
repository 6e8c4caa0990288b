#include "providers/container/container.h"

#include "providers/domain.h"

#include <libvirt/virterror.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LIVE|CONFIG: the live change is persisted in the definition too, so a restart keeps it. */
#define AFFECT (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)

int kvz_ct_set_memory(virDomainPtr dom, uint64_t bytes, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    /* The current memory (LXC: the same cgroup limit) too, so dominfo and a later setmem agree
     * with the hard limit, as after a fresh create. A definition of kvz 0.1 has its ceiling at
     * the old size: libvirt refuses more, and the hard limit alone carries the change. */
    if (virDomainSetMemoryFlags(dom, bytes / 1024, AFFECT) < 0 &&
        kvz_virt_code() != VIR_ERR_INVALID_ARG)
        return kvz_error_set(err, "set memory of '%s': %s", name, kvz_virt_msg());
    virTypedParameter p;
    memset(&p, 0, sizeof(p));
    snprintf(p.field, sizeof(p.field), "%s", VIR_DOMAIN_MEMORY_HARD_LIMIT);
    p.type = VIR_TYPED_PARAM_ULLONG;
    p.value.ul = bytes / 1024; /* KiB */
    if (virDomainSetMemoryParameters(dom, &p, 1, AFFECT) < 0)
        return kvz_error_set(err, "set memory limit of '%s': %s", name, kvz_virt_msg());
    return 0;
}

int kvz_ct_set_cpus(virDomainPtr dom, uint32_t cpus_milli, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    virTypedParameter p[2];
    memset(p, 0, sizeof(p));
    snprintf(p[0].field, sizeof(p[0].field), "%s", VIR_DOMAIN_SCHEDULER_VCPU_PERIOD);
    p[0].type = VIR_TYPED_PARAM_ULLONG;
    p[0].value.ul = KVZ_CT_CPU_PERIOD;
    snprintf(p[1].field, sizeof(p[1].field), "%s", VIR_DOMAIN_SCHEDULER_VCPU_QUOTA);
    p[1].type = VIR_TYPED_PARAM_LLONG;
    p[1].value.l = (long long)cpus_milli * KVZ_CT_CPU_PERIOD / 1000;
    if (virDomainSetSchedulerParametersFlags(dom, p, 2, AFFECT) < 0)
        return kvz_error_set(err, "set CPU quota of '%s': %s", name, kvz_virt_msg());
    return 0;
}

int kvz_ct_get_memory(uint64_t *out, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    virTypedParameter p[8];
    int n = 8;
    *out = 0;
    unsigned int flags = VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainGetMemoryParameters(dom, p, &n, flags) < 0)
        return kvz_error_set(err, "read memory limit of '%s': %s", name, kvz_virt_msg());
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].field, VIR_DOMAIN_MEMORY_HARD_LIMIT) &&
            p[i].type == VIR_TYPED_PARAM_ULLONG &&
            p[i].value.ul != VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
            *out = p[i].value.ul * 1024;
    return 0;
}

int kvz_ct_get_cpus(uint32_t *out, virDomainPtr dom, struct kvz_error **err)
{
    const char *name = virDomainGetName(dom);
    virTypedParameterPtr p = NULL;
    int n = 0;
    long long quota = -1;
    unsigned long long period = 0;
    *out = 0;
    unsigned int flags = VIR_DOMAIN_AFFECT_LIVE;
    /* Only for n, the number of parameters the driver has; the type string is not needed. */
    char *type = virDomainGetSchedulerType(dom, &n);
    if (!type)
        return kvz_error_set(err, "read CPU quota of '%s': %s", name, kvz_virt_msg());
    free(type);
    if (!(p = calloc((size_t)n, sizeof(*p))))
        return kvz_error_set(err, "read CPU quota: out of memory");
    if (virDomainGetSchedulerParametersFlags(dom, p, &n, flags) < 0) {
        free(p);
        return kvz_error_set(err, "read CPU quota of '%s': %s", name, kvz_virt_msg());
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(p[i].field, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA) &&
            p[i].type == VIR_TYPED_PARAM_LLONG)
            quota = p[i].value.l;
        if (!strcmp(p[i].field, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD) &&
            p[i].type == VIR_TYPED_PARAM_ULLONG)
            period = p[i].value.ul;
    }
    free(p);
    /* No quota (-1, or 0 in an unset definition) means no CPU limit: report 0. */
    if (quota > 0 && period > 0)
        *out = (uint32_t)((unsigned long long)quota * 1000 / period);
    return 0;
}
