/* harness.h - timing and process plumbing shared by the hot-path benchmarks.
 *
 * A measurement is a loop function that runs `iters` iterations of one
 * call and returns the elapsed CLOCK_MONOTONIC nanoseconds. A repetition
 * of a measurement is timed in chunks of about a millisecond, shorter than
 * a scheduler time slice, and each chunk is one sample; a chunk during
 * which the thread was switched out (getrusage(RUSAGE_THREAD) counts it)
 * is marked unclean. The result is the best clean sample: on a shared VM
 * noise only ever adds time, and when other work keeps both CPUs busy
 * whole repetitions are never undisturbed, while many of their chunks are.
 * Repetitions of different measurements are interleaved, so that a slow
 * phase of the machine hits every measurement alike.
 *
 * Children (the FLIGHTREC_DISABLE=1 run, the LTTng runs) print their
 * results as "key best median" lines on stdout; bench_result_get() reads
 * them.
 */
#ifndef FR_BENCH_HARNESS_H
#define FR_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every measured call records, the same for flightrec and LTTng: a
 * literal region name, a log category and a 40-byte message. */
#define BENCH_REGION_NAME  "bench.region"
#define BENCH_LOG_CATEGORY "bench"
#define BENCH_COUNTER_NAME "bench.counter"
#define BENCH_MSG40        "request 1234 served from cache in 17 us."
_Static_assert(sizeof(BENCH_MSG40) == 41, "the log message must be 40 bytes");

#define BENCH_CHUNK_NS 1000000u /* aimed length of one timed chunk */

/* Options shared by bench-hotpath and its children. */
struct bench_opts {
    uint64_t iters; /* iterations per repetition */
    unsigned reps;  /* repetitions */
    int cpu;        /* CPU to pin the measuring thread to; -1: none */
};

/* Parses "--iters N", "--reps N", "--cpu N" at argv[*i] (advancing *i).
 * Returns 1 when it took the option, 0 when it is not one of these, -1
 * (message on stderr) when the value is bad. */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, int *i);

/* Returns elapsed ns for `iters` iterations. */
typedef uint64_t (*bench_loop_fn)(uint64_t iters);

struct bench_meas {
    const char *key; /* borrows: short name, also the child protocol key */
    bench_loop_fn loop;
    uint64_t iters;  /* iterations per repetition */
    unsigned events; /* events per iteration (2 for begin + end) */
    uint64_t chunk;  /* iterations per timed chunk, from bench_calibrate() */
};

/* Samples of one measurement, ns per event. */
struct bench_stats {
    double *v; /* owns */
    size_t n, cap;
    double best_clean; /* < 0 until a clean sample came */
    double best_any;
    size_t clean;
};

uint64_t bench_now_ns(void);

/* The baseline: `iters` bare rdtsc instructions, each value added into a
 * volatile sink so that none can be dropped. */
uint64_t bench_loop_rdtsc(uint64_t iters);

/* Warms m up on the calling thread (ring claim, interning, page faults of
 * a whole ring) and sizes its chunks to about BENCH_CHUNK_NS. */
void bench_calibrate(struct bench_meas *m);

/* Times one chunk of m on the calling thread: ns per event; *clean is
 * false when the thread was switched out meanwhile. */
double bench_chunk(const struct bench_meas *m, bool *clean);

/* One repetition of m (iters / chunk chunks) into st. */
void bench_rep(const struct bench_meas *m, struct bench_stats *st);

/* Calibrates each of m[0..n) and runs `reps` interleaved repetitions of
 * them into st[0..n). */
void bench_run(struct bench_meas *m, struct bench_stats *st, size_t n, unsigned reps);

void bench_stats_add(struct bench_stats *st, double ns, bool clean);
/* The best clean sample, else the best of all; -1 when there are none. */
double bench_stats_best(const struct bench_stats *st);
/* The median of all samples, clean or not: how noisy the machine was. */
double bench_stats_median(struct bench_stats *st);
void bench_stats_fini(struct bench_stats *st);

/* Pins the calling thread to one CPU. Returns 0 or -errno. */
int bench_pin(int cpu);

/* The first `want` CPUs this process may run on, in out[]; returns how
 * many were found (0 when the affinity mask cannot be read). */
int bench_cpus(int *out, int want);

/* True when CPUID says the TSC is invariant, the condition under which
 * libflightrec timestamps with rdtsc instead of clock_gettime(). */
bool bench_tsc_invariant(void);

/* Runs argv[0] (a path, or a name looked up in PATH) with the current
 * environment plus env_add ("NAME=value" entries, NULL-terminated, which
 * replace variables of the same name; NULL adds nothing). Collects stdout
 * (and stderr too when merge_stderr) into out, NUL-terminated and cut at
 * cap - 1 bytes; kills the child after timeout_ms. Returns its exit status
 * (0-255), 128 + the signal that ended it, or -errno when it could not be
 * run. */
int bench_spawn(const char *const argv[], const char *const env_add[], bool merge_stderr,
                int timeout_ms, char *out, size_t cap);

/* Reads "key best median" from a child's output; false when absent. */
bool bench_result_get(const char *out, const char *key, double *best, double *median);

/* The first line of s, trimmed, in buf (for "n/a (reason)" messages). */
const char *bench_first_line(const char *s, char *buf, size_t cap);

#endif
