/* test_perfetto.c - the Perfetto encoder on traces recorded for real.
 *
 * Each test records on threads of its own with the library, reads the
 * process's region back with the reader, encodes a view holding only its
 * threads, and checks the bytes three ways: our own strict decoder
 * (pftrace.h, exact counts, names, timestamps), protoc against the schema,
 * and ../shared/formats/check-perfetto --strict. The last two are skipped
 * where their tools are absent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "common/perfetto.h"
#include "enctest.h"
#include "pftrace.h"
#include "testutil.h"

static struct trace_proc P;

static void read_all(void)
{
    trace_proc_free(&P);
    assert_int_equal(tu_read_self(&P), 0);
}

/* Encodes, decodes with pftrace.h (must be clean), and runs protoc and
 * check-perfetto on the file. strict: check-perfetto --strict must pass;
 * else it must pass without --strict. *bytes keeps the output. */
static void encode_and_check(const struct window_input *in, size_t n, int strict,
                             struct pt_trace *t, struct sink_mem *bytes, char **protoc_text)
{
    assert_int_equal(et_encode(perfetto_encode, in, n, 0, bytes), 0);
    int errs = pt_decode(bytes->data, bytes->len, t);
    if (errs)
        fail_msg("decoder: %d errors, first: %s", errs, t->why);
    char path[64];
    assert_int_equal(et_file(bytes->data, bytes->len, path), 0);
    char *out = NULL;
    int st = et_check_perfetto(path, strict, &out);
    if (st == ET_ABSENT)
        fprintf(stderr, "# check-perfetto not run: %s or protoc absent\n", FR_CHECK_PERFETTO);
    else if (st != 0)
        fail_msg("check-perfetto %s exited %d:\n%s", strict ? "--strict" : "", st, out);
    free(out);
    *protoc_text = NULL;
    st = et_protoc(path, protoc_text);
    if (st == ET_ABSENT)
        fprintf(stderr, "# protoc decode not run: protoc or the schema absent\n");
    else
        assert_int_equal(st, 0);
    unlink(path);
}

/* protoc's text agrees with our decoder on the event types. */
static void protoc_agrees(const char *text, const struct pt_trace *t)
{
    if (!text)
        return;
    assert_int_equal(et_count(text, "type: TYPE_SLICE_BEGIN"), pt_count(t, 0, 1, NULL));
    assert_int_equal(et_count(text, "type: TYPE_SLICE_END"), pt_count(t, 0, 2, NULL));
    assert_int_equal(et_count(text, "type: TYPE_INSTANT"), pt_count(t, 0, 3, NULL));
    assert_int_equal(et_count(text, "type: TYPE_COUNTER"), pt_count(t, 0, 4, NULL));
    assert_int_equal(et_count(text, "track_descriptor {"), t->ntracks);
}

static void no_bad_ends(const struct pt_trace *t, size_t want_open)
{
    size_t bad, open;
    pt_replay(t, &bad, &open);
    assert_int_equal(bad, 0);
    assert_int_equal(open, want_open);
}

/* ---- everything at once, exactly ---- */

