#ifndef KVZ_PARSER_NETADDR_H
#define KVZ_PARSER_NETADDR_H

/*
 * IPv4 addresses and subnets of networks (docs/networks.md): parsing the
 * manifest's text, and the addresses a network of a subnet gives out. The
 * host takes the first address (the gateway); DHCP ranges over the rest.
 * Addresses are in host byte order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVZ_IPV4_STR   16 /* "255.255.255.255" and its NUL */
#define KVZ_SUBNET_STR 19 /* "255.255.255.255/32" and its NUL */

/* The smallest subnet with room for the gateway and one guest, and the largest kvz makes. */
#define KVZ_SUBNET_PREFIX_MIN 8
#define KVZ_SUBNET_PREFIX_MAX 30

struct kvz_subnet {
    uint32_t addr; /* the network address */
    unsigned prefix;
};

/* A dotted IPv4 address (no leading zeros, no shorthand). 0, or -1 when `s` is not one. */
int kvz_ipv4_parse(uint32_t *out, const char *s);

/* Whether `s` looks like an IPv6 address or subnet (has a ':'), to say it is not supported. */
bool kvz_ip_is_v6(const char *s);

/* "A.B.C.D/N" with N in KVZ_SUBNET_PREFIX_MIN..MAX and no host bits set. 0, or -1 with the
 * problem and what to write in `why` (e.g. "is not a network address; write 10.77.0.0/24"). */
int kvz_subnet_parse(struct kvz_subnet *out, const char *s, char *why, size_t n);

/* Any address with any prefix 0..32 ("10.77.0.1/24" from a libvirt definition): the address as
 * written and the prefix. 0, or -1 when it is not one. */
int kvz_cidr_parse(uint32_t *addr, unsigned *prefix, const char *s);

/* The subnet of prefix `prefix` (0..32) that holds address `a`. */
struct kvz_subnet kvz_subnet_of(uint32_t a, unsigned prefix);

void kvz_ipv4_format(char out[KVZ_IPV4_STR], uint32_t a);
void kvz_subnet_format(char out[KVZ_SUBNET_STR], const struct kvz_subnet *s);

uint32_t kvz_subnet_netmask(const struct kvz_subnet *s);
uint32_t kvz_subnet_broadcast(const struct kvz_subnet *s);
/* The host's address on the network: the first one. */
uint32_t kvz_subnet_gateway(const struct kvz_subnet *s);
/* The DHCP range: every address after the gateway up to the one before the broadcast. */
void kvz_subnet_range(const struct kvz_subnet *s, uint32_t *first, uint32_t *last);

bool kvz_subnet_contains(const struct kvz_subnet *s, uint32_t a);
bool kvz_subnet_overlap(const struct kvz_subnet *a, const struct kvz_subnet *b);

#endif
