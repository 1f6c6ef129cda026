/* fuzz_http.c - libFuzzer target for the daemon's HTTP request path
 * (daemon/http_conn.c with the query, route and response modules).
 *
 * The input is what a client could send on one connection. A connection
 * is run without sockets: its io is a memory sink that keeps what would
 * have been written and completes writes later, as libuv does, in order.
 * The first two bytes are not sent but steer the run: the limits, how the
 * rest is cut into reads, whether a read error or a timeout strikes and
 * when, whether a write fails, whether the connection was over the limit
 * (503). Routes cover every kind of handler: whole replies, streams with
 * and without done callbacks, a POST body, a prefix route, a held request
 * finished later or aborted, and handlers that misuse the API.
 *
 * Beyond memory safety (ASan, UBSan, LeakSanitizer) we check the engine's
 * contracts and abort when one breaks: nothing is written once a close
 * was asked for; the memory is released exactly once, and only after the
 * transport closed; an abort callback comes at most once per request and
 * only while the handler holds it; what was written parses as HTTP/1.1
 * responses (llhttp as a client), and every error body is one line.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/http.cmake) and with
 * the replay driver fuzz_replay.c for builds without libFuzzer
 * (tests/fuzz/replay/http.cmake).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http: broken contract: %s (%s:%d)\n", what, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define SINK_MAX  (1u << 20) /* output kept for the response check */
#define STEPS_MAX 100000     /* write completions in one run: far more than any input makes */

struct sink {
    struct http_conn c;            /* first: the io callbacks get &c */
    struct http_out *head, **tail; /* writes not completed yet, in order */
    char *out;                     /* out_buf */
    size_t out_len;
    bool out_cut; /* more was written than SINK_MAX */
    bool close_asked, graceful, closed, released, reading, eof;
    unsigned writes, fail_write; /* fail the fail_write-th write (0: none) */
    /* The held request of GET /h. */
    struct http_req *held;
    unsigned aborts;
};

/* One run at a time: static, so that no run pays for a large allocation. */
static char out_buf[SINK_MAX];

static struct sink *sink_of(struct http_conn *c)
{
    return (struct sink *)c;
}

static int io_write(struct http_conn *c, struct http_out *out)
{
    struct sink *s = sink_of(c);
    CHECK(!s->close_asked, "write after close");
    CHECK(out->nbufs > 0 && out->nbufs <= 3, "write without buffers");
    if (++s->writes == s->fail_write)
        return UV_EPIPE;
    for (unsigned i = 0; i < out->nbufs; i++) {
        size_t n = out->bufs[i].len;
        CHECK(n > 0, "empty buffer written");
        if (s->out_len + n > SINK_MAX) {
            s->out_cut = true;
            continue;
        }
        memcpy(s->out + s->out_len, out->bufs[i].base, n);
        s->out_len += n;
    }
    out->next = NULL;
    *s->tail = out;
    s->tail = &out->next;
    return 0;
}

static void io_close(struct http_conn *c, bool graceful)
{
    struct sink *s = sink_of(c);
    CHECK(!s->close_asked, "closed twice");
    s->close_asked = true;
    s->graceful = graceful;
}

static void io_timer(struct http_conn *c, enum http_timer kind)
{
    (void)c;
    CHECK(kind <= HTTP_TIMER_WRITE, "unknown timer");
}

static void io_read(struct http_conn *c, bool on)
{
    sink_of(c)->reading = on;
}

static bool io_on_loop(struct http_conn *c)
{
    (void)c;
    return true; /* one thread here: posting is tested with real threads in test_http */
}

static int io_post(struct http_conn *c, struct http_out *out)
{
    (void)c;
    (void)out;
    CHECK(false, "post on the loop thread");
    return 0;
}

static void io_drain(struct http_conn *c)
{
    (void)c;
}

static void io_release(struct http_conn *c)
{
    struct sink *s = sink_of(c);
    CHECK(s->closed, "released before the transport closed");
    CHECK(!s->released, "released twice");
    s->released = true;
}

static const struct http_conn_io sink_io = {
    .write = io_write,
    .close = io_close,
    .timer = io_timer,
    .read = io_read,
    .on_loop = io_on_loop,
    .post = io_post,
    .drain = io_drain,
    .release = io_release,
};

/* Completes queued writes in order, as the loop would; a completion may
 * queue more (the next request, a producer's next chunk). */
static void complete_writes(struct sink *s, int status)
{
    for (unsigned steps = 0; s->head; steps++) {
        CHECK(steps < STEPS_MAX, "writes without end");
        struct http_out *out = s->head;
        s->head = out->next;
        if (!s->head)
            s->tail = &s->head;
        /* After a hard close libuv cancels what is still queued. */
        http_conn_written(&s->c, out, s->close_asked && !s->graceful ? UV_ECANCELED : status);
    }
}

/* ---- handlers ---- */

static char stream_buf[] = "borrowed until done\n";
static unsigned stream_done_calls;

static void on_stream_done(int status, void *arg)
{
    (void)arg;
    CHECK(status == 0 || status == -ECONNRESET, "done status");
    stream_done_calls++;
}