static void test_perfetto_content_is_exact(void **state)
{
    (void)state;
    uint32_t tids[2] = {tu_on_thread(et_producer, NULL), tu_on_thread(et_consumer, NULL)};
    read_all();
    struct trace_thread th[2];
    struct trace_proc view;
    et_view(&P, tids, 2, &view, th);
    assert_int_equal(view.nthreads, 2);
    struct window_input in = {&view, 0, 0};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(&in, 1, 1, &t, &m, &text);

    /* raw bytes: a Trace.packet first, holding the ClockSnapshot with
     * BOOTTIME as primary clock */
    assert_true(m.len > 16);
    assert_int_equal(m.data[0], 0x0a);
    assert_non_null(memmem(m.data, m.data[1] + 2u, "\x10\x06", 2));
    assert_int_equal(t.snapshots, 1);
    assert_int_equal(t.primary, 6);
    assert_int_equal(t.mono, P.clock.mono_ns);
    assert_int_equal(t.boot, P.clock.boot_ns);
    assert_int_equal(t.real, P.clock.real_ns);

    const struct pt_track *proc = pt_named(&t, PT_PROCESS, "test_perfetto");
    assert_non_null(proc);
    assert_int_equal(proc->pid, getpid());
    const struct pt_track *a = pt_thread(&t, tids[0]), *b = pt_thread(&t, tids[1]);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->name, "producer");
    assert_string_equal(b->name, "consumer");
    assert_int_equal(a->pid, getpid());

    /* producer: outer, inner, the wait; a log; a flow start */
    assert_int_equal(pt_count(&t, a->uuid, 1, NULL), 3);
    assert_int_equal(pt_count(&t, a->uuid, 2, NULL), 3);
    assert_int_equal(pt_count(&t, a->uuid, 3, NULL), 2);
    const struct pt_event *e = &t.ev[pt_nth(&t, a->uuid, 0)];
    assert_string_equal(e->name, "outer");
    assert_int_equal(e->ts, tu_thread(&P, tids[0])->ev[0].ts);
    assert_string_equal(t.ev[pt_nth(&t, a->uuid, 1)].name, "inner");
    e = &t.ev[pt_nth(&t, a->uuid, 2)];
    assert_int_equal(e->type, 3);
    assert_string_equal(e->name, "log");
    assert_string_equal(e->category, "db");
    assert_string_equal(e->message, "connected to primary");
    assert_false(e->truncated);
    e = &t.ev[pt_nth(&t, a->uuid, 3)];
    assert_string_equal(e->name, "lock wait: db_lock");
    assert_string_equal(e->kind, "lock");
    /* flow instants come after the threads (their ids need both ends) */
    e = &t.ev[pt_nth(&t, a->uuid, 7)];
    assert_string_equal(e->name, "flow");
    assert_int_equal(e->nflow, 1);
    assert_int_equal(e->ts, tu_thread(&P, tids[0])->ev[7].ts);
    uint64_t flow = e->flow;

    /* consumer: the flow ends inside "consume"; 99 has no other end */
    assert_int_equal(pt_count(&t, b->uuid, 1, "consume"), 1);
    assert_int_equal(pt_count(&t, b->uuid, 2, NULL), 1);
    assert_int_equal(pt_count(&t, b->uuid, 3, "flow"), 2);
    e = &t.ev[pt_nth(&t, b->uuid, 2)];
    assert_int_equal(e->nterm, 1);
    assert_int_equal(e->term, flow);
    e = &t.ev[pt_nth(&t, b->uuid, 3)];
    assert_string_equal(e->name, "flow");
    assert_int_equal(e->nflow + e->nterm, 0);

    /* one counter track under the process, three values in order */
    const struct pt_track *q = pt_named(&t, PT_COUNTER, "queue_depth");
    assert_non_null(q);
    assert_int_equal(q->parent, proc->uuid);
    assert_int_equal(pt_count(&t, q->uuid, 4, NULL), 3);
    assert_int_equal(t.ev[pt_nth(&t, q->uuid, 0)].counter, 3);
    assert_int_equal(t.ev[pt_nth(&t, q->uuid, 1)].counter, -5);
    assert_int_equal(t.ev[pt_nth(&t, q->uuid, 2)].counter, 7);
    no_bad_ends(&t, 0);

    if (text) {
        protoc_agrees(text, &t);
        assert_int_equal(et_count(text, " flow_ids: "), 1);
        assert_int_equal(et_count(text, "terminating_flow_ids: "), 1);
        assert_int_equal(et_count(text, "name: \"lock wait: db_lock\""), 1);
        assert_int_equal(et_count(text, "counter_value: -5"), 1);
        assert_int_equal(et_count(text, "primary_trace_clock: BUILTIN_CLOCK_BOOTTIME"), 1);
    }
    free(text);
    pt_free(&t);
    sink_mem_fini(&m);
}

/* ---- the window start cuts regions, waits and tasks ---- */

