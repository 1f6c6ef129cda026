/* rules.c - the decisions of the rules (see rules.h).
 *
 * History lives per rule name, apart from the config, so that a reload
 * that keeps a rule keeps its cooldowns and caps (a storm must not get a
 * fresh budget from `systemctl reload`). Caps count snapshots decided in
 * the last hour, kept as rings of their times, as long as the cap: the
 * cap is reached when the ring is full and its oldest entry is less than
 * an hour old.
 */
#define _GNU_SOURCE
#include "daemon/rules.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_NS (3600ull * 1000000000ull)
#define KEYS_PRUNE 1024 /* per rule, beyond this idle keys are dropped */
#define LOG_EVERY_MIN_NS (10ull * 1000000000ull)

/* The last `cap` event times. */
struct times {
    uint64_t *t;
    uint32_t cap, n, head; /* head: where the next goes */
};

/* What a rule remembers per process (or for "every process", id 0). */
struct key_state {
    uint64_t proc_id;
    uint64_t last_fire; /* 0: never */
    uint64_t last_seen;
    struct times counted; /* count/within: the recent matches */
};

struct rule_state {
    char name[DCONFIG_RULE_NAME_MAX];
    struct rule_stats st;
    struct times fires; /* max_per_hour */
    struct key_state *keys;
    size_t nkeys, keys_cap;
    struct rule_state *next;
};

struct rules {
    struct dconfig_rule rule[DCONFIG_RULES_MAX + 1]; /* + the built-in manual rule */
    struct rule_state *state[DCONFIG_RULES_MAX + 1];
    size_t n;
    struct rule_state *states; /* owns: every name seen, newest config first */
    uint64_t window_ns;
    struct times global;
    struct rules_pending *pending; /* owns, by due time */
    uint64_t gen;
};

static const char *const verdict_names[RULES_VERDICTS] = {
    "fired", "merged", "counting", "cooldown", "rule_cap", "global_cap",
};

const char *rules_verdict_name(enum rules_verdict v)
{
    return (unsigned)v < RULES_VERDICTS ? verdict_names[v] : "?";
}

/* ---- rings of times ---- */

/* Resizes to cap entries, keeping the newest. -ENOMEM leaves t as is. */
static int times_resize(struct times *t, uint32_t cap)
{
    if (cap == t->cap)
        return 0;
    uint64_t *nt = cap ? calloc(cap, sizeof *nt) : NULL;
    if (cap && !nt)
        return -ENOMEM;
    uint32_t keep = t->n < cap ? t->n : cap;
    for (uint32_t i = 0; i < keep; i++) /* oldest kept first */
        nt[i] = t->t[(t->head + t->cap - keep + i) % t->cap];
    free(t->t);
    t->t = nt;
    t->cap = cap;
    t->n = keep;
    t->head = cap ? keep % cap : 0;
    return 0;
}

static void times_push(struct times *t, uint64_t v)
{
    if (!t->cap)
        return;
    t->t[t->head] = v;
    t->head = (t->head + 1) % t->cap;
    if (t->n < t->cap)
        t->n++;
}

static uint64_t times_oldest(const struct times *t)
{
    return t->t[(t->head + t->cap - t->n) % t->cap];
}

/* Takes one entry v back (the newest such), if there. */
static void times_remove(struct times *t, uint64_t v)
{
    for (uint32_t k = 0; k < t->n; k++) {
        uint32_t i = (t->head + t->cap - 1 - k) % t->cap; /* newest first */
        if (t->t[i] != v)
            continue;
        /* close the gap: move the newer entries one back */
        for (uint32_t m = k; m > 0; m--) {
            uint32_t to = (t->head + t->cap - 1 - m) % t->cap;
            t->t[to] = t->t[(to + 1) % t->cap];
        }
        t->head = (t->head + t->cap - 1) % t->cap;
        t->n--;
        return;
    }
}

/* Full, and its oldest entry later than since. */
static bool times_full_since(const struct times *t, uint64_t since)
{
    return t->cap && t->n == t->cap && times_oldest(t) > since;
}

/* ---- state ---- */

