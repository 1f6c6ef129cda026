/* http_route.h - the server's table of handlers by method and path.
 *
 * Filled before the server starts, read-only afterwards; loop thread.
 * Paths match exactly, or by prefix for one trailing segment (see
 * http_route() in http.h). A miss says whether the path exists under
 * other methods, for 404 against 405 and its Allow header.
 */
#ifndef FR_DAEMON_HTTP_ROUTE_H
#define FR_DAEMON_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/http.h"

#define HTTP_ROUTES_MAX     32
#define HTTP_ROUTE_PATH_MAX 96
#define HTTP_ALLOW_MAX      128 /* "GET, POST, ..." for every method of one path */

struct http_route_entry {
    char method[8];                 /* "GET", "POST" */
    char path[HTTP_ROUTE_PATH_MAX]; /* a prefix route keeps its '/' and drops the '*' */
    size_t len;
    bool prefix;
    bool body; /* POST: takes a request body */
    http_handler_fn fn;
    void *arg; /* borrows */
};

struct http_routes {
    struct http_route_entry v[HTTP_ROUTES_MAX];
    size_t n;
};

/* -EINVAL bad method or path, -EEXIST taken, -ENOSPC table full. */
int http_route_add(struct http_routes *rt, const char *method, const char *path, http_handler_fn fn,
                   void *arg);

/* The route serving method on path (decoded), with *tail its last
 * segment for a prefix route ("" otherwise). NULL when there is none:
 * *status is then 404, or 405 with allow[HTTP_ALLOW_MAX] listing the
 * path's methods. */
const struct http_route_entry *http_route_find(const struct http_routes *rt, const char *method,
                                               const char *path, const char **tail, int *status,
                                               char *allow);

#endif
