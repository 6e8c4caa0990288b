#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "plan_fixture.h"
#include "planner/fingerprint.h"
#include "providers/hosts.h"
#include "planner/planfile.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A saved plan applies only while manifests and host are what they were. */

static char dir[] = "/tmp/kvzt-planfile-XXXXXX";

static void copy(const char *from, const char *to)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static struct kvz_plan *plan_of(struct plan_fixture *fx)
{
    struct kvz_plan_input in;
    plan_fixture_input(&in, fx);
    in.targets = NULL;
    in.n_targets = 0;
    struct kvz_plan *p = NULL;
    assert_int_equal(kvz_plan_compute(&p, &in, NULL), 0);
    return p;
}

static void test_planfile_roundtrip_and_stale(void **state)
{
    char src[1024], file[1100], fp[65], fp2[65];
    const char *top = getenv("KVZ_SOURCE_DIR");
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < 2; i++) {
        const char *ext = i ? "json" : "yaml";
        snprintf(src, sizeof(src), "%s/tests/data/plan/spec_example.%s", top, ext);
        snprintf(file, sizeof(file), "%s/spec_example.%s", dir, ext);
        copy(src, file);
    }
    struct plan_fixture fx;
    assert_int_equal(plan_fixture_load(&fx, dir, "spec_example"), 0);
    struct kvz_plan *p = plan_of(&fx);
    assert_int_equal(kvz_observed_fingerprint(fp, fx.observed, KVZ_N_KINDS, "web", fx.m, NULL), 0);

    snprintf(file, sizeof(file), "%s/plan.json", dir);
    const char *paths[] = {fx.m->files[0]};
    const char *uri[KVZ_N_KINDS] = {"lxc:///system", "qemu:///system"};
    const char *targets[] = {"web2"};
    assert_int_equal(kvz_planfile_write(file, p, fx.m, paths, NULL, 1, targets, 1, uri, fp, NULL),
                     0);

    struct kvz_planfile *pf = NULL;
    assert_int_equal(kvz_planfile_read(&pf, file, NULL), 0);
    assert_int_equal(pf->n_paths, 1);
    assert_int_equal(pf->paths[0][0], '/');
    assert_int_equal(pf->n_targets, 1);
    assert_string_equal(pf->targets[0], "web2");
    assert_string_equal(pf->uri[0], "lxc:///system");
    assert_int_equal(kvz_planfile_check(pf, fx.m, fp, p, NULL), 0);

    /* the host changed: a guest stopped by hand */
    struct kvz_error *err = NULL;
    fx.observed[0].v[2].running = false;
    assert_int_equal(kvz_observed_fingerprint(fp2, fx.observed, KVZ_N_KINDS, "web", fx.m, NULL), 0);
    assert_string_not_equal(fp, fp2);
    assert_int_equal(kvz_planfile_check(pf, fx.m, fp2, p, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "stale plan: the host changed"));
    kvz_error_clear(&err);
    fx.observed[0].v[2].running = true;

    /* another stack's guest and a domain id do not make it stale */
    fx.observed[0].v[2].id = 4242;
    free(fx.observed[0].v[5].stack);
    fx.observed[0].v[5].stack = strdup("other"); /* old1 is no longer ours */
    assert_int_equal(kvz_observed_fingerprint(fp2, fx.observed, KVZ_N_KINDS, "web", fx.m, NULL), 0);
    assert_string_not_equal(fp, fp2); /* ... but losing old1 from the stack does */

    /* the manifest changed */
    FILE *f = fopen(fx.m->files[0], "a");
    assert_non_null(f);
    fputs("# edited\n", f);
    fclose(f);
    /* apply loads the manifests again: their digest is of what it loaded */
    struct kvz_manifest *edited = NULL;
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    const char *edited_path = fx.m->files[0];
    assert_int_equal(kvz_manifest_load(&edited, &edited_path, 1, &diags), 0);
    kvz_diags_release(&diags);
    assert_int_equal(kvz_planfile_check(pf, edited, fp, p, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "stale plan: the manifests changed"));
    kvz_error_clear(&err);
    kvz_manifest_free(edited);

    kvz_planfile_free(pf);
    pf = NULL;

    /* issue 8 item 13: an edited URI (or any other byte apply relies on) is refused */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "sed -i 's|\"lxc:///system\"|\"lxc+ssh://evil/system\"|' '%s'",
             file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kvz_planfile_read(&pf, file, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "was changed after kvz wrote it"));
    kvz_error_clear(&err);

    kvz_plan_free(p);
    plan_fixture_release(&fx);

    /* not a plan file */
    assert_int_equal(kvz_planfile_read(&pf, src, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "is not a kvz plan file"));
    kvz_error_clear(&err);
    snprintf(file, sizeof(file), "rm -rf '%s'", dir);
    assert_int_equal(system(file), 0);
}

static void test_fingerprint_ignores_ids_and_other_stacks(void **state)
{
    struct kvz_observed_resource v[2] = {
        {.name = "a", .managed = true, .stack = "web", .running = true, .id = 3},
        {.name = "z", .managed = true, .stack = "other", .memory = 1},
    };
    struct kvz_observed o[2] = {{v, 2}, {NULL, 0}};
    char a[65], b[65];
    assert_int_equal(kvz_observed_fingerprint(a, o, 2, "web", NULL, NULL), 0);
    v[0].id = 9;
    v[1].memory = 2;
    assert_int_equal(kvz_observed_fingerprint(b, o, 2, "web", NULL, NULL), 0);
    assert_string_equal(a, b);
    v[0].memory = 5;
    assert_int_equal(kvz_observed_fingerprint(b, o, 2, "web", NULL, NULL), 0);
    assert_string_not_equal(a, b);
}

/* A network's static leases make a saved plan stale; the leases its DHCP server hands out
 * (renewed by themselves) do not. */
static void test_fingerprint_of_networks(void **state)
{
    struct kvz_lease fixed = {"web1", "52:54:00:aa:bb:01", "10.77.0.10"};
    struct kvz_lease given = {"web1", "52:54:00:aa:bb:01", "10.77.0.10"};
    struct kvz_observed_resource v[1] = {
        {.kind = KVZ_KIND_NETWORK,
         .name = "lan",
         .managed = true,
         .stack = "web",
         .running = true,
         .netspec = {.subnet = "10.77.0.0/24", .leases = &fixed, .n_leases = 1},
         .dhcp_leases = &given,
         .n_dhcp_leases = 1}};
    struct kvz_observed o[KVZ_N_KINDS] = {[KVZ_KIND_NETWORK] = {v, 1}};
    char a[65], b[65];
    assert_int_equal(kvz_observed_fingerprint(a, o, KVZ_N_KINDS, "web", NULL, NULL), 0);
    given.ip = "10.77.0.99";
    v[0].n_dhcp_leases = 0;
    assert_int_equal(kvz_observed_fingerprint(b, o, KVZ_N_KINDS, "web", NULL, NULL), 0);
    assert_string_equal(a, b);
    fixed.ip = "10.77.0.11";
    assert_int_equal(kvz_observed_fingerprint(b, o, KVZ_N_KINDS, "web", NULL, NULL), 0);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planfile_roundtrip_and_stale),
        cmocka_unit_test(test_fingerprint_ignores_ids_and_other_stacks),
        cmocka_unit_test(test_fingerprint_of_networks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
