/* perfetto.h - encodes decoded traces as a Perfetto protobuf trace
 * (perfetto.protos.Trace; ../shared/formats/PERFETTO.md), for
 * ui.perfetto.dev and trace_processor.
 *
 * Written by hand, without libprotobuf: a varint writer and a few dozen
 * field keys. Deterministic: the same input gives the same bytes, whatever
 * the chunk size and whenever it runs. Any thread; no global state.
 */
#ifndef FR_COMMON_PERFETTO_H
#define FR_COMMON_PERFETTO_H

#include <stddef.h>

#include "common/sink.h"
#include "common/window.h"

/* Writes in[0..n) as one trace to sink, in chunks of `chunk` bytes (0:
 * SINK_CHUNK_DEFAULT). Borrows everything. Returns 0; -ENOMEM; or the
 * sink's -errno, after which what the sink got is a truncated trace that
 * the caller must not present as whole. */
int perfetto_encode(const struct window_input *in, size_t n, const struct enc_sink *sink,
                    size_t chunk);

/* The same trace written one process at a time, so that a caller can
 * decode each process just before it is encoded and reuse that memory
 * for the next (perfetto_encode() is these three calls).
 *
 * perfetto_begin() starts the trace: clocks[0..n) are the processes'
 * trace_proc.clock (reader_trace_clock() gives them before decoding), of
 * which the newest believable one is written first. Returns 0 with *out
 * set, or -ENOMEM. Borrows sink until perfetto_end().
 *
 * perfetto_add() writes one process; borrows in for the call. Returns 0,
 * -ENOMEM or the sink's -errno; a failure is sticky: later calls return
 * it and write nothing.
 *
 * perfetto_end() writes what is buffered, only when every call before
 * succeeded, and frees e. Returns 0 when the sink has the whole trace,
 * else the first failure. perfetto_free() frees e without writing more:
 * for a caller that gives the trace up (the sink then has a truncated
 * one, or nothing). */
struct perfetto_enc;
int perfetto_begin(struct perfetto_enc **out, const struct enc_sink *sink, size_t chunk,
                   const struct trace_clock *clocks, size_t n);
int perfetto_add(struct perfetto_enc *e, const struct window_input *in);
int perfetto_end(struct perfetto_enc *e);
void perfetto_free(struct perfetto_enc *e);

#endif