static void check_cut(const struct pt_trace *t, const struct cut *c, uint32_t ta, uint64_t late_ts)
{
    const struct pt_track *a = pt_thread(t, ta);
    assert_non_null(a);
    /* the three cut slices begin at the window start, outermost first */
    static const char *const want[] = {"cut-outer", "cut-inner", "io wait: read", "after"};
    for (size_t i = 0; i < 3; i++) {
        const struct pt_event *e = &t->ev[pt_nth(t, a->uuid, i)];
        assert_int_equal(e->type, 1);
        assert_string_equal(e->name, want[i]);
        assert_int_equal(e->ts, c->from);
    }
    assert_string_equal(t->ev[pt_nth(t, a->uuid, 2)].kind, "io");
    assert_int_equal(pt_count(t, a->uuid, 1, NULL), 4);
    assert_int_equal(pt_count(t, a->uuid, 2, NULL), 4);
    assert_int_equal(pt_count(t, a->uuid, 1, "after"), 1);

    /* a task begun before the window, ended on the other thread: one
     * slice from the window start; the late one from its own start */
    const struct pt_track *req = pt_named(t, PT_TRACK, "request");
    const struct pt_track *late = pt_named(t, PT_TRACK, "late");
    assert_non_null(req);
    assert_non_null(late);
    assert_int_equal(pt_count(t, req->uuid, 1, "request"), 1);
    assert_int_equal(pt_count(t, req->uuid, 2, NULL), 1);
    assert_int_equal(t->ev[pt_nth(t, req->uuid, 0)].ts, c->from);
    assert_int_equal(t->ev[pt_nth(t, req->uuid, 0)].task_id, c->early.id);
    assert_int_equal(pt_count(t, late->uuid, 1, "late"), 1);
    assert_int_equal(pt_count(t, late->uuid, 2, NULL), 1);
    assert_int_equal(t->ev[pt_nth(t, late->uuid, 0)].ts, late_ts);
    no_bad_ends(t, 0);
}

static void test_perfetto_window_start_cuts_slices_into_begins_at_from(void **state)
{
    (void)state;
    struct cut c;
    uint32_t tids[2];
    tids[0] = tu_on_thread(cut_begin, &c);
    tids[1] = tu_on_thread(cut_end, &c);
    read_all();
    struct trace_thread th[2];
    struct trace_proc view;
    et_view(&P, tids, 2, &view, th);
    assert_int_equal(view.nthreads, 2);

    /* The "late" task's BEGIN goes missing (its ring was overwritten,
     * say): its slice must still begin where its END says it began. */
    struct trace_thread *a = &th[0];
    struct trace_event *ev = malloc(a->n * sizeof *ev);
    size_t n = 0;
    uint64_t late_ts = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->ev[i].type == FR_REC_TASK_BEGIN && a->ev[i].id == c.late.id)
            late_ts = a->ev[i].ts;
        else
            ev[n++] = a->ev[i];
    }
    assert_true(late_ts >= c.from);
    a->ev = ev;
    a->n = n;

    struct window_input in = {&view, 0, c.from};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(&in, 1, 1, &t, &m, &text);
    check_cut(&t, &c, tids[0], late_ts);
    protoc_agrees(text, &t);
    free(text);
    pt_free(&t);

    /* the reader trimming at from gives the very same bytes as the
     * encoder trimming a whole read */
    struct reader r;
    assert_int_equal(reader_open(&r, fr__proc.base, fr__proc.size), 0);
    struct trace_proc q;
    struct reader_opts o = {.from_ns = c.from};
    assert_int_equal(reader_read(&r, &o, &q), 0);
    struct trace_thread qth[2];
    struct trace_proc qview;
    et_view(&q, tids, 2, &qview, qth);
    qth[0].ev = ev; /* the same missing BEGIN */
    qth[0].n = n;
    size_t skip = 0;
    while (skip < n && ev[skip].ts < c.from)
        skip++;
    qth[0].ev += skip;
    qth[0].n -= skip;
    struct window_input qin = {&qview, 0, c.from};
    struct sink_mem m2;
    assert_int_equal(et_encode(perfetto_encode, &qin, 1, 0, &m2), 0);
    assert_int_equal(m2.len, m.len);
    assert_memory_equal(m2.data, m.data, m.len);
    sink_mem_fini(&m2);
    sink_mem_fini(&m);
    trace_proc_free(&q);
    free(ev);
}

/* ---- slices still open at the end stay open ---- */

static void open_at_end(void *arg)
{
    (void)arg;
    fr_thread_name("opener");
    fr_task_begin("open-task");
    fr_region_begin("never-ends");
    fr_wait_begin(FR_WAIT_NET, "socket");
    fr_log("x", "inside");
}

