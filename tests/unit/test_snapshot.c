/* test_snapshot.c - fr_write_snapshot(): the process's own recording,
 * written to a file and to a pipe, decoded and checked.
 *
 * Run twice by CTest: as is, and with FLIGHTREC_DISABLE=1, where every
 * call must say -ENODATA (main() picks the tests).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "enctest.h"
#include "pftrace.h"
#include "testutil.h"

static void pause_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The whole content of fd from offset 0. */
static unsigned char *slurp(int fd, size_t *len)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    *len = (size_t)st.st_size;
    return buf;
}

static void check_file(const unsigned char *buf, size_t len, struct pt_trace *t)
{
    int errs = pt_decode(buf, len, t);
    if (errs)
        fail_msg("decoder: %d errors, first: %s", errs, t->why);
    char path[64];
    assert_int_equal(et_file(buf, len, path), 0);
    char *out = NULL;
    int st = et_check_perfetto(path, 1, &out);
    if (st == ET_ABSENT)
        fprintf(stderr, "# check-perfetto not run\n");
    else if (st != 0)
        fail_msg("check-perfetto --strict exited %d:\n%s", st, out);
    free(out);
    unlink(path);
    size_t bad, open;
    pt_replay(t, &bad, &open);
    assert_int_equal(bad, 0);
    assert_int_equal(open, 0);
}