static void h_reply(struct http_req *req, void *arg)
{
    (void)arg;
    size_t len;
    CHECK(http_req_path(req)[0] == '/' && !*http_req_tail(req), "path of an exact route");
    CHECK(!http_req_body(req, &len) && !len, "a body without POST");
    if (strcmp(http_req_method(req), "GET") != 0)
        http_reply_error(req, 500, "routed by the wrong method");
    else
        http_reply(req, 200, "text/plain", "a\n", 2);
}

static void h_query(struct http_req *req, void *arg)
{
    (void)arg;
    const struct http_query *q = http_req_query(req);
    char out[512];
    size_t n = 0;
    for (size_t i = 0; i < q->n && n < sizeof out - 64; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%.20s=%.20s&", q->params[i].key,
                              q->params[i].val);
    size_t pos = 0;
    while (http_query_next(q, "k", &pos))
        ;
    const char *h = http_req_header(req, "X-A");
    if (h && n < sizeof out - 40)
        n += (size_t)snprintf(out + n, sizeof out - n, "%.30s", h);
    http_reply(req, 200, "text/plain", out, n);
}

static void h_tail(struct http_req *req, void *arg)
{
    (void)arg;
    const char *t = http_req_tail(req);
    CHECK(*t && !strchr(t, '/'), "prefix tail");
    http_reply(req, 200, "text/plain", t, strlen(t));
}

static void h_post(struct http_req *req, void *arg)
{
    (void)arg;
    size_t len;
    const void *body = http_req_body(req, &len);
    http_reply(req, 201, "application/octet-stream", body, len);
}

static void h_stream(struct http_req *req, void *arg)
{
    (void)arg;
    struct http_header h = {"Content-Disposition", "attachment; filename=\"f\""};
    if (http_stream_start(req, 200, "application/octet-stream", &h, 1) == 0) {
        http_stream_write(req, "one\n", 4, NULL, NULL);
        http_stream_write(req, stream_buf, sizeof stream_buf - 1, on_stream_done, NULL);
        http_stream_write(req, "three\n", 6, NULL, NULL);
    }
    http_stream_end(req);
}

static void on_abort(struct http_req *req, void *arg)
{
    struct sink *s = arg;
    CHECK(s->held == req, "abort for a request nobody holds");
    s->aborts++;
    if (req->api == HTTP_API_STREAM)
        CHECK(http_stream_write(req, "x", 1, NULL, NULL) == -ECONNRESET, "write after abort");
    s->held = NULL;
    int rc = req->api == HTTP_API_STREAM ? http_stream_end(req) : http_reply_error(req, 500, "x");
    CHECK(rc == -ECONNRESET, "finishing an aborted request");
}

static void h_hold(struct http_req *req, void *arg)
{
    struct sink *s = arg;
    CHECK(!s->held, "two requests held at once");
    s->held = req;
    CHECK(http_on_abort(req, on_abort, s) == 0, "on_abort");
    http_stream_start(req, 200, "text/plain", NULL, 0);
}

static void h_busy(struct http_req *req, void *arg)
{
    (void)arg;
    http_reply_busy(req, 3, "busy\r\nnot two lines");
}

static void h_misuse(struct http_req *req, void *arg)
{
    (void)arg;
    const char *which = http_query_get(http_req_query(req), "m");
    struct http_header bad = {"X-Y", "a\nb"};
    if (!which || !strcmp(which, "hdr")) {
        CHECK(http_reply_headers(req, 200, "text/plain", &bad, 1, "x", 1) == -EINVAL, "bad header");
    } else if (!strcmp(which, "end")) {
        CHECK(http_stream_end(req) == -EINVAL, "end without start");
    } else if (!strcmp(which, "write")) {
        CHECK(http_stream_write(req, "x", 1, NULL, NULL) == -EINVAL, "write without start");
        CHECK(http_stream_start(req, 999, "text/plain", NULL, 0) == -EINVAL, "status 999");
        http_reply(req, 204, NULL, NULL, 0);
    } else {
        http_stream_start(req, 200, "text/plain", NULL, 0);
        CHECK(http_stream_start(req, 200, "text/plain", NULL, 0) == -EINVAL, "started twice");
        CHECK(http_reply(req, 200, "text/plain", "x", 1) == -EINVAL, "reply after start");
    }
}

/* ---- what came out ---- */

struct check {
    int status;
    size_t body_len;
    unsigned newlines;
    char last;
    bool headish;
    unsigned responses;
};

static int c_headers_complete(llhttp_t *p)
{
    struct check *k = p->data;
    k->status = p->status_code;
    k->body_len = k->newlines = 0;
    /* Neither length nor chunks: the answer to a HEAD (llhttp cannot know
     * the request), with no body, or an HTTP/1.0 stream, which closes. */
    k->headish = !(p->flags & (F_CONTENT_LENGTH | F_CHUNKED));
    return k->headish && !(p->flags & F_CONNECTION_CLOSE) ? 1 : 0;
}

static int c_body(llhttp_t *p, const char *at, size_t len)
{
    struct check *k = p->data;
    for (size_t i = 0; i < len; i++)
        k->newlines += at[i] == '\n';
    k->last = at[len - 1];
    k->body_len += len;
    return 0;
}

