/* fuzz_reader.c - libFuzzer target for common/reader.c.
 *
 * The input is the bytes of a process's region as another process could
 * leave them. We copy it into a page-aligned buffer of exactly its size
 * (the reader does 8-byte atomic loads and a mapping is page-aligned; an
 * exact size lets ASan see any read past the end), decode it with a few
 * option sets and then touch every byte the trace points at, so that a
 * bad offset or length in the result shows up here rather than in the
 * daemon. Beyond memory safety we check the contracts of trace.h that the
 * encoders rely on (events in time order, log text inside trace.text,
 * strings NUL-terminated), and that decoding into memory kept from earlier
 * inputs (reader_read_buf()) gives what a fresh decode gives, and abort
 * when one breaks.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt) and
 * with the replay driver fuzz_replay.c for builds without libFuzzer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the touched values go, so the compiler cannot drop the reads. */
static volatile uint64_t sink;

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_reader: broken contract: %s (%s:%d)\n", what, __FILE__,          \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t touch_bytes(const char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31 + (unsigned char)p[i];
    return s;
}

static uint64_t touch_str(const struct trace_proc *p, uint32_t id)
{
    uint32_t len;
    const char *s = trace_str(p, id, &len);
    CHECK(len <= FR_ABI_STR_MAX, "string longer than FR_ABI_STR_MAX");
    /* len bytes and the NUL after them: encoders print with %.*s or %s. */
    CHECK(s[len] == 0, "string not NUL-terminated");
    return touch_bytes(s, len) + len;
}

static uint64_t touch_event(const struct trace_proc *p, const struct trace_event *e)
{
    uint64_t s = e->ts ^ e->id ^ e->parent ^ e->task ^ e->start_ts;
    s += e->type + e->flags + e->arg + e->text_off + e->text_len;
    s += touch_str(p, e->name);
    if (e->type == FR_REC_LOG) {
        CHECK(e->text_len <= FR_ABI_LOG_MAX, "log longer than FR_ABI_LOG_MAX");
        CHECK(e->text_off <= p->text_len && e->text_len <= p->text_len - e->text_off,
              "log text outside trace.text");
        s += touch_bytes(p->text + e->text_off, e->text_len);
    }
    return s;
}

static uint64_t touch_proc(const struct trace_proc *p)
{
    uint64_t s = p->pid + p->state + (uint32_t)p->exit_status;
    s += p->clock.mono_ns ^ p->clock.real_ns ^ p->clock.boot_ns;
    s += p->dropped_no_ring + p->dropped_nested + p->rings_evicted + p->strtab_overflow;
    s += p->errors;
    CHECK(memchr(p->name, 0, sizeof p->name) != NULL, "process name not NUL-terminated");
    s += touch_bytes(p->name, strlen(p->name));
    for (uint32_t i = 0; i < p->nstrs; i++)
        s += touch_str(p, i);
    s += touch_bytes(p->text, p->text_len);
    for (size_t t = 0; t < p->nthreads; t++) {
        const struct trace_thread *th = &p->threads[t];
        CHECK(memchr(th->name, 0, sizeof th->name) != NULL, "thread name not NUL-terminated");
        s += th->tid + th->state + th->claim_ns + th->exit_ns + th->dropped;
        s += touch_bytes(th->name, strlen(th->name));
        for (size_t k = 0; k < th->n; k++) {
            if (k)
                CHECK(th->ev[k].ts >= th->ev[k - 1].ts, "thread's events out of time order");
            s += touch_event(p, &th->ev[k]);
        }
    }
    return s;
}

/* Kept from one input to the next, as the daemon keeps it from one
 * process to the next: what an earlier region left in it must not show. */
static struct reader_buf reused, streamed;

static bool same_event(const struct trace_proc *p, const struct trace_event *a,
                       const struct trace_proc *q, const struct trace_event *b)
{
    if (a->ts != b->ts || a->type != b->type || a->flags != b->flags || a->arg != b->arg ||
        a->name != b->name || a->id != b->id || a->parent != b->parent || a->task != b->task ||
        a->start_ts != b->start_ts || a->text_len != b->text_len)
        return false;
    /* a log's text, wherever each put it */
    return a->type != FR_REC_LOG ||
           memcmp(p->text + a->text_off, q->text + b->text_off, a->text_len) == 0;
}

/* One thread at a time (the daemon's way) keeps the contracts, and
 * reads what a whole read does (whole, of the same static region) when
 * both list the same threads: a ring the head lists may turn out
 * unreadable (a writer that never finishes a record it has lapped), and
 * then reads as a thread with no events that a whole read leaves out. */
static void read_streamed(const struct reader *r, const struct reader_opts *o,
                          const struct trace_proc *whole)
{
    struct trace_proc h;
    if (reader_read_head(r, o, &streamed, &h) < 0)
        return;
    bool same = h.nthreads == whole->nthreads;
    for (uint32_t i = 0; i < h.nthreads; i++) {
        if (reader_read_thread(r, &streamed, &h, i) < 0)
            return;
        const struct trace_thread *t = &h.threads[i], *w = &whole->threads[i];
        CHECK(memchr(t->name, 0, sizeof t->name) != NULL, "thread name not NUL-terminated");
        for (size_t k = 0; k < t->n; k++) {
            if (k)
                CHECK(t->ev[k].ts >= t->ev[k - 1].ts, "thread's events out of time order");
            sink += touch_event(&h, &t->ev[k]);
        }
        if (!same)
            continue;
        CHECK(t->tid == w->tid && t->n == w->n, "a thread read alone differs");
        for (size_t k = 0; k < t->n; k++)
            CHECK(same_event(&h, &t->ev[k], whole, &w->ev[k]), "an event read alone differs");
        if (i > 0)
            CHECK(h.threads[i - 1].n == 0, "the thread before is still there");
    }
    if (same) {
        CHECK(h.ring_bytes == whole->ring_bytes, "head counts other ring bytes");
        CHECK(h.errors == whole->errors, "errors counted alone differ");
    }
}

static void read_once(const struct reader *r, const struct reader_opts *o)
{
    struct trace_proc p, q;
    if (reader_read(r, o, &p) < 0)
        return; /* -ENOMEM: only allowed to fail, never to half-fill */
    uint64_t s = touch_proc(&p);
    sink += s;
    if (!o || !o->last_ns)
        read_streamed(r, o, &p);
    trace_proc_free(&p);
    if (reader_read_buf(r, o, &reused, &q) < 0)
        return;
    CHECK(touch_proc(&q) == s, "reader_read_buf() differs from reader_read()");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = NULL;
    /* At least one byte so that an empty input still has a valid base. */
    if (posix_memalign(&buf, 4096, size ? size : 1) != 0)
        return 0;
    memcpy(buf, data, size);

    struct reader r;
    if (reader_open(&r, buf, size) == 0) {
        /* The option sets take different paths: the whole region; a
         * window ending at the newest event (skips old events after they
         * were decoded); a byte budget smaller than one ring (cuts copies
         * short, often inside a record). */
        const struct reader_opts opts[] = {
            {.last_ns = 1000000},
            {.max_bytes = 1000},
            {.from_ns = UINT64_MAX / 2, .max_bytes = 4096},
        };
        read_once(&r, NULL);
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
            read_once(&r, &opts[i]);
        sink += reader_newest(&r);
        /* The clock's ends: extrapolation far outside the calibration. */
        sink += reader_clock_convert(&r.clock, 0) ^ reader_clock_convert(&r.clock, UINT64_MAX);
    }
    free(buf);
    return 0;
}
