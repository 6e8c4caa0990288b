#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "parser/manifest.h"
#include "parser/spec_digest.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct kvz_manifest *load_ok(const char *yaml, struct kvz_diags *d)
{
    struct kvz_manifest *m = NULL;
    int rc = kvz_manifest_load_string(&m, "t.yaml", yaml, strlen(yaml), d);
    for (size_t i = 0; rc != 0 && i < d->n; i++)
        print_error("%s\n", kvz_diag_format(&d->v[i]));
    assert_int_equal(rc, 0);
    assert_non_null(m);
    return m;
}

/* Loads a manifest that must fail and returns the diagnostics' codes, one per line. */
static char *codes_of(const char *data, size_t len)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    assert_int_equal(kvz_manifest_load_string(&m, "t.yaml", data, len, &d), -1);
    assert_null(m);
    assert_true(kvz_diags_has_errors(&d));
    struct kvz_buf b = KVZ_BUF_INIT;
    for (size_t i = 0; i < d.n; i++)
        kvz_buf_printf(&b, "%s%s", i ? " " : "", d.v[i].code);
    kvz_diags_release(&d);
    return kvz_buf_detach(&b);
}

static void expect_codes(const char *yaml, const char *want)
{
    char *got = codes_of(yaml, strlen(yaml));
    if (strcmp(got, want))
        fail_msg("got codes \"%s\", want \"%s\" for:\n%s", got, want, yaml);
    free(got);
}

static const char full[] =
    "kvz: 1\n"
    "stack: web\n"
    "connection: {containers: 'lxc:///system', vms: 'qemu+ssh://h/system'}\n"
    "templates:\n"
    "  rootfs: {url: 'https://h/r.tar.xz', sha256: "
    "'9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08'}\n"
    "  cloud: {url: 'https://h/c.qcow2', checksums: 'https://h/SHA512SUMS'}\n"
    "  iso: {url: 'file:///srv/i.iso'}\n"
    "containers:\n"
    "  web1:\n"
    "    template: rootfs\n"
    "    memory: 512MiB\n"
    "    cpus: 1.5\n"
    "    disk: 8GiB\n"
    "    state: stopped\n"
    "    autostart: true\n"
    "    network: {bridge: br0}\n"
    "    ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm7 a@b', "
    "'ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB c@d']\n"
    "  web2: {template: rootfs, memory: 1G}\n"
    "vms:\n"
    "  db1:\n"
    "    image: cloud\n"
    "    memory: 2GiB\n"
    "    max_memory: 8GiB\n"
    "    cpus: 2\n"
    "    max_cpus: 8\n"
    "    disk: 20GiB\n"
    "    firmware: uefi\n"
    "    cdrom: iso\n"
    "    network: none\n"
    "    hostname: db1.example.org\n"
    "    cloud_init: {user_data: \"#cloud-config\\n\"}\n"
    "    protect: true\n"
    "  db2: {image: cloud, memory: 1GiB, cpus: 3}\n";

