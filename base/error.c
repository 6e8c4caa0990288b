#include "base/error.h"

#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static struct kvz_error oom_error = {"out of memory", ENOMEM};

static int set(struct kvz_error **err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int set(struct kvz_error **err, int code, const char *fmt, va_list ap)
{
    const char *suffix = code ? strerror(code) : NULL;
    if (!err || *err)
        return -1;
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_vprintf(&b, fmt, ap);
    if (suffix)
        kvz_buf_printf(&b, ": %s", suffix);
    struct kvz_error *e = malloc(sizeof(*e));
    char *msg = kvz_buf_detach(&b);
    if (!e || !msg) {
        free(e);
        free(msg);
        *err = &oom_error;
        return -1;
    }
    e->msg = msg;
    e->code = code;
    *err = e;
    return -1;
}

int kvz_error_set(struct kvz_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int kvz_error_set_errno(struct kvz_error **err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    set(err, saved, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

int kvz_error_set_code(struct kvz_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int kvz_error_code(const struct kvz_error *e)
{
    return e ? e->code : 0;
}

int kvz_error_move(struct kvz_error **dst, struct kvz_error **src)
{
    if (dst && !*dst)
        *dst = *src;
    else
        kvz_error_free(*src);
    *src = NULL;
    return -1;
}

int kvz_error_wrap(struct kvz_error **err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    if (!*err) {
        set(err, 0, fmt, ap);
        va_end(ap);
        return -1;
    }
    if (*err == &oom_error) {
        va_end(ap);
        return -1;
    }
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    kvz_buf_printf(&b, ": %s", (*err)->msg);
    char *msg = kvz_buf_detach(&b);
    if (msg) {
        free((*err)->msg);
        (*err)->msg = msg;
    }
    return -1;
}

int kvz_error_advise(struct kvz_error **err, const char *fmt, ...)
{
    if (!err || !*err || *err == &oom_error)
        return -1;
    struct kvz_buf b = KVZ_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    kvz_buf_printf(&b, "%s; ", (*err)->msg);
    kvz_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *msg = kvz_buf_detach(&b);
    if (msg) {
        free((*err)->msg);
        (*err)->msg = msg;
    }
    return -1;
}

const char *kvz_error_msg(const struct kvz_error *e)
{
    return e && e->msg ? e->msg : "unknown error";
}

void kvz_error_free(struct kvz_error *e)
{
    if (!e || e == &oom_error)
        return;
    free(e->msg);
    free(e);
}

void kvz_error_clear(struct kvz_error **err)
{
    if (!err)
        return;
    kvz_error_free(*err);
    *err = NULL;
}
