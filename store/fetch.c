#include "store/fetch.h"

#include "base/buf.h"
#include "base/error.h"
#include "parser/template_url.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One transfer attempt's view of the response. */
struct xfer {
    const struct kvz_fetch_sink *sink;
    const struct kvz_store_opts *opts;
    const char *name;
    CURL *h;
    struct kvz_error *sink_err; /* set when the sink refused bytes */
    uint64_t have;              /* bytes the sink holds */
    uint64_t start;             /* `have` when this attempt started */
    uint64_t resumed;           /* `have` when the fetch started */
    uint64_t total;             /* expected full size, 0 when unknown */
    bool checked;               /* the status of this response was looked at */
    bool is_http;
    bool range_ok;    /* Content-Range of this response starts at `start` */
    uint64_t range_s; /* its start */
    uint64_t range_t; /* its total, 0 when "*" */
    uint64_t whole;   /* the file's size a 416 answer gives ("bytes *" and "/N"), else 0 */
};

static void report(const struct xfer *x, enum kvz_progress_phase phase, const char *msg)
{
    if (!x->opts->progress)
        return;
    struct kvz_progress p = {.name = x->name,
                             .phase = phase,
                             .done = x->have,
                             .total = x->total,
                             .resumed = x->resumed,
                             .message = msg};
    x->opts->progress(x->opts->progress_arg, &p);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    /* A new response (after a redirect, or an interim one) starts afresh. */
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        x->range_ok = false;
        x->range_t = x->whole = 0;
        return len;
    }
    if (len > 14 && !strncasecmp(data, "content-range:", 14)) {
        char line[160];
        size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
        memcpy(line, data, l);
        line[l] = '\0';
        uint64_t s = 0, e = 0, t = 0;
        if (sscanf(line + 14, " bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &s, &e, &t) >= 2) {
            x->range_s = s;
            x->range_t = t;
            x->range_ok = true;
        } else if (sscanf(line + 14, " bytes */%" SCNu64, &t) == 1) {
            x->whole = t;
        }
    }
    return len;
}

