/*
 * The floor for a no-op `kvz plan`: one libvirt connection that lists every
 * domain and fetches each one's XML, the least any observer must do.
 *   floor URI [RUNS] [calls]   prints the best wall time of RUNS (default 5) in ms
 * With "calls", each domain also gets the per-domain calls the container provider's observe
 * makes today (state, autostart, memory and scheduler parameters): where the time goes.
 */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: floor URI [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    int calls = argc > 3 && !strcmp(argv[3], "calls");
    double best = 1e18;
    int n = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        virConnectPtr c = virConnectOpen(argv[1]);
        if (!c) {
            fprintf(stderr, "floor: cannot connect to '%s'\n", argv[1]);
            return 1;
        }
        virDomainPtr *doms = NULL;
        n = virConnectListAllDomains(c, &doms, 0);
        for (int i = 0; i < n; i++) {
            free(virDomainGetXMLDesc(doms[i], 0));
            if (calls && virDomainIsActive(doms[i]) == 1) {
                int autostart, np = 8;
                virTypedParameter mp[8];
                virDomainGetAutostart(doms[i], &autostart);
                if (virDomainGetMemoryParameters(doms[i], mp, &np, 0) == 0)
                    virTypedParamsClear(mp, np);
                np = 0;
                free(virDomainGetSchedulerType(doms[i], &np));
                virTypedParameterPtr sp = calloc((size_t)np + 1, sizeof(*sp));
                if (sp && virDomainGetSchedulerParametersFlags(doms[i], sp, &np, 0) == 0)
                    virTypedParamsClear(sp, np);
                free(sp);
            }
            virDomainFree(doms[i]);
        }
        free(doms);
        virConnectClose(c);
        double t = now_ms() - t0;
        if (t < best)
            best = t;
    }
    printf("%.1f\n", best);
    fprintf(stderr, "floor: %d domains\n", n);
    return 0;
}
