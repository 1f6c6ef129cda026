/* trace.h - the decoded trace of one process: what the reader produces and
 * the encoders and `flightrec analyze` consume.
 *
 * Plain data, owned by the struct trace_proc that holds it; timestamps are
 * CLOCK_MONOTONIC ns.
 */
#ifndef FR_COMMON_TRACE_H
#define FR_COMMON_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/abi.h"

/* Trigger records (FR_REC_TRIGGER) reuse the fields: name = the rule's
 * name, arg = enum fr_abi_rule_on, id = the offending task (0: none),
 * parent = the rule's threshold ns, start_ts = the begin of the span that
 * fired (ts - measured; ts for a log or a manual trigger), text_off = the
 * subject's string id (span name, log category or fr_trigger() reason). */
struct trace_event {
    uint64_t ts;       /* CLOCK_MONOTONIC ns */
    uint8_t type;      /* enum fr_rec_type */
    uint8_t flags;     /* FR_REC_F_* */
    uint16_t arg;      /* region depth, wait kind, log length */
    uint32_t name;     /* string id: region, task, wait, counter or log category */
    uint64_t id;       /* task id, flow id, counter value (two's complement) */
    uint64_t parent;   /* task records: parent task id */
    uint64_t task;     /* the thread's current task at this event, 0 = none or unknown */
    uint64_t start_ts; /* task records: the task's begin, ns */
    uint32_t text_off; /* log message in trace_proc.text */
    uint32_t text_len;
};

struct trace_thread {
    uint32_t tid;
    uint32_t state; /* enum fr_abi_ring_state */
    char name[FR_ABI_THREAD_NAME_MAX];
    uint64_t claim_ns, exit_ns; /* exit_ns 0 while the thread lives */
    uint64_t dropped;           /* events this ring's owners could not record */
    struct trace_event *ev;     /* in time order; inside trace_proc.events */
    size_t n;
};

struct trace_clock {
    uint64_t mono_ns, real_ns, boot_ns; /* one instant on three clocks */
};

struct trace_proc {
    uint32_t pid;
    uint32_t state; /* enum fr_abi_proc_state */
    int32_t exit_status;
    char name[FR_ABI_NAME_MAX];
    struct trace_clock clock; /* from the newest calibration point */
    uint64_t dropped_no_ring, dropped_nested, rings_evicted, strtab_overflow;
    uint64_t errors; /* records, rings or fields the reader rejected */
    uint64_t ring_bytes; /* ring data read (what reader_opts.max_bytes bounds) */
    struct trace_thread *threads; /* owns */
    size_t nthreads;
    struct trace_event *events; /* owns: every thread's events, one after another */
    struct fr_abi_str *strs; /* owns: string table copy; offsets into strtext */
    uint32_t nstrs;
    char *strtext; /* owns */
    char *text;    /* owns: log messages */
    size_t text_len;
};

/* The text of string id; "" for ids the table does not have. */
static inline const char *trace_str(const struct trace_proc *p, uint32_t id, uint32_t *len)
{
    if (id >= p->nstrs) {
        *len = 0;
        return "";
    }
    *len = p->strs[id].len;
    return p->strtext + p->strs[id].off;
}

void trace_proc_free(struct trace_proc *p);

#endif
