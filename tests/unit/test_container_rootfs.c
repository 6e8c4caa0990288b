#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/fs.h"
#include "providers/container/container.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char base[64];

static void pathf(char *out, size_t n, const char *rel)
{
    int w = snprintf(out, n, "%s/%s", base, rel);
    assert_true(w > 0 && (size_t)w < n);
}

static void put(const char *rel, const char *data, mode_t mode)
{
    char p[256];
    pathf(p, sizeof(p), rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
    chmod(p, mode);
}

static char *slurp(const char *rel)
{
    char p[256];
    static char buf[4096];
    pathf(p, sizeof(p), rel);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void mk(const char *rel, mode_t mode)
{
    char p[256];
    pathf(p, sizeof(p), rel);
    assert_int_equal(mkdir(p, mode), 0);
}

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/kvzt-%d-rootfs", getpid());
    mkdir(base, 0755);
    return 0;
}

static int teardown(void **state)
{
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_tree_remove(NULL, base, &err), 0);
    kvz_error_free(err);
    return 0;
}

/* A template with what rootfs archives hold: owners, modes, set-uid, xattrs (file caps), hard
 * links, symlinks, device nodes, fifos. */
/* Owners, device nodes and files of other users need root; a developer's loop without root
 * (cmake -DKVZ_INTEGRATION=OFF && ctest -L unit) skips these. */
static void need_root(void)
{
    if (getuid() != 0) {
        print_message("not root: skipped (owners and device nodes need root)\n");
        skip();
    }
}

