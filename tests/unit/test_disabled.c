/* test_disabled.c - FLIGHTREC_DISABLE=1 turns every call into a no-op.
 * Runs with that variable set. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "testutil.h"

static void test_disabled_calls_record_nothing_and_map_nothing(void **state)
{
    (void)state;
    assert_non_null(getenv("FLIGHTREC_DISABLE"));
    assert_int_equal(fr_init("x"), -ECANCELED);
    fr_thread_name("t");
    fr_region_begin("r");
    fr_region_end();
    fr_task_id t = fr_task_begin("task");
    assert_int_equal(t.id, 0);
    fr_task_attach(t);
    fr_task_detach();
    fr_task_end(t);
    fr_log("c", "m");
    fr_logf("c", "%d", 1);
    fr_counter("n", 1);
    fr_flow_begin(1);
    fr_flow_end(1);
    fr_wait_begin(FR_WAIT_LOCK, "l");
    fr_wait_end();
    (fr_region_begin)("function form");
    (fr_region_end)();
    assert_int_equal(fr_trigger("r"), -ECANCELED);
    fr_shutdown();
    assert_null(fr__proc.base);
    assert_int_equal(atomic_load(&fr__proc.init), FR__INIT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_calls_record_nothing_and_map_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
