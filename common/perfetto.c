/* perfetto.c - the Perfetto protobuf encoder (see perfetto.h).
 *
 * What a trace holds, in file order (a "sequence" is every packet with one
 * trusted_packet_sequence_id; PERFETTO.md §3):
 *
 *  seq 1        one ClockSnapshot: MONOTONIC (our timestamps), BOOTTIME
 *               (primary, the clock of system traces) and REALTIME, from
 *               the newest calibration point of the processes.
 *  per process  a sequence without incremental state, first: the process
 *               and thread TrackDescriptors, counter tracks for the loss
 *               counts and their values at the window start.
 *  per thread   a sequence per thread with events: a first packet that
 *               clears incremental state, sets the defaults (clock 64, the
 *               thread's track) and interns the fixed names; a ClockSnapshot
 *               anchoring clock 64 (incremental ns) at the window start; the
 *               BEGINs of regions and waits the window start cut; then one
 *               packet per event, in the thread's own time order, with a
 *               counter track's descriptor before its first value.
 *  per process  its sequence again, last: a track per task (under its
 *               parent task's track, or the process), then in time order
 *               what needed every thread read first: BEGINs of tasks the
 *               window start cut, task ENDs met before their BEGIN, and
 *               flow instants (whose ids depend on the other end).
 *
 * Why a sequence per thread: a thread's events are already in time order,
 * so nothing is merged or sorted here (TP sorts across sequences itself);
 * timestamps become deltas on the thread's own clock (2-3 bytes, not 8);
 * events on the thread's own track need no track_uuid.
 *
 * Why interning: a region name costs 1-2 bytes per event instead of its
 * length. iid = string id + EV_BASE (PERFETTO.md's suggestion); a wait's
 * name ("lock wait: db") gets an iid per (kind, string id) above those.
 * A sequence interns a name in the packet that first uses it; `seen[iid]`
 * holds the last sequence that did, so the check is one load per event.
 *
 * One pass over the events: reading them costs more than encoding them
 * (48 bytes each, the window is megabytes). So a thread's packets go to a
 * side buffer while its cut ENDs are found, and are copied out after the
 * BEGINs those need; what depends on other threads waits for the end of
 * the process (window.h).
 *
 * What becomes what: regions and waits are slices on their thread's track
 * (a wait is named after its kind and carries `kind`); a task is one slice
 * on a track of its own, even when it begins and ends on different
 * threads; a log is an instant "log" with `category`, `message` and, when
 * cut, `truncated`; a flow end is an instant "flow" carrying flow_ids or
 * terminating_flow_ids when its other end is in the window; a counter
 * value is a TYPE_COUNTER event. Task attach and detach draw nothing.
 *
 * Every packet is written whole into the sink_buf's slack: a nested
 * message gets one length byte and is moved when it turns out longer
 * (rare: logs and long names). No allocation per event, no printf.
 */
#include "common/perfetto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Field keys, PERFETTO.md §2-6; two-byte keys are written inline, with
 * their field's name beside them. */
#define K_PACKET         0x0a /* Trace.packet */
#define K_TIMESTAMP      0x40 /* TracePacket */
#define K_SEQ_ID         0x50
#define K_TRACK_EVENT    0x5a
#define K_INTERNED       0x62
#define K_SEQ_FLAGS      0x68
#define K_CLOCK_SNAPSHOT 0x32
#define K_TE_TYPE        0x48 /* TrackEvent */
#define K_TE_TRACK       0x58
#define K_TE_NAME_IID    0x50
#define K_TE_ANNOTATION  0x22

enum { TYPE_BEGIN = 1, TYPE_END = 2, TYPE_INSTANT = 3, TYPE_COUNTER = 4 };
enum { SEQ_CLEARED = 1, SEQ_NEEDS = 2 };
enum { CLOCK_REALTIME = 1, CLOCK_MONOTONIC = 3, CLOCK_BOOTTIME = 6, CLOCK_SEQ = 64 };

/* Fixed iids, interned on every thread sequence's first packet. */
enum { EV_LOG = 1, EV_FLOW = 2, EV_BASE = 3 };
enum { DA_CATEGORY = 1, DA_MESSAGE = 2, DA_TRUNCATED = 3, DA_KIND = 4, DA_TASK_ID = 5 };
static const char *const ev_fixed[] = {"", "log", "flow"};
static const char *const da_fixed[] = {"", "category", "message", "truncated", "kind", "task_id"};
#define WAIT_KINDS 6 /* window_wait_label() kinds 0..5 */

/* Names of the loss counts, per process (and per thread for dropped).
 * The reader's errors come last: they are known once every thread is
 * read (window_input.fetch), so they are written after the threads. */
#define LOSS_DROPPED "flightrec dropped events"
static const char *const loss_names[] = {LOSS_DROPPED, "flightrec rings evicted",
                                         "flightrec names not interned", "flightrec reader errors"};
#define NLOSS (sizeof loss_names / sizeof loss_names[0])
#define LOSS_ERRORS (NLOSS - 1)

/* ---- wire format ---- */

/* Varints: most are ids, iids and deltas of 1-2 bytes, so those take one
 * predictable branch each. Longer ones are branch-light: the length from
 * the bit length, the first 8 groups of 7 bits spread over 8 bytes with
 * shifts and masks, the continuation bits from the length, one 8-byte
 * store (the slack makes it safe); only values of 2^56 and up (negative
 * counter values) take one more branch. No loop. */
static unsigned char *put_varint_long(unsigned char *p, uint64_t v)
{
    unsigned n = (64 - (unsigned)__builtin_clzll(v | 1) + 6) / 7;
    uint64_t x = (v & 0x7f) | (v << 1 & 0x7f00) | (v << 2 & 0x7f0000) | (v << 3 & 0x7f000000) |
                 (v << 4 & UINT64_C(0x7f00000000)) | (v << 5 & UINT64_C(0x7f0000000000)) |
                 (v << 6 & UINT64_C(0x7f000000000000)) | (v << 7 & UINT64_C(0x7f00000000000000));
    unsigned cont = n > 8 ? 7 : n - 1; /* bytes with the continuation bit, of the 8 */
    x |= UINT64_C(0x8080808080808080) & ((UINT64_C(1) << (8 * cont)) - 1);
    memcpy(p, &x, 8); /* the ABI is little-endian (abi.h) */
    if (__builtin_expect(n > 8, 0)) {
        p[7] |= 0x80;
        p[8] = (unsigned char)((v >> 56 & 0x7f) | (n > 9 ? 0x80 : 0));
        p[9] = (unsigned char)(v >> 63);
    }
    return p + n;
}

