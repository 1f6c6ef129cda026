/* control.c - the control socket (see control.h).
 *
 * Owns the listening socket, its connections and the expiry timer. Loop
 * thread only; every socket is non-blocking and every message is read
 * once into a local copy before it is looked at.
 */
#define _GNU_SOURCE
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ctl.h"

#define HANDSHAKE_MS 2000

struct ctl_conn {
    uv_poll_t poll;   /* owns; conn is freed when poll and timer are closed */
    uv_timer_t timer; /* handshake deadline */
    int fd;           /* owns */
    int closing;      /* handles still to close */
    struct control *c;
    struct proc *proc; /* borrows: set once registered */
    uint32_t pid, uid;
    bool goodbye;
    int status;
    struct ctl_conn *next;
};

static void arm_expiry(struct control *c);

static void conn_freed(uv_handle_t *h)
{
    struct ctl_conn *k = h->data;
    if (--k->closing > 0)
        return;
    struct control *c = k->c;
    free(k);
    if (c->open_handles && --c->open_handles == 0 && c->stopped)
        c->stopped(c);
}

/* Ends a connection: the process ended (if it had registered). */
static void conn_close(struct ctl_conn *k)
{
    struct control *c = k->c;
    if (k->closing)
        return;
    for (struct ctl_conn **pp = &c->conns; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    if (k->proc) {
        registry_end(c->reg, k->proc, k->goodbye, k->status, uv_hrtime());
        if (c->hooks.ended)
            c->hooks.ended(c->hooks.arg, k->proc);
        arm_expiry(c);
    } else {
        c->pending--;
    }
    close(k->fd);
    k->closing = 2;
    uv_poll_stop(&k->poll);
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->poll, conn_freed);
    uv_close((uv_handle_t *)&k->timer, conn_freed);
}

