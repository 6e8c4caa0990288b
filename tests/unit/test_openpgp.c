#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/openpgp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Real keys and signatures made with gpg in a temporary GNUPGHOME. */

static char dir[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *name, size_t *len)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/kvzt-%d-pgp", getpid());
    /* two signers (good and other), their public keys apart; SUMS signed armored and binary */
    sh("set -e; d=%s; rm -rf $d; mkdir -p $d/good $d/other; chmod 700 $d/good $d/other;"
       "for k in good other; do GNUPGHOME=$d/$k gpg -q --batch --pinentry-mode loopback "
       "--passphrase '' --quick-gen-key \"kvz test $k <$k@kvz.test>\" ed25519 sign never;"
       "GNUPGHOME=$d/$k gpg -q --batch --export --armor > $d/$k.asc; done;"
       "GNUPGHOME=$d/good gpg -q --batch --export > $d/good.gpg;"
       "printf 'abc  disk.qcow2\\n' > $d/SUMS;"
       "GNUPGHOME=$d/good gpg -q --batch --pinentry-mode loopback --passphrase '' "
       "--armor --detach-sign -o $d/SUMS.asc $d/SUMS;"
       "GNUPGHOME=$d/good gpg -q --batch --pinentry-mode loopback --passphrase '' "
       "--detach-sign -o $d/SUMS.sig $d/SUMS;"
       "GNUPGHOME=$d/other gpg -q --batch --pinentry-mode loopback --passphrase '' "
       "--armor --detach-sign -o $d/SUMS.other.asc $d/SUMS;"
       "GNUPGHOME=$d/good gpgconf --kill all; GNUPGHOME=$d/other gpgconf --kill all",
       dir);
    return 0;
}

static int teardown(void **state)
{
    sh("rm -rf %s", dir);
    return 0;
}

static int verify(const char *sums, const char *sig, const char *keyring, char **msg,
                  struct kvz_openpgp_signer *who)
{
    size_t dl, sl;
    char *d = slurp(sums, &dl), *s = slurp(sig, &sl), k[256];
    struct kvz_error *err = NULL;
    snprintf(k, sizeof(k), "%s/%s", dir, keyring);
    int r = kvz_openpgp_verify(who, d, dl, s, sl, k, "checksums 'SUMS'", &err);
    *msg = err ? strdup(kvz_error_msg(err)) : NULL;
    kvz_error_free(err);
    free(d);
    free(s);
    return r;
}

static void test_good_armored_and_binary(void **state)
{
    struct kvz_openpgp_signer who;
    char *msg = NULL;
    assert_int_equal(verify("SUMS", "SUMS.asc", "good.asc", &msg, &who), 0);
    assert_null(msg);
    assert_int_equal(strlen(who.fpr), 40);
    assert_string_equal(who.uid, "kvz test good <good@kvz.test>");
    /* a binary signature, and a binary keyring */
    assert_int_equal(verify("SUMS", "SUMS.sig", "good.gpg", &msg, NULL), 0);
}

static void test_tampered(void **state)
{
    char *msg = NULL;
    sh("cp %s/SUMS %s/SUMS.bad && printf 'def  disk.qcow2\\n' >> %s/SUMS.bad", dir, dir, dir);
    assert_int_equal(verify("SUMS.bad", "SUMS.asc", "good.asc", &msg, NULL), -1);
    assert_non_null(strstr(msg, "checksums 'SUMS': BAD signature by key "));
    assert_non_null(strstr(msg, "(kvz test good <good@kvz.test>)"));
    free(msg);
}

static void test_other_key(void **state)
{
    char *msg = NULL;
    assert_int_equal(verify("SUMS", "SUMS.other.asc", "good.asc", &msg, NULL), -1);
    assert_non_null(strstr(msg, "checksums 'SUMS' is signed by key "));
    assert_non_null(strstr(msg, ", which is not in keyring '"));
    free(msg);
}

static void test_not_a_signature(void **state)
{
    char *msg = NULL;
    /* the SUMS file itself where the signature should be */
    assert_int_equal(verify("SUMS", "SUMS", "good.asc", &msg, NULL), -1);
    assert_non_null(strstr(msg, "checksums 'SUMS': "));
    free(msg);
    /* a keyring without keys */
    assert_int_equal(verify("SUMS", "SUMS.asc", "SUMS", &msg, NULL), -1);
    assert_non_null(strstr(msg, "holds no OpenPGP public key"));
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_armored_and_binary),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_not_a_signature),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
