/* gen_reader_corpus.c - writes the seed corpus of fuzz_reader.
 *
 * Seeds made by hand miss what the library really writes, so this records
 * with libflightrec itself: every event type, tasks moving between
 * threads, a log cut at FR_ABI_LOG_MAX, a ring that wrapped (its first
 * units are the tail of an overwritten record), exited rings reused
 * (rings_evicted) and a thread that found no ring (dropped_no_ring), once
 * with the TSC clock and once with CLOCK_MONOTONIC after fr_shutdown().
 * Rings are tiny (FLIGHTREC_RING_BYTES=4096, FLIGHTREC_MAX_THREADS=4) but
 * the string table is not, so a region is ~600 KiB of mostly zeros; next
 * to one such region we write "compact" copies laid out again with a
 * string table just big enough (the reader accepts any layout that fits),
 * which the fuzzer mutates far more usefully. Then a few edge cases made
 * from the compact region: empty, header only, bad magic, unknown major,
 * huge counts, a layout too big for the file, a writer caught mid-record,
 * every table inside the header; and the inputs that once broke the
 * reader (crash-*), rebuilt from the fields that did it.
 *
 * Each recording runs in a forked child: a process has one region, and
 * the environment is read when it is created.
 *
 * Usage: fuzz_reader_gen OUTDIR   (tests/fuzz/corpus/reader to refresh the
 * committed seeds; leaves other files there alone).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flightrec.h>

#include "common/reader.h"
#include "lib/proc.h"

#define FLOW_BASE 0xf10f0000u
#define WORKERS   3

static fr_task_id request, subrequest;
/* all_live: main and every worker own a ring; released: the orphan ran;
 * short_gone: worker 2 exited first, so it is the one evicted later. */
static pthread_barrier_t all_live, released, short_gone;

/* ---- the recording ---- */

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    char name[32];
    snprintf(name, sizeof name, "worker-%d", i);
    fr_thread_name(name);
    fr_task_attach(request);
    fr_flow_end(FLOW_BASE + i);
    fr_region_begin("work");
    fr_wait_begin(FR_WAIT_IO, "disk");
    fr_wait_end();
    fr_logf("worker", "%s picked up task %llu", name, (unsigned long long)request.id);
    fr_counter("busy_workers", i + 1);
    fr_region_end();
    fr_task_detach();
    if (i == 1)
        fr_task_end(subrequest); /* a task ended on another thread than its own */
    if (i == 0) {
        /* Far more than 256 units: the ring wraps several times. */
        for (int k = 0; k < 120; k++) {
            fr_region_begin("spin");
            fr_logf("spin", "iteration %d of a ring that wraps", k);
            fr_region_end();
        }
    }
    pthread_barrier_wait(&all_live);
    pthread_barrier_wait(&released);
    if (i != WORKERS - 1)
        pthread_barrier_wait(&short_gone);
    return NULL;
}

static void *late(void *arg)
{
    (void)arg;
    char name[64];
    /* Longer than the ring keeps (47 bytes), and not a literal: the
     * slow intern path. */
    snprintf(name, sizeof name, "late-%d-with-a-name-longer-than-forty-seven-bytes", 0);
    fr_thread_name(name);
    fr_region_begin(name);
    fr_counter("late", -1);
    fr_region_end();
    return NULL;
}

static void *orphan(void *arg)
{
    (void)arg;
    fr_region_begin("never recorded"); /* every ring has a live owner */
    fr_region_end();
    return NULL;
}

