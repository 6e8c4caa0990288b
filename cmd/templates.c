#include "cmd/cli.h"

#include "base/error.h"
#include "parser/manifest.h"
#include "providers/image_store.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"

/* How many templates download at once. */
#define PULL_PARALLEL 4

static void human_size(char *out, size_t cap, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    unsigned u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)b);
    else
        snprintf(out, cap, "%.1f %s", v, units[u]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Progress of the pulls running in worker threads; drawn under one lock. */
struct progress_ui {
    struct kvz_cli *cli;
    pthread_mutex_t mu;
    bool tty;         /* redraw one status line */
    double last_draw; /* tty: throttle to 10 redraws a second */
    bool line_dirty;  /* tty: a status line is on screen */
    struct slot {
        const char *name;
        double t0;
        uint64_t d0; /* bytes already there (resumed) when the transfer began */
        bool announced;
        unsigned quarter; /* not a tty: the last quarter reported */
    } * slots;
    size_t n;
};

static struct slot *slot_of(struct progress_ui *ui, const char *name)
{
    for (size_t i = 0; i < ui->n; i++)
        if (!strcmp(ui->slots[i].name, name))
            return &ui->slots[i];
    return NULL;
}

static void clear_line(struct progress_ui *ui)
{
    if (ui->line_dirty) {
        fputs("\r\033[K", stderr);
        ui->line_dirty = false;
    }
}

static void draw(struct progress_ui *ui, struct slot *sl, const struct kvz_progress *p)
{
    double t = now_s(), el = t - sl->t0;
    double rate = el > 0.2 ? (double)(p->done - sl->d0) / el : 0;
    char done[32], total[32], r[32], eta[32] = "";
    human_size(done, sizeof(done), p->done);
    human_size(total, sizeof(total), p->total);
    human_size(r, sizeof(r), (uint64_t)rate);
    if (p->total > p->done && rate > 0) {
        unsigned s = (unsigned)((double)(p->total - p->done) / rate);
        snprintf(eta, sizeof(eta), " ETA %u:%02u", s / 60, s % 60);
    }
    if (ui->tty) {
        if (t - ui->last_draw < 0.1)
            return;
        ui->last_draw = t;
        unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 0;
        char bar[21];
        for (unsigned i = 0; i < 20; i++)
            bar[i] = i < pct / 5 ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[K%s [%s] %3u%% %s/%s %s/s%s", p->name, bar, pct, done,
                p->total ? total : "?", r, eta);
        ui->line_dirty = true;
    } else if (p->total && p->done * 4 / p->total > sl->quarter) {
        sl->quarter = (unsigned)(p->done * 4 / p->total);
        fprintf(stderr, "%s: %s of %s (%s/s)%s\n", p->name, done, total, r, eta);
    }
}

static void on_progress(void *arg, const struct kvz_progress *p)
{
    struct progress_ui *ui = arg;
    if (ui->cli->verbosity < 0)
        return;
    pthread_mutex_lock(&ui->mu);
    struct slot *sl = slot_of(ui, p->name);
    if (!sl)
        goto out;
    switch (p->phase) {
    case KVZ_PROGRESS_CHECKSUMS:
        if (!ui->tty) {
            fprintf(stderr, "%s: fetching the checksums file\n", p->name);
        }
        break;
    case KVZ_PROGRESS_DOWNLOAD:
        if (!sl->announced) {
            sl->announced = true;
            sl->t0 = now_s();
            sl->d0 = p->resumed;
            if (!ui->tty) {
                char total[32];
                human_size(total, sizeof(total), p->total);
                fprintf(stderr, "%s: downloading %s%s\n", p->name, p->total ? total : "",
                        p->resumed ? " (resuming)" : "");
            }
        }
        draw(ui, sl, p);
        break;
    case KVZ_PROGRESS_RETRY:
        clear_line(ui);
        fprintf(stderr, "%s: %s; retrying\n", p->name, p->message ? p->message : "failed");
        break;
    case KVZ_PROGRESS_DONE:
        if (sl->announced) {
            clear_line(ui);
            double el = now_s() - sl->t0;
            char size[32];
            human_size(size, sizeof(size), p->done);
            fprintf(stderr, "%s: stored (%s in %.1f s)\n", p->name, size, el);
        }
        break;
    }
out:
    fflush(stderr);
    pthread_mutex_unlock(&ui->mu);
}

/* What the manifests use a template for: the kind its content must have. */
static enum kvz_content_kind use_of(const struct kvz_manifest *m, const struct kvz_template *t)
{
    for (size_t i = 0; i < m->n_resources; i++) {
        const struct kvz_resource *r = &m->resources[i];
        if (r->tmpl == t)
            return r->kind == KVZ_KIND_CONTAINER ? KVZ_CONTENT_ROOTFS : KVZ_CONTENT_DISK;
        if (r->cdrom == t)
            return KVZ_CONTENT_ISO;
    }
    return KVZ_CONTENT_UNKNOWN;
}

static const char *short_digest(char *out, size_t cap, const char *d, bool full)
{
    const char *colon = strchr(d, ':');
    size_t pre = colon ? (size_t)(colon - d) + 1 : 0;
    if (full || strlen(d) <= pre + 16)
        snprintf(out, cap, "%s", d);
    else
        snprintf(out, cap, "%.*s%.16s", (int)pre, d, d + pre);
    return out;
}

static int do_pull(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    size_t n = m->n_templates;
    const struct kvz_template **t = calloc(n ? n : 1, sizeof(*t));
    enum kvz_content_kind *wants = calloc(n ? n : 1, sizeof(*wants));
    struct kvz_image *img = calloc(n ? n : 1, sizeof(*img));
    struct kvz_error **errs = calloc(n ? n : 1, sizeof(*errs));
    struct progress_ui ui = {.cli = cli, .tty = isatty(STDERR_FILENO)};
    struct kvz_store_opts o;
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;

    ui.slots = calloc(n ? n : 1, sizeof(*ui.slots));
    if (!t || !wants || !img || !errs || !ui.slots) {
        kvz_out_error(cli, "out of memory");
        goto cleanup;
    }
    pthread_mutex_init(&ui.mu, NULL);
    ui.n = n;
    for (size_t i = 0; i < n; i++) {
        t[i] = &m->templates[i];
        wants[i] = use_of(m, t[i]);
        ui.slots[i].name = t[i]->name;
    }
    kvz_store_opts_init(&o);
    o.progress = on_progress;
    o.progress_arg = &ui;
    if (kvz_store_open(&s, cli->state_dir, &o, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    int r = kvz_store_pull_many(img, s, t, wants, n, PULL_PARALLEL, errs);
    pthread_mutex_lock(&ui.mu);
    clear_line(&ui);
    pthread_mutex_unlock(&ui.mu);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i]) {
            kvz_out_kvz_error(cli, errs[i]);
            failed++;
            continue;
        }
        if (cli->verbosity >= 0) {
            char size[32], dg[80];
            human_size(size, sizeof(size), img[i].size);
            printf("%-24s %-7s %10s  %s  %s\n", t[i]->name, kvz_content_kind_str(img[i].kind), size,
                   short_digest(dg, sizeof(dg), img[i].digest, cli->verbosity > 0),
                   cli->verbosity > 0 ? img[i].path : "ready");
        }
    }
    if (r < 0 || failed) {
        kvz_out_error(cli, "%zu of %zu templates failed to pull", failed, n);
        goto cleanup;
    }
    rc = KVZ_EXIT_OK;
cleanup:
    for (size_t i = 0; img && errs && i < n; i++) {
        kvz_image_release(&img[i]);
        kvz_error_free(errs[i]);
    }
    if (ui.slots)
        pthread_mutex_destroy(&ui.mu);
    kvz_store_free(s);
    kvz_error_free(err);
    free(ui.slots);
    free(t);
    free(wants);
    free(img);
    free(errs);
    return rc;
}