static inline unsigned char *put_varint(unsigned char *p, uint64_t v)
{
    if (__builtin_expect(v < 0x80, 1)) {
        *p = (unsigned char)v;
        return p + 1;
    }
    if (v < 0x4000) {
        p[0] = (unsigned char)(v | 0x80);
        p[1] = (unsigned char)(v >> 7);
        return p + 2;
    }
    return put_varint_long(p, v);
}

static inline unsigned char *put_fixed64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8); /* the ABI is little-endian (abi.h) */
    return p + 8;
}

/* A nested message or string: one byte kept for its length... */
static inline unsigned char *len_open(unsigned char *p, unsigned char **mark)
{
    *mark = p;
    return p + 1;
}

static unsigned char *len_close_long(unsigned char *p, unsigned char *mark)
{
    size_t n = (size_t)(p - mark - 1);
    unsigned char v[10];
    size_t k = (size_t)(put_varint(v, n) - v);
    memmove(mark + k, mark + 1, n); /* inside the slack: packets are small */
    memcpy(mark, v, k);
    return mark + k + n;
}

/* ...and the body moved along when its length needs more. */
static inline unsigned char *len_close(unsigned char *p, unsigned char *mark)
{
    size_t n = (size_t)(p - mark - 1);
    if (__builtin_expect(n < 0x80, 1)) {
        *mark = (unsigned char)n;
        return p;
    }
    return len_close_long(p, mark);
}

/* Length and bytes of s as a valid UTF-8 string field (protobuf strings
 * must be): a byte that starts no valid sequence becomes U+FFFD. */
static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t ok = window_utf8_valid_prefix(u, len);
    if (__builtin_expect(ok == len, 1)) {
        p = put_varint(p, len);
        memcpy(p, u, len);
        return p + len;
    }
    unsigned char *m;
    p = len_open(p, &m);
    for (size_t i = 0;;) {
        memcpy(p, u + i, ok);
        p += ok;
        i += ok;
        if (i >= len)
            break;
        *p++ = 0xef, *p++ = 0xbf, *p++ = 0xbd;
        i++;
        ok = window_utf8_valid_prefix(u + i, len - i);
    }
    return len_close(p, m);
}

static inline unsigned char *put_cstr(unsigned char *p, const char *s)
{
    return put_str(p, s, strlen(s));
}

/* ---- encoder state ---- */

struct perfetto_enc {
    struct sink_buf b;    /* the trace */
    struct sink_buf side; /* a thread's packets, until its cut BEGINs are out */
    struct sink_buf *out; /* where packets go now: &b or &side */
    uint64_t next_uuid;   /* track uuids: 1, 2, ... in file order */
    uint32_t next_seq;    /* sequence ids: 1 is the clock snapshot's */

    /* the process being written */
    struct window_proc *w; /* borrows */
    uint32_t nstrs;        /* ids at or past it are read as this one: "" */
    uint32_t *seen;        /* owns: per iid, the sequence that interned it last */
    uint64_t *ctr_uuid;    /* owns: per string id, its counter track (0: none yet) */
    uint64_t *thread_uuid; /* owns: per thread */
    uint64_t proc_uuid;
    uint32_t proc_seq;

    /* the thread sequence being written */
    const struct trace_event *trig; /* the trigger just written, for the END it marks */
    uint32_t seq;
    uint64_t prev_ts;
    unsigned char hdr[16]; /* seq id and SEQ_NEEDS: the same on every packet */
    size_t hdr_len;
    int err; /* the first failure; sticky */
};

static inline uint32_t norm_id(const struct perfetto_enc *f, uint32_t id)
{
    return id < f->nstrs ? id : f->nstrs;
}

static inline uint64_t name_iid(const struct perfetto_enc *f, uint32_t id)
{
    return EV_BASE + norm_id(f, id);
}

static inline unsigned wait_kind(unsigned arg)
{
    return arg < WAIT_KINDS ? arg : 0;
}

static inline uint64_t wait_iid(const struct perfetto_enc *f, unsigned arg, uint32_t id)
{
    return EV_BASE + (uint64_t)(f->nstrs + 1) * (1 + wait_kind(arg)) + norm_id(f, id);
}

static inline unsigned char *out_p(struct perfetto_enc *f)
{
    return f->out->p;
}

static inline int packet_done(struct perfetto_enc *f, unsigned char *p)
{
    f->out->p = p;
    return sink_buf_check(f->out);
}

/* A packet on a sequence without incremental state: absolute MONOTONIC
 * timestamp (when ts), sequence id. */
static unsigned char *plain_packet(unsigned char *p, unsigned char **pk, uint32_t seq, bool ts,
                                   uint64_t t)
{
    *p++ = K_PACKET;
    p = len_open(p, pk);
    if (ts) {
        *p++ = K_TIMESTAMP;
        p = put_varint(p, t);
        *p++ = 0xd0, *p++ = 0x03, *p++ = CLOCK_MONOTONIC; /* timestamp_clock_id */
    }
    *p++ = K_SEQ_ID;
    return put_varint(p, seq);
}

/* ---- the clock snapshot (seq 1) ---- */

/* Whether c makes a better clock snapshot than best (NULL: none yet):
 * the newest calibration point, since the processes share the machine's
 * clocks, so any one relates them, and the newest is the most exact for
 * a window that ends now. BOOTTIME below MONOTONIC is impossible, so a
 * process that says so is not believed. */
