/* test_rules.c - daemon/rules.c: which rules a process gets, and every
 * decision on a trigger (merge, count/within, cooldown, caps), driven
 * through time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/rules.h"

#define MS 1000000ull
#define S (1000 * MS)
#define T0 (1000 * S) /* a monotonic time far from 0 */

static struct dconfig_rule rule(const char *name, unsigned on, const char *match,
                                const char *process, uint64_t threshold)
{
    struct dconfig_rule r;
    memset(&r, 0, sizeof r);
    strcpy(r.name, name);
    r.on = on;
    strcpy(r.match, match);
    strcpy(r.process, process);
    r.threshold_ns = threshold;
    r.count = 1;
    r.after_ns = 1 * S;
    r.cooldown_ns = 60 * S;
    return r;
}

static struct dconfig cfg_with(const struct dconfig_rule *r, unsigned n)
{
    struct dconfig c;
    dconfig_defaults(&c);
    for (unsigned i = 0; i < n; i++)
        c.rules[i] = r[i];
    c.n_rules = n;
    return c;
}

static struct rule_trigger trig(uint64_t proc_id, uint64_t t)
{
    struct rule_trigger x;
    memset(&x, 0, sizeof x);
    x.proc_id = proc_id;
    x.pid = (uint32_t)proc_id + 100;
    x.mono_ns = t;
    x.measured_ns = 700 * MS;
    strcpy(x.process, "svc");
    strcpy(x.subject, "GET /orders");
    return x;
}

static enum rules_verdict offer_at(struct rules *rs, const struct dconfig_rule *r,
                                   uint64_t proc_id, uint64_t now)
{
    struct rule_trigger t = trig(proc_id, now);
    struct rules_pending *p;
    bool log;
    uint64_t unlogged;
    return rules_offer(rs, r, &t, now, &p, &log, &unlogged);
}

static void test_table_has_the_rules_that_apply_to_the_process(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {
        rule("orders", DRULE_ON_TASK, "GET /orders*", "svc*", 500 * MS),
        rule("db", DRULE_ON_WAIT, "db*", "other", 10 * MS),
        rule("errors", DRULE_ON_LOG, "error", "*", 0),
        rule("crash", DRULE_ON_EXIT, "*", "*", 0),
    };
    struct dconfig c = cfg_with(r, 4);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    struct fr_abi_rule t[FR_ABI_RULES_MAX];
    unsigned n = rules_table_for(rs, "svc-1", t);
    assert_int_equal(n, 2); /* orders and errors; db is for "other", exit is the daemon's */
    assert_string_equal(t[0].name, "orders");
    assert_int_equal(t[0].on, FR_ABI_RULE_TASK);
    assert_int_equal(t[0].threshold_ns, 500 * MS);
    assert_string_equal(t[0].match, "GET /orders*");
    assert_int_equal(t[1].on, FR_ABI_RULE_LOG);
    assert_int_equal(rules_table_for(rs, "other", t), 2);
    assert_int_equal(t[0].on, FR_ABI_RULE_WAIT);

    assert_non_null(rules_find(rs, "orders", DRULE_ON_TASK, "svc-1"));
    assert_null(rules_find(rs, "orders", DRULE_ON_TASK, "other")); /* not its process */
    assert_null(rules_find(rs, "orders", DRULE_ON_REGION, "svc-1")); /* not its kind */
    assert_null(rules_find(rs, "gone", DRULE_ON_TASK, "svc-1"));
    /* no manual rule configured: the built-in one */
    const struct dconfig_rule *m = rules_find(rs, NULL, DRULE_ON_MANUAL, "svc-1");
    assert_non_null(m);
    assert_string_equal(m->name, RULES_MANUAL_NAME);
    rules_free(rs);
}

static void test_fires_once_then_merges_then_cools_down(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("orders", DRULE_ON_TASK, "*", "*", 500 * MS)};
    struct dconfig c = cfg_with(r, 1);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *x = rules_find(rs, "orders", DRULE_ON_TASK, "svc");

    assert_int_equal(offer_at(rs, x, 1, T0), RULES_FIRED);
    /* within `after`: same file */
    assert_int_equal(offer_at(rs, x, 1, T0 + 500 * MS), RULES_MERGED);
    /* another process: its own snapshot (scope: process) */
    assert_int_equal(offer_at(rs, x, 2, T0 + 600 * MS), RULES_FIRED);

    uint64_t next;
    assert_null(rules_take_due(rs, T0 + 999 * MS, &next));
    assert_int_equal(next, T0 + 1 * S);
    struct rules_pending *p = rules_take_due(rs, T0 + 1 * S, &next);
    assert_non_null(p);
    assert_int_equal(p->ntrig, 2);
    assert_int_equal(p->ntrig_total, 2);
    assert_int_equal(p->scope_proc, 1);
    assert_int_equal(p->from_ns, T0 - c.recording.window_ns); /* before: the window */
    assert_int_equal(next, T0 + 1600 * MS);
    free(p);
    p = rules_take_due(rs, T0 + 2 * S, &next);
    assert_non_null(p);
    free(p);
    assert_int_equal(next, UINT64_MAX);

    /* written: now the cooldown (60 s) holds, for each process */
    assert_int_equal(offer_at(rs, x, 1, T0 + 30 * S), RULES_COOLDOWN);
    assert(rules_retry_ns(rs, x, 1, T0 + 30 * S) == 30 * S);
    assert_int_equal(offer_at(rs, x, 1, T0 + 60 * S), RULES_FIRED);
    free(rules_take_all(rs));
    rules_free(rs);
}

