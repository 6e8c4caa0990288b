#include "parser/diag.h"

#include "base/buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void record(struct kvz_diags *d, enum kvz_severity sev, const char *file, unsigned line,
                   unsigned col, const char *code, char *msg)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct kvz_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v) {
            free(msg);
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    struct kvz_diag *dg = &d->v[d->n];
    dg->file = strdup(file ? file : "");
    dg->msg = msg;
    if (!dg->file || !dg->msg) {
        free(dg->file);
        free(dg->msg);
        return;
    }
    dg->line = line;
    dg->col = col;
    dg->sev = sev;
    dg->code = code;
    dg->seq = d->n;
    d->n++;
}

void kvz_diags_add(struct kvz_diags *d, enum kvz_severity sev, const char *file, unsigned line,
                   unsigned col, const char *code, const char *fmt, ...)
{
    if (sev == KVZ_SEV_ERROR)
        d->errors++;
    if (d->n > KVZ_DIAGS_MAX)
        return;
    if (d->n == KVZ_DIAGS_MAX) {
        record(d, KVZ_SEV_ERROR, file, 0, 0, "too-many-problems",
               strdup("too many problems; only the first ones are shown, fix them and run again"));
        return;
    }
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    record(d, sev, file, line, col, code, kvz_buf_detach(&b));
}

static int cmp(const void *a, const void *b)
{
    const struct kvz_diag *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

void kvz_diags_sort(struct kvz_diags *d)
{
    if (d->n > 1)
        qsort(d->v, d->n, sizeof(*d->v), cmp);
}

char *kvz_diag_format(const struct kvz_diag *dg)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    const char *sev = dg->sev == KVZ_SEV_ERROR ? "error" : "warning";
    if (dg->line)
        kvz_buf_printf(&b, "%s:%u:%u: %s: %s", dg->file, dg->line, dg->col, sev, dg->msg);
    else
        kvz_buf_printf(&b, "%s: %s: %s", dg->file, sev, dg->msg);
    return kvz_buf_detach(&b);
}

bool kvz_diags_has_errors(const struct kvz_diags *d)
{
    return d->errors > 0;
}

void kvz_diags_release(struct kvz_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].msg);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = d->errors = 0;
}
