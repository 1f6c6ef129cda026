/* test_ring.c - the record write path: wrap-around, and records from a
 * signal handler that interrupts a record on the same thread. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lib/thread.h"
#include "testutil.h"

static void wrap(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        fr_counter("seq", i);
}

static void test_ring_wraps_and_keeps_the_newest_records_whole(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(wrap, NULL);
    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    const struct trace_thread *t = tu_thread(&p, tid);
    uint64_t cap = fr__proc.layout.ring_bytes / FR_ABI_UNIT;
    assert_int_equal(t->n, cap / 2);
    assert_int_equal(t->ev[t->n - 1].id, 99999);
    for (size_t i = 1; i < t->n; i++)
        assert_int_equal(t->ev[i].id, t->ev[i - 1].id + 1);
    assert_int_equal(p.errors, 0);
    trace_proc_free(&p);
}

/* White box: a thread that is inside a record (busy) when another event
 * comes (as from a signal handler) drops the new one and counts it; the
 * ring is untouched. */
static void nested(void *arg)
{
    uint64_t *out = arg;
    fr_counter("before", 1);
    struct fr__thread *t = &fr__self;
    uint64_t seq = atomic_load(&t->ring->seq);
    uint64_t drops = atomic_load(&fr__proc.hdr->dropped_nested);
    t->busy = 1;
    fr_region_begin("nested");
    fr_log("nested", "dropped");
    fr_counter("nested", 2);
    out[0] = atomic_load(&t->ring->seq) == seq;
    out[1] = atomic_load(&t->ring->dropped);
    out[2] = atomic_load(&fr__proc.hdr->dropped_nested) - drops;
    t->busy = 0;
    fr_region_end();
    fr_counter("after", 3);
}

static void test_ring_event_inside_a_record_is_dropped_and_counted(void **state)
{
    (void)state;
    uint64_t out[3];
    uint32_t tid = tu_on_thread(nested, out);
    assert_true(out[0]);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 3);
    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    const struct trace_thread *t = tu_thread(&p, tid);
    /* before, the region end (its begin was dropped but the depth was
     * taken, so the end is recorded), after */
    assert_int_equal(t->n, 3);
    assert_int_equal(t->dropped, 3);
    assert_string_equal(tu_str(&p, t->ev[0].name), "before");
    assert_string_equal(tu_str(&p, t->ev[2].name), "after");
    trace_proc_free(&p);
}

/* Black box: real signals hammering a thread that records non-stop. */
static volatile sig_atomic_t handled;
static _Atomic int writer_done;

static void on_sig(int sig)
{
    (void)sig;
    fr_counter("from-handler", handled);
    handled++;
}

/* Records until 2000 signals were handled (or 20000 records, so that
 * everything fits in the ring), pausing between records so that signals
 * land both inside and outside them. */
static void record_under_signals(void *arg)
{
    uint64_t *n = arg;
    for (uint64_t i = 0; i < 20000 && handled < 2000; i++) {
        fr_counter("main", (int64_t)i);
        *n = i + 1;
        for (volatile int k = 0; k < 300; k++)
            ;
    }
    atomic_store(&writer_done, 1);
}

struct sig_target {
    pthread_t th;
    uint64_t n;
};

static void *signaller(void *arg)
{
    pthread_t *target = arg;
    while (!atomic_load(&writer_done)) {
        pthread_kill(*target, SIGUSR1);
        sched_yield();
    }
    return NULL;
}

static void *writer_main(void *arg)
{
    struct sig_target *s = arg;
    struct tu_job j = {record_under_signals, &s->n, 0};
    tu_job_main(&j);
    return (void *)(uintptr_t)j.tid;
}

static void test_ring_signals_never_tear_records(void **state)
{
    (void)state;
    signal(SIGUSR1, on_sig);
    uint64_t no_ring0 = atomic_load(&fr__proc.hdr->dropped_no_ring);
    struct sig_target s = {0};
    pthread_t sig;
    pthread_create(&s.th, NULL, writer_main, &s);
    pthread_create(&sig, NULL, signaller, &s.th);
    void *ret;
    pthread_join(s.th, &ret);
    pthread_join(sig, NULL);
    uint32_t tid = (uint32_t)(uintptr_t)ret;
    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    const struct trace_thread *t = tu_thread(&p, tid);
    assert_non_null(t);
    assert_int_equal(p.errors, 0);
    /* every main-loop record is there, in order, and every handler call
     * is either recorded or counted as dropped */
    size_t main_n = 0, handler_n = 0;
    int64_t next = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(tu_str(&p, t->ev[i].name), "main") == 0) {
            assert_int_equal((int64_t)t->ev[i].id, next);
            next++;
            main_n++;
        } else {
            handler_n++;
        }
    }
    assert_int_equal(main_n, s.n);
    assert_true(handled > 0);
    /* a signal delivered while the thread exits, after it gave its ring
     * back (TSan delivers them late), is counted as dropped without a ring */
    uint64_t no_ring = atomic_load(&fr__proc.hdr->dropped_no_ring) - no_ring0;
    assert_int_equal(handler_n + t->dropped + no_ring, handled);
    print_message("%d signals: %zu handler records kept, %llu dropped (nested), %llu after "
                  "the thread gave its ring back\n",
                  (int)handled, handler_n, (unsigned long long)t->dropped,
                  (unsigned long long)no_ring);
    trace_proc_free(&p);
}

int main(void)
{
    assert_int_equal(fr_init("test_ring"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_wraps_and_keeps_the_newest_records_whole),
        cmocka_unit_test(test_ring_event_inside_a_record_is_dropped_and_counted),
        cmocka_unit_test(test_ring_signals_never_tear_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