static void record(void)
{
    char longmsg[2000];
    memset(longmsg, 'L', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;

    fr_thread_name("main");
    request = fr_task_begin("request");
    subrequest = fr_task_begin_child(request, "subrequest");
    fr_region_begin("outer");
    fr_region_begin("inner");
    fr_counter("depth", 42);
    fr_counter("delta", -7);
    fr_log("http", "short message");
    fr_log("http", "");
    fr_log("big", longmsg); /* cut at FR_ABI_LOG_MAX and flagged */
    static const enum fr_wait kinds[] = {FR_WAIT_LOCK, FR_WAIT_IO, FR_WAIT_NET, FR_WAIT_SYSCALL,
                                         FR_WAIT_OTHER};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fr_wait_begin(kinds[k], "resource");
        fr_wait_end();
    }
    for (int i = 0; i < WORKERS; i++)
        fr_flow_begin(FLOW_BASE + i);
    fr_region_end();

    /* Four rings: main and three workers own them all, so the orphan's
     * events are dropped; then worker 2 exits first and the late thread
     * evicts its ring, keeping the other workers' data. */
    pthread_t th[WORKERS], lone;
    pthread_barrier_init(&all_live, NULL, WORKERS + 1);
    pthread_barrier_init(&released, NULL, WORKERS + 1);
    pthread_barrier_init(&short_gone, NULL, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    pthread_barrier_wait(&all_live);
    pthread_create(&lone, NULL, orphan, NULL);
    pthread_join(lone, NULL);
    pthread_barrier_wait(&released);
    pthread_join(th[WORKERS - 1], NULL);
    pthread_barrier_wait(&short_gone);
    for (int i = 0; i < WORKERS - 1; i++)
        pthread_join(th[i], NULL);
    pthread_create(&lone, NULL, late, NULL);
    pthread_join(lone, NULL);

    fr_region_end();
    fr_task_end(request);
}

/* ---- reading it back ---- */

/* A copy of the process's region, from the library's own state (the
 * generator links the static library); how another process finds the
 * memfd is what tools/demo.c shows. */
static int copy_region(uint8_t **out, size_t *size)
{
    if (!fr__proc.base)
        return -ENOENT;
    *size = fr__proc.size;
    *out = malloc(*size);
    if (!*out)
        return -ENOMEM;
    memcpy(*out, fr__proc.base, *size);
    return 0;
}

/* Decodes a region as the daemon would and fails unless it holds what
 * record() wrote: the seeds must reach every decoder path. */
static int check_region(const char *label, const uint8_t *base, size_t size)
{
    void *buf;
    if (posix_memalign(&buf, 4096, size) != 0)
        return -ENOMEM;
    memcpy(buf, base, size);
    struct reader r;
    struct trace_proc p;
    int err = reader_open(&r, buf, size);
    if (err == 0)
        err = reader_read(&r, NULL, &p);
    if (err < 0) {
        fprintf(stderr, "fuzz_reader_gen: %s: unreadable: %s\n", label, strerror(-err));
        free(buf);
        return err;
    }
    unsigned seen = 0;
    size_t events = 0;
    for (size_t t = 0; t < p.nthreads; t++) {
        events += p.threads[t].n;
        for (size_t k = 0; k < p.threads[t].n; k++)
            seen |= 1u << p.threads[t].ev[k].type;
    }
    unsigned want = ((1u << (FR_REC_TYPE_MAX + 1)) - 1) & ~1u;
    printf("%s: %zu bytes, %zu threads, %zu events, %u strings, errors %llu, evicted %llu, "
           "dropped %llu\n",
           label, size, p.nthreads, events, p.nstrs, (unsigned long long)p.errors,
           (unsigned long long)p.rings_evicted, (unsigned long long)p.dropped_no_ring);
    if (seen != want || p.errors || !p.rings_evicted || !p.dropped_no_ring) {
        fprintf(stderr,
                "fuzz_reader_gen: %s: want event types 0x%x (got 0x%x), no errors, "
                "an eviction and a drop\n",
                label, want, seen);
        err = -EPROTO;
    }
    trace_proc_free(&p);
    free(buf);
    fflush(stdout); /* the child leaves with _exit() */
    return err;
}

/* ---- writing seeds ---- */

static int write_file(const char *dir, const char *name, const void *data, size_t size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_reader_gen: %s: %s\n", path, strerror(errno));
        return -EIO;
    }
    return 0;
}

/* The same region laid out again, each part right after the previous one
 * and the string table cut to what is used. Returns owned; free(). */
static uint8_t *compact(const uint8_t *src, size_t *size)
{
    struct fr_abi_header h;
    memcpy(&h, src, sizeof h);
    const uint8_t *st = src + h.strtab_off;
    uint32_t count;
    uint64_t arena_off;
    memcpy(&count, st + offsetof(struct fr_abi_strtab, count), 4);
    memcpy(&arena_off, st + offsetof(struct fr_abi_strtab, arena_off), 8);
    uint32_t used = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct fr_abi_str e;
        memcpy(&e, st + offsetof(struct fr_abi_strtab, entries) + sizeof e * i, sizeof e);
        used = e.off + e.len > used ? e.off + e.len : used;
    }

    struct fr_abi_header n = h;
    uint64_t clock_bytes = offsetof(struct fr_abi_clock_table, points) +
                           (uint64_t)h.clock_cap * sizeof(struct fr_abi_clock_point);
    n.strtab_cap = count + 2;
    n.strtab_bytes = (uint32_t)fr_abi_align(used, 8);
    uint64_t new_arena = offsetof(struct fr_abi_strtab, entries) +
                         (uint64_t)n.strtab_cap * sizeof(struct fr_abi_str);
    n.clock_off = fr_abi_align(sizeof h, 64);
    n.strtab_off = fr_abi_align(n.clock_off + clock_bytes, 64);
    n.rings_off = fr_abi_align(n.strtab_off + new_arena + n.strtab_bytes, 64);
    n.ring_data_off = fr_abi_align(n.rings_off + (uint64_t)h.ring_count * h.ring_hdr_size, 64);
    n.region_size = n.ring_data_off + h.ring_count * h.ring_bytes;

    uint8_t *d = calloc(1, n.region_size);
    if (!d)
        return NULL;
    memcpy(d, &n, sizeof n);
    memcpy(d + n.clock_off, src + h.clock_off, clock_bytes);
    memcpy(d + n.strtab_off, st, offsetof(struct fr_abi_strtab, entries) + 8ull * count);
    memcpy(d + n.strtab_off + offsetof(struct fr_abi_strtab, arena_off), &new_arena, 8);
    memcpy(d + n.strtab_off + new_arena, st + arena_off, used);
    memcpy(d + n.rings_off, src + h.rings_off, (size_t)h.ring_count * h.ring_hdr_size);
    memcpy(d + n.ring_data_off, src + h.ring_data_off, h.ring_count * h.ring_bytes);
    *size = n.region_size;
    return d;
}

