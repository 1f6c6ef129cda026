/* test_api.c - the public API, recorded for real and read back.
 *
 * Each test records on a thread of its own (so on a ring of its own) and
 * checks exactly what the reader returns for that thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/thread.h"
#include "testutil.h"

static struct trace_proc P;

static const struct trace_thread *read_thread(uint32_t tid)
{
    trace_proc_free(&P);
    assert_int_equal(tu_read_self(&P), 0);
    const struct trace_thread *t = tu_thread(&P, tid);
    assert_non_null(t);
    return t;
}

/* ---- regions ---- */

static void nested_regions(void *arg)
{
    int depth = *(int *)arg;
    char name[32];
    for (int i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "level-%d", i);
        fr_region_begin(name);
    }
    for (int i = 0; i < depth; i++)
        fr_region_end();
}

static void test_api_100_nested_regions_keep_names_and_order(void **state)
{
    (void)state;
    int depth = 100;
    const struct trace_thread *t = read_thread(tu_on_thread(nested_regions, &depth));
    assert_int_equal(t->n, 200);
    for (int i = 0; i < depth; i++) {
        const struct trace_event *b = &t->ev[i];
        char want[32];
        snprintf(want, sizeof want, "level-%d", i);
        assert_int_equal(b->type, FR_REC_REGION_BEGIN);
        assert_int_equal(b->arg, i);
        assert_string_equal(tu_str(&P, b->name), want);
        const struct trace_event *e = &t->ev[2 * depth - 1 - i];
        assert_int_equal(e->type, FR_REC_REGION_END);
        assert_int_equal(e->arg, i);
        /* ends deeper than the remembered stack carry no name; the reader
         * pairs them with their begins by nesting */
        if (i < FR__REGION_STACK)
            assert_string_equal(tu_str(&P, e->name), want);
        else
            assert_int_equal(e->name, FR_ABI_STR_EMPTY);
    }
    for (size_t i = 1; i < t->n; i++)
        assert_true(t->ev[i].ts >= t->ev[i - 1].ts);
}

static void end_without_begin(void *arg)
{
    (void)arg;
    fr_region_end(); /* nothing open: ignored */
    fr_region_begin("only");
    fr_region_end();
    fr_region_end(); /* again nothing open */
}

static void test_api_region_end_without_begin_records_nothing(void **state)
{
    (void)state;
    const struct trace_thread *t = read_thread(tu_on_thread(end_without_begin, NULL));
    assert_int_equal(t->n, 2);
    assert_int_equal(t->ev[0].type, FR_REC_REGION_BEGIN);
    assert_int_equal(t->ev[1].type, FR_REC_REGION_END);
    assert_string_equal(tu_str(&P, t->ev[1].name), "only");
}

static void null_and_empty(void *arg)
{
    (void)arg;
    fr_region_begin(NULL);
    fr_region_end();
    fr_region_begin("");
    fr_region_end();
    fr_log(NULL, NULL);
    fr_log("", "");
    fr_counter(NULL, 1);
    fr_wait_begin(FR_WAIT_IO, NULL);
    fr_wait_end();
    fr_task_end(fr_task_begin(NULL));
    fr_thread_name(NULL);
    fr_logf(NULL, "%s", "x");
}

static void test_api_null_and_empty_names_are_recorded_unnamed(void **state)
{
    (void)state;
    const struct trace_thread *t = read_thread(tu_on_thread(null_and_empty, NULL));
    assert_int_equal(t->n, 12);
    for (size_t i = 0; i < t->n; i++) {
        if (t->ev[i].type != FR_REC_LOG)
            assert_int_equal(t->ev[i].name, FR_ABI_STR_EMPTY);
    }
    assert_string_equal(t->name, "");
}

/* ---- names ---- */

static void name_from_buffer(void *arg)
{
    const char *s = arg;
    char buf[16];
    snprintf(buf, sizeof buf, "%s", s);
    fr_thread_name(buf);
    fr_region_begin(buf); /* same call site, different text per thread */
    fr_region_end();
}

static void test_api_dynamic_names_are_not_cached_per_site(void **state)
{
    (void)state;
    uint32_t a = tu_on_thread(name_from_buffer, "w0");
    uint32_t b = tu_on_thread(name_from_buffer, "w1");
    const struct trace_thread *ta = read_thread(a);
    assert_string_equal(ta->name, "w0");
    assert_string_equal(tu_str(&P, ta->ev[0].name), "w0");
    const struct trace_thread *tb = tu_thread(&P, b);
    assert_string_equal(tb->name, "w1");
    assert_string_equal(tu_str(&P, tb->ev[0].name), "w1");
}

