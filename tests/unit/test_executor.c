#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "planner/executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The executor against an in-memory provider (tests only) and a real template
 * store: what runs, in which order, how many at once, and that one failure
 * leaves the others alone.
 */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int running_now, running_max;
static bool want_overlap; /* busy() waits (bounded) until two changes run at once */
static char calls[4096];
static char tmpdir[64];

static void record(const char *what, const char *name)
{
    pthread_mutex_lock(&mu);
    size_t l = strlen(calls);
    snprintf(calls + l, sizeof(calls) - l, "%s:%s ", what, name);
    pthread_mutex_unlock(&mu);
}

/* A change at work. With want_overlap it waits until another one runs too: a parallel
 * executor gets there at once, a serial one only after the 10 s bound (and the test fails). */
static void busy(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&mu);
    if (++running_now > running_max)
        running_max = running_now;
    pthread_cond_broadcast(&cv);
    while (want_overlap && running_max < 2)
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT)
            break;
    running_now--;
    pthread_mutex_unlock(&mu);
}

static int fake_create(struct kvz_host *h, const struct kvz_resource *want,
                       const struct kvz_media *media, struct kvz_error **err)
{
    /* the executor pulled the template first and hands over the verified rootfs */
    if (want->tmpl) {
        assert_non_null(media);
        assert_non_null(media->image);
        assert_int_equal(media->image->kind, KVZ_CONTENT_ROOTFS);
        assert_int_equal(access(media->image->path, F_OK), 0);
        record("has-rootfs", want->name);
    }
    if (h->log)
        h->log(h->log_ctx, want->name, "creating rootfs");
    busy();
    record("create", want->name);
    if (!strcmp(want->name, "bad-net"))
        return kvz_error_set(err, "define network 'bad-net': bridge in use");
    if (!strcmp(want->name, "bad"))
        return kvz_error_set(err, "rootfs of 'bad': no space left on device");
    return 0;
}

static int fake_update(struct kvz_host *h, const struct kvz_change *c,
                       const struct kvz_media *media, struct kvz_error **err)
{
    busy();
    record(c->live ? "update-live" : "update-restart", c->name);
    return 0;
}

static int fake_remove(struct kvz_host *h, const char *name, struct kvz_error **err)
{
    busy();
    record("remove", name);
    if (!strcmp(name, "stuck"))
        return kvz_error_set(err, "undefine 'stuck': device busy");
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

/* Stops names[0..n) together: one call for all, recorded as "stop-many:a,b"; 'stubborn' fails. */
static int fake_stop_many(struct kvz_host *h, const char *const *names, const unsigned *timeouts,
                          size_t n, bool force, struct kvz_error **errs)
{
    char buf[256] = "";
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof(buf) - l, "%s%s", i ? "," : "", names[i]);
        if (!strcmp(names[i], "stubborn"))
            rc = kvz_error_set(&errs[i], "stop 'stubborn': still running after %us", timeouts[i]);
    }
    record("stop-many", buf);
    return rc;
}

static const struct kvz_provider_ops fake_ops = {
    .kind = "container",
    .observe = fake_observe,
    .create = fake_create,
    .update = fake_update,
    .remove = fake_remove,
    .set_power = fake_power,
    .stop_many = fake_stop_many,
};

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

/* Runs plan p with 4 threads, its events in *ev and the providers' calls in `calls`; the apply
 * fails with `want_err`. */
