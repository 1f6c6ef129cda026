/* status.h - GET /debug/flightrecorder/processes: the registered processes
 * as JSON, for `flightrec status` and for people. Loop thread. */
#ifndef FR_DAEMON_STATUS_H
#define FR_DAEMON_STATUS_H

#include <stddef.h>

#include "daemon/http.h"
#include "daemon/registry.h"

struct status_src {
    const struct registry *reg; /* borrows */
};

/* Returns the JSON document in *out (owned; free()) or -ENOMEM. */
int status_render(const struct status_src *src, char **out, size_t *len);

/* The route handler; arg is the struct status_src. */
void status_handle(struct http_req *req, void *arg);

#endif
