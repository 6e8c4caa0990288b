/* The limits a running container's cgroup enforces, read from the files the kernel exposes
 * instead of libvirt's memory and scheduler RPCs: no round trip per container, and no call into
 * libvirt 9.0's LXC driver that crashes libvirtd when the container stops meanwhile. */
#include "providers/container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cgroup v1 writes "no limit" as the largest page-aligned signed value, 9223372036854771712 on
 * 4 KiB pages; anything this large is no limit whatever the page size. */
#define V1_UNLIMITED_MIN (INT64_MAX / 2)

static int copy_path(char *dst, const char *src, size_t len)
{
    if (len >= KVZ_CT_CGROUP_PATH)
        return -1;
    memcpy(dst, src, len);
    dst[len] = 0;
    return 0;
}

/* Whether the comma-separated controller list names `want`. */
static bool lists(const char *list, size_t len, const char *want)
{
    size_t wl = strlen(want);
    for (const char *p = list, *end = list + len; p < end;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
        if (n == wl && !memcmp(p, want, n))
            return true;
        p += n + 1;
    }
    return false;
}

int kvz_ct_cgroup_parse(struct kvz_ct_cgroup *out, const char *text, struct kvz_error **err)
{
    bool v2 = false;
    memset(out, 0, sizeof(*out));
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *c1 = memchr(line, ':', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2) {
            const char *ctl = c1 + 1, *path = c2 + 1;
            size_t ctl_len = (size_t)(c2 - ctl), path_len = (size_t)(end - path);
            int bad = 0;
            /* "N:memory:/path" (v1, several controllers may share a hierarchy: "cpu,cpuacct")
             * or "0::/path" (v2; on hybrid hosts it is there too, holding no controllers). */
            if (ctl_len == 0 && !strncmp(line, "0:", 2)) {
                bad = copy_path(out->v2_path, path, path_len);
                v2 = !bad;
            } else if (lists(ctl, ctl_len, "memory")) {
                bad = copy_path(out->mem_dir, ctl, ctl_len) ||
                      copy_path(out->mem_path, path, path_len);
            } else if (lists(ctl, ctl_len, "cpu")) {
                bad = copy_path(out->cpu_dir, ctl, ctl_len) ||
                      copy_path(out->cpu_path, path, path_len);
            }
            if (bad)
                return kvz_error_set(err, "cgroup line too long: '%.*s'", (int)(end - line), line);
        }
        line = nl ? nl + 1 : NULL;
    }
    out->v1 = out->mem_path[0] && out->cpu_path[0];
    if (!out->v1 && !v2)
        return kvz_error_set(err, "no memory and cpu cgroup, nor a cgroup v2 path, in '%s'", text);
    return 0;
}

/* One number, or "max"/"-1" (no limit): *out 0 when unlimited. */
static int parse_num(long long *out, const char *s, const char *what, struct kvz_error **err)
{
    char *end = NULL;
    while (*s == ' ')
        s++;
    if (!strncmp(s, "max", 3) && (s[3] == 0 || s[3] == '\n' || s[3] == ' ')) {
        *out = 0;
        return 0;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || (*end && *end != '\n' && *end != ' '))
        return kvz_error_set(err, "cgroup %s: not a number: '%s'", what, s);
    *out = v < 0 || v >= V1_UNLIMITED_MIN ? 0 : v;
    return 0;
}

