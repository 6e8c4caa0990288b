/* kvz plan --format markdown (planner/render_markdown.c): golden files
 * tests/data/plan_markdown/<case>.md from the plan cases of tests/data/plan. KVZ_REGEN=1
 * rewrites them; review the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/golden.h"

#include "plan_fixture.h"
#include "planner/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_case(const char *name, const char *const *sources, size_t n_sources)
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
    struct kvz_buf md = KVZ_BUF_INIT;
    assert_int_equal(kvz_plan_compute(&p, &in, NULL), 0);
    assert_int_equal(kvz_plan_render_markdown(&md, p, sources, n_sources), 0);
    /* never the contents of user_data, nor its digest (vm_changes has one) */
    assert_null(strstr(kvz_buf_cstr(&md), "5e456463316879f0"));
    snprintf(out, sizeof(out), "%s/tests/data/plan_markdown/%s.md", src, name);
    kvz_test_golden(out, kvz_buf_cstr(&md));
    kvz_buf_release(&md);
    kvz_plan_free(p);
    plan_fixture_release(&fx);
}

static void test_spec_example(void **state)
{
    static const char *const from[] = {
        "git+https://git.example.org/infra.git//web: commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b of main"};
    run_case("spec_example", from, 1);
}

#define CASE(n)                                                                                    \
    static void test_##n(void **state)                                                             \
    {                                                                                              \
        run_case(#n, NULL, 0);                                                                     \
    }
CASE(noop)
CASE(drift)
CASE(vm_changes)
CASE(destroy)
CASE(template_changed)
CASE(net_replace)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example), cmocka_unit_test(test_noop),
        cmocka_unit_test(test_drift),        cmocka_unit_test(test_vm_changes),
        cmocka_unit_test(test_destroy),      cmocka_unit_test(test_template_changed),
        cmocka_unit_test(test_net_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
