/* http_route.c - the route table (see http_route.h).
 *
 * A linear scan: a daemon has about ten endpoints, and a scan keeps the
 * 404/405 decision (does the path exist under another method?) simple.
 */
#include "daemon/http_route.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n >= sizeof(((struct http_route_entry *)0)->method))
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

/* Visible ASCII other than the characters that would start a query, a
 * fragment or an escape: a route names a decoded path. */
static bool path_ok(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/' || n >= HTTP_ROUTE_PATH_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] > '~' || p[i] == '?' || p[i] == '#' || p[i] == '%' || p[i] == '*')
            return false;
    return true;
}

int http_route_add(struct http_routes *rt, const char *method, const char *path, http_handler_fn fn,
                   void *arg)
{
    /* HEAD is not routed: handlers would have to leave their body out,
     * streams included, and none of ours has a use for it. */
    if (!method || !path || !fn || !method_ok(method) || !strcmp(method, "HEAD"))
        return -EINVAL;
    size_t n = strlen(path);
    bool prefix = n >= 2 && strcmp(path + n - 2, "/*") == 0;
    if (prefix)
        n--; /* keep the '/' */
    if (!path_ok(path, n))
        return -EINVAL;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route_entry *e = &rt->v[i];
        if (e->prefix == prefix && e->len == n && memcmp(e->path, path, n) == 0 &&
            strcmp(e->method, method) == 0)
            return -EEXIST;
    }
    if (rt->n == HTTP_ROUTES_MAX)
        return -ENOSPC;
    struct http_route_entry *e = &rt->v[rt->n++];
    memset(e, 0, sizeof *e);
    strcpy(e->method, method);
    memcpy(e->path, path, n);
    e->len = n;
    e->prefix = prefix;
    e->body = strcmp(method, "POST") == 0;
    e->fn = fn;
    e->arg = arg;
    return 0;
}

/* Does e serve path, whatever the method? Sets *tail for a prefix. */
static bool path_matches(const struct http_route_entry *e, const char *path, const char **tail)
{
    if (!e->prefix) {
        *tail = "";
        return strcmp(e->path, path) == 0;
    }
    if (strncmp(e->path, path, e->len) != 0)
        return false;
    const char *t = path + e->len;
    /* One real segment: the daemon turns it into a file name. */
    if (!*t || strchr(t, '/') || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    *tail = t;
    return true;
}

static void allow_add(char *allow, const char *method)
{
    size_t used = strlen(allow), mlen = strlen(method);
    /* A method listed already (an exact and a prefix route) goes once. */
    for (const char *p = allow; (p = strstr(p, method)); p += mlen)
        if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
            return;
    if (used + mlen + 3 > HTTP_ALLOW_MAX)
        return; /* cannot happen with HTTP_ROUTES_MAX short methods; never overflow */
    snprintf(allow + used, HTTP_ALLOW_MAX - used, "%s%s", used ? ", " : "", method);
}

const struct http_route_entry *http_route_find(const struct http_routes *rt, const char *method,
                                               const char *path, const char **tail, int *status,
                                               char *allow)
{
    const struct http_route_entry *hit = NULL;
    allow[0] = '\0';
    *status = 404;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route_entry *e = &rt->v[i];
        const char *t;
        if (!path_matches(e, path, &t))
            continue;
        if (strcmp(e->method, method) == 0) {
            /* An exact route wins over a prefix one registered earlier. */
            if (!hit || (hit->prefix && !e->prefix)) {
                hit = e;
                *tail = t;
            }
        }
        allow_add(allow, e->method);
    }
    if (hit)
        return hit;
    if (allow[0])
        *status = 405;
    return NULL;
}
