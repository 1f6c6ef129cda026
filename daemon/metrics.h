/* metrics.h - GET /metrics: the daemon's state in Prometheus text format
 * (version 0.0.4).
 *
 * Renders from the live structures of the other modules; loop thread.
 */
#ifndef FR_DAEMON_METRICS_H
#define FR_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/autosnap.h"
#include "daemon/control.h"
#include "daemon/http.h"
#include "daemon/registry.h"
#include "daemon/snapshot.h"

struct metrics_src {
    const struct registry *reg;      /* borrows */
    const struct snap_service *snap; /* borrows */
    const struct http_server *http;  /* borrows; may be NULL */
    const struct control *ctl;       /* borrows: refusals before HELLO */
    const struct autosnap *autosnap; /* borrows; may be NULL */
    uint64_t config_reloads, config_reload_failures;
};

/* Returns the text in *out (owned; free()) or -ENOMEM. */
int metrics_render(const struct metrics_src *src, char **out, size_t *len);

/* The route handler; arg is the struct metrics_src. */
void metrics_handle(struct http_req *req, void *arg);

#endif
