#include "cmd/cli.h"

#include "base/error.h"
#include "parser/diag.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kvz_color(bool on, const char *seq)
{
    return on ? seq : "";
}

static void vmsg(struct kvz_cli *cli, const char *label, const char *col, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

/* One diagnostic for --json; file NULL and line 0 for a problem without a place. */
static void json_diag(struct kvz_cli *cli, const char *file, unsigned line, unsigned col,
                      const char *sev, const char *code, const char *msg)
{
    if (!cli->json_diags)
        return;
    json_array_append_new(cli->json_diags,
                          json_pack("{s:o, s:o, s:o, s:s, s:s, s:s}", "file",
                                    file ? json_string(file) : json_null(), "line",
                                    line ? json_integer(line) : json_null(), "column",
                                    line ? json_integer(col) : json_null(), "severity", sev, "code",
                                    code ? code : sev, "message", msg));
}

static void vmsg(struct kvz_cli *cli, const char *label, const char *col, const char *fmt,
                 va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    fprintf(stderr, "%s%s%s: %s\n", kvz_color(cli->color_err, col), label,
            kvz_color(cli->color_err, KVZ_RESET), msg ? msg : "out of memory");
    /* a problem of the run, not of a manifest's line: code "error" (or "warning") */
    json_diag(cli, NULL, 0, 0, label, label, msg ? msg : "out of memory");
    free(msg);
}

void kvz_out_json_begin(struct kvz_cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--json")) {
            cli->json_diags = json_array();
            return;
        }
}

int kvz_out_json_end(struct kvz_cli *cli, int rc)
{
    if (cli->json_diags && rc == KVZ_EXIT_ERROR && !cli->json_printed) {
        json_t *j = json_pack("{s:b, s:O}", "error", 1, "diagnostics", cli->json_diags);
        char *s = j ? json_dumps(j, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    json_decref(cli->json_diags);
    cli->json_diags = NULL;
    return rc;
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
        json_diag(cli, dg->file, dg->line, dg->col, sev, dg->code, dg->msg);
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
