/* test_http.c - the daemon's HTTP server (daemon/http*.c).
 *
 * The pure parts (query strings, routes, response heads) are called
 * directly. The server runs for real: a libuv loop on a thread of its
 * own, listening on 127.0.0.1 port 0 and on a unix socket in a temporary
 * directory, talked to by blocking sockets from the test thread, whose
 * answers a client-side llhttp parser reads. Handlers only record what
 * happened (cmocka asserts on the test thread); streams are produced by
 * thread-pool jobs that wait for each write's done callback, as the
 * daemon's snapshots do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "daemon/http.h"
#include "daemon/http_listen.h"
#include "daemon/http_query.h"
#include "daemon/http_resp.h"
#include "daemon/http_route.h"

#define CHUNK (64 * 1024)

/* ---- the server under test, on its own loop thread ---- */

struct fx {
    struct http_cfg cfg;
    char dir[64], sock[128];
    uv_loop_t loop;
    struct http_server *srv;
    uv_thread_t thread;
    uv_async_t cmd;
    uv_sem_t ready, answered;
    int start_err, port, loop_close_rc;
    atomic_int want; /* CMD_* for on_cmd() */
    struct http_stats stats;
    /* What handlers saw, read by the test thread. */
    atomic_int handled, aborts, jobs_done, end_rc, write_fail;
    atomic_size_t produced;
    atomic_size_t max_lag;
    atomic_size_t consumed;
    struct http_req *_Atomic held;
    atomic_int held_rc;
};

enum { CMD_NONE, CMD_STOP, CMD_STATS };

static void on_stopped(struct http_server *srv)
{
    (void)srv; /* the loop ends once the server's handles and ours are closed */
}

static void on_cmd(uv_async_t *a)
{
    struct fx *f = a->data;
    int want = atomic_exchange(&f->want, CMD_NONE);
    if (want == CMD_STOP) {
        http_stop(f->srv, on_stopped);
        uv_close((uv_handle_t *)&f->cmd, NULL);
    } else if (want == CMD_STATS) {
        http_stats(f->srv, &f->stats);
        uv_sem_post(&f->answered);
    }
}

/* -- handlers -- */

static void h_hello(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    f->handled++;
    http_reply(req, 200, "text/plain", "hello\n", 6);
}

static void h_query(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    const struct http_query *q = http_req_query(req);
    char out[1024];
    size_t n = 0;
    f->handled++;
    for (size_t i = 0; i < q->n; i++)
        n +=
            (size_t)snprintf(out + n, sizeof out - n, "%s=%s;", q->params[i].key, q->params[i].val);
    size_t pos = 0;
    unsigned pids = 0;
    while (http_query_next(q, "pid", &pos))
        pids++;
    n += (size_t)snprintf(out + n, sizeof out - n, "pids=%u", pids);
    http_reply(req, 200, "text/plain", out, n);
}

static void h_tail(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    f->handled++;
    const char *t = http_req_tail(req);
    http_reply(req, 200, "text/plain", t, strlen(t));
}

static void h_post(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    size_t len;
    const void *body = http_req_body(req, &len);
    f->handled++;
    http_reply(req, 200, "application/octet-stream", body, len);
}

static void h_busy(struct http_req *req, void *arg)
{
    (void)arg;
    http_reply_busy(req, 7, "too many snapshots");
}

static void h_bad_header(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    struct http_header h = {"X-Name", "a\r\nSet-Cookie: x=1"};
    f->held_rc = http_reply_headers(req, 200, "text/plain", &h, 1, "x", 1);
}

static void on_abort(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    f->aborts++;
    if (atomic_load(&f->held) == req) {
        /* A held request is finished by whoever holds it, abort or not. */
        f->held_rc = http_reply(req, 200, "text/plain", "late\n", 5);
        atomic_store(&f->held, NULL);
    }
}

static void h_hold(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    f->handled++;
    atomic_store(&f->held, req);
    http_on_abort(req, on_abort, f);
}

struct job {
    uv_work_t work;
    struct http_req *req;
    struct fx *f;
    size_t total; /* SIZE_MAX: until the client goes */
    uv_sem_t sem;
    int status;
};

static unsigned char pattern(size_t off)
{
    return (unsigned char)(off * 7 + off / 251);
}

static void job_done(int status, void *arg)
{
    struct job *j = arg;
    j->status = status;
    uv_sem_post(&j->sem);
}

/* A thread-pool job, as a snapshot is: one buffer, reused once the socket
 * has taken it. */
static void job_work(uv_work_t *w)
{
    struct job *j = w->data;
    struct fx *f = j->f;
    struct http_header cd = {"Content-Disposition", "attachment; filename=\"t.bin\""};
    unsigned char *buf = malloc(CHUNK);
    int rc = http_stream_start(j->req, 200, "application/octet-stream", &cd, 1);
    for (size_t off = 0; rc == 0 && off < j->total;) {
        size_t n = j->total - off < CHUNK ? j->total - off : CHUNK;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        rc = http_stream_write(j->req, buf, n, job_done, j);
        if (rc < 0)
            break;
        uv_sem_wait(&j->sem);
        if (j->status < 0) {
            rc = j->status;
            break;
        }
        off += n;
        size_t prod = atomic_fetch_add(&f->produced, n) + n;
        size_t cons = atomic_load(&f->consumed);
        size_t lag = prod > cons ? prod - cons : 0;
        if (lag > atomic_load(&f->max_lag))
            atomic_store(&f->max_lag, lag);
    }
    f->write_fail = rc;
    f->end_rc = http_stream_end(j->req);
    free(buf);
}

