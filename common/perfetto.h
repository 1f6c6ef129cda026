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

#endif
