/* test_pool.c - more threads than rings. Runs with
 * FLIGHTREC_MAX_THREADS=4 and FLIGHTREC_RING_BYTES=4096. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "testutil.h"

#define LIVE 6

static pthread_barrier_t all_recorded, may_exit;

static void *hold_a_ring(void *arg)
{
    (void)arg;
    fr_region_begin("held");
    fr_region_end();
    pthread_barrier_wait(&all_recorded);
    pthread_barrier_wait(&may_exit);
    return NULL;
}

static void one_event(void *arg)
{
    (void)arg;
    fr_counter("later", 1);
}

static size_t live_threads(struct trace_proc *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nthreads; i++)
        n += p->threads[i].state == FR_ABI_RING_LIVE;
    return n;
}

static void test_pool_more_live_threads_than_rings_drops_and_counts(void **state)
{
    (void)state;
    pthread_t th[LIVE];
    pthread_barrier_init(&all_recorded, NULL, LIVE + 1);
    pthread_barrier_init(&may_exit, NULL, LIVE + 1);
    for (int i = 0; i < LIVE; i++)
        pthread_create(&th[i], NULL, hold_a_ring, NULL);
    pthread_barrier_wait(&all_recorded);

    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    assert_int_equal(p.nthreads, 4);
    assert_int_equal(live_threads(&p), 4);
    /* two threads without a ring: their begin and end were dropped */
    assert_int_equal(p.dropped_no_ring, 4);
    trace_proc_free(&p);

    pthread_barrier_wait(&may_exit);
    for (int i = 0; i < LIVE; i++)
        pthread_join(th[i], NULL);

    /* Every ring is given back, its data younger than the window: a new
     * thread takes the one with the oldest data and counts an eviction. */
    uint32_t tid = tu_on_thread(one_event, NULL);
    assert_int_equal(tu_read_self(&p), 0);
    assert_int_equal(p.rings_evicted, 1);
    assert_non_null(tu_thread(&p, tid));
    assert_int_equal(p.nthreads, 4);
    assert_int_equal(live_threads(&p), 0);
    trace_proc_free(&p);
}

static void test_pool_expired_rings_are_reused_without_eviction(void **state)
{
    (void)state;
    /* what the daemon does when it tells the process its window */
    atomic_store(&fr__proc.hdr->window_ns, 1000000);
    struct timespec ts = {0, 3000000};
    uint64_t evicted = atomic_load(&fr__proc.hdr->rings_evicted);
    /* each thread starts once the previous one's data is older than the
     * window; sooner, its ring would not have expired yet (an eviction) */
    for (int i = 0; i < 8; i++) {
        nanosleep(&ts, NULL);
        tu_on_thread(one_event, NULL);
    }
    assert_int_equal(atomic_load(&fr__proc.hdr->rings_evicted), evicted);
    atomic_store(&fr__proc.hdr->window_ns, 10000000000ull);
}

static pthread_barrier_t late_tried, late_may_retry;

static void *starved(void *arg)
{
    uint32_t *tid = arg;
    *tid = tu_gettid();
    fr_counter("no ring yet", 1); /* dropped: every ring has a live owner */
    pthread_barrier_wait(&late_tried);
    pthread_barrier_wait(&late_may_retry);
    fr_counter("got a ring", 2); /* rings were given back meanwhile */
    return NULL;
}

static void test_pool_thread_without_ring_gets_one_once_given_back(void **state)
{
    (void)state;
    pthread_t holders[4], late;
    uint32_t late_tid = 0;
    pthread_barrier_init(&all_recorded, NULL, 5);
    pthread_barrier_init(&may_exit, NULL, 5);
    pthread_barrier_init(&late_tried, NULL, 2);
    pthread_barrier_init(&late_may_retry, NULL, 2);
    for (int i = 0; i < 4; i++)
        pthread_create(&holders[i], NULL, hold_a_ring, NULL);
    pthread_barrier_wait(&all_recorded);
    uint64_t dropped = atomic_load(&fr__proc.hdr->dropped_no_ring);
    pthread_create(&late, NULL, starved, &late_tid);
    pthread_barrier_wait(&late_tried);
    assert_int_equal(atomic_load(&fr__proc.hdr->dropped_no_ring), dropped + 1);
    pthread_barrier_wait(&may_exit);
    for (int i = 0; i < 4; i++)
        pthread_join(holders[i], NULL);
    pthread_barrier_wait(&late_may_retry);
    pthread_join(late, NULL);

    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    const struct trace_thread *t = tu_thread(&p, late_tid);
    assert_non_null(t);
    assert_int_equal(t->n, 1);
    assert_string_equal(tu_str(&p, t->ev[0].name), "got a ring");
    trace_proc_free(&p);
}

int main(void)
{
    assert_int_equal(fr_init("test_pool"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_more_live_threads_than_rings_drops_and_counts),
        cmocka_unit_test(test_pool_expired_rings_are_reused_without_eviction),
        cmocka_unit_test(test_pool_thread_without_ring_gets_one_once_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
