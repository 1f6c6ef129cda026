/* dirwatch.c - bench-dirwatch: says when files appear in a directory tree,
 * for the trigger benchmark (bench/trigger_bench.py).
 *
 * bench-dirwatch DIR
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
 * no directory is missed; a file created and closed in that gap shows as
 * "found" without its close. Runs until killed; exit 1 when DIR cannot be
 * watched or inotify fails.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define WATCHES_MAX 4096
#define DEPTH_MAX   16
#define MASK        (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR)

struct watch {
    int wd;     /* -1: free */
    char *path; /* owns; relative to DIR, "" for DIR itself */
};

static int ifd;
static char root[PATH_MAX];
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
    int wd = inotify_add_watch(ifd, full, MASK);
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench-dirwatch DIR\n");
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);
    ifd = inotify_init1(IN_CLOEXEC);
    if (ifd < 0) {
        fprintf(stderr, "bench-dirwatch: inotify_init1: %s\n", strerror(errno));
        return 1;
    }
    int err = watch_tree("", mono_ns(), 0);
    if (err < 0 || !watches[0].path) { /* DIR itself takes the first slot */
        fprintf(stderr, "bench-dirwatch: cannot watch %s: %s\n", root,
                strerror(err < 0 ? -err : ENOENT));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    /* Aligned for struct inotify_event, as inotify(7) shows. */
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(ifd, buf, sizeof buf);
        uint64_t now = mono_ns();
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "bench-dirwatch: read: %s\n", n < 0 ? strerror(errno) : "EOF");
            return 1;
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            err = on_event(ev, now);
            if (err < 0) {
                fprintf(stderr, "bench-dirwatch: watching: %s\n", strerror(-err));
                return 1;
            }
            p += sizeof *ev + ev->len;
        }
        fflush(stdout);
    }
}
