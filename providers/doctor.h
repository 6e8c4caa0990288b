#ifndef KVZ_PROVIDERS_DOCTOR_H
#define KVZ_PROVIDERS_DOCTOR_H

/*
 * kvz doctor's checks: can this host run the manifests? Each check gives ok,
 * or the problem and what to do. The library only collects the results;
 * cmd/doctor.c renders them.
 */

#include "base/error.h"
#include "parser/manifest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum kvz_check_status { KVZ_CHECK_OK = 0, KVZ_CHECK_WARN, KVZ_CHECK_FAIL };

struct kvz_check {
    enum kvz_check_status status;
    const char *name; /* "libvirt", "kvm", "cgroups", ... (static) */
    char *msg;        /* what was found and, for a problem, what to do */
};

struct kvz_checks {
    struct kvz_check *v;
    size_t n;
    bool blocked; /* a FAIL: the manifests cannot run here as they are */
};

/* Appends check `name` (a string that outlives c) with status `st` and the formatted message;
 * a FAIL sets c->blocked. Returns false when out of memory (the check is then left out). */
bool kvz_checks_add(struct kvz_checks *c, enum kvz_check_status st, const char *name,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool kvz_checks_vadd(struct kvz_checks *c, enum kvz_check_status st, const char *name,
                     const char *fmt, va_list ap);

struct kvz_doctor_input {
    const struct kvz_manifest *m; /* NULL: check for everything kvz can do */
    const char *uri[KVZ_N_KINDS]; /* --containers-uri / --vms-uri, or NULL: the manifest's */
    const char *state_dir;
};

/*
 * Runs every check. A problem the manifests do not need is a warning, not a failure. Returns 0
 * with the results in *out (release with kvz_checks_release), or -1 when out of memory.
 */
int kvz_doctor_run(struct kvz_checks *out, const struct kvz_doctor_input *in,
                   struct kvz_error **err) __attribute__((warn_unused_result));

void kvz_checks_release(struct kvz_checks *c);

#endif
