/* window.h - what the trace encoders share: which part of a trace_proc is
 * in the window, and how records cut by the window start pair up.
 *
 * A flight recorder's window cuts work in progress. A region, wait or task
 * whose END is in the window and whose BEGIN is not still happened inside
 * it: the encoders emit it as a slice that begins at the window start (a
 * task at its recorded start when that is inside the window), never as an
 * END without a BEGIN. Slices still open at the end stay open: nothing
 * here depends on the time of the request, so the same input always gives
 * the same output.
 *
 * The encoders read the events once (memory bandwidth is the cost: an
 * event is 56 bytes), thread by thread, asking window_event() what to do with
 * each. What needs all threads is settled after the last one by
 * window_proc_settle(): which task ENDs had no BEGIN, which flow ends have
 * their other end in the window. Those come back as "late" events, in
 * time order, for the encoder to write after the threads. What it keeps of
 * a thread for that (task and flow records, cut slices) it copies, so a
 * thread's events are needed only while it is read: with
 * window_input.fetch, they are decoded just before (window_thread_load())
 * and may be gone after, and a process costs the memory of its largest
 * thread, not of all of them. Tables grow by doubling: no allocation per
 * event.
 *
 * The trace_proc may come from a hostile process (see reader.h): ids,
 * lengths and nesting are not trusted; only sizes are bounded. Any thread;
 * no global state.
 */
#ifndef FR_COMMON_WINDOW_H
#define FR_COMMON_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/trace.h"

/* One process to encode. */
struct window_input {
    const struct trace_proc *proc; /* borrows */
    uint32_t pid;     /* pid to write (the daemon knows it from SO_PEERCRED); 0: proc->pid */
    uint64_t from_ns; /* window start, CLOCK_MONOTONIC ns: events before it are left
                       * out and slices cut by it begin there; 0: the first event */
    /* How the process ended, when the caller knows (the daemon does):
     * the encoders mark it with a process instant at ended_ns (or at its
     * last event, if later). */
    uint8_t ended;       /* WINDOW_LIVE, WINDOW_EXITED, WINDOW_DIED */
    int32_t exit_status; /* WINDOW_EXITED */
    uint64_t ended_ns;
    /* Set: proc's threads come without events (n = 0, everything else
     * filled) and fetch(fetch_arg, i) puts thread i's events in
     * proc->threads[i] (and the text of its logs in proc->text), valid
     * until the next call; it may add to proc->errors. Returns 0 or a
     * negative errno. Needs from_ns. */
    int (*fetch)(void *fetch_arg, uint32_t i);
    void *fetch_arg;
};

enum { WINDOW_LIVE = 0, WINDOW_EXITED = 1, WINDOW_DIED = 2 };

/* The marker's name and, for the annotation, how ("exited", "died"). */
static inline const char *window_end_name(unsigned ended)
{
    return ended == WINDOW_EXITED ? "process exited" : "process died";
}
static inline const char *window_end_how(unsigned ended)
{
    return ended == WINDOW_EXITED ? "exited" : "died (no goodbye: killed or crashed)";
}


#define WINDOW_NONE UINT32_MAX

/* A task with a record in the window. */
struct window_task {
    uint64_t id, parent;
    uint64_t begin_ts;             /* where its slice begins */
    uint64_t end_ts, end_start_ts; /* its END's time and recorded begin, if has_end */
    bool has_begin;                /* its BEGIN is in the window (else: cut) */
    bool has_end;                  /* its END is (else: open) */
    uint32_t begin_thread, end_thread;
    bool end_written;    /* its END was written on its thread */
    uint32_t name;       /* string id */
    uint32_t parent_idx; /* after settling: the parent task's index, or WINDOW_NONE */
    uint64_t user;       /* the encoder's (Perfetto: the track uuid; 0 until set) */
};

/* A flow record, kept for after the threads. */
struct window_flow {
    uint64_t ts, id;
    uint8_t type; /* FR_REC_FLOW_BEGIN or FR_REC_FLOW_END */
    bool linked;  /* after settling: its other end is in the window */
    uint32_t thread;
};

/* What the encoder writes after the threads, in this order. */
enum window_late_kind {
    WINDOW_LATE_TASK_BEGIN, /* a task the window start cut, at its begin_ts */
    WINDOW_LATE_FLOW,       /* a flow record, at its ts */
    WINDOW_LATE_TASK_END,   /* an END met before its task's BEGIN was written */
};
struct window_late {
    uint64_t ts;
    uint32_t kind; /* enum window_late_kind; at equal ts, in this order */
    uint32_t idx;  /* into tasks or flows */
};

struct window_thread {
    const struct trace_thread *t; /* borrows */
    size_t lo;                    /* its first event in the window, once loaded */
    uint32_t tid;                 /* tid to write */
};

struct window_proc {
    const struct trace_proc *p;    /* borrows */
    uint32_t pid;                  /* pid to write */
    uint64_t start;                /* window start: where cut slices begin */
    uint64_t last_ts;              /* the newest event of the threads loaded */
    uint64_t dropped;              /* events lost: no ring, nested, per-thread */
    struct window_thread *threads; /* owns; p->nthreads of them */

