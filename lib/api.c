/* api.c - the recording calls of flightrec.h.
 *
 * Application threads, hot path: a timestamp, a few stores into the
 * thread's own ring, one release store (lib/thread.h). Everything that
 * can take a lock or a syscall (interning, claiming a ring, calibration)
 * happens once per call site, thread or second, out of line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "include/flightrec.h"
#include "lib/client.h"
#include "lib/clock.h"
#include "lib/proc.h"
#include "lib/rules.h"
#include "lib/thread.h"
#include "lib/trigger.h"

/* The macros of flightrec.h shadow the functions defined here. */
#undef fr_region_begin
#undef fr_region_end
#undef fr_task_begin
#undef fr_task_begin_child
#undef fr_task_end
#undef fr_log
#undef fr_counter
#undef fr_wait_begin

#define ATTACHED (UINT64_C(1) << 63)

/* Returns 0, or -errno when the id is not for keeping: no region yet
 * (init failed or nested in init) or a nested intern (-EDEADLK). */
static int intern_id(const char *name, uint32_t *id)
{
    *id = FR_ABI_STR_EMPTY;
    if (!name || !*name)
        return 0;
    int err = fr__proc_init(NULL);
    if (err < 0) {
        *id = FR_ABI_STR_OVERFLOW;
        return err;
    }
    err = fr__strtab_intern(&fr__proc.strtab, name, id);
    return err == -ENOSPC ? 0 : err; /* a full table stays full: keep it */
}

static uint32_t intern(const char *name)
{
    uint32_t id;
    intern_id(name, &id);
    return id;
}

FR_API uint32_t fr__intern(const char *name)
{
    return intern(name);
}

FR_API uint32_t fr__intern_site(uint32_t *site, const char *name)
{
    uint32_t id;
    /* Id 0 means "not interned yet" to the call site; the empty name is
     * cheap to look up again, so it is not cached, nor is an id got in a
     * signal handler that interrupted an intern. release: pairs with the
     * acquire load in FR__NAME_ID(); a thread that uses the id has seen
     * the string published, so a reader that sees its record sees the
     * string too. */
    if (intern_id(name, &id) == 0 && id != FR_ABI_STR_EMPTY)
        __atomic_store_n(site, id, __ATOMIC_RELEASE);
    return id;
}

FR_API int fr_init(const char *process_name)
{
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED)) {
        /* disabled, shut down, or a failed init (which says why) */
        if (atomic_load_explicit(&fr__proc.init, memory_order_acquire) == FR__INIT_FAILED)
            return fr__proc.init_err;
        return -ECANCELED;
    }
    return fr__proc_init(process_name);
}

FR_API void fr_shutdown(void)
{
    __atomic_store_n(&fr__on, 0, __ATOMIC_RELAXED);
    if (atomic_load_explicit(&fr__proc.init, memory_order_acquire) != FR__INIT_READY)
        return;
    fr__thread_release(&fr__self);
    atomic_store_explicit(&fr__proc.hdr->exit_status, 0, memory_order_relaxed);
    atomic_store_explicit(&fr__proc.hdr->state, FR_ABI_PROC_EXITED, memory_order_release);
    fr__client_stop(0);
}

