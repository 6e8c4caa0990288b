#include "planner/executor.h"

#include "parser/template_url.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct exec {
    const struct kvz_plan *p;
    struct kvz_hosts *hs;
    const struct kvz_exec_opts *o;
    pthread_mutex_t lock;  /* next, results */
    pthread_mutex_t rlock; /* report calls */
    enum kvz_phase phase;  /* the changes of this phase run now (kvz_change_phase) */
    size_t next;
    size_t done, failed;
    bool *change_failed; /* by change index: what later phases depend on */
    /* the templates the plan uses, pulled before any change; a resource whose template failed
     * fails without being touched. img[i] is valid when !errs[i]. */
    const struct kvz_template **tmpl;
    enum kvz_content_kind *use;
    struct kvz_image *img;
    struct kvz_error **errs;
    size_t n_tmpl;
    /* per change: why stopping it before the changes ran failed, or NULL */
    struct kvz_error **stop_errs;
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
    /* the provider reports "starting"/"stopping" itself */
    if (ops->set_power(&x->hs->h[c->kind], c->name, on, err) < 0)
        return -1;
    /* a start or stop of its own is recorded as applied: only what others do is drift */
    return ops->record && c->want ? ops->record(&x->hs->h[c->kind], c, err) : 0;
}

/* The pulled image of template t: *out NULL when the plan did not pull it; -1 when it failed. */
static int pulled(const struct kvz_image **out, const struct exec *x, const struct kvz_template *t)
{
    *out = NULL;
    for (size_t i = 0; t && i < x->n_tmpl; i++)
        if (x->tmpl[i] == t) {
            if (x->errs[i])
                return -1;
            *out = &x->img[i];
        }
    return 0;
}

/* A change of an earlier phase that failed and that `c` needs: the network a guest attaches
 * to, or a guest still on a network to delete. NULL when there is none. */
static const struct kvz_change *failed_dependency(const struct exec *x, const struct kvz_change *c)
{
    const struct kvz_network *net = c->want ? &c->want->network : NULL;
    for (size_t i = 0; i < x->p->n_changes; i++) {
        const struct kvz_change *o = &x->p->changes[i];
        if (!x->change_failed[i] || kvz_change_phase(o) >= kvz_change_phase(c))
            continue;
        if (o->kind == KVZ_KIND_NETWORK && net && net->type == KVZ_NET_NETWORK && net->name &&
            !strcmp(net->name, o->name))
            return o;
        if (c->kind == KVZ_KIND_NETWORK && o->have && o->have->network.type == KVZ_NET_NETWORK &&
            o->have->network.name && !strcmp(o->have->network.name, c->name))
            return o;
    }
    return NULL;
}

/* Whether change c stops its guest for good (stopped together before the changes run). */
static bool stops_for_good(const struct exec *x, const struct kvz_change *c)
{
    return c->have && c->have->running &&
           (c->action == KVZ_ACTION_DELETE || c->action == KVZ_ACTION_STOP ||
            (x->o->force && c->action == KVZ_ACTION_REPLACE));
}

/* Waiting is not work: the guests that stop for good are all asked at once and waited for
 * together, per kind, before the guests' changes run (after the networks' phase: a guest whose
 * network failed is not tried, so it is not stopped either); a change whose stop failed fails
 * with it. */
