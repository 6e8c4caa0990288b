#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "providers/container/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

/* as this Debian 12 host shows it: hybrid, v1 controllers each on their own, "0::/" empty */
static const char *const hybrid = "9:name=systemd:/\n"
                                  "8:pids:/\n"
                                  "4:memory:/machine/lxc-23173-kvzt-a.libvirt-lxc\n"
                                  "2:cpuacct:/machine/lxc-23173-kvzt-a.libvirt-lxc\n"
                                  "1:cpu:/machine/lxc-23173-kvzt-a.libvirt-lxc\n"
                                  "0::/\n";

static void test_parse_v1_hybrid(void **state)
{
    (void)state;
    struct kvz_ct_cgroup cg;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ct_cgroup_parse(&cg, hybrid, &err), 0);
    assert_true(cg.v1);
    assert_string_equal(cg.mem_dir, "memory");
    assert_string_equal(cg.mem_path, "/machine/lxc-23173-kvzt-a.libvirt-lxc");
    assert_string_equal(cg.cpu_dir, "cpu");
    assert_string_equal(cg.cpu_path, "/machine/lxc-23173-kvzt-a.libvirt-lxc");
}

static void test_parse_v1_comounted(void **state)
{
    (void)state;
    struct kvz_ct_cgroup cg;
    struct kvz_error *err = NULL;
    const char *t = "5:cpu,cpuacct:/machine.slice/machine-lxc\\x2d7\\x2dweb.scope\n"
                    "3:memory:/machine.slice/machine-lxc\\x2d7\\x2dweb.scope";
    assert_int_equal(kvz_ct_cgroup_parse(&cg, t, &err), 0);
    assert_true(cg.v1);
    assert_string_equal(cg.cpu_dir, "cpu,cpuacct");
    assert_string_equal(cg.mem_path, "/machine.slice/machine-lxc\\x2d7\\x2dweb.scope");
}

static void test_parse_v2(void **state)
{
    (void)state;
    struct kvz_ct_cgroup cg;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ct_cgroup_parse(
                         &cg, "0::/machine.slice/machine-lxc\\x2d7\\x2dweb.scope/libvirt\n", &err),
                     0);
    assert_false(cg.v1);
    assert_string_equal(cg.v2_path, "/machine.slice/machine-lxc\\x2d7\\x2dweb.scope/libvirt");

    assert_int_equal(kvz_ct_cgroup_parse(&cg, "garbage\n", &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "garbage"));
    kvz_error_free(err);
}

