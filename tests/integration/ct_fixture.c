#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ct_fixture.h"

#include "base/buf.h"
#include "parser/spec_digest.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

struct ct_fixture fx;

int ct_sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        cmd = NULL;
    va_end(ap);
    if (!cmd)
        return -1;
    int r = system(cmd);
    free(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

const char *ct_name(int slot, const char *suffix)
{
    static char names[8][96];
    snprintf(names[slot], sizeof(names[slot]), "%s-%s", fx.prefix, suffix);
    return names[slot];
}

void ct_make_busybox_rootfs(const char *dir)
{
    /* busybox --install -s in a chroot puts its applet links where a distro would */
    assert_int_equal(ct_sh("set -e; d='%s'; mkdir -p $d/bin $d/sbin $d/usr/bin $d/usr/sbin "
                           "$d/etc $d/proc $d/sys $d/dev $d/tmp $d/root $d/run $d/var; "
                           "cp /bin/busybox $d/bin/busybox; "
                           "chroot $d /bin/busybox --install -s; rm -f $d/sbin/init",
                           dir),
                     0);
    char p[512];
    snprintf(p, sizeof(p), "%s/sbin/init", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    /* PID 1 ignores signals it has no handler for: trap TERM so a graceful stop works. */
    fputs("#!/bin/sh\n"
          "trap 'exit 0' TERM\n"
          "echo up > /run/kvz-test-up\n"
          "while :; do sleep 1 & wait $!; done\n",
          f);
    fclose(f);
    chmod(p, 0755);
    snprintf(p, sizeof(p), "%s/etc/passwd", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("root:x:0:0:root:/root:/bin/sh\n", f);
    fclose(f);
}

void ct_make_template(struct kvz_template *t, char url[256], char digest[65], const char *dir,
                      const char *name)
{
    char tar[200];
    snprintf(tar, sizeof(tar), "%s/%s.tar.gz", fx.tmp, name);
    assert_int_equal(ct_sh("tar -C '%s' --numeric-owner -czf '%s' .", dir, tar), 0);
    int fd = open(tar, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *data = malloc((size_t)st.st_size);
    assert_non_null(data);
    assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
    close(fd);
    kvz_sha256_hex(digest, data, (size_t)st.st_size);
    free(data);
    snprintf(url, 256, "file://%s", tar);
    memset(t, 0, sizeof(*t));
    t->name = (char *)name;
    t->url = url;
    t->algo = KVZ_DIGEST_SHA256;
    t->digest = digest;
    t->hint = KVZ_CONTENT_ROOTFS;
}

void ct_want(struct kvz_resource *r, const char *name, uint64_t memory, uint32_t cpus_milli)
{
    memset(r, 0, sizeof(*r));
    r->kind = KVZ_KIND_CONTAINER;
    r->name = (char *)name;
    r->template_name = fx.tmpl.name;
    r->tmpl = &fx.tmpl;
    r->memory = r->max_memory = memory;
    r->cpus_milli = cpus_milli;
    r->hostname = (char *)name;
    r->state = KVZ_POWER_RUNNING;
    r->network.type = KVZ_NET_NONE;
}

static void remove_test_domains(void)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(fx.host.conn, &doms, 0);
    for (int i = 0; i < n; i++) {
        if (!strncmp(virDomainGetName(doms[i]), fx.prefix, strlen(fx.prefix))) {
            if (virDomainIsActive(doms[i]) == 1)
                virDomainDestroy(doms[i]);
            virDomainUndefine(doms[i]);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
}

/* libvirt prints every error to stderr unless told otherwise; the tests read them from the
 * kvz_error messages instead. */
static void quiet(void *data, virErrorPtr e)
{
}

/* KVZ_TEST_VERBOSE=1 shows the provider's progress with timestamps. */
static void log_step(void *ctx, const char *resource, const char *msg)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "  [%ld.%03ld] %s: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, resource, msg);
}

/* Domains an earlier run of these tests left when it aborted (a sanitizer stops the process
 * before teardown): kvzt-<pid>-* of stack kvzt whose pid is gone and whose files are under
 * /tmp/kvzt-<pid>. Anything else is not ours and stays. */
static void remove_stale_runs(void)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(fx.host.conn, &doms, 0);
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        int pid = 0, len = 0;
        char proc[64], tmp[64], *xml = NULL;
        if (sscanf(name, "kvzt-%d-%n", &pid, &len) == 1 && len > 0 && pid > 0 && pid != getpid()) {
            snprintf(proc, sizeof(proc), "/proc/%d", pid);
            snprintf(tmp, sizeof(tmp), "'/tmp/kvzt-%d/", pid);
            xml = virDomainGetXMLDesc(doms[i], 0);
            if (access(proc, F_OK) != 0 && xml && strstr(xml, "<kvz:stack>kvzt</kvz:stack>") &&
                strstr(xml, tmp)) {
                if (virDomainIsActive(doms[i]) == 1)
                    virDomainDestroy(doms[i]);
                virDomainUndefine(doms[i]);
                ct_sh("rm -rf /tmp/kvzt-%d", pid);
            }
        }
        free(xml);
        virDomainFree(doms[i]);
    }
    free(doms);
}

int ct_fixture_setup(void **state)
{
    virSetErrorFunc(NULL, quiet);
    snprintf(fx.prefix, sizeof(fx.prefix), "kvzt-%d", getpid());
    snprintf(fx.tmp, sizeof(fx.tmp), "/tmp/%s", fx.prefix);
    snprintf(fx.state_dir, sizeof(fx.state_dir), "%s/state", fx.tmp);
    if (ct_sh("mkdir -p '%s'", fx.state_dir) != 0)
        return -1;
    fx.host.uri = "lxc:///system";
    fx.host.conn = virConnectOpen(fx.host.uri);
    if (!fx.host.conn) {
        fprintf(stderr, "cannot connect to lxc:///system; run tests/integration/libvirtd-start\n");
        return -1;
    }
    remove_stale_runs();
    fx.host.state_dir = fx.state_dir;
    fx.host.stack = "kvzt";
    fx.host.source = "tests/integration";
    if (getenv("KVZ_TEST_VERBOSE"))
        fx.host.log = log_step;
    struct kvz_error *err = NULL;
    if (kvz_store_open(&fx.store, fx.state_dir, NULL, &err) < 0) {
        fprintf(stderr, "store: %s\n", kvz_error_msg(err));
        kvz_error_free(err);
        return -1;
    }
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/busybox", fx.tmp);
    ct_make_busybox_rootfs(dir);
    ct_make_template(&fx.tmpl, fx.tmpl_url, fx.tmpl_digest, dir, "busybox");
    return 0;
}

int ct_fixture_teardown(void **state)
{
    if (fx.host.conn) {
        remove_test_domains();
        virConnectClose(fx.host.conn);
    }
    kvz_store_free(fx.store);
    if (getenv("KVZ_TEST_KEEP") == NULL)
        ct_sh("rm -rf '%s'", fx.tmp);
    return 0;
}

int ct_init_pid(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(fx.host.conn, name);
    if (!dom)
        return -1;
    unsigned int id = virDomainGetID(dom);
    virDomainFree(dom);
    if (id == (unsigned int)-1)
        return -1;
    char p[64], buf[64] = {0};
    snprintf(p, sizeof(p), "/proc/%u/task/%u/children", id, id);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    int pid = fgets(buf, sizeof(buf), f) ? atoi(buf) : -1;
    fclose(f);
    return pid > 0 ? pid : -1;
}

/* A number from a cgroup file; field 0 or 1 of a two-field line ("QUOTA PERIOD"). "max" is no
 * limit: -1, as cgroup v1 writes an unlimited CPU quota. */
static long long read_cgroup_number(const char *path, int field)
{
    char buf[128] = {0}, a[64] = {0}, b[64] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool got = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    if (!got || sscanf(buf, "%63s %63s", a, b) < 1)
        return -1;
    const char *v = field ? b : a;
    return !strcmp(v, "max") ? -1 : atoll(v);
}

long long ct_cgroup_value(const char *name, const char *controller, const char *file)
{
    int pid = ct_init_pid(name);
    if (pid < 0)
        return -1;
    char p[128], line[512], path[512] = {0}, v2[512] = {0};
    snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    /* v1 lines: "4:memory:/machine.slice/..."; the controller list may hold several names. The
     * v2 line: "0::/machine.slice/...". */
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        if (c2 == c1 + 1) {
            snprintf(v2, sizeof(v2), "%s", c2 + 1);
            v2[strcspn(v2, "\n")] = 0;
            continue;
        }
        char *tok, *save = NULL;
        for (tok = strtok_r(c1 + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (!strcmp(tok, controller)) {
                snprintf(path, sizeof(path), "%s", c2 + 1);
                path[strcspn(path, "\n")] = 0;
            }
    }
    fclose(f);
    char fp[1200];
    if (path[0]) {
        /* cpu and cpuacct may be co-mounted as cpu,cpuacct; /sys/fs/cgroup/cpu is then a link */
        snprintf(fp, sizeof(fp), "/sys/fs/cgroup/%s%s/%s", controller, path, file);
        return read_cgroup_number(fp, 0);
    }
    if (!v2[0])
        return -1;
    /* cgroup v2 (Debian 12's default) keeps the same limits under other names */
    static const struct {
        const char *v1, *v2;
        int field;
    } names[] = {
        {"memory.limit_in_bytes", "memory.max", 0},
        {"cpu.cfs_quota_us", "cpu.max", 0},
        {"cpu.cfs_period_us", "cpu.max", 1},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(file, names[i].v1)) {
            snprintf(fp, sizeof(fp), "/sys/fs/cgroup%s/%s", v2, names[i].v2);
            return read_cgroup_number(fp, names[i].field);
        }
    return -1;
}

char *ct_domain_xml(const char *name, unsigned int flags)
{
    virDomainPtr dom = virDomainLookupByName(fx.host.conn, name);
    if (!dom)
        return NULL;
    char *xml = virDomainGetXMLDesc(dom, flags);
    virDomainFree(dom);
    return xml;
}

const struct kvz_observed_resource *ct_find(const struct kvz_observed *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].name, name))
            return &o->v[i];
    return NULL;
}

bool ct_domain_exists(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(fx.host.conn, name);
    if (dom)
        virDomainFree(dom);
    return dom != NULL;
}

int ct_create(const struct kvz_resource *want, struct kvz_error **err)
{
    struct kvz_image img = {0};
    struct kvz_media media = {.image = &img};
    if (want->tmpl && kvz_store_pull(&img, fx.store, want->tmpl, KVZ_CONTENT_ROOTFS, err) < 0)
        return -1;
    int r = kvz_container_ops.create(&fx.host, want, want->tmpl ? &media : NULL, err);
    kvz_image_release(&img);
    return r;
}
