/* reader.c - decodes regions written by libflightrec (see reader.h).
 *
 * Every read of the mapping goes through shm_at(); values that change are
 * read once into locals, checked, and only the copies are used. Loops are
 * bounded by the mapping's size or by our constants, never by a count read
 * from shared memory alone.
 */
#include "common/reader.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define RETRIES 8 /* seqlock retries before giving a ring or table up */
#define CLOCK_VALUE_MAX (UINT64_C(1) << 62) /* ~146 years of ns or ticks */

static inline const void *shm_at(const struct reader *r, uint64_t off, uint64_t len)
{
    if (off > r->size || len > r->size - off)
        return NULL;
    return r->base + off;
}

static inline uint64_t ld64(const void *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

static inline uint32_t ld32(const void *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_relaxed);
}

void trace_proc_free(struct trace_proc *p)
{
    free(p->events);
    free(p->threads);
    free(p->strs);
    free(p->strtext);
    free(p->text);
    memset(p, 0, sizeof *p);
}

/* ---- header and layout ---- */

static bool fits(const struct reader *r, uint64_t off, uint64_t count, uint64_t each,
                 uint64_t align)
{
    if (off % align)
        return false;
    if (each && count > (UINT64_MAX - off) / each)
        return false;
    return shm_at(r, off, count * each) != NULL;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int read_clock(struct reader *r);

int reader_open(struct reader *r, const void *base, size_t size)
{
    memset(r, 0, sizeof *r);
    r->base = base;
    r->size = size;
    /* every field we read later, the counters included */
    const unsigned char *p = shm_at(r, 0, offsetof(struct fr_abi_header, reserved));
    if (!p)
        return -EPROTO;
    /* acquire: pairs with the release store of the magic in lib/proc.c. */
    if (__atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE) != FR_ABI_MAGIC)
        return -EPROTO;
    memcpy(&r->h, p, offsetof(struct fr_abi_header, window_ns));
    struct fr_abi_header *h = &r->h;
    if (h->abi_major != FR_ABI_MAJOR)
        return -EPROTO;
    /* the fields of ABI 1.0, the last this reader reads; later minors
     * append (the rule table is the daemon's business, not a reader's) */
    if (h->header_size < offsetof(struct fr_abi_header, rules_off) ||
        h->header_size > FR_ABI_HEADER_PAGE)
        return -EINVAL;
    if (h->region_size < r->size)
        r->size = h->region_size; /* never read past what the writer laid out */
    if (h->clock_source != FR_ABI_CLOCK_TSC && h->clock_source != FR_ABI_CLOCK_MONOTONIC)
        return -EINVAL;
    if (h->clock_cap == 0 || h->clock_cap > 4096 ||
        !fits(r, h->clock_off, 1,
              offsetof(struct fr_abi_clock_table, points) +
                  (uint64_t)h->clock_cap * sizeof(struct fr_abi_clock_point),
              8))
        return -EINVAL;
    if (h->strtab_cap < 2 || h->strtab_cap > FR_ABI_STRTAB_CAP_MAX ||
        h->strtab_bytes > FR_ABI_STRTAB_BYTES_MAX ||
        !fits(r, h->strtab_off, 1,
              offsetof(struct fr_abi_strtab, entries) +
                  (uint64_t)h->strtab_cap * sizeof(struct fr_abi_str) + h->strtab_bytes,
              8))
        return -EINVAL;
    if (h->ring_count > FR_ABI_RINGS_MAX || h->ring_hdr_size < sizeof(struct fr_abi_ring) ||
        h->ring_hdr_size > 4096 || h->ring_hdr_size % 8 ||
        !fits(r, h->rings_off, h->ring_count, h->ring_hdr_size, 8))
        return -EINVAL;
    if (!is_pow2(h->ring_bytes) || h->ring_bytes < FR_ABI_RING_BYTES_MIN ||
        h->ring_bytes > FR_ABI_RING_BYTES_MAX ||
        !fits(r, h->ring_data_off, h->ring_count, h->ring_bytes, FR_ABI_UNIT))
        return -EINVAL;
    h->process_name[FR_ABI_NAME_MAX - 1] = 0;
    return read_clock(r);
}

/* ---- clock ---- */

int reader_refresh_clock(struct reader *r)
{
    struct reader_clock was = r->clock;
    int err = read_clock(r);
    if (err < 0)
        r->clock = was;
    return err;
}

static int read_clock(struct reader *r)
{
    struct reader_clock *c = &r->clock;
    const unsigned char *tab = shm_at(r, r->h.clock_off, offsetof(struct fr_abi_clock_table, points));
    uint32_t cap = r->h.clock_cap;
    c->identity = r->h.clock_source == FR_ABI_CLOCK_MONOTONIC;
    for (int attempt = 0; attempt < RETRIES; attempt++) {
        if (attempt)
            sched_yield();
        uint32_t s1 = atomic_load_explicit(
            (_Atomic uint32_t *)(tab + offsetof(struct fr_abi_clock_table, seq)),
            memory_order_acquire);
        if (s1 & 1)
            continue;
        uint64_t count = ld64(tab + offsetof(struct fr_abi_clock_table, count));
        uint64_t n = count < cap ? count : cap;
        if (n > FR_ABI_CLOCK_CAP)
            n = FR_ABI_CLOCK_CAP; /* the newest ones are enough */
        c->n = 0;
        for (uint64_t k = count - n; k < count; k++) {
            const unsigned char *pt = tab + offsetof(struct fr_abi_clock_table, points) +
                                      (k % cap) * sizeof(struct fr_abi_clock_point);
            struct fr_abi_clock_point v = {ld64(pt), ld64(pt + 8), ld64(pt + 16), ld64(pt + 24)};
            /* Keep only points that move forward on both clocks at a sane
             * rate (a counter between 1 MHz and 1 THz, no step over a
             * century); anything else is a torn or hostile table. That also
             * bounds the arithmetic in reader_clock_convert(). */
            if (v.tsc > CLOCK_VALUE_MAX || v.mono_ns > CLOCK_VALUE_MAX)
                continue;
            if (c->n) {
                const struct fr_abi_clock_point *q = &c->pts[c->n - 1];
                if (v.tsc <= q->tsc || v.mono_ns < q->mono_ns)
                    continue;
                uint64_t dt = v.tsc - q->tsc, dm = v.mono_ns - q->mono_ns;
                if (dm / 1000 > dt || dt / 1000 > dm + 1)
                    continue;
            }
            c->pts[c->n++] = v;
        }
        /* acquire: pairs with the release store of seq in lib/clock.c publish(). */
        atomic_thread_fence(memory_order_acquire);
        uint32_t s2 = ld32(tab + offsetof(struct fr_abi_clock_table, seq));
        if (s1 != s2)
            continue;
        if (c->n == 0 || (!c->identity && c->n < 2))
            return -EINVAL;
        reader_clock_slopes(c);
        return 0;
    }
    return -EAGAIN;
}

