/* fillapp.c - a writer that fills its trace buffers and then holds still
 * or keeps writing steadily, for the daemon benchmark
 * (bench/daemon_bench.py) and the trigger benchmark
 * (bench/trigger_bench.py).
 *
 * bench-fillapp [--name NAME] [--threads T] [--events N] [--rate R]
 *               [--slow-ms S] [--then pause|exit|serve]
 *
 * Each of T threads (named "w0".."w{T-1}") records N events as nested
 * regions, "handle_request" around "db.query" (4 events per iteration),
 * as fast as it can, then waits. When every thread is done it prints
 * "ready <pid>" and, with --then pause (the default), keeps all threads
 * alive until SIGTERM or SIGINT, so that the buffers stay full, wrapped
 * and owned by running threads; --then exit returns at once.
 *
 * With --rate R the threads do not hold still after the fill: each keeps
 * recording R events (R/4 iterations) per millisecond, a steady workload
 * whose last seconds are always in the buffers. With --then serve the
 * main thread then serves requests from stdin: for each line read, one
 * slow request, a task "GET /orders" of S ms (default 10), after which it
 * prints "fired <k> <mono_ns>", CLOCK_MONOTONIC read just before the call
 * that ends the task (and may fire a trigger); it returns at end of input.
 *
 * Built twice from this file (bench/daemon.cmake):
 * - bench-fillapp records with libflightrec. The caller sizes the rings
 *   with FLIGHTREC_RING_BYTES and asks for enough events to wrap them:
 *   a region begin or end is one 16-byte unit, so 2 x ring / 16 events
 *   fill a ring twice over. A slow request is fr_task_begin(), a region
 *   "handle", fr_task_end(): a rule on the task fires in fr_task_end().
 * - bench-fillapp-lttng (FILL_LTTNG) fires the equivalent LTTng-UST
 *   tracepoints of bench/lttng_tp.h (flightrec_bench:region_begin/_end,
 *   the name as a string) into whatever session is enabled. It waits until
 *   they are enabled (exit 3 if they never are) and pins thread i to the
 *   i-th allowed CPU, so that every per-CPU buffer is written. A slow
 *   request ends with flightrec_bench:task_end carrying its name and
 *   duration, which an LTTng trigger can match.
 * Two executables, one loop: liblttng-ust never shares a process with
 * libflightrec, and both write the same events.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef FILL_LTTNG
#include "bench/lttng_tp.h"
#define REGION_BEGIN(name) lttng_ust_tracepoint(flightrec_bench, region_begin, name)
#define REGION_END(name)   lttng_ust_tracepoint(flightrec_bench, region_end, name)
#else
#include <flightrec.h>
#define REGION_BEGIN(name) fr_region_begin(name)
#define REGION_END(name)   fr_region_end() /* ends the innermost: no name */
#endif

#define THREADS_MAX 64
#define TASK_NAME   "GET /orders"

static uint64_t iterations; /* per thread; 4 events each */
static unsigned rate;       /* events per ms per thread after the fill; 0: hold still */
static pthread_barrier_t done;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

#ifdef FILL_LTTNG
/* task_end too when serving: enabled by the session or by a trigger. */
static int enabled(int serving)
{
    return lttng_ust_tracepoint_enabled(flightrec_bench, region_begin) &&
           lttng_ust_tracepoint_enabled(flightrec_bench, region_end) &&
           (!serving || lttng_ust_tracepoint_enabled(flightrec_bench, task_end));
}

/* liblttng-ust's constructor normally waits for the session daemon to
 * enable our events; allow for a slow one anyway. */
static int wait_enabled(int serving, int ms)
{
    for (int waited = 0; !enabled(serving); waited += 10) {
        if (waited >= ms)
            return 0;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return 1;
}

/* Pins the caller to the i-th CPU it may run on (wrapping around). */
static void pin_nth(int i)
{
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) < 0 || CPU_COUNT(&all) == 0)
        return;
    int want = i % CPU_COUNT(&all);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &all) && want-- == 0) {
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}
#endif

