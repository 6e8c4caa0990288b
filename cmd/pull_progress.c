#include "cmd/pull_progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void kvz_out_size(char *out, size_t cap, uint64_t b)
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
struct kvz_pull_progress {
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
    size_t n, cap;
};

/* The slot of template `name`, made on first sight; NULL when out of memory. */
static struct slot *slot_of(struct kvz_pull_progress *ui, const char *name)
{
    for (size_t i = 0; i < ui->n; i++)
        if (!strcmp(ui->slots[i].name, name))
            return &ui->slots[i];
    if (ui->n == ui->cap) {
        size_t cap = ui->cap ? 2 * ui->cap : 8;
        struct slot *v = realloc(ui->slots, cap * sizeof(*v));
        if (!v)
            return NULL;
        ui->slots = v;
        ui->cap = cap;
    }
    struct slot *sl = &ui->slots[ui->n];
    *sl = (struct slot){.name = strdup(name)};
    if (!sl->name)
        return NULL;
    ui->n++;
    return sl;
}

static void clear_line(struct kvz_pull_progress *ui)
{
    if (ui->line_dirty) {
        fputs("\r\033[K", stderr);
        ui->line_dirty = false;
    }
}

static void draw(struct kvz_pull_progress *ui, struct slot *sl, const struct kvz_progress *p)
{
    double t = now_s(), el = t - sl->t0;
    double rate = el > 0.2 ? (double)(p->done - sl->d0) / el : 0;
    char done[32], total[32], r[32] = "", eta[32] = "";
    kvz_out_size(done, sizeof(done), p->done);
    kvz_out_size(total, sizeof(total), p->total);
    if (rate > 0) {
        char rs[24];
        kvz_out_size(rs, sizeof(rs), (uint64_t)rate);
        snprintf(r, sizeof(r), "%s/s", rs);
    }
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
        fprintf(stderr, "\r\033[K%s [%s] %3u%% %s/%s %s%s", p->name, bar, pct, done,
                p->total ? total : "?", r, eta);
        ui->line_dirty = true;
    } else if (p->total && p->done * 4 / p->total > sl->quarter) {
        sl->quarter = (unsigned)(p->done * 4 / p->total);
        fprintf(stderr, "%s: %s of %s %s%s\n", p->name, done, total, r, eta);
    }
}

static void on_progress(void *arg, const struct kvz_progress *p)
{
    struct kvz_pull_progress *ui = arg;
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
                kvz_out_size(total, sizeof(total), p->total);
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
            kvz_out_size(size, sizeof(size), p->done);
            fprintf(stderr, "%s: stored (%s in %.1f s)\n", p->name, size, el);
        }
        break;
    }
out:
    fflush(stderr);
    pthread_mutex_unlock(&ui->mu);
}

struct kvz_pull_progress *kvz_pull_progress_new(struct kvz_cli *cli, struct kvz_store_opts *opts)
{
    struct kvz_pull_progress *ui = calloc(1, sizeof(*ui));
    if (!ui)
        return NULL;
    ui->cli = cli;
    ui->tty = isatty(STDERR_FILENO);
    pthread_mutex_init(&ui->mu, NULL);
    opts->progress = on_progress;
    opts->progress_arg = ui;
    return ui;
}

void kvz_pull_progress_clear(struct kvz_pull_progress *ui)
{
    if (!ui)
        return;
    pthread_mutex_lock(&ui->mu);
    clear_line(ui);
    fflush(stderr);
    pthread_mutex_unlock(&ui->mu);
}

void kvz_pull_progress_free(struct kvz_pull_progress *ui)
{
    if (!ui)
        return;
    kvz_pull_progress_clear(ui);
    for (size_t i = 0; i < ui->n; i++)
        free((char *)ui->slots[i].name);
    free(ui->slots);
    pthread_mutex_destroy(&ui->mu);
    free(ui);
}
