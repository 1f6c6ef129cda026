/* rules.h - when flightrecd writes a snapshot by itself: the decisions.
 *
 * Holds the configured rules (config section `rules:`) and what they have
 * done lately, and decides for every trigger whether it starts a
 * snapshot, joins one already pending, waits for more (count/within), or
 * is suppressed (cooldown, the rule's cap, the global cap). Pure logic:
 * no I/O, no loop, time passed in (CLOCK_MONOTONIC ns), so that the tests
 * drive it through any history. daemon/autosnap.c runs it on the loop and
 * writes the snapshots.
 *
 * Which rules the library checks: rules_table_for() gives, per process
 * name, the task, region, wait and log rules whose process glob matches,
 * in the layout of the region's rule table (common/abi.h).
 *
 * Loop thread only (or any one thread).
 */
#ifndef FR_DAEMON_RULES_H
#define FR_DAEMON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/abi.h"
#include "common/ctl.h"
#include "daemon/config_schema.h"

#define RULES_TRIGGERS_KEPT 64 /* triggers listed per snapshot; more are only counted */
#define RULES_MANUAL_NAME "manual" /* the built-in rule for manual triggers */

/* One trigger, whatever its source. */
struct rule_trigger {
    uint64_t mono_ns;      /* when (CLOCK_MONOTONIC) */
    uint64_t measured_ns;  /* the span's duration; 0: none */
    uint64_t threshold_ns; /* the rule's, when it has one */
    uint64_t task_id;
    uint64_t proc_id;      /* registration number of the process, 0: none (a manual
                            * trigger for every process) */
    uint32_t pid, tid;
    char process[FR_ABI_NAME_MAX];
    char subject[FR_CTL_TEXT_MAX]; /* span name, log category, reason, how it ended */
};

enum rules_verdict {
    RULES_FIRED,      /* a snapshot is now pending: write it at its due time */
    RULES_MERGED,     /* joined the snapshot pending for the same rule and scope */
    RULES_COUNTING,   /* counted toward count/within; nothing more yet */
    RULES_COOLDOWN,   /* suppressed: the rule fired for this process recently */
    RULES_RULE_CAP,   /* suppressed: the rule's max_per_hour */
    RULES_GLOBAL_CAP, /* suppressed: limits.max_snapshots_per_hour */
};
#define RULES_VERDICTS 6

/* "fired", "merged", "counting", "cooldown", "rule_cap", "global_cap" */
const char *rules_verdict_name(enum rules_verdict v);

/* A snapshot to write: a copy of its rule (a reload cannot change it) and
 * the triggers it holds, the first one first. */
struct rules_pending {
    struct dconfig_rule rule;
    uint64_t scope_proc; /* registration number, 0: every process (scope all) */
    uint64_t fired_ns;   /* when it fired (its cooldown and caps count from then) */
    uint64_t due_ns;     /* first trigger's arrival + after */
    uint64_t from_ns;    /* window start: first trigger - before */
    uint64_t ntrig_total; /* triggers merged, the kept ones included */
    unsigned ntrig;
    struct rule_trigger trig[RULES_TRIGGERS_KEPT];
    struct rules_pending *next;
};

struct rule_stats {
    uint64_t triggers;                    /* every trigger offered */
    uint64_t verdicts[RULES_VERDICTS];
    uint64_t written, write_failures;     /* told by rules_done() */
    uint64_t last_log_ns, unlogged;       /* suppressions not logged yet */
};

struct rules;

/* Takes the rules and limits of cfg (cfg is copied). -ENOMEM. */
int rules_new(struct rules **out, const struct dconfig *cfg);
void rules_free(struct rules *r);

/* SIGHUP: the new rules take over at once. A rule that keeps its name
 * keeps its history (cooldowns, caps, counts, stats); pending snapshots
 * are written as they were decided. -ENOMEM leaves r as it was. */
int rules_reconfigure(struct rules *r, const struct dconfig *cfg);

/* The config generation: bumped by each rules_reconfigure(). */
uint64_t rules_gen(const struct rules *r);

/* The rules the library should check in a process called name, into out
 * (FR_ABI_RULES_MAX entries). Returns how many. */
unsigned rules_table_for(const struct rules *r, const char *name, struct fr_abi_rule *out);

/* The rule a trigger belongs to: by name for a rule the library checked
 * (it must still exist, be of kind on and apply to process), or for
 * on == DRULE_ON_MANUAL / DRULE_ON_EXIT (name NULL) the first such rule
 * that applies to process (NULL process: any). Manual triggers fall back
 * to a built-in rule named "manual" with the defaults when none is
 * configured. NULL when none. The pointer is valid until the next
 * rules_reconfigure(). */
const struct dconfig_rule *rules_find(const struct rules *r, const char *name, unsigned on,
                                      const char *process);

/* Every exit rule that applies to process, in config order: calls fn. */
void rules_each_exit(const struct rules *r, const char *process,
                     void (*fn)(const struct dconfig_rule *rule, void *arg), void *arg);

/* Decides on a trigger of rule (from rules_find()) at now. *pending is
 * set for RULES_FIRED and RULES_MERGED. *log is set when a suppression
 * should be logged now (once per cooldown, not per trigger), with
 * *unlogged the number suppressed since the last such line. */
enum rules_verdict rules_offer(struct rules *r, const struct dconfig_rule *rule,
                               const struct rule_trigger *t, uint64_t now_ns,
                               struct rules_pending **pending, bool *log, uint64_t *unlogged);

/* The pending snapshot due first, if due at now (taken out: the caller
 * owns it, frees it with free()); else NULL, with *next_due the time the
 * next one is due (UINT64_MAX: none). */
struct rules_pending *rules_take_due(struct rules *r, uint64_t now_ns, uint64_t *next_due);

/* Every pending snapshot, due or not (stopping: write them now). */
struct rules_pending *rules_take_all(struct rules *r);

/* A pending snapshot's file was written (ok) or could not be: then its
 * firing is taken back from the cooldown and caps, so that the next
 * trigger tries again (a full disk must not silence a rule for an hour). */
void rules_done(struct rules *r, const struct rules_pending *p, bool ok);

/* For /metrics: rule i (0 <= i < rules_count()), its name and stats;
 * rules of earlier configs that still have stats come after. */
size_t rules_count(const struct rules *r);
const struct rule_stats *rules_stats(const struct rules *r, size_t i, const char **name);

/* How long until rule may fire again for this process (0: now), for a
 * Retry-After. */
uint64_t rules_retry_ns(const struct rules *r, const struct dconfig_rule *rule, uint64_t proc_id,
                        uint64_t now_ns);

#endif
