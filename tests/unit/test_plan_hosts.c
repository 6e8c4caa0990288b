#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "plan_fixture.h"
#include "planner/plan_hosts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The plan of many hosts (planner/plan_hosts.c) from tests/data/plan/hosts.yaml: host h1
 * observes hosts.json (web1, which the manifest moved to h2), h2 observes nothing, h3 could
 * not be reached. Text: tests/data/plan/hosts.txt, Markdown (with h4, which has nothing):
 * tests/data/plan_markdown/hosts.md (KVZ_REGEN=1 rewrites them).
 */

static void plan_of(struct kvz_host_plan *v, struct plan_fixture *fx, const char *host,
                    bool observed)
{
    struct kvz_plan_input in;
    struct kvz_error *err = NULL;
    struct kvz_observed none[KVZ_N_KINDS] = {{0}};
    plan_fixture_input(&in, fx);
    in.host = host;
    for (int k = 0; !observed && k < KVZ_N_KINDS; k++)
        in.observed[k] = &none[k];
    v->host = host;
    assert_int_equal(kvz_plan_compute(&v->plan, &in, &err), 0);
}

static void test_two_hosts_and_a_dead_one(void **state)
{
    char dir[1024], golden[1100];
    struct plan_fixture fx;
    struct kvz_host_plan v[3] = {{0}};
    kvz_test_data_path(dir, sizeof(dir), "plan");
    assert_int_equal(plan_fixture_load(&fx, dir, "hosts"), 0);
    plan_of(&v[0], &fx, "h1", true);
    plan_of(&v[1], &fx, "h2", false);
    v[2].host = "h3";
    v[2].error = strdup("host 'h3': cannot connect to 'qemu+ssh://h3/system'");

    /* on h1 web1 is deleted and db1 created; on h2 web1 is created */
    assert_int_equal(kvz_plan_n_changes(v[0].plan), 2);
    assert_int_equal(v[1].plan->counts[KVZ_ACTION_CREATE], 1);
    assert_string_equal(v[0].plan->changes[0].host, "h1");
    assert_int_equal(kvz_host_plans_link_moves(v, 3), 0);
    /* the move: a replace on h2, both sides say where it goes */
    assert_int_equal(v[1].plan->counts[KVZ_ACTION_CREATE], 0);
    assert_int_equal(v[1].plan->counts[KVZ_ACTION_REPLACE], 1);
    assert_int_equal(kvz_host_plans_n_changes(v, 3), 3);
    assert_int_equal(kvz_host_plans_n_failed(v, 3), 1);

    struct kvz_buf text = KVZ_BUF_INIT;
    assert_int_equal(kvz_host_plans_render_text(&text, v, 3, false), 0);
    snprintf(golden, sizeof(golden), "%s/hosts.txt", dir);
    kvz_test_golden(golden, kvz_buf_cstr(&text));
    kvz_buf_release(&text);

    json_t *j = kvz_host_plans_to_json(v, 3, "s");
    assert_non_null(j);
    json_t *changes = json_object_get(j, "changes");
    assert_int_equal(json_array_size(changes), 3);
    for (size_t i = 0; i < 3; i++)
        assert_non_null(json_string_value(json_object_get(json_array_get(changes, i), "host")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "summary"), "replace")),
                     1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "hosts"), "h3"), "error")),
                        "host 'h3': cannot connect to 'qemu+ssh://h3/system'");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_object_get(j, "hosts"), "h1"), "summary"),
            "delete")),
        1);
    json_decref(j);
    kvz_host_plans_release(v, 3);
    plan_fixture_release(&fx);
}

/* kvz plan --format markdown with hosts: a host with changes, one without, a dead one */
static void test_markdown(void **state)
{
    char dir[1024], golden[1100];
    struct plan_fixture fx;
    struct kvz_host_plan v[4] = {{0}};
    static const char *const from[] = {
        "git+https://git.example.org/infra.git: commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b of main"};
    kvz_test_data_path(dir, sizeof(dir), "plan");
    assert_int_equal(plan_fixture_load(&fx, dir, "hosts"), 0);
    plan_of(&v[0], &fx, "h1", true);
    plan_of(&v[1], &fx, "h2", false);
    v[2].host = "h3";
    v[2].error = strdup("host 'h3': cannot connect to 'qemu+ssh://h3/system' | <try> `ssh h3`");
    plan_of(&v[3], &fx, "h4", false);
    assert_int_equal(kvz_plan_n_changes(v[3].plan), 0);
    assert_int_equal(kvz_host_plans_link_moves(v, 4), 0);

    struct kvz_buf md = KVZ_BUF_INIT;
    assert_int_equal(kvz_host_plans_render_markdown(&md, v, 4, "s", from, 1), 0);
    const char *s = kvz_buf_cstr(&md);
    /* every host has its section; the error's markup is escaped */
    assert_non_null(strstr(s, "#### Host `h4`"));
    assert_non_null(strstr(s, "\\| \\<try\\> \\`ssh h3\\`"));
    assert_non_null(strstr(s, "| h2 | container | `web1` | replace |"));
    snprintf(golden, sizeof(golden), "%s/../plan_markdown/hosts.md", dir);
    kvz_test_golden(golden, s);
    kvz_buf_release(&md);

    /* no changes anywhere, no host failed */
    struct kvz_buf none = KVZ_BUF_INIT;
    assert_int_equal(kvz_host_plans_render_markdown(&none, &v[3], 1, "s", NULL, 0), 0);
    assert_string_equal(kvz_buf_cstr(&none),
                        "### kvz plan: stack `s` on 1 host\n\n"
                        "**No changes** on the 1 planned host.\n\n"
                        "| host | plan |\n| --- | --- |\n"
                        "| `h4` | no changes (0 resources) |\n\n"
                        "#### Host `h4`\n\n"
                        "**No changes**: the host matches the manifests (0 resources).\n");
    kvz_buf_release(&none);
    kvz_host_plans_release(v, 4);
    plan_fixture_release(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_hosts_and_a_dead_one),
        cmocka_unit_test(test_markdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
