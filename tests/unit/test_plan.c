#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "plan_fixture.h"
#include "parser/units.h"
#include "planner/plan.h"
#include "parser/spec_digest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Golden tests: tests/data/plan/<case>.yaml (desired) and <case>.json (observed) give
 * <case>.txt (the text plan, or "error: MESSAGE") and <case>.plan.json.
 * KVZ_REGEN=1 rewrites the expected files; review the diff.
 */

static void run_case(const char *name)
{
    char path[1024], out[1024];
    const char *src = getenv("KVZ_SOURCE_DIR");
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/data/plan", src);
    struct plan_fixture fx;
    assert_int_equal(plan_fixture_load(&fx, path, name), 0);
    struct kvz_plan_input in;
    plan_fixture_input(&in, &fx);
    struct kvz_plan *p = NULL;
    struct kvz_error *err = NULL;
    struct kvz_buf text = KVZ_BUF_INIT;
    char *json = NULL;
    if (kvz_plan_compute(&p, &in, &err) < 0) {
        kvz_buf_printf(&text, "error: %s\n", kvz_error_msg(err));
    } else {
        kvz_plan_render_text(&text, p, false);
        json_t *j = kvz_plan_to_json(p);
        assert_non_null(j);
        json = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
    }
    snprintf(out, sizeof(out), "%s/tests/data/plan/%s.txt", src, name);
    kvz_test_golden(out, kvz_buf_cstr(&text));
    snprintf(out, sizeof(out), "%s/tests/data/plan/%s.plan.json", src, name);
    if (json) {
        size_t n = strlen(json);
        char *nl = realloc(json, n + 2);
        assert_non_null(nl);
        json = nl;
        memcpy(json + n, "\n", 2);
        kvz_test_golden(out, json);
    }
    free(json);
    kvz_buf_release(&text);
    kvz_error_free(err);
    kvz_plan_free(p);
    plan_fixture_release(&fx);
}

#define CASE(n)                                                                                    \
    static void test_##n(void **state)                                                             \
    {                                                                                              \
        run_case(#n);                                                                              \
    }
CASE(spec_example)
CASE(noop)
CASE(drift)
CASE(unmanaged)
CASE(other_stack)
CASE(protect_delete)
CASE(protect_replace)
CASE(vm_changes)
CASE(target)
CASE(destroy)
CASE(disk_shrink)
CASE(template_changed)
CASE(net_create)
CASE(net_noop)
CASE(net_leases)
CASE(net_drift)
CASE(net_replace)
CASE(net_restart)
CASE(net_delete)
CASE(net_delete_in_use)
CASE(net_unmanaged)
CASE(net_foreign_attached)
CASE(net_protect)
CASE(net_target)
CASE(net_overlap_host)
CASE(net_destroy)
CASE(net_state_dir)
CASE(template_identity)
CASE(state_dir)
CASE(vm_media)

static void test_disruption(void **state)
{
    enum kvz_disruption d;
    assert_int_equal(kvz_disruption_parse(&d, "live"), 0);
    assert_int_equal(d, KVZ_DISRUPT_LIVE);
    assert_int_equal(kvz_disruption_parse(&d, "restart"), 0);
    assert_int_equal(d, KVZ_DISRUPT_RESTART);
    assert_int_equal(kvz_disruption_parse(&d, "destroy"), 0);
    assert_int_equal(d, KVZ_DISRUPT_DESTROY);
    assert_int_equal(kvz_disruption_parse(&d, "none"), -1);
    assert_int_equal(kvz_disruption_parse(&d, "Live"), -1);
}

/* The disruption of each case's worst change, as --max-disruption sees it. */
static void test_plan_disruption(void **state)
{
    static const struct {
        const char *name;
        enum kvz_disruption d;
    } cases[] = {{"noop", KVZ_DISRUPT_NONE},           {"spec_example", KVZ_DISRUPT_DESTROY},
                 {"vm_changes", KVZ_DISRUPT_RESTART},  {"target", KVZ_DISRUPT_DESTROY},
                 {"net_noop", KVZ_DISRUPT_NONE},       {"net_create", KVZ_DISRUPT_LIVE},
                 {"net_leases", KVZ_DISRUPT_LIVE},     {"net_drift", KVZ_DISRUPT_RESTART},
                 {"net_restart", KVZ_DISRUPT_RESTART}, {"net_replace", KVZ_DISRUPT_DESTROY}};
    const char *src = getenv("KVZ_SOURCE_DIR");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/tests/data/plan", src);
        struct plan_fixture fx;
        assert_int_equal(plan_fixture_load(&fx, path, cases[i].name), 0);
        struct kvz_plan_input in;
        plan_fixture_input(&in, &fx);
        struct kvz_plan *p = NULL;
        assert_int_equal(kvz_plan_compute(&p, &in, NULL), 0);
        const struct kvz_change *worst = NULL;
        assert_int_equal(kvz_plan_disruption(p, &worst), cases[i].d);
        assert_true((worst != NULL) == (cases[i].d != KVZ_DISRUPT_NONE));
        kvz_plan_free(p);
        plan_fixture_release(&fx);
    }
}

