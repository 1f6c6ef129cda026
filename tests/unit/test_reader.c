/* test_reader.c - the reader against broken, hostile and half-written
 * regions. A real region is recorded, copied, damaged on purpose, and
 * read: the reader must refuse or skip what is wrong, count it, and keep
 * what is right. Runs with small rings (FLIGHTREC_RING_BYTES=4096,
 * FLIGHTREC_MAX_THREADS=4) so copies are cheap.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "testutil.h"

static uint32_t writer_tid;

static void record_some(void *arg)
{
    (void)arg;
    fr_thread_name("writer");
    fr_task_id t = fr_task_begin("task");
    for (int i = 0; i < 5; i++) {
        fr_region_begin("r");
        fr_log("cat", "hello");
        fr_region_end();
    }
    fr_counter("c", 1);
    fr_task_end(t);
}

/* A private, 8-byte aligned copy of the live region. */
static unsigned char *copy_region(void)
{
    unsigned char *m = aligned_alloc(4096, fr__proc.size);
    memcpy(m, fr__proc.base, fr__proc.size);
    return m;
}

static struct fr_abi_header *hdr(unsigned char *m)
{
    return (struct fr_abi_header *)m;
}

static struct fr_abi_ring *ring_of(unsigned char *m, uint32_t tid)
{
    struct fr_abi_header *h = hdr(m);
    for (uint32_t i = 0; i < h->ring_count; i++) {
        struct fr_abi_ring *r = (struct fr_abi_ring *)(m + h->rings_off + i * h->ring_hdr_size);
        if (atomic_load(&r->tid) == tid)
            return r;
    }
    return NULL;
}

static uint64_t (*units_of(unsigned char *m, struct fr_abi_ring *r))[2]
{
    struct fr_abi_header *h = hdr(m);
    size_t i = (size_t)((unsigned char *)r - (m + h->rings_off)) / h->ring_hdr_size;
    return (uint64_t(*)[2])(m + h->ring_data_off + i * h->ring_bytes);
}

static int open_and_read(unsigned char *m, size_t size, struct trace_proc *p)
{
    struct reader r;
    int err = reader_open(&r, m, size);
    if (err)
        return err;
    return reader_read(&r, NULL, p);
}

static void test_reader_copy_reads_like_the_live_region(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    const struct trace_thread *t = tu_thread(&p, writer_tid);
    assert_non_null(t);
    assert_string_equal(t->name, "writer");
    assert_int_equal(t->n, 1 + 15 + 1 + 1);
    assert_int_equal(p.errors, 0);
    trace_proc_free(&p);
    free(m);
}

static void test_reader_refuses_foreign_or_newer_regions(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct reader r;
    assert_int_equal(reader_open(&r, m, 100), -EPROTO); /* smaller than a header */
    hdr(m)->magic = 0x12345678;
    assert_int_equal(reader_open(&r, m, fr__proc.size), -EPROTO);
    hdr(m)->magic = FR_ABI_MAGIC;
    hdr(m)->abi_major = FR_ABI_MAJOR + 1;
    assert_int_equal(reader_open(&r, m, fr__proc.size), -EPROTO);
    hdr(m)->abi_major = FR_ABI_MAJOR;
    assert_int_equal(reader_open(&r, m, fr__proc.size), 0);
    free(m);
}

