/* store.c - the snapshot store (see store.h).
 *
 * Owns the directory's fd (with its dev/ino, to notice that the path now
 * names another directory), the index of complete snapshots, oldest
 * first, the list of writes in progress and the counters.
 *
 * Two mutexes, always taken in this order:
 *  - dir_lock serialises what changes which directory the store is in and
 *    which names exist there: opening and scanning the directory,
 *    reserving a name, and a commit's renames and directory fsync (so a
 *    scan never sees half a commit). Writers and store_set_limits() take
 *    it; listing and store_open_file(), on the loop, never do.
 *  - lock guards the index, the writes in progress, the limits, the fd
 *    and the counters. Held for memory work, a dup() and, in
 *    store_open_file(), one openat(), never while trace data is written
 *    or synced. Files leaving the index are unlinked after it is
 *    released, through a dup of the directory's fd taken under it; by a
 *    writer, before dir_lock is released, so that no write can reserve a
 *    name whose old files are still being deleted (listing and expiring
 *    delete only snapshots past max_age, whose names no new write takes).
 * dirfd, dev and ino change only with both held, so either lets one
 * read them.
 *
 * The order of a commit, and why a crash never leaves a trace without its
 * sidecar visible as a snapshot: both are complete and fsynced under
 * temporary names (".<file>.tmp") first; then the sidecar is renamed, then
 * the trace, then the directory is fsynced. While we run, a trace
 * therefore never appears before its sidecar. After a crash the renames
 * may have reached the disk in either order, so the scan at the next
 * open (store_dir.c) does the rest: our temporary files are deleted, and a trace
 * without its sidecar, or a sidecar without its trace, is an incomplete
 * snapshot and is deleted too. Only pairs are ever indexed, listed or
 * served. Eviction unlinks in the reverse order, trace first.
 */
#define _GNU_SOURCE
#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/sink.h"
#include "daemon/store_dir.h"
#include "daemon/store_meta.h"

#define FILE_MODE 0640
#define DIR_MODE  0750
/* ".<file>.tmp" */
#define TEMP_MAX (STORE_FILE_MAX + 5u)

/* Snapshots taken out of the index, to unlink once the lock is free. */
struct victims {
    int dirfd;             /* owns: a dup of the directory they are in; -1: none */
    struct store_entry *e; /* owns */
    size_t n;
};

struct store {
    pthread_mutex_t dir_lock; /* see the top of the file */
    pthread_mutex_t lock;
    struct store_limits lim;
    int dirfd; /* owns; -1: no usable directory (retried at each write) */
    dev_t dev;
    ino_t ino;
    struct store_entry *idx; /* owns; sorted by store_name_cmp(), oldest first */
    size_t n, cap;
    uint64_t bytes;           /* of idx[0..n) */
    struct store_tx *pending; /* borrows: writes in progress */
    uint64_t written, failures, evicted;
    int last_err;
};

static uint64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum store_file trace_file(enum store_format f)
{
    return f == STORE_JSON ? STORE_FILE_JSON : STORE_FILE_PFTRACE;
}

static void temp_name(const struct store_name *nm, enum store_file f, char dst[TEMP_MAX])
{
    dst[0] = '.';
    size_t n = store_name_file(nm, f, dst + 1);
    memcpy(dst + 1 + n, ".tmp", 5);
}

/* ---- the index (lock held) ---- */

/* Where nm is, or where it would go (*found says which). */
static size_t idx_search(const struct store *s, const struct store_name *nm, bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = store_name_cmp(&s->idx[mid].nm, nm);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int idx_insert(struct store *s, const struct store_entry *e)
{
    bool found;
    size_t at = idx_search(s, &e->nm, &found);
    if (found)
        return -EEXIST;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct store_entry *idx = realloc(s->idx, cap * sizeof *idx);
        if (!idx)
            return -ENOMEM;
        s->idx = idx;
        s->cap = cap;
    }
    memmove(&s->idx[at + 1], &s->idx[at], (s->n - at) * sizeof *s->idx);
    s->idx[at] = *e;
    s->n++;
    s->bytes += e->trace_bytes + e->meta_bytes;
    return 0;
}