/* Colour only when asked (cmd/ passes cli->color: a terminal, no --no-color, no NO_COLOR). */
static void test_colour(void **state)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/plan", getenv("KVZ_SOURCE_DIR"));
    struct plan_fixture fx;
    assert_int_equal(plan_fixture_load(&fx, path, "spec_example"), 0);
    struct kvz_plan_input in;
    plan_fixture_input(&in, &fx);
    struct kvz_plan *p = NULL;
    assert_int_equal(kvz_plan_compute(&p, &in, NULL), 0);
    struct kvz_buf on = KVZ_BUF_INIT, off = KVZ_BUF_INIT;
    kvz_plan_render_text(&on, p, true);
    kvz_plan_render_text(&off, p, false);
    assert_non_null(strstr(kvz_buf_cstr(&on), "  \033[32m+\033[0m web1 (container)\n"));
    assert_non_null(strstr(kvz_buf_cstr(&on), "  \033[31m-\033[0m old1 (container)\n"));
    assert_null(strchr(kvz_buf_cstr(&off), '\033'));
    kvz_buf_release(&on);
    kvz_buf_release(&off);
    kvz_plan_free(p);
    plan_fixture_release(&fx);
}

static void test_cpus_human(void **state)
{
    static const struct {
        uint32_t milli;
        const char *s;
    } cases[] = {{1000, "1"}, {1500, "1.5"}, {250, "0.25"}, {125, "0.125"}, {2050, "2.05"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kvz_field_delta f = {
            .field = "cpus", .type = KVZ_FIELD_CPUS, .after = cases[i].milli};
        struct kvz_change c = {
            .name = "x", .action = KVZ_ACTION_CREATE, .fields = &f, .n_fields = 1};
        struct kvz_plan p = {.stack = "s", .changes = &c, .n_changes = 1};
        struct kvz_buf b = KVZ_BUF_INIT, want = KVZ_BUF_INIT;
        kvz_plan_render_text(&b, &p, false);
        kvz_buf_printf(&want, "      cpus: %s\n", cases[i].s);
        assert_non_null(strstr(kvz_buf_cstr(&b), kvz_buf_cstr(&want)));
        kvz_buf_release(&b);
        kvz_buf_release(&want);
    }
}

static void test_size_human(void **state)
{
    static const struct {
        uint64_t v;
        const char *s;
    } cases[] = {{512, "512B"},
                 {1024, "1KiB"},
                 {512u << 20, "512MiB"},
                 {UINT64_C(1) << 30, "1GiB"},
                 {UINT64_C(3) << 29, "1.5GiB"},
                 {UINT64_C(2) << 40, "2TiB"},
                 {UINT64_C(5000) << 40, "5000TiB"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_size_human(&b, cases[i].v);
        assert_string_equal(kvz_buf_cstr(&b), cases[i].s);
        kvz_buf_release(&b);
    }
}

/* A spec digest changes with any field and with nothing else. */
static void test_spec_digest(void **state)
{
    struct kvz_template t = {
        .name = "deb", .url = "https://x/deb.tar.xz", .algo = KVZ_DIGEST_SHA256, .digest = "ab12"};
    char *keys[] = {"ssh-ed25519 AAAA ops"};
    struct kvz_resource r = {.name = "web1",
                             .template_name = "deb",
                             .tmpl = &t,
                             .memory = 512u << 20,
                             .cpus_milli = 1500,
                             .hostname = "web1",
                             .network = {KVZ_NET_NETWORK, "default"},
                             .ssh_keys = keys,
                             .n_ssh_keys = 1};
    char a[KVZ_SHA256_HEX], b[KVZ_SHA256_HEX], c1[KVZ_SHA256_HEX], c2[KVZ_SHA256_HEX];
    assert_int_equal(kvz_spec_digest(a, &r, NULL), 0);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(kvz_spec_digest(b, &r, NULL), 0);
    assert_string_equal(a, b);
    assert_int_equal(kvz_config_digest(c1, &r, NULL), 0);
    r.cpus_milli = 2000;
    assert_int_equal(kvz_spec_digest(b, &r, NULL), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(kvz_config_digest(c2, &r, NULL), 0);
    assert_string_equal(c1, c2); /* cpus are not injected config */
    r.hostname = "other";
    assert_int_equal(kvz_config_digest(c2, &r, NULL), 0);
    assert_string_not_equal(c1, c2);

    char *id = NULL;
    assert_int_equal(kvz_template_identity(&id, &t, NULL), 0);
    assert_string_equal(id, "sha256:ab12");
    assert_true(kvz_template_digest_matches(id, NULL, &t, NULL));
    assert_true(kvz_template_digest_matches("AB12", NULL, &t, NULL));
    assert_false(kvz_template_digest_matches("sha256:cd34", NULL, &t, NULL));
    free(id);
    t.algo = KVZ_DIGEST_NONE;
    t.digest = NULL;
    t.checksums_url = "https://x/SHA256SUMS";
    assert_int_equal(kvz_template_identity(&id, &t, NULL), 0);
    assert_int_equal(strncmp(id, "url:", 4), 0);
    assert_true(kvz_template_digest_matches(id, NULL, &t, NULL));
    t.url = "https://x/other.tar.xz";
    assert_false(kvz_template_digest_matches(id, NULL, &t, NULL));
    free(id);
}

/* A guest made from a SUMS template before kvz.lock pinned it: compared by content, and a
 * sha512 pin that cannot be resolved to a content digest is no change (issue 13). */
static void test_template_locked_sums(void **state)
{
    (void)state;
    const char *sha512 = "c2c24a69ce613133d18747c66ae1eba1"; /* shortened */
    const char *content = "sha256:dff5441059ea36a26bc0b27b312c7b2b0750b9ee0710fc383404f60cb5dc9049";
    char digest[130], *source = NULL, *other = NULL;
    struct kvz_template t = {
        .name = "bb", .url = "http://h/bb.tar.gz", .checksums_url = "http://h/SHA512SUMS"};
    assert_int_equal(kvz_template_identity(&source, &t, NULL), 0); /* as applied before the lock */
    t.url = "http://h/moved.tar.gz";
    assert_int_equal(kvz_template_identity(&other, &t, NULL), 0);
    t.url = "http://h/bb.tar.gz";

    /* what apply_lock makes of it (planner/templates_resolve.c) */
    snprintf(digest, sizeof(digest), "%s", sha512);
    t.locked_checksums = t.checksums_url;
    t.checksums_url = NULL;
    t.locked = true;
    t.algo = KVZ_DIGEST_SHA512;
    t.digest = digest;
    assert_int_equal(kvz_template_compare(content, source, &t, NULL), KVZ_TEMPLATE_PIN_UNKNOWN);
    assert_true(kvz_template_digest_matches(content, source, &t, NULL));
    /* the cache resolves the pin: the content decides, both ways */
    assert_int_equal(kvz_template_compare(content, source, &t, content), KVZ_TEMPLATE_SAME);
    assert_int_equal(kvz_template_compare(content, source, &t, "sha256:ab12"),
                     KVZ_TEMPLATE_CHANGED);
    /* made from another url: a changed source */
    assert_int_equal(kvz_template_compare(content, other, &t, NULL), KVZ_TEMPLATE_CHANGED);
    /* made from the locked template itself: its pin is its source, an upgraded pin a change */
    char *pinned = NULL;
    assert_int_equal(kvz_template_identity(&pinned, &t, NULL), 0);
    assert_int_equal(kvz_template_compare(content, pinned, &t, NULL), KVZ_TEMPLATE_SAME);
    digest[0] = digest[0] == 'c' ? 'd' : 'c';
    assert_int_equal(kvz_template_compare(content, pinned, &t, NULL), KVZ_TEMPLATE_CHANGED);
    /* a sha256 pin is the content digest itself */
    snprintf(digest, sizeof(digest), "%s", content + 7);
    t.algo = KVZ_DIGEST_SHA256;
    assert_int_equal(kvz_template_compare(content, source, &t, NULL), KVZ_TEMPLATE_SAME);
    digest[0] = digest[0] == 'd' ? 'e' : 'd';
    assert_int_equal(kvz_template_compare(content, source, &t, NULL), KVZ_TEMPLATE_CHANGED);
    free(source);
    free(other);
    free(pinned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_template_locked_sums),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_unmanaged),
        cmocka_unit_test(test_other_stack),
        cmocka_unit_test(test_protect_delete),
        cmocka_unit_test(test_protect_replace),
        cmocka_unit_test(test_vm_changes),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_destroy),
        cmocka_unit_test(test_disk_shrink),
        cmocka_unit_test(test_template_changed),
        cmocka_unit_test(test_net_create),
        cmocka_unit_test(test_net_noop),
        cmocka_unit_test(test_net_leases),
        cmocka_unit_test(test_net_drift),
        cmocka_unit_test(test_net_replace),
        cmocka_unit_test(test_net_restart),
        cmocka_unit_test(test_net_delete),
        cmocka_unit_test(test_net_delete_in_use),
        cmocka_unit_test(test_net_unmanaged),
        cmocka_unit_test(test_net_foreign_attached),
        cmocka_unit_test(test_net_protect),
        cmocka_unit_test(test_net_target),
        cmocka_unit_test(test_net_overlap_host),
        cmocka_unit_test(test_net_destroy),
        cmocka_unit_test(test_net_state_dir),
        cmocka_unit_test(test_template_identity),
        cmocka_unit_test(test_state_dir),
        cmocka_unit_test(test_vm_media),
        cmocka_unit_test(test_disruption),
        cmocka_unit_test(test_plan_disruption),
        cmocka_unit_test(test_size_human),
        cmocka_unit_test(test_cpus_human),
        cmocka_unit_test(test_colour),
        cmocka_unit_test(test_spec_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
