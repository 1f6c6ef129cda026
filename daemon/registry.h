/* registry.h - the processes flightrecd serves.
 *
 * A process enters with its region (mapped read-only, checked by the
 * reader) and leaves one window after it ended, so that its last seconds
 * stay readable after an exit or a crash. Snapshot jobs hold references
 * so a mapping is never unmapped under them.
 *
 * Loop thread only, except proc_ref()/proc_unref() pairs taken on the
 * loop and released on the loop (jobs hand them back through the loop).
 */
#ifndef FR_DAEMON_REGISTRY_H
#define FR_DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/reader.h"

enum proc_state {
    PROC_LIVE,   /* connected */
    PROC_EXITED, /* said goodbye with an exit status */
    PROC_DIED,   /* connection closed without goodbye: killed or crashed */
};

struct proc {
    uint32_t pid; /* from SO_PEERCRED, never from the process */
    uint32_t uid;
    uint64_t id;  /* registration number, unique for the daemon's life */
    dev_t dev;    /* of the memfd: a re-registration of the same region */
    ino_t ino;
    const unsigned char *base; /* owns: read-only mapping */
    size_t size;
    struct reader rd; /* opened on base at registration */
    struct fr_abi_rules *rules; /* owns: a writable mapping of the region's rule table,
                                 * NULL when the region has none we can map */
    uint64_t rules_gen;         /* what was published there last */
    uint32_t rules_seq;         /* the table's seqlock, as we last left it (even) */
    char name[FR_ABI_NAME_MAX];
    enum proc_state state;
    int exit_status;
    uint64_t registered_ns, ended_ns; /* CLOCK_MONOTONIC */
    unsigned refs;                    /* snapshot jobs using the mapping */
    bool removed;                     /* out of the list, freed at refs == 0 */
    void *conn;                       /* borrows: control connection, NULL once ended */
    struct proc *next;
};

struct registry_limits {
    size_t max_procs;        /* registered at once, ended ones included */
    uint64_t max_region;     /* bytes a region may have */
};

struct registry {
    struct proc *head; /* owns, newest first */
    size_t count;
    uint64_t next_id;
    uint64_t window_ns;
    struct registry_limits lim;
    /* for /metrics */
    uint64_t registered_total, refused_total, died_total, exited_total;
};

void registry_init(struct registry *reg, uint64_t window_ns, const struct registry_limits *lim);
void registry_fini(struct registry *reg);

/* Maps and checks the region behind memfd for pid/uid. Takes memfd
 * (closed on every path: the mapping is all we keep). On failure returns
 * -errno with a one-line reason in why: -EPERM (not sealed against
 * shrinking), -EFBIG (too large), -EPROTO/-EINVAL (not a region we can
 * read), -ENOSPC (too many processes), -ENOMEM. */
int registry_add(struct registry *reg, int memfd, uint32_t pid, uint32_t uid, uint64_t now_ns,
                 struct proc **out, char *why, size_t whylen);

/* The process's connection closed: with its goodbye status, or died. */
void registry_end(struct registry *reg, struct proc *p, bool said_goodbye, int status,
                  uint64_t now_ns);

/* Drops ended processes older than the window. Returns the time the next
 * one is due (UINT64_MAX: none). */
uint64_t registry_expire(struct registry *reg, uint64_t now_ns);

/* Writes n rules (n <= FR_ABI_RULES_MAX) into p's rule table under its
 * seqlock. The daemon never reads that memory back: the process owns it
 * and may scribble on it, which only changes what the process itself
 * checks. False when p has no table. */
bool registry_publish_rules(struct proc *p, const struct fr_abi_rule *r, unsigned n,
                            uint64_t gen);

void proc_ref(struct proc *p);
void proc_unref(struct registry *reg, struct proc *p);

struct proc *registry_find_pid(struct registry *reg, uint32_t pid);

#endif
