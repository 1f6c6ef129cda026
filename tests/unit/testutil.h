/* testutil.h - helpers for tests that record with the real library and
 * read the process's own region back through the real reader. */
#ifndef FR_TESTS_TESTUTIL_H
#define FR_TESTS_TESTUTIL_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/reader.h"
#include "include/flightrec.h"
#include "lib/proc.h"
#include "lib/rules.h"

static inline int tu_read_self(struct trace_proc *p)
{
    struct reader r;
    int err = reader_open(&r, fr__proc.base, fr__proc.size);
    return err ? err : reader_read(&r, NULL, p);
}

static inline const struct trace_thread *tu_thread(const struct trace_proc *p, uint32_t tid)
{
    for (size_t i = 0; i < p->nthreads; i++)
        if (p->threads[i].tid == tid)
            return &p->threads[i];
    return NULL;
}

/* The text of a string id, NUL-terminated (the reader stores a NUL). */
static inline const char *tu_str(const struct trace_proc *p, uint32_t id)
{
    uint32_t len;
    return trace_str(p, id, &len);
}

static inline size_t tu_count(const struct trace_thread *t, unsigned type)
{
    size_t n = 0;
    for (size_t i = 0; t && i < t->n; i++)
        n += t->ev[i].type == type;
    return n;
}

static inline uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void tu_pause_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static inline uint32_t tu_gettid(void)
{
    return (uint32_t)syscall(SYS_gettid);
}

struct tu_job {
    void (*fn)(void *);
    void *arg;
    uint32_t tid;
};

static inline void *tu_job_main(void *arg)
{
    struct tu_job *j = arg;
    j->tid = tu_gettid();
    j->fn(j->arg);
    return NULL;
}

/* Runs fn(arg) on a new thread (so it gets a ring of its own), waits for
 * it, returns its tid. */
static inline uint32_t tu_on_thread(void (*fn)(void *), void *arg)
{
    struct tu_job j = {fn, arg, 0};
    pthread_t th;
    pthread_create(&th, NULL, tu_job_main, &j);
    pthread_join(th, NULL);
    return j.tid;
}

/* Plays the daemon: writes n rules into this process's rule table, as
 * registry_publish_rules() does, and applies them, as the client thread
 * does on RULES. Returns the rules in force. */
static inline unsigned tu_publish_rules(const struct fr_abi_rule *r, unsigned n)
{
    struct fr_abi_rules *t = (struct fr_abi_rules *)(fr__proc.base + fr__proc.hdr->rules_off);
    atomic_store(&t->seq, atomic_load(&t->seq) + 1);
    t->count = n;
    t->gen++;
    if (n)
        memcpy(t->rules, r, n * sizeof *r);
    atomic_store(&t->seq, atomic_load(&t->seq) + 1);
    return fr__rules_apply();
}

static inline struct fr_abi_rule tu_rule(const char *name, unsigned on, const char *match,
                                         uint64_t threshold_ns)
{
    struct fr_abi_rule r;
    memset(&r, 0, sizeof r);
    r.on = on;
    r.threshold_ns = threshold_ns;
    strncpy(r.name, name, sizeof r.name - 1);
    strncpy(r.match, match, sizeof r.match - 1);
    return r;
}

#endif