void reader_clock_slopes(struct reader_clock *c)
{
    /* Slopes once, so converting an event inside a segment, or after the
     * newest point, is a multiply, not a 128-bit division (per event, in
     * every snapshot). read_clock()'s rate checks keep them below 2^42. */
    for (uint32_t i = 0; i + 1 < c->n; i++)
        c->mult[i] = (uint64_t)(((unsigned __int128)(c->pts[i + 1].mono_ns - c->pts[i].mono_ns)
                                 << 32) /
                                (c->pts[i + 1].tsc - c->pts[i].tsc));
}

/* One segment of the clock table: t converts as mono + ((t - tsc) *
 * mult + rnd) >> 32, rnd starting at 2^31 (rounding). The last segment
 * also covers what comes after its end (extrapolated forward, as the
 * newest events of a process usually are), up to CLOCK_VALUE_MAX. For t
 * in [tsc, tsc + span] that is exact in 64 bits (span is cut where it
 * would not be); seg_convert() does the rest, and seg_next() moves tsc
 * forward, up to end, without changing a single result. */
struct clock_seg {
    uint64_t tsc, span, mono, mult, rnd, end;
};

static inline uint64_t seg_convert(const struct clock_seg *s, uint64_t t)
{
    /* (t - tsc) < 2^62 and mult < 2^42 (read_clock()): no overflow in
     * 128 bits; the sum saturates (a hostile t far in the future). */
    unsigned __int128 v =
        (unsigned __int128)s->mono +
        (((unsigned __int128)(t - s->tsc) * s->mult + s->rnd) >> 32);
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* seg_convert() for t in [tsc, tsc + span]. */
static inline uint64_t seg_convert64(const struct clock_seg *s, uint64_t t)
{
    return s->mono + (((t - s->tsc) * s->mult + s->rnd) >> 32);
}

/* Sets s->span for a segment that ends at `to`: as far as the product
 * stays below 2^64 and the sum below 2^64. */
static void seg_span(struct clock_seg *s, uint64_t to)
{
    s->end = to;
    uint64_t lim = s->mult ? (UINT64_MAX - s->rnd) / s->mult : UINT64_MAX;
    s->span = to - s->tsc < lim ? to - s->tsc : lim;
    if (to < s->tsc || s->mono > UINT64_MAX / 2)
        s->span = 0; /* only t == tsc: mono itself */
}

/* Before the first point: extrapolated backwards from the first segment,
 * exactly (rare: a record older than the region's first calibration). */
static uint64_t convert_before(const struct reader_clock *c, uint64_t t)
{
    const struct fr_abi_clock_point *a = &c->pts[0], *b = &c->pts[1];
    __int128 dt = (__int128)t - (__int128)a->tsc;
    __int128 v = (__int128)a->mono_ns + dt * (__int128)(b->mono_ns - a->mono_ns) /
                                             (__int128)(b->tsc - a->tsc);
    return v < 0 ? 0 : (uint64_t)v;
}

/* Fills *s with the segment of t and returns t's conversion; *s is left
 * alone for a t before the first point. */
static uint64_t seg_find(const struct reader_clock *c, uint64_t t, struct clock_seg *s)
{
    if (c->identity) {
        *s = (struct clock_seg){
            .tsc = t, .mono = t, .mult = UINT64_C(1) << 32, .rnd = UINT64_C(1) << 31};
        seg_span(s, UINT64_MAX);
        return t;
    }
    if (t < c->pts[0].tsc)
        return convert_before(c, t);
    if (t > CLOCK_VALUE_MAX)
        t = CLOCK_VALUE_MAX; /* points are below it too (read_clock()) */
    /* the segment around t: the last point at or before it, or the last
     * segment past the newest point */
    uint32_t lo = 0, hi = c->n - 1;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->pts[mid].tsc <= t)
            lo = mid;
        else
            hi = mid;
    }
    s->tsc = c->pts[lo].tsc;
    s->mono = c->pts[lo].mono_ns;
    s->mult = c->mult[lo];
    s->rnd = UINT64_C(1) << 31;
    seg_span(s, hi == c->n - 1 ? CLOCK_VALUE_MAX : c->pts[hi].tsc - 1);
    return seg_convert(s, t);
}

/* For a t past s's span: a segment whose 64-bit span holds t. Within
 * the same segment of the table (a process running more than a few
 * seconds past its newest calibration point, with a 64-bit span of about
 * 2^64 / mult ticks, 4 s at 2.5 GHz) the base moves to t, carrying the
 * quotient into mono and the remainder into rnd, so that every later
 * conversion is bit for bit the one from the table's point: a rebase
 * per span, not a search and a division per event. */
static uint64_t seg_next(const struct reader_clock *c, uint64_t t, struct clock_seg *s)
{
    if (t >= s->tsc && t <= s->end && s->span > 0) {
        /* a quarter span of slack below t, for a record a little older
         * than the one before it */
        uint64_t b = t - (t - s->tsc < s->span / 4 ? t - s->tsc : s->span / 4);
        unsigned __int128 v = (unsigned __int128)(b - s->tsc) * s->mult + s->rnd;
        unsigned __int128 mono = (unsigned __int128)s->mono + (v >> 32);
        if (mono <= UINT64_MAX / 2) {
            s->mono = (uint64_t)mono;
            s->rnd = (uint64_t)v & UINT32_MAX;
            s->tsc = b;
            seg_span(s, s->end);
            return seg_convert(s, t);
        }
    }
    return seg_find(c, t, s);
}

uint64_t reader_clock_convert(const struct reader_clock *c, uint64_t t)
{
    struct clock_seg s;
    return seg_find(c, t, &s);
}

/* Converts a thread's timestamps, which mostly fall in the segment of
 * the one before: one compare and a multiply, no search. */
struct clock_cursor {
    const struct reader_clock *c;
    struct clock_seg s;
};

static void cursor_init(struct clock_cursor *k, const struct reader_clock *c)
{
    k->c = c;
    seg_find(c, c->identity ? 0 : c->pts[0].tsc, &k->s);
}

static inline uint64_t cursor_convert(struct clock_cursor *k, uint64_t t)
{
    if (__builtin_expect(t - k->s.tsc <= k->s.span, 1))
        return seg_convert64(&k->s, t);
    return seg_next(k->c, t, &k->s);
}

/* ---- memory ---- */

/* Room for n elements of size each at *p: kept when there is, else
 * allocated anew (the old contents are not kept). -ENOMEM leaves *p as it
 * was. */
static int reserve(void **p, size_t *cap, size_t n, size_t each)
{
    if (n <= *cap && *p)
        return 0;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / each)
        return -ENOMEM;
    void *q = malloc(n * each);
    if (!q)
        return -ENOMEM;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

/* The same, keeping the first `used` elements, and growing by half at
 * least (so that growing by a ring at a time costs no more than once). */