static void put64(uint8_t *base, uint64_t off, uint64_t v)
{
    memcpy(base + off, &v, 8);
}

static void put32(uint8_t *base, uint64_t off, uint32_t v)
{
    memcpy(base + off, &v, 4);
}

/* Edge cases made from a compact region c of size bytes. */
static int write_edges(const char *dir, const uint8_t *c, size_t size)
{
    struct fr_abi_header h;
    memcpy(&h, c, sizeof h);
    uint8_t *v = malloc(size);
    if (!v)
        return -ENOMEM;
    int err = 0;
    err |= write_file(dir, "edge-empty", "", 0);
    err |= write_file(dir, "edge-header-only", c, sizeof h);

    memcpy(v, c, size);
    put32(v, offsetof(struct fr_abi_header, magic), __builtin_bswap32(FR_ABI_MAGIC));
    err |= write_file(dir, "edge-bad-magic", v, size);

    memcpy(v, c, size);
    v[offsetof(struct fr_abi_header, abi_major)] = FR_ABI_MAJOR + 1;
    err |= write_file(dir, "edge-bad-major", v, size);

    /* Runtime counts far past their tables; the layout still fits. */
    memcpy(v, c, size);
    put32(v, h.strtab_off + offsetof(struct fr_abi_strtab, count), UINT32_MAX);
    put64(v, h.clock_off + offsetof(struct fr_abi_clock_table, count), UINT64_MAX);
    put64(v, h.rings_off + offsetof(struct fr_abi_ring, seq), UINT64_MAX - 1);
    put64(v, h.rings_off + h.ring_hdr_size + offsetof(struct fr_abi_ring, start_pos), UINT64_MAX);
    err |= write_file(dir, "edge-huge-counts", v, size);

    /* A layout whose rings would need more bytes than the file has. */
    memcpy(v, c, size);
    put32(v, offsetof(struct fr_abi_header, ring_count), FR_ABI_RINGS_MAX);
    put64(v, offsetof(struct fr_abi_header, ring_bytes), FR_ABI_RING_BYTES_MAX);
    put32(v, offsetof(struct fr_abi_header, strtab_cap), FR_ABI_STRTAB_CAP_MAX);
    err |= write_file(dir, "edge-huge-layout", v, size);

    /* A writer inside a record (odd seq) and one changing owner (odd gen). */
    memcpy(v, c, size);
    uint64_t seq;
    memcpy(&seq, v + h.rings_off + offsetof(struct fr_abi_ring, seq), 8);
    put64(v, h.rings_off + offsetof(struct fr_abi_ring, seq), seq | 1);
    put32(v, h.rings_off + h.ring_hdr_size + offsetof(struct fr_abi_ring, gen), 1);
    err |= write_file(dir, "edge-mid-record", v, size);

    /* Every table inside the header itself, no rings: the smallest layout
     * the checks let through. The clock table's count is header_size and
     * its one point starts at region_size. */
    uint8_t tiny[sizeof h] = {0};
    struct fr_abi_header t = {
        .magic = FR_ABI_MAGIC,
        .abi_major = FR_ABI_MAJOR,
        .header_size = sizeof h,
        .region_size = sizeof h,
        .clock_source = FR_ABI_CLOCK_MONOTONIC,
        .strtab_cap = 2,
        .ring_hdr_size = sizeof(struct fr_abi_ring),
        .ring_bytes = FR_ABI_RING_BYTES_MIN,
        .clock_cap = 1,
        .process_name = "overlap",
    };
    memcpy(tiny, &t, offsetof(struct fr_abi_header, window_ns));
    err |= write_file(dir, "edge-overlap", tiny, sizeof tiny);

    free(v);
    return err ? -EIO : 0;
}

/* Inputs that broke common/reader.c when the fuzzer first ran, each cut
 * down to the fields that do it and made from a compact TSC region c.
 * Kept under their crash- names so that the replay test and the fuzzer's
 * seeds guard the fixes. */