FR_API void fr_thread_name(const char *name)
{
    struct fr__thread *t;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED) || !(t = fr__thread_ready()))
        return;
    uint64_t w[FR_ABI_THREAD_NAME_MAX / 8] = {0};
    if (name)
        strncpy((char *)w, name, sizeof w - 1);
    if (t->busy)
        return; /* a signal handler that interrupted a record or a rename */
    t->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    struct fr_abi_ring *r = t->ring;
    uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
    /* gen seqlock, as in fr__thread_claim(): readers retry or drop. */
    atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        atomic_store_explicit(&r->name[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&r->gen, g + 2, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    t->busy = 0;
}

/* ---- regions ---- */

FR_API void fr__region_begin(uint32_t name)
{
    struct fr__thread *t = fr__thread_ready();
    if (!t)
        return;
    uint64_t now = fr__clock_now();
    uint32_t d = t->depth++;
    if (d < FR__REGION_STACK) {
        t->names[d] = name;
        t->starts[d] = now;
    }
    fr__rec_put1(t, now, fr_rec_w1(FR_REC_REGION_BEGIN, 0, d > 0xffff ? 0xffff : d, name));
    fr__clock_tick(now);
}

FR_API void fr__region_end(void)
{
    struct fr__thread *t = fr__thread_ready();
    if (!t || t->depth == 0)
        return;
    uint64_t now = fr__clock_now();
    uint32_t d = --t->depth;
    uint32_t name = FR_ABI_STR_EMPTY;
    if (d < FR__REGION_STACK) {
        name = t->names[d];
        if (fr__rule_hit(FR_ABI_RULE_REGION, name, now - t->starts[d]))
            fr__rule_fire(t, FR_ABI_RULE_REGION, name, t->starts[d], now, 0);
    }
    fr__rec_put1(t, now, fr_rec_w1(FR_REC_REGION_END, 0, d > 0xffff ? 0xffff : d, name));
    fr__clock_tick(now);
}

FR_API void fr_region_begin(const char *name)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__region_begin(intern(name));
}

FR_API void fr_region_end(void)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__region_end();
}

/* ---- tasks ---- */

static uint64_t current_task(const struct fr__thread *t)
{
    return t->ntasks ? t->tasks[t->ntasks - 1] & ~ATTACHED : 0;
}

static void push_task(struct fr__thread *t, uint64_t v)
{
    if (t->ntasks == FR__TASK_STACK) {
        memmove(t->tasks, t->tasks + 1, sizeof t->tasks - sizeof t->tasks[0]);
        t->ntasks--;
    }
    t->tasks[t->ntasks++] = v;
}

static void remove_task_at(struct fr__thread *t, uint32_t i)
{
    memmove(t->tasks + i, t->tasks + i + 1, (t->ntasks - i - 1) * sizeof t->tasks[0]);
    t->ntasks--;
}

/* The four units every task record has (common/abi.h). */
static void put_task(struct fr__thread *t, unsigned type, uint64_t now, const fr_task_id *task,
                     uint64_t before)
{
    uint64_t after = current_task(t);
    atomic_store_explicit(&t->ring->cur_task, after, memory_order_relaxed);
    const uint64_t cont[3][2] = {
        {task->id, task->parent},
        {before, after},
        {task->start, 0},
    };
    fr__rec_putn(t, now, fr_rec_w1(type, 0, 0, task->name), cont, 3);
    fr__clock_tick(now);
}

FR_API void fr__task_begin(fr_task_id *out, const fr_task_id *parent, uint32_t name)
{
    uint64_t now = fr__clock_now();
    struct fr__thread *t = fr__thread_ready();
    out->parent = parent ? parent->id : 0;
    out->start = now;
    out->name = name;
    out->reserved = 0;
    if (!t) {
        if (atomic_load_explicit(&fr__proc.init, memory_order_acquire) != FR__INIT_READY) {
            out->id = 0; /* recording is off: "no task" */
            return;
        }
        /* No ring: the task still gets a unique id (ring field 0) so that
         * its end, maybe on another thread, is recorded correctly. */
        out->id = (atomic_fetch_add_explicit(&fr__proc.fallback_task, 1, memory_order_relaxed) +
                   1) & FR_REC_ID_MASK;
        return;
    }
    /* Unique per process without a shared counter: the ring's index in
     * the top bits, a per-ring sequence below (kept across owners). */
    out->id = ((uint64_t)(t->ring_idx + 1) << 40 | (++t->task_next & ((UINT64_C(1) << 40) - 1))) &
              FR_REC_ID_MASK;
    uint64_t before = current_task(t);
    push_task(t, out->id);
    put_task(t, FR_REC_TASK_BEGIN, now, out, before);
}

FR_API void fr__task_end(const fr_task_id *task)
{
    if (!task->id)
        return;
    uint64_t now = fr__clock_now();
    struct fr__thread *t = fr__thread_ready();
    if (!t)
        return;
    uint64_t before = current_task(t);
    for (uint32_t i = t->ntasks; i-- > 0;) {
        if ((t->tasks[i] & ~ATTACHED) == task->id) {
            remove_task_at(t, i);
            break;
        }
    }
    if (fr__rule_hit(FR_ABI_RULE_TASK, task->name, now - task->start))
        fr__rule_fire(t, FR_ABI_RULE_TASK, task->name, task->start, now, task->id);
    put_task(t, FR_REC_TASK_END, now, task, before);
}

