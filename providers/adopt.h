#ifndef KVZ_PROVIDERS_ADOPT_H
#define KVZ_PROVIDERS_ADOPT_H

/*
 * What the providers' adopt (kvz import) share: finding the domain and telling whose it is,
 * and recording kvz's metadata on it live and in its definition, so that nothing restarts.
 */

#include "providers/domain.h"

/*
 * The domain `name` on h, with its persistent XML in *xml (caller frees both): 0 when kvz may
 * adopt it (out->already set when it carries this stack's metadata of `kind` already); -1 when
 * there is no such domain, or it carries another stack's or kind's metadata. Fills out->id and
 * out->running.
 */
int kvz_adopt_find(virDomainPtr *dom, char **xml, struct kvz_adoption *out, struct kvz_host *h,
                   enum kvz_kind kind, const char *name, struct kvz_error **err)
    __attribute__((warn_unused_result));

/* Records kvz's metadata for `want` on `dom`, live (when running) and in its definition. What
 * it was made from and with what spec are unknown: they are left out, so the next plan compares
 * the guest's real fields with the manifest and never replaces it for its template. */
int kvz_adopt_record(struct kvz_host *h, virDomainPtr dom, enum kvz_kind kind,
                     const struct kvz_resource *want, bool running, struct kvz_error **err)
    __attribute__((warn_unused_result));

#endif
