/* libFuzzer target: any bytes through the manifest loader; also run by fuzz_manifest_replay. */
#include "parser/manifest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    int rc = kvz_manifest_load_string(&m, "fuzz.yaml", (const char *)data, size, &d);
    /* The contract: success exactly when no error was reported, and every diagnostic is whole. */
    if ((rc == 0) != (m != NULL) || (rc == 0) == kvz_diags_has_errors(&d))
        abort();
    for (size_t i = 0; i < d.n; i++) {
        const char *msg = d.v[i].msg;
        if (!d.v[i].code || !d.v[i].code[0] || !msg[0] || strlen(msg) > 2048)
            abort();
        for (const char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20) /* one line, no terminal escapes */
                abort();
    }
    for (size_t i = 0; m && i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (kvz_manifest_resource(m, r->name) == NULL || !kvz_name_valid(r->name))
            abort();
        if (r->kind == KVZ_KIND_NETWORK) {
            /* a subnet, or a host bridge; each lease names a guest on this network */
            if (!r->netspec.subnet == (r->netspec.mode != KVZ_NET_MODE_BRIDGE) ||
                !r->netspec.bridge == (r->netspec.mode == KVZ_NET_MODE_BRIDGE))
                abort();
            for (size_t j = 0; j < r->netspec.n_leases; j++) {
                const struct kvz_resource *g = kvz_manifest_resource(m, r->netspec.leases[j].guest);
                if (!g || !g->ip || strcmp(g->ip, r->netspec.leases[j].ip) ||
                    strcmp(g->network.name, r->name))
                    abort();
            }
        } else if (!r->tmpl == !!r->template_name || !r->memory || r->max_memory < r->memory) {
            abort();
        }
    }
    kvz_manifest_free(m);
    kvz_diags_release(&d);
    return 0;
}