static int tmpfile_fd(void)
{
    char path[] = "/tmp/fr-snapshot-test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* ---- recording off, bad arguments ---- */

static void test_snapshot_refuses_bad_seconds(void **state)
{
    (void)state;
    assert_int_equal(fr_write_snapshot(1, 0), -EINVAL);
    assert_int_equal(fr_write_snapshot(1, -1), -EINVAL);
    assert_int_equal(fr_write_snapshot(1, NAN), -EINVAL);
    assert_int_equal(fr_write_snapshot(1, -INFINITY), -EINVAL);
}

static void test_snapshot_before_recording_is_enodata(void **state)
{
    (void)state;
    int fd = tmpfile_fd();
    assert_int_equal(fr_write_snapshot(fd, 10), -ENODATA);
    size_t len;
    free(slurp(fd, &len));
    assert_int_equal(len, 0); /* nothing written */
    close(fd);
}

/* ---- a file ---- */

static fr_task_id shared_task;

static void work(void *arg)
{
    (void)arg;
    fr_thread_name("snap-worker");
    shared_task = fr_task_begin("job");
    fr_region_begin("parse");
    fr_log("io", "read 4096 bytes");
    fr_wait_begin(FR_WAIT_NET, "upstream");
    fr_wait_end();
    fr_region_end();
    fr_counter("inflight", 2);
}

static void finish(void *arg)
{
    (void)arg;
    fr_thread_name("snap-finisher");
    fr_task_end(shared_task);
}

static void test_snapshot_writes_a_valid_trace_to_a_file(void **state)
{
    (void)state;
    uint32_t a = tu_on_thread(work, NULL), b = tu_on_thread(finish, NULL);
    int fd = tmpfile_fd();
    assert_int_equal(fr_write_snapshot(fd, 3600), 0); /* more than recorded: all */
    size_t len;
    unsigned char *buf = slurp(fd, &len);
    close(fd);
    struct pt_trace t;
    check_file(buf, len, &t);
    const struct pt_track *proc = pt_named(&t, PT_PROCESS, "test_snapshot");
    assert_non_null(proc);
    assert_int_equal(proc->pid, getpid());
    const struct pt_track *ta = pt_thread(&t, a), *tb = pt_thread(&t, b);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_string_equal(ta->name, "snap-worker");
    assert_int_equal(pt_count(&t, ta->uuid, 1, "parse"), 1);
    assert_int_equal(pt_count(&t, ta->uuid, 1, "net wait: upstream"), 1);
    assert_int_equal(pt_count(&t, ta->uuid, 3, "log"), 1);
    assert_int_equal(pt_count(&t, ta->uuid, 2, NULL), 2);
    const struct pt_track *job = pt_named(&t, PT_TRACK, "job");
    assert_non_null(job);
    assert_int_equal(pt_count(&t, job->uuid, 1, "job"), 1);
    assert_int_equal(pt_count(&t, job->uuid, 2, NULL), 1);
    const struct pt_track *c = pt_named(&t, PT_COUNTER, "inflight");
    assert_non_null(c);
    assert_int_equal(t.ev[pt_nth(&t, c->uuid, 0)].counter, 2);

    /* nothing new recorded: the same bytes again */
    fd = tmpfile_fd();
    assert_int_equal(fr_write_snapshot(fd, 3600), 0);
    size_t len2;
    unsigned char *buf2 = slurp(fd, &len2);
    close(fd);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(buf2);
    free(buf);
    pt_free(&t);
}

/* ---- the window ---- */

static void old_then_new(void *arg)
{
    (void)arg;
    fr_region_begin("old");
    fr_region_end();
    fr_region_begin("spans-the-window-start");
    pause_ms(600);
    fr_region_begin("new");
    fr_region_end();
    fr_region_end();
}

static void test_snapshot_keeps_only_the_last_seconds(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(old_then_new, NULL);
    int fd = tmpfile_fd();
    assert_int_equal(fr_write_snapshot(fd, 0.3), 0);
    size_t len;
    unsigned char *buf = slurp(fd, &len);
    close(fd);
    struct pt_trace t;
    check_file(buf, len, &t);
    const struct pt_track *th = pt_thread(&t, tid);
    assert_non_null(th);
    assert_int_equal(pt_count(&t, 0, 1, "old"), 0);
    assert_int_equal(pt_count(&t, th->uuid, 1, "new"), 1);
    /* begun 600 ms before its end, cut by the 300 ms window: begins at the
     * window start, i.e. 300 ms before the newest event */
    long i = pt_nth(&t, th->uuid, 0);
    assert_true(i >= 0);
    const struct pt_event *cut = &t.ev[i];
    assert_string_equal(cut->name, "spans-the-window-start");
    uint64_t newest = t.ev[pt_nth(&t, th->uuid, 3)].ts;
    assert_int_equal(newest - cut->ts, 300000000);
    free(buf);
    pt_free(&t);
}

/* ---- a pipe ---- */

struct drain {
    int fd;
    unsigned char *buf;
    size_t len;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    size_t cap = 1 << 16;
    d->buf = malloc(cap);
    for (;;) {
        if (cap - d->len < 4096)
            d->buf = realloc(d->buf, cap *= 2);
        ssize_t n = read(d->fd, d->buf + d->len, cap - d->len);
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    return NULL;
}

static void many_regions(void *arg)
{
    (void)arg;
    fr_thread_name("busy");
    for (int i = 0; i < 20000; i++) { /* more than a pipe buffer of output */
        fr_region_begin("tick");
        fr_region_end();
    }
}

static void test_snapshot_streams_into_a_pipe(void **state)
{
    (void)state;
    uint32_t tid = tu_on_thread(many_regions, NULL);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct drain d = {p[0], NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, drain_main, &d);
    assert_int_equal(fr_write_snapshot(p[1], 3600), 0);
    close(p[1]);
    pthread_join(th, NULL);
    close(p[0]);
    assert_true(d.len > 65536);
    struct pt_trace t;
    check_file(d.buf, d.len, &t);
    const struct pt_track *busy = pt_thread(&t, tid);
    assert_non_null(busy);
    assert_int_equal(pt_count(&t, busy->uuid, 1, "tick"), 20000);
    assert_int_equal(pt_count(&t, busy->uuid, 2, NULL), 20000);
    free(d.buf);
    pt_free(&t);
}

static void test_snapshot_write_errors_come_back(void **state)
{
    (void)state;
    assert_int_equal(fr_write_snapshot(-1, 1), -EBADF);
    int fd = open("/dev/null", O_RDONLY);
    assert_int_equal(fr_write_snapshot(fd, 1), -EBADF); /* not open for writing */
    close(fd);
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(fr_write_snapshot(p[1], 1), -EPIPE);
    close(p[1]);
}

int main(void)
{
    const char *off = getenv("FLIGHTREC_DISABLE");
    if (off && *off && strcmp(off, "0") != 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_snapshot_refuses_bad_seconds),
            cmocka_unit_test(test_snapshot_before_recording_is_enodata),
        };
        fr_region_begin("ignored"); /* disabled: records nothing, inits nothing */
        assert_int_not_equal(fr_init("test_snapshot"), 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_refuses_bad_seconds),
        cmocka_unit_test(test_snapshot_before_recording_is_enodata),
        cmocka_unit_test(test_snapshot_writes_a_valid_trace_to_a_file),
        cmocka_unit_test(test_snapshot_keeps_only_the_last_seconds),
        cmocka_unit_test(test_snapshot_streams_into_a_pipe),
        cmocka_unit_test(test_snapshot_write_errors_come_back),
    };
    /* no fr_init(): the first tests run before anything was recorded */
    setenv("FLIGHTREC_NAME", "test_snapshot", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