/* Each damage to the layout must be refused with -EINVAL. */
static void test_reader_refuses_layouts_that_do_not_fit(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct fr_abi_header good = *hdr(m);
    struct reader r;
#define BREAK(field, value)                                                                        \
    do {                                                                                           \
        memcpy(hdr(m), &good, sizeof good);                                                        \
        hdr(m)->field = (value);                                                                   \
        assert_int_equal(reader_open(&r, m, fr__proc.size), -EINVAL);                              \
    } while (0)
    BREAK(ring_count, 1u << 30);
    BREAK(ring_count, good.ring_count + 1000);
    BREAK(ring_bytes, 4097);
    BREAK(ring_bytes, 1ull << 40);
    BREAK(ring_bytes, 1024);
    BREAK(ring_data_off, fr__proc.size);
    BREAK(ring_data_off, UINT64_MAX - 8);
    BREAK(rings_off, good.rings_off + 4);
    BREAK(ring_hdr_size, 8);
    BREAK(strtab_off, good.strtab_off + 3);
    BREAK(strtab_cap, UINT32_MAX);
    BREAK(strtab_bytes, UINT32_MAX);
    BREAK(clock_cap, 0);
    BREAK(clock_off, UINT64_MAX);
    BREAK(clock_source, 7);
    BREAK(header_size, 1 << 20);
    /* a region that claims to be smaller than its own layout */
    BREAK(region_size, good.ring_data_off);
#undef BREAK
    free(m);
}

static void test_reader_survives_garbage_rings(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct fr_abi_header *h = hdr(m);
    srand(1);
    for (uint64_t i = 0; i < h->ring_count * h->ring_bytes; i++)
        m[h->ring_data_off + i] = (unsigned char)rand();
    for (uint32_t i = 0; i < h->ring_count; i++) {
        struct fr_abi_ring *r = (struct fr_abi_ring *)(m + h->rings_off + i * h->ring_hdr_size);
        atomic_store(&r->state, FR_ABI_RING_LIVE);
        atomic_store(&r->seq, ((uint64_t)rand() << 20) & ~1ull);
        atomic_store(&r->start_pos, 0);
    }
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    assert_true(p.errors > 0);
    for (size_t t = 0; t < p.nthreads; t++)
        for (size_t k = 0; k < p.threads[t].n; k++) {
            const struct trace_event *e = &p.threads[t].ev[k];
            uint32_t len;
            trace_str(&p, e->name, &len);
            if (e->type == FR_REC_LOG)
                assert_true(e->text_off + e->text_len <= p.text_len);
        }
    trace_proc_free(&p);
    free(m);
}

static void test_reader_skips_rings_with_impossible_positions(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct fr_abi_ring *r = ring_of(m, writer_tid);
    atomic_store(&r->start_pos, (atomic_load(&r->seq) >> 1) + 1);
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    assert_null(tu_thread(&p, writer_tid));
    assert_true(p.errors >= 1);
    trace_proc_free(&p);

    /* an owner change that never finishes: given up after retries */
    r = ring_of(m, writer_tid);
    atomic_store(&r->start_pos, 0);
    atomic_store(&r->gen, 1);
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    assert_null(tu_thread(&p, writer_tid));
    assert_true(p.errors >= 1);
    trace_proc_free(&p);
    free(m);
}

static void test_reader_resyncs_after_a_broken_record(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct fr_abi_ring *r = ring_of(m, writer_tid);
    uint64_t(*u)[2] = units_of(m, r);
    /* Unit 0 is the task begin (4 units). Damage its second unit: the
     * task record is lost, everything after it is kept. */
    u[1][1] = fr_rec_w1(FR_REC_REGION_BEGIN, 0, 0, 0);
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    const struct trace_thread *t = tu_thread(&p, writer_tid);
    assert_non_null(t);
    assert_true(p.errors >= 1);
    assert_int_equal(tu_count(t, FR_REC_TASK_BEGIN), 0);
    assert_int_equal(tu_count(t, FR_REC_LOG), 5);
    assert_int_equal(tu_count(t, FR_REC_TASK_END), 1);
    trace_proc_free(&p);

    /* a log claiming more text than a record may hold is dropped */
    for (size_t i = 0; i < 64; i++)
        if (fr_rec_type(u[i][1]) == FR_REC_LOG) {
            u[i][1] = fr_rec_w1(FR_REC_LOG, 0, 0xffff, 2);
            break;
        }
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    assert_int_equal(tu_count(tu_thread(&p, writer_tid), FR_REC_LOG), 4);
    trace_proc_free(&p);
    free(m);
}

