/* --require-signed: a commit's signature checked against an allowed-signers file (by
 * ssh-keygen -Y, as git does) or an OpenPGP keyring (store/openpgp.c's GPGME). */
#include "store/git.h"

#include "base/buf.h"
#include "base/fs.h"
#include "store/openpgp.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd);
}

/* Runs ssh-keygen with argv, stdin from `in`; its first output line in out. The exit status,
 * or -1 when it could not be run. */
static int ssh_keygen(char *out, size_t outsz, const char *in, char *const argv[])
{
    posix_spawn_file_actions_t fa;
    int pfd[2], status = -1;
    pid_t pid;
    out[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    int r = posix_spawnp(&pid, "ssh-keygen", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (r == 0) {
        size_t len = 0;
        ssize_t n;
        char chunk[1024];
        while ((n = read(pfd[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
            for (ssize_t i = 0; i < n && len + 1 < outsz; i++)
                out[len++] = chunk[i];
        out[len] = '\0';
        out[strcspn(out, "\n")] = '\0';
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    }
    close(pfd[0]);
    return status;
}

static int refuse(struct kvz_error **err, const char *commit, const char *url, const char *why,
                  const char *file)
{
    kvz_error_set(err, "commit %.12s of '%s' refused by --require-signed '%s': %s", commit, url,
                  file, why);
    return KVZ_GIT_SIGNATURE_REFUSED;
}

static int verify_ssh(char **signer, const git_buf *sig, const git_buf *data, const char *commit,
                      const char *url, const char *file, struct kvz_error **err)
{
    char line[1024], why[2400];
    char *sigp = NULL, *datap = NULL, *devnull = "/dev/null";
    const char *tmp = getenv("TMPDIR");
    struct kvz_buf d = KVZ_BUF_INIT;
    int ret = -1;
    kvz_buf_printf(&d, "%s/kvz-sig-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *dir = d.oom ? NULL : mkdtemp((char *)kvz_buf_cstr(&d));
    if (!dir) {
        kvz_error_set_errno(err, "signature check: cannot make a temporary directory");
        goto cleanup;
    }
    if (kvz_path_join(&sigp, dir, "commit.sig", err) < 0 ||
        kvz_path_join(&datap, dir, "commit", err) < 0)
        goto cleanup;
    if (write_file(sigp, sig->ptr, sig->size) < 0 || write_file(datap, data->ptr, data->size) < 0) {
        kvz_error_set_errno(err, "signature check: cannot write in '%s'", dir);
        goto cleanup;
    }
    char *find[] = {"ssh-keygen", "-Y", "find-principals", "-s", sigp, "-f", (char *)file, NULL};
    int st = ssh_keygen(line, sizeof(line), devnull, find);
    if (st < 0) {
        kvz_error_set(
            err,
            "ssh-keygen is needed to check ssh signatures and cannot be run; install openssh-client");
        goto cleanup;
    }
    if (st != 0) {
        char *check[] = {"ssh-keygen", "-Y", "check-novalidate", "-n", "git", "-s", sigp, NULL};
        char key[1024];
        bool good = ssh_keygen(key, sizeof(key), datap, check) == 0;
        const char *k = strstr(key, " key ");
        snprintf(why, sizeof(why),
                 good ? "it is signed by %s, a key not in that file"
                      : "its ssh signature is not valid (%s)",
                 good ? (k ? k + 5 : "an unknown key") : key);
        ret = refuse(err, commit, url, why, file);
        goto cleanup;
    }
    char principal[1024];
    snprintf(principal, sizeof(principal), "%s", line);
    char *verify[] = {"ssh-keygen", "-Y", "verify", "-f", (char *)file, "-I",
                      principal,    "-n", "git",    "-s", sigp,         NULL};
    if (ssh_keygen(line, sizeof(line), datap, verify) != 0) {
        snprintf(why, sizeof(why), "the ssh signature of '%s' does not verify (%s)", principal,
                 line);
        ret = refuse(err, commit, url, why, file);
        goto cleanup;
    }
    const char *k = strstr(line, " key ");
    struct kvz_buf s = KVZ_BUF_INIT;
    kvz_buf_printf(&s, "%s (ssh key %s)", principal, k ? k + 5 : "?");
    if (!(*signer = kvz_buf_detach(&s))) {
        kvz_error_set(err, "signature check: out of memory");
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (sigp)
        unlink(sigp);
    if (datap)
        unlink(datap);
    if (dir)
        rmdir(dir);
    free(sigp);
    free(datap);
    kvz_buf_release(&d);
    return ret;
}

/* An OpenPGP keyring begins with a binary packet or an armor line; anything else is taken for
 * an allowed-signers file. -1 when unreadable. */
static int is_keyring(const char *file)
{
    unsigned char head[32] = {0};
    FILE *f = fopen(file, "rb");
    if (!f)
        return -1;
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return (n && (head[0] & 0x80)) || (n >= 14 && !memcmp(head, "-----BEGIN PGP", 14));
}

int kvz_git_verify_commit(char **signer, git_repository *repo, const char *commit, const char *file,
                          const char *url, struct kvz_error **err)
{
    git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
    git_oid id;
    int ret = -1;
    *signer = NULL;
    int pgp = is_keyring(file);
    if (pgp < 0)
        return kvz_error_set_errno(err, "--require-signed '%s'", file);
    if (git_oid_fromstr(&id, commit) < 0 ||
        git_commit_extract_signature(&sig, &data, repo, &id, NULL) < 0)
        return refuse(err, commit, url,
                      "it is not signed; sign it (git commit -S) with a key of that file", file);
    bool ssh_sig = !strncmp(sig.ptr, "-----BEGIN SSH SIGNATURE-----", 29);
    if (ssh_sig && pgp) {
        ret = refuse(err, commit, url,
                     "it carries an ssh signature and that file is an OpenPGP keyring", file);
    } else if (!ssh_sig && !pgp) {
        ret = refuse(err, commit, url,
                     "it carries an OpenPGP signature and that file is an allowed-signers file",
                     file);
    } else if (ssh_sig) {
        ret = verify_ssh(signer, &sig, &data, commit, url, file, err);
    } else {
        struct kvz_openpgp_signer s;
        struct kvz_error *why = NULL;
        char what[200];
        snprintf(what, sizeof(what), "commit %.12s", commit);
        if (kvz_openpgp_verify(&s, data.ptr, data.size, sig.ptr, sig.size, file, what, &why) < 0) {
            ret = refuse(err, commit, url, kvz_error_msg(why), file);
            kvz_error_free(why);
        } else {
            struct kvz_buf b = KVZ_BUF_INIT;
            kvz_buf_printf(&b, "%s (OpenPGP key %s)", s.uid[0] ? s.uid : "?", s.fpr);
            *signer = kvz_buf_detach(&b);
            ret = *signer ? 0 : kvz_error_set(err, "signature check: out of memory");
        }
    }
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    return ret;
}