static void execute_failing(struct kvz_exec_result *res, struct events *ev,
                            const struct kvz_plan *p, struct kvz_hosts *hs, const char *want_err)
{
    memset(ev, 0, sizeof(*ev));
    struct kvz_exec_opts o = {.parallel = 4, .report = on_event, .report_ctx = ev};
    struct kvz_error *err = NULL;
    calls[0] = '\0';
    assert_int_equal(kvz_plan_execute(res, p, hs, &o, &err), -1);
    assert_string_equal(kvz_error_msg(err), want_err);
    kvz_error_free(err);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A real rootfs tarball in tmpdir and its sha256. */
static void make_template(char url[256], char digest[65])
{
    char cmd[256];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvzt-%d-exec", getpid());
    sh("rm -rf %s && mkdir -p %s/tree/etc && echo deb > %s/tree/etc/hostname", tmpdir, tmpdir,
       tmpdir);
    sh("tar -C %s/tree -cf %s/deb.tar .", tmpdir, tmpdir);
    snprintf(cmd, sizeof(cmd), "sha256sum %s/deb.tar", tmpdir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(digest, 65, f));
    pclose(f);
    snprintf(url, 256, "file://%s/deb.tar", tmpdir);
}

static void test_execute(void **state)
{
    char url[256], digest[65];
    make_template(url, digest);
    struct kvz_template deb = {.name = "deb",
                               .url = url,
                               .algo = KVZ_DIGEST_SHA256,
                               .digest = digest,
                               .hint = KVZ_CONTENT_ROOTFS};
    /* a signed URL's token must never reach the log (the file protocol ignores the query) */
    char signed_url[300];
    snprintf(signed_url, sizeof(signed_url), "%s?token=s3cret", url);
    struct kvz_template broken = {.name = "broken",
                                  .url = signed_url,
                                  .algo = KVZ_DIGEST_SHA256,
                                  .digest = "00000000000000000000000000000000"
                                            "00000000000000000000000000000000"};
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
    struct kvz_store *store = NULL;
    struct kvz_error *err = NULL;
    char state_dir[128];
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
    assert_int_equal(kvz_store_open(&store, state_dir, NULL, &err), 0);
    struct kvz_exec_opts o = {.parallel = 4, .report = on_event, .report_ctx = &ev, .store = store};
    struct kvz_exec_result res;

    want_overlap = true;
    assert_int_equal(kvz_plan_execute(&res, &p, &hs, &o, &err), -1);
    want_overlap = false;
    kvz_store_free(store);
    assert_string_equal(kvz_error_msg(err), "2 of 7 changes failed");
    kvz_error_free(err);
    assert_int_equal(res.done, 5);
    assert_int_equal(res.failed, 2);
    assert_int_equal(ev.failed, 3); /* the template, then its resource, and 'bad' */

    /* each template pulled once, all before any resource */
    assert_memory_equal(ev.log, "pull deb: file://", 17);
    const char *second = strchr(ev.log, '\n') + 1;
    assert_memory_equal(second, "pull broken: file://", 20);
    assert_null(strstr(strstr(ev.log, "pull broken") + 1, "pull "));
    assert_null(strstr(strstr(ev.log, "pull deb") + 1, "pull deb"));
    assert_true(strstr(ev.log, "failed broken") < strstr(ev.log, "begin "));
    assert_non_null(strstr(calls, "has-rootfs:a "));
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
    assert_non_null(strstr(ev.log, "failed broken: template 'broken': checksum mismatch for "));
    assert_non_null(strstr(ev.log, "pull broken: file://"));
    assert_non_null(strstr(ev.log, "deb.tar?token=***"));
    assert_null(strstr(ev.log, "s3cret"));
    assert_non_null(strstr(ev.log, "failed c: its template could not be pulled\n"));
    assert_true(strstr(ev.log, "begin a") < strstr(ev.log, "done a"));
    sh("rm -rf %s", tmpdir);
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

/* A change of the plan: CHANGE(CONTAINER, "web", CREATE, &want, NULL) */
#define CHANGE(KIND, NAME, ACTION, WANT, HAVE)                                                     \
    {                                                                                              \
        .kind = KVZ_KIND_##KIND, .name = NAME, .action = KVZ_ACTION_##ACTION, .want = WANT,        \
        .have = HAVE                                                                               \
    }

/* Networks before the guests that use them, network deletions after the guests that used them
 * are gone, whatever the order of the plan and however parallel; a guest whose network failed
 * is not tried, nor a network whose guest could not be removed. */
static void test_execute_network_order(void **state)
{
    struct kvz_resource r[5] = {
        {.kind = KVZ_KIND_CONTAINER, .name = "web", .network = {KVZ_NET_NETWORK, "lan"}},
        {.kind = KVZ_KIND_NETWORK, .name = "lan"},
        {.kind = KVZ_KIND_VM, .name = "db", .network = {KVZ_NET_NETWORK, "bad-net"}},
        {.kind = KVZ_KIND_NETWORK, .name = "bad-net"},
        {.kind = KVZ_KIND_CONTAINER, .name = "side", .network = {KVZ_NET_NONE, NULL}},
    };
    struct kvz_observed_resource have[4] = {
        {.kind = KVZ_KIND_CONTAINER, .name = "old", .network = {KVZ_NET_NETWORK, "old-net"}},
        {.kind = KVZ_KIND_NETWORK, .name = "old-net"},
        {.kind = KVZ_KIND_CONTAINER, .name = "stuck", .network = {KVZ_NET_NETWORK, "stuck-net"}},
        {.kind = KVZ_KIND_NETWORK, .name = "stuck-net"},
    };
    struct kvz_change changes[9] = {
        CHANGE(NETWORK, "stuck-net", DELETE, NULL, &have[3]),
        CHANGE(CONTAINER, "stuck", DELETE, NULL, &have[2]),
        CHANGE(NETWORK, "old-net", DELETE, NULL, &have[1]),
        CHANGE(CONTAINER, "web", CREATE, &r[0], NULL),
        CHANGE(VM, "db", CREATE, &r[2], NULL),
        CHANGE(CONTAINER, "old", DELETE, NULL, &have[0]),
        CHANGE(NETWORK, "lan", CREATE, &r[1], NULL),
        CHANGE(NETWORK, "bad-net", CREATE, &r[3], NULL),
        CHANGE(CONTAINER, "side", CREATE, &r[4], NULL),
    };
    struct kvz_plan p = {.stack = "t", .changes = changes, .n_changes = 9};
    struct kvz_hosts hs = {.ops = {&fake_ops, &fake_ops, &fake_ops}};
    struct events ev;
    struct kvz_exec_result res;
    execute_failing(&res, &ev, &p, &hs, "4 of 9 changes failed");
    assert_int_equal(res.done, 5);
    assert_null(strstr(calls, "remove:stuck-net ")); /* its guest is still there */
    assert_non_null(
        strstr(ev.log, "failed stuck-net: not tried: container 'stuck' failed (delete)\n"));
    assert_true(strstr(calls, "create:lan ") < strstr(calls, "create:web "));
    assert_true(strstr(calls, "create:bad-net ") < strstr(calls, "create:side "));
    assert_true(strstr(calls, "remove:old ") < strstr(calls, "remove:old-net "));
    assert_null(strstr(calls, "create:db ")); /* its network failed: never touched */
    assert_non_null(strstr(ev.log, "failed db: not tried: network 'bad-net' failed (create)\n"));
}

/* The guests that stop for good are stopped together at the start of the guests' phase: after
 * the networks' changes, before any guest's change; a guest whose network failed is neither
 * stopped nor changed; a guest whose stop failed is not removed; a network being deleted is not
 * among them. */
static void test_execute_stop_first(void **state)
{
    struct kvz_resource r[4] = {
        {.kind = KVZ_KIND_NETWORK, .name = "lan"},
        {.kind = KVZ_KIND_NETWORK, .name = "bad-net"},
        {.kind = KVZ_KIND_CONTAINER,
         .name = "halt",
         .state = KVZ_POWER_STOPPED,
         .network = {KVZ_NET_NETWORK, "lan"}},
        {.kind = KVZ_KIND_CONTAINER,
         .name = "orphan",
         .state = KVZ_POWER_STOPPED,
         .network = {KVZ_NET_NETWORK, "bad-net"}},
    };
    struct kvz_observed_resource have[5] = {
        {.kind = KVZ_KIND_CONTAINER, .name = "gone", .running = true},
        {.kind = KVZ_KIND_CONTAINER, .name = "halt", .running = true},
        {.kind = KVZ_KIND_CONTAINER, .name = "orphan", .running = true},
        {.kind = KVZ_KIND_CONTAINER, .name = "stubborn", .running = true, .stop_timeout = 7},
        {.kind = KVZ_KIND_NETWORK, .name = "old-net", .running = true},
    };
    struct kvz_change changes[7] = {
        CHANGE(CONTAINER, "gone", DELETE, NULL, &have[0]),
        CHANGE(CONTAINER, "halt", STOP, &r[2], &have[1]),
        CHANGE(CONTAINER, "orphan", STOP, &r[3], &have[2]),
        CHANGE(CONTAINER, "stubborn", DELETE, NULL, &have[3]),
        CHANGE(NETWORK, "lan", CREATE, &r[0], NULL),
        CHANGE(NETWORK, "bad-net", CREATE, &r[1], NULL),
        CHANGE(NETWORK, "old-net", DELETE, NULL, &have[4]),
    };
    struct kvz_plan p = {.stack = "t", .changes = changes, .n_changes = 7};
    struct kvz_hosts hs = {.ops = {&fake_ops, NULL, &fake_ops}};
    struct events ev;
    struct kvz_exec_result res;
    execute_failing(&res, &ev, &p, &hs, "3 of 7 changes failed");
    /* one stop for all of them, none for the guest whose network failed */
    const char *stop = strstr(calls, "stop-many:gone,halt,stubborn ");
    assert_non_null(stop);
    assert_null(strstr(stop + 1, "stop-many:"));
    assert_true(strstr(calls, "create:lan ") < stop);
    assert_true(strstr(calls, "create:bad-net ") < stop);
    assert_true(stop < strstr(calls, "remove:gone "));
    assert_true(stop < strstr(calls, "stop:halt "));
    assert_null(strstr(calls, ":orphan "));
    assert_non_null(
        strstr(ev.log, "failed orphan: not tried: network 'bad-net' failed (create)\n"));
    assert_null(strstr(calls, "remove:stubborn "));
    assert_non_null(strstr(ev.log, "failed stubborn: stop 'stubborn': still running after 7s\n"));
    /* a network is no guest: it is removed in its own phase, never stopped with them */
    assert_true(stop < strstr(calls, "remove:old-net "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute),
        cmocka_unit_test(test_execute_serial),
        cmocka_unit_test(test_execute_network_order),
        cmocka_unit_test(test_execute_stop_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