static bool better_clock(const struct trace_clock *c, const struct trace_clock *best)
{
    return c->boot_ns >= c->mono_ns && (!best || c->mono_ns > best->mono_ns);
}

static const struct trace_clock *pick_clock(const struct trace_clock *c, size_t n)
{
    const struct trace_clock *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (better_clock(&c[i], best))
            best = &c[i];
    return best;
}

static unsigned char *put_clock(unsigned char *p, unsigned id, uint64_t ts, bool incremental)
{
    unsigned char *m;
    *p++ = 0x0a; /* ClockSnapshot.clocks */
    p = len_open(p, &m);
    *p++ = 0x08; /* clock_id */
    p = put_varint(p, id);
    *p++ = 0x10; /* timestamp */
    p = put_varint(p, ts);
    if (incremental)
        *p++ = 0x18, *p++ = 1; /* is_incremental */
    return len_close(p, m);
}

static int emit_clock_snapshot(struct perfetto_enc *f, const struct trace_clock *clocks, size_t n)
{
    static const struct trace_clock none;
    const struct trace_clock *c = pick_clock(clocks, n);
    if (!c)
        c = &none;
    unsigned char *p = out_p(f), *pk, *cs;
    p = plain_packet(p, &pk, f->next_seq++, false, 0);
    *p++ = K_CLOCK_SNAPSHOT;
    p = len_open(p, &cs);
    p = put_clock(p, CLOCK_BOOTTIME, c->boot_ns, false);
    p = put_clock(p, CLOCK_MONOTONIC, c->mono_ns, false);
    p = put_clock(p, CLOCK_REALTIME, c->real_ns, false);
    *p++ = 0x10, *p++ = CLOCK_BOOTTIME; /* primary_trace_clock */
    p = len_close(p, cs);
    p = len_close(p, pk);
    return packet_done(f, p);
}

/* ---- descriptors ---- */

static int emit_counter_descr(struct perfetto_enc *f, uint32_t seq, uint64_t uuid, uint64_t parent,
                              const char *name, size_t len, bool count_unit)
{
    unsigned char *p = out_p(f), *pk, *td, *cd;
    p = plain_packet(p, &pk, seq, false, 0);
    *p++ = 0xe2, *p++ = 0x03; /* track_descriptor */
    p = len_open(p, &td);
    *p++ = 0x08; /* uuid */
    p = put_varint(p, uuid);
    *p++ = 0x12; /* name */
    p = put_str(p, name, len);
    *p++ = 0x28; /* parent_uuid */
    p = put_varint(p, parent);
    *p++ = 0x42; /* counter: present, so this is a counter track */
    p = len_open(p, &cd);
    if (count_unit)
        *p++ = 0x18, *p++ = 2; /* unit: UNIT_COUNT */
    p = len_close(p, cd);
    p = len_close(p, td);
    p = len_close(p, pk);
    return packet_done(f, p);
}

static int emit_counter_value(struct perfetto_enc *f, uint32_t seq, uint64_t ts, uint64_t uuid,
                              uint64_t v)
{
    unsigned char *p = out_p(f), *pk, *te;
    p = plain_packet(p, &pk, seq, true, ts);
    *p++ = K_TRACK_EVENT;
    p = len_open(p, &te);
    *p++ = K_TE_TYPE, *p++ = TYPE_COUNTER;
    *p++ = K_TE_TRACK;
    p = put_varint(p, uuid);
    *p++ = 0xf0, *p++ = 0x01; /* counter_value */
    p = put_varint(p, v);
    p = len_close(p, te);
    p = len_close(p, pk);
    return packet_done(f, p);
}

static int emit_process_descr(struct perfetto_enc *f)
{
    const struct window_proc *w = f->w;
    const struct trace_proc *tp = w->p;
    unsigned char *p = out_p(f), *pk, *td, *pd;
    f->proc_uuid = f->next_uuid++;
    p = plain_packet(p, &pk, f->proc_seq, true, w->start);
    *p++ = 0xb8, *p++ = 0x05, *p++ = 1; /* first_packet_on_sequence */
    *p++ = 0xe2, *p++ = 0x03;           /* track_descriptor */
    p = len_open(p, &td);
    *p++ = 0x08;
    p = put_varint(p, f->proc_uuid);
    *p++ = 0x1a; /* process */
    p = len_open(p, &pd);
    *p++ = 0x08; /* pid */
    p = put_varint(p, w->pid);
    size_t nlen = strnlen(tp->name, sizeof tp->name);
    if (nlen) {
        *p++ = 0x32; /* process_name */
        p = put_str(p, tp->name, nlen);
    }
    p = len_close(p, pd);
    p = len_close(p, td);
    p = len_close(p, pk);
    return packet_done(f, p);
}

static int emit_thread_descr(struct perfetto_enc *f, size_t i)
{
    const struct window_thread *wt = &f->w->threads[i];
    unsigned char *p = out_p(f), *pk, *td, *th;
    f->thread_uuid[i] = f->next_uuid++;
    p = plain_packet(p, &pk, f->proc_seq, true, f->w->start);
    *p++ = 0xe2, *p++ = 0x03; /* track_descriptor */
    p = len_open(p, &td);
    *p++ = 0x08;
    p = put_varint(p, f->thread_uuid[i]);
    *p++ = 0x22; /* thread */
    p = len_open(p, &th);
    *p++ = 0x08; /* pid */
    p = put_varint(p, f->w->pid);
    *p++ = 0x10; /* tid */
    p = put_varint(p, wt->tid);
    size_t nlen = strnlen(wt->t->name, sizeof wt->t->name);
    if (nlen) {      /* none: TP shows "Thread <tid>" */
        *p++ = 0x2a; /* thread_name */
        p = put_str(p, wt->t->name, nlen);
    }
    p = len_close(p, th);
    p = len_close(p, td);
    p = len_close(p, pk);
    return packet_done(f, p);
}

