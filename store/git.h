#ifndef KVZ_STORE_GIT_H
#define KVZ_STORE_GIT_H

/*
 * Manifests from git (docs/git.md): a bare mirror of each repository under the state dir
 * (<state-dir>/git/<sha256 of the redacted URL>), fetched with libgit2 (a second fetch brings
 * only what is new), and the manifest files read from a commit's tree: no work tree, no git
 * binary. Credentials: ssh-agent and ~/.ssh keys for ssh, checked against known_hosts; the
 * URL's user info or ~/.netrc for https. Never printed: every URL shown is redacted.
 */

#include "base/error.h"
#include "parser/git_source.h"

#include <stdbool.h>
#include <stddef.h>

/* The largest kvz.lock read from a commit. */
#define KVZ_GIT_LOCK_MAX (16u << 20)

/* kvz_git_checkout's return when the commit's signature is refused (--require-signed). */
#define KVZ_GIT_SIGNATURE_REFUSED (-2)

struct kvz_git_opts {
    const char *state_dir;
    bool offline;               /* use the mirror as it is, fetch nothing */
    const char *require_signed; /* allowed-signers file or OpenPGP keyring, or NULL */
    const char *pin;            /* a full commit id to use instead of resolving the ref */
};

struct kvz_git_file {
    char *name; /* "URL@COMMIT:PATH/FILE" (redacted URL): diagnostics and provenance */
    char *data; /* NUL-terminated */
    size_t len;
};

struct kvz_git_tree {
    char commit[41];
    char *url;  /* redacted */
    char *ref;  /* what was resolved: "main", "v1.4", a commit; the remote's HEAD by name */
    char *path; /* in the repository, "" for the root */
    struct kvz_git_file *files;
    size_t n_files;
    struct kvz_git_file *lock; /* kvz.lock beside the first manifest in the commit, or NULL */
    char *note;   /* something to tell the user (history rewritten, offline), or NULL */
    char *signer; /* who signed the commit, when --require-signed verified it, or NULL */
};

/*
 * Brings the mirror of src's repository up to date (unless o->offline or o->pin is already in
 * it), resolves src's ref (or takes o->pin), checks the signature when o->require_signed, and
 * reads the manifest files at src->path of that commit: the file, or the folder's *.yaml and
 * *.yml, and kvz.lock beside them (in that folder, or beside that file) when the commit has
 * one. A failed first fetch leaves no mirror; a failed later one leaves the mirror as it
 * was. Returns 0 and *out (free with kvz_git_tree_free), KVZ_GIT_SIGNATURE_REFUSED or -1 with
 * a one-line message.
 */
int kvz_git_checkout(struct kvz_git_tree **out, const struct kvz_git_source *src,
                     const struct kvz_git_opts *o, struct kvz_error **err)
    __attribute__((warn_unused_result));

void kvz_git_tree_free(struct kvz_git_tree *t);

/* The mirror's directory for a repository URL (caller frees), or NULL on out of memory. */
char *kvz_git_mirror_dir(const char *state_dir, const char *url);

/*
 * The last commit applied from `source` (a git source as given), recorded by
 * kvz_git_record_applied under the state dir: *out "" when none. For pull mode's "unchanged".
 */
int kvz_git_last_applied(char out[41], const char *state_dir, const char *source,
                         struct kvz_error **err) __attribute__((warn_unused_result));
int kvz_git_record_applied(const char *state_dir, const char *source, const char *commit,
                           struct kvz_error **err) __attribute__((warn_unused_result));

/* Internal to store/git_*.c. */
struct git_repository;
struct git_remote_callbacks;
/* Fills the credential and host-key callbacks for fetching `url`; *payload freed by
 * kvz_git_auth_free. */
int kvz_git_auth_init(struct git_remote_callbacks *cb, void **payload, const char *url,
                      struct kvz_error **err);
/* The credential or host-key failure seen during the last fetch, or NULL. */
const char *kvz_git_auth_failure(void *payload);
void kvz_git_auth_free(void *payload);
/* Checks the signature of `commit` against `file` (allowed signers or an OpenPGP keyring):
 * 0 and *signer (caller frees), or KVZ_GIT_SIGNATURE_REFUSED with the reason. */
int kvz_git_verify_commit(char **signer, struct git_repository *repo, const char *commit,
                          const char *file, const char *shown_url, struct kvz_error **err);

#endif
