/* json.c - the Chrome trace-event JSON encoder (see json.h).
 *
 * One object per line inside {"displayTimeUnit":"ns","traceEvents":[...]}:
 *  - "M" process_name / thread_name metadata, with the real pid and tids;
 *  - regions and waits as "B"/"E" on their thread (a wait is named after
 *    its kind, "lock wait: db", with cat "wait" and args.kind);
 *  - a task as nestable async "b"/"e", cat "task", id2.local = the task id
 *    in hex: local because task ids are unique only within a process, and
 *    a global "id" would join two processes' tasks on one track;
 *  - logs as "i" (scope thread) named "log", args category and message
 *    (and truncated when cut);
 *  - counters as "C" with args.value; loss counts as "C" at the window
 *    start, named like the Perfetto encoder's tracks;
 *  - flows as "s" / "f" (bp "e"), binding to the enclosing slice, with the
 *    id mixed with the pid like the Perfetto encoder's; a flow with one end
 *    in the window is left out.
 * Like the Perfetto encoder, it reads the events once: a thread's events go
 * to a side buffer while its cut ENDs are found, and follow the BEGINs
 * those need; what depends on every thread (cut tasks, task ENDs met
 * before their BEGIN, flows) comes after the threads, in time order.
 * Timestamps are CLOCK_MONOTONIC in µs with three decimals (ns precision),
 * written from integers: no floating point, no printf. Strings are escaped
 * so that the output is valid JSON whatever the bytes: quotes, backslashes
 * and control bytes are escaped, bytes that are not valid UTF-8 become
 * \ufffd. Whether a string-table name needs escaping is found once per
 * name and remembered.
 */
#include "common/json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

static const char loss_dropped[] = "flightrec dropped events";

/* The leading digits of the last timestamp written (see put_ts()). */
struct ts_cache {
    uint64_t hi; /* whole seconds of the cached digits; UINT64_MAX: none */
    unsigned char s[24];
    size_t len;
};

struct json_enc {
    struct sink_buf b;    /* the document */
    struct sink_buf side; /* a thread's events, until its cut BEGINs are out */
    struct sink_buf *out; /* where events go now: &b or &side */
    bool first;           /* the next event is the document's first: no comma */

    /* the process being written */
    struct window_proc *w; /* borrows */
    uint32_t nstrs;
    uint8_t *clean; /* owns: per string id, 0 unknown, 1 copy as is, 2 escape */

    struct ts_cache ts; /* leading digits of the last timestamp */

    /* the thread being written: `"pid":P,"tid":T,"ts":` */
    const struct trace_event *trig; /* the trigger just written, for the END it marks */
    unsigned char pre[64];
    size_t pre_len;
    int err; /* the first failure; sticky */
};

/* ---- numbers ---- */

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

static const uint64_t powers10[20] = {
    1u,
    10u,
    100u,
    1000u,
    10000u,
    100000u,
    1000000u,
    10000000u,
    100000000u,
    1000000000u,
    10000000000u,
    100000000000u,
    1000000000000u,
    10000000000000u,
    100000000000000u,
    1000000000000000u,
    10000000000000000u,
    100000000000000000u,
    1000000000000000000u,
    10000000000000000000u,
};

/* Decimal digits of v: log10 from the bit length, corrected by one
 * compare (1233 / 4096 ~ log10(2)). */
static inline unsigned digits(uint64_t v)
{
    unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    return t + (v >= powers10[t]) + (v == 0);
}

/* n digits of v (v < 10^n) in place, two per step, from the end; 32-bit
 * arithmetic, which is cheaper than 64-bit division. */