static void test_full_manifest(void **state)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = load_ok(full, &d);
    assert_int_equal(d.n, 0);
    assert_string_equal(m->stack, "web");
    assert_string_equal(m->containers_uri, "lxc:///system");
    assert_string_equal(m->vms_uri, "qemu+ssh://h/system");
    assert_int_equal(m->n_files, 1);
    assert_string_equal(m->files[0], "t.yaml");

    assert_int_equal(m->n_templates, 3);
    const struct kvz_template *t = kvz_manifest_template(m, "rootfs");
    assert_non_null(t);
    assert_int_equal(t->algo, KVZ_DIGEST_SHA256);
    assert_string_equal(t->digest,
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_int_equal(t->hint, KVZ_CONTENT_ROOTFS);
    assert_int_equal(t->loc.line, 5);
    t = kvz_manifest_template(m, "cloud");
    assert_int_equal(t->algo, KVZ_DIGEST_NONE);
    assert_null(t->digest);
    assert_string_equal(t->checksums_url, "https://h/SHA512SUMS");
    assert_int_equal(t->hint, KVZ_CONTENT_DISK);
    assert_int_equal(kvz_manifest_template(m, "iso")->hint, KVZ_CONTENT_ISO);
    assert_null(kvz_manifest_template(m, "nope"));

    /* containers first, then vms, each in file order */
    assert_int_equal(m->n_resources, 4);
    assert_string_equal(m->resources[0].name, "web1");
    assert_string_equal(m->resources[1].name, "web2");
    assert_string_equal(m->resources[2].name, "db1");
    assert_string_equal(m->resources[3].name, "db2");

    const struct kvz_resource *r = kvz_manifest_resource(m, "web1");
    assert_int_equal(r->kind, KVZ_KIND_CONTAINER);
    assert_ptr_equal(r->tmpl, kvz_manifest_template(m, "rootfs"));
    assert_int_equal(r->memory, 512ull << 20);
    assert_int_equal(r->max_memory, 512ull << 20);
    assert_int_equal(r->cpus_milli, 1500);
    assert_int_equal(r->max_cpus, 0);
    assert_int_equal(r->disk, 8ull << 30);
    assert_string_equal(r->hostname, "web1");
    assert_int_equal(r->state, KVZ_POWER_STOPPED);
    assert_true(r->autostart);
    assert_false(r->protect);
    assert_int_equal(r->network.type, KVZ_NET_BRIDGE);
    assert_string_equal(r->network.name, "br0");
    assert_int_equal(r->n_ssh_keys, 2);
    assert_string_equal(r->ssh_keys[1], "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB c@d");
    assert_int_equal(r->loc.line, 9);
    assert_int_equal(r->loc.col, 3);

    r = kvz_manifest_resource(m, "web2"); /* defaults */
    assert_int_equal(r->memory, 1ull << 30);
    assert_int_equal(r->cpus_milli, 1000);
    assert_int_equal(r->disk, 0);
    assert_int_equal(r->state, KVZ_POWER_RUNNING);
    assert_false(r->autostart);
    assert_int_equal(r->network.type, KVZ_NET_NETWORK);
    assert_string_equal(r->network.name, "default");
    assert_int_equal(r->n_ssh_keys, 0);

    r = kvz_manifest_resource(m, "db1");
    assert_int_equal(r->kind, KVZ_KIND_VM);
    assert_int_equal(r->max_memory, 8ull << 30);
    assert_int_equal(r->cpus_milli, 2000);
    assert_int_equal(r->max_cpus, 8);
    assert_int_equal(r->firmware, KVZ_FW_UEFI);
    assert_int_equal(r->os, KVZ_OS_LINUX);
    assert_ptr_equal(r->cdrom, kvz_manifest_template(m, "iso"));
    assert_string_equal(r->cdrom_name, "iso");
    assert_int_equal(r->network.type, KVZ_NET_NONE);
    assert_null(r->network.name);
    assert_string_equal(r->hostname, "db1.example.org");
    assert_true(r->has_cloud_init);
    assert_string_equal(r->user_data, "#cloud-config\n");
    assert_true(r->protect);

    r = kvz_manifest_resource(m, "db2"); /* vm defaults */
    assert_int_equal(r->max_memory, 1ull << 30);
    assert_int_equal(r->cpus_milli, 3000);
    assert_int_equal(r->max_cpus, 3);
    assert_int_equal(r->firmware, KVZ_FW_BIOS);
    assert_false(r->has_cloud_init);
    assert_null(r->cdrom);
    assert_null(kvz_manifest_resource(m, "nope"));
    assert_null(kvz_manifest_resource(NULL, "web1"));

    assert_string_equal(kvz_kind_str(KVZ_KIND_VM), "vm");
    assert_string_equal(kvz_kind_str(KVZ_KIND_CONTAINER), "container");
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

static void test_defaults_of_an_empty_manifest(void **state)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = load_ok("kvz: 1\n", &d);
    assert_string_equal(m->stack, "default");
    assert_string_equal(m->containers_uri, "lxc:///system");
    assert_string_equal(m->vms_uri, "qemu:///system");
    assert_int_equal(m->n_resources, 0);
    kvz_manifest_free(m);
    kvz_manifest_free(NULL);
    kvz_diags_release(&d);
}

