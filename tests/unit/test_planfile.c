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

/* A plan of two hosts (tests/data/plan/hosts.yaml, copied): recorded per host, read back; a
 * host added, gone or on other URIs is a changed inventory; a changed host is named. */
static void test_planfile_of_hosts(void **state)
{
    char d[] = "/tmp/kvzt-planfile-hosts-XXXXXX", src[1024], file[1100], fp[2][65], cmd[2300];
    const char *top = getenv("KVZ_SOURCE_DIR");
    struct kvz_error *err = NULL;
    assert_non_null(mkdtemp(d));
    for (int i = 0; i < 2; i++) {
        const char *ext = i ? "json" : "yaml";
        snprintf(src, sizeof(src), "%s/tests/data/plan/hosts.%s", top, ext);
        snprintf(file, sizeof(file), "%s/hosts.%s", d, ext);
        copy(src, file);
    }
    struct plan_fixture fx;
    assert_int_equal(plan_fixture_load(&fx, d, "hosts"), 0);
    struct kvz_plan_input in;
    struct kvz_plan *p[2] = {NULL, NULL};
    struct kvz_observed none[KVZ_N_KINDS] = {{0}};
    const char *names[] = {"h1", "h2"};
    struct kvz_planfile_host h[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        plan_fixture_input(&in, &fx);
        in.host = names[i];
        for (int k = 0; i == 1 && k < KVZ_N_KINDS; k++)
            in.observed[k] = &none[k];
        assert_int_equal(kvz_plan_compute(&p[i], &in, NULL), 0);
        assert_int_equal(
            kvz_observed_fingerprint(fp[i], i ? none : fx.observed, KVZ_N_KINDS, "s", fx.m, NULL),
            0);
        h[i] = (struct kvz_planfile_host){.name = (char *)names[i], .fingerprint = fp[i]};
        h[i].uri[KVZ_KIND_CONTAINER] = fx.m->hosts[i].uri[KVZ_KIND_CONTAINER];
        h[i].plan = kvz_plan_to_json(p[i]);
    }
    snprintf(file, sizeof(file), "%s/plan.json", d);
    const char *paths[] = {fx.m->files[0]};
    const struct kvz_planfile_source source = {.m = fx.m, .paths = paths, .n_paths = 1};
    assert_int_equal(kvz_planfile_write_hosts(file, &source, NULL, 0, h, 2, NULL), 0);

    struct kvz_planfile *pf = NULL;
    assert_int_equal(kvz_planfile_read(&pf, file, NULL), 0);
    assert_true(pf->many);
    assert_int_equal(pf->n_hosts, 2);
    assert_string_equal(pf->hosts[1].name, "h2");
    assert_string_equal(pf->hosts[0].uri[KVZ_KIND_CONTAINER], "lxc+ssh://root@h1/system");
    assert_null(pf->hosts[0].uri[KVZ_KIND_VM]);
    assert_int_equal(kvz_planfile_check_inventory(pf, fx.m, NULL), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            kvz_planfile_check_host(pf, kvz_planfile_host(pf, names[i]), fx.m, fp[i], p[i], NULL),
            0);
    /* h1 changed: its fingerprint and its plan are its own, not h2's */
    assert_int_equal(kvz_planfile_check_host(pf, &pf->hosts[0], fx.m, fp[1], p[0], &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "stale plan: host 'h1' changed"));
    kvz_error_clear(&err);
    assert_int_equal(kvz_planfile_check_host(pf, &pf->hosts[1], fx.m, fp[1], p[0], &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "stale plan: on host 'h2' it no longer matches"));
    kvz_error_clear(&err);

    /* the inventory changed: a third host, h2 gone, h1 elsewhere; each is named */
    static const struct {
        const char *sed, *says;
    } edits[] = {
        {"s|^hosts:|hosts:\\n  h3:\\n    containers: lxc+ssh://root@h3/system|",
         "stale plan: host 'h3' was added to the manifests"},
        {"/^  h2:/,+1d; s/host: h2/host: h1/",
         "stale plan: host 'h2' is no longer in the manifests"},
        {"s|root@h1/|root@h1b/|",
         "stale plan: host 'h1' has another URI for containers now (lxc+ssh://root@h1b/system, planned on lxc+ssh://root@h1/system)"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        snprintf(cmd, sizeof(cmd), "sed -e '%s' '%s/hosts.yaml' > '%s/edited.yaml'", edits[i].sed,
                 d, d);
        assert_int_equal(system(cmd), 0);
        snprintf(src, sizeof(src), "%s/edited.yaml", d);
        const char *ep = src;
        struct kvz_manifest *edited = NULL;
        struct kvz_diags diags = KVZ_DIAGS_INIT;
        assert_int_equal(kvz_manifest_load(&edited, &ep, 1, &diags), 0);
        kvz_diags_release(&diags);
        assert_int_equal(kvz_planfile_check_inventory(pf, edited, &err), -1);
        assert_non_null(strstr(kvz_error_msg(err), edits[i].says));
        kvz_error_clear(&err);
        /* ... and its digest differs, so no host would pass either */
        assert_int_equal(kvz_planfile_check_host(pf, &pf->hosts[0], edited, fp[0], p[0], &err), -1);
        assert_non_null(strstr(kvz_error_msg(err), "stale plan: the manifests changed"));
        kvz_error_clear(&err);
        kvz_manifest_free(edited);
    }
    kvz_planfile_free(pf);

    /* --host h2: only h2 recorded; h1 is outside the selection, not "added" */
    assert_int_equal(kvz_planfile_write_hosts(file, &source, names + 1, 1, h + 1, 1, NULL), 0);
    assert_int_equal(kvz_planfile_read(&pf, file, NULL), 0);
    assert_int_equal(pf->n_only, 1);
    assert_int_equal(kvz_planfile_check_inventory(pf, fx.m, NULL), 0);
    kvz_planfile_free(pf);

    /* a recorded host's plan edited by hand: the file's own digest refuses it */
    snprintf(cmd, sizeof(cmd), "sed -i 's|\"h2\"|\"h9\"|' '%s'", file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kvz_planfile_read(&pf, file, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "was changed after kvz wrote it"));
    kvz_error_clear(&err);

    for (int i = 0; i < 2; i++) {
        json_decref(h[i].plan);
        kvz_plan_free(p[i]);
    }
    plan_fixture_release(&fx);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planfile_roundtrip_and_stale),
        cmocka_unit_test(test_fingerprint_ignores_ids_and_other_stacks),
        cmocka_unit_test(test_fingerprint_of_networks),
        cmocka_unit_test(test_planfile_of_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