static void default_thread_name(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "kernel-name");
    fr_counter("c", 1);
}

static void test_api_thread_name_defaults_to_kernel_name(void **state)
{
    (void)state;
    const struct trace_thread *t = read_thread(tu_on_thread(default_thread_name, NULL));
    assert_string_equal(t->name, "kernel-name");
}

/* ---- logs ---- */

static void logs(void *arg)
{
    (void)arg;
    char big[10 * 1024 + 1];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = 0;
    fr_log("big", big);
    fr_log("small", "forty bytes of message, exactly forty.!!");
    fr_logf("fmt", "%d-%s", 42, "x");
    char fmtbig[2000];
    memset(fmtbig, 'z', sizeof fmtbig - 1);
    fmtbig[sizeof fmtbig - 1] = 0;
    fr_logf("fmtbig", "%s", fmtbig);
    fr_log("exact", big + 10 * 1024 - 1024); /* exactly 1024 bytes: whole */
}

static void test_api_logs_keep_1k_and_mark_longer_ones_cut(void **state)
{
    (void)state;
    const struct trace_thread *t = read_thread(tu_on_thread(logs, NULL));
    assert_int_equal(t->n, 5);
    const struct trace_event *e = &t->ev[0];
    assert_string_equal(tu_str(&P, e->name), "big");
    assert_int_equal(e->text_len, 1024);
    assert_true(e->flags & FR_REC_F_LOG_CUT);
    for (uint32_t i = 0; i < e->text_len; i++)
        assert_int_equal(P.text[e->text_off + i], 'a' + i % 26);
    e = &t->ev[1];
    assert_int_equal(e->text_len, 40);
    assert_false(e->flags & FR_REC_F_LOG_CUT);
    assert_memory_equal(P.text + e->text_off, "forty bytes of message, exactly forty.!!", 40);
    e = &t->ev[2];
    assert_int_equal(e->text_len, 4);
    assert_memory_equal(P.text + e->text_off, "42-x", 4);
    e = &t->ev[3];
    assert_int_equal(e->text_len, 1024);
    assert_true(e->flags & FR_REC_F_LOG_CUT);
    e = &t->ev[4];
    assert_int_equal(e->text_len, 1024);
    assert_false(e->flags & FR_REC_F_LOG_CUT);
}

static void every_length(void *arg)
{
    (void)arg;
    char msg[FR_ABI_LOG_MAX + 1];
    for (size_t len = 0; len <= FR_ABI_LOG_MAX; len++) {
        for (size_t i = 0; i < len; i++)
            msg[i] = (char)(1 + (len * 7 + i * 13) % 255);
        msg[len] = 0;
        fr_log("len", msg);
    }
}

static void test_api_log_text_round_trips_at_every_length(void **state)
{
    (void)state;
    /* every length from 0 to 1024 (about 36000 units) fits the default
     * 1 MiB ring, so all of them are read back */
    const struct trace_thread *t = read_thread(tu_on_thread(every_length, NULL));
    assert_int_equal(t->n, FR_ABI_LOG_MAX + 1);
    for (size_t k = 0; k < t->n; k++) {
        const struct trace_event *e = &t->ev[k];
        size_t len = e->text_len;
        assert_int_equal(e->type, FR_REC_LOG);
        if (k > 0)
            assert_int_equal(len, t->ev[k - 1].text_len + 1);
        for (size_t i = 0; i < len; i++)
            assert_int_equal((unsigned char)P.text[e->text_off + i], 1 + (len * 7 + i * 13) % 255);
    }
    assert_int_equal(t->ev[t->n - 1].text_len, FR_ABI_LOG_MAX);
}

/* ---- tasks ---- */

struct handoff {
    fr_task_id task;
    fr_task_id child;
};

static void begin_task(void *arg)
{
    struct handoff *h = arg;
    h->task = fr_task_begin("GET /orders");
    fr_region_begin("accept");
    fr_region_end();
    h->child = fr_task_begin_child(h->task, "db query");
    fr_task_end(h->child);
}

