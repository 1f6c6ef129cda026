/* http.c - the server: listeners, connections over libuv, and the hop
 * from a handler's thread to the loop (see http.h).
 *
 * Owns the listening handles, every connection (struct srv_conn: a
 * stream, a timer and the socket-free engine of http_conn.c) and one
 * uv_async_t through which other threads hand writes to the loop. Loop
 * thread, except io_post(), which any thread may call under post_lock.
 *
 * Slow clients cost only themselves: reads go to one shared buffer and
 * are parsed at once; each connection has its own deadline (a request
 * that does not arrive whole in time, an idle keep-alive, a write that
 * makes no progress) and its own queue of writes, bounded by the
 * producer waiting for each done callback. A connection over max_conns
 * gets a 503 and is closed, and at most max_conns of those are in flight;
 * beyond that a connection is closed unanswered.
 */
#define _GNU_SOURCE
#include "daemon/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/http_conn.h"
#include "daemon/http_listen.h"
#include "daemon/http_route.h"

#define READ_BUF  16384 /* one read; the engine keeps what it must */
#define LINGER_MS 2000  /* after our FIN, how long to read what the client still sends */
#define BACKLOG   128
#define UNIX_MODE 0660

struct srv_conn {
    struct http_conn core; /* first: the engine's io callbacks get &core */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;              /* owns; sc is freed only in io_release() */
    uv_timer_t timer; /* owns */
    uv_shutdown_t shutdown;
    struct http_server *srv;
    struct srv_conn *prev, *next; /* srv->conns */
    /* Posted writes, under srv->post_lock. */
    struct http_out *posted, **posted_tail;
    struct srv_conn *wprev, *wnext; /* srv->woken */
    bool woken;
    /* Write progress, for HTTP_TIMER_WRITE. */
    enum http_timer timer_kind;
    uint64_t submitted, progress_mark;
    unsigned open_handles;
    bool counted, rejected, reading, closing, handles_closing, lingering, peer_eof;
};

struct http_server {
    uv_loop_t *loop; /* borrows */
    struct http_cfg cfg;
    char *listen, *unix_path, *unix_group; /* owns; cfg's strings point here */
    struct http_routes routes;
    struct http_stats stats;
    struct http_env env;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_async_t async; /* wakes the loop for posted writes */
    uv_thread_t loop_thread;
    uv_mutex_t post_lock;   /* guards woken and every posted list */
    struct srv_conn *woken; /* connections with posted writes */
    struct srv_conn *conns; /* every connection not yet released */
    size_t nconns, nrejected;
    struct http_sockfile sockfile;
    unsigned closing_handles;
    bool started, tcp_open, pipe_open, async_open, sockfile_ours;
    bool stopping, stopped;
    http_stop_cb stop_cb;
    char rbuf[READ_BUF]; /* every read lands here and is parsed at once */
};

static struct srv_conn *sc_of(struct http_conn *c)
{
    return (struct srv_conn *)c;
}

/* ---- closing a connection ---- */

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct srv_conn *sc = h->data;
    if (--sc->open_handles == 0)
        http_conn_closed(&sc->core); /* may release sc */
}