static int reserve_keep(void **p, size_t *cap, size_t used, size_t n, size_t each)
{
    if (n <= *cap && *p)
        return 0;
    if (n > SIZE_MAX / each)
        return -ENOMEM;
    if (*p && n < *cap + *cap / 2 && *cap + *cap / 2 <= SIZE_MAX / each)
        n = *cap + *cap / 2;
    void *q = malloc(n * each);
    if (!q)
        return -ENOMEM;
    if (used)
        memcpy(q, *p, used * each);
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

/* ---- rings ---- */

struct ring_copy {
    uint64_t (*u)[2]; /* units, oldest first, inside the buffer copy_ring() got */
    size_t off;       /* where u starts in reader_buf.units */
    size_t n;
    uint64_t span; /* units the ring held when opened: what counts against max_bytes */
    uint32_t tid, state;
    uint64_t claim, exit, cur_task, dropped;
    char name[FR_ABI_THREAD_NAME_MAX];
};

/* Where a ring's units are while it is read: opened by ring_open(),
 * checked by ring_check() once they have been read. */
struct ring_span {
    const unsigned char *rh, *data; /* its header and data in the mapping */
    uint64_t cap;                   /* units in data */
    uint64_t lo, h1;                /* the positions to read, [lo, h1) */
    uint64_t s1;
    uint32_t g1;
};

/* The first half of reading ring i: its header into *out and the span
 * of at most max_units units to read. Returns 1; 0 for a free ring;
 * -EAGAIN while a writer changes the header (odd gen); -EINVAL for
 * nonsense. */
static int ring_open(const struct reader *r, uint32_t i, uint64_t max_units,
                     struct ring_copy *out, struct ring_span *sp)
{
    const unsigned char *rh = shm_at(r, r->h.rings_off + (uint64_t)i * r->h.ring_hdr_size,
                                     sizeof(struct fr_abi_ring));
    const unsigned char *data =
        shm_at(r, r->h.ring_data_off + (uint64_t)i * r->h.ring_bytes, r->h.ring_bytes);
    if (!rh || !data)
        return -EINVAL;
    sp->rh = rh;
    sp->data = data;
    sp->cap = r->h.ring_bytes / FR_ABI_UNIT;
    sp->g1 = atomic_load_explicit((_Atomic uint32_t *)(rh + offsetof(struct fr_abi_ring, gen)),
                                  memory_order_acquire);
    if (sp->g1 & 1)
        return -EAGAIN;
    out->state = ld32(rh + offsetof(struct fr_abi_ring, state));
    if (out->state == FR_ABI_RING_FREE)
        return 0;
    if (out->state != FR_ABI_RING_LIVE && out->state != FR_ABI_RING_EXITED)
        return -EINVAL;
    out->tid = ld32(rh + offsetof(struct fr_abi_ring, tid));
    out->claim = ld64(rh + offsetof(struct fr_abi_ring, claim_tsc));
    out->exit = ld64(rh + offsetof(struct fr_abi_ring, exit_tsc));
    out->cur_task = ld64(rh + offsetof(struct fr_abi_ring, cur_task));
    out->dropped = ld64(rh + offsetof(struct fr_abi_ring, dropped));
    uint64_t nm[FR_ABI_THREAD_NAME_MAX / 8];
    for (size_t k = 0; k < FR_ABI_THREAD_NAME_MAX / 8; k++)
        nm[k] = ld64(rh + offsetof(struct fr_abi_ring, name) + 8 * k);
    memcpy(out->name, nm, sizeof out->name);
    out->name[sizeof out->name - 1] = 0;
    uint64_t start = ld64(rh + offsetof(struct fr_abi_ring, start_pos));
    /* acquire: pairs with the release store of seq in fr__rec_close(). */
    sp->s1 = atomic_load_explicit((_Atomic uint64_t *)(rh + offsetof(struct fr_abi_ring, seq)),
                                  memory_order_acquire);
    sp->h1 = sp->s1 >> 1;
    if (start > sp->h1)
        return -EINVAL;
    sp->lo = sp->h1 - start > sp->cap ? sp->h1 - sp->cap : start;
    if (sp->h1 - sp->lo > max_units)
        sp->lo = sp->h1 - max_units;
    out->span = sp->h1 - sp->lo;
    return 1;
}

/* The second half, once the units of the span were read: how many of
 * the first ones a writer may have overwritten meanwhile (*skip), those
 * after them being intact. Returns 1; 0 when the ring changed under us
 * (a new owner, or the writer lapped what we read): read it again. */
static int ring_check(const struct ring_span *sp, uint64_t *skip)
{
    /* acquire: pairs with the release fence in fr__rec_open(); if we
     * read a unit a writer stored after making seq odd, we see that
     * seq (or a later one) below. */
    atomic_thread_fence(memory_order_acquire);
    uint64_t s2 = ld64(sp->rh + offsetof(struct fr_abi_ring, seq));
    uint32_t g2 = ld32(sp->rh + offsetof(struct fr_abi_ring, gen));
    if (g2 != sp->g1 || s2 < sp->s1)
        return 0;
    /* Units the writer may have reached since: up to its head, plus a
     * whole record if it is inside one. Ours below that minus cap are
     * gone. */
    uint64_t reach = (s2 >> 1) + ((s2 & 1) ? FR_REC_MAX_UNITS : 0);
    uint64_t safe = reach > sp->cap ? reach - sp->cap : 0;
    *skip = safe > sp->lo ? safe - sp->lo : 0;
    if (*skip >= sp->h1 - sp->lo && sp->h1 > sp->lo)
        return 0; /* lapped while we read (we were preempted): again */
    return 1;
}

/* Where copy_ring() puts the units: after the first `used` of b->units,
 * grown to fit once the ring is known to hold some; or, without b, in
 * fixed, which holds max_units. */
struct copy_dst {
    struct reader_buf *b;
    size_t used;
    uint64_t (*fixed)[2];
};

static uint64_t (*copy_room(const struct copy_dst *d, uint64_t n))[2]
{
    if (!d->b)
        return d->fixed;
    if (reserve_keep((void **)&d->b->units, &d->b->units_cap, d->used, d->used + (size_t)n,
                     sizeof *d->b->units) < 0)
        return NULL;
    return d->b->units + d->used;
}

/* Copies what ring i holds for its current owner, at most max_units
 * units. Returns 1 with *out filled, 0 for a ring with nothing to read,
 * -EAGAIN when it kept changing, -EINVAL for nonsense, -ENOMEM. */
static int copy_ring(const struct reader *r, uint32_t i, uint64_t max_units,
                     const struct copy_dst *dst, struct ring_copy *out)
{
    for (int attempt = 0; attempt < RETRIES; attempt++) {
        struct ring_span sp;
        uint64_t skip;
        if (attempt)
            sched_yield(); /* let a writer that is changing the ring finish */
        int got = ring_open(r, i, max_units, out, &sp);
        if (got == -EAGAIN)
            continue;
        if (got <= 0)
            return got;
        uint64_t(*buf)[2] = copy_room(dst, sp.h1 - sp.lo);
        if (!buf)
            return -ENOMEM;
        for (uint64_t p = sp.lo; p < sp.h1; p++) {
            const unsigned char *u = sp.data + (p & (sp.cap - 1)) * FR_ABI_UNIT;
            buf[p - sp.lo][0] = ld64(u);
            buf[p - sp.lo][1] = ld64(u + 8);
        }
        if (!ring_check(&sp, &skip))
            continue;
        if (skip >= sp.h1 - sp.lo)
            return 0;
        out->u = buf + skip;
        out->n = (size_t)(sp.h1 - sp.lo - skip);
        return 1;
    }
    return -EAGAIN;
}

/* How many units the record starting at u[0] spans; 0 if invalid. */
static unsigned rec_units(const uint64_t u[2])
{
    switch (fr_rec_type(u[1])) {
    case FR_REC_REGION_BEGIN:
    case FR_REC_REGION_END:
    case FR_REC_WAIT_BEGIN:
    case FR_REC_WAIT_END:
        return 1;
    case FR_REC_COUNTER:
    case FR_REC_FLOW_BEGIN:
    case FR_REC_FLOW_END:
        return 2;
    case FR_REC_TASK_BEGIN:
    case FR_REC_TASK_END:
    case FR_REC_TASK_ATTACH:
    case FR_REC_TASK_DETACH:
        return FR_REC_TASK_UNITS;
    case FR_REC_LOG:
        return fr_rec_arg(u[1]) <= FR_ABI_LOG_MAX ? FR_REC_LOG_UNITS(fr_rec_arg(u[1])) : 0;
    case FR_REC_TRIGGER:
        return FR_REC_TRIGGER_UNITS;
    default:
        return 0;
    }
}

static bool is_cont(const uint64_t u[2])
{
    return fr_rec_type(u[1]) == FR_REC_CONT;
}

struct decode_ctx {
    const struct reader *r;
    struct clock_cursor clk;
    struct trace_thread *th;
    uint64_t from_ns, last_ts;
    uint64_t cur_task;
    bool cur_known; /* a task record was met: cur_task follows the records */
    char *text;
    size_t *text_len;
    uint64_t *errors;
};

static inline void decode(struct decode_ctx *d, const uint64_t (*u)[2], unsigned n)
{
    struct trace_event e = {0};
    e.ts = cursor_convert(&d->clk, u[0][0]);
    /* The TSC of one thread cannot go backwards; a converted value that
     * does (a torn clock table, a migrated VM) keeps per-thread order. */
    if (e.ts < d->last_ts)
        e.ts = d->last_ts;
    d->last_ts = e.ts;
    e.type = (uint8_t)fr_rec_type(u[0][1]);
    e.flags = (uint8_t)fr_rec_flags(u[0][1]);
    e.arg = (uint16_t)fr_rec_arg(u[0][1]);
    e.name = fr_rec_name(u[0][1]);
    e.task = d->cur_task;
    switch (e.type) {
    case FR_REC_TASK_BEGIN:
    case FR_REC_TASK_END:
    case FR_REC_TASK_ATTACH:
    case FR_REC_TASK_DETACH:
        if (!d->cur_known) {
            /* The thread's task before its first task record is in that
             * record (the ring header's holds while there is none): the
             * events before it get it now. */
            uint64_t before = u[2][0] & FR_REC_ID_MASK;
            for (size_t k = 0; k < d->th->n; k++)
                d->th->ev[k].task = before;
            d->cur_known = true;
        }
        e.id = u[1][0] & FR_REC_ID_MASK;
        e.parent = u[1][1] >> 8;
        d->cur_task = u[2][1] >> 8;
        e.task = e.id;
        e.start_ts = u[3][0] ? reader_clock_convert(&d->r->clock, u[3][0]) : 0;
        break;
    case FR_REC_COUNTER:
    case FR_REC_FLOW_BEGIN:
    case FR_REC_FLOW_END:
        e.id = u[1][0];
        break;
    case FR_REC_WAIT_BEGIN:
    case FR_REC_WAIT_END:
        if (e.arg < 1 || e.arg > 5) {
            (*d->errors)++;
            return;
        }
        break;
    case FR_REC_TRIGGER: {
        if (e.arg < FR_ABI_RULE_TASK || e.arg > FR_ABI_RULE_MANUAL) {
            (*d->errors)++;
            return;
        }
        uint64_t measured = u[1][0];
        e.parent = u[1][1] >> 8;
        e.start_ts = measured < e.ts ? e.ts - measured : 0;
        e.text_off = (uint32_t)u[2][0];
        e.id = (u[2][1] >> 8) & FR_REC_ID_MASK;
        break;
    }
    case FR_REC_LOG: {
        if (e.ts < d->from_ns)
            return; /* before the window: do not keep its text either */
        e.text_off = (uint32_t)*d->text_len;
        e.text_len = e.arg;
        char *dst = d->text + *d->text_len;
        for (unsigned k = 1, left = e.arg; k < n; k++) {
            unsigned char b[16];
            memcpy(b, &u[k][0], 8);
            memcpy(b + 8, &u[k][1], 8);
            unsigned c = left < 8 ? left : 8;
            memcpy(dst, b, c);
            dst += c, left -= c;
            c = left < 7 ? left : 7;
            memcpy(dst, b + 9, c);
            dst += c, left -= c;
        }
        *d->text_len += e.arg;
        break;
    }
    default:
        break;
    }
    if (e.ts < d->from_ns)
        return;
    d->th->ev[d->th->n++] = e;
}

/* Unit k of what decode_units() reads: at base + ((first + k) & mask)
 * units, one load per word (it may be the mapping: see read_direct()). */
static inline void unit_at(const unsigned char *base, uint64_t mask, uint64_t first, size_t k,
                           uint64_t u[2])
{
    const unsigned char *p = base + ((first + k) & mask) * FR_ABI_UNIT;
    u[0] = ld64(p);
    u[1] = ld64(p + 8);
}

/* The first unit at or after pos that is not a continuation, or nu. */
static size_t next_head(const unsigned char *base, uint64_t mask, uint64_t first, size_t pos,
                        size_t nu)
{
    uint64_t u[2];
    for (; pos < nu; pos++) {
        unit_at(base, mask, first, pos, u);
        if (!is_cont(u))
            break;
    }
    return pos;
}

/* Decodes the records of nu units that start at unit pos up to unit
 * upto into d->th, one walk, and returns where it stopped: a record's
 * first unit, or nu. Counts what is not a whole record as an error. A
 * record is decoded only from what was loaded for it (a unit may be
 * loaded again later, once a record it was part of turned out broken).
 * Regions, most of the records, take a path of their own, with the state
 * in locals (stores of events may alias anything, so fields of *d would be
 * read again after each) and the unit in registers. */
static size_t decode_units(struct decode_ctx *d, const unsigned char *base, uint64_t mask,
                           uint64_t first, size_t pos, size_t upto, size_t nu)
{
    struct trace_event *ev = d->th->ev;
    size_t n = d->th->n;
    const uint64_t from = d->from_ns;
    uint64_t last = d->last_ts, task = d->cur_task;
    /* d->clk.s, field by field, so that none of it lives in memory */
    uint64_t tsc = d->clk.s.tsc, span = d->clk.s.span, mono = d->clk.s.mono,
             mult = d->clk.s.mult, rnd = d->clk.s.rnd;
    uint64_t rec[FR_REC_MAX_UNITS][2];
    while (pos < upto) {
        const unsigned char *p = base + ((first + pos) & mask) * FR_ABI_UNIT;
        uint64_t w0 = ld64(p), w1 = ld64(p + 8);
        if (fr_rec_type(w1) - FR_REC_REGION_BEGIN <= FR_REC_REGION_END - FR_REC_REGION_BEGIN) {
            /* decode() of a one-unit record with nothing but a header */
            uint64_t ts;
            if (__builtin_expect(w0 - tsc <= span, 1)) {
                ts = mono + (((w0 - tsc) * mult + rnd) >> 32);
            } else {
                struct clock_seg *s = &d->clk.s;
                *s = (struct clock_seg){tsc, span, mono, mult, rnd, s->end};
                ts = seg_next(d->clk.c, w0, s);
                tsc = s->tsc, span = s->span, mono = s->mono, mult = s->mult, rnd = s->rnd;
            }
            ts = ts < last ? last : ts;
            last = ts;
            if (ts >= from)
                ev[n++] = (struct trace_event){
                    .ts = ts,
                    .type = (uint8_t)fr_rec_type(w1),
                    .flags = (uint8_t)fr_rec_flags(w1),
                    .arg = (uint16_t)fr_rec_arg(w1),
                    .name = fr_rec_name(w1),
                    .task = task,
                };
            pos++;
            continue;
        }
        rec[0][0] = w0, rec[0][1] = w1;
        if (pos == 0 && is_cont(rec[0])) {
            /* the tail of a record whose head was overwritten */
            pos = next_head(base, mask, first, pos + 1, nu);
            continue;
        }
        unsigned k = rec_units(rec[0]);
        bool ok = k > 0 && k <= nu - pos;
        for (unsigned i = 1; ok && i < k; i++) {
            unit_at(base, mask, first, pos + i, rec[i]);
            ok = is_cont(rec[i]);
        }
        if (!ok) {
            (*d->errors)++;
            pos = next_head(base, mask, first, pos + 1, nu);
            continue;
        }
        d->th->n = n, d->last_ts = last, d->cur_task = task;
        d->clk.s = (struct clock_seg){tsc, span, mono, mult, rnd, d->clk.s.end};
        decode(d, (const uint64_t(*)[2])rec, k);
        n = d->th->n, last = d->last_ts, task = d->cur_task;
        tsc = d->clk.s.tsc, span = d->clk.s.span, mono = d->clk.s.mono, mult = d->clk.s.mult,
        rnd = d->clk.s.rnd;
        pos += k;
    }
    d->th->n = n, d->last_ts = last, d->cur_task = task;
    d->clk.s = (struct clock_seg){tsc, span, mono, mult, rnd, d->clk.s.end};
    return pos;
}

/* A copy made by copy_ring(), decoded. */
static void decode_copy(struct decode_ctx *d, const uint64_t (*u)[2], size_t nu)
{
    decode_units(d, (const unsigned char *)u, UINT64_MAX, 0, 0, nu, nu);
}

static int read_strings(const struct reader *r, struct reader_buf *b, struct trace_proc *out)
{
    const unsigned char *st = shm_at(r, r->h.strtab_off, offsetof(struct fr_abi_strtab, entries));
    /* acquire: pairs with the release store of count in lib/strtab.c. */
    uint32_t count = atomic_load_explicit(
        (_Atomic uint32_t *)(st + offsetof(struct fr_abi_strtab, count)), memory_order_acquire);
    uint64_t arena_off = ld64(st + offsetof(struct fr_abi_strtab, arena_off));
    if (count > r->h.strtab_cap) {
        count = r->h.strtab_cap;
        out->errors++;
    }
    const unsigned char *arena = shm_at(r, r->h.strtab_off + arena_off, r->h.strtab_bytes);
    if (arena_off < offsetof(struct fr_abi_strtab, entries) || !arena) {
        arena = NULL;
        count = 0;
        out->errors++;
    }
    /* A writer lays strings end to end, so their bytes total at most the
     * arena; a hostile one may point many entries at the same bytes. The
     * copy is bounded by what an honest table can need, and entries past
     * that bound are errors. */
    size_t cap = (size_t)count * (FR_ABI_STR_MAX + 1) < (size_t)r->h.strtab_bytes + count
                     ? (size_t)count * (FR_ABI_STR_MAX + 1) + 1
                     : (size_t)r->h.strtab_bytes + count + 1;
    if (reserve((void **)&b->strs, &b->strs_cap, count, sizeof *b->strs) < 0 ||
        reserve((void **)&b->strtext, &b->strtext_cap, cap, 1) < 0)
        return -ENOMEM;
    out->strs = b->strs;
    out->strtext = b->strtext;
    size_t used = 0;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = st + offsetof(struct fr_abi_strtab, entries) + 8u * i;
        uint32_t off = ld32(e), len = ld32(e + 4);
        /* room for this string and one NUL for each entry left */
        if (len > FR_ABI_STR_MAX || off > r->h.strtab_bytes || len > r->h.strtab_bytes - off ||
            used + len + (count - i) > cap - 1) {
            out->errors++;
            len = 0;
            off = 0;
        }
        out->strs[i].off = (uint32_t)used;
        out->strs[i].len = len;
        memcpy(out->strtext + used, arena + off, len);
        used += len;
        out->strtext[used++] = 0;
    }
    out->nstrs = count;
    return 0;
}