static inline void put_digits32(unsigned char *p, uint32_t v, unsigned n)
{
    unsigned char *t = p + n;
    while (t - p >= 2) {
        unsigned d = (v % 100) * 2;
        v /= 100;
        *--t = (unsigned char)digits2[d + 1];
        *--t = (unsigned char)digits2[d];
    }
    if (t > p)
        *--t = (unsigned char)('0' + v);
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    unsigned n = digits(v);
    if (n <= 9) {
        put_digits32(p, (uint32_t)v, n);
        return p + n;
    }
    /* timestamps in µs have 10-13 digits: the top ones, then 8 more */
    uint64_t hi = v / 100000000u;
    put_digits32(p, (uint32_t)(hi % 1000000000u), n - 8 > 9 ? 9 : n - 8);
    if (n - 8 > 9) { /* over 17 digits: the rare counter value */
        unsigned char *q = put_u64(p, hi);
        put_digits32(q, (uint32_t)(v % 100000000u), 8);
        return q + 8;
    }
    put_digits32(p + n - 8, (uint32_t)(v % 100000000u), 8);
    return p + n;
}

static unsigned char *put_i64(unsigned char *p, uint64_t bits)
{
    if ((int64_t)bits < 0) {
        *p++ = '-';
        bits = 0 - bits; /* INT64_MIN too: its magnitude fits a uint64 */
    }
    return put_u64(p, bits);
}

/* ns as µs with three decimals: 1234567 -> 1234.567. Timestamps of one
 * thread share their leading digits (whole seconds), so those are
 * formatted once per second and copied; only the last 6 digits and the
 * decimals are made per event. The output does not depend on the cache. */

static inline unsigned char *put_ts(struct ts_cache *c, unsigned char *p, uint64_t ns)
{
    uint64_t us = ns / 1000, hi = us / 1000000;
    unsigned r = (unsigned)(ns % 1000);
    if (hi == 0) {
        p = put_u64(p, us);
    } else {
        if (__builtin_expect(hi != c->hi, 0)) {
            c->hi = hi;
            c->len = (size_t)(put_u64(c->s, hi) - c->s);
        }
        memcpy(p, c->s, sizeof c->s); /* constant size: inside the slack */
        p += c->len;
        put_digits32(p, (uint32_t)(us % 1000000), 6);
        p += 6;
    }
    p[0] = '.';
    p[1] = (unsigned char)('0' + r / 100);
    p[2] = (unsigned char)digits2[(r % 100) * 2];
    p[3] = (unsigned char)digits2[(r % 100) * 2 + 1];
    return p + 4;
}

/* "0x..." lowercase, no leading zeros, in quotes. */
static unsigned char *put_hex(unsigned char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char tmp[16], *t = tmp + sizeof tmp;
    do {
        *--t = (unsigned char)hex[v & 15];
        v >>= 4;
    } while (v);
    p = LIT(p, "\"0x");
    size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(p, t, n);
    p += n;
    *p++ = '"';
    return p;
}

/* ---- strings ---- */

static inline bool plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The bytes of s escaped for a JSON string, without the quotes. At most
 * 6 bytes out per byte in. */
static unsigned char *put_jbody(unsigned char *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        if (plain(c)) {
            *p++ = (unsigned char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = window_utf8_seq(u + i, len - i);
            if (n) {
                memcpy(p, u + i, n);
                p += n;
                i += n;
            } else {
                p = LIT(p, "\\ufffd"); /* one per byte that starts nothing valid */
                i++;
            }
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = (unsigned char)c;
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default: /* the other control bytes, NUL included */
            p = LIT(p, "u00");
            *p++ = (unsigned char)hex[c >> 4];
            *p++ = (unsigned char)hex[c & 15];
            break;
        }
        i++;
    }
    return p;
}

static unsigned char *put_jstr(unsigned char *p, const char *s, size_t len)
{
    *p++ = '"';
    p = put_jbody(p, s, len);
    *p++ = '"';
    return p;
}

static bool needs_escape(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (plain(u[i])) {
            i++;
            continue;
        }
        size_t n = u[i] >= 0x80 ? window_utf8_seq(u + i, len - i) : 0;
        if (!n)
            return true;
        i += n;
    }
    return false;
}

