#include "parser/units.h"

#include "parser/show.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned shift;
} units[] = {
    {"B", 0},  {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    {"K", 10}, {"M", 20},   {"G", 30},   {"T", 40},
};

static int find_unit(const char *u)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(units[i].name, u))
            return (int)i;
    return -1;
}

/* The unit a user probably meant by an unknown one: "GB", "gib", "g" -> "GiB". */
static const char *guess_unit(const char *u)
{
    switch (u[0]) {
    case 'b':
    case 'B':
        return "B";
    case 'k':
    case 'K':
        return "KiB";
    case 'm':
    case 'M':
        return "MiB";
    case 'g':
    case 'G':
        return "GiB";
    case 't':
    case 'T':
        return "TiB";
    }
    return NULL;
}

/* A plain decimal number: [+]digits[.digits], as written (no exponent, no sign but '+'). */
struct decimal {
    const char *ip; /* integer digits */
    size_t ilen;
    const char *fp; /* fraction digits; NULL without a '.' */
    size_t flen;
};

/* Scans a decimal number at p into d; returns where it stopped. */
static const char *scan_decimal(struct decimal *d, const char *p)
{
    if (*p == '+')
        p++;
    d->ip = p;
    while (*p >= '0' && *p <= '9')
        p++;
    d->ilen = (size_t)(p - d->ip);
    d->fp = NULL;
    d->flen = 0;
    if (*p == '.') {
        d->fp = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        d->flen = (size_t)(p - d->fp);
    }
    return p;
}

/* Digits of s as a number; -1 when it has more than 19 (cannot be exact in uint64). */
static int digits_value(uint64_t *v, const char *s, size_t n)
{
    if (n > 19)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x * 10 + (uint64_t)(s[i] - '0');
    *v = x;
    return 0;
}

int kvz_size_parse(uint64_t *out, const char *s, char *why, size_t whylen)
{
    const char *p = s;
    *out = 0;
    if (*p == '-') {
        snprintf(why, whylen, "size '%s' is negative; write a positive size like 512MiB",
                 kvz_show(s));
        return -1;
    }
    struct decimal d;
    p = scan_decimal(&d, p);
    const char *ip = d.ip, *fp = d.fp;
    size_t ilen = d.ilen, flen = d.flen;
    if (!ilen && !flen) {
        snprintf(why, whylen, "'%s' is not a size; write a number and a unit like 512MiB or 20GiB",
                 kvz_show(s));
        return -1;
    }
    while (*p == ' ')
        p++;
    if (!*p) {
        uint64_t n = 0;
        const char *sugg = "MiB";
        bool whole = !fp && digits_value(&n, ip, ilen) == 0;
        if (whole && n == 0) {
            snprintf(why, whylen, "size '%s' is zero; give a positive size like 512MiB",
                     kvz_show(s));
            return -1;
        }
        if (whole && n >= (1u << 20))
            sugg = "B";
        else if (whole && n < 64)
            sugg = "GiB";
        snprintf(why, whylen, "size '%s' has no unit (did you mean %.*s%s?)", kvz_show(s),
                 (int)(p - s > 64 ? 64 : p - s), kvz_show(s), sugg);
        return -1;
    }
    int u = find_unit(p);
    if (u < 0) {
        const char *g = guess_unit(p);
        if (g && strlen(p) <= 3)
            snprintf(
                why, whylen,
                "unknown size unit '%s' in '%s' (did you mean '%s'?); units are B, KiB, MiB, GiB, TiB",
                kvz_show(p), kvz_show(s), g);
        else
            snprintf(why, whylen, "unknown size unit '%s' in '%s'; units are B, KiB, MiB, GiB, TiB",
                     kvz_show(p), kvz_show(s));
        return -1;
    }
    unsigned shift = units[u].shift;
    while (flen && fp[flen - 1] == '0')
        flen--;
    uint64_t ipart = 0, fpart = 0;
    if (digits_value(&ipart, ip, ilen) < 0 || flen > 19 || digits_value(&fpart, fp, flen) < 0)
        goto too_large;
    unsigned __int128 total = (unsigned __int128)ipart << shift;
    if (flen) {
        unsigned __int128 pow10 = 1;
        for (size_t i = 0; i < flen; i++)
            pow10 *= 10;
        unsigned __int128 f = (unsigned __int128)fpart << shift;
        if (f % pow10) {
            snprintf(
                why, whylen,
                "size '%s' is not a whole number of bytes; use a smaller unit or fewer decimals",
                kvz_show(s));
            return -1;
        }
        total += f / pow10;
    }
    if (total > KVZ_SIZE_MAX)
        goto too_large;
    if (total == 0) {
        snprintf(why, whylen, "size '%s' is zero; give a positive size like 512MiB", kvz_show(s));
        return -1;
    }
    *out = (uint64_t)total;
    return 0;
too_large:
    snprintf(why, whylen, "size '%s' is too large; the largest size is 8388607TiB", kvz_show(s));
    return -1;
}