static void read_proc_fields(const struct reader *r, struct trace_proc *out)
{
    const unsigned char *h = r->base;
    out->pid = r->h.pid;
    memcpy(out->name, r->h.process_name, sizeof out->name);
    out->state = ld32(h + offsetof(struct fr_abi_header, state));
    out->exit_status = (int32_t)ld32(h + offsetof(struct fr_abi_header, exit_status));
    out->dropped_no_ring = ld64(h + offsetof(struct fr_abi_header, dropped_no_ring));
    out->dropped_nested = ld64(h + offsetof(struct fr_abi_header, dropped_nested));
    out->rings_evicted = ld64(h + offsetof(struct fr_abi_header, rings_evicted));
    out->strtab_overflow = ld64(h + offsetof(struct fr_abi_header, strtab_overflow));
    reader_trace_clock(r, &out->clock);
}

static uint64_t newest_ts(const struct reader *r, const struct ring_copy *rc)
{
    /* the last whole record's timestamp: walk back over continuations */
    for (size_t k = rc->n; k-- > 0;)
        if (!is_cont(rc->u[k]))
            return reader_clock_convert(&r->clock, rc->u[k][0]);
    return 0;
}

/* The time of the oldest whole record of ring i still intact, 0 if none:
 * the first record head at or after the ring's tail. */
