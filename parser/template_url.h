#ifndef KVZ_PARSER_TEMPLATE_URL_H
#define KVZ_PARSER_TEMPLATE_URL_H

#include "parser/manifest.h"

#include <stdbool.h>

/* What a template URL says before anything is downloaded. */
enum kvz_url_scheme { KVZ_URL_BAD = 0, KVZ_URL_HTTP, KVZ_URL_HTTPS, KVZ_URL_FILE, KVZ_URL_PATH };

/* http://HOST..., https://HOST..., file:///abs, or an absolute or relative path; else BAD. */
enum kvz_url_scheme kvz_url_scheme(const char *url);

/* The content kind its file name promises (.tar.xz -> rootfs, .qcow2 -> disk, .iso -> iso). */
enum kvz_content_kind kvz_url_content_kind(const char *url);

/*
 * The CPU architecture the file name names ("arm64" for ..._arm64.tar.zst,
 * "aarch64", "i386", ...), when it is not the one kvz was built for; else NULL.
 */
const char *kvz_url_foreign_arch(const char *url);

/* The host architecture as Debian names it ("amd64"), or NULL when unknown. */
const char *kvz_host_arch(void);

/*
 * `url` fit to be shown or stored: the userinfo ("user:password@") and the value of every query
 * parameter replaced by "***": "https://me:pw@host/x.tar?token=abc" is shown with "***@host" and
 * "token=***". Anything that is not "scheme://..." (a plain path) is
 * returned as it is. Every message and every file that names a template, checksums or git URL
 * uses it. Returns a new string (caller frees), or NULL when out of memory.
 */
char *kvz_url_redact(const char *url) __attribute__((warn_unused_result));

/* Lowercases hex in place; true when s is exactly `digits` hex digits. */
bool kvz_hex_digest_normalize(char *s, size_t digits);

#endif
