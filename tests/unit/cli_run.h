#ifndef KVZ_TESTS_CLI_RUN_H
#define KVZ_TESTS_CLI_RUN_H

#include <stdbool.h>

/*
 * Test-only: runs the kvz binary ($KVZ_BINARY) with `args` (NULL-terminated, after "kvz"), the
 * state dir `state_dir` and libvirt URIs that cannot be reached (a test that touched the host
 * fails with a connection error), stdin from /dev/null and NO_COLOR set. Returns its stdout
 * (and stderr too when `with_stderr`; else stderr goes to /dev/null) in a new string, and its
 * exit status in *status. Fails the cmocka test on any system error.
 */
char *kvz_test_run_kvz(int *status, const char *state_dir, bool with_stderr,
                       const char *const *args);

#endif