/* The head of the process sequence: process, threads, loss counts. */
static int emit_process_head(struct perfetto_enc *f)
{
    const struct window_proc *w = f->w;
    const struct trace_proc *tp = w->p;
    int err = emit_process_descr(f);
    for (size_t i = 0; err == 0 && i < tp->nthreads; i++)
        err = emit_thread_descr(f, i);
    if (err < 0)
        return err;
    /* Loss counts: on the process, and dropped events per thread too. A
     * track of zeros tells nothing, so only counts that are not. */
    const uint64_t loss[LOSS_ERRORS] = {w->dropped, tp->rings_evicted, tp->strtab_overflow};
    uint64_t loss_uuid[LOSS_ERRORS] = {0}, *thread_loss = f->ctr_uuid + f->nstrs + 1;
    for (size_t i = 0; i < LOSS_ERRORS; i++) {
        if (!loss[i])
            continue;
        loss_uuid[i] = f->next_uuid++;
        err = emit_counter_descr(f, f->proc_seq, loss_uuid[i], f->proc_uuid, loss_names[i],
                                 strlen(loss_names[i]), true);
        if (err < 0)
            return err;
    }
    for (size_t i = 0; i < tp->nthreads; i++) {
        if (!w->threads[i].t->dropped)
            continue;
        thread_loss[i] = f->next_uuid++;
        err = emit_counter_descr(f, f->proc_seq, thread_loss[i], f->thread_uuid[i], LOSS_DROPPED,
                                 strlen(LOSS_DROPPED), true);
        if (err < 0)
            return err;
    }
    for (size_t i = 0; i < LOSS_ERRORS; i++)
        if (loss_uuid[i] &&
            (err = emit_counter_value(f, f->proc_seq, w->start, loss_uuid[i], loss[i])) < 0)
            return err;
    for (size_t i = 0; i < tp->nthreads; i++)
        if (thread_loss[i] && (err = emit_counter_value(f, f->proc_seq, w->start, thread_loss[i],
                                                        w->threads[i].t->dropped)) < 0)
            return err;
    return 0;
}

/* The reader's errors, once every thread is read; nothing when none. */
static int emit_errors(struct perfetto_enc *f)
{
    uint64_t n = f->w->p->errors, uuid = f->next_uuid;
    if (!n)
        return 0;
    f->next_uuid++;
    int err = emit_counter_descr(f, f->proc_seq, uuid, f->proc_uuid, loss_names[LOSS_ERRORS],
                                 strlen(loss_names[LOSS_ERRORS]), true);
    return err < 0 ? err : emit_counter_value(f, f->proc_seq, f->w->start, uuid, n);
}

/* ---- thread sequences ---- */

static unsigned char *put_interned_pair(unsigned char *p, unsigned key, uint64_t iid, const char *s)
{
    unsigned char *m;
    *p++ = (unsigned char)key;
    p = len_open(p, &m);
    *p++ = 0x08; /* iid */
    p = put_varint(p, iid);
    *p++ = 0x12; /* name */
    p = put_cstr(p, s);
    return len_close(p, m);
}

static int thread_first_packets(struct perfetto_enc *f, uint64_t track)
{
    unsigned char *p = out_p(f), *pk, *m, *m2;
    p = plain_packet(p, &pk, f->seq, false, 0);
    *p++ = K_SEQ_FLAGS, *p++ = SEQ_CLEARED | SEQ_NEEDS;
    *p++ = 0xb8, *p++ = 0x05, *p++ = 1; /* first_packet_on_sequence */
    *p++ = 0xda, *p++ = 0x03;           /* trace_packet_defaults */
    p = len_open(p, &m);
    *p++ = 0xd0, *p++ = 0x03, *p++ = CLOCK_SEQ; /* timestamp_clock_id */
    *p++ = 0x5a;                                /* track_event_defaults */
    p = len_open(p, &m2);
    *p++ = 0x58; /* track_uuid */
    p = put_varint(p, track);
    p = len_close(p, m2);
    p = len_close(p, m);
    *p++ = K_INTERNED;
    p = len_open(p, &m);
    for (unsigned i = 1; i < sizeof ev_fixed / sizeof ev_fixed[0]; i++)
        p = put_interned_pair(p, 0x12, i, ev_fixed[i]); /* event_names */
    for (unsigned i = 1; i < sizeof da_fixed / sizeof da_fixed[0]; i++)
        p = put_interned_pair(p, 0x1a, i, da_fixed[i]); /* debug_annotation_names */
    p = len_close(p, m);
    p = len_close(p, pk);
    int err = packet_done(f, p);
    if (err < 0)
        return err;

    /* Clock 64 = MONOTONIC at the window start, counted in deltas. */
    p = plain_packet(out_p(f), &pk, f->seq, false, 0);
    *p++ = K_SEQ_FLAGS, *p++ = SEQ_NEEDS;
    *p++ = K_CLOCK_SNAPSHOT;
    p = len_open(p, &m);
    p = put_clock(p, CLOCK_SEQ, f->w->start, true);
    p = put_clock(p, CLOCK_MONOTONIC, f->w->start, false);
    p = len_close(p, m);
    p = len_close(p, pk);
    return packet_done(f, p);
}

/* Packet header of an event: delta timestamp, sequence, flags. */
static inline unsigned char *ev_packet(struct perfetto_enc *f, unsigned char *p, unsigned char **pk,
                                       uint64_t ts)
{
    *p++ = K_PACKET;
    p = len_open(p, pk);
    /* A thread's events never go back in time (the reader keeps them in
     * order); clamping keeps a hostile trace_proc from wrapping a delta. */
    if (__builtin_expect(ts < f->prev_ts, 0))
        ts = f->prev_ts;
    *p++ = K_TIMESTAMP;
    p = put_varint(p, ts - f->prev_ts);
    f->prev_ts = ts;
    memcpy(p, f->hdr, sizeof f->hdr);
    return p + f->hdr_len;
}

/* interned_data { event_names { iid, name } }. kind < 0: a plain name;
 * else a wait's, named after its kind. */
