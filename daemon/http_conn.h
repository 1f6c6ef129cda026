/* http_conn.h - one HTTP/1.x connection, without sockets.
 *
 * Bytes go in through http_conn_feed(); out come writes, a timer to arm,
 * reading to pause or resume, and at the end a close, all through the
 * struct http_conn_io a transport supplies: http.c's sockets, or the
 * memory sink of tests/fuzz/fuzz_http.c, which is how the whole request
 * path (parser callbacks, limits, routing, query parsing, error replies)
 * is fuzzed from a byte buffer.
 *
 * Loop thread for every function here. The request calls of http.h
 * (http_reply(), http_stream_*()) are implemented in http_conn.c too: on
 * another thread they hand their write to io->post(), and the transport
 * runs it on the loop thread with http_conn_run().
 *
 * Lifetime: the transport holds one reference from http_conn_init() to
 * http_conn_closed(), a handler one while it holds the request; when both
 * are gone, io->release() says the memory may be freed.
 */
#ifndef FR_DAEMON_HTTP_CONN_H
#define FR_DAEMON_HTTP_CONN_H

#include <llhttp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "daemon/http.h"
#include "daemon/http_query.h"
#include "daemon/http_route.h"

#define HTTP_HEADERS_MAX 64 /* header fields of one request; beyond: 431 */

struct http_conn;

/* Which deadline applies now; the transport maps each to a duration. */
enum http_timer {
    HTTP_TIMER_NONE,   /* a handler is working */
    HTTP_TIMER_HEADER, /* a request is arriving: header_timeout_ms from its first byte */
    HTTP_TIMER_IDLE,   /* keep-alive, between requests */
    HTTP_TIMER_WRITE,  /* writes pending: write_timeout_ms without progress */
};

enum http_out_kind {
    HTTP_OUT_CONTINUE, /* "100 Continue" */
    HTTP_OUT_REPLY,    /* a whole response: final */
    HTTP_OUT_HEAD,     /* the head of a stream */
    HTTP_OUT_DATA,     /* a piece of a stream's body */
    HTTP_OUT_END,      /* the end of a stream: final */
    HTTP_OUT_ABORT,    /* no bytes; final; the connection is dropped (out of memory) */
};

/* One write. Built by whichever thread makes the request call, run on the
 * loop thread, freed when the transport is done with it. */
struct http_out {
    struct http_out *next; /* the transport's queue of posted writes */
    uv_write_t wr;         /* the transport's */
    uv_buf_t bufs[3];      /* borrow data[], static text or the caller's buffer */
    unsigned nbufs;
    enum http_out_kind kind;
    int status; /* REPLY, HEAD: counted when run */
    bool close; /* REPLY, HEAD: the connection closes after this response */
    http_done_cb done;
    void *done_arg;
    char data[]; /* head, chunk prefix, copied body */
};

struct http_conn_io {
    /* Queues out for the socket; calls http_conn_written() later, never
     * from within. 0, or -errno and never calls back. */
    int (*write)(struct http_conn *c, struct http_out *out);
    /* Closes, later calling http_conn_written() for what is queued and
     * then http_conn_closed(). graceful: flush, send FIN, read what the
     * client still sends for a moment, so that it sees our last answer. */
    void (*close)(struct http_conn *c, bool graceful);
    void (*timer)(struct http_conn *c, enum http_timer kind);
    void (*read)(struct http_conn *c, bool on);
    /* Is the caller on the loop thread? */
    bool (*on_loop)(struct http_conn *c);
    /* From another thread: queue out and have the loop thread pass it to
     * http_conn_run(). Takes out. Returns 0. */
    int (*post)(struct http_conn *c, struct http_out *out);
    /* Loop thread: run what post() queued for c, in order, now. */
    void (*drain)(struct http_conn *c);
    /* No reference is left: c's memory may go. */
    void (*release)(struct http_conn *c);
};

/* What a server's connections share. Loop thread. */
struct http_env {
    const struct http_cfg *cfg;       /* borrows; defaults filled in */
    const struct http_routes *routes; /* borrows */
    struct http_stats *stats;         /* borrows; updated here */
};