FR_API fr_task_id fr_task_begin(const char *name)
{
    fr_task_id out = {0, 0, 0, 0, 0};
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__task_begin(&out, NULL, intern(name));
    return out;
}

FR_API fr_task_id fr_task_begin_child(fr_task_id parent, const char *name)
{
    fr_task_id out = {0, 0, 0, 0, 0};
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__task_begin(&out, &parent, intern(name));
    return out;
}

FR_API void fr_task_end(fr_task_id task)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__task_end(&task);
}

FR_API void fr_task_attach(fr_task_id task)
{
    struct fr__thread *t;
    if (!task.id || !__atomic_load_n(&fr__on, __ATOMIC_RELAXED) || !(t = fr__thread_ready()))
        return;
    uint64_t now = fr__clock_now();
    uint64_t before = current_task(t);
    push_task(t, task.id | ATTACHED);
    put_task(t, FR_REC_TASK_ATTACH, now, &task, before);
}

FR_API void fr_task_detach(void)
{
    struct fr__thread *t;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED) || !(t = fr__thread_ready()))
        return;
    for (uint32_t i = t->ntasks; i-- > 0;) {
        if (t->tasks[i] & ATTACHED) {
            fr_task_id task = {t->tasks[i] & ~ATTACHED, 0, 0, 0, 0};
            uint64_t now = fr__clock_now();
            uint64_t before = current_task(t);
            remove_task_at(t, i);
            put_task(t, FR_REC_TASK_DETACH, now, &task, before);
            return;
        }
    }
}

/* ---- logs ---- */

/* The n <= 8 bytes at p as a little-endian word, without reading past
 * them: overlapping loads instead of a byte loop, because a word load of
 * bytes just stored one by one stalls on store forwarding. */
static inline uint64_t load_upto8(const char *p, size_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        return a;
    }
    if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, p, 4);
        memcpy(&y, p + n - 4, 4);
        a = x;
        b = (uint64_t)y << (8 * (n - 4));
        return a | b;
    }
    if (n == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)p;
    return (uint64_t)u[0] | (uint64_t)u[n / 2] << (8 * (n / 2)) | (uint64_t)u[n - 1] << (8 * (n - 1));
}

static void put_log(struct fr__thread *t, uint32_t category, const char *msg, size_t len,
                    unsigned flags)
{
    uint64_t now = fr__clock_now();
    uint64_t h;
    if (!fr__rec_open(t, &h))
        return;
    fr__rec_put(t, h, now, fr_rec_w1(FR_REC_LOG, flags, (unsigned)len, category));
    uint64_t pos = h + 1;
    size_t off = 0;
    /* Whole units: bytes 0-7 in w0, 8-14 in w1 above the marker byte;
     * loading w1 from byte 7 puts byte 8 where it belongs. */
    for (; len - off >= FR_REC_LOG_PER_UNIT; off += FR_REC_LOG_PER_UNIT, pos++) {
        uint64_t w0, w1;
        memcpy(&w0, msg + off, 8);
        memcpy(&w1, msg + off + 7, 8);
        fr__rec_put(t, pos, w0, (w1 & ~(uint64_t)0xff) | FR_REC_CONT);
    }
    if (off < len) {
        size_t n = len - off;
        uint64_t w0 = load_upto8(msg + off, n < 8 ? n : 8);
        uint64_t w1 = n > 8 ? load_upto8(msg + off + 8, n - 8) << 8 : 0;
        fr__rec_put(t, pos++, w0, w1 | FR_REC_CONT);
    }
    fr__rec_close(t, pos);
    if (fr__rule_hit(FR_ABI_RULE_LOG, category, 0))
        fr__rule_fire(t, FR_ABI_RULE_LOG, category, now, now, 0);
    fr__clock_tick(now);
}

