#ifndef KVZ_PROVIDERS_DOCTOR_HOST_H
#define KVZ_PROVIDERS_DOCTOR_HOST_H

/* kvz doctor --host NAME: the checks of one host of hosts:, through libvirt only. */

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/doctor.h"

/* Checks host `def` (each of its URIs: reachable, libvirt and driver versions; KVM there; the
 * free space of this state dir's kvz pool there). 0 with the results in *out (release with
 * kvz_checks_release), -1 when out of memory. */
int kvz_doctor_host(struct kvz_checks *out, const struct kvz_host_def *def, const char *state_dir,
                    struct kvz_error **err) __attribute__((warn_unused_result));

#endif
