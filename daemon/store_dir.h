/* store_dir.h - the snapshot store's directory on disk: making it, and
 * reading it back into an index (at open, and whenever the store takes
 * up a directory).
 *
 * The scan is where a crash is repaired (store.c explains the order of a
 * commit): our stale temporary files are deleted, and so is every
 * incomplete snapshot, a trace without its sidecar or a sidecar without
 * its trace. Only names store_name_parse() accepts are ours; anything
 * else in the directory is left alone and is not indexed.
 *
 * No locks, no global state; blocking file system calls. The caller
 * keeps its own renames out of a scan of the same directory.
 */
#ifndef FR_DAEMON_STORE_DIR_H
#define FR_DAEMON_STORE_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/store.h"
#include "daemon/store_name.h"

/* A complete snapshot. */
struct store_entry {
    struct store_name nm;
    enum store_format format;
    uint64_t trace_bytes, meta_bytes;
};

/* True when a write in progress owns the base name nm: its files are
 * neither stale nor incomplete, and are left alone. */
typedef bool (*store_dir_busy_fn)(void *ctx, const struct store_name *nm);

/* mkdir -p: each directory it makes gets mode, whatever the umask.
 * Returns 0, or the first failure other than EEXIST (-ENOTDIR, -EACCES,
 * -EROFS, ...). */
int store_dir_make(const char *path, mode_t mode);

/* Reads the directory dirfd, deletes what is stale or incomplete (unless
 * busy(ctx, name) says a write owns it) and returns the complete
 * snapshots in *out (owned, free(); sorted by store_name_cmp(), oldest
 * first), their number in *n and their bytes in *bytes. Returns 0, the
 * -errno of reading the directory, or -ENOMEM. */
int store_dir_scan(int dirfd, store_dir_busy_fn busy, void *ctx, struct store_entry **out,
                   size_t *n, uint64_t *bytes);

#endif
