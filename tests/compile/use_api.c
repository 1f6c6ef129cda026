/* use_api.c - every public call, compiled as C (c11 and gnu11, -pedantic
 * for the former except the statement expressions the macros need) and as
 * C++ (the same file), and run: the header must be self-contained and
 * the library must link with nothing but -lflightrec. */
#include <flightrec.h>

#include <stdio.h>

int main(void)
{
    char dyn[16];
    snprintf(dyn, sizeof dyn, "dyn-%d", 1);
    if (fr_init("compile-check") != 0)
        return 1;
    fr_thread_name("main");
    fr_task_id t = fr_task_begin("task");
    fr_task_id c = fr_task_begin_child(t, dyn);
    fr_task_attach(c);
    fr_region_begin("region");
    fr_region_begin(dyn);
    fr_region_end();
    fr_region_end();
    (fr_region_begin)("function form");
    (fr_region_end)();
    fr_log("cat", "message");
    fr_logf("cat", "%s %d", "formatted", 42);
    fr_counter("counter", -1);
    fr_flow_begin(1);
    fr_flow_end(1);
    fr_wait_begin(FR_WAIT_LOCK, "lock");
    fr_wait_end();
    fr_task_detach();
    fr_task_end(c);
    fr_task_end(t);
    if (fr_trigger("compile") >= 0)
        return 2;
    fr_shutdown();
    puts("ok");
    return 0;
}
