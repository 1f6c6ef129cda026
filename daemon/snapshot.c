/* snapshot.c - GET /debug/flightrecorder (see snapshot.h).
 *
 * The handler (loop thread) checks the query, selects processes and takes
 * a reference on each so that none is unmapped under the job. The job
 * (thread pool) aligns the window on the newest event of the selection,
 * which, unlike the time of the request, does not move while nothing is
 * recorded: two snapshots with no new events in between are identical.
 * snap_encode() then decodes one process at a time into memory kept from
 * one process (and one snapshot) to the next, and encodes it at once, so
 * only one decoded process is ever in memory. The sink hands chunks to
 * the HTTP layer, starting the response with the first one, and waits
 * while SNAP_INFLIGHT of them are unsent.
 */
#define _GNU_SOURCE
#include "daemon/snapshot.h"

#include <errno.h>
#include <fnmatch.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/perfetto.h"
#include "common/reader.h"

const double snap_bucket_le[SNAP_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,  0.1,    0.25,  0.5,  1.0};

#define PIDS_MAX 64
#define GLOBS_MAX 16

struct snap_job {
    uv_work_t work;
    struct snap_service *svc; /* borrows */
    struct http_req *req;     /* borrows until finished */
    struct proc **procs;      /* owns the array and a reference on each */
    struct window_input *ends; /* owns: how each ended, read on the loop */
    size_t n;
    uint64_t seconds_ns;
    bool json;
    uint64_t t0;
    uint64_t newest;       /* the newest event: names the file */
    struct reader_buf buf; /* owns: decode memory, the service's spare or new */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight; /* chunks handed to HTTP, not yet sent */
    struct chunk *free_chunks; /* owns: sent chunks, for the next writes */
    bool aborted;      /* client gone */
    int err;           /* how the job ended */
    bool streamed;     /* a response was started */
};

/* A chunk handed to HTTP; back in the job's free list once sent. */
struct chunk {
    struct snap_job *job;
    struct chunk *next; /* in snap_job.free_chunks */
    size_t cap;         /* bytes at data */
    unsigned char data[];
};

/* What the encoders hand the sink at once: a chunk and the record that
 * went past its end (sink.h). */
#define CHUNK_CAP (SNAP_CHUNK + SINK_SLACK)

void snap_service_init(struct snap_service *s, uv_loop_t *loop, struct registry *reg,
                       uint64_t window_ns, uint64_t max_bytes, unsigned max_running)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->reg = reg;
    s->window_ns = window_ns;
    s->max_bytes = max_bytes;
    s->max_running = max_running;
}

void snap_service_fini(struct snap_service *s)
{
    reader_buf_fini(&s->spare);
}

/* What a reader_buf holds, roughly: the ring copies and the events (the
 * text buffer is touched only as far as logs go). */
static size_t snap_buf_bytes(const struct reader_buf *b)
{
    return b->units_cap * sizeof *b->units + b->events_cap * sizeof *b->events;
}

/* ---- the sink: pool thread ---- */

static void chunk_done(int status, void *arg)
{
    struct chunk *c = arg;
    struct snap_job *j = c->job;
    pthread_mutex_lock(&j->mu);
    j->inflight--;
    if (status < 0)
        j->aborted = true;
    c->next = j->free_chunks;
    j->free_chunks = c;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* The response starts with the first chunk: a failure before it (out of
 * memory decoding the first process) still gets an error status. */
static int stream_start(struct snap_job *j)
{
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"flightrec-%llu.%s\"",
             (unsigned long long)(j->newest / 1000000), j->json ? "json" : "pftrace");
    struct http_header h[] = {{"Content-Disposition", disp}, {"Cache-Control", "no-store"}};
    int err = http_stream_start(j->req, 200,
                                j->json ? "application/json" : "application/octet-stream", h, 2);
    j->streamed = err == 0;
    return err;
}