static bool pending_has(const struct store *s, const struct store_name *nm)
{
    for (const struct store_tx *t = s->pending; t; t = t->next)
        if (store_name_cmp(&t->name, nm) == 0)
            return true;
    return false;
}

static void pending_remove(struct store *s, struct store_tx *tx)
{
    for (struct store_tx **pp = &s->pending; *pp; pp = &(*pp)->next) {
        if (*pp == tx) {
            *pp = tx->next;
            break;
        }
    }
}

/* Takes out of the index what the limits at now (ns) say must go: every
 * snapshot older than max_age, then the oldest while over max_files or
 * max_bytes. keep, the snapshot just written, never goes; without it the
 * newest never goes for count or bytes (only for age), so a snapshot
 * larger than max_bytes by itself stays until a newer one comes.
 * Sorted by time, the snapshots to take are the oldest m but keep. When
 * memory or an fd for v is lacking, nothing is taken: the next call tries
 * again. */
static void evict_locked(struct store *s, uint64_t now, const struct store_name *keep,
                         struct victims *v)
{
    const struct store_limits *l = &s->lim;
    bool found = false;
    size_t keep_i = keep ? idx_search(s, keep, &found) : SIZE_MAX;
    if (!found)
        keep_i = SIZE_MAX;
    size_t prot_i = keep ? keep_i : s->n - 1;
    uint64_t files = s->n, bytes = s->bytes;
    size_t m;

    v->dirfd = -1;
    v->e = NULL;
    v->n = 0;
    for (m = 0; m < s->n; m++) {
        const struct store_entry *e = &s->idx[m];
        if (m == keep_i)
            continue;
        uint64_t t = e->nm.time_ms * 1000000u;
        bool old = l->max_age_ns && now > t && now - t > l->max_age_ns;
        bool over = m != prot_i && ((l->max_files && files > l->max_files) ||
                                    (l->max_bytes && bytes > l->max_bytes));
        if (!old && !over)
            break;
        files--;
        bytes -= e->trace_bytes + e->meta_bytes;
    }
    size_t k = m - (keep_i < m);
    if (k == 0 || s->dirfd < 0)
        return;
    v->e = malloc(k * sizeof *v->e);
    v->dirfd = v->e ? fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0) : -1;
    if (v->dirfd < 0) {
        s->last_err = v->e ? -errno : -ENOMEM;
        free(v->e);
        v->e = NULL;
        return;
    }
    size_t out = 0;
    for (size_t i = 0; i < m; i++) {
        if (i == keep_i)
            s->idx[out++] = s->idx[i];
        else
            v->e[v->n++] = s->idx[i];
    }
    memmove(&s->idx[out], &s->idx[m], (s->n - m) * sizeof *s->idx);
    s->n -= k;
    s->bytes = bytes;
    s->evicted += k;
}

/* Unlinks what evict_locked() took (no lock held): trace first, the
 * reverse of a commit. A file that will not go (EROFS, EACCES) is out of
 * the index all the same; the next scan finds it again. */
static void victims_delete(struct victims *v)
{
    char name[STORE_FILE_MAX];
    for (size_t i = 0; i < v->n; i++) {
        store_name_file(&v->e[i].nm, trace_file(v->e[i].format), name);
        unlinkat(v->dirfd, name, 0);
        store_name_file(&v->e[i].nm, STORE_FILE_META, name);
        unlinkat(v->dirfd, name, 0);
    }
    if (v->dirfd >= 0)
        close(v->dirfd);
    free(v->e);
    v->e = NULL;
    v->n = 0;
    v->dirfd = -1;
}

/* ---- the directory (dir_lock held) ---- */

/* The scan's store_dir_busy_fn: names of writes in progress are left
 * alone. */
static bool is_pending(void *ctx, const struct store_name *nm)
{
    struct store *s = ctx;
    pthread_mutex_lock(&s->lock);
    bool p = pending_has(s, nm);
    pthread_mutex_unlock(&s->lock);
    return p;
}