static struct rule_state *state_for(struct rules *r, const char *name)
{
    for (struct rule_state *s = r->states; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    struct rule_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    memcpy(s->name, name, sizeof s->name - 1);
    s->next = r->states;
    r->states = s;
    return s;
}

static struct key_state *key_for(struct rule_state *s, const struct dconfig_rule *rule,
                                 uint64_t proc_id, uint64_t now)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (s->keys[i].proc_id == proc_id)
            return &s->keys[i];
    if (s->nkeys >= KEYS_PRUNE) {
        /* Processes come and go: drop keys that can no longer matter. */
        uint64_t idle = rule->cooldown_ns > rule->within_ns ? rule->cooldown_ns : rule->within_ns;
        size_t k = 0;
        for (size_t i = 0; i < s->nkeys; i++) {
            if (s->keys[i].last_seen + idle >= now)
                s->keys[k++] = s->keys[i];
            else
                free(s->keys[i].counted.t);
        }
        s->nkeys = k;
    }
    if (s->nkeys == s->keys_cap) {
        size_t cap = s->keys_cap ? s->keys_cap * 2 : 8;
        struct key_state *k = realloc(s->keys, cap * sizeof *k);
        if (!k)
            return NULL;
        s->keys = k;
        s->keys_cap = cap;
    }
    struct key_state *k = &s->keys[s->nkeys++];
    memset(k, 0, sizeof *k);
    k->proc_id = proc_id;
    return k;
}

static void state_free(struct rule_state *s)
{
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i].counted.t);
    free(s->keys);
    free(s->fires.t);
    free(s);
}

static void manual_default(struct dconfig_rule *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->name, RULES_MANUAL_NAME);
    m->on = DRULE_ON_MANUAL;
    strcpy(m->match, "*");
    strcpy(m->process, "*");
    m->count = 1;
    m->after_ns = 1000000000ull;
    m->cooldown_ns = 60ull * 1000000000ull;
    m->scope = DRULE_SCOPE_PROCESS;
}

/* Builds the rule list and their states; nothing of r changes on -ENOMEM. */
static int load(struct rules *r, const struct dconfig *cfg)
{
    struct dconfig_rule rule[DCONFIG_RULES_MAX + 1];
    struct rule_state *state[DCONFIG_RULES_MAX + 1];
    size_t n = 0;
    bool manual = false;
    for (uint32_t i = 0; i < cfg->n_rules && i < DCONFIG_RULES_MAX; i++) {
        rule[n++] = cfg->rules[i];
        manual |= cfg->rules[i].on == DRULE_ON_MANUAL;
    }
    if (!manual)
        manual_default(&rule[n++]);
    for (size_t i = 0; i < n; i++) {
        if (!(state[i] = state_for(r, rule[i].name)))
            return -ENOMEM;
        uint32_t cap = rule[i].max_per_hour;
        if (times_resize(&state[i]->fires, cap) < 0)
            return -ENOMEM;
        uint32_t count = rule[i].count > 1 ? rule[i].count : 0;
        for (size_t k = 0; k < state[i]->nkeys; k++)
            if (times_resize(&state[i]->keys[k].counted, count) < 0)
                return -ENOMEM;
    }
    if (times_resize(&r->global, cfg->limits.max_snapshots_per_hour) < 0)
        return -ENOMEM;
    memcpy(r->rule, rule, n * sizeof rule[0]);
    memcpy(r->state, state, n * sizeof state[0]);
    r->n = n;
    r->window_ns = cfg->recording.window_ns;
    r->gen++;
    return 0;
}

int rules_new(struct rules **out, const struct dconfig *cfg)
{
    struct rules *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    int err = load(r, cfg);
    if (err < 0) {
        rules_free(r);
        return err;
    }
    *out = r;
    return 0;
}

void rules_free(struct rules *r)
{
    if (!r)
        return;
    for (struct rule_state *s = r->states, *n; s; s = n) {
        n = s->next;
        state_free(s);
    }
    for (struct rules_pending *p = r->pending, *n; p; p = n) {
        n = p->next;
        free(p);
    }
    free(r->global.t);
    free(r);
}

int rules_reconfigure(struct rules *r, const struct dconfig *cfg)
{
    return load(r, cfg);
}

uint64_t rules_gen(const struct rules *r)
{
    return r->gen;
}

/* ---- what applies where ---- */

static bool applies(const struct dconfig_rule *rule, const char *process)
{
    return !process || fnmatch(rule->process, process, 0) == 0;
}

static unsigned abi_on(unsigned on)
{
    switch (on) {
    case DRULE_ON_TASK:
        return FR_ABI_RULE_TASK;
    case DRULE_ON_REGION:
        return FR_ABI_RULE_REGION;
    case DRULE_ON_WAIT:
        return FR_ABI_RULE_WAIT;
    case DRULE_ON_LOG:
        return FR_ABI_RULE_LOG;
    default:
        return 0; /* exit and manual: the daemon's own */
    }
}

