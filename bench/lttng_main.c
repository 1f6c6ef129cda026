/* lttng_main.c - bench-hotpath-lttng: times LTTng-UST tracepoints doing
 * what the flightrec calls of bench-hotpath do (bench/lttng_tp.h).
 *
 * Run by bench-hotpath, twice: with no session (--expect off: the
 * disabled-tracepoint cost) and while a snapshot session records
 * flightrec_bench:* (--expect on: the enabled cost, into per-UID overwrite
 * buffers that wrap like flightrec's rings). A separate executable so that
 * liblttng-ust, its constructor and its listener threads never share a
 * process with the flightrec measurements.
 *
 * Prints "key best median" lines (ns per event) for bench-hotpath to read;
 * exits 3 when the tracepoints are not in the expected state.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lttng/ust-version.h>

#include "bench/harness.h"
#include "bench/lttng_tp.h"

static const char msg40[] = BENCH_MSG40;

static uint64_t loop_region(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        lttng_ust_tracepoint(flightrec_bench, region_begin, BENCH_REGION_NAME);
        lttng_ust_tracepoint(flightrec_bench, region_end, BENCH_REGION_NAME);
    }
    return bench_now_ns() - t0;
}

static uint64_t loop_log(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        lttng_ust_tracepoint(flightrec_bench, log, BENCH_LOG_CATEGORY, msg40);
    return bench_now_ns() - t0;
}

static uint64_t loop_counter(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        lttng_ust_tracepoint(flightrec_bench, counter, (int64_t)i);
    return bench_now_ns() - t0;
}

static bool all_enabled(void)
{
    return lttng_ust_tracepoint_enabled(flightrec_bench, region_begin) &&
           lttng_ust_tracepoint_enabled(flightrec_bench, region_end) &&
           lttng_ust_tracepoint_enabled(flightrec_bench, log) &&
           lttng_ust_tracepoint_enabled(flightrec_bench, counter);
}

static bool any_enabled(void)
{
    return lttng_ust_tracepoint_enabled(flightrec_bench, region_begin) ||
           lttng_ust_tracepoint_enabled(flightrec_bench, region_end) ||
           lttng_ust_tracepoint_enabled(flightrec_bench, log) ||
           lttng_ust_tracepoint_enabled(flightrec_bench, counter);
}

/* The constructor of liblttng-ust normally waits until the session
 * daemon has enabled our events; allow for a slow daemon anyway. */
static bool wait_enabled(int ms)
{
    for (int waited = 0; !all_enabled(); waited += 10) {
        if (waited >= ms)
            return false;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return true;
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.iters = 1000000, .reps = 7, .cpu = -1};
    int expect = -1;

    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            i++;
            expect = strcmp(argv[i], "on") == 0 ? 1 : strcmp(argv[i], "off") == 0 ? 0 : -1;
        }
        if (expect < 0) {
            fprintf(stderr, "usage: %s --expect on|off [--iters N] [--reps N] [--cpu N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (expect < 0) {
        fprintf(stderr, "%s: --expect on|off is required\n", argv[0]);
        return 2;
    }
    printf("lttng_ust_version %s\n", LTTNG_UST_VERSION);
    if (expect == 1 && !wait_enabled(5000)) {
        printf("error the session did not enable the flightrec_bench tracepoints\n");
        return 3;
    }
    if (expect == 0 && any_enabled()) {
        printf("error another session has enabled flightrec_bench tracepoints\n");
        return 3;
    }
    if (o.cpu >= 0)
        bench_pin(o.cpu);

    struct bench_meas m[] = {
        {"rdtsc", bench_loop_rdtsc, o.iters, 1, 0},
        {"region", loop_region, o.iters, 2, 0},
        {"log", loop_log, o.iters, 1, 0},
        {"counter", loop_counter, o.iters, 1, 0},
    };
    struct bench_stats st[sizeof m / sizeof m[0]] = {{0}};
    bench_run(m, st, sizeof m / sizeof m[0], o.reps);
    /* Still in the state measured: a session torn down mid-run would have
     * measured something else. */
    if (expect == 1 ? !all_enabled() : any_enabled()) {
        printf("error the tracepoints changed state during the run\n");
        return 3;
    }
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        printf("%s %.4f %.4f\n", m[i].key, bench_stats_best(&st[i]), bench_stats_median(&st[i]));
        bench_stats_fini(&st[i]);
    }
    return 0;
}
