#include "planner/executor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

struct exec {
    const struct kvz_plan *p;
    struct kvz_hosts *hs;
    const struct kvz_exec_opts *o;
    pthread_mutex_t lock;  /* next, results */
    pthread_mutex_t rlock; /* report calls */
    size_t next;
    size_t done, failed;
    /* templates that failed to pull: their resources fail without being touched */
    const struct kvz_template **bad;
    size_t n_bad;
};

static void report(struct exec *x, enum kvz_exec_what what, const struct kvz_change *c,
                   const char *name, const char *msg)
{
    if (!x->o->report)
        return;
    struct kvz_exec_event ev = {what, c, name, msg};
    pthread_mutex_lock(&x->rlock);
    x->o->report(x->o->report_ctx, &ev);
    pthread_mutex_unlock(&x->rlock);
}

/* Providers' progress lines, routed to the same report. */
static void provider_log(void *ctx, const char *resource, const char *msg)
{
    report(ctx, KVZ_EXEC_PROGRESS, NULL, resource, msg);
}

static int power(struct exec *x, const struct kvz_change *c, bool on, struct kvz_error **err)
{
    const struct kvz_provider_ops *ops = x->hs->ops[c->kind];
    if (!ops->set_power)
        return kvz_error_set(err, "the %s provider cannot %s guests", ops->kind,
                             on ? "start" : "stop");
    report(x, KVZ_EXEC_PROGRESS, c, c->name, on ? "starting" : "stopping");
    return ops->set_power(&x->hs->h[c->kind], c->name, on, err);
}

static bool template_failed(struct exec *x, const struct kvz_resource *w)
{
    for (size_t i = 0; w && i < x->n_bad; i++)
        if (x->bad[i] == w->tmpl || x->bad[i] == w->cdrom)
            return true;
    return false;
}

/* One change; every step is idempotent, so a re-run after a crash converges. */
static int run_change(struct exec *x, const struct kvz_change *c, struct kvz_error **err)
{
    const struct kvz_provider_ops *ops = x->hs->ops[c->kind];
    struct kvz_host *h = &x->hs->h[c->kind];
    if (!ops)
        return kvz_error_set(err, "no connection for %ss", kvz_plan_kind_str(c->kind));
    if (template_failed(x, c->want))
        return kvz_error_set(err, "its template could not be pulled");
    switch (c->action) {
    case KVZ_ACTION_NOOP:
        return 0;
    case KVZ_ACTION_CREATE:
        return ops->create(h, c->want, err);
    case KVZ_ACTION_REPLACE:
        report(x, KVZ_EXEC_PROGRESS, c, c->name, "removing the old guest");
        if (ops->remove(h, c->name, err) < 0)
            return -1;
        return ops->create(h, c->want, err);
    case KVZ_ACTION_DELETE:
        return ops->remove(h, c->name, err);
    case KVZ_ACTION_START:
        return power(x, c, true, err);
    case KVZ_ACTION_STOP:
        return power(x, c, false, err);
    case KVZ_ACTION_UPDATE:
        break;
    }
    bool want_run = c->want->state == KVZ_POWER_RUNNING;
    if (!want_run && c->have->running && power(x, c, false, err) < 0)
        return -1;
    if (ops->update(h, c, err) < 0)
        return -1;
    if (want_run && !c->have->running)
        return power(x, c, true, err);
    return 0;
}

static void *worker(void *arg)
{
    struct exec *x = arg;
    for (;;) {
        pthread_mutex_lock(&x->lock);
        size_t i = x->next++;
        pthread_mutex_unlock(&x->lock);
        if (i >= x->p->n_changes)
            return NULL;
        const struct kvz_change *c = &x->p->changes[i];
        if (c->action == KVZ_ACTION_NOOP)
            continue;
        struct kvz_error *e = NULL;
        report(x, KVZ_EXEC_BEGIN, c, c->name, kvz_action_str(c->action));
        int r = run_change(x, c, &e);
        report(x, r < 0 ? KVZ_EXEC_FAILED : KVZ_EXEC_DONE, c, c->name,
               r < 0 ? kvz_error_msg(e) : NULL);
        kvz_error_free(e);
        pthread_mutex_lock(&x->lock);
        if (r < 0)
            x->failed++;
        else
            x->done++;
        pthread_mutex_unlock(&x->lock);
    }
}