static void test_reader_ignores_bad_string_entries_and_ids(void **state)
{
    (void)state;
    unsigned char *m = copy_region();
    struct fr_abi_header *h = hdr(m);
    struct fr_abi_strtab *st = (struct fr_abi_strtab *)(m + h->strtab_off);
    uint32_t n = atomic_load(&st->count);
    st->entries[n - 1].off = UINT32_MAX - 2;
    st->entries[n - 1].len = 100;
    atomic_store(&st->count, UINT32_MAX);
    struct fr_abi_ring *r = ring_of(m, writer_tid);
    uint64_t(*u)[2] = units_of(m, r);
    u[4][1] = fr_rec_w1(FR_REC_REGION_BEGIN, 0, 0, 0x7fffffff); /* unknown id */
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    assert_true(p.errors >= 2);
    assert_int_equal(p.nstrs, h->strtab_cap);
    uint32_t len;
    assert_string_equal(trace_str(&p, n - 1, &len), "");
    assert_string_equal(trace_str(&p, 0x7fffffff, &len), "");
    trace_proc_free(&p);
    free(m);
}

static void test_reader_refuses_a_clock_table_without_two_points(void **state)
{
    (void)state;
    if (hdr(fr__proc.base)->clock_source != FR_ABI_CLOCK_TSC)
        skip();
    unsigned char *m = copy_region();
    struct fr_abi_clock_table *c = (struct fr_abi_clock_table *)(m + hdr(m)->clock_off);
    uint64_t n = atomic_load(&c->count);
    /* every point the same: nothing moves forward, no slope */
    for (uint64_t i = 0; i < n && i < FR_ABI_CLOCK_CAP; i++)
        for (int k = 0; k < 4; k++)
            atomic_store(&c->points[i][k], 5);
    struct reader r;
    assert_int_equal(reader_open(&r, m, fr__proc.size), -EINVAL);
    atomic_store(&c->seq, 1); /* a writer that never finishes */
    assert_int_equal(reader_open(&r, m, fr__proc.size), -EAGAIN);
    free(m);
}

/* A reader opened long ago sees the points added since when it reads
 * the table again, and keeps what it had when the table is mid-write. */
static void test_reader_refresh_clock_reads_new_points_or_keeps_the_old(void **state)
{
    (void)state;
    if (hdr(fr__proc.base)->clock_source != FR_ABI_CLOCK_TSC)
        skip();
    unsigned char *m = copy_region();
    struct fr_abi_clock_table *c = (struct fr_abi_clock_table *)(m + hdr(m)->clock_off);
    struct reader r;
    assert_int_equal(reader_open(&r, m, fr__proc.size), 0);
    uint64_t count = atomic_load(&c->count);
    uint32_t n = r.clock.n;
    assert_true(n >= 2 && count < FR_ABI_CLOCK_CAP);
    const struct fr_abi_clock_point *last = &r.clock.pts[n - 1];
    /* one second later, 10 ppm fast */
    const uint64_t pt[4] = {last->tsc + 1000000000, last->mono_ns + 1000010000,
                            last->real_ns + 1000010000, last->boot_ns + 1000010000};
    for (int k = 0; k < 4; k++)
        atomic_store(&c->points[count][k], pt[k]);
    atomic_store(&c->count, count + 1);
    uint64_t t = pt[0] + 500000000;
    uint64_t before = reader_clock_convert(&r.clock, t);
    assert_int_equal(reader_refresh_clock(&r), 0);
    assert_int_equal(r.clock.n, n + 1);
    assert_int_equal(r.clock.pts[n].mono_ns, pt[1]);
    assert_int_not_equal(reader_clock_convert(&r.clock, t), before);

    struct reader_clock was = r.clock;
    atomic_store(&c->seq, atomic_load(&c->seq) | 1); /* a writer that never finishes */
    assert_int_equal(reader_refresh_clock(&r), -EAGAIN);
    assert_memory_equal(&r.clock, &was, sizeof was);
    free(m);
}