static void finish_task(void *arg)
{
    struct handoff *h = arg;
    fr_task_attach(h->task);
    fr_region_begin("work");
    fr_region_end();
    fr_task_detach();
    fr_region_begin("after");
    fr_region_end();
    fr_task_end(h->task);
}

static void test_api_task_crosses_threads_with_its_regions(void **state)
{
    (void)state;
    struct handoff h;
    uint32_t a = tu_on_thread(begin_task, &h);
    uint32_t b = tu_on_thread(finish_task, &h);
    assert_int_not_equal(h.task.id, 0);
    assert_int_not_equal(h.task.id, h.child.id);
    assert_int_equal(h.child.parent, h.task.id);

    const struct trace_thread *ta = read_thread(a);
    assert_int_equal(ta->n, 5);
    assert_int_equal(ta->ev[0].type, FR_REC_TASK_BEGIN);
    assert_int_equal(ta->ev[0].id, h.task.id);
    assert_string_equal(tu_str(&P, ta->ev[0].name), "GET /orders");
    assert_int_equal(ta->ev[1].task, h.task.id); /* accept belongs to the task */
    assert_int_equal(ta->ev[3].type, FR_REC_TASK_BEGIN);
    assert_int_equal(ta->ev[3].parent, h.task.id);
    assert_int_equal(ta->ev[4].type, FR_REC_TASK_END);
    assert_int_equal(ta->ev[4].id, h.child.id);

    const struct trace_thread *tb = tu_thread(&P, b);
    assert_int_equal(tb->n, 7);
    assert_int_equal(tb->ev[0].type, FR_REC_TASK_ATTACH);
    assert_int_equal(tb->ev[1].task, h.task.id); /* work: attached */
    assert_int_equal(tb->ev[3].type, FR_REC_TASK_DETACH);
    assert_int_equal(tb->ev[4].task, 0); /* after: detached */
    const struct trace_event *end = &tb->ev[6];
    assert_int_equal(end->type, FR_REC_TASK_END);
    assert_int_equal(end->id, h.task.id);
    assert_string_equal(tu_str(&P, end->name), "GET /orders");
    /* the end knows when the task began, on the other thread */
    assert_int_equal(end->start_ts, ta->ev[0].ts);
    assert_true(end->ts >= end->start_ts);
}