static unsigned char *intern_name(struct perfetto_enc *f, unsigned char *p, uint64_t iid, int kind,
                                  uint32_t id)
{
    unsigned char *m, *m2;
    size_t len;
    const char *name = window_str(f->w->p, id, &len);
    *p++ = K_INTERNED;
    p = len_open(p, &m);
    *p++ = 0x12; /* event_names */
    p = len_open(p, &m2);
    *p++ = 0x08;
    p = put_varint(p, iid);
    *p++ = 0x12;
    if (kind < 0) {
        p = put_str(p, name, len);
    } else {
        char buf[32 + FR_ABI_STR_MAX];
        size_t llen;
        const char *label = window_wait_label((unsigned)kind, &llen);
        memcpy(buf, label, llen);
        if (len) {
            memcpy(buf + llen, ": ", 2);
            memcpy(buf + llen + 2, name, len);
            llen += 2 + len;
        }
        p = put_str(p, buf, llen);
    }
    p = len_close(p, m2);
    return len_close(p, m);
}

/* The name's iid, interned first when this sequence has not yet. */
static inline unsigned char *use_name(struct perfetto_enc *f, unsigned char *p, uint64_t iid,
                                      int kind, uint32_t id)
{
    if (__builtin_expect(f->seen[iid] != f->seq, 0)) {
        f->seen[iid] = f->seq;
        p = intern_name(f, p, iid, kind, id);
    }
    return p;
}

static unsigned char *put_annotation_str(unsigned char *p, unsigned name_iid, const char *s,
                                         size_t len)
{
    unsigned char *m;
    *p++ = K_TE_ANNOTATION;
    p = len_open(p, &m);
    *p++ = 0x08, *p++ = (unsigned char)name_iid; /* name_iid */
    *p++ = 0x32;                                 /* string_value */
    p = put_str(p, s, len);
    return len_close(p, m);
}

/* The BEGIN of a region or wait the window start cut, from its END. It
 * goes before the thread's other packets in the file, but is written after
 * them: so it interns its name itself, and its delta is 0 (the window
 * start, where the delta clock starts). */
static int emit_cut_begin(struct perfetto_enc *f, const struct trace_event *end)
{
    unsigned char *p = out_p(f), *pk, *te;
    *p++ = K_PACKET;
    p = len_open(p, &pk);
    *p++ = K_TIMESTAMP, *p++ = 0;
    memcpy(p, f->hdr, sizeof f->hdr);
    p += f->hdr_len;
    bool wait = end->type == FR_REC_WAIT_END;
    uint64_t iid = wait ? wait_iid(f, end->arg, end->name) : name_iid(f, end->name);
    p = intern_name(f, p, iid, wait ? (int)wait_kind(end->arg) : -1, end->name);
    *p++ = K_TRACK_EVENT;
    p = len_open(p, &te);
    *p++ = K_TE_TYPE, *p++ = TYPE_BEGIN;
    *p++ = K_TE_NAME_IID;
    p = put_varint(p, iid);
    if (wait) {
        const char *kind = window_wait_kind(end->arg);
        p = put_annotation_str(p, DA_KIND, kind, strlen(kind));
    }
    p = len_close(p, te);
    p = len_close(p, pk);
    return packet_done(f, p);
}

static inline uint64_t task_uuid(struct perfetto_enc *f, struct window_task *t)
{
    if (!t->user)
        t->user = f->next_uuid++;
    return t->user;
}

/* A counter track, declared on this sequence before its first value
 * (TP resolves counter values while reading). */
static int counter_track(struct perfetto_enc *f, uint32_t name, uint64_t *uuid)
{
    uint32_t id = norm_id(f, name);
    if (__builtin_expect(f->ctr_uuid[id] != 0, 1)) {
        *uuid = f->ctr_uuid[id];
        return 0;
    }
    f->ctr_uuid[id] = *uuid = f->next_uuid++;
    size_t len;
    const char *s = window_str(f->w->p, id, &len);
    return emit_counter_descr(f, f->seq, *uuid, f->proc_uuid, s, len, false);
}

static unsigned char *put_annotation_lit(unsigned char *p, const char *name, const char *s,
                                         size_t len)
{
    unsigned char *m;
    *p++ = K_TE_ANNOTATION;
    p = len_open(p, &m);
    *p++ = 0x52; /* name */
    p = put_cstr(p, name);
    *p++ = 0x32; /* string_value */
    p = put_str(p, s, len);
    return len_close(p, m);
}

static unsigned char *put_annotation_uint(unsigned char *p, const char *name, uint64_t v)
{
    unsigned char *m;
    *p++ = K_TE_ANNOTATION;
    p = len_open(p, &m);
    *p++ = 0x52; /* name */
    p = put_cstr(p, name);
    *p++ = 0x18; /* uint_value */
    p = put_varint(p, v);
    return len_close(p, m);
}

/* A rule fired here: an instant "trigger: RULE" on the thread, with what
 * fired and by how much. Rare, so names are literal. */
static int emit_trigger(struct perfetto_enc *f, const struct trace_event *e)
{
    unsigned char *pk, *te;
    unsigned char *p = ev_packet(f, out_p(f), &pk, e->ts);
    size_t rlen, slen;
    const char *rule = window_str(f->w->p, e->name, &rlen);
    const char *subject = window_str(f->w->p, e->text_off, &slen);
    char name[16 + FR_ABI_STR_MAX];
    memcpy(name, "trigger: ", 9);
    memcpy(name + 9, rule, rlen);
    *p++ = K_TRACK_EVENT;
    p = len_open(p, &te);
    *p++ = K_TE_TYPE, *p++ = TYPE_INSTANT;
    *p++ = 0xba, *p++ = 0x01; /* name */
    p = put_str(p, name, 9 + rlen);
    p = put_annotation_lit(p, "rule", rule, rlen);
    const char *on = window_rule_on(e->arg);
    p = put_annotation_lit(p, "on", on, strlen(on));
    p = put_annotation_lit(p, "subject", subject, slen);
    if (e->arg != FR_ABI_RULE_LOG && e->arg != FR_ABI_RULE_MANUAL) {
        p = put_annotation_uint(p, "threshold_ns", e->parent);
        p = put_annotation_uint(p, "measured_ns", e->ts - e->start_ts);
    }
    if (e->id)
        p = put_annotation_uint(p, "task_id", e->id);
    p = len_close(p, te);
    p = len_close(p, pk);
    f->trig = e;
    return packet_done(f, p);
}