/* Opens and scans the directory at lim.dir (creating it), makes it the
 * store's, and evicts to fit. On failure the store has no directory and
 * an empty index until a write succeeds in attaching one. */
static int dir_attach(struct store *s)
{
    struct store_entry *idx = NULL;
    size_t n = 0;
    uint64_t bytes = 0;
    struct stat st = {0};
    struct victims v = {-1, NULL, 0};
    int err = store_dir_make(s->lim.dir, DIR_MODE);
    int fd = err ? -1 : open(s->lim.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!err && fd < 0)
        err = -errno;
    if (!err && fstat(fd, &st) < 0)
        err = -errno;
    if (!err)
        err = store_dir_scan(fd, is_pending, s, &idx, &n, &bytes);
    if (err && fd >= 0) {
        close(fd);
        fd = -1;
    }

    pthread_mutex_lock(&s->lock);
    int old = s->dirfd;
    free(s->idx);
    s->dirfd = fd;
    s->dev = err ? 0 : st.st_dev;
    s->ino = err ? 0 : st.st_ino;
    s->idx = idx;
    s->n = s->cap = n;
    s->bytes = bytes;
    if (err)
        s->last_err = err;
    else
        evict_locked(s, wall_now(), NULL, &v);
    pthread_mutex_unlock(&s->lock);

    if (old >= 0)
        close(old);
    victims_delete(&v);
    return err;
}

/* The directory at lim.dir, (re)attached if it is missing or is not the
 * one the store holds (deleted, or replaced under the same path). */
static int dir_ensure(struct store *s)
{
    struct stat st;
    if (s->dirfd >= 0 && stat(s->lim.dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == s->dev &&
        st.st_ino == s->ino)
        return 0;
    return dir_attach(s);
}

/* ---- open, close, limits ---- */

static bool limits_ok(const struct store_limits *lim)
{
    return lim->dir[0] == '/' && memchr(lim->dir, 0, sizeof lim->dir) != NULL;
}

int store_open(struct store **out, const struct store_limits *lim)
{
    if (!limits_ok(lim))
        return -EINVAL;
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->dir_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    s->lim = *lim;
    s->dirfd = -1;
    pthread_mutex_lock(&s->dir_lock);
    dir_attach(s); /* a failure is kept in last_err; writes retry */
    pthread_mutex_unlock(&s->dir_lock);
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->idx);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->dir_lock);
    free(s);
}

int store_set_limits(struct store *s, const struct store_limits *lim)
{
    if (!limits_ok(lim))
        return -EINVAL;
    struct victims v = {-1, NULL, 0};
    int err = 0;
    pthread_mutex_lock(&s->dir_lock);
    pthread_mutex_lock(&s->lock);
    bool moved = strcmp(s->lim.dir, lim->dir) != 0;
    s->lim = *lim;
    if (!moved)
        evict_locked(s, wall_now(), NULL, &v);
    pthread_mutex_unlock(&s->lock);
    if (moved)
        err = dir_attach(s);
    victims_delete(&v);
    pthread_mutex_unlock(&s->dir_lock);
    return err;
}

/* ---- writing ---- */

static void count_failure(struct store *s, int err)
{
    pthread_mutex_lock(&s->lock);
    s->failures++;
    if (err)
        s->last_err = err;
    pthread_mutex_unlock(&s->lock);
}

/* The first free suffix for tx->name: not in the index, not being
 * written. The directory's fd goes with tx, so the write ends where it
 * began whatever the store does meanwhile. */
static int reserve_locked(struct store *s, struct store_tx *tx)
{
    bool found = true;
    for (tx->name.n = 1; tx->name.n <= STORE_SUFFIX_MAX; tx->name.n++) {
        idx_search(s, &tx->name, &found);
        if (!found && !pending_has(s, &tx->name))
            break;
    }
    if (tx->name.n > STORE_SUFFIX_MAX)
        return -EEXIST;
    tx->dirfd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
    if (tx->dirfd < 0)
        return -errno;
    tx->dev = s->dev;
    tx->ino = s->ino;
    tx->next = s->pending;
    s->pending = tx;
    return 0;
}

