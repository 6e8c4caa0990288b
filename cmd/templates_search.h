#ifndef KVZ_CMD_TEMPLATES_SEARCH_H
#define KVZ_CMD_TEMPLATES_SEARCH_H

#include "cmd/cli.h"
#include "parser/manifest.h"

/* Prints the entries of m's catalogs that hold every word (in their name, aliases, version,
 * description or arch), newest first per name; JSON with `json`. Returns an exit code. */
int kvz_templates_search(struct kvz_cli *cli, const struct kvz_manifest *m,
                         const char *const *words, size_t n_words, bool json);

#endif