static int stop_first(struct exec *x)
{
    const struct kvz_plan *p = x->p;
    const char **names = calloc(p->n_changes + 1, sizeof(*names));
    unsigned *timeouts = calloc(p->n_changes + 1, sizeof(*timeouts));
    size_t *idx = calloc(p->n_changes + 1, sizeof(*idx));
    struct kvz_error **errs = calloc(p->n_changes + 1, sizeof(*errs));
    int ret = -1;
    if (!(x->stop_errs = calloc(p->n_changes + 1, sizeof(*x->stop_errs))) || !names || !timeouts ||
        !idx || !errs)
        goto cleanup;
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_provider_ops *ops = x->hs->ops[k];
        size_t n = 0;
        for (size_t i = 0; ops && ops->stop_many && i < p->n_changes; i++) {
            const struct kvz_change *c = &p->changes[i];
            if ((int)c->kind != k || kvz_change_phase(c) != KVZ_PHASE_GUESTS ||
                !stops_for_good(x, c) || failed_dependency(x, c))
                continue;
            /* the manifest's timeout for a guest it still names, else the recorded one */
            timeouts[n] = c->want ? c->want->stop_timeout : c->have->stop_timeout;
            names[n] = c->name;
            idx[n++] = i;
        }
        if (!n)
            continue;
        bool force = x->o->force;
        if (ops->stop_many(&x->hs->h[k], names, timeouts, n, force, errs) < 0)
            for (size_t j = 0; j < n; j++)
                if (errs[j])
                    kvz_error_move(&x->stop_errs[idx[j]], &errs[j]);
    }
    ret = 0;
cleanup:
    free(names);
    free(timeouts);
    free(idx);
    free(errs);
    return ret;
}

/* One change; every step is idempotent, so a re-run after a crash converges. */
static int run_change(struct exec *x, size_t i, const struct kvz_change *c, struct kvz_error **err)
{
    const struct kvz_provider_ops *ops = x->hs->ops[c->kind];
    struct kvz_host *h = &x->hs->h[c->kind];
    struct kvz_media media = {0};
    if (!ops)
        return kvz_error_set(err, "no connection for %ss", kvz_kind_str(c->kind));
    const struct kvz_change *dep = failed_dependency(x, c);
    if (dep)
        return kvz_error_set(err, "not tried: %s '%s' failed (%s)", kvz_kind_str(dep->kind),
                             dep->name, kvz_action_str(dep->action));
    if (x->stop_errs && x->stop_errs[i])
        return kvz_error_move(err, &x->stop_errs[i]);
    if (c->want && (pulled(&media.image, x, c->want->tmpl) < 0 ||
                    pulled(&media.cdrom, x, c->want->cdrom) < 0 ||
                    pulled(&media.drivers, x, c->want->drivers) < 0))
        return kvz_error_set(err, "its template could not be pulled");
    switch (c->action) {
    case KVZ_ACTION_NOOP:
        return 0;
    case KVZ_ACTION_CREATE:
        return ops->create(h, c->want, &media, err);
    case KVZ_ACTION_REPLACE:
        report(x, KVZ_EXEC_PROGRESS, c, c->name, "removing the old guest");
        if (ops->remove(h, c->name, err) < 0)
            return -1;
        return ops->create(h, c->want, &media, err);
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
    if (ops->update(h, c, &media, err) < 0)
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
        if (c->action == KVZ_ACTION_NOOP || kvz_change_phase(c) != x->phase)
            continue;
        struct kvz_error *e = NULL;
        report(x, KVZ_EXEC_BEGIN, c, c->name, kvz_action_str(c->action));
        int r = run_change(x, i, c, &e);
        report(x, r < 0 ? KVZ_EXEC_FAILED : KVZ_EXEC_DONE, c, c->name,
               r < 0 ? kvz_error_msg(e) : NULL);
        kvz_error_free(e);
        pthread_mutex_lock(&x->lock);
        if (r < 0) {
            x->failed++;
            x->change_failed[i] = true;
        } else {
            x->done++;
        }
        pthread_mutex_unlock(&x->lock);
    }
}

/* Adds template t for use `use` once. */
static void want_template(struct exec *x, const struct kvz_template *t, enum kvz_content_kind use)
{
    if (!t)
        return;
    for (size_t i = 0; i < x->n_tmpl; i++)
        if (x->tmpl[i] == t)
            return;
    x->tmpl[x->n_tmpl] = t;
    x->use[x->n_tmpl++] = use;
}

/* Templates before the resources that use them: each distinct one once, `parallel` at a time.
 * The images stay held (a prune leaves them alone) until the apply ends. */