static void many_tasks(void *arg)
{
    uint64_t *ids = arg;
    for (int i = 0; i < 1000; i++) {
        fr_task_id t = fr_task_begin("t");
        ids[i] = t.id;
        fr_task_end(t);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_api_task_ids_are_unique_across_threads(void **state)
{
    (void)state;
    static uint64_t ids[4000];
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, (void *(*)(void *))(void (*)(void))many_tasks, ids + 1000 * i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    qsort(ids, 4000, sizeof ids[0], cmp_u64);
    assert_int_not_equal(ids[0], 0);
    for (int i = 1; i < 4000; i++)
        assert_int_not_equal(ids[i], ids[i - 1]);
}

static void test_api_ending_task_zero_is_a_no_op(void **state)
{
    (void)state;
    fr_task_id none = {0, 0, 0, 0, 0};
    fr_task_end(none);
    fr_task_attach(none);
}

/* ---- counters, flows, waits ---- */

static void values(void *arg)
{
    (void)arg;
    fr_counter("depth", -5);
    fr_counter("depth", INT64_MAX);
    fr_flow_begin(UINT64_MAX);
    fr_flow_end(7);
    fr_wait_begin(FR_WAIT_LOCK, "mutex");
    fr_wait_begin(FR_WAIT_NET, "inner"); /* folded into the outer wait */
    fr_wait_end();
    fr_wait_end();
    fr_wait_end(); /* none open: ignored */
    fr_wait_begin((enum fr_wait)99, "bogus kind");
    fr_wait_end();
}

static void test_api_counters_flows_and_waits(void **state)
{
    (void)state;
    const struct trace_thread *t = read_thread(tu_on_thread(values, NULL));
    assert_int_equal(t->n, 8);
    assert_int_equal((int64_t)t->ev[0].id, -5);
    assert_string_equal(tu_str(&P, t->ev[0].name), "depth");
    assert_int_equal((int64_t)t->ev[1].id, INT64_MAX);
    assert_int_equal(t->ev[2].type, FR_REC_FLOW_BEGIN);
    assert_int_equal(t->ev[2].id, UINT64_MAX);
    assert_int_equal(t->ev[3].type, FR_REC_FLOW_END);
    assert_int_equal(t->ev[3].id, 7);
    assert_int_equal(t->ev[4].type, FR_REC_WAIT_BEGIN);
    assert_int_equal(t->ev[4].arg, FR_WAIT_LOCK);
    assert_string_equal(tu_str(&P, t->ev[4].name), "mutex");
    assert_int_equal(t->ev[5].type, FR_REC_WAIT_END);
    assert_int_equal(t->ev[5].arg, FR_WAIT_LOCK);
    assert_int_equal(t->ev[6].arg, FR_WAIT_OTHER); /* unknown kinds become "other" */
}

/* ---- process ---- */

static void test_api_init_is_idempotent_and_trigger_needs_a_daemon(void **state)
{
    (void)state;
    assert_int_equal(fr_init("other name"), 0);
    assert_int_equal(fr_init(NULL), 0);
    trace_proc_free(&P);
    assert_int_equal(tu_read_self(&P), 0);
    assert_string_equal(P.name, "test_api");
    assert_int_equal(P.pid, (uint32_t)getpid());
    assert_int_equal(fr_trigger("why"), -ENOTCONN);
}

static void test_api_region_fd_is_close_on_exec_and_sealed(void **state)
{
    (void)state;
    assert_true(fr__proc.fd >= 0);
    assert_true(fcntl(fr__proc.fd, F_GETFD) & FD_CLOEXEC);
    int seals = fcntl(fr__proc.fd, F_GET_SEALS);
    assert_true(seals & F_SEAL_SHRINK);
    assert_true(seals & F_SEAL_GROW);
}

static void test_api_fork_child_records_into_its_own_region(void **state)
{
    (void)state;
    fr_region_begin("parent-before-fork");
    fr_region_end();
    unsigned char *parent_base = fr__proc.base;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* child: the same call-site names, a region of its own */
        fr_region_begin("parent-before-fork");
        fr_region_end();
        fr_region_begin("child-only");
        fr_region_end();
        struct trace_proc c;
        int ok = fr__proc.base != parent_base && tu_read_self(&c) == 0 && c.nthreads == 1 &&
                 c.threads[0].n == 4 && c.pid == (uint32_t)getpid() &&
                 strcmp(tu_str(&c, c.threads[0].ev[0].name), "parent-before-fork") == 0 &&
                 strcmp(tu_str(&c, c.threads[0].ev[2].name), "child-only") == 0 &&
                 strcmp(c.name, "test_api") == 0;
        char r = ok ? 'y' : 'n';
        if (write(fds[1], &r, 1) != 1)
            _exit(3);
        _exit(0);
    }
    char r = 0;
    assert_int_equal(read(fds[0], &r, 1), 1);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(r, 'y');
    close(fds[0]);
    close(fds[1]);
    /* the parent's rings saw nothing of the child */
    const struct trace_thread *t = read_thread(tu_gettid());
    for (size_t i = 0; i < t->n; i++)
        assert_string_not_equal(tu_str(&P, t->ev[i].name), "child-only");
}

static int teardown(void **state)
{
    (void)state;
    trace_proc_free(&P);
    return 0;
}

int main(void)
{
    assert_int_equal(fr_init("test_api"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_100_nested_regions_keep_names_and_order),
        cmocka_unit_test(test_api_region_end_without_begin_records_nothing),
        cmocka_unit_test(test_api_null_and_empty_names_are_recorded_unnamed),
        cmocka_unit_test(test_api_dynamic_names_are_not_cached_per_site),
        cmocka_unit_test(test_api_thread_name_defaults_to_kernel_name),
        cmocka_unit_test(test_api_logs_keep_1k_and_mark_longer_ones_cut),
        cmocka_unit_test(test_api_log_text_round_trips_at_every_length),
        cmocka_unit_test(test_api_task_crosses_threads_with_its_regions),
        cmocka_unit_test(test_api_task_ids_are_unique_across_threads),
        cmocka_unit_test(test_api_ending_task_zero_is_a_no_op),
        cmocka_unit_test(test_api_counters_flows_and_waits),
        cmocka_unit_test(test_api_init_is_idempotent_and_trigger_needs_a_daemon),
        cmocka_unit_test(test_api_region_fd_is_close_on_exec_and_sealed),
        cmocka_unit_test(test_api_fork_child_records_into_its_own_region),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