static uint64_t oldest_in_ring(const struct reader *r, uint32_t i)
{
    const unsigned char *rh = shm_at(r, r->h.rings_off + (uint64_t)i * r->h.ring_hdr_size,
                                     sizeof(struct fr_abi_ring));
    const unsigned char *data =
        shm_at(r, r->h.ring_data_off + (uint64_t)i * r->h.ring_bytes, r->h.ring_bytes);
    if (!rh || !data || ld32(rh + offsetof(struct fr_abi_ring, state)) == FR_ABI_RING_FREE)
        return 0;
    const uint64_t cap = r->h.ring_bytes / FR_ABI_UNIT;
    uint64_t h = ld64(rh + offsetof(struct fr_abi_ring, seq)) >> 1;
    uint64_t start = ld64(rh + offsetof(struct fr_abi_ring, start_pos));
    /* the writer may be lapping the tail: start a record's length in */
    uint64_t lo = h - start > cap ? h - cap + FR_REC_MAX_UNITS : start;
    for (uint64_t p = lo; p < h && p < lo + FR_REC_MAX_UNITS; p++) {
        const unsigned char *u = data + (p & (cap - 1)) * FR_ABI_UNIT;
        uint64_t w1 = ld64(u + 8);
        if (fr_rec_type(w1) != FR_REC_CONT && fr_rec_type(w1) >= 1 &&
            fr_rec_type(w1) <= FR_REC_TYPE_MAX)
            return reader_clock_convert(&r->clock, ld64(u));
    }
    return 0;
}

