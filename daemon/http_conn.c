/* http_conn.c - the request path of one connection (see http_conn.h).
 *
 * Input: llhttp over the bytes read, pausing after the head (to apply the
 * limits, parse the target, route, and decide about a body before any of
 * it is read) and after the whole request (to run the handler). Requests
 * are served one at a time: bytes that come early wait in the stash, and
 * reading pauses when it is full, so a client that pipelines or never
 * reads its answers costs a bounded amount of memory. Every allocation
 * here is bounded by a limit of http_cfg.
 *
 * Output: every response, ours or a handler's, is a struct http_out run
 * through http_conn_run() on the loop thread, which is the one place that
 * decides what the connection does next.
 *
 * Also here: the request calls of http.h (http_reply(), http_stream_*(),
 * http_req_*()), because they act on this file's state; they never touch
 * the connection from another thread, only the request they were given
 * and the atomic `gone`.
 */
#define _GNU_SOURCE
#include "daemon/http_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/http_resp.h"

enum { PAUSE_NONE, PAUSE_HEADERS, PAUSE_MESSAGE };

#define TEXT_PLAIN "text/plain; charset=utf-8"

static char continue_text[] = "HTTP/1.1 100 Continue\r\n\r\n";
static char crlf_text[] = "\r\n";
static char last_chunk_text[] = "0\r\n\r\n";

static void conn_pump(struct http_conn *c);

static struct http_out *out_new(size_t data_len)
{
    return calloc(1, sizeof(struct http_out) + data_len);
}

/* The write will never happen: tell its producer, free it. */
static void out_fail(struct http_out *out)
{
    if (out->done)
        out->done(-ECONNRESET, out->done_arg);
    free(out);
}

/* A whole response with a copy of body (none for a HEAD), or NULL with
 * *err: -EINVAL (see http_resp_head_size()) or -ENOMEM. */
static struct http_out *out_reply(const struct http_req *r, int status, const char *ctype,
                                  const struct http_header *hdrs, size_t nhdrs, const void *body,
                                  size_t len, bool keep, int *err)
{
    uint8_t minor = r->minor;
    struct http_resp_head h = {
        .status = status,
        .content_type = ctype,
        .hdrs = hdrs,
        .nhdrs = nhdrs,
        .framing = r->head_only ? HTTP_FRAME_NONE : HTTP_FRAME_LENGTH,
        .length = len,
        .connection = !keep   ? HTTP_CONN_CLOSE
                      : minor ? HTTP_CONN_DEFAULT
                              : HTTP_CONN_KEEP_ALIVE,
    };
    ssize_t hlen = http_resp_head_size(&h);
    /* One uv_buf_t holds it all: its length is an unsigned int. */
    if (hlen < 0 || (len && !body) || len > UINT32_MAX / 2) {
        *err = -EINVAL;
        return NULL;
    }
    if (r->head_only)
        len = 0;
    struct http_out *out = out_new((size_t)hlen + 1 + len);
    if (!out) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t n = http_resp_head_write(&h, out->data, (size_t)hlen + 1);
    if (len)
        memcpy(out->data + n, body, len);
    out->bufs[0] = uv_buf_init(out->data, (unsigned)(n + len));
    out->nbufs = 1;
    out->kind = HTTP_OUT_REPLY;
    out->status = status;
    out->close = !keep;
    return out;
}

/* ---- references, closing, timers ---- */

static void req_clear(struct http_req *r)
{
    http_query_fini(&r->query);
    free(r->body);
    free(r->spare);
    struct http_conn *c = r->conn;
    memset(r, 0, sizeof *r);
    r->conn = c;
    atomic_init(&r->finished, false);
}

static void conn_unref(struct http_conn *c)
{
    if (--c->refs > 0)
        return;
    req_clear(&c->req);
    free(c->arena);
    free(c->stash);
    c->arena = c->stash = NULL;
    c->io->release(c);
}

static void conn_close(struct http_conn *c, bool graceful)
{
    if (c->closing)
        return;
    c->closing = true;
    c->no_input = true;
    /* relaxed: a hint for request calls on other threads; one that races
     * with it is failed when its write runs (http_conn_run()). */
    atomic_store_explicit(&c->gone, true, memory_order_relaxed);
    c->io->close(c, graceful);
}

/* The client is gone, or must go: no flushing, no lingering. A handler
 * still holding the request hears of it now, before any of its writes
 * fails, unless we are inside one of its own calls (then from
 * http_conn_closed(), later). */
