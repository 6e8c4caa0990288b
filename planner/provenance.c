#include "planner/provenance.h"

#include "base/buf.h"
#include "parser/template_url.h"

#include <git2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* "URL@COMMIT:PATH" for a file in a git work tree; 0 and nothing added when it is not in one. */
static int git_source(struct kvz_buf *b, const char *abs)
{
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_oid head;
    unsigned flags = 0;
    int found = 0;
    if (git_repository_open_ext(&repo, abs, 0, NULL) < 0)
        goto cleanup;
    const char *wd = git_repository_workdir(repo);
    if (!wd || strncmp(abs, wd, strlen(wd)) || git_reference_name_to_id(&head, repo, "HEAD") < 0)
        goto cleanup;
    const char *rel = abs + strlen(wd);
    const char *url = NULL;
    if (git_remote_lookup(&remote, repo, "origin") == 0)
        url = git_remote_url(remote);
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), &head);
    bool dirty = git_status_file(&flags, repo, rel) == 0 && flags != GIT_STATUS_CURRENT;
    /* Recorded on every guest, where anyone who may read the domain's XML sees it. */
    char *shown = url ? kvz_url_redact(url) : NULL;
    kvz_buf_printf(b, "%s@%s%s:%s", shown ? shown : wd, hex, dirty ? "-dirty" : "", rel);
    free(shown);
    found = 1;
cleanup:
    git_remote_free(remote);
    git_repository_free(repo);
    return found;
}

int kvz_provenance(char **out, const struct kvz_manifest *m, struct kvz_error **err)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    git_libgit2_init();
    for (size_t i = 0; i < m->n_files; i++) {
        char *abs = realpath(m->files[i], NULL);
        if (i)
            kvz_buf_puts(&b, ", ");
        if (!abs || !git_source(&b, abs))
            kvz_buf_puts(&b, abs ? abs : m->files[i]);
        free(abs);
    }
    git_libgit2_shutdown();
    *out = kvz_buf_detach(&b);
    if (!*out)
        return kvz_error_set(err, "provenance: out of memory");
    return 0;
}