    struct window_task *tasks; /* owns; in order of first record */
    size_t ntasks, task_cap;
    uint32_t *task_slots; /* owns: hash of tasks, index + 1 per slot */
    size_t task_mask;
    struct window_flow *flows; /* owns */
    size_t nflows, flow_cap;
    struct window_late *late; /* owns; sorted by window_proc_settle() */
    size_t nlate, late_cap;

    int (*fetch)(void *, uint32_t); /* window_input's */
    void *fetch_arg;

    /* the thread being read */
    struct trace_event *cuts; /* owns: copies of its REGION_END/WAIT_END records
                               * that began before the window, innermost first */
    size_t ncuts, cut_cap;
    uint32_t regions, waits; /* open ones */
    uint32_t thread;
    int err; /* -ENOMEM once a table could not grow; sticky */
};

/* Borrows in->proc until window_proc_fini(). O(threads). Returns 0 or
 * -ENOMEM. */
int window_proc_init(struct window_proc *w, const struct window_input *in);
void window_proc_fini(struct window_proc *w);

/* Makes thread i's events readable (fetches them, with
 * window_input.fetch) and sets its lo. Returns 0 or a negative errno,
 * sticky for window_proc_settle(). */
int window_thread_load(struct window_proc *w, uint32_t i);

/* Starts reading thread i, loaded. */
void window_thread_begin(struct window_proc *w, uint32_t i);

enum window_action {
    WINDOW_SKIP,  /* draws nothing here: attach, detach, a repeated record, or kept
                   * for after the threads (flows, some task ENDs) */
    WINDOW_WRITE, /* write it now; for task records, *task is its task */
};

int window_event_slow(struct window_proc *w, const struct trace_event *e,
                      struct window_task **task);

/* What to do with the next event of the thread being read. */
static inline int window_event(struct window_proc *w, const struct trace_event *e,
                               struct window_task **task)
{
    switch (e->type) {
    case FR_REC_REGION_BEGIN:
        w->regions++;
        return WINDOW_WRITE;
    case FR_REC_WAIT_BEGIN:
        w->waits++;
        return WINDOW_WRITE;
    case FR_REC_LOG:
    case FR_REC_COUNTER:
    case FR_REC_TRIGGER:
        return WINDOW_WRITE;
    default:
        return window_event_slow(w, e, task);
    }
}

/* After the last thread: cut tasks, parent links, flow pairs, the late
 * events in time order. Returns 0 or -ENOMEM (also any earlier one). */
int window_proc_settle(struct window_proc *w);

/* When to put the end marker: ended_ns, or the last event if later (a
 * converted timestamp may lie a little after what the daemon saw). After
 * every thread was loaded. */
uint64_t window_end_ts(const struct window_proc *w, const struct window_input *in);

/* The text of string id, at most FR_ABI_STR_MAX bytes; "" for bad ids. */
const char *window_str(const struct trace_proc *p, uint32_t id, size_t *len);

/* A log record's message; empty when its bounds are not in p->text. */
const char *window_text(const struct trace_proc *p, const struct trace_event *e, size_t *len);

/* "lock wait" ... "wait": how a wait of kind arg (enum fr_wait) is named,
 * and its kind alone ("lock" ... "other"). */
const char *window_wait_label(unsigned kind, size_t *len);
const char *window_wait_kind(unsigned kind);

/* A trigger's kind as written ("task" ... "manual"; "?" for others). */
const char *window_rule_on(unsigned on);

/* True when trig (a FR_REC_TRIGGER) was recorded for the span that end
 * (the next event written on its thread) ends: the encoders then mark
 * that slice as the one that fired. The library writes a trigger just
 * before the END, at the same timestamp. */
static inline bool window_trigger_marks(const struct trace_event *trig,
                                        const struct trace_event *end)
{
    if (!trig || trig->ts != end->ts)
        return false;
    switch (end->type) {
    case FR_REC_TASK_END:
        return trig->arg == FR_ABI_RULE_TASK && trig->id == end->id;
    case FR_REC_REGION_END:
        return trig->arg == FR_ABI_RULE_REGION && trig->text_off == end->name;
    case FR_REC_WAIT_END:
        return trig->arg == FR_ABI_RULE_WAIT && trig->text_off == end->name;
    default:
        return false;
    }
}

/* A flow id as written: bijective per process (ids of one process never
 * collide) and mixed with the pid (two processes' ids do not join). */
uint64_t window_flow_id(uint32_t pid, uint64_t id);

/* Bytes of the longest valid UTF-8 prefix of s[0..len): len when all of
 * s is valid (no overlongs, surrogates or values past U+10FFFF). The
 * encoders write names and messages as strings, which must be valid
 * UTF-8; anything else is repaired on the slow path. */
size_t window_utf8_valid_prefix(const unsigned char *s, size_t len);

/* Length of the valid UTF-8 sequence at s[0] (1-4; ASCII is 1), or 0
 * when s[0] starts none. len >= 1. */
size_t window_utf8_seq(const unsigned char *s, size_t len);

#endif
