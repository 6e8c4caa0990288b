#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ct_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A real Debian 12 with systemd as init, from an mmdebstrap rootfs (tests/integration/
 * debian-rootfs), created by kvz, must boot to `systemctl is-system-running` = running. */

static char tarball[512];
static struct kvz_template debian;
static char debian_url[600], debian_digest[65];

/* First line of a command's stdout, "" when none. */
static void capture(char *out, size_t n, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    out[0] = 0;
    if (!p)
        return;
    if (!fgets(out, (int)n, p))
        out[0] = 0;
    out[strcspn(out, "\n")] = 0;
    pclose(p);
}

static void test_debian_systemd_running(void **state)
{
    const char *name = ct_name(0, "debian");
    struct kvz_resource want;
    struct kvz_error *err = NULL;
    ct_want(&want, name, 512ull << 20, 1000);
    want.tmpl = &debian;
    want.template_name = debian.name;
    want.network.type = KVZ_NET_NETWORK;
    want.network.name = "default";
    if (ct_create(&want, &err) < 0)
        fail_msg("create: %s", kvz_error_msg(err));

    char cmd[256], status[128] = "";
    for (int i = 0; i < 240; i++) {
        int pid = ct_init_pid(name);
        snprintf(cmd, sizeof(cmd),
                 "nsenter -t %d -m -u -i -n -p systemctl is-system-running 2>/dev/null", pid);
        capture(status, sizeof(status), cmd);
        if (strcmp(status, "starting") && strcmp(status, "initializing") &&
            strcmp(status, "offline") && status[0])
            break;
        usleep(500 * 1000);
    }
    if (strcmp(status, "running") != 0) {
        snprintf(cmd, sizeof(cmd),
                 "nsenter -t %d -m -u -i -n -p systemctl --failed --no-legend >&2",
                 ct_init_pid(name));
        ct_sh("%s", cmd);
    }
    assert_string_equal(status, "running");
    /* it is systemd that reports it, as PID 1 of the container */
    snprintf(cmd, sizeof(cmd), "cat /proc/%d/comm", ct_init_pid(name));
    capture(status, sizeof(status), cmd);
    assert_string_equal(status, "systemd");
    snprintf(cmd, sizeof(cmd),
             "nsenter -t %d -m -p systemctl list-units --state=running --no-legend | wc -l",
             ct_init_pid(name));
    capture(status, sizeof(status), cmd);
    fprintf(stderr, "  running units: %s\n", status);
    snprintf(cmd, sizeof(cmd), "nsenter -t %d -u hostname", ct_init_pid(name));
    capture(status, sizeof(status), cmd);
    assert_string_equal(status, name);

    /* a graceful stop: systemd powers off on the initctl request */
    if (kvz_container_ops.set_power(&fx.host, name, false, &err) < 0)
        fail_msg("stop: %s", kvz_error_msg(err));
    if (kvz_container_ops.remove(&fx.host, name, &err) < 0)
        fail_msg("remove: %s", kvz_error_msg(err));
}

int main(void)
{
    char cmd[1024];
    const char *src = getenv("KVZ_SOURCE_DIR");
    snprintf(cmd, sizeof(cmd), "%s/tests/integration/debian-rootfs", src ? src : ".");
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(tarball, sizeof(tarball), p)) {
        if (p)
            pclose(p);
        fprintf(stderr, "skipping: no Debian rootfs (mirror unreachable or mmdebstrap missing)\n");
        return 77;
    }
    pclose(p);
    tarball[strcspn(tarball, "\n")] = 0;
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", tarball);
    capture(debian_digest, sizeof(debian_digest), cmd);
    debian_digest[64] = 0;
    snprintf(debian_url, sizeof(debian_url), "file://%s", tarball);
    debian.name = "debian12";
    debian.url = debian_url;
    debian.algo = KVZ_DIGEST_SHA256;
    debian.digest = debian_digest;
    debian.hint = KVZ_CONTENT_ROOTFS;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debian_systemd_running),
    };
    return cmocka_run_group_tests(tests, ct_fixture_setup, ct_fixture_teardown);
}