static void conn_abort(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (c->closing)
        return;
    /* acquire: pairs with the release in req_finish(). */
    bool holding = c->held && !atomic_load_explicit(&r->finished, memory_order_acquire);
    if (holding)
        c->env->stats->aborts++;
    c->closing = true;
    c->no_input = true;
    atomic_store_explicit(&c->gone, true, memory_order_relaxed); /* see conn_close() */
    if (holding && r->abort_cb && !c->in_api) {
        http_abort_cb cb = r->abort_cb;
        r->abort_cb = NULL;  /* once */
        cb(r, r->abort_arg); /* the transport's reference keeps c */
    }
    c->io->close(c, false);
}

static void conn_timer(struct http_conn *c)
{
    enum http_timer t;
    if (c->closing)
        return; /* the transport stops the timer when it closes */
    if (c->state == HTTP_ST_HEAD)
        t = HTTP_TIMER_HEADER; /* a 100 Continue being written does not extend it */
    else if (c->writes_pending)
        t = HTTP_TIMER_WRITE;
    else if (c->state == HTTP_ST_IDLE)
        t = c->served ? HTTP_TIMER_IDLE
                      : HTTP_TIMER_HEADER; /* the first request counts from accept */
    else
        t = HTTP_TIMER_NONE;
    if (t != c->timer) {
        c->timer = t;
        c->io->timer(c, t);
    }
}

/* ---- error replies ---- */

/* Answers status with reason on one line, before or instead of a handler.
 * keep: the connection may serve the next request; otherwise nothing more
 * is parsed and it closes once the answer is out. */
static void conn_error(struct http_conn *c, int status, const char *reason, bool keep)
{
    struct http_header extra = {NULL, NULL};
    char line[HTTP_LINE_MAX];
    if (status == 405)
        extra = (struct http_header){"Allow", c->allow};
    else if (status == 503)
        extra = (struct http_header){"Retry-After", "1"};
    size_t n = http_resp_line(line, reason);

    c->state = HTTP_ST_BUSY;
    c->served = true;
    c->keep_alive = keep;
    if (!keep)
        c->no_input = true;
    int err;
    struct http_out *out =
        out_reply(&c->req, status, TEXT_PLAIN, &extra, extra.name ? 1 : 0, line, n, keep, &err);
    if (!out) {
        conn_abort(c);
        return;
    }
    http_conn_run(c, out);
}

/* From a parser callback: refuse the request with status once llhttp
 * returns (HPE_USER makes it stop where it is). */
static int cb_fail(struct http_conn *c, int status, const char *reason)
{
    c->err_status = status;
    c->err_reason = reason;
    llhttp_set_error_reason(&c->parser, reason);
    return HPE_USER;
}

/* ---- parser callbacks ---- */

static int arena_put(struct http_conn *c, const char *at, size_t len)
{
    size_t cap = c->env->cfg->max_header_bytes;
    if (!c->arena) {
        c->arena = malloc(cap);
        if (!c->arena)
            return cb_fail(c, 503, "out of memory");
    }
    if (len > cap - c->arena_len)
        return cb_fail(c, 431, "request header fields too large");
    memcpy(c->arena + c->arena_len, at, len);
    c->arena_len += len;
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->state = HTTP_ST_HEAD;
    conn_timer(c);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (len > c->env->cfg->max_url - c->url_len)
        return cb_fail(c, 414, "request target too long");
    c->url_len += len;
    return arena_put(c, at, len);
}

