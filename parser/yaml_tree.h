#ifndef KVZ_PARSER_YAML_TREE_H
#define KVZ_PARSER_YAML_TREE_H

#include "parser/diag.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * A YAML document as a tree of located nodes, built from libyaml events with
 * every bound of docs/manifest.md enforced: no aliases or anchors, limited
 * depth, scalar length and node count, valid UTF-8, string keys, no duplicate
 * keys. Scalars stay raw text: the schema decides what they mean.
 */
enum kvz_ynode_type {
    KVZ_YSCALAR,
    KVZ_YMAP,
    KVZ_YSEQ,
    KVZ_YINVALID, /* stands in for something already reported (an alias, a bad tag) */
};

struct kvz_ynode {
    enum kvz_ynode_type type;
    bool plain;         /* scalar written without quotes: may be null, a bool, a number */
    unsigned line, col; /* 1-based */
    char *str;          /* scalar text, NUL-terminated, no NUL inside */
    size_t len;
    struct kvz_ynode *kids; /* seq: n items; map: n pairs, kids[2i] key, kids[2i+1] value */
    size_t n;
};

/* At most this many nodes per file; keeps memory bounded by a small multiple of the input. */
#define KVZ_YAML_MAX_NODES (1u << 20)

/*
 * Parses data[0..len) (one document). Problems go to `d` under the name `file`.
 * Returns 0 and sets *out (NULL for an empty stream; free with kvz_ynode_free)
 * when the tree is usable, even if some errors were reported inside it
 * (their nodes are KVZ_YINVALID or dropped); -1 when the file cannot be read
 * as YAML at all (*out NULL).
 */
int kvz_yaml_parse(struct kvz_ynode **out, const char *file, const char *data, size_t len,
                   struct kvz_diags *d);

void kvz_ynode_free(struct kvz_ynode *n);

/* The value of `key` in map `m`, or NULL. */
const struct kvz_ynode *kvz_ymap_get(const struct kvz_ynode *m, const char *key);

/* The key node of `key` in map `m` (for locating a whole entry), or NULL. */
const struct kvz_ynode *kvz_ymap_key(const struct kvz_ynode *m, const char *key);

/* True for a plain scalar that YAML reads as null: empty, ~, null. */
bool kvz_ynode_is_null(const struct kvz_ynode *n);

/* "a mapping", "a list", "a string", "nothing": for "must be X, not Y" messages. */
const char *kvz_ynode_describe(const struct kvz_ynode *n);

#endif
