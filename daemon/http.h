/* http.h - the daemon's HTTP/1.x server: the API its endpoints use.
 *
 * One server listens on TCP (127.0.0.1:6060 unless told otherwise) and on
 * a unix socket, and serves the same routes on both. The daemon registers
 * a handler per method and path; a handler gets a request and finishes it
 * with exactly one http_reply*() or with http_stream_start(), any number of
 * http_stream_write() and http_stream_end(). Everything a client can get
 * wrong (syntax, sizes, timeouts, unknown paths and methods, bad escapes)
 * is answered here with a one-line text/plain error before any handler
 * runs.
 *
 * Threads: http_new(), http_route(), http_start(), http_stop(), http_free(),
 * http_stats() and http_on_abort() run on the loop thread, and so does
 * every callback. The request calls (http_req_*(), http_reply*(),
 * http_stream_*()) may be made from any thread, one at a time per request,
 * so that a thread-pool job can produce a response and wait for each
 * write's done callback (backpressure).
 *
 * Where things live: the server and its sockets in http.c; the request
 * path (parser, limits, routing, the request calls above) in http_conn.c,
 * next to the per-connection state those calls act on; routes in
 * http_route.c; query strings in http_query.c; response heads in
 * http_resp.c; the unix socket file in http_listen.c.
 */
#ifndef FR_DAEMON_HTTP_H
#define FR_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "daemon/http_query.h"

/* Defaults for the fields of http_cfg left 0 (NULL for listen). */
#define HTTP_DEFAULT_LISTEN           "127.0.0.1:6060"
#define HTTP_DEFAULT_MAX_CONNS        64
#define HTTP_DEFAULT_MAX_HEADER_BYTES 8192
#define HTTP_DEFAULT_MAX_URL          2048
#define HTTP_DEFAULT_MAX_BODY         65536
#define HTTP_DEFAULT_HEADER_TIMEOUT   10000 /* ms */
#define HTTP_DEFAULT_IDLE_TIMEOUT     60000 /* ms */
#define HTTP_DEFAULT_WRITE_TIMEOUT    30000 /* ms */

/* Smallest max_header_bytes accepted: a request line and a Host header. */
#define HTTP_MIN_HEADER_BYTES 256

struct http_cfg {
    const char *listen;         /* borrows; "host:port", "[v6]:port"; "" = no TCP */
    const char *unix_path;      /* borrows; NULL = no unix socket */
    unsigned unix_mode;         /* permissions of the socket file; 0 = 0660 */
    const char *unix_group;     /* borrows; group to chown the socket to; NULL = keep */
    unsigned max_conns;         /* beyond it: 503 and close */
    size_t max_header_bytes;    /* request line and headers; beyond: 431 */
    size_t max_url;             /* request target; beyond: 414 */
    size_t max_body;            /* POST routes only; beyond: 413 */
    unsigned header_timeout_ms; /* a request must arrive whole within this */
    unsigned idle_timeout_ms;   /* keep-alive: between requests */
    unsigned write_timeout_ms;  /* a response write that makes no progress */
};

/* What /metrics reports. Loop thread. */
struct http_stats {
    uint64_t responses[6];   /* [1]..[5]: final responses by status class */
    uint64_t conns_open;     /* now, not counting rejected ones */
    uint64_t conns_total;    /* accepted and served */
    uint64_t conns_rejected; /* answered 503 at max_conns */
    uint64_t bytes_sent;     /* written to sockets: heads, bodies, framing */
    uint64_t timeouts;       /* header, idle and write timeouts */
    uint64_t aborts;         /* client gone while a handler held its request */
};

struct http_server;
struct http_req;

/* One extra response header; both strings borrowed for the call. */
struct http_header {
    const char *name;
    const char *value;
};

/* A handler must finish req (see the file comment); it may do so later,
 * from another thread. */
typedef void (*http_handler_fn)(struct http_req *req, void *arg);
/* A write was taken by the socket (status 0) or will never be
 * (-ECONNRESET); the buffer is the caller's again. Loop thread. */
typedef void (*http_done_cb)(int status, void *arg);
/* The client went away while the handler still held req. req stays valid
 * until the handler finishes it, which it still must. Loop thread. */
typedef void (*http_abort_cb)(struct http_req *req, void *arg);
typedef void (*http_stop_cb)(struct http_server *srv);

/* ---- the server (loop thread) ---- */

/* Returns owned in *out; free with http_free() after http_stop() called
 * back. Copies cfg (the strings too). -EINVAL a limit out of range,
 * -ENOMEM. */
int http_new(uv_loop_t *loop, const struct http_cfg *cfg, struct http_server **out);