static int on_url_complete(llhttp_t *p)
{
    return arena_put(p->data, "", 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (!c->in_field) {
        if (c->req.nhdrs == HTTP_HEADERS_MAX)
            return cb_fail(c, 431, "too many header fields");
        c->req.hdrs[c->req.nhdrs].name = (uint32_t)c->arena_len;
        c->in_field = true;
    }
    return arena_put(c, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    int err = on_header_field(p, "", 0); /* an empty name still gets its entry */
    if (err)
        return err;
    c->in_field = false;
    err = arena_put(c, "", 1);
    c->req.hdrs[c->req.nhdrs].value = (uint32_t)c->arena_len;
    return err;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    return arena_put(p->data, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    int err = arena_put(c, "", 1);
    if (!err)
        c->req.nhdrs++;
    return err;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->pause = PAUSE_HEADERS;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req *r = &c->req;
    size_t max = c->env->cfg->max_body;
    if (!r->route || !r->route->body)
        return cb_fail(c, 413, "request body not allowed");
    if (len > max - r->body_len)
        return cb_fail(c, 413, "request body too large");
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *b = realloc(r->body, cap);
        if (!b)
            return cb_fail(c, 503, "out of memory");
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    /* An upgrade's next bytes would be another protocol: answer, then close. */
    c->req.keep_alive = llhttp_should_keep_alive(p) && !p->upgrade && !c->eof;
    c->pause = PAUSE_MESSAGE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- a request's head ---- */

static const char *header_at(const struct http_conn *c, uint32_t i, const char **value)
{
    *value = c->arena + c->req.hdrs[i].value;
    return c->arena + c->req.hdrs[i].name;
}

static unsigned count_header(const struct http_conn *c, const char *name)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < c->req.nhdrs; i++) {
        const char *v;
        n += strcasecmp(header_at(c, i, &v), name) == 0;
    }
    return n;
}

/* Splits the target in c->arena into the decoded path and the query.
 * Returns 0, or the status to refuse it with and *why. */
static int parse_target(struct http_conn *c, const char **why)
{
    struct http_req *r = &c->req;
    char *t = c->arena; /* the target is the arena's first string */
    if (!t || !c->url_len) {
        *why = "empty request target";
        return 400;
    }
    if (t[0] != '/') {
        /* absolute-form, which RFC 9112 says a server must accept */
        size_t skip = strncasecmp(t, "http://", 7) == 0    ? 7
                      : strncasecmp(t, "https://", 8) == 0 ? 8
                                                           : 0;
        if (!skip) {
            *why = "request target is not a path";
            return 400;
        }
        t += skip;
        t += strcspn(t, "/?#");
    }
    char *hash = strchr(t, '#');
    if (hash)
        *hash = '\0';
    char *q = strchr(t, '?');
    const char *qs = "";
    if (q) {
        *q = '\0';
        qs = q + 1;
    }
    if (*t == '\0') {
        r->path = "/";
    } else {
        ssize_t n = http_query_unescape(t, t, strlen(t), false);
        if (n < 0) {
            *why = "bad percent-escape in path";
            return 400;
        }
        t[n] = '\0';
        r->path = t;
    }
    int err = http_query_parse(&r->query, qs, strlen(qs), why);
    if (err == -ENOMEM) {
        *why = "out of memory";
        return 503;
    }
    return err < 0 ? 400 : 0;
}

/* The head is in: apply the limits, route, and decide about the body,
 * before any of the body is read. Refusals that leave the connection
 * usable wait for the end of the request (err_status); the others are
 * answered now and close it. */
static void conn_headers(struct http_conn *c)
{
    struct http_req *r = &c->req;
    llhttp_t *p = &c->parser;
    const struct http_cfg *cfg = c->env->cfg;
    const char *why = NULL;
    int status = 0;

    c->headers_done = true;
    if (c->head_bytes > cfg->max_header_bytes) {
        status = 431;
        why = "request header fields too large";
        goto refuse;
    }
    if (p->http_major != 1 || p->http_minor > 1) {
        status = 505;
        why = "HTTP version not supported";
        goto refuse;
    }
    r->minor = p->http_minor;
    r->method = llhttp_method_name(p->method);
    r->head_only = p->method == HTTP_HEAD; /* never routed; its 404 or 405 has no body */
    if (r->minor == 1 && count_header(c, "Host") != 1) {
        status = 400;
        why = "missing or repeated Host header";
        goto refuse;
    }
    status = parse_target(c, &why);
    if (status)
        goto refuse;

    bool has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
    r->route = http_route_find(c->env->routes, r->method, r->path, &r->tail, &status, c->allow);
    if (!r->route) {
        why = status == 405 ? "method not allowed" : "no such endpoint";
        if (has_body)
            goto refuse;        /* rather than read a body nobody wants */
        c->err_status = status; /* answered when the request ends, right after its head */
        c->err_reason = why;
        return;
    }
    status = 413;
    why = has_body && !r->route->body ? "request body not allowed"
          : has_body && !(p->flags & F_CHUNKED) && p->content_length > cfg->max_body
              ? "request body too large"
              : NULL;
    if (why)
        goto refuse;

    const char *expect = http_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") != 0) {
        status = 417;
        why = "unsupported Expect header";
        goto refuse;
    }
    if (expect && has_body && r->minor == 1) {
        struct http_out *out = out_new(0);
        if (!out) {
            conn_abort(c);
            return;
        }
        out->kind = HTTP_OUT_CONTINUE;
        out->bufs[0] = uv_buf_init(continue_text, sizeof continue_text - 1);
        out->nbufs = 1;
        http_conn_run(c, out);
    }
    return;
refuse:
    conn_error(c, status, why, false);
}

/* The whole request is in: hand it to its handler, or answer the refusal
 * decided at its head. */
static void conn_dispatch(struct http_conn *c)
{
    struct http_req *r = &c->req;
    c->state = HTTP_ST_BUSY;
    c->served = true;
    c->keep_alive = r->keep_alive;
    if (!c->keep_alive)
        c->no_input = true;
    if (c->err_status) {
        conn_error(c, c->err_status, c->err_reason, c->keep_alive);
        return;
    }
    r->spare = out_new(0);
    if (!r->spare) {
        conn_error(c, 503, "out of memory", false);
        return;
    }
    c->held = true;
    c->refs++; /* the handler's, dropped by the final write */
    conn_timer(c);
    r->route->fn(r, r->route->arg);
}

static const char *parse_reason(const llhttp_t *p, char *buf, size_t size)
{
    const char *r = llhttp_get_error_reason(p);
    snprintf(buf, size, "malformed request: %s",
             r && *r ? r : llhttp_errno_name(llhttp_get_errno(p)));
    return buf;
}

/* Runs the parser over data until it is used up, a request is complete
 * (dispatched) or refused. Returns the bytes taken. */
static size_t conn_parse(struct http_conn *c, const char *data, size_t len)
{
    const struct http_cfg *cfg = c->env->cfg;
    char why[HTTP_LINE_MAX];
    size_t off = 0;
    /* After a pause llhttp may have callbacks to make with no more input
     * (a request without a body completes right after its head). */
    bool resumed = false;
    while ((off < len || resumed) && c->state != HTTP_ST_BUSY && !c->no_input) {
        bool head = !c->headers_done;
        resumed = false;
        c->pause = PAUSE_NONE;
        llhttp_errno_t err = llhttp_execute(&c->parser, data + off, len - off);
        size_t used = len - off;
        if (err != HPE_OK) {
            const char *at = llhttp_get_error_pos(&c->parser);
            if (at >= data + off && at <= data + len)
                used = (size_t)(at - (data + off));
        }
        off += used;
        if (head)
            c->head_bytes += used; /* a pause ends exactly at the head's end */
        if (err == HPE_PAUSED) {
            llhttp_resume(&c->parser);
            resumed = true;
            if (c->pause == PAUSE_HEADERS)
                conn_headers(c);
            else if (c->pause == PAUSE_MESSAGE)
                conn_dispatch(c);
            continue;
        }
        if (err == HPE_OK) {
            if (head && c->head_bytes > cfg->max_header_bytes)
                conn_error(c, 431, "request header fields too large", false);
            break;
        }
        if (err == HPE_USER && c->err_status)
            conn_error(c, c->err_status, c->err_reason, false);
        else if (err == HPE_PAUSED_UPGRADE)
            c->no_input = true; /* not reached: such a request never keeps the connection */
        else
            conn_error(c, 400, parse_reason(&c->parser, why, sizeof why), false);
        break;
    }
    return off;
}

/* ---- moving along ---- */

/* The response is out and the connection stays: ready the next request. */
static void conn_next(struct http_conn *c)
{
    req_clear(&c->req);
    c->arena_len = c->url_len = c->head_bytes = 0;
    c->in_field = c->headers_done = c->resp_final = false;
    c->err_status = 0;
    c->err_reason = NULL;
    c->state = HTTP_ST_IDLE;
    if (!c->stash_len) {
        free(c->stash); /* an idle connection holds no buffer */
        c->stash = NULL;
        c->stash_cap = 0;
    }
}

/* Makes progress where it can: finishes the request whose response is out,
 * then parses what waits in the stash. Never re-entered. */
static void conn_pump(struct http_conn *c)
{
    if (c->in_pump)
        return;
    c->in_pump = true;
    while (!c->closing) {
        if (c->state == HTTP_ST_BUSY) {
            if (!c->resp_final || c->held || c->writes_pending)
                break;
            if (!c->keep_alive) {
                conn_close(c, true);
                break;
            }
            conn_next(c);
        }
        if (c->no_input)
            c->stash_len = 0; /* past the last request: nobody will read it */
        if (!c->stash_len)
            break;
        size_t used = conn_parse(c, c->stash, c->stash_len);
        memmove(c->stash, c->stash + used, c->stash_len - used);
        c->stash_len -= used;
        if (!used && c->state != HTTP_ST_BUSY)
            break; /* cannot happen; never spin if it does */
    }
    c->in_pump = false;
    if (!c->closing && !c->reading && c->stash_len < c->env->cfg->max_header_bytes) {
        c->reading = true;
        c->io->read(c, true);
    }
    conn_timer(c);
}

static int stash_add(struct http_conn *c, const char *data, size_t len)
{
    if (len > c->stash_cap - c->stash_len) {
        size_t cap = c->stash_len + len;
        char *s = realloc(c->stash, cap);
        if (!s)
            return -ENOMEM;
        c->stash = s;
        c->stash_cap = cap;
    }
    memcpy(c->stash + c->stash_len, data, len);
    c->stash_len += len;
    /* Enough read ahead for the next request's head: the stash holds at
     * most that plus one read of the transport. */
    if (c->stash_len >= c->env->cfg->max_header_bytes && c->reading) {
        c->reading = false;
        c->io->read(c, false);
    }
    return 0;
}

/* ---- the transport's calls ---- */

void http_conn_init(struct http_conn *c, const struct http_env *env, const struct http_conn_io *io)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    c->io = io;
    c->refs = 1;
    c->reading = true;
    c->req.conn = c;
    atomic_init(&c->gone, false);
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
}