void reader_trace_clock(const struct reader *r, struct trace_clock *out)
{
    const struct fr_abi_clock_point *last = &r->clock.pts[r->clock.n - 1];
    out->mono_ns = last->mono_ns;
    out->real_ns = last->real_ns;
    out->boot_ns = last->boot_ns;
}

void reader_stats(const struct reader *r, struct reader_stats *out)
{
    const unsigned char *h = r->base;
    memset(out, 0, sizeof *out);
    out->state = ld32(h + offsetof(struct fr_abi_header, state));
    out->exit_status = (int32_t)ld32(h + offsetof(struct fr_abi_header, exit_status));
    out->dropped = ld64(h + offsetof(struct fr_abi_header, dropped_no_ring)) +
                   ld64(h + offsetof(struct fr_abi_header, dropped_nested));
    out->evicted = ld64(h + offsetof(struct fr_abi_header, rings_evicted));
    out->strtab_overflow = ld64(h + offsetof(struct fr_abi_header, strtab_overflow));
    for (uint32_t i = 0; i < r->h.ring_count; i++) {
        const unsigned char *rh = shm_at(r, r->h.rings_off + (uint64_t)i * r->h.ring_hdr_size,
                                         sizeof(struct fr_abi_ring));
        uint32_t st = ld32(rh + offsetof(struct fr_abi_ring, state));
        out->threads_live += st == FR_ABI_RING_LIVE;
        out->threads_exited += st == FR_ABI_RING_EXITED;
        uint64_t t = oldest_in_ring(r, i);
        if (t && (!out->oldest_ns || t < out->oldest_ns))
            out->oldest_ns = t;
    }
    out->newest_ns = reader_newest(r);
}

uint64_t reader_newest(const struct reader *r)
{
    /* A record is at most FR_REC_MAX_UNITS long: the last ones hold the
     * head of the newest whole record. */
    uint64_t buf[FR_REC_MAX_UNITS][2], newest = 0;
    for (uint32_t i = 0; i < r->h.ring_count; i++) {
        struct ring_copy rc = {0};
        struct copy_dst dst = {.fixed = buf};
        if (copy_ring(r, i, FR_REC_MAX_UNITS, &dst, &rc) <= 0)
            continue;
        uint64_t t = newest_ts(r, &rc);
        newest = t > newest ? t : newest;
    }
    return newest;
}

/* How many rings are not free now: what to make room for up front. */
static uint64_t rings_in_use(const struct reader *r)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < r->h.ring_count; i++) {
        const unsigned char *rh = shm_at(r, r->h.rings_off + (uint64_t)i * r->h.ring_hdr_size,
                                         sizeof(struct fr_abi_ring));
        n += ld32(rh + offsetof(struct fr_abi_ring, state)) != FR_ABI_RING_FREE;
    }
    return n;
}

/* Copies the rings into b->units and b->rings: *nlive of them, *total
 * units. Returns 0 or -ENOMEM. */
static int copy_rings(const struct reader *r, uint64_t budget, struct reader_buf *b, size_t *nlive,
                      uint64_t *total, uint64_t *newest, uint64_t *errors)
{
    const uint64_t cap = r->h.ring_bytes / FR_ABI_UNIT;
    const uint32_t nrings = r->h.ring_count;
    /* Room for the rings in use now (a ring claimed meanwhile grows it):
     * a free ring costs nothing. */
    uint64_t inuse = rings_in_use(r);
    uint64_t room = inuse < budget / cap ? inuse * cap : budget;
    if (reserve((void **)&b->rings, &b->rings_cap, nrings, sizeof *b->rings) < 0 ||
        reserve((void **)&b->units, &b->units_cap, (size_t)room, sizeof *b->units) < 0)
        return -ENOMEM;
    size_t used = 0;
    *nlive = 0;
    *total = *newest = 0;
    for (uint32_t i = 0; i < nrings && *total < budget; i++) {
        uint64_t want = cap < budget - *total ? cap : budget - *total;
        struct ring_copy *rc = &b->rings[*nlive];
        struct copy_dst dst = {.b = b, .used = used};
        int got = copy_ring(r, i, want, &dst, rc);
        if (got == -ENOMEM)
            return got;
        if (got <= 0) {
            *errors += got < 0;
            continue;
        }
        rc->off = (size_t)(rc->u - b->units);
        used = rc->off + rc->n;
        *total += rc->n;
        uint64_t t = newest_ts(r, rc);
        *newest = t > *newest ? t : *newest;
        (*nlive)++;
    }
    return 0;
}

/* A thread for ring copy rc, with no events. */
static void thread_head(const struct reader *r, const struct ring_copy *rc, struct trace_thread *th)
{
    memset(th, 0, sizeof *th);
    th->tid = rc->tid;
    th->state = rc->state;
    memcpy(th->name, rc->name, sizeof th->name);
    th->claim_ns = reader_clock_convert(&r->clock, rc->claim);
    th->exit_ns = rc->state == FR_ABI_RING_EXITED ? reader_clock_convert(&r->clock, rc->exit) : 0;
    th->dropped = rc->dropped;
}