/* A string-table name, quoted: copied when it was found clean before. */
static unsigned char *put_name(struct json_enc *j, unsigned char *p, uint32_t id)
{
    size_t len;
    const char *s = window_str(j->w->p, id, &len);
    uint32_t k = id < j->nstrs ? id : j->nstrs;
    if (__builtin_expect(!j->clean[k], 0))
        j->clean[k] = needs_escape(s, len) ? 2 : 1;
    if (j->clean[k] == 1) {
        *p++ = '"';
        memcpy(p, s, len);
        p += len;
        *p++ = '"';
        return p;
    }
    return put_jstr(p, s, len);
}

/* ---- events ---- */

static inline int ev_done(struct json_enc *j, unsigned char *p)
{
    *p++ = '}';
    j->out->p = p;
    return sink_buf_check(j->out);
}

/* `,\n{"ph":"X","pid":P,"tid":T,"ts":1.234` for the current thread. Every
 * event but the document's first (a process_name) starts with the comma,
 * so events can be written out of file order. */
static inline unsigned char *ev_start(struct json_enc *j, char ph, uint64_t ts)
{
    unsigned char *p = j->out->p;
    p = LIT(p, ",\n{\"ph\":\"");
    *p++ = (unsigned char)ph;
    *p++ = '"';
    *p++ = ',';
    memcpy(p, j->pre, j->pre_len);
    return put_ts(&j->ts, p + j->pre_len, ts);
}

static void set_thread(struct json_enc *j, uint32_t pid, uint32_t tid)
{
    unsigned char *p = j->pre;
    p = LIT(p, "\"pid\":");
    p = put_u64(p, pid);
    p = LIT(p, ",\"tid\":");
    p = put_u64(p, tid);
    p = LIT(p, ",\"ts\":");
    j->pre_len = (size_t)(p - j->pre);
}

static int meta(struct json_enc *j, uint32_t tid, const char *what, const char *name, size_t len)
{
    unsigned char *p = j->out->p;
    if (!j->first)
        *p++ = ',';
    j->first = false;
    p = LIT(p, "\n{\"ph\":\"M\",\"pid\":");
    p = put_u64(p, j->w->pid);
    p = LIT(p, ",\"tid\":");
    p = put_u64(p, tid);
    p = LIT(p, ",\"name\":\"");
    memcpy(p, what, strlen(what));
    p += strlen(what);
    p = LIT(p, "\",\"args\":{\"name\":");
    p = put_jstr(p, name, len);
    *p++ = '}';
    return ev_done(j, p);
}

static int counter(struct json_enc *j, uint64_t ts, const char *name, size_t len, uint64_t v)
{
    unsigned char *p = ev_start(j, 'C', ts);
    p = LIT(p, ",\"name\":");
    p = put_jstr(p, name, len);
    p = LIT(p, ",\"args\":{\"value\":");
    p = put_i64(p, v);
    *p++ = '}';
    return ev_done(j, p);
}

static unsigned char *task_fields(struct json_enc *j, unsigned char *p, const struct window_task *t)
{
    p = LIT(p, ",\"cat\":\"task\",\"id2\":{\"local\":");
    p = put_hex(p, t->id);
    p = LIT(p, "},\"name\":");
    return put_name(j, p, t->name);
}

static int task_begin(struct json_enc *j, const struct window_task *t)
{
    unsigned char *p = ev_start(j, 'b', t->begin_ts);
    p = task_fields(j, p, t);
    if (t->parent) {
        p = LIT(p, ",\"args\":{\"parent\":");
        p = put_hex(p, t->parent);
        *p++ = '}';
    }
    return ev_done(j, p);
}

/* A region or wait BEGIN, at ts; the wait's from its kind (arg). */
static int slice_begin(struct json_enc *j, uint64_t ts, bool wait, unsigned arg, uint32_t name)
{
    unsigned char *p = ev_start(j, 'B', ts);
    p = LIT(p, ",\"name\":");
    if (!wait)
        return ev_done(j, put_name(j, p, name));
    size_t llen, nlen;
    const char *label = window_wait_label(arg, &llen);
    const char *s = window_str(j->w->p, name, &nlen);
    *p++ = '"';
    memcpy(p, label, llen);
    p += llen;
    if (nlen) {
        p = LIT(p, ": ");
        p = put_jbody(p, s, nlen);
    }
    p = LIT(p, "\",\"cat\":\"wait\",\"args\":{\"kind\":\"");
    const char *kind = window_wait_kind(arg);
    memcpy(p, kind, strlen(kind));
    p += strlen(kind);
    p = LIT(p, "\"}");
    return ev_done(j, p);
}