static void test_raw_scalars(void **state)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m =
        load_ok("kvz: 1\ntemplates:\n  t:\n    url: https://h/r.tar\n    sha256: "
                "1234567890123456789012345678901234567890123456789012345678901234\n"
                "containers:\n  '007': {template: t, memory: '1GiB', cpus: \"2\"}\n",
                &d);
    assert_string_equal(kvz_manifest_template(m, "t")->digest,
                        "1234567890123456789012345678901234567890123456789012345678901234");
    assert_non_null(kvz_manifest_resource(m, "007"));
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

static void test_insecure_is_a_warning(void **state)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m =
        load_ok("kvz: 1\ntemplates:\n  t: {url: 'http://h/r.tar', insecure: true}\n", &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].sev, KVZ_SEV_WARNING);
    assert_string_equal(d.v[0].code, "insecure-template");
    assert_true(kvz_manifest_template(m, "t")->insecure);
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

/* Each rule has a stable code: scripts and editors match on them. */
static void test_codes(void **state)
{
    const char *T = "kvz: 1\ntemplates:\n  r: {url: 'file:///r.tar'}\n  d: {url: "
                    "'file:///d.qcow2'}\n  i: {url: 'file:///i.iso'}\n";
    char buf[1024];
#define WITH(body) (snprintf(buf, sizeof(buf), "%s%s", T, body), buf)
    expect_codes(WITH("containers:\n  w: {template: r, memory: 512}\n"), "bad-size");
    expect_codes(WITH("containers:\n  w: {template: r, memroy: 1G}\n"), "missing-key unknown-key");
    expect_codes(WITH("containers:\n  W: {template: r, memory: 1G}\n"), "bad-name");
    expect_codes(WITH("containers:\n  w: {template: d, memory: 1G}\n"), "content-kind");
    expect_codes(WITH("containers:\n  w: {template: x, memory: 1G}\n"), "unknown-template");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, os: windows}\n"),
                 "container-windows");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, cpus: 0}\n"), "bad-cpus");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, autostart: on}\n"), "bad-bool");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, state: up}\n"), "bad-enum");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, network: 'a b'}\n"),
                 "bad-network");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, hostname: a_b}\n"),
                 "bad-hostname");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, ssh_authorized_keys: [x]}\n"),
                 "bad-ssh-key");
    expect_codes(WITH("vms:\n  v: {image: d, memory: 2G, max_memory: 1G}\n"), "max-memory");
    expect_codes(WITH("vms:\n  v: {image: d, memory: 2G, cpus: 4, max_cpus: 2}\n"), "max-cpus");
    expect_codes(WITH("vms:\n  v: {image: d, memory: 2G, os: windows, cloud_init: {user_data: "
                      "x}}\n"),
                 "cloud-init-os");
    expect_codes(WITH("vms:\n  v: {memory: 2G}\n"), "vm-no-boot");
    expect_codes(WITH("vms:\n  v: {cdrom: i, memory: 2G}\n"), "vm-no-disk");
    expect_codes(WITH("vms:\n  v: {image: d, memory: 2G, cdrom: r}\n"), "content-kind");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G}\nvms:\n  w: {image: d, memory: "
                      "1G}\n"),
                 "duplicate-name");
    expect_codes(WITH("containers:\n  w: {template: r, memory: 1G, memory: 2G}\n"),
                 "duplicate-key");
    expect_codes(WITH("containers:\n  w: &a {template: r, memory: 1G}\n"), "yaml-anchor");
    expect_codes(WITH("stack: *a\n"), "yaml-alias");
    expect_codes(WITH("stack: !!int 3\n"), "yaml-tag");
    expect_codes(WITH("stack: [\n"), "yaml-syntax");
    expect_codes(WITH("? [a]\n: b\n"), "non-string-key");
    expect_codes("kvz: 1\n---\nkvz: 1\n", "yaml-multi-doc");
    expect_codes("", "empty-file");
    expect_codes("kvz: 3\n", "bad-version");
    expect_codes("stack: x\n", "missing-key");
    expect_codes("kvz: 1\nconnection: {vms: qemu}\n", "bad-uri");
    expect_codes("kvz: 1\ntemplates:\n  t: {url: 'https://h/x.tar'}\n", "checksum-missing");
    expect_codes("kvz: 1\ntemplates:\n  t: {url: 'ftp://h/x.tar'}\n", "bad-url");
    expect_codes("kvz: 1\ntemplates:\n  t: {url: 'file:///x.tar', sha256: abc}\n", "bad-checksum");
    expect_codes("kvz: 1\ntemplates:\n  t: {url: 'file:///x.tar', sha256: " /* both */
                 "0000000000000000000000000000000000000000000000000000000000000000, "
                 "checksums: 'file:///S'}\n",
                 "checksum-conflict");
    expect_codes("kvz: 1\ntemplates:\n  t: {url: 'file:///x_arm64.tar'}\ncontainers:\n  c: "
                 "{template: t, memory: 1G}\n",
                 "foreign-arch");
    expect_codes("kvz: 1\nstack: \"a\\0b\"\n", "yaml-nul");
    expect_codes("kvz: 1\nstack: \xff\n", "yaml-utf8");