/* Timestamps long past the newest calibration point (a process that
 * runs for minutes on the points the daemon read at registration), some
 * a little older than the one before: each converts exactly as the
 * table says, whichever way the decoder steps its segments. */
static void test_reader_converts_exactly_far_past_the_newest_point(void **state)
{
    (void)state;
    if (hdr(fr__proc.base)->clock_source != FR_ABI_CLOCK_TSC)
        skip();
    unsigned char *m = copy_region();
    struct fr_abi_clock_table *c = (struct fr_abi_clock_table *)(m + hdr(m)->clock_off);
    const uint64_t t0 = 1000, t1 = t0 + (UINT64_C(1) << 30), mono0 = 1000000000;
    const uint64_t pts[2][4] = {{t0, mono0, 1, 1}, {t1, mono0 + (t1 - t0) * 2 / 5, 1, 1}};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            atomic_store(&c->points[i][k], pts[i][k]);
    atomic_store(&c->count, 2);

    /* 0.4 ns a tick: a 64-bit span is about 10^10 ticks; 3 * 10^9
     * apart, every fifth 10^9 back */
    struct fr_abi_ring *r = ring_of(m, writer_tid);
    uint64_t (*u)[2] = units_of(m, r);
    uint64_t cap = hdr(m)->ring_bytes / FR_ABI_UNIT, head = atomic_load(&r->seq) / 2;
    uint64_t t = t1, heads = 0, raw[256];
    assert_true(head <= cap && cap <= 256);
    for (uint64_t pos = 0; pos < head; pos++) {
        if ((u[pos][1] & 0xff) == FR_REC_CONT)
            continue;
        t += heads % 5 == 4 ? -UINT64_C(1000000000) : UINT64_C(3000000000);
        u[pos][0] = raw[heads++] = t;
    }

    struct reader rd;
    struct trace_proc p;
    assert_int_equal(reader_open(&rd, m, fr__proc.size), 0);
    assert_int_equal(reader_read(&rd, NULL, &p), 0);
    const struct trace_thread *th = tu_thread(&p, writer_tid);
    assert_non_null(th);
    assert_int_equal(th->n, heads);
    assert_true(heads >= 15);
    uint64_t want = 0;
    for (size_t k = 0; k < th->n; k++) {
        uint64_t v = reader_clock_convert(&rd.clock, raw[k]);
        want = v > want ? v : want; /* a thread's times never decrease */
        assert_int_equal(th->ev[k].ts, want);
    }
    trace_proc_free(&p);
    free(m);
}

/* A writer inside a record while we copy: the oldest FR_REC_MAX_UNITS
 * units are given up, since it may be overwriting them. */
static void fill_ring(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        fr_counter("fill", i);
}

static void test_reader_drops_units_a_writer_may_be_overwriting(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(fill_ring, NULL);
    unsigned char *m = copy_region();
    struct fr_abi_ring *r = ring_of(m, tid);
    uint64_t cap = hdr(m)->ring_bytes / FR_ABI_UNIT;
    struct trace_proc p;
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    const struct trace_thread *t = tu_thread(&p, tid);
    assert_int_equal(t->n, cap / 2); /* a full ring of 2-unit counters */
    assert_int_equal((int64_t)t->ev[t->n - 1].id, 999);
    for (size_t i = 1; i < t->n; i++)
        assert_int_equal(t->ev[i].id, t->ev[i - 1].id + 1);
    trace_proc_free(&p);

    atomic_store(&r->seq, atomic_load(&r->seq) | 1);
    assert_int_equal(open_and_read(m, fr__proc.size, &p), 0);
    t = tu_thread(&p, tid);
    assert_int_equal(t->n, (cap - FR_REC_MAX_UNITS) / 2);
    assert_int_equal((int64_t)t->ev[t->n - 1].id, 999);
    trace_proc_free(&p);
    free(m);
}

