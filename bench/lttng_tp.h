/* lttng_tp.h - the LTTng-UST tracepoint provider the benchmarks compare
 * libflightrec with: one event per flightrec call they measure, carrying
 * the same information.
 *
 * region_begin/region_end carry the region name as a string (LTTng has no
 * interning, so it copies the bytes where flightrec stores a 32-bit id);
 * log carries category and message strings; counter carries only the
 * value, its name being the tracepoint's own, which is how an LTTng user
 * would write it and LTTng's cheapest form. task_end, the end of a task
 * with its name and duration, is what an LTTng trigger with a filter on
 * duration_ns watches where a flightrec rule watches a task's threshold
 * (bench/trigger_bench.py).
 *
 * Included twice by lttng_tp.c (LTTNG_UST_TRACEPOINT_CREATE_PROBES), as
 * lttng-ust requires of a provider header: the guard below allows it.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER flightrec_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "bench/lttng_tp.h"

#if !defined(FR_BENCH_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define FR_BENCH_LTTNG_TP_H

#include <stdint.h>

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(flightrec_bench, region_begin, LTTNG_UST_TP_ARGS(const char *, name),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_string(name, name)))

LTTNG_UST_TRACEPOINT_EVENT(flightrec_bench, region_end, LTTNG_UST_TP_ARGS(const char *, name),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_string(name, name)))

LTTNG_UST_TRACEPOINT_EVENT(flightrec_bench, log,
                           LTTNG_UST_TP_ARGS(const char *, category, const char *, message),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_string(category, category)
                                                   lttng_ust_field_string(message, message)))

LTTNG_UST_TRACEPOINT_EVENT(flightrec_bench, counter, LTTNG_UST_TP_ARGS(int64_t, value),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int64_t, value, value)))

LTTNG_UST_TRACEPOINT_EVENT(flightrec_bench, task_end,
                           LTTNG_UST_TP_ARGS(const char *, name, uint64_t, duration_ns),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_string(name, name)
                                                   lttng_ust_field_integer(uint64_t, duration_ns,
                                                                           duration_ns)))

#endif

#include <lttng/tracepoint-event.h>
