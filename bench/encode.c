/* encode.c - bench-encode: how fast the trace encoders turn a decoded
 * window into bytes, on one core (`bench-encode [--reps N] [--cpu N]`).
 *
 * Input: a synthetic trace_proc the size of an 8 MiB window of ring data,
 * 8 threads x 65536 region events (begin/end, nested up to 3 deep, 16
 * names, 50-2000 ns apart); a second, mixed one has a log (40 bytes) or a
 * counter in place of one region pair in ten. Output goes to a sink that
 * only counts bytes, so what is measured is the encoding step alone: the
 * window pass, the per-event loop and the buffered writer.
 *
 * Prints the best and the median repetition as ns per event and events
 * per second, against the target of 40 M events/s for the Perfetto
 * encoder, next to a pass that only reads the events: the floor set by
 * memory bandwidth, which any encoder pays once. Never fails on the numbers (noisy, shared
 * machines); exits non-zero only when an encoder reports an error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/harness.h"
#include "common/json.h"
#include "common/perfetto.h"

#define THREADS             8
#define EVENTS_PER_THREAD   65536
#define NAMES               16
#define TARGET_EVENTS_PER_S 40e6

static const char *const names[NAMES] = {
    "handle_request", "parse",       "db.query", "cache.get", "serialize", "auth.check",
    "queue.push",     "queue.pop",   "render",   "compress",  "tls.write", "log.flush",
    "route",          "json.decode", "validate", "respond",
};

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s >> 33;
}

/* strings 0..NAMES-1 plus "bench" and "depth"; text holds log messages */
static void build(struct trace_proc *p, int mixed)
{
    memset(p, 0, sizeof *p);
    p->pid = 4242;
    snprintf(p->name, sizeof p->name, "bench-encode");
    p->clock.mono_ns = 5000000000000ull;
    p->clock.boot_ns = p->clock.mono_ns + 1234567;
    p->clock.real_ns = 1790000000000000000ull;
    p->nstrs = NAMES + 2;
    p->strs = calloc(p->nstrs, sizeof *p->strs);
    p->strtext = malloc(64 * p->nstrs);
    size_t used = 0;
    for (uint32_t i = 0; i < p->nstrs; i++) {
        const char *s = i < NAMES ? names[i] : i == NAMES ? "bench" : "depth";
        p->strs[i].off = (uint32_t)used;
        p->strs[i].len = (uint32_t)strlen(s);
        memcpy(p->strtext + used, s, strlen(s) + 1);
        used += strlen(s) + 1;
    }
    static const char msg[] = "request 1234 served from cache in 17 us.";
    p->text = malloc(sizeof msg);
    memcpy(p->text, msg, sizeof msg);
    p->text_len = sizeof msg - 1;

    p->nthreads = THREADS;
    p->threads = calloc(THREADS, sizeof *p->threads);
    p->events = calloc((size_t)THREADS * EVENTS_PER_THREAD, sizeof *p->events);
    uint64_t seed = 42;
    for (size_t t = 0; t < THREADS; t++) {
        struct trace_thread *th = &p->threads[t];
        th->tid = p->pid + (uint32_t)t;
        snprintf(th->name, sizeof th->name, "worker-%zu", t);
        th->ev = p->events + t * EVENTS_PER_THREAD;
        uint64_t ts = p->clock.mono_ns - 2000000000ull;
        th->claim_ns = ts;
        uint32_t stack[4], depth = 0;
        for (size_t k = 0; k < EVENTS_PER_THREAD; k++) {
            struct trace_event *e = &th->ev[th->n++];
            ts += 50 + lcg(&seed) % 1950;
            e->ts = ts;
            size_t left = EVENTS_PER_THREAD - k;
            if (depth && (depth == 3 || left <= depth || lcg(&seed) % 2)) {
                e->type = FR_REC_REGION_END;
                e->name = stack[--depth];
                e->arg = (uint16_t)depth;
            } else if (mixed && depth == 0 && left > 4 && lcg(&seed) % 10 == 0) {
                if (lcg(&seed) % 2) {
                    e->type = FR_REC_LOG;
                    e->name = NAMES; /* "bench" */
                    e->text_len = (uint32_t)p->text_len;
                    e->arg = (uint16_t)p->text_len;
                } else {
                    e->type = FR_REC_COUNTER;
                    e->name = NAMES + 1;
                    e->id = lcg(&seed) % 100;
                }
            } else {
                e->type = FR_REC_REGION_BEGIN;
                e->name = (uint32_t)(lcg(&seed) % NAMES);
                e->arg = (uint16_t)depth;
                stack[depth++] = e->name;
            }
        }
    }
}

