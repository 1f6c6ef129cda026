/* enctest.h - helpers of the encoder tests: views of a recorded process,
 * encoding into memory and files, and the outside checks (check-perfetto,
 * protoc, python3). A check whose tool is absent returns ET_ABSENT and the
 * test skips that part only.
 */
#ifndef FR_TESTS_ENCTEST_H
#define FR_TESTS_ENCTEST_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sink.h"
#include "common/trace.h"
#include "common/window.h"
#include "testutil.h"

#ifndef FR_CHECK_PERFETTO
#define FR_CHECK_PERFETTO ""
#endif
#ifndef FR_PERFETTO_PROTO_DIR
#define FR_PERFETTO_PROTO_DIR ""
#endif

#define ET_ABSENT (-1000)

/* A shallow view of `all` holding only the threads with the given tids,
 * in that order (threads[] has room for n). Never trace_proc_free() it. */
static inline void et_view(const struct trace_proc *all, const uint32_t *tids, size_t n,
                           struct trace_proc *view, struct trace_thread *threads)
{
    *view = *all;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < all->nthreads; j++)
            if (all->threads[j].tid == tids[i]) {
                threads[k++] = all->threads[j];
                break;
            }
    view->threads = threads;
    view->nthreads = k;
}

/* perfetto_encode or json_encode */
typedef int (*et_encoder)(const struct window_input *in, size_t n, const struct enc_sink *sink,
                          size_t chunk);

static inline int et_encode(et_encoder enc, const struct window_input *in, size_t n, size_t chunk,
                            struct sink_mem *m)
{
    memset(m, 0, sizeof *m);
    struct enc_sink s = {sink_mem_write, m};
    return enc(in, n, &s, chunk);
}

