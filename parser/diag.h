#ifndef KVZ_PARSER_DIAG_H
#define KVZ_PARSER_DIAG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Manifest problems are diagnostics, not errors: each has a place, a stable
 * code and a message, and all of a run are collected and reported.
 */
enum kvz_severity { KVZ_SEV_ERROR, KVZ_SEV_WARNING };

struct kvz_diag {
    char *file;         /* path as given by the user */
    unsigned line, col; /* 1-based; 0 when the problem has no place */
    enum kvz_severity sev;
    const char *code; /* static, stable: "unknown-key", "bad-size", ... */
    char *msg;
    size_t seq; /* insertion order, keeps the sort stable */
};

struct kvz_diags {
    struct kvz_diag *v;
    size_t n, cap;
    size_t errors;
};

#define KVZ_DIAGS_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/*
 * At most this many diagnostics are kept, so no input can make kvz use much
 * memory on messages; errors past it are still counted in `errors`.
 */
#define KVZ_DIAGS_MAX 10000

/*
 * Records a diagnostic (copies file and the formatted message). Past
 * KVZ_DIAGS_MAX, records one "too many problems" note instead and then only counts.
 */
void kvz_diags_add(struct kvz_diags *d, enum kvz_severity sev, const char *file, unsigned line,
                   unsigned col, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Sorts by file, then line, then column (stable for equal places). */
void kvz_diags_sort(struct kvz_diags *d);

/* "FILE:LINE:COL: error: MESSAGE" (no newline); caller frees. */
char *kvz_diag_format(const struct kvz_diag *dg);

bool kvz_diags_has_errors(const struct kvz_diags *d);
void kvz_diags_release(struct kvz_diags *d);

#endif
