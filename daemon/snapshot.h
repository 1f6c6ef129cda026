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
#include "daemon/capture.h"
#include "daemon/http.h"
#include "daemon/registry.h"


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
    struct capture_spare *spare; /* borrows: decode memory kept between captures */
};

void snap_service_init(struct snap_service *s, uv_loop_t *loop, struct registry *reg,
                       struct capture_spare *spare, uint64_t window_ns, uint64_t max_bytes,
                       unsigned max_running);

/* The route handler; arg is the struct snap_service. */
void snap_handle(struct http_req *req, void *arg);

#endif