/* A rule fired here: an instant on the thread (see perfetto.c). */
static int trigger(struct json_enc *j, const struct trace_event *e)
{
    size_t rlen, slen;
    const char *rule = window_str(j->w->p, e->name, &rlen);
    const char *subject = window_str(j->w->p, e->text_off, &slen);
    const char *on = window_rule_on(e->arg);
    unsigned char *p = ev_start(j, 'i', e->ts);
    p = LIT(p, ",\"s\":\"t\",\"cat\":\"flightrec\",\"name\":\"trigger: ");
    p = put_jbody(p, rule, rlen);
    p = LIT(p, "\",\"args\":{\"rule\":");
    p = put_jstr(p, rule, rlen);
    p = LIT(p, ",\"on\":\"");
    memcpy(p, on, strlen(on));
    p += strlen(on);
    p = LIT(p, "\",\"subject\":");
    p = put_jstr(p, subject, slen);
    if (e->arg != FR_ABI_RULE_LOG && e->arg != FR_ABI_RULE_MANUAL) {
        p = LIT(p, ",\"threshold_ns\":");
        p = put_u64(p, e->parent);
        p = LIT(p, ",\"measured_ns\":");
        p = put_u64(p, e->ts - e->start_ts);
    }
    if (e->id) {
        p = LIT(p, ",\"task_id\":");
        p = put_hex(p, e->id);
    }
    *p++ = '}';
    j->trig = e;
    return ev_done(j, p);
}

/* The END of the slice a trigger fired for: args name the rule. */
static unsigned char *mark_end(struct json_enc *j, unsigned char *p, const struct trace_event *trig,
                               const struct trace_event *e)
{
    if (!trig || !window_trigger_marks(trig, e))
        return p;
    size_t len;
    const char *rule = window_str(j->w->p, trig->name, &len);
    p = LIT(p, ",\"args\":{\"flightrec.trigger\":");
    p = put_jstr(p, rule, len);
    *p++ = '}';
    return p;
}

/* One event (window_event() said WINDOW_WRITE). */
static int event(struct json_enc *j, const struct trace_event *e, const struct window_task *t)
{
    const struct window_proc *w = j->w;
    const struct trace_event *trig = j->trig;
    unsigned char *p;
    j->trig = NULL;
    switch (e->type) {
    case FR_REC_TRIGGER:
        return trigger(j, e);
    case FR_REC_REGION_BEGIN:
        return slice_begin(j, e->ts, false, 0, e->name);
    case FR_REC_WAIT_BEGIN:
        return slice_begin(j, e->ts, true, e->arg, e->name);
    case FR_REC_REGION_END:
    case FR_REC_WAIT_END:
        return ev_done(j, mark_end(j, ev_start(j, 'E', e->ts), trig, e));
    case FR_REC_TASK_BEGIN:
        return task_begin(j, t);
    case FR_REC_TASK_END:
        return ev_done(j, mark_end(j, task_fields(j, ev_start(j, 'e', e->ts), t), trig, e));
    case FR_REC_LOG: {
        size_t clen, tlen;
        const char *cat = window_str(w->p, e->name, &clen);
        const char *text = window_text(w->p, e, &tlen);
        p = ev_start(j, 'i', e->ts);
        p = LIT(p, ",\"s\":\"t\",\"name\":\"log\",\"args\":{\"category\":");
        p = put_jstr(p, cat, clen);
        p = LIT(p, ",\"message\":");
        p = put_jstr(p, text, tlen);
        if (e->flags & FR_REC_F_LOG_CUT)
            p = LIT(p, ",\"truncated\":true");
        *p++ = '}';
        return ev_done(j, p);
    }
    default: /* FR_REC_COUNTER */
        p = ev_start(j, 'C', e->ts);
        p = LIT(p, ",\"name\":");
        p = put_name(j, p, e->name);
        p = LIT(p, ",\"args\":{\"value\":");
        p = put_i64(p, e->id);
        *p++ = '}';
        return ev_done(j, p);
    }
}

