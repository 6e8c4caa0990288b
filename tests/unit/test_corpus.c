/*
 * The golden manifest corpus, through the kvz binary as a user runs it:
 * tests/data/manifest/bad/<case>.yaml (or <case>/) must fail with exactly
 * <case>.expected; good/ cases must pass with exactly theirs; every example
 * must validate. KVZ_REGEN=1 rewrites the .expected files for review.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set; run through ctest", name);
    return v;
}

/* Runs kvz with argv (NULL-terminated, argv[0] "kvz") in dir; returns stdout+stderr. */
static char *run_kvz(const char *dir, char *const *argv, int *status)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (chdir(dir) < 0)
            _exit(127);
        execv(env("KVZ_BINARY"), argv);
        _exit(127);
    }
    close(fds[1]);
    struct kvz_buf out = KVZ_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
        kvz_buf_add(&out, chunk, (size_t)n);
    close(fds[0]);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    *status = WEXITSTATUS(ws);
    char *s = kvz_buf_detach(&out);
    assert_non_null(s);
    return s;
}

/* Runs `kvz --no-color validate -f arg` in dir. */
static char *run_validate(const char *dir, const char *arg, int *status)
{
    char *argv[] = {"kvz", "--no-color", "validate", "-f", (char *)arg, NULL};
    return run_kvz(dir, argv, status);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kvz_buf_add(&b, chunk, n);
    fclose(f);
    return kvz_buf_detach(&b);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cases of a corpus dir: *.yaml files and directories, sorted. */
static size_t list_cases(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (l > 9 && !strcmp(e->d_name + l - 9, ".expected")))
            continue;
        v = realloc(v, (n + 1) * sizeof(*v));
        assert_non_null(v);
        v[n] = strdup(e->d_name);
        assert_non_null(v[n]);
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    return n;
}

/* Checks every case of corpus `kind` ("bad" or "good"); returns how many there were. */
static size_t check_corpus(const char *kind, int want_status)
{
    struct kvz_buf dir = KVZ_BUF_INIT;
    kvz_buf_printf(&dir, "%s/tests/data/manifest/%s", env("KVZ_SOURCE_DIR"), kind);
    char **cases;
    size_t n = list_cases(kvz_buf_cstr(&dir), &cases);
    bool regen = getenv("KVZ_REGEN") && !strcmp(getenv("KVZ_REGEN"), "1");
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct kvz_buf exp_path = KVZ_BUF_INIT;
        size_t l = strlen(cases[i]);
        size_t stem = l > 5 && !strcmp(cases[i] + l - 5, ".yaml") ? l - 5 : l;
        kvz_buf_printf(&exp_path, "%s/%.*s.expected", kvz_buf_cstr(&dir), (int)stem, cases[i]);
        int status;
        char *got = run_validate(kvz_buf_cstr(&dir), cases[i], &status);
        if (regen) {
            FILE *f = fopen(kvz_buf_cstr(&exp_path), "w");
            assert_non_null(f);
            fputs(got, f);
            fclose(f);
        }
        char *want = read_all(kvz_buf_cstr(&exp_path));
        if (!want) {
            print_error("%s/%s: no %s; run with KVZ_REGEN=1 and review it\n", kind, cases[i],
                        kvz_buf_cstr(&exp_path));
            failed++;
        } else if (strcmp(want, got)) {
            print_error("%s/%s: diagnostics differ\n--- expected\n%s--- got\n%s", kind, cases[i],
                        want, got);
            failed++;
        } else if (status != want_status) {
            print_error("%s/%s: exit status %d, want %d\n", kind, cases[i], status, want_status);
            failed++;
        }
        free(want);
        free(got);
        kvz_buf_release(&exp_path);
        free(cases[i]);
    }
    free(cases);
    kvz_buf_release(&dir);
    assert_int_equal(failed, 0);
    return n;
}

static void test_bad_corpus(void **state)
{
    /* The corpus covers every rule; it must not shrink by accident. */
    assert_true(check_corpus("bad", 1) >= 45);
}

static void test_good_corpus(void **state)
{
    assert_true(check_corpus("good", 0) >= 3);
}

