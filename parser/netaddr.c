/* IPv4 addresses and subnets: the manifest's text, and what a subnet gives out. */
#include "parser/netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kvz_ipv4_parse(uint32_t *out, const char *s)
{
    struct in_addr a;
    /* inet_pton takes exactly four decimal parts, refusing "10.1", "010.0.0.1" and hex */
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

bool kvz_ip_is_v6(const char *s)
{
    return s && strchr(s, ':') != NULL;
}

static uint32_t mask_of(unsigned prefix)
{
    return prefix ? 0xffffffffu << (32 - prefix) : 0;
}

int kvz_cidr_parse(uint32_t *addr, unsigned *prefix, const char *s)
{
    char buf[KVZ_SUBNET_STR];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= KVZ_IPV4_STR)
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    const char *p = slash + 1;
    if (!*p || strlen(p) > 2 || (p[0] == '0' && p[1]))
        return -1;
    unsigned n = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (n > 32 || kvz_ipv4_parse(addr, buf) < 0)
        return -1;
    *prefix = n;
    return 0;
}

int kvz_subnet_parse(struct kvz_subnet *out, const char *s, char *why, size_t n)
{
    uint32_t a;
    unsigned prefix;
    if (kvz_cidr_parse(&a, &prefix, s) < 0) {
        snprintf(why, n, "is not an IPv4 subnet; write ADDRESS/PREFIX like 10.77.0.0/24");
        return -1;
    }
    if (prefix < KVZ_SUBNET_PREFIX_MIN || prefix > KVZ_SUBNET_PREFIX_MAX) {
        snprintf(
            why, n,
            "has prefix /%u; use /%d to /%d (a /30 holds the gateway and one guest, a /24 holds 253 guests)",
            prefix, KVZ_SUBNET_PREFIX_MIN, KVZ_SUBNET_PREFIX_MAX);
        return -1;
    }
    struct kvz_subnet sn = kvz_subnet_of(a, prefix);
    if (sn.addr != a) {
        char fix[KVZ_SUBNET_STR];
        kvz_subnet_format(fix, &sn);
        snprintf(why, n, "is not a network address (host bits are set); write %s", fix);
        return -1;
    }
    *out = sn;
    return 0;
}

struct kvz_subnet kvz_subnet_of(uint32_t a, unsigned prefix)
{
    struct kvz_subnet s = {a & mask_of(prefix), prefix};
    return s;
}

void kvz_ipv4_format(char out[KVZ_IPV4_STR], uint32_t a)
{
    snprintf(out, KVZ_IPV4_STR, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

void kvz_subnet_format(char out[KVZ_SUBNET_STR], const struct kvz_subnet *s)
{
    char a[KVZ_IPV4_STR];
    kvz_ipv4_format(a, s->addr);
    snprintf(out, KVZ_SUBNET_STR, "%s/%u", a, s->prefix);
}

uint32_t kvz_subnet_netmask(const struct kvz_subnet *s)
{
    return mask_of(s->prefix);
}

uint32_t kvz_subnet_broadcast(const struct kvz_subnet *s)
{
    return s->addr | ~mask_of(s->prefix);
}

uint32_t kvz_subnet_gateway(const struct kvz_subnet *s)
{
    return s->addr + 1;
}

void kvz_subnet_range(const struct kvz_subnet *s, uint32_t *first, uint32_t *last)
{
    *first = kvz_subnet_gateway(s) + 1;
    *last = kvz_subnet_broadcast(s) - 1;
}

bool kvz_subnet_contains(const struct kvz_subnet *s, uint32_t a)
{
    return (a & mask_of(s->prefix)) == s->addr;
}

bool kvz_subnet_overlap(const struct kvz_subnet *a, const struct kvz_subnet *b)
{
    /* one contains the other's network address exactly when they overlap */
    return kvz_subnet_contains(a, b->addr) || kvz_subnet_contains(b, a->addr);
}