static void job_after(uv_work_t *w, int status)
{
    (void)status;
    struct job *j = w->data;
    j->f->jobs_done++;
    uv_sem_destroy(&j->sem);
    free(j);
}

static void h_stream(struct http_req *req, void *arg)
{
    struct fx *f = arg;
    const char *bytes = http_query_get(http_req_query(req), "bytes");
    struct job *j = calloc(1, sizeof *j);
    f->handled++;
    j->req = req;
    j->f = f;
    j->total = bytes ? strtoull(bytes, NULL, 10) : SIZE_MAX;
    j->work.data = j;
    uv_sem_init(&j->sem, 0);
    http_on_abort(req, on_abort, f);
    uv_queue_work(&f->loop, &j->work, job_work, job_after);
}

static void loop_main(void *arg)
{
    struct fx *f = arg;
    uv_loop_init(&f->loop);
    int err = http_new(&f->loop, &f->cfg, &f->srv);
    if (err == 0) {
        http_route(f->srv, "GET", "/hello", h_hello, f);
        http_route(f->srv, "GET", "/q", h_query, f);
        http_route(f->srv, "GET", "/snap/*", h_tail, f);
        http_route(f->srv, "POST", "/post", h_post, f);
        http_route(f->srv, "GET", "/post", h_hello, f);
        http_route(f->srv, "GET", "/busy", h_busy, f);
        http_route(f->srv, "GET", "/badhdr", h_bad_header, f);
        http_route(f->srv, "GET", "/hold", h_hold, f);
        http_route(f->srv, "GET", "/stream", h_stream, f);
        err = http_start(f->srv);
        f->port = http_tcp_port(f->srv);
    }
    f->start_err = err;
    uv_async_init(&f->loop, &f->cmd, on_cmd);
    f->cmd.data = f;
    uv_sem_post(&f->ready);
    if (f->srv)
        uv_run(&f->loop, UV_RUN_DEFAULT);
    f->loop_close_rc = uv_loop_close(&f->loop);
}

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_http.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof f->sock, "%s/http.sock", f->dir);
    f->cfg.listen = "127.0.0.1:0";
    f->cfg.unix_path = f->sock;
    f->cfg.unix_mode = 0600;
    uv_sem_init(&f->ready, 0);
    uv_sem_init(&f->answered, 0);
    return f;
}

static int fx_start(struct fx *f)
{
    assert_int_equal(uv_thread_create(&f->thread, loop_main, f), 0);
    uv_sem_wait(&f->ready);
    return f->start_err;
}

static void fx_stats(struct fx *f, struct http_stats *st)
{
    f->want = CMD_STATS;
    uv_async_send(&f->cmd);
    uv_sem_wait(&f->answered);
    *st = f->stats;
}

/* Stops the server, checks that every handle closed, removes the files. */
static void fx_end(struct fx *f)
{
    f->want = CMD_STOP;
    uv_async_send(&f->cmd);
    uv_thread_join(&f->thread);
    assert_int_equal(f->loop_close_rc, 0); /* UV_EBUSY: a handle left open */
    http_free(f->srv);
    unlink(f->sock);
    rmdir(f->dir);
    uv_sem_destroy(&f->ready);
    uv_sem_destroy(&f->answered);
    free(f);
}

/* ---- a client ---- */

struct resp {
    int status;
    char *raw; /* the head, and the body unless big */
    size_t raw_len;
    char *body;
    size_t body_len;
    bool check_pattern; /* compare the body with pattern() instead of keeping it */
    bool pattern_ok;
    bool complete;
    struct fx *f; /* consumed bytes go to f->consumed */
};

struct client {
    int fd;
    llhttp_t p;
    llhttp_settings_t s;
    struct resp *r;
    char buf[64 * 1024];
    size_t len;
    size_t read_max;   /* bytes per recv() */
    unsigned delay_us; /* after each recv() */
    bool eof;
};

static void raw_add(struct resp *r, const char *at, size_t len)
{
    if (r->raw_len + len > 1 << 20)
        return;
    r->raw = realloc(r->raw, r->raw_len + len + 1);
    memcpy(r->raw + r->raw_len, at, len);
    r->raw_len += len;
    r->raw[r->raw_len] = '\0';
}

static int c_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct resp *r = ((struct client *)p->data)->r;
    if (r->check_pattern) {
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)at[i] != pattern(r->body_len + i))
                r->pattern_ok = false;
    } else {
        r->body = realloc(r->body, r->body_len + len + 1);
        memcpy(r->body + r->body_len, at, len);
        r->body[r->body_len + len] = '\0';
    }
    r->body_len += len;
    if (r->f)
        atomic_store(&r->f->consumed, r->body_len);
    return 0;
}

static int c_on_headers_complete(llhttp_t *p)
{
    struct resp *r = ((struct client *)p->data)->r;
    r->status = p->status_code;
    return 0;
}

