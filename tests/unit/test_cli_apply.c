/*
 * kvz plan/apply/destroy/status options that must fail before any host access:
 * run through the kvz binary with libvirt URIs that cannot be reached, so a test
 * that touched the host would fail with a connection error instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "tests/unit/cli_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char state_dir[] = "/tmp/kvzt-cli-XXXXXX";

static char *run_kvz(int *status, const char *const *args)
{
    return kvz_test_run_kvz(status, state_dir, true, args);
}

static void expect(const char *const *args, int status, const char *msg)
{
    int st;
    char *out = run_kvz(&st, args);
    if (st != status || !strstr(out, msg))
        fprintf(stderr, "exit %d, output:\n%s", st, out);
    assert_int_equal(st, status);
    assert_non_null(strstr(out, msg));
    free(out);
}

static char manifest[1100];

static int setup(void **state)
{
    if (!mkdtemp(state_dir))
        return -1;
    snprintf(manifest, sizeof(manifest), "%s/tests/data/plan/spec_example.yaml",
             getenv("KVZ_SOURCE_DIR"));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_bad_options(void **state)
{
    expect((const char *[]){"apply", "-f", manifest, "--max-disruption", "some", NULL}, 1,
           "error: --max-disruption 'some': use live, restart or destroy");
    expect((const char *[]){"apply", "-f", manifest, "--parallel", "0", NULL}, 1,
           "error: --parallel '0': give a number from 1 to 64");
    expect((const char *[]){"apply", "-f", manifest, "--parallel", "x", NULL}, 1, "--parallel 'x'");
    expect((const char *[]){"apply", "-f", manifest, "--json", NULL}, 1,
           "--json leaves no room for a question: pass --auto-approve too");
    expect((const char *[]){"apply", "-f", manifest, "--bogus", NULL}, 1,
           "unknown option '--bogus'; run 'kvz help apply'");
    expect((const char *[]){"plan", "-f", manifest, "--target", NULL}, 1,
           "option '--target' needs a value");
    expect((const char *[]){"apply", "a.json", "b.json", NULL}, 1,
           "unexpected argument 'b.json'; 'kvz apply' takes one plan file");
    expect((const char *[]){"apply", "-f", manifest, "plan.json", NULL}, 1,
           "a plan file holds its manifests, targets and hosts");
    expect((const char *[]){"status", "extra", NULL}, 1, "unexpected argument 'extra'");
    expect((const char *[]){"status", "--all", "-f", manifest, NULL}, 1,
           "--all reads no manifest: drop -f");
    expect((const char *[]){"status", "--all", "--host", "local", "-f", manifest, NULL}, 1,
           "--containers-uri and --vms-uri do not go with --host");
}

static void test_plan_file_errors(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/missing.json", state_dir);
    expect((const char *[]){"apply", path, NULL}, 1, "plan file '");
    /* a JSON file that is not a plan */
    snprintf(path, sizeof(path), "%s/other.json", state_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format_version\": 1}\n", f);
    fclose(f);
    expect((const char *[]){"apply", path, NULL}, 1, "is not a kvz plan file of format 1");
}

static void test_unreachable_host(void **state)
{
    /* the manifest uses containers: their URI must connect */
    expect((const char *[]){"plan", "-f", manifest, NULL}, 1,
           "error: cannot connect to 'test+unix:///nonexistent' for the containers");
    /* an invalid manifest fails first, with its diagnostics */
    char bad[1100];
    snprintf(bad, sizeof(bad), "%s/bad.yaml", state_dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("kvz: 1\ncontainers:\n  web1:\n    memroy: 1GiB\n", f);
    fclose(f);
    expect((const char *[]){"plan", "-f", bad, NULL}, 1, "did you mean 'memory'");
}

/* plan --format markdown with hosts: a section per host, the unreachable one with its error */
static void test_markdown_of_hosts(void **state)
{
    char path[1100];
    int st;
    snprintf(path, sizeof(path), "%s/hosts.yaml", state_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("kvz: 1\nstack: s\nhosts:\n  a:\n    containers: test+unix:///nonexistent\n"
          "  b:\n    containers: test+unix:///nonexistent\n"
          "templates:\n  rootfs:\n    url: https://example.org/r.tar.xz\n"
          "    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
          "containers:\n  web1:\n    host: a\n    template: rootfs\n    memory: 64MiB\n",
          f);
    fclose(f);
    /* not kvz_test_run_kvz: --containers-uri does not go with hosts: */
    char cmd[2600];
    snprintf(cmd, sizeof(cmd),
             "NO_COLOR=1 '%s' --state-dir '%s' plan -f '%s' --format markdown 2>&1 </dev/null",
             getenv("KVZ_BINARY"), state_dir, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    struct kvz_buf b = KVZ_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        kvz_buf_add(&b, chunk, n);
    int w = pclose(p);
    st = WIFEXITED(w) ? WEXITSTATUS(w) : -1;
    char *out = kvz_buf_detach(&b);
    if (st != 1 || !strstr(out, "#### Host `b`"))
        fprintf(stderr, "exit %d, output:\n%s", st, out);
    assert_int_equal(st, 1); /* a host could not be planned */
    assert_non_null(strstr(out, "### kvz plan: stack `s` on 2 hosts\n"));
    assert_non_null(strstr(out, "**1 of 2 hosts could not be planned:** `a`"));
    assert_non_null(strstr(out, "#### Host `a`\n\n**Not planned:** host 'a': cannot connect"));
    assert_non_null(strstr(out, "#### Host `b`\n\n**No changes**"));
    assert_non_null(strstr(out, "error: plan: 1 of 2 hosts could not be planned"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_plan_file_errors),
        cmocka_unit_test(test_unreachable_host),
        cmocka_unit_test(test_markdown_of_hosts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
