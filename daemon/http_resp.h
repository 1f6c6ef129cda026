/* http_resp.h - the bytes of a response head, and of its error bodies.
 *
 * Pure formatting, any thread: a handler's thread formats its own head,
 * so nothing here touches a connection. Everything a handler passes in is
 * checked, so a name or value from a request (a snapshot name in a
 * Content-Disposition) can never split the head or the framing.
 */
#ifndef FR_DAEMON_HTTP_RESP_H
#define FR_DAEMON_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/http.h"

#define HTTP_CHUNK_PREFIX_MAX 20  /* 16 hex digits, CRLF and a NUL */
#define HTTP_LINE_MAX         160 /* an error body: one line, '\n' included */

enum http_framing {
    HTTP_FRAME_LENGTH,  /* Content-Length */
    HTTP_FRAME_CHUNKED, /* Transfer-Encoding: chunked */
    HTTP_FRAME_CLOSE,   /* the body ends when the connection does (HTTP/1.0) */
    HTTP_FRAME_NONE,    /* no body and no length: the answer to a HEAD */
};

enum http_connection {
    HTTP_CONN_DEFAULT,    /* nothing: HTTP/1.1 keeps the connection */
    HTTP_CONN_CLOSE,      /* "Connection: close" */
    HTTP_CONN_KEEP_ALIVE, /* "Connection: keep-alive", for HTTP/1.0 clients */
};

struct http_resp_head {
    int status;
    const char *content_type;       /* borrows; NULL: none */
    const struct http_header *hdrs; /* borrows */
    size_t nhdrs;
    enum http_framing framing;
    size_t length; /* HTTP_FRAME_LENGTH */
    enum http_connection connection;
};

/* "Not Found"; "Unknown" for a code we do not name. */
const char *http_resp_reason(int status);

/* The head's size in bytes, or -EINVAL: a status outside 200..599, a
 * body with 204 or 304, a bad content type, a header name that is not a
 * token or one we set ourselves (framing, Connection, Content-Type), a
 * value with a control character. */
ssize_t http_resp_head_size(const struct http_resp_head *h);

/* Writes the head (valid per http_resp_head_size()) to buf, which has room
 * for that size plus a NUL; returns its length. */
size_t http_resp_head_write(const struct http_resp_head *h, char *buf, size_t size);

/* "<len in hex>\r\n" into buf[HTTP_CHUNK_PREFIX_MAX]; returns its length. */
size_t http_resp_chunk_prefix(char *buf, size_t len);

/* reason as one line: control characters become spaces, too long is cut,
 * '\n' added. Into buf[HTTP_LINE_MAX]; returns the length. */
size_t http_resp_line(char *buf, const char *reason);

#endif
