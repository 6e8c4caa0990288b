#ifndef KVZ_TESTS_CT_FIXTURE_H
#define KVZ_TESTS_CT_FIXTURE_H

/*
 * Shared by the container integration tests: a state dir and a template store under
 * /tmp/kvzt-<pid>-*, a connection to the real lxc:///system, busybox rootfs templates, and
 * what a user would look at (the container's cgroup files, its domain XML).
 * Everything named kvzt-<pid>-* is removed at teardown, also after a failure.
 */

#include "parser/manifest.h"
#include "store/store.h"
#include "providers/provider.h"

#include <stdbool.h>
#include <stdint.h>

struct ct_fixture {
    char prefix[64];     /* kvzt-<pid> */
    char tmp[128];       /* /tmp/kvzt-<pid>: templates and the state dir */
    char state_dir[160]; /* <tmp>/state */
    struct kvz_host host;
    struct kvz_store *store;
    struct kvz_template tmpl; /* busybox rootfs tarball, file:// with sha256 */
    char tmpl_url[256];
    char tmpl_digest[65];
};

extern struct ct_fixture fx;

/* Sets up fx (group setup for cmocka) and tears it down. */
int ct_fixture_setup(void **state);
int ct_fixture_teardown(void **state);

/* Builds a busybox-static rootfs in `dir` whose /sbin/init waits for SIGTERM. */
void ct_make_busybox_rootfs(const char *dir);

/* A tarball template of `dir` under fx.tmp named `name`, sha256-checked. */
void ct_make_template(struct kvz_template *t, char url[256], char digest[65], const char *dir,
                      const char *name);

/* "kvzt-<pid>-<suffix>" in a static buffer per call slot (0..7). */
const char *ct_name(int slot, const char *suffix);

/* A desired container with the busybox template. */
void ct_want(struct kvz_resource *r, const char *name, uint64_t memory, uint32_t cpus_milli);

/* kvz_container_ops.create of `want` on fx.host, its template pulled through fx.store first
 * (as the executor does). */
int ct_create(const struct kvz_resource *want, struct kvz_error **err);

/* The container's init pid (the child of libvirt's controller), -1 when not running. */
int ct_init_pid(const char *name);

/* Reads the limit in the cgroup v1 `controller` file `file` of the container's init, or on a
 * cgroup v2 host the same limit from its v2 file (memory.max, cpu.max); -1 for none. */
long long ct_cgroup_value(const char *name, const char *controller, const char *file);

/* The domain's XML (flags for virDomainGetXMLDesc); caller frees. */
char *ct_domain_xml(const char *name, unsigned int flags);

/* The observed entry named `name` in *o, or NULL. */
const struct kvz_observed_resource *ct_find(const struct kvz_observed *o, const char *name);

/* Whether a domain named `name` exists. */
bool ct_domain_exists(const char *name);

/* Runs a shell command; returns its exit status. */
int ct_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
