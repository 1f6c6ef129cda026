/* cli_http.c - the CLI's HTTP client (see cli_http.h). */
#define _GNU_SOURCE
#include "tools/cli_http.h"

#include <errno.h>
#include <llhttp.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int cli_target_parse(struct cli_target *t, const char *spec, char *why, size_t whylen)
{
    memset(t, 0, sizeof *t);
    if (spec[0] == '/') {
        if (strlen(spec) >= sizeof t->unix_path) {
            snprintf(why, whylen, "socket path too long: %s", spec);
            return -EINVAL;
        }
        strcpy(t->unix_path, spec);
        return 0;
    }
    const char *hp = strncmp(spec, "http://", 7) == 0 ? spec + 7 : NULL;
    const char *colon = hp ? strrchr(hp, ':') : NULL;
    size_t hl = colon ? (size_t)(colon - hp) : 0;
    const char *slash = colon ? strchr(colon, '/') : NULL;
    size_t pl = colon ? (slash ? (size_t)(slash - colon - 1) : strlen(colon + 1)) : 0;
    if (!hp || !colon || hl == 0 || hl >= sizeof t->host || pl == 0 || pl >= sizeof t->port ||
        (slash && slash[1])) {
        snprintf(why, whylen, "not a socket path or http://HOST:PORT: %s", spec);
        return -EINVAL;
    }
    memcpy(t->host, hp, hl);
    memcpy(t->port, colon + 1, pl);
    if (t->host[0] == '[' && t->host[hl - 1] == ']') { /* [::1] */
        memmove(t->host, t->host + 1, hl - 2);
        t->host[hl - 2] = 0;
    }
    return 0;
}

static int connect_to(const struct cli_target *t, char *why, size_t whylen)
{
    if (t->unix_path[0]) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strcpy(a.sun_path, t->unix_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        int err = -errno;
        if (fd >= 0)
            close(fd);
        snprintf(why, whylen, "cannot connect to %s: %s (is flightrecd running?)", t->unix_path,
                 strerror(-err));
        return err;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int gai = getaddrinfo(t->host, t->port, &hints, &res);
    if (gai) {
        snprintf(why, whylen, "cannot resolve %s: %s", t->host, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = -1, err = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = -errno;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(why, whylen, "cannot connect to %s:%s: %s (is flightrecd running?)", t->host,
                 t->port, strerror(-err));
    return fd < 0 ? err : fd;
}

struct parse {
    struct cli_response *r;
    char field[64];
    bool want_disposition;
    size_t reason_len;
    int err;
    bool done;
};

static int on_status_code(llhttp_t *p)
{
    struct parse *ps = p->data;
    ps->r->status = p->status_code;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct parse *ps = p->data;
    ps->want_disposition = len == 19 && strncasecmp(at, "Content-Disposition", 19) == 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct parse *ps = p->data;
    if (ps->want_disposition) {
        size_t n = len < sizeof ps->r->disposition - 1 ? len : sizeof ps->r->disposition - 1;
        memcpy(ps->r->disposition, at, n);
        ps->r->disposition[n] = 0;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct parse *ps = p->data;
    struct cli_response *r = ps->r;
    r->body_bytes += len;
    if (r->status >= 200 && r->status < 300 && r->on_body) {
        ps->err = r->on_body(r->arg, at, len);
        return ps->err ? -1 : 0;
    }
    /* an error: keep its first line as the reason */
    for (size_t i = 0; i < len && ps->reason_len < sizeof r->reason - 1; i++) {
        if (at[i] == '\n') {
            ps->reason_len = sizeof r->reason - 1;
            break;
        }
        r->reason[ps->reason_len++] = at[i];
    }
    return 0;
}

static int on_complete(llhttp_t *p)
{
    ((struct parse *)p->data)->done = true;
    return 0;
}

int cli_request(const struct cli_target *t, const char *method, const char *path,
                struct cli_response *r, char *why, size_t whylen)
{
    int fd = connect_to(t, why, whylen);
    if (fd < 0)
        return fd;
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: flightrec\r\n"
                     "Accept: text/plain, */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path, t->unix_path[0] ? "localhost" : t->host);
    int err = 0;
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        err = -EIO;
        snprintf(why, whylen, "cannot send the request");
        goto close_fd;
    }
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_status_complete = on_status_code;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_body = on_body;
    s.on_message_complete = on_complete;
    llhttp_t p;
    llhttp_init(&p, HTTP_RESPONSE, &s);
    struct parse ps = {.r = r};
    p.data = &ps;
    r->status = 0;
    r->body_bytes = 0;
    r->reason[0] = r->disposition[0] = 0;
    char buf[65536];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err = -errno;
            snprintf(why, whylen, "reading the response: %s", strerror(-err));
            break;
        }
        enum llhttp_errno e = got ? llhttp_execute(&p, buf, (size_t)got) : llhttp_finish(&p);
        if (ps.err) {
            err = ps.err;
            snprintf(why, whylen, "writing the output: %s", strerror(-err));
            break;
        }
        if (e != HPE_OK) {
            err = -EPROTO;
            snprintf(why, whylen, "bad response from the daemon: %s", llhttp_errno_name(e));
            break;
        }
        if (ps.done || got == 0)
            break;
    }
    if (!err && !ps.done) {
        err = -EPROTO;
        snprintf(why, whylen, "the daemon closed the connection before the end of the response");
    }
close_fd:
    close(fd);
    return err;
}

int cli_query_append(char *q, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(q);
    int w = snprintf(q + n, cap - n, "%s%s=", n ? "&" : "?", key);
    if (w < 0 || (size_t)w >= cap - n)
        return -1;
    n += (size_t)w;
    for (const unsigned char *v = (const unsigned char *)val; *v; v++) {
        bool plain = (*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
                     (*v >= '0' && *v <= '9') || strchr("-._~", *v);
        if (n + 4 >= cap)
            return -1;
        n += (size_t)(plain ? sprintf(q + n, "%c", *v) : sprintf(q + n, "%%%02X", *v));
    }
    return 0;
}

int cli_write_fd(void *arg, const char *buf, size_t len)
{
    int fd = *(const int *)arg;
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
