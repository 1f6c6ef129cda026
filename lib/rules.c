/* rules.c - applies the region's rule table to the process's names (see
 * rules.h).
 *
 * Two writers, both on slow paths, share one lock: the client thread
 * applying a new table (all names), and a thread interning a new name
 * (that name). Whichever runs second sees the other's result, so a name
 * interned during a reload ends up matched against the new rules. The
 * recording threads' slow path (a hit) reads the rules under a seqlock
 * and never waits.
 */
#define _GNU_SOURCE
#include "lib/rules.h"

#include <fnmatch.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/thread.h"
#include "lib/trigger.h"

uint64_t fr__rule_inv[FR__RULE_KINDS][FR__STRTAB_CAP];

struct rule {
    uint32_t on;
    uint32_t name_id; /* the rule's name, interned for trigger records */
    uint64_t threshold_ns;
    char name[FR_ABI_RULE_NAME_MAX];
    char match[FR_ABI_RULE_GLOB_MAX];
};

static struct {
    fr__lock_t lock; /* the writers' */
    _Atomic uint32_t seq; /* odd while the rules change: for fr__rule_fire() */
    unsigned n;
    struct rule r[FR_ABI_RULES_MAX];
    uint64_t mask[FR__STRTAB_CAP]; /* rules whose glob matches each name */
} rs;

/* The complement of the candidate threshold: 1% under the rule's, so
 * that a rough tick rate never hides a real hit; fr__rule_fire() then
 * decides with the exact duration. */
static uint64_t candidate_inv(const struct rule *r)
{
    if (r->on == FR_ABI_RULE_LOG)
        return UINT64_MAX; /* every log of the category: ~0 <= inv */
    uint64_t t = fr__clock_ns_to_ticks(r->threshold_ns);
    return ~(t - t / 100);
}

/* Caller holds the lock. */
static void match_name(uint32_t id, const char *s)
{
    uint64_t inv[FR__RULE_KINDS] = {0}, mask = 0;
    for (unsigned i = 0; i < rs.n; i++) {
        const struct rule *r = &rs.r[i];
        if (fnmatch(r->match, s, 0) != 0)
            continue;
        mask |= UINT64_C(1) << i;
        uint64_t v = candidate_inv(r);
        if (v > inv[r->on - 1])
            inv[r->on - 1] = v; /* the smallest threshold */
    }
    rs.mask[id] = mask;
    for (unsigned k = 0; k < FR__RULE_KINDS; k++)
        __atomic_store_n(&fr__rule_inv[k][id], inv[k], __ATOMIC_RELAXED);
}

void fr__rules_new_name(uint32_t id, const char *name, size_t len)
{
    if (id >= FR__STRTAB_CAP || len > FR_ABI_STR_MAX)
        return;
    char s[FR_ABI_STR_MAX + 1];
    memcpy(s, name, len);
    s[len] = 0;
    /* A signal handler interning inside an apply on this thread leaves the
     * name unmatched until the next apply; that is all it can cost. */
    if (fr__lock(&rs.lock, fr__thread_tid()) < 0)
        return;
    if (rs.n)
        match_name(id, s);
    fr__unlock(&rs.lock);
}

/* Copies the region's table under its seqlock; false if it kept changing. */
static bool copy_table(struct rule *out, unsigned *n)
{
    const struct fr_abi_header *h = fr__proc.hdr;
    if (!h->rules_off)
        return false;
    struct fr_abi_rules *t = (struct fr_abi_rules *)(fr__proc.base + h->rules_off);
    for (int tries = 0; tries < 100; tries++) {
        uint32_t s = atomic_load_explicit(&t->seq, memory_order_acquire);
        if (s & 1)
            continue;
        unsigned count = t->count < FR_ABI_RULES_MAX ? t->count : FR_ABI_RULES_MAX;
        unsigned k = 0;
        for (unsigned i = 0; i < count; i++) {
            struct rule r = {0};
            r.on = t->rules[i].on;
            r.threshold_ns = t->rules[i].threshold_ns;
            memcpy(r.name, t->rules[i].name, sizeof r.name - 1);
            memcpy(r.match, t->rules[i].match, sizeof r.match - 1);
            if (r.on >= FR_ABI_RULE_TASK && r.on <= FR_ABI_RULE_LOG)
                out[k++] = r; /* the daemon writes nothing else; skip what we cannot check */
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s) {
            *n = k;
            return true;
        }
    }
    return false;
}

