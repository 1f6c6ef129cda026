/* lock.h - the library's only lock: a spin lock that knows its owner.
 *
 * Slow paths only (interning a new name, claiming a ring, first init).
 * Knowing the owner lets a signal handler that interrupted the owner on the
 * same thread give up instead of deadlocking.
 */
#ifndef FR_LIB_LOCK_H
#define FR_LIB_LOCK_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

typedef struct {
    _Atomic int owner; /* tid, 0 = free */
} fr__lock_t;

/* Returns 0 with the lock held, or -EDEADLK when this thread holds it
 * already (we are in a signal handler that interrupted it). */
static inline int fr__lock(fr__lock_t *l, int tid)
{
    for (;;) {
        int expect = 0;
        if (atomic_compare_exchange_weak_explicit(&l->owner, &expect, tid, memory_order_acquire,
                                                  memory_order_relaxed))
            return 0;
        if (expect == tid)
            return -EDEADLK;
        sched_yield();
    }
}

static inline void fr__unlock(fr__lock_t *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_release);
}

/* In a forked child only the forking thread exists; whoever held the lock
 * in the parent is gone. */
static inline void fr__lock_reset(fr__lock_t *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
}

#endif
