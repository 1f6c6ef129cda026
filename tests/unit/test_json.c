/* test_json.c - the Chrome JSON encoder on traces recorded for real.
 *
 * Records on threads of its own, reads the region back, encodes a view of
 * those threads, and checks the document: python3's json module must load
 * it (that part is skipped without python3), and a short script lists the
 * events so that counts, phases, names and ids can be checked exactly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "common/json.h"
#include "enctest.h"
#include "testutil.h"

static struct trace_proc P;

static void read_all(void)
{
    trace_proc_free(&P);
    assert_int_equal(tu_read_self(&P), 0);
}

/* One line per event: ph|tid|name|ts-as-written-by-python|args|id, then a
 * summary line "phases: B=4 E=4 ...". Only double quotes: it goes inside
 * single quotes on the shell's command line. */
static const char LIST[] =
    "import json,sys,collections\n"
    "d=json.load(sys.stdin)\n"
    "assert set(d)=={\"displayTimeUnit\",\"traceEvents\"}\n"
    "c=collections.Counter()\n"
    "for e in d[\"traceEvents\"]:\n"
    "  c[e[\"ph\"]]+=1\n"
    "  i=e.get(\"id2\",{}).get(\"local\") or e.get(\"id\")\n"
    "  print(\"%s|%s|%s|%s|%s|%s\"%(e[\"ph\"],e.get(\"tid\"),json.dumps(e.get(\"name\")),"
    "e.get(\"cat\"),json.dumps(e.get(\"args\"),sort_keys=True),i))\n"
    "print(\"phases: \"+\" \".join(\"%s=%d\"%(k,c[k]) for k in sorted(c)))\n";

/* Encodes and lists; *doc keeps the JSON, *list python's output (NULL
 * when python3 is absent). */
static void encode_and_list(const struct window_input *in, size_t n, struct sink_mem *doc,
                            char **list)
{
    assert_int_equal(et_encode(json_encode, in, n, 0, doc), 0);
    char path[64];
    assert_int_equal(et_file(doc->data, doc->len, path), 0);
    *list = NULL;
    int st = et_python(LIST, path, list);
    if (st == ET_ABSENT)
        fprintf(stderr, "# python3 absent: JSON not validated\n");
    else if (st != 0)
        fail_msg("python3 rejects the document (%d):\n%s", st, *list);
    unlink(path);
}

