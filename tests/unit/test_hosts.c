#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "planner/plan.h"
#include "providers/hosts.h"

#include <stdlib.h>
#include <string.h>

/* A kind the manifests do not use never fails them; a used one does (tests-only providers). */

static int observe_ok(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    out->v = calloc(1, sizeof(*out->v));
    out->v[0].name = strdup("web1");
    out->n = 1;
    return 0;
}

static int observe_fail(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    return kvz_error_set(err, "read vm 'x': domain not found");
}

static const struct kvz_provider_ops ok_ops = {.kind = "container", .observe = observe_ok};
static const struct kvz_provider_ops fail_ops = {.kind = "vm", .observe = observe_fail};

static void test_unused_kind_left_out(void **state)
{
    struct kvz_hosts hs;
    memset(&hs, 0, sizeof(hs));
    hs.ops[KVZ_KIND_CONTAINER] = &ok_ops;
    hs.ops[KVZ_KIND_VM] = &fail_ops;
    hs.uri[KVZ_KIND_VM] = strdup("qemu:///system");
    hs.used[KVZ_KIND_CONTAINER] = true;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_hosts_observe(&hs, &err), 0);
    assert_null(err);
    assert_int_equal(hs.observed[KVZ_KIND_CONTAINER].n, 1);
    assert_null(hs.ops[KVZ_KIND_VM]);
    assert_string_equal(hs.skipped[KVZ_KIND_VM],
                        "observing vms on 'qemu:///system' failed (read vm 'x': domain not found): "
                        "vms of the stack are not seen");
    struct kvz_plan_input in = {0};
    kvz_plan_input_set_hosts(&in, &hs);
    assert_non_null(in.observed[KVZ_KIND_CONTAINER]);
    assert_null(in.observed[KVZ_KIND_VM]);
    kvz_hosts_close(&hs);
}

static void test_used_kind_fails(void **state)
{
    struct kvz_hosts hs;
    memset(&hs, 0, sizeof(hs));
    hs.ops[KVZ_KIND_VM] = &fail_ops;
    hs.uri[KVZ_KIND_VM] = strdup("qemu:///system");
    hs.used[KVZ_KIND_VM] = true;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_hosts_observe(&hs, &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "observe vms on 'qemu:///system': read vm 'x': domain not found");
    kvz_error_free(err);
    kvz_hosts_close(&hs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unused_kind_left_out),
        cmocka_unit_test(test_used_kind_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
