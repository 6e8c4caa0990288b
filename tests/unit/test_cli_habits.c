/*
 * CLI habits (issue 14): `kvz help help`, `--version` with the libraries' versions, and every
 * error path of `plan --json` / `apply --json` printing one JSON object with the diagnostics on
 * stdout. Run through the kvz binary with libvirt URIs that cannot be reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "tests/unit/cli_run.h"

#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/kvzt14-cli-XXXXXX";
static char bad[1200], good[1200];

static char *run_kvz(int *status, const char *const *args)
{
    return kvz_test_run_kvz(status, dir, false, args);
}

/* The run fails (exit 1) and its stdout is exactly one JSON object whose diagnostics hold one
 * with `msg` in its message; returns that diagnostic (a new reference). */
static json_t *json_failure(const char *const *args, const char *msg)
{
    int st;
    char *out = run_kvz(&st, args);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j)
        fprintf(stderr, "not one JSON document (%s):\n%s", e.text, out);
    free(out);
    assert_int_equal(st, 1);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "error")));
    json_t *d = json_object_get(j, "diagnostics"), *v, *found = NULL;
    size_t i;
    json_array_foreach(d, i, v)
    {
        const char *m = json_string_value(json_object_get(v, "message"));
        assert_non_null(m);
        assert_non_null(json_object_get(v, "code"));
        assert_non_null(json_object_get(v, "file"));
        assert_non_null(json_object_get(v, "line"));
        assert_non_null(json_object_get(v, "column"));
        if (strstr(m, msg) && !found)
            found = json_incref(v);
    }
    if (!found)
        fprintf(stderr, "no diagnostic with '%s'\n", msg);
    assert_non_null(found);
    json_decref(j);
    return found;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
    snprintf(good, sizeof(good), "%s/tests/data/plan/spec_example.yaml", getenv("KVZ_SOURCE_DIR"));
    write_file(bad, "kvz: 1\nstack: s\ncontainers:\n  web:\n    template: t\n    memory: 1GiB\n"
                    "    memroy: 1GiB\ntemplates:\n  t:\n    url: file:///t.tar\n");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_help_help(void **state)
{
    int st;
    char *out = run_kvz(&st, (const char *[]){"help", "help", NULL});
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: kvz help [COMMAND]"));
    free(out);
}

static void test_version(void **state)
{
    int st;
    char *out = run_kvz(&st, (const char *[]){"--version", NULL});
    assert_int_equal(st, 0);
    assert_true(!strncmp(out, "kvz " KVZ_VERSION "\n", strlen("kvz " KVZ_VERSION "\n")));
    /* the versions loaded now, as the libraries report them */
    char want[96];
    static const char *const libs[] = {"\nlibvirt ", "\nlibarchive ", "\nlibcurl ", "\nlibgit2 "};
    for (size_t i = 0; i < 4; i++) {
        const char *p = strstr(out, libs[i]);
        assert_non_null(p);
        unsigned a, b, c;
        assert_int_equal(sscanf(p + strlen(libs[i]), "%u.%u.%u", &a, &b, &c), 3);
    }
    snprintf(want, sizeof(want), "\nlibcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
    assert_non_null(strstr(out, want));
    int av = archive_version_number();
    snprintf(want, sizeof(want), "\nlibarchive %d.%d.%d\n", av / 1000000, av / 1000 % 1000,
             av % 1000);
    assert_non_null(strstr(out, want));
    free(out);
}

static void test_plan_json_diagnostics(void **state)
{
    json_t *d =
        json_failure((const char *[]){"plan", "--json", "-f", bad, NULL}, "unknown key 'memroy'");
    assert_string_equal(json_string_value(json_object_get(d, "file")), bad);
    assert_int_equal(json_integer_value(json_object_get(d, "line")), 7);
    assert_int_equal(json_integer_value(json_object_get(d, "column")), 5);
    assert_string_equal(json_string_value(json_object_get(d, "code")), "unknown-key");
    assert_string_equal(json_string_value(json_object_get(d, "severity")), "error");
    json_decref(d);
    d = json_failure((const char *[]){"apply", "--json", "--auto-approve", "-f", bad, NULL},
                     "unknown key 'memroy'");
    json_decref(d);
}

static void test_json_error_paths(void **state)
{
    char missing[1300];
    snprintf(missing, sizeof(missing), "%s/missing.json", dir);
    const char *const *cases[] = {
        (const char *[]){"plan", "--json", "--bogus", NULL},
        (const char *[]){"plan", "--json", "-f", good, NULL},
        (const char *[]){"plan", "--json", "-f", "/nonexistent/kvz.yaml", NULL},
        (const char *[]){"apply", "--json", "-f", good, NULL},
        (const char *[]){"apply", "--json", "--auto-approve", "-f", good, NULL},
        (const char *[]){"apply", "--json", missing, NULL},
    };
    const char *msgs[] = {
        "unknown option '--bogus'", "cannot connect to 'test+unix:///nonexistent'",
        "cannot read the manifest", "--json leaves no room for a question",
        "cannot connect",           "plan file '"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *d = json_failure(cases[i], msgs[i]);
        assert_true(json_is_null(json_object_get(d, "line")) ||
                    json_is_integer(json_object_get(d, "line")));
        json_decref(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_help),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_plan_json_diagnostics),
        cmocka_unit_test(test_json_error_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