static void close_handles(struct srv_conn *sc)
{
    if (sc->handles_closing)
        return;
    sc->handles_closing = true;
    /* Pending writes are called back with UV_ECANCELED before the close. */
    uv_close(&sc->h.handle, on_conn_handle_closed);
    uv_close((uv_handle_t *)&sc->timer, on_conn_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_linger_timer(uv_timer_t *t)
{
    close_handles(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct srv_conn *sc = req->data;
    if (status < 0 || sc->peer_eof || sc->handles_closing) {
        close_handles(sc);
        return;
    }
    /* Our FIN is out. Keep reading (and dropping) what the client still
     * sends, so that closing with unread data does not reset the
     * connection before the client has read our last answer. */
    sc->lingering = true;
    if (!sc->reading && uv_read_start(&sc->h.stream, on_alloc, on_read) == 0)
        sc->reading = true;
    uv_timer_start(&sc->timer, on_linger_timer, LINGER_MS, 0);
}

/* ---- the engine's io ---- */

static uint64_t bytes_taken(struct srv_conn *sc)
{
    return sc->submitted - uv_stream_get_write_queue_size(&sc->h.stream);
}

static void on_write(uv_write_t *wr, int status)
{
    struct srv_conn *sc = wr->data;
    struct http_out *out = (struct http_out *)((char *)wr - offsetof(struct http_out, wr));
    http_conn_written(&sc->core, out, status);
}

static int io_write(struct http_conn *c, struct http_out *out)
{
    struct srv_conn *sc = sc_of(c);
    out->wr.data = sc;
    int err = uv_write(&out->wr, &sc->h.stream, out->bufs, out->nbufs, on_write);
    if (err == 0)
        for (unsigned i = 0; i < out->nbufs; i++)
            sc->submitted += out->bufs[i].len;
    return err;
}

static void on_timer(uv_timer_t *t);

static void io_close(struct http_conn *c, bool graceful)
{
    struct srv_conn *sc = sc_of(c);
    sc->closing = true;
    if (graceful && !sc->handles_closing) {
        sc->shutdown.data = sc;
        if (uv_shutdown(&sc->shutdown, &sc->h.stream, on_shutdown) == 0) {
            /* The flush before the FIN may stall on a client that does
             * not read: bound it like any write. */
            uv_timer_start(&sc->timer, on_linger_timer, sc->srv->cfg.write_timeout_ms, 0);
            return;
        }
    }
    close_handles(sc);
}

static void io_timer(struct http_conn *c, enum http_timer kind)
{
    struct srv_conn *sc = sc_of(c);
    const struct http_cfg *cfg = &sc->srv->cfg;
    unsigned ms = kind == HTTP_TIMER_HEADER  ? cfg->header_timeout_ms
                  : kind == HTTP_TIMER_IDLE  ? cfg->idle_timeout_ms
                  : kind == HTTP_TIMER_WRITE ? cfg->write_timeout_ms
                                             : 0;
    sc->timer_kind = kind;
    if (!ms) {
        uv_timer_stop(&sc->timer);
        return;
    }
    sc->progress_mark = bytes_taken(sc);
    uv_timer_start(&sc->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct srv_conn *sc = t->data;
    if (sc->timer_kind == HTTP_TIMER_WRITE) {
        /* A slow reader that still takes bytes keeps its connection; one
         * that took nothing for a whole period is stalled. */
        uint64_t now = bytes_taken(sc);
        if (now != sc->progress_mark) {
            sc->progress_mark = now;
            uv_timer_start(&sc->timer, on_timer, sc->srv->cfg.write_timeout_ms, 0);
            return;
        }
    }
    http_conn_timeout(&sc->core);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct srv_conn *sc = h->data;
    *buf = uv_buf_init(sc->srv->rbuf, sizeof sc->srv->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct srv_conn *sc = s->data;
    if (n > 0) {
        if (!sc->closing)
            http_conn_feed(&sc->core, buf->base, (size_t)n);
        return; /* closing: drop it */
    }
    if (n == 0)
        return;
    if (n == UV_EOF)
        sc->peer_eof = true;
    if (sc->closing) {
        /* Lingering, or an error: done. Otherwise the FIN waits for the
         * flush, and on_shutdown() closes at once since peer_eof is set. */
        if (sc->lingering || n != UV_EOF)
            close_handles(sc);
        else if (sc->reading && uv_read_stop(s) == 0)
            sc->reading = false;
        return;
    }
    if (n == UV_EOF) {
        sc->reading = false; /* libuv stops reading at EOF */
        http_conn_eof(&sc->core);
    } else {
        http_conn_lost(&sc->core);
    }
}

static void io_read(struct http_conn *c, bool on)
{
    struct srv_conn *sc = sc_of(c);
    if (sc->closing || sc->peer_eof || on == sc->reading)
        return;
    int err = on ? uv_read_start(&sc->h.stream, on_alloc, on_read) : uv_read_stop(&sc->h.stream);
    if (err == 0)
        sc->reading = on;
}

static bool io_on_loop(struct http_conn *c)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &sc_of(c)->srv->loop_thread);
}

/* Under post_lock. */
static void woken_unlink(struct http_server *srv, struct srv_conn *sc)
{
    if (!sc->woken)
        return;
    if (sc->wprev)
        sc->wprev->wnext = sc->wnext;
    else
        srv->woken = sc->wnext;
    if (sc->wnext)
        sc->wnext->wprev = sc->wprev;
    sc->wprev = sc->wnext = NULL;
    sc->woken = false;
}

static int io_post(struct http_conn *c, struct http_out *out)
{
    struct srv_conn *sc = sc_of(c);
    struct http_server *srv = sc->srv;
    out->next = NULL;
    uv_mutex_lock(&srv->post_lock);
    *sc->posted_tail = out;
    sc->posted_tail = &out->next;
    if (!sc->woken) {
        sc->woken = true;
        sc->wprev = NULL;
        sc->wnext = srv->woken;
        if (srv->woken)
            srv->woken->wprev = sc;
        srv->woken = sc;
    }
    /* Still under the lock: once it is released the loop may run out,
     * finish the request and stop and free the server. */
    uv_async_send(&srv->async);
    uv_mutex_unlock(&srv->post_lock);
    return 0;
}

static void io_drain(struct http_conn *c)
{
    struct srv_conn *sc = sc_of(c);
    struct http_server *srv = sc->srv;
    /* One at a time, so that a write made by a callback of one of them
     * still goes after the rest. */
    for (;;) {
        uv_mutex_lock(&srv->post_lock);
        struct http_out *out = sc->posted;
        if (out) {
            sc->posted = out->next;
            if (!sc->posted)
                sc->posted_tail = &sc->posted;
        } else {
            woken_unlink(srv, sc);
        }
        uv_mutex_unlock(&srv->post_lock);
        if (!out)
            return;
        bool final =
            out->kind == HTTP_OUT_REPLY || out->kind == HTTP_OUT_END || out->kind == HTTP_OUT_ABORT;
        http_conn_run(c, out);
        if (final)
            return; /* the request is over and sc may be gone; nothing may follow */
    }
}

static void on_async(uv_async_t *a)
{
    struct http_server *srv = a->data;
    for (;;) {
        uv_mutex_lock(&srv->post_lock);
        struct srv_conn *sc = srv->woken;
        if (sc)
            woken_unlink(srv, sc);
        uv_mutex_unlock(&srv->post_lock);
        if (!sc)
            return;
        io_drain(&sc->core);
    }
}

static void maybe_stopped(struct http_server *srv);

static void io_release(struct http_conn *c)
{
    struct srv_conn *sc = sc_of(c);
    struct http_server *srv = sc->srv;
    uv_mutex_lock(&srv->post_lock);
    woken_unlink(srv, sc);
    uv_mutex_unlock(&srv->post_lock);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        srv->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    if (sc->rejected)
        srv->nrejected--;
    if (sc->counted) {
        srv->nconns--;
        srv->stats.conns_open--;
    }
    free(sc);
    maybe_stopped(srv);
}

static const struct http_conn_io conn_io = {
    .write = io_write,
    .close = io_close,
    .timer = io_timer,
    .read = io_read,
    .on_loop = io_on_loop,
    .post = io_post,
    .drain = io_drain,
    .release = io_release,
};

/* ---- accepting ---- */

/* Out of memory for a connection: take it off the backlog and close it,
 * or libuv would call us again at once, forever. */
static void drop_connection(uv_stream_t *server)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)server, &fd) == 0) {
        int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (s >= 0)
            close(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http_server *srv = server->data;
    if (status < 0)
        return; /* libuv keeps the listener; EMFILE has its own remedy there */
    struct srv_conn *sc = calloc(1, sizeof *sc);
    if (!sc) {
        drop_connection(server);
        return;
    }
    bool tcp = server == (uv_stream_t *)&srv->tcp;
    if (tcp)
        uv_tcp_init(srv->loop, &sc->h.tcp);
    else
        uv_pipe_init(srv->loop, &sc->h.pipe, 0);
    uv_timer_init(srv->loop, &sc->timer);
    sc->open_handles = 2;
    sc->h.handle.data = sc;
    sc->timer.data = sc;
    sc->srv = srv;
    sc->posted_tail = &sc->posted;
    http_conn_init(&sc->core, &srv->env, &conn_io);
    sc->core.over_unix = !tcp;
    sc->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = sc;
    srv->conns = sc;

    bool reject = srv->nconns >= srv->cfg.max_conns;
    if (uv_accept(server, &sc->h.stream) < 0 || (reject && srv->nrejected >= srv->cfg.max_conns) ||
        uv_read_start(&sc->h.stream, on_alloc, on_read) < 0) {
        sc->closing = true;
        close_handles(sc);
        return;
    }
    sc->reading = true;
    if (tcp)
        uv_tcp_nodelay(&sc->h.tcp, 1); /* every write is a whole head or chunk */
    if (reject) {
        sc->rejected = true;
        srv->nrejected++;
        srv->stats.conns_rejected++;
        http_conn_reject(&sc->core);
        return;
    }
    sc->counted = true;
    srv->nconns++;
    srv->stats.conns_open++;
    srv->stats.conns_total++;
    http_conn_start(&sc->core);
}

/* ---- the server ---- */

static int dup_str(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

void http_free(struct http_server *srv)
{
    if (!srv)
        return;
    uv_mutex_destroy(&srv->post_lock);
    free(srv->listen);
    free(srv->unix_path);
    free(srv->unix_group);
    free(srv);
}

int http_new(uv_loop_t *loop, const struct http_cfg *cfg, struct http_server **out)
{
    struct http_cfg c = *cfg;
    if (!c.listen)
        c.listen = HTTP_DEFAULT_LISTEN;
    if (!c.unix_mode)
        c.unix_mode = UNIX_MODE;
    if (!c.max_conns)
        c.max_conns = HTTP_DEFAULT_MAX_CONNS;
    if (!c.max_header_bytes)
        c.max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!c.max_url)
        c.max_url = c.max_header_bytes < HTTP_DEFAULT_MAX_URL ? c.max_header_bytes / 2
                                                              : HTTP_DEFAULT_MAX_URL;
    if (!c.max_body)
        c.max_body = HTTP_DEFAULT_MAX_BODY;
    if (!c.header_timeout_ms)
        c.header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT;
    if (!c.idle_timeout_ms)
        c.idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT;
    if (!c.write_timeout_ms)
        c.write_timeout_ms = HTTP_DEFAULT_WRITE_TIMEOUT;
    /* The target is kept with the headers, so it must fit among them. */
    if (c.max_header_bytes < HTTP_MIN_HEADER_BYTES || c.max_header_bytes > (1u << 24) ||
        c.max_url > c.max_header_bytes || c.max_body > (1u << 30) || c.unix_mode > 07777)
        return -EINVAL;

    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    int err = uv_mutex_init(&srv->post_lock);
    if (err < 0) {
        free(srv);
        return err;
    }
    if (dup_str(c.listen, &srv->listen) || dup_str(c.unix_path, &srv->unix_path) ||
        dup_str(c.unix_group, &srv->unix_group)) {
        http_free(srv);
        return -ENOMEM;
    }
    c.listen = srv->listen;
    c.unix_path = srv->unix_path;
    c.unix_group = srv->unix_group;
    srv->cfg = c;
    srv->loop = loop;
    srv->loop_thread = uv_thread_self();
    srv->env = (struct http_env){&srv->cfg, &srv->routes, &srv->stats};
    *out = srv;
    return 0;
}

int http_route(struct http_server *srv, const char *method, const char *path, http_handler_fn fn,
               void *arg)
{
    return http_route_add(&srv->routes, method, path, fn, arg);
}

static int listen_tcp(struct http_server *srv)
{
    struct sockaddr_storage ss;
    int err = http_listen_parse(srv->cfg.listen, &ss);
    if (err < 0)
        return err;
    uv_tcp_init(srv->loop, &srv->tcp);
    srv->tcp_open = true;
    srv->tcp.data = srv;
    err = uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&ss, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&srv->tcp, BACKLOG, on_connection);
    return err;
}