/* The END of the slice a trigger fired for carries the rule's name. */
static unsigned char *mark_end(struct perfetto_enc *f, unsigned char *p,
                                const struct trace_event *trig)
{
    size_t len;
    const char *rule = window_str(f->w->p, trig->name, &len);
    return put_annotation_lit(p, "flightrec.trigger", rule, len);
}

/* One event's packet (window_event() said WINDOW_WRITE). A single switch
 * over the record types, kept whole because it is the per-event path. */
static int emit_event(struct perfetto_enc *f, const struct trace_event *e, struct window_task *task)
{
    const struct window_proc *w = f->w;
    unsigned char *p, *pk, *te, *m;
    uint64_t iid, uuid = 0;
    const struct trace_event *trig = f->trig;

    f->trig = NULL;
    if (__builtin_expect(e->type == FR_REC_TRIGGER, 0))
        return emit_trigger(f, e);
    if (e->type == FR_REC_COUNTER) {
        int err = counter_track(f, e->name, &uuid);
        if (err < 0)
            return err;
    }
    p = ev_packet(f, out_p(f), &pk, e->ts);
    switch (e->type) {
    case FR_REC_REGION_BEGIN:
        iid = name_iid(f, e->name);
        p = use_name(f, p, iid, -1, e->name);
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_BEGIN;
        *p++ = K_TE_NAME_IID;
        p = put_varint(p, iid);
        break;
    case FR_REC_REGION_END:
    case FR_REC_WAIT_END:
        /* No name: TP closes the innermost open slice (PERFETTO.md §6). */
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_END;
        if (__builtin_expect(trig != NULL, 0) && window_trigger_marks(trig, e))
            p = mark_end(f, p, trig);
        break;
    case FR_REC_WAIT_BEGIN: {
        iid = wait_iid(f, e->arg, e->name);
        p = use_name(f, p, iid, (int)wait_kind(e->arg), e->name);
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_BEGIN;
        *p++ = K_TE_NAME_IID;
        p = put_varint(p, iid);
        const char *kind = window_wait_kind(e->arg);
        p = put_annotation_str(p, DA_KIND, kind, strlen(kind));
        break;
    }
    case FR_REC_TASK_BEGIN:
        iid = name_iid(f, task->name);
        p = use_name(f, p, iid, -1, task->name);
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_BEGIN;
        *p++ = K_TE_TRACK;
        p = put_varint(p, task_uuid(f, task));
        *p++ = K_TE_NAME_IID;
        p = put_varint(p, iid);
        *p++ = K_TE_ANNOTATION;
        p = len_open(p, &m);
        *p++ = 0x08, *p++ = DA_TASK_ID; /* name_iid */
        *p++ = 0x18;                    /* uint_value */
        p = put_varint(p, task->id);
        p = len_close(p, m);
        break;
    case FR_REC_TASK_END:
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_END;
        *p++ = K_TE_TRACK;
        p = put_varint(p, task_uuid(f, task));
        if (__builtin_expect(trig != NULL, 0) && window_trigger_marks(trig, e))
            p = mark_end(f, p, trig);
        break;
    case FR_REC_LOG: {
        size_t clen, tlen;
        const char *cat = window_str(w->p, e->name, &clen);
        const char *text = window_text(w->p, e, &tlen);
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_INSTANT;
        *p++ = K_TE_NAME_IID, *p++ = EV_LOG;
        p = put_annotation_str(p, DA_CATEGORY, cat, clen);
        p = put_annotation_str(p, DA_MESSAGE, text, tlen);
        if (e->flags & FR_REC_F_LOG_CUT) {
            *p++ = K_TE_ANNOTATION, *p++ = 4;
            *p++ = 0x08, *p++ = DA_TRUNCATED; /* name_iid */
            *p++ = 0x10, *p++ = 1;            /* bool_value */
        }
        break;
    }
    default: /* FR_REC_COUNTER */
        *p++ = K_TRACK_EVENT;
        p = len_open(p, &te);
        *p++ = K_TE_TYPE, *p++ = TYPE_COUNTER;
        *p++ = K_TE_TRACK;
        p = put_varint(p, uuid);
        *p++ = 0xf0, *p++ = 0x01; /* counter_value: int64, 10 bytes when < 0 */
        p = put_varint(p, e->id);
        break;
    }
    p = len_close(p, te);
    p = len_close(p, pk);
    return packet_done(f, p);
}

/* Region begins and ends and wait ends, most of the events, written as
 * emit_event() writes them but without its generic steps: the state in
 * locals (byte stores may alias anything, so fields of *f and *w would be
 * read again after each) and each packet in one go, its lengths known to
 * fit one byte. Takes events from *ep on and stops at the first one it
 * does not take: another type, a name this sequence has not interned
 * yet, or an END the window start cut (none of its kind open); takes
 * none right after a trigger. Returns 0 or -ENOMEM. */
