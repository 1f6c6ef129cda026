/* clock.h - the record clock of libflightrec.
 *
 * Records carry raw TSC ticks when the CPU has an invariant TSC
 * (constant_tsc and nonstop_tsc), else CLOCK_MONOTONIC ns. Conversion to
 * CLOCK_MONOTONIC is the reader's job, through calibration points this
 * module appends to the region's clock table: a few quickly after start,
 * then one a second while events are recorded, so the conversion follows
 * NTP's slewing of CLOCK_MONOTONIC instead of trusting one measurement.
 */
#ifndef FR_LIB_CLOCK_H
#define FR_LIB_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "common/abi.h"

/* Read-mostly state of the clock, set by fr__clock_init(). */
extern bool fr__clock_use_tsc;
/* Record clock value at which the next calibration point is due. */
extern _Atomic uint64_t fr__clock_next;

static inline uint64_t fr__clock_mono_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fr__clock_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_expect(fr__clock_use_tsc, 1))
        return __rdtsc();
#endif
    return fr__clock_mono_ns(CLOCK_MONOTONIC);
}

/* Chooses the source (FLIGHTREC_CLOCK=tsc|monotonic overrides the CPU
 * check, for tests) and writes the first calibration points. Called once,
 * before any record, with the region's clock table. */
void fr__clock_init(struct fr_abi_header *h, struct fr_abi_clock_table *tab);

/* Appends a calibration point if one is due at `now`. Cheap to call and
 * safe from any thread or signal handler: a call that finds another
 * calibration under way returns at once. */
void fr__clock_refine(uint64_t now);

static inline void fr__clock_tick(uint64_t now)
{
    if (__builtin_expect(now >= atomic_load_explicit(&fr__clock_next, memory_order_relaxed), 0))
        fr__clock_refine(now);
}

/* In a forked child: a calibration under way in another parent thread
 * will never finish there. */
void fr__clock_after_fork_child(void);

/* Converts a duration to record clock ticks: rough (from the first two
 * points), for scheduling and window decisions, never for timestamps. */
uint64_t fr__clock_ns_to_ticks(uint64_t ns);

/* Precise conversions through the published calibration points (the
 * slope from the first point to the newest, the offset from the newest),
 * as a reader would convert: for the rule check's slow path and trigger
 * times. Neither is for the hot path (they read the table). */
uint64_t fr__clock_ticks_to_ns(uint64_t ticks);
uint64_t fr__clock_to_mono(uint64_t ticks);

/* True when the CPU reports an invariant TSC (CPUID 0x80000007 EDX bit 8,
 * which Linux shows as constant_tsc + nonstop_tsc). */
bool fr__clock_tsc_invariant(void);

#endif