static int thread_events(struct json_enc *j, uint32_t i)
{
    struct window_proc *w = j->w;
    const struct window_thread *wt = &w->threads[i];
    const struct trace_thread *t = wt->t;
    int err = window_thread_load(w, i);
    if (err < 0 || wt->lo >= t->n)
        return err;
    set_thread(j, w->pid, wt->tid);
    j->trig = NULL;
    j->out = &j->side;
    window_thread_begin(w, i);
    for (const struct trace_event *e = t->ev + wt->lo, *end = t->ev + t->n; e < end; e++) {
        struct window_task *task = NULL;
        if (window_event(w, e, &task) == WINDOW_WRITE && (err = event(j, e, task)) < 0)
            break;
    }
    j->out = &j->b;
    for (size_t k = w->ncuts; err == 0 && k-- > 0;) { /* outermost first */
        const struct trace_event *e = &w->cuts[k];
        err = slice_begin(j, w->start, e->type == FR_REC_WAIT_END, e->arg, e->name);
    }
    if (err == 0)
        err = sink_buf_put(&j->b, j->side.base, (size_t)(j->side.p - j->side.base));
    j->side.p = j->side.base;
    return err;
}

/* What needed every thread: cut tasks, held-back ENDs, linked flows. */
static int late_event(struct json_enc *j, const struct window_late *l)
{
    const struct window_proc *w = j->w;
    if (l->kind == WINDOW_LATE_FLOW) {
        const struct window_flow *f = &w->flows[l->idx];
        if (!f->linked)
            return 0; /* one end only: no arrow to draw */
        set_thread(j, w->pid, w->threads[f->thread].tid);
        unsigned char *p = ev_start(j, f->type == FR_REC_FLOW_BEGIN ? 's' : 'f', l->ts);
        p = LIT(p, ",\"cat\":\"flow\",\"name\":\"flow\",\"id\":");
        p = put_hex(p, window_flow_id(w->pid, f->id));
        if (f->type == FR_REC_FLOW_END)
            p = LIT(p, ",\"bp\":\"e\"");
        return ev_done(j, p);
    }
    const struct window_task *t = &w->tasks[l->idx];
    set_thread(j, w->pid, w->threads[t->end_thread].tid);
    if (l->kind == WINDOW_LATE_TASK_BEGIN)
        return task_begin(j, t);
    return ev_done(j, task_fields(j, ev_start(j, 'e', l->ts), t));
}

/* How the process ended: a process-scoped instant. */
static int end_event(struct json_enc *j, const struct window_input *in)
{
    const char *name = window_end_name(in->ended), *how = window_end_how(in->ended);
    set_thread(j, j->w->pid, j->w->pid);
    unsigned char *p = ev_start(j, 'i', window_end_ts(j->w, in));
    p = LIT(p, ",\"s\":\"p\",\"name\":");
    p = put_jstr(p, name, strlen(name));
    p = LIT(p, ",\"args\":{\"how\":");
    p = put_jstr(p, how, strlen(how));
    if (in->ended == WINDOW_EXITED) {
        p = LIT(p, ",\"exit_status\":");
        p = put_i64(p, (uint64_t)(int64_t)in->exit_status);
    }
    *p++ = '}';
    return ev_done(j, p);
}