unsigned fr__rules_apply(void)
{
    struct rule next[FR_ABI_RULES_MAX];
    unsigned n = 0;
    if (!copy_table(next, &n))
        return rs.n;
    /* Interned outside the lock: interning takes the string table's lock
     * and then ours (fr__rules_new_name()). */
    for (unsigned i = 0; i < n; i++)
        fr__strtab_intern(&fr__proc.strtab, next[i].name, &next[i].name_id);
    if (fr__lock(&rs.lock, fr__thread_tid()) < 0)
        return rs.n;
    atomic_store_explicit(&rs.seq, rs.seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(rs.r, next, n * sizeof next[0]);
    rs.n = n;
    atomic_store_explicit(&rs.seq, rs.seq + 1, memory_order_release);
    /* acquire: pairs with the release of count in strtab.c's append(). */
    uint32_t count = atomic_load_explicit(&fr__proc.strtab.shm->count, memory_order_acquire);
    if (count > FR__STRTAB_CAP)
        count = FR__STRTAB_CAP;
    char s[FR_ABI_STR_MAX + 1];
    for (uint32_t id = 2; id < count; id++) {
        const struct fr_abi_str *e = &fr__proc.strtab.shm->entries[id];
        size_t len = e->len > FR_ABI_STR_MAX ? FR_ABI_STR_MAX : e->len;
        memcpy(s, fr__proc.strtab.arena + e->off, len);
        s[len] = 0;
        match_name(id, s);
    }
    fr__unlock(&rs.lock);
    return n;
}

/* The rules of kind `on` matching name that the exact duration breaks,
 * copied out under the seqlock; returns how many. */
static unsigned broken(unsigned on, uint32_t name, uint64_t ns, struct rule *out)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t s = atomic_load_explicit(&rs.seq, memory_order_acquire);
        if (s & 1)
            continue;
        uint64_t mask = rs.mask[name & (FR__STRTAB_CAP - 1)];
        unsigned k = 0;
        for (unsigned i = 0; i < rs.n && i < FR_ABI_RULES_MAX; i++)
            if ((mask >> i & 1) && rs.r[i].on == on &&
                (on == FR_ABI_RULE_LOG || ns >= rs.r[i].threshold_ns))
                out[k++] = rs.r[i];
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&rs.seq, memory_order_relaxed) == s)
            return k;
    }
    return 0;
}

void fr__rule_fire(struct fr__thread *t, unsigned on, uint32_t name, uint64_t begin, uint64_t now,
                   uint64_t task)
{
    uint64_t ns = on == FR_ABI_RULE_LOG || now <= begin ? 0 : fr__clock_ticks_to_ns(now - begin);
    struct rule hit[FR_ABI_RULES_MAX];
    unsigned n = broken(on, name, ns, hit);
    if (!n)
        return;
    struct fr__trig tr = {
        .on = on, .tid = (uint32_t)fr__thread_tid(), .mono_ns = fr__clock_to_mono(now),
        .measured_ns = ns, .task_id = task,
    };
    /* acquire: entries below the published count are immutable. */
    uint32_t count = atomic_load_explicit(&fr__proc.strtab.shm->count, memory_order_acquire);
    const struct fr_abi_str *e = name < count ? &fr__proc.strtab.shm->entries[name] : NULL;
    if (e && e->len < sizeof tr.subject) {
        memcpy(tr.subject, fr__proc.strtab.arena + e->off, e->len);
        tr.subject[e->len] = 0;
    } else if (e) {
        memcpy(tr.subject, fr__proc.strtab.arena + e->off, sizeof tr.subject - 1);
    }
    for (unsigned i = 0; i < n; i++) {
        tr.threshold_ns = hit[i].threshold_ns;
        memcpy(tr.rule, hit[i].name, sizeof tr.rule);
        fr__trigger_record(t, now, &tr, hit[i].name_id, name);
        fr__trigger_post(&tr);
    }
}

void fr__rules_after_fork_child(void)
{
    fr__lock_reset(&rs.lock);
}