unsigned rules_table_for(const struct rules *r, const char *name, struct fr_abi_rule *out)
{
    unsigned k = 0;
    for (size_t i = 0; i < r->n && k < FR_ABI_RULES_MAX; i++) {
        const struct dconfig_rule *rule = &r->rule[i];
        unsigned on = abi_on(rule->on);
        if (!on || !applies(rule, name))
            continue;
        memset(&out[k], 0, sizeof out[k]);
        out[k].on = on;
        out[k].threshold_ns = rule->threshold_ns;
        static_assert(sizeof out[k].name >= sizeof rule->name, "rule names fit the ABI");
        static_assert(sizeof out[k].match >= sizeof rule->match, "globs fit the ABI");
        memcpy(out[k].name, rule->name, sizeof rule->name);
        memcpy(out[k].match, rule->match, sizeof rule->match);
        k++;
    }
    return k;
}

const struct dconfig_rule *rules_find(const struct rules *r, const char *name, unsigned on,
                                      const char *process)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct dconfig_rule *rule = &r->rule[i];
        if (rule->on != on || !applies(rule, process))
            continue;
        if (!name || strcmp(rule->name, name) == 0)
            return rule;
    }
    return NULL;
}

void rules_each_exit(const struct rules *r, const char *process,
                     void (*fn)(const struct dconfig_rule *rule, void *arg), void *arg)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->rule[i].on == DRULE_ON_EXIT && applies(&r->rule[i], process))
            fn(&r->rule[i], arg);
}

static struct rule_state *state_of(const struct rules *r, const struct dconfig_rule *rule)
{
    size_t i = (size_t)(rule - r->rule);
    return i < r->n ? r->state[i] : NULL;
}

/* The window before a trigger: rule->before_ns, or the recording window. */
static uint64_t before_ns(const struct rules *r, const struct dconfig_rule *rule)
{
    return rule->before_ns ? rule->before_ns : r->window_ns;
}

/* ---- deciding ---- */

static uint64_t scope_of(const struct dconfig_rule *rule, const struct rule_trigger *t)
{
    return rule->scope == DRULE_SCOPE_ALL ? 0 : t->proc_id;
}

static void pending_insert(struct rules *r, struct rules_pending *p)
{
    struct rules_pending **pp = &r->pending;
    while (*pp && (*pp)->due_ns <= p->due_ns)
        pp = &(*pp)->next;
    p->next = *pp;
    *pp = p;
}

static void pending_add(struct rules_pending *p, const struct rule_trigger *t)
{
    p->ntrig_total++;
    if (p->ntrig < RULES_TRIGGERS_KEPT)
        p->trig[p->ntrig++] = *t;
}

static enum rules_verdict suppressed(struct rule_state *s, const struct dconfig_rule *rule,
                                     enum rules_verdict v, uint64_t now, bool *log,
                                     uint64_t *unlogged)
{
    uint64_t every = rule->cooldown_ns > LOG_EVERY_MIN_NS ? rule->cooldown_ns : LOG_EVERY_MIN_NS;
    s->st.unlogged++;
    if (!s->st.last_log_ns || now - s->st.last_log_ns >= every) {
        *log = true;
        *unlogged = s->st.unlogged;
        s->st.unlogged = 0;
        s->st.last_log_ns = now;
    }
    return v;
}

enum rules_verdict rules_offer(struct rules *r, const struct dconfig_rule *rule,
                               const struct rule_trigger *t, uint64_t now_ns,
                               struct rules_pending **pending, bool *log, uint64_t *unlogged)
{
    struct rule_state *s = state_of(r, rule);
    enum rules_verdict v;
    *pending = NULL;
    *log = false;
    *unlogged = 0;
    if (!s)
        return RULES_GLOBAL_CAP; /* cannot happen: rule comes from rules_find() */
    s->st.triggers++;

    uint64_t scope = scope_of(rule, t);
    for (struct rules_pending *p = r->pending; p; p = p->next) {
        if (p->scope_proc == scope && strcmp(p->rule.name, rule->name) == 0) {
            pending_add(p, t);
            *pending = p;
            v = RULES_MERGED;
            goto out;
        }
    }

