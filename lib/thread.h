/* thread.h - per-thread recording state and the record write primitives.
 *
 * Each thread writes only its own ring, so a record is: mark the thread
 * busy, read the ring's seq, make it odd (a reader must not trust the
 * slots being rewritten), store the units with relaxed atomic stores, make
 * seq even again with a release store, clear busy. No lock, no syscall, no
 * read-modify-write atomic.
 *
 * busy is what makes a signal handler on the same thread safe: a handler
 * that finds it set interrupted a record, so its own record is dropped
 * (and counted) and the interrupted one completes intact. busy is set
 * before seq is read, so a handler that runs before that point completes
 * its record first and the interrupted code then writes after it.
 */
#ifndef FR_LIB_THREAD_H
#define FR_LIB_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/abi.h"

#define FR__REGION_STACK 64 /* region names remembered for their end records */
#define FR__TASK_STACK 8    /* open or attached tasks remembered per thread */

struct fr__thread {
    struct fr_abi_ring *ring; /* borrows: NULL until claimed */
    _Atomic uint64_t *data;   /* the ring's units, as words */
    uint64_t mask;            /* units - 1 */
    uint32_t ring_idx;
    uint32_t depth;      /* open regions */
    uint32_t wait_depth; /* open waits; only the outermost is recorded */
    uint32_t wait_what;
    uint32_t wait_kind;
    uint64_t wait_start; /* record clock at the outermost wait's begin */
    int tid;
    uint64_t no_ring_gen; /* pool generation at the last failed claim */
    uint64_t task_next;   /* next task sequence number on this ring */
    uint32_t ntasks;
    bool exiting;
    volatile uint8_t busy; /* inside a record or a ring metadata change */
    uint64_t tasks[FR__TASK_STACK]; /* innermost last; bit 63 marks an attach */
    uint32_t names[FR__REGION_STACK];
    uint64_t starts[FR__REGION_STACK]; /* record clock at each region's begin */
};

extern __thread struct fr__thread fr__self __attribute__((tls_model("initial-exec")));

/* The calling thread's tid, cached. */
int fr__thread_tid(void);

/* Slow path of every event on a thread without a ring: initialises the
 * process if needed and claims a ring. Returns true when t->ring is set;
 * false when the event must be dropped (already counted). */
bool fr__thread_claim(struct fr__thread *t);

/* Gives the ring back (thread exit, fr_shutdown). */
void fr__thread_release(struct fr__thread *t);

/* Counts an event dropped because the thread was already inside a record. */
void fr__thread_drop_nested(struct fr__thread *t);

static inline struct fr__thread *fr__thread_ready(void)
{
    struct fr__thread *t = &fr__self;
    if (__builtin_expect(t->ring != NULL, 1) || fr__thread_claim(t))
        return t;
    return NULL;
}

/* Starts a record; *head is where its first unit goes. Returns false (and
 * counts the drop) when the thread is already inside a record. */
static inline bool fr__rec_open(struct fr__thread *t, uint64_t *head)
{
    if (__builtin_expect(t->busy, 0)) {
        fr__thread_drop_nested(t);
        return false;
    }
    t->busy = 1;
    /* A signal handler on this thread sees busy before we read seq. */
    atomic_signal_fence(memory_order_seq_cst);
    uint64_t s = atomic_load_explicit(&t->ring->seq, memory_order_relaxed) & ~(uint64_t)1;
    atomic_store_explicit(&t->ring->seq, s | 1, memory_order_relaxed);
    /* release: pairs with the acquire fence in reader.c copy_ring() before
     * it re-reads seq; a reader that copied a unit we store below sees
     * this odd seq (or a later one) and discards the unit. */
    atomic_thread_fence(memory_order_release);
    *head = s >> 1;
    return true;
}

static inline void fr__rec_put(struct fr__thread *t, uint64_t pos, uint64_t w0, uint64_t w1)
{
    _Atomic uint64_t *u = t->data + ((pos & t->mask) << 1);
    atomic_store_explicit(&u[0], w0, memory_order_relaxed);
    atomic_store_explicit(&u[1], w1, memory_order_relaxed);
}

static inline void fr__rec_close(struct fr__thread *t, uint64_t head)
{
    /* release: pairs with the acquire load of seq in reader.c copy_ring();
     * a reader that sees the new head sees the units below it. */
    atomic_store_explicit(&t->ring->seq, head << 1, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    t->busy = 0;
}

/* A one-unit record, the common case. */
static inline void fr__rec_put1(struct fr__thread *t, uint64_t w0, uint64_t w1)
{
    uint64_t h;
    if (!fr__rec_open(t, &h))
        return;
    fr__rec_put(t, h, w0, w1);
    fr__rec_close(t, h + 1);
}

/* A record of a head unit and n continuation units of (w0, payload56). */
static inline void fr__rec_putn(struct fr__thread *t, uint64_t w0, uint64_t w1,
                                const uint64_t (*cont)[2], unsigned n)
{
    uint64_t h;
    if (!fr__rec_open(t, &h))
        return;
    fr__rec_put(t, h, w0, w1);
    for (unsigned i = 0; i < n; i++)
        fr__rec_put(t, h + 1 + i, cont[i][0], fr_rec_cont_w1(cont[i][1]));
    fr__rec_close(t, h + 1 + n);
}

#endif
