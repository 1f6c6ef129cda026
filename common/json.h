/* json.h - encodes decoded traces as Chrome trace-event JSON, for
 * chrome://tracing and ui.perfetto.dev (the `?format=json` output).
 *
 * The same content as the Perfetto encoder, cut by the same window rules
 * (window.h). The output is always valid JSON, whatever bytes the names
 * and messages hold. Deterministic. Any thread; no global state.
 */
#ifndef FR_COMMON_JSON_H
#define FR_COMMON_JSON_H

#include <stddef.h>

#include "common/sink.h"
#include "common/window.h"

/* Writes in[0..n) as one JSON document to sink, in chunks of `chunk`
 * bytes (0: SINK_CHUNK_DEFAULT). Borrows everything. Returns 0;
 * -ENOMEM; or the sink's -errno (the document is then cut short). */
int json_encode(const struct window_input *in, size_t n, const struct enc_sink *sink, size_t chunk);

/* The same document written one process at a time (json_encode() is
 * the first three), with the contracts of perfetto_begin(),
 * perfetto_add(), perfetto_end() and perfetto_free(). */
struct json_enc;
int json_begin(struct json_enc **out, const struct enc_sink *sink, size_t chunk);
int json_add(struct json_enc *e, const struct window_input *in);
int json_end(struct json_enc *e);
void json_free(struct json_enc *e);

/* Writes s[0..len) as a quoted JSON string into dst, which has room for
 * 6 × len + 2 bytes; any bytes give valid JSON (the encoder's escaping:
 * control bytes and invalid UTF-8 escaped). Returns the bytes written.
 * For other JSON the daemon writes (the process list). */
size_t json_escape(char *dst, const char *s, size_t len);

#endif