static int proc_events(struct json_enc *j, const struct window_input *in)
{
    struct window_proc w;
    int err = window_proc_init(&w, in);
    if (err < 0)
        return err;
    const struct trace_proc *tp = in->proc;
    j->w = &w;
    j->nstrs = tp->nstrs;
    j->clean = calloc((size_t)tp->nstrs + 1, 1);
    if (!j->clean) {
        err = -ENOMEM;
        goto fini;
    }
    /* Always a process_name, even empty: it is the first event of the
     * process, so the first of the document needs no comma. */
    if ((err = meta(j, w.pid, "process_name", tp->name, strnlen(tp->name, sizeof tp->name))) < 0)
        goto fini;
    for (size_t i = 0; i < tp->nthreads; i++) {
        size_t len = strnlen(w.threads[i].t->name, sizeof w.threads[i].t->name);
        if (len && (err = meta(j, w.threads[i].tid, "thread_name", w.threads[i].t->name, len)) < 0)
            goto fini;
    }

    /* Loss counts, on the process (the main thread's tid) and per thread. */
    set_thread(j, w.pid, w.pid);
    const uint64_t loss[] = {w.dropped, tp->rings_evicted, tp->strtab_overflow};
    static const char *const names[] = {loss_dropped, "flightrec rings evicted",
                                        "flightrec names not interned"};
    for (size_t i = 0; i < sizeof loss / sizeof loss[0]; i++)
        if (loss[i] && (err = counter(j, w.start, names[i], strlen(names[i]), loss[i])) < 0)
            goto fini;
    for (size_t i = 0; i < tp->nthreads; i++) {
        if (!w.threads[i].t->dropped)
            continue;
        unsigned char name[64], *e = name;
        e = LIT(e, "flightrec dropped events tid ");
        e = put_u64(e, w.threads[i].tid);
        set_thread(j, w.pid, w.threads[i].tid);
        if ((err = counter(j, w.start, (const char *)name, (size_t)(e - name),
                           w.threads[i].t->dropped)) < 0)
            goto fini;
    }
    for (uint32_t i = 0; i < tp->nthreads; i++)
        if ((err = thread_events(j, i)) < 0)
            goto fini;
    /* known once every thread is read (window_input.fetch) */
    static const char errors[] = "flightrec reader errors";
    set_thread(j, w.pid, w.pid);
    if (tp->errors && (err = counter(j, w.start, errors, strlen(errors), tp->errors)) < 0)
        goto fini;
    if ((err = window_proc_settle(&w)) < 0)
        goto fini;
    for (size_t i = 0; i < w.nlate; i++)
        if ((err = late_event(j, &w.late[i])) < 0)
            goto fini;
    if (in->ended != WINDOW_LIVE)
        err = end_event(j, in);
fini:
    free(j->clean);
    j->clean = NULL;
    j->w = NULL;
    window_proc_fini(&w);
    return err;
}

int json_begin(struct json_enc **out, const struct enc_sink *sink, size_t chunk)
{
    struct json_enc *j = calloc(1, sizeof *j);
    int err = -ENOMEM;
    if (!j)
        return -ENOMEM;
    if ((err = sink_buf_init(&j->b, sink, chunk)) < 0)
        goto free_j;
    if ((err = sink_buf_init(&j->side, NULL, 0)) < 0)
        goto fini_b;
    j->out = &j->b;
    j->first = true;
    j->ts.hi = UINT64_MAX;
    j->b.p = LIT(j->b.p, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
    *out = j;
    return 0;
fini_b:
    sink_buf_fini(&j->b);
free_j:
    free(j);
    return err;
}

int json_add(struct json_enc *j, const struct window_input *in)
{
    if (j->err == 0)
        j->err = proc_events(j, in);
    return j->err;
}

int json_end(struct json_enc *j)
{
    int err = j->err;
    if (err == 0) {
        j->b.p = LIT(j->b.p, "\n]}\n");
        err = sink_buf_flush(&j->b);
    }
    json_free(j);
    return err;
}

void json_free(struct json_enc *j)
{
    sink_buf_fini(&j->side);
    sink_buf_fini(&j->b);
    free(j);
}

int json_encode(const struct window_input *in, size_t n, const struct enc_sink *sink, size_t chunk)
{
    struct json_enc *j;
    int err = json_begin(&j, sink, chunk);
    if (err < 0)
        return err;
    for (size_t i = 0; i < n; i++)
        json_add(j, &in[i]);
    return json_end(j);
}

size_t json_escape(char *dst, const char *s, size_t len)
{
    return (size_t)(put_jstr((unsigned char *)dst, s, len) - (unsigned char *)dst);
}
