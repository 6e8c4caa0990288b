#include "cmd/templates_hosts.h"

#include <stdlib.h>
#include <string.h>

static int open_one(struct kvz_tmpl_scope *s, struct kvz_cli *cli, const struct kvz_manifest *m,
                    struct kvz_error **err)
{
    struct kvz_hosts_config cfg = {
        .m = m,
        .uri = {cli->containers_uri, cli->vms_uri},
        .state_dir = cli->state_dir,
        .all_kinds = true, /* every kind's guests' templates must be seen */
    };
    if (!(s->v = calloc(1, sizeof(*s->v))))
        return kvz_error_set(err, "out of memory");
    if (kvz_hosts_open(&s->one, &cfg, err) < 0)
        return -1;
    s->one_open = true;
    if (kvz_hosts_observe(&s->one, err) < 0)
        return -1;
    s->v[s->n++] = &s->one;
    return 0;
}

int kvz_tmpl_scope_open(struct kvz_tmpl_scope *s, struct kvz_cli *cli, const struct kvz_manifest *m,
                        bool lock, struct kvz_error **err)
{
    memset(s, 0, sizeof(*s));
    if (!m->hosts_declared)
        return open_one(s, cli, m, err);
    if (cli->containers_uri || cli->vms_uri)
        return kvz_error_set(
            err,
            "--containers-uri and --vms-uri do not go with hosts:; change the host's URIs under hosts: instead");
    struct kvz_fleet_config cfg = {.m = m, .state_dir = cli->state_dir, .all_kinds = true};
    if (kvz_fleet_observe(&s->f, &cfg, err) < 0)
        return -1;
    if (!(s->v = calloc(s->f.n + 1, sizeof(*s->v))) ||
        !(s->locks = calloc(s->f.n + 1, sizeof(*s->locks))))
        return kvz_error_set(err, "out of memory");
    for (size_t i = 0; i < s->f.n; i++) {
        struct kvz_fleet_host *fh = &s->f.v[i];
        if (lock) /* local hosts too, as an apply does */
            kvz_fleet_host_lock(&s->locks[i], fh, m->stack, cli->state_dir);
        if (fh->err)
            s->n_failed++;
        else
            s->v[s->n++] = &fh->hs;
    }
    return 0;
}

const char *kvz_tmpl_scope_host(const struct kvz_tmpl_scope *s, size_t i)
{
    for (size_t j = 0; j < s->f.n; j++)
        if (&s->f.v[j].hs == s->v[i])
            return s->f.v[j].def->name;
    return KVZ_LOCAL_HOST;
}

void kvz_tmpl_scope_close(struct kvz_tmpl_scope *s)
{
    for (size_t i = 0; s->locks && i < s->f.n; i++)
        kvz_host_lock_release(&s->locks[i]);
    free(s->locks);
    kvz_fleet_close(&s->f);
    if (s->one_open)
        kvz_hosts_close(&s->one);
    free(s->v);
    memset(s, 0, sizeof(*s));
}
