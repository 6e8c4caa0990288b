#ifndef KVZ_CMD_TEMPLATE_DIGESTS_H
#define KVZ_CMD_TEMPLATE_DIGESTS_H

/*
 * What the templates of existing guests hold, as far as known without a download: the planner
 * compares a guest's template by content digest (docs/templates.md), and falls back to the
 * template's source when the digest is unknown. Shared by the plan of one host and of many.
 */

#include "cmd/cli.h"
#include "parser/manifest.h"
#include "providers/hosts.h"

#include <stddef.h>

/*
 * Per template of m (m->n_templates entries): its content digest, or NULL when unknown. Only
 * templates that a guest of m existing on one of hs[0..n) uses (as its template, cdrom or
 * drivers) are resolved; a NULL hs[i] is skipped. Prints why and returns -1 on error. Free with
 * kvz_template_digests_free(*out, m->n_templates).
 */
int kvz_template_digests(char ***out, struct kvz_cli *cli, const struct kvz_manifest *m,
                         const struct kvz_hosts *const *hs, size_t n);

void kvz_template_digests_free(char **v, size_t n);

#endif
