/* test_librules.c - lib/rules.c: the library checks the rule table the
 * daemon publishes. The test plays the daemon: it writes the table into
 * the process's own region and applies it, then reads the trigger
 * records back through the real reader. Durations are exact because a
 * task's start travels in its fr_task_id: the test sets it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "lib/rules.h"
#include "lib/thread.h"
#include "lib/trigger.h"
#include "testutil.h"

#define MS 1000000ull

static void publish(const struct fr_abi_rule *r, unsigned n)
{
    assert_int_equal(tu_publish_rules(r, n), n);
}

/* The trigger records on this thread since the test began, in order. */
static uint64_t since;

static size_t triggers(struct trace_proc *p, const struct trace_event **out, size_t max)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(tu_read_self(p), 0);
    const struct trace_thread *th = tu_thread(p, (uint32_t)fr__thread_tid());
    size_t n = 0;
    for (size_t i = 0; th && i < th->n; i++)
        if (th->ev[i].type == FR_REC_TRIGGER && th->ev[i].ts >= since && n < max)
            out[n++] = &th->ev[i];
    return n;
}

/* A task that lasted exactly ns (give or take the tick conversion). */
static fr_task_id task_of(const char *name, uint64_t ns)
{
    fr_task_id t = fr_task_begin(name);
    t.start = fr__clock_now() - fr__clock_ns_to_ticks(ns);
    fr_task_end(t);
    return t;
}

static void test_task_1ms_over_fires_1ms_under_does_not(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {tu_rule("slow-orders", FR_ABI_RULE_TASK, "GET /orders*", 500 * MS)};
    publish(r, 1);
    task_of("GET /orders", 499 * MS);
    task_of("GET /users", 900 * MS); /* another name: no rule */
    fr_task_id hit = task_of("GET /orders", 501 * MS);

    struct trace_proc p;
    const struct trace_event *ev[8];
    assert_int_equal(triggers(&p, ev, 8), 1);
    const struct trace_event *e = ev[0];
    assert_string_equal(tu_str(&p, e->name), "slow-orders");
    assert_int_equal(e->arg, FR_ABI_RULE_TASK);
    assert_int_equal(e->parent, 500 * MS); /* threshold */
    uint64_t measured = e->ts - e->start_ts;
    assert_true(measured >= 500 * MS && measured < 502 * MS);
    assert_string_equal(tu_str(&p, e->text_off), "GET /orders");
    assert_int_equal(e->id, hit.id);
    /* the END of the task that fired follows, at the same time */
    assert_int_equal(e[1].type, FR_REC_TASK_END);
    assert_int_equal(e[1].ts, e->ts);
    assert_int_equal(e[1].id, hit.id);
    trace_proc_free(&p);
}

static void test_names_interned_after_the_rules_are_matched_too(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {tu_rule("r", FR_ABI_RULE_TASK, "late name *", 10 * MS)};
    publish(r, 1);
    char name[32];
    snprintf(name, sizeof name, "late name %d", 7); /* dynamic: interned now */
    task_of(name, 20 * MS);
    struct trace_proc p;
    const struct trace_event *ev[8];
    assert_int_equal(triggers(&p, ev, 8), 1);
    assert_string_equal(tu_str(&p, ev[0]->text_off), "late name 7");
    trace_proc_free(&p);
}

static void test_regions_waits_and_logs_fire_by_kind(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {
        tu_rule("region", FR_ABI_RULE_REGION, "parse", 1 * MS),
        tu_rule("wait", FR_ABI_RULE_WAIT, "db", 1 * MS),
        tu_rule("log", FR_ABI_RULE_LOG, "error", 0),
        tu_rule("task-parse", FR_ABI_RULE_TASK, "parse", 1 * MS), /* same name, other kind */
    };
    publish(r, 4);
    fr_region_begin("parse");
    tu_pause_ms(3);
    fr_region_end();
    fr_wait_begin(FR_WAIT_NET, "db");
    tu_pause_ms(3);
    fr_wait_end();
    fr_log("info", "fine");
    fr_log("error", "boom");
    struct trace_proc p;
    const struct trace_event *ev[8];
    assert_int_equal(triggers(&p, ev, 8), 3);
    assert_string_equal(tu_str(&p, ev[0]->name), "region");
    assert_int_equal(ev[1]->type + 0, FR_REC_TRIGGER);
    assert_int_equal(ev[0][1].type, FR_REC_REGION_END);
    assert_string_equal(tu_str(&p, ev[1]->name), "wait");
    assert_int_equal(ev[1][1].type, FR_REC_WAIT_END);
    assert_string_equal(tu_str(&p, ev[2]->name), "log");
    assert_string_equal(tu_str(&p, ev[2]->text_off), "error");
    assert_int_equal(ev[2]->ts, ev[2]->start_ts); /* a log has no duration */
    trace_proc_free(&p);
}

static void test_a_new_table_replaces_the_old_one(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {tu_rule("a", FR_ABI_RULE_TASK, "t", 10 * MS)};
    publish(r, 1);
    r[0] = tu_rule("b", FR_ABI_RULE_TASK, "t", 100 * MS);
    publish(r, 1);
    task_of("t", 50 * MS); /* over a's threshold, under b's */
    publish(NULL, 0);
    task_of("t", 500 * MS);
    struct trace_proc p;
    const struct trace_event *ev[8];
    assert_int_equal(triggers(&p, ev, 8), 0);
    trace_proc_free(&p);
}

static void test_manual_trigger_is_recorded_without_a_daemon(void **state)
{
    (void)state;
    uint64_t lost = atomic_load(&fr__proc.hdr->triggers_lost);
    assert_int_equal(fr_trigger("checkout stuck"), -ENOTCONN);
    assert_int_equal(atomic_load(&fr__proc.hdr->triggers_lost), lost + 1);
    struct trace_proc p;
    const struct trace_event *ev[8];
    assert_int_equal(triggers(&p, ev, 8), 1);
    assert_int_equal(ev[0]->arg, FR_ABI_RULE_MANUAL);
    assert_string_equal(tu_str(&p, ev[0]->name), "manual");
    assert_string_equal(tu_str(&p, ev[0]->text_off), "checkout stuck");
    trace_proc_free(&p);
}

static int test_start(void **state)
{
    (void)state;
    since = tu_now_ns();
    return 0;
}

static int setup(void **state)
{
    (void)state;
    setenv("FLIGHTREC_SOCKET", "", 1); /* no daemon: nothing to forward to */
    return fr_init("test_librules") == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_task_1ms_over_fires_1ms_under_does_not, test_start),
        cmocka_unit_test_setup(test_names_interned_after_the_rules_are_matched_too, test_start),
        cmocka_unit_test_setup(test_regions_waits_and_logs_fire_by_kind, test_start),
        cmocka_unit_test_setup(test_a_new_table_replaces_the_old_one, test_start),
        cmocka_unit_test_setup(test_manual_trigger_is_recorded_without_a_daemon, test_start),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