/* One thread at a time reads what a whole read does, in memory that
 * holds one thread's events; a ring with a new owner in between reads as
 * empty rather than as the old thread's. */
static void test_reader_one_thread_at_a_time_reads_like_the_whole(void **state)
{
    (void)state;
    tu_on_thread(fill_ring, NULL);
    unsigned char *m = copy_region();
    struct reader r;
    struct trace_proc all, head;
    struct reader_buf b = {0};
    assert_int_equal(reader_open(&r, m, fr__proc.size), 0);
    struct reader_opts o = {.from_ns = 1};
    assert_int_equal(reader_read(&r, &o, &all), 0);
    assert_int_equal(reader_read_head(&r, &o, &b, &head), 0);
    assert_true(all.nthreads >= 2);
    assert_int_equal(head.nthreads, all.nthreads);
    assert_int_equal(head.ring_bytes, all.ring_bytes);
    assert_int_equal(head.nstrs, all.nstrs);

    for (uint32_t i = 0; i < head.nthreads; i++) {
        const struct trace_thread *a = &all.threads[i], *h = &head.threads[i];
        assert_int_equal(h->tid, a->tid);
        assert_string_equal(h->name, a->name);
        assert_int_equal(h->n, 0);
        assert_int_equal(reader_read_thread(&r, &b, &head, i), 0);
        assert_int_equal(h->n, a->n);
        assert_memory_equal(h->ev, a->ev, a->n * sizeof *a->ev);
        if (i > 0)
            assert_int_equal(head.threads[i - 1].n, 0); /* gone: b holds one thread */
    }
    assert_true(b.events_cap <= hdr(m)->ring_bytes / FR_ABI_UNIT); /* one ring's worth */
    assert_int_equal(head.errors, all.errors);

    /* thread 0's ring changes owner after the head was read */
    assert_int_equal(reader_read_head(&r, &o, &b, &head), 0);
    struct fr_abi_ring *ring = ring_of(m, head.threads[0].tid);
    atomic_store(&ring->tid, 1);
    assert_int_equal(reader_read_thread(&r, &b, &head, 0), 0);
    assert_int_equal(head.threads[0].n, 0);
    assert_int_equal(reader_read_thread(&r, &b, &head, head.nthreads), -EINVAL);
    reader_buf_fini(&b);
    trace_proc_free(&all);
    free(m);
}

static void test_reader_window_keeps_the_last_seconds(void **state)
{
    (void)state;
    struct trace_proc all, last;
    struct reader r;
    assert_int_equal(reader_open(&r, fr__proc.base, fr__proc.size), 0);
    assert_int_equal(reader_read(&r, NULL, &all), 0);
    uint64_t newest = 0, oldest = UINT64_MAX;
    size_t n_all = 0;
    for (size_t t = 0; t < all.nthreads; t++) {
        n_all += all.threads[t].n;
        for (size_t k = 0; k < all.threads[t].n; k++) {
            uint64_t ts = all.threads[t].ev[k].ts;
            newest = ts > newest ? ts : newest;
            oldest = ts < oldest ? ts : oldest;
        }
    }
    uint64_t span = newest - oldest;
    struct reader_opts o = {.last_ns = span / 2};
    assert_int_equal(reader_read(&r, &o, &last), 0);
    size_t n_last = 0;
    for (size_t t = 0; t < last.nthreads; t++)
        for (size_t k = 0; k < last.threads[t].n; k++, n_last++)
            assert_true(last.threads[t].ev[k].ts >= newest - span / 2);
    assert_true(n_last > 0 && n_last < n_all);
    trace_proc_free(&all);
    trace_proc_free(&last);
}

static void test_reader_newest_is_the_last_event_of_any_ring(void **state)
{
    (void)state;
    struct reader r;
    struct trace_proc p;
    assert_int_equal(reader_open(&r, fr__proc.base, fr__proc.size), 0);
    assert_int_equal(reader_read(&r, NULL, &p), 0);
    uint64_t newest = 0;
    for (size_t t = 0; t < p.nthreads; t++)
        if (p.threads[t].n && p.threads[t].ev[p.threads[t].n - 1].ts > newest)
            newest = p.threads[t].ev[p.threads[t].n - 1].ts;
    assert_true(newest > 0);
    assert_int_equal(reader_newest(&r), newest);
    trace_proc_free(&p);
}