void http_conn_start(struct http_conn *c)
{
    conn_timer(c);
}

void http_conn_reject(struct http_conn *c)
{
    c->refs++;
    conn_error(c, 503, "too many connections", false);
    conn_unref(c);
}

void http_conn_feed(struct http_conn *c, const char *data, size_t len)
{
    if (c->no_input)
        return; /* closing, or past the last request: the transport only drains */
    c->refs++;
    if (!c->stash_len && c->state != HTTP_ST_BUSY && !c->in_pump) {
        /* The usual case: parse straight from the read buffer. */
        c->in_pump = true;
        size_t used = conn_parse(c, data, len);
        c->in_pump = false;
        data += used;
        len -= used;
    }
    if (len && !c->no_input && stash_add(c, data, len) < 0)
        conn_abort(c);
    conn_pump(c);
    conn_unref(c);
}

void http_conn_eof(struct http_conn *c)
{
    c->refs++;
    c->eof = true;
    if (c->held) {
        /* As Go's server does: a client that stops sending while its
         * request is being handled has gone away. */
        conn_abort(c);
    } else if (c->state == HTTP_ST_BUSY) {
        c->keep_alive = false; /* finish sending, then close */
        c->no_input = true;
    } else if (c->state == HTTP_ST_IDLE && !c->stash_len) {
        conn_close(c, true);
    } else {
        conn_close(c, false); /* a request cut short: nobody to answer */
    }
    conn_pump(c);
    conn_unref(c);
}

