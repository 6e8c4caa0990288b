#include "parser/names.h"

#include "parser/manifest.h"

#include <string.h>

#define NAME_MAX_LEN 63

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
    return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool kvz_name_valid(const char *s)
{
    if (!s || !lower_alnum(s[0]))
        return false;
    size_t i = 1;
    for (; s[i]; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return false;
    return i <= NAME_MAX_LEN;
}

/* Lowercases, turns every other run of characters into one '-', trims, cuts at 63. */
static void fix_name(const char *s, char *fix, size_t n)
{
    size_t w = 0;
    bool dash = false;
    if (!n)
        return;
    for (size_t i = 0; s[i] && w + 1 < n && w < NAME_MAX_LEN; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (lower_alnum(c)) {
            if (dash && w)
                fix[w++] = '-';
            if (w + 1 < n && w < NAME_MAX_LEN)
                fix[w++] = c;
            dash = false;
        } else {
            dash = true;
        }
    }
    while (w && fix[w - 1] == '-')
        w--;
    fix[w] = '\0';
}

const char *kvz_name_problem(const char *s, char *fix, size_t n)
{
    const char *why;
    if (!*s)
        why = "is empty";
    else if (strstr(s, ".."))
        why = "must not contain '..'";
    else if (strchr(s, '/'))
        why = "must not contain '/'";
    else if (strlen(s) > NAME_MAX_LEN)
        why = "is longer than 63 characters";
    else if (!lower_alnum(s[0]) && !(s[0] >= 'A' && s[0] <= 'Z'))
        why = "must start with a lowercase letter or a digit";
    else
        why = "has characters other than lowercase letters, digits and '-'";
    fix_name(s, fix, n);
    /* A guess from non-ASCII text ("wéb" -> "w-b") would mislead more than help. */
    for (size_t i = 0; s[i]; i++)
        if ((unsigned char)s[i] >= 0x80)
            fix[0] = '\0';
    if (!kvz_name_valid(fix) || !strcmp(fix, s))
        fix[0] = '\0';
    return why;
}

bool kvz_hostname_valid(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (!len || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (!label || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!alnum(c) && !(c == '-' && label))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

static bool ifname_chars(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (!len || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

bool kvz_netname_valid(const char *s)
{
    return ifname_chars(s, 64) && s[0] != '.';
}

bool kvz_bridge_valid(const char *s)
{
    return ifname_chars(s, 15) && strcmp(s, ".") && strcmp(s, "..");
}