int kvz_cpus_parse(uint32_t *out_milli, const char *s, const char *what, bool whole, char *why,
                   size_t whylen)
{
    const char *p = s;
    *out_milli = 0;
    if (*p == '-') {
        snprintf(why, whylen, "%s '%s' is negative; write a positive count like 2", what,
                 kvz_show(s));
        return -1;
    }
    struct decimal d;
    p = scan_decimal(&d, p);
    const char *ip = d.ip, *fp = d.fp;
    size_t ilen = d.ilen, flen = d.flen;
    if ((!ilen && !flen) || *p) {
        snprintf(why, whylen, "%s '%s' is not a number; write a count like %s", what, kvz_show(s),
                 whole ? "2" : "2 or 1.5");
        return -1;
    }
    while (flen && fp[flen - 1] == '0')
        flen--;
    if (flen && whole) {
        snprintf(
            why, whylen,
            "%s '%s' is not a whole number; a vm has whole vCPUs (a container can have a fraction)",
            what, kvz_show(s));
        return -1;
    }
    if (flen > 3) {
        snprintf(why, whylen, "%s '%s' has more than 3 decimals; round it, e.g. to 1.25", what,
                 kvz_show(s));
        return -1;
    }
    uint64_t ipart = 0;
    while (ilen && *ip == '0')
        ip++, ilen--;
    if (ilen > 5 || digits_value(&ipart, ip, ilen) < 0 || ipart > KVZ_CPUS_MAX)
        goto too_many;
    uint64_t milli = ipart * 1000;
    for (size_t i = 0; i < 3; i++)
        milli += (uint64_t)(i < flen ? fp[i] - '0' : 0) * (i == 0 ? 100 : i == 1 ? 10 : 1);
    if (milli > (uint64_t)KVZ_CPUS_MAX * 1000)
        goto too_many;
    if (milli == 0) {
        snprintf(why, whylen, "%s '%s' is zero; give at least %s", what, kvz_show(s),
                 whole ? "1" : "0.001");
        return -1;
    }
    *out_milli = (uint32_t)milli;
    return 0;
too_many:
    snprintf(why, whylen, "%s '%s' is more than %u; give a smaller count", what, kvz_show(s),
             KVZ_CPUS_MAX);
    return -1;
}

int kvz_duration_parse(uint32_t *out_seconds, const char *s, char *why, size_t whylen)
{
    const char *p = s;
    uint64_t n = 0;
    *out_seconds = 0;
    while (*p >= '0' && *p <= '9' && n <= KVZ_DURATION_MAX)
        n = n * 10 + (uint64_t)(*p++ - '0');
    if (p != s && !*p) {
        snprintf(why, whylen, "duration '%s' has no unit; did you mean %ss?", kvz_show(s),
                 kvz_show(s));
        return -1;
    }
    unsigned mult = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 0;
    if (p == s || !mult || p[1]) {
        snprintf(why, whylen,
                 "'%s' is not a duration; write a whole number and s, m or h, like 30s or 2m",
                 kvz_show(s));
        return -1;
    }
    if (n == 0 || n * mult > KVZ_DURATION_MAX) {
        snprintf(why, whylen, "duration '%s' must be from 1s to 24h", kvz_show(s));
        return -1;
    }
    *out_seconds = (uint32_t)(n * mult);
    return 0;
}

int kvz_size_human(struct kvz_buf *out, uint64_t bytes)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && bytes >= (UINT64_C(1) << (10 * (u + 1))))
        u++;
    uint64_t unit = UINT64_C(1) << (10 * u);
    if (bytes % unit == 0)
        return kvz_buf_printf(out, "%" PRIu64 "%s", bytes / unit, names[u]);
    /* not a whole number of units: one decimal, as a person reads it */
    return kvz_buf_printf(out, "%.1f%s", (double)bytes / (double)unit, names[u]);
}

int kvz_cpus_human(struct kvz_buf *out, uint64_t milli)
{
    kvz_buf_printf(out, "%" PRIu64, milli / 1000);
    unsigned frac = (unsigned)(milli % 1000), digits = 3;
    if (!frac)
        return out->oom ? -1 : 0;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    return kvz_buf_printf(out, ".%0*u", (int)digits, frac);
}