void http_conn_lost(struct http_conn *c)
{
    conn_abort(c);
}

void http_conn_timeout(struct http_conn *c)
{
    if (c->closing)
        return;
    c->env->stats->timeouts++;
    conn_abort(c);
}

void http_conn_stop(struct http_conn *c)
{
    conn_abort(c);
}

void http_conn_written(struct http_conn *c, struct http_out *out, int status)
{
    c->refs++;
    c->writes_pending--;
    if (status == 0)
        for (unsigned i = 0; i < out->nbufs; i++)
            c->env->stats->bytes_sent += out->bufs[i].len;
    else
        conn_abort(c); /* the abort callback before the failed write's */
    if (out->done)
        out->done(status == 0 ? 0 : -ECONNRESET, out->done_arg);
    free(out);
    conn_pump(c);
    conn_unref(c);
}

void http_conn_run(struct http_conn *c, struct http_out *out)
{
    bool final =
        out->kind == HTTP_OUT_REPLY || out->kind == HTTP_OUT_END || out->kind == HTTP_OUT_ABORT;
    bool release = final && c->held;
    c->refs++;
    if (final) {
        c->resp_final = true;
        c->held = false;
    }
    if (out->close)
        c->keep_alive = false;
    if (out->kind == HTTP_OUT_ABORT) {
        conn_abort(c);
        free(out);
    } else if (c->closing) {
        out_fail(out);
    } else if (!out->nbufs) {
        free(out); /* the end of an HTTP/1.0 stream: the close says it */
    } else {
        if (out->kind == HTTP_OUT_REPLY || out->kind == HTTP_OUT_HEAD)
            c->env->stats->responses[(unsigned)out->status / 100 % 6]++;
        c->writes_pending++;
        int err = c->io->write(c, out);
        if (err < 0) {
            c->writes_pending--;
            out_fail(out);
            conn_abort(c);
        }
    }
    conn_pump(c);
    if (release)
        conn_unref(c);
    conn_unref(c);
}

