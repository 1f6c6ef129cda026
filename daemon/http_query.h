/* http_query.h - percent-decoding, and the query string of a request.
 *
 * Pure functions, no I/O, any thread. Used for the path and the query of
 * every request before a handler runs, so that a malformed escape is a
 * 400 and never a handler's problem.
 */
#ifndef FR_DAEMON_HTTP_QUERY_H
#define FR_DAEMON_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* More parameters than this is a 400: no endpoint takes that many. */
#define HTTP_QUERY_PARAMS_MAX 128

struct http_param {
    const char *key; /* decoded, NUL-terminated; points into http_query.text */
    const char *val; /* "" for a key without '=' */
};

/* Parameters in the order they came, repeated keys included. */
struct http_query {
    struct http_param *params; /* owns; n entries */
    size_t n;
    char *text; /* owns: the decoded keys and values */
};

/* Decodes the %XX escapes of src[0..len) into dst, which has room for len
 * bytes and may be src itself; with plus_space, '+' becomes ' '. Returns
 * the decoded length, or -EINVAL for a malformed escape or one that
 * decodes to NUL (every result is used as a C string). */
ssize_t http_query_unescape(char *dst, const char *src, size_t len, bool plus_space);

/* Parses s[0..len), the part after '?', as key=value pairs joined by '&'
 * (application/x-www-form-urlencoded: '+' is a space; empty pairs are
 * skipped). Returns 0, or -EINVAL (a bad escape) or -E2BIG (more than
 * HTTP_QUERY_PARAMS_MAX) with *why a short reason, or -ENOMEM; *q is
 * empty on failure. Free with http_query_fini(). */
int http_query_parse(struct http_query *q, const char *s, size_t len, const char **why);

void http_query_fini(struct http_query *q);

/* The first value of key, or NULL. */
const char *http_query_get(const struct http_query *q, const char *key);

/* The values of key one by one: start with *pos = 0; NULL at the end. */
const char *http_query_next(const struct http_query *q, const char *key, size_t *pos);

#endif
