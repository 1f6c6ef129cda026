/* reader.h - decodes a process's region into a struct trace_proc.
 *
 * The one reader of the shared-memory ABI, used by the daemon, the CLI and
 * the in-process dump. The region is untrusted input: every offset, size,
 * id and length is checked against the mapping; a region full of garbage
 * yields an empty or partial trace and a count in trace_proc.errors, never
 * a crash, an out-of-bounds read, an unbounded allocation or an endless
 * loop. Writers may keep writing while it reads: a record they overwrote
 * while it was read is dropped, never returned torn.
 *
 * Any thread; no global state.
 */
#ifndef FR_COMMON_READER_H
#define FR_COMMON_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/abi.h"
#include "common/trace.h"

struct reader_clock {
    uint32_t n;        /* valid points, ascending */
    uint32_t identity; /* record clock is CLOCK_MONOTONIC already */
    struct fr_abi_clock_point pts[FR_ABI_CLOCK_CAP];
    uint64_t mult[FR_ABI_CLOCK_CAP]; /* ns per tick of segment i, 32.32 fixed point */
};

struct reader {
    const unsigned char *base; /* borrows: the mapping */
    size_t size;
    struct fr_abi_header h; /* the layout fields, checked; nothing below process_name */
    struct reader_clock clock;
};

struct reader_opts {
    uint64_t from_ns;   /* keep events at or after this CLOCK_MONOTONIC time; 0: all */
    uint64_t last_ns;   /* or: only the last last_ns before the region's newest event */
    uint64_t max_bytes; /* ring data kept at most, in ring order, each ring's newest
                         * units first; 0: no bound */
};

/* Checks the header of a mapping of size bytes and reads its clock table.
 * Returns 0; -EPROTO (not a flightrec region, or an ABI major we do not
 * know); -EINVAL (a layout that does not fit the mapping); -EAGAIN (the
 * clock table kept changing under us). Borrows base: it must stay mapped
 * while r is used. */
int reader_open(struct reader *r, const void *base, size_t size);

/* Reads r's clock table again. The library adds a point every second or
 * so while it records, so a reader opened long ago converts recent events
 * by extrapolating its newest point over minutes or hours (drifting with
 * the clock's rate) where a fresh table interpolates between points a
 * second apart. Returns 0, or reader_open()'s -EINVAL or -EAGAIN with r
 * as it was. */
int reader_refresh_clock(struct reader *r);

/* Decodes every ring. Returns 0 with *out filled (free it with
 * trace_proc_free()), or -ENOMEM with *out empty. Problems in the region are
 * not failures: they show as out->errors. */
int reader_read(const struct reader *r, const struct reader_opts *o, struct trace_proc *out);

/* Memory that reader_read_buf() keeps from one call to the next, so that
 * a caller decoding many processes in turn (the daemon) allocates and
 * faults its pages in once, for the largest of them. Zero it before the
 * first use; owns everything; reader_buf_fini() frees it. */
struct ring_copy;
struct reader_ref;
struct reader_buf {
    uint64_t (*units)[2]; /* ring copies */
    struct ring_copy *rings;
    struct trace_thread *threads;
    struct trace_event *events;
    char *text;
    struct fr_abi_str *strs;
    char *strtext;
    struct reader_ref *refs; /* reader_read_head()'s threads */
    size_t units_cap, rings_cap, threads_cap, events_cap, text_cap, strs_cap, strtext_cap,
        refs_cap;
    uint64_t from_ns; /* reader_read_head()'s */
    uint32_t loaded;  /* the thread whose events b holds */
};

/* reader_read() into b's memory, grown as needed: *out borrows it until
 * the next call with b or reader_buf_fini(b); never trace_proc_free() it.
 * Returns 0, or -ENOMEM with *out empty (b stays usable). */
int reader_read_buf(const struct reader *r, const struct reader_opts *o, struct reader_buf *b,
                    struct trace_proc *out);
void reader_buf_fini(struct reader_buf *b);

/* The same, one thread at a time, so that memory follows the largest
 * ring rather than the whole process (the daemon's snapshots):
 * reader_read_head() fills *out with everything but events (the process,
 * its strings, a thread per ring with something to read, with n = 0;
 * ring_bytes what they will read, within o->max_bytes); each
 * reader_read_thread() then decodes thread i's events and the text of
 * its logs into b (out->threads[i].ev, out->text), in place of the thread
 * decoded before, whose ev it clears. A ring that changed owner in
 * between reads as empty. o->last_ns is not supported. Both return 0 or
 * -ENOMEM (and -EINVAL for an i out of range); what the region gets wrong
 * adds to out->errors. */
int reader_read_head(const struct reader *r, const struct reader_opts *o, struct reader_buf *b,
                     struct trace_proc *out);
int reader_read_thread(const struct reader *r, struct reader_buf *b, struct trace_proc *out,
                       uint32_t i);

/* The newest calibration point: what reader_read() puts in
 * trace_proc.clock, without decoding. */
void reader_trace_clock(const struct reader *r, struct trace_clock *out);

/* The newest event's time (CLOCK_MONOTONIC ns) over every ring, 0 when
 * there is none; reads only each ring's last records. Lets a caller align
 * the windows of several processes on their newest event, which, unlike
 * the time of the request, does not change while nothing is recorded. */
uint64_t reader_newest(const struct reader *r);

/* What the header and ring headers say now, for status and metrics. */
struct reader_stats {
    uint32_t state;      /* enum fr_abi_proc_state */
    int32_t exit_status;
    uint32_t threads_live, threads_exited;
    uint64_t dropped;    /* no ring + nested */
    uint64_t evicted;    /* rings reused before their data expired */
    uint64_t strtab_overflow;
    uint64_t oldest_ns, newest_ns; /* the span of what the rings hold, 0 if empty */
};
void reader_stats(const struct reader *r, struct reader_stats *out);

/* Fills c->mult from c->pts (reader_open() does; for clocks built by hand). */
void reader_clock_slopes(struct reader_clock *c);

/* CLOCK_MONOTONIC ns of a record timestamp: linear between calibration
 * points and past the newest one (the last segment's slope, rounded to
 * the ns), extrapolated exactly before the first. */
uint64_t reader_clock_convert(const struct reader_clock *c, uint64_t t);

#endif