enum http_req_api { HTTP_API_NONE, HTTP_API_STREAM, HTTP_API_DONE };

/* The request in flight: one per connection at a time. Read-only while a
 * handler holds it, so that any thread may read it. */
struct http_req {
    struct http_conn *conn;
    const char *method;      /* llhttp's static name */
    const char *path;        /* decoded; in conn->arena */
    const char *tail;        /* in path, or "" */
    struct http_query query; /* owns */
    char *body;              /* owns; POST only */
    size_t body_len, body_cap;
    const struct http_route_entry *route;
    uint32_t nhdrs;
    struct {
        uint32_t name, value; /* NUL-terminated, at these offsets in conn->arena */
    } hdrs[HTTP_HEADERS_MAX];
    uint8_t minor;   /* HTTP/1.minor */
    bool head_only;  /* a HEAD: answers carry no body */
    bool keep_alive; /* the connection may serve another request after this one */
    /* The handler's side, touched only by the thread making the call. */
    enum http_req_api api;
    struct http_out *spare; /* owns: the final write, allocated before the handler runs so
                             * that finishing a request can never fail for want of memory */
    /* Set by the call that finishes the request, on whatever thread: from
     * then on the handler's memory may be gone (freed by its after-work
     * callback before its last write has run), so no abort callback. */
    atomic_bool finished;
    /* Loop thread. */
    http_abort_cb abort_cb;
    void *abort_arg;
};

enum http_conn_state {
    HTTP_ST_IDLE, /* between requests */
    HTTP_ST_HEAD, /* a request is arriving (its head, then its body) */
    HTTP_ST_BUSY, /* a response is being made or sent; input waits in the stash */
};

struct http_conn {
    const struct http_env *env;    /* borrows */
    const struct http_conn_io *io; /* borrows */
    llhttp_t parser;
    struct http_req req;
    char *arena; /* owns: request target and headers, max_header_bytes */
    size_t arena_len, url_len, head_bytes;
    char *stash; /* owns: read, not parsed yet; reading pauses at max_header_bytes */
    size_t stash_len, stash_cap;
    enum http_conn_state state;
    enum http_timer timer;
    unsigned refs;
    unsigned in_api; /* inside a request call made on the loop thread */
    unsigned writes_pending;
    int pause;                  /* why llhttp paused: PAUSE_* in http_conn.c */
    int err_status;             /* a request refused before its handler */
    const char *err_reason;     /* static */
    char allow[HTTP_ALLOW_MAX]; /* for a 405 */
    bool in_field, headers_done;
    bool over_unix; /* accepted on the unix socket (set by the server after init) */
    bool in_pump; /* parsing or dispatching: do not re-enter */
    bool reading, no_input, eof;
    bool held;       /* a handler holds req */
    bool resp_final; /* the response's last bytes are queued */
    bool served;     /* a request was answered: idle timeout from now on */
    bool keep_alive;
    bool closing, closed;
    atomic_bool gone; /* closing: request calls fail fast, any thread */
};

/* c is the caller's (zeroed or not); one reference for the transport. */
void http_conn_init(struct http_conn *c, const struct http_env *env, const struct http_conn_io *io);
/* Arms the first request's deadline. */
void http_conn_start(struct http_conn *c);
/* Answers 503 (too many connections) and closes, reading nothing. */
void http_conn_reject(struct http_conn *c);

/* Borrows data. */
void http_conn_feed(struct http_conn *c, const char *data, size_t len);
/* The client sent FIN. */
void http_conn_eof(struct http_conn *c);
/* Reading failed: the client is gone. */
void http_conn_lost(struct http_conn *c);
/* The deadline armed through io->timer() passed. */
void http_conn_timeout(struct http_conn *c);
/* The server stops: drop the connection. */
void http_conn_stop(struct http_conn *c);

/* io->write() finished out (status 0 or a negative libuv code). Takes out. */
void http_conn_written(struct http_conn *c, struct http_out *out, int status);
/* Runs a posted write on the loop thread. Takes out. */
void http_conn_run(struct http_conn *c, struct http_out *out);
/* The transport is closed; drops its reference. */
void http_conn_closed(struct http_conn *c);

#endif
