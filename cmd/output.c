#include "cmd/cli.h"

#include "base/error.h"
#include "parser/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *kvz_color(bool on, const char *seq)
{
    return on ? seq : "";
}

static void vmsg(struct kvz_cli *cli, const char *label, const char *col, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

static void vmsg(struct kvz_cli *cli, const char *label, const char *col, const char *fmt,
                 va_list ap)
{
    fprintf(stderr, "%s%s%s: ", kvz_color(cli->color_err, col), label,
            kvz_color(cli->color_err, KVZ_RESET));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void kvz_out_error(struct kvz_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cli, "error", KVZ_RED, fmt, ap);
    va_end(ap);
}

void kvz_out_warn(struct kvz_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cli, "warning", KVZ_YELLOW, fmt, ap);
    va_end(ap);
}

void kvz_out_kvz_error(struct kvz_cli *cli, const struct kvz_error *e)
{
    kvz_out_error(cli, "%s", kvz_error_msg(e));
}

void kvz_out_diags(struct kvz_cli *cli, const struct kvz_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct kvz_diag *dg = &d->v[i];
        const char *sev = dg->sev == KVZ_SEV_ERROR ? "error" : "warning";
        const char *col = dg->sev == KVZ_SEV_ERROR ? KVZ_RED : KVZ_YELLOW;
        if (dg->line)
            fprintf(stderr, "%s:%u:%u: ", dg->file, dg->line, dg->col);
        else
            fprintf(stderr, "%s: ", dg->file);
        fprintf(stderr, "%s%s%s: %s\n", kvz_color(cli->color_err, col), sev,
                kvz_color(cli->color_err, KVZ_RESET), dg->msg);
    }
    if (d->errors)
        fprintf(stderr, "%zu error%s\n", d->errors, d->errors == 1 ? "" : "s");
}

int kvz_paths_add(struct kvz_paths *p, const char *path)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        const char **v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = path;
    return 0;
}

void kvz_paths_release(struct kvz_paths *p)
{
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}