/* Creates name in dirfd for writing: O_EXCL (never an existing file,
 * never through a symlink) and FILE_MODE whatever the umask. */
static int create_file(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, FILE_MODE) < 0) {
        int err = -errno;
        close(fd);
        unlinkat(dirfd, name, 0);
        return err;
    }
    return fd;
}

int store_begin(struct store *s, const struct store_key *k, struct store_tx *tx)
{
    memset(tx, 0, sizeof *tx);
    tx->fd = -1;
    tx->dirfd = -1;
    if (!k || (k->format != STORE_PERFETTO && k->format != STORE_JSON)) {
        count_failure(s, -EINVAL);
        return -EINVAL;
    }
    store_name_init(&tx->name, k->wall_ns, k->rule, k->process, k->pid);
    snprintf(tx->rule, sizeof tx->rule, "%s", k->rule ? k->rule : "");
    snprintf(tx->process, sizeof tx->process, "%s", k->process ? k->process : "");
    tx->format = k->format;
    tx->wall_ns = k->wall_ns;
    tx->pid = k->pid;

    pthread_mutex_lock(&s->dir_lock);
    int err = dir_ensure(s);
    if (!err) {
        pthread_mutex_lock(&s->lock);
        err = reserve_locked(s, tx);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&s->dir_lock);
    if (err)
        goto fail;

    char tmp[TEMP_MAX];
    temp_name(&tx->name, trace_file(tx->format), tmp);
    tx->fd = create_file(tx->dirfd, tmp);
    if (tx->fd < 0) {
        err = tx->fd;
        goto unreserve;
    }
    return 0;
unreserve:
    pthread_mutex_lock(&s->lock);
    pending_remove(s, tx);
    pthread_mutex_unlock(&s->lock);
    close(tx->dirfd);
    tx->dirfd = -1;
fail:
    count_failure(s, err);
    return err;
}

/* The sidecar, complete and synced under its temporary name. */
static int write_sidecar(const struct store_tx *tx, const struct store_meta *m,
                         uint64_t trace_bytes, const char *tmp, uint64_t *bytes)
{
    char trace[STORE_FILE_MAX];
    store_name_file(&tx->name, trace_file(tx->format), trace);
    struct store_sidecar sc = {
        .rule = tx->rule,
        .process = tx->process,
        .pid = tx->pid,
        .wall_ns = tx->wall_ns,
        .format = tx->format,
        .trace = trace,
        .trace_bytes = trace_bytes,
        .m = m,
    };
    char *doc;
    size_t len;
    int err = store_meta_render(&sc, &doc, &len);
    if (err)
        return err;
    int fd = create_file(tx->dirfd, tmp);
    if (fd < 0) {
        err = fd;
        goto free_doc;
    }
    err = sink_fd_write(&fd, doc, len);
    if (!err && fsync(fd) < 0)
        err = -errno;
    if (close(fd) < 0 && !err && errno != EINTR)
        err = -errno;
    *bytes = len;
free_doc:
    free(doc);
    return err;
}

/* Renames from into to, never over an existing file. RENAME_NOREPLACE
 * is refused by a few file systems (EINVAL): there the name reserved in
 * the index is all that keeps two writes apart. */
static int publish(int dirfd, const char *from, const char *to)
{
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL && renameat(dirfd, from, dirfd, to) == 0)
        return 0;
    return -errno;
}

/* Makes the sidecar, then the trace, appear, and indexes the snapshot
 * (dir_lock held, so no scan runs in between). On failure, unlinks what
 * it renamed. */
