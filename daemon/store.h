/* store.h - the snapshot store: the directory where flightrecd keeps the
 * traces it writes by itself when a rule fires, each with a JSON sidecar
 * that says why, within limits on count, bytes and age.
 *
 * A write is a transaction: store_begin() reserves a name and creates a
 * temporary file for the encoder; store_commit() makes the trace and its
 * sidecar appear together (fsync, rename, fsync of the directory), then
 * deletes the oldest snapshots until the store is within its limits.
 * Nothing partial is ever visible: a failed or crashed write leaves no
 * file, or only temporary ones that the next scan deletes. Names: see
 * store_name.h; on disk: docs/daemon.md, "The snapshot store".
 *
 * Threads: writes run on libuv's thread pool, several at once; listing
 * and opening run on the loop thread. Every function may be called from
 * any thread, except store_close(). Locks are never held while trace data
 * is written or synced.
 */
#ifndef FR_DAEMON_STORE_H
#define FR_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/store_name.h"

#define STORE_DIR_MAX 256u
/* Bytes of the key's rule and process kept for the sidecar, NUL included. */
#define STORE_KEY_STR_MAX 256u
/* An absent value: written as null in the sidecar. */
#define STORE_NONE UINT64_MAX

/* A limit of 0 means no limit of that kind. */
struct store_limits {
    char dir[STORE_DIR_MAX]; /* absolute path, default /var/lib/flightrec/snapshots */
    uint32_t max_files;      /* snapshots kept (a snapshot = trace + sidecar) */
    uint64_t max_bytes;      /* bytes of traces + sidecars kept */
    uint64_t max_age_ns;     /* older snapshots are deleted */
};

enum store_format {
    STORE_PERFETTO, /* <base>.pftrace */
    STORE_JSON,     /* <base>.trace.json */
};

/* What names a snapshot; also the sidecar's rule, process, pid and time. */
struct store_key {
    uint64_t wall_ns;    /* the trigger's CLOCK_REALTIME */
    const char *rule;    /* borrows; any bytes (the sidecar keeps
                          * STORE_KEY_STR_MAX - 1 of them) */
    const char *process; /* borrows; the same */
    uint32_t pid;
    enum store_format format;
};

/* One trigger merged into the snapshot. */
struct store_trigger {
    uint64_t mono_ns; /* CLOCK_MONOTONIC */
    uint32_t pid, tid;
    uint64_t measured_ns; /* STORE_NONE: none */
    uint64_t task_id;     /* the offending task; 0: none */
    const char *subject;  /* borrows; task, region or wait name, or log category; NULL: none */
    const char *reason;   /* borrows; why it fired, e.g. "over threshold"; NULL: none */
};

/* The rest of the sidecar. Everything is borrowed for the call. */
struct store_meta {
    const char *on;        /* what the rule watches: "task", "region", ... */
    uint64_t threshold_ns; /* STORE_NONE: none */
    uint64_t measured_ns;  /* STORE_NONE: none */
    uint64_t trigger_mono_ns;
    const struct store_trigger *triggers;
    size_t ntriggers;
    uint64_t ntriggers_total; /* merged into this snapshot, the listed ones included */
    uint64_t window_from_ns, window_to_ns; /* CLOCK_MONOTONIC */
};

struct store;

/* A write in progress: the caller's storage, filled by store_begin(). */
struct store_tx {
    int fd; /* the trace's temporary file, write-only; the store closes it */

    /* the store's own, until store_commit() or store_abort() */
    int dirfd; /* owns: the directory the write began in */
    dev_t dev;
    ino_t ino;
    struct store_name name;
    enum store_format format;
    uint64_t wall_ns;
    uint32_t pid;
    char rule[STORE_KEY_STR_MAX];
    char process[STORE_KEY_STR_MAX];
    struct store_tx *next; /* in the store's list of writes in progress */
};

struct store_stats {
    uint64_t files;          /* snapshots in the store */
    uint64_t bytes;          /* their traces and sidecars */
    uint64_t written;        /* snapshots committed */
    uint64_t write_failures; /* failed begins and commits, and aborts */
    uint64_t evicted;        /* snapshots deleted to stay within the limits */
    int last_err;            /* -errno of the last failure (write or directory); 0: none */
};

