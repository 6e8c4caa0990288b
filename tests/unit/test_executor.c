#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "planner/executor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The executor against an in-memory provider (tests only): what runs, in which
 * order, how many at once, and that one failure leaves the others alone.
 */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running_now, running_max;
static char calls[4096];
static size_t n_creates_before_pull_done;
static int pulls;

static void record(const char *what, const char *name)
{
    pthread_mutex_lock(&mu);
    size_t l = strlen(calls);
    snprintf(calls + l, sizeof(calls) - l, "%s:%s ", what, name);
    pthread_mutex_unlock(&mu);
}

static void busy(void)
{
    pthread_mutex_lock(&mu);
    if (++running_now > running_max)
        running_max = running_now;
    pthread_mutex_unlock(&mu);
    usleep(30000);
    pthread_mutex_lock(&mu);
    running_now--;
    pthread_mutex_unlock(&mu);
}

static int fake_create(struct kvz_host *h, const struct kvz_resource *want, struct kvz_error **err)
{
    if (pulls == 0)
        n_creates_before_pull_done++;
    if (h->log)
        h->log(h->log_ctx, want->name, "creating rootfs");
    busy();
    record("create", want->name);
    if (!strcmp(want->name, "bad"))
        return kvz_error_set(err, "rootfs of 'bad': no space left on device");
    return 0;
}

static int fake_update(struct kvz_host *h, const struct kvz_change *c, struct kvz_error **err)
{
    busy();
    record(c->live ? "update-live" : "update-restart", c->name);
    return 0;
}

static int fake_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    busy();
    record("remove", name);
    return 0;
}

static int fake_power(struct kvz_host *h, const char *name, bool on, struct kvz_error **err)
{
    record(on ? "start" : "stop", name);
    return 0;
}

static int fake_observe(struct kvz_observed *out, struct kvz_host *h, struct kvz_error **err)
{
    return 0;
}

static const struct kvz_provider_ops fake_ops = {
    .kind = "container",
    .observe = fake_observe,
    .create = fake_create,
    .update = fake_update,
    .remove = fake_remove,
    .set_power = fake_power,
};

static int fake_pull(void *ctx, const struct kvz_template *const *t,
                     const enum kvz_content_kind *wants, size_t n, struct kvz_error **errs)
{
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        record("pull", t[i]->name);
        assert_int_equal(wants[i], KVZ_CONTENT_ROOTFS);
        if (!strcmp(t[i]->name, "broken"))
            ret = kvz_error_set(&errs[i], "template 'broken': sha256 mismatch");
    }
    pulls++;
    return ret;
}

struct events {
    char log[8192];
    size_t failed;
};

static void on_event(void *ctx, const struct kvz_exec_event *ev)
{
    struct events *e = ctx;
    static const char *const what[] = {"pull", "begin", "progress", "done", "failed"};
    size_t l = strlen(e->log);
    snprintf(e->log + l, sizeof(e->log) - l, "%s %s%s%s\n", what[ev->what], ev->name,
             ev->msg ? ": " : "", ev->msg ? ev->msg : "");
    if (ev->what == KVZ_EXEC_FAILED)
        e->failed++;
}