static void test_copy_keeps_everything(void **state)
{
    need_root();
    struct kvz_error *err = NULL;
    char src[256], dst[256], p[256], q[256];
    mk("src", 0755);
    mk("src/etc", 0755);
    mk("src/bin", 0711);
    mk("src/dev", 0755);
    put("src/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
    put("src/bin/su", "not really su", 04755);
    pathf(p, sizeof(p), "src/bin/su");
    assert_int_equal(chown(p, 0, 0), 0);
    assert_int_equal(chmod(p, 04755), 0);
    put("src/bin/ping", "ping", 0755);
    pathf(p, sizeof(p), "src/bin/ping");
    assert_int_equal(setxattr(p, "user.kvz", "v1", 2, 0), 0);
    put("src/etc/owned", "x", 0640);
    pathf(p, sizeof(p), "src/etc/owned");
    assert_int_equal(chown(p, 1234, 5678), 0);
    pathf(q, sizeof(q), "src/bin/ping-hard");
    pathf(p, sizeof(p), "src/bin/ping");
    assert_int_equal(link(p, q), 0);
    pathf(p, sizeof(p), "src/bin/sh");
    assert_int_equal(symlink("/bin/busybox", p), 0);
    pathf(p, sizeof(p), "src/dev/null");
    assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
    pathf(p, sizeof(p), "src/dev/fifo");
    assert_int_equal(mkfifo(p, 0600), 0);

    pathf(src, sizeof(src), "src");
    pathf(dst, sizeof(dst), "dst");
    assert_int_equal(kvz_rootfs_copy(src, dst, &err), 0);

    struct stat a, b;
    assert_string_equal(slurp("dst/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    pathf(p, sizeof(p), "dst/bin/su");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(a.st_mode & 07777, 04755);
    pathf(p, sizeof(p), "dst/bin");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(a.st_mode & 07777, 0711);
    pathf(p, sizeof(p), "dst/etc/owned");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(a.st_uid, 1234);
    assert_int_equal(a.st_gid, 5678);
    assert_int_equal(a.st_mode & 07777, 0640);
    char v[8] = {0};
    pathf(p, sizeof(p), "dst/bin/ping");
    assert_int_equal(getxattr(p, "user.kvz", v, sizeof(v)), 2);
    assert_string_equal(v, "v1");
    /* hard link inside the copy, but not to the template: containers share no file */
    pathf(q, sizeof(q), "dst/bin/ping-hard");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(stat(q, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    pathf(q, sizeof(q), "src/bin/ping");
    assert_int_equal(stat(q, &b), 0);
    assert_int_not_equal(a.st_ino, b.st_ino);
    char target[64] = {0};
    pathf(p, sizeof(p), "dst/bin/sh");
    assert_int_equal(readlink(p, target, sizeof(target)), 12);
    assert_string_equal(target, "/bin/busybox");
    pathf(p, sizeof(p), "dst/dev/null");
    assert_int_equal(lstat(p, &a), 0);
    assert_true(S_ISCHR(a.st_mode));
    assert_int_equal(a.st_rdev, makedev(1, 3));
    pathf(p, sizeof(p), "dst/dev/fifo");
    assert_int_equal(lstat(p, &a), 0);
    assert_true(S_ISFIFO(a.st_mode));

    /* the destination must not exist: nothing is merged into an old tree */
    assert_int_equal(kvz_rootfs_copy(src, dst, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "File exists"));
    kvz_error_clear(&err);
}

static const struct kvz_resource *want_keys(const char *host, size_t n)
{
    static char *keys[] = {"ssh-ed25519 AAAAC3Nza one@x", "ssh-rsa AAAAB3 two@y"};
    static struct kvz_resource r;
    memset(&r, 0, sizeof(r));
    r.name = "web1";
    r.hostname = (char *)host;
    r.ssh_keys = keys;
    r.n_ssh_keys = n;
    return &r;
}

/* Symlinks planted in a rootfs must not lead kvz's writes out of it. */
static void test_inject_stays_inside(void **state)
{
    need_root();
    struct kvz_error *err = NULL;
    char root[256], p[256], q[256];
    mk("evil", 0755);
    mk("evil/etc", 0755);
    mk("outside", 0755);
    put("outside/hostname", "precious\n", 0644);
    pathf(root, sizeof(root), "evil");
    /* absolute symlink to a host path, and a relative one climbing out */
    pathf(q, sizeof(q), "outside/hostname");
    pathf(p, sizeof(p), "evil/etc/hostname");
    assert_int_equal(symlink(q, p), 0);
    pathf(p, sizeof(p), "evil/etc/hosts");
    assert_int_equal(symlink("../../outside/hosts", p), 0);
    pathf(q, sizeof(q), "outside");
    pathf(p, sizeof(p), "evil/root");
    assert_int_equal(symlink(q, p), 0);

    /* /root leads to a host path that does not exist inside the rootfs: refused, not followed */
    assert_int_equal(kvz_rootfs_inject(root, want_keys("web-one", 2), &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "open '/root' in the rootfs"));
    kvz_error_clear(&err);
    assert_null(slurp("outside/.ssh/authorized_keys"));
    /* the same path made inside the rootfs is where it lands */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/evil%s", base, q);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kvz_rootfs_inject(root, want_keys("web-one", 2), &err), 0);
    assert_string_equal(slurp("outside/hostname"), "precious\n");
    assert_null(slurp("outside/hosts"));
    assert_null(slurp("outside/.ssh/authorized_keys"));
    assert_string_equal(slurp("evil/etc/hostname"), "web-one\n");
    assert_non_null(strstr(slurp("evil/etc/hosts"), "127.0.1.1\tweb-one\n"));
    /* /root pointed at a host path: resolved inside the rootfs, where it is /<base>/outside */
    char inside[512];
    snprintf(inside, sizeof(inside), "evil%s/.ssh/authorized_keys", q);
    assert_string_equal(slurp(inside), "ssh-ed25519 AAAAC3Nza one@x\nssh-rsa AAAAB3 two@y\n");
    struct stat st;
    char full[600];
    pathf(full, sizeof(full), inside);
    p[0] = 0;
    assert_int_equal(stat(full, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char *hn = NULL;
    assert_int_equal(kvz_rootfs_read_hostname(&hn, root, &err), 0);
    assert_string_equal(hn, "web-one");
    free(hn);
    /* no keys any more: kvz's authorized_keys goes */
    assert_int_equal(kvz_rootfs_inject(root, want_keys("web-one", 0), &err), 0);
    assert_null(slurp(inside));
}

static void write_elf(const char *rel, uint16_t machine)
{
    unsigned char h[64] = {0};
    memcpy(h, ELFMAG, SELFMAG);
    h[EI_CLASS] = ELFCLASS64;
    h[EI_DATA] = ELFDATA2LSB;
    h[18] = (unsigned char)(machine & 0xff);
    h[19] = (unsigned char)(machine >> 8);
    char p[256];
    pathf(p, sizeof(p), rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, h, sizeof(h)), 64);
    close(fd);
}

static void test_arch_check(void **state)
{
    struct kvz_error *err = NULL;
    char root[256];
    mk("arm", 0755);
    mk("arm/sbin", 0755);
    write_elf("arm/sbin/init", EM_AARCH64);
    pathf(root, sizeof(root), "arm");
    assert_int_equal(kvz_rootfs_check_arch(root, "alpine-arm", &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "template 'alpine-arm' is built for aarch64 but this host runs x86_64; "
                        "containers share the host's kernel, use a vm (or a x86_64 template)");
    kvz_error_clear(&err);

    write_elf("arm/sbin/init", EM_X86_64);
    assert_int_equal(kvz_rootfs_check_arch(root, "ok", &err), 0);

    /* a script init is judged by the shell it runs on */
    put("arm/sbin/init", "#!/bin/sh\nexec sleep 1\n", 0755);
    assert_int_equal(kvz_rootfs_check_arch(root, "script", &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "no /sbin/init or /bin/sh"));
    kvz_error_clear(&err);
    mk("arm/bin", 0755);
    put("arm/bin/sh", "MZ\x90windows", 0755);
    assert_int_equal(kvz_rootfs_check_arch(root, "win", &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "template 'win': '/bin/sh' is not a Linux executable; containers share "
                        "the host's Linux kernel, use a vm for other systems");
    kvz_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_keeps_everything),
        cmocka_unit_test(test_inject_stays_inside),
        cmocka_unit_test(test_arch_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