/* Opens the store: creates the directory if missing (mkdir -p, mode
 * 0750), scans it (deletes our stale temporary files and incomplete
 * snapshots, indexes the rest) and evicts to fit the limits. A directory
 * that cannot be created or read is not an error here: the store starts
 * empty, stats.last_err says why, and every write tries again. Returns 0
 * and *out (free with store_close()), or -EINVAL (dir not absolute or too
 * long), -ENOMEM. */
int store_open(struct store **out, const struct store_limits *lim);

/* No write may be in progress. */
void store_close(struct store *s);

/* New limits (on SIGHUP), applied at once. A new dir is opened and
 * scanned as at store_open() and the old one is left as it is; writes in
 * progress in the old one then fail with -ESTALE. Returns 0, -EINVAL
 * (nothing changed), or the -errno of a new directory that cannot be
 * used (the limits are in force; writes retry it). */
int store_set_limits(struct store *s, const struct store_limits *lim);

/* Begins a write: reserves the name for k (a -N suffix when the base is
 * taken) and creates the trace's temporary file, tx->fd, for the encoder
 * to write into (with common/sink.h's sink_fd_write). Recreates and
 * rescans the directory first if it is missing or was replaced. Borrows
 * k. Returns 0, then exactly one of store_commit() and store_abort()
 * must follow; or -errno and tx needs nothing more: -EINVAL (bad key),
 * -EEXIST (every suffix taken), or what mkdir(2), open(2) or fchmod(2)
 * said (-ENOENT, -EACCES, -EROFS, -ENOSPC, ...). */
int store_begin(struct store *s, const struct store_key *k, struct store_tx *tx);

/* Finishes a write: syncs the trace, writes the sidecar from m, makes both
 * appear, then evicts the oldest snapshots until within the limits (never
 * the one just written). Always ends tx. Returns 0 with the trace's file
 * name in name_out (name_len >= STORE_FILE_MAX, or it is cut; NULL: not
 * wanted); or -errno and nothing of the write is left: -ENOSPC, -EFBIG,
 * -EIO, ... from the disk, -EEXIST (a file of that name appeared),
 * -ESTALE (the directory was replaced or changed meanwhile), -ENOMEM. */
int store_commit(struct store *s, struct store_tx *tx, const struct store_meta *m, char *name_out,
                 size_t name_len);

/* Abandons a write (the encoder failed): deletes its temporary file and
 * counts a write failure. Always ends tx. */
void store_abort(struct store *s, struct store_tx *tx);

/* Deletes the snapshots older than max_age at now_wall_ns (CLOCK_REALTIME
 * ns), for a timer. Returns how many. */
size_t store_expire(struct store *s, uint64_t now_wall_ns);

/* When the oldest snapshot passes max_age (CLOCK_REALTIME ns), for that
 * timer; UINT64_MAX when nothing will (no snapshot, or no max_age). */
uint64_t store_next_expiry(struct store *s);

/* GET /debug/flightrecorder/snapshots: after store_expire() at the
 * current time, a JSON array, newest first, of
 *   {"name":"<base>","trace":"<base>.pftrace","sidecar":"<base>.meta.json",
 *    "bytes":N,"time":"2026-11-23T10:15:02.123Z","rule":"...",
 *    "process":"...","pid":N,"format":"perfetto"|"json"}
 * bytes counts trace and sidecar; time, rule, process and pid are those
 * of the name (so rule and process are sanitised). Returns 0 and *json
 * (owned, free(); *len bytes plus a NUL), or -ENOMEM. */
int store_list_json(struct store *s, char **json, size_t *len);

/* The same as a table for people, one snapshot per line under a header
 * (flightrec snapshots; ?format=text). */
int store_list_text(struct store *s, char **text, size_t *len);

/* GET /debug/flightrecorder/snapshots/NAME: name is a trace's or a
 * sidecar's file name, looked up in the index (never joined to a path as
 * given). Returns 0 with *fd (owned, O_RDONLY), *size and *content_type
 * (static); -EINVAL when name is not a name of the store's ("../x", a
 * path, a temporary file), -ENOENT when no snapshot has it, or the -errno
 * of open(2). */
int store_open_file(struct store *s, const char *name, int *fd, uint64_t *size,
                    const char **content_type);

void store_stats(struct store *s, struct store_stats *st);

#endif
