#ifndef KVZ_PARSER_SHOW_H
#define KVZ_PARSER_SHOW_H

/*
 * A user's value made fit for a one-line message: control characters escaped
 * (\n, \t, \xNN) and anything past 60 characters cut to "...". Returns one of
 * a few per-thread buffers, so up to 8 results may be used in one message.
 */
const char *kvz_show(const char *s);

#endif