static int write_crashes(const char *dir, const uint8_t *c, size_t size)
{
    struct fr_abi_header h;
    memcpy(&h, c, sizeof h);
    uint8_t *v = malloc(size);
    if (!v)
        return -ENOMEM;
    int err = 0;

    /* Every string is the whole arena: each entry passes its own bounds
     * check, but their sum outgrows the strtab_bytes + count bytes that
     * read_strings() allocated for the copy. */
    memcpy(v, c, size);
    uint32_t count;
    memcpy(&count, v + h.strtab_off + offsetof(struct fr_abi_strtab, count), 4);
    for (uint32_t i = 0; i < count; i++) {
        struct fr_abi_str e = {
            .off = 0, .len = h.strtab_bytes < FR_ABI_STR_MAX ? h.strtab_bytes : FR_ABI_STR_MAX};
        memcpy(v + h.strtab_off + offsetof(struct fr_abi_strtab, entries) + sizeof e * i, &e,
               sizeof e);
    }
    err |= write_file(dir, "crash-strtab-overlap", v, size);

    /* Two calibration points, one tick and 2^64 - 1 ns apart, at the very
     * top of the TSC range: every real timestamp is ~2^64 ticks before
     * them, and reader_clock_convert()'s dt * slope overflowed __int128
     * (read_clock() now drops points past 2^62 and steep slopes). */
    memcpy(v, c, size);
    put64(v, h.clock_off + offsetof(struct fr_abi_clock_table, count), 2);
    uint64_t pts = h.clock_off + offsetof(struct fr_abi_clock_table, points);
    const struct fr_abi_clock_point a = {.tsc = UINT64_MAX - 1}, b = {UINT64_MAX, UINT64_MAX};
    memcpy(v + pts, &a, sizeof a);
    memcpy(v + pts + sizeof a, &b, sizeof b);
    err |= write_file(dir, "crash-clock-overflow", v, size);

    /* 160 bytes: reader_open() checked the header up to window_ns, but
     * read_proc_fields() reads on to dropped_nested (offset 200); it now
     * checks up to reserved. Every table sits inside the header to make
     * the layout fit. */
    uint8_t small[offsetof(struct fr_abi_header, window_ns)];
    struct fr_abi_header t = {
        .magic = FR_ABI_MAGIC,
        .abi_major = FR_ABI_MAJOR,
        .header_size = sizeof h,
        .region_size = sizeof small,
        .clock_source = FR_ABI_CLOCK_MONOTONIC,
        .strtab_cap = 2,
        .ring_hdr_size = sizeof(struct fr_abi_ring),
        .ring_bytes = FR_ABI_RING_BYTES_MIN,
        .clock_cap = 1,
        .process_name = "small",
    };
    memcpy(small, &t, sizeof small);
    err |= write_file(dir, "crash-header-past-end", small, sizeof small);

    free(v);
    return err ? -EIO : 0;
}

/* One recording with clock (tsc or monotonic); the child's exit status. */
static int generate(const char *dir, const char *clock, bool full, bool edges)
{
    setenv("FLIGHTREC_RING_BYTES", "4096", 1);
    setenv("FLIGHTREC_MAX_THREADS", "4", 1);
    setenv("FLIGHTREC_CLOCK", clock, 1);
    char name[32];
    snprintf(name, sizeof name, "fuzz-seed-%s", clock);
    setenv("FLIGHTREC_NAME", name, 1);
    if (fr_init(NULL) < 0) {
        fprintf(stderr, "fuzz_reader_gen: fr_init failed\n");
        return 77;
    }
    record();
    if (!full)
        fr_shutdown(); /* state EXITED, every ring exited */

    uint8_t *region, *c;
    size_t size, csize;
    if (copy_region(&region, &size) < 0) {
        fprintf(stderr, "fuzz_reader_gen: no memfd region to copy\n");
        return 77;
    }
    if (!(c = compact(region, &csize)))
        return 1;
    char label[64];
    snprintf(label, sizeof label, "seed-%s-full", clock);
    if (check_region(label, region, size) < 0 || (full && write_file(dir, label, region, size) < 0))
        return 1;
    snprintf(label, sizeof label, "seed-%s-compact", clock);
    if (check_region(label, c, csize) < 0 || write_file(dir, label, c, csize) < 0)
        return 1;
    if (edges && (write_edges(dir, c, csize) < 0 || write_crashes(dir, c, csize) < 0))
        return 1;
    free(c);
    free(region);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_reader_gen OUTDIR\n");
        return 2;
    }
    static const struct {
        const char *clock;
        bool full, edges;
    } runs[] = {{"tsc", true, true}, {"monotonic", false, false}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            _exit(generate(argv[1], runs[i].clock, runs[i].full, runs[i].edges));
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fuzz_reader_gen: %s recording failed (status 0x%x)\n", runs[i].clock,
                    status);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
    }
    return 0;
}
