#include "planner/diff.h"

#include "parser/spec_digest.h"
#include "parser/units.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kvz_diff_problem(struct diff *d, const char *fmt, ...)
{
    va_list ap;
    if (d->n_problems++)
        kvz_buf_puts(&d->problems, "; ");
    va_start(ap, fmt);
    kvz_buf_vprintf(&d->problems, fmt, ap);
    va_end(ap);
}

struct kvz_change *kvz_diff_add_change(struct diff *d, enum kvz_kind kind, const char *name,
                                       enum kvz_action action)
{
    struct kvz_plan *p = d->p;
    if (p->n_changes == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct kvz_change *v = realloc(p->changes, cap * sizeof(*v));
        if (!v) {
            d->oom = true;
            return NULL;
        }
        p->changes = v;
        d->cap = cap;
    }
    struct kvz_change *c = &p->changes[p->n_changes];
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    if (!c->name) {
        d->oom = true;
        return NULL;
    }
    p->n_changes++;
    c->kind = kind;
    c->action = action;
    return c;
}

struct kvz_field_delta *kvz_diff_add_field(struct diff *d, struct kvz_change *c, const char *field,
                                           enum kvz_field_type type, bool live)
{
    struct kvz_field_delta *v = realloc(c->fields, (c->n_fields + 1) * sizeof(*v));
    if (!v) {
        d->oom = true;
        return NULL;
    }
    c->fields = v;
    struct kvz_field_delta *f = &v[c->n_fields++];
    memset(f, 0, sizeof(*f));
    f->field = field;
    f->type = type;
    f->live = live;
    return f;
}

void kvz_diff_add_num(struct diff *d, struct kvz_change *c, const char *field,
                      enum kvz_field_type type, uint64_t before, uint64_t after, bool live)
{
    struct kvz_field_delta *f = kvz_diff_add_field(d, c, field, type, live);
    if (f) {
        f->before = before;
        f->after = after;
    }
}

void kvz_diff_add_str(struct diff *d, struct kvz_change *c, const char *field, const char *before,
                      const char *after, bool live)
{
    struct kvz_field_delta *f = kvz_diff_add_field(d, c, field, KVZ_FIELD_STRING, live);
    if (!f)
        return;
    f->sbefore = before ? strdup(before) : NULL;
    f->safter = after ? strdup(after) : NULL;
    if ((before && !f->sbefore) || (after && !f->safter))
        d->oom = true;
}

void kvz_diff_set_reason(struct diff *d, struct kvz_change *c, const char *fmt, ...)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(c->reason);
    c->reason = kvz_buf_detach(&b);
    if (!c->reason)
        d->oom = true;
}

bool kvz_diff_in_targets(const struct kvz_plan_input *in, const char *name)
{
    if (!in->n_targets)
        return true;
    for (size_t i = 0; i < in->n_targets; i++)
        if (!strcmp(in->targets[i], name))
            return true;
    return false;
}

const struct kvz_observed_resource *kvz_diff_find_observed(const struct kvz_plan_input *in,
                                                           enum kvz_kind kind, const char *name)
{
    const struct kvz_observed *o = in->observed[kind];
    for (size_t i = 0; o && i < o->n; i++)
        if (!strcmp(o->v[i].name, name))
            return &o->v[i];
    return NULL;
}

struct kvz_change *kvz_diff_change_of(struct diff *d, enum kvz_kind kind, const char *name)
{
    for (size_t i = 0; i < d->p->n_changes; i++)
        if (d->p->changes[i].kind == kind && !strcmp(d->p->changes[i].name, name))
            return &d->p->changes[i];
    return NULL;
}

static const char *net_str(const struct kvz_network *n, char *buf, size_t size)
{
    switch (n->type) {
    case KVZ_NET_NONE:
        return "none";
    case KVZ_NET_BRIDGE:
        snprintf(buf, size, "bridge %s", n->name ? n->name : "?");
        return buf;
    case KVZ_NET_NETWORK:
        break;
    }
    return n->name ? n->name : "default";
}