#undef WITH
}

static void test_all_errors_reported_sorted(void **state)
{
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    const char *y = "kvz: 1\nvms:\n  b: {memory: 0}\ncontainers:\n  a: {template: x, memory: 1}\n"
                    "  a: {}\n";
    assert_int_equal(kvz_manifest_load_string(&m, "s.yaml", y, strlen(y), &d), -1);
    assert_true(d.n >= 5);
    for (size_t i = 1; i < d.n; i++)
        assert_true(d.v[i - 1].line < d.v[i].line ||
                    (d.v[i - 1].line == d.v[i].line && d.v[i - 1].col <= d.v[i].col));
    char *first = kvz_diag_format(&d.v[0]);
    assert_string_equal(first, "s.yaml:3:3: error: vm 'b' has nothing to boot; add 'image: "
                               "TEMPLATE' (a disk image) or 'cdrom: TEMPLATE' (an install ISO)");
    free(first);
    kvz_diags_release(&d);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvzt-%d-XXXXXX", (int)getpid());
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_multi_file_merge(void **state)
{
    char dir[128], extra[160];
    snprintf(dir, sizeof(dir), "%s/stack", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    const char *a = "kvz: 1\nstack: s\ntemplates:\n  r: {url: 'file:///r.tar'}\n";
    const char *b = "kvz: 1\ncontainers:\n  c1: {template: r, memory: 1G}\nvms:\n  v1: {image: "
                    "d, memory: 1G}\n";
    const char *c = "kvz: 1\nstack: s\ntemplates:\n  d: {url: 'file:///d.img'}\n";
    write_file("stack/b.yml", b, strlen(b));
    write_file("stack/a.yaml", a, strlen(a));
    write_file("stack/notes.txt", "x", 1);
    write_file("extra.yaml", c, strlen(c));
    snprintf(extra, sizeof(extra), "%s/extra.yaml", tmpdir);
    const char *paths[] = {dir, extra};
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    assert_int_equal(kvz_manifest_load(&m, paths, 2, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(m->n_files, 3);
    assert_non_null(strstr(m->files[0], "stack/a.yaml"));
    assert_non_null(strstr(m->files[1], "stack/b.yml"));
    assert_string_equal(m->files[2], extra);
    assert_string_equal(m->stack, "s");
    const struct kvz_resource *v = kvz_manifest_resource(m, "v1");
    assert_ptr_equal(v->tmpl, kvz_manifest_template(m, "d")); /* defined in a later file */
    assert_ptr_equal(v->loc.file, m->files[1]);
    assert_int_equal(kvz_manifest_template(m, "d")->hint, KVZ_CONTENT_DISK);
    kvz_manifest_free(m);
    kvz_diags_release(&d);

    /* The same file twice is read once, with a warning. */
    const char *twice[] = {extra, extra};
    assert_int_equal(kvz_manifest_load(&m, twice, 2, &d), 0);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].code, "duplicate-file");
    assert_int_equal(m->n_templates, 1);
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

static void test_missing_file_and_default_path(void **state)
{
    char cwd[512], missing[160];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(missing, sizeof(missing), "%s/nope.yaml", tmpdir);
    const char *paths[] = {missing};
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    assert_int_equal(kvz_manifest_load(&m, paths, 1, &d), -1);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].code, "file-read");
    assert_string_equal(d.v[0].msg, "cannot read the manifest: No such file or directory; check "
                                    "the path given with -f");
    kvz_diags_release(&d);

    /* No path: ./kvz.yaml */
    write_file("kvz.yaml", "kvz: 1\nstack: here\n", 19);
    assert_int_equal(chdir(tmpdir), 0);
    int rc = kvz_manifest_load(&m, NULL, 0, &d);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(m->stack, "here");
    assert_string_equal(m->files[0], "kvz.yaml");
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

/* Generated here rather than committed: a file over the size limit. */
static void test_file_too_large(void **state)
{
    size_t len = KVZ_MANIFEST_MAX_FILE_SIZE + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memcpy(big, "kvz: 1\n", 7);
    memset(big + 7, '#', len - 8);
    big[len - 1] = '\n';
    write_file("big.yaml", big, len);
    char path[160];
    snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
    const char *paths[] = {path};
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    assert_int_equal(kvz_manifest_load(&m, paths, 1, &d), -1);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].code, "file-too-large");
    char *msg = kvz_diag_format(&d.v[0]);
    assert_non_null(strstr(msg, "big.yaml: error: the manifest is larger than 4 MiB; split it "
                                "into several files in one directory"));
    free(msg);
    kvz_diags_release(&d);
    char *codes = codes_of(big, len); /* the same limit for a string */
    assert_string_equal(codes, "file-too-large");
    free(codes);
    /* one byte less is fine */
    assert_int_equal(kvz_manifest_load_string(&m, "b.yaml", big, len - 1, &d), 0);
    kvz_manifest_free(m);
    kvz_diags_release(&d);
    free(big);
}