static int job_write(void *ctx, const void *buf, size_t len)
{
    struct snap_job *j = ctx;
    if (!j->streamed) {
        int err = stream_start(j);
        if (err < 0)
            return err;
    }
    pthread_mutex_lock(&j->mu);
    while (j->inflight >= SNAP_INFLIGHT && !j->aborted)
        pthread_cond_wait(&j->cv, &j->mu);
    bool gone = j->aborted;
    struct chunk *c = NULL;
    if (!gone) {
        j->inflight++;
        if (j->free_chunks && j->free_chunks->cap >= len) {
            c = j->free_chunks;
            j->free_chunks = c->next;
        }
    }
    pthread_mutex_unlock(&j->mu);
    if (gone)
        return -ECONNRESET;
    if (!c && (c = malloc(sizeof *c + (len > CHUNK_CAP ? len : CHUNK_CAP))) != NULL) {
        c->job = j;
        c->cap = len > CHUNK_CAP ? len : CHUNK_CAP;
    }
    int err = -ENOMEM;
    if (c) {
        memcpy(c->data, buf, len);
        err = http_stream_write(j->req, c->data, len, chunk_done, c);
    }
    if (err < 0) {
        free(c);
        pthread_mutex_lock(&j->mu);
        j->inflight--;
        pthread_mutex_unlock(&j->mu);
    }
    return err;
}

/* Waits until HTTP has sent (or dropped) every chunk: they point into
 * memory the job frees. */
static void drain(struct snap_job *j)
{
    pthread_mutex_lock(&j->mu);
    while (j->inflight > 0)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
}

/* ---- encoding a selection: pool thread ---- */

/* The encoder of the chosen format: one of the two is set. */
struct snap_encoder {
    struct perfetto_enc *pf; /* owns */
    struct json_enc *js;     /* owns */
};

static int enc_begin(struct snap_encoder *x, bool json, const struct enc_sink *sink,
                     const struct trace_clock *clocks, size_t n)
{
    memset(x, 0, sizeof *x);
    return json ? json_begin(&x->js, sink, SNAP_CHUNK)
                : perfetto_begin(&x->pf, sink, SNAP_CHUNK, clocks, n);
}

static int enc_add(struct snap_encoder *x, const struct window_input *in)
{
    return x->js ? json_add(x->js, in) : perfetto_add(x->pf, in);
}

static int enc_end(struct snap_encoder *x)
{
    return x->js ? json_end(x->js) : perfetto_end(x->pf);
}

static void enc_free(struct snap_encoder *x)
{
    if (x->js)
        json_free(x->js);
    else
        perfetto_free(x->pf);
}

int snap_encode(const struct snap_sel *sel, const struct enc_sink *sink)
{
    struct snap_encoder x;
    struct trace_clock *clocks = calloc(sel->n ? sel->n : 1, sizeof *clocks);
    if (!clocks)
        return -ENOMEM;
    for (size_t i = 0; i < sel->n; i++)
        reader_trace_clock(&sel->procs[i]->rd, &clocks[i]);
    int err = enc_begin(&x, sel->json, sink, clocks, sel->n);
    free(clocks);
    if (err < 0)
        return err;
    uint64_t budget = sel->max_bytes;
    for (size_t i = 0; i < sel->n; i++) {
        struct reader_opts o = {.from_ns = sel->from_ns, .max_bytes = budget};
        struct trace_proc tp;
        if (budget == 0)
            break; /* the bound is reached: the rest stays out, as documented */
        if ((err = reader_read_buf(&sel->procs[i]->rd, &o, sel->buf, &tp)) < 0)
            goto fail;
        budget = tp.ring_bytes < budget ? budget - tp.ring_bytes : 0;
        struct window_input in = sel->ends[i];
        in.proc = &tp;
        in.from_ns = sel->from_ns;
        if ((err = enc_add(&x, &in)) < 0)
            goto fail;
    }
    return enc_end(&x);
fail:
    enc_free(&x);
    return err;
}