static void reply(struct ctl_conn *k, unsigned type, int status, uint64_t window, const char *text)
{
    struct fr_ctl_msg m;
    memset(&m, 0, sizeof m);
    m.magic = FR_CTL_MAGIC;
    m.version = FR_CTL_VERSION;
    m.type = (uint16_t)type;
    m.status = status;
    m.window_ns = window;
    if (text)
        snprintf(m.text, sizeof m.text, "%s", text);
    /* A full socket buffer on a fresh connection means a client that does
     * not read: it loses the reply, nothing else. */
    send(k->fd, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Receives one message and at most one fd (extra fds are closed).
 * Returns bytes read, 0 at EOF, -errno. */
static ssize_t recv_msg(int fd, struct fr_ctl_msg *m, int *memfd)
{
    union {
        char buf[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {m, sizeof *m};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
                        .msg_controllen = sizeof ctrl.buf};
    *memfd = -1;
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (*memfd < 0)
                *memfd = f;
            else
                close(f);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return -EMSGSIZE;
    return n;
}

static void on_hello(struct ctl_conn *k, const struct fr_ctl_msg *m, int memfd)
{
    struct control *c = k->c;
    char why[FR_CTL_TEXT_MAX];
    if (m->type != FR_CTL_HELLO || memfd < 0) {
        if (memfd >= 0)
            close(memfd);
        reply(k, FR_CTL_REFUSED, -EPROTO, 0, "expected HELLO with the region's memfd");
        c->refused_early++;
        conn_close(k);
        return;
    }
    struct proc *p;
    int err = registry_add(c->reg, memfd, k->pid, k->uid, uv_hrtime(), &p, why, sizeof why);
    if (err < 0) {
        reply(k, FR_CTL_REFUSED, err, 0, why);
        conn_close(k);
        return;
    }
    k->proc = p;
    p->conn = k;
    c->pending--;
    uv_timer_stop(&k->timer);
    if (c->hooks.registered)
        c->hooks.registered(c->hooks.arg, p);
    reply(k, FR_CTL_WELCOME, 0, c->reg->window_ns, NULL);
}

void control_rules_changed(struct proc *p)
{
    if (p->conn)
        reply(p->conn, FR_CTL_RULES, 0, 0, NULL);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ctl_conn *k = h->data;
    if (status < 0 || !(events & UV_READABLE)) {
        conn_close(k); /* error or hang-up: the process ended */
        return;
    }
    struct fr_ctl_msg m;
    int memfd;
    ssize_t n = recv_msg(k->fd, &m, &memfd);
    if (n == -EAGAIN || n == -EINTR)
        return;
    bool ok = n == (ssize_t)sizeof m && m.magic == FR_CTL_MAGIC && m.version == FR_CTL_VERSION;
    if (!ok) {
        if (memfd >= 0)
            close(memfd);
        if (n > 0 && !k->proc) {
            char why[FR_CTL_TEXT_MAX];
            if (n >= 8 && m.magic == FR_CTL_MAGIC && m.version != FR_CTL_VERSION)
                snprintf(why, sizeof why,
                         "control protocol version %u; this flightrecd speaks version %u",
                         m.version, FR_CTL_VERSION);
            else
                snprintf(why, sizeof why, "not a flightrec control message");
            reply(k, FR_CTL_REFUSED, -EPROTO, 0, why);
            k->c->refused_early++;
        }
        conn_close(k); /* EOF, or garbage: either way the conversation is over */
        return;
    }
    if (!k->proc) {
        on_hello(k, &m, memfd);
        return;
    }
    if (memfd >= 0)
        close(memfd); /* one region per connection */
    if (m.type == FR_CTL_GOODBYE) {
        k->goodbye = true;
        k->status = m.status;
    } else if (m.type == FR_CTL_TRIGGER && k->c->hooks.trigger) {
        k->c->hooks.trigger(k->c->hooks.arg, k->proc, &m);
    }
}

static void on_handshake_timeout(uv_timer_t *t)
{
    struct ctl_conn *k = t->data;
    k->c->refused_early++;
    conn_close(k);
}

static void on_connection(uv_poll_t *h, int status, int events)
{
    struct control *c = h->data;
    (void)events;
    if (status < 0)
        return;
    for (;;) {
        int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE: the next readiness retries */
        struct ucred cr;
        socklen_t len = sizeof cr;
        struct ctl_conn *k = NULL;
        if (c->pending >= c->max_pending ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
            !(k = calloc(1, sizeof *k))) {
            c->refused_early++;
            close(fd);
            continue;
        }
        k->fd = fd;
        k->c = c;
        k->pid = (uint32_t)cr.pid;
        k->uid = (uint32_t)cr.uid;
        uv_poll_init(c->loop, &k->poll, fd);
        uv_timer_init(c->loop, &k->timer);
        k->poll.data = k;
        k->timer.data = k;
        uv_poll_start(&k->poll, UV_READABLE | UV_DISCONNECT, on_readable);
        uv_timer_start(&k->timer, on_handshake_timeout, HANDSHAKE_MS, 0);
        k->next = c->conns;
        c->conns = k;
        c->pending++;
    }
}

static void on_expire(uv_timer_t *t)
{
    arm_expiry(t->data);
}

static void arm_expiry(struct control *c)
{
    uint64_t now = uv_hrtime();
    uint64_t due = registry_expire(c->reg, now);
    if (due == UINT64_MAX) {
        uv_timer_stop(&c->expire); /* idle means idle: no timer */
        return;
    }
    uv_timer_start(&c->expire, on_expire, (due - now) / 1000000 + 1, 0);
}

void control_window_changed(struct control *c)
{
    arm_expiry(c);
}

int control_start(struct control *c, uv_loop_t *loop, struct registry *reg, const char *path,
                  size_t max_pending)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct stat st;
    int err;

    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->reg = reg;
    c->max_pending = max_pending;
    if (strlen(path) >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    strcpy(c->path, path);
    /* Replace a stale socket; never remove anything that is not one, nor
     * one another daemon still listens on. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return -EADDRINUSE;
        unlink(path);
    }
    c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    /* 0666, set by bind() itself (no chmod that could follow a link put
     * there meanwhile): registering can only ever hand over the caller's
     * own region. */
    mode_t old = umask(0111);
    err = bind(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 ? -errno : 0;
    umask(old);
    if (err < 0)
        goto close_fd;
    if (listen(c->fd, 128) < 0) {
        err = -errno;
        goto unlink_path;
    }
    uv_poll_init(loop, &c->poll, c->fd);
    c->poll.data = c;
    uv_poll_start(&c->poll, UV_READABLE, on_connection);
    uv_timer_init(loop, &c->expire);
    c->expire.data = c;
    return 0;
unlink_path:
    unlink(path);
close_fd:
    close(c->fd);
    c->fd = -1;
    return err;
}

static void listener_closed(uv_handle_t *h)
{
    struct control *c = h->data;
    if (--c->open_handles == 0 && c->stopped)
        c->stopped(c);
}

void control_stop(struct control *c, void (*stopped)(struct control *c))
{
    c->stopped = stopped;
    c->open_handles = 2; /* listener poll and expiry timer ... */
    while (c->conns) {
        c->open_handles++; /* ... and each connection */
        struct ctl_conn *k = c->conns;
        struct proc *p = k->proc;
        k->proc = NULL; /* a stopping daemon does not end the processes */
        if (p) {
            p->conn = NULL;
            c->pending++; /* conn_close() counts it back down */
        }
        conn_close(k);
    }
    uv_poll_stop(&c->poll);
    close(c->fd);
    unlink(c->path);
    uv_close((uv_handle_t *)&c->poll, listener_closed);
    uv_close((uv_handle_t *)&c->expire, listener_closed);
}