static int c_on_message_complete(llhttp_t *p)
{
    struct resp *r = ((struct client *)p->data)->r;
    if (r->status == 100) {
        r->raw_len = 0; /* an interim answer: the real one follows */
        return 0;
    }
    r->complete = true;
    return HPE_PAUSED;
}

static void client_init(struct client *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->read_max = sizeof c->buf;
    llhttp_settings_init(&c->s);
    c->s.on_body = c_on_body;
    c->s.on_headers_complete = c_on_headers_complete;
    c->s.on_message_complete = c_on_message_complete;
    llhttp_init(&c->p, HTTP_RESPONSE, &c->s);
    c->p.data = c;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int connect_tcp(struct fx *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static int connect_unix(struct fx *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, f->sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

static void resp_free(struct resp *r)
{
    free(r->raw);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Reads one response. 0 complete; -1 the connection ended first. */
static int client_read(struct client *c, struct resp *r)
{
    c->r = r;
    r->pattern_ok = true;
    for (;;) {
        if (c->len) {
            llhttp_errno_t e = llhttp_execute(&c->p, c->buf, c->len);
            size_t used = c->len;
            if (e == HPE_PAUSED)
                used = (size_t)(llhttp_get_error_pos(&c->p) - c->buf);
            else if (e != HPE_OK) {
                fprintf(stderr, "client: %s: %s in '%.*s'\n", llhttp_errno_name(e),
                        llhttp_get_error_reason(&c->p), (int)c->len, c->buf);
                return -1;
            }
            raw_add(r, c->buf, used);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            if (e == HPE_PAUSED) {
                llhttp_resume(&c->p);
                return 0;
            }
        }
        if (c->eof) {
            llhttp_finish(&c->p); /* completes a body that ends with the connection */
            return r->complete ? 0 : -1;
        }
        size_t want = sizeof c->buf - c->len < c->read_max ? sizeof c->buf - c->len : c->read_max;
        ssize_t n = recv(c->fd, c->buf + c->len, want, 0);
        if (n <= 0) {
            c->eof = true;
            continue;
        }
        c->len += (size_t)n;
        if (c->delay_us)
            usleep(c->delay_us);
    }
}

/* The first line of the head, without CRLF. */
static const char *status_line(const struct resp *r)
{
    static char line[256];
    size_t n = r->raw ? strcspn(r->raw, "\r") : 0;
    snprintf(line, sizeof line, "%.*s", (int)n, r->raw ? r->raw : "");
    return line;
}

/* The value of a header in the head, or NULL. */
static const char *header(const struct resp *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    const char *end = strstr(r->raw, "\r\n\r\n");
    for (const char *l = strstr(r->raw, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            v += strspn(v, " ");
            snprintf(val, sizeof val, "%.*s", (int)strcspn(v, "\r"), v);
            return val;
        }
    }
    return NULL;
}

/* Does the server close fd (EOF or reset) within ms? */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char b[4096];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && errno == EAGAIN))
            return true;
    }
}

/* One request on a new TCP connection; returns the response. */
static void ask(struct fx *f, const char *request, struct resp *r)
{
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_tcp(f));
    send_str(c->fd, request);
    memset(r, 0, sizeof *r);
    assert_int_equal(client_read(c, r), 0);
    close(c->fd);
    free(c);
}

/* Handlers run on the loop thread and may record after the client has
 * its answer: wait up to 10 s for *v to become want. */
static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 1000 && atomic_load(v) != want; i++)
        usleep(10000);
    assert_int_equal(atomic_load(v), want);
}

/* The same for the server's count of open connections. */
static void wait_conns_open(struct fx *f, uint64_t want, struct http_stats *st)
{
    for (int i = 0; i < 1000; i++) {
        fx_stats(f, st);
        if (st->conns_open == want)
            break;
        usleep(10000);
    }
    assert_int_equal(st->conns_open, want);
}

/* ---- pure parts ---- */

static void test_query_repeated_keys_and_escapes(void **state)
{
    (void)state;
    struct http_query q;
    const char *why = NULL;
    const char *s = "pid=1&pid=2&name=a%20b+c&&flag&e=&%41=%7e";
    assert_int_equal(http_query_parse(&q, s, strlen(s), &why), 0);
    assert_int_equal(q.n, 6);
    assert_string_equal(http_query_get(&q, "pid"), "1");
    size_t pos = 0;
    assert_string_equal(http_query_next(&q, "pid", &pos), "1");
    assert_string_equal(http_query_next(&q, "pid", &pos), "2");
    assert_null(http_query_next(&q, "pid", &pos));
    assert_string_equal(http_query_get(&q, "name"), "a b c");
    assert_string_equal(http_query_get(&q, "flag"), "");
    assert_string_equal(http_query_get(&q, "e"), "");
    assert_string_equal(http_query_get(&q, "A"), "~");
    assert_null(http_query_get(&q, "missing"));
    http_query_fini(&q);

    assert_int_equal(http_query_parse(&q, "", 0, &why), 0);
    assert_int_equal(q.n, 0);
    http_query_fini(&q);
}

static void test_query_bad_escapes_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"a=%",   "a=%4",    "a=%zz", "a=%4g",
                                      "%00=1", "a=b%00c", "a=%%41"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_query q;
        const char *why = NULL;
        assert_int_equal(http_query_parse(&q, bad[i], strlen(bad[i]), &why), -EINVAL);
        assert_string_equal(why, "bad percent-escape in query");
        assert_int_equal(q.n, 0);
        assert_null(q.params);
    }
}