/* A thread for ring copy rc, with no events yet (they go to ev), and
 * the decoding state that goes with it. */
static void thread_begin(const struct reader *r, const struct ring_copy *rc, uint64_t from,
                         struct trace_thread *th, struct trace_event *ev, struct trace_proc *out,
                         struct decode_ctx *d)
{
    thread_head(r, rc, th);
    th->ev = ev;
    *d = (struct decode_ctx){
        .r = r,
        .th = th,
        .from_ns = from,
        .cur_task = rc->cur_task & FR_REC_ID_MASK,
        .text = out->text,
        .text_len = &out->text_len,
        .errors = &out->errors,
    };
    cursor_init(&d->clk, &r->clock);
}

/* With a window given by its start: every ring copied first (in
 * copy_rings()), then decoded. For reader_opts.last_ns, whose window
 * start is known only once the newest event of all rings is. */
static int read_copied(const struct reader *r, uint64_t from, uint64_t last_ns, uint64_t budget,
                       struct reader_buf *b, struct trace_proc *out)
{
    size_t nlive;
    uint64_t total, newest;
    if (copy_rings(r, budget, b, &nlive, &total, &newest, &out->errors) < 0)
        return -ENOMEM;
    out->ring_bytes = total * FR_ABI_UNIT;
    if (last_ns && newest > last_ns && newest - last_ns > from)
        from = newest - last_ns;
    /* A record is at least a unit, and a log holds at most
     * FR_REC_LOG_PER_UNIT bytes of text per unit. */
    if (reserve((void **)&b->threads, &b->threads_cap, nlive, sizeof *b->threads) < 0 ||
        reserve((void **)&b->events, &b->events_cap, (size_t)total, sizeof *b->events) < 0 ||
        reserve((void **)&b->text, &b->text_cap, (size_t)total * FR_REC_LOG_PER_UNIT, 1) < 0)
        return -ENOMEM;
    out->threads = b->threads;
    out->events = b->events;
    out->text = b->text;
    size_t nev = 0;
    for (size_t k = 0; k < nlive; k++) {
        const struct ring_copy *rc = &b->rings[k];
        struct trace_thread *th = &out->threads[out->nthreads++];
        struct decode_ctx d;
        thread_begin(r, rc, from, th, b->events + nev, out, &d);
        decode_copy(&d, (const uint64_t(*)[2])(b->units + rc->off), rc->n);
        nev += th->n;
    }
    return 0;
}

/* Room in b for one more thread of up to n events (nev of them used),
 * and the text its logs may hold. */
static int thread_room(struct reader_buf *b, struct trace_proc *out, size_t nev, uint64_t n)
{
    /* A record is at least a unit, and a log holds at most
     * FR_REC_LOG_PER_UNIT bytes of text per unit. */
    if (reserve_keep((void **)&b->events, &b->events_cap, nev, nev + (size_t)n,
                     sizeof *b->events) < 0 ||
        reserve_keep((void **)&b->text, &b->text_cap, out->text_len,
                     out->text_len + (size_t)n * FR_REC_LOG_PER_UNIT, 1) < 0)
        return -ENOMEM;
    out->text = b->text;
    return 0;
}

/* Ring i decoded into *th, its events after the first nev of b, from
 * the mapping itself when no writer got in the way (the ring is read
 * once, not copied and read again), else from a copy. Returns 1 with
 * b->rings[0] and *th filled, 0 for a ring with nothing to read, -EAGAIN
 * or -EINVAL as copy_ring(), -ENOMEM. */
static int read_ring(const struct reader *r, uint32_t i, uint64_t want, uint64_t from,
                     struct reader_buf *b, size_t nev, struct trace_proc *out,
                     struct trace_thread *th)
{
    struct ring_copy *rc = b->rings;
    struct ring_span sp;
    struct decode_ctx d;
    uint64_t skip;
    int got = ring_open(r, i, want, rc, &sp);
    if (got == 0 || got == -EINVAL)
        return got;
    if (got == 1) {
        const size_t text_len = out->text_len, nu = (size_t)(sp.h1 - sp.lo);
        const uint64_t errors = out->errors;
        if (nu == 0)
            return 0;
        if (thread_room(b, out, nev, nu) < 0)
            return -ENOMEM;
        thread_begin(r, rc, from, th, b->events + nev, out, &d);
        /* Every unit is loaded once, and a record is used only from what
         * was loaded (decode_units()), so a writer changing the ring can
         * make it decode nonsense but not make it read or write out of
         * bounds. The nonsense is thrown away: after each chunk, what the
         * writer may have reached meanwhile is checked against the first
         * unit kept. A writer that keeps recording reaches the oldest
         * units first; then what was decoded so far goes, and the thread
         * starts again after it (as a copy would start after what the
         * writer took), instead of the whole ring being copied and
         * decoded again. Chunks start small, since the writer is right
         * behind the first unit of a full ring. */
        size_t pos = 0, kept = 0, chunk = 128;
        bool ok = true, again = false;
        while (ok && pos < nu) {
            size_t at = pos;
            pos = decode_units(&d, sp.data, sp.cap - 1, sp.lo, pos,
                               chunk < nu - pos ? pos + chunk : nu, nu);
            chunk = chunk < 8192 ? chunk * 2 : chunk;
            ok = ring_check(&sp, &skip);
            if (ok && skip > at) {
                /* The first time, at what the writer had reached (the
                 * chunk decoded again); after that past the chunk, so
                 * that a writer that keeps going cannot keep us here. */
                out->text_len = text_len;
                out->errors = errors;
                thread_begin(r, rc, from, th, b->events + nev, out, &d);
                kept = pos = again || skip >= pos
                                 ? pos
                                 : next_head(sp.data, sp.cap - 1, sp.lo, (size_t)skip, nu);
                again = true;
            }
        }
        if (ok && kept < nu) {
            rc->n = nu - kept;
            return 1;
        }
        out->text_len = text_len;
        out->errors = errors;
    }
    /* A writer is in the way: copy the ring, and decode what is whole. */
    struct copy_dst dst = {.b = b};
    if ((got = copy_ring(r, i, want, &dst, rc)) <= 0)
        return got;
    if (thread_room(b, out, nev, rc->n) < 0)
        return -ENOMEM;
    thread_begin(r, rc, from, th, b->events + nev, out, &d);
    decode_copy(&d, (const uint64_t(*)[2])rc->u, rc->n);
    return 1;
}

