/* strtab.c - the process's string table.
 *
 * Appends are serialised by a spin lock that records its owner, so that a
 * signal handler interrupting an intern on the same thread gives up instead
 * of deadlocking. The lock is taken once per call site and per dynamic
 * name, never per event.
 */
#include "lib/strtab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/thread.h"

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Appends s without looking it up; caller holds the lock. */
static uint32_t append(struct fr__strtab *t, const char *s, size_t n)
{
    if (t->count >= t->cap || n > t->bytes - t->used)
        return FR_ABI_STR_OVERFLOW;
    uint32_t id = t->count;
    memcpy(t->arena + t->used, s, n);
    t->shm->entries[id] = (struct fr_abi_str){.off = t->used, .len = (uint32_t)n};
    t->used += (uint32_t)n;
    t->count = id + 1;
    /* release: pairs with the acquire in reader's read_strtab(); a reader
     * that sees the count sees the entry and its bytes. */
    atomic_store_explicit(&t->shm->count, t->count, memory_order_release);
    return id;
}

static uint32_t *slot_for(struct fr__strtab *t, const char *s, size_t n)
{
    for (uint32_t i = hash(s, n) & t->index_mask;; i = (i + 1) & t->index_mask) {
        uint32_t v = t->index[i];
        if (v == 0)
            return &t->index[i];
        const struct fr_abi_str *e = &t->shm->entries[v - 1];
        if (e->len == n && memcmp(t->arena + e->off, s, n) == 0)
            return &t->index[i];
    }
}

int fr__strtab_init(struct fr__strtab *t, struct fr_abi_strtab *shm, uint32_t cap,
                    uint32_t bytes, _Atomic uint64_t *overflow)
{
    uint32_t slots = 1;
    while (slots < cap * 2)
        slots <<= 1;
    t->index = calloc(slots, sizeof *t->index);
    if (!t->index)
        return -ENOMEM;
    t->index_mask = slots - 1;
    t->shm = shm;
    t->cap = cap;
    t->bytes = bytes;
    t->count = 0;
    t->used = 0;
    t->overflow = overflow;
    shm->arena_off = offsetof(struct fr_abi_strtab, entries) + (uint64_t)cap * sizeof(struct fr_abi_str);
    t->arena = (char *)shm + shm->arena_off;
    append(t, "", 0);
    append(t, FR_ABI_STR_OVERFLOW_TEXT, sizeof FR_ABI_STR_OVERFLOW_TEXT - 1);
    return 0;
}

int fr__strtab_copy(struct fr__strtab *t, const struct fr__strtab *src)
{
    if (src->count > t->cap || src->used > t->bytes)
        return -ENOSPC;
    memcpy(t->arena, src->arena, src->used);
    memcpy(t->shm->entries, src->shm->entries, src->count * sizeof(struct fr_abi_str));
    memset(t->index, 0, (t->index_mask + 1) * sizeof *t->index);
    t->count = src->count;
    t->used = src->used;
    for (uint32_t id = 2; id < t->count; id++) {
        const struct fr_abi_str *e = &t->shm->entries[id];
        *slot_for(t, t->arena + e->off, e->len) = id + 1;
    }
    atomic_store_explicit(&t->shm->count, t->count, memory_order_release);
    return 0;
}

void fr__strtab_fini(struct fr__strtab *t)
{
    free(t->index);
    t->index = NULL;
}

int fr__strtab_intern(struct fr__strtab *t, const char *s, uint32_t *id)
{
    *id = FR_ABI_STR_EMPTY;
    if (!s || !*s)
        return 0;
    size_t n = strnlen(s, FR_ABI_STR_MAX);
    if (fr__lock(&t->lock, fr__thread_tid()) < 0) {
        atomic_fetch_add_explicit(t->overflow, 1, memory_order_relaxed);
        *id = FR_ABI_STR_OVERFLOW;
        return -EDEADLK;
    }
    uint32_t *slot = slot_for(t, s, n);
    bool fresh = !*slot;
    *id = *slot ? *slot - 1 : append(t, s, n);
    if (fresh && *id != FR_ABI_STR_OVERFLOW)
        *slot = *id + 1;
    fr__unlock(&t->lock);
    if (*id != FR_ABI_STR_OVERFLOW) {
        if (fresh && t->on_new)
            t->on_new(*id, s, n);
        return 0;
    }
    atomic_fetch_add_explicit(t->overflow, 1, memory_order_relaxed);
    return -ENOSPC;
}