static int publish_pair(struct store *s, struct store_tx *tx, const struct store_entry *e,
                        const char *ttmp, const char *mtmp, struct victims *v)
{
    char trace[STORE_FILE_MAX], meta[STORE_FILE_MAX];
    store_name_file(&tx->name, trace_file(tx->format), trace);
    store_name_file(&tx->name, STORE_FILE_META, meta);
    if (s->dirfd < 0 || s->dev != tx->dev || s->ino != tx->ino)
        return -ESTALE; /* the directory was replaced: tx's is no longer the store's */
    int err = publish(tx->dirfd, mtmp, meta);
    if (err)
        return err;
    err = publish(tx->dirfd, ttmp, trace);
    if (err)
        goto unlink_meta;
    if (fsync(tx->dirfd) < 0) {
        err = -errno;
        goto unlink_trace;
    }
    pthread_mutex_lock(&s->lock);
    err = idx_insert(s, e);
    if (!err) {
        pending_remove(s, tx);
        s->written++;
        evict_locked(s, wall_now(), &e->nm, v);
    }
    pthread_mutex_unlock(&s->lock);
    if (!err)
        return 0;
unlink_trace:
    unlinkat(tx->dirfd, trace, 0);
unlink_meta:
    unlinkat(tx->dirfd, meta, 0);
    return err;
}

int store_commit(struct store *s, struct store_tx *tx, const struct store_meta *m, char *name_out,
                 size_t name_len)
{
    char ttmp[TEMP_MAX], mtmp[TEMP_MAX];
    temp_name(&tx->name, trace_file(tx->format), ttmp);
    temp_name(&tx->name, STORE_FILE_META, mtmp);
    struct store_entry e = {.nm = tx->name, .format = tx->format};
    struct victims v = {-1, NULL, 0};
    struct stat st = {0};
    int err = 0;

    /* The trace: its size for the sidecar, then on disk before any name
     * points at it. close() can report a failed write-back (NFS). */
    if (fstat(tx->fd, &st) < 0 || fsync(tx->fd) < 0)
        err = -errno;
    if (close(tx->fd) < 0 && !err && errno != EINTR)
        err = -errno;
    tx->fd = -1;
    e.trace_bytes = (uint64_t)st.st_size;
    if (!err)
        err = write_sidecar(tx, m, e.trace_bytes, mtmp, &e.meta_bytes);
    if (!err) {
        pthread_mutex_lock(&s->dir_lock);
        err = publish_pair(s, tx, &e, ttmp, mtmp, &v);
        victims_delete(&v);
        pthread_mutex_unlock(&s->dir_lock);
    }
    if (err) {
        /* Whatever step failed, the temporary files are all that may
         * remain: unlink both (ENOENT when never made or renamed). */
        unlinkat(tx->dirfd, ttmp, 0);
        unlinkat(tx->dirfd, mtmp, 0);
        pthread_mutex_lock(&s->lock);
        pending_remove(s, tx);
        s->failures++;
        s->last_err = err;
        pthread_mutex_unlock(&s->lock);
    }
    close(tx->dirfd);
    tx->dirfd = -1;
    if (!err && name_out && name_len) {
        char trace[STORE_FILE_MAX];
        store_name_file(&e.nm, trace_file(e.format), trace);
        snprintf(name_out, name_len, "%s", trace);
    }
    return err;
}

void store_abort(struct store *s, struct store_tx *tx)
{
    char tmp[TEMP_MAX];
    temp_name(&tx->name, trace_file(tx->format), tmp);
    close(tx->fd);
    tx->fd = -1;
    unlinkat(tx->dirfd, tmp, 0);
    close(tx->dirfd);
    tx->dirfd = -1;
    pthread_mutex_lock(&s->lock);
    pending_remove(s, tx);
    s->failures++;
    pthread_mutex_unlock(&s->lock);
}

/* ---- reading ---- */

size_t store_expire(struct store *s, uint64_t now_wall_ns)
{
    struct victims v;
    pthread_mutex_lock(&s->lock);
    evict_locked(s, now_wall_ns, NULL, &v);
    pthread_mutex_unlock(&s->lock);
    size_t n = v.n;
    victims_delete(&v);
    return n;
}

uint64_t store_next_expiry(struct store *s)
{
    uint64_t due = UINT64_MAX;
    pthread_mutex_lock(&s->lock);
    if (s->n && s->lim.max_age_ns)
        due = s->idx[0].nm.time_ms * UINT64_C(1000000) + s->lim.max_age_ns;
    pthread_mutex_unlock(&s->lock);
    return due;
}

/* One element of the listing. Names hold [A-Za-z0-9._-TZ] only, so they
 * are written as they are, without escaping. */