static void test_reader_stats_count_threads_drops_and_span(void **state)
{
    (void)state;
    struct reader r;
    struct trace_proc p;
    struct reader_stats st;
    assert_int_equal(reader_open(&r, fr__proc.base, fr__proc.size), 0);
    assert_int_equal(reader_read(&r, NULL, &p), 0);
    reader_stats(&r, &st);
    uint32_t live = 0, exited = 0;
    uint64_t oldest = UINT64_MAX;
    for (size_t t = 0; t < p.nthreads; t++) {
        live += p.threads[t].state == FR_ABI_RING_LIVE;
        exited += p.threads[t].state == FR_ABI_RING_EXITED;
        if (p.threads[t].n && p.threads[t].ev[0].ts < oldest)
            oldest = p.threads[t].ev[0].ts;
    }
    assert_int_equal(st.threads_live, live);
    assert_int_equal(st.threads_exited, exited);
    assert_true(exited > 0);
    assert_int_equal(st.dropped, p.dropped_no_ring + p.dropped_nested);
    assert_int_equal(st.newest_ns, reader_newest(&r));
    /* the oldest record still in a ring; a wrapped ring's tail may be a
     * record the reader drops, so it can only be at or before */
    assert_true(st.oldest_ns > 0 && st.oldest_ns <= oldest);
    trace_proc_free(&p);
}

/* Two decodes hold the same trace: threads, events, strings, text. */
static void assert_same_trace(const struct trace_proc *a, const struct trace_proc *b)
{
    assert_int_equal(a->nthreads, b->nthreads);
    assert_int_equal(a->errors, b->errors);
    assert_int_equal(a->ring_bytes, b->ring_bytes);
    assert_int_equal(a->nstrs, b->nstrs);
    assert_int_equal(a->text_len, b->text_len);
    assert_memory_equal(a->text, b->text, a->text_len);
    for (uint32_t i = 0; i < a->nstrs; i++)
        assert_string_equal(tu_str(a, i), tu_str(b, i));
    for (size_t t = 0; t < a->nthreads; t++) {
        const struct trace_thread *x = &a->threads[t], *y = &b->threads[t];
        assert_int_equal(x->tid, y->tid);
        assert_int_equal(x->claim_ns, y->claim_ns);
        assert_int_equal(x->n, y->n);
        assert_memory_equal(x->ev, y->ev, x->n * sizeof *x->ev);
    }
}

static void test_reader_buf_reads_like_a_fresh_read_and_keeps_its_memory(void **state)
{
    (void)state;
    /* a second region with the writer's ring given up: fewer threads */
    unsigned char *big = copy_region(), *small = copy_region();
    atomic_store(&ring_of(small, writer_tid)->state, FR_ABI_RING_FREE);
    struct trace_proc want_big, want_small, got;
    assert_int_equal(open_and_read(big, fr__proc.size, &want_big), 0);
    assert_int_equal(open_and_read(small, fr__proc.size, &want_small), 0);
    assert_int_equal(want_small.nthreads + 1, want_big.nthreads);

    struct reader rb, rs;
    struct reader_buf buf = {0};
    assert_int_equal(reader_open(&rb, big, fr__proc.size), 0);
    assert_int_equal(reader_open(&rs, small, fr__proc.size), 0);
    assert_int_equal(reader_read_buf(&rb, NULL, &buf, &got), 0);
    assert_same_trace(&got, &want_big);
    struct trace_event *events = buf.events;
    uint64_t(*units)[2] = buf.units;
    /* smaller, then the same again: in the same memory, and no stale part */
    assert_int_equal(reader_read_buf(&rs, NULL, &buf, &got), 0);
    assert_same_trace(&got, &want_small);
    assert_ptr_equal(buf.events, events);
    assert_int_equal(reader_read_buf(&rb, NULL, &buf, &got), 0);
    assert_same_trace(&got, &want_big);
    assert_ptr_equal(buf.events, events);
    assert_ptr_equal(buf.units, units);
    reader_buf_fini(&buf);
    trace_proc_free(&want_big);
    trace_proc_free(&want_small);
    free(big);
    free(small);
}