/* Decides, on the first body bytes of a response, whether they continue what we have. */
static int check_response(struct xfer *x)
{
    CURL *h = x->h;
    long code = 0;
    curl_off_t cl = -1;
    x->checked = true;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    x->is_http = code != 0;
    if (x->start > 0 && x->is_http && !(code == 206 && x->range_ok && x->range_s == x->start)) {
        /* The server ignored Range and sends everything: start over. */
        if (x->sink->restart(x->sink->arg, &x->sink_err) < 0)
            return -1;
        x->have = x->start = x->resumed = 0;
    }
    if (x->range_ok && x->range_t)
        x->total = x->range_t;
    else if (cl >= 0)
        x->total = x->start + (uint64_t)cl;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (!x->checked && check_response(x) < 0)
        return 0;
    if (x->sink->write(x->sink->arg, data, len, &x->sink_err) < 0)
        return 0;
    x->have += len;
    report(x, KVZ_PROGRESS_DOWNLOAD, NULL);
    return len;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

static bool transient_http(long code)
{
    return code == 408 || code == 429 || (code >= 500 && code <= 599);
}

/* Why an attempt failed, in words a user can act on (curl's own detail kept in parentheses). */
static void describe_failure(struct kvz_buf *why, CURLcode rc, const char *ebuf,
                             const struct kvz_store_opts *o, long code)
{
    kvz_buf_clear(why);
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        kvz_buf_printf(why, "server answered HTTP %ld", code);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        kvz_buf_printf(why, "transfer stalled (under %u bytes/s for %u s, or no connection)",
                       o->stall_bytes, o->stall_seconds);
    else if (rc == CURLE_PARTIAL_FILE)
        kvz_buf_printf(why, "body shorter than its Content-Length (%s)",
                       *ebuf ? ebuf : curl_easy_strerror(rc));
    else
        kvz_buf_printf(why, "%s", *ebuf ? ebuf : curl_easy_strerror(rc));
}

static int setup(CURL *h, struct xfer *x, const char *url, char *ebuf)
{
    const struct kvz_store_opts *o = x->opts;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(h, opt, val)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
    /* A redirect must never turn a download into a read of a local file. */
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, (long)o->max_redirects);
    SET(CURLOPT_FAILONERROR, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_LOW_SPEED_LIMIT, (long)o->stall_bytes);
    SET(CURLOPT_LOW_SPEED_TIME, (long)o->stall_seconds);
    SET(CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
    SET(CURLOPT_BUFFERSIZE, 512L * 1024);
    SET(CURLOPT_USERAGENT, "kvz/" KVZ_VERSION);
    SET(CURLOPT_ERRORBUFFER, ebuf);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

int kvz_fetch(uint64_t *out_size, const char *url, uint64_t offset, const char *name,
              const struct kvz_store_opts *opts, const struct kvz_fetch_sink *sink,
              struct kvz_error **err)
{
    struct xfer x = {.sink = sink, .opts = opts, .name = name, .have = offset, .resumed = offset};
    struct kvz_buf why = KVZ_BUF_INIT;
    char ebuf[CURL_ERROR_SIZE] = "";
    unsigned failures = 0, attempts = 0;
    int ret = -1;
    char *shown = kvz_url_redact(url); /* messages never carry credentials */
    CURL *h = curl_easy_init();
    if (!shown) {
        kvz_error_set(err, "download: out of memory");
        goto cleanup;
    }
    if (!h || setup(h, &x, url, ebuf) < 0) {
        kvz_error_set(err, "download '%s': cannot set up libcurl", shown);
        goto cleanup;
    }
    x.h = h;
    for (;;) {
        char range[48];
        x.start = x.have;
        x.checked = false;
        x.range_ok = false;
        ebuf[0] = '\0';
        snprintf(range, sizeof(range), "%" PRIu64 "-", x.have);
        curl_easy_setopt(h, CURLOPT_RANGE, x.have ? range : NULL);
        attempts++;
        CURLcode rc = curl_easy_perform(h);
        long code = 0;
        uint64_t moved = x.have > x.start ? x.have - x.start : 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (x.sink_err) {
            kvz_error_move(err, &x.sink_err);
            kvz_error_wrap(err, "download '%s'", shown);
            goto cleanup;
        }
        if (rc == CURLE_OK) {
            if (!x.checked && check_response(&x) < 0) {
                kvz_error_move(err, &x.sink_err);
                kvz_error_wrap(err, "download '%s'", shown);
                goto cleanup;
            }
            break;
        }
        describe_failure(&why, rc, ebuf, opts, code);
        if (rc == CURLE_TOO_MANY_REDIRECTS) {
            kvz_error_set(err, "download '%s': more than %u redirects; check the url", shown,
                          opts->max_redirects);
            goto cleanup;
        }
        bool again =
            transient_curl(rc) || (rc == CURLE_HTTP_RETURNED_ERROR && transient_http(code));
        if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && x.have > 0 && x.whole == x.have)
            break; /* we hold the whole file already (a pull stopped right after its download) */
        if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && x.have > 0) {
            /* Our partial data runs past the server's file: it changed or lied; start over. */
            if (sink->restart(sink->arg, err) < 0) {
                kvz_error_wrap(err, "download '%s'", shown);
                goto cleanup;
            }
            x.have = x.resumed = 0;
            again = true;
        }
        if (!again) {
            kvz_error_set(err, "download '%s': %s; check the url", shown, kvz_buf_cstr(&why));
            goto cleanup;
        }
        /* Attempts that moved a good amount of data do not count against the retries. */
        if (moved >= (1u << 20))
            failures = 0;
        if (++failures > opts->retries || attempts > 10 * (opts->retries + 1)) {
            kvz_error_set(err, "download '%s': %s (gave up after %u attempts)", shown,
                          kvz_buf_cstr(&why), attempts);
            goto cleanup;
        }
        uint64_t delay = (uint64_t)opts->backoff_ms << (failures - 1 < 16 ? failures - 1 : 16);
        curl_off_t retry_after = -1;
        if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
            delay = (uint64_t)retry_after * 1000;
        if (delay > opts->backoff_max_ms)
            delay = opts->backoff_max_ms;
        report(&x, KVZ_PROGRESS_RETRY, kvz_buf_cstr(&why));
        sleep_ms((unsigned)delay);
    }
    *out_size = x.have;
    ret = 0;
cleanup:
    kvz_error_free(x.sink_err);
    kvz_buf_release(&why);
    curl_easy_cleanup(h);
    free(shown);
    return ret;
}