static void test_bounds_hold(void **state)
{
    /* 100000 nested lists: refused at depth 17, no stack overflow */
    size_t n = 100000;
    char *deep = malloc(n + 16);
    assert_non_null(deep);
    memcpy(deep, "kvz: 1\nx: ", 10);
    memset(deep + 10, '[', n);
    char *codes = codes_of(deep, n + 10);
    assert_string_equal(codes, "yaml-depth");
    free(codes);
    free(deep);

    /* more values than the node limit in a file under the size limit */
    size_t items = 1100000;
    char *wide = malloc(items * 2 + 16);
    assert_non_null(wide);
    size_t w = 0;
    memcpy(wide, "kvz: 1\nx: [", 11);
    w = 11;
    for (size_t i = 0; i < items; i++) {
        wide[w++] = '0';
        wide[w++] = ',';
    }
    wide[w++] = ']';
    codes = codes_of(wide, w);
    assert_string_equal(codes, "yaml-too-many-nodes");
    free(codes);
    free(wide);

    /* a scalar over the limit */
    size_t sl = KVZ_MANIFEST_MAX_SCALAR + 1;
    char *longs = malloc(sl + 32);
    assert_non_null(longs);
    memcpy(longs, "kvz: 1\nstack: ", 14);
    memset(longs + 14, 'a', sl);
    codes = codes_of(longs, 14 + sl);
    assert_string_equal(codes, "yaml-scalar-too-long");
    free(codes);
    free(longs);
}

