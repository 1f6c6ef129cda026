/* dirwatch.c - bench-dirwatch: says when files appear in a directory tree,
 * for the trigger benchmark (bench/trigger_bench.py).
 *
 * bench-dirwatch [--mount] DIR
 *
 * Watches DIR and every directory made under it with inotify and prints a
 * line per event, stamped with CLOCK_MONOTONIC read as soon as read()
 * returns (every event of one read() gets the same stamp):
 *
 *   ready                          DIR is watched
 *   <mono_ns> mkdir <path>         a directory appeared (and is watched now)
 *   <mono_ns> create <path>        a file was created
 *   <mono_ns> close <path>         a file open for writing was closed
 *   <mono_ns> moved <path>         a file was renamed into place
 *   <mono_ns> found <path>         a file already there when its directory
 *                                  came to be watched (its create is lost)
 *   <mono_ns> overflow             the kernel dropped events: the run is void
 *
 * Paths are relative to DIR. A directory made under a new directory before
 * we watched the new one is found by listing it after adding the watch, so
 * no directory is missed; but a file created and closed in that gap shows
 * as "found" without its close. A tree that appears all at once (an LTTng
 * snapshot: a directory, four levels under it, then the files) loses
 * closes that way whenever we are a little late. --mount takes the closes
 * from fanotify instead: every close-after-write on DIR's mount, of files
 * under DIR, seen whatever was watched when (needs CAP_SYS_ADMIN).
 *
 * Runs until killed; exit 1 when DIR cannot be watched or inotify or
 * fanotify fails.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define WATCHES_MAX 4096
#define DEPTH_MAX   16

struct watch {
    int wd;
    char *path; /* owns; relative to DIR, "" for DIR itself; NULL: free */
};

static int ifd, fan_fd = -1;
static uint32_t mask = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR;
static char root[PATH_MAX];
static size_t root_len;
static struct watch watches[WATCHES_MAX];

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *path_of(int wd)
{
    for (int i = 0; i < WATCHES_MAX; i++)
        if (watches[i].path && watches[i].wd == wd)
            return watches[i].path;
    return NULL;
}

static void forget(int wd)
{
    for (int i = 0; i < WATCHES_MAX; i++) {
        if (watches[i].path && watches[i].wd == wd) {
            free(watches[i].path);
            watches[i].path = NULL;
        }
    }
}

/* Joins a relative directory and a name into out ("" + "a" is "a"). */
static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s%s%s", dir, *dir ? "/" : "", name);
}

/* Watches the directory rel (relative to root), then reports what is in it
 * already, watching its subdirectories the same way. Returns 0 or -errno. */
static int watch_tree(const char *rel, uint64_t now, int depth)
{
    char full[PATH_MAX * 2], sub[PATH_MAX];
    snprintf(full, sizeof full, "%s%s%s", root, *rel ? "/" : "", rel);
    int wd = inotify_add_watch(ifd, full, mask);
    if (wd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno; /* gone again */
    if (!path_of(wd)) {
        int i = 0;
        while (i < WATCHES_MAX && watches[i].path)
            i++;
        if (i == WATCHES_MAX)
            return -ENOSPC;
        watches[i].path = strdup(rel);
        if (!watches[i].path)
            return -ENOMEM;
        watches[i].wd = wd;
    }
    if (depth >= DEPTH_MAX)
        return 0;
    DIR *d = opendir(full);
    if (!d)
        return 0;
    int err = 0;
    for (struct dirent *e; !err && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        join(sub, sizeof sub, rel, e->d_name);
        if (e->d_type == DT_DIR) {
            printf("%llu mkdir %s\n", (unsigned long long)now, sub);
            err = watch_tree(sub, now, depth + 1);
        } else {
            printf("%llu found %s\n", (unsigned long long)now, sub);
        }
    }
    closedir(d);
    return err;
}

/* Prints one event; a new directory is watched at once. Returns 0 or
 * -errno. */
static int on_event(const struct inotify_event *ev, uint64_t now)
{
    char rel[PATH_MAX];
    if (ev->mask & IN_Q_OVERFLOW) {
        printf("%llu overflow\n", (unsigned long long)now);
        return 0;
    }
    if (ev->mask & IN_IGNORED) {
        forget(ev->wd);
        return 0;
    }
    const char *dir = path_of(ev->wd);
    if (!dir || ev->len == 0)
        return 0;
    join(rel, sizeof rel, dir, ev->name);
    if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR)) {
        printf("%llu mkdir %s\n", (unsigned long long)now, rel);
        int depth = 1;
        for (const char *p = rel; *p; p++)
            depth += *p == '/';
        return watch_tree(rel, now, depth);
    }
    if (ev->mask & IN_CREATE)
        printf("%llu create %s\n", (unsigned long long)now, rel);
    if (ev->mask & IN_CLOSE_WRITE)
        printf("%llu close %s\n", (unsigned long long)now, rel);
    if (ev->mask & IN_MOVED_TO)
        printf("%llu moved %s\n", (unsigned long long)now, rel);
    return 0;
}