struct mem_sink {
    struct kvz_buf *b;
    size_t max;
};

static int mem_write(void *arg, const void *data, size_t len, struct kvz_error **err)
{
    struct mem_sink *m = arg;
    if (m->b->len + len > m->max)
        return kvz_error_set(err, "larger than %zu bytes; is this really a checksums file?",
                             m->max);
    if (kvz_buf_add(m->b, data, len) < 0)
        return kvz_error_set(err, "out of memory");
    return 0;
}

static int mem_restart(void *arg, struct kvz_error **err)
{
    struct mem_sink *m = arg;
    kvz_buf_clear(m->b);
    return 0;
}

int kvz_fetch_small(struct kvz_buf *out, const char *url, size_t max, const char *name,
                    const struct kvz_store_opts *opts, struct kvz_error **err)
{
    struct mem_sink m = {.b = out, .max = max};
    struct kvz_fetch_sink sink = {.write = mem_write, .restart = mem_restart, .arg = &m};
    uint64_t size = 0;
    /* a small document is no download to show: the template's own bytes are (its retries
     * still are reported) */
    struct kvz_store_opts quiet = *opts;
    quiet.progress = NULL;
    kvz_buf_clear(out);
    if (kvz_fetch(&size, url, 0, name, &quiet, &sink, err) < 0)
        return -1;
    return kvz_buf_puts(out, "") < 0 ? kvz_error_set(err, "out of memory") : 0;
}

int kvz_fetch_url(char **out, const char *source, struct kvz_error **err)
{
    if (!strncmp(source, "http://", 7) || !strncmp(source, "https://", 8) ||
        !strncmp(source, "file://", 7)) {
        *out = strdup(source);
        return *out ? 0 : kvz_error_set(err, "out of memory");
    }
    if (source[0] != '/') {
        char *shown = kvz_url_redact(source);
        kvz_error_set(
            err,
            "template source '%s' is neither an http(s)/file URL nor an absolute path; write the full path",
            shown ? shown : "?");
        free(shown);
        return -1;
    }
    CURLU *u = curl_url();
    char *s = NULL;
    int ret = -1;
    if (!u || curl_url_set(u, CURLUPART_SCHEME, "file", 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PATH, source, CURLU_URLENCODE) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK) {
        kvz_error_set(err, "template source '%s': cannot turn it into a file URL", source);
        goto cleanup;
    }
    *out = strdup(s);
    ret = *out ? 0 : kvz_error_set(err, "out of memory");
cleanup:
    curl_free(s);
    curl_url_cleanup(u);
    return ret;
}

static int unparsable(struct kvz_error **err, const char *url)
{
    char *shown = kvz_url_redact(url);
    kvz_error_set(err, "url '%s' cannot be parsed; check it", shown ? shown : "?");
    free(shown);
    return -1;
}

int kvz_fetch_local_path(char **out, const char *source, struct kvz_error **err)
{
    *out = NULL;
    if (source[0] == '/') {
        *out = strdup(source);
        return *out ? 1 : kvz_error_set(err, "out of memory");
    }
    if (strncmp(source, "file://", 7))
        return 0;
    CURLU *u = curl_url();
    char *path = NULL;
    int ret = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, source, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
        unparsable(err, source);
        goto cleanup;
    }
    *out = strdup(path);
    ret = *out ? 1 : kvz_error_set(err, "out of memory");
cleanup:
    curl_free(path);
    curl_url_cleanup(u);
    return ret;
}

int kvz_fetch_url_basename(char **out, const char *url, struct kvz_error **err)
{
    CURLU *u = curl_url();
    char *path = NULL, *shown = NULL;
    int ret = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
        unparsable(err, url);
        goto cleanup;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        shown = kvz_url_redact(url);
        kvz_error_set(err, "url '%s' names no file; a checksums file needs one to look up",
                      shown ? shown : "?");
        goto cleanup;
    }
    *out = strdup(base);
    ret = *out ? 0 : kvz_error_set(err, "out of memory");
cleanup:
    free(shown);
    curl_free(path);
    curl_url_cleanup(u);
    return ret;
}
