/* snapshot.c - GET /debug/flightrecorder (see snapshot.h).
 *
 * The handler (loop thread) checks the query and picks the processes
 * (daemon/capture.h); the job (thread pool) decodes and encodes them one
 * at a time into a sink that hands chunks to the HTTP layer
 * (daemon/http_sink.h), starting the response with the first chunk, so
 * that a failure before it (out of memory decoding the first process)
 * still gets an error status. The decode memory of one snapshot is kept
 * for the next, which then faults no page in.
 */
#define _GNU_SOURCE
#include "daemon/snapshot.h"

#include <errno.h>
#include <fnmatch.h>
#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/capture.h"
#include "daemon/http_sink.h"

const double snap_bucket_le[SNAP_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,  0.1,    0.25,  0.5,  1.0};

#define PIDS_MAX 64
#define GLOBS_MAX 16

struct snap_job {
    uv_work_t work;
    struct snap_service *svc; /* borrows */
    struct http_req *req;     /* borrows until finished */
    struct capture cap;       /* owns */
    struct http_sink out;
    uint64_t seconds_ns;
    bool json;
    uint64_t t0;
    uint64_t newest;       /* the newest event: names the file */
    struct reader_buf buf; /* owns: decode memory, the service's spare or new */
    int err;       /* how the job ended */
    bool streamed; /* a response was started */
};

void snap_service_init(struct snap_service *s, uv_loop_t *loop, struct registry *reg,
                       struct capture_spare *spare, uint64_t window_ns, uint64_t max_bytes,
                       unsigned max_running)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->reg = reg;
    s->spare = spare;
    s->window_ns = window_ns;
    s->max_bytes = max_bytes;
    s->max_running = max_running;
}

/* ---- the pool thread ---- */

/* Before the first chunk goes out. */
static int job_start(void *arg)
{
    struct snap_job *j = arg;
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"flightrec-%llu.%s\"",
             (unsigned long long)(j->newest / 1000000), j->json ? "json" : "pftrace");
    struct http_header h[] = {{"Content-Disposition", disp}, {"Cache-Control", "no-store"}};
    int err = http_stream_start(j->req, 200, j->json ? "application/json" : "application/octet-stream",
                                h, 2);
    j->streamed = err == 0;
    return err;
}

static void job_run(uv_work_t *w)
{
    struct snap_job *j = w->data;
    j->newest = capture_newest(&j->cap);
    struct capture_opts o = {
        .from_ns = j->newest > j->seconds_ns ? j->newest - j->seconds_ns : 0,
        .max_bytes = j->svc->max_bytes,
        .json = j->json,
        .chunk = HTTP_SINK_CHUNK,
        .buf = &j->buf,
    };
    int err = capture_encode(&j->cap, &o, &j->out.sink);
    if (err == 0 && !j->streamed)
        err = job_start(j); /* nothing was written: an empty selection */
    http_sink_drain(&j->out);
    /* A failed encode must not look like a whole trace: only a complete
     * one gets the last chunk; any other is cut off. */
    if (j->streamed && err == 0)
        err = http_stream_end(j->req);
    else if (j->streamed)
        http_stream_abort(j->req);
    else
        http_reply_error(j->req, err == -ENOMEM ? 503 : 500,
                         err == -ENOMEM ? "out of memory for this snapshot" : strerror(-err));
    j->err = err;
}

/* ---- the loop side ---- */

static void job_after(uv_work_t *w, int status)
{
    struct snap_job *j = w->data;
    struct snap_service *s = j->svc;
    (void)status;
    capture_release(&j->cap, s->reg);
    s->running--;
    if (j->err == 0) {
        s->served_total++;
        double secs = (double)(uv_hrtime() - j->t0) / 1e9;
        s->seconds_sum += secs;
        size_t b = 0;
        while (b < SNAP_BUCKETS && secs > snap_bucket_le[b])
            b++;
        s->bucket[b]++;
    } else if (http_sink_aborted(&j->out) || j->err == -ECONNRESET) {
        s->aborted_total++;
    } else {
        s->failed_total++;
    }
    http_sink_fini(&j->out);
    capture_spare_give(s->spare, &j->buf);
    free(j);
    /* What else a snapshot allocated sits in a pool thread's malloc
     * arena, which glibc keeps: give it back. */
    if (s->running == 0)
        malloc_trim(0);
}