static bool net_equal(const struct kvz_network *a, const struct kvz_network *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == KVZ_NET_NONE)
        return true;
    return a->name && b->name && !strcmp(a->name, b->name);
}

bool kvz_diff_field_live(const struct diff *d, const struct kvz_resource *w,
                         const struct kvz_observed_resource *h, const char *field)
{
    const struct kvz_provider_ops *ops = d->in->ops[w->kind];
    if (ops && ops->field_is_live)
        return ops->field_is_live(d->in->hosts[w->kind], w, h, field);
    bool vm = w->kind == KVZ_KIND_VM;
    if (w->kind == KVZ_KIND_NETWORK)
        return strcmp(field, "dns") != 0; /* leases, dhcp range, autostart: network update */
    if (!strcmp(field, "memory"))
        return !vm || (w->memory <= h->max_memory && w->max_memory == h->max_memory);
    if (!strcmp(field, "cpus"))
        return !vm || (w->cpus_milli <= (uint64_t)h->max_cpus * 1000 && w->max_cpus == h->max_cpus);
    if (!strcmp(field, "disk"))
        return vm; /* containers: online ext4 resize is not allowed everywhere */
    if (!strcmp(field, "network"))
        return vm;
    if (!strcmp(field, "autostart") || !strcmp(field, "protect") || !strcmp(field, "seed"))
        return true;
    return false; /* max_memory, max_cpus, hostname, config: restart */
}

/* "memory", "memory and cpus", "memory, cpus and disk" */
static void join_fields(struct kvz_buf *b, const struct kvz_change *c)
{
    for (size_t i = 0; i < c->n_fields; i++) {
        if (i)
            kvz_buf_puts(b, i + 1 == c->n_fields ? " and " : ", ");
        kvz_buf_puts(b, c->fields[i].field);
    }
}

/* What the manifest's template `t` holds, as far as is known without a download: resolved by
 * the caller, or declared. `buf` holds a declared digest. */
static const char *template_now(char buf[80], const struct kvz_plan_input *in,
                                const struct kvz_template *t)
{
    const struct kvz_manifest *m = in->m;
    for (size_t i = 0; t && m && in->template_digests && i < m->n_templates; i++)
        if (&m->templates[i] == t && in->template_digests[i])
            return in->template_digests[i];
    if (!t || t->algo != KVZ_DIGEST_SHA256 || !t->digest)
        return NULL;
    snprintf(buf, 80, "sha256:%s", t->digest);
    return buf;
}

/* The content digest (hex) of template t as far as it is known without a download, or NULL. */
static const char *medium_digest(char buf[80], const struct diff *d, const struct kvz_template *t)
{
    const char *now = template_now(buf, d->in, t);
    return now && !strncmp(now, "sha256:", 7) ? now + 7 : NULL;
}