static void test_count_within_fires_only_on_the_count(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("three", DRULE_ON_TASK, "*", "*", 500 * MS)};
    r[0].count = 3;
    r[0].within_ns = 60 * S;
    r[0].cooldown_ns = 0;
    struct dconfig c = cfg_with(r, 1);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *x = rules_find(rs, "three", DRULE_ON_TASK, "svc");
    assert_int_equal(offer_at(rs, x, 1, T0), RULES_COUNTING);
    assert_int_equal(offer_at(rs, x, 1, T0 + 10 * S), RULES_COUNTING);
    /* the first one left the minute: still two */
    assert_int_equal(offer_at(rs, x, 1, T0 + 61 * S), RULES_COUNTING);
    assert_int_equal(offer_at(rs, x, 1, T0 + 62 * S), RULES_FIRED);
    struct rules_pending *p = rules_take_all(rs);
    assert_non_null(p);
    free(p);
    /* counted matches count once: it starts again from zero */
    assert_int_equal(offer_at(rs, x, 1, T0 + 63 * S), RULES_COUNTING);
    rules_free(rs);
}

static void test_storm_obeys_rule_and_global_caps(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {
        rule("a", DRULE_ON_TASK, "*", "*", 500 * MS),
        rule("b", DRULE_ON_TASK, "*", "*", 500 * MS),
    };
    r[0].cooldown_ns = r[1].cooldown_ns = 0;
    r[0].max_per_hour = 3;
    struct dconfig c = cfg_with(r, 2);
    c.limits.max_snapshots_per_hour = 5;
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *a = rules_find(rs, "a", DRULE_ON_TASK, "svc");
    const struct dconfig_rule *b = rules_find(rs, "b", DRULE_ON_TASK, "svc");
    unsigned fired = 0, rule_cap = 0, global_cap = 0;
    for (unsigned i = 0; i < 200; i++) {
        uint64_t now = T0 + i * 2 * S; /* each after the last one's file */
        enum rules_verdict v = offer_at(rs, i % 2 ? b : a, 1, now);
        fired += v == RULES_FIRED;
        rule_cap += v == RULES_RULE_CAP;
        global_cap += v == RULES_GLOBAL_CAP;
        uint64_t next;
        struct rules_pending *p;
        while ((p = rules_take_due(rs, now + 1 * S, &next)))
            free(p);
    }
    assert_int_equal(fired, 5);     /* a: 3 (its cap), b: 2 (the rest of the global 5) */
    assert_int_equal(rule_cap, 97); /* a's other 97 */
    assert_int_equal(global_cap, 98);
    const char *name;
    size_t found = 0;
    for (size_t i = 0; i < rules_count(rs); i++) {
        const struct rule_stats *st = rules_stats(rs, i, &name);
        if (strcmp(name, "a") == 0) {
            found++;
            assert_int_equal(st->triggers, 100);
            assert_int_equal(st->verdicts[RULES_FIRED], 3);
            assert_int_equal(st->verdicts[RULES_RULE_CAP], 97);
        }
    }
    assert_int_equal(found, 1);
    /* an hour after the first ones, the budget comes back */
    assert_int_equal(offer_at(rs, a, 1, T0 + 3601 * S), RULES_FIRED);
    free(rules_take_all(rs));
    rules_free(rs);
}

static void test_suppressions_are_logged_once_per_cooldown(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("a", DRULE_ON_TASK, "*", "*", 500 * MS)};
    r[0].cooldown_ns = 30 * S;
    struct dconfig c = cfg_with(r, 1);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *a = rules_find(rs, "a", DRULE_ON_TASK, "svc");
    assert_int_equal(offer_at(rs, a, 1, T0), RULES_FIRED);
    free(rules_take_all(rs));
    unsigned logs = 0;
    uint64_t logged = 0;
    for (unsigned i = 1; i <= 100; i++) {
        struct rule_trigger t = trig(1, T0 + 2 * S + i * 100 * MS);
        struct rules_pending *p;
        bool log;
        uint64_t unlogged;
        assert_int_equal(rules_offer(rs, a, &t, t.mono_ns, &p, &log, &unlogged), RULES_COOLDOWN);
        logs += log;
        logged += log ? unlogged : 0;
    }
    assert_int_equal(logs, 1); /* 10 s of triggers inside one 30 s cooldown */
    assert_int_equal(logged, 1);
    rules_free(rs);
}

