/* http_listen.h - where the server listens: a TCP address and the file
 * of its unix socket.
 *
 * The unix socket's file is the access control of the API (DESIGN.md,
 * Serving), so it is handled with care: a stale socket is replaced, a
 * live one, a symlink or any other file never is; mode and group are set
 * before listen() and without following a symlink; at stop the file goes
 * only if it is still the one we made. Loop thread; no printing.
 */
#ifndef FR_DAEMON_HTTP_LISTEN_H
#define FR_DAEMON_HTTP_LISTEN_H

#include <sys/socket.h>
#include <sys/types.h>

/* The file we bound, to recognise it at stop. */
struct http_sockfile {
    dev_t dev;
    ino_t ino;
};

/* "127.0.0.1:6060", "[::1]:6060", "localhost:6060" (the loopback
 * address; no resolver here). 0 or -EINVAL. */
int http_listen_parse(const char *addr, struct sockaddr_storage *ss);

/* Readies path for bind(): 0 when nothing is there or a stale socket was
 * removed; -EADDRINUSE a server answers there; -EEXIST a symlink or a
 * file that is not a socket; -ENAMETOOLONG; or -errno from lstat(). */
int http_listen_unix_prepare(const char *path);

/* After bind(), before listen(): records the file in *id first (it is
 * ours to remove even if what follows fails), then sets the group when
 * not NULL, and the mode, without following a symlink at path. -EEXIST
 * not a socket, -ENOENT unknown group, or -errno. */
int http_listen_unix_secure(const char *path, unsigned mode, const char *group,
                            struct http_sockfile *id);

/* Removes path if it is still the socket file id. */
void http_listen_unix_remove(const char *path, const struct http_sockfile *id);

#endif
