/* clock.c - chooses the record clock and publishes its calibration.
 *
 * Owns the region's clock table. Any thread may append a point (the one
 * whose event finds a point due); a try-lock keeps it to one at a time and
 * never makes a thread wait, so this is safe in signal handlers.
 */
#include "lib/clock.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

bool fr__clock_use_tsc;
_Atomic uint64_t fr__clock_next = UINT64_MAX;

static struct fr_abi_clock_table *table;
static atomic_flag busy = ATOMIC_FLAG_INIT;
static uint64_t ticks_per_ms; /* rough, only for scheduling the next point */
static uint64_t interval_ms = 2;

#define REFINE_MAX_MS 1000u

bool fr__clock_tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return false;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
#else
    return false;
#endif
}

/* One point: the record clock read on both sides of the clock_gettime
 * calls, taken at the middle. The tightest of a few tries wins. */
static void measure(struct fr_abi_clock_point *p)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = fr__clock_now();
        uint64_t mono = fr__clock_mono_ns(CLOCK_MONOTONIC);
        uint64_t t1 = fr__clock_now();
        uint64_t real = fr__clock_mono_ns(CLOCK_REALTIME);
        uint64_t boot = fr__clock_mono_ns(CLOCK_BOOTTIME);
        uint64_t mono2 = fr__clock_mono_ns(CLOCK_MONOTONIC);
        if (t1 - t0 < best) {
            best = t1 - t0;
            p->tsc = t0 + (t1 - t0) / 2;
            p->mono_ns = mono;
            /* real and boot were read after mono: move them back by the
             * time that passed, so all three name the same instant. */
            uint64_t lag = (mono2 - mono) / 2;
            p->real_ns = real - lag;
            p->boot_ns = boot - lag;
        }
    }
    if (!fr__clock_use_tsc)
        p->tsc = p->mono_ns;
}

static void publish(const struct fr_abi_clock_point *p)
{
    uint32_t s = atomic_load_explicit(&table->seq, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&table->count, memory_order_relaxed);
    /* seqlock write: readers that see an odd seq or a changed one retry;
     * the release fence orders the odd seq before the point's stores. */
    atomic_store_explicit(&table->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    _Atomic uint64_t *slot = table->points[n % FR_ABI_CLOCK_CAP];
    atomic_store_explicit(&slot[0], p->tsc, memory_order_relaxed);
    atomic_store_explicit(&slot[1], p->mono_ns, memory_order_relaxed);
    atomic_store_explicit(&slot[2], p->real_ns, memory_order_relaxed);
    atomic_store_explicit(&slot[3], p->boot_ns, memory_order_relaxed);
    atomic_store_explicit(&table->count, n + 1, memory_order_relaxed);
    /* release: pairs with the acquire fence in reader's read_clock(). */
    atomic_store_explicit(&table->seq, s + 2, memory_order_release);
}

static void schedule(uint64_t now)
{
    atomic_store_explicit(&fr__clock_next, now + interval_ms * ticks_per_ms,
                          memory_order_relaxed);
    interval_ms = interval_ms * 4 > REFINE_MAX_MS ? REFINE_MAX_MS : interval_ms * 4;
}

void fr__clock_init(struct fr_abi_header *h, struct fr_abi_clock_table *tab)
{
    const char *env = getenv("FLIGHTREC_CLOCK");
    if (env && strcmp(env, "monotonic") == 0)
        fr__clock_use_tsc = false;
    else if (env && strcmp(env, "tsc") == 0)
        fr__clock_use_tsc = true;
    else
        fr__clock_use_tsc = fr__clock_tsc_invariant();
    h->clock_source = fr__clock_use_tsc ? FR_ABI_CLOCK_TSC : FR_ABI_CLOCK_MONOTONIC;
    h->clock_cap = FR_ABI_CLOCK_CAP;
    table = tab;

    /* Two points 200 µs apart give readers a slope from the first event
     * on (good to ~0.1 ‰); later points refine it. */
    struct fr_abi_clock_point a, b;
    measure(&a);
    publish(&a);
    do
        measure(&b);
    while (b.mono_ns - a.mono_ns < 200000);
    publish(&b);
    ticks_per_ms = (b.tsc - a.tsc) * 1000000 / (b.mono_ns - a.mono_ns);
    if (ticks_per_ms == 0)
        ticks_per_ms = 1;
    interval_ms = 2;
    schedule(b.tsc);
}

void fr__clock_after_fork_child(void)
{
    atomic_flag_clear_explicit(&busy, memory_order_relaxed);
}

uint64_t fr__clock_ns_to_ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * ticks_per_ms / 1000000u);
}

/* The first and the newest point, read under the table's seqlock. */
static bool read_span(struct fr_abi_clock_point *first, struct fr_abi_clock_point *last)
{
    for (int tries = 0; table && tries < 100; tries++) {
        uint32_t s = atomic_load_explicit(&table->seq, memory_order_acquire);
        uint64_t n = atomic_load_explicit(&table->count, memory_order_relaxed);
        if ((s & 1) || n < 2)
            continue;
        /* The first point is overwritten once the table wraps: the oldest
         * kept one is then the earliest baseline there is. */
        uint64_t lo = n > FR_ABI_CLOCK_CAP ? n - FR_ABI_CLOCK_CAP : 0;
        _Atomic uint64_t *a = table->points[lo % FR_ABI_CLOCK_CAP];
        _Atomic uint64_t *b = table->points[(n - 1) % FR_ABI_CLOCK_CAP];
        first->tsc = atomic_load_explicit(&a[0], memory_order_relaxed);
        first->mono_ns = atomic_load_explicit(&a[1], memory_order_relaxed);
        last->tsc = atomic_load_explicit(&b[0], memory_order_relaxed);
        last->mono_ns = atomic_load_explicit(&b[1], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&table->seq, memory_order_relaxed) == s)
            return last->tsc > first->tsc && last->mono_ns > first->mono_ns;
    }
    return false;
}

uint64_t fr__clock_ticks_to_ns(uint64_t ticks)
{
    struct fr_abi_clock_point a, b;
    if (!fr__clock_use_tsc || !read_span(&a, &b))
        return fr__clock_use_tsc ? ticks * 1000000u / (ticks_per_ms ? ticks_per_ms : 1) : ticks;
    return (uint64_t)((unsigned __int128)ticks * (b.mono_ns - a.mono_ns) / (b.tsc - a.tsc));
}

uint64_t fr__clock_to_mono(uint64_t ticks)
{
    struct fr_abi_clock_point a, b;
    if (!fr__clock_use_tsc)
        return ticks;
    if (!read_span(&a, &b))
        return fr__clock_mono_ns(CLOCK_MONOTONIC);
    if (ticks >= b.tsc)
        return b.mono_ns + fr__clock_ticks_to_ns(ticks - b.tsc);
    return b.mono_ns - fr__clock_ticks_to_ns(b.tsc - ticks);
}

void fr__clock_refine(uint64_t now)
{
    if (!table || atomic_flag_test_and_set_explicit(&busy, memory_order_acquire))
        return;
    if (now >= atomic_load_explicit(&fr__clock_next, memory_order_relaxed)) {
        struct fr_abi_clock_point p;
        measure(&p);
        publish(&p);
        schedule(p.tsc);
    }
    atomic_flag_clear_explicit(&busy, memory_order_release);
}
