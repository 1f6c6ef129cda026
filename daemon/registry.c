/* registry.c - the processes flightrecd serves (see registry.h).
 *
 * Owns every mapping. Loop thread only; never blocks (mmap of a memfd and
 * a few fcntl/fstat calls are all it does per registration).
 */
#define _GNU_SOURCE
#include "daemon/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void registry_init(struct registry *reg, uint64_t window_ns, const struct registry_limits *lim)
{
    memset(reg, 0, sizeof *reg);
    reg->window_ns = window_ns;
    reg->lim = *lim;
    reg->next_id = 1;
}

static void proc_free(struct proc *p)
{
    if (p->rules)
        munmap(p->rules, FR_ABI_RULES_BYTES);
    munmap((void *)p->base, p->size);
    free(p);
}

void registry_fini(struct registry *reg)
{
    for (struct proc *p = reg->head, *next; p; p = next) {
        next = p->next;
        proc_free(p);
    }
    reg->head = NULL;
    reg->count = 0;
}

static void unlink_proc(struct registry *reg, struct proc *p)
{
    for (struct proc **pp = &reg->head; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            reg->count--;
            break;
        }
    }
    p->removed = true;
    if (p->refs == 0)
        proc_free(p);
}

/* The rule table is the one part of a region the daemon writes. It is
 * mapped on its own, writable, only where the header puts it inside the
 * region past the header page; an fd the process opened read-only, or an
 * older library without a table, just gets no rules. */
static void map_rules(struct proc *p, int memfd)
{
    uint64_t off;
    uint32_t cap;
    if (p->rd.h.abi_minor < 1)
        return;
    memcpy(&off, p->base + offsetof(struct fr_abi_header, rules_off), sizeof off);
    memcpy(&cap, p->base + offsetof(struct fr_abi_header, rules_cap), sizeof cap);
    if (!off || off % 4096 || off < FR_ABI_HEADER_PAGE || cap < FR_ABI_RULES_MAX ||
        off > p->size || p->size - off < FR_ABI_RULES_BYTES)
        return;
    void *m = mmap(NULL, FR_ABI_RULES_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)off);
    p->rules = m == MAP_FAILED ? NULL : m;
}

bool registry_publish_rules(struct proc *p, const struct fr_abi_rule *r, unsigned n, uint64_t gen)
{
    struct fr_abi_rules *t = p->rules;
    if (!t)
        return false;
    if (n > FR_ABI_RULES_MAX)
        n = FR_ABI_RULES_MAX;
    /* Our own counter, not the table's: the process may have changed it. */
    uint32_t s = p->rules_seq + 1;
    p->rules_seq += 2;
    atomic_store_explicit(&t->seq, s, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    t->count = n;
    t->gen = gen;
    memcpy(t->rules, r, n * sizeof *r);
    atomic_store_explicit(&t->seq, s + 1, memory_order_release);
    p->rules_gen = gen;
    return true;
}

int registry_add(struct registry *reg, int memfd, uint32_t pid, uint32_t uid, uint64_t now_ns,
                 struct proc **out, char *why, size_t whylen)
{
    struct stat st;
    struct proc *p = NULL;
    int err;

    /* A region that can shrink could SIGBUS us while we copy it. */
    int seals = fcntl(memfd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(why, whylen, "region is not a memfd sealed against shrinking");
        err = -EPERM;
        goto close_fd;
    }
    if (fstat(memfd, &st) < 0) {
        err = -errno;
        snprintf(why, whylen, "cannot stat the region: %s", strerror(-err));
        goto close_fd;
    }
    if (st.st_size < (off_t)FR_ABI_HEADER_PAGE || (uint64_t)st.st_size > reg->lim.max_region) {
        snprintf(why, whylen, "region of %lld bytes (limit %llu)", (long long)st.st_size,
                 (unsigned long long)reg->lim.max_region);
        err = -EFBIG;
        goto close_fd;
    }
    if (reg->count >= reg->lim.max_procs) {
        snprintf(why, whylen, "too many processes registered (%zu)", reg->count);
        err = -ENOSPC;
        goto close_fd;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        err = -ENOMEM;
        snprintf(why, whylen, "out of memory");
        goto close_fd;
    }
    p->size = (size_t)st.st_size;
    void *base = mmap(NULL, p->size, PROT_READ, MAP_SHARED, memfd, 0);
    if (base == MAP_FAILED) {
        err = -errno;
        snprintf(why, whylen, "cannot map the region: %s", strerror(-err));
        goto free_proc;
    }
    p->base = base;
    err = reader_open(&p->rd, p->base, p->size);
    if (err < 0) {
        snprintf(why, whylen, "not a flightrec region this daemon can read (%s)",
                 strerror(-err));
        goto unmap;
    }
    map_rules(p, memfd);
    close(memfd);

    /* The same region again (the library reconnecting): replace the entry
     * that ended, keeping one entry per region. */
    for (struct proc *q = reg->head; q; q = q->next) {
        if (q->dev == st.st_dev && q->ino == st.st_ino && q->pid == pid && q->state != PROC_LIVE) {
            unlink_proc(reg, q);
            break;
        }
    }
    p->pid = pid;
    p->uid = uid;
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    p->id = reg->next_id++;
    memcpy(p->name, p->rd.h.process_name, sizeof p->name);
    p->state = PROC_LIVE;
    p->registered_ns = now_ns;
    p->next = reg->head;
    reg->head = p;
    reg->count++;
    reg->registered_total++;
    *out = p;
    return 0;
unmap:
    munmap(base, p->size);
free_proc:
    free(p);
close_fd:
    close(memfd);
    reg->refused_total++;
    return err;
}

void registry_end(struct registry *reg, struct proc *p, bool said_goodbye, int status,
                  uint64_t now_ns)
{
    if (p->state != PROC_LIVE)
        return;
    p->state = said_goodbye ? PROC_EXITED : PROC_DIED;
    p->exit_status = status;
    p->ended_ns = now_ns;
    p->conn = NULL;
    if (said_goodbye)
        reg->exited_total++;
    else
        reg->died_total++;
}

uint64_t registry_expire(struct registry *reg, uint64_t now_ns)
{
    uint64_t next = UINT64_MAX;
    for (struct proc *p = reg->head, *n; p; p = n) {
        n = p->next;
        if (p->state == PROC_LIVE)
            continue;
        uint64_t due = p->ended_ns + reg->window_ns;
        if (due <= now_ns)
            unlink_proc(reg, p);
        else if (due < next)
            next = due;
    }
    return next;
}

void proc_ref(struct proc *p)
{
    p->refs++;
}

void proc_unref(struct registry *reg, struct proc *p)
{
    (void)reg;
    if (--p->refs == 0 && p->removed)
        proc_free(p);
}

struct proc *registry_find_pid(struct registry *reg, uint32_t pid)
{
    for (struct proc *p = reg->head; p; p = p->next)
        if (p->pid == pid)
            return p;
    return NULL;
}