void http_conn_closed(struct http_conn *c)
{
    struct http_req *r = &c->req;
    c->closed = true;
    /* acquire: pairs with the release in req_finish(). */
    if (c->held && r->abort_cb && !atomic_load_explicit(&r->finished, memory_order_acquire)) {
        http_abort_cb cb = r->abort_cb;
        r->abort_cb = NULL; /* once */
        cb(r, r->abort_arg);
    }
    conn_unref(c);
}

/* ---- the request calls of http.h ---- */

static bool req_gone(const struct http_req *r)
{
    /* relaxed: see conn_close() */
    return atomic_load_explicit(&r->conn->gone, memory_order_relaxed);
}

/* Hands out to the loop thread; after a final write, r may be gone. */
static void req_submit(struct http_req *r, struct http_out *out)
{
    struct http_conn *c = r->conn;
    if (!c->io->on_loop(c)) {
        c->io->post(c, out);
        return;
    }
    c->refs++; /* c outlives a final write here */
    c->in_api++;
    c->io->drain(c); /* what other threads queued goes first */
    http_conn_run(c, out);
    c->in_api--;
    conn_unref(c);
}

/* Finishes r with out, or with the spare as an abort when out is NULL. */
static void req_finish(struct http_req *r, struct http_out *out)
{
    struct http_out *spare = r->spare;
    r->spare = NULL;
    r->api = HTTP_API_DONE;
    /* release: pairs with the acquire in http_conn_closed(); once this is
     * seen, the handler's abort callback is never called. */
    atomic_store_explicit(&r->finished, true, memory_order_release);
    if (out) {
        if (out != spare)
            free(spare);
    } else {
        out = spare;
        out->kind = HTTP_OUT_ABORT;
    }
    req_submit(r, out);
}

const char *http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *http_req_tail(const struct http_req *req)
{
    return req->tail;
}

const struct http_query *http_req_query(const struct http_req *req)
{
    return &req->query;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    const struct http_conn *c = req->conn;
    for (uint32_t i = 0; i < req->nhdrs; i++) {
        const char *v;
        if (strcasecmp(header_at(c, i, &v), name) == 0)
            return v;
    }
    return NULL;
}

bool http_req_over_unix(const struct http_req *req)
{
    return req->conn->over_unix;
}

const void *http_req_body(const struct http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body_len ? req->body : NULL;
}

int http_reply_headers(struct http_req *req, int status, const char *content_type,
                       const struct http_header *hdrs, size_t nhdrs, const void *body, size_t len)
{
    if (req->api == HTTP_API_STREAM) {
        http_stream_end(req); /* a reply after a head: misuse, but still finish */
        return -EINVAL;
    }
    bool gone = req_gone(req);
    int err = 0;
    struct http_out *out = NULL;
    if (!gone) {
        out = out_reply(req, status, content_type, hdrs, nhdrs, body, len, req->keep_alive, &err);
        if (err == -EINVAL) {
            char line[HTTP_LINE_MAX];
            size_t n = http_resp_line(line, "handler made a malformed response");
            int e2;
            out = out_reply(req, 500, TEXT_PLAIN, NULL, 0, line, n, req->keep_alive, &e2);
        }
    }
    req_finish(req, out);
    return gone ? -ECONNRESET : err;
}

int http_reply(struct http_req *req, int status, const char *content_type, const void *body,
               size_t len)
{
    return http_reply_headers(req, status, content_type, NULL, 0, body, len);
}

int http_reply_error(struct http_req *req, int status, const char *reason)
{
    char line[HTTP_LINE_MAX];
    size_t n = http_resp_line(line, reason);
    return http_reply(req, status, TEXT_PLAIN, line, n);
}

