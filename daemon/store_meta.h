/* store_meta.h - the sidecar of a stored snapshot: one JSON object saying
 * which rule fired, on what, when, for which process, with which
 * triggers and window, and which trace file goes with it (its fields are
 * listed in docs/daemon.md). Strings go through json_escape(), so the
 * document is valid JSON whatever bytes the names hold.
 *
 * A pure function; any thread.
 */
#ifndef FR_DAEMON_STORE_META_H
#define FR_DAEMON_STORE_META_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/store.h"

struct store_sidecar {
    const char *rule;    /* borrows; exact, as the key gave it */
    const char *process; /* borrows; the same */
    uint32_t pid;
    uint64_t wall_ns; /* the trigger's CLOCK_REALTIME */
    enum store_format format;
    const char *trace; /* borrows: the trace's file name */
    uint64_t trace_bytes;
    const struct store_meta *m; /* borrows */
};

/* "perfetto" or "json". */
const char *store_format_name(enum store_format f);

/* Writes the time as RFC 3339 UTC with `digits` decimals (3 or 9) into
 * dst (40 bytes): 2026-11-23T10:15:02.123Z. Returns the length. */
size_t store_rfc3339(char *dst, uint64_t wall_ns, unsigned digits);

/* Returns 0 and the document in *out (owned, free(); *len bytes plus a
 * NUL), or -ENOMEM. */
int store_meta_render(const struct store_sidecar *sc, char **out, size_t *len);

#endif