static int listen_unix(struct http_server *srv)
{
    const struct http_cfg *c = &srv->cfg;
    int err = http_listen_unix_prepare(c->unix_path);
    if (err < 0)
        return err;
    uv_pipe_init(srv->loop, &srv->pipe, 0);
    srv->pipe_open = true;
    srv->pipe.data = srv;
    err = uv_pipe_bind(&srv->pipe, c->unix_path);
    if (err < 0)
        return err;
    /* Permissions go on before listen(): until then nobody can connect. */
    err = http_listen_unix_secure(c->unix_path, c->unix_mode, c->unix_group, &srv->sockfile);
    srv->sockfile_ours = srv->sockfile.ino != 0;
    if (err == 0)
        err = uv_listen((uv_stream_t *)&srv->pipe, BACKLOG, on_connection);
    return err;
}

int http_start(struct http_server *srv)
{
    if (srv->started)
        return -EALREADY;
    srv->started = true;
    int err = uv_async_init(srv->loop, &srv->async, on_async);
    if (err < 0)
        return err;
    srv->async_open = true;
    srv->async.data = srv;
    if (srv->cfg.listen[0]) {
        err = listen_tcp(srv);
        if (err < 0)
            return err;
    }
    if (srv->cfg.unix_path)
        err = listen_unix(srv);
    return err;
}

