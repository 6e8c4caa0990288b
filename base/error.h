#ifndef KVZ_BASE_ERROR_H
#define KVZ_BASE_ERROR_H

/*
 * struct kvz_error: an internal failure travelling up to cmd/, which is the
 * only place that prints it. Functions that can fail take `struct kvz_error
 * **err` as their last parameter; *err starts NULL.
 *
 *     return kvz_error_set(err, "open '%s': %s", path, strerror(errno));
 *     ...
 *     if (pull(..., err) < 0)
 *         return kvz_error_wrap(err, "pull '%s'", name);
 *
 * gives "pull 'debian12': open '/x': No such file or directory".
 * Setting an error when one is already set keeps the first (a callee's
 * error is never overwritten).
 */
struct kvz_error {
    char *msg;
    int code; /* the errno of the failure (kvz_error_set_errno, kvz_error_set_code), else 0 */
};

/* Sets *err (unless already set) and returns -1. err may be NULL. */
int kvz_error_set(struct kvz_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like kvz_error_set(), appending ": strerror(errno)" (errno read at entry) and keeping errno
 * as the error's code. */
int kvz_error_set_errno(struct kvz_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like kvz_error_set_errno() with the errno value `code` instead of errno. */
int kvz_error_set_code(struct kvz_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The errno a failure carries (0 for none, and for a NULL error): callers decide on the kind of
 * a failure with it ("EPERM: fall back"), never by reading the message. */
int kvz_error_code(const struct kvz_error *e);

/* Hands *src over to *dst: when *dst is unset it takes *src, else *src is freed (the first
 * error is kept). *src is NULL afterwards. Returns -1, so `return kvz_error_move(err, &e);`. */
int kvz_error_move(struct kvz_error **dst, struct kvz_error **src);

/* Prefixes "CONTEXT: " to *err (sets it to CONTEXT when unset); returns -1. */
int kvz_error_wrap(struct kvz_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends "; " and the formatted text to *err's message: what to do about a failure that only
 * the caller can tell (a full disk: where to free space). Returns -1. */
int kvz_error_advise(struct kvz_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message, or "unknown error" for NULL. */
const char *kvz_error_msg(const struct kvz_error *e);

void kvz_error_free(struct kvz_error *e);

/* Frees *err and sets it to NULL. */
void kvz_error_clear(struct kvz_error **err);

#endif