static int pull_templates(struct exec *x)
{
    const struct kvz_plan *p = x->p;
    size_t cap = 3 * p->n_changes + 1;
    if (!(x->tmpl = calloc(cap, sizeof(*x->tmpl))) || !(x->use = calloc(cap, sizeof(*x->use))))
        return -1;
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct kvz_change *c = &p->changes[i];
        const struct kvz_resource *w = c->want;
        bool makes = c->action == KVZ_ACTION_CREATE || c->action == KVZ_ACTION_REPLACE;
        if (!w || (!makes && c->action != KVZ_ACTION_UPDATE))
            continue;
        if (makes)
            want_template(x, w->tmpl,
                          w->kind == KVZ_KIND_VM ? KVZ_CONTENT_DISK : KVZ_CONTENT_ROOTFS);
        /* an update that redefines a vm, or swaps a medium, attaches the manifest's media */
        want_template(x, w->cdrom, KVZ_CONTENT_ISO);
        want_template(x, w->drivers, KVZ_CONTENT_ISO);
    }
    if (!(x->img = calloc(x->n_tmpl + 1, sizeof(*x->img))) ||
        !(x->errs = calloc(x->n_tmpl + 1, sizeof(*x->errs))))
        return -1;
    if (!x->n_tmpl)
        return 0;
    if (!x->o->store) {
        for (size_t i = 0; i < x->n_tmpl; i++)
            kvz_error_set(&x->errs[i], "template '%s': no template store to pull it from",
                          x->tmpl[i]->name);
    } else {
        for (size_t i = 0; i < x->n_tmpl; i++) {
            char *shown = kvz_url_redact(x->tmpl[i]->url);
            report(x, KVZ_EXEC_PULL, NULL, x->tmpl[i]->name, shown ? shown : "");
            free(shown);
        }
        unsigned n = x->o->parallel ? x->o->parallel : 4;
        if (kvz_store_pull_many(x->img, x->o->store, x->tmpl, x->use, x->n_tmpl, n, x->errs) == 0)
            return 0; /* else each failure is in errs[] */
    }
    for (size_t i = 0; i < x->n_tmpl; i++)
        if (x->errs[i])
            report(x, KVZ_EXEC_FAILED, NULL, x->tmpl[i]->name, kvz_error_msg(x->errs[i]));
    return 0;
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
    if (pull_templates(&x) < 0 || !(x.change_failed = calloc(p->n_changes + 1, sizeof(bool)))) {
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
    /* networks before the guests that use them, deletions of networks after them */
    for (x.phase = 0; x.phase < KVZ_N_PHASES; x.phase++) {
        size_t todo = 0;
        for (size_t i = 0; i < p->n_changes; i++)
            todo += p->changes[i].action != KVZ_ACTION_NOOP &&
                    kvz_change_phase(&p->changes[i]) == x.phase;
        if (!todo)
            continue;
        if (x.phase == KVZ_PHASE_GUESTS && stop_first(&x) < 0) {
            kvz_error_set(err, "apply: out of memory");
            goto cleanup;
        }
        x.next = 0;
        for (started = 0; started < n && started < todo; started++)
            if (pthread_create(&threads[started], NULL, worker, &x) != 0)
                break;
        if (!started)
            worker(&x); /* no thread could start: do the work here, one by one */
        for (unsigned i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
    }
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
    for (size_t i = 0; x.img && x.errs && i < x.n_tmpl; i++) {
        kvz_image_release(&x.img[i]);
        kvz_error_free(x.errs[i]);
    }
    free(x.change_failed);
    free(x.tmpl);
    free(x.use);
    free(x.img);
    free(x.errs);
    for (size_t i = 0; x.stop_errs && i < p->n_changes; i++)
        kvz_error_free(x.stop_errs[i]);
    free(x.stop_errs);
    pthread_mutex_destroy(&x.lock);
    pthread_mutex_destroy(&x.rlock);
    return ret;
}
