#ifndef KVZ_PARSER_NAMES_H
#define KVZ_PARSER_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* kvz_name_valid() is declared in parser/manifest.h. */

/*
 * Why `s` is not a valid resource/template/stack name, as a message part
 * ("must not contain '/'"), with a fixed-up name written to fix[0..n)
 * (empty when none fits). Only call for invalid names.
 */
const char *kvz_name_problem(const char *s, char *fix, size_t n);

/* A host name: dot-separated labels of letters, digits and '-', each 1-63, 253 in all. */
bool kvz_hostname_valid(const char *s);

/* A libvirt network name: 1-64 of letters, digits, '_', '-', '.', not starting with '.'. */
bool kvz_netname_valid(const char *s);

/* A Linux bridge interface name: 1-15 of letters, digits, '_', '-', '.', not "." or "..". */
bool kvz_bridge_valid(const char *s);

#endif