static void test_query_too_many_params_is_e2big(void **state)
{
    (void)state;
    char s[HTTP_QUERY_PARAMS_MAX * 4 + 8] = "";
    for (int i = 0; i <= HTTP_QUERY_PARAMS_MAX; i++)
        strcat(s, "a=1&");
    struct http_query q;
    const char *why;
    assert_int_equal(http_query_parse(&q, s, strlen(s), &why), -E2BIG);
    s[strlen(s) - 4] = '\0'; /* exactly the maximum */
    assert_int_equal(http_query_parse(&q, s, strlen(s), &why), 0);
    assert_int_equal(q.n, HTTP_QUERY_PARAMS_MAX);
    http_query_fini(&q);
}

static void dummy(struct http_req *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void test_route_exact_prefix_and_405_allow(void **state)
{
    (void)state;
    struct http_routes rt = {0};
    const char *tail;
    char allow[HTTP_ALLOW_MAX];
    int status;
    assert_int_equal(http_route_add(&rt, "GET", "/debug/flightrecorder", dummy, NULL), 0);
    assert_int_equal(http_route_add(&rt, "POST", "/debug/flightrecorder/trigger", dummy, NULL), 0);
    assert_int_equal(http_route_add(&rt, "GET", "/debug/flightrecorder/snapshots/*", dummy, NULL),
                     0);
    assert_int_equal(
        http_route_add(&rt, "DELETE", "/debug/flightrecorder/snapshots/*", dummy, NULL), 0);
    assert_int_equal(http_route_add(&rt, "GET", "/debug/flightrecorder", dummy, NULL), -EEXIST);
    assert_int_equal(http_route_add(&rt, "get", "/x", dummy, NULL), -EINVAL);
    assert_int_equal(http_route_add(&rt, "GET", "x", dummy, NULL), -EINVAL);
    assert_int_equal(http_route_add(&rt, "GET", "/a?b", dummy, NULL), -EINVAL);
    assert_int_equal(http_route_add(&rt, "GET", "/a*", dummy, NULL), -EINVAL);
    assert_int_equal(http_route_add(&rt, "HEAD", "/x", dummy, NULL), -EINVAL);

    const struct http_route_entry *e =
        http_route_find(&rt, "GET", "/debug/flightrecorder", &tail, &status, allow);
    assert_non_null(e);
    assert_string_equal(tail, "");
    assert_false(e->body);
    e = http_route_find(&rt, "GET", "/debug/flightrecorder/snapshots/s1.pftrace", &tail, &status,
                        allow);
    assert_non_null(e);
    assert_string_equal(tail, "s1.pftrace");
    assert_true(
        http_route_find(&rt, "POST", "/debug/flightrecorder/trigger", &tail, &status, allow)->body);

    static const char *const no_tail[] = {
        "/debug/flightrecorder/snapshots/", "/debug/flightrecorder/snapshots/a/b",
        "/debug/flightrecorder/snapshots/..", "/debug/flightrecorder/snapshots/.", "/nope"};
    for (size_t i = 0; i < sizeof no_tail / sizeof no_tail[0]; i++) {
        assert_null(http_route_find(&rt, "GET", no_tail[i], &tail, &status, allow));
        assert_int_equal(status, 404);
    }
    assert_null(
        http_route_find(&rt, "PUT", "/debug/flightrecorder/snapshots/x", &tail, &status, allow));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "GET, DELETE");
}

static void test_resp_head_refuses_injection_and_framing_headers(void **state)
{
    (void)state;
    struct http_header h = {"Content-Disposition", "attachment; filename=\"a\r\nX: y\""};
    struct http_resp_head head = {
        .status = 200, .content_type = "text/plain", .hdrs = &h, .nhdrs = 1};
    assert_int_equal(http_resp_head_size(&head), -EINVAL);
    h = (struct http_header){"Content-Length", "5"};
    assert_int_equal(http_resp_head_size(&head), -EINVAL);
    h = (struct http_header){"Bad Name", "v"};
    assert_int_equal(http_resp_head_size(&head), -EINVAL);
    head.content_type = "text/plain\n";
    h = (struct http_header){"Retry-After", "3"};
    assert_int_equal(http_resp_head_size(&head), -EINVAL);
    head.content_type = "text/plain";
    head.status = 99;
    assert_int_equal(http_resp_head_size(&head), -EINVAL);
    head.status = 503;
    ssize_t n = http_resp_head_size(&head);
    assert_true(n > 0);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(http_resp_head_write(&head, buf, (size_t)n + 1), (size_t)n);
    assert_int_equal(strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34), 0);
    assert_non_null(strstr(buf, "\r\nRetry-After: 3\r\n"));
    assert_non_null(strstr(buf, "\r\nContent-Length: 0\r\n"));
    assert_int_equal(strcmp(buf + n - 4, "\r\n\r\n"), 0);
    free(buf);

    char line[HTTP_LINE_MAX];
    assert_int_equal(http_resp_line(line, "two\r\nlines"), 11);
    assert_string_equal(line, "two  lines\n");
}

