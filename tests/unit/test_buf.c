#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/error.h"

#include <stdlib.h>
#include <string.h>

static void test_buf_printf_grows(void **state)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kvz_buf_printf(&b, "%04d,", i), 0);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(kvz_buf_cstr(&b), "0000,0001,", 10);
    char *s = kvz_buf_detach(&b);
    assert_non_null(s);
    assert_int_equal(strlen(s), 5000);
    assert_null(b.ptr);
    free(s);
}

static void test_buf_empty_detach(void **state)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    assert_string_equal(kvz_buf_cstr(&b), "");
    char *s = kvz_buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
}

static void test_error_wrap_keeps_callee(void **state)
{
    struct kvz_error *e = NULL;
    assert_int_equal(kvz_error_set(&e, "open '%s'", "/x"), -1);
    assert_int_equal(kvz_error_set(&e, "second"), -1);
    assert_int_equal(kvz_error_wrap(&e, "pull '%s'", "debian12"), -1);
    assert_string_equal(kvz_error_msg(e), "pull 'debian12': open '/x'");
    kvz_error_free(e);
    kvz_error_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_printf_grows),
        cmocka_unit_test(test_buf_empty_detach),
        cmocka_unit_test(test_error_wrap_keeps_callee),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