static void test_perfetto_open_slices_stay_open(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(open_at_end, NULL);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    /* not --strict: "Did not end" is a warning, and the right output */
    encode_and_check(&in, 1, 0, &t, &m, &text);
    const struct pt_track *a = pt_thread(&t, tid);
    assert_int_equal(pt_count(&t, a->uuid, 1, NULL), 2);
    assert_int_equal(pt_count(&t, a->uuid, 2, NULL), 0);
    assert_int_equal(pt_count(&t, 0, 2, NULL), 0);
    no_bad_ends(&t, 3);
    free(text);
    pt_free(&t);

    /* nothing depends on when it is encoded */
    struct sink_mem m2;
    tu_pause_ms(2);
    assert_int_equal(et_encode(perfetto_encode, &in, 1, 0, &m2), 0);
    assert_int_equal(m2.len, m.len);
    assert_memory_equal(m2.data, m.data, m.len);
    sink_mem_fini(&m2);
    sink_mem_fini(&m);
}

/* ---- a task that crosses threads, with a child ---- */

struct handoff {
    fr_task_id task, child;
};

static void begin_task(void *arg)
{
    struct handoff *h = arg;
    h->task = fr_task_begin("GET /orders");
    h->child = fr_task_begin_child(h->task, "db query");
    fr_region_begin("query");
    fr_region_end();
    fr_task_end(h->child);
}

static void finish_task(void *arg)
{
    struct handoff *h = arg;
    fr_task_attach(h->task);
    fr_region_begin("work");
    fr_region_end();
    fr_task_detach();
    fr_task_end(h->task);
}

static void test_perfetto_task_across_threads_is_one_slice(void **state)
{
    (void)state;
    struct handoff h;
    uint32_t tids[2] = {tu_on_thread(begin_task, &h), tu_on_thread(finish_task, &h)};
    read_all();
    struct trace_thread th[2];
    struct trace_proc view;
    et_view(&P, tids, 2, &view, th);
    struct window_input in = {&view, 0, 0};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(&in, 1, 1, &t, &m, &text);

    const struct pt_track *proc = pt_named(&t, PT_PROCESS, "test_perfetto");
    const struct pt_track *task = pt_named(&t, PT_TRACK, "GET /orders");
    const struct pt_track *child = pt_named(&t, PT_TRACK, "db query");
    assert_non_null(task);
    assert_non_null(child);
    assert_int_equal(task->parent, proc->uuid);
    assert_int_equal(child->parent, task->uuid); /* nested under its parent */
    assert_int_equal(pt_count(&t, task->uuid, 1, "GET /orders"), 1);
    assert_int_equal(pt_count(&t, task->uuid, 2, NULL), 1);
    const struct pt_event *b = &t.ev[pt_nth(&t, task->uuid, 0)];
    const struct pt_event *e = &t.ev[pt_nth(&t, task->uuid, 1)];
    assert_int_equal(b->task_id, h.task.id);
    assert_int_not_equal(b->seq, e->seq); /* begun and ended on different threads */
    assert_true(e->ts >= b->ts);
    assert_int_equal(pt_count(&t, child->uuid, 1, "db query"), 1);
    assert_int_equal(pt_count(&t, child->uuid, 2, NULL), 1);
    /* the regions stay on their threads */
    assert_int_equal(pt_count(&t, pt_thread(&t, tids[1])->uuid, 1, "work"), 1);
    no_bad_ends(&t, 0);
    protoc_agrees(text, &t);
    free(text);
    pt_free(&t);
    sink_mem_fini(&m);
}

/* ---- hostile names and long logs ---- */

static void hostile(void *arg)
{
    (void)arg;
    fr_thread_name("bad\xff name");
    fr_region_begin("quote\"d \\ back");
    fr_region_begin("new\nline\ttab");
    fr_region_begin("\xff\xfe"
                    "bad\xc0\xaf"
                    "end\xe2\x82");
    fr_region_begin("caf\xc3\xa9 \xf0\x9f\x94\xa5 ok");
    fr_region_end();
    fr_region_end();
    fr_region_end();
    fr_region_end();
    char msg[FR_ABI_LOG_MAX + 1];
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        msg[i] = (char)('a' + i % 26);
    msg[FR_ABI_LOG_MAX] = 0;
    fr_log("ascii", msg);
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        msg[i] = (char)(1 + (i * 37) % 255); /* every byte but NUL */
    fr_log("bytes\x01\"", msg);
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fr_log("big", big);
    fr_counter("\xff", 1);
}

