#ifndef KVZ_PARSER_UNITS_H
#define KVZ_PARSER_UNITS_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest size accepted: sizes end up in off_t. */
#define KVZ_SIZE_MAX ((uint64_t)INT64_MAX)
/* Largest CPU count accepted (container share or vCPUs). */
#define KVZ_CPUS_MAX 1024u

/*
 * Parses a size: a number, optional spaces and a binary unit (B, KiB, MiB,
 * GiB, TiB, or K, M, G, T for the same). A decimal fraction is fine when the
 * result is whole bytes ("1.5GiB"). Returns 0 and sets *out, or -1 with a
 * one-line reason in why[0..whylen) that says what to write instead.
 */
int kvz_size_parse(uint64_t *out, const char *s, char *why, size_t whylen);

/*
 * Parses a CPU count into thousandths: "1.5" -> 1500. At most three decimals;
 * `whole` refuses fractions (vm vCPUs). `what` names the key in messages.
 * Returns 0, or -1 with a reason in why.
 */
int kvz_cpus_parse(uint32_t *out_milli, const char *s, const char *what, bool whole, char *why,
                   size_t whylen);

/* Largest stop timeout accepted, in seconds (a day). */
#define KVZ_DURATION_MAX 86400u

/*
 * Parses a duration: a whole number and a unit, s, m or h ("30s", "2m", "1h"). A bare number
 * is an error ("30" -> did you mean 30s?), and so are zero and more than a day. Returns 0 and
 * sets *out_seconds, or -1 with a reason in why.
 */
int kvz_duration_parse(uint32_t *out_seconds, const char *s, char *why, size_t whylen);

/* Appends a size as a person reads it: "512MiB", "1.5GiB" (one decimal when not whole). */
int kvz_size_human(struct kvz_buf *out, uint64_t bytes);

/* Appends milli-CPUs with no trailing zeros: "1", "1.5", "0.25", "0.125". */
int kvz_cpus_human(struct kvz_buf *out, uint64_t milli);

#endif
