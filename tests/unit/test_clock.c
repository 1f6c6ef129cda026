/* test_clock.c - record timestamps convert to CLOCK_MONOTONIC.
 *
 * Runs twice under CTest: with the TSC (where the CPU has an invariant
 * one) and with FLIGHTREC_CLOCK=monotonic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "testutil.h"

static uint64_t mono_now(void)
{
    return fr__clock_mono_ns(CLOCK_MONOTONIC);
}

static void test_clock_convert_interpolates_and_extrapolates(void **state)
{
    (void)state;
    struct reader_clock c = {.n = 3};
    c.pts[0] = (struct fr_abi_clock_point){.tsc = 1000, .mono_ns = 500};
    c.pts[1] = (struct fr_abi_clock_point){.tsc = 3000, .mono_ns = 1500};
    c.pts[2] = (struct fr_abi_clock_point){.tsc = 5000, .mono_ns = 2600}; /* slope changes */
    reader_clock_slopes(&c);
    assert_int_equal(reader_clock_convert(&c, 1000), 500);
    assert_int_equal(reader_clock_convert(&c, 2000), 1000);
    assert_int_equal(reader_clock_convert(&c, 3000), 1500);
    assert_int_equal(reader_clock_convert(&c, 4000), 2050);
    assert_int_equal(reader_clock_convert(&c, 7000), 3700); /* last slope */
    assert_int_equal(reader_clock_convert(&c, 0), 0);       /* first slope, clamped */
    assert_int_equal(reader_clock_convert(&c, 600), 300);
    c.identity = 1;
    assert_int_equal(reader_clock_convert(&c, 123456), 123456);
}

static void test_clock_convert_is_monotonic_across_points(void **state)
{
    (void)state;
    struct reader_clock c = {.n = 4};
    c.pts[0] = (struct fr_abi_clock_point){.tsc = 100, .mono_ns = 10};
    c.pts[1] = (struct fr_abi_clock_point){.tsc = 300, .mono_ns = 90};
    c.pts[2] = (struct fr_abi_clock_point){.tsc = 301, .mono_ns = 91};
    c.pts[3] = (struct fr_abi_clock_point){.tsc = 1000, .mono_ns = 400};
    reader_clock_slopes(&c);
    uint64_t prev = 0;
    for (uint64_t t = 0; t < 2000; t++) {
        uint64_t v = reader_clock_convert(&c, t);
        assert_true(v >= prev);
        prev = v;
    }
}

struct sample {
    uint64_t before, after;
};

/* Records a counter every 100 ms for 10 s, remembering CLOCK_MONOTONIC
 * on both sides of each call; the converted timestamp must fall between
 * them, give or take 50 µs. */
static void sample_for_10s(void *arg)
{
    struct sample *s = arg;
    for (int i = 0; i < 100; i++) {
        s[i].before = mono_now();
        fr_counter("clock_probe", i);
        s[i].after = mono_now();
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
}

static void test_clock_agrees_with_monotonic_within_50us_over_10s(void **state)
{
    (void)state;
    struct sample s[100];
    uint32_t tid = tu_on_thread(sample_for_10s, s);
    struct trace_proc p;
    assert_int_equal(tu_read_self(&p), 0);
    const struct trace_thread *t = tu_thread(&p, tid);
    assert_non_null(t);
    size_t k = 0;
    int64_t worst = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->ev[i].type != FR_REC_COUNTER)
            continue;
        assert_int_equal(t->ev[i].id, k);
        int64_t lo = (int64_t)t->ev[i].ts - (int64_t)s[k].before;
        int64_t hi = (int64_t)s[k].after - (int64_t)t->ev[i].ts;
        int64_t off = lo < 0 ? -lo : hi < 0 ? -hi : 0;
        worst = off > worst ? off : worst;
        k++;
    }
    assert_int_equal(k, 100);
    print_message("clock source %s: worst offset outside [before, after]: %lld ns\n",
                  fr__clock_use_tsc ? "tsc" : "monotonic", (long long)worst);
    assert_true(worst <= 50000);
    trace_proc_free(&p);
}

int main(void)
{
    fr_init("test_clock");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_convert_interpolates_and_extrapolates),
        cmocka_unit_test(test_clock_convert_is_monotonic_across_points),
        cmocka_unit_test(test_clock_agrees_with_monotonic_within_50us_over_10s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