static int c_message_complete(llhttp_t *p)
{
    struct check *k = p->data;
    if (k->status >= 400 && !k->headish)
        CHECK(k->body_len && k->newlines == 1 && k->last == '\n', "error body not one line");
    if (k->status >= 200)
        k->responses++;
    return 0;
}

/* Every byte written must read as responses; only an aborted connection
 * may end in the middle of one. */
static void check_output(const struct sink *s)
{
    if (s->out_cut || !s->out_len)
        return;
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_headers_complete = c_headers_complete;
    st.on_body = c_body;
    st.on_message_complete = c_message_complete;
    llhttp_t p;
    struct check k = {0};
    llhttp_init(&p, HTTP_RESPONSE, &st);
    p.data = &k;
    llhttp_errno_t e = llhttp_execute(&p, s->out, s->out_len);
    if (e != HPE_OK)
        fprintf(stderr, "fuzz_http: %s at %zd of:\n%.*s\n", llhttp_get_error_reason(&p),
                llhttp_get_error_pos(&p) - s->out, (int)s->out_len, s->out);
    CHECK(e == HPE_OK, "output is not HTTP");
    if (s->graceful)
        CHECK(llhttp_finish(&p) == HPE_OK, "a response cut short by a graceful close");
}

/* ---- one run ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t ctl = data[0], cut = data[1];
    data += 2;
    size -= 2;

    struct http_cfg cfg = {
        .max_header_bytes = 256u << (ctl & 3),   /* 256 .. 2048 */
        .max_body = 64u << ((ctl >> 2) & 3) * 2, /* 64 .. 4096 */
        .header_timeout_ms = 1,
        .idle_timeout_ms = 1,
        .write_timeout_ms = 1,
    };
    cfg.max_url = cfg.max_header_bytes / 2;
    struct http_routes routes = {0};
    struct http_stats stats = {0};
    struct http_env env = {&cfg, &routes, &stats};
    struct sink *s = calloc(1, sizeof *s);
    http_route_add(&routes, "GET", "/a", h_reply, NULL);
    http_route_add(&routes, "GET", "/q", h_query, NULL);
    http_route_add(&routes, "GET", "/n/*", h_tail, NULL);
    http_route_add(&routes, "POST", "/p", h_post, NULL);
    http_route_add(&routes, "GET", "/p", h_reply, NULL);
    http_route_add(&routes, "GET", "/s", h_stream, NULL);
    http_route_add(&routes, "GET", "/h", h_hold, s);
    http_route_add(&routes, "GET", "/b", h_busy, NULL);
    http_route_add(&routes, "GET", "/m", h_misuse, NULL);

    s->out = out_buf;
    s->tail = &s->head;
    s->fail_write = (ctl >> 4) & 3 ? ((ctl >> 4) & 3) * 2 : 0;
    stream_done_calls = 0;
    http_conn_init(&s->c, &env, &sink_io);
    s->reading = true;

    /* Reads of 1 to 16 bytes, or everything at once; a read error or a
     * timeout after read number `strike`, when asked for. */
    size_t piece = cut & 15 ? cut & 15 : size;
    unsigned strike = (unsigned)(cut >> 4), reads = 0;
    if (ctl & 0x80)
        http_conn_reject(&s->c);
    else
        http_conn_start(&s->c);
    size_t off = 0;
    while (!s->close_asked) {
        if (s->reading && off < size) {
            size_t n = size - off < piece ? size - off : piece;
            http_conn_feed(&s->c, (const char *)data + off, n);
            off += n;
            reads++;
        }
        /* A strike comes before the writes complete: the client may go
         * while an answer is still on its way. */
        if (!s->close_asked && (ctl & 0x40) && reads == strike) {
            if ((cut & 3) == 1) {
                http_conn_lost(&s->c);
            } else if ((cut & 3) == 2) {
                http_conn_eof(&s->c); /* the client half-closes: nothing more comes */
                s->eof = true;
                off = size;
            } else {
                http_conn_timeout(&s->c);
            }
        }
        complete_writes(s, 0);
        if (s->held && !s->close_asked && (reads & 1)) {
            /* The holder finishes, before or after its client goes. */
            struct http_req *r = s->held;
            s->held = NULL;
            http_stream_write(r, stream_buf, 4, on_stream_done, NULL);
            http_stream_end(r);
            complete_writes(s, 0);
        }
        if (off >= size || (!s->reading && !s->head))
            break;
    }
    if (!s->close_asked && !s->eof) {
        http_conn_eof(&s->c);
        complete_writes(s, 0);
    }
    if (!s->close_asked)
        http_conn_stop(&s->c);
    CHECK(s->close_asked, "not closed at the end");
    /* The transport closes: what is queued is cancelled, then closed. */
    complete_writes(s, UV_ECANCELED);
    s->closed = true;
    http_conn_closed(&s->c);
    CHECK(!s->held, "a held request was neither aborted nor finished");
    CHECK(s->released, "not released");
    CHECK(s->aborts <= 1, "aborted twice");
    check_output(s);
    free(s);
    return 0;
}
