#ifndef KVZ_PARSER_SUGGEST_H
#define KVZ_PARSER_SUGGEST_H

#include <stddef.h>

/* Edit distance counting an adjacent swap as one edit ("memroy" -> "memory" is 1). */
size_t kvz_edit_distance(const char *a, const char *b);

/*
 * The candidate closest to `word` when it is close enough to be a likely typo
 * (at most 1 edit for short words, 2 from 5 characters on, 3 from 10 on), else NULL.
 * Ties keep the first candidate.
 */
const char *kvz_suggest(const char *word, const char *const *cands, size_t n);

#endif