static int count_bytes(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    *(uint64_t *)ctx += len;
    return 0;
}

typedef int (*encode_fn)(const struct window_input *, size_t, const struct enc_sink *, size_t);

/* The floor: one pass that only reads every event, as any encoder must.
 * Where memory is slow this is most of an encoder's time. */
static volatile uint64_t read_sink;
static int read_pass(const struct window_input *in, size_t n, const struct enc_sink *sink,
                     size_t chunk)
{
    (void)chunk;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < in[i].proc->nthreads; t++) {
            const struct trace_thread *th = &in[i].proc->threads[t];
            for (size_t k = 0; k < th->n; k++)
                acc += th->ev[k].ts ^ th->ev[k].type ^ th->ev[k].name;
        }
    read_sink = acc;
    return sink->write(sink->ctx, "", 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs reps encodings; returns 0 and the best and median ns per event. */
static int measure(encode_fn fn, const struct trace_proc *p, unsigned reps, double *best,
                   double *median, uint64_t *bytes)
{
    size_t events = 0;
    for (size_t t = 0; t < p->nthreads; t++)
        events += p->threads[t].n;
    struct window_input in = {p, 0, 0};
    double *v = malloc(reps * sizeof *v);
    for (unsigned r = 0; r < reps; r++) {
        *bytes = 0;
        struct enc_sink sink = {count_bytes, bytes};
        uint64_t t0 = bench_now_ns();
        int err = fn(&in, 1, &sink, 0);
        uint64_t t1 = bench_now_ns();
        if (err < 0) {
            fprintf(stderr, "encoder failed: %d\n", err);
            free(v);
            return err;
        }
        v[r] = (double)(t1 - t0) / (double)events;
    }
    qsort(v, reps, sizeof *v, cmp_double);
    *best = v[0];
    *median = v[reps / 2];
    free(v);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.iters = 1, .reps = 15, .cpu = -1};
    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&o, argc, argv, &i);
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "usage: bench-encode [--reps N] [--cpu N]\n");
            return 2;
        }
    }
    if (o.cpu >= 0 && bench_pin(o.cpu) < 0)
        fprintf(stderr, "bench-encode: cannot pin to CPU %d, running unpinned\n", o.cpu);

    static const struct {
        const char *label;
        encode_fn fn;
    } encoders[] = {{"perfetto", perfetto_encode}, {"json", json_encode}, {"read-only", read_pass}};
    printf("bench-encode: %d threads x %d events (an 8 MiB window of ring data), "
           "one core, %u reps\n",
           THREADS, EVENTS_PER_THREAD, o.reps);
    printf("%-9s %-8s %10s %10s %14s %10s %8s  %s\n", "encoder", "input", "best ns/ev", "median",
           "best events/s", "output", "B/event", "vs 40 M events/s");
    int status = 0;
    for (int mixed = 0; mixed < 2; mixed++) {
        struct trace_proc p;
        build(&p, mixed);
        for (size_t k = 0; k < sizeof encoders / sizeof encoders[0]; k++) {
            double best, median;
            uint64_t bytes;
            if (measure(encoders[k].fn, &p, o.reps, &best, &median, &bytes) < 0) {
                status = 1;
                continue;
            }
            double rate = 1e9 / best;
            const char *verdict = "";
            if (k == 0)
                verdict = rate >= TARGET_EVENTS_PER_S ? "ok" : "MISS";
            printf("%-9s %-8s %10.2f %10.2f %13.1fM %9.1fM %8.1f  %s (%.2fx)\n", encoders[k].label,
                   mixed ? "mixed" : "regions", best, median, rate / 1e6, (double)bytes / 1e6,
                   (double)bytes / (THREADS * EVENTS_PER_THREAD), verdict,
                   rate / TARGET_EVENTS_PER_S);
        }
        trace_proc_free(&p);
    }
    return status;
}
