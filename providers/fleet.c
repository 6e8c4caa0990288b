#include "providers/fleet.h"

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
    struct kvz_fleet_host *fh;
    const struct kvz_fleet_config *cfg;
};

/* One host: its connections, then what each shows. */
static void *observe_one(void *arg)
{
    struct job *j = arg;
    struct kvz_fleet_host *fh = j->fh;
    struct kvz_hosts_config hc = {
        .m = j->cfg->m,
        .uri = {fh->def->uri[KVZ_KIND_CONTAINER], fh->def->uri[KVZ_KIND_VM]},
        .state_dir = j->cfg->state_dir,
        .source = j->cfg->source,
        .host = fh->def->name,
        .all_kinds = j->cfg->all_kinds,
    };
    if (kvz_hosts_open(&fh->hs, &hc, &fh->err) == 0 && kvz_hosts_observe(&fh->hs, &fh->err) < 0)
        kvz_hosts_close(&fh->hs);
    if (fh->err)
        kvz_error_wrap(&fh->err, "host '%s'", fh->def->name);
    return NULL;
}

static bool in_scope(const struct kvz_fleet_config *cfg, const char *name)
{
    if (!cfg->n_only)
        return true;
    for (size_t i = 0; i < cfg->n_only; i++)
        if (!strcmp(cfg->only[i], name))
            return true;
    return false;
}

int kvz_fleet_observe(struct kvz_fleet *out, const struct kvz_fleet_config *cfg,
                      struct kvz_error **err)
{
    const struct kvz_manifest *m = cfg->m;
    struct job *jobs = NULL;
    pthread_t *th = NULL;
    bool *started = NULL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < cfg->n_only; i++)
        if (!kvz_manifest_host(m, cfg->only[i]))
            return kvz_error_set(
                err, "--host '%s' is not a host of the manifests; name one of hosts:%s",
                cfg->only[i], m->hosts_declared ? "" : " (without hosts: the one host is 'local')");
    out->v = calloc(m->n_hosts + 1, sizeof(*out->v));
    jobs = calloc(m->n_hosts + 1, sizeof(*jobs));
    th = calloc(m->n_hosts + 1, sizeof(*th));
    started = calloc(m->n_hosts + 1, sizeof(*started));
    if (!out->v || !jobs || !th || !started) {
        free(jobs);
        free(th);
        free(started);
        kvz_fleet_close(out);
        return kvz_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < m->n_hosts; i++)
        if (in_scope(cfg, m->hosts[i].name))
            out->v[out->n++].def = &m->hosts[i];
    /* libvirt's global state before the threads use it */
    virInitialize();
    for (size_t i = 0; i < out->n; i++) {
        jobs[i] = (struct job){&out->v[i], cfg};
        started[i] = pthread_create(&th[i], NULL, observe_one, &jobs[i]) == 0;
        if (!started[i])
            observe_one(&jobs[i]); /* no thread: this host here, the others go on */
    }
    for (size_t i = 0; i < out->n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    free(jobs);
    free(th);
    free(started);
    return 0;
}

void kvz_fleet_close(struct kvz_fleet *f)
{
    for (size_t i = 0; f && f->v && i < f->n; i++) {
        if (!f->v[i].err)
            kvz_hosts_close(&f->v[i].hs);
        kvz_error_free(f->v[i].err);
    }
    if (f) {
        free(f->v);
        memset(f, 0, sizeof(*f));
    }
}

void kvz_fleet_host_lock(struct kvz_host_lock *l, struct kvz_fleet_host *fh, const char *stack,
                         const char *state_dir)
{
    virConnectPtr conn = NULL; /* any kind's: one libvirtd serves them */
    for (int k = 0; !fh->err && !conn && k < KVZ_N_KINDS; k++)
        if (fh->hs.ops[k])
            conn = fh->hs.h[k].conn;
    if (!conn)
        return;
    if (kvz_host_lock_acquire(l, conn, fh->def->name, stack, state_dir, &fh->err) < 0 ||
        kvz_hosts_observe(&fh->hs, &fh->err) < 0) {
        kvz_host_lock_release(l);
        kvz_hosts_close(&fh->hs);
    }
}