    struct key_state *k = key_for(s, rule, t->proc_id, now_ns);
    if (!k) {
        v = suppressed(s, rule, RULES_GLOBAL_CAP, now_ns, log, unlogged); /* out of memory */
        goto out;
    }
    k->last_seen = now_ns;
    if (rule->count > 1) {
        if (k->counted.cap != rule->count && times_resize(&k->counted, rule->count) < 0) {
            v = RULES_COUNTING;
            goto out;
        }
        times_push(&k->counted, t->mono_ns);
        uint64_t since = t->mono_ns > rule->within_ns ? t->mono_ns - rule->within_ns : 0;
        if (k->counted.n < k->counted.cap || times_oldest(&k->counted) < since) {
            v = RULES_COUNTING;
            goto out;
        }
        k->counted.n = 0; /* these count once */
    }
    if (k->last_fire && now_ns - k->last_fire < rule->cooldown_ns) {
        v = suppressed(s, rule, RULES_COOLDOWN, now_ns, log, unlogged);
        goto out;
    }
    uint64_t hour_ago = now_ns > HOUR_NS ? now_ns - HOUR_NS : 0;
    if (times_full_since(&s->fires, hour_ago)) {
        v = suppressed(s, rule, RULES_RULE_CAP, now_ns, log, unlogged);
        goto out;
    }
    if (times_full_since(&r->global, hour_ago)) {
        v = suppressed(s, rule, RULES_GLOBAL_CAP, now_ns, log, unlogged);
        goto out;
    }
    struct rules_pending *p = calloc(1, sizeof *p);
    if (!p) {
        v = suppressed(s, rule, RULES_GLOBAL_CAP, now_ns, log, unlogged);
        goto out;
    }
    p->rule = *rule;
    p->scope_proc = scope;
    p->fired_ns = now_ns;
    p->due_ns = now_ns + rule->after_ns;
    uint64_t before = before_ns(r, rule);
    p->from_ns = t->mono_ns > before ? t->mono_ns - before : 1;
    pending_add(p, t);
    pending_insert(r, p);
    k->last_fire = now_ns;
    times_push(&s->fires, now_ns);
    times_push(&r->global, now_ns);
    *pending = p;
    v = RULES_FIRED;
out:
    s->st.verdicts[v]++;
    return v;
}

struct rules_pending *rules_take_due(struct rules *r, uint64_t now_ns, uint64_t *next_due)
{
    struct rules_pending *p = r->pending;
    if (p && p->due_ns <= now_ns) {
        r->pending = p->next;
        p->next = NULL;
        *next_due = r->pending ? r->pending->due_ns : UINT64_MAX;
        return p;
    }
    *next_due = p ? p->due_ns : UINT64_MAX;
    return NULL;
}

struct rules_pending *rules_take_all(struct rules *r)
{
    struct rules_pending *p = r->pending;
    r->pending = NULL;
    return p;
}

void rules_done(struct rules *r, const struct rules_pending *p, bool ok)
{
    struct rule_state *s = r->states;
    while (s && strcmp(s->name, p->rule.name) != 0)
        s = s->next;
    if (!s)
        return;
    if (ok) {
        s->st.written++;
        return;
    }
    s->st.write_failures++;
    times_remove(&s->fires, p->fired_ns);
    times_remove(&r->global, p->fired_ns);
    for (size_t i = 0; i < s->nkeys; i++)
        if (s->keys[i].proc_id == p->trig[0].proc_id && s->keys[i].last_fire == p->fired_ns)
            s->keys[i].last_fire = 0;
}

size_t rules_count(const struct rules *r)
{
    size_t n = 0;
    for (const struct rule_state *s = r->states; s; s = s->next)
        n++;
    return n;
}

const struct rule_stats *rules_stats(const struct rules *r, size_t i, const char **name)
{
    const struct rule_state *s = r->states;
    while (s && i--)
        s = s->next;
    if (!s)
        return NULL;
    *name = s->name;
    return &s->st;
}

uint64_t rules_retry_ns(const struct rules *r, const struct dconfig_rule *rule, uint64_t proc_id,
                        uint64_t now_ns)
{
    struct rule_state *s = state_of(r, rule);
    uint64_t wait = 0;
    if (!s)
        return 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        const struct key_state *k = &s->keys[i];
        if (k->proc_id == proc_id && k->last_fire && now_ns - k->last_fire < rule->cooldown_ns)
            wait = k->last_fire + rule->cooldown_ns - now_ns;
    }
    const struct times *caps[2] = {&s->fires, &r->global};
    for (int c = 0; c < 2; c++) {
        uint64_t hour_ago = now_ns > HOUR_NS ? now_ns - HOUR_NS : 0;
        if (times_full_since(caps[c], hour_ago)) {
            uint64_t w = times_oldest(caps[c]) + HOUR_NS - now_ns;
            wait = w > wait ? w : wait;
        }
    }
    return wait;
}
