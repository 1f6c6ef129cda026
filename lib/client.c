/* client.c - registration with flightrecd (see client.h).
 *
 * Owns the control connection and the thread that keeps it. The thread
 * waits in poll() on the connection and an eventfd that stops it; with no
 * daemon it retries every RETRY_MS, so a daemon started or restarted
 * later serves this process again within that time. A normal exit sends
 * GOODBYE with the exit status from an on_exit() handler, so that the
 * daemon can tell an exit from a death.
 *
 * While connected it also applies the rules the daemon publishes (on
 * WELCOME and RULES) and forwards the triggers recording threads post
 * (lib/trigger.h), so that neither ever runs on an application thread.
 */
#define _GNU_SOURCE
#include "lib/client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/abi.h"
#include "common/ctl.h"
#include "lib/proc.h"
#include "lib/rules.h"
#include "lib/trigger.h"

#define RETRY_MS 500
#define REFUSED_MAX_MS 30000 /* a daemon that refused us: back off up to this */

static struct {
    pthread_t thread;
    bool running;
    int region_fd;     /* borrows: fr__proc owns it */
    int stop_fd;       /* owns: eventfd that wakes the thread to stop */
    _Atomic int sock;  /* owns: the live control connection, -1 if none */
    bool exit_hooked;
    struct sockaddr_un addr;
    socklen_t addr_len;
} cl = {.region_fd = -1, .stop_fd = -1, .sock = -1};

bool fr__client_connected(void)
{
    return atomic_load_explicit(&cl.sock, memory_order_relaxed) >= 0;
}

static void msg_init(struct fr_ctl_msg *m, unsigned type)
{
    memset(m, 0, sizeof *m);
    m->magic = FR_CTL_MAGIC;
    m->version = FR_CTL_VERSION;
    m->type = (uint16_t)type;
}

static int send_hello(int fd)
{
    struct fr_ctl_msg m;
    msg_init(&m, FR_CTL_HELLO);
    m.abi_major = FR_ABI_MAJOR;
    m.region_size = fr__proc.size;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct iovec iov = {&m, sizeof m};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
                        .msg_controllen = sizeof ctrl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &cl.region_fd, sizeof(int));
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof m ? 0 : -errno;
}

/* Reads one daemon message; 0 on WELCOME (window applied), -errno else. */
static int read_reply(int fd)
{
    struct fr_ctl_msg m;
    ssize_t n = recv(fd, &m, sizeof m, 0);
    if (n != (ssize_t)sizeof m || m.magic != FR_CTL_MAGIC)
        return n == 0 ? -ECONNRESET : -EPROTO;
    if (m.type == FR_CTL_WELCOME) {
        if (m.window_ns)
            atomic_store_explicit(&fr__proc.hdr->window_ns, m.window_ns, memory_order_relaxed);
        fr__rules_apply();
        return 0;
    }
    return m.type == FR_CTL_REFUSED && m.status < 0 ? m.status : -EPROTO;
}

/* Sends what recording threads posted; with no connection (fd < 0) the
 * triggers are dropped and counted: a snapshot written for them later
 * would miss their window anyway. */