int kvz_ct_cgroup_parse_bytes(uint64_t *out, const char *text, struct kvz_error **err)
{
    long long v = 0;
    if (parse_num(&v, text, "memory limit", err) < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int kvz_ct_cgroup_parse_cpu(uint32_t *out, const char *quota, const char *period,
                            struct kvz_error **err)
{
    long long q = 0, p = 0;
    if (parse_num(&q, quota, "cpu quota", err) < 0 || parse_num(&p, period, "cpu period", err) < 0)
        return -1;
    /* As libvirt reports it: no quota, no CPU limit (0). */
    *out = q > 0 && p > 0 ? (uint32_t)(q * 1000 / p) : 0;
    return 0;
}

int kvz_ct_cgroup_parse_cpu_max(uint32_t *out, const char *text, struct kvz_error **err)
{
    const char *sp = strchr(text, ' ');
    if (!sp)
        return kvz_error_set(err, "cgroup cpu.max: expected 'QUOTA PERIOD', got '%s'", text);
    char quota[32];
    snprintf(quota, sizeof(quota), "%.*s", (int)(sp - text), text);
    return kvz_ct_cgroup_parse_cpu(out, quota, sp + 1, err);
}

/* 0 read, 1 not there (ENOENT and the like: the cgroup went away with its container). */
static int read_small(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int read_small(char *buf, size_t size, const char *fmt, ...)
{
    char path[2 * KVZ_CT_CGROUP_PATH + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(path))
        return 1;
    /* Plain read(2): these files are one short line, and a plan reads five per container. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t got = read(fd, buf, size - 1);
    close(fd);
    if (got <= 0)
        return 1;
    buf[got] = 0;
    return 0;
}

/* libvirt under systemd may keep the processes in a nested "libvirt" cgroup of the machine
 * scope; the limits are then on one of the two. The level above is read only when the own one
 * is unlimited and is that nested cgroup, so a limit of some unrelated parent slice never shows
 * up as the container's. */
static bool nested(const char *path, char *parent)
{
    const char *slash = strrchr(path, '/');
    if (!slash || strcmp(slash + 1, "libvirt") || slash == path)
        return false;
    snprintf(parent, KVZ_CT_CGROUP_PATH, "%.*s", (int)(slash - path), path);
    return true;
}

static int read_v1(uint64_t *mem, uint32_t *cpus, const char *sysfs, const struct kvz_ct_cgroup *cg,
                   struct kvz_error **err)
{
    char a[64], b[64], up[KVZ_CT_CGROUP_PATH];
    int r;
    if ((r = read_small(a, sizeof(a), "%s/%s%s/memory.limit_in_bytes", sysfs, cg->mem_dir,
                        cg->mem_path)) != 0)
        return r;
    if (kvz_ct_cgroup_parse_bytes(mem, a, err) < 0)
        return -1;
    if (!*mem && nested(cg->mem_path, up)) {
        if ((r = read_small(a, sizeof(a), "%s/%s%s/memory.limit_in_bytes", sysfs, cg->mem_dir,
                            up)) != 0)
            return r;
        if (kvz_ct_cgroup_parse_bytes(mem, a, err) < 0)
            return -1;
    }
    const char *path = cg->cpu_path;
    for (int level = 0; level < 2; level++) {
        if ((r = read_small(a, sizeof(a), "%s/%s%s/cpu.cfs_quota_us", sysfs, cg->cpu_dir, path)) !=
                0 ||
            (r = read_small(b, sizeof(b), "%s/%s%s/cpu.cfs_period_us", sysfs, cg->cpu_dir, path)) !=
                0)
            return r;
        if (kvz_ct_cgroup_parse_cpu(cpus, a, b, err) < 0)
            return -1;
        if (*cpus || !nested(path, up))
            break;
        path = up;
    }
    return 0;
}

static int read_v2(uint64_t *mem, uint32_t *cpus, const char *sysfs, const char *own,
                   struct kvz_error **err)
{
    char a[64], up[KVZ_CT_CGROUP_PATH];
    const char *path = own;
    int r;
    for (int level = 0; level < 2; level++) {
        if ((r = read_small(a, sizeof(a), "%s%s/memory.max", sysfs, path)) != 0)
            return r;
        if (kvz_ct_cgroup_parse_bytes(mem, a, err) < 0)
            return -1;
        if (*mem || !nested(path, up))
            break;
        path = up;
    }
    path = own;
    for (int level = 0; level < 2; level++) {
        if ((r = read_small(a, sizeof(a), "%s%s/cpu.max", sysfs, path)) != 0)
            return r;
        if (kvz_ct_cgroup_parse_cpu_max(cpus, a, err) < 0)
            return -1;
        if (*cpus || !nested(path, up))
            break;
        path = up;
    }
    return 0;
}

int kvz_ct_cgroup_limits(uint64_t *mem, uint32_t *cpus_milli, const char *proc, const char *sysfs,
                         int controller_pid, struct kvz_error **err)
{
    char buf[4096];
    struct kvz_ct_cgroup cg;
    *mem = 0;
    *cpus_milli = 0;
    if (controller_pid <= 0)
        return 1;
    /* The controller, not init: libvirt placed it in the container's cgroup itself, while an
     * init like systemd moves itself into cgroups of its own below. A pid that is no
     * libvirt_lxc is a container that stopped (or a domain on another host). */
    if (read_small(buf, sizeof(buf), "%s/%d/comm", proc, controller_pid) != 0 ||
        strcmp(buf, "libvirt_lxc\n"))
        return 1;
    if (read_small(buf, sizeof(buf), "%s/%d/cgroup", proc, controller_pid) != 0)
        return 1;
    struct kvz_error *unknown = NULL;
    if (kvz_ct_cgroup_parse(&cg, buf, &unknown) < 0) {
        kvz_error_free(unknown); /* a layout not known here: the caller asks libvirt */
        return 1;
    }
    /* "/" is the host's root: not (or no longer) the container's own cgroup. */
    if (cg.v1 ? !strcmp(cg.mem_path, "/") || !strcmp(cg.cpu_path, "/") : !strcmp(cg.v2_path, "/"))
        return 1;
    int r = cg.v1 ? read_v1(mem, cpus_milli, sysfs, &cg, err)
                  : read_v2(mem, cpus_milli, sysfs, cg.v2_path, err);
    if (r != 0) {
        *mem = 0;
        *cpus_milli = 0;
    }
    return r;
}