static void add_warning(struct diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(struct diff *d, const char *fmt, ...)
{
    struct kvz_plan *p = d->p;
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *w = kvz_buf_detach(&b);
    char **v = w ? realloc(p->warnings, (p->n_warnings + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(w);
        d->oom = true;
        return;
    }
    p->warnings = v;
    v[p->n_warnings++] = w;
}

/* What the provider says about w on this host that is no change. */
static void plan_caveat(struct diff *d, const struct kvz_resource *w,
                        const struct kvz_observed_resource *h)
{
    const struct kvz_provider_ops *ops = d->in->ops[w->kind];
    char *text = NULL;
    struct kvz_error *e = NULL;
    if (!ops || !ops->caveat)
        return;
    if (ops->caveat(&text, d->in->hosts[w->kind], w, h, &e) < 0)
        add_warning(d, "%s '%s': %s", kvz_kind_str(w->kind), w->name, kvz_error_msg(e));
    else if (text)
        add_warning(d, "%s '%s': %s", kvz_kind_str(w->kind), w->name, text);
    kvz_error_free(e);
    free(text);
}

/* "sha256:0123456789ab", or a path as is */
static void medium_shown(char *out, size_t cap, const char *id)
{
    if (strlen(id) == 64 && !strchr(id, '/'))
        snprintf(out, cap, "sha256:%.12s", id);
    else
        snprintf(out, cap, "%s", id);
}

/* A cdrom drive's medium: `t` wanted, `have` the digest or path of what is in it. */
static void plan_medium(struct diff *d, struct kvz_change *c, const struct kvz_resource *w,
                        const struct kvz_observed_resource *h, const char *field,
                        const struct kvz_template *t, const char *have)
{
    char before[300];
    if (!t && !have)
        return;
    if (t && have) {
        char buf[80];
        const char *want = medium_digest(buf, d, t);
        /* a template not cached and without a sha256 has other bytes than any attached */
        if (want && !strcmp(want, have))
            return;
    }
    if (have)
        medium_shown(before, sizeof(before), have);
    kvz_diff_add_str(d, c, field, have ? before : NULL, t ? t->name : NULL,
                     kvz_diff_field_live(d, w, h, field));
}

/* What only vms have: media, the answer file, TPM and Secure Boot. */
static void plan_vm_fields(struct diff *d, struct kvz_change *c, const struct kvz_resource *w,
                           const struct kvz_observed_resource *h)
{
    plan_medium(d, c, w, h, "cdrom", w->cdrom, h->cdrom);
    plan_medium(d, c, w, h, "drivers", w->drivers, h->drivers);
    char want[KVZ_SHA256_HEX] = "", a[24] = "", b[24] = "";
    if (w->unattend && w->os == KVZ_OS_WINDOWS)
        kvz_sha256_hex(want, w->unattend, strlen(w->unattend));
    if (strcmp(want, h->unattend ? h->unattend : "")) {
        if (h->unattend)
            snprintf(b, sizeof(b), "sha256:%.12s", h->unattend);
        if (want[0])
            snprintf(a, sizeof(a), "sha256:%.12s", want);
        kvz_diff_add_str(d, c, "unattend", b[0] ? b : NULL, a[0] ? a : NULL,
                         kvz_diff_field_live(d, w, h, "unattend"));
    }
    /* what the host cannot give is a warning (plan_caveat), not a change forever */
    bool tpm = w->tpm && h->tpm_offered;
    bool sb = w->secure_boot && w->firmware == KVZ_FW_UEFI && h->secure_boot_offered;
    if (tpm != h->tpm)
        kvz_diff_add_num(d, c, "tpm", KVZ_FIELD_BOOL, h->tpm, tpm,
                         kvz_diff_field_live(d, w, h, "tpm"));
    if (sb != h->secure_boot)
        kvz_diff_add_num(d, c, "secure_boot", KVZ_FIELD_BOOL, h->secure_boot, sb,
                         kvz_diff_field_live(d, w, h, "secure_boot"));
}

static void plan_existing(struct diff *d, const struct kvz_resource *w,
                          const struct kvz_observed_resource *h)
{
    const char *kind = kvz_kind_str(w->kind);
    bool vm = w->kind == KVZ_KIND_VM;
    char spec[KVZ_SHA256_HEX], config[KVZ_SHA256_HEX];
    if (kvz_spec_digest(spec, w, NULL) < 0 || kvz_config_digest(config, w, NULL) < 0) {
        d->oom = true;
        return;
    }
    /* the manifest still says what was applied: any difference is out-of-band drift */
    bool drift = h->spec_digest && !strcmp(h->spec_digest, spec);

    /* what makes the guest be made anew; the other deltas are shown with it all the same */
    char declared[80];
    const char *now = template_now(declared, d->in, w->tmpl);
    enum kvz_template_match tm =
        kvz_template_compare(h->template_digest, h->template_source, w->tmpl, now);
    bool template_changed = tm == KVZ_TEMPLATE_CHANGED;
    if (tm == KVZ_TEMPLATE_PIN_UNKNOWN)
        add_warning(
            d,
            "%s '%s': kvz.lock pins template '%s' to %s:%.12s, whose bytes are not in the cache to compare with the guest's %.19s; run 'kvz templates pull' so the plan can tell whether it changed",
            kind, w->name, w->tmpl->name, kvz_digest_algo_str(w->tmpl->algo), w->tmpl->digest,
            h->template_digest);
    const char *replace = !h->storage_ok || h->problem ? (h->problem ? h->problem
                                                          : vm       ? "disk missing"
                                                                     : "rootfs missing")
                          : template_changed           ? (vm ? "image changed" : "template changed")
                          : !vm && (w->disk == 0) != (h->disk == 0)
                              ? (w->disk ? "disk added" : "disk removed")
                              : NULL;
    if (replace && (w->protect || h->protect)) {
        kvz_diff_problem(
            d, "%s '%s' is protected and would be replaced (%s); set protect: false to allow it",
            kind, w->name, replace);
        return;
    }
    if (!replace && w->disk && h->disk && w->disk < h->disk) {
        struct kvz_buf a = KVZ_BUF_INIT, b = KVZ_BUF_INIT;
        kvz_size_human(&a, h->disk);
        kvz_size_human(&b, w->disk);
        kvz_diff_problem(d, "%s '%s': disk cannot shrink from %s to %s; keep disk: %s or more",
                         kind, w->name, kvz_buf_cstr(&a), kvz_buf_cstr(&b), kvz_buf_cstr(&a));
        kvz_buf_release(&a);
        kvz_buf_release(&b);
        return;
    }

    struct kvz_change *c = kvz_diff_add_change(d, w->kind, w->name, KVZ_ACTION_UPDATE);
    if (!c)
        return;
    c->want = w;
    c->have = h;
    if (template_changed) {
        /* only digests are known of what the guest was made from */
        char before[24], after[24];
        snprintf(before, sizeof(before), "%.19s", h->template_digest);
        snprintf(after, sizeof(after), "%.19s", now ? now : "(new source)");
        kvz_diff_add_str(d, c, vm ? "image" : "template", before, after, false);
    }
    if (h->seed_missing)
        kvz_diff_add_str(d, c, "seed", "missing", "rebuilt", kvz_diff_field_live(d, w, h, "seed"));
    if (w->memory != h->memory)
        kvz_diff_add_num(d, c, "memory", KVZ_FIELD_BYTES, h->memory, w->memory,
                         kvz_diff_field_live(d, w, h, "memory"));
    if (vm && w->max_memory != h->max_memory)
        kvz_diff_add_num(d, c, "max_memory", KVZ_FIELD_BYTES, h->max_memory, w->max_memory,
                         kvz_diff_field_live(d, w, h, "max_memory"));
    if (w->cpus_milli != h->cpus_milli)
        kvz_diff_add_num(d, c, "cpus", KVZ_FIELD_CPUS, h->cpus_milli, w->cpus_milli,
                         kvz_diff_field_live(d, w, h, "cpus"));
    if (vm && w->max_cpus != h->max_cpus)
        kvz_diff_add_num(d, c, "max_cpus", KVZ_FIELD_COUNT, h->max_cpus, w->max_cpus,
                         kvz_diff_field_live(d, w, h, "max_cpus"));
    if (w->disk > h->disk)
        kvz_diff_add_num(d, c, "disk", KVZ_FIELD_BYTES, h->disk, w->disk,
                         kvz_diff_field_live(d, w, h, "disk"));
    if (!net_equal(&w->network, &h->network)) {
        char b1[80], b2[80];
        kvz_diff_add_str(d, c, "network", net_str(&h->network, b1, sizeof(b1)),
                         net_str(&w->network, b2, sizeof(b2)),
                         kvz_diff_field_live(d, w, h, "network"));
    }
    bool host_changed = h->hostname && w->hostname && strcmp(h->hostname, w->hostname);
    if (host_changed)
        kvz_diff_add_str(d, c, "hostname", h->hostname, w->hostname,
                         kvz_diff_field_live(d, w, h, "hostname"));
    if (h->config_digest && strcmp(h->config_digest, config) && !host_changed) {
        /* only digests are recorded: say which config it is, show no contents */
        char before[20], after[20];
        snprintf(before, sizeof(before), "sha256:%.12s", h->config_digest);
        snprintf(after, sizeof(after), "sha256:%.12s", config);
        kvz_diff_add_str(d, c, vm ? "cloud_init" : "ssh_authorized_keys", before, after,
                         kvz_diff_field_live(d, w, h, "config"));
    }
    if (vm)
        plan_vm_fields(d, c, w, h);
    if (w->autostart != h->autostart)
        kvz_diff_add_num(d, c, "autostart", KVZ_FIELD_BOOL, h->autostart, w->autostart,
                         kvz_diff_field_live(d, w, h, "autostart"));
    if (w->protect != h->protect)
        kvz_diff_add_num(d, c, "protect", KVZ_FIELD_BOOL, h->protect, w->protect,
                         kvz_diff_field_live(d, w, h, "protect"));
    if (d->oom)
        return;

    bool want_run = w->state == KVZ_POWER_RUNNING;
    bool power = want_run != h->running;
    struct kvz_buf r = KVZ_BUF_INIT;
    if (replace) {
        c->action = KVZ_ACTION_REPLACE;
        kvz_buf_printf(&r, "%s: %s", replace,
                       vm ? "the old disk is lost" : "the old rootfs is lost");
    } else if (c->n_fields) {
        c->live = true;
        for (size_t i = 0; i < c->n_fields; i++)
            c->live = c->live && c->fields[i].live;
        join_fields(&r, c);
        kvz_buf_puts(&r, drift ? " changed outside kvz" : " changed");
        if (power)
            kvz_buf_printf(&r, "; then %s", want_run ? "start" : "stop");
    } else if (power) {
        c->action = want_run ? KVZ_ACTION_START : KVZ_ACTION_STOP;
        if (drift)
            kvz_buf_puts(&r, want_run ? "stopped outside kvz" : "started outside kvz");
        else
            kvz_buf_printf(&r, "state: %s", want_run ? "running" : "stopped");
    } else {
        c->action = KVZ_ACTION_NOOP;
    }
    if (r.len) {
        free(c->reason);
        c->reason = kvz_buf_detach(&r);
        if (!c->reason)
            d->oom = true;
    }
    kvz_buf_release(&r);
}

static void plan_create_fields(struct diff *d, struct kvz_change *c, const struct kvz_resource *w)
{
    bool vm = w->kind == KVZ_KIND_VM;
    kvz_diff_add_str(d, c, vm ? "image" : "template", NULL, w->template_name, true);
    kvz_diff_add_num(d, c, "memory", KVZ_FIELD_BYTES, 0, w->memory, true);
    if (vm && w->max_memory != w->memory)
        kvz_diff_add_num(d, c, "max_memory", KVZ_FIELD_BYTES, 0, w->max_memory, true);
    kvz_diff_add_num(d, c, "cpus", KVZ_FIELD_CPUS, 0, w->cpus_milli, true);
    if (vm && w->max_cpus * 1000 != w->cpus_milli)
        kvz_diff_add_num(d, c, "max_cpus", KVZ_FIELD_COUNT, 0, w->max_cpus, true);
    if (w->disk)
        kvz_diff_add_num(d, c, "disk", KVZ_FIELD_BYTES, 0, w->disk, true);
    if (w->user_data) {
        char hex[KVZ_SHA256_HEX], shown[80];
        kvz_sha256_hex(hex, w->user_data, strlen(w->user_data));
        snprintf(shown, sizeof(shown), "sha256:%s", hex);
        kvz_diff_add_str(d, c, "user_data", NULL, shown, true);
    }
    if (vm && w->cdrom)
        kvz_diff_add_str(d, c, "cdrom", NULL, w->cdrom->name, true);
    if (vm && w->drivers)
        kvz_diff_add_str(d, c, "drivers", NULL, w->drivers->name, true);
    if (vm && w->unattend && w->os == KVZ_OS_WINDOWS) {
        char hex[KVZ_SHA256_HEX], shown[80];
        kvz_sha256_hex(hex, w->unattend, strlen(w->unattend));
        snprintf(shown, sizeof(shown), "sha256:%s", hex);
        kvz_diff_add_str(d, c, "unattend", NULL, shown, true);
    }
    if (w->state == KVZ_POWER_STOPPED)
        kvz_diff_add_str(d, c, "state", NULL, "stopped", true);
}

bool kvz_diff_foreign_state_dir(struct diff *d, const struct kvz_observed_resource *h)
{
    const char *mine = d->in->state_dir;
    if (!mine || !h->state_dir || !strcmp(h->state_dir, mine))
        return false;
    kvz_diff_problem(
        d,
        "%s '%s' was made with state dir '%s', which holds its %s, not '%s'; plan and apply it with --state-dir %s, or destroy it from there",
        kvz_kind_str(h->kind), h->name, h->state_dir,
        h->kind == KVZ_KIND_NETWORK ? "lock" : "files", mine, h->state_dir);
    return true;
}

static void plan_desired(struct diff *d, const struct kvz_resource *w)
{
    const struct kvz_plan_input *in = d->in;
    const struct kvz_observed_resource *h = kvz_diff_find_observed(in, w->kind, w->name);
    const char *kind = kvz_kind_str(w->kind);
    if (!h || (h->managed && h->stack && !strcmp(h->stack, in->stack)))
        plan_caveat(d, w, h);
    if (!h) {
        struct kvz_change *c = kvz_diff_add_change(d, w->kind, w->name, KVZ_ACTION_CREATE);
        if (!c)
            return;
        c->want = w;
        kvz_diff_set_reason(d, c, "not on the host");
        plan_create_fields(d, c, w);
        return;
    }
    if (!h->managed) {
        kvz_diff_problem(
            d,
            "%s '%s': a domain of that name exists and is not managed by kvz; rename the resource or remove the domain",
            kind, w->name);
        return;
    }
    if (!h->stack || strcmp(h->stack, in->stack)) {
        kvz_diff_problem(
            d,
            "%s '%s': a domain of that name belongs to stack '%s'; rename the resource or destroy it from that stack",
            kind, w->name, h->stack ? h->stack : "?");
        return;
    }
    if (kvz_diff_foreign_state_dir(d, h))
        return;
    plan_existing(d, w, h);
}

static void plan_delete(struct diff *d, const struct kvz_observed_resource *h, const char *why)
{
    const char *kind = kvz_kind_str(h->kind);
    if (kvz_diff_foreign_state_dir(d, h))
        return;
    if (h->protect) {
        kvz_diff_problem(
            d,
            "%s '%s' is protected and would be deleted (%s); set protect: false on it and apply first",
            kind, h->name, why);
        return;
    }
    struct kvz_change *c = kvz_diff_add_change(d, h->kind, h->name, KVZ_ACTION_DELETE);
    if (!c)
        return;
    c->have = h;
    kvz_diff_set_reason(d, c, "%s", why);
}

static bool desired_has(const struct kvz_plan_input *in, enum kvz_kind kind, const char *name)
{
    const struct kvz_manifest *m = in->m;
    for (size_t i = 0; m && i < m->n_resources; i++)
        if (m->resources[i].kind == kind && !strcmp(m->resources[i].name, name))
            return true;
    return false;
}

static int cmp_observed(const void *a, const void *b)
{
    const struct kvz_observed_resource *x = *(const struct kvz_observed_resource *const *)a;
    const struct kvz_observed_resource *y = *(const struct kvz_observed_resource *const *)b;
    return strcmp(x->name, y->name);
}

/* Managed domains and networks of the stack that the manifests no longer name, sorted by kind
 * and name. */
static void plan_orphans(struct diff *d)
{
    const struct kvz_plan_input *in = d->in;
    for (int k = 0; k < KVZ_N_KINDS; k++) {
        const struct kvz_observed *o = in->observed[k];
        if (!o || !o->n)
            continue;
        const struct kvz_observed_resource **v = calloc(o->n, sizeof(*v));
        if (!v) {
            d->oom = true;
            return;
        }
        size_t n = 0;
        for (size_t i = 0; i < o->n; i++) {
            const struct kvz_observed_resource *h = &o->v[i];
            if (!h->managed || !h->stack || strcmp(h->stack, in->stack) || (int)h->kind != k ||
                !kvz_diff_in_targets(in, h->name))
                continue;
            if (in->destroy || !desired_has(in, h->kind, h->name))
                v[n++] = h;
        }
        qsort(v, n, sizeof(*v), cmp_observed);
        /* guests first (k runs over the kinds in that order): a network goes only when no guest
         * that stays uses it */
        for (size_t i = 0; i < n; i++)
            if (k != KVZ_KIND_NETWORK || kvz_diff_network_deletable(d, v[i]))
                plan_delete(d, v[i], in->destroy ? "destroy requested" : "not in the manifests");
        free(v);
    }
}

static void check_targets(struct diff *d)
{
    const struct kvz_plan_input *in = d->in;
    for (size_t t = 0; t < in->n_targets; t++) {
        const char *name = in->targets[t];
        bool found = false;
        for (size_t i = 0; in->m && i < in->m->n_resources && !found; i++)
            found = !strcmp(in->m->resources[i].name, name);
        for (int k = 0; k < KVZ_N_KINDS && !found; k++) {
            const struct kvz_observed_resource *h = kvz_diff_find_observed(in, k, name);
            found = h && h->managed && h->stack && !strcmp(h->stack, in->stack);
        }
        if (!found)
            kvz_diff_problem(d, "target '%s' is neither in the manifests nor managed by stack '%s'",
                             name, in->stack);
    }
}

int kvz_plan_compute(struct kvz_plan **out, const struct kvz_plan_input *in, struct kvz_error **err)
{
    int ret = -1;
    struct diff d = {.in = in, .problems = KVZ_BUF_INIT};
    *out = NULL;
    d.p = calloc(1, sizeof(*d.p));
    if (!d.p || !(d.p->stack = strdup(in->stack))) {
        kvz_error_set(err, "plan: out of memory");
        goto cleanup;
    }
    check_targets(&d);
    for (size_t i = 0; !in->destroy && in->m && i < in->m->n_resources; i++) {
        const struct kvz_resource *w = &in->m->resources[i];
        if (w->kind == KVZ_KIND_NETWORK) {
            if (kvz_diff_network_in_scope(in, w))
                kvz_diff_network(&d, w);
        } else if (kvz_diff_in_targets(in, w->name)) {
            plan_desired(&d, w);
        }
    }
    plan_orphans(&d);
    kvz_diff_reattach(&d);
    if (d.oom || d.problems.oom) {
        kvz_error_set(err, "plan: out of memory");
        goto cleanup;
    }
    if (d.n_problems) {
        kvz_error_set(err, "cannot plan stack '%s': %s", in->stack, kvz_buf_cstr(&d.problems));
        goto cleanup;
    }
    for (size_t i = 0; i < d.p->n_changes; i++) {
        const struct kvz_change *c = &d.p->changes[i];
        d.p->counts[c->action]++;
        if (c->action == KVZ_ACTION_UPDATE) {
            if (c->live)
                d.p->n_live++;
            else
                d.p->n_restart++;
        }
    }
    *out = d.p;
    d.p = NULL;
    ret = 0;
cleanup:
    kvz_plan_free(d.p);
    kvz_buf_release(&d.problems);
    return ret;
}
