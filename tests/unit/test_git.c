/* Git sources' grammar (parser/git_source.c) and how they are shown. */
#include "parser/git_source.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void parses(const char *s, const char *url, const char *path, const char *ref)
{
    struct kvz_git_source src;
    struct kvz_error *err = NULL;
    int r = kvz_git_source_parse(&src, s, &err);
    if (r < 0)
        fail_msg("'%s': %s", s, kvz_error_msg(err));
    assert_string_equal(src.url, url);
    assert_string_equal(src.path, path);
    if (ref)
        assert_string_equal(src.ref, ref);
    else
        assert_null(src.ref);
    kvz_git_source_release(&src);
}

static void refuses(const char *s, const char *why)
{
    struct kvz_git_source src;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_git_source_parse(&src, s, &err), -1);
    if (!strstr(kvz_error_msg(err), why))
        fail_msg("'%s': '%s' lacks '%s'", s, kvz_error_msg(err), why);
    assert_null(strchr(kvz_error_msg(err), '\n'));
    assert_null(strstr(kvz_error_msg(err), "s3cret"));
    kvz_error_free(err);
    kvz_git_source_release(&src);
}

static void test_grammar(void **state)
{
    (void)state;
    parses("git+https://git.example.org/infra.git//web?ref=main",
           "https://git.example.org/infra.git", "web", "main");
    parses("git+ssh://git@git.example.org/infra.git//web?ref=v1.4",
           "ssh://git@git.example.org/infra.git", "web", "v1.4");
    parses("git+file:///srv/infra.git//web?ref=refs/heads/main", "file:///srv/infra.git", "web",
           "refs/heads/main");
    parses("git+https://h/x.git", "https://h/x.git", "", NULL);
    parses("git+https://h/x.git?ref=0123abcd", "https://h/x.git", "", "0123abcd");
    parses("git+https://h/x.git//", "https://h/x.git", "", NULL);
    parses("git+https://h/x.git//?ref=HEAD", "https://h/x.git", "", NULL);
    parses("git+https://h/x.git//a/b/kvz.yaml/", "https://h/x.git", "a/b/kvz.yaml", NULL);
    parses("git+ssh://git@h:2222/srv/x.git//web", "ssh://git@h:2222/srv/x.git", "web", NULL);
    parses("git+/srv/infra.git//web", "/srv/infra.git", "web", NULL);
    parses("git+https://u:tok@h/x.git//web", "https://u:tok@h/x.git", "web", NULL);

    refuses("https://h/x.git", "write git+URL//PATH?ref=REF");
    refuses("git+", "write git+URL//PATH?ref=REF");
    refuses("git+ftp://h/x.git//web", "unsupported scheme");
    refuses("git+http://h/x.git//web", "unsupported scheme");
    refuses("git+file://relative/x.git", "absolute path");
    refuses("git+https://h", "no host or no repository");
    refuses("git+https:///x.git", "no host or no repository");
    refuses("git+https://h/x.git//../etc", "PATH must name");
    refuses("git+https://h/x.git//a//b", "PATH must name");
    refuses("git+https://h/x.git//a/./b", "PATH must name");
    refuses("git+https://h/x.git//web?branch=main", "only query parameter is ref");
    refuses("git+https://h/x.git//web?ref=", "not a valid git ref");
    refuses("git+https://h/x.git//web?ref=a..b", "not a valid git ref");
    refuses("git+https://h/x.git//web?ref=a b", "no spaces or control characters");
    refuses("git+https://h/x.git//web\nx", "no spaces or control characters");
    refuses("git+https://u:s3cret@h/x.git//web?ref=", "git+https://***@h/x.git");
}

static void test_redact(void **state)
{
    (void)state;
    char *s = kvz_git_source_redact("git+https://u:s3cret@h/x.git//web?ref=main");
    assert_string_equal(s, "git+https://***@h/x.git//web?ref=main");
    free(s);
    s = kvz_git_source_redact("/srv/kvz.yaml");
    assert_string_equal(s, "/srv/kvz.yaml");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