/* With a window given by its start: each ring decoded as it is read. */
static int read_direct(const struct reader *r, uint64_t from, uint64_t budget,
                       struct reader_buf *b, struct trace_proc *out)
{
    const uint64_t cap = r->h.ring_bytes / FR_ABI_UNIT;
    const uint32_t nrings = r->h.ring_count;
    /* Room for the rings in use now (a ring claimed meanwhile grows it),
     * so that a free ring costs nothing. */
    uint64_t inuse = rings_in_use(r);
    uint64_t room = inuse < budget / cap ? inuse * cap : budget;
    if (reserve((void **)&b->rings, &b->rings_cap, 1, sizeof *b->rings) < 0 ||
        reserve((void **)&b->threads, &b->threads_cap, (size_t)inuse, sizeof *b->threads) < 0 ||
        reserve((void **)&b->events, &b->events_cap, (size_t)room, sizeof *b->events) < 0 ||
        reserve((void **)&b->text, &b->text_cap, (size_t)room * FR_REC_LOG_PER_UNIT, 1) < 0)
        return -ENOMEM;
    out->threads = b->threads;
    out->events = b->events;
    out->text = b->text;
    uint64_t total = 0;
    size_t nev = 0;
    for (uint32_t i = 0; i < nrings && total < budget; i++) {
        uint64_t want = cap < budget - total ? cap : budget - total;
        if (reserve_keep((void **)&b->threads, &b->threads_cap, out->nthreads, out->nthreads + 1,
                         sizeof *b->threads) < 0)
            return -ENOMEM;
        int got = read_ring(r, i, want, from, b, nev, out, &b->threads[out->nthreads]);
        if (got == -ENOMEM)
            return got;
        if (got <= 0) {
            out->errors += got < 0;
            continue;
        }
        total += b->rings->span; /* as reader_read_head() counts */
        nev += b->threads[out->nthreads].n;
        out->nthreads++;
    }
    out->ring_bytes = total * FR_ABI_UNIT;
    out->threads = b->threads;
    out->events = b->events;
    /* the arrays may have moved while they grew */
    for (size_t k = 0, at = 0; k < out->nthreads; at += out->threads[k++].n)
        out->threads[k].ev = b->events + at;
    return 0;
}

int reader_read_buf(const struct reader *r, const struct reader_opts *o, struct reader_buf *b,
                    struct trace_proc *out)
{
    static const struct reader_opts none = {0};
    if (!o)
        o = &none;
    memset(out, 0, sizeof *out);
    read_proc_fields(r, out);
    const uint64_t budget = o->max_bytes ? o->max_bytes / FR_ABI_UNIT : UINT64_MAX;
    int err = o->last_ns ? read_copied(r, o->from_ns, o->last_ns, budget, b, out)
                         : read_direct(r, o->from_ns, budget, b, out);
    if (err == 0 && read_strings(r, b, out) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -ENOMEM;
}

/* Streaming: where thread i of reader_read_head() is read from. */
struct reader_ref {
    uint32_t ring, tid;
    uint64_t want; /* units at most: its share of max_bytes */
};

/* ring_open(), again while a writer changes the ring's header. */
static int open_settled(const struct reader *r, uint32_t i, uint64_t want, struct ring_copy *rc,
                        struct ring_span *sp)
{
    int got = -EAGAIN;
    for (int attempt = 0; attempt < RETRIES && got == -EAGAIN; attempt++) {
        if (attempt)
            sched_yield();
        got = ring_open(r, i, want, rc, sp);
    }
    return got;
}

int reader_read_head(const struct reader *r, const struct reader_opts *o, struct reader_buf *b,
                     struct trace_proc *out)
{
    static const struct reader_opts none = {0};
    if (!o)
        o = &none;
    memset(out, 0, sizeof *out);
    read_proc_fields(r, out);
    const uint64_t cap = r->h.ring_bytes / FR_ABI_UNIT;
    const uint64_t budget = o->max_bytes ? o->max_bytes / FR_ABI_UNIT : UINT64_MAX;
    uint64_t total = 0;
    b->from_ns = o->from_ns;
    b->loaded = UINT32_MAX;
    if (reserve((void **)&b->rings, &b->rings_cap, 1, sizeof *b->rings) < 0)
        goto nomem; /* read_ring()'s */
    for (uint32_t i = 0; i < r->h.ring_count && total < budget; i++) {
        uint64_t want = cap < budget - total ? cap : budget - total;
        struct ring_copy rc;
        struct ring_span sp;
        int got = open_settled(r, i, want, &rc, &sp);
        if (got <= 0 || sp.h1 == sp.lo) {
            out->errors += got < 0;
            continue;
        }
        size_t k = out->nthreads;
        if (reserve_keep((void **)&b->threads, &b->threads_cap, k, k + 1, sizeof *b->threads) < 0 ||
            reserve_keep((void **)&b->refs, &b->refs_cap, k, k + 1, sizeof *b->refs) < 0)
            goto nomem;
        thread_head(r, &rc, &b->threads[k]);
        b->refs[k] = (struct reader_ref){.ring = i, .tid = rc.tid, .want = want};
        total += sp.h1 - sp.lo;
        out->nthreads++;
    }
    out->threads = b->threads;
    out->ring_bytes = total * FR_ABI_UNIT;
    if (read_strings(r, b, out) == 0)
        return 0;
nomem:
    memset(out, 0, sizeof *out);
    return -ENOMEM;
}

int reader_read_thread(const struct reader *r, struct reader_buf *b, struct trace_proc *out,
                       uint32_t i)
{
    if (b->loaded < out->nthreads)
        out->threads[b->loaded].ev = NULL, out->threads[b->loaded].n = 0;
    b->loaded = UINT32_MAX;
    if (i >= out->nthreads)
        return -EINVAL;
    const struct reader_ref *ref = &b->refs[i];
    struct trace_thread *th = &out->threads[i], got_th;
    out->text_len = 0;
    out->events = b->events;
    int got = read_ring(r, ref->ring, ref->want, b->from_ns, b, 0, out, &got_th);
    if (got == -ENOMEM)
        return got;
    /* A ring that got a new owner since the head was read: its events
     * are not this thread's. */
    if (got <= 0 || got_th.tid != ref->tid) {
        out->errors += got < 0;
        return 0;
    }
    th->ev = got_th.ev;
    th->n = got_th.n;
    out->text = b->text;
    out->events = b->events;
    b->loaded = i;
    return 0;
}

void reader_buf_fini(struct reader_buf *b)
{
    free(b->refs);
    free(b->units);
    free(b->rings);
    free(b->threads);
    free(b->events);
    free(b->text);
    free(b->strs);
    free(b->strtext);
    memset(b, 0, sizeof *b);
}

int reader_read(const struct reader *r, const struct reader_opts *o, struct trace_proc *out)
{
    struct reader_buf b = {0};
    int err = reader_read_buf(r, o, &b, out);
    /* out takes the decoded parts; the ring copies go */
    if (err == 0)
        b.threads = NULL, b.events = NULL, b.text = NULL, b.strs = NULL, b.strtext = NULL;
    reader_buf_fini(&b);
    return err;
}
