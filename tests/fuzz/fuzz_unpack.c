/*
 * libFuzzer target: the unpack engine (store/unpack_stream.c, store/unpack.c) on the bytes a
 * hostile server would send: recognition, tar extraction with every refusal, decompression of
 * images, the budget of unverified content. It runs the engine in-process, unconfined, in a
 * scratch directory of its own (/dev/shm or TMPDIR), as kvz-unpack does in its jail. Also run by
 * fuzz_unpack_replay. The contract checked, beyond no crash and no sanitizer report: nothing is
 * written beside the target directory, and a success names a file that exists.
 */
#include "base/error.h"
#include "base/fs.h"
#include "store/unpack.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[PATH_MAX], target[PATH_MAX + 8], canary[PATH_MAX + 8];

static void remove_scratch(void)
{
    kvz_tree_discard(scratch);
}

/* <scratch>/target is where each input is unpacked; <scratch>/canary must stay as it is. */
static void setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(scratch, sizeof(scratch), "%s/kvzt-%ld-fuzz-unpack", base ? base : "/tmp",
             (long)getpid());
    snprintf(target, sizeof(target), "%s/target", scratch);
    snprintf(canary, sizeof(canary), "%s/canary", scratch);
    kvz_tree_discard(scratch);
    int fd = -1;
    if (mkdir(scratch, 0700) < 0 ||
        (fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        write(fd, "canary", 6) != 6) {
        perror(scratch);
        abort();
    }
    close(fd);
    atexit(remove_scratch);
}

/* Only the target and the untouched canary beside it. */
static void check_scratch(void)
{
    DIR *d = opendir(scratch);
    struct dirent *de;
    char buf[16];
    if (!d)
        abort();
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "target") &&
            strcmp(de->d_name, "canary")) {
            fprintf(stderr, "fuzz_unpack: '%s' was written beside the target\n", de->d_name);
            abort();
        }
    closedir(d);
    int fd = open(canary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf)) != 6 || memcmp(buf, "canary", 6)) {
        fprintf(stderr, "fuzz_unpack: the canary beside the target was changed\n");
        abort();
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int cwd = -1;
    if (cwd < 0) {
        setup();
        cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    /* The engine reads a descriptor, as kvz-unpack reads its socket. */
    int in = memfd_create("fuzz-unpack", MFD_CLOEXEC);
    if (in < 0 || (size && write(in, data, size) != (ssize_t)size) || lseek(in, 0, SEEK_SET) < 0)
        abort();
    if (mkdir(target, 0700) < 0 || chdir(target) < 0)
        abort();
    struct kvz_unpack_budget budget = {.ratio = 8, .slack = 4u << 20};
    struct kvz_unpack_limits lim = {
        .max_bytes = 64u << 20, .max_entries = 20000, .budget = &budget};
    struct kvz_unpack_result r = {0};
    struct kvz_error *err = NULL;
    int rc = kvz_unpack_stream(&r, in, KVZ_CONTENT_UNKNOWN, &lim, &err);
    if (fchdir(cwd) < 0)
        abort();
    close(in);
    if (rc == 0) {
        const char *file = kvz_unpack_file(&r);
        struct stat st;
        char path[PATH_MAX + 40];
        snprintf(path, sizeof(path), "%s/%s", target, file ? file : "");
        if (!file || err || (!r.use_download && lstat(path, &st) < 0))
            abort();
    } else if (!err || !kvz_error_msg(err)[0]) {
        abort(); /* a failure always says why */
    }
    kvz_error_free(err);
    check_scratch();
    if (kvz_tree_remove(NULL, target, NULL) < 0)
        abort();
    return 0;
}
