/* proc.h - the process's recording region and its ring pool.
 *
 * One region per process, created on first use (memfd, sealed so that no
 * reader can be hit by SIGBUS; an anonymous shared mapping when memfd is
 * not available), never grown. A forked child gets a region of its own
 * with a copy of the parent's string table, so call-site ids stay valid.
 */
#ifndef FR_LIB_PROC_H
#define FR_LIB_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/abi.h"
#include "lib/lock.h"
#include "lib/strtab.h"

#define FR__RING_BYTES_DEFAULT (1u << 20)
#define FR__MAX_THREADS_DEFAULT 256u
#define FR__STRTAB_CAP 8192u
#define FR__STRTAB_BYTES (512u << 10)
#define FR__WINDOW_NS_DEFAULT 10000000000ull

enum { FR__INIT_NONE, FR__INIT_READY, FR__INIT_FAILED };

struct fr__proc {
    _Atomic int init;  /* FR__INIT_* */
    int init_err;      /* -errno of a failed init */
    unsigned char *base; /* owns: the mapping */
    size_t size;
    int fd; /* owns: the memfd, -1 for an anonymous mapping */
    struct fr_abi_header *hdr;
    struct fr_abi_ring *rings;
    unsigned char *data;
    struct fr_abi_layout layout;
    struct fr__strtab strtab;
    uint64_t *task_next; /* owns: per ring, task sequence numbers survive owners */
    fr__lock_t pool_lock;
    uint32_t next_free;       /* rings below were owned at least once */
    _Atomic uint64_t pool_gen; /* bumped when a ring is given back */
    _Atomic uint64_t fallback_task; /* task ids for threads without a ring */
};

extern struct fr__proc fr__proc;

/* Initialises the process once (first caller wins, others wait; a nested
 * call from a signal handler during init fails). Returns 0 or -errno. */
int fr__proc_init(const char *name);

/* Parses FLIGHTREC_RING_BYTES / FLIGHTREC_MAX_THREADS style values. */
int fr__proc_layout_from_env(struct fr_abi_layout *l);

#endif