/* Writes buf to a new temporary file; path gets its name. */
static inline int et_file(const void *buf, size_t len, char path[64])
{
    snprintf(path, 64, "/tmp/fr-enc-test.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    return ok ? 0 : -1;
}

/* Runs a shell command, output (stdout and stderr) into a malloc'd string.
 * Returns the exit status, or -1 when it could not run. */
static inline int et_run(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int et_have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* check-perfetto [--strict] path: its exit status, ET_ABSENT without it
 * (or without protoc, which it needs). */
static inline int et_check_perfetto(const char *path, int strict, char **out)
{
    if (!*FR_CHECK_PERFETTO || access(FR_CHECK_PERFETTO, X_OK) != 0 || !et_have("protoc") ||
        !et_have("python3"))
        return ET_ABSENT;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s '%s' 2>&1", FR_CHECK_PERFETTO, strict ? "--strict" : "", path);
    return et_run(cmd, out);
}

/* protoc --decode=perfetto.protos.Trace: 0 and the text, ET_ABSENT without
 * protoc or the schema, else its failure. */
static inline int et_protoc(const char *path, char **text)
{
    char proto[512];
    snprintf(proto, sizeof proto, "%s/perfetto_trace.proto", FR_PERFETTO_PROTO_DIR);
    if (!*FR_PERFETTO_PROTO_DIR || access(proto, R_OK) != 0 || !et_have("protoc"))
        return ET_ABSENT;
    char cmd[1536];
    snprintf(cmd, sizeof cmd,
             "protoc -I'%s' --decode=perfetto.protos.Trace perfetto_trace.proto < '%s' "
             "2>/dev/null",
             FR_PERFETTO_PROTO_DIR, path);
    return et_run(cmd, text);
}

static inline size_t et_count(const char *text, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = text; (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

/* python3 -c script < path: its exit status and output, ET_ABSENT
 * without python3. */
static inline int et_python(const char *script, const char *path, char **out)
{
    if (!et_have("python3"))
        return ET_ABSENT;
    char *cmd = malloc(strlen(script) + 1024);
    sprintf(cmd, "python3 -c '%s' < '%s' 2>&1", script, path);
    int st = et_run(cmd, out);
    free(cmd);
    return st;
}

/* ---- a recording the window start cuts (both encoders' tests) ----
 * Thread cut-a begins a task, two regions and a wait; c->from (the window
 * start the tests use) falls inside them; it then records "after" and
 * begins the task "late". Thread cut-b ends both tasks. */

struct cut {
    uint64_t from;
    fr_task_id early, late;
};

static inline void cut_begin(void *arg)
{
    struct cut *c = arg;
    fr_thread_name("cut-a");
    c->early = fr_task_begin("request");
    fr_region_begin("cut-outer");
    fr_region_begin("cut-inner");
    fr_wait_begin(FR_WAIT_IO, "read");
    tu_pause_ms(3);
    c->from = tu_now_ns();
    tu_pause_ms(3);
    fr_wait_end();
    fr_region_end();
    fr_region_end();
    fr_region_begin("after");
    fr_region_end();
    c->late = fr_task_begin("late");
}

static inline void cut_end(void *arg)
{
    struct cut *c = arg;
    fr_thread_name("cut-b");
    fr_task_end(c->early);
    fr_task_end(c->late);
}

/* What the content tests of both encoders record: nested regions, a log,
 * a wait, counters and a flow between two threads, and a flow that never
 * ends. */
static inline void et_producer(void *arg)
{
    (void)arg;
    fr_thread_name("producer");
    fr_region_begin("outer");
    fr_region_begin("inner");
    fr_log("db", "connected to primary");
    fr_wait_begin(FR_WAIT_LOCK, "db_lock");
    fr_wait_end();
    fr_region_end();
    fr_counter("queue_depth", 3);
    fr_flow_begin(42);
    fr_region_end();
    fr_counter("queue_depth", -5);
}

static inline void et_consumer(void *arg)
{
    (void)arg;
    fr_thread_name("consumer");
    fr_region_begin("consume");
    fr_flow_end(42);
    fr_region_end();
    fr_counter("queue_depth", 7);
    fr_flow_begin(99); /* never ends: no arrow */
}

/* Two processes from this process's region, as the daemon would write
 * them one at a time: all of it, and its last 2 ms (cut slices) under
 * pid 4343, dead. */
struct et_two {
    struct reader r;
    struct reader_opts o[2];
    struct window_input in[2];
    struct trace_proc tp[2];
};

/* Reads both into t->tp (t->in points at them). Returns 0 or -errno. */
static inline int et_two_read(struct et_two *t)
{
    memset(t, 0, sizeof *t);
    int err = reader_open(&t->r, fr__proc.base, fr__proc.size);
    if (err < 0)
        return err;
    uint64_t newest = reader_newest(&t->r);
    t->o[1].from_ns = newest - 2000000;
    t->in[1] = (struct window_input){
        .pid = 4343, .from_ns = t->o[1].from_ns, .ended = WINDOW_DIED, .ended_ns = newest};
    for (size_t k = 0; k < 2; k++) {
        if ((err = reader_read(&t->r, &t->o[k], &t->tp[k])) < 0)
            return err;
        t->in[k].proc = &t->tp[k];
    }
    return 0;
}

/* Process k of t read again into b for one call of an encoder's _add(),
 * as the daemon reads it: whole, or (stream, with a window start) its
 * head first and then one thread at a time, through window_input.fetch
 * over reader_read_thread(). *one is in[k] reading *p; f must live as
 * long as *one. Returns 0 or -errno. */
struct et_fetch {
    const struct reader *r;
    struct reader_buf *b;
    struct trace_proc *p;
};

static inline int et_fetch_thread(void *arg, uint32_t i)
{
    struct et_fetch *f = arg;
    return reader_read_thread(f->r, f->b, f->p, i);
}

static inline int et_read_again(const struct et_two *t, size_t k, bool stream,
                                struct reader_buf *b, struct trace_proc *p, struct et_fetch *f,
                                struct window_input *one)
{
    *one = t->in[k];
    one->proc = p;
    *f = (struct et_fetch){&t->r, b, p};
    if (!stream || !t->o[k].from_ns)
        return reader_read_buf(&t->r, &t->o[k], b, p);
    one->fetch = et_fetch_thread;
    one->fetch_arg = f;
    return reader_read_head(&t->r, &t->o[k], b, p);
}

static inline void et_two_fini(struct et_two *t)
{
    trace_proc_free(&t->tp[0]);
    trace_proc_free(&t->tp[1]);
}

#endif
