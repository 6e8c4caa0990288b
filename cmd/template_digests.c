#include "cmd/template_digests.h"

#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* Whether a guest of m that uses t exists on one of the hosts: only such templates need
 * resolving. */
static bool in_use(const struct kvz_manifest *m, const struct kvz_template *t,
                   const struct kvz_hosts *const *hs, size_t n)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *w = &m->resources[i];
        if (w->tmpl != t && w->cdrom != t && w->drivers != t)
            continue;
        for (size_t h = 0; h < n; h++) {
            const struct kvz_observed *o = hs[h] ? &hs[h]->observed[w->kind] : NULL;
            for (size_t j = 0; o && j < o->n; j++)
                if (!strcmp(o->v[j].name, w->name))
                    return true;
        }
    }
    return false;
}

int kvz_template_digests(char ***out, struct kvz_cli *cli, const struct kvz_manifest *m,
                         const struct kvz_hosts *const *hs, size_t n)
{
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    char **v = calloc(m->n_templates + 1, sizeof(char *));
    *out = NULL;
    if (!v) {
        kvz_out_error(cli, "plan: out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->n_templates; i++) {
        const struct kvz_template *t = &m->templates[i];
        char digest[72];
        if (!in_use(m, t, hs, n))
            continue;
        if (!s && kvz_store_open(&s, cli->state_dir, NULL, &err) < 0)
            break;
        int known = kvz_store_resolve(digest, s, t, &err);
        kvz_error_clear(&err); /* a local file that cannot be read now is simply unknown */
        if (known == 1 && !(v[i] = strdup(digest))) {
            kvz_error_set(&err, "plan: out of memory");
            break;
        }
    }
    kvz_store_free(s);
    if (err) {
        kvz_out_kvz_error(cli, err);
        kvz_error_free(err);
        kvz_template_digests_free(v, m->n_templates);
        return -1;
    }
    *out = v;
    return 0;
}

void kvz_template_digests_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