static void test_execute(void **state)
{
    struct kvz_template deb = {.name = "deb"}, broken = {.name = "broken"};
    struct kvz_resource r[6] = {
        {.name = "a", .tmpl = &deb},
        {.name = "bad", .tmpl = &deb},
        {.name = "b", .tmpl = &deb},
        {.name = "c", .tmpl = &broken},
        {.name = "d", .tmpl = &deb, .state = KVZ_POWER_STOPPED},
        {.name = "e", .tmpl = &deb},
    };
    struct kvz_observed_resource have[3] = {
        {.name = "d", .running = true},
        {.name = "e", .running = false},
        {.name = "old"},
    };
    struct kvz_change changes[7] = {
        {.name = "a", .action = KVZ_ACTION_CREATE, .want = &r[0]},
        {.name = "bad", .action = KVZ_ACTION_CREATE, .want = &r[1]},
        {.name = "b", .action = KVZ_ACTION_REPLACE, .want = &r[2]},
        {.name = "c", .action = KVZ_ACTION_CREATE, .want = &r[3]},
        {.name = "d", .action = KVZ_ACTION_UPDATE, .want = &r[4], .have = &have[0]},
        {.name = "e", .action = KVZ_ACTION_UPDATE, .live = true, .want = &r[5], .have = &have[1]},
        {.name = "old", .action = KVZ_ACTION_DELETE, .have = &have[2]},
    };
    struct kvz_plan p = {.stack = "t", .changes = changes, .n_changes = 7};
    struct kvz_hosts hs = {.ops = {&fake_ops, NULL}};
    struct events ev;
    memset(&ev, 0, sizeof(ev));
    struct kvz_exec_opts o = {
        .parallel = 4, .report = on_event, .report_ctx = &ev, .pull = fake_pull};
    struct kvz_exec_result res;
    struct kvz_error *err = NULL;

    assert_int_equal(kvz_plan_execute(&res, &p, &hs, &o, &err), -1);
    assert_string_equal(kvz_error_msg(err), "2 of 7 changes failed");
    kvz_error_free(err);
    assert_int_equal(res.done, 5);
    assert_int_equal(res.failed, 2);
    assert_int_equal(ev.failed, 3); /* the template, then its resource, and 'bad' */

    /* each template pulled once, all before any resource */
    assert_int_equal(pulls, 1);
    assert_int_equal(n_creates_before_pull_done, 0);
    assert_memory_equal(calls, "pull:deb pull:broken ", 21);
    assert_null(strstr(calls, "create:c ")); /* its template failed: never touched */
    assert_non_null(strstr(calls, "create:a "));
    assert_non_null(strstr(calls, "create:b "));
    /* replace: remove first, then create */
    assert_true(strstr(calls, "remove:b ") < strstr(calls, "create:b "));
    /* update to stopped: stop first; update of a stopped guest wanted running: start after */
    assert_true(strstr(calls, "stop:d ") < strstr(calls, "update-restart:d "));
    assert_true(strstr(calls, "update-live:e ") < strstr(calls, "start:e "));
    assert_non_null(strstr(calls, "remove:old "));
    /* parallel, bounded */
    assert_true(running_max > 1);
    assert_true(running_max <= 4);
    /* every step reported, provider progress included, failure messages kept */
    assert_non_null(strstr(ev.log, "progress a: creating rootfs\n"));
    assert_non_null(strstr(ev.log, "failed bad: rootfs of 'bad': no space left on device\n"));
    assert_non_null(strstr(ev.log, "failed broken: template 'broken': sha256 mismatch\n"));
    assert_non_null(strstr(ev.log, "failed c: its template could not be pulled\n"));
    assert_true(strstr(ev.log, "begin a") < strstr(ev.log, "done a"));
}

static void test_execute_serial(void **state)
{
    struct kvz_resource r[3] = {{.name = "x"}, {.name = "y"}, {.name = "z"}};
    struct kvz_change changes[3] = {
        {.name = "x", .action = KVZ_ACTION_CREATE, .want = &r[0]},
        {.name = "y", .action = KVZ_ACTION_NOOP, .want = &r[1]},
        {.name = "z", .action = KVZ_ACTION_CREATE, .want = &r[2]},
    };
    struct kvz_plan p = {.stack = "t", .changes = changes, .n_changes = 3};
    struct kvz_hosts hs = {.ops = {&fake_ops, NULL}};
    struct kvz_exec_opts o = {.parallel = 1};
    struct kvz_exec_result res;
    running_max = 0;
    calls[0] = '\0';
    assert_int_equal(kvz_plan_execute(&res, &p, &hs, &o, NULL), 0);
    assert_int_equal(res.done, 2);
    assert_int_equal(running_max, 1);
    assert_string_equal(calls, "create:x create:z ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute),
        cmocka_unit_test(test_execute_serial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
