/* rules.h - the daemon's rules as the library checks them.
 *
 * flightrecd publishes the rules that apply to this process into the
 * region's rule table (common/abi.h) and says so on the control
 * connection; the client thread then applies them here. Applying matches
 * every interned name against every rule's glob once, and a name interned
 * later is matched when it is interned, so that the hot path never sees a
 * glob: per kind of span and per name id it finds one word, the complement
 * of the smallest threshold (in record clock ticks) of the rules that
 * match, 0 where none does. Ending a span is then one load and one compare
 * (fr__rule_hit()); only a hit takes the slow path, which converts the
 * duration exactly, checks each matching rule and records a trigger.
 *
 * The complement is stored so that zeroed memory means "no rule": the
 * table costs nothing in a process without rules.
 */
#ifndef FR_LIB_RULES_H
#define FR_LIB_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/abi.h"
#include "lib/proc.h"

struct fr__thread;

/* Kinds with a hot-path check: FR_ABI_RULE_TASK..FR_ABI_RULE_LOG, minus 1. */
#define FR__RULE_KINDS 4u

extern uint64_t fr__rule_inv[FR__RULE_KINDS][FR__STRTAB_CAP];

/* True when a span of `on` named name that lasted `ticks` may break a
 * rule (a log: ticks 0). The stored threshold is 1% under the real one, so
 * a hit is a candidate that fr__rule_fire() decides on exactly. */
static inline bool fr__rule_hit(unsigned on, uint32_t name, uint64_t ticks)
{
    uint64_t inv = __atomic_load_n(&fr__rule_inv[on - 1][name & (FR__STRTAB_CAP - 1)],
                                   __ATOMIC_RELAXED);
    return __builtin_expect(~ticks <= inv, 0);
}

/* The slow path of a hit: for each rule of kind `on` whose glob matches
 * name and whose threshold the span's exact duration reaches, records a
 * trigger on t (before the caller's END record, at `now`) and tells the
 * daemon. begin is the span's start (ticks; `now` for a log), task its
 * task id (0 unless a task). */
void fr__rule_fire(struct fr__thread *t, unsigned on, uint32_t name, uint64_t begin, uint64_t now,
                   uint64_t task);

/* Client thread: copies the region's rule table and applies it to every
 * name interned so far. Returns the number of rules now in force. */
unsigned fr__rules_apply(void);

/* Interning thread, after a new name got its id: matches it against the
 * rules in force. */
void fr__rules_new_name(uint32_t id, const char *name, size_t len);

/* In a forked child: a lock held by a parent thread is gone. */
void fr__rules_after_fork_child(void);

#endif
