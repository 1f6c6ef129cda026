/* control.h - the control socket: processes register here.
 *
 * Accepts connections on an AF_UNIX SOCK_SEQPACKET socket (mode 0666: any
 * local process may register itself, and can only ever hand over its own
 * region), takes the peer's pid from SO_PEERCRED, receives the memfd,
 * enters it in the registry and answers WELCOME or REFUSED. The
 * connection then stays open: a GOODBYE gives the exit status, a close
 * without one means the process died. Ended processes leave the registry
 * one window later, on a timer armed only while there are any.
 *
 * Loop thread only. A client that connects and says nothing is closed
 * after HANDSHAKE_MS; at most max_pending such clients at once.
 */
#ifndef FR_DAEMON_CONTROL_H
#define FR_DAEMON_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>
#include <uv.h>

#include "daemon/registry.h"

struct ctl_conn;
struct fr_ctl_msg;

/* What the rest of the daemon hears from the control socket (any may be
 * NULL). Set after control_start(). */
struct control_hooks {
    /* Registered, just before WELCOME: publish the process's rules. */
    void (*registered)(void *arg, struct proc *p);
    /* A TRIGGER from a registered process (m is checked for magic and
     * version only: the rest is the process's word). */
    void (*trigger)(void *arg, struct proc *p, const struct fr_ctl_msg *m);
    /* The process ended (registry_end() done: state, exit_status, ended_ns). */
    void (*ended)(void *arg, struct proc *p);
    void *arg;
};

struct control {
    uv_loop_t *loop;       /* borrows */
    struct registry *reg;  /* borrows */
    int fd;                /* owns: listening socket */
    uv_poll_t poll;        /* owns */
    uv_timer_t expire;     /* owns: next expiry of an ended process */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ctl_conn *conns; /* owns */
    size_t pending, max_pending;
    unsigned open_handles;  /* closing: handles not yet closed */
    void (*stopped)(struct control *c);
    uint64_t refused_early; /* closed before HELLO: limits, timeouts, garbage */
    struct control_hooks hooks;
};

/* Listens on path (a stale socket there is replaced; anything else there
 * is an error). Returns 0 or -errno. */
int control_start(struct control *c, uv_loop_t *loop, struct registry *reg, const char *path,
                  size_t max_pending);

/* Closes the socket (and unlinks it) and every connection; stopped(c) is
 * called once all handles are closed. Registered processes stay in the
 * registry. */
void control_stop(struct control *c, void (*stopped)(struct control *c));

/* The registry's window changed (reload): re-arm expiry. */
void control_window_changed(struct control *c);

/* Tells p (if still connected) that its rule table changed. */
void control_rules_changed(struct proc *p);

#endif
