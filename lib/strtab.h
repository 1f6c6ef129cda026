/* strtab.h - interning names into the region's string table.
 *
 * Records carry 32-bit ids, never pointers. The shared table holds the
 * bytes for readers; a private hash index finds a string's id. Slow path
 * only: a call site interns its literal once and caches the id.
 */
#ifndef FR_LIB_STRTAB_H
#define FR_LIB_STRTAB_H

#include <stdint.h>

#include "common/abi.h"
#include "lib/lock.h"

struct fr__strtab {
    struct fr_abi_strtab *shm; /* borrows: inside the region */
    char *arena;               /* borrows: inside the region */
    uint32_t cap, bytes;       /* entries and arena bytes */
    uint32_t count, used;      /* private copies of what is published */
    uint32_t *index;           /* owns: open addressing, id + 1, 0 = empty */
    uint32_t index_mask;
    _Atomic uint64_t *overflow; /* borrows: header counter */
    fr__lock_t lock;            /* serialises appends */
    /* Called after a new name got its id, outside the lock (rules.c
     * matches it); NULL: nobody to tell. */
    void (*on_new)(uint32_t id, const char *s, size_t len);
};

/* Lays out an empty table (ids 0 and 1 reserved) in shm. -ENOMEM. */
int fr__strtab_init(struct fr__strtab *t, struct fr_abi_strtab *shm, uint32_t cap,
                    uint32_t bytes, _Atomic uint64_t *overflow);
/* Copies another table's strings (a forked child keeps its parent's ids).
 * Returns 0 or -ENOSPC when src holds more than t can. */
int fr__strtab_copy(struct fr__strtab *t, const struct fr__strtab *src);
void fr__strtab_fini(struct fr__strtab *t);

/* Sets *id to the id of s (NULL and "" are FR_ABI_STR_EMPTY); strings over
 * FR_ABI_STR_MAX bytes are cut. Returns 0; -ENOSPC when the table is full
 * (*id is FR_ABI_STR_OVERFLOW, counted, and will stay so); -EDEADLK in a
 * signal handler that interrupted an intern on the same thread (*id is
 * FR_ABI_STR_OVERFLOW, counted; trying later may succeed). Never blocks
 * on another thread for long. */
int fr__strtab_intern(struct fr__strtab *t, const char *s, uint32_t *id);

#endif