static void has_line(const char *list, const char *fmt, ...)
{
    char want[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (list && !strstr(list, want))
        fail_msg("no line with <%s> in:\n%s", want, list);
}

/* The document's own text has `"ts":` with exactly this value. */
static void has_ts(const struct sink_mem *doc, uint64_t ns)
{
    char want[64];
    snprintf(want, sizeof want, "\"ts\":%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
    assert_non_null(memmem(doc->data, doc->len, want, strlen(want)));
}

/* ---- everything at once, exactly ---- */

static void test_json_content_is_exact(void **state)
{
    (void)state;
    uint32_t tids[2] = {tu_on_thread(et_producer, NULL), tu_on_thread(et_consumer, NULL)};
    read_all();
    struct trace_thread th[2];
    struct trace_proc view;
    et_view(&P, tids, 2, &view, th);
    struct window_input in = {&view, 0, 0};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    has_line(list, "phases: B=4 C=3 E=4 M=3 f=1 i=1 s=1\n");
    has_line(list, "M|%d|\"process_name\"|None|{\"name\": \"test_json\"}|", getpid());
    has_line(list, "M|%u|\"thread_name\"|None|{\"name\": \"producer\"}|", tids[0]);
    has_line(list, "M|%u|\"thread_name\"|None|{\"name\": \"consumer\"}|", tids[1]);
    has_line(list, "B|%u|\"outer\"|None|null|None", tids[0]);
    has_line(list, "B|%u|\"lock wait: db_lock\"|wait|{\"kind\": \"lock\"}|None", tids[0]);
    has_line(list,
             "i|%u|\"log\"|None|{\"category\": \"db\", \"message\": \"connected to primary\"}",
             tids[0]);
    has_line(list, "C|%u|\"queue_depth\"|None|{\"value\": -5}|", tids[0]);
    has_line(list, "C|%u|\"queue_depth\"|None|{\"value\": 7}|", tids[1]);
    has_line(list, "s|%u|\"flow\"|flow|null|0x", tids[0]);
    has_line(list, "f|%u|\"flow\"|flow|null|0x", tids[1]);
    /* timestamps: µs with ns precision, exactly the recorded ns */
    const struct trace_thread *a = tu_thread(&P, tids[0]);
    for (size_t i = 0; i < a->n; i++)
        has_ts(&doc, a->ev[i].ts);
    /* the two ends of the flow carry one id */
    if (list) {
        const char *s = strstr(list, "\ns|"), *f = strstr(list, "\nf|");
        assert_non_null(s);
        assert_non_null(f);
        size_t ls = strcspn(s + 1, "\n"), lf = strcspn(f + 1, "\n");
        const char *is = memrchr(s, '|', ls + 1), *id = memrchr(f, '|', lf + 1);
        assert_int_equal(s + 1 + ls - is, f + 1 + lf - id);
        assert_memory_equal(is, id, (size_t)(s + 1 + ls - is));
    }
    free(list);
    sink_mem_fini(&doc);
}

/* ---- the window start cuts slices ---- */

static void test_json_window_start_cuts_slices_into_begins_at_from(void **state)
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
    struct window_input in = {&view, 0, c.from};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    has_line(list, "phases: B=4 E=4 M=3 b=2 e=2\n");
    /* the cut ones come first, outermost first, at the window start */
    has_line(list,
             "B|%u|\"cut-outer\"|None|null|None\nB|%u|\"cut-inner\"|None|null|None\n"
             "B|%u|\"io wait: read\"|wait|{\"kind\": \"io\"}|None\n",
             tids[0], tids[0], tids[0]);
    has_line(list, "b|%u|\"request\"|task|null|0x%" PRIx64 "\n", tids[1], c.early.id);
    has_line(list, "e|%u|\"request\"|task|null|0x%" PRIx64 "\n", tids[1], c.early.id);
    has_line(list, "b|%u|\"late\"|task|null|0x%" PRIx64 "\n", tids[0], c.late.id);
    has_ts(&doc, c.from);
    char want[96];
    snprintf(want, sizeof want, "{\"ph\":\"B\",\"pid\":%d,\"tid\":%u,\"ts\":%" PRIu64 ".%03u,",
             getpid(), tids[0], c.from / 1000, (unsigned)(c.from % 1000));
    assert_non_null(memmem(doc.data, doc.len, want, strlen(want)));
    free(list);
    sink_mem_fini(&doc);
}

/* ---- tasks ---- */

struct handoff {
    fr_task_id task, child;
};

static void begin_task(void *arg)
{
    struct handoff *h = arg;
    h->task = fr_task_begin("GET /orders");
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
    fr_task_end(h->task);
}

static void test_json_tasks_are_async_slices_by_id(void **state)
{
    (void)state;
    struct handoff h;
    uint32_t tids[2] = {tu_on_thread(begin_task, &h), tu_on_thread(finish_task, &h)};
    read_all();
    struct trace_thread th[2];
    struct trace_proc view;
    et_view(&P, tids, 2, &view, th);
    struct window_input in = {&view, 0, 0};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    has_line(list, "phases: B=1 E=1 M=3 b=2 e=2\n");
    has_line(list, "b|%u|\"GET /orders\"|task|null|0x%" PRIx64 "\n", tids[0], h.task.id);
    has_line(list, "e|%u|\"GET /orders\"|task|null|0x%" PRIx64 "\n", tids[1], h.task.id);
    has_line(list, "b|%u|\"db query\"|task|{\"parent\": \"0x%" PRIx64 "\"}|0x%" PRIx64 "\n",
             tids[0], h.task.id, h.child.id);
    free(list);
    sink_mem_fini(&doc);
}

/* ---- open slices, hostile content ---- */

static void open_at_end(void *arg)
{
    (void)arg;
    fr_task_begin("open-task");
    fr_region_begin("never-ends");
}

static void test_json_open_slices_stay_open(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(open_at_end, NULL);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    has_line(list, "phases: B=1 M=2 b=1\n");
    free(list);
    sink_mem_fini(&doc);
}

static void hostile(void *arg)
{
    (void)arg;
    fr_thread_name("bad\xff\x01name");
    fr_region_begin("quote\"d \\ back");
    fr_region_begin("new\nline\ttab\x7f");
    fr_region_begin("\xff\xfe"
                    "bad\xc0\xaf"
                    "end\xe2\x82");
    fr_region_begin("caf\xc3\xa9 \xf0\x9f\x94\xa5 </script>");
    fr_region_end();
    fr_region_end();
    fr_region_end();
    fr_region_end();
    char msg[FR_ABI_LOG_MAX + 1];
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        msg[i] = (char)(1 + (i * 37) % 255);
    msg[FR_ABI_LOG_MAX] = 0;
    fr_log("bytes\x01\"", msg);
    char big[3000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fr_log("big", big);
    fr_counter("\xff", INT64_MIN);
}

static void test_json_hostile_names_and_1k_logs_stay_valid(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(hostile, NULL);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    has_line(list, "phases: B=4 C=1 E=4 M=2 i=2\n");
    has_line(list, "{\"name\": \"bad\\ufffd\\u0001name\"}");
    has_line(list, "B|%u|\"quote\\\"d \\\\ back\"|", tid);
    has_line(list, "B|%u|\"new\\nline\\ttab\\u007f\"|", tid);
    has_line(list, "B|%u|\"\\ufffd\\ufffdbad\\ufffd\\ufffdend\\ufffd\\ufffd\"|", tid);
    has_line(list, "B|%u|\"caf\\u00e9 \\ud83d\\udd25 </script>\"|", tid);
    has_line(list, "\"category\": \"bytes\\u0001\\\"\"");
    has_line(list, "\"truncated\": true");
    has_line(list, "C|%u|\"\\ufffd\"|None|{\"value\": -9223372036854775808}|", tid);
    /* 1024 quotes, each escaped */
    char q[2 * FR_ABI_LOG_MAX + 1];
    for (size_t i = 0; i < FR_ABI_LOG_MAX; i++)
        q[2 * i] = '\\', q[2 * i + 1] = '"';
    q[2 * FR_ABI_LOG_MAX] = 0;
    assert_non_null(memmem(doc.data, doc.len, q, strlen(q)));
    free(list);
    sink_mem_fini(&doc);
}

/* ---- determinism, processes ---- */

static void test_json_same_input_gives_same_bytes_in_any_chunks(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    read_all();
    struct window_input in = {&P, 0, 0};
    struct sink_mem a, b, c;
    assert_int_equal(et_encode(json_encode, &in, 1, 0, &a), 0);
    assert_int_equal(et_encode(json_encode, &in, 1, 0, &b), 0);
    assert_int_equal(et_encode(json_encode, &in, 1, 1, &c), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(a.len, c.len);
    assert_memory_equal(a.data, c.data, a.len);
    sink_mem_fini(&a);
    sink_mem_fini(&b);
    sink_mem_fini(&c);
}

static void test_json_two_processes_and_loss_counts(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(et_consumer, NULL);
    read_all();
    struct trace_thread th[1];
    struct trace_proc v1, v2;
    et_view(&P, &tid, 1, &v1, th);
    v2 = v1;
    snprintf(v2.name, sizeof v2.name, "second");
    v1.dropped_no_ring = 5;
    struct window_input in[2] = {{&v1, 4242, 0}, {&v2, 4343, 0}};
    struct sink_mem doc;
    char *list;
    encode_and_list(in, 2, &doc, &list);
    has_line(list, "M|4242|\"process_name\"|None|{\"name\": \"test_json\"}|");
    has_line(list, "M|4343|\"process_name\"|None|{\"name\": \"second\"}|");
    has_line(list, "C|4242|\"flightrec dropped events\"|None|{\"value\": 5}|");
    assert_non_null(memmem(doc.data, doc.len, "\"pid\":4343,", 11));
    free(list);
    sink_mem_fini(&doc);
    /* no process at all: still a document */
    assert_int_equal(et_encode(json_encode, NULL, 0, 0, &doc), 0);
    assert_int_equal(doc.len, strlen("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n]}\n"));
    sink_mem_fini(&doc);
}

/* ---- a rule that fired ---- */

static void slow_task(void *arg)
{
    (void)arg;
    fr_task_id t = fr_task_begin("GET /slow");
    tu_pause_ms(3);
    fr_task_end(t);
}

static void test_json_trigger_is_an_instant_and_marks_its_slice(void **state)
{
    (void)state;
    struct fr_abi_rule r[] = {tu_rule("slow-task", FR_ABI_RULE_TASK, "GET /slow", 1000000)};
    assert_int_equal(tu_publish_rules(r, 1), 1);
    uint32_t tid = tu_on_thread(slow_task, NULL);
    tu_publish_rules(NULL, 0);
    read_all();
    struct trace_thread th[1];
    struct trace_proc view;
    et_view(&P, &tid, 1, &view, th);
    struct window_input in = {&view, 0, 0};
    struct sink_mem doc;
    char *list;
    encode_and_list(&in, 1, &doc, &list);
    const struct trace_event *e = NULL;
    for (size_t i = 0; i < th[0].n; i++)
        if (th[0].ev[i].type == FR_REC_TRIGGER)
            e = &th[0].ev[i];
    assert_non_null(e);
    has_line(list,
             "i|%u|\"trigger: slow-task\"|flightrec|{\"measured_ns\": %" PRIu64
             ", \"on\": \"task\", \"rule\": \"slow-task\", \"subject\": \"GET /slow\", "
             "\"task_id\": \"0x%" PRIx64 "\", \"threshold_ns\": 1000000}",
             tid, e->ts - e->start_ts, e->id);
    has_line(list, "e|%u|\"GET /slow\"|task|{\"flightrec.trigger\": \"slow-task\"}|", tid);
    free(list);
    sink_mem_fini(&doc);
}

/* As the daemon writes a trace: each process decoded into the same
 * memory just before it is encoded. The bytes are those of the whole. */
/* The daemon's way: one process at a time, and within a process with a
 * window start one thread at a time (window_input.fetch), in memory
 * reused from one to the next. */
static void test_json_one_process_or_thread_at_a_time_gives_the_same_bytes(void **state)
{
    (void)state;
    tu_on_thread(et_producer, NULL);
    tu_on_thread(et_consumer, NULL);
    struct et_two two;
    assert_int_equal(et_two_read(&two), 0);
    struct sink_mem whole;
    assert_int_equal(et_encode(json_encode, two.in, 2, 0, &whole), 0);

    for (int stream = 0; stream < 2; stream++) {
        struct sink_mem parts = {0};
        struct enc_sink s = {sink_mem_write, &parts};
        struct reader_buf buf = {0};
        struct json_enc *e;
        assert_int_equal(json_begin(&e, &s, 0), 0);
        for (size_t k = 0; k < 2; k++) {
            struct trace_proc p;
            struct window_input one;
            struct et_fetch f;
            assert_int_equal(et_read_again(&two, k, stream, &buf, &p, &f, &one), 0);
            assert_int_equal(json_add(e, &one), 0);
        }
        assert_int_equal(json_end(e), 0);
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

int main(void)
{
    assert_int_equal(fr_init("test_json"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_content_is_exact),
        cmocka_unit_test(test_json_window_start_cuts_slices_into_begins_at_from),
        cmocka_unit_test(test_json_tasks_are_async_slices_by_id),
        cmocka_unit_test(test_json_open_slices_stay_open),
        cmocka_unit_test(test_json_hostile_names_and_1k_logs_stay_valid),
        cmocka_unit_test(test_json_same_input_gives_same_bytes_in_any_chunks),
        cmocka_unit_test(test_json_two_processes_and_loss_counts),
        cmocka_unit_test(test_json_trigger_is_an_instant_and_marks_its_slice),
        cmocka_unit_test(test_json_one_process_or_thread_at_a_time_gives_the_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
