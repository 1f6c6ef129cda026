/* http_resp.c - response heads and error lines (see http_resp.h).
 *
 * One writer, emit(), serves both the size and the bytes, so the two can
 * never disagree. We always answer "HTTP/1.1", as RFC 9110 asks of a
 * server, and let the framing and Connection fields carry what an
 * HTTP/1.0 client needs.
 */
#define _GNU_SOURCE
#include "daemon/http_resp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *http_resp_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* field-value: visible characters, spaces, tabs and obs-text (UTF-8 file
 * names); never CR, LF or another control character. */
static bool value_ok(const char *s)
{
    if (!s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Fields the server sets: a handler's copy would break framing or
 * connection handling, or say the content type twice. */
static bool name_reserved(const char *s)
{
    static const char *const reserved[] = {
        "Content-Length", "Transfer-Encoding", "Connection", "Content-Type", "Date", "Keep-Alive"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return true;
    return false;
}

static bool no_body_status(int status)
{
    return status == 204 || status == 304;
}

struct emit {
    char *buf; /* NULL: count only */
    size_t size, len;
};

static void put(struct emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct emit *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = e->buf && e->len < e->size ? e->size - e->len : 0;
    int n = vsnprintf(e->buf ? e->buf + e->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len += (size_t)n;
}

static void emit(const struct http_resp_head *h, struct emit *e)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        strcpy(date, "Thu, 01 Jan 1970 00:00:00 GMT");

    put(e, "HTTP/1.1 %d %s\r\nDate: %s\r\n", h->status, http_resp_reason(h->status), date);
    if (h->content_type)
        put(e, "Content-Type: %s\r\n", h->content_type);
    if (h->framing == HTTP_FRAME_CHUNKED)
        put(e, "Transfer-Encoding: chunked\r\n");
    else if (h->framing == HTTP_FRAME_LENGTH && !no_body_status(h->status))
        put(e, "Content-Length: %zu\r\n", h->length);
    if (h->connection == HTTP_CONN_CLOSE)
        put(e, "Connection: close\r\n");
    else if (h->connection == HTTP_CONN_KEEP_ALIVE)
        put(e, "Connection: keep-alive\r\n");
    for (size_t i = 0; i < h->nhdrs; i++)
        put(e, "%s: %s\r\n", h->hdrs[i].name, h->hdrs[i].value);
    put(e, "\r\n");
}

ssize_t http_resp_head_size(const struct http_resp_head *h)
{
    if (h->status < 200 || h->status > 599)
        return -EINVAL;
    if (no_body_status(h->status) && h->framing != HTTP_FRAME_NONE &&
        (h->framing != HTTP_FRAME_LENGTH || h->length))
        return -EINVAL;
    if (h->content_type && (!*h->content_type || !value_ok(h->content_type)))
        return -EINVAL;
    if (h->nhdrs && !h->hdrs)
        return -EINVAL;
    for (size_t i = 0; i < h->nhdrs; i++)
        if (!name_ok(h->hdrs[i].name) || name_reserved(h->hdrs[i].name) ||
            !value_ok(h->hdrs[i].value))
            return -EINVAL;
    struct emit e = {0};
    emit(h, &e);
    return (ssize_t)e.len;
}

size_t http_resp_head_write(const struct http_resp_head *h, char *buf, size_t size)
{
    struct emit e = {buf, size, 0};
    emit(h, &e);
    return e.len < size ? e.len : size - 1;
}

size_t http_resp_chunk_prefix(char *buf, size_t len)
{
    return (size_t)snprintf(buf, HTTP_CHUNK_PREFIX_MAX, "%zx\r\n", len);
}

size_t http_resp_line(char *buf, const char *reason)
{
    size_t n = 0;
    for (const char *s = reason ? reason : ""; *s && n < HTTP_LINE_MAX - 2; s++) {
        unsigned char c = (unsigned char)*s;
        buf[n++] = c < ' ' || c == 0x7f ? ' ' : (char)c;
    }
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}