static int emit_regions(struct perfetto_enc *f, const struct trace_event **ep,
                        const struct trace_event *end)
{
    if (__builtin_expect(f->trig != NULL, 0))
        return 0; /* the END a trigger marks goes through emit_event() */
    struct window_proc *w = f->w;
    struct sink_buf *out = f->out;
    const uint32_t *seen = f->seen;
    const uint32_t seq = f->seq, nstrs = f->nstrs;
    const size_t hdr_len = f->hdr_len;
    unsigned char hdr[sizeof f->hdr];
    memcpy(hdr, f->hdr, sizeof hdr);
    uint64_t prev = f->prev_ts;
    uint32_t regions = w->regions, waits = w->waits;
    unsigned char *p = out->p, *limit = out->limit;
    const struct trace_event *e = *ep;
    int err = 0;
    for (; e < end; e++) {
        uint64_t iid = 0;
        if (e->type == FR_REC_REGION_BEGIN) {
            iid = EV_BASE + (e->name < nstrs ? e->name : nstrs);
            if (seen[iid] != seq)
                break; /* interned by emit_event() */
            regions++;
        } else if (e->type == FR_REC_REGION_END && regions) {
            regions--;
        } else if (e->type == FR_REC_WAIT_END && waits) {
            waits--;
        } else {
            break;
        }
        uint64_t ts = e->ts < prev ? prev : e->ts; /* as ev_packet() */
        unsigned char *q = p + 2;
        *q++ = K_TIMESTAMP;
        q = put_varint(q, ts - prev);
        prev = ts;
        memcpy(q, hdr, sizeof hdr);
        q += hdr_len;
        *q++ = K_TRACK_EVENT;
        if (iid) {
            q[1] = K_TE_TYPE, q[2] = TYPE_BEGIN, q[3] = K_TE_NAME_IID;
            unsigned char *r = put_varint(q + 4, iid);
            q[0] = (unsigned char)(r - q - 1);
            q = r;
        } else {
            q[0] = 2, q[1] = K_TE_TYPE, q[2] = TYPE_END;
            q += 3;
        }
        p[0] = K_PACKET;
        p[1] = (unsigned char)(q - p - 2);
        p = q;
        if (__builtin_expect(p >= limit, 0)) { /* as packet_done() */
            out->p = p;
            if ((err = sink_buf_check(out)) < 0)
                break;
            p = out->p, limit = out->limit;
        }
    }
    out->p = p;
    f->prev_ts = prev;
    w->regions = regions;
    w->waits = waits;
    *ep = e;
    return err;
}

static int emit_thread(struct perfetto_enc *f, uint32_t i)
{
    struct window_proc *w = f->w;
    const struct window_thread *wt = &w->threads[i];
    const struct trace_thread *t = wt->t;
    int err = window_thread_load(w, i);
    if (err < 0 || wt->lo >= t->n)
        return err; /* with no events, its descriptor is enough */
    f->seq = f->next_seq++;
    f->trig = NULL;
    unsigned char *h = f->hdr;
    memset(f->hdr, 0, sizeof f->hdr);
    *h++ = K_SEQ_ID;
    h = put_varint(h, f->seq);
    *h++ = K_SEQ_FLAGS, *h++ = SEQ_NEEDS;
    f->hdr_len = (size_t)(h - f->hdr);
    f->prev_ts = w->start;

    if ((err = thread_first_packets(f, f->thread_uuid[i])) < 0)
        return err;
    f->out = &f->side;
    window_thread_begin(w, i);
    for (const struct trace_event *e = t->ev + wt->lo, *end = t->ev + t->n; e < end; e++) {
        struct window_task *task = NULL;
        if ((err = emit_regions(f, &e, end)) < 0 || e == end)
            break;
        if (window_event(w, e, &task) == WINDOW_WRITE && (err = emit_event(f, e, task)) < 0)
            break;
    }
    f->out = &f->b;
    /* Cut slices begin at the window start, outermost first. */
    for (size_t j = w->ncuts; err == 0 && j-- > 0;)
        err = emit_cut_begin(f, &w->cuts[j]);
    if (err == 0)
        err = sink_buf_put(&f->b, f->side.base, (size_t)(f->side.p - f->side.base));
    f->side.p = f->side.base;
    return err;
}

/* ---- the tail of the process sequence ---- */

static int emit_task_descrs(struct perfetto_enc *f)
{
    struct window_proc *w = f->w;
    /* uuids first: a parent may come later in the table than its child */
    for (size_t i = 0; i < w->ntasks; i++)
        task_uuid(f, &w->tasks[i]);
    for (size_t i = 0; i < w->ntasks; i++) {
        const struct window_task *t = &w->tasks[i];
        unsigned char *p = out_p(f), *pk, *td;
        p = plain_packet(p, &pk, f->proc_seq, false, 0);
        *p++ = 0xe2, *p++ = 0x03; /* track_descriptor */
        p = len_open(p, &td);
        *p++ = 0x08; /* uuid */
        p = put_varint(p, t->user);
        size_t len;
        const char *name = window_str(w->p, t->name, &len);
        *p++ = 0x12; /* name */
        p = put_str(p, name, len);
        *p++ = 0x28; /* parent_uuid */
        p = put_varint(p,
                       t->parent_idx != WINDOW_NONE ? w->tasks[t->parent_idx].user : f->proc_uuid);
        p = len_close(p, td);
        p = len_close(p, pk);
        int err = packet_done(f, p);
        if (err < 0)
            return err;
    }
    return 0;
}

/* A late event: literal names, this sequence interns nothing. */
static int emit_late(struct perfetto_enc *f, const struct window_late *l)
{
    const struct window_proc *w = f->w;
    unsigned char *p = out_p(f), *pk, *te, *da;
    p = plain_packet(p, &pk, f->proc_seq, true, l->ts);
    *p++ = K_TRACK_EVENT;
    p = len_open(p, &te);
    if (l->kind == WINDOW_LATE_FLOW) {
        const struct window_flow *fl = &w->flows[l->idx];
        *p++ = K_TE_TYPE, *p++ = TYPE_INSTANT;
        *p++ = K_TE_TRACK;
        p = put_varint(p, f->thread_uuid[fl->thread]);
        *p++ = 0xba, *p++ = 0x01; /* name */
        p = put_cstr(p, ev_fixed[EV_FLOW]);
        if (fl->linked) {
            if (fl->type == FR_REC_FLOW_BEGIN)
                *p++ = 0xf9, *p++ = 0x02; /* flow_ids: fixed64 */
            else
                *p++ = 0x81, *p++ = 0x03; /* terminating_flow_ids: fixed64 */
            p = put_fixed64(p, window_flow_id(w->pid, fl->id));
        }
    } else {
        const struct window_task *t = &w->tasks[l->idx];
        *p++ = K_TE_TYPE, *p++ = l->kind == WINDOW_LATE_TASK_BEGIN ? TYPE_BEGIN : TYPE_END;
        *p++ = K_TE_TRACK;
        p = put_varint(p, t->user);
        if (l->kind == WINDOW_LATE_TASK_BEGIN) {
            size_t len;
            const char *name = window_str(w->p, t->name, &len);
            *p++ = 0xba, *p++ = 0x01; /* name */
            p = put_str(p, name, len);
            *p++ = K_TE_ANNOTATION;
            p = len_open(p, &da);
            *p++ = 0x52; /* DebugAnnotation.name */
            p = put_cstr(p, da_fixed[DA_TASK_ID]);
            *p++ = 0x18; /* uint_value */
            p = put_varint(p, t->id);
            p = len_close(p, da);
        }
    }
    p = len_close(p, te);
    p = len_close(p, pk);
    return packet_done(f, p);
}