static void test_perfetto_hostile_names_and_1k_logs_stay_valid(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(hostile, NULL);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(&in, 1, 1, &t, &m, &text); /* the decoder checks every string's UTF-8 */
    const struct pt_track *a = pt_thread(&t, tid);
    assert_string_equal(a->name, "bad\xef\xbf\xbd name");
    assert_string_equal(t.ev[pt_nth(&t, a->uuid, 0)].name, "quote\"d \\ back");
    assert_string_equal(t.ev[pt_nth(&t, a->uuid, 1)].name, "new\nline\ttab");
    assert_string_equal(t.ev[pt_nth(&t, a->uuid, 2)].name, "\xef\xbf\xbd\xef\xbf\xbd"
                                                           "bad\xef\xbf\xbd\xef\xbf\xbd"
                                                           "end\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(t.ev[pt_nth(&t, a->uuid, 3)].name, "caf\xc3\xa9 \xf0\x9f\x94\xa5 ok");

    const struct pt_event *e = &t.ev[pt_nth(&t, a->uuid, 8)];
    assert_string_equal(e->category, "ascii");
    assert_int_equal(strlen(e->message), FR_ABI_LOG_MAX);
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        assert_int_equal(e->message[i], 'a' + i % 26);
    e = &t.ev[pt_nth(&t, a->uuid, 9)];
    assert_string_equal(e->category, "bytes\x01\"");
    /* ASCII bytes stay, each byte >= 0x80 that starts nothing valid is one
     * U+FFFD */
    size_t want = 0;
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        want += (1 + (i * 37) % 255) < 0x80 ? 1 : 3;
    assert_true(strlen(e->message) <= want);
    assert_true(strlen(e->message) >= FR_ABI_LOG_MAX);
    e = &t.ev[pt_nth(&t, a->uuid, 10)];
    assert_int_equal(strlen(e->message), FR_ABI_LOG_MAX);
    assert_true(e->truncated);
    assert_non_null(pt_named(&t, PT_COUNTER, "\xef\xbf\xbd"));
    no_bad_ends(&t, 0);
    protoc_agrees(text, &t);
    free(text);
    pt_free(&t);
    sink_mem_fini(&m);
}

/* ---- determinism, processes, losses, failures ---- */

static void test_perfetto_same_input_gives_same_bytes_in_any_chunks(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    read_all();
    struct window_input in = {&P, 0, 0};
    struct sink_mem a, b, c;
    assert_int_equal(et_encode(perfetto_encode, &in, 1, 0, &a), 0);
    assert_int_equal(et_encode(perfetto_encode, &in, 1, 0, &b), 0);
    assert_int_equal(et_encode(perfetto_encode, &in, 1, 1, &c), 0); /* a write per packet */
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(a.len, c.len);
    assert_memory_equal(a.data, c.data, a.len);
    struct pt_trace t;
    assert_int_equal(pt_decode(a.data, a.len, &t), 0);
    pt_free(&t);
    sink_mem_fini(&a);
    sink_mem_fini(&b);
    sink_mem_fini(&c);
}

static void test_perfetto_two_processes_and_loss_counts(void **state)
{
    (void)state;
    uint32_t tids[2] = {tu_on_thread(et_producer, NULL), tu_on_thread(et_consumer, NULL)};
    read_all();
    struct trace_thread th[2];
    struct trace_proc v1, v2;
    et_view(&P, tids, 2, &v1, th);
    v2 = v1;
    snprintf(v2.name, sizeof v2.name, "second");
    v1.dropped_no_ring = 5;
    v1.errors = 2;
    struct window_input in[2] = {{&v1, 4242, 0}, {&v2, 4343, 0}};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(in, 2, 1, &t, &m, &text);
    const struct pt_track *p1 = pt_named(&t, PT_PROCESS, "test_perfetto");
    const struct pt_track *p2 = pt_named(&t, PT_PROCESS, "second");
    assert_int_equal(p1->pid, 4242);
    assert_int_equal(p2->pid, 4343);
    size_t threads = 0;
    for (size_t i = 0; i < t.ntracks; i++)
        threads += t.tracks[i].kind == PT_THREAD;
    assert_int_equal(threads, 4);
    assert_int_equal(t.snapshots, 1);
    const struct pt_track *d = pt_named(&t, PT_COUNTER, "flightrec dropped events");
    assert_non_null(d);
    assert_int_equal(d->parent, p1->uuid);
    assert_int_equal(pt_count(&t, d->uuid, 4, NULL), 1);
    assert_int_equal(t.ev[pt_nth(&t, d->uuid, 0)].counter, 5);
    const struct pt_track *r = pt_named(&t, PT_COUNTER, "flightrec reader errors");
    assert_int_equal(t.ev[pt_nth(&t, r->uuid, 0)].counter, 2);
    /* the same flow ids in two processes do not join */
    uint64_t f[2] = {0, 0};
    size_t nf = 0;
    for (size_t i = 0; i < t.nev; i++)
        if (t.ev[i].nflow)
            f[nf++ % 2] = t.ev[i].flow;
    assert_int_equal(nf, 2);
    assert_int_not_equal(f[0], f[1]);
    no_bad_ends(&t, 0);
    free(text);
    pt_free(&t);
    sink_mem_fini(&m);
}

static int failing_write(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    (void)len;
    return ++*(int *)ctx > 2 ? -EPIPE : 0;
}

static void test_perfetto_sink_failure_stops_the_encoder(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    read_all();
    struct window_input in = {&P, 0, 0};
    int calls = 0;
    struct enc_sink s = {failing_write, &calls};
    assert_int_equal(perfetto_encode(&in, 1, &s, 1), -EPIPE);
    assert_int_equal(calls, 3); /* nothing written after the failure */
}

static void test_perfetto_empty_window_and_no_process(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    read_all();
    struct window_input in = {&P, 0, UINT64_MAX}; /* a window after everything */
    struct sink_mem m;
    assert_int_equal(et_encode(perfetto_encode, &in, 1, 0, &m), 0);
    struct pt_trace t;
    assert_int_equal(pt_decode(m.data, m.len, &t), 0);
    assert_int_equal(t.nev, 0);
    assert_non_null(pt_named(&t, PT_PROCESS, "test_perfetto"));
    pt_free(&t);
    sink_mem_fini(&m);
    assert_int_equal(et_encode(perfetto_encode, NULL, 0, 0, &m), 0);
    assert_int_equal(pt_decode(m.data, m.len, &t), 0);
    assert_int_equal(t.snapshots, 1);
    pt_free(&t);
    sink_mem_fini(&m);
}

/* As the daemon writes a trace: each process decoded into the same
 * memory just before it is encoded. The bytes are those of the whole. */
/* The daemon's way: one process at a time, and within a process with a
 * window start one thread at a time (window_input.fetch), in memory
 * reused from one to the next. */
static void test_perfetto_one_process_or_thread_at_a_time_gives_the_same_bytes(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    tu_on_thread(et_consumer, NULL);
    struct et_two two;
    assert_int_equal(et_two_read(&two), 0);
    struct sink_mem whole;
    assert_int_equal(et_encode(perfetto_encode, two.in, 2, 0, &whole), 0);
    struct trace_clock clocks[2] = {two.tp[0].clock, two.tp[1].clock};
    for (int stream = 0; stream < 2; stream++) {
        struct sink_mem parts = {0};
        struct enc_sink s = {sink_mem_write, &parts};
        struct reader_buf buf = {0};
        struct perfetto_enc *e;
        assert_int_equal(perfetto_begin(&e, &s, 0, clocks, 2), 0);
        for (size_t k = 0; k < 2; k++) {
            struct trace_proc p;
            struct window_input one;
            struct et_fetch f;
            assert_int_equal(et_read_again(&two, k, stream, &buf, &p, &f, &one), 0);
            assert_int_equal(perfetto_add(e, &one), 0);
        }
        assert_int_equal(perfetto_end(e), 0);
        assert_int_equal(parts.len, whole.len);
        assert_memory_equal(parts.data, whole.data, whole.len);
        reader_buf_fini(&buf);
        sink_mem_fini(&parts);
    }
    et_two_fini(&two);
    sink_mem_fini(&whole);
}

static int teardown(void **state)
{
    (void)state;
    trace_proc_free(&P);
    return 0;
}

/* ---- a rule that fired ---- */

static void slow_task(void *arg)
{
    (void)arg;
    fr_thread_name("server");
    fr_task_id t = fr_task_begin("GET /slow");
    fr_region_begin("handle");
    tu_pause_ms(3);
    fr_region_end();
    fr_task_end(t);
}

static void test_perfetto_trigger_is_an_instant_and_marks_its_slice(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {tu_rule("slow-task", FR_ABI_RULE_TASK, "GET /slow", 1000000),
                              tu_rule("slow-handle", FR_ABI_RULE_REGION, "handle", 1000000)};
    assert_int_equal(tu_publish_rules(r, 2), 2);
    uint32_t tid = tu_on_thread(slow_task, NULL);
    tu_publish_rules(NULL, 0);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct pt_trace t;
    struct sink_mem m;
    char *text;
    encode_and_check(&in, 1, 1, &t, &m, &text);
    const struct pt_track *a = pt_thread(&t, tid);
    assert_non_null(a);
    assert_int_equal(pt_count(&t, a->uuid, 3, "trigger: slow-task"), 1);
    assert_int_equal(pt_count(&t, a->uuid, 3, "trigger: slow-handle"), 1);
    /* handle begin, its trigger, its END (marked), the task's trigger */
    const struct pt_event *rt = &t.ev[pt_nth(&t, a->uuid, 1)];
    assert_string_equal(rt->name, "trigger: slow-handle");
    const struct pt_event *rend = &t.ev[pt_nth(&t, a->uuid, 2)];
    assert_int_equal(rend->type, 2);
    assert_non_null(rend->marks);
    assert_string_equal(rend->marks, "slow-handle");
    const struct pt_event *trig = &t.ev[pt_nth(&t, a->uuid, 3)];
    assert_string_equal(trig->name, "trigger: slow-task");
    assert_string_equal(trig->rule, "slow-task");
    assert_string_equal(trig->on, "task");
    assert_string_equal(trig->subject, "GET /slow");
    assert_int_equal(trig->threshold_ns, 1000000);
    assert_true(trig->measured_ns >= 3000000);
    /* the task's END (on its own track) is marked, at the trigger's time */
    size_t marked = 0;
    for (size_t i = 0; i < t.nev; i++) {
        if (t.ev[i].marks && t.ev[i].track != a->uuid) {
            marked++;
            assert_int_equal(t.ev[i].type, 2);
            assert_string_equal(t.ev[i].marks, "slow-task");
            assert_int_equal(t.ev[i].ts, trig->ts);
            assert_true(t.ev[i].track != a->uuid);
        }
    }
    assert_int_equal(marked, 1);
    no_bad_ends(&t, 0);
    if (text) {
        protoc_agrees(text, &t);
        assert_int_equal(et_count(text, "name: \"trigger: slow-task\""), 1);
        assert_int_equal(et_count(text, "string_value: \"GET /slow\""), 1); /* subject */
        assert_int_equal(et_count(text, "name: \"threshold_ns\""), 2);
        assert_int_equal(et_count(text, "uint_value: 1000000"), 2);
        assert_int_equal(et_count(text, "name: \"flightrec.trigger\""), 2); /* both ENDs */
    }
    free(text);
    pt_free(&t);
    sink_mem_fini(&m);
}

int main(void)
{
    assert_int_equal(fr_init("test_perfetto"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfetto_content_is_exact),
        cmocka_unit_test(test_perfetto_window_start_cuts_slices_into_begins_at_from),
        cmocka_unit_test(test_perfetto_open_slices_stay_open),
        cmocka_unit_test(test_perfetto_task_across_threads_is_one_slice),
        cmocka_unit_test(test_perfetto_hostile_names_and_1k_logs_stay_valid),
        cmocka_unit_test(test_perfetto_same_input_gives_same_bytes_in_any_chunks),
        cmocka_unit_test(test_perfetto_two_processes_and_loss_counts),
        cmocka_unit_test(test_perfetto_sink_failure_stops_the_encoder),
        cmocka_unit_test(test_perfetto_empty_window_and_no_process),
        cmocka_unit_test(test_perfetto_trigger_is_an_instant_and_marks_its_slice),
        cmocka_unit_test(test_perfetto_one_process_or_thread_at_a_time_gives_the_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