struct selection {
    uint32_t pids[PIDS_MAX];
    size_t npids;
    const char *globs[GLOBS_MAX];
    size_t nglobs;
    uint64_t seconds_ns;
    bool json;
};

/* Checks the query. Returns 0, or -EINVAL with a one-line reason. */
static int parse_query(const struct http_query *q, const struct snap_service *s,
                       struct selection *sel, char *why, size_t whylen)
{
    memset(sel, 0, sizeof *sel);
    sel->seconds_ns = s->window_ns;
    for (size_t i = 0; i < q->n; i++) {
        const char *k = q->params[i].key, *v = q->params[i].val;
        if (strcmp(k, "pid") == 0) {
            char *end;
            errno = 0;
            unsigned long pid = strtoul(v, &end, 10);
            if (!*v || *end || errno || pid == 0 || pid > INT32_MAX || *v < '0' || *v > '9') {
                snprintf(why, whylen, "pid: \"%.40s\" is not a process id", v);
                return -EINVAL;
            }
            if (sel->npids == PIDS_MAX) {
                snprintf(why, whylen, "pid: at most %d of them", PIDS_MAX);
                return -EINVAL;
            }
            sel->pids[sel->npids++] = (uint32_t)pid;
        } else if (strcmp(k, "process") == 0) {
            if (!*v || sel->nglobs == GLOBS_MAX) {
                snprintf(why, whylen, "process: an empty name, or more than %d", GLOBS_MAX);
                return -EINVAL;
            }
            sel->globs[sel->nglobs++] = v;
        } else if (strcmp(k, "seconds") == 0) {
            char *end;
            double sec = strtod(v, &end);
            double max = (double)s->window_ns / 1e9;
            if (!*v || *end || !isfinite(sec) || sec <= 0 || sec > max) {
                snprintf(why, whylen,
                         "seconds: \"%.40s\" is not a number of seconds above 0 and at most %g "
                         "(the recording window)",
                         v, max);
                return -EINVAL;
            }
            sel->seconds_ns = (uint64_t)(sec * 1e9);
        } else if (strcmp(k, "format") == 0) {
            if (strcmp(v, "perfetto") != 0 && strcmp(v, "json") != 0) {
                snprintf(why, whylen, "format: \"%.40s\" is not perfetto or json", v);
                return -EINVAL;
            }
            sel->json = strcmp(v, "json") == 0;
        } else {
            snprintf(why, whylen, "unknown parameter \"%.40s\" (pid, process, seconds, format)",
                     k);
            return -EINVAL;
        }
    }
    return 0;
}

static bool picked(const struct proc *p, void *arg)
{
    const struct selection *sel = arg;
    if (sel->npids == 0 && sel->nglobs == 0)
        return true;
    for (size_t i = 0; i < sel->npids; i++)
        if (sel->pids[i] == p->pid)
            return true;
    for (size_t i = 0; i < sel->nglobs; i++)
        if (fnmatch(sel->globs[i], p->name, 0) == 0)
            return true;
    return false;
}

void snap_handle(struct http_req *req, void *arg)
{
    struct snap_service *s = arg;
    struct selection sel;
    char why[200];
    if (parse_query(http_req_query(req), s, &sel, why, sizeof why) < 0) {
        http_reply_error(req, 400, why);
        return;
    }
    if (s->running >= s->max_running) {
        s->busy_total++;
        http_reply_busy(req, 1, "too many snapshots at once; try again");
        return;
    }
    struct snap_job *j = calloc(1, sizeof *j);
    if (!j || capture_pick(&j->cap, s->reg, picked, &sel) < 0) {
        free(j);
        http_reply_error(req, 503, "out of memory");
        return;
    }
    if (j->cap.n == 0 && (sel.npids || sel.nglobs)) {
        capture_release(&j->cap, s->reg);
        free(j);
        http_reply_error(req, 404, "no registered process matches pid/process");
        return;
    }
    j->svc = s;
    j->req = req;
    j->seconds_ns = sel.seconds_ns;
    j->json = sel.json;
    j->t0 = uv_hrtime();
    http_sink_init(&j->out, req, job_start, j);
    capture_spare_take(s->spare, &j->buf);
    j->work.data = j;
    s->running++;
    uv_queue_work(s->loop, &j->work, job_run, job_after);
}