static void job_run(uv_work_t *w)
{
    struct snap_job *j = w->data;
    struct snap_service *s = j->svc;
    for (size_t i = 0; i < j->n; i++) {
        uint64_t t = reader_newest(&j->procs[i]->rd);
        j->newest = t > j->newest ? t : j->newest;
    }
    struct snap_sel sel = {
        .procs = j->procs,
        .ends = j->ends,
        .n = j->n,
        .from_ns = j->newest > j->seconds_ns ? j->newest - j->seconds_ns : 0,
        .max_bytes = s->max_bytes,
        .json = j->json,
        .buf = &j->buf,
    };
    struct enc_sink sink = {job_write, j};
    int err = snap_encode(&sel, &sink);
    drain(j);
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
    for (size_t i = 0; i < j->n; i++)
        proc_unref(s->reg, j->procs[i]);
    s->running--;
    if (j->err == 0) {
        s->served_total++;
        double secs = (double)(uv_hrtime() - j->t0) / 1e9;
        s->seconds_sum += secs;
        size_t b = 0;
        while (b < SNAP_BUCKETS && secs > snap_bucket_le[b])
            b++;
        s->bucket[b]++;
    } else if (j->aborted || j->err == -ECONNRESET) {
        s->aborted_total++;
    } else {
        s->failed_total++;
    }
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    while (j->free_chunks) { /* all of them: the job drained */
        struct chunk *c = j->free_chunks;
        j->free_chunks = c->next;
        free(c);
    }
    free(j->procs);
    free(j->ends);
    /* The decode memory is kept for the next snapshot, which then faults
     * no page in, unless it is large (one big process) or another is kept
     * already. */
    if (!s->spare.units && snap_buf_bytes(&j->buf) <= SNAP_SPARE_MAX)
        s->spare = j->buf;
    else
        reader_buf_fini(&j->buf);
    free(j);
    /* What else a snapshot allocated sits in a pool thread's malloc
     * arena, which glibc keeps: give it back. */
    if (s->running == 0)
        malloc_trim(0);
}

static void on_abort(struct http_req *req, void *arg)
{
    struct snap_job *j = arg;
    (void)req;
    pthread_mutex_lock(&j->mu);
    j->aborted = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
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

static bool selected(const struct selection *sel, const struct proc *p)
{
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
    size_t cap = s->reg->count;
    if (!j || !(j->procs = calloc(cap ? cap : 1, sizeof *j->procs)) ||
        !(j->ends = calloc(cap ? cap : 1, sizeof *j->ends))) {
        if (j)
            free(j->procs);
        free(j);
        http_reply_error(req, 503, "out of memory");
        return;
    }
    /* oldest first: the registry lists newest first */
    for (struct proc *p = s->reg->head; p; p = p->next)
        if (selected(&sel, p) && j->n < cap)
            j->procs[j->n++] = p;
    for (size_t a = 0, b = j->n ? j->n - 1 : 0; a < b; a++, b--) {
        struct proc *t = j->procs[a];
        j->procs[a] = j->procs[b];
        j->procs[b] = t;
    }
    if (j->n == 0 && (sel.npids || sel.nglobs)) {
        free(j->procs);
        free(j->ends);
        free(j);
        http_reply_error(req, 404, "no registered process matches pid/process");
        return;
    }
    /* What the loop knows of each process, fixed now: the job must not
     * read the registry, which the loop keeps changing. */
    for (size_t i = 0; i < j->n; i++) {
        const struct proc *p = j->procs[i];
        proc_ref(j->procs[i]);
        j->ends[i] = (struct window_input){
            .pid = p->pid,
            .ended = p->state == PROC_EXITED ? WINDOW_EXITED
                     : p->state == PROC_DIED ? WINDOW_DIED
                                             : WINDOW_LIVE,
            .exit_status = p->exit_status,
            .ended_ns = p->ended_ns,
        };
    }
    j->svc = s;
    j->req = req;
    j->buf = s->spare; /* or zeros: the reader grows it */
    memset(&s->spare, 0, sizeof s->spare);
    j->seconds_ns = sel.seconds_ns;
    j->json = sel.json;
    j->t0 = uv_hrtime();
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->work.data = j;
    s->running++;
    http_on_abort(req, on_abort, j);
    uv_queue_work(s->loop, &j->work, job_run, job_after);
}
