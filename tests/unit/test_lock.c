#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "planner/lock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A second holder fails at once naming the first; a SIGKILLed holder frees the lock. */
static void test_lock_names_holder(void **state)
{
    char dir[] = "/tmp/kvzt-lock-XXXXXX", sub[64], msg[128];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/state/dir", dir); /* created on demand */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct kvz_lock l = KVZ_LOCK_INIT;
        char c = kvz_lock_acquire(&l, sub, NULL) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');

    struct kvz_lock l = KVZ_LOCK_INIT;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_lock_acquire(&l, sub, &err), -1);
    snprintf(msg, sizeof(msg), "is locked by another kvz (pid %ld since 20", (long)child);
    assert_non_null(strstr(kvz_error_msg(err), msg));
    assert_non_null(strstr(kvz_error_msg(err), sub));
    kvz_error_free(err);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(kvz_lock_acquire(&l, sub, NULL), 0);
    kvz_lock_release(&l);
    kvz_lock_release(&l); /* twice is fine */
    close(ready[0]);
    close(ready[1]);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_lock_names_holder)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
