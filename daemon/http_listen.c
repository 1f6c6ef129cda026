/* http_listen.c - listening addresses and the unix socket file (see
 * http_listen.h).
 *
 * Every look at the socket's path uses lstat() or an *at() call with
 * AT_SYMLINK_NOFOLLOW: whoever can write to the directory must not be
 * able to make us remove, chmod or chown something else.
 */
#define _GNU_SOURCE
#include "daemon/http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int http_listen_parse(const char *addr, struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';

    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return -EINVAL;

    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -EINVAL;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -EINVAL;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return 0;
}

/* Does a server accept connections on the socket at path? */
static int unix_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path); /* length checked by the caller */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        err = 1;
    else if (errno == EAGAIN || errno == EINPROGRESS)
        err = 1; /* listening, with a full backlog */
    else if (errno != ECONNREFUSED && errno != ENOENT)
        err = -errno; /* EACCES and the like: we cannot tell, so do not touch it */
    close(fd);
    return err;
}

int http_listen_unix_prepare(const char *path)
{
    struct stat st;
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return -ENAMETOOLONG;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST; /* a symlink included: never follow, never remove */
    int alive = unix_alive(path);
    if (alive < 0)
        return alive;
    if (alive)
        return -EADDRINUSE;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int group_id(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char buf[4096];
    int err = getgrnam_r(name, &gr, buf, sizeof buf, &res);
    if (err)
        return -err;
    if (res) {
        *gid = gr.gr_gid;
        return 0;
    }
    /* A number names a group that may have no entry. */
    char *end;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (!*name || *end || errno || v > INT_MAX)
        return -ENOENT;
    *gid = (gid_t)v;
    return 0;
}

int http_listen_unix_secure(const char *path, unsigned mode, const char *group,
                            struct http_sockfile *id)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    id->dev = st.st_dev; /* ours from here on, whatever fails next */
    id->ino = st.st_ino;
    if (group) {
        gid_t gid;
        int err = group_id(group, &gid);
        if (err < 0)
            return err;
        if (fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
    }
    /* Linux has no lchmod(); glibc's fchmodat() refuses a symlink here
     * (EOPNOTSUPP) rather than following it. */
    if (fchmodat(AT_FDCWD, path, mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return 0;
}

void http_listen_unix_remove(const char *path, const struct http_sockfile *id)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == id->dev &&
        st.st_ino == id->ino)
        unlink(path);
}