/* ---- one process, and the whole trace ---- */

/* How the process ended: an instant on its track, with annotations. The
 * process sequence has no incremental state, so names are literal. */
static int emit_end(struct perfetto_enc *f, const struct window_input *in)
{
    unsigned char *p = out_p(f), *pk, *te, *da;
    const char *name = window_end_name(in->ended), *how = window_end_how(in->ended);
    p = plain_packet(p, &pk, f->proc_seq, true, window_end_ts(f->w, in));
    *p++ = K_TRACK_EVENT;
    p = len_open(p, &te);
    *p++ = K_TE_TYPE, *p++ = 3; /* TYPE_INSTANT */
    *p++ = K_TE_TRACK;
    p = put_varint(p, f->proc_uuid);
    *p++ = 0xba, *p++ = 0x01; /* name */
    p = put_str(p, name, strlen(name));
    *p++ = 0x22; /* debug_annotations */
    p = len_open(p, &da);
    *p++ = 0x52; /* name */
    p = put_str(p, "how", 3);
    *p++ = 0x32; /* string_value */
    p = put_str(p, how, strlen(how));
    p = len_close(p, da);
    if (in->ended == WINDOW_EXITED) {
        *p++ = 0x22;
        p = len_open(p, &da);
        *p++ = 0x52;
        p = put_str(p, "exit_status", 11);
        *p++ = 0x20; /* int_value */
        p = put_varint(p, (uint64_t)(int64_t)in->exit_status);
        p = len_close(p, da);
    }
    p = len_close(p, te);
    p = len_close(p, pk);
    return packet_done(f, p);
}

static int emit_proc(struct perfetto_enc *f, const struct window_input *in)
{
    struct window_proc w;
    int err = window_proc_init(&w, in);
    if (err < 0)
        return err;
    const struct trace_proc *p = in->proc;
    f->w = &w;
    f->nstrs = p->nstrs;
    f->proc_seq = f->next_seq++;
    size_t nseen = EV_BASE + (size_t)(f->nstrs + 1) * (1 + WAIT_KINDS);
    f->seen = calloc(nseen, sizeof *f->seen);
    /* counter tracks per string id, then dropped-events tracks per thread */
    f->ctr_uuid = calloc((size_t)f->nstrs + 1 + p->nthreads, sizeof *f->ctr_uuid);
    f->thread_uuid = calloc(p->nthreads ? p->nthreads : 1, sizeof *f->thread_uuid);
    if (!f->seen || !f->ctr_uuid || !f->thread_uuid) {
        err = -ENOMEM;
        goto free_tables;
    }
    if ((err = emit_process_head(f)) < 0)
        goto free_tables;
    for (uint32_t i = 0; i < p->nthreads; i++)
        if ((err = emit_thread(f, i)) < 0)
            goto free_tables;
    if ((err = emit_errors(f)) < 0 || (err = window_proc_settle(&w)) < 0 ||
        (err = emit_task_descrs(f)) < 0)
        goto free_tables;
    for (size_t i = 0; i < w.nlate; i++)
        if ((err = emit_late(f, &w.late[i])) < 0)
            goto free_tables;
    if (in->ended != WINDOW_LIVE)
        err = emit_end(f, in);
free_tables:
    free(f->seen);
    free(f->ctr_uuid);
    free(f->thread_uuid);
    f->seen = NULL;
    f->ctr_uuid = f->thread_uuid = NULL;
    f->w = NULL;
    window_proc_fini(&w);
    return err;
}

int perfetto_begin(struct perfetto_enc **out, const struct enc_sink *sink, size_t chunk,
                   const struct trace_clock *clocks, size_t nclocks)
{
    struct perfetto_enc *f = calloc(1, sizeof *f);
    int err = -ENOMEM;
    if (!f)
        return -ENOMEM;
    if ((err = sink_buf_init(&f->b, sink, chunk)) < 0)
        goto free_f;
    if ((err = sink_buf_init(&f->side, NULL, 0)) < 0)
        goto fini_b;
    f->out = &f->b;
    f->next_uuid = 1;
    f->next_seq = 1;
    f->err = emit_clock_snapshot(f, clocks, nclocks);
    *out = f;
    return 0;
fini_b:
    sink_buf_fini(&f->b);
free_f:
    free(f);
    return err;
}

int perfetto_add(struct perfetto_enc *f, const struct window_input *in)
{
    if (f->err == 0)
        f->err = emit_proc(f, in);
    return f->err;
}

int perfetto_end(struct perfetto_enc *f)
{
    int err = f->err;
    if (err == 0)
        err = sink_buf_flush(&f->b);
    perfetto_free(f);
    return err;
}

void perfetto_free(struct perfetto_enc *f)
{
    sink_buf_fini(&f->side);
    sink_buf_fini(&f->b);
    free(f);
}

int perfetto_encode(const struct window_input *in, size_t n, const struct enc_sink *sink,
                    size_t chunk)
{
    const struct trace_clock *clock = NULL;
    for (size_t i = 0; i < n; i++)
        if (better_clock(&in[i].proc->clock, clock))
            clock = &in[i].proc->clock;
    struct perfetto_enc *f;
    int err = perfetto_begin(&f, sink, chunk, clock, clock ? 1 : 0);
    if (err < 0)
        return err;
    for (size_t i = 0; i < n; i++)
        perfetto_add(f, &in[i]);
    return perfetto_end(f);
}
