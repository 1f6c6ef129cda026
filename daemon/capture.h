/* capture.h - the window of some registered processes, encoded: what an
 * HTTP snapshot and a rule's snapshot file both are.
 *
 * The loop picks processes and takes a reference on each (so that none is
 * unmapped under the work) and fixes what it knows of them (pid, how they
 * ended); a pool thread then reads their rings and encodes the trace into
 * a sink. Only the pick and the release touch the registry.
 */
#ifndef FR_DAEMON_CAPTURE_H
#define FR_DAEMON_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sink.h"
#include "common/window.h"
#include "daemon/registry.h"

struct capture {
    struct proc **procs;       /* owns the array and a reference on each */
    struct window_input *ends; /* owns: pid and how each ended, fixed at pick time */
    size_t n;
};

/* Loop thread. Takes the registered processes pick() accepts, oldest
 * registration first. Returns 0 (n may be 0) or -ENOMEM. */
int capture_pick(struct capture *c, struct registry *reg,
                 bool (*pick)(const struct proc *p, void *arg), void *arg);

/* Loop thread: drops the references; c is empty afterwards. */
void capture_release(struct capture *c, struct registry *reg);

struct capture_opts {
    uint64_t from_ns;    /* window start, CLOCK_MONOTONIC; 0: last_ns before the newest event */
    uint64_t last_ns;    /* with from_ns 0: the window's length, aligned on the newest event */
    uint64_t max_bytes;  /* ring data read at most, all processes together */
    bool json;           /* Chrome JSON instead of Perfetto */
};

/* Pool thread. Reads the processes' windows and encodes them into sink.
 * *newest_ns (may be NULL) gets the newest event's time, known before the
 * first byte is written; start(arg, newest) (may be NULL) is called then,
 * and its failure (-errno) ends the work before encoding. Returns 0, the
 * sink's -errno, or -ENOMEM. */
int capture_encode(const struct capture *c, const struct capture_opts *o,
                   const struct enc_sink *sink, int (*start)(void *arg, uint64_t newest_ns),
                   void *arg);

#endif