static void test_listen_parse_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    assert_int_equal(http_listen_parse("127.0.0.1:6060", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 6060);
    assert_int_equal(http_listen_parse("[::1]:0", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(http_listen_parse("localhost:80", &ss), 0);
    assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
    static const char *const bad[] = {"",
                                      ":80",
                                      "127.0.0.1",
                                      "127.0.0.1:",
                                      "127.0.0.1:65536",
                                      "127.0.0.1:-1",
                                      "127.0.0.1:8x",
                                      "::1:80",
                                      "[::1]",
                                      "example.com:80",
                                      "[127.0.0.1]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(http_listen_parse(bad[i], &ss), -EINVAL);
}

/* ---- the server ---- */

static void test_http_get_is_routed_to_its_handler(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct resp r;
    ask(f, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n", &r);
    assert_string_equal(status_line(&r), "HTTP/1.1 200 OK");
    assert_string_equal(header(&r, "Content-Type"), "text/plain");
    assert_string_equal(header(&r, "Content-Length"), "6");
    assert_null(header(&r, "Connection"));
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);

    ask(f, "GET /snap/s1.pftrace HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "s1.pftrace");
    resp_free(&r);
    ask(f, "GET /snap/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404); /* a decoded '/' is not a name */
    resp_free(&r);
    ask(f, "GET http://localhost:6060/hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200); /* absolute-form */
    resp_free(&r);
    assert_int_equal(f->handled, 3);
    fx_end(f);
}

static void test_http_query_reaches_handler_decoded(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct resp r;
    ask(f, "GET /q?pid=1&pid=2&process=my%20svc&seconds=5+x HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "pid=1;pid=2;process=my svc;seconds=5 x;pids=2");
    resp_free(&r);

    ask(f, "GET /q?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_string_equal(status_line(&r), "HTTP/1.1 400 Bad Request");
    assert_string_equal(header(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(r.body, "bad percent-escape in query\n");
    resp_free(&r);
    ask(f, "GET /q%zz HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_string_equal(status_line(&r), "HTTP/1.1 400 Bad Request");
    assert_string_equal(r.body, "bad percent-escape in path\n");
    resp_free(&r);
    assert_int_equal(f->handled, 1); /* never for a bad escape */
    fx_end(f);
}

static void test_http_errors_have_status_and_one_line_reason(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    static const struct {
        const char *req, *line, *body;
    } cases[] = {
        {"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found", "no such endpoint\n"},
        {"DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed",
         "method not allowed\n"},
        {"GET /hello HTTP/1.1\r\nHost x\r\n\r\n", "HTTP/1.1 400 Bad Request",
         "malformed request: Invalid header token\n"},
        {"BREW /hello HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request",
         "malformed request: Invalid method encountered\n"},
        {"GET /hello HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request",
         "missing or repeated Host header\n"},
        {"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported",
         "HTTP version not supported\n"},
        {"GET * HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request",
         "request target is not a path\n"},
        {"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
         "HTTP/1.1 413 Content Too Large", "request body not allowed\n"},
        {"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n",
         "HTTP/1.1 413 Content Too Large", "request body too large\n"},
        {"POST /post HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
         "HTTP/1.1 417 Expectation Failed", "unsupported Expect header\n"},
        {"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 503 Service Unavailable",
         "too many snapshots\n"},
        {"GET /badhdr HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 500 Internal Server Error",
         "handler made a malformed response\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        ask(f, cases[i].req, &r);
        assert_string_equal(status_line(&r), cases[i].line);
        assert_string_equal(header(&r, "Content-Type"), "text/plain; charset=utf-8");
        assert_string_equal(r.body, cases[i].body);
        if (i == 1)
            assert_string_equal(header(&r, "Allow"), "GET");
        if (strstr(cases[i].line, " 503 "))
            assert_string_equal(header(&r, "Retry-After"), "7");
        resp_free(&r);
    }
    wait_for(&f->held_rc, -EINVAL);
    fx_end(f);
}

static void test_http_oversized_head_and_target(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->cfg.max_header_bytes = 4096;
    f->cfg.max_url = 1024;
    assert_int_equal(fx_start(f), 0);
    char *req = malloc(16384);
    struct resp r;

    snprintf(req, 16384, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %0*d\r\n\r\n", 5000, 0);
    ask(f, req, &r);
    assert_string_equal(status_line(&r), "HTTP/1.1 431 Request Header Fields Too Large");
    assert_string_equal(r.body, "request header fields too large\n");
    resp_free(&r);

    /* Whitespace is not stored, but counts against the limit all the same. */
    snprintf(req, 16384, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad:%*s1\r\n\r\n", 5000, "");
    ask(f, req, &r);
    assert_int_equal(r.status, 431);
    resp_free(&r);

    size_t n = (size_t)snprintf(req, 16384, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(req + n, 16384 - n, "X-%d: 1\r\n", i);
    snprintf(req + n, 16384 - n, "\r\n");
    ask(f, req, &r);
    assert_int_equal(r.status, 431);
    assert_string_equal(r.body, "too many header fields\n");
    resp_free(&r);

    snprintf(req, 16384, "GET /q?a=%0*d HTTP/1.1\r\nHost: x\r\n\r\n", 2000, 0);
    ask(f, req, &r);
    assert_string_equal(status_line(&r), "HTTP/1.1 414 URI Too Long");
    assert_string_equal(r.body, "request target too long\n");
    assert_string_equal(header(&r, "Connection"), "close");
    resp_free(&r);
    free(req);
    assert_int_equal(f->handled, 0);
    fx_end(f);
}

static void test_http_post_body_and_100_continue(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct resp r;
    ask(f, "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "abcd");
    resp_free(&r);
    ask(f,
        "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        &r);
    assert_string_equal(r.body, "abcde");
    resp_free(&r);

    /* curl's way with a bigger body: wait for 100 Continue, then send. */
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_tcp(f));
    send_str(c->fd, "POST /post HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    "Content-Length: 3\r\n\r\n");
    char buf[64] = "";
    assert_true(recv(c->fd, buf, sizeof buf - 1, 0) > 0);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    send_str(c->fd, "xyz");
    memset(&r, 0, sizeof r);
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(r.body, "xyz");
    resp_free(&r);
    close(c->fd);
    free(c);

    /* A chunked body over max_body. */
    char *req = malloc(80000);
    int n = snprintf(req, 80000,
                     "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "11170\r\n");
    memset(req + n, 'a', 70000);
    req[n + 70000] = '\0';
    ask(f, req, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "request body too large\n");
    resp_free(&r);
    free(req);
    fx_end(f);
}

static void test_http_keep_alive_serves_requests_in_order(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_tcp(f));
    struct resp r = {0};
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);
    /* A 404 without a body keeps the connection too. */
    send_str(c->fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Pipelined: three requests in one write, three answers in order. */
    send_str(c->fd, "GET /snap/a HTTP/1.1\r\nHost: x\r\n\r\nGET /snap/b HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /snap/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *want[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(client_read(c, &r), 0);
        assert_string_equal(r.body, want[i]);
        if (i == 2)
            assert_string_equal(header(&r, "Connection"), "close");
        resp_free(&r);
    }
    assert_true(closed_within(c->fd, 2000));
    close(c->fd);
    free(c);
    fx_end(f);
}

static void test_http_head_gets_405_without_a_body(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_tcp(f));
    send_str(c->fd, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    char head[1024];
    size_t n = 0;
    while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
        ssize_t k = recv(c->fd, head + n, 1, 0);
        assert_int_equal(k, 1);
        n++;
        assert_true(n < sizeof head - 1);
    }
    head[n] = '\0';
    const char *want = "HTTP/1.1 405 Method Not Allowed\r\n";
    assert_int_equal(strncmp(head, want, strlen(want)), 0);
    assert_non_null(strstr(head, "\r\nAllow: GET\r\n"));
    assert_null(strstr(head, "Content-Length"));
    /* No body followed: the next answer on this connection starts clean. */
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r = {0};
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(status_line(&r), "HTTP/1.1 200 OK");
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);
    close(c->fd);
    free(c);
    fx_end(f);
}

static void test_http_1_0_closes_unless_keep_alive(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct client *c = malloc(sizeof *c);
    struct resp r = {0};

    client_init(c, connect_tcp(f));
    send_str(c->fd, "GET /hello HTTP/1.0\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(status_line(&r), "HTTP/1.1 200 OK");
    assert_string_equal(header(&r, "Connection"), "close");
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);
    assert_true(closed_within(c->fd, 2000));
    close(c->fd);

    client_init(c, connect_tcp(f));
    send_str(c->fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(header(&r, "Connection"), "keep-alive");
    resp_free(&r);
    send_str(c->fd, "GET /snap/x HTTP/1.0\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(r.body, "x");
    resp_free(&r);
    close(c->fd);

    /* A stream to an HTTP/1.0 client: no chunks, the close ends it. */
    client_init(c, connect_tcp(f));
    send_str(c->fd, "GET /stream?bytes=300000 HTTP/1.0\r\n\r\n");
    r.check_pattern = true;
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(header(&r, "Transfer-Encoding"));
    assert_null(header(&r, "Content-Length"));
    assert_string_equal(header(&r, "Connection"), "close");
    assert_int_equal(r.body_len, 300000);
    assert_true(r.pattern_ok);
    resp_free(&r);
    close(c->fd);
    free(c);
    wait_for(&f->jobs_done, 1);
    assert_int_equal(f->end_rc, 0);
    fx_end(f);
}

static void test_http_stream_5mib_through_a_slow_reader(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct client *c = malloc(sizeof *c);
    /* The unix socket: its kernel buffer is small (net.core.wmem_default),
     * so what the producer gets ahead of the reader is our buffering. */
    client_init(c, connect_unix(f));
    c->read_max = 16384;
    c->delay_us = 500;
    struct resp r = {.check_pattern = true, .f = f};
    send_str(c->fd, "GET /stream?bytes=5242880 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(status_line(&r), "HTTP/1.1 200 OK");
    assert_string_equal(header(&r, "Transfer-Encoding"), "chunked");
    assert_string_equal(header(&r, "Content-Disposition"), "attachment; filename=\"t.bin\"");
    assert_int_equal(r.body_len, 5242880);
    assert_true(r.pattern_ok);
    resp_free(&r);
    wait_for(&f->jobs_done, 1);
    assert_int_equal(f->end_rc, 0);
    assert_int_equal(f->write_fail, 0);
    /* Backpressure: the producer never got further ahead than the
     * socket's buffers and the one chunk in flight. */
    print_message("max lag %zu bytes\n", (size_t)f->max_lag);
    assert_true(f->max_lag <= 1024 * 1024);

    /* The connection stays for the next request. */
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    memset(&r, 0, sizeof r);
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);
    close(c->fd);
    free(c);

    struct http_stats st;
    fx_stats(f, &st);
    assert_true(st.bytes_sent > 5242880);
    assert_int_equal(st.responses[2], 2);
    fx_end(f);
}

static void test_http_client_gone_mid_stream_aborts_once(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    int fd = connect_tcp(f);
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); /* endless */
    char buf[65536];
    size_t got = 0;
    while (got < 256 * 1024) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd); /* unread data: the kernel resets the connection */
    wait_for(&f->jobs_done, 1);
    assert_int_equal(f->aborts, 1);
    assert_int_equal(f->write_fail, -ECONNRESET);
    assert_int_equal(f->end_rc, -ECONNRESET);

    /* Everyone else is still served. */
    struct resp r;
    ask(f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    struct http_stats st;
    wait_conns_open(f, 0, &st);
    assert_int_equal(st.aborts, 1);
    fx_end(f);
}

static void test_http_stalled_reader_times_out_and_others_are_served(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->cfg.write_timeout_ms = 300;
    assert_int_equal(fx_start(f), 0);
    int fd = connect_unix(f);
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); /* and never read */
    struct resp r;
    ask(f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    wait_for(&f->jobs_done, 1);
    assert_int_equal(f->aborts, 1);
    assert_int_equal(f->end_rc, -ECONNRESET);
    struct http_stats st;
    fx_stats(f, &st);
    assert_int_equal(st.timeouts, 1);
    close(fd);
    fx_end(f);
}

static void test_http_slowloris_is_closed_at_header_timeout(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->cfg.header_timeout_ms = 300;
    assert_int_equal(fx_start(f), 0);
    int fd = connect_tcp(f);
    send_str(fd, "GET /hello HTTP/1.1\r\n");
    bool closed = false;
    for (int i = 0; i < 40 && !closed; i++) {
        /* A header byte every 50 ms: never idle, never done. */
        if (send(fd, "X", 1, MSG_NOSIGNAL) < 0)
            closed = true;
        else
            closed = closed_within(fd, 50);
    }
    assert_true(closed);
    close(fd);

    /* One that connects and says nothing is closed too. */
    fd = connect_tcp(f);
    assert_true(closed_within(fd, 3000));
    close(fd);
    struct http_stats st;
    fx_stats(f, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(f->handled, 0);
    fx_end(f);
}

static void test_http_idle_keep_alive_is_closed(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->cfg.idle_timeout_ms = 300;
    assert_int_equal(fx_start(f), 0);
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_tcp(f));
    struct resp r = {0};
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    resp_free(&r);
    assert_true(closed_within(c->fd, 3000));
    close(c->fd);
    free(c);
    fx_end(f);
}

static void test_http_max_connections_answers_503(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->cfg.max_conns = 2;
    assert_int_equal(fx_start(f), 0);
    struct client *c = calloc(3, sizeof *c);
    struct resp r = {0};
    for (int i = 0; i < 2; i++) {
        client_init(&c[i], connect_tcp(f));
        send_str(c[i].fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(client_read(&c[i], &r), 0);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    client_init(&c[2], connect_tcp(f));
    send_str(c[2].fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(client_read(&c[2], &r), 0);
    assert_string_equal(status_line(&r), "HTTP/1.1 503 Service Unavailable");
    assert_string_equal(r.body, "too many connections\n");
    assert_string_equal(header(&r, "Retry-After"), "1");
    assert_string_equal(header(&r, "Connection"), "close");
    resp_free(&r);
    assert_true(closed_within(c[2].fd, 3000));
    close(c[2].fd);

    /* A place frees up: served again. */
    close(c[0].fd);
    struct http_stats st;
    wait_conns_open(f, 1, &st);
    ask(f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fx_stats(f, &st);
    assert_int_equal(st.conns_rejected, 1);
    assert_int_equal(st.responses[5], 1);
    close(c[1].fd);
    free(c);
    fx_end(f);
}

static void test_http_stop_closes_everything(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    int idle = connect_tcp(f);
    int held = connect_unix(f);
    send_str(held, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for(&f->handled, 1);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);

    f->want = CMD_STOP;
    uv_async_send(&f->cmd);
    uv_thread_join(&f->thread);
    assert_int_equal(f->loop_close_rc, 0);
    assert_int_equal(f->aborts, 1);
    assert_int_equal(f->held_rc, -ECONNRESET);
    assert_true(closed_within(idle, 1000));
    assert_true(closed_within(held, 1000));
    assert_int_equal(lstat(f->sock, &st), -1); /* the socket file is gone */
    close(idle);
    close(held);
    http_free(f->srv);
    rmdir(f->dir);
    uv_sem_destroy(&f->ready);
    uv_sem_destroy(&f->answered);
    free(f);
}

static void test_http_unix_socket_mode_group_and_stale_file(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct group *g = getgrgid(getgid());
    /* A stale socket: bound once, nobody listening. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, f->sock);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
    f->cfg.unix_group = g ? g->gr_name : NULL;
    f->cfg.unix_mode = 0620;
    assert_int_equal(fx_start(f), 0);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0620);
    assert_int_equal(st.st_gid, getgid());

    struct client *c = malloc(sizeof *c);
    client_init(c, connect_unix(f));
    struct resp r = {0};
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(r.body, "hello\n");
    resp_free(&r);
    close(c->fd);
    free(c);
    fx_end(f);
}

/* Starts a server whose socket path holds what make() put there. */
static int start_over(void (*make)(const char *path, const char *dir), const char *group)
{
    struct fx *f = fx_new();
    make(f->sock, f->dir);
    f->cfg.unix_group = group;
    int err = fx_start(f);
    fx_end(f);
    return err;
}

static void make_nothing(const char *path, const char *dir)
{
    (void)path;
    (void)dir;
}

static void make_symlink(const char *path, const char *dir)
{
    char target[160];
    snprintf(target, sizeof target, "%s/target", dir);
    int fd = open(target, O_CREAT | O_WRONLY, 0644);
    close(fd);
    assert_int_equal(symlink(target, path), 0);
}

static void make_file(const char *path, const char *dir)
{
    (void)dir;
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
}

static void test_http_unix_socket_never_replaces_what_is_not_stale(void **state)
{
    (void)state;
    /* A live server: a second one must not steal its socket. */
    struct fx *a = fx_new();
    assert_int_equal(fx_start(a), 0);
    struct fx *b = fx_new();
    b->cfg.unix_path = a->sock;
    b->cfg.listen = "";
    assert_int_equal(fx_start(b), -EADDRINUSE);
    fx_end(b);
    struct resp r;
    struct client *c = malloc(sizeof *c);
    client_init(c, connect_unix(a));
    send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    memset(&r, 0, sizeof r);
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(c->fd);
    free(c);
    fx_end(a);

    struct fx *f = fx_new();
    make_symlink(f->sock, f->dir);
    assert_int_equal(fx_start(f), -EEXIST);
    char target[160];
    snprintf(target, sizeof target, "%s/target", f->dir);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* left alone */
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    fx_end(f);
    unlink(target);

    assert_int_equal(start_over(make_file, NULL), -EEXIST);
    assert_int_equal(start_over(make_nothing, "no-such-group-for-flightrec"), -ENOENT);
}

static void test_http_stats_count_by_class(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_start(f), 0);
    struct resp r;
    ask(f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    resp_free(&r);
    ask(f, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    resp_free(&r);
    ask(f, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    resp_free(&r);
    struct http_stats st;
    wait_conns_open(f, 0, &st);
    assert_int_equal(st.responses[2], 1);
    assert_int_equal(st.responses[4], 2);
    assert_int_equal(st.conns_total, 3);
    assert_int_equal(st.conns_open, 0);
    assert_true(st.bytes_sent > 0);
    fx_end(f);
}

static void test_http_new_refuses_bad_limits(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_server *srv;
    struct http_cfg cfg = {.max_header_bytes = 100};
    assert_int_equal(http_new(&loop, &cfg, &srv), -EINVAL);
    cfg = (struct http_cfg){.max_header_bytes = 1024, .max_url = 2048};
    assert_int_equal(http_new(&loop, &cfg, &srv), -EINVAL);
    cfg = (struct http_cfg){.listen = "127.0.0.1:99999"};
    assert_int_equal(http_new(&loop, &cfg, &srv), 0);
    assert_int_equal(http_start(srv), -EINVAL);
    http_stop(srv, NULL); /* a failed start is stopped all the same */
    uv_run(&loop, UV_RUN_DEFAULT);
    http_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_repeated_keys_and_escapes),
        cmocka_unit_test(test_query_bad_escapes_are_refused),
        cmocka_unit_test(test_query_too_many_params_is_e2big),
        cmocka_unit_test(test_route_exact_prefix_and_405_allow),
        cmocka_unit_test(test_resp_head_refuses_injection_and_framing_headers),
        cmocka_unit_test(test_listen_parse_addresses),
        cmocka_unit_test(test_http_new_refuses_bad_limits),
        cmocka_unit_test(test_http_get_is_routed_to_its_handler),
        cmocka_unit_test(test_http_query_reaches_handler_decoded),
        cmocka_unit_test(test_http_errors_have_status_and_one_line_reason),
        cmocka_unit_test(test_http_oversized_head_and_target),
        cmocka_unit_test(test_http_post_body_and_100_continue),
        cmocka_unit_test(test_http_keep_alive_serves_requests_in_order),
        cmocka_unit_test(test_http_head_gets_405_without_a_body),
        cmocka_unit_test(test_http_1_0_closes_unless_keep_alive),
        cmocka_unit_test(test_http_stream_5mib_through_a_slow_reader),
        cmocka_unit_test(test_http_client_gone_mid_stream_aborts_once),
        cmocka_unit_test(test_http_stalled_reader_times_out_and_others_are_served),
        cmocka_unit_test(test_http_slowloris_is_closed_at_header_timeout),
        cmocka_unit_test(test_http_idle_keep_alive_is_closed),
        cmocka_unit_test(test_http_max_connections_answers_503),
        cmocka_unit_test(test_http_stop_closes_everything),
        cmocka_unit_test(test_http_unix_socket_mode_group_and_stale_file),
        cmocka_unit_test(test_http_unix_socket_never_replaces_what_is_not_stale),
        cmocka_unit_test(test_http_stats_count_by_class),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
