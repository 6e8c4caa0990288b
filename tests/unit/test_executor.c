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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute),
        cmocka_unit_test(test_execute_serial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
