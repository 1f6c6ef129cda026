/* capture.h - the window of some registered processes, encoded: what an
 * HTTP snapshot and a rule's snapshot file both are.
 *
 * The loop picks processes and takes a reference on each (so that none is
 * unmapped under the work) and fixes what it knows of them (pid, how they
 * ended); a pool thread then reads their rings and encodes the trace into
 * a sink, one process at a time. Only the pick and the release touch the
 * registry.
 */
#ifndef FR_DAEMON_CAPTURE_H
#define FR_DAEMON_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reader.h"
#include "common/sink.h"
#include "common/window.h"
#include "daemon/registry.h"

struct capture {
    struct proc **procs;       /* owns the array and a reference on each */
    struct window_input *ends; /* owns: pid and how each ended, fixed at pick time */
    struct reader *rds;        /* owns: each process's reader, its clock table read
                                * again at pick time */
    size_t n;
};

/* Loop thread. Takes the registered processes pick() accepts, oldest
 * registration first. Returns 0 (n may be 0) or -ENOMEM. */
int capture_pick(struct capture *c, struct registry *reg,
                 bool (*pick)(const struct proc *p, void *arg), void *arg);

/* Loop thread: drops the references; c is empty afterwards. */
void capture_release(struct capture *c, struct registry *reg);

struct capture_opts {
    uint64_t from_ns;       /* window start, CLOCK_MONOTONIC */
    uint64_t max_bytes;     /* ring data read at most, all processes together */
    bool json;              /* Chrome JSON instead of Perfetto */
    size_t chunk;           /* bytes per write to the sink (0: the encoders' default) */
    struct reader_buf *buf; /* decode memory, grown as needed and kept for the caller's
                             * next capture; NULL: a temporary one */
};

/* Decode memory kept from one capture to the next (HTTP snapshots and
 * rule snapshots alike), so that a snapshot does not fault in the pages
 * of its decoded events each time: a capture takes it (or starts with
 * nothing: the reader grows new memory) and gives it back when done. One
 * is kept, of at most CAPTURE_SPARE_MAX bytes (one 1 MiB ring decoded
 * takes 3.5 MiB of events): a capture of a larger ring gives its memory
 * back to the system. Loop thread only. */
#define CAPTURE_SPARE_MAX (16u << 20)
struct capture_spare {
    struct reader_buf b; /* owns */
    bool held;           /* b holds memory */
};
void capture_spare_take(struct capture_spare *s, struct reader_buf *out);
void capture_spare_give(struct capture_spare *s, struct reader_buf *b);
void capture_spare_fini(struct capture_spare *s);

/* Pool thread. The newest event's time over the processes (0: none): a
 * window aligned on it does not move while nothing is recorded, so two
 * snapshots with no new events in between are identical. */
uint64_t capture_newest(const struct capture *c);

/* Pool thread. Decodes the processes one at a time, in order, and writes
 * each to sink as soon as it is decoded: one decoded process in memory at
 * a time. Returns 0 when sink got the whole trace; else -ENOMEM or the
 * sink's -errno, and what sink got is cut short (or nothing). */
int capture_encode(const struct capture *c, const struct capture_opts *o,
                   const struct enc_sink *sink);

#endif
