#include "tests/unit/cli_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

char *kvz_test_run_kvz(int *status, const char *state_dir, bool with_stderr,
                       const char *const *args)
{
    const char *bin = getenv("KVZ_BINARY");
    assert_non_null(bin);
    const char *argv[32] = {"kvz",
                            "--state-dir",
                            state_dir,
                            "--containers-uri",
                            "test+unix:///nonexistent",
                            "--vms-uri",
                            "test+unix:///nonexistent"};
    size_t n = 7;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        if (with_stderr)
            dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (!freopen("/dev/null", "r", stdin) ||
            (!with_stderr && !freopen("/dev/null", "w", stderr)))
            _exit(127);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    struct kvz_buf out = KVZ_BUF_INIT;
    char chunk[4096];
    ssize_t r;
    while ((r = read(fds[0], chunk, sizeof(chunk))) > 0)
        kvz_buf_add(&out, chunk, (size_t)r);
    close(fds[0]);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    *status = WEXITSTATUS(ws);
    return kvz_buf_detach(&out);
}