static bool seen(const struct kvz_template *const *v, size_t n, const struct kvz_template *t)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == t)
            return true;
    return false;
}

/* Templates before the resources that use them: each distinct one once. */
static int pull_templates(struct exec *x)
{
    const struct kvz_plan *p = x->p;
    const struct kvz_template **v = calloc(2 * p->n_changes + 1, sizeof(*v));
    enum kvz_content_kind *kinds = calloc(2 * p->n_changes + 1, sizeof(*kinds));
    struct kvz_error **errs = NULL;
    size_t n = 0;
    int ret = -1;
    x->bad = calloc(2 * p->n_changes + 1, sizeof(*x->bad));
    if (!v || !kinds || !x->bad)
        goto cleanup;
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        if (c->action != KVZ_ACTION_CREATE && c->action != KVZ_ACTION_REPLACE)
            continue;
        const struct kvz_resource *w = c->want;
        if (w->tmpl && !seen(v, n, w->tmpl)) {
            kinds[n] = w->kind == KVZ_KIND_VM ? KVZ_CONTENT_DISK : KVZ_CONTENT_ROOTFS;
            v[n++] = w->tmpl;
        }
        if (w->cdrom && !seen(v, n, w->cdrom)) {
            kinds[n] = KVZ_CONTENT_ISO;
            v[n++] = w->cdrom;
        }
    }
    errs = calloc(n + 1, sizeof(*errs));
    if (!errs)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        report(x, KVZ_EXEC_PULL, NULL, v[i]->name, v[i]->url);
    (void)x->o->pull(x->o->pull_ctx, v, kinds, n, errs); /* failures are in errs[] */
    for (size_t i = 0; i < n; i++) {
        if (!errs[i])
            continue;
        report(x, KVZ_EXEC_FAILED, NULL, v[i]->name, kvz_error_msg(errs[i]));
        x->bad[x->n_bad++] = v[i];
        kvz_error_free(errs[i]);
    }
    ret = 0;
cleanup:
    free(v);
    free(kinds);
    free(errs);
    return ret;
}

int kvz_plan_execute(struct kvz_exec_result *out, const struct kvz_plan *p, struct kvz_hosts *hs,
                     const struct kvz_exec_opts *o, struct kvz_error **err)
{
    struct exec x = {.p = p, .hs = hs, .o = o};
    unsigned n = o->parallel ? o->parallel : 4;
    pthread_t *threads = NULL;
    unsigned started = 0;
    int ret = -1;
    memset(out, 0, sizeof(*out));
    pthread_mutex_init(&x.lock, NULL);
    pthread_mutex_init(&x.rlock, NULL);
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        hs->h[k].log = provider_log;
        hs->h[k].log_ctx = &x;
    }
    if (o->pull && pull_templates(&x) < 0) {
        kvz_error_set(err, "apply: out of memory");
        goto cleanup;
    }
    if (n > p->n_changes)
        n = p->n_changes ? (unsigned)p->n_changes : 1;
    threads = calloc(n, sizeof(*threads));
    if (!threads) {
        kvz_error_set(err, "apply: out of memory");
        goto cleanup;
    }
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, worker, &x) != 0)
            break;
    if (!started)
        worker(&x); /* no thread could start: do the work here, one by one */
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    out->done = x.done;
    out->failed = x.failed;
    if (x.failed)
        kvz_error_set(err, "%zu of %zu changes failed", x.failed, x.failed + x.done);
    else
        ret = 0;
cleanup:
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        hs->h[k].log = NULL;
        hs->h[k].log_ctx = NULL;
    }
    free(threads);
    free(x.bad);
    pthread_mutex_destroy(&x.lock);
    pthread_mutex_destroy(&x.rlock);
    return ret;
}