/* A file of 30000 bad keys: every error counted, only the first KVZ_DIAGS_MAX kept. */
static void test_diagnostics_are_capped(void **state)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_puts(&b, "kvz: 1\ntemplates:\n  r: {url: 'file:///r.tar'}\ncontainers:\n  c:\n"
                     "    template: r\n    memory: 1G\n");
    for (int i = 0; i < 30000; i++)
        kvz_buf_printf(&b, "    k%d: 1\n", i);
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    assert_int_equal(kvz_manifest_load_string(&m, "c.yaml", b.ptr, b.len, &d), -1);
    assert_int_equal(d.errors, 30000);
    assert_int_equal(d.n, KVZ_DIAGS_MAX + 1);
    assert_string_equal(d.v[0].code, "too-many-problems"); /* no line: sorted first */
    assert_string_equal(d.v[1].code, "unknown-key");
    kvz_diags_release(&d);
    kvz_buf_release(&b);
}

/* Networks come first in the model, with their defaults, and each gets the leases of the guests
 * on it, sorted by guest name; a guest's ip does not change the guest's own spec digest. */
static void test_networks(void **state)
{
    static const char y[] = "kvz: 1\n"
                            "stack: s\n"
                            "templates: {t: {url: 'file:///t.tar'}}\n"
                            "containers:\n"
                            "  zed: {template: t, memory: 1G, network: lan, ip: 10.77.0.30}\n"
                            "  amy: {template: t, memory: 1G, network: lan, ip: 10.77.0.20}\n"
                            "  bob: {template: t, memory: 1G, network: lan}\n"
                            "networks:\n"
                            "  lan: {subnet: 10.77.0.0/24}\n"
                            "  up: {mode: bridge, bridge: br0, autostart: false}\n";
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = load_ok(y, &d);
    assert_int_equal(m->n_resources, 5);
    assert_int_equal(m->resources[0].kind, KVZ_KIND_NETWORK);
    assert_string_equal(m->resources[0].name, "lan");
    assert_int_equal(m->resources[1].kind, KVZ_KIND_NETWORK);
    assert_string_equal(m->resources[2].name, "zed");
    const struct kvz_resource *lan = kvz_manifest_resource(m, "lan");
    assert_int_equal(lan->netspec.mode, KVZ_NET_MODE_NAT);
    assert_string_equal(lan->netspec.subnet, "10.77.0.0/24");
    assert_true(lan->netspec.dhcp);
    assert_true(lan->netspec.dns);
    assert_true(lan->autostart);
    assert_false(lan->protect);
    assert_int_equal(lan->state, KVZ_POWER_RUNNING);
    assert_int_equal(lan->netspec.n_leases, 2);
    assert_string_equal(lan->netspec.leases[0].guest, "amy");
    assert_string_equal(lan->netspec.leases[0].ip, "10.77.0.20");
    assert_string_equal(lan->netspec.leases[1].guest, "zed");
    assert_null(lan->netspec.leases[1].mac);
    const struct kvz_resource *up = kvz_manifest_resource(m, "up");
    assert_int_equal(up->netspec.mode, KVZ_NET_MODE_BRIDGE);
    assert_string_equal(up->netspec.bridge, "br0");
    assert_null(up->netspec.subnet);
    assert_false(up->autostart);
    assert_int_equal(up->netspec.n_leases, 0);
    assert_string_equal(kvz_kind_str(KVZ_KIND_NETWORK), "network");
    assert_true(kvz_kind_is_guest(KVZ_KIND_VM));
    assert_false(kvz_kind_is_guest(KVZ_KIND_NETWORK));
    assert_string_equal(kvz_manifest_uri(m, KVZ_KIND_NETWORK), KVZ_DEFAULT_VMS_URI);

    /* the guest's ip lives in the network's spec */
    char a[KVZ_SHA256_HEX], b[KVZ_SHA256_HEX], n1[KVZ_SHA256_HEX], n2[KVZ_SHA256_HEX];
    struct kvz_resource *zed = (struct kvz_resource *)kvz_manifest_resource(m, "zed");
    assert_int_equal(kvz_spec_digest(a, zed, NULL), 0);
    assert_int_equal(kvz_spec_digest(n1, lan, NULL), 0);
    char *ip = zed->ip;
    zed->ip = NULL;
    assert_int_equal(kvz_spec_digest(b, zed, NULL), 0);
    zed->ip = ip;
    assert_string_equal(a, b);
    free(lan->netspec.leases[1].ip);
    lan->netspec.leases[1].ip = strdup("10.77.0.31");
    assert_int_equal(kvz_spec_digest(n2, lan, NULL), 0);
    assert_string_not_equal(n1, n2);
    kvz_manifest_free(m);
    kvz_diags_release(&d);
}

