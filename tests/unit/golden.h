#ifndef KVZ_TESTS_UNIT_GOLDEN_H
#define KVZ_TESTS_UNIT_GOLDEN_H

/* Golden files for the unit tests: tests/data/<area>/<case>.<ext> beside the inputs. */

/* The whole file as a string; NULL when it cannot be read. Caller frees. */
char *kvz_test_slurp(const char *path);

/* "$KVZ_SOURCE_DIR/tests/data/<rel>" into out (fails the test when unset or too long). */
void kvz_test_data_path(char *out, size_t size, const char *rel);

/*
 * Compares `got` with the golden file at `path` and fails the test, showing both,
 * when they differ. With KVZ_REGEN=1 in the environment it rewrites the file
 * first, for a reviewer to read the diff.
 */
void kvz_test_golden(const char *path, const char *got);

#endif
