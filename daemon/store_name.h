/* store_name.h - the file names of the snapshot store: built from a
 * trigger's time, rule, process and pid, and parsed back from a directory
 * listing.
 *
 * A snapshot is two files with one base name:
 *
 *     20261123T101502.123Z-slow_orders-svc_api-4242.pftrace     (or .trace.json)
 *     20261123T101502.123Z-slow_orders-svc_api-4242.meta.json   (the sidecar)
 *
 * the UTC time in ms, the rule, the process, the pid and, when that base
 * was taken already, a suffix -2, -3, ... The rule and the process are
 * written with [A-Za-z0-9._] only: any other byte becomes '_', leading
 * dots are dropped, each is cut to STORE_PART_MAX bytes, and an empty one
 * is written "_". '-' becomes '_' too, because it separates the fields:
 * that keeps a name parseable into the same fields it was built from, so
 * the store's index (and its listing) is the same after a restart as
 * before. A name therefore never holds '/', never starts with '.' and is
 * never "." or "..": whatever a process calls itself, its snapshot is a
 * plain name inside the directory. The sidecar holds the exact names.
 *
 * The parser accepts exactly the names the builder makes (one spelling
 * per snapshot: no leading zeros, a real date), which is what lets the
 * store tell its own files from anything else in the directory. It reads
 * names from disk: tests/fuzz/fuzz_store_name.c fuzzes it.
 *
 * Pure functions; any thread.
 */
#ifndef FR_DAEMON_STORE_NAME_H
#define FR_DAEMON_STORE_NAME_H

#include <stddef.h>
#include <stdint.h>

#define STORE_PART_MAX   48u   /* bytes of the rule or the process in a name */
#define STORE_SUFFIX_MAX 9999u /* the largest -N suffix */

/* Bytes of a base name with its NUL: time, rule, process, pid, suffix. */
#define STORE_BASE_MAX (20u + 1u + STORE_PART_MAX + 1u + STORE_PART_MAX + 1u + 10u + 5u + 1u)
/* A file name: the base and the longest extension (".trace.json"). */
#define STORE_FILE_MAX (STORE_BASE_MAX + 11u)

/* The files of a snapshot. */
enum store_file {
    STORE_FILE_PFTRACE, /* <base>.pftrace: Perfetto protobuf */
    STORE_FILE_JSON,    /* <base>.trace.json: Chrome JSON */
    STORE_FILE_META,    /* <base>.meta.json: the sidecar */
};

/* The fields of a base name. */
struct store_name {
    uint64_t time_ms; /* UTC, ms since the epoch */
    uint32_t pid;
    uint32_t n;                       /* 1: no suffix; 2..STORE_SUFFIX_MAX: the -N suffix */
    char rule[STORE_PART_MAX + 1];    /* sanitised, NUL-terminated */
    char process[STORE_PART_MAX + 1]; /* sanitised, NUL-terminated */
};

/* Fills nm for a snapshot taken at wall_ns (CLOCK_REALTIME, cut to ms),
 * with n = 1. Borrows rule and process (NUL-terminated, any bytes; NULL
 * is taken as empty). */
void store_name_init(struct store_name *nm, uint64_t wall_ns, const char *rule, const char *process,
                     uint32_t pid);

/* Writes the base name into dst (STORE_BASE_MAX bytes), NUL-terminated.
 * Returns its length. nm must come from store_name_init() or
 * store_name_parse() (n may be changed to 1..STORE_SUFFIX_MAX). */
size_t store_name_base(const struct store_name *nm, char *dst);

/* The same with the extension of f (dst: STORE_FILE_MAX bytes). */
size_t store_name_file(const struct store_name *nm, enum store_file f, char *dst);

/* ".pftrace", ".trace.json" or ".meta.json". */
const char *store_name_ext(enum store_file f);

/* Orders names oldest first (by time, then the other fields: a total
 * order, so a -2 comes after the name it was a suffix to). */
int store_name_cmp(const struct store_name *a, const struct store_name *b);

/* Parses name[0..len) (any bytes) as one of the store's file names.
 * Returns 0 with *nm and *f filled, or -EINVAL when it is not one: then
 * *nm and *f are unspecified. store_name_file() of the result gives back
 * exactly name. */
int store_name_parse(const char *name, size_t len, struct store_name *nm, enum store_file *f);

#endif
