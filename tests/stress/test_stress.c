/* test_stress.c - two writers at full speed, a reader taking 1000
 * snapshots meanwhile. Every record read must be whole (its payload
 * checks out), each thread's records must come in order with none
 * missing inside a snapshot, and nothing may be dropped silently.
 *
 * Runs with small rings (FLIGHTREC_RING_BYTES=64k) so writers lap the
 * reader all the time; built with -fsanitize=thread in CI, without
 * suppressions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#define SNAPSHOTS 1000
#define WRITERS 2

static _Atomic int done;
static _Atomic int started; /* writers that have recorded */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* A log message that says its own sequence number and whose length and
 * bytes follow from it. */
static size_t make_msg(char *buf, uint64_t seq)
{
    size_t len = 16 + (size_t)(mix(seq) % 300);
    snprintf(buf, 17, "%016llx", (unsigned long long)seq);
    for (size_t k = 16; k < len; k++)
        buf[k] = (char)(0x21 + (mix(seq + k) % 90));
    buf[len] = 0;
    return len;
}

static int64_t counter_value(uint64_t seq)
{
    return (int64_t)(seq << 20 | (mix(seq) & 0xfffff));
}

static void *writer(void *arg)
{
    (void)arg;
    char msg[400];
    uint64_t seq = 0;
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        fr_counter("stress", counter_value(seq));
        seq++;
        make_msg(msg, seq);
        fr_log("stress", msg);
        if (seq++ == 1)
            atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
    }
    return NULL;
}

/* The sequence number a record carries, or UINT64_MAX if it is damaged. */
static uint64_t check(const struct trace_proc *p, const struct trace_event *e)
{
    if (e->type == FR_REC_COUNTER) {
        uint64_t seq = e->id >> 20;
        return (int64_t)e->id == counter_value(seq) ? seq : UINT64_MAX;
    }
    if (e->type == FR_REC_LOG) {
        char want[400], got[17];
        if (e->text_len < 16)
            return UINT64_MAX;
        memcpy(got, p->text + e->text_off, 16);
        got[16] = 0;
        uint64_t seq = strtoull(got, NULL, 16);
        size_t len = make_msg(want, seq);
        if (len != e->text_len || memcmp(want, p->text + e->text_off, len) != 0)
            return UINT64_MAX;
        return seq;
    }
    return UINT64_MAX;
}

static void test_stress_snapshots_under_full_speed_writers_are_whole(void **state)
{
    (void)state;
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&th[i], NULL, writer, NULL);
    struct reader r;
    while (reader_open(&r, fr__proc.base, fr__proc.size) != 0)
        sched_yield(); /* until the first event created the region */
    /* and until both write: on a busy machine, 1000 snapshots of rings
     * nobody writes yet can be over before the writers first run */
    while (atomic_load_explicit(&started, memory_order_relaxed) < WRITERS)
        sched_yield();
    uint64_t records = 0, max_lap = 0, snapshots_with_both = 0;
    uint64_t last_seq[WRITERS] = {0};
    uint32_t tids[WRITERS] = {0};
    for (int s = 0; s < SNAPSHOTS; s++) {
        struct trace_proc p;
        assert_int_equal(reader_read(&r, NULL, &p), 0);
        assert_int_equal(p.errors, 0);
        snapshots_with_both += p.nthreads == WRITERS;
        for (size_t t = 0; t < p.nthreads; t++) {
            const struct trace_thread *th_ = &p.threads[t];
            uint64_t prev = UINT64_MAX;
            for (size_t k = 0; k < th_->n; k++) {
                uint64_t seq = check(&p, &th_->ev[k]);
                if (seq == UINT64_MAX)
                    fail_msg("snapshot %d thread %u record %zu is torn", s, th_->tid, k);
                if (prev != UINT64_MAX && seq != prev + 1)
                    fail_msg("snapshot %d thread %u: seq %llu after %llu", s, th_->tid,
                             (unsigned long long)seq, (unsigned long long)prev);
                prev = seq;
            }
            records += th_->n;
            assert_int_equal(th_->dropped, 0);
            /* across snapshots, by tid: a ring lapped during its copy
             * yields nothing, so positions in p.threads shift */
            size_t w = 0;
            while (w < WRITERS && tids[w] && tids[w] != th_->tid)
                w++;
            assert_true(w < WRITERS);
            tids[w] = th_->tid;
            if (prev != UINT64_MAX) {
                if (prev < last_seq[w])
                    fail_msg("thread %u went back in time", th_->tid);
                max_lap = prev - last_seq[w] > max_lap ? prev - last_seq[w] : max_lap;
                last_seq[w] = prev;
            }
        }
        assert_int_equal(p.dropped_no_ring + p.dropped_nested, 0);
        trace_proc_free(&p);
    }
    atomic_store(&done, 1);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    print_message("%d snapshots, %llu records checked, writers advanced up to %llu records "
                  "between two snapshots\n",
                  SNAPSHOTS, (unsigned long long)records, (unsigned long long)max_lap);
    assert_true(snapshots_with_both > 0);
}

int main(void)
{
    assert_int_equal(fr_init("test_stress"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_snapshots_under_full_speed_writers_are_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