/* Closes after writing on root's mount, from then on. Returns 0 or
 * -errno (-EPERM without CAP_SYS_ADMIN). */
static int fan_start(void)
{
    fan_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
    if (fan_fd < 0)
        return -errno;
    if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, root) < 0)
        return -errno;
    mask &= ~(uint32_t)IN_CLOSE_WRITE; /* one source of closes */
    return 0;
}

/* Prints the closes of one read() that are under root; every event
 * carries an open descriptor of its file, closed here. */
static int fan_read(uint64_t now)
{
    char buf[16 * 1024] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
    char link[64], path[PATH_MAX];
    ssize_t n = read(fan_fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    const struct fanotify_event_metadata *m = (const void *)buf;
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->vers != FANOTIFY_METADATA_VERSION)
            return -EPROTO;
        if (m->mask & FAN_Q_OVERFLOW)
            printf("%llu overflow\n", (unsigned long long)now);
        if (m->fd < 0)
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
        ssize_t len = readlink(link, path, sizeof path - 1);
        close(m->fd);
        if (len <= (ssize_t)root_len + 1)
            continue;
        path[len] = 0;
        if (strncmp(path, root, root_len) == 0 && path[root_len] == '/')
            printf("%llu close %s\n", (unsigned long long)now, path + root_len + 1);
    }
    return 0;
}

/* Prints the events of one read() of the inotify descriptor. */
static int inotify_read(uint64_t now)
{
    /* Aligned for struct inotify_event, as inotify(7) shows. */
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n = read(ifd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    for (char *p = buf; p < buf + n;) {
        const struct inotify_event *ev = (const struct inotify_event *)p;
        int err = on_event(ev, now);
        if (err < 0)
            return err;
        p += sizeof *ev + ev->len;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int use_fan = argc == 3 && strcmp(argv[1], "--mount") == 0;
    if (argc != 2 + use_fan) {
        fprintf(stderr, "usage: bench-dirwatch [--mount] DIR\n");
        return 2;
    }
    /* fanotify names files by their real path: compare with DIR's. */
    if (!realpath(argv[1 + use_fan], root)) {
        fprintf(stderr, "bench-dirwatch: %s: %s\n", argv[1 + use_fan], strerror(errno));
        return 1;
    }
    root_len = strlen(root);
    int err = use_fan ? fan_start() : 0;
    if (err < 0) {
        fprintf(stderr, "bench-dirwatch: fanotify on the mount of %s: %s\n", root, strerror(-err));
        return 1;
    }
    ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd < 0) {
        fprintf(stderr, "bench-dirwatch: inotify_init1: %s\n", strerror(errno));
        return 1;
    }
    err = watch_tree("", mono_ns(), 0);
    if (err < 0 || !watches[0].path) { /* DIR itself takes the first slot */
        fprintf(stderr, "bench-dirwatch: cannot watch %s: %s\n", root,
                strerror(err < 0 ? -err : ENOENT));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    struct pollfd pfd[2] = {{ifd, POLLIN, 0}, {fan_fd, POLLIN, 0}};
    for (;;) {
        if (poll(pfd, fan_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            err = -errno;
            break;
        }
        uint64_t now = mono_ns();
        /* Lines of the two descriptors interleave by read, not by when
         * things happened: a close may come before its directory's mkdir. */
        if (fan_fd >= 0 && (pfd[1].revents & POLLIN) && (err = fan_read(now)) < 0)
            break;
        if ((pfd[0].revents & POLLIN) && (err = inotify_read(now)) < 0)
            break;
        fflush(stdout);
    }
    fprintf(stderr, "bench-dirwatch: watching: %s\n", strerror(-err));
    return 1;
}
