/* snapshot.h - GET /debug/flightrecorder: the window of the selected
 * processes, streamed as Perfetto protobuf or Chrome JSON.
 *
 * Selection and limits are decided on the loop; copying the rings,
 * decoding and encoding run on libuv's thread pool and stream chunk by
 * chunk, at most HTTP_SINK_INFLIGHT chunks ahead of the socket, so a slow
 * client holds a few chunks, never the trace, and never the loop.
 */
#ifndef FR_DAEMON_SNAPSHOT_H
#define FR_DAEMON_SNAPSHOT_H

#include <stdint.h>
#include <uv.h>

#include "common/reader.h"
#include "daemon/http.h"
#include "daemon/registry.h"


/* Decode memory kept between snapshots at most (one 1 MiB ring decoded
 * takes 3.5 MiB of events): a snapshot of a larger process gives it back. */
#define SNAP_SPARE_MAX (16u << 20)

/* The duration histogram's upper bounds, seconds (Prometheus buckets). */
#define SNAP_BUCKETS 10
extern const double snap_bucket_le[SNAP_BUCKETS];

struct snap_service {
    uv_loop_t *loop;       /* borrows */
    struct registry *reg;  /* borrows */
    uint64_t window_ns;    /* the longest ?seconds= and the default */
    uint64_t max_bytes;    /* ring data read for one snapshot, all processes */
    unsigned max_running;
    unsigned running;
    /* for /metrics */
    uint64_t served_total, failed_total, busy_total, aborted_total;
    uint64_t bucket[SNAP_BUCKETS + 1]; /* cumulative at render time; last is +Inf */
    double seconds_sum;
    struct reader_buf spare; /* owns: the last snapshot's decode memory, for the next */
};

void snap_service_init(struct snap_service *s, uv_loop_t *loop, struct registry *reg,
                       uint64_t window_ns, uint64_t max_bytes, unsigned max_running);

/* Frees what the service keeps; no snapshot may be running. */
void snap_service_fini(struct snap_service *s);

/* The route handler; arg is the struct snap_service. */
void snap_handle(struct http_req *req, void *arg);

#endif