/* os: windows with firmware: uefi gets TPM and Secure Boot unless it says no; an unattend
 * path is read from beside the manifest. */
static void test_windows_defaults_and_unattend(void **state)
{
    char dir[] = "/tmp/kvzt-loader-XXXXXX", path[128], xml[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/kvz.yaml", dir);
    snprintf(xml, sizeof(xml), "%s/answers.xml", dir);
    FILE *f = fopen(xml, "w");
    assert_non_null(f);
    fputs("<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>\n", f);
    fclose(f);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("kvz: 1\n"
          "templates:\n"
          "  iso: {url: 'file:///srv/w.iso'}\n"
          "  drv: {url: 'file:///srv/virtio-win.iso'}\n"
          "vms:\n"
          "  w11: {cdrom: iso, drivers: drv, disk: 64GiB, memory: 4GiB, os: windows,\n"
          "        firmware: uefi, unattend: answers.xml}\n"
          "  wbios: {cdrom: iso, disk: 64GiB, memory: 4GiB, os: windows}\n"
          "  wnotpm: {cdrom: iso, disk: 64GiB, memory: 4GiB, os: windows, firmware: uefi,\n"
          "           tpm: false}\n",
          f);
    fclose(f);
    struct kvz_diags d = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    const char *paths[] = {path};
    assert_int_equal(kvz_manifest_load(&m, paths, 1, &d), 0);
    const struct kvz_resource *w11 = kvz_manifest_resource(m, "w11");
    assert_true(w11->tpm);
    assert_true(w11->secure_boot);
    assert_string_equal(w11->unattend,
                        "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>\n");
    assert_non_null(w11->drivers);
    assert_string_equal(w11->drivers->name, "drv");
    const struct kvz_resource *wbios = kvz_manifest_resource(m, "wbios");
    assert_false(wbios->tpm);
    assert_false(wbios->secure_boot);
    const struct kvz_resource *wnotpm = kvz_manifest_resource(m, "wnotpm");
    assert_false(wnotpm->tpm);
    assert_true(wnotpm->secure_boot);
    kvz_manifest_free(m);
    kvz_diags_release(&d);
    unlink(xml);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_full_manifest),
        cmocka_unit_test(test_defaults_of_an_empty_manifest),
        cmocka_unit_test(test_raw_scalars),
        cmocka_unit_test(test_insecure_is_a_warning),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_all_errors_reported_sorted),
        cmocka_unit_test(test_multi_file_merge),
        cmocka_unit_test(test_missing_file_and_default_path),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_bounds_hold),
        cmocka_unit_test(test_diagnostics_are_capped),
        cmocka_unit_test(test_windows_defaults_and_unattend),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