static void list_entry(FILE *f, const struct store_entry *e, bool first)
{
    char base[STORE_BASE_MAX], when[40];
    store_name_base(&e->nm, base);
    store_rfc3339(when, e->nm.time_ms * 1000000u, 3);
    fprintf(f,
            "%s{\"name\":\"%s\",\"trace\":\"%s%s\",\"sidecar\":\"%s%s\",\"bytes\":%llu,"
            "\"time\":\"%s\",\"rule\":\"%s\",\"process\":\"%s\",\"pid\":%u,\"format\":\"%s\"}",
            first ? "\n" : ",\n", base, base, store_name_ext(trace_file(e->format)), base,
            store_name_ext(STORE_FILE_META), (unsigned long long)(e->trace_bytes + e->meta_bytes),
            when, e->nm.rule, e->nm.process, e->nm.pid, store_format_name(e->format));
}

/* One line per snapshot, for people (flightrec snapshots). */
static void text_entry(FILE *f, const struct store_entry *e)
{
    char base[STORE_BASE_MAX], when[40];
    store_name_base(&e->nm, base);
    store_rfc3339(when, e->nm.time_ms * 1000000u, 3);
    fprintf(f, "%-24s  %-16s  %-16s %7u %10llu  %s%s\n", when, e->nm.rule, e->nm.process,
            e->nm.pid, (unsigned long long)(e->trace_bytes + e->meta_bytes), base,
            store_name_ext(trace_file(e->format)));
}

static int list(struct store *s, bool text, char **out, size_t *len)
{
    struct victims v;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return -ENOMEM;
    pthread_mutex_lock(&s->lock);
    evict_locked(s, wall_now(), NULL, &v);
    if (text) {
        fprintf(f, "%-24s  %-16s  %-16s %7s %10s  %s\n", "TIME", "RULE", "PROCESS", "PID",
                "BYTES", "FILE");
        for (size_t i = s->n; i-- > 0;)
            text_entry(f, &s->idx[i]);
    } else {
        fputc('[', f);
        for (size_t i = s->n; i-- > 0;)
            list_entry(f, &s->idx[i], i == s->n - 1);
        fputs(s->n ? "\n]\n" : "]\n", f);
    }
    pthread_mutex_unlock(&s->lock);
    victims_delete(&v);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *len = size;
    return 0;
}

int store_list_json(struct store *s, char **json, size_t *len)
{
    return list(s, false, json, len);
}

int store_list_text(struct store *s, char **text, size_t *len)
{
    return list(s, true, text, len);
}

int store_open_file(struct store *s, const char *name, int *fd, uint64_t *size,
                    const char **content_type)
{
    struct store_name nm;
    enum store_file f;
    if (!name || store_name_parse(name, strlen(name), &nm, &f) < 0)
        return -EINVAL;

    /* The name opened is made from the index entry, not taken from the
     * caller; opened under the lock, so eviction cannot unlink it between
     * the lookup and the open (an fd, once open, outlives the unlink). */
    char file[STORE_FILE_MAX];
    int err = -ENOENT, rfd = -1;
    pthread_mutex_lock(&s->lock);
    bool found;
    size_t i = idx_search(s, &nm, &found);
    if (found && s->dirfd >= 0 && (f == STORE_FILE_META || f == trace_file(s->idx[i].format))) {
        store_name_file(&s->idx[i].nm, f, file);
        rfd = openat(s->dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        err = rfd < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (err)
        return err;

    struct stat st;
    if (fstat(rfd, &st) < 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode))
        err = -ENOENT;
    if (err) {
        close(rfd);
        return err;
    }
    *fd = rfd;
    *size = (uint64_t)st.st_size;
    *content_type = f == STORE_FILE_PFTRACE ? "application/octet-stream" : "application/json";
    return 0;
}

void store_stats(struct store *s, struct store_stats *st)
{
    pthread_mutex_lock(&s->lock);
    st->files = s->n;
    st->bytes = s->bytes;
    st->written = s->written;
    st->write_failures = s->failures;
    st->evicted = s->evicted;
    st->last_err = s->last_err;
    pthread_mutex_unlock(&s->lock);
}