/* Each .expected file belongs to a case (a renamed case must not leave a stale one). */
static void test_no_orphan_expected(void **state)
{
    const char *kinds[] = {"bad", "good"};
    for (size_t k = 0; k < 2; k++) {
        struct kvz_buf dir = KVZ_BUF_INIT;
        kvz_buf_printf(&dir, "%s/tests/data/manifest/%s", env("KVZ_SOURCE_DIR"), kinds[k]);
        DIR *d = opendir(kvz_buf_cstr(&dir));
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l <= 9 || strcmp(e->d_name + l - 9, ".expected"))
                continue;
            struct kvz_buf c = KVZ_BUF_INIT;
            struct stat st;
            kvz_buf_printf(&c, "%s/%.*s", kvz_buf_cstr(&dir), (int)(l - 9), e->d_name);
            bool is_dir = stat(kvz_buf_cstr(&c), &st) == 0;
            kvz_buf_puts(&c, ".yaml");
            if (!is_dir && stat(kvz_buf_cstr(&c), &st) != 0)
                fail_msg("%s/%s has no case beside it", kinds[k], e->d_name);
            kvz_buf_release(&c);
        }
        closedir(d);
        kvz_buf_release(&dir);
    }
}

static void test_examples_validate(void **state)
{
    struct kvz_buf dir = KVZ_BUF_INIT;
    kvz_buf_printf(&dir, "%s/examples", env("KVZ_SOURCE_DIR"));
    char **cases;
    size_t n = list_cases(kvz_buf_cstr(&dir), &cases);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct kvz_buf arg = KVZ_BUF_INIT;
        kvz_buf_printf(&arg, "%s/", cases[i]);
        int status;
        char *got = run_validate(kvz_buf_cstr(&dir), kvz_buf_cstr(&arg), &status);
        if (status != 0 || !strstr(got, ": valid ("))
            fail_msg("examples/%s does not validate:\n%s", cases[i], got);
        seen++;
        free(got);
        kvz_buf_release(&arg);
        free(cases[i]);
    }
    free(cases);
    kvz_buf_release(&dir);
    assert_true(seen >= 4);
}

static void expect_run(const char *dir, char *const *argv, int want_status, const char *want)
{
    int status;
    char *got = run_kvz(dir, argv, &status);
    if (strcmp(got, want) || status != want_status)
        fail_msg("%s %s: got status %d and\n%s\nwant status %d and\n%s", argv[1], argv[2], status,
                 got, want_status, want);
    free(got);
}

static void test_validate_cli(void **state)
{
    struct kvz_buf good = KVZ_BUF_INIT, quick = KVZ_BUF_INIT;
    kvz_buf_printf(&good, "%s/tests/data/manifest/good", env("KVZ_SOURCE_DIR"));
    kvz_buf_printf(&quick, "%s/examples/quickstart", env("KVZ_SOURCE_DIR"));
    const char *g = kvz_buf_cstr(&good);

    char *dflt[] = {"kvz", "validate", NULL};
    expect_run(kvz_buf_cstr(&quick), dflt, 0,
               "kvz.yaml: valid (1 network, 1 container, 1 vm, 2 templates)\n");
    char *quiet[] = {"kvz", "-q", "validate", "-f", "full.yaml", NULL};
    expect_run(g, quiet, 0, "");
    char *quiet_after[] = {"kvz", "validate", "-f", "minimal.yaml", "-q", NULL};
    expect_run(g, quiet_after, 0, "");
    char *two[] = {"kvz", "validate", "-f", "minimal.yaml", "--file=multi", NULL};
    expect_run(g, two, 0, "minimal.yaml, multi: valid (1 container, 2 vms, 3 templates)\n");
    char *missing[] = {"kvz", "--no-color", "validate", "-f", "nope.yaml", NULL};
    expect_run(g, missing, 1,
               "nope.yaml: error: cannot read the manifest: No such file or directory; check the "
               "path given with -f\n1 error\n");
    char *none[] = {"kvz", "--no-color", "validate", NULL};
    expect_run(g, none, 1,
               "kvz.yaml: error: cannot read the manifest: No such file or directory; check the "
               "path given with -f\n1 error\n");
    char *stray[] = {"kvz", "--no-color", "validate", "full.yaml", NULL};
    expect_run(g, stray, 1,
               "error: unexpected argument 'full.yaml'; give manifests with -f PATH\n");
    char *badopt[] = {"kvz", "--no-color", "validate", "--json", NULL};
    expect_run(g, badopt, 1, "error: unknown option '--json'; run 'kvz help validate'\n");
    char *noarg[] = {"kvz", "--no-color", "validate", "-f", NULL};
    expect_run(g, noarg, 1, "error: option '-f' needs a path; run 'kvz help validate'\n");
    kvz_buf_release(&good);
    kvz_buf_release(&quick);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_corpus),         cmocka_unit_test(test_good_corpus),
        cmocka_unit_test(test_no_orphan_expected), cmocka_unit_test(test_examples_validate),
        cmocka_unit_test(test_validate_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