static void test_parse_values(void **state)
{
    (void)state;
    struct kvz_error *err = NULL;
    uint64_t b = 1;
    uint32_t c = 1;
    assert_int_equal(kvz_ct_cgroup_parse_bytes(&b, "67108864\n", &err), 0);
    assert_int_equal(b, 64 * MiB);
    assert_int_equal(kvz_ct_cgroup_parse_bytes(&b, "max\n", &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(kvz_ct_cgroup_parse_bytes(&b, "9223372036854771712\n", &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(kvz_ct_cgroup_parse_cpu_max(&c, "150000 100000\n", &err), 0);
    assert_int_equal(c, 1500);
    assert_int_equal(kvz_ct_cgroup_parse_cpu_max(&c, "max 100000\n", &err), 0);
    assert_int_equal(c, 0);
    assert_int_equal(kvz_ct_cgroup_parse_cpu(&c, "25000\n", "100000\n", &err), 0);
    assert_int_equal(c, 250);
    assert_int_equal(kvz_ct_cgroup_parse_cpu(&c, "-1\n", "100000\n", &err), 0);
    assert_int_equal(c, 0);

    assert_int_equal(kvz_ct_cgroup_parse_bytes(&b, "12x\n", &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "not a number"));
    kvz_error_free(err);
    err = NULL;
    assert_int_equal(kvz_ct_cgroup_parse_cpu_max(&c, "150000\n", &err), -1);
    kvz_error_free(err);
}

static void test_uri_is_local(void **state)
{
    (void)state;
    assert_true(kvz_uri_is_local("lxc:///system"));
    assert_true(kvz_uri_is_local("lxc:///"));
    assert_true(kvz_uri_is_local("lxc+unix:///system?socket=/run/x"));
    assert_false(kvz_uri_is_local("lxc+ssh://root@host/system"));
    assert_false(kvz_uri_is_local("lxc://host/"));
    assert_false(kvz_uri_is_local(NULL));
}

/* ---- the whole read, on a fake /proc and /sys/fs/cgroup ---- */

static char root[64];

static void put(const char *rel, const char *text)
{
    char p[512], *slash;
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    for (slash = strchr(p + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        mkdir(p, 0755);
        *slash = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/kvzt-%d-cgroup-XXXXXX", getpid());
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd);
}

static int limits(uint64_t *mem, uint32_t *cpus, int pid)
{
    char proc[128], sys[128];
    struct kvz_error *err = NULL;
    snprintf(proc, sizeof(proc), "%s/proc", root);
    snprintf(sys, sizeof(sys), "%s/sys", root);
    int r = kvz_ct_cgroup_limits(mem, cpus, proc, sys, pid, &err);
    kvz_error_free(err);
    return r;
}

static void test_limits_v1(void **state)
{
    (void)state;
    uint64_t mem = 1;
    uint32_t cpus = 1;
    const char *d = "machine/lxc-23173-kvzt-a.libvirt-lxc";
    char p[256];
    put("proc/23173/comm", "libvirt_lxc\n");
    put("proc/23173/cgroup", hybrid);
    snprintf(p, sizeof(p), "sys/memory/%s/memory.limit_in_bytes", d);
    put(p, "100663296\n");
    snprintf(p, sizeof(p), "sys/cpu/%s/cpu.cfs_quota_us", d);
    put(p, "150000\n");
    snprintf(p, sizeof(p), "sys/cpu/%s/cpu.cfs_period_us", d);
    put(p, "100000\n");
    assert_int_equal(limits(&mem, &cpus, 23173), 0);
    assert_int_equal(mem, 96 * MiB);
    assert_int_equal(cpus, 1500);

    /* not a libvirt controller (pid reused, or a domain id from another host) */
    put("proc/23173/comm", "bash\n");
    assert_int_equal(limits(&mem, &cpus, 23173), 1);
    /* no such process: the container stopped */
    assert_int_equal(limits(&mem, &cpus, 999999), 1);
    /* controller still there, cgroup already removed */
    put("proc/23173/comm", "libvirt_lxc\n");
    put("proc/23173/cgroup", "4:memory:/machine/gone\n1:cpu:/machine/gone\n");
    assert_int_equal(limits(&mem, &cpus, 23173), 1);
    assert_int_equal(mem, 0);
    /* in the host's root cgroup: nothing of the container's to read */
    put("proc/23173/cgroup", "4:memory:/\n1:cpu:/\n0::/\n");
    assert_int_equal(limits(&mem, &cpus, 23173), 1);
}

static void test_limits_v2_nested(void **state)
{
    (void)state;
    uint64_t mem = 1;
    uint32_t cpus = 1;
    const char *scope = "machine.slice/machine-lxc\\x2d41\\x2dweb.scope";
    char p[256];
    put("proc/41/comm", "libvirt_lxc\n");
    snprintf(p, sizeof(p), "0::/%s/libvirt\n", scope);
    put("proc/41/cgroup", p);
    /* limits on the nested cgroup the processes are in */
    snprintf(p, sizeof(p), "sys/%s/libvirt/memory.max", scope);
    put(p, "33554432\n");
    snprintf(p, sizeof(p), "sys/%s/libvirt/cpu.max", scope);
    put(p, "25000 100000\n");
    snprintf(p, sizeof(p), "sys/%s/memory.max", scope);
    put(p, "max\n");
    snprintf(p, sizeof(p), "sys/%s/cpu.max", scope);
    put(p, "max 100000\n");
    assert_int_equal(limits(&mem, &cpus, 41), 0);
    assert_int_equal(mem, 32 * MiB);
    assert_int_equal(cpus, 250);
    /* or on the scope above it */
    snprintf(p, sizeof(p), "sys/%s/libvirt/memory.max", scope);
    put(p, "max\n");
    snprintf(p, sizeof(p), "sys/%s/libvirt/cpu.max", scope);
    put(p, "max 100000\n");
    snprintf(p, sizeof(p), "sys/%s/memory.max", scope);
    put(p, "67108864\n");
    snprintf(p, sizeof(p), "sys/%s/cpu.max", scope);
    put(p, "50000 100000\n");
    assert_int_equal(limits(&mem, &cpus, 41), 0);
    assert_int_equal(mem, 64 * MiB);
    assert_int_equal(cpus, 500);
    /* unlimited at both levels; a limited slice further up is not the container's */
    snprintf(p, sizeof(p), "sys/%s/memory.max", scope);
    put(p, "max\n");
    snprintf(p, sizeof(p), "sys/%s/cpu.max", scope);
    put(p, "max 100000\n");
    put("sys/machine.slice/memory.max", "1048576\n");
    assert_int_equal(limits(&mem, &cpus, 41), 0);
    assert_int_equal(mem, 0);
    assert_int_equal(cpus, 0);
    /* a file with junk is an error, not a silent 0 */
    snprintf(p, sizeof(p), "sys/%s/libvirt/memory.max", scope);
    put(p, "lots\n");
    assert_int_equal(limits(&mem, &cpus, 41), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v1_hybrid),  cmocka_unit_test(test_parse_v1_comounted),
        cmocka_unit_test(test_parse_v2),         cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_uri_is_local),     cmocka_unit_test(test_limits_v1),
        cmocka_unit_test(test_limits_v2_nested),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
