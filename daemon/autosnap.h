/* autosnap.h - snapshots nobody asked for: rules, triggers and the store.
 *
 * Runs the rules (daemon/rules.h) on the loop: publishes each process's
 * rules into its region when it registers and after a reload, takes
 * triggers from the library (TRIGGER messages), from process ends (exit
 * rules) and from POST /debug/flightrecorder/trigger, and when a pending
 * snapshot is due, writes the window [first trigger - before, now] of its
 * scope into the snapshot store (daemon/store.h) on the thread pool.
 *
 * Two timers, armed only while there is something to do at a known time
 * (a pending snapshot's due time, the oldest stored snapshot's max_age):
 * idle means idle.
 * Loop thread only, except the jobs it queues.
 */
#ifndef FR_DAEMON_AUTOSNAP_H
#define FR_DAEMON_AUTOSNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/ctl.h"
#include "daemon/capture.h"
#include "daemon/config_schema.h"
#include "daemon/control.h"
#include "daemon/http.h"
#include "daemon/registry.h"
#include "daemon/rules.h"
#include "daemon/store.h"

struct autosnap {
    uv_loop_t *loop;      /* borrows */
    struct registry *reg; /* borrows */
    struct capture_spare *spare; /* borrows: decode memory kept between captures */
    struct rules *rules;  /* owns */
    struct store *store;  /* owns */
    uv_timer_t timer;     /* owns: the next pending snapshot's due time */
    uv_timer_t expiry;    /* owns: the oldest stored snapshot's max_age */
    uint64_t max_bytes;   /* recording.max_bytes */
    bool json;            /* snapshots.format */
    bool allow_tcp;       /* http.allow_trigger: POST over TCP too */
    unsigned running;     /* jobs in flight */
    bool stopping;
    void (*stopped)(struct autosnap *a);
    /* for /metrics */
    uint64_t triggers_unknown; /* TRIGGER messages naming no rule in force */
};

/* Opens the store (creating its directory; a directory that cannot be
 * used now is logged and tried again at each write) and takes cfg's rules.
 * Returns 0 or -ENOMEM. */
int autosnap_start(struct autosnap *a, uv_loop_t *loop, struct registry *reg,
                   struct capture_spare *spare, const struct dconfig *cfg);

/* SIGHUP: new rules, store limits and format; every connected process
 * gets its new rule table. -ENOMEM keeps the old rules. */
int autosnap_reload(struct autosnap *a, const struct dconfig *cfg);

/* Writes every pending snapshot now (their `after` cut short), then
 * calls stopped(a) once the last is on disk and the timer is closed. */
void autosnap_stop(struct autosnap *a, void (*stopped)(struct autosnap *a));
void autosnap_free(struct autosnap *a);

/* control_hooks for the control socket (arg: the autosnap). */
void autosnap_registered(void *arg, struct proc *p);
void autosnap_trigger(void *arg, struct proc *p, const struct fr_ctl_msg *m);
void autosnap_ended(void *arg, struct proc *p);

/* POST /debug/flightrecorder/trigger?reason=TEXT[&pid=N]; arg: the autosnap. */
void autosnap_handle_trigger(struct http_req *req, void *arg);
/* GET /debug/flightrecorder/snapshots and .../snapshots/NAME. */
void autosnap_handle_list(struct http_req *req, void *arg);
void autosnap_handle_get(struct http_req *req, void *arg);

#endif