int http_tcp_port(const struct http_server *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!srv->tcp_open)
        return -ENOTCONN;
    int err = uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&ss, &len);
    if (err < 0)
        return err;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void on_srv_handle_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    srv->closing_handles--;
    maybe_stopped(srv);
}

static void maybe_stopped(struct http_server *srv)
{
    if (!srv->stopping || srv->stopped || srv->closing_handles || srv->conns)
        return;
    if (srv->async_open) {
        /* Last: until every request is finished, a handler's thread may
         * still post through it. */
        srv->async_open = false;
        srv->closing_handles++;
        uv_close((uv_handle_t *)&srv->async, on_srv_handle_closed);
        return;
    }
    srv->stopped = true;
    if (srv->stop_cb)
        srv->stop_cb(srv);
}

void http_stop(struct http_server *srv, http_stop_cb cb)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    srv->stop_cb = cb;
    if (srv->tcp_open) {
        srv->tcp_open = false;
        srv->closing_handles++;
        uv_close((uv_handle_t *)&srv->tcp, on_srv_handle_closed);
    }
    if (srv->pipe_open) {
        srv->pipe_open = false;
        srv->closing_handles++;
        uv_close((uv_handle_t *)&srv->pipe, on_srv_handle_closed);
    }
    if (srv->sockfile_ours)
        http_listen_unix_remove(srv->cfg.unix_path, &srv->sockfile);
    for (struct srv_conn *sc = srv->conns, *next; sc; sc = next) {
        next = sc->next;
        sc->closing = true;
        http_conn_stop(&sc->core); /* a held request: its abort callback, once closed */
        close_handles(sc);         /* also one that was lingering */
    }
    /* Never started, nothing to close: cb runs before we return. */
    maybe_stopped(srv);
}

void http_stats(const struct http_server *srv, struct http_stats *out)
{
    *out = srv->stats;
}