static void record(uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        REGION_BEGIN("handle_request");
        REGION_BEGIN("db.query");
        REGION_END("db.query");
        REGION_END("handle_request");
    }
}

static void *writer(void *arg)
{
    int i = (int)(intptr_t)arg;
#ifdef FILL_LTTNG
    pin_nth(i);
#else
    char name[16];
    snprintf(name, sizeof name, "w%d", i);
    fr_thread_name(name);
#endif
    record(iterations);
    pthread_barrier_wait(&done);
    /* Hold the ring (flightrec gives a ring back when its thread exits).
     * Every signal is blocked here, so this sleeps until the process
     * ends. */
    while (rate == 0)
        pause();
    /* Steady: deadlines are absolute, so a late wakeup catches up and the
     * rate holds on average. */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        record(rate / 4);
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    return NULL;
}

/* One slow request of slow_ms. Returns CLOCK_MONOTONIC read just before
 * the call that ends it: what follows, the library's check and its
 * trigger, counts in the latency measured from there. */
static uint64_t slow_request(long slow_ms)
{
    uint64_t end;
#ifdef FILL_LTTNG
    uint64_t begin = mono_ns();
    sleep_ms(slow_ms);
    end = mono_ns();
    lttng_ust_tracepoint(flightrec_bench, task_end, TASK_NAME, end - begin);
#else
    fr_task_id t = fr_task_begin(TASK_NAME);
    fr_region_begin("handle");
    sleep_ms(slow_ms);
    fr_region_end();
    end = mono_ns();
    fr_task_end(t);
#endif
    return end;
}

/* Serves a slow request per line of stdin until its end. */
static void serve(long slow_ms)
{
    char line[64];
#ifndef FILL_LTTNG
    fr_thread_name("server");
#endif
    for (unsigned long k = 1; fgets(line, sizeof line, stdin); k++) {
        uint64_t t = slow_request(slow_ms);
        printf("fired %lu %llu\n", k, (unsigned long long)t);
        fflush(stdout);
    }
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench-fillapp [--name NAME] [--threads 1..%d] [--events N] [--rate R] "
            "[--slow-ms S] [--then pause|exit|serve]\n",
            THREADS_MAX);
    return 2;
}

int main(int argc, char **argv)
{
    const char *name = "bench-fillapp", *then = "pause";
    int threads = 8;
    unsigned long long events = 131072;
    long slow_ms = 10;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--events") == 0)
            events = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--slow-ms") == 0)
            slow_ms = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--then") == 0)
            then = argv[i + 1];
        else
            return usage();
    }
    int serving = strcmp(then, "serve") == 0;
    if (threads < 1 || threads > THREADS_MAX || events < 4 || (rate > 0 && rate < 4) ||
        rate > 1000000 || slow_ms < 1 || slow_ms > 60000 ||
        (strcmp(then, "pause") != 0 && strcmp(then, "exit") != 0 && !serving))
        return usage();
    iterations = events / 4;

    /* Workers inherit the mask: only main takes SIGTERM/SIGINT, in sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

#ifdef FILL_LTTNG
    (void)name;
    if (!wait_enabled(serving, 5000)) {
        fprintf(stderr, "bench-fillapp-lttng: flightrec_bench:region_*%s not enabled\n",
                serving ? " or task_end" : "");
        return 3;
    }
#else
    int err = fr_init(name);
    if (err < 0) {
        fprintf(stderr, "bench-fillapp: fr_init: %s\n", strerror(-err));
        return 1;
    }
#endif
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
    pthread_t th[THREADS_MAX];
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "bench-fillapp: cannot start thread %d\n", i);
            return 1;
        }
    }
    pthread_barrier_wait(&done);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (serving) {
        /* The workers keep SIGTERM blocked; here it ends the process. */
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
        serve(slow_ms);
    } else if (strcmp(then, "pause") == 0) {
        int sig;
        sigwait(&stop, &sig);
    }
    /* exit() ends the paused writers with the process. */
    return 0;
}