static void test_reader_free_rings_cost_no_memory(void **state)
{
    (void)state;
    /* Every ring in use made full of one-unit records (a region each),
     * the rest left free: the decode needs room for exactly the rings in
     * use, whichever of them come first. */
    unsigned char *m = copy_region();
    struct fr_abi_header *h = hdr(m);
    const uint64_t cap = h->ring_bytes / FR_ABI_UNIT;
    struct reader rd;
    assert_int_equal(reader_open(&rd, m, fr__proc.size), 0);
    uint64_t t0 = rd.clock.pts[rd.clock.n - 1].tsc; /* any time the clock converts */
    size_t inuse = 0;
    for (uint32_t i = 0; i < h->ring_count; i++) {
        struct fr_abi_ring *r = (struct fr_abi_ring *)(m + h->rings_off + i * h->ring_hdr_size);
        if (atomic_load(&r->state) == FR_ABI_RING_FREE)
            continue;
        uint64_t(*u)[2] = units_of(m, r);
        for (uint64_t k = 0; k < cap; k++) {
            u[k][0] = t0 + k;
            u[k][1] = fr_rec_w1(k % 2 ? FR_REC_REGION_END : FR_REC_REGION_BEGIN, 0, 1, 0);
        }
        atomic_store(&r->start_pos, 0);
        atomic_store(&r->seq, 2 * cap);
        inuse++;
    }
    assert_true(inuse > 0 && inuse < h->ring_count);
    struct reader_buf buf = {0};
    struct trace_proc p;
    assert_int_equal(reader_read_buf(&rd, NULL, &buf, &p), 0);
    size_t n = 0;
    for (size_t t = 0; t < p.nthreads; t++)
        n += p.threads[t].n;
    assert_int_equal(n, inuse * cap);
    assert_int_equal(buf.events_cap, inuse * cap);
    reader_buf_fini(&buf);
    free(m);
}

int main(void)
{
    assert_int_equal(fr_init("test_reader"), 0);
    writer_tid = tu_on_thread(record_some, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_copy_reads_like_the_live_region),
        cmocka_unit_test(test_reader_refuses_foreign_or_newer_regions),
        cmocka_unit_test(test_reader_refuses_layouts_that_do_not_fit),
        cmocka_unit_test(test_reader_survives_garbage_rings),
        cmocka_unit_test(test_reader_skips_rings_with_impossible_positions),
        cmocka_unit_test(test_reader_resyncs_after_a_broken_record),
        cmocka_unit_test(test_reader_ignores_bad_string_entries_and_ids),
        cmocka_unit_test(test_reader_refuses_a_clock_table_without_two_points),
        cmocka_unit_test(test_reader_refresh_clock_reads_new_points_or_keeps_the_old),
        cmocka_unit_test(test_reader_converts_exactly_far_past_the_newest_point),
        cmocka_unit_test(test_reader_drops_units_a_writer_may_be_overwriting),
        cmocka_unit_test(test_reader_one_thread_at_a_time_reads_like_the_whole),
        cmocka_unit_test(test_reader_window_keeps_the_last_seconds),
        cmocka_unit_test(test_reader_newest_is_the_last_event_of_any_ring),
        cmocka_unit_test(test_reader_stats_count_threads_drops_and_span),
        cmocka_unit_test(test_reader_buf_reads_like_a_fresh_read_and_keeps_its_memory),
        cmocka_unit_test(test_reader_free_rings_cost_no_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