static int do_list(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    int rc = KVZ_EXIT_ERROR;
    if (kvz_store_open(&s, cli->state_dir, NULL, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    printf("%-24s %-7s %10s  %-24s %s\n", "NAME", "KIND", "SIZE", "DIGEST", "CACHED");
    for (size_t i = 0; i < m->n_templates; i++) {
        const struct kvz_template *t = &m->templates[i];
        struct kvz_image img = {0};
        char size[32] = "-", dg[200] = "-";
        int r = kvz_store_lookup(&img, s, t, &err);
        if (r < 0) {
            kvz_out_kvz_error(cli, err);
            goto cleanup;
        }
        const char *kind = kvz_content_kind_str(r ? img.kind : t->hint);
        if (r) {
            human_size(size, sizeof(size), img.size);
            short_digest(dg, sizeof(dg), img.digest, cli->verbosity > 0);
        } else if (t->digest) {
            char full[160];
            snprintf(full, sizeof(full), "%s:%s",
                     t->algo == KVZ_DIGEST_SHA512 ? "sha512" : "sha256", t->digest);
            short_digest(dg, sizeof(dg), full, cli->verbosity > 0);
        } else if (t->checksums_url) {
            snprintf(dg, sizeof(dg), "(checksums file)");
        } else {
            snprintf(dg, sizeof(dg), "(insecure)");
        }
        printf("%-24s %-7s %10s  %-24s %s\n", t->name, kind, size, dg, r ? "yes" : "no");
        kvz_image_release(&img);
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_store_free(s);
    kvz_error_free(err);
    return rc;
}

static int do_prune(struct kvz_cli *cli, const struct kvz_manifest *m)
{
    struct kvz_store *s = NULL;
    struct kvz_error *err = NULL;
    const struct kvz_template **keep = calloc(m->n_templates ? m->n_templates : 1, sizeof(*keep));
    uint64_t freed = 0;
    size_t removed = 0;
    int rc = KVZ_EXIT_ERROR;
    if (!keep) {
        kvz_out_error(cli, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < m->n_templates; i++)
        keep[i] = &m->templates[i];
    if (kvz_store_open(&s, cli->state_dir, NULL, &err) < 0 ||
        kvz_store_prune(&freed, &removed, s, keep, m->n_templates, &err) < 0) {
        kvz_out_kvz_error(cli, err);
        goto cleanup;
    }
    if (cli->verbosity >= 0) {
        char size[32];
        human_size(size, sizeof(size), freed);
        printf("removed %zu cache entr%s, freed %s\n", removed, removed == 1 ? "y" : "ies", size);
    }
    rc = KVZ_EXIT_OK;
cleanup:
    kvz_store_free(s);
    kvz_error_free(err);
    free(keep);
    return rc;
}

int cmd_templates(struct kvz_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct kvz_paths paths = {0};
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    const char *action = NULL;
    int rc = KVZ_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    /* The action may stand before or after the options. */
    while (optind < argc) {
        if ((c = getopt_long(argc, argv, "+f:", opts, NULL)) == -1) {
            if (action) {
                kvz_out_error(cli, "unexpected argument '%s'; run 'kvz help templates'",
                              argv[optind]);
                goto cleanup;
            }
            action = argv[optind++];
            continue;
        }
        switch (c) {
        case 'f':
            if (kvz_paths_add(&paths, optarg) < 0) {
                kvz_out_error(cli, "out of memory");
                goto cleanup;
            }
            break;
        default:
            if (optopt == 'f')
                kvz_out_error(cli, "option '-f' needs a path; run 'kvz help templates'");
            else
                kvz_out_error(cli, "unknown option '%s'; run 'kvz help templates'",
                              argv[optind - 1]);
            goto cleanup;
        }
    }
    if (!action || (strcmp(action, "pull") && strcmp(action, "list") && strcmp(action, "prune"))) {
        kvz_out_error(cli, "%s%s%s; use 'kvz templates pull|list|prune [-f PATH]...'",
                      action ? "unknown action '" : "missing action", action ? action : "",
                      action ? "'" : "");
        goto cleanup;
    }
    /* Warnings (an insecure template, among others) show on every use. */
    int loaded = kvz_manifest_load(&m, paths.v, paths.n, &diags);
    kvz_out_diags(cli, &diags);
    if (loaded < 0)
        goto cleanup;
    if (!strcmp(action, "pull"))
        rc = do_pull(cli, m);
    else if (!strcmp(action, "list"))
        rc = do_list(cli, m);
    else
        rc = do_prune(cli, m);
cleanup:
    kvz_manifest_free(m);
    kvz_diags_release(&diags);
    kvz_paths_release(&paths);
    return rc;
}