/* Serves method on path. path is exact, or a prefix route when its last
 * segment is a lone '*': "/a/snapshots/" followed by '*' serves
 * "/a/snapshots/NAME" for one non-empty segment NAME (see
 * http_req_tail()). POST routes may receive a body of up to max_body
 * bytes; other methods get 413 for one. HEAD cannot be routed: it gets
 * its 404 or 405 without a body. Before http_start(). -EINVAL bad method
 * or path, -EEXIST taken, -ENOSPC. */
int http_route(struct http_server *srv, const char *method, const char *path, http_handler_fn fn,
               void *arg);

/* Binds and listens. A stale socket file at unix_path is replaced; a live
 * one (-EADDRINUSE), a symlink or any other file (-EEXIST) is not. Also
 * -EINVAL a bad address, -ENOENT an unknown group, or a bind error. On
 * failure too, end with http_stop(). */
int http_start(struct http_server *srv);

/* The TCP port listened on (useful with port 0), or -errno. */
int http_tcp_port(const struct http_server *srv);

/* Closes the listeners (removing the socket file if it is still ours) and
 * every connection; a handler holding a request gets its abort callback.
 * cb runs once every handle is closed and every request finished; only
 * then may srv be freed. */
void http_stop(struct http_server *srv, http_stop_cb cb);

/* Takes srv. After http_stop()'s callback, or before http_start(). */
void http_free(struct http_server *srv);

void http_stats(const struct http_server *srv, struct http_stats *out);

/* ---- a request (any thread while the handler holds it) ---- */

const char *http_req_method(const struct http_req *req);
/* The path, percent-decoded, without the query. */
const char *http_req_path(const struct http_req *req);
/* For a prefix route, the segment after the prefix (decoded, never empty,
 * without '/', never "." or ".."); "" for an exact route. */
const char *http_req_tail(const struct http_req *req);
const struct http_query *http_req_query(const struct http_req *req);
/* The first value of header name (any case), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* True for a request that came over the unix socket, whose file mode and
 * group are its access control (TCP on the loopback has none). */
bool http_req_over_unix(const struct http_req *req);
/* The body of a POST (NULL and 0 when there is none). */
const void *http_req_body(const struct http_req *req, size_t *len);

/* ---- finishing a request ---- */

/* Sends a whole response; body is copied. Finishes req whatever it
 * returns: 0; -ECONNRESET the client is gone; -EINVAL a bad status,
 * content type or header (a 500 went out instead); -ENOMEM (the
 * connection is closed). */
int http_reply(struct http_req *req, int status, const char *content_type, const void *body,
               size_t len);
int http_reply_headers(struct http_req *req, int status, const char *content_type,
                       const struct http_header *hdrs, size_t nhdrs, const void *body, size_t len);
/* text/plain, reason on one line with a '\n' added. As http_reply(). */
int http_reply_error(struct http_req *req, int status, const char *reason);
/* 503 with Retry-After: "try again later", e.g. too many snapshots at
 * once. As http_reply(). */
int http_reply_busy(struct http_req *req, unsigned retry_after_s, const char *reason);

/* Starts a response of unknown length: chunked for HTTP/1.1, ended by
 * closing the connection for HTTP/1.0. Does not finish req. -EINVAL bad
 * arguments or already started (req unchanged), -ECONNRESET, -ENOMEM. */
int http_stream_start(struct http_req *req, int status, const char *content_type,
                      const struct http_header *hdrs, size_t nhdrs);

/* Sends len (> 0) bytes of the body. Borrows buf until done(status, arg)
 * runs, on the loop thread, once the socket has taken them (or never
 * will): a producer that waits for it before writing more holds the
 * memory of the stream to what it has in flight. With done NULL, buf is
 * copied instead and nothing waits: for small writes only. Returns 0 and
 * calls done later, or -errno and never calls it: -EINVAL not streaming
 * or len 0, -ECONNRESET the client is gone, -ENOMEM. */
int http_stream_write(struct http_req *req, const void *buf, size_t len, http_done_cb done,
                      void *arg);

/* Ends the response and finishes req whatever it returns: 0;
 * -ECONNRESET the client went away first; -EINVAL not started (a 500
 * went out instead). */
int http_stream_end(struct http_req *req);

/* Ends a started response as broken: the connection is dropped without
 * the last chunk, so the client sees a cut body, never one that looks
 * whole. Finishes req. 0, or -ECONNRESET the client was gone anyway. */
int http_stream_abort(struct http_req *req);

/* Calls cb(req, arg) once, on the loop thread, if the client goes away
 * (disconnect, write error or timeout, server stop) before the handler
 * finishes req; never after the call that finishes it has begun, on
 * whatever thread, so cb may use what the handler frees once done. Loop
 * thread, from the handler. -ECONNRESET already gone (cb will not be
 * called). */
int http_on_abort(struct http_req *req, http_abort_cb cb, void *arg);

#endif