int http_reply_busy(struct http_req *req, unsigned retry_after_s, const char *reason)
{
    char line[HTTP_LINE_MAX], secs[16];
    size_t n = http_resp_line(line, reason);
    snprintf(secs, sizeof secs, "%u", retry_after_s);
    struct http_header h = {"Retry-After", secs};
    return http_reply_headers(req, 503, TEXT_PLAIN, &h, 1, line, n);
}

int http_stream_start(struct http_req *req, int status, const char *content_type,
                      const struct http_header *hdrs, size_t nhdrs)
{
    if (req->api != HTTP_API_NONE)
        return -EINVAL;
    if (req_gone(req))
        return -ECONNRESET;
    /* HTTP/1.0 has no chunks: the body ends when the connection does. */
    bool chunked = req->minor >= 1;
    struct http_resp_head h = {
        .status = status,
        .content_type = content_type,
        .hdrs = hdrs,
        .nhdrs = nhdrs,
        .framing = chunked ? HTTP_FRAME_CHUNKED : HTTP_FRAME_CLOSE,
        .connection = chunked && req->keep_alive ? HTTP_CONN_DEFAULT : HTTP_CONN_CLOSE,
    };
    ssize_t hlen = http_resp_head_size(&h);
    if (hlen < 0)
        return -EINVAL;
    struct http_out *out = out_new((size_t)hlen + 1);
    if (!out)
        return -ENOMEM;
    size_t n = http_resp_head_write(&h, out->data, (size_t)hlen + 1);
    out->bufs[0] = uv_buf_init(out->data, (unsigned)n);
    out->nbufs = 1;
    out->kind = HTTP_OUT_HEAD;
    out->status = status;
    out->close = h.connection == HTTP_CONN_CLOSE;
    req->api = HTTP_API_STREAM;
    req_submit(req, out);
    return 0;
}

int http_stream_write(struct http_req *req, const void *buf, size_t len, http_done_cb done,
                      void *arg)
{
    if (req->api != HTTP_API_STREAM || !buf || !len || len > UINT32_MAX)
        return -EINVAL;
    if (req_gone(req))
        return -ECONNRESET;
    bool chunked = req->minor >= 1;
    size_t pre = chunked ? HTTP_CHUNK_PREFIX_MAX : 0;
    struct http_out *out = out_new(pre + (done ? 0 : len));
    if (!out)
        return -ENOMEM;
    const char *body = buf;
    if (!done) {
        memcpy(out->data + pre, buf, len);
        body = out->data + pre;
    }
    if (chunked) {
        size_t n = http_resp_chunk_prefix(out->data, len);
        out->bufs[0] = uv_buf_init(out->data, (unsigned)n);
        out->bufs[1] = uv_buf_init((char *)body, (unsigned)len);
        out->bufs[2] = uv_buf_init(crlf_text, 2);
        out->nbufs = 3;
    } else {
        out->bufs[0] = uv_buf_init((char *)body, (unsigned)len);
        out->nbufs = 1;
    }
    out->kind = HTTP_OUT_DATA;
    out->done = done;
    out->done_arg = arg;
    req_submit(req, out);
    return 0;
}

int http_stream_end(struct http_req *req)
{
    if (req->api != HTTP_API_STREAM) {
        char line[HTTP_LINE_MAX];
        size_t n = http_resp_line(line, "handler ended a response it never started");
        int err;
        req_finish(req, out_reply(req, 500, TEXT_PLAIN, NULL, 0, line, n, false, &err));
        return -EINVAL;
    }
    bool gone = req_gone(req);
    struct http_out *out = req->spare;
    out->kind = HTTP_OUT_END;
    if (req->minor >= 1) {
        out->bufs[0] = uv_buf_init(last_chunk_text, sizeof last_chunk_text - 1);
        out->nbufs = 1;
    }
    req_finish(req, out); /* frees no spare: out is the spare */
    return gone ? -ECONNRESET : 0;
}

int http_stream_abort(struct http_req *req)
{
    bool gone = req_gone(req);
    req_finish(req, NULL); /* no last chunk: the connection is dropped */
    return gone ? -ECONNRESET : 0;
}

int http_on_abort(struct http_req *req, http_abort_cb cb, void *arg)
{
    if (req_gone(req))
        return -ECONNRESET;
    req->abort_cb = cb;
    req->abort_arg = arg;
    return 0;
}