static void test_scope_all_merges_processes_and_reload_keeps_history(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("all", DRULE_ON_TASK, "*", "*", 500 * MS)};
    r[0].scope = DRULE_SCOPE_ALL;
    r[0].before_ns = 2 * S;
    struct dconfig c = cfg_with(r, 1);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *x = rules_find(rs, "all", DRULE_ON_TASK, "svc");
    assert_int_equal(offer_at(rs, x, 1, T0), RULES_FIRED);
    assert_int_equal(offer_at(rs, x, 2, T0 + 1), RULES_MERGED);
    struct rules_pending *p = rules_take_all(rs);
    assert_int_equal(p->scope_proc, 0);
    assert_int_equal(p->ntrig, 2);
    assert_int_equal(p->from_ns, T0 - 2 * S);
    free(p);

    uint64_t gen = rules_gen(rs);
    r[0].threshold_ns = 900 * MS; /* same name, new threshold */
    c = cfg_with(r, 1);
    assert_int_equal(rules_reconfigure(rs, &c), 0);
    assert_int_equal(rules_gen(rs), gen + 1);
    x = rules_find(rs, "all", DRULE_ON_TASK, "svc");
    assert_int_equal(x->threshold_ns, 900 * MS);
    /* the reload did not reset the cooldown */
    assert_int_equal(offer_at(rs, x, 1, T0 + 5 * S), RULES_COOLDOWN);
    rules_free(rs);
}

static void test_many_merged_triggers_are_counted_not_kept(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("a", DRULE_ON_TASK, "*", "*", 500 * MS)};
    struct dconfig c = cfg_with(r, 1);
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *a = rules_find(rs, "a", DRULE_ON_TASK, "svc");
    for (unsigned i = 0; i < 500; i++)
        assert_int_equal(offer_at(rs, a, 1, T0 + i), i ? RULES_MERGED : RULES_FIRED);
    struct rules_pending *p = rules_take_all(rs);
    assert_int_equal(p->ntrig, RULES_TRIGGERS_KEPT);
    assert_int_equal(p->ntrig_total, 500);
    free(p);
    rules_free(rs);
}

static void test_a_failed_write_does_not_use_up_cooldown_or_caps(void **state)
{
    (void)state;
    struct dconfig_rule r[] = {rule("a", DRULE_ON_TASK, "*", "*", 500 * MS)};
    r[0].max_per_hour = 1;
    struct dconfig c = cfg_with(r, 1);
    c.limits.max_snapshots_per_hour = 1;
    struct rules *rs;
    assert_int_equal(rules_new(&rs, &c), 0);
    const struct dconfig_rule *a = rules_find(rs, "a", DRULE_ON_TASK, "svc");
    assert_int_equal(offer_at(rs, a, 1, T0), RULES_FIRED);
    struct rules_pending *p = rules_take_all(rs);
    rules_done(rs, p, false); /* the disk was full */
    free(p);
    /* within the cooldown, the rule's cap and the global cap: tries again */
    assert_int_equal(offer_at(rs, a, 1, T0 + 2 * S), RULES_FIRED);
    p = rules_take_all(rs);
    rules_done(rs, p, true);
    free(p);
    assert_int_equal(offer_at(rs, a, 1, T0 + 4 * S), RULES_COOLDOWN);
    const char *name = "";
    const struct rule_stats *st = NULL;
    for (size_t i = 0; i < rules_count(rs) && strcmp(name, "a") != 0; i++)
        st = rules_stats(rs, i, &name);
    assert_string_equal(name, "a");
    assert_int_equal(st->write_failures, 1);
    assert_int_equal(st->written, 1);
    rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_has_the_rules_that_apply_to_the_process),
        cmocka_unit_test(test_fires_once_then_merges_then_cools_down),
        cmocka_unit_test(test_count_within_fires_only_on_the_count),
        cmocka_unit_test(test_storm_obeys_rule_and_global_caps),
        cmocka_unit_test(test_suppressions_are_logged_once_per_cooldown),
        cmocka_unit_test(test_scope_all_merges_processes_and_reload_keeps_history),
        cmocka_unit_test(test_many_merged_triggers_are_counted_not_kept),
        cmocka_unit_test(test_a_failed_write_does_not_use_up_cooldown_or_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