static void forward_triggers(int fd)
{
    struct fr__trig tr[8];
    size_t n;
    while ((n = fr__trigger_drain(tr, 8)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct fr_ctl_msg m;
            msg_init(&m, FR_CTL_TRIGGER);
            m.mono_ns = tr[i].mono_ns;
            m.measured_ns = tr[i].measured_ns;
            m.threshold_ns = tr[i].threshold_ns;
            m.task_id = tr[i].task_id;
            m.tid = tr[i].tid;
            m.on = tr[i].on;
            memcpy(m.rule, tr[i].rule, sizeof m.rule - 1);
            memcpy(m.text, tr[i].subject, sizeof m.text - 1);
            if (fd < 0 || send(fd, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof m)
                atomic_fetch_add_explicit(&fr__proc.hdr->triggers_lost, 1, memory_order_relaxed);
        }
        if (n < 8)
            break;
    }
}

/* Waits for fd to have input, or for stop; ms < 0 waits forever. Posted
 * triggers are forwarded meanwhile. Returns 1 (input), 0 (timeout) or -1
 * (stop). */
static int wait_for(int fd, int ms)
{
    for (;;) {
        struct pollfd p[3] = {{cl.stop_fd, POLLIN, 0}, {fr__trigger_wake_fd(), POLLIN, 0},
                              {fd, POLLIN, 0}};
        int n = poll(p, fd >= 0 ? 3 : 2, ms);
        if (n > 0 && (p[0].revents & POLLIN))
            return -1;
        if (n > 0 && (p[1].revents & POLLIN)) {
            forward_triggers(atomic_load_explicit(&cl.sock, memory_order_relaxed));
            if (!(p[2].revents & POLLIN))
                continue; /* ms restarts: fine for both callers (retry delay, forever) */
        }
        return n > 0 ? 1 : 0;
    }
}

static void *run(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "flightrec");
    int delay = RETRY_MS;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&cl.addr, cl.addr_len) == 0 &&
            send_hello(fd) == 0) {
            int w = wait_for(fd, 5000);
            if (w < 0) {
                close(fd);
                return NULL;
            }
            int r = w > 0 ? read_reply(fd) : -ETIMEDOUT;
            /* A refusal will not change by itself soon: back off, so a
             * daemon that cannot read us is not asked twice a second. */
            delay = r == 0 ? RETRY_MS : r == -ETIMEDOUT || r == -ECONNRESET ? RETRY_MS
                    : delay * 2 > REFUSED_MAX_MS ? REFUSED_MAX_MS
                                                 : delay * 2;
            if (r == 0) {
                atomic_store_explicit(&cl.sock, fd, memory_order_release);
                /* Connected: nothing to do until the daemon goes away. */
                for (;;) {
                    w = wait_for(fd, -1);
                    if (w < 0)
                        return NULL; /* fr__client_stop() closes the socket */
                    struct fr_ctl_msg m;
                    ssize_t n = recv(fd, &m, sizeof m, MSG_DONTWAIT);
                    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        break; /* daemon gone */
                    if (n == (ssize_t)sizeof m && m.magic == FR_CTL_MAGIC &&
                        m.type == FR_CTL_RULES)
                        fr__rules_apply();
                }
                atomic_store_explicit(&cl.sock, -1, memory_order_release);
            }
        }
        if (fd >= 0)
            close(fd);
        if (wait_for(-1, delay) < 0)
            return NULL;
    }
}

static void send_goodbye(int status)
{
    int fd = atomic_load_explicit(&cl.sock, memory_order_acquire);
    if (fd < 0)
        return;
    /* A rule that fired just before the exit must reach the daemon: the
     * exit comes before the thread would have forwarded it. */
    forward_triggers(fd);
    struct fr_ctl_msg m;
    msg_init(&m, FR_CTL_GOODBYE);
    m.status = status;
    send(fd, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void on_exit_hook(int status, void *arg)
{
    (void)arg;
    if (fr__proc.hdr && atomic_load(&fr__proc.init) == FR__INIT_READY &&
        atomic_load_explicit(&fr__proc.hdr->state, memory_order_relaxed) != FR_ABI_PROC_EXITED) {
        atomic_store_explicit(&fr__proc.hdr->exit_status, status, memory_order_relaxed);
        atomic_store_explicit(&fr__proc.hdr->state, FR_ABI_PROC_EXITED, memory_order_release);
    }
    send_goodbye(status);
}

int fr__client_start(int region_fd)
{
    const char *path = getenv("FLIGHTREC_SOCKET");
    if (!path)
        path = FR_CTL_SOCKET_DEFAULT;
    if (!*path || region_fd < 0 || cl.running)
        return 0; /* FLIGHTREC_SOCKET="": never register */
    if (strlen(path) >= sizeof cl.addr.sun_path)
        return -ENAMETOOLONG;
    cl.addr.sun_family = AF_UNIX;
    strcpy(cl.addr.sun_path, path);
    cl.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    cl.region_fd = region_fd;
    cl.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cl.stop_fd < 0)
        return -errno;

    /* The thread must never take the application's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&cl.thread, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        close(cl.stop_fd);
        cl.stop_fd = -1;
        return -err;
    }
    cl.running = true;
    if (!cl.exit_hooked)
        cl.exit_hooked = on_exit(on_exit_hook, NULL) == 0;
    return 0;
}

void fr__client_stop(int status)
{
    if (!cl.running)
        return;
    send_goodbye(status);
    uint64_t one = 1;
    if (write(cl.stop_fd, &one, sizeof one) != sizeof one)
        return; /* cannot happen with an eventfd; leave the thread be */
    pthread_join(cl.thread, NULL);
    cl.running = false;
    int fd = atomic_exchange(&cl.sock, -1);
    if (fd >= 0)
        close(fd);
    close(cl.stop_fd);
    cl.stop_fd = -1;
}

void fr__client_after_fork_child(void)
{
    int fd = atomic_exchange(&cl.sock, -1);
    if (fd >= 0)
        close(fd); /* our copy only: the parent's connection stays */
    if (cl.stop_fd >= 0)
        close(cl.stop_fd);
    cl.stop_fd = -1;
    cl.running = false;
    cl.region_fd = -1;
}
