#include "parser/show.h"

#include <stdio.h>
#include <string.h>

#define SHOW_MAX  60
#define SHOW_RING 8

const char *kvz_show(const char *s)
{
    static _Thread_local char ring[SHOW_RING][SHOW_MAX * 4 + 8];
    static _Thread_local unsigned next;
    char *out = ring[next++ % SHOW_RING];
    size_t w = 0, shown = 0;
    if (!s)
        s = "";
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (shown == SHOW_MAX && (c & 0xc0) != 0x80) {
            memcpy(out + w, "...", 4);
            return out;
        }
        if (c == '\n' || c == '\t' || c == '\r') {
            out[w++] = '\\';
            out[w++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20 || c == 0x7f) {
            w += (size_t)snprintf(out + w, 5, "\\x%02x", c);
        } else {
            out[w++] = (char)c;
        }
        /* UTF-8 continuation bytes do not count as characters */
        if ((c & 0xc0) != 0x80)
            shown++;
    }
    out[w] = '\0';
    return out;
}