FR_API void fr__log(uint32_t category, const char *message)
{
    struct fr__thread *t = fr__thread_ready();
    if (!t)
        return;
    if (!message)
        message = "";
    size_t len = strnlen(message, FR_ABI_LOG_MAX + 1);
    unsigned flags = 0;
    if (len > FR_ABI_LOG_MAX) {
        len = FR_ABI_LOG_MAX;
        flags = FR_REC_F_LOG_CUT;
    }
    put_log(t, category, message, len, flags);
}

FR_API void fr_log(const char *category, const char *message)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__log(intern(category), message);
}

FR_API void fr_logf(const char *category, const char *fmt, ...)
{
    struct fr__thread *t;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED) || !(t = fr__thread_ready()))
        return;
    char buf[FR_ABI_LOG_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt ? vsnprintf(buf, sizeof buf, fmt, ap) : 0;
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t len = (size_t)n > FR_ABI_LOG_MAX ? FR_ABI_LOG_MAX : (size_t)n;
    put_log(t, intern(category), buf, len, (size_t)n > FR_ABI_LOG_MAX ? FR_REC_F_LOG_CUT : 0);
}

/* ---- counters, flows, waits ---- */

static void put_value(unsigned type, uint32_t name, uint64_t value)
{
    struct fr__thread *t = fr__thread_ready();
    if (!t)
        return;
    uint64_t now = fr__clock_now();
    const uint64_t cont[1][2] = {{value, 0}};
    fr__rec_putn(t, now, fr_rec_w1(type, 0, 0, name), cont, 1);
    fr__clock_tick(now);
}

FR_API void fr__counter(uint32_t name, int64_t value)
{
    put_value(FR_REC_COUNTER, name, (uint64_t)value);
}

FR_API void fr_counter(const char *name, int64_t value)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__counter(intern(name), value);
}

FR_API void fr_flow_begin(uint64_t flow_id)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        put_value(FR_REC_FLOW_BEGIN, FR_ABI_STR_EMPTY, flow_id);
}

FR_API void fr_flow_end(uint64_t flow_id)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        put_value(FR_REC_FLOW_END, FR_ABI_STR_EMPTY, flow_id);
}

FR_API void fr__wait_begin(enum fr_wait kind, uint32_t what)
{
    struct fr__thread *t = fr__thread_ready();
    if (!t)
        return;
    if (t->wait_depth++ > 0)
        return;
    unsigned k = kind >= FR_WAIT_LOCK && kind <= FR_WAIT_OTHER ? (unsigned)kind : FR_WAIT_OTHER;
    t->wait_kind = k;
    t->wait_what = what;
    uint64_t now = fr__clock_now();
    t->wait_start = now;
    fr__rec_put1(t, now, fr_rec_w1(FR_REC_WAIT_BEGIN, 0, k, what));
    fr__clock_tick(now);
}

FR_API void fr_wait_begin(enum fr_wait kind, const char *what)
{
    if (__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        fr__wait_begin(kind, intern(what));
}

FR_API void fr_wait_end(void)
{
    struct fr__thread *t;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED) || !(t = fr__thread_ready()))
        return;
    if (t->wait_depth == 0 || --t->wait_depth > 0)
        return;
    uint64_t now = fr__clock_now();
    if (fr__rule_hit(FR_ABI_RULE_WAIT, t->wait_what, now - t->wait_start))
        fr__rule_fire(t, FR_ABI_RULE_WAIT, t->wait_what, t->wait_start, now, 0);
    fr__rec_put1(t, now, fr_rec_w1(FR_REC_WAIT_END, 0, t->wait_kind, t->wait_what));
    fr__clock_tick(now);
}

FR_API int fr_trigger(const char *reason)
{
    struct fr__thread *t;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        return -ECANCELED;
    if (!(t = fr__thread_ready()))
        return fr__proc.init_err < 0 ? fr__proc.init_err : -ENOMEM;
    uint64_t now = fr__clock_now();
    struct fr__trig tr = {
        .on = FR_ABI_RULE_MANUAL, .tid = (uint32_t)fr__thread_tid(),
        .mono_ns = fr__clock_to_mono(now),
    };
    if (reason)
        snprintf(tr.subject, sizeof tr.subject, "%s", reason);
    fr__trigger_record(t, now, &tr, intern("manual"), intern(reason));
    fr__clock_tick(now);
    return fr__trigger_post(&tr);
}
