/* http_sink.h - a trace sink (common/sink.h) that streams into an HTTP
 * response from a pool thread, holding at most HTTP_SINK_INFLIGHT chunks
 * that the socket has not taken yet: a slow client holds a few chunks,
 * never the trace, and never the loop.
 *
 * Setup and teardown on the loop thread (http_sink_init() from the
 * handler, which also registers the abort callback); writes from the one
 * pool thread producing the body.
 */
#ifndef FR_DAEMON_HTTP_SINK_H
#define FR_DAEMON_HTTP_SINK_H

#include <pthread.h>
#include <stdbool.h>

#include "common/sink.h"
#include "daemon/http.h"

#define HTTP_SINK_INFLIGHT 4
#define HTTP_SINK_CHUNK (256u << 10) /* what a producer should hand at once */

struct http_sink_chunk;

struct http_sink {
    struct http_req *req; /* borrows until the response is finished */
    struct enc_sink sink; /* write() streams; ctx is this */
    /* Called once, before the first chunk goes out, to start the response
     * (NULL: the caller started it). A failure is write()'s: the producer
     * stops before anything was sent, and the caller can still answer an
     * error status. */
    int (*start)(void *arg);
    void *start_arg;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight; /* chunks handed to HTTP, not yet sent */
    bool aborted;      /* client gone */
    struct http_sink_chunk *free; /* owns: sent chunks, for the next writes */
};

/* Loop thread, in the handler. start may be NULL (see above). */
void http_sink_init(struct http_sink *s, struct http_req *req, int (*start)(void *arg),
                    void *start_arg);
/* After the response is finished (http_sink_drain() returned): frees the
 * chunks. */
void http_sink_fini(struct http_sink *s);

/* Pool thread: waits until HTTP has sent (or dropped) every chunk, which
 * point into memory the caller frees; then the response may be ended. */
void http_sink_drain(struct http_sink *s);

bool http_sink_aborted(struct http_sink *s);

#endif
