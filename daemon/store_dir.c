/* store_dir.c - the snapshot store's directory on disk (see store_dir.h).
 *
 * A scan reads every name once: names of ours are grouped by base (after
 * a sort, one base's files are neighbours), and a base with exactly one
 * trace and one sidecar is a snapshot. Only regular files count: a
 * symlink or a directory under a snapshot's name is not ours.
 */
#define _GNU_SOURCE
#include "daemon/store_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_dir_make(const char *path, mode_t mode)
{
    char buf[STORE_DIR_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, mode) == 0)
            chmod(buf, mode); /* we just made it: the umask cut its mode */
        else if (errno != EEXIST)
            return -errno;
        *p = c;
        if (c == 0)
            return 0;
    }
}

/* One file of the directory named like a snapshot's. */
struct item {
    struct store_name nm;
    enum store_file f;
    uint64_t size;
};

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = store_name_cmp(&x->nm, &y->nm);
    return c ? c : (int)x->f - (int)y->f;
}

/* ".<file>.tmp", where <file> is a snapshot's file name: a write that
 * never finished, deleted unless one in progress owns it. */
static void scan_temp(int dirfd, const char *name, size_t len, store_dir_busy_fn busy, void *ctx)
{
    struct store_name nm;
    enum store_file f;
    if (len <= 5 || memcmp(name + len - 4, ".tmp", 4) != 0 ||
        store_name_parse(name + 1, len - 5, &nm, &f) < 0 || busy(ctx, &nm))
        return;
    unlinkat(dirfd, name, 0);
}

/* The regular files named like a snapshot's, sorted, in *items (owned);
 * stale temporary files are deleted on the way. */
static int read_items(int dirfd, store_dir_busy_fn busy, void *ctx, struct item **items,
                      size_t *nitems)
{
    /* A directory stream of its own: dirfd's offset stays untouched. */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct item *it = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        struct item x;
        struct stat st;
        if (name[0] == '.') {
            scan_temp(dirfd, name, len, busy, ctx);
            continue;
        }
        if (store_name_parse(name, len, &x.nm, &x.f) < 0 ||
            fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        x.size = (uint64_t)st.st_size;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct item *grown = realloc(it, ncap * sizeof *it);
            if (!grown) {
                err = -ENOMEM;
                break;
            }
            it = grown;
            cap = ncap;
        }
        it[n++] = x;
    }
    if (!err && errno)
        err = -errno;
    closedir(d);
    if (err) {
        free(it);
        return err;
    }
    if (n)
        qsort(it, n, sizeof *it, item_cmp);
    *items = it;
    *nitems = n;
    return 0;
}

int store_dir_scan(int dirfd, store_dir_busy_fn busy, void *ctx, struct store_entry **out,
                   size_t *nout, uint64_t *bytes)
{
    struct item *it = NULL;
    size_t n = 0;
    int err = read_items(dirfd, busy, ctx, &it, &n);
    if (err)
        return err;
    struct store_entry *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) {
        free(it);
        return -ENOMEM;
    }
    size_t k = 0;
    *bytes = 0;
    for (size_t i = 0, j; i < n; i = j) {
        size_t traces = 0, metas = 0, t = i, mt = i;
        for (j = i; j < n && store_name_cmp(&it[j].nm, &it[i].nm) == 0; j++) {
            if (it[j].f == STORE_FILE_META) {
                metas++;
                mt = j;
            } else {
                traces++;
                t = j;
            }
        }
        if (traces == 1 && metas == 1) {
            idx[k++] = (struct store_entry){
                .nm = it[t].nm,
                .format = it[t].f == STORE_FILE_JSON ? STORE_JSON : STORE_PERFETTO,
                .trace_bytes = it[t].size,
                .meta_bytes = it[mt].size,
            };
            *bytes += it[t].size + it[mt].size;
            continue;
        }
        /* Incomplete (or two traces for one sidecar, which the store
         * never writes): every file of that base goes. */
        if (busy(ctx, &it[i].nm))
            continue;
        for (size_t g = i; g < j; g++) {
            char name[STORE_FILE_MAX];
            store_name_file(&it[g].nm, it[g].f, name);
            unlinkat(dirfd, name, 0);
        }
    }
    free(it);
    *out = idx;
    *nout = k;
    return 0;
}
