#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct kvz_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int kvz_buf_add(struct kvz_buf *b, const void *data, size_t len)
{
    if (len > SIZE_MAX - b->len - 1 || grow(b, len) < 0) {
        b->oom = true;
        return -1;
    }
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int kvz_buf_puts(struct kvz_buf *b, const char *s)
{
    return kvz_buf_add(b, s, strlen(s));
}

int kvz_buf_putc(struct kvz_buf *b, char c)
{
    return kvz_buf_add(b, &c, 1);
}

int kvz_buf_vprintf(struct kvz_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || grow(b, (size_t)n) < 0) {
        b->oom = true;
        return -1;
    }
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int kvz_buf_printf(struct kvz_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kvz_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

const char *kvz_buf_cstr(const struct kvz_buf *b)
{
    return b->ptr ? b->ptr : "";
}

char *kvz_buf_detach(struct kvz_buf *b)
{
    char *p = NULL;
    if (!b->oom)
        p = b->ptr ? b->ptr : strdup("");
    else
        free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return p;
}

void kvz_buf_clear(struct kvz_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void kvz_buf_release(struct kvz_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
