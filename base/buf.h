#ifndef KVZ_BASE_BUF_H
#define KVZ_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * struct kvz_buf: the one growable string of kvz.
 *
 * Always NUL-terminated once anything was added. Allocation failure is
 * sticky: after it, every append is a no-op, `oom` is true and
 * kvz_buf_detach() returns NULL, so callers check once at the end.
 *
 *     struct kvz_buf b = KVZ_BUF_INIT;
 *     kvz_buf_printf(&b, "%s=%d", k, v);
 *     char *s = kvz_buf_detach(&b);   // caller owns s, b is empty again
 */
struct kvz_buf {
    char *ptr;
    size_t len;
    size_t cap;
    bool oom;
};

#define KVZ_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Appends; return 0, or -1 when the buffer is (now) out of memory. */
int kvz_buf_add(struct kvz_buf *b, const void *data, size_t len);
int kvz_buf_puts(struct kvz_buf *b, const char *s);
int kvz_buf_putc(struct kvz_buf *b, char c);
int kvz_buf_printf(struct kvz_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kvz_buf_vprintf(struct kvz_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents ("" when empty); owned by the buffer. */
const char *kvz_buf_cstr(const struct kvz_buf *b);

/* Hands the string to the caller (NULL after an allocation failure) and resets the buffer. */
char *kvz_buf_detach(struct kvz_buf *b) __attribute__((warn_unused_result));

void kvz_buf_clear(struct kvz_buf *b);
void kvz_buf_release(struct kvz_buf *b);

#endif
